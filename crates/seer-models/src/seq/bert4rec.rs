//! BERT4Rec: bidirectional Transformer trained by masked-item prediction.
//!
//! Random items of a user's sequence are replaced by a `[mask]` token and the model predicts
//! them from both sides (BERT's masked language model applied to item sequences). To
//! recommend, a `[mask]` is appended after the user's history and its prediction scores the
//! catalogue.
//!
//! Paper: Fei Sun, Jun Liu, Jian Wu, Changhua Pei, Xiao Lin, Wenwu Ou and Peng Jiang,
//! "BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations from
//! Transformer", CIKM 2019, [arXiv:1904.06690](https://arxiv.org/abs/1904.06690). Reference
//! implementation: `FeiSun/BERT4Rec` (TensorFlow); RecBole's
//! `recbole/model/sequential_recommender/bert4rec.py`.
//!
//! **Deviations.**
//! - Every masked position is scored against the full catalogue with softmax cross-entropy (as
//!   the paper); each epoch draws fresh masks for every user (the reference pre-generates ten
//!   masked copies of the data, `dupe_factor = 10`).
//! - A sequence with no masked position gets its last item masked, so every sequence
//!   contributes and training sees the inference situation (mask at the end) more often.
//! - Positions count back from the most recent item and batches are cropped (see
//!   [`crate::seq`]); AdamW with warm-up, clipping and early stopping on validation NDCG@10.
//!   The learning rate stays constant after the warm-up unless `lr_decay_epochs` is set; the
//!   reference decays it linearly to 0 over the run, which on Beauty raised test NDCG@10 from
//!   0.0417 to 0.0474 (BENCHMARKS.md).
//! - `cl_weight` (off by default) adds CBiT's contrastive task (Du et al., "Contrastive
//!   Learning with Bidirectional Transformers for Sequential Recommendation", CIKM 2022,
//!   [arXiv:2208.03895](https://arxiv.org/abs/2208.03895)): every training sequence is masked
//!   twice, both views train the cloze task, and an InfoNCE loss pulls the two views' pooled
//!   outputs together against the batch's other sequences. Deviations from CBiT: two views
//!   (CBiT uses m ≥ 2), the mean of the output states over the sequence's positions as its
//!   representation (CBiT flattens them), and a fixed weight (CBiT reweights dynamically).
//!   CBiT also trains on every window of a sequence (here `crop_prob`) at hidden size 256.
//! - `text_init` (off by default) starts the item embeddings from the principal components
//!   of the items' MiniLM sentence vectors (LLM2BERT4Rec, Harte et al., "Leveraging Large
//!   Language Models for Sequential Recommendation", RecSys 2023, which reduces OpenAI
//!   embeddings with PCA the same way).
//! - `text_cold` (off by default): after training, items without a training event get their
//!   id embedding and output bias from a ridge regression on their sentence vectors (Gantner
//!   et al., ICDM 2010; see [`crate::seq::ridge_rows`]), stretched per dimension to the
//!   learned rows' spread (`text_cold_spread`).

use std::path::Path;

use candle_core::Tensor;
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seer_core::{check_score_len, Recommender, UserContext};
use serde::{Deserialize, Serialize};

use super::cold;
use super::{self as seq, NetConfig, Padded, SeqInput, SeqNet, TimeFeatures};
use crate::error::{Error, Result};
use crate::io::Loaded;
use crate::train::{self, FitOptions, LoopConfig, TrainData, TrainLog};
use seer_nn as nn;

/// Model kind in files and reports.
pub const KIND: &str = "bert4rec";

