//! # attractor
//!
//! Firing-rate recurrent networks — linear networks analysed by their
//! eigenmodes, nonlinear rate networks, continuous ring (attractor) networks
//! and continuous Hopfield networks — simulated from a TOML experiment file.
//!
//! Data flows one way: experiment file → [`Experiment`] (validated model) →
//! [`sim::Backend`] → [`sim::Recording`] → output files.
//!
//! ```
//! use attractor::{Experiment, sim::{self, Backend}};
//! let exp = Experiment::from_toml(r#"
//!     [network]
//!     n = 1
//!     tau = 0.01
//!     weights = { kind = "diagonal", values = [0.5] }
//!     [[input]]
//!     kind = "uniform"
//!     value = 1.0
//!     [simulation]
//!     duration = 0.5
//!     dt = 0.0001
//!     method = "rk4"
//! "#, std::path::Path::new("."), "autapse", &[]).unwrap();
//! let rec = sim::cpu::CpuBackend.run(&exp, &mut |_| {}).unwrap();
//! // Gain 1/(1 - 0.5) = 2: the rate settles at 2 h (25 time constants tau/(1 - 0.5) of 0.02 s).
//! let v = rec.metric("mean_rate").unwrap();
//! assert!((v.last().unwrap() - 2.0).abs() < 1e-6);
//! ```

#![warn(missing_docs)]

pub mod analysis;
pub mod bench;
pub mod error;
pub mod experiment;
pub mod jobs;
pub mod memory;
pub mod model;
pub mod output;
pub mod real;
pub mod rng;
pub mod sim;
pub mod sweep;

pub use error::{Error, Result};
pub use model::Experiment;
pub use real::Real;
