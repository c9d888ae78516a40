//! EASE: Embarrassingly Shallow Autoencoder.
//!
//! A linear item × item model `B` fitted in closed form: with `X` the binary user × item
//! training matrix,
//!
//! `G = XᵀX + λI`, `P = G⁻¹`, `B_ij = −P_ij / P_jj` (`i ≠ j`), `B_jj = 0`,
//!
//! the solution of `min_B ‖X − XB‖²_F + λ‖B‖²_F` subject to `diag(B) = 0`. A user's scores are
//! `x_u B`: the sum of the rows of `B` of the items in their history.
//!
//! Paper: Harald Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019,
//! [arXiv:1905.03375](https://arxiv.org/abs/1905.03375). Reference implementation: the paper's
//! Algorithm 1 (numpy, `np.linalg.inv`), also RecBole
//! `recbole/model/general_recommender/ease.py` (default `reg_weight = 250`).
//!
//! **Deviations.** `G` is inverted by a Cholesky (`LLᵀ`) factorisation with faer, not a general
//! inverse: `G` is symmetric positive definite, and the Cholesky route needs ~n³ flops instead
//! of LU's ~8/3 n³. It runs in `f32` ([`Real`]), not numpy's `f64`: `λ` on the diagonal keeps
//! `G` well conditioned (its condition number is at most `1 + max_row_sum(XᵀX) / λ`), and on
//! Amazon Beauty (12 101 items, λ = 500) the optimality check `(G B)_ij = G_ij` (i ≠ j) holds
//! to 1e-5 in absolute terms (entries of `G` are counts ≥ 1), while the fit takes half the time
//! of `f64` (12 s vs 27 s on 2 cores; numpy's `np.linalg.inv` closed form: 200 s, see
//! `benches/ease_numpy.py` and `examples/beauty_timing.rs`). The default `λ = 500` is in the
//! range the paper reports as best (its datasets used λ between 200 and 3000; RecBole uses
//! 250). The history is used as a set (the paper's `X` is binary): repeated events count once.
//!
//! # Cost
//! Time `O(n³)`; memory `3n²` [`Real`]s during the fit (`G`/`L`, `P` and the factor's inverse)
//! and `n²` `f32` afterwards, for `n` items: 12 101 items (Amazon Beauty) take ~1.8 GB while
//! fitting and 0.6 GB after. Use it on catalogues up to a few tens of thousands of items.

use std::path::Path;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::{MatMut, MatRef, Par};
use indicatif::ProgressBar;
use rayon::prelude::*;
use seer_core::{check_score_len, ItemIdx, Recommender, UserContext};
use seer_data::Csr;
use serde::{Deserialize, Serialize};

use crate::check;
use crate::error::{Error, Result};
use crate::history::unique_known;
use crate::io::{self, Loaded, Tensor};
use crate::train::TrainData;

/// Model kind in files and reports.
pub const KIND: &str = "ease";

/// EASE hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// L2 regularisation λ added to the diagonal of `XᵀX` (> 0). Larger values shrink `B`
    /// and favour popular items less. Default 500.
    pub lambda: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config { lambda: 500.0 }
    }
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        check::positive("ease.lambda", self.lambda)
    }
}

/// A fitted EASE model.
///
/// # Shapes
/// `b: [n_items, n_items]`, row-major: row `h` is what history item `h` adds to every item's
/// score.
#[derive(Debug, Clone)]
pub struct Ease {
    config: Config,
    n_items: usize,
    b: Vec<f32>,
}

impl Ease {
    /// Fits `B` in closed form on the binarised training matrix.
    pub fn fit(config: &Config, train: &TrainData, pb: &ProgressBar) -> Result<Ease> {
        config.validate()?;
        let n = train.n_items;
        pb.set_length(3);
        pb.set_message("EASE: XᵀX");
        let x = train.matrix.binary();
        let b = closed_form(&x, config.lambda, faer::get_global_parallelism(), pb)?;
        pb.finish_and_clear();
        Ok(Ease {
            config: config.clone(),
            n_items: n,
            b,
        })
    }

    pub(crate) fn load(file: &Loaded, config: Config) -> Result<Ease> {
        let (shape, b) = file.f32("ease.b", None)?;
        match shape[..] {
            [r, c] if r == c => Ok(Ease {
                config,
                n_items: r,
                b,
            }),
            _ => Err(file.bad(format!(
                "tensor \"ease.b\": expected a square matrix, found shape {shape:?}"
            ))),
        }
    }

    /// The weight matrix `B`, row-major `[n_items, n_items]`.
    pub fn weights(&self) -> &[f32] {
        &self.b
    }
}

