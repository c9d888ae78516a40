//! Differentiable operations for training. The losses are in [`crate::loss`] and
//! re-exported here.
//!
//! - [`softmax_cross_entropy`]: the catalogue-wide loss, a fused custom op on the CPU (one
//!   multi-threaded pass forward, one backward, no `[N, V]` temporaries beyond the gradient);
//!   composed of candle ops with their own backward elsewhere.
//! - [`softmax_last_dim`], [`layer_norm`]: fused multi-threaded custom ops with their own
//!   backward passes on the CPU (candle's fused versions have none in 0.11); composed of
//!   differentiable candle ops elsewhere.
//! - [`attention`]: scaled dot-product attention (scores, mask, softmax, dropout, values) as
//!   one fused custom op with its own backward on the CPU, one parallel task per sequence and
//!   head; composed of candle ops elsewhere.
//! - [`linear`]: `x · w + b` as one fused custom op on the CPU (product and bias add forward,
//!   all three gradients in one sweep backward).
//! - [`dropout`]: inverted dropout with a mask from the caller's seeded generator, so a seed
//!   fixes training (candle's own dropout draws from an unseeded generator).

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, D};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::Result;

pub use crate::kernels::fast_exp;
use crate::kernels::{rm, rm_mut, row_max, small_matmul, storage_f32, sum_in_order, values};
pub use crate::loss::{catalogue_cross_entropy, softmax_cross_entropy};
#[cfg(test)]
use crate::loss::{catalogue_cross_entropy_composed, cross_entropy_composed, exp_rows};

/// Softmax over the last dimension. On the CPU one fused, multi-threaded custom op with its
/// own backward pass (`dx = y ⊙ (g − Σ g ⊙ y)`); elsewhere composed of differentiable ops
/// (candle 0.11's fused softmax has no backward pass).
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        return Ok(x
            .contiguous()?
            .apply_op1_arc(Arc::new(Box::new(FusedSoftmax)))?);
    }
    softmax_composed(x)
}

/// The composed softmax (the max is subtracted for stability and carries no gradient, which
/// does not change the result).
fn softmax_composed(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let s = e.sum_keepdim(D::Minus1)?;
    Ok(e.broadcast_div(&s)?)
}

/// Rows per parallel task of the fused row-wise ops: enough work per task to amortise the
/// hand-off (a task is ~64 rows × 64 values for attention and layer norm).
const ROWS_PER_TASK: usize = 64;

struct FusedSoftmax;

impl CustomOp1 for FusedSoftmax {
    fn name(&self) -> &'static str {
        "softmax-last-dim"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = storage_f32(storage, layout, "softmax input")?;
        let d = layout.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(x.par_chunks(d * ROWS_PER_TASK))
            .for_each(|(yo, xi)| {
                for (yr, xr) in yo.chunks_exact_mut(d).zip(xi.chunks_exact(d)) {
                    let m = row_max(xr);
                    let mut sum = 0f32;
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        *o = fast_exp(v - m);
                        sum += *o;
                    }
                    let inv = 1.0 / sum;
                    yr.iter_mut().for_each(|o| *o *= inv);
                }
            });
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let d = res.dims().last().copied().unwrap_or(1).max(1);
        let (y, g) = (values(res)?, values(grad_res)?);
        let mut dx = vec![0f32; y.len()];
        dx.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(y.par_chunks(d * ROWS_PER_TASK))
            .zip(g.par_chunks(d * ROWS_PER_TASK))
            .for_each(|((o, yb), gb)| {
                for ((or, yr), gr) in o
                    .chunks_exact_mut(d)
                    .zip(yb.chunks_exact(d))
                    .zip(gb.chunks_exact(d))
                {
                    let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
                    for ((o, &yv), &gv) in or.iter_mut().zip(yr).zip(gr) {
                        *o = yv * (gv - dot);
                    }
                }
            });
        Ok(Some(Tensor::from_vec(dx, res.shape(), res.device())?))
    }
}

