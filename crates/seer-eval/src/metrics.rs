//! Ranking metrics as pure functions.
//!
//! All metrics use **binary relevance**: an item is relevant when it is one of the user's
//! held-out *targets*, and each target counts once. Two kinds of input are used:
//!
//! - **Top-K metrics** ([`hit_rate`], [`precision`], [`recall`], [`f1`], [`ndcg`], [`mrr_at`],
//!   [`average_precision`], [`mean_popularity`], [`coverage`]) take `ranked`, the user's
//!   recommendation list best first (seen items already removed), and look at its first `k`
//!   entries. `targets` holds distinct item indices; an empty target set scores 0.
//! - **Full-ranking metrics** ([`mrr_full`], [`auc`]) need the position of every target among
//!   all candidate items, which [`target_ranks`] computes from a score vector in O(n) without
//!   sorting.
//!
//! Notation below: `rel(i) = 1` when the item at 1-based position `i` is a target, `T` is the
//! target set, `K` the cut-off. The protocol averages every per-user value over users
//! (macro average), like RecBole.
//!
//! Scores follow [`seer_core::topk`]: higher is better, ties are broken by the lower item
//! index ([`rank_cmp`]), and items scored `-inf` or NaN are *masked* (not candidates).

use seer_core::topk::rank_cmp;
use seer_core::ItemIdx;

/// Iterator over `rel(1..=k)` of `ranked`.
fn rel<'a>(
    ranked: &'a [ItemIdx],
    targets: &'a [ItemIdx],
    k: usize,
) -> impl Iterator<Item = bool> + 'a {
    ranked.iter().take(k).map(move |i| targets.contains(i))
}

/// Number of targets in the first `k` entries.
fn hits(ranked: &[ItemIdx], targets: &[ItemIdx], k: usize) -> usize {
    rel(ranked, targets, k).filter(|&r| r).count()
}

/// Hit rate (HR@K): 1 if any target is in the top K, else 0.
///
/// `HR@K = 1[ Σ_{i≤K} rel(i) > 0 ]`
pub fn hit_rate(ranked: &[ItemIdx], targets: &[ItemIdx], k: usize) -> f64 {
    if rel(ranked, targets, k).any(|r| r) {
        1.0
    } else {
        0.0
    }
}

/// Precision@K: the share of the K slots holding a target.
///
/// `P@K = Σ_{i≤K} rel(i) / K` — the denominator is K even when `ranked` is shorter (the
/// catalogue ran out), as in RecBole.
pub fn precision(ranked: &[ItemIdx], targets: &[ItemIdx], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    hits(ranked, targets, k) as f64 / k as f64
}

/// Recall@K: the share of targets found in the top K.
///
/// `R@K = Σ_{i≤K} rel(i) / |T|`
pub fn recall(ranked: &[ItemIdx], targets: &[ItemIdx], k: usize) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    hits(ranked, targets, k) as f64 / targets.len() as f64
}

