//! What a model is fitted on.

use seer_data::{Csr, Dataset};

/// The training data handed to [`crate::ModelConfig::fit`]: a user × item matrix built from
/// the chosen split parts only, so nothing from validation or test can reach a model.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// Number of users (rows of `matrix`), the whole dataset's user count.
    pub n_users: usize,
    /// Number of items (columns of `matrix`), the whole dataset's catalogue.
    pub n_items: usize,
    /// User × item events, each row in time order, repeats kept.
    pub matrix: Csr,
    /// Whether `matrix.ts` holds real unix seconds (otherwise positions in the user's sequence).
    pub has_timestamps: bool,
}

impl TrainData {
    /// Builds the training matrix from interaction rows `rows` of `data` (e.g.
    /// `split.rows(&[Part::Train])`, or train + valid for the test-stage refit).
    pub fn new(data: &Dataset, rows: &[usize]) -> TrainData {
        let (n_users, n_items) = (data.n_users(), data.n_items());
        TrainData {
            n_users,
            n_items,
            matrix: Csr::from_rows(&data.interactions, rows, n_users, n_items),
            has_timestamps: data.has_timestamps,
        }
    }

    /// Wraps an already built matrix (tests, benches, examples).
    pub fn from_csr(matrix: Csr, has_timestamps: bool) -> TrainData {
        TrainData {
            n_users: matrix.n_rows,
            n_items: matrix.n_cols,
            matrix,
            has_timestamps,
        }
    }
}
