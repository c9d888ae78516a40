//! Top-K selection over a score vector.
//!
//! Ties are broken by the lower item index so results are deterministic. Items whose score is
//! `f32::NEG_INFINITY` (masked) or NaN are never returned.

use std::cmp::Ordering;

use crate::ItemIdx;

/// Ordering used everywhere for ranking: higher score first, then lower index.
#[inline]
pub fn rank_cmp(a: (ItemIdx, f32), b: (ItemIdx, f32)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

/// The `k` best `(item, score)` pairs of `scores`, best first, skipping masked items.
///
/// Runs in O(n + k log k): one `select_nth_unstable_by` partition, then a sort of the head.
/// `buf` is scratch space reused across calls to avoid allocating in evaluation loops.
pub fn top_k_into(scores: &[f32], k: usize, buf: &mut Vec<(ItemIdx, f32)>) {
    buf.clear();
    buf.extend(
        scores
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_finite() || **s == f32::INFINITY)
            .map(|(i, &s)| (i as ItemIdx, s)),
    );
    if k == 0 {
        buf.clear();
        return;
    }
    if buf.len() > k {
        buf.select_nth_unstable_by(k - 1, |a, b| rank_cmp(*a, *b));
        buf.truncate(k);
    }
    buf.sort_unstable_by(|a, b| rank_cmp(*a, *b));
}

/// Convenience wrapper around [`top_k_into`] that allocates.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(ItemIdx, f32)> {
    let mut buf = Vec::new();
    top_k_into(scores, k, &mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn skips_masked_and_breaks_ties_by_index() {
        let s = [0.5, f32::NEG_INFINITY, 0.9, 0.5, f32::NAN];
        assert_eq!(top_k(&s, 3), vec![(2, 0.9), (0, 0.5), (3, 0.5)]);
        assert_eq!(top_k(&s, 10).len(), 3);
        assert!(top_k(&s, 0).is_empty());
    }

    proptest! {
        #[test]
        fn equals_full_sort_truncated(scores in proptest::collection::vec(-100i32..100, 0..200), k in 0usize..50) {
            let scores: Vec<f32> = scores.into_iter().map(|x| x as f32 / 7.0).collect();
            let mut full: Vec<(ItemIdx, f32)> = scores.iter().enumerate().map(|(i, &s)| (i as u32, s)).collect();
            full.sort_by(|a, b| rank_cmp(*a, *b));
            full.truncate(k);
            prop_assert_eq!(top_k(&scores, k), full);
        }
    }
}
