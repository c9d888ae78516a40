//! The catalogue-wide losses: softmax cross-entropy over logits, and over an item table
//! without materialising the logits (blocks of rows, fused forward and backward on the CPU),
//! with the kernels' shared helpers ([`fast_exp`], row maxima, CPU storage views).
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor, D};
use rayon::prelude::*;

use crate::error::Result;
use crate::kernels::{
    cpu_f32, fast_exp, rm, rm_mut, row_max, small_matmul, storage_f32, sum_in_order,
};

/// Mean softmax cross-entropy of `logits` (`[N, V]`) against class `targets` (`N` values in
/// `0..V`): `mean_n (logsumexp(logits_n) − logits_n[targets_n])`. Returns a scalar tensor.
///
/// # Errors
/// When `targets.len() != N` or a target is out of range.
pub fn softmax_cross_entropy(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let (n, v) = logits.dims2()?;
    if targets.len() != n {
        return Err(crate::Error::Tensor(format!(
            "cross-entropy: {n} rows of logits but {} targets",
            targets.len()
        )));
    }
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= v) {
        return Err(crate::Error::Tensor(format!(
            "cross-entropy: target {t} out of range for {v} classes"
        )));
    }
    if logits.device().is_cpu() {
        let op = SoftmaxCe {
            targets: Arc::new(targets.to_vec()),
            lse: Mutex::new(Vec::new()),
        };
        Ok(logits.contiguous()?.apply_op1_arc(Arc::new(Box::new(op)))?)
    } else {
        cross_entropy_composed(logits, targets)
    }
}

/// The GPU path of [`softmax_cross_entropy`]: log-softmax from ops with a backward pass, then
/// a gather (the tests run it on the CPU against the fused op).
pub(crate) fn cross_entropy_composed(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let n = logits.dim(0)?;
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let logp = shifted.broadcast_sub(&lse)?;
    let idx = Tensor::from_slice(targets, (n, 1), logits.device())?;
    let picked = logp.gather(&idx, 1)?;
    Ok((picked.sum_all()? * (-1.0 / n as f64))?)
}

/// The fused CPU cross-entropy. The forward pass keeps each row's log-sum-exp for the
/// backward pass, which writes `(softmax − onehot) · g / N` in one parallel sweep.
struct SoftmaxCe {
    targets: Arc<Vec<u32>>,
    lse: Mutex<Vec<f32>>,
}

impl CustomOp1 for SoftmaxCe {
    fn name(&self) -> &'static str {
        "softmax-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_f32(storage, layout)?;
        let (n, v) = layout.shape().dims2()?;
        let lse: Vec<f32> = x
            .par_chunks(v.max(1))
            .map(|row| {
                let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let s: f32 = row.iter().map(|&z| (z - m).exp()).sum();
                m + s.ln()
            })
            .collect();
        let total: f64 = lse
            .iter()
            .zip(self.targets.iter())
            .enumerate()
            .map(|(r, (&l, &t))| (l - x[r * v + t as usize]) as f64)
            .sum();
        if let Ok(mut g) = self.lse.lock() {
            *g = lse;
        }
        let loss = if n == 0 { 0.0 } else { total / n as f64 } as f32;
        Ok((CpuStorage::F32(vec![loss]), Shape::from(())))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let g = grad_res.flatten_all()?.to_vec1::<f32>()?[0];
        let (n, v) = arg.dims2()?;
        let lse = match self.lse.lock() {
            Ok(l) => l.clone(),
            Err(_) => candle_core::bail!("softmax-cross-entropy: poisoned cache"),
        };
        let (storage, layout) = arg.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            candle_core::bail!("softmax-cross-entropy: logits left the CPU");
        };
        let x = cpu_f32(cpu, layout)?;
        let scale = if n == 0 { 0.0 } else { g / n as f32 };
        let mut grad = vec![0f32; n * v];
        grad.par_chunks_mut(v.max(1))
            .zip(x.par_chunks(v.max(1)))
            .enumerate()
            .for_each(|(r, (out, row))| {
                let l = lse[r];
                for (o, &z) in out.iter_mut().zip(row) {
                    *o = (z - l).exp() * scale;
                }
                out[self.targets[r] as usize] -= scale;
            });
        drop(storage);
        Ok(Some(Tensor::from_vec(grad, (n, v), arg.device())?))
    }
}

/// Rows of hidden states handled per task by [`catalogue_cross_entropy`].
const CE_BLOCK: usize = 128;

