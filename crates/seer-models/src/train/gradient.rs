//! The gradient-descent training loop of the candle models (SASRec, BERT4Rec, the text
//! encoder's fine-tuning): length-bucketed batches, AdamW with warm-up, clipping and an
//! optional linear decay, validation with early stopping (see [`super::early_stop`]) and a
//! resumable state after every epoch (see [`super::resume`]).

use std::path::Path;
use std::time::Instant;

use candle_core::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::early_stop::{EarlyStop, EpochLog, TrainLog};
use super::resume;
use crate::error::{Error, Result};
use seer_nn::optim::{AdamW, AdamWConfig};
use seer_nn::{self as nn, Params};

/// Settings of the training loop shared by the sequence models.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopConfig {
    /// Maximum passes over the training users.
    pub epochs: usize,
    /// Sequences per batch.
    pub batch_size: usize,
    /// Optimiser.
    pub adam: AdamWConfig,
    /// Epoch at whose end the learning rate has decayed linearly to 0 (sets the optimiser's
    /// `decay_steps` from the number of batches); 0 keeps it constant after the warm-up.
    pub decay_epochs: usize,
    /// Stop after this many validations without improvement (0 = never stop early).
    pub patience: usize,
    /// Validate every this many epochs.
    pub eval_every: usize,
    /// Seed of initialisation, shuffling, masking and dropout.
    pub seed: u64,
}

