use std::path::PathBuf;

/// Errors raised by core types and by any [`crate::Recommender`] implementation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's score buffer does not have one slot per catalogue item.
    #[error("score buffer has {got} slots but the model knows {expected} items")]
    ScoreBufferSize {
        /// Items the model knows.
        expected: usize,
        /// Length of the buffer passed in.
        got: usize,
    },
    /// An item index outside the model's catalogue.
    #[error("item index {item} is outside the model's catalogue of {n_items} items")]
    UnknownItem {
        /// The offending index.
        item: u32,
        /// Catalogue size.
        n_items: usize,
    },
    /// Reading or writing a model directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The model cannot do what was asked (e.g. a free-text query to a model without text).
    #[error("model {model} does not support {what}")]
    Unsupported {
        /// The model's kind.
        model: &'static str,
        /// What was asked, and what to use instead.
        what: String,
    },
    /// A saved model could not be understood.
    #[error("{}: {message}", path.display())]
    BadModelFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
