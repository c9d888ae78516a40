//! Implicit-feedback alternating least squares (ALS).
//!
//! Every user–item pair gets a preference `p_ui = 1` if the user interacted with the item,
//! else 0, and a confidence `c_ui = 1 + alpha · r_ui`, `r_ui` the number (total weight) of the
//! user's events on the item. User factors `x_u` and item factors `y_i` minimise
//!
//! `Σ_{u,i} c_ui (p_ui − x_uᵀ y_i)² + reg · (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²)`
//!
//! by alternating exact least-squares solves: with `Y` fixed, each user's
//! `x_u = (YᵀY + Yᵀ(C_u − I)Y + reg·I)⁻¹ Yᵀ C_u p(u)` costs `O(k²·|I_u| + k³)` because `YᵀY`
//! is shared by all users and `C_u − I` is zero off the user's items; then the same for items.
//!
//! Paper: Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets",
//! ICDM 2008. Reference implementation: `implicit` (benfred/implicit,
//! `implicit/cpu/als.py`, the Cholesky solver), whose `regularization = 0.01`, 15 iterations
//! and `rand · 0.01` initialisation we take; `alpha = 40` is the paper's value.
//!
//! **Deviations.** The model keeps only the item factors. At scoring time every user is
//! *folded in*: `x_u` is solved from `UserContext::history` against the fixed item factors,
//! exactly the ALS user step, so users unseen in training and events newer than the fit are
//! used; for a training user this is the user step that would follow the last item step.
//! Factors are `f32`; each `k × k` system is accumulated and solved in `f64` by Cholesky.
//! `reg` must be positive (the systems are then always positive definite).

use std::path::Path;

use faer::{Accum, Mat, MatMut, MatRef};
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use seer_core::{check_score_len, ItemIdx, Recommender, UserContext};
use seer_data::Csr;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::history::counted_known;
use crate::io::{self, Loaded, Tensor};
use crate::train::TrainData;
use crate::ModelConfig;

/// Model kind in files and reports.
pub const KIND: &str = "als";

/// ALS hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Latent factors per user and item (≥ 1). Default 64.
    pub factors: usize,
    /// L2 regularisation of all factors (> 0). Default 0.01 (`implicit`).
    pub reg: f64,
    /// Confidence scale: `c = 1 + alpha · r` (≥ 0). Default 40 (the paper).
    pub alpha: f64,
    /// Alternations (user step + item step), ≥ 1. Default 15.
    pub iters: usize,
    /// Seed of the item-factor initialisation; the same seed gives the same model.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            factors: 64,
            reg: 0.01,
            alpha: 40.0,
            iters: 15,
            seed: 42,
        }
    }
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.factors == 0 {
            return Err(Error::config("als.factors", "must be at least 1"));
        }
        if !(self.reg.is_finite() && self.reg > 0.0) {
            return Err(Error::config(
                "als.reg",
                format!("{} must be > 0", self.reg),
            ));
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(Error::config(
                "als.alpha",
                format!("{} must be ≥ 0", self.alpha),
            ));
        }
        if self.iters == 0 {
            return Err(Error::config("als.iters", "must be at least 1"));
        }
        Ok(())
    }
}

/// A fitted implicit ALS model.
///
/// # Shapes
/// `item_factors: [n_items, factors]` row-major; `gram = YᵀY: [factors, factors]` (`f64`,
/// derived, not saved).
#[derive(Debug, Clone)]
pub struct Als {
    config: Config,
    n_items: usize,
    item_factors: Vec<f32>,
    gram: Vec<f64>,
    losses: Vec<f64>,
}

