//! Differentiable operations for training.
//!
//! - [`softmax_cross_entropy`]: the catalogue-wide loss, a fused custom op on the CPU (one
//!   multi-threaded pass forward, one backward, no `[N, V]` temporaries beyond the gradient);
//!   composed of candle ops with their own backward elsewhere.
//! - [`softmax_last_dim`], [`layer_norm`]: composed of candle ops that have backward passes
//!   (candle's fused versions have none in 0.11).
//! - [`dropout`]: inverted dropout with a mask from the caller's seeded generator, so a seed
//!   fixes training (candle's own dropout draws from an unseeded generator).

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor, D};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::Result;

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
        // Composed path (GPU): log-softmax from ops with a backward pass, then a gather.
        let max = logits.max_keepdim(D::Minus1)?.detach();
        let shifted = logits.broadcast_sub(&max)?;
        let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
        let logp = shifted.broadcast_sub(&lse)?;
        let idx = Tensor::from_slice(targets, (n, 1), logits.device())?;
        let picked = logp.gather(&idx, 1)?;
        Ok((picked.sum_all()? * (-1.0 / n as f64))?)
    }
}

/// The fused CPU cross-entropy. The forward pass keeps each row's log-sum-exp for the
/// backward pass, which writes `(softmax − onehot) · g / N` in one parallel sweep.
struct SoftmaxCe {
    targets: Arc<Vec<u32>>,
    lse: Mutex<Vec<f32>>,
}

fn cpu_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("softmax-cross-entropy: expected f32 logits");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("softmax-cross-entropy: logits must be contiguous");
    };
    Ok(&data[start..end])
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

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
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

/// Softmax over the last dimension, from differentiable ops (the max is subtracted for
/// stability and carries no gradient, which does not change the result).
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let s = e.sum_keepdim(D::Minus1)?;
    Ok(e.broadcast_div(&s)?)
}

/// Layer normalisation over the last dimension with gain `gamma` and bias `beta` (both
/// `[D]`), from differentiable ops.
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    Ok(xn.broadcast_mul(gamma)?.broadcast_add(beta)?)
}

