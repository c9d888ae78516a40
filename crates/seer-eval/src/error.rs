use std::path::PathBuf;

/// Errors raised while evaluating models and writing reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- configuration and inputs ----
    /// An [`crate::EvalConfig`] value is out of range; `key` is the config path.
    #[error("{key}: {message}")]
    Config {
        /// Config key path, e.g. `eval.ks`.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The model's catalogue does not match the dataset's.
    #[error("model scores {model} items but the dataset has {data} items")]
    CatalogueMismatch {
        /// `Recommender::n_items()`.
        model: usize,
        /// `Dataset::n_items()`.
        data: usize,
    },
    /// The split was made for a different dataset.
    #[error("split has {split} rows but the dataset has {data} interactions")]
    SplitMismatch {
        /// Rows in the split.
        split: usize,
        /// Rows in the dataset.
        data: usize,
    },

    /// [`crate::export_recs`] was given a report evaluated without `keep_recs`.
    #[error("the report has no recommendation lists (evaluate with keep_recs = true)")]
    NoRecs,
    /// A dense index has no original id in the dataset's id map.
    #[error("{what} index {index} has no original id in the dataset")]
    MissingId {
        /// `"user"` or `"item"`.
        what: &'static str,
        /// The dense index.
        index: u32,
    },

    // ---- the model ----
    /// The model failed while scoring.
    #[error("model failed while scoring: {0}")]
    Model(#[from] seer_core::Error),
    /// Fitting a model in the bench pipeline failed (the factory's message).
    #[error("fitting {model}: {message}")]
    Fit {
        /// The model, as the factory names it.
        model: String,
        /// What went wrong.
        message: String,
    },

    // ---- output ----
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A report could not be (de)serialised as JSON.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// Drawing a plot failed (plotters' error types are generic over the backend, so the
    /// message is kept as text).
    #[error("drawing plot {plot:?}: {message}")]
    Plot {
        /// Which plot.
        plot: String,
        /// The backend's message.
        message: String,
    },
}

/// Result with the evaluation [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