impl Als {
    /// Runs `config.iters` alternations on `train`.
    pub fn fit(config: &Config, train: &TrainData, pb: &ProgressBar) -> Result<Als> {
        config.validate()?;
        let k = config.factors;
        let users = aggregate(&train.matrix); // users × items, r_ui summed
        let items = users.transpose();
        let (n_users, n_items) = (train.n_users, train.n_items);

        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut y: Vec<f32> = (0..n_items * k)
            .map(|_| rng.random::<f32>() * 0.01)
            .collect();
        let mut x = vec![0.0f32; n_users * k];
        let mut losses = Vec::with_capacity(config.iters);
        pb.set_length(config.iters as u64);
        pb.set_message("ALS iterations");
        for iter in 0..config.iters {
            let gy = gram(&y, k);
            solve_all(&users, &y, &gy, config, &mut x);
            let gx = gram(&x, k);
            solve_all(&items, &x, &gx, config, &mut y);
            let loss = loss(&users, &x, &y, &gram(&y, k), config);
            tracing::debug!(iter, loss, "ALS iteration done");
            losses.push(loss);
            pb.inc(1);
        }
        pb.finish_and_clear();
        tracing::info!(
            n_users,
            n_items,
            factors = k,
            loss = losses.last().copied(),
            "ALS fitted"
        );
        let gram = gram(&y, k);
        Ok(Als {
            config: config.clone(),
            n_items,
            item_factors: y,
            gram,
            losses,
        })
    }

    pub(crate) fn load(file: &Loaded, config: Config) -> Result<Als> {
        let k = config.factors;
        let (shape, item_factors) = file.f32("als.item_factors", None)?;
        match shape[..] {
            [n_items, f] if f == k => {
                let gram = gram(&item_factors, k);
                Ok(Als {
                    config,
                    n_items,
                    item_factors,
                    gram,
                    losses: Vec::new(),
                })
            }
            _ => Err(file.bad(format!(
                "tensor \"als.item_factors\": expected [n_items, {k}], found {shape:?}"
            ))),
        }
    }

    /// The training objective after each iteration (empty for a loaded model).
    pub fn losses(&self) -> &[f64] {
        &self.losses
    }

    /// Item factors, row-major `[n_items, factors]`.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// Solves the user vector for `history` into `x` (`len = factors`).
    fn fold_in(&self, history: &[ItemIdx], s: &mut Scratch, x: &mut [f32]) {
        counted_known(history, self.n_items, &mut s.items, &mut s.counted);
        let counted = std::mem::take(&mut s.counted);
        solve_row(
            counted.iter().map(|&(i, c)| (i, c)),
            &self.item_factors,
            &self.gram,
            &self.config,
            s,
            x,
        );
        s.counted = counted;
    }
}

/// Per-thread scratch of the least-squares solves.
struct Scratch {
    /// `[k, k]` system matrix, overwritten by its Cholesky factor.
    a: Vec<f64>,
    /// `[k]` right-hand side, overwritten by the solution.
    b: Vec<f64>,
    items: Vec<ItemIdx>,
    counted: Vec<(ItemIdx, f32)>,
}

impl Scratch {
    fn new(k: usize) -> Self {
        Scratch {
            a: vec![0.0; k * k],
            b: vec![0.0; k],
            items: Vec::new(),
            counted: Vec::new(),
        }
    }
}

/// The matrix with each user–item pair once and `r_ui` = the sum of its events' weights.
fn aggregate(m: &Csr) -> Csr {
    let mut indptr = Vec::with_capacity(m.n_rows + 1);
    let (mut indices, mut weights) = (Vec::new(), Vec::new());
    indptr.push(0);
    let mut pairs: Vec<(ItemIdx, f32)> = Vec::new();
    for u in 0..m.n_rows as u32 {
        pairs.clear();
        pairs.extend(
            m.row(u)
                .iter()
                .copied()
                .zip(m.row_weights(u).iter().copied()),
        );
        pairs.sort_by_key(|p| p.0);
        for &(i, w) in &pairs {
            match indices.last() {
                Some(&last) if last == i && indices.len() > *indptr.last().unwrap_or(&0) => {
                    *weights.last_mut().expect("pushed with indices") += w;
                }
                _ => {
                    indices.push(i);
                    weights.push(w);
                }
            }
        }
        indptr.push(indices.len());
    }
    let ts = vec![0; indices.len()];
    Csr {
        n_rows: m.n_rows,
        n_cols: m.n_cols,
        indptr,
        indices,
        weights,
        ts,
    }
}

