//! Item rows from text vectors: principal components for `text_init` ([`pca_rows`]) and a
//! ridge map from text to learned rows for `text_cold` ([`ridge_rows`]).

use crate::error::{Error, Result};

/// Initial item embeddings from text (LLM2Sequential, Harte et al. RecSys 2023): the
/// projection of each item's sentence vector (`vecs`, `[n, d]` row-major, zero rows for items
/// without text) on the top `k` principal components of the items that have text, scaled as a
/// whole so the values have standard deviation `std` (the random initialisation's spread;
/// the components keep their relative variances). `None` for items without text. With
/// `k > d` only the first `d` coordinates are set (the rest are zero).
pub fn pca_rows(vecs: &[f32], d: usize, k: usize, std: f32) -> Result<Vec<Option<Vec<f32>>>> {
    if d == 0 || !vecs.len().is_multiple_of(d) {
        return Err(Error::Tensor(format!(
            "text vectors: {} values are not rows of {d}",
            vecs.len()
        )));
    }
    let has = |r: &[f32]| r.iter().any(|&x| x != 0.0);
    let rows: Vec<&[f32]> = vecs.chunks_exact(d).collect();
    let with: Vec<usize> = (0..rows.len()).filter(|&i| has(rows[i])).collect();
    if with.len() < 2 {
        return Err(Error::Tensor(
            "text initialisation needs at least two items with text".into(),
        ));
    }
    let m = with.len();
    let mut mean = vec![0f64; d];
    for &i in &with {
        mean.iter_mut()
            .zip(rows[i])
            .for_each(|(a, &x)| *a += x as f64);
    }
    mean.iter_mut().for_each(|a| *a /= m as f64);
    let x = faer::Mat::<f64>::from_fn(m, d, |r, c| rows[with[r]][c] as f64 - mean[c]);
    let mut cov = faer::Mat::<f64>::zeros(d, d);
    faer::linalg::matmul::matmul(
        cov.as_mut(),
        faer::Accum::Replace,
        x.transpose(),
        x.as_ref(),
        1.0 / m as f64,
        faer::get_global_parallelism(),
    );
    let eig = cov
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| Error::Tensor(format!("text initialisation: eigendecomposition: {e:?}")))?;
    let kk = k.min(d);
    // Eigenvalues come in nondecreasing order: the top components are the last columns.
    let cols: Vec<usize> = (0..kk).map(|j| d - 1 - j).collect();
    let top_var: f64 = cols.iter().map(|&c| eig.S()[c].max(0.0)).sum::<f64>() / kk as f64;
    let scale = if top_var > 0.0 {
        std as f64 / top_var.sqrt()
    } else {
        0.0
    };
    let u = eig.U();
    let top = faer::Mat::<f64>::from_fn(d, kk, |t, j| u[(t, cols[j])]);
    // [m, kk]: the centred vectors on the top components, scaled, in one product.
    let mut proj = faer::Mat::<f64>::zeros(m, kk);
    faer::linalg::matmul::matmul(
        proj.as_mut(),
        faer::Accum::Replace,
        x.as_ref(),
        top.as_ref(),
        scale,
        faer::get_global_parallelism(),
    );
    let mut out = vec![None; rows.len()];
    for (r, &i) in with.iter().enumerate() {
        let mut v = vec![0f32; k];
        for (j, o) in v.iter_mut().take(kk).enumerate() {
            *o = proj[(r, j)] as f32;
        }
        out[i] = Some(v);
    }
    Ok(out)
}

