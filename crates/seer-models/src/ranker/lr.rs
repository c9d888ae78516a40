//! Logistic regression trained with FTRL-Proximal.
//!
//! Paper: McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD 2013
//! (Algorithm 1, per-coordinate learning rates). For each feature `i` the model keeps `z_i`
//! and `n_i` (sum of squared gradients); the weight is computed lazily,
//!
//! `w_i = 0` if `|z_i| ≤ λ1`, else `w_i = −(z_i − sgn(z_i) λ1) / ((β + √n_i) / α + λ2)`,
//!
//! and an example `(x, y)` updates, with `p = σ(w · x)` and `g_i = (p − y) x_i`,
//! `σ_i = (√(n_i + g_i²) − √n_i) / α`, `z_i += g_i − σ_i w_i`, `n_i += g_i²`.
//! L1 (`λ1`) makes the weights sparse; L2 (`λ2`) shrinks them.
//!
//! **Deviations.** A bias term is an extra always-on coordinate (index `dim`) that is not
//! L1/L2-regularised. Batch training is FTRL run for `epochs` passes over the examples
//! (shuffled with `seed` from the second pass on), so one pass over a stream equals the same
//! stream fed one event at a time through [`Ftrl::update`].

use serde::{Deserialize, Serialize};

use super::{Examples, Loss};
use crate::check;
use crate::error::{Error, Result};

/// FTRL-Proximal hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Learning-rate scale α (> 0). Default 0.05.
    pub alpha: f64,
    /// Learning-rate smoothing β (≥ 0). Default 1.0 (the paper's recommendation).
    pub beta: f64,
    /// L1 strength λ1 (≥ 0). Default 0.1.
    pub l1: f64,
    /// L2 strength λ2 (≥ 0). Default 1.0.
    pub l2: f64,
    /// Loss: `logistic` (0/1 labels, predictions are probabilities) or `squared` (ratings,
    /// predictions are the raw score). Default logistic.
    pub loss: Loss,
    /// Passes over the training examples (≥ 1). Default 3.
    pub epochs: usize,
    /// Shuffling seed for passes after the first. Default 42.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            alpha: 0.05,
            beta: 1.0,
            l1: 0.1,
            l2: 1.0,
            loss: Loss::Logistic,
            epochs: 3,
            seed: 42,
        }
    }
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        check::positive("lr.alpha", self.alpha)?;
        check::non_negative("lr.beta", self.beta)?;
        check::non_negative("lr.l1", self.l1)?;
        check::non_negative("lr.l2", self.l2)?;
        check::at_least_one("lr.epochs", self.epochs)
    }
}

/// An FTRL-Proximal logistic regression over `dim` hashed features.
#[derive(Debug, Clone)]
pub struct Ftrl {
    config: Config,
    dim: usize,
    /// `[dim + 1]`, the last entry is the bias.
    z: Vec<f32>,
    /// `[dim + 1]` sums of squared gradients.
    n: Vec<f32>,
    /// Scratch: the weights of the example being updated.
    ws: Vec<f32>,
}

/// Equal when the configuration and the learned state are (scratch space aside).
impl PartialEq for Ftrl {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.dim == other.dim
            && self.z == other.z
            && self.n == other.n
    }
}

impl Ftrl {
    /// An untrained model (every weight 0, p = 0.5).
    pub fn new(config: &Config, dim: usize) -> Result<Ftrl> {
        config.validate()?;
        Ok(Ftrl {
            config: config.clone(),
            dim,
            z: vec![0.0; dim + 1],
            n: vec![0.0; dim + 1],
            ws: Vec::new(),
        })
    }

    /// Rebuilds a model from its state (see [`Self::state`]).
    pub fn from_state(config: &Config, z: Vec<f32>, n: Vec<f32>) -> Result<Ftrl> {
        config.validate()?;
        if z.is_empty() || z.len() != n.len() {
            return Err(Error::config(
                "lr.state",
                format!("z has {} entries, n has {}", z.len(), n.len()),
            ));
        }
        Ok(Ftrl {
            config: config.clone(),
            dim: z.len() - 1,
            z,
            n,
            ws: Vec::new(),
        })
    }

    /// `(z, n)`, each `dim + 1` long (bias last).
    pub fn state(&self) -> (&[f32], &[f32]) {
        (&self.z, &self.n)
    }

