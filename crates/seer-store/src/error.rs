//! The store crate's error type.

use std::path::{Path, PathBuf};

/// Errors of an event store.
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
    /// A key was asked for with a rate that is not a positive number.
    #[error("a key's rate must be a number > 0 (requests per second), got {0}")]
    KeyRate(f64),
    /// Hashing a new key's secret failed.
    #[error("hashing a new API key failed: {0}")]
    KeyHash(String),
    /// The store's writer has stopped (the server is shutting down).
    #[error("the event store is closed (shutting down)")]
    Closed,
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

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
