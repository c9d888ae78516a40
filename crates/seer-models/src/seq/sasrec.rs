//! SASRec: self-attentive sequential recommendation.
//!
//! A causal Transformer reads a user's items oldest first; the hidden state at each position
//! predicts the next item through the (tied) item-embedding table, and the state at the last
//! position scores the whole catalogue for the next recommendation.
//!
//! Paper: Wang-Cheng Kang and Julian McAuley, "Self-Attentive Sequential Recommendation",
//! ICDM 2018, [arXiv:1808.09781](https://arxiv.org/abs/1808.09781). Reference implementation:
//! `kang205/SASRec` (TensorFlow) and its PyTorch port `pmixer/SASRec.pytorch`; RecBole's
//! `recbole/model/sequential_recommender/sasrec.py`.
//!
//! **Deviations.**
//! - Loss: full softmax cross-entropy over the catalogue (Klenitskiy & Vasilev, "Turning Dross
//!   Into Gold Loss: is BERT4Rec really better than SASRec?", RecSys 2023) instead of the
//!   paper's binary cross-entropy with one sampled negative; `loss = "sampled"` gives sampled
//!   softmax with `negatives` uniformly drawn items shared by the batch, for catalogues too large
//!   for the full softmax.
//! - Pre-LN blocks with GELU (the reference code normalises the attention query and uses ReLU);
//!   `norm_first = false` gives the post-LN layout of RecBole.
//! - Positions count back from the most recent item and batches are cropped to their longest
//!   sequence (see [`crate::seq`]).
//! - Training uses every user's training sequence once per epoch (the reference samples users
//!   with replacement), AdamW with warm-up and gradient clipping (the reference uses Adam at a
//!   constant rate; `lr_decay_epochs` adds a linear decay to 0), and early stopping on
//!   validation NDCG@10, keeping the best epoch's weights.
//! - Text-enhanced items (`text = true`, after UniSRec, Hou et al. KDD 2022): a trained linear
//!   projection of the frozen sentence vector is added to each id embedding (UniSRec uses a
//!   whitening mixture-of-experts adapter and no id embeddings in its inductive setting), with
//!   item-id dropout so the text part can stand for an item alone.
//! - Popularity prior (`pop_prior`, off by default): a trained weight times each item's
//!   standardised log-count in the training data added to its logit; the counts are frozen
//!   inputs, recomputed on the data the model is carried to, so a transferred model brings
//!   how much popularity matters, not which items were popular.
//! - `text_init` (off by default): the item id embeddings start from the principal
//!   components of the items' sentence vectors (LLM2Sequential, Harte et al., "Leveraging
//!   Large Language Models for Sequential Recommendation", RecSys 2023).
//! - `text_cold` (off by default): after training, items without a training event get their
//!   id embedding from a ridge regression of the learned embeddings on the sentence vectors
//!   (Gantner et al., "Learning Attribute-to-Feature Mappings for Cold-Start
//!   Recommendations", ICDM 2010), stretched per dimension to the learned embeddings'
//!   spread (deviation: least squares alone crowds the predictions at the mean row, which
//!   ranks every cold item alike), so a cold item ranks like an item with its text would.
//! - Transfer (`init`): the Transformer, positions and text projection of a model trained on
//!   another catalogue, with zero id embeddings for the new items; zero-shot with
//!   `epochs = 0`, else fine-tuned like a fresh model (UniSRec fine-tunes only the adapter in
//!   its inductive setting; here every weight trains).

use std::path::Path;

use candle_core::Tensor;
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seer_core::{check_score_len, Recommender, UserContext};
use serde::{Deserialize, Serialize};

use super::cold::{self, seen_items};
use super::{self as seq, NetConfig, Padded, SeqInput, SeqNet, TimeFeatures, UNKNOWN_TIME};
use crate::error::{Error, Result};
use crate::io::Loaded;
use crate::train::{self, FitOptions, LoopConfig, TrainData, TrainLog};
use seer_nn::{self as nn, ops};

/// Model kind in files and reports.
pub const KIND: &str = "sasrec";

/// Training objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Softmax cross-entropy over the whole catalogue.
    Ce,
    /// Softmax over the target and `negatives` uniformly sampled items.
    Sampled,
}