    /// Feature space size (without the bias).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The weight of coordinate `i` (`i == dim` is the bias).
    pub fn weight(&self, i: usize) -> f32 {
        let z = self.z[i] as f64;
        let n = self.n[i] as f64;
        let c = &self.config;
        let (l1, l2) = if i == self.dim {
            (0.0, 0.0)
        } else {
            (c.l1, c.l2)
        };
        if z.abs() <= l1 {
            0.0
        } else {
            (-(z - z.signum() * l1) / ((c.beta + n.sqrt()) / c.alpha + l2)) as f32
        }
    }

    /// `w · x + bias`.
    pub fn logit(&self, idx: &[u32], val: &[f32]) -> f32 {
        let mut s = self.weight(self.dim);
        for (&i, &v) in idx.iter().zip(val) {
            s += self.weight(i as usize) * v;
        }
        s
    }

    /// `P(y = 1 | x)`.
    pub fn predict(&self, idx: &[u32], val: &[f32]) -> f32 {
        self.config.loss.link(self.logit(idx, val))
    }

    /// One online step on example `(x, y)`; returns the prediction made before the step.
    pub fn update(&mut self, idx: &[u32], val: &[f32], y: f32) -> f32 {
        // Weights are read once, before any coordinate of this example changes.
        let mut ws = std::mem::take(&mut self.ws);
        ws.clear();
        ws.extend(idx.iter().map(|&i| self.weight(i as usize)));
        let bias_w = self.weight(self.dim);
        let mut logit = bias_w;
        for (w, &v) in ws.iter().zip(val) {
            logit += w * v;
        }
        let p = self.config.loss.link(logit);
        let alpha = self.config.alpha as f32;
        let (z, n) = (&mut self.z, &mut self.n);
        let mut step = |i: usize, x: f32, w: f32| {
            let g = (p - y) * x;
            let ni = n[i];
            let sigma = ((ni + g * g).sqrt() - ni.sqrt()) / alpha;
            z[i] += g - sigma * w;
            n[i] = ni + g * g;
        };
        step(self.dim, 1.0, bias_w);
        for ((&i, &x), &w) in idx.iter().zip(val).zip(&ws) {
            step(i as usize, x, w);
        }
        self.ws = ws;
        p
    }

    /// Batch training: `epochs` passes of [`Self::update`], the first in the given order.
    pub fn fit(&mut self, data: &Examples, on_epoch: impl FnMut(usize, f64)) {
        let (epochs, seed, loss) = (self.config.epochs, self.config.seed, self.config.loss);
        super::passes(
            data,
            epochs,
            seed,
            false,
            loss,
            |i, v, y| self.update(i, v, y),
            on_epoch,
        );
    }