/// `FᵀF` (`[k, k]`, `f64`) of row-major factors `f: [n, k]`, with faer's parallel product.
fn gram(f: &[f32], k: usize) -> Vec<f64> {
    let n = f.len() / k;
    let fm = MatRef::from_row_major_slice(f, n, k);
    let mut g = Mat::<f32>::zeros(k, k);
    faer::linalg::matmul::matmul(
        &mut g,
        Accum::Replace,
        fm.transpose(),
        fm,
        1.0,
        faer::get_global_parallelism(),
    );
    (0..k * k).map(|p| g[(p / k, p % k)] as f64).collect()
}

/// One ALS half-step: every row of `out` solved against the fixed factors, in parallel.
fn solve_all(rows: &Csr, fixed: &[f32], gram: &[f64], cfg: &Config, out: &mut [f32]) {
    let k = cfg.factors;
    out.par_chunks_mut(k).enumerate().for_each_init(
        || Scratch::new(k),
        |s, (u, xu)| {
            let u = u as u32;
            let row = rows
                .row(u)
                .iter()
                .copied()
                .zip(rows.row_weights(u).iter().copied());
            solve_row(row, fixed, gram, cfg, s, xu);
        },
    );
}

/// `x = (G + Σ (c−1) y yᵀ + reg I)⁻¹ Σ c y` over `(index, r)` pairs, `c = 1 + alpha r`.
fn solve_row(
    row: impl Iterator<Item = (ItemIdx, f32)>,
    fixed: &[f32],
    gram: &[f64],
    cfg: &Config,
    s: &mut Scratch,
    x: &mut [f32],
) {
    let k = cfg.factors;
    s.a.copy_from_slice(gram);
    for d in 0..k {
        s.a[d * k + d] += cfg.reg;
    }
    s.b.fill(0.0);
    let mut any = false;
    for (i, r) in row {
        any = true;
        let c = 1.0 + cfg.alpha * r as f64;
        let y = &fixed[i as usize * k..(i as usize + 1) * k];
        // Lower triangle only: the Cholesky below reads nothing else.
        for p in 0..k {
            let yp = (c - 1.0) * y[p] as f64;
            let arow = &mut s.a[p * k..p * k + p + 1];
            for (a, &yq) in arow.iter_mut().zip(y) {
                *a += yp * yq as f64;
            }
            s.b[p] += c * y[p] as f64;
        }
    }
    if !any {
        x.fill(0.0);
        return;
    }
    cholesky_solve(&mut s.a, &mut s.b, k);
    for (xo, &v) in x.iter_mut().zip(&s.b) {
        *xo = v as f32;
    }
}

/// Solves `A x = b` for symmetric positive definite `A` (`[k, k]` row-major, lower triangle
/// read), overwriting `a` with its Cholesky factor and `b` with `x`.
///
/// Hand-written because the systems are small (`k` ≈ 64) and solved millions of times:
/// a call into a general library costs more than the arithmetic. `reg > 0` keeps `A`
/// positive definite; a pivot that still comes out non-positive (round-off) is clamped.
fn cholesky_solve(a: &mut [f64], b: &mut [f64], k: usize) {
    for j in 0..k {
        let (done, rest) = a.split_at_mut(j * k);
        let rowj = &mut rest[..k];
        for p in 0..j {
            let rowp = &done[p * k..p * k + p + 1];
            let dot: f64 = rowj[..p].iter().zip(&rowp[..p]).map(|(x, y)| x * y).sum();
            rowj[p] = (rowj[p] - dot) / rowp[p];
        }
        let d = rowj[j] - rowj[..j].iter().map(|x| x * x).sum::<f64>();
        rowj[j] = d.max(f64::MIN_POSITIVE).sqrt();
    }
    for i in 0..k {
        let row = &a[i * k..i * k + i + 1];
        let dot: f64 = row[..i].iter().zip(&b[..i]).map(|(x, y)| x * y).sum();
        b[i] = (b[i] - dot) / row[i];
    }
    for i in (0..k).rev() {
        let mut v = b[i];
        for p in i + 1..k {
            v -= a[p * k + i] * b[p];
        }
        b[i] = v / a[i * k + i];
    }
}

