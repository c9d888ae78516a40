//! The serving crate's error type.

use std::path::{Path, PathBuf};

/// Errors of the server and its store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event store failed (open, migrate, read or commit).
    #[error("event store {}: {message}", path.display())]
    Store {
        /// The store's file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The store file was written by a newer seer.
    #[error(
        "event store {}: schema version {found} is newer than this seer knows ({known}); \
         upgrade seer or use another file",
        path.display()
    )]
    Schema {
        /// The store's file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// Migrations this build has.
        known: i64,
    },
    /// The store's writer has stopped (the server is shutting down).
    #[error("the event store is closed (shutting down)")]
    Closed,
    /// Loading the dataset or the model failed.
    #[error("{0}")]
    Load(String),
    /// A model failed while scoring.
    #[error("model: {0}")]
    Model(#[from] seer_core::Error),
}

impl Error {
    /// An [`Error::Store`] for `path`.
    pub fn store(path: &Path, e: impl std::fmt::Display) -> Error {
        Error::Store {
            path: path.to_owned(),
            message: e.to_string(),
        }
    }
}

/// Result with the serving [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