crate::seq::config::seq_config! {
    /// BERT4Rec hyperparameters (defaults: RecBole's, with the paper's mask proportion for
    /// sparse Amazon data).
    pub struct Config {
        /// Probability that an item is masked in training, in (0, 1). Default 0.2.
        pub mask_prob: f64,
        /// Probability that a training sequence instead has only its last item masked: the
        /// situation of recommending (a `[mask]` after the whole history), in [0, 1). Default 0
        /// (the paper's training).
        pub last_prob: f64,
        /// Probability that a training sequence is cut after a random event (uniform over its
        /// second to last event) before masking, so the masked end of a sequence, the position
        /// a recommendation is read from, is trained on every event of the history and not only
        /// the most recent (RecBole trains on every prefix), in [0, 1]. Default 0: on Beauty 1.0
        /// raised validation NDCG@10 (0.0356 to 0.0393) but not test (0.0354 to 0.0339).
        pub crop_prob: f64,
        /// Weight of the contrastive task between two masked views of each training sequence
        /// (CBiT; see the module docs), ≥ 0. Each step then encodes every sequence twice. Default
        /// 0 (off).
        pub cl_weight: f64,
        /// Temperature of the contrastive task's softmax over cosine similarities, > 0. Default
        /// 0.3 (CBiT's value for Beauty).
        pub cl_temp: f64,
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hidden: 64,
            layers: 2,
            heads: 2,
            inner: 256,
            dropout: 0.2,
            attn_dropout: 0.2,
            max_len: 50,
            mask_prob: 0.2,
            last_prob: 0.0,
            crop_prob: 0.0,
            cl_weight: 0.0,
            cl_temp: 0.3,
            epochs: 200,
            batch_size: 128,
            lr: 0.001,
            warmup_steps: 100,
            lr_decay_epochs: 0,
            clip_norm: 5.0,
            weight_decay: 0.0,
            patience: 10,
            eval_every: 2,
            seed: 42,
            time_gap: false,
            time_hour: false,
            time_dow: false,
            context: false,
            text_init: false,
            text_cold: false,
            text_cold_spread: 1.0,
            text_model: crate::text_encoder::DEFAULT_MODEL_DIR.to_string(),
            text_cache: "models/cache".to_string(),
        }
    }
}

impl Config {
    /// Checks every range; errors name the key (`bert4rec.mask_prob`).
    pub fn validate(&self) -> Result<()> {
        self.shared().validate(KIND)?;
        if !(0.0..1.0).contains(&self.last_prob) {
            return Err(Error::config(
                "bert4rec.last_prob",
                format!("{} not in [0, 1)", self.last_prob),
            ));
        }
        if !(0.0..=1.0).contains(&self.crop_prob) {
            return Err(Error::config(
                "bert4rec.crop_prob",
                format!("{} not in [0, 1]", self.crop_prob),
            ));
        }
        if !(self.cl_weight.is_finite() && self.cl_weight >= 0.0) {
            return Err(Error::config(
                "bert4rec.cl_weight",
                format!("{} must be a finite number ≥ 0", self.cl_weight),
            ));
        }
        if !(self.cl_temp.is_finite() && self.cl_temp > 0.0) {
            return Err(Error::config(
                "bert4rec.cl_temp",
                format!("{} must be a finite number > 0", self.cl_temp),
            ));
        }
        if !(self.mask_prob > 0.0 && self.mask_prob < 1.0) {
            return Err(Error::config(
                "bert4rec.mask_prob",
                format!("{} not in (0, 1)", self.mask_prob),
            ));
        }
        Ok(())
    }

    /// The time features switched on.
    pub fn time(&self) -> TimeFeatures {
        self.shared().time()
    }

    fn net(&self, n_items: usize) -> NetConfig {
        NetConfig {
            n_items,
            extra_tokens: 2,
            max_len: self.max_len,
            encoder: self.shared().encoder(false, 1e-12),
            causal: false,
            scale_embeddings: false,
            embedding_norm: true,
            head: true,
            time: self.time(),
            query_time: false,
            context: Vec::new(),
            query_context: false,
            text_dim: 0,
            text_skip: false,
            prior: false,
        }
    }

    #[cfg(test)]
    pub(crate) fn net_for_tests(&self, n_items: usize) -> NetConfig {
        self.net(n_items)
    }

    /// The training-loop settings.
    pub fn train_loop(&self) -> LoopConfig {
        self.shared().train_loop(0.999, 1e-8)
    }
}

/// A fitted BERT4Rec model.
#[derive(Debug)]
pub struct Bert4rec {
    config: Config,
    net: SeqNet,
    log: TrainLog,
}