/// The objective: `Σ_u x_uᵀ (YᵀY) x_u + Σ_obs [c (1 − s)² − s²] + reg (‖X‖² + ‖Y‖²)`, the
/// full sum over all user–item pairs computed in `O(nnz·k + n_users·k²)`.
fn loss(users: &Csr, x: &[f32], y: &[f32], gy: &[f64], cfg: &Config) -> f64 {
    let k = cfg.factors;
    let per_user: f64 = (0..users.n_rows)
        .into_par_iter()
        .map(|u| {
            let xu = &x[u * k..(u + 1) * k];
            let mut quad = 0.0;
            for p in 0..k {
                let gp = &gy[p * k..(p + 1) * k];
                let dot: f64 = gp.iter().zip(xu).map(|(g, &v)| g * v as f64).sum();
                quad += xu[p] as f64 * dot;
            }
            let row = users.row(u as u32).iter().zip(users.row_weights(u as u32));
            let obs: f64 = row
                .map(|(&i, &r)| {
                    let yi = &y[i as usize * k..(i as usize + 1) * k];
                    let s: f64 = xu.iter().zip(yi).map(|(&a, &b)| a as f64 * b as f64).sum();
                    let c = 1.0 + cfg.alpha * r as f64;
                    c * (1.0 - s).powi(2) - s * s
                })
                .sum();
            quad + obs + cfg.reg * xu.iter().map(|&v| (v as f64).powi(2)).sum::<f64>()
        })
        .sum();
    per_user + cfg.reg * y.iter().map(|&v| (v as f64).powi(2)).sum::<f64>()
}

