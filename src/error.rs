//! The crate's one error type.
//!
//! Every failure a user can cause (a bad experiment file, an override that does
//! not fit, a file that cannot be read or written, a run that diverges) is a
//! variant here with a message that names the key, the value and what is
//! allowed. Panics are kept for programming errors.

use std::path::PathBuf;

/// Errors returned by the `attractor` library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An experiment key holds a value that is not allowed.
    #[error("key `{key}` = {value}: {allowed}")]
    Invalid {
        /// Dotted key, e.g. `network.n`.
        key: String,
        /// The offending value as written.
        value: String,
        /// What is allowed instead.
        allowed: String,
    },
    /// The experiment file is not valid TOML or does not match the schema.
    #[error("{0}")]
    Schema(String),
    /// A `--set key=value` override that cannot be applied.
    #[error("override `{given}`: {reason}")]
    Override {
        /// The override as given on the command line.
        given: String,
        /// Why it was refused.
        reason: String,
    },
    /// A `.npy` file that cannot be read or does not have the expected shape.
    #[error("key `{key}`: file {path}: {reason}")]
    Npy {
        /// The key that names the file.
        key: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The state became NaN or infinite.
    #[error(
        "the state became {what} at step {step} (t = {} s); the network is unstable \
         (an eigenvalue above 1 grows without bound, see `attractor modes`) or dt is too \
         large for the method; the records up to then were kept",
        fmt_time(*t)
    )]
    Diverged {
        /// First step whose state is not finite.
        step: u64,
        /// Time of that step in seconds.
        t: f64,
        /// "NaN" or "infinite".
        what: String,
    },
    /// The run was asked to stop (see `sim::Stop`) before its end.
    #[error("the run was interrupted at step {step} of {steps}")]
    Interrupted {
        /// The step reached.
        step: u64,
        /// The steps the run had to do.
        steps: u64,
    },
    /// A requested feature is not available in this build or on this machine.
    #[error("{0}")]
    Unavailable(String),
    /// The GPU reported an error: a shader or pipeline that does not
    /// validate, memory that cannot be had, a lost device or a timeout.
    #[error("GPU: {0}")]
    Gpu(String),
    /// The eigen-analysis cannot be done as asked.
    #[error("{0}")]
    Analysis(String),
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (shown in the message, so not chained).
        error: std::io::Error,
    },
    /// Writing an output (plot, csv, npy) failed for a reason other than I/O.
    #[error("writing {path}: {reason}")]
    Output {
        /// The file being written.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub fn invalid(
        key: impl Into<String>,
        value: impl ToString,
        allowed: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }
}

/// A time in seconds without float noise: 9 decimals, trailing zeros dropped.
pub fn fmt_time(t: f64) -> String {
    let s = format!("{t:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