/// F1@K of one user, from that user's precision and recall.
///
/// `F1@K = 2·P@K·R@K / (P@K + R@K)`, 0 when both are 0. The protocol averages this per-user
/// value over users; it is *not* the harmonic mean of the averaged P and R.
pub fn f1(ranked: &[ItemIdx], targets: &[ItemIdx], k: usize) -> f64 {
    let (p, r) = (precision(ranked, targets, k), recall(ranked, targets, k));
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Normalised discounted cumulative gain, binary relevance.
///
/// `DCG@K = Σ_{i≤K} rel(i) / log2(i + 1)`, `IDCG@K = Σ_{i ≤ min(|T|, K)} 1 / log2(i + 1)`,
/// `NDCG@K = DCG@K / IDCG@K` (RecBole's `NDCG`).
pub fn ndcg(ranked: &[ItemIdx], targets: &[ItemIdx], k: usize) -> f64 {
    let ideal = targets.len().min(k);
    if ideal == 0 {
        return 0.0;
    }
    let dcg: f64 = rel(ranked, targets, k)
        .enumerate()
        .filter(|&(_, r)| r)
        .map(|(i, _)| discount(i))
        .sum();
    let idcg: f64 = (0..ideal).map(discount).sum();
    dcg / idcg
}

/// NDCG@K of a single target at 0-based `rank` (its ideal DCG is 1): `1 / log2(rank + 2)`
/// inside the cut-off, else 0.
pub fn ndcg_at_rank(rank: usize, k: usize) -> f64 {
    if rank < k {
        discount(rank)
    } else {
        0.0
    }
}

/// `1 / log2(i + 2)` for a 0-based position `i`.
#[inline]
fn discount(i: usize) -> f64 {
    1.0 / ((i + 2) as f64).log2()
}

/// Mean reciprocal rank cut at K: the reciprocal 1-based position of the first target in the
/// top K, 0 when none is there.
///
/// `MRR@K = 1 / min{ i ≤ K : rel(i) = 1 }`
pub fn mrr_at(ranked: &[ItemIdx], targets: &[ItemIdx], k: usize) -> f64 {
    rel(ranked, targets, k)
        .position(|r| r)
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Average precision cut at K (the per-user term of MAP@K).
///
/// `AP@K = Σ_{i≤K} rel(i)·P@i / min(|T|, K)` (RecBole's `MAP`).
pub fn average_precision(ranked: &[ItemIdx], targets: &[ItemIdx], k: usize) -> f64 {
    let denom = targets.len().min(k);
    if denom == 0 {
        return 0.0;
    }
    let mut found = 0usize;
    let mut sum = 0.0;
    for (i, r) in rel(ranked, targets, k).enumerate() {
        if r {
            found += 1;
            sum += found as f64 / (i + 1) as f64;
        }
    }
    sum / denom as f64
}

/// Mean training popularity of the top-K items of one user.
///
/// `pop@K = Σ_{i≤K} pop(item_i) / min(K, |ranked|)` where `pop` is the number of known
/// (history) interactions of each item; 0 for an empty list. Divide by `max pop` for the
/// normalised variant the protocol also reports (`pop_norm@K`).
pub fn mean_popularity(ranked: &[ItemIdx], popularity: &[u32], k: usize) -> f64 {
    let n = ranked.len().min(k);
    if n == 0 {
        return 0.0;
    }
    ranked[..n]
        .iter()
        .map(|&i| f64::from(popularity[i as usize]))
        .sum::<f64>()
        / n as f64
}

/// Catalogue coverage@K over many users: distinct items appearing in any user's top K,
/// divided by the catalogue size.
///
/// `coverage@K = |⋃_u top_K(u)| / n_items`
pub fn coverage<'a>(
    lists: impl IntoIterator<Item = &'a [ItemIdx]>,
    k: usize,
    n_items: usize,
) -> f64 {
    if n_items == 0 {
        return 0.0;
    }
    let mut seen = vec![false; n_items];
    let mut distinct = 0usize;
    for list in lists {
        for &i in list.iter().take(k) {
            if !std::mem::replace(&mut seen[i as usize], true) {
                distinct += 1;
            }
        }
    }
    distinct as f64 / n_items as f64
}

/// Where one target stands among all candidate (unmasked) items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetRank {
    /// The target item.
    pub item: ItemIdx,
    /// 0-based rank: the number of candidates (targets included) ranked ahead of it by
    /// [`rank_cmp`] (higher score first, ties to the lower index).
    pub rank: usize,
    /// Non-target candidates with a strictly higher score.
    pub greater: usize,
    /// Non-target candidates with exactly the same score.
    pub tied: usize,
}

/// `true` when a score marks a candidate (not `-inf`, not NaN); same rule as
/// [`seer_core::topk`].
#[inline]
pub fn is_candidate(s: f32) -> bool {
    s.is_finite() || s == f32::INFINITY
}