impl Recommender for Als {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        check_score_len(self.n_items, out.len())?;
        let k = self.config.factors;
        let mut s = Scratch::new(k);
        let mut x = vec![0.0f32; k];
        self.fold_in(user.history, &mut s, &mut x);
        for (o, y) in out.iter_mut().zip(self.item_factors.chunks_exact(k)) {
            *o = y.iter().zip(&x).map(|(a, b)| a * b).sum();
        }
        Ok(())
    }

    /// Folds in every user, then computes all scores with one `[users, k] × [k, n_items]`
    /// matrix product.
    fn score_batch(&self, users: &[UserContext<'_>], out: &mut [f32]) -> seer_core::Result<()> {
        let (n, k) = (self.n_items, self.config.factors);
        if out.len() != users.len() * n {
            return Err(seer_core::Error::ScoreBufferSize {
                expected: users.len() * n,
                got: out.len(),
            });
        }
        let mut s = Scratch::new(k);
        let mut xb = vec![0.0f32; users.len() * k];
        for (u, x) in users.iter().zip(xb.chunks_exact_mut(k)) {
            self.fold_in(u.history, &mut s, x);
        }
        let xm = MatRef::from_row_major_slice(&xb, users.len(), k);
        let ym = MatRef::from_row_major_slice(&self.item_factors, n, k);
        let om = MatMut::from_row_major_slice_mut(out, users.len(), n);
        faer::linalg::matmul::matmul(
            om,
            Accum::Replace,
            xm,
            ym.transpose(),
            1.0,
            faer::get_global_parallelism(),
        );
        Ok(())
    }

    fn save(&self, dir: &Path) -> seer_core::Result<()> {
        let cfg = ModelConfig::Als(self.config.clone());
        let tensors = [(
            "als.item_factors",
            Tensor::f32(&[self.n_items, self.config.factors], &self.item_factors),
        )];
        Ok(io::save(dir, KIND, &cfg, &tensors)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::csr;
    use seer_core::topk::top_k;

    /// 3 blocks of 4 items; each of 8 users per block has 3 of their block's 4 items.
    fn blocks() -> TrainData {
        let mut ev = Vec::new();
        for blk in 0..3u32 {
            for u in 0..8u32 {
                let user = blk * 8 + u;
                for j in 0..4u32 {
                    if j != u % 4 {
                        ev.push((user, blk * 4 + j, j as i64));
                    }
                }
            }
        }
        TrainData::from_csr(csr(12, &ev), false)
    }

    fn cfg() -> Config {
        Config {
            factors: 4,
            reg: 0.1,
            alpha: 10.0,
            iters: 10,
            seed: 7,
        }
    }

    #[test]
    fn loss_decreases() {
        let m = Als::fit(&cfg(), &blocks(), &ProgressBar::hidden()).unwrap();
        let l = m.losses();
        assert_eq!(l.len(), 10);
        for w in l.windows(2) {
            assert!(w[1] <= w[0] * (1.0 + 1e-6), "{l:?}");
        }
        assert!(l[9] < l[0], "{l:?}");
    }

    #[test]
    fn held_out_item_of_the_users_block_ranks_above_other_blocks() {
        let m = Als::fit(&cfg(), &blocks(), &ProgressBar::hidden()).unwrap();
        let mut out = vec![0.0; 12];
        for blk in 0..3u32 {
            // A new user with 3 items of the block; item blk*4 + 3 is held out.
            let hist = [blk * 4, blk * 4 + 1, blk * 4 + 2];
            m.score(&UserContext::from_history(None, &hist), &mut out)
                .unwrap();
            for &h in &hist {
                out[h as usize] = f32::NEG_INFINITY;
            }
            assert_eq!(top_k(&out, 1)[0].0, blk * 4 + 3, "block {blk}: {out:?}");
        }
    }

    #[test]
    fn same_seed_same_model() {
        let a = Als::fit(&cfg(), &blocks(), &ProgressBar::hidden()).unwrap();
        let b = Als::fit(&cfg(), &blocks(), &ProgressBar::hidden()).unwrap();
        assert_eq!(a.item_factors(), b.item_factors());
    }

    #[test]
    fn fold_in_equals_the_user_step() {
        // For a training user, folding in its training row equals solving the user step.
        let t = blocks();
        let c = cfg();
        let m = Als::fit(&c, &t, &ProgressBar::hidden()).unwrap();
        let users = aggregate(&t.matrix);
        let mut x = vec![0.0; t.n_users * c.factors];
        solve_all(&users, m.item_factors(), &m.gram, &c, &mut x);
        let mut s = Scratch::new(c.factors);
        let mut xf = vec![0.0; c.factors];
        m.fold_in(t.matrix.row(5), &mut s, &mut xf);
        assert_eq!(&x[5 * c.factors..6 * c.factors], &xf[..]);
    }

    #[test]
    fn cholesky_solves() {
        // A = [[4, 2, 0], [2, 5, 1], [0, 1, 3]], x = [1, -1, 2] → b = A x = [2, -1, 5].
        let mut a = vec![4.0, 0.0, 0.0, 2.0, 5.0, 0.0, 0.0, 1.0, 3.0];
        let mut b = vec![2.0, -1.0, 5.0];
        cholesky_solve(&mut a, &mut b, 3);
        for (got, want) in b.iter().zip([1.0, -1.0, 2.0]) {
            assert!((got - want).abs() < 1e-12, "{b:?}");
        }
    }

    #[test]
    fn repeats_raise_confidence() {
        let m = aggregate(&csr(3, &[(0, 1, 0), (0, 1, 1), (0, 2, 2), (1, 0, 0)]));
        assert_eq!(m.row(0), &[1, 2]);
        assert_eq!(m.row_weights(0), &[2.0, 1.0]);
        assert_eq!(m.row(1), &[0]);
    }

    #[test]
    fn round_trip() {
        crate::testutil::assert_round_trip(&ModelConfig::Als(cfg()), &blocks());
    }
}
