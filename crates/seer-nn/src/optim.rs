//! AdamW (Loshchilov & Hutter, ICLR 2019) with global-norm gradient clipping, linear
//! learning-rate warm-up and optional linear decay, as `torch.optim.AdamW` +
//! `clip_grad_norm_` + `transformers.get_linear_schedule_with_warmup`.
//!
//! The moments are plain tensors kept here (not inside candle's optimiser) so that
//! [`AdamW::state`] / [`AdamW::load_state`] can save and restore them for resuming training.

use candle_core::backprop::GradStore;
use candle_core::Tensor;

use super::Params;
use crate::error::Result;

/// Optimiser settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamWConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Decoupled weight decay (applied to matrices and embeddings, not to biases and norms).
    pub weight_decay: f64,
    /// Steps of linear warm-up from 0 to `lr`.
    pub warmup_steps: usize,
    /// Step at which a linear decay from `lr` (reached after the warm-up) ends at 0; 0 keeps
    /// the rate constant after the warm-up.
    pub decay_steps: usize,
    /// Maximum global gradient norm (0 = no clipping).
    pub clip_norm: f64,
}

/// AdamW state: step count and one pair of moments per parameter.
pub struct AdamW {
    cfg: AdamWConfig,
    step: usize,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl AdamW {
    /// Zero moments for every parameter of `params`.
    pub fn new(cfg: AdamWConfig, params: &Params) -> Result<AdamW> {
        let mut m = Vec::new();
        let mut v = Vec::new();
        for (_, var) in params.vars() {
            m.push(var.as_tensor().zeros_like()?);
            v.push(var.as_tensor().zeros_like()?);
        }
        Ok(AdamW { cfg, step: 0, m, v })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// Learning rate of the next step: linear warm-up, then constant, or with `decay_steps`
    /// set a linear decay to 0 at that step (BERT's and BERT4Rec's reference schedule).
    pub fn lr(&self) -> f64 {
        let (w, d) = (self.cfg.warmup_steps, self.cfg.decay_steps);
        if w > 0 && self.step < w {
            self.cfg.lr * (self.step + 1) as f64 / w as f64
        } else if d > w {
            self.cfg.lr * (d.saturating_sub(self.step) as f64 / (d - w) as f64).min(1.0)
        } else {
            self.cfg.lr
        }
    }

    /// One update from `grads`; returns the global gradient norm before clipping.
    /// Parameters without a gradient are left untouched.
    pub fn step(&mut self, params: &Params, grads: &GradStore) -> Result<f64> {
        let mut sq = 0.0f64;
        for (_, var) in params.vars() {
            if let Some(g) = grads.get(var.as_tensor()) {
                sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        let norm = sq.sqrt();
        let clip = if self.cfg.clip_norm > 0.0 && norm > self.cfg.clip_norm {
            self.cfg.clip_norm / (norm + 1e-6)
        } else {
            1.0
        };
        let lr = self.lr();
        self.step += 1;
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        for (i, (name, var)) in params.vars().iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // Detached: gradients carry the graph of the step that produced them, and moments
            // built from them would keep every step's activations alive (a leak of ~2 GB per
            // Beauty epoch before this was found).
            let g = (g.detach() * clip)?;
            let m = ((&self.m[i] * b1)? + (&g * (1.0 - b1))?)?.detach();
            let v = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?.detach();
            let denom = ((&v / bc2)?.sqrt()? + self.cfg.eps)?;
            let update = ((&m / bc1)? / denom)?;
            let mut p = var.as_tensor().detach();
            if self.cfg.weight_decay > 0.0 && var.rank() > 1 && !name.contains("norm") {
                p = (&p * (1.0 - lr * self.cfg.weight_decay))?;
            }
            var.set(&(p - (update * lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(norm)
    }

    /// The step count and moments, for checkpoints (`adam.m.NAME`, `adam.v.NAME`).
    pub fn state(&self, params: &Params) -> Result<(usize, super::Snapshot)> {
        let mut out = Vec::new();
        for (i, (name, var)) in params.vars().iter().enumerate() {
            out.push((
                format!("adam.m.{name}"),
                var.dims().to_vec(),
                self.m[i].flatten_all()?.to_vec1()?,
            ));
            out.push((
                format!("adam.v.{name}"),
                var.dims().to_vec(),
                self.v[i].flatten_all()?.to_vec1()?,
            ));
        }
        Ok((self.step, out))
    }

    /// Restores what [`AdamW::state`] saved.
    pub fn load_state<'a>(
        &mut self,
        params: &Params,
        step: usize,
        mut get: impl FnMut(&str) -> Option<(&'a [usize], &'a [f32])>,
    ) -> Result<()> {
        for (i, (name, var)) in params.vars().iter().enumerate() {
            for (kind, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("adam.{kind}.{name}");
                let Some((shape, data)) = get(&key) else {
                    return Err(crate::Error::Tensor(format!("checkpoint has no {key:?}")));
                };
                if shape != var.dims() {
                    return Err(crate::Error::Tensor(format!("{key:?}: shape {shape:?}")));
                }
                *slot = Tensor::from_slice(data, shape, params.device())?;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// One step of torch.optim.AdamW on a 2-vector, by hand:
    /// p = [1, -2], g = 2p = [2, -4], lr = 0.1, wd = 0 → m̂ = g, v̂ = g², p -= 0.1 · sign(g).
    #[test]
    fn first_step_moves_each_weight_by_lr() -> Result<()> {
        let mut p = Params::new(Device::Cpu);
        let w = p.constant("w", &[2, 1], 0.0)?;
        p.vars()[0]
            .1
            .set(&Tensor::from_slice(&[1f32, -2.0], (2, 1), &Device::Cpu)?)?;
        let cfg = AdamWConfig {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_steps: 0,
            decay_steps: 0,
            clip_norm: 0.0,
        };
        let mut opt = AdamW::new(cfg, &p)?;
        let grads = w.sqr()?.sum_all()?.backward()?;
        let norm = opt.step(&p, &grads)?;
        assert!((norm - 20f64.sqrt()).abs() < 1e-5);
        let after = p.vars()[0].1.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        assert!(
            (after[0] - 0.9).abs() < 1e-5 && (after[1] + 1.9).abs() < 1e-5,
            "{after:?}"
        );
        Ok(())
    }

    #[test]
    fn warmup_ramps_the_learning_rate() -> Result<()> {
        let p = Params::new(Device::Cpu);
        let cfg = AdamWConfig {
            lr: 1.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_steps: 4,
            decay_steps: 0,
            clip_norm: 1.0,
        };
        let mut opt = AdamW::new(cfg.clone(), &p)?;
        assert_eq!(opt.lr(), 0.25);
        opt.step = 4;
        assert_eq!(opt.lr(), 1.0);
        opt.step = 1000;
        assert_eq!(opt.lr(), 1.0);
        // With a decay: up over 4 steps, then down to 0 at step 12.
        let mut opt = AdamW::new(
            AdamWConfig {
                decay_steps: 12,
                ..cfg
            },
            &p,
        )?;
        let lrs: Vec<f64> = (0..14)
            .map(|s| {
                opt.step = s;
                opt.lr()
            })
            .collect();
        let want = [
            0.25, 0.5, 0.75, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0, 0.0,
        ];
        assert_eq!(lrs, want);
        Ok(())
    }
}
