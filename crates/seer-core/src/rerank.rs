//! Business rules applied to a ranked list after any model, for the command line and the
//! server alike: items that must never come back are masked ([`mask`]), the list is the best
//! finite scores ([`top_n`]), optionally diversified by maximal marginal relevance over a
//! wider pool ([`diversity_pool`], [`mmr`]).
//!
//! MMR follows Carbonell & Goldstein, "The Use of MMR, Diversity-Based Reranking for
//! Reordering Documents and Producing Summaries", SIGIR 1998: repeatedly pick
//!
//! `argmax_i  λ · rel(i) − (1 − λ) · max_{j ∈ S} sim(i, j)`
//!
//! over the candidates not yet selected, `S` the items already picked. **Deviation:** the
//! model's scores are rescaled to [0, 1] over the candidate list first (min–max), so λ means
//! the same whatever the model's score scale.

use crate::ItemIdx;

/// Masks `items` (seen, excluded, deleted): their scores become `-inf`, which no list holds.
/// Indices outside `scores` are ignored.
pub fn mask(scores: &mut [f32], items: &[ItemIdx]) {
    for &i in items {
        if let Some(s) = scores.get_mut(i as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// The best `n` items by score (ties to the lower index), masked items left out.
pub fn top_n(scores: &[f32], n: usize) -> Vec<(ItemIdx, f32)> {
    crate::topk::top_k(scores, n)
        .into_iter()
        .filter(|c| c.1.is_finite())
        .collect()
}

/// The candidates [`mmr`] diversifies a list of `n` from: the best `max(10 n, 100)`.
pub fn diversity_pool(scores: &[f32], n: usize) -> Vec<(ItemIdx, f32)> {
    top_n(scores, (10 * n).max(100))
}

/// Re-ranks `candidates` (item, score; best first or in any order) into `n` items by MMR with
/// trade-off `lambda` ∈ [0, 1] (1 = relevance only, the input order by score) and item
/// similarity `sim` (symmetric, 1 for identical items). Returns (item, original score).
pub fn mmr(
    candidates: &[(ItemIdx, f32)],
    n: usize,
    lambda: f32,
    sim: impl Fn(ItemIdx, ItemIdx) -> f32,
) -> Vec<(ItemIdx, f32)> {
    let finite: Vec<(ItemIdx, f32)> = candidates
        .iter()
        .copied()
        .filter(|c| c.1.is_finite())
        .collect();
    let (lo, hi) = finite
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), c| {
            (a.min(c.1), b.max(c.1))
        });
    let span = (hi - lo).max(1e-12);
    let rel: Vec<f32> = finite.iter().map(|c| (c.1 - lo) / span).collect();
    let mut taken = vec![false; finite.len()];
    // Highest similarity of each candidate to anything selected so far.
    let mut max_sim = vec![0.0f32; finite.len()];
    let mut out = Vec::with_capacity(n.min(finite.len()));
    while out.len() < n.min(finite.len()) {
        let mut best: Option<(usize, f32)> = None;
        for (c, &r) in rel.iter().enumerate() {
            if taken[c] {
                continue;
            }
            let v = lambda * r - (1.0 - lambda) * max_sim[c];
            // ties: the higher original score, then the lower item index
            let better = match best {
                None => true,
                Some((b, bv)) => {
                    v > bv
                        || (v == bv
                            && (finite[c].1 > finite[b].1
                                || (finite[c].1 == finite[b].1 && finite[c].0 < finite[b].0)))
                }
            };
            if better {
                best = Some((c, v));
            }
        }
        let Some((c, _)) = best else { break };
        taken[c] = true;
        out.push(finite[c]);
        for (d, m) in max_sim.iter_mut().enumerate() {
            if !taken[d] {
                *m = m.max(sim(finite[c].0, finite[d].0));
            }
        }
    }
    out
}

/// Cosine similarity of two sets given as sorted, deduplicated index lists (e.g. the users of
/// two items): `|a ∩ b| / √(|a| |b|)`, 0 when either is empty.
pub fn set_cosine(a: &[u32], b: &[u32]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f32 / ((a.len() * b.len()) as f32).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masked_items_never_reach_the_list() {
        let mut s = vec![0.9, 0.1, 0.8, 0.7, f32::NEG_INFINITY];
        mask(&mut s, &[0, 3, 99]);
        assert_eq!(top_n(&s, 10), vec![(2, 0.8), (1, 0.1)]);
        assert_eq!(diversity_pool(&s, 1).len(), 2);
    }

    #[test]
    fn set_cosine_by_hand() {
        assert_eq!(set_cosine(&[1, 2, 3], &[1, 2, 3]), 1.0);
        assert_eq!(set_cosine(&[1, 2], &[3, 4]), 0.0);
        assert!((set_cosine(&[1, 2, 3, 4], &[2, 4]) - 2.0 / 8f32.sqrt()).abs() < 1e-6);
        assert_eq!(set_cosine(&[], &[1]), 0.0);
    }

    /// Items 0–3 are near-duplicates of each other, 4–5 differ: with λ = 0.5 the second pick
    /// is the best item outside the duplicate group, though it scores lower.
    #[test]
    fn diversity_skips_near_duplicates() {
        let group = |i: u32| if i < 4 { 0 } else { i };
        let sim = |a: u32, b: u32| if group(a) == group(b) { 1.0 } else { 0.0 };
        let cands = [(0, 1.0), (1, 0.95), (2, 0.9), (3, 0.85), (4, 0.5), (5, 0.4)];
        let plain = mmr(&cands, 3, 1.0, sim);
        assert_eq!(plain.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 1, 2]);
        let diverse = mmr(&cands, 3, 0.5, sim);
        assert_eq!(diverse.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 4, 5]);
        // scores are kept as the model gave them
        assert_eq!(diverse[1], (4, 0.5));
    }

    proptest! {
        /// λ = 1 is the plain top-n; every λ returns n distinct candidates (or all of them).
        #[test]
        fn mmr_is_a_selection_and_lambda_one_is_top_n(
            scores in prop::collection::vec(0.0f32..10.0, 1..40),
            n in 1usize..20,
            lambda in 0.0f32..1.0,
        ) {
            let cands: Vec<(u32, f32)> =
                scores.iter().enumerate().map(|(i, &s)| (i as u32, s)).collect();
            let sim = |a: u32, b: u32| if (a % 3) == (b % 3) { 0.8 } else { 0.1 };
            let top = mmr(&cands, n, 1.0, sim);
            let expect = crate::topk::top_k(&scores, n);
            prop_assert_eq!(
                top.iter().map(|c| c.1).collect::<Vec<_>>(),
                expect.iter().map(|c| c.1).collect::<Vec<_>>()
            );
            let out = mmr(&cands, n, lambda, sim);
            prop_assert_eq!(out.len(), n.min(cands.len()));
            let mut items: Vec<u32> = out.iter().map(|c| c.0).collect();
            items.sort_unstable();
            items.dedup();
            prop_assert_eq!(items.len(), out.len());
        }
    }
}