/// Ranks every target among the candidates of `scores`, in O(n log |T|) time (O(n) for the
/// common single-target case) without sorting the scores.
///
/// `targets` must be distinct; targets whose own score is masked are left out of the result.
/// Returns the ranks and the number of candidates.
pub fn target_ranks(scores: &[f32], targets: &[ItemIdx]) -> (Vec<TargetRank>, usize) {
    let mut out = Vec::new();
    let n = target_ranks_into(scores, targets, &mut out);
    (out, n)
}

/// [`target_ranks`] writing into a reused buffer; returns the number of candidates.
pub fn target_ranks_into(scores: &[f32], targets: &[ItemIdx], out: &mut Vec<TargetRank>) -> usize {
    out.clear();
    // Targets worst-first, i.e. ascending in rank order; every "does candidate x beat target
    // t" / "score below s" predicate is then true on a prefix and found by bisection.
    let mut ts: Vec<(ItemIdx, f32)> = targets
        .iter()
        .map(|&t| (t, scores[t as usize]))
        .filter(|&(_, s)| is_candidate(s))
        .collect();
    ts.sort_unstable_by(|a, b| rank_cmp(*b, *a));
    let m = ts.len();
    // cnt_*[j] = number of candidates whose prefix length is j; a target at sorted position p
    // is affected by every candidate with prefix length > p.
    let mut cnt_beat = vec![0usize; m + 1];
    let mut cnt_gt = vec![0usize; m + 1];
    let mut cnt_ge = vec![0usize; m + 1];
    let mut n_cand = 0usize;
    if m == 1 {
        // Fast path (leave-one-out): three comparisons per item.
        let (t, st) = ts[0];
        for (i, &s) in scores.iter().enumerate() {
            if !is_candidate(s) {
                continue;
            }
            n_cand += 1;
            cnt_gt[1] += usize::from(s > st);
            cnt_ge[1] += usize::from(s >= st);
            cnt_beat[1] += usize::from(s > st || (s == st && (i as ItemIdx) < t));
        }
    } else if m > 1 {
        for (i, &s) in scores.iter().enumerate() {
            if !is_candidate(s) {
                continue;
            }
            n_cand += 1;
            let x = (i as ItemIdx, s);
            cnt_beat[ts.partition_point(|&t| rank_cmp(x, t).is_lt())] += 1;
            cnt_gt[ts.partition_point(|&(_, st)| st < s)] += 1;
            cnt_ge[ts.partition_point(|&(_, st)| st <= s)] += 1;
        }
    } else {
        return scores.iter().filter(|&&s| is_candidate(s)).count();
    }
    // Suffix sums: affected(p) = Σ_{j > p} cnt[j].
    let (mut beat, mut gt, mut ge) = (0usize, 0usize, 0usize);
    let mut per_target = vec![(0usize, 0usize, 0usize); m];
    for p in (0..m).rev() {
        beat += cnt_beat[p + 1];
        gt += cnt_gt[p + 1];
        ge += cnt_ge[p + 1];
        per_target[p] = (beat, gt, ge);
    }
    for (p, &(item, s)) in ts.iter().enumerate() {
        let (beat, gt, ge) = per_target[p];
        // Remove target–target pairs from the "non-target" counts.
        let t_gt = m - ts.partition_point(|&(_, st)| st <= s);
        let t_ge = m - ts.partition_point(|&(_, st)| st < s);
        let greater = gt - t_gt;
        let tied = (ge - gt) - (t_ge - t_gt);
        out.push(TargetRank {
            item,
            rank: beat,
            greater,
            tied,
        });
    }
    out.sort_unstable_by_key(|t| t.rank);
    n_cand
}

/// Full-ranking mean reciprocal rank of one user: the reciprocal 1-based rank of the best
/// target among *all* candidate items (no cut-off).
///
/// `MRR = 1 / (1 + min_{t∈T} rank(t))`, 0 when no target is a candidate.
pub fn mrr_full(ranks: &[TargetRank]) -> f64 {
    ranks
        .iter()
        .map(|t| t.rank)
        .min()
        .map_or(0.0, |r| 1.0 / (r + 1) as f64)
}

