//! Scoring a model on single held-out events, each with the history before it: what the
//! server's retrain gate compares the live and the candidate model on.
//!
//! Same full ranking and tie rule as [`crate::evaluate`]: every item is ranked, the history
//! is masked, and a tie in score goes to the item more popular in training, then to the
//! lower index; never to the target. A model that scores every item alike therefore ranks
//! like popularity, not with the target first.

use seer_core::{ItemIdx, Recommender, UserContext};

use crate::error::Result;
use crate::metrics;

/// One held-out event: the item and what the user had done before it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    /// Items the user had before the event, oldest first (masked in the ranking).
    pub history: Vec<ItemIdx>,
    /// The item of the event.
    pub item: ItemIdx,
}

/// 0-based rank of `target` among the candidates of `scores` (masked items, `-inf`, are
/// none): the candidates with a higher score, and those with the same score that are more
/// popular (`popularity[i]`, 0 past its end) or as popular with a lower index. `None` when
/// the target itself is masked.
pub fn rank_with_ties(scores: &[f32], target: ItemIdx, popularity: &[u32]) -> Option<usize> {
    let t = target as usize;
    let st = *scores.get(t)?;
    if !metrics::is_candidate(st) {
        return None;
    }
    let pop = |i: usize| popularity.get(i).copied().unwrap_or(0);
    let pt = pop(t);
    let ahead = scores
        .iter()
        .enumerate()
        .filter(|&(i, &s)| {
            i != t
                && metrics::is_candidate(s)
                && (s > st || (s == st && (pop(i) > pt || (pop(i) == pt && i < t))))
        })
        .count();
    Some(ahead)
}

/// Mean NDCG@`k` of `model` over `events`, each ranked alone with its history masked and
/// ties decided by [`rank_with_ties`]; an event whose item is in its own history counts 0.
pub fn heldout_ndcg(
    model: &dyn Recommender,
    events: &[HeldOut],
    popularity: &[u32],
    k: usize,
) -> Result<f64> {
    let mut scores = vec![0f32; model.n_items()];
    let mut total = 0.0;
    for e in events {
        model.score(&UserContext::from_history(None, &e.history), &mut scores)?;
        seer_core::rerank::mask(&mut scores, &e.history);
        if let Some(rank) = rank_with_ties(&scores, e.item, popularity) {
            total += metrics::ndcg_at_rank(rank, k);
        }
    }
    Ok(total / events.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores every item alike.
    struct Constant(usize);

    impl Recommender for Constant {
        fn kind(&self) -> &'static str {
            "constant"
        }
        fn n_items(&self) -> usize {
            self.0
        }
        fn score(&self, _: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
            out.fill(1.0);
            Ok(())
        }
        fn save(&self, _: &std::path::Path) -> seer_core::Result<()> {
            Ok(())
        }
    }

    /// Scores the item after the user's last one highest (the pattern of the events below).
    struct Next(usize);

    impl Recommender for Next {
        fn kind(&self) -> &'static str {
            "next"
        }
        fn n_items(&self) -> usize {
            self.0
        }
        fn score(&self, u: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
            out.fill(0.0);
            if let Some(&last) = u.history.last() {
                out[(last as usize + 1) % self.0] = 1.0;
            }
            Ok(())
        }
        fn save(&self, _: &std::path::Path) -> seer_core::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn ties_never_go_to_the_target() {
        // All tied: the more popular item 2, then the lower index 0, come first.
        let s = [1.0, 1.0, 1.0, 1.0];
        let pop = [5, 1, 9, 1];
        assert_eq!(rank_with_ties(&s, 1, &pop), Some(2));
        assert_eq!(rank_with_ties(&s, 3, &pop), Some(3));
        assert_eq!(rank_with_ties(&s, 2, &pop), Some(0));
        let masked = [f32::NEG_INFINITY, 1.0, 1.0, 1.0];
        assert_eq!(rank_with_ties(&masked, 1, &pop), Some(1));
        assert_eq!(rank_with_ties(&masked, 0, &pop), None);
    }

    #[test]
    fn a_constant_score_model_loses_to_one_that_ranks() -> Result<()> {
        let n = 50;
        let events: Vec<HeldOut> = (0..40u32)
            .map(|u| HeldOut {
                history: vec![u % 50, (u + 1) % 50],
                item: (u + 2) % 50,
            })
            .collect();
        let popularity = vec![3u32; n];
        let constant = heldout_ndcg(&Constant(n), &events, &popularity, 10)?;
        let next = heldout_ndcg(&Next(n), &events, &popularity, 10)?;
        assert_eq!(next, 1.0);
        // Ties go by index: the target ranks by its position among the unmasked items, so
        // the constant model hits only the events whose item has a low index.
        assert!(constant < 0.3, "constant {constant}");
        assert!(constant < next);
        Ok(())
    }
}
