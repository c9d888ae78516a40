//! The error type of `seer-nn`.

/// Errors of the neural-network layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (shape mismatch, device error, a checkpoint that does not fit).
    #[error("tensor computation: {0}")]
    Tensor(String),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Tensor(e.to_string())
    }
}

/// Result with the `seer-nn` [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