/// Attribute-to-feature mapping (Gantner, Drumond, Freudenthaler, Rendle and Schmidt-Thieme,
/// "Learning Attribute-to-Feature Mappings for Cold-Start Recommendations", ICDM 2010): a ridge
/// regression of learned item rows `rows` (`[n, h]` row-major) on the items' sentence vectors
/// `vecs` (`[n, d]`), fitted on the items `fit` and applied to the items `apply`. The ridge
/// strength is `s × trace(XᵀX) / d` (X the centred vectors of `fit`), `s` picked from
/// [`RIDGE_GRID`] by the squared error on every tenth item of `fit` held out, each column's
/// error divided by that column's variance so that columns of different scales (embedding
/// values, an output bias) weigh alike (`s` = 0.1 without a holdout, under 20 items), then
/// refitted on all of `fit`.
///
/// With `spread` > 0 each column of the predictions is then stretched around the fitted
/// items' mean so that, over the fitted items, the predictions spread `spread` times as far
/// as the learned rows (standard deviation per column). Least squares shrinks towards the
/// mean row exactly where the rows are poorly predictable from text, and a cold item at the
/// mean row ranks like every other cold item for every user; on Beauty's cold items the
/// unscaled map scored test MRR 0.0006 and the variance-matched one (`spread` = 1) 0.0293
/// (BENCHMARKS.md, "Cold start"). `spread` = 0 keeps the least-squares predictions.
/// Returns the predicted rows of `apply`, in its order, and the chosen `s`.
pub fn ridge_rows(
    vecs: &[f32],
    d: usize,
    rows: &[f32],
    h: usize,
    fit: &[usize],
    apply: &[usize],
    spread: f64,
) -> Result<(Vec<Vec<f32>>, f64)> {
    if !(spread.is_finite() && spread >= 0.0) {
        return Err(Error::Tensor(format!(
            "text map: spread {spread} must be a finite number >= 0"
        )));
    }
    let n = vecs.len().checked_div(d).unwrap_or(0);
    if d == 0 || h == 0 || vecs.len() != n * d || rows.len() != n * h {
        return Err(Error::Tensor(format!(
            "text map: {} text values (rows of {d}) and {} learned values (rows of {h}) \
             do not describe the same items",
            vecs.len(),
            rows.len()
        )));
    }
    if let Some(&bad) = fit.iter().chain(apply).find(|&&i| i >= n) {
        return Err(Error::Tensor(format!("text map: item {bad} out of {n}")));
    }
    if fit.len() < 2 {
        return Err(Error::Tensor(
            "text map needs at least two items with both text and training events".into(),
        ));
    }
    let x = |i: usize| &vecs[i * d..(i + 1) * d];
    let y = |i: usize| &rows[i * h..(i + 1) * h];
    let s = if fit.len() < 20 {
        0.1
    } else {
        let (train, held): (Vec<usize>, Vec<usize>) = {
            let (mut t, mut v) = (Vec::new(), Vec::new());
            for (k, &i) in fit.iter().enumerate() {
                if k % 10 == 9 {
                    v.push(i)
                } else {
                    t.push(i)
                }
            }
            (t, v)
        };
        // Each column's variance over the held-out items (floored: a constant column).
        let var: Vec<f64> = (0..h)
            .map(|c| {
                let m = held.iter().map(|&i| f64::from(y(i)[c])).sum::<f64>() / held.len() as f64;
                let v = held
                    .iter()
                    .map(|&i| (f64::from(y(i)[c]) - m).powi(2))
                    .sum::<f64>()
                    / held.len() as f64;
                v.max(1e-12)
            })
            .collect();
        let mut best = (f64::INFINITY, RIDGE_GRID[0]);
        for &s in RIDGE_GRID {
            let map = RidgeMap::fit(&train, &x, &y, d, h, s)?;
            let mut err = 0.0;
            let mut out = vec![0f32; h];
            for &i in &held {
                map.predict(x(i), &mut out);
                err += out
                    .iter()
                    .zip(y(i))
                    .zip(&var)
                    .map(|((p, t), v)| f64::from(p - t).powi(2) / v)
                    .sum::<f64>();
            }
            if err < best.0 {
                best = (err, s);
            }
        }
        best.1
    };
    let map = RidgeMap::fit(fit, &x, &y, d, h, s)?;
    let predict = |items: &[usize]| -> Vec<Vec<f32>> {
        items
            .iter()
            .map(|&i| {
                let mut o = vec![0f32; h];
                map.predict(x(i), &mut o);
                o
            })
            .collect()
    };
    let mut out = predict(apply);
    if spread > 0.0 {
        // Per column: the standard deviation of the learned rows and of the in-sample
        // predictions over `fit` (whose mean is the rows' mean, the map having an intercept).
        let own = predict(fit);
        let m = fit.len() as f64;
        for c in 0..h {
            let mean = map.mean_y[c];
            let sd = |v: &mut dyn Iterator<Item = f32>| {
                (v.map(|t| (f64::from(t) - mean).powi(2)).sum::<f64>() / m).sqrt()
            };
            let want = sd(&mut fit.iter().map(|&i| y(i)[c]));
            let have = sd(&mut own.iter().map(|p| p[c]));
            if have > 1e-12 {
                let k = spread * want / have;
                for p in out.iter_mut() {
                    p[c] = (mean + (f64::from(p[c]) - mean) * k) as f32;
                }
            }
        }
    }
    Ok((out, s))
}