    /// Per-feature contributions `w_i x_i` of an example, bias excluded, largest first.
    pub fn contributions(&self, idx: &[u32], val: &[f32]) -> Vec<(u32, f32)> {
        let mut c: Vec<(u32, f32)> = idx
            .iter()
            .zip(val)
            .map(|(&i, &v)| (i, self.weight(i as usize) * v))
            .collect();
        c.sort_by(|a, b| b.1.total_cmp(&a.1));
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Examples {
        let mut e = Examples::new();
        // feature 0 → positive, feature 1 → negative, feature 2 noise
        for k in 0..40 {
            e.push(&[(0, 1.0), (2, 0.5)], 1.0);
            e.push(&[(1, 1.0), (2, 0.5)], 0.0);
            if k % 5 == 0 {
                e.push(&[(0, 1.0), (1, 1.0)], (k % 2) as f32);
            }
        }
        e
    }

    /// The FTRL step follows the log-loss gradient: the change of `z` for a fresh model is the
    /// gradient `(p − y) x` (σ·w = 0 when w = 0), checked against finite differences of the loss.
    #[test]
    fn gradient_matches_finite_differences() {
        let cfg = Config {
            l1: 0.0,
            l2: 0.0,
            ..Config::default()
        };
        let mut m = Ftrl::new(&cfg, 4).unwrap();
        // a non-trivial starting point
        m.fit(&stream(), |_, _| {});
        let (idx, val, y) = ([0u32, 2, 3], [1.0f32, -0.7, 0.3], 1.0f32);
        let loss = |m: &Ftrl| {
            let p = m.predict(&idx, &val) as f64;
            -(y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
        };
        let p = m.predict(&idx, &val);
        for (k, &i) in idx.iter().enumerate() {
            let analytic = (p - y) * val[k];
            // perturb the weight through z: w = −z / ((β + √n)/α) when λ1 = λ2 = 0
            let scale = ((cfg.beta + (m.n[i as usize] as f64).sqrt()) / cfg.alpha) as f32;
            let h = 1e-3f32;
            let mut plus = m.clone();
            plus.z[i as usize] -= h * scale;
            let mut minus = m.clone();
            minus.z[i as usize] += h * scale;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h as f64);
            assert!(
                (numeric - analytic as f64).abs() < 1e-3,
                "feature {i}: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn online_updates_equal_one_batch_pass() {
        let data = stream();
        let cfg = Config {
            epochs: 1,
            ..Config::default()
        };
        let mut batch = Ftrl::new(&cfg, 3).unwrap();
        batch.fit(&data, |_, _| {});
        let mut online = Ftrl::new(&cfg, 3).unwrap();
        for r in 0..data.len() {
            let (i, v) = data.row(r);
            online.update(i, v, data.y[r]);
        }
        assert_eq!(batch, online);
    }

    #[test]
    fn learns_the_signal_and_l1_zeroes_noise() {
        let cfg = Config {
            alpha: 0.5,
            l1: 2.0,
            epochs: 5,
            ..Config::default()
        };
        let mut m = Ftrl::new(&cfg, 3).unwrap();
        let mut losses = Vec::new();
        m.fit(&stream(), |_, l| losses.push(l));
        assert!(losses[2] < losses[0], "{losses:?}");
        assert!(m.predict(&[0], &[1.0]) > 0.8);
        assert!(m.predict(&[1], &[1.0]) < 0.2);
        assert!(m.weight(0) > 0.0 && m.weight(1) < 0.0);
        // feature 2 is on for both classes: L1 keeps it at exactly zero
        assert_eq!(m.weight(2), 0.0);
        let c = m.contributions(&[0, 2], &[1.0, 0.5]);
        assert_eq!(c[0].0, 0);
        let (z, n) = m.state();
        let back = Ftrl::from_state(&cfg, z.to_vec(), n.to_vec()).unwrap();
        assert_eq!(back, m);
        assert!(Ftrl::new(&Config { alpha: 0.0, ..cfg }, 3).is_err());
    }

    /// Under the squared loss the step follows the gradient of ½(ŷ − y)², and batch training
    /// recovers a linear rating function.
    #[test]
    fn squared_loss_gradient_and_fit() {
        let cfg = Config {
            l1: 0.0,
            l2: 0.0,
            alpha: 0.5,
            epochs: 30,
            loss: Loss::Squared,
            ..Config::default()
        };
        // y = 1 + 2·x0 − 1·x1 on one-hot pairs
        let mut data = Examples::new();
        for k in 0..200 {
            let (a, b) = ((k % 2) as f32, ((k / 2) % 2) as f32);
            let mut x = Vec::new();
            if a > 0.0 {
                x.push((0, 1.0));
            }
            if b > 0.0 {
                x.push((1, 1.0));
            }
            data.push(&x, 1.0 + 2.0 * a - b);
        }
        let mut m = Ftrl::new(&cfg, 2).unwrap();
        m.fit(&data, |_, _| {});
        for (x, y) in [(vec![], 1.0), (vec![0u32], 3.0), (vec![0, 1], 2.0)] {
            let v = vec![1.0; x.len()];
            assert!(
                (m.predict(&x, &v) - y).abs() < 0.05,
                "{x:?}: {}",
                m.predict(&x, &v)
            );
        }
        // finite differences of ½(ŷ − y)² against (ŷ − y)·x
        let (idx, val, y) = ([0u32, 1], [1.0f32, 0.5], 0.7f32);
        let loss = |m: &Ftrl| 0.5 * ((m.predict(&idx, &val) - y) as f64).powi(2);
        let p = m.predict(&idx, &val);
        for (k, &i) in idx.iter().enumerate() {
            let scale = ((cfg.beta + (m.n[i as usize] as f64).sqrt()) / cfg.alpha) as f32;
            let h = 1e-3f32;
            let mut plus = m.clone();
            plus.z[i as usize] -= h * scale;
            let mut minus = m.clone();
            minus.z[i as usize] += h * scale;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h as f64);
            let analytic = ((p - y) * val[k]) as f64;
            assert!((numeric - analytic).abs() < 1e-3, "{numeric} vs {analytic}");
        }
    }
}
