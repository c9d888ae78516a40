//! One model's row of a bench ([`ModelResult`]) and the paired comparison of two models on
//! the same test users ([`Paired`], [`paired_difference`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A paired comparison of two models of a run, neither of them the first
/// (`BenchReport::pairs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPair {
    /// The later model of the two; [`Paired::baseline`] names the earlier one.
    pub model: String,
    /// Its per-user difference from the earlier model.
    #[serde(flatten)]
    pub paired: Paired,
}

/// One model's results in a `BenchReport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// The model spec as given on the command line (`"ease"`, `"sasrec"`).
    pub name: String,
    /// The resolved model configuration.
    pub config: serde_json::Value,
    /// Test-stage metrics (keys as in [`crate::EvalReport::metrics`]).
    pub metrics: BTreeMap<String, f64>,
    /// Validation-stage metrics.
    pub valid_metrics: BTreeMap<String, f64>,
    /// Wall-clock seconds spent fitting.
    pub fit_seconds: f64,
    /// Wall-clock seconds spent evaluating (both stages).
    pub eval_seconds: f64,
    /// Peak resident memory during fit + evaluation, MiB (0 when unknown).
    pub peak_rss_mb: f64,
    /// Iterative models (early-stopped on validation): epochs run in the fit on train.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs_run: Option<usize>,
    /// Iterative models: the epoch kept (best validation NDCG@10), which the refit on
    /// train + validation trains for under seer's protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// Test NDCG at the headline cut-off against the first model of the run, on the same
    /// users (absent for the first model itself and in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<Paired>,
}

/// The cut-off reports lead with, of the ascending `ks`: 10 when present, else the largest.
pub fn headline_k(ks: &[usize]) -> Option<usize> {
    if ks.contains(&10) {
        Some(10)
    } else {
        ks.last().copied()
    }
}

/// A paired comparison of two models' per-user test NDCG on the users both evaluated: with
/// one test event per user, the noise of a single model's mean is mostly which users happen
/// to be in the test set, and that noise is shared by both models; the per-user differences
/// have it removed, so their interval is the honest one for "is B better than A here".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// The model compared against (the run's first model).
    pub baseline: String,
    /// The metric compared (`ndcg@10`).
    pub metric: String,
    /// Users evaluated by both models.
    pub users: usize,
    /// Mean over those users of (this model's value − the baseline's).
    pub diff: f64,
    /// Half-width of the 95% interval of `diff`: 1.96 standard errors of the mean difference.
    pub ci95: f64,
}

impl Paired {
    /// The difference, its interval and the verdict: `+0.0123 ± 0.0045 (above)`.
    pub fn summary(&self) -> String {
        format!("{:+.4} ± {:.4} ({})", self.diff, self.ci95, self.verdict())
    }

    /// `"above"` or `"below"` when the interval excludes 0, else `"not distinguishable"`.
    pub fn verdict(&self) -> &'static str {
        if self.diff - self.ci95 > 0.0 {
            "above"
        } else if self.diff + self.ci95 < 0.0 {
            "below"
        } else {
            "not distinguishable"
        }
    }
}

/// Pairs `a` (the baseline) and `b` by user (both in ascending user order, as
/// [`crate::EvalReport::per_user_ndcg`] is) and returns the mean of `b − a` over the common
/// users with its 95% half-width; `None` with fewer than 2 common users.
pub fn paired_difference(a: &[(u32, f64)], b: &[(u32, f64)]) -> Option<(usize, f64, f64)> {
    let (mut i, mut j) = (0, 0);
    let mut d = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                d.push(b[j].1 - a[i].1);
                i += 1;
                j += 1;
            }
        }
    }
    let n = d.len();
    if n < 2 {
        return None;
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((n, mean, 1.96 * (var / n as f64).sqrt()))
}