/// Orders training users into length-bucketed batches (see the module docs).
pub fn make_batches(
    users: &[u32],
    lens: &[usize],
    batch: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<u32>> {
    let mut order = users.to_vec();
    order.shuffle(rng);
    let pool = batch * 32;
    let mut batches = Vec::new();
    for chunk in order.chunks_mut(pool.max(1)) {
        chunk.sort_by_key(|&u| lens[u as usize]);
        for b in chunk.chunks(batch.max(1)) {
            batches.push(b.to_vec());
        }
    }
    batches.shuffle(rng);
    batches
}

/// Runs the training loop over `users` (indices into `lens`): `step` builds a batch's loss
/// (with dropout from the given generator), AdamW updates, validation every `eval_every`
/// epochs keeps the best weights and stops after `patience` validations without improvement.
/// With `checkpoint` set, the state after every epoch is written there and a run finding one
/// resumes from it.
#[allow(clippy::too_many_arguments)]
pub fn train_loop(
    cfg: &LoopConfig,
    params: &Params,
    users: &[u32],
    lens: &[usize],
    mut step: impl FnMut(&[u32], &mut ChaCha8Rng) -> Result<Tensor>,
    validate: Option<&dyn Fn() -> Result<f64>>,
    checkpoint: Option<&Path>,
    pb: &ProgressBar,
) -> Result<TrainLog> {
    let n_batches = users.len().div_ceil(cfg.batch_size.max(1));
    let mut adam = cfg.adam.clone();
    if cfg.decay_epochs > 0 {
        adam.decay_steps = cfg.decay_epochs * n_batches;
    }
    let mut opt = AdamW::new(adam, params)?;
    let mut es = EarlyStop::new(cfg.epochs, cfg.eval_every, cfg.patience);
    let mut start_epoch = 1;
    if let Some(dir) = checkpoint {
        if let Some(state) = resume::load(dir, params, &mut opt)? {
            es.log = state.log;
            es.bad_rounds = state.bad_rounds;
            es.best = state.best;
            start_epoch = if state.stopped {
                cfg.epochs + 1
            } else {
                es.log.epochs.len() + 1
            };
            tracing::info!(epoch = start_epoch, "resuming training");
        }
    }
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    for epoch in start_epoch..=cfg.epochs {
        // One generator per epoch, derived from the seed: a resumed run continues exactly.
        let mut rng = ChaCha8Rng::seed_from_u64(
            cfg.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let batches = make_batches(users, lens, cfg.batch_size, &mut rng);
        pb.set_length(n_batches as u64);
        pb.set_position(0);
        pb.set_prefix(format!("epoch {epoch}/{}", cfg.epochs));
        let t0 = Instant::now();
        let (mut total, mut seen) = (0.0f64, 0usize);
        for (i, b) in batches.iter().enumerate() {
            let loss = step(b, &mut rng)?;
            let value = nn::scalar(&loss)? as f64;
            if !value.is_finite() {
                return Err(Error::Tensor(format!(
                    "training diverged at epoch {epoch}: loss {value}; lower the learning rate"
                )));
            }
            let grads = loss.backward()?;
            opt.step(params, &grads)?;
            total += value * b.len() as f64;
            seen += b.len();
            pb.set_position(i as u64 + 1);
            if i % 10 == 0 {
                let rate = seen as f64 / t0.elapsed().as_secs_f64().max(1e-9);
                pb.set_message(format!(
                    "loss {:.4} · {rate:.0} seq/s{}",
                    total / seen as f64,
                    es.log
                        .best_valid
                        .map(|v| format!(" · best valid {v:.4}"))
                        .unwrap_or_default()
                ));
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        let entry = EpochLog {
            epoch,
            loss: total / seen.max(1) as f64,
            seconds,
            seqs_per_sec: seen as f64 / seconds.max(1e-9),
            valid: None,
        };
        let stop = es.end_epoch(entry, validate, || Ok(params.snapshot()?))?;
        if let Some(e) = es.log.epochs.last() {
            tracing::info!(epoch, loss = e.loss, seconds, valid = e.valid, "epoch done");
        }
        if let Some(dir) = checkpoint {
            resume::save(
                dir,
                stop,
                params,
                &opt,
                &es.log,
                es.bad_rounds,
                es.best.as_ref(),
            )?;
        }
        if stop {
            break;
        }
    }
    pb.finish_and_clear();
    let (log, best) = es.finish();
    if let Some(snap) = &best {
        params.restore(|name| {
            snap.iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, s, d)| (s.as_slice(), d.as_slice()))
        })?;
    }
    Ok(log)
}

/// [`train_loop`] for `model`, whose weights are `params`: validated through
/// `opts.validator`, resumable in `opts.checkpoint`, its log also handed to `opts.log`.
#[allow(clippy::too_many_arguments)]
pub fn train_model(
    model: &dyn seer_core::Recommender,
    cfg: &LoopConfig,
    params: &Params,
    users: &[u32],
    lens: &[usize],
    step: impl FnMut(&[u32], &mut ChaCha8Rng) -> Result<Tensor>,
    opts: &super::FitOptions<'_>,
    pb: &ProgressBar,
) -> Result<TrainLog> {
    let validate = opts.validator.map(|v| move || -> Result<f64> { v(model) });
    let validate = validate.as_ref().map(|f| f as &dyn Fn() -> Result<f64>);
    let log = train_loop(
        cfg,
        params,
        users,
        lens,
        step,
        validate,
        opts.checkpoint,
        pb,
    )?;
    if let Some(slot) = opts.log {
        if let Ok(mut g) = slot.lock() {
            *g = Some(log.clone());
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Loss `w` has gradient 1 at every step, so each Adam update moves `w` by exactly the
    /// step's learning rate, and `w` ends at minus their sum.
    fn final_weight(decay_epochs: usize) -> Result<f32> {
        let mut params = Params::new(Device::Cpu);
        let w = params.constant("w", &[1], 0.0)?;
        let cfg = LoopConfig {
            epochs: 2,
            batch_size: 1,
            adam: AdamWConfig {
                lr: 0.1,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-12,
                weight_decay: 0.0,
                warmup_steps: 0,
                decay_steps: 0,
                clip_norm: 0.0,
            },
            decay_epochs,
            patience: 0,
            eval_every: 1,
            seed: 1,
        };
        // Two users, one per batch: two steps per epoch, four in all.
        let step = |_: &[u32], _: &mut ChaCha8Rng| -> Result<Tensor> { Ok(w.sum_all()?) };
        train_loop(
            &cfg,
            &params,
            &[0, 1],
            &[2, 2],
            step,
            None,
            None,
            &ProgressBar::hidden(),
        )?;
        Ok(params.vars()[0].1.as_tensor().to_vec1::<f32>()?[0])
    }

    #[test]
    fn decay_epochs_decay_the_rate_linearly_over_the_loops_batches() -> Result<()> {
        // Constant: 4 × 0.1. Decay to 0 after epoch 2 (4 steps): 0.1 × (1 + 3/4 + 1/2 + 1/4).
        let constant = final_weight(0)?;
        assert!((constant + 0.4).abs() < 1e-5, "{constant}");
        let decayed = final_weight(2)?;
        assert!((decayed + 0.25).abs() < 1e-5, "{decayed}");
        // Decay to 0 after epoch 4 (8 steps): 0.1 × (1 + 7/8 + 6/8 + 5/8).
        let longer = final_weight(4)?;
        assert!((longer + 0.325).abs() < 1e-5, "{longer}");
        Ok(())
    }
}
