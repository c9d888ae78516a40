use std::path::Path;

use crate::{ItemIdx, Result, UserIdx};

/// Everything a model may know about the user it recommends for.
///
/// The evaluation protocol fills `history` with every event known at prediction time, in
/// time order: the training events for validation, training + validation for test. Models
/// that keep per-user state (matrix factorisation) use `user`; models that work from the
/// history (item-kNN, EASE, sequence models) use `history`, which also serves users the model
/// never saw in training.
#[derive(Debug, Clone, Copy)]
pub struct UserContext<'a> {
    /// The user's dense index, when the user was known at training time.
    pub user: Option<UserIdx>,
    /// Items the user interacted with, oldest first (may contain repeats).
    pub history: &'a [ItemIdx],
    /// Unix seconds of each history event, parallel to `history`, when the data has them.
    pub timestamps: Option<&'a [i64]>,
    /// Unix seconds of the moment the recommendation is for, when known.
    pub now: Option<i64>,
    /// Categorical context of each history event (scenario, device, …): one code per context
    /// column of the dataset for every event, row-major (`history.len() × columns`), codes as
    /// in the dataset's columns, [`MISSING`] where unknown. `None` when the data has none.
    pub context: Option<&'a [u32]>,
    /// The context of the request ("now, on mobile"): one code per context column.
    pub now_context: Option<&'a [u32]>,
}

/// The code of a missing categorical value.
pub const MISSING: u32 = u32::MAX;

impl<'a> UserContext<'a> {
    /// A context with only a history.
    pub fn from_history(user: Option<UserIdx>, history: &'a [ItemIdx]) -> Self {
        Self {
            user,
            history,
            timestamps: None,
            now: None,
            context: None,
            now_context: None,
        }
    }
}

/// The one interface every seer model implements.
///
/// A model writes a score for every catalogue item; the caller masks seen items and takes the
/// top K (see [`crate::topk`]). Higher is better. Scores need not be calibrated.
pub trait Recommender: Send + Sync {
    /// Stable model name used in files, configs and reports (`"ease"`, `"itemknn"`, …).
    fn kind(&self) -> &'static str;

    /// Catalogue size: the length `score` expects for `out`.
    fn n_items(&self) -> usize;

    /// Writes one score per item into `out` (`out.len() == self.n_items()`).
    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> Result<()>;

    /// Scores many users at once into `out` (row-major, `users.len() × n_items`). Models that
    /// can batch the maths (one matrix product instead of many dot products) override this.
    fn score_batch(&self, users: &[UserContext<'_>], out: &mut [f32]) -> Result<()> {
        let n = self.n_items();
        if out.len() != users.len() * n {
            return Err(crate::Error::ScoreBufferSize {
                expected: users.len() * n,
                got: out.len(),
            });
        }
        for (u, row) in users.iter().zip(out.chunks_mut(n.max(1))) {
            self.score(u, row)?;
        }
        Ok(())
    }

    /// Writes the fitted model into directory `dir` (created if missing).
    fn save(&self, dir: &Path) -> Result<()>;

    /// For models whose last stage predicts a probability for each item it proposes
    /// (two-stage rankers): the proposed items with `P(engage)`, so the evaluation can report
    /// the ranker's AUC, log loss and calibration on the evaluation events. `None` (the
    /// default) for every other model.
    fn candidate_probabilities(
        &self,
        user: &UserContext<'_>,
    ) -> Result<Option<Vec<(ItemIdx, f32)>>> {
        let _ = user;
        Ok(None)
    }

    /// Why `item` is recommended to `user`, in plain words ("matches your favourite genre
    /// Drama"), with the model's probability for it, for models that can say (two-stage
    /// rankers: their largest feature contributions). `item_name` renders another item for the
    /// text. `None` (the default) when the model cannot explain or did not consider the item.
    fn explain(
        &self,
        user: &UserContext<'_>,
        item: ItemIdx,
        item_name: &dyn Fn(ItemIdx) -> String,
    ) -> Result<Option<(f32, Vec<String>)>> {
        let _ = (user, item, item_name);
        Ok(None)
    }

    /// Scores every catalogue item for a free-text query ("dark sci-fi thriller"). Only
    /// models that read text support it; the others return [`crate::Error::Unsupported`].
    fn score_query(&self, query: &str, out: &mut [f32]) -> Result<()> {
        let _ = (query, out);
        Err(crate::Error::Unsupported {
            model: self.kind(),
            what: "free-text queries; train the `text` model for them".into(),
        })
    }
}

/// Checks that a score buffer has one slot per item; every `score` implementation calls it.
pub fn check_score_len(expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(crate::Error::ScoreBufferSize { expected, got })
    }
}
