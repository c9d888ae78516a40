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

pub use seer_core::prob::{auc, calibration_error, log_loss};

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