/// Precision of `G`, its factorisation and inverse (the module docs give the measurement
/// behind `f32`).
pub type Real = f32;

/// `G = XᵀX + λI` as a dense column-major `n × n` matrix, from the binary matrix `x`.
///
/// Built column by column in parallel through the transposed matrix: column `i` adds the item
/// lists of the users of `i`, `O(Σ_u |I_u|²)` in all — far cheaper than a dense product when
/// `X` is sparse.
pub fn gram(x: &Csr, lambda: f64) -> Vec<Real> {
    let n = x.n_cols;
    let xt = x.transpose();
    let mut g = vec![0.0 as Real; n * n];
    g.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, col)| {
        for &u in xt.row(i as u32) {
            for &j in x.row(u) {
                col[j as usize] += 1.0;
            }
        }
        col[i] += lambda as Real;
    });
    g
}

/// The EASE weights `B` (row-major `f32`) for binary matrix `x`.
///
/// `par` is faer's parallelism for the factorisation and the inverse; callers pass
/// `faer::get_global_parallelism()` (all rayon threads by default).
pub fn closed_form(x: &Csr, lambda: f64, par: Par, pb: &ProgressBar) -> Result<Vec<f32>> {
    let n = x.n_cols;
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut g = gram(x, lambda);
    pb.inc(1);

    // L Lᵀ = G, in place in the lower triangle of `g`.
    pb.set_message("EASE: Cholesky");
    let mut mem = MemBuffer::try_new(llt::factor::cholesky_in_place_scratch::<Real>(
        n,
        par,
        Default::default(),
    ))
    .map_err(|_| {
        Error::Linalg(format!(
            "out of memory for the Cholesky of a {n}×{n} matrix"
        ))
    })?;
    llt::factor::cholesky_in_place(
        MatMut::from_column_major_slice_mut(&mut g, n, n),
        Default::default(),
        par,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|e| {
        Error::Linalg(format!(
            "XᵀX + λI is not positive definite ({e:?}); increase ease.lambda"
        ))
    })?;
    drop(mem);
    pb.inc(1);

    // P = G⁻¹ = L⁻ᵀ L⁻¹; faer writes the lower triangle only.
    pb.set_message("EASE: inverse");
    let mut p = vec![0.0 as Real; n * n];
    let mut mem = MemBuffer::try_new(llt::inverse::inverse_scratch::<Real>(n, par))
        .map_err(|_| Error::Linalg(format!("out of memory for the inverse of a {n}×{n} matrix")))?;
    llt::inverse::inverse(
        MatMut::from_column_major_slice_mut(&mut p, n, n),
        MatRef::from_column_major_slice(&g, n, n),
        par,
        MemStack::new(&mut mem),
    );
    drop(mem);
    drop(g);
    pb.inc(1);
    Ok(weights_from_inverse(&p, n))
}

/// `B[h, j] = −P[h, j] / P[j, j]`, `B[h, h] = 0`, row-major `f32`, from the lower triangle of
/// the column-major `p`.
// The `as f32` casts are no-ops while `Real = f32` and keep the code right for `f64`.
#[allow(clippy::unnecessary_cast)]
fn weights_from_inverse(p: &[Real], n: usize) -> Vec<f32> {
    let diag: Vec<Real> = (0..n).map(|j| p[j + j * n]).collect();
    let mut b = vec![0.0f32; n * n];
    // Rows in blocks of 8: for j ≥ h, P[h, j] = P[j, h] is column h of `p`, contiguous; for
    // j < h it is p[h + j n], and a block of 8 consecutive h reads one cache line per j
    // instead of 8.
    const R: usize = 8;
    b.par_chunks_mut(R * n).enumerate().for_each(|(blk, rows)| {
        let h0 = blk * R;
        let nr = rows.len() / n;
        for j in 0..h0 {
            let col = &p[h0 + j * n..h0 + nr + j * n];
            for (r, &v) in col.iter().enumerate() {
                rows[r * n + j] = (-v / diag[j]) as f32;
            }
        }
        for r in 0..nr {
            let h = h0 + r;
            let row = &mut rows[r * n..(r + 1) * n];
            // j in h0..h: still below the diagonal, read from column j.
            for j in h0..h {
                row[j] = (-p[h + j * n] / diag[j]) as f32;
            }
            let col = &p[h + h * n..(h + 1) * n];
            for (off, &v) in col.iter().enumerate().skip(1) {
                row[h + off] = (-v / diag[h + off]) as f32;
            }
            row[h] = 0.0;
        }
    });
    b
}

