//! Evaluation of generative decoding: does the model predict what a user does next, then
//! after that?
//!
//! For every user with events in the stage's target part (on a temporal split: the user's
//! events after the cut), the **target sequence** is the user's first `n` distinct target
//! items in time order, leaving out items already in the history (they are never generated).
//! The model sees the history as in [`crate::evaluate`] (`now` = the time of the first target
//! event) and generates `n` items with [`seer_core::generate::generate`] (beam search, no
//! repeats, history excluded). Per user, averaged over users:
//!
//! - `recall@n`: share of the target items generated, in any order;
//! - `ndcg@n`: the generated list ranked against the target set (binary gains, `1/log2(j+2)`
//!   discounts, normalised by the ideal list of `min(n, |targets|)` hits);
//! - `in_order@n`: share of positions `j` where the `j`-th generated item is the `j`-th target,
//!   the strict reading of "then after that".
//!
//! The same three metrics are reported for the model's plain top-`n` list (one scoring of the
//! history, the usual recommendation) under `topn_…`, so the report says whether decoding
//! the sequence step by step helps.

use std::collections::BTreeMap;

use indicatif::ProgressBar;
use rayon::prelude::*;
use seer_core::generate::generate;
use seer_core::topk::top_k_into;
use seer_core::{ItemIdx, Recommender, UserContext, UserIdx};
use seer_data::{Csr, Dataset, Split};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::protocol::Stage;

/// Result of [`evaluate_generation`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationReport {
    /// Model kind.
    pub model: String,
    /// Stage evaluated.
    pub stage: Stage,
    /// Items generated per user.
    pub n: usize,
    /// Beam width.
    pub beam: usize,
    /// Users with at least one target item not in their history.
    pub users_evaluated: usize,
    /// Mean target-sequence length (≤ n).
    pub mean_targets: f64,
    /// `recall@n`, `ndcg@n`, `in_order@n` of the generated sequence and `topn_…` of the plain
    /// top-n list.
    pub metrics: BTreeMap<String, f64>,
    /// Seconds spent generating (beam search) and ranking (top-n), in total.
    pub seconds: f64,
}

/// Per-user metrics of a generated list against the target sequence: (recall, ndcg, in order).
pub fn sequence_metrics(generated: &[ItemIdx], targets: &[ItemIdx]) -> (f64, f64, f64) {
    if targets.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let hits = generated.iter().filter(|i| targets.contains(i)).count();
    let recall = hits as f64 / targets.len() as f64;
    let disc = |j: usize| 1.0 / ((j + 2) as f64).log2();
    let dcg: f64 = generated
        .iter()
        .enumerate()
        .filter(|(_, i)| targets.contains(i))
        .map(|(j, _)| disc(j))
        .sum();
    let ideal: f64 = (0..targets.len()).map(disc).sum();
    let in_order = generated
        .iter()
        .zip(targets)
        .filter(|(g, t)| g == t)
        .count() as f64
        / targets.len() as f64;
    (recall, dcg / ideal, in_order)
}