/// Masks `window` in place: with probability `last_p` only the last item becomes `mask`;
/// otherwise each item does with probability `p` (at least one, the last, when none was
/// drawn). Returns the flat offsets (within the window) and original items of the masked
/// positions.
pub(crate) fn mask_window(
    window: &mut [u32],
    p: f64,
    last_p: f64,
    mask: u32,
    rng: &mut ChaCha8Rng,
) -> Vec<(usize, u32)> {
    let mut out = Vec::new();
    let only_last = last_p > 0.0 && rng.random::<f64>() < last_p;
    for (j, item) in window.iter_mut().enumerate() {
        if !only_last && rng.random::<f64>() < p {
            out.push((j, *item));
            *item = mask;
        }
    }
    if out.is_empty() {
        let j = window.len().saturating_sub(1);
        if let Some(last) = window.get_mut(j) {
            out.push((j, *last));
            *last = mask;
        }
    }
    out
}

/// Where a training sequence of `len` events ends: with probability `crop_p` after a random
/// event from its second to its last (uniform), otherwise at its end. Sequences shorter than
/// two events are never cut.
pub(crate) fn crop_end(len: usize, crop_p: f64, rng: &mut ChaCha8Rng) -> usize {
    if len >= 2 && crop_p > 0.0 && rng.random::<f64>() < crop_p {
        rng.random_range(2..=len)
    } else {
        len
    }
}

/// The mean of each sequence's output states over its `lens[b]` most recent (non-padding)
/// positions: `[B, L, H]` → `[B, H]`.
pub(crate) fn mean_over_positions(enc: &Tensor, lens: &[usize]) -> Result<Tensor> {
    let (b, l, _) = enc.dims3()?;
    let mut w = vec![0f32; b * l];
    for (row, &len) in lens.iter().enumerate() {
        w[row * l + l - len..(row + 1) * l].fill(1.0 / len.max(1) as f32);
    }
    let w = nn::floats(w, &[b, l, 1], enc.device())?;
    Ok(enc.broadcast_mul(&w)?.sum(1)?)
}

/// InfoNCE between two views `a`, `b` (`[N, H]`, row `i` of both from the same sequence):
/// each of the `2N` rows is classified among the other `2N − 1` by cosine similarity over
/// `temp`, its twin in the other view being the right answer (SimCLR's NT-Xent, as CBiT uses
/// it). Mean over the `2N` rows.
pub(crate) fn contrastive_loss(a: &Tensor, b: &Tensor, temp: f64) -> Result<Tensor> {
    let n = a.dim(0)?;
    let z = nn::unit_rows(&Tensor::cat(&[a, b], 0)?)?;
    let mut self_mask = vec![0f32; 4 * n * n];
    for i in 0..2 * n {
        self_mask[i * 2 * n + i] = -1e9;
    }
    let sim = ((z.matmul(&z.t()?)? / temp)? + nn::floats(self_mask, &[2 * n, 2 * n], z.device())?)?;
    let twins: Vec<u32> = (0..2 * n).map(|i| ((i + n) % (2 * n)) as u32).collect();
    Ok(seer_nn::ops::softmax_cross_entropy(&sim, &twins)?)
}