/// Layer normalisation over the last dimension with gain `gamma` and bias `beta` (both
/// `[D]`). On the CPU one fused, multi-threaded custom op whose backward pass gives the
/// gradients of `x`, `gamma` and `beta` in one sweep; elsewhere composed of differentiable
/// ops (candle 0.11's fused layer norm has no backward pass).
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        return Ok(x.contiguous()?.apply_op3_arc(
            &gamma.contiguous()?,
            &beta.contiguous()?,
            Arc::new(Box::new(FusedLayerNorm { eps: eps as f32 })),
        )?);
    }
    layer_norm_composed(x, gamma, beta, eps)
}

/// The composed layer norm.
fn layer_norm_composed(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    Ok(xn.broadcast_mul(gamma)?.broadcast_add(beta)?)
}

struct FusedLayerNorm {
    eps: f32,
}

/// Mean and `1 / sqrt(var + eps)` of a row (two passes, for accuracy).
#[inline]
fn row_stats(r: &[f32], eps: f32) -> (f32, f32) {
    let d = r.len() as f32;
    let mean = r.iter().sum::<f32>() / d;
    let var = r.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / d;
    (mean, 1.0 / (var + eps).sqrt())
}

impl candle_core::CustomOp3 for FusedLayerNorm {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = storage_f32(s1, l1, "layer-norm input")?;
        let gamma = storage_f32(s2, l2, "layer-norm gain")?;
        let beta = storage_f32(s3, l3, "layer-norm bias")?;
        let d = gamma.len().max(1);
        if beta.len() != d || l1.shape().dims().last() != Some(&d) {
            candle_core::bail!(
                "layer norm: input {:?}, gain [{}], bias [{}]",
                l1.shape(),
                gamma.len(),
                beta.len()
            );
        }
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(x.par_chunks(d * ROWS_PER_TASK))
            .for_each(|(yo, xi)| {
                for (yr, xr) in yo.chunks_exact_mut(d).zip(xi.chunks_exact(d)) {
                    let (mean, rstd) = row_stats(xr, self.eps);
                    for (((o, &v), &g), &b) in yr.iter_mut().zip(xr).zip(gamma).zip(beta) {
                        *o = (v - mean) * rstd * g + b;
                    }
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = gamma.dim(0)?.max(1);
        let (xv, gv, gam) = (values(x)?, values(grad_res)?, values(gamma)?);
        let mut dx = vec![0f32; xv.len()];
        // Per task: dx of its rows, and its partial sums of g ⊙ x̂ (gain) and g (bias),
        // added up in task order below so the result does not depend on scheduling.
        let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
            .par_chunks_mut(d * ROWS_PER_TASK)
            .zip(xv.par_chunks(d * ROWS_PER_TASK))
            .zip(gv.par_chunks(d * ROWS_PER_TASK))
            .map(|((o, xb), gb)| {
                let (mut dg, mut db) = (vec![0f32; d], vec![0f32; d]);
                let mut xhat = vec![0f32; d];
                let mut dxhat = vec![0f32; d];
                for ((or, xr), gr) in o
                    .chunks_exact_mut(d)
                    .zip(xb.chunks_exact(d))
                    .zip(gb.chunks_exact(d))
                {
                    let (mean, rstd) = row_stats(xr, self.eps);
                    let (mut m1, mut m2) = (0f32, 0f32);
                    for j in 0..d {
                        xhat[j] = (xr[j] - mean) * rstd;
                        dxhat[j] = gr[j] * gam[j];
                        m1 += dxhat[j];
                        m2 += dxhat[j] * xhat[j];
                        dg[j] += gr[j] * xhat[j];
                        db[j] += gr[j];
                    }
                    let (m1, m2) = (m1 / d as f32, m2 / d as f32);
                    for j in 0..d {
                        or[j] = rstd * (dxhat[j] - m1 - xhat[j] * m2);
                    }
                }
                (dg, db)
            })
            .collect();
        let (dgamma, dbeta) = sum_in_order(
            partials.iter().map(|(g, b)| (g.as_slice(), b.as_slice())),
            d,
            d,
        );
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dgamma, d, dev)?),
            Some(Tensor::from_vec(dbeta, d, dev)?),
        ))
    }
}

