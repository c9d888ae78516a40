//! Factorization machine for click / relevance probability.
//!
//! Paper: Rendle, "Factorization Machines", ICDM 2010. With `x` sparse,
//!
//! `ŷ(x) = w0 + Σ_i w_i x_i + ½ Σ_f [(Σ_i v_if x_i)² − Σ_i v_if² x_i²]`,
//!
//! computed in `O(k · nnz(x))` (Rendle's Lemma 3.1); `P(y = 1 | x) = σ(ŷ)`. Gradients:
//! `∂ŷ/∂w0 = 1`, `∂ŷ/∂w_i = x_i`, `∂ŷ/∂v_if = x_i (s_f − v_if x_i)` with `s_f = Σ_j v_jf x_j`;
//! the loss is the log loss plus `λ_w w_i² + λ_v ‖v_i‖²` on the coordinates an example touches.
//!
//! **Deviations.** Trained with Adam (Kingma & Ba 2015) instead of the paper's SGD, updated
//! lazily: only the coordinates present in an example move, each with its own step count for
//! the bias correction (a sparse variant, as in PyTorch's `SparseAdam`). Factors start from
//! `N(0, init_std²)` truncated at ±2 standard deviations, seeded.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Examples, Loss};
use crate::check;
use crate::error::{Error, Result};

/// Factorization-machine hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Latent factors per feature (≥ 1). Default 16.
    pub factors: usize,
    /// Adam learning rate (> 0). Default 0.001 (on ml-100k's validation part 0.01 let the
    /// factors of rare ids and crosses overfit: NDCG@10 of `ease+fm` 0.049 against 0.082).
    pub lr: f64,
    /// L2 on linear weights (≥ 0). Default 1e-5.
    pub reg_w: f64,
    /// L2 on factors (≥ 0). Default 1e-5.
    pub reg_v: f64,
    /// Loss: `logistic` (0/1 labels, predictions are probabilities) or `squared` (ratings,
    /// predictions are the raw score). Default logistic.
    pub loss: Loss,
    /// Passes over the examples, shuffled each pass (≥ 1). Default 3.
    pub epochs: usize,
    /// Standard deviation of the initial factors (> 0). Default 0.001: interactions start
    /// near zero, so the model begins as a logistic regression and grows factors where the
    /// data supports them.
    pub init_std: f64,
    /// Seed of the initial factors and the shuffling. Default 42.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            factors: 16,
            lr: 0.001,
            reg_w: 1e-5,
            reg_v: 1e-5,
            loss: Loss::Logistic,
            epochs: 3,
            init_std: 0.001,
            seed: 42,
        }
    }
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        check::at_least_one("fm.factors", self.factors)?;
        check::at_least_one("fm.epochs", self.epochs)?;
        check::positive("fm.lr", self.lr)?;
        check::positive("fm.init_std", self.init_std)?;
        check::non_negative("fm.reg_w", self.reg_w)?;
        check::non_negative("fm.reg_v", self.reg_v)
    }
}

const B1: f32 = 0.9;
const B2: f32 = 0.999;
const EPS: f32 = 1e-8;

/// A factorization machine over `dim` hashed features.
#[derive(Debug, Clone, PartialEq)]
pub struct Fm {
    config: Config,
    dim: usize,
    k: usize,
    /// `[(dim + 1) × 4]`, per feature (the global bias `w0` last): the linear weight, its two
    /// Adam moments and the feature's step count (stored as the bits of a `u32`). One feature's
    /// state is adjacent in memory: an update touches one cache line here and one block in
    /// `fac`, not seven arrays.
    lin: Vec<f32>,
    /// `[dim × 3k]`, per feature: its `k` factors, then their first and second Adam moments.
    fac: Vec<f32>,
    /// Scratch: the factor sums of the example being updated.
    s: Vec<f32>,
}

impl Fm {
    /// An untrained model with seeded random factors.
    pub fn new(config: &Config, dim: usize) -> Result<Fm> {
        config.validate()?;
        let k = config.factors;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let std = config.init_std as f32;
        let v: Vec<f32> = (0..dim * k)
            .map(|_| seer_nn::truncated_normal(&mut rng) * std)
            .collect();
        Ok(Fm::assemble(config, dim, &vec![0.0; dim + 1], &v))
    }