impl Recommender for Ease {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        check_score_len(self.n_items, out.len())?;
        out.fill(0.0);
        let mut items: Vec<ItemIdx> = Vec::with_capacity(user.history.len());
        unique_known(user.history, self.n_items, &mut items);
        let n = self.n_items;
        for &h in &items {
            let row = &self.b[h as usize * n..(h as usize + 1) * n];
            for (o, &w) in out.iter_mut().zip(row) {
                *o += w;
            }
        }
        Ok(())
    }

    fn save(&self, dir: &Path) -> seer_core::Result<()> {
        let tensors = [(
            "ease.b",
            Tensor::f32(&[self.n_items, self.n_items], &self.b),
        )];
        Ok(io::save_model(dir, KIND, &self.config, &tensors)?)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop, clippy::unnecessary_cast)]
mod tests {
    use super::*;
    use crate::testutil::csr;
    use crate::ModelConfig;

    /// Written by `tests/fixtures/ease_reference.py` (numpy, the paper's Algorithm 1).
    const REFERENCE: &str = include_str!("../tests/fixtures/ease_reference.json");

    #[derive(Deserialize)]
    struct Reference {
        lambda: f64,
        x: Vec<Vec<f64>>,
        b: Vec<Vec<f64>>,
    }

    fn reference() -> (Reference, TrainData) {
        let r: Reference = serde_json::from_str(REFERENCE).unwrap();
        let n_items = r.x[0].len();
        let mut events = Vec::new();
        for (u, row) in r.x.iter().enumerate() {
            for (i, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    // Each event twice: EASE must binarise.
                    events.push((u as u32, i as u32, 1));
                    events.push((u as u32, i as u32, 2));
                }
            }
        }
        let train = TrainData::from_csr(csr(n_items, &events), false);
        (r, train)
    }

    #[test]
    fn matches_numpy_reference() {
        let (r, train) = reference();
        let m = Ease::fit(&Config { lambda: r.lambda }, &train, &ProgressBar::hidden()).unwrap();
        let n = m.n_items();
        for h in 0..n {
            for j in 0..n {
                let (got, want) = (m.b[h * n + j] as f64, r.b[h][j]);
                assert!(
                    (got - want).abs() < 1e-5,
                    "B[{h},{j}] = {got}, numpy {want}"
                );
            }
        }
        // Sequential and parallel faer agree.
        let seq = closed_form(
            &train.matrix.binary(),
            r.lambda,
            Par::Seq,
            &ProgressBar::hidden(),
        )
        .unwrap();
        for (a, b) in seq.iter().zip(&m.b) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn scores_are_x_times_b() {
        let (r, train) = reference();
        let m = Ease::fit(&Config { lambda: r.lambda }, &train, &ProgressBar::hidden()).unwrap();
        let n = m.n_items();
        let mut out = vec![0.0; n];
        // Repeats and unknown items count as nothing extra.
        m.score(&UserContext::from_history(None, &[3, 1, 3, 99]), &mut out)
            .unwrap();
        for j in 0..n {
            let want = r.b[1][j] + r.b[3][j];
            assert!((out[j] as f64 - want).abs() < 1e-5);
        }
        assert!(m
            .score(&UserContext::from_history(None, &[]), &mut vec![0.0; n + 1])
            .is_err());
    }

    #[test]
    fn gram_is_xtx_plus_lambda() {
        let x = csr(
            3,
            &[
                (0, 0, 0),
                (0, 2, 1),
                (1, 2, 0),
                (2, 0, 0),
                (2, 1, 1),
                (2, 2, 2),
            ],
        )
        .binary();
        let g = gram(&x, 0.5);
        #[rustfmt::skip]
        let want = [2.5, 1.0, 2.0,
                    1.0, 1.5, 1.0,
                    2.0, 1.0, 3.5];
        assert_eq!(g, want);
    }

    #[test]
    fn round_trip() {
        let (_, train) = reference();
        crate::testutil::assert_round_trip(&ModelConfig::Ease(Config { lambda: 3.0 }), &train);
    }

    #[test]
    fn blocked_weights_match_the_definition() {
        // n = 19 exercises full and partial row blocks.
        let n = 19;
        let mut p = vec![0.0; n * n];
        for j in 0..n {
            for i in j..n {
                p[i + j * n] = if i == j {
                    2.0 + i as Real
                } else {
                    (i * 7 + j) as Real * 0.01
                };
            }
        }
        let b = weights_from_inverse(&p, n);
        for h in 0..n {
            for j in 0..n {
                let phj = if h >= j { p[h + j * n] } else { p[j + h * n] };
                let want = if h == j {
                    0.0
                } else {
                    (-phj / p[j + j * n]) as f32
                };
                assert_eq!(b[h * n + j], want, "B[{h},{j}]");
            }
        }
    }
}