/// Affine map `x · w + b` of `x` (`[N, I]`), `w` (`[I, O]`), `b` (`[O]`). On the CPU one
/// fused custom op: the rows are split into one contiguous run per thread, each run's product
/// and bias add done together; backward gives `dx = dy · wᵀ`, `dw = xᵀ · dy` and `db` (the
/// column sums of `dy`) in one sweep, the runs' partial `dw` and `db` added in a fixed order
/// (deterministic). Candle's own version spends more on the broadcast bias add and its
/// reduction than on the product at a Transformer's sizes. Elsewhere composed of candle ops.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (n, i) = x.dims2()?;
    let (i2, o) = w.dims2()?;
    if i != i2 || b.dims() != [o] {
        return Err(crate::Error::Tensor(format!(
            "linear: x [{n}, {i}], w {:?}, b {:?}",
            w.dims(),
            b.dims()
        )));
    }
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        return Ok(x.contiguous()?.apply_op3_arc(
            &w.contiguous()?,
            &b.contiguous()?,
            Arc::new(Box::new(FusedLinear)),
        )?);
    }
    Ok(x.matmul(w)?.broadcast_add(b)?)
}

struct FusedLinear;

/// Rows per thread for a parallel sweep over `n` rows (at least one).
fn rows_per_thread(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

impl candle_core::CustomOp3 for FusedLinear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w, b) = (
            storage_f32(s1, l1, "x")?,
            storage_f32(s2, l2, "w")?,
            storage_f32(s3, l3, "b")?,
        );
        let (n, i) = l1.shape().dims2()?;
        let o = b.len();
        let mut y = vec![0f32; n * o];
        let per = rows_per_thread(n);
        y.par_chunks_mut(per * o)
            .zip(x.par_chunks(per * i))
            .for_each(|(yr, xr)| {
                let r = xr.len() / i.max(1);
                for row in yr.chunks_exact_mut(o) {
                    row.copy_from_slice(b);
                }
                small_matmul(rm_mut(yr, r, o), rm(xr, r, i), rm(w, i, o), 1.0, true);
            });
        Ok((CpuStorage::F32(y), Shape::from((n, o))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, i) = x.dims2()?;
        let o = b.elem_count();
        let (xv, wv, gy) = (values(x)?, values(w)?, values(grad_res)?);
        let per = rows_per_thread(n);
        let mut dx = vec![0f32; n * i];
        let parts: Vec<(Vec<f32>, Vec<f32>)> = dx
            .par_chunks_mut(per * i)
            .zip(xv.par_chunks(per * i))
            .zip(gy.par_chunks(per * o))
            .map(|((dxr, xr), gr)| {
                let r = xr.len() / i.max(1);
                small_matmul(
                    rm_mut(dxr, r, i),
                    rm(gr, r, o),
                    rm(&wv, i, o).transpose(),
                    1.0,
                    false,
                );
                let mut dw = vec![0f32; i * o];
                small_matmul(
                    rm_mut(&mut dw, i, o),
                    rm(xr, r, i).transpose(),
                    rm(gr, r, o),
                    1.0,
                    false,
                );
                let mut db = vec![0f32; o];
                for row in gr.chunks_exact(o) {
                    db.iter_mut().zip(row).for_each(|(a, &g)| *a += g);
                }
                (dw, db)
            })
            .collect();
        let (dw, db) = sum_in_order(
            parts.iter().map(|(w, b)| (w.as_slice(), b.as_slice())),
            i * o,
            o,
        );
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, (n, i), dev)?),
            Some(Tensor::from_vec(dw, (i, o), dev)?),
            Some(Tensor::from_vec(db, o, dev)?),
        ))
    }
}

/// Inverted dropout: each value is zeroed with probability `p` and the rest scaled by
/// `1 / (1 − p)`. The mask comes from `rng`. `p == 0` returns `x` unchanged.
pub fn dropout(x: &Tensor, p: f32, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let mask = Tensor::from_vec(dropout_mask(x.elem_count(), p, rng), x.shape(), x.device())?;
    Ok(x.mul(&mask)?)
}

/// `n` multipliers of inverted dropout: 0 with probability `p`, else `1 / (1 − p)`.
fn dropout_mask(n: usize, p: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let scale = 1.0 / (1.0 - p);
    (0..n)
        .map(|_| if rng.random::<f32>() < p { 0.0 } else { scale })
        .collect()
}

