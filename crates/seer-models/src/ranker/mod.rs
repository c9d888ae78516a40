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

/// `epochs` passes over `data` in a seeded order (the first pass in the given order unless
/// `shuffle_first`), calling `update(idx, val, y) -> prediction` per example and
/// `on_epoch(epoch, mean loss)` after each pass.
pub(crate) fn passes(
    data: &Examples,
    epochs: usize,
    seed: u64,
    shuffle_first: bool,
    loss: Loss,
    mut update: impl FnMut(&[u32], &[f32], f32) -> f32,
    mut on_epoch: impl FnMut(usize, f64),
) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for epoch in 0..epochs {
        if epoch > 0 || shuffle_first {
            order.shuffle(&mut rng);
        }
        let mut total = 0.0f64;
        for &r in &order {
            let (idx, val) = data.row(r);
            let y = data.y[r];
            total += loss.of(update(idx, val, y), y);
        }
        on_epoch(epoch, total / data.len().max(1) as f64);
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

pub use seer_core::prob::{auc, calibration_error, log_loss};

use serde::{Deserialize, Serialize};

/// What a ranker's raw score `ŷ(x)` is trained against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Log loss on 0/1 labels; the prediction is `σ(ŷ)`, a probability. The default.
    #[default]
    Logistic,
    /// Squared error on real-valued labels (ratings); the prediction is `ŷ` itself.
    Squared,
}

impl Loss {
    /// The prediction from the raw score.
    pub fn link(self, z: f32) -> f32 {
        match self {
            Loss::Logistic => sigmoid(z),
            Loss::Squared => z,
        }
    }

    /// The loss of prediction `p` (after [`Self::link`]) for label `y`.
    pub fn of(self, p: f32, y: f32) -> f64 {
        match self {
            Loss::Logistic => {
                let p = (p as f64).clamp(1e-7, 1.0 - 1e-7);
                if y > 0.5 {
                    -p.ln()
                } else {
                    -(1.0 - p).ln()
                }
            }
            Loss::Squared => ((p - y) as f64).powi(2),
        }
    }
}

/// Which ranker, with its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RankerConfig {
    /// Logistic regression, FTRL-Proximal.
    Lr(lr::Config),
    /// Factorization machine.
    Fm(fm::Config),
}

impl RankerConfig {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> crate::Result<()> {
        match self {
            RankerConfig::Lr(c) => c.validate(),
            RankerConfig::Fm(c) => c.validate(),
        }
    }

    /// `lr` or `fm`.
    pub fn name(&self) -> &'static str {
        match self {
            RankerConfig::Lr(_) => "lr",
            RankerConfig::Fm(_) => "fm",
        }
    }

    /// An untrained ranker over `dim` hashed features.
    pub fn build(&self, dim: usize) -> crate::Result<Fitted> {
        Ok(match self {
            RankerConfig::Lr(c) => Fitted::Lr(lr::Ftrl::new(c, dim)?),
            RankerConfig::Fm(c) => Fitted::Fm(fm::Fm::new(c, dim)?),
        })
    }
}

/// A ranker of either kind.
#[derive(Debug, Clone)]
pub enum Fitted {
    /// Logistic regression.
    Lr(lr::Ftrl),
    /// Factorization machine.
    Fm(fm::Fm),
}

impl Fitted {
    /// The prediction for `x` (a probability, or a rating under [`Loss::Squared`]).
    pub fn predict(&self, idx: &[u32], val: &[f32]) -> f32 {
        match self {
            Fitted::Lr(m) => m.predict(idx, val),
            Fitted::Fm(m) => m.predict(idx, val),
        }
    }

    /// Per-feature contributions to the raw score, largest first.
    pub fn contributions(&self, idx: &[u32], val: &[f32]) -> Vec<(u32, f32)> {
        match self {
            Fitted::Lr(m) => m.contributions(idx, val),
            Fitted::Fm(m) => m.contributions(idx, val),
        }
    }

    /// Batch training; `on_epoch(epoch, mean training loss)`.
    pub fn fit(&mut self, data: &Examples, on_epoch: impl FnMut(usize, f64)) {
        match self {
            Fitted::Lr(m) => m.fit(data, on_epoch),
            Fitted::Fm(m) => m.fit(data, on_epoch),
        }
    }

    /// One online step; returns the prediction made before it.
    pub fn update(&mut self, idx: &[u32], val: &[f32], y: f32) -> f32 {
        match self {
            Fitted::Lr(m) => m.update(idx, val, y),
            Fitted::Fm(m) => m.update(idx, val, y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable() {
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
        assert!(sigmoid(-100.0) >= 0.0 && sigmoid(100.0) <= 1.0);
        assert!((sigmoid(2.0) + sigmoid(-2.0) - 1.0).abs() < 1e-6);
    }
}