    /// Lays out `w` (`dim + 1`) and `v` (`dim × k`) with fresh optimiser state.
    fn assemble(config: &Config, dim: usize, w: &[f32], v: &[f32]) -> Fm {
        let k = config.factors;
        let mut lin = vec![0.0; (dim + 1) * 4];
        for (i, &wi) in w.iter().enumerate() {
            lin[i * 4] = wi;
        }
        let mut fac = vec![0.0; dim * 3 * k];
        for i in 0..dim {
            fac[i * 3 * k..i * 3 * k + k].copy_from_slice(&v[i * k..(i + 1) * k]);
        }
        Fm {
            config: config.clone(),
            dim,
            k,
            lin,
            fac,
            s: vec![0.0; k],
        }
    }

    /// Rebuilds a trained model for prediction from `w` (`dim + 1`, bias last) and `v`
    /// (`dim × factors`); the optimiser state starts fresh.
    pub fn from_weights(config: &Config, w: Vec<f32>, v: Vec<f32>) -> Result<Fm> {
        config.validate()?;
        let dim = w.len().saturating_sub(1);
        if w.is_empty() || v.len() != dim * config.factors {
            return Err(Error::config(
                "fm.weights",
                format!(
                    "w has {} entries and v {}, expected dim + 1 and dim × {}",
                    w.len(),
                    v.len(),
                    config.factors
                ),
            ));
        }
        Ok(Fm::assemble(config, dim, &w, &v))
    }

    /// `(w, v)`: linear weights (bias last, `dim + 1`) and factors (`dim × factors`).
    pub fn weights(&self) -> (Vec<f32>, Vec<f32>) {
        let k = self.k;
        let w = (0..=self.dim).map(|i| self.lin[i * 4]).collect();
        let mut v = Vec::with_capacity(self.dim * k);
        for i in 0..self.dim {
            v.extend_from_slice(&self.fac[i * 3 * k..i * 3 * k + k]);
        }
        (w, v)
    }

    /// Feature space size.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Linear weight of feature `i` (`i == dim`: the bias).
    fn w(&self, i: usize) -> f32 {
        self.lin[i * 4]
    }

    /// Factors of feature `i`.
    fn v(&self, i: usize) -> &[f32] {
        let k = self.k;
        &self.fac[i * 3 * k..i * 3 * k + k]
    }

    /// `ŷ(x)` and the factor sums `s_f` (written into `s`, `k` long).
    fn forward(&self, idx: &[u32], val: &[f32], s: &mut [f32]) -> f32 {
        s.fill(0.0);
        let mut sq = 0.0f32;
        let mut y = self.w(self.dim);
        for (&i, &x) in idx.iter().zip(val) {
            let i = i as usize;
            y += self.w(i) * x;
            for (sf, &vif) in s.iter_mut().zip(self.v(i)) {
                let t = vif * x;
                *sf += t;
                sq += t * t;
            }
        }
        let ss: f32 = s.iter().map(|a| a * a).sum();
        y + 0.5 * (ss - sq)
    }

    /// The raw score `ŷ(x)`.
    pub fn logit(&self, idx: &[u32], val: &[f32]) -> f32 {
        let mut s = vec![0.0; self.k];
        self.forward(idx, val, &mut s)
    }

    /// `P(y = 1 | x)`.
    pub fn predict(&self, idx: &[u32], val: &[f32]) -> f32 {
        self.config.loss.link(self.logit(idx, val))
    }