/// Evaluates generative decoding of `n` items with beam width `beam` on `stage` of `split`
/// (see the module docs).
pub fn evaluate_generation(
    model: &dyn Recommender,
    data: &Dataset,
    split: &Split,
    stage: Stage,
    n: usize,
    beam: usize,
    pb: &ProgressBar,
) -> Result<GenerationReport> {
    crate::protocol::check_inputs(model, data, split)?;
    let (n_users, n_items) = (data.n_users(), data.n_items());
    let _span = tracing::info_span!("generate", %stage, model = model.kind()).entered();
    let t0 = std::time::Instant::now();
    let (hist_parts, target_part) = stage.parts();
    let inter = &data.interactions;
    let history = Csr::from_rows(inter, &split.rows(hist_parts), n_users, n_items);
    let targets = Csr::from_rows(inter, &split.rows(&[target_part]), n_users, n_items);
    // Target sequences: first n distinct items after the history, history items left out.
    let mut seqs: Vec<(UserIdx, Vec<ItemIdx>)> = Vec::new();
    for u in 0..n_users as UserIdx {
        let h = history.row(u);
        let mut t: Vec<ItemIdx> = Vec::new();
        for &i in targets.row(u) {
            if t.len() < n && !h.contains(&i) && !t.contains(&i) {
                t.push(i);
            }
        }
        if !t.is_empty() {
            seqs.push((u, t));
        }
    }
    pb.set_length(seqs.len() as u64);
    pb.set_position(0);
    let per_chunk: Vec<Vec<[f64; 6]>> = seqs
        .par_chunks(32)
        .map(|chunk| -> Result<Vec<[f64; 6]>> {
            let ctxs: Vec<UserContext<'_>> = chunk
                .iter()
                .map(|(u, _)| UserContext {
                    user: Some(*u),
                    history: history.row(*u),
                    timestamps: data.has_timestamps.then(|| history.row_ts(*u)),
                    now: data
                        .has_timestamps
                        .then(|| targets.row_ts(*u).first().copied())
                        .flatten(),
                    context: (history.n_context > 0).then(|| history.row_context(*u)),
                    now_context: crate::protocol::first_context(&targets, *u),
                })
                .collect();
            let gen = generate(model, &ctxs, &vec![&[][..]; ctxs.len()], n, beam)?;
            let mut scores = vec![0f32; ctxs.len() * n_items];
            model.score_batch(&ctxs, &mut scores)?;
            let mut top = Vec::new();
            let mut out = Vec::with_capacity(chunk.len());
            for (k, ((_, t), g)) in chunk.iter().zip(&gen).enumerate() {
                let s = &mut scores[k * n_items..(k + 1) * n_items];
                for &i in ctxs[k].history {
                    s[i as usize] = f32::NEG_INFINITY;
                }
                top_k_into(s, n, &mut top);
                let plain: Vec<ItemIdx> = top.iter().map(|&(i, _)| i).collect();
                let (a, b, c) = sequence_metrics(&g.items, t);
                let (d, e, f) = sequence_metrics(&plain, t);
                out.push([a, b, c, d, e, f]);
            }
            pb.inc(chunk.len() as u64);
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let rows: Vec<[f64; 6]> = per_chunk.into_iter().flatten().collect();
    let names = ["recall", "ndcg", "in_order"];
    let mut metrics = BTreeMap::new();
    for (j, col) in (0..6).map(|j| (j, rows.iter().map(move |r| r[j]))) {
        let v: Vec<f64> = col.collect();
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        let prefix = if j < 3 { "" } else { "topn_" };
        metrics.insert(format!("{prefix}{}@{n}", names[j % 3]), mean);
    }
    pb.finish_and_clear();
    Ok(GenerationReport {
        model: model.kind().to_string(),
        stage,
        n,
        beam,
        users_evaluated: seqs.len(),
        mean_targets: seqs.iter().map(|(_, t)| t.len()).sum::<usize>() as f64
            / seqs.len().max(1) as f64,
        metrics,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_metrics_by_hand() {
        // Targets 7 then 8; generated 8, 7, 9: both found, neither in place.
        let (r, n, o) = sequence_metrics(&[8, 7, 9], &[7, 8]);
        assert_eq!(r, 1.0);
        assert_eq!(o, 0.0);
        assert!((n - 1.0).abs() < 1e-12, "{n}"); // both hits in the top 2 = ideal
                                                 // Generated 9, 7, 8 against 7, 8: hits at ranks 2 and 3.
        let (r, n, o) = sequence_metrics(&[9, 7, 8], &[7, 8]);
        assert_eq!(r, 1.0);
        let expect = (1.0 / 3f64.log2() + 0.5) / (1.0 + 1.0 / 3f64.log2());
        assert!((n - expect).abs() < 1e-12);
        assert_eq!(o, 0.0);
        // Exact order: everything is 1.
        assert_eq!(sequence_metrics(&[7, 8, 9], &[7, 8]), (1.0, 1.0, 1.0));
        assert_eq!(sequence_metrics(&[1, 2], &[7]).0, 0.0);
        assert!(sequence_metrics(&[1], &[]).0.is_nan());
    }
}