/// Inverted dropout: each value is zeroed with probability `p` and the rest scaled by
/// `1 / (1 − p)`. The mask comes from `rng`. `p == 0` returns `x` unchanged.
pub fn dropout(x: &Tensor, p: f32, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let scale = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| if rng.random::<f32>() < p { 0.0 } else { scale })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
    Ok(x.mul(&mask)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::SeedableRng;

    fn randn(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f32>() * 4.0 - 2.0).collect()
    }

    /// Loss of the composed reference (log-softmax by hand, in f64).
    fn reference_loss(x: &[f32], v: usize, targets: &[u32]) -> f64 {
        let mut total = 0.0;
        for (r, &t) in targets.iter().enumerate() {
            let row = &x[r * v..(r + 1) * v];
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let s: f64 = row.iter().map(|&z| (z as f64 - m).exp()).sum();
            total += m + s.ln() - row[t as usize] as f64;
        }
        total / targets.len() as f64
    }

    #[test]
    fn fused_cross_entropy_matches_finite_differences() -> Result<()> {
        let (n, v) = (5, 7);
        let x = randn(n * v, 1);
        let targets = [0u32, 6, 3, 3, 1];
        let var = Var::from_vec(x.clone(), (n, v), &Device::Cpu)?;
        let loss = softmax_cross_entropy(var.as_tensor(), &targets)?;
        // Scale the loss so the backward pass sees a gradient other than 1.
        let loss3 = (loss.clone() * 3.0)?;
        assert!((super::super::scalar(&loss)? as f64 - reference_loss(&x, v, &targets)).abs() < 1e-5);
        let grads = loss3.backward()?;
        let g = grads
            .get(var.as_tensor())
            .expect("gradient")
            .flatten_all()?
            .to_vec1::<f32>()?;
        let h = 1e-3f32;
        for i in 0..n * v {
            let mut plus = x.clone();
            plus[i] += h;
            let mut minus = x.clone();
            minus[i] -= h;
            let fd = 3.0
                * (reference_loss(&plus, v, &targets) - reference_loss(&minus, v, &targets))
                / (2.0 * h as f64);
            assert!(
                (fd - g[i] as f64).abs() < 1e-3,
                "entry {i}: finite difference {fd}, backward {}",
                g[i]
            );
        }
        Ok(())
    }

    #[test]
    fn fused_cross_entropy_equals_the_composed_one() -> Result<()> {
        let (n, v) = (4, 9);
        let x = randn(n * v, 2);
        let targets = [8u32, 0, 4, 2];
        let t = Tensor::from_vec(x.clone(), (n, v), &Device::Cpu)?;
        let fused = super::super::scalar(&softmax_cross_entropy(&t, &targets)?)?;
        let logp = candle_nn::ops::log_softmax(&t, D::Minus1)?;
        let idx = Tensor::from_slice(&targets, (n, 1), &Device::Cpu)?;
        let composed = -(super::super::scalar(&logp.gather(&idx, 1)?.mean_all()?)?);
        assert!((fused - composed).abs() < 1e-5, "{fused} vs {composed}");
        Ok(())
    }

    #[test]
    fn bad_targets_are_errors() -> Result<()> {
        let t = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu)?;
        assert!(softmax_cross_entropy(&t, &[0]).is_err());
        assert!(softmax_cross_entropy(&t, &[0, 3]).is_err());
        Ok(())
    }

    #[test]
    fn softmax_and_layer_norm_have_gradients() -> Result<()> {
        let x = Var::from_vec(randn(12, 3), (3, 4), &Device::Cpu)?;
        let w = Tensor::from_vec(randn(12, 4), (3, 4), &Device::Cpu)?;
        let s = softmax_last_dim(x.as_tensor())?;
        let sums = s.sum(D::Minus1)?.to_vec1::<f32>()?;
        assert!(sums.iter().all(|&v| (v - 1.0).abs() < 1e-5));
        let g = (s * &w)?.sum_all()?.backward()?;
        let gx = g.get(x.as_tensor()).expect("grad").abs()?.sum_all()?;
        assert!(super::super::scalar(&gx)? > 0.0);

        let gamma = Var::from_vec(vec![1.5f32; 4], 4, &Device::Cpu)?;
        let beta = Var::from_vec(vec![0.1f32; 4], 4, &Device::Cpu)?;
        let y = layer_norm(x.as_tensor(), gamma.as_tensor(), &beta, 1e-5)?;
        let row = y.get(0)?.to_vec1::<f32>()?;
        let mean: f32 = row.iter().sum::<f32>() / 4.0;
        assert!((mean - 0.1).abs() < 1e-4);
        let g = (y * &w)?.sum_all()?.backward()?;
        for t in [x.as_tensor(), gamma.as_tensor(), beta.as_tensor()] {
            let n = super::super::scalar(&g.get(t).expect("grad").abs()?.sum_all()?)?;
            assert!(n > 0.0);
        }
        Ok(())
    }

    #[test]
    fn dropout_is_seeded_and_scales() -> Result<()> {
        let x = Tensor::ones(10_000, candle_core::DType::F32, &Device::Cpu)?;
        let a = dropout(&x, 0.3, &mut ChaCha8Rng::seed_from_u64(7))?.to_vec1::<f32>()?;
        let b = dropout(&x, 0.3, &mut ChaCha8Rng::seed_from_u64(7))?.to_vec1::<f32>()?;
        assert_eq!(a, b);
        let zeros = a.iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
        assert!((zeros - 0.3).abs() < 0.02, "dropped {zeros}");
        let mean: f32 = a.iter().sum::<f32>() / a.len() as f32;
        assert!((mean - 1.0).abs() < 0.03);
        Ok(())
    }
}