/// Mean softmax cross-entropy of the catalogue logits `hidden · tableᵀ + bias` (`hidden`
/// `[N, H]`, `table` `[V, H]`, `bias` `[V]`) against `targets`, **without materialising the
/// `[N, V]` logits**: on the CPU a fused custom op walks blocks of 128 rows in parallel; for
/// each block it computes the logits with a matrix product, their log-sum-exp and loss, turns
/// them into `softmax − onehot` in place while they are still in cache, and multiplies them
/// back into the gradients of `hidden`, `table` and `bias`. The loss is a scalar, so its
/// backward pass only scales these gradients by the incoming one: three matrix products per
/// step, the minimum, and one block of logits per thread in memory instead of `N × V` floats
/// (310 MB for a batch of 128 × 50 positions over Beauty's 12 101 items).
///
/// The op is meant for training: it always pays for the gradients.
///
/// Elsewhere (GPU) it is the composed `softmax_cross_entropy(hidden · tableᵀ + bias)`.
pub fn catalogue_cross_entropy(
    hidden: &Tensor,
    table: &Tensor,
    bias: &Tensor,
    targets: &[u32],
) -> Result<Tensor> {
    let (n, h) = hidden.dims2()?;
    let (v, h2) = table.dims2()?;
    if h != h2 || bias.dims() != [v] || targets.len() != n {
        return Err(crate::Error::Tensor(format!(
            "catalogue cross-entropy: hidden {:?}, table {:?}, bias {:?}, {} targets",
            hidden.dims(),
            table.dims(),
            bias.dims(),
            targets.len()
        )));
    }
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= v) {
        return Err(crate::Error::Tensor(format!(
            "catalogue cross-entropy: target {t} out of range for {v} items"
        )));
    }
    if hidden.device().is_cpu() {
        let op = CatalogueCe {
            targets: Arc::new(targets.to_vec()),
            grads: Mutex::new(None),
        };
        Ok(hidden.contiguous()?.apply_op3_arc(
            &table.contiguous()?,
            &bias.contiguous()?,
            Arc::new(Box::new(op)),
        )?)
    } else {
        catalogue_cross_entropy_composed(hidden, table, bias, targets)
    }
}

/// The GPU path of [`catalogue_cross_entropy`]: the logits as one product, then
/// [`softmax_cross_entropy`] (the tests run it on the CPU against the fused op).
pub(crate) fn catalogue_cross_entropy_composed(
    hidden: &Tensor,
    table: &Tensor,
    bias: &Tensor,
    targets: &[u32],
) -> Result<Tensor> {
    let logits = hidden.matmul(&table.t()?)?.broadcast_add(bias)?;
    cross_entropy_composed(&logits, targets)
}

struct CatalogueCe {
    targets: Arc<Vec<u32>>,
    /// The gradients of the mean loss with respect to `hidden`, `table` and `bias`, computed by
    /// the forward pass and taken (once) by the backward pass.
    grads: Mutex<Option<CeGrads>>,
}

/// `(∂/∂hidden, ∂/∂table, ∂/∂bias)` of a mean catalogue cross-entropy, row-major.
type CeGrads = (Vec<f32>, Vec<f32>, Vec<f32>);

/// `out[b × V] = h[b × H] · tableᵀ + bias`, single-threaded (the caller parallelises over
/// blocks).
fn block_logits(out: &mut [f32], h: &[f32], table: &[f32], bias: &[f32], dim: usize) {
    let (b, v) = (h.len() / dim, bias.len());
    for row in out.chunks_exact_mut(v) {
        row.copy_from_slice(bias);
    }
    small_matmul(
        rm_mut(out, b, v),
        rm(h, b, dim),
        rm(table, v, dim).transpose(),
        1.0,
        true,
    );
}