/// Area under the ROC curve of one user over all candidates: the fraction of
/// (target, non-target candidate) pairs in which the target scores higher, ties counting ½.
///
/// `AUC = Σ_{t∈T} (N − greater(t) − ½·tied(t)) / (|T|·N)` with `N = n_candidates − |T|`.
/// `None` when there is no target or no negative.
pub fn auc(ranks: &[TargetRank], n_candidates: usize) -> Option<f64> {
    let n_neg = n_candidates.checked_sub(ranks.len())?;
    if ranks.is_empty() || n_neg == 0 {
        return None;
    }
    let correct: f64 = ranks
        .iter()
        .map(|t| n_neg as f64 - t.greater as f64 - 0.5 * t.tied as f64)
        .sum();
    Some(correct / (ranks.len() as f64 * n_neg as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use seer_core::topk::top_k;

    const EPS: f64 = 1e-9;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < EPS, "{a} != {b}");
    }

    // ranked = [1, 2, 3, 4, 5], targets {2, 5, 9}: hits at 1-based positions 2 and 5, one
    // target never retrieved.
    const RANKED: [ItemIdx; 5] = [1, 2, 3, 4, 5];
    const TARGETS: [ItemIdx; 3] = [2, 5, 9];

    #[test]
    fn topk_metrics_by_hand() {
        let l2 = |x: f64| x.log2();
        // K = 1: nothing found.
        for f in [
            hit_rate,
            precision,
            recall,
            f1,
            ndcg,
            mrr_at,
            average_precision,
        ] {
            close(f(&RANKED, &TARGETS, 1), 0.0);
        }
        // K = 2: one hit at position 2.
        close(hit_rate(&RANKED, &TARGETS, 2), 1.0);
        close(precision(&RANKED, &TARGETS, 2), 0.5);
        close(recall(&RANKED, &TARGETS, 2), 1.0 / 3.0);
        close(
            f1(&RANKED, &TARGETS, 2),
            2.0 * 0.5 * (1.0 / 3.0) / (0.5 + 1.0 / 3.0),
        );
        close(
            ndcg(&RANKED, &TARGETS, 2),
            (1.0 / l2(3.0)) / (1.0 + 1.0 / l2(3.0)),
        );
        close(mrr_at(&RANKED, &TARGETS, 2), 0.5);
        close(average_precision(&RANKED, &TARGETS, 2), 0.5 / 2.0);
        // K = 5: hits at 2 and 5.
        close(precision(&RANKED, &TARGETS, 5), 0.4);
        close(recall(&RANKED, &TARGETS, 5), 2.0 / 3.0);
        close(f1(&RANKED, &TARGETS, 5), 0.5);
        let dcg = 1.0 / l2(3.0) + 1.0 / l2(6.0);
        let idcg = 1.0 + 1.0 / l2(3.0) + 1.0 / l2(4.0);
        close(ndcg(&RANKED, &TARGETS, 5), dcg / idcg);
        close(ndcg(&RANKED, &TARGETS, 5), 0.477_623_703_5); // python: (1/log2(3) + 1/log2(6)) / (1 + 1/log2(3) + 1/2)
        close(mrr_at(&RANKED, &TARGETS, 5), 0.5);
        close(
            average_precision(&RANKED, &TARGETS, 5),
            (1.0 / 2.0 + 2.0 / 5.0) / 3.0,
        );
        // K beyond the list: precision still divides by K.
        close(precision(&RANKED, &TARGETS, 10), 0.2);
        // Empty target set scores zero everywhere.
        for f in [
            hit_rate,
            precision,
            recall,
            f1,
            ndcg,
            mrr_at,
            average_precision,
        ] {
            close(f(&RANKED, &[], 5), 0.0);
        }
    }

    #[test]
    fn ndcg_ideal_is_cut_at_k() {
        // Four targets, K = 2, both slots hit: IDCG uses min(|T|, K) = 2 terms, so NDCG = 1.
        close(ndcg(&[7, 8, 1], &[7, 8, 9, 10], 2), 1.0);
        // MAP@2 likewise divides by min(|T|, K).
        close(average_precision(&[7, 8, 1], &[7, 8, 9, 10], 2), 1.0);
    }

    #[test]
    fn coverage_and_popularity_by_hand() {
        let lists: [&[ItemIdx]; 3] = [&[0, 1, 2], &[1, 0, 3], &[4, 1, 0]];
        close(coverage(lists, 1, 10), 3.0 / 10.0); // top-1s: {0, 1, 4}
        close(coverage(lists, 2, 10), 3.0 / 10.0); // {0, 1, 4}
        close(coverage(lists, 3, 10), 5.0 / 10.0); // {0, 1, 2, 3, 4}
        let pop = [10, 4, 0, 1, 5];
        close(mean_popularity(&[0, 1, 2], &pop, 2), 7.0);
        close(mean_popularity(&[0, 1, 2], &pop, 3), 14.0 / 3.0);
        close(mean_popularity(&[], &pop, 3), 0.0);
    }

    #[test]
    fn auc_and_full_mrr_by_hand() {
        // Item 4 masked. Target 1 (0.5): item 0 beats it, item 2 ties (higher index, so it
        // ranks after), item 3 is below. AUC = (0 + ½ + 1) / 3.
        let s = [0.9, 0.5, 0.5, 0.1, f32::NEG_INFINITY];
        let (r, n) = target_ranks(&s, &[1]);
        assert_eq!(n, 4);
        assert_eq!(
            r,
            vec![TargetRank {
                item: 1,
                rank: 1,
                greater: 1,
                tied: 1
            }]
        );
        close(auc(&r, n).unwrap(), 0.5);
        close(mrr_full(&r), 0.5);

        // Two targets {0, 3}; order 1 (0.8), 3 (0.6), 0 (0.3), 2 (0.3); negatives {1, 2}.
        // Target 3: loses to 1, beats 2 → 1. Target 0: loses to 1, ties 2 → ½. AUC = 1.5 / 4.
        let s = [0.3, 0.8, 0.3, 0.6];
        let (r, n) = target_ranks(&s, &[0, 3]);
        assert_eq!(
            r,
            vec![
                TargetRank {
                    item: 3,
                    rank: 1,
                    greater: 1,
                    tied: 0
                },
                TargetRank {
                    item: 0,
                    rank: 2,
                    greater: 1,
                    tied: 1
                },
            ]
        );
        close(auc(&r, n).unwrap(), 0.375);
        close(mrr_full(&r), 0.5);

        // A masked target is left out; no negatives → AUC undefined.
        let (r, n) = target_ranks(&[f32::NEG_INFINITY, 1.0], &[0, 1]);
        assert_eq!(r.len(), 1);
        assert_eq!(auc(&r, n), None);
    }

    /// Brute force: rank by a full sort, pair counts by a double loop.
    fn brute(scores: &[f32], targets: &[ItemIdx]) -> Vec<TargetRank> {
        let mut order: Vec<(ItemIdx, f32)> = scores
            .iter()
            .enumerate()
            .filter(|(_, &s)| is_candidate(s))
            .map(|(i, &s)| (i as u32, s))
            .collect();
        order.sort_by(|a, b| rank_cmp(*a, *b));
        let mut out: Vec<TargetRank> = targets
            .iter()
            .filter(|&&t| is_candidate(scores[t as usize]))
            .map(|&t| {
                let st = scores[t as usize];
                let negs = order.iter().filter(|(i, _)| !targets.contains(i));
                TargetRank {
                    item: t,
                    rank: order.iter().position(|&(i, _)| i == t).unwrap(),
                    greater: negs.clone().filter(|(_, s)| *s > st).count(),
                    tied: negs.filter(|(_, s)| *s == st).count(),
                }
            })
            .collect();
        out.sort_by_key(|t| t.rank);
        out
    }

    /// Random scores with ties and masks, and a distinct target subset.
    fn case() -> impl Strategy<Value = (Vec<f32>, Vec<ItemIdx>)> {
        proptest::collection::vec(
            prop_oneof![8 => (-5i32..5).prop_map(|x| x as f32), 1 => Just(f32::NEG_INFINITY)],
            1..60,
        )
        .prop_flat_map(|s| {
            let n = s.len();
            (
                Just(s),
                proptest::collection::btree_set(0..n as u32, 0..n.min(8)),
            )
        })
        .prop_map(|(s, t)| (s, t.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn target_ranks_match_brute_force((scores, targets) in case()) {
            let (r, n) = target_ranks(&scores, &targets);
            prop_assert_eq!(n, scores.iter().filter(|&&s| is_candidate(s)).count());
            prop_assert_eq!(r, brute(&scores, &targets));
        }

        #[test]
        fn ranks_agree_with_topk((scores, targets) in case()) {
            let top: Vec<ItemIdx> = top_k(&scores, scores.len()).into_iter().map(|x| x.0).collect();
            let (r, _) = target_ranks(&scores, &targets);
            for t in &r {
                prop_assert_eq!(top[t.rank], t.item);
            }
            // Full MRR is MRR@K with K = the whole catalogue.
            prop_assert!((mrr_full(&r) - mrr_at(&top, &targets_of(&r), top.len())).abs() < EPS);
        }

        #[test]
        fn values_in_unit_interval((scores, targets) in case(), k in 1usize..30) {
            let top: Vec<ItemIdx> = top_k(&scores, k).into_iter().map(|x| x.0).collect();
            for f in [hit_rate, precision, recall, f1, ndcg, mrr_at, average_precision] {
                let v = f(&top, &targets, k);
                prop_assert!((0.0..=1.0 + EPS).contains(&v), "{}", v);
            }
            let (r, n) = target_ranks(&scores, &targets);
            if let Some(a) = auc(&r, n) {
                prop_assert!((0.0..=1.0).contains(&a));
            }
            prop_assert!((0.0..=1.0).contains(&mrr_full(&r)));
            prop_assert!((0.0..=1.0).contains(&coverage([top.as_slice()], k, scores.len())));
        }

        #[test]
        fn monotone_in_k((scores, targets) in case(), k in 1usize..30) {
            let top: Vec<ItemIdx> = top_k(&scores, k + 1).into_iter().map(|x| x.0).collect();
            prop_assert!(hit_rate(&top, &targets, k) <= hit_rate(&top, &targets, k + 1));
            prop_assert!(recall(&top, &targets, k) <= recall(&top, &targets, k + 1));
            prop_assert!(mrr_at(&top, &targets, k) <= mrr_at(&top, &targets, k + 1));
        }

        #[test]
        fn perfect_ranking_scores_one(n in 2usize..50, n_t in 1usize..5, k in 1usize..20) {
            // Targets get the highest scores: every metric that can reach 1 does.
            let n_t = n_t.min(n - 1);
            let scores: Vec<f32> = (0..n).map(|i| if i < n_t { 10.0 } else { (i % 3) as f32 }).collect();
            let targets: Vec<ItemIdx> = (0..n_t as u32).collect();
            let top: Vec<ItemIdx> = top_k(&scores, k).into_iter().map(|x| x.0).collect();
            prop_assert!((ndcg(&top, &targets, k) - 1.0).abs() < EPS);
            prop_assert_eq!(hit_rate(&top, &targets, k), 1.0);
            prop_assert_eq!(mrr_at(&top, &targets, k), 1.0);
            let (r, c) = target_ranks(&scores, &targets);
            prop_assert_eq!(mrr_full(&r), 1.0);
            prop_assert_eq!(auc(&r, c), Some(1.0));
        }
    }

    fn targets_of(r: &[TargetRank]) -> Vec<ItemIdx> {
        r.iter().map(|t| t.item).collect()
    }
}