crate::seq::config::seq_config! {
    /// SASRec hyperparameters. Defaults: the paper's sizes and dropout for sparse Amazon data
    /// (hidden 64, 2 blocks, 1 head, length 50, dropout 0.5) with learning rate 0.002 (the
    /// paper's 0.001 converges about twice as slowly with the full-softmax loss) and patience 5
    /// validations: on Amazon Beauty validation NDCG@10 peaks at epoch 14.
    pub struct Config {
        /// Pre-LN (true) or post-LN (false) blocks. Default true.
        pub norm_first: bool,
        /// Objective: `ce` (full softmax, default) or `sampled`.
        pub loss: Loss,
        /// Negatives per batch for `loss = "sampled"`. Default 256.
        pub negatives: usize,
        /// Text-enhanced items (UniSRec-style): add a trained projection of each item's frozen
        /// sentence vector (the `text_model` encoder applied to the item's text) to its id
        /// embedding, so items are known by their text too; items without training events are
        /// represented by their text alone. Needs item text. Default false.
        pub text: bool,
        /// With `text`: probability that an item's id embedding is left out in a training step,
        /// so the text projection learns to stand for the item alone (as it must for items
        /// without events). Default 0.2.
        pub text_id_dropout: f32,
        /// Transfer: start from this saved text-enhanced SASRec (a model directory written by
        /// `seer train`, typically on another dataset) instead of a random network. Its
        /// Transformer, position and text-projection weights carry over; the new catalogue's
        /// items start with zero id embeddings, known by their text alone (so `text` is implied,
        /// with the source's encoder), and the architecture (`hidden`, `layers`, `heads`,
        /// `inner`, `max_len`, `norm_first`, time and context features) is the source's. With
        /// `epochs = 0` nothing is trained on the target: zero-shot. Empty (default): no transfer.
        pub init: String,
        /// With `text`: also score items by the raw similarity of their text to the history's
        /// (the `text` model's score) with a trained weight, next to the learned score (see
        /// [`crate::seq::NetConfig::text_skip`]). Default false.
        pub text_skip: bool,
        /// Popularity prior: add a trained weight × the item's standardised log-count in the
        /// training data to every logit (see [`crate::seq::NetConfig::prior`]). The counts are
        /// recomputed on whatever data the model is fitted, refitted, updated or transferred to,
        /// so with `init` the source's weight applies to the target's counts. Default false.
        pub pop_prior: bool,
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hidden: 64,
            layers: 2,
            heads: 1,
            inner: 256,
            dropout: 0.5,
            attn_dropout: 0.5,
            max_len: 50,
            norm_first: true,
            loss: Loss::Ce,
            negatives: 256,
            epochs: 200,
            batch_size: 128,
            lr: 0.002,
            warmup_steps: 100,
            lr_decay_epochs: 0,
            clip_norm: 5.0,
            weight_decay: 0.0,
            patience: 5,
            eval_every: 2,
            seed: 42,
            time_gap: false,
            time_hour: false,
            time_dow: false,
            context: false,
            text: false,
            text_model: crate::text_encoder::DEFAULT_MODEL_DIR.to_string(),
            text_cache: "models/cache".to_string(),
            text_id_dropout: 0.2,
            init: String::new(),
            text_skip: false,
            pop_prior: false,
            text_init: false,
            text_cold: false,
            text_cold_spread: 1.0,
        }
    }
}

impl Config {
    /// Checks every range; errors name the key (`sasrec.dropout`).
    pub fn validate(&self) -> Result<()> {
        self.shared().validate(KIND)?;
        if self.loss == Loss::Sampled && self.negatives == 0 {
            return Err(Error::config("sasrec.negatives", "must be at least 1"));
        }
        if self.text_init && !self.init.is_empty() {
            return Err(Error::config(
                "sasrec.text_init",
                "a transferred model (`init`) starts from the source's weights and its items \
                 from their text; drop text_init",
            ));
        }
        if self.text_cold && !self.init.is_empty() {
            return Err(Error::config(
                "sasrec.text_cold",
                "a transferred model (`init`) knows every target item by its text already; \
                 drop text_cold",
            ));
        }
        if self.epochs == 0 && self.init.is_empty() {
            return Err(Error::config(
                "sasrec.epochs",
                "0 trains nothing; only a transferred model (`init`) can be used untrained",
            ));
        }
        Ok(())
    }