/// Scaled dot-product attention `dropout(softmax(q · kᵀ / √D + mask)) · v` of `q`, `k`, `v`
/// (`[B, heads, L, D]`) with an additive `mask` (`[B, 1, L, L]`, shared by the heads) and,
/// when `rng` is given, dropout `p_drop` on the attention probabilities (the same draws as
/// [`dropout`] on the `[B, heads, L, L]` probabilities). Returns `[B, heads, L, D]`.
///
/// On the CPU one fused custom op: each (sequence, head) slice — a few `L × L` and `L × D`
/// products that stay in cache — runs as one parallel task forward and backward, in place of
/// a dozen candle ops (batched matmuls, scaling, mask, softmax, dropout, each with its own
/// backward, temporaries and thread hand-offs). The backward pass reuses the probabilities
/// kept by the forward pass. Elsewhere composed of differentiable candle ops.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    p_drop: f32,
    rng: Option<&mut ChaCha8Rng>,
) -> Result<Tensor> {
    let (b, heads, l, d) = q.dims4()?;
    if k.dims() != q.dims() || v.dims() != q.dims() || mask.dims() != [b, 1, l, l] {
        return Err(crate::Error::Tensor(format!(
            "attention: q {:?}, k {:?}, v {:?}, mask {:?}",
            q.dims(),
            k.dims(),
            v.dims(),
            mask.dims()
        )));
    }
    let keep = match rng {
        Some(r) if p_drop > 0.0 => Some(dropout_mask(b * heads * l * l, p_drop, r)),
        _ => None,
    };
    let scale = 1.0 / (d as f64).sqrt();
    if q.device().is_cpu() && q.dtype() == candle_core::DType::F32 {
        let op = FusedAttention {
            mask: values(mask)?,
            keep,
            scale: scale as f32,
            probs: Mutex::new(None),
        };
        return Ok(q.contiguous()?.apply_op3_arc(
            &k.contiguous()?,
            &v.contiguous()?,
            Arc::new(Box::new(op)),
        )?);
    }
    attention_composed(q, k, v, mask, scale, keep)
}

/// [`attention`] composed of candle ops (`keep`: the dropout multipliers, if any).
fn attention_composed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    scale: f64,
    keep: Option<Vec<f32>>,
) -> Result<Tensor> {
    let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
    let mut probs = softmax_composed(&scores)?;
    if let Some(keep) = keep {
        probs = probs.mul(&Tensor::from_vec(keep, probs.shape(), probs.device())?)?;
    }
    Ok(probs.matmul(v)?)
}

struct FusedAttention {
    /// `[B, L, L]` additive mask.
    mask: Vec<f32>,
    /// `[B, heads, L, L]` dropout multipliers, in training.
    keep: Option<Vec<f32>>,
    scale: f32,
    /// The softmax probabilities `[B, heads, L, L]` (before dropout), kept by the forward pass
    /// for the backward pass.
    probs: Mutex<Option<Vec<f32>>>,
}