impl Bert4rec {
    /// Trains on `train`, validating with `opts.validator` when given.
    pub fn fit(
        config: &Config,
        train: &TrainData,
        opts: &FitOptions<'_>,
        pb: &ProgressBar,
    ) -> Result<Bert4rec> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut net_cfg = config.net(train.n_items);
        if config.context {
            if train.context_sizes.is_empty() {
                return Err(Error::config(
                    "bert4rec.context",
                    "the dataset has no categorical context columns",
                ));
            }
            net_cfg.context = train.context_sizes.clone();
        }
        let net = SeqNet::new(net_cfg, &mut rng, &nn::default_device())?;
        let shared = config.shared();
        let wanted = [
            (config.text_init, "text_init"),
            (config.text_cold, "text_cold"),
        ];
        let vectors = cold::item_vectors(&shared, KIND, &wanted, train, pb)?;
        cold::before_training(&net, &shared, vectors.as_ref(), train, KIND)?;
        let mut model = Bert4rec {
            config: config.clone(),
            net,
            log: TrainLog::default(),
        };
        model.train(train, opts, pb)?;
        cold::after_training(&model.net, &shared, vectors.as_ref(), train)?;
        Ok(model)
    }

    /// Runs the training loop on this model's weights.
    fn train(&mut self, train: &TrainData, opts: &FitOptions<'_>, pb: &ProgressBar) -> Result<()> {
        let config = self.config.clone();
        let m = &train.matrix;
        let use_time = config.time().any();
        let k = self.net.n_context();
        let cap = config.max_len;
        let data = seq::training_sequences(train, KIND, cap, opts.users, use_time, k)?;
        let (seqs, lens, users, times) = (data.seqs, data.lens, data.users, data.times);
        let n_items = train.n_items as u32;
        let cfg = config.clone();
        let log = {
            let model_ref = &*self;
            let step = |users: &[u32], rng: &mut ChaCha8Rng| -> Result<Tensor> {
                // Where each training sequence ends (its length, or a random earlier event).
                let ends: Vec<usize> = users
                    .iter()
                    .map(|&u| crop_end(seqs[u as usize].len(), cfg.crop_prob, rng))
                    .collect();
                // With the contrastive task, every sequence twice (each copy masked on its own).
                let views = if cfg.cl_weight > 0.0 { 2 } else { 1 };
                let batch: Vec<u32> = users.repeat(views);
                let ends: Vec<usize> = ends.repeat(views);
                let mut windows: Vec<Vec<u32>> = batch
                    .iter()
                    .zip(&ends)
                    .map(|(&u, &end)| {
                        let s = &seqs[u as usize][..end];
                        s[s.len() - cfg.max_len.min(s.len())..].to_vec()
                    })
                    .collect();
                let masked: Vec<Vec<(usize, u32)>> = windows
                    .iter_mut()
                    .map(|w| mask_window(w, cfg.mask_prob, cfg.last_prob, n_items + 1, rng))
                    .collect();
                let refs: Vec<&[u32]> = windows.iter().map(Vec::as_slice).collect();
                let mut padded = Padded::new(&refs, n_items, cfg.max_len);
                if use_time {
                    // A masked event keeps its own time: the time of what is predicted.
                    let own: Vec<&[[u32; 3]]> = batch
                        .iter()
                        .zip(&ends)
                        .map(|(&u, &end)| &times[u as usize][..end])
                        .collect();
                    padded = padded.with_time(&own);
                }
                if k > 0 {
                    // Every event keeps its own context, masked ones included (at inference
                    // the [mask] carries the request's context).
                    let own: Vec<&[u32]> = batch
                        .iter()
                        .zip(&ends)
                        .map(|(&u, &end)| {
                            let c = &m.row_context(u)[..end * k];
                            &c[c.len() - cfg.max_len.min(end) * k..]
                        })
                        .collect();
                    padded = padded.with_context(&own, k);
                }
                let (mut rows, mut targets) = (Vec::new(), Vec::new());
                for (b, (w, ms)) in windows.iter().zip(&masked).enumerate() {
                    let offset = b * padded.l + padded.l - w.len();
                    for &(j, item) in ms {
                        rows.push((offset + j) as u32);
                        targets.push(item);
                    }
                }
                let enc = model_ref.net.encode(&padded, Some(rng))?;
                let hidden = model_ref.net.gather(&enc, &rows)?;
                let cloze = model_ref.net.catalogue_loss(&hidden, &targets)?;
                if views == 1 {
                    return Ok(cloze);
                }
                let pooled = mean_over_positions(&enc, &padded.lens)?;
                let n = users.len();
                let cl = contrastive_loss(
                    &pooled.narrow(0, 0, n)?,
                    &pooled.narrow(0, n, n)?,
                    cfg.cl_temp,
                )?;
                Ok((cloze + (cl * cfg.cl_weight)?)?)
            };
            let (params, loop_cfg) = (&self.net.params, config.train_loop());
            train::train_model(model_ref, &loop_cfg, params, &users, &lens, step, opts, pb)?
        };
        self.log = log;
        Ok(())
    }

    /// The training log.
    pub fn log(&self) -> &TrainLog {
        &self.log
    }

    /// The network (for tests and benchmarks).
    pub fn net(&self) -> &SeqNet {
        &self.net
    }

    pub(crate) fn load(file: &Loaded, config: Config) -> Result<Bert4rec> {
        let net = SeqNet::load(file, config.net(0))?;
        Ok(Bert4rec {
            config,
            net,
            log: TrainLog::default(),
        })
    }
}

