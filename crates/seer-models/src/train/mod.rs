//! Training: what a model is fitted on ([`TrainData`], [`FitOptions`]) and the one training
//! loop every model trained by gradient descent uses: early stopping with epoch logs
//! ([`early_stop`]), the candle loop ([`gradient`]) and its resumable state ([`resume`]).

pub mod early_stop;
pub mod gradient;
mod resume;

use std::path::Path;

use seer_data::{Csr, Dataset};

pub use early_stop::{EarlyStop, EpochLog, TrainLog, Validator};
pub use gradient::{make_batches, train_loop, train_model, LoopConfig};

/// Options of a fit besides the data: only models trained by gradient descent use them.
#[derive(Clone, Copy, Default)]
pub struct FitOptions<'a> {
    /// Scores the model on held-out events (higher is better); sequence models validate every
    /// few epochs, keep the best epoch and stop early.
    pub validator: Option<Validator<'a>>,
    /// Directory for resumable training state: written after every epoch, and a fit that
    /// finds one there continues from it.
    pub checkpoint: Option<&'a Path>,
    /// Receives the training log (epochs, best epoch) of iterative models.
    pub log: Option<&'a std::sync::Mutex<Option<TrainLog>>>,
    /// Sequence models train on these users' sequences only (a continual update trains on
    /// the users with new events); `None` means every user.
    pub users: Option<&'a [u32]>,
}

impl std::fmt::Debug for FitOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitOptions")
            .field("validator", &self.validator.is_some())
            .field("checkpoint", &self.checkpoint)
            .field("log", &self.log.is_some())
            .field("users", &self.users.map(<[u32]>::len))
            .finish()
    }
}

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
    /// Vocabulary size of each categorical context column (`matrix.context` holds the codes);
    /// empty when the data has none.
    pub context_sizes: Vec<usize>,
    /// Text of every item of the catalogue ([`Dataset::item_document`]), including items
    /// without training events; empty when the data has no item text.
    pub item_text: Vec<String>,
    /// Profile text of every user ([`Dataset::user_document`]); empty when there is none.
    pub user_text: Vec<String>,
    /// The dataset's item fields (name, value per item; lists joined with `" | "`), for
    /// feature-based rankers; empty when there are none.
    pub item_fields: Vec<(String, Vec<String>)>,
    /// The dataset's user attributes (name, value per user).
    pub user_fields: Vec<(String, Vec<String>)>,
    /// Names of the categorical context columns (`matrix.context` holds their codes).
    pub context_names: Vec<String>,
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
            context_sizes: data
                .interactions
                .context
                .iter()
                .map(|c| c.values.len())
                .collect(),
            item_text: if data.item_text.is_empty() {
                Vec::new()
            } else {
                (0..n_items as u32).map(|i| data.item_document(i)).collect()
            },
            user_text: if data.user_attrs.is_empty() {
                Vec::new()
            } else {
                (0..n_users as u32).map(|u| data.user_document(u)).collect()
            },
            item_fields: data
                .item_text
                .iter()
                .map(|c| (c.name.clone(), c.values.clone()))
                .collect(),
            user_fields: data
                .user_attrs
                .iter()
                .map(|c| (c.name.clone(), c.values.clone()))
                .collect(),
            context_names: data
                .interactions
                .context
                .iter()
                .map(|c| c.name.clone())
                .collect(),
        }
    }

    /// Wraps an already built matrix (tests, benches, examples); context vocabularies are
    /// sized by the largest code present.
    pub fn from_csr(matrix: Csr, has_timestamps: bool) -> TrainData {
        let k = matrix.n_context;
        let context_sizes = (0..k)
            .map(|j| {
                matrix
                    .context
                    .iter()
                    .skip(j)
                    .step_by(k)
                    .filter(|&&c| c != seer_core::MISSING)
                    .map(|&c| c as usize + 1)
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        TrainData {
            n_users: matrix.n_rows,
            n_items: matrix.n_cols,
            matrix,
            has_timestamps,
            context_sizes,
            item_text: Vec::new(),
            user_text: Vec::new(),
            item_fields: Vec::new(),
            user_fields: Vec::new(),
            context_names: (0..k).map(|j| format!("context{j}")).collect(),
        }
    }

    /// The same data with each user's latest event (of users with at least two) held out:
    /// the training part of the inner split a two-stage model learns its ranker on, and the
    /// held-out event's row position in `self.matrix` per user (`None`: nothing held out).
    pub fn without_last_events(&self) -> (TrainData, Vec<Option<usize>>) {
        let m = &self.matrix;
        let nc = m.n_context;
        let mut out = Csr {
            n_rows: m.n_rows,
            n_cols: m.n_cols,
            indptr: Vec::with_capacity(m.n_rows + 1),
            indices: Vec::with_capacity(m.indices.len()),
            weights: Vec::with_capacity(m.indices.len()),
            ts: Vec::with_capacity(m.indices.len()),
            context: Vec::with_capacity(m.context.len()),
            n_context: nc,
        };
        out.indptr.push(0);
        let mut held = vec![None; m.n_rows];
        for (u, h) in held.iter_mut().enumerate() {
            let (s, e) = (m.indptr[u], m.indptr[u + 1]);
            let keep_to = if e - s >= 2 {
                *h = Some(e - 1);
                e - 1
            } else {
                e
            };
            out.indices.extend_from_slice(&m.indices[s..keep_to]);
            out.weights.extend_from_slice(&m.weights[s..keep_to]);
            out.ts.extend_from_slice(&m.ts[s..keep_to]);
            if nc > 0 && !m.context.is_empty() {
                out.context
                    .extend_from_slice(&m.context[s * nc..keep_to * nc]);
            }
            out.indptr.push(out.indices.len());
        }
        (
            TrainData {
                matrix: out,
                ..self.clone()
            },
            held,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seer_data::Interactions;

    #[test]
    fn only_the_given_rows_reach_the_matrix() {
        let mut data = Dataset::default();
        for u in ["a", "b"] {
            data.users.get_or_insert(u);
        }
        for i in ["x", "y", "z"] {
            data.items.get_or_insert(i);
        }
        data.interactions = Interactions {
            user: vec![0, 0, 1, 1],
            item: vec![0, 1, 2, 0],
            ts: vec![5, 1, 3, 4],
            rating: vec![1.0; 4],
            context: vec![],
        };
        let t = TrainData::new(&data, &[0, 1, 2]);
        assert_eq!((t.n_users, t.n_items, t.matrix.nnz()), (2, 3, 3));
        assert_eq!(t.matrix.row(0), &[1, 0]); // time order
        assert_eq!(t.matrix.row(1), &[2]); // row 3 (a later event) is left out
    }
}