    /// One Adam step on example `(x, y)`; returns the prediction made before the step.
    pub fn update(&mut self, idx: &[u32], val: &[f32], y: f32) -> f32 {
        let k = self.k;
        let mut s = std::mem::take(&mut self.s);
        let p = self.config.loss.link(self.forward(idx, val, &mut s));
        let d = p - y; // ∂loss/∂ŷ
        let lr = self.config.lr as f32;
        let (rw, rv) = (self.config.reg_w as f32, self.config.reg_v as f32);
        // Adam with the bias corrections folded into the step size: one `powi` pair per
        // feature, not per coordinate.
        let adam = |m: &mut f32, v: &mut f32, g: f32, (a, c2): (f32, f32)| -> f32 {
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            a * *m / ((*v / c2).sqrt() + EPS)
        };
        let corr = |t: u32| -> (f32, f32) {
            let c1 = 1.0 - B1.powi(t as i32);
            (lr / c1, 1.0 - B2.powi(t as i32))
        };
        // Adam on [weight, m, v, steps]: the moments live next to the weight.
        let adam_split = |l: &mut [f32], g: f32, c: (f32, f32)| -> f32 {
            let (m, rest) = l[1..3].split_at_mut(1);
            adam(&mut m[0], &mut rest[0], g, c)
        };
        // Linear part: weight, moments and step count of one feature, adjacent.
        let lin_step = |l: &mut [f32], g: f32| -> (f32, f32) {
            let t = f32::to_bits(l[3]) + 1;
            l[3] = f32::from_bits(t);
            let c = corr(t);
            let step = adam_split(l, g, c);
            l[0] -= step;
            c
        };
        // bias
        let b = self.dim;
        lin_step(&mut self.lin[b * 4..b * 4 + 4], d);
        // Gradients use the parameters before this step (s computed above).
        for (&i, &x) in idx.iter().zip(val) {
            let i = i as usize;
            let l = &mut self.lin[i * 4..i * 4 + 4];
            let g = d * x + 2.0 * rw * l[0];
            let c = lin_step(l, g);
            let block = &mut self.fac[i * 3 * k..(i + 1) * 3 * k];
            let (v, moments) = block.split_at_mut(k);
            let (mv, vv) = moments.split_at_mut(k);
            for f in 0..k {
                let vif = v[f];
                let g = d * x * (s[f] - vif * x) + 2.0 * rv * vif;
                v[f] -= adam(&mut mv[f], &mut vv[f], g, c);
            }
        }
        self.s = s;
        p
    }

    /// `epochs` shuffled passes of [`Self::update`]; `on_epoch(epoch, mean log loss)`.
    pub fn fit(&mut self, data: &Examples, on_epoch: impl FnMut(usize, f64)) {
        let (epochs, seed, loss) = (self.config.epochs, self.config.seed, self.config.loss);
        super::passes(
            data,
            epochs,
            seed ^ 0x9e37_79b9,
            true,
            loss,
            |i, v, y| self.update(i, v, y),
            on_epoch,
        );
    }

    /// Per-feature contributions to `ŷ`, largest first: `w_i x_i + ½ x_i Σ_{j≠i} ⟨v_i, v_j⟩ x_j`
    /// (each pairwise interaction split evenly between its two features), bias excluded; they
    /// sum to `ŷ − w0`.
    pub fn contributions(&self, idx: &[u32], val: &[f32]) -> Vec<(u32, f32)> {
        let k = self.k;
        let mut s = vec![0.0; k];
        self.forward(idx, val, &mut s);
        let mut c: Vec<(u32, f32)> = idx
            .iter()
            .zip(val)
            .map(|(&i, &x)| {
                let vi = self.v(i as usize);
                let pair: f32 = (0..k).map(|f| vi[f] * x * (s[f] - vi[f] * x)).sum();
                (i, self.w(i as usize) * x + 0.5 * pair)
            })
            .collect();
        c.sort_by(|a, b| b.1.total_cmp(&a.1));
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranker::sigmoid;

    fn brute_logit(m: &Fm, idx: &[u32], val: &[f32]) -> f32 {
        let k = m.k;
        let mut y = m.w(m.dim);
        for (a, (&i, &x)) in idx.iter().zip(val).enumerate() {
            y += m.w(i as usize) * x;
            for (&j, &xj) in idx.iter().zip(val).skip(a + 1) {
                let dot: f32 = (0..k)
                    .map(|f| m.v(i as usize)[f] * m.v(j as usize)[f])
                    .sum();
                y += dot * x * xj;
            }
        }
        y
    }

    /// Users 0–3 × items 4–7 in one field each: the label is an interaction (user parity ==
    /// item parity) that no linear model can fit.
    fn xor_data() -> Examples {
        let mut e = Examples::new();
        for _ in 0..30 {
            for u in 0..4u32 {
                for i in 4..8u32 {
                    e.push(&[(u, 1.0), (i, 1.0)], ((u % 2) == (i % 2)) as u8 as f32);
                }
            }
        }
        e
    }

    #[test]
    fn linear_time_form_equals_pairwise_definition() {
        let m = Fm::new(
            &Config {
                init_std: 0.5,
                ..Config::default()
            },
            10,
        )
        .unwrap();
        let (idx, val) = ([1u32, 4, 7, 9], [1.0f32, 0.5, -2.0, 1.5]);
        assert!((m.logit(&idx, &val) - brute_logit(&m, &idx, &val)).abs() < 1e-5);
        let c: f32 = m.contributions(&idx, &val).iter().map(|c| c.1).sum();
        assert!((c - (m.logit(&idx, &val) - m.w(10))).abs() < 1e-5);
    }

    /// The gradient the update uses equals finite differences of the log loss, for w and v.
    #[test]
    fn gradient_matches_finite_differences() {
        let cfg = Config {
            init_std: 0.3,
            factors: 3,
            ..Config::default()
        };
        let m = Fm::new(&cfg, 6).unwrap();
        let (idx, val, y) = ([0u32, 2, 5], [1.0f32, -0.5, 2.0], 1.0f32);
        let loss = |m: &Fm| {
            let p = m.predict(&idx, &val) as f64;
            -(y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
        };
        let mut s = vec![0.0; 3];
        let d = sigmoid(m.forward(&idx, &val, &mut s)) - y;
        let h = 1e-2f32;
        for (a, &i) in idx.iter().enumerate() {
            let x = val[a];
            let i = i as usize;
            let mut plus = m.clone();
            plus.lin[i * 4] += h;
            let mut minus = m.clone();
            minus.lin[i * 4] -= h;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h as f64);
            assert!((numeric - (d * x) as f64).abs() < 1e-3, "w{i}");
            for (f, &sf) in s.iter().enumerate() {
                let j = i * 9 + f; // 3 factors, then 6 moments, per feature
                let analytic = d * x * (sf - m.fac[j] * x);
                let mut plus = m.clone();
                plus.fac[j] += h;
                let mut minus = m.clone();
                minus.fac[j] -= h;
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h as f64);
                assert!(
                    (numeric - analytic as f64).abs() < 2e-3,
                    "v{i},{f}: {numeric} vs {analytic}"
                );
            }
        }
    }