impl candle_core::CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (q, k, v) = (
            storage_f32(s1, l1, "q")?,
            storage_f32(s2, l2, "k")?,
            storage_f32(s3, l3, "v")?,
        );
        let (_, heads, l, d) = l1.shape().dims4()?;
        let (ld, ll) = (l * d, l * l);
        let mut out = vec![0f32; q.len()];
        let mut probs = vec![0f32; q.len() / d.max(1) * l];
        out.par_chunks_mut(ld.max(1))
            .zip(probs.par_chunks_mut(ll.max(1)))
            .enumerate()
            .for_each(|(s, (o, p))| {
                let (qs, ks, vs) = (
                    &q[s * ld..(s + 1) * ld],
                    &k[s * ld..(s + 1) * ld],
                    &v[s * ld..(s + 1) * ld],
                );
                let m = &self.mask[(s / heads) * ll..(s / heads + 1) * ll];
                small_matmul(
                    rm_mut(p, l, l),
                    rm(qs, l, d),
                    rm(ks, l, d).transpose(),
                    self.scale,
                    false,
                );
                for (row, mrow) in p.chunks_exact_mut(l).zip(m.chunks_exact(l)) {
                    row.iter_mut().zip(mrow).for_each(|(x, &mv)| *x += mv);
                    let mx = row_max(row);
                    let mut sum = 0f32;
                    for x in row.iter_mut() {
                        *x = fast_exp(*x - mx);
                        sum += *x;
                    }
                    let inv = 1.0 / sum;
                    row.iter_mut().for_each(|x| *x *= inv);
                }
                match &self.keep {
                    Some(keep) => {
                        let kp = &keep[s * ll..(s + 1) * ll];
                        let pd: Vec<f32> = p.iter().zip(kp).map(|(a, b)| a * b).collect();
                        small_matmul(rm_mut(o, l, d), rm(&pd, l, l), rm(vs, l, d), 1.0, false);
                    }
                    None => small_matmul(rm_mut(o, l, d), rm(p, l, l), rm(vs, l, d), 1.0, false),
                }
            });
        if let Ok(mut g) = self.probs.lock() {
            *g = Some(probs);
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let probs = match self.probs.lock() {
            Ok(mut c) => c.take(),
            Err(_) => None,
        };
        let Some(probs) = probs else {
            candle_core::bail!("fused attention: backward pass run twice");
        };
        let (_, _, l, d) = q.dims4()?;
        let (ld, ll) = (l * d, l * l);
        let (qv, kv, vv, go) = (values(q)?, values(k)?, values(v)?, values(grad_res)?);
        let mut dq = vec![0f32; qv.len()];
        let mut dk = vec![0f32; qv.len()];
        let mut dv = vec![0f32; qv.len()];
        dq.par_chunks_mut(ld.max(1))
            .zip(dk.par_chunks_mut(ld.max(1)))
            .zip(dv.par_chunks_mut(ld.max(1)))
            .enumerate()
            .for_each(|(s, ((dqs, dks), dvs))| {
                let r = s * ld..(s + 1) * ld;
                let (qs, ks, vs, gs) = (&qv[r.clone()], &kv[r.clone()], &vv[r.clone()], &go[r]);
                let p = &probs[s * ll..(s + 1) * ll];
                let kp = self.keep.as_ref().map(|k| &k[s * ll..(s + 1) * ll]);
                // dV = P_dropᵀ · dO
                let pd: Vec<f32> = match kp {
                    Some(kp) => p.iter().zip(kp).map(|(a, b)| a * b).collect(),
                    None => p.to_vec(),
                };
                small_matmul(
                    rm_mut(dvs, l, d),
                    rm(&pd, l, l).transpose(),
                    rm(gs, l, d),
                    1.0,
                    false,
                );
                // dP = (dO · Vᵀ) ⊙ keep, then dS = P ⊙ (dP − Σ_row dP ⊙ P).
                let mut ds = vec![0f32; ll];
                small_matmul(
                    rm_mut(&mut ds, l, l),
                    rm(gs, l, d),
                    rm(vs, l, d).transpose(),
                    1.0,
                    false,
                );
                if let Some(kp) = kp {
                    ds.iter_mut().zip(kp).for_each(|(x, &m)| *x *= m);
                }
                for (row, prow) in ds.chunks_exact_mut(l).zip(p.chunks_exact(l)) {
                    let dot: f32 = row.iter().zip(prow).map(|(a, b)| a * b).sum();
                    row.iter_mut()
                        .zip(prow)
                        .for_each(|(x, &pv)| *x = pv * (*x - dot));
                }
                // dQ = scale · dS · K, dK = scale · dSᵀ · Q
                small_matmul(
                    rm_mut(dqs, l, d),
                    rm(&ds, l, l),
                    rm(ks, l, d),
                    self.scale,
                    false,
                );
                small_matmul(
                    rm_mut(dks, l, d),
                    rm(&ds, l, l).transpose(),
                    rm(qs, l, d),
                    self.scale,
                    false,
                );
            });
        let dev = q.device();
        Ok((
            Some(Tensor::from_vec(dq, q.shape(), dev)?),
            Some(Tensor::from_vec(dk, k.shape(), dev)?),
            Some(Tensor::from_vec(dv, v.shape(), dev)?),
        ))
    }
}

#[cfg(test)]
mod tests;