/// For each row of `z` (logits, `V` wide): overwrites it with `exp(z − max)` and returns
/// `(log-sum-exp, 1 / Σ exp(z − max), z[target])`.
pub(crate) fn exp_rows(z: &mut [f32], v: usize, targets: &[u32], out: &mut [(f32, f32, f32)]) {
    for ((row, &t), o) in z.chunks_exact_mut(v).zip(targets).zip(out.iter_mut()) {
        let m = row_max(row);
        let zt = row[t as usize];
        let mut acc = [0f32; 8];
        let mut chunks = row.chunks_exact_mut(8);
        for c in &mut chunks {
            for (a, x) in acc.iter_mut().zip(c.iter_mut()) {
                *x = fast_exp(*x - m);
                *a += *x;
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for x in chunks.into_remainder() {
            *x = fast_exp(*x - m);
            sum += *x;
        }
        *o = (m + sum.ln(), 1.0 / sum, zt);
    }
}

impl candle_core::CustomOp3 for CatalogueCe {
    fn name(&self) -> &'static str {
        "catalogue-cross-entropy"
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
        let (hid, tab, bias) = (
            storage_f32(s1, l1, "hidden")?,
            storage_f32(s2, l2, "table")?,
            storage_f32(s3, l3, "bias")?,
        );
        let (n, dim) = l1.shape().dims2()?;
        let v = bias.len();
        let scale = if n == 0 { 0.0 } else { 1.0 / n as f32 };
        // One block: logits, loss terms, then `(softmax − onehot) / N` in place, multiplied
        // into the block's rows of d hidden and added into this run's d table and d bias.
        // Returns the block's summed loss.
        let block = |z: &mut [f32],
                     h: &[f32],
                     gh: &mut [f32],
                     targets: &[u32],
                     gt: &mut [f32],
                     gb: &mut [f32]|
         -> f64 {
            let b = h.len() / dim;
            block_logits(z, h, tab, bias, dim);
            let mut rows = [(0f32, 0f32, 0f32); CE_BLOCK];
            exp_rows(z, v, targets, &mut rows[..b]);
            let mut loss = 0f64;
            for ((row, &t), &(lse, inv, zt)) in z.chunks_exact_mut(v).zip(targets).zip(&rows) {
                loss += (lse - zt) as f64;
                // Row holds exp(z − max); softmax = that / Σ.
                let f = inv * scale;
                for x in row.iter_mut() {
                    *x *= f;
                }
                row[t as usize] -= scale;
                for (acc, &x) in gb.iter_mut().zip(row.iter()) {
                    *acc += x;
                }
            }
            // d hidden = G · table; d table += Gᵀ · hidden
            small_matmul(rm_mut(gh, b, dim), rm(z, b, v), rm(tab, v, dim), 1.0, false);
            small_matmul(
                rm_mut(gt, v, dim),
                rm(z, b, v).transpose(),
                rm(h, b, dim),
                1.0,
                true,
            );
            loss
        };
        // A fixed partition of the blocks into one contiguous run per thread, each run summed
        // in order and the runs added in order: neither the loss nor the gradients depend on
        // rayon's work stealing, so a seed gives the same model.
        let n_blocks = n.div_ceil(CE_BLOCK).max(1);
        let per = n_blocks.div_ceil(rayon::current_num_threads().max(1));
        let rows_per = per * CE_BLOCK;
        let mut grad_h = vec![0f32; n * dim];
        let parts: Vec<(Vec<f32>, Vec<f32>, f64)> = grad_h
            .par_chunks_mut((rows_per * dim).max(1))
            .zip(hid.par_chunks((rows_per * dim).max(1)))
            .zip(self.targets.par_chunks(rows_per.max(1)))
            .map(|((gh_run, h_run), t_run)| {
                let (mut gt, mut gb) = (vec![0f32; v * dim], vec![0f32; v]);
                let mut buf = vec![0f32; CE_BLOCK.min(t_run.len()) * v];
                let mut loss = 0f64;
                for ((gh, h), t) in gh_run
                    .chunks_mut(CE_BLOCK * dim)
                    .zip(h_run.chunks(CE_BLOCK * dim))
                    .zip(t_run.chunks(CE_BLOCK))
                {
                    let z = &mut buf[..t.len() * v];
                    loss += block(z, h, gh, t, &mut gt, &mut gb);
                }
                (gt, gb, loss)
            })
            .collect();
        let total: f64 = parts.iter().map(|p| p.2).sum();
        let (grad_t, grad_b) = sum_in_order(
            parts.iter().map(|(t, b, _)| (t.as_slice(), b.as_slice())),
            v * dim,
            v,
        );
        if let Ok(mut g) = self.grads.lock() {
            *g = Some((grad_h, grad_t, grad_b));
        }
        Ok((
            CpuStorage::F32(vec![(total * scale as f64) as f32]),
            Shape::from(()),
        ))
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        table: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = grad_res.flatten_all()?.to_vec1::<f32>()?[0];
        let grads = match self.grads.lock() {
            Ok(mut c) => c.take(),
            Err(_) => None,
        };
        let Some((mut gh, mut gt, mut gb)) = grads else {
            candle_core::bail!(
                "catalogue cross-entropy: backward pass run twice (its gradients are computed \
                 once, by the forward pass)"
            );
        };
        if g != 1.0 {
            for x in gh.iter_mut().chain(gt.iter_mut()).chain(gb.iter_mut()) {
                *x *= g;
            }
        }
        let dev = hidden.device();
        Ok((
            Some(Tensor::from_vec(gh, hidden.dims(), dev)?),
            Some(Tensor::from_vec(gt, table.dims(), dev)?),
            Some(Tensor::from_vec(gb, bias.dims(), dev)?),
        ))
    }
}
