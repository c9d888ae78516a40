//! The error type of `seer-models`.

use std::path::PathBuf;

/// Errors raised while configuring, fitting, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- configuration -------------------------------------------------------------------
    /// A configuration value is out of range or does not fit the data.
    #[error("{key}: {message}")]
    Config {
        /// Key path of the offending setting (`"ease.lambda"`).
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A model name that the registry does not know.
    #[error("unknown model {name:?}; valid models: {}", valid.join(", "))]
    UnknownModel {
        /// The name as given.
        name: String,
        /// The names the registry accepts.
        valid: Vec<&'static str>,
    },
    /// A `key=value` in a model spec that the model does not have, or a value of the wrong type.
    #[error("{model}: {message}")]
    Spec {
        /// The model the spec was for.
        model: &'static str,
        /// What went wrong, with the valid keys when the key was unknown.
        message: String,
    },

    // --- files ---------------------------------------------------------------------------
    /// Reading or writing a model directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A saved model could not be understood (missing tensor, wrong shape, bad header).
    #[error("{}: {message}", path.display())]
    BadModelFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
    /// A saved model written by another on-disk format version.
    #[error("{}: model written by format {found}, this seer reads {expected}", path.display())]
    FormatVersion {
        /// The file.
        path: PathBuf,
        /// Version found in the file header.
        found: String,
        /// Version this build reads.
        expected: &'static str,
    },

    // --- numerics ------------------------------------------------------------------------
    /// A linear-algebra step failed (e.g. a matrix that should be positive definite is not).
    #[error("linear algebra: {0}")]
    Linalg(String),

    /// A tensor operation failed (shape mismatch, device error, diverged training).
    #[error("tensor computation: {0}")]
    Tensor(String),

    /// An error from `seer-core` (score buffer size, …).
    #[error(transparent)]
    Core(#[from] seer_core::Error),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Tensor(e.to_string())
    }
}

impl From<seer_nn::Error> for Error {
    fn from(e: seer_nn::Error) -> Self {
        match e {
            seer_nn::Error::Tensor(m) => Error::Tensor(m),
        }
    }
}

/// Result with the `seer-models` [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The [`seer_core::Recommender`] trait speaks `seer_core::Error`; file errors map onto its
/// `Io` / `BadModelFile` variants, everything else onto `BadModelFile` with its message.
impl From<Error> for seer_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
            Error::Io { path, source } => seer_core::Error::Io { path, source },
            Error::BadModelFile { path, message } => {
                seer_core::Error::BadModelFile { path, message }
            }
            Error::FormatVersion {
                path,
                found,
                expected,
            } => seer_core::Error::BadModelFile {
                path,
                message: format!("model written by format {found}, this seer reads {expected}"),
            },
            other => seer_core::Error::BadModelFile {
                path: PathBuf::new(),
                message: other.to_string(),
            },
        }
    }
}
