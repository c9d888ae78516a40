//! Pointwise rankers over sparse, hashed feature vectors: logistic regression trained with
//! FTRL-Proximal ([`lr`]) and the factorization machine ([`fm`]).
//!
//! A ranker predicts the probability that a user engages with an item in a context,
//! `P(y = 1 | x)`, from a sparse feature vector `x` (hashed indices with values, see
//! [`features`]). Both models see the same [`Examples`]: a row-compressed matrix of feature
//! vectors with 0/1 labels.

pub mod features;
pub mod fm;
pub mod lr;

/// Labelled sparse examples, row-compressed: row `r` has features
/// `idx[indptr[r]..indptr[r + 1]]` with values `val[..]` and label `y[r]` ∈ {0, 1}.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examples {
    /// Row offsets, `len() + 1` entries.
    pub indptr: Vec<usize>,
    /// Feature indices (each `< dim` of the model that reads them).
    pub idx: Vec<u32>,
    /// Feature values, parallel to `idx`.
    pub val: Vec<f32>,
    /// Labels, one per row.
    pub y: Vec<f32>,
}

impl Examples {
    /// No rows.
    pub fn new() -> Examples {
        Examples {
            indptr: vec![0],
            ..Default::default()
        }
    }

    /// Appends one example.
    pub fn push(&mut self, x: &[(u32, f32)], y: f32) {
        if self.indptr.is_empty() {
            self.indptr.push(0);
        }
        for &(i, v) in x {
            self.idx.push(i);
            self.val.push(v);
        }
        self.indptr.push(self.idx.len());
        self.y.push(y);
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Row `r`: indices and values.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let s = self.indptr[r]..self.indptr[r + 1];
        (&self.idx[s.clone()], &self.val[s])
    }
}

/// The logistic function, stable for large `|z|`.
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Mean log loss of probabilities `p` against labels `y`, probabilities clipped to
/// `[1e-7, 1 − 1e-7]`.
pub fn log_loss(p: &[f32], y: &[f32]) -> f64 {
    if p.is_empty() {
        return 0.0;
    }
    let eps = 1e-7f64;
    p.iter()
        .zip(y)
        .map(|(&p, &y)| {
            let p = (p as f64).clamp(eps, 1.0 - eps);
            -(y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / p.len() as f64
}

/// Area under the ROC curve of scores `p` for labels `y` (ties count one half); `None` when
/// one class is absent.
pub fn auc(p: &[f32], y: &[f32]) -> Option<f64> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let (mut rank_sum, mut n_pos) = (0.0f64, 0usize);
    let mut i = 0;
    while i < order.len() {
        // average rank over a run of equal scores
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if y[k] > 0.5 {
                rank_sum += avg;
                n_pos += 1;
            }
        }
        i = j + 1;
    }
    let n_neg = p.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    Some((rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos as f64 * n_neg as f64))
}

/// Expected calibration error: examples binned by predicted probability into `bins` equal
/// bins, the mean over bins of `|mean prediction − positive rate|` weighted by the bin's share.
pub fn calibration_error(p: &[f32], y: &[f32], bins: usize) -> f64 {
    let bins = bins.max(1);
    let mut sum_p = vec![0.0f64; bins];
    let mut sum_y = vec![0.0f64; bins];
    let mut n = vec![0usize; bins];
    for (&p, &y) in p.iter().zip(y) {
        let b = ((p as f64 * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p as f64;
        sum_y[b] += y as f64;
        n[b] += 1;
    }
    let total = p.len().max(1) as f64;
    (0..bins)
        .filter(|&b| n[b] > 0)
        .map(|b| (sum_p[b] - sum_y[b]).abs() / total)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_loss_by_hand() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), Some(0.5));
        assert_eq!(auc(&[0.5, 0.6], &[1.0, 1.0]), None);
        let l = log_loss(&[0.5, 0.5], &[0.0, 1.0]);
        assert!((l - std::f64::consts::LN_2).abs() < 1e-9);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
        assert!(sigmoid(-100.0) >= 0.0 && sigmoid(100.0) <= 1.0);
        // perfectly calibrated bins; then everything predicted 0.9 with a 0.5 positive rate
        assert!(calibration_error(&[0.25, 0.25, 0.25, 0.25], &[0.0, 0.0, 0.0, 1.0], 10) < 1e-9);
        let e = calibration_error(&[0.9, 0.9], &[0.0, 1.0], 10);
        assert!((e - 0.4).abs() < 1e-6, "{e}");
    }
}
