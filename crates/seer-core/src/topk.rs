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
/// One pass with a bounded buffer: an item only enters when its score beats the current
/// k-th best, which for k ≪ n is one comparison per item (faster than copying all n pairs
/// and partitioning them, especially on score vectors with many ties). Items are visited in
/// index order, so an item tied with the k-th best never displaces it (the lower index wins
/// ties). `buf` is scratch space reused across calls to avoid allocating in evaluation loops.
pub fn top_k_into(scores: &[f32], k: usize, buf: &mut Vec<(ItemIdx, f32)>) {
    buf.clear();
    if k == 0 {
        return;
    }
    let mut worst = 0usize; // position in `buf` of the current k-th best, once full
    let mut worst_score = f32::NEG_INFINITY;
    for (i, &s) in scores.iter().enumerate() {
        if !(s.is_finite() || s == f32::INFINITY) {
            continue;
        }
        if buf.len() < k {
            buf.push((i as ItemIdx, s));
            if buf.len() == k {
                (worst, worst_score) = find_worst(buf);
            }
        } else if s > worst_score {
            buf[worst] = (i as ItemIdx, s);
            (worst, worst_score) = find_worst(buf);
        }
    }
    buf.sort_unstable_by(|a, b| rank_cmp(*a, *b));
}

/// Position and score of the lowest-ranked entry.
fn find_worst(buf: &[(ItemIdx, f32)]) -> (usize, f32) {
    let mut w = 0;
    for j in 1..buf.len() {
        if rank_cmp(buf[j], buf[w]) == Ordering::Greater {
            w = j;
        }
    }
    (w, buf[w].1)
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
