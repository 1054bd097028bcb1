//! Analysis of networks and runs: eigenmodes of M (gains, time constants,
//! regimes, linear steady states) and the metrics recorded during a run.

pub mod krylov;
pub mod metrics;
pub mod modes;
pub mod modes_table;
pub mod retention;
pub mod ring;
