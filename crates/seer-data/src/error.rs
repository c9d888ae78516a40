use std::path::PathBuf;

/// Errors of the data layer. Bad input always names the file, the line (1-based) and the
/// field, and says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A row of an input file is malformed (fatal only with `--strict`, otherwise the row is
    /// skipped and reported in the cleaning report).
    #[error("{}:{line}: {field}: expected {expected}, found {found:?}", path.display())]
    BadField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Column name or position.
        field: String,
        /// What was expected ("a number 0.5–5", "an integer unix timestamp").
        expected: String,
        /// What was found (cut to a reasonable length).
        found: String,
    },
    /// A whole file is unusable: empty, wrong format, wrong separator.
    #[error("{}:{line}: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// 1-based line where the problem shows (1 for a missing header).
        line: u64,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A configuration value is out of range or inconsistent; `key` is the path in `seer.toml`.
    #[error("{key}: {message}")]
    Config {
        /// Key path, e.g. `split.valid_ratio`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Nothing at a path looks like a dataset seer can import.
    #[error("{}: no dataset format recognised; looked for {looked_for}", path.display())]
    Unrecognised {
        /// The file or directory.
        path: PathBuf,
        /// What the detector looked for.
        looked_for: String,
    },
    /// A dataset directory written by another, incompatible seer version, or damaged.
    #[error("{}: {message}", path.display())]
    BadDatasetDir {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Result with the data [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