/// Relative ridge strengths [`ridge_rows`] chooses from.
pub const RIDGE_GRID: &[f64] = &[1e-4, 1e-3, 1e-2, 1e-1, 1.0];

/// A fitted linear map `y = mean_y + (x − mean_x) W`.
struct RidgeMap {
    mean_x: Vec<f64>,
    mean_y: Vec<f64>,
    /// `[d, h]`.
    w: faer::Mat<f64>,
}

impl RidgeMap {
    fn fit<'a>(
        items: &[usize],
        x: &dyn Fn(usize) -> &'a [f32],
        y: &dyn Fn(usize) -> &'a [f32],
        d: usize,
        h: usize,
        s: f64,
    ) -> Result<RidgeMap> {
        use faer::linalg::solvers::Solve;
        let m = items.len() as f64;
        let mean = |f: &dyn Fn(usize) -> &'a [f32], k: usize| {
            let mut acc = vec![0f64; k];
            for &i in items {
                acc.iter_mut()
                    .zip(f(i))
                    .for_each(|(a, &v)| *a += f64::from(v));
            }
            acc.iter_mut().for_each(|a| *a /= m);
            acc
        };
        let (mean_x, mean_y) = (mean(x, d), mean(y, h));
        let xc =
            faer::Mat::<f64>::from_fn(items.len(), d, |r, c| f64::from(x(items[r])[c]) - mean_x[c]);
        let yc =
            faer::Mat::<f64>::from_fn(items.len(), h, |r, c| f64::from(y(items[r])[c]) - mean_y[c]);
        let mut g: faer::Mat<f64> = xc.transpose() * &xc;
        let b: faer::Mat<f64> = xc.transpose() * &yc;
        let trace: f64 = (0..d).map(|i| g[(i, i)]).sum();
        // A floor keeps the system positive definite when the vectors have no spread.
        let lambda = (s * trace / d as f64).max(1e-9);
        for i in 0..d {
            g[(i, i)] += lambda;
        }
        let llt = g
            .llt(faer::Side::Lower)
            .map_err(|e| Error::Tensor(format!("text map: Cholesky: {e:?}")))?;
        let w = llt.solve(b.as_ref());
        Ok(RidgeMap { mean_x, mean_y, w })
    }

    fn predict(&self, x: &[f32], out: &mut [f32]) {
        let xc: Vec<f64> = x
            .iter()
            .zip(&self.mean_x)
            .map(|(&v, m)| f64::from(v) - m)
            .collect();
        for (c, o) in out.iter_mut().enumerate() {
            let dot: f64 = xc.iter().enumerate().map(|(t, v)| v * self.w[(t, c)]).sum();
            *o = (self.mean_y[c] + dot) as f32;
        }
    }
}
