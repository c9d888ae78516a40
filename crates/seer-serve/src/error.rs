//! The serving crate's error type.

use std::path::{Path, PathBuf};

/// Errors of the server and its store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] seer_store::Error),
    /// Writing the server's own files (retrained model versions) failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Loading the dataset or the model failed.
    #[error("{0}")]
    Load(String),
    /// A model failed while scoring.
    #[error("model: {0}")]
    Model(#[from] seer_core::Error),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: &Path, e: impl std::fmt::Display) -> Error {
        Error::Io {
            path: path.to_owned(),
            message: e.to_string(),
        }
    }
}

/// Result with the serving [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