    /// The time features switched on.
    pub fn time(&self) -> TimeFeatures {
        self.shared().time()
    }

    /// The network sizes for a catalogue of `n_items`.
    pub fn net(&self, n_items: usize) -> NetConfig {
        NetConfig {
            n_items,
            extra_tokens: 1,
            max_len: self.max_len,
            encoder: self.shared().encoder(self.norm_first, 1e-8),
            causal: true,
            scale_embeddings: self.norm_first,
            embedding_norm: !self.norm_first,
            head: false,
            time: self.time(),
            query_time: self.time().any(),
            context: Vec::new(),
            query_context: self.context,
            text_dim: 0,
            text_skip: false,
            prior: self.pop_prior,
        }
    }

    /// The training-loop settings.
    pub fn train_loop(&self) -> LoopConfig {
        self.shared().train_loop(0.98, 1e-9)
    }
}

/// A fitted SASRec model.
#[derive(Debug)]
pub struct Sasrec {
    config: Config,
    net: SeqNet,
    log: TrainLog,
}

impl Sasrec {
    /// Trains on `train` (each user's events in time order), validating with
    /// `opts.validator` when given.
    pub fn fit(
        config: &Config,
        train: &TrainData,
        opts: &FitOptions<'_>,
        pb: &ProgressBar,
    ) -> Result<Sasrec> {
        config.validate()?;
        if !config.init.is_empty() {
            return Self::transfer(config, train, opts, pb);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut net_cfg = config.net(train.n_items);
        if config.context {
            if train.context_sizes.is_empty() {
                return Err(Error::config(
                    "sasrec.context",
                    "the dataset has no categorical context columns",
                ));
            }
            net_cfg.context = train.context_sizes.clone();
        }
        let shared = config.shared();
        let wanted = [
            (config.text, "text"),
            (config.text_init, "text_init"),
            (config.text_cold, "text_cold"),
        ];
        let vectors = cold::item_vectors(&shared, KIND, &wanted, train, pb)?;
        let text = if config.text { vectors.as_ref() } else { None };
        if let Some((_, d)) = text {
            net_cfg.text_dim = *d;
            net_cfg.text_skip = config.text_skip;
        }
        let mut net = SeqNet::new(net_cfg, &mut rng, &nn::default_device())?;
        if let Some((v, _)) = text {
            net.set_text_vectors(v)?;
        }
        cold::before_training(&net, &shared, vectors.as_ref(), train, KIND)?;
        net.set_prior_counts(&train.matrix)?;
        let mut model = Sasrec {
            config: config.clone(),
            net,
            log: TrainLog::default(),
        };
        model.train(train, opts, pb)?;
        if text.is_some() {
            model.zero_unseen(train)?;
        }
        // With `text`, this replaces the zero id rows of the items with text.
        cold::after_training(&model.net, &shared, vectors.as_ref(), train)?;
        Ok(model)
    }

    /// Items without a training event had their id rows pushed down as negatives only:
    /// represent them by their text alone.
    fn zero_unseen(&self, train: &TrainData) -> Result<()> {
        let seen = seen_items(train);
        let unseen: Vec<u32> = (0..train.n_items as u32)
            .filter(|&i| !seen[i as usize])
            .collect();
        self.net.zero_item_rows(&unseen)
    }

    /// Loads a SASRec model saved in `dir` (by `seer train` or [`Recommender::save`]).
    pub fn load_dir(dir: &Path) -> Result<Sasrec> {
        let file = Loaded::read(dir)?;
        let found = file.meta("model")?;
        if found != KIND {
            return Err(Error::config(
                "sasrec.init",
                format!("{} holds a {found} model, not sasrec", dir.display()),
            ));
        }
        let config: Config = file.model_config()?;
        Sasrec::load(&file, config)
    }

    /// [`Sasrec::fit`] from the saved model `config.init` (see [`Config::init`]): the source
    /// network carried to `train`'s catalogue with zero id embeddings and the new items' text
    /// vectors, then fine-tuned for `config.epochs` epochs (none: zero-shot).
    fn transfer(
        config: &Config,
        train: &TrainData,
        opts: &FitOptions<'_>,
        pb: &ProgressBar,
    ) -> Result<Sasrec> {
        let source = Sasrec::load_dir(Path::new(&config.init))
            .map_err(|e| Error::config("sasrec.init", format!("loading the source model: {e}")))?;
        let src = &source.config;
        if !src.text {
            return Err(Error::config(
                "sasrec.init",
                format!(
                    "{} is a plain SASRec; transfer to another catalogue needs a \
                     text-enhanced source (train it with sasrec:text=true)",
                    config.init
                ),
            ));
        }
        let src_context = &source.net.config().context;
        if !src_context.is_empty() && *src_context != train.context_sizes {
            return Err(Error::config(
                "sasrec.init",
                format!(
                    "the source model embeds context columns of sizes {src_context:?}, the \
                     target data has {:?}",
                    train.context_sizes
                ),
            ));
        }
        // The architecture and encoder are the source's; the training settings are ours.
        let config = Config {
            hidden: src.hidden,
            layers: src.layers,
            heads: src.heads,
            inner: src.inner,
            max_len: src.max_len,
            norm_first: src.norm_first,
            time_gap: src.time_gap,
            time_hour: src.time_hour,
            time_dow: src.time_dow,
            context: src.context,
            text: true,
            text_skip: src.text_skip,
            pop_prior: src.pop_prior,
            text_model: src.text_model.clone(),
            ..config.clone()
        };
        let enc = crate::text_encoder::TextEncoder::resolve(&config.text_model)?;
        if enc.dim() != source.net.config().text_dim {
            return Err(Error::config(
                "sasrec.init",
                format!(
                    "the source model projects {}-dimensional text vectors, its encoder {} \
                     gives {}",
                    source.net.config().text_dim,
                    config.text_model,
                    enc.dim()
                ),
            ));
        }
        let vecs = crate::text::item_vectors(&enc, &config.text_cache, train, "sasrec.text", pb)?;
        drop(enc);
        let map = vec![None; train.n_items];
        let mut model = Sasrec {
            net: source
                .net
                .with_catalogue(&map, &train.matrix, Some(&vecs))?,
            config,
            log: TrainLog::default(),
        };
        if model.config.epochs > 0 {
            model.train(train, opts, pb)?;
            model.zero_unseen(train)?;
        }
        Ok(model)
    }

    /// Runs the training loop on this model's weights.
    fn train(&mut self, train: &TrainData, opts: &FitOptions<'_>, pb: &ProgressBar) -> Result<()> {
        let config = self.config.clone();
        let m = &train.matrix;
        let use_time = config.time().any();
        let k = self.net.n_context();
        let cap = config.max_len + 1;
        let data = seq::training_sequences(train, KIND, cap, opts.users, use_time, k)?;
        let (seqs, lens, users, times) = (data.seqs, data.lens, data.users, data.times);
        let n_items = train.n_items;
        let cfg = config.clone();
        let log = {
            let model_ref = &*self;
            let step = |batch: &[u32], rng: &mut ChaCha8Rng| -> Result<Tensor> {
                // Inputs: all but the last item; targets: all but the first.
                let start =
                    |u: u32| seqs[u as usize].len() - (cfg.max_len + 1).min(seqs[u as usize].len());
                let windows: Vec<&[u32]> = batch
                    .iter()
                    .map(|&u| &seqs[u as usize][start(u)..])
                    .collect();
                let inputs: Vec<&[u32]> = windows.iter().map(|w| &w[..w.len() - 1]).collect();
                let mut padded = Padded::new(&inputs, n_items as u32, cfg.max_len);
                let targets: Vec<u32> = windows
                    .iter()
                    .flat_map(|w| w[1..].iter().copied())
                    .collect();
                // The predicted event's time per target; 10% replaced by "unknown" so that
                // recommending without `now` is something the model has seen.
                let mut query = Vec::new();
                if use_time {
                    let own: Vec<&[[u32; 3]]> = batch
                        .iter()
                        .map(|&u| {
                            let t = &times[u as usize];
                            &t[start(u)..t.len() - 1]
                        })
                        .collect();
                    padded = padded.with_time(&own);
                    for &u in batch {
                        for &q in &times[u as usize][start(u) + 1..] {
                            query.push(if rng.random::<f32>() < 0.1 {
                                UNKNOWN_TIME
                            } else {
                                q
                            });
                        }
                    }
                }
                // Context: each input event's own, and at each position the context of the
                // event it predicts (10% "missing", as for time).
                if k > 0 {
                    let own: Vec<&[u32]> = batch
                        .iter()
                        .map(|&u| {
                            let c = m.row_context(u);
                            &c[start(u) * k..c.len() - k]
                        })
                        .collect();
                    let next: Vec<Vec<u32>> = batch
                        .iter()
                        .map(|&u| {
                            let mut v = Vec::new();
                            for q in m.row_context(u)[(start(u) + 1) * k..].chunks_exact(k) {
                                if rng.random::<f32>() < 0.1 {
                                    v.extend(std::iter::repeat_n(seer_core::MISSING, k));
                                } else {
                                    v.extend_from_slice(q);
                                }
                            }
                            v
                        })
                        .collect();
                    let next: Vec<&[u32]> = next.iter().map(Vec::as_slice).collect();
                    padded = padded.with_context(&own, k).with_next_context(&next, k);
                }
                model_ref.net.drop_item_ids(cfg.text_id_dropout, rng)?;
                let enc = model_ref.net.encode(&padded, Some(rng))?;
                let mut hidden = model_ref.net.gather(&enc, &padded.real_positions())?;
                if use_time {
                    hidden = model_ref.net.add_query(&hidden, &query)?;
                }
                let hidden =
                    model_ref
                        .net
                        .add_output_columns(&hidden, &padded, &padded.real_positions())?;

                let loss = match cfg.loss {
                    Loss::Ce => model_ref.net.catalogue_loss(&hidden, &targets),
                    Loss::Sampled => sampled_softmax(
                        &model_ref.net,
                        &hidden,
                        &targets,
                        cfg.negatives,
                        n_items,
                        rng,
                    ),
                };
                // The graph holds the mask; scoring (validation) must not see it.
                model_ref.net.keep_item_ids();
                loss
            };
            let (params, loop_cfg) = (&self.net.params, config.train_loop());
            train::train_model(model_ref, &loop_cfg, params, &users, &lens, step, opts, pb)?
        };
        self.log = log;
        Ok(())
    }

    /// The training log (loss, seconds and validation metric per epoch).
    pub fn log(&self) -> &TrainLog {
        &self.log
    }

    /// Loads a model saved by [`Recommender::save`].
    pub(crate) fn load(file: &Loaded, config: Config) -> Result<Sasrec> {
        let net = SeqNet::load(file, config.net(0))?;
        Ok(Sasrec {
            config,
            net,
            log: TrainLog::default(),
        })
    }

    /// The network (for tests and benchmarks).
    pub fn net(&self) -> &SeqNet {
        &self.net
    }
}

/// Sampled softmax: each position's target against `k` items drawn uniformly for the batch
/// (accidental hits of the target among them are left in, as in most implementations).
fn sampled_softmax(
    net: &SeqNet,
    hidden: &Tensor,
    targets: &[u32],
    k: usize,
    n_items: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Tensor> {
    let dev = hidden.device();
    let negs: Vec<u32> = (0..k)
        .map(|_| rng.random_range(0..n_items as u32))
        .collect();
    let table = net.item_table()?;
    let pos = table.index_select(&nn::indices(targets, &[targets.len()], dev)?, 0)?;
    let pos_logit = (hidden * pos)?.sum_keepdim(1)?; // [N, 1]
    let neg = table.index_select(&nn::indices(&negs, &[k], dev)?, 0)?;
    let neg_logit = hidden.matmul(&neg.t()?)?; // [N, k]
    let logits = Tensor::cat(&[&pos_logit, &neg_logit], 1)?;
    Ok(ops::softmax_cross_entropy(
        &logits,
        &vec![0u32; targets.len()],
    )?)
}

super::update::seq_model!(Sasrec);

impl Recommender for Sasrec {
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
        let time = self.config.time().any();
        let k = self.net.n_context();
        let inputs: Vec<SeqInput> = users.iter().map(|u| SeqInput::of(u, n, time, k)).collect();
        Ok(seq::score_histories(
            &self.net,
            &inputs,
            time,
            true,
            self.config.max_len,
            out,
        )?)
    }

    fn save(&self, dir: &Path) -> seer_core::Result<()> {
        Ok(self.net.save(dir, KIND, &self.config)?)
    }
}

#[cfg(test)]
mod tests;