super::update::seq_model!(Bert4rec);

impl Recommender for Bert4rec {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn n_items(&self) -> usize {
        self.net.config().n_items
    }

    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        check_score_len(self.n_items(), out.len())?;
        self.score_batch(std::slice::from_ref(user), out)
    }

    fn score_batch(&self, users: &[UserContext<'_>], out: &mut [f32]) -> seer_core::Result<()> {
        let n = self.n_items();
        check_score_len(users.len() * n, out.len())?;
        let mask = n as u32 + 1;
        // History, then the [mask] whose prediction is the recommendation (with the time of
        // `now` when the model uses time
        // (and the request's context as the mask's own).
        let time = self.config.time().any();
        let k = self.net.n_context();
        let inputs: Vec<SeqInput> = users
            .iter()
            .map(|u| {
                let mut x = SeqInput::of(u, n, time, k);
                x.items.push(mask);
                if time {
                    x.times.push(x.query);
                }
                let q = x.query_context.clone();
                x.context.extend(q);
                x
            })
            .collect();
        Ok(seq::score_histories(
            &self.net,
            &inputs,
            time,
            false,
            self.config.max_len,
            out,
        )?)
    }

    fn save(&self, dir: &Path) -> seer_core::Result<()> {
        Ok(self.net.save(dir, KIND, &self.config)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn contrastive_loss_is_nt_xent_and_has_gradients() -> Result<()> {
        let dev = Device::Cpu;
        let (av, bv) = (
            vec![1.0f32, 0.0, 0.5, 2.0, -1.0, 1.0],
            vec![2.0f32, 0.5, 0.0, 1.0, -1.0, 0.5],
        );
        let a = Var::from_vec(av.clone(), (2, 3), &dev)?;
        let b = Var::from_vec(bv.clone(), (2, 3), &dev)?;
        let temp = 0.5;
        let loss = contrastive_loss(&a, &b, temp)?;
        // By hand: rows z = [a0, a1, b0, b1] normalised; row i's twin is (i + 2) mod 4.
        let rows: Vec<Vec<f32>> = [&av[0..3], &av[3..6], &bv[0..3], &bv[3..6]]
            .iter()
            .map(|r| {
                let n = r.iter().map(|x| x * x).sum::<f32>().sqrt();
                r.iter().map(|x| x / n).collect()
            })
            .collect();
        let dot = |i: usize, j: usize| -> f32 {
            rows[i]
                .iter()
                .zip(&rows[j])
                .map(|(x, y)| x * y)
                .sum::<f32>()
                / temp as f32
        };
        let mut want = 0.0f32;
        for i in 0..4 {
            let lse = (0..4)
                .filter(|&j| j != i)
                .map(|j| dot(i, j).exp())
                .sum::<f32>()
                .ln();
            want += lse - dot(i, (i + 2) % 4);
        }
        want /= 4.0;
        let got = seer_nn::scalar(&loss)?;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        let grads = loss.backward()?;
        for v in [&a, &b] {
            let g = grads.get(v.as_tensor()).expect("gradient");
            let g: Vec<f32> = g.flatten_all()?.to_vec1()?;
            assert!(g.iter().any(|x| x.abs() > 1e-4), "no gradient: {g:?}");
        }
        // Views that agree score lower than views whose twins are swapped.
        let agree = contrastive_loss(&a, &a, temp)?;
        let swapped = contrastive_loss(
            &a,
            &Tensor::cat(&[a.narrow(0, 1, 1)?, a.narrow(0, 0, 1)?], 0)?,
            temp,
        )?;
        assert!(seer_nn::scalar(&agree)? < seer_nn::scalar(&swapped)?);
        Ok(())
    }

    #[test]
    fn mean_over_positions_skips_the_padding() -> Result<()> {
        // Two sequences of length 3 (one padded position on the left), hidden 2.
        let enc = Tensor::from_vec(
            vec![
                9.0f32, 9.0, 1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0,
            ],
            (2, 3, 2),
            &Device::Cpu,
        )?;
        let m: Vec<Vec<f32>> = mean_over_positions(&enc, &[2, 3])?.to_vec2()?;
        assert_eq!(m, vec![vec![2.0, 3.0], vec![2.0, 2.0]]);
        Ok(())
    }

    #[test]
    fn contrastive_keys_are_checked() {
        for (w, t) in [
            (-0.1, 1.0),
            (f64::NAN, 1.0),
            (0.1, 0.0),
            (0.1, f64::INFINITY),
        ] {
            let c = Config {
                cl_weight: w,
                cl_temp: t,
                ..Config::default()
            };
            let e = c.validate().expect_err("invalid");
            assert!(e.to_string().contains("bert4rec.cl_"), "{e}");
        }
    }

    #[test]
    fn lr_decay_must_reach_the_last_epoch_and_survives_the_refit() {
        let c = Config {
            epochs: 100,
            lr_decay_epochs: 40,
            ..Config::default()
        };
        let e = c.validate().expect_err("decay ends before the last epoch");
        assert!(e.to_string().contains("bert4rec.lr_decay_epochs"), "{e}");
        for d in [0, 100, 150] {
            let c = Config {
                epochs: 100,
                lr_decay_epochs: d,
                ..Config::default()
            };
            c.validate().expect("valid");
        }
        // The test-stage refit keeps the schedule: `registry::tests::refit_keeps_the_decay_schedule`.
    }

    #[test]
    fn crop_ends_cover_every_prefix_of_two_or_more_events() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut seen = [0usize; 11];
        for _ in 0..5000 {
            let e = crop_end(10, 1.0, &mut rng);
            assert!((2..=10).contains(&e), "end {e}");
            seen[e] += 1;
        }
        // Uniform over 2..=10: each of the 9 ends about 5000 / 9 = 556 times.
        for (e, &n) in seen.iter().enumerate().skip(2) {
            assert!((450..670).contains(&n), "end {e} drawn {n} times");
        }
        for _ in 0..100 {
            assert_eq!(crop_end(10, 0.0, &mut rng), 10);
            assert_eq!(crop_end(1, 1.0, &mut rng), 1);
        }
        // With probability one half, about half the sequences keep their full length
        // (plus the 1 / 9 of cut ones that end at the last event).
        let full = (0..4000)
            .filter(|_| crop_end(10, 0.5, &mut rng) == 10)
            .count();
        assert!((2050..2400).contains(&full), "{full} of 4000 uncut");
    }

    #[test]
    fn masking_rate_matches_mask_prob() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut masked, mut total) = (0usize, 0usize);
        for _ in 0..2000 {
            let mut w: Vec<u32> = (0..20).collect();
            let m = mask_window(&mut w, 0.2, 0.0, 99, &mut rng);
            assert!(!m.is_empty());
            for &(j, item) in &m {
                assert_eq!(w[j], 99);
                assert_eq!(item, j as u32);
            }
            assert_eq!(w.iter().filter(|&&x| x == 99).count(), m.len());
            masked += m.len();
            total += 20;
        }
        let rate = masked as f64 / total as f64;
        assert!((rate - 0.2).abs() < 0.01, "rate {rate}");
        // A window where nothing was drawn still masks its last item.
        let mut w = vec![5u32, 6];
        let m = mask_window(&mut w, 1e-12, 0.0, 99, &mut rng);
        assert_eq!(m, vec![(1, 6)]);
        // `last_p` of the windows have exactly their last item masked.
        let mut only_last = 0;
        for _ in 0..2000 {
            let mut w: Vec<u32> = (0..20).collect();
            if mask_window(&mut w, 0.2, 0.5, 99, &mut rng) == vec![(19, 19)] {
                only_last += 1;
            }
        }
        // 0.5 by choice, plus 0.8^19 * 0.2 of the random masks.
        assert!(
            (only_last as f64 / 2000.0 - 0.5).abs() < 0.04,
            "{only_last}"
        );
    }
}