    #[test]
    fn learns_an_interaction_logistic_regression_cannot() {
        let data = xor_data();
        let mut fm = Fm::new(
            &Config {
                factors: 4,
                lr: 0.05,
                epochs: 20,
                init_std: 0.1,
                ..Config::default()
            },
            8,
        )
        .unwrap();
        fm.fit(&data, |_, _| {});
        let mut lr = super::super::lr::Ftrl::new(
            &super::super::lr::Config {
                l1: 0.0,
                epochs: 20,
                ..Default::default()
            },
            8,
        )
        .unwrap();
        lr.fit(&data, |_, _| {});
        let (mut p_fm, mut p_lr) = (Vec::new(), Vec::new());
        for r in 0..16 {
            let (i, v) = data.row(r);
            p_fm.push(fm.predict(i, v));
            p_lr.push(lr.predict(i, v));
        }
        let y = &data.y[..16];
        let auc_fm = super::super::auc(&p_fm, y).unwrap();
        let auc_lr = super::super::auc(&p_lr, y).unwrap();
        assert!(auc_fm > 0.99, "fm auc {auc_fm}");
        assert!(auc_lr < 0.7, "lr auc {auc_lr}");
        let (w, v) = fm.weights();
        let back = Fm::from_weights(&fm.config, w.to_vec(), v.to_vec()).unwrap();
        assert_eq!(
            back.predict(&[0, 4], &[1.0, 1.0]),
            fm.predict(&[0, 4], &[1.0, 1.0])
        );
    }

    /// Squared loss: the model fits a rating made of user and item offsets plus a
    /// user × item interaction, which only the factors can carry.
    #[test]
    fn squared_loss_fits_ratings_with_an_interaction() {
        let mut data = Examples::new();
        let rating = |u: u32, i: u32| {
            3.0 + 0.5 * (u as f32 - 1.5) - 0.3 * (i as f32 - 5.5)
                + if (u % 2) == (i % 2) { 0.8 } else { -0.8 }
        };
        for _ in 0..40 {
            for u in 0..4u32 {
                for i in 4..8u32 {
                    data.push(&[(u, 1.0), (i, 1.0)], rating(u, i) - 3.0);
                }
            }
        }
        let cfg = Config {
            factors: 4,
            lr: 0.05,
            epochs: 30,
            init_std: 0.1,
            loss: Loss::Squared,
            ..Config::default()
        };
        let mut fm = Fm::new(&cfg, 8).unwrap();
        let mut losses = Vec::new();
        fm.fit(&data, |_, l| losses.push(l));
        assert!(losses[29] < losses[0] * 0.05, "{losses:?}");
        for u in 0..4u32 {
            for i in 4..8u32 {
                let p = fm.predict(&[u, i], &[1.0, 1.0]) + 3.0;
                assert!((p - rating(u, i)).abs() < 0.15, "{u},{i}: {p}");
            }
        }
    }
}
