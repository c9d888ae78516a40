//! What SASRec and BERT4Rec share: the embedding + Transformer network over a user's item
//! sequence, padded batches, the training loop (AdamW, warm-up, clipping, early stopping on a
//! validation metric, best-epoch weights, resumable checkpoints) and scoring.
//!
//! # Sequences and positions
//! A batch holds `B` sequences padded **on the left** to the longest one in the batch (not to
//! `max_len`: most users are short, so cropping each batch saves most of the compute). Position
//! embeddings count **back from the most recent item** (position 0 is the last item), so an
//! item's position does not depend on how much padding its batch needed; SASRec's reference
//! code counts from the start of a `max_len` window instead, which is equivalent when every
//! batch is padded to `max_len`.
//!
//! # Batching
//! Users are shuffled, cut into pools of 32 batches, each pool sorted by sequence length and
//! cut into batches, and the batch order is shuffled again: batches hold users of similar length
//! (little padding) while every epoch sees a fresh random order.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seer_core::UserContext;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::{self, Loaded};
use crate::nn::optim::{AdamW, AdamWConfig};
use crate::nn::transformer::{attention_mask, Encoder, EncoderConfig, Linear, Norm};
use crate::nn::{self, ops, Params};

/// A validation callback: scores the model on held-out events and returns the metric to
/// maximise (the pipeline passes full-ranking NDCG@10 on the validation part).
pub type Validator<'a> = &'a (dyn Fn(&dyn seer_core::Recommender) -> Result<f64> + Sync);

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

/// One line of the training log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Wall-clock seconds of the epoch's training (validation excluded).
    pub seconds: f64,
    /// Training sequences per second.
    pub seqs_per_sec: f64,
    /// Validation metric, when validated this epoch.
    pub valid: Option<f64>,
}

/// Result of a training run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainLog {
    /// Every epoch run.
    pub epochs: Vec<EpochLog>,
    /// The epoch whose weights were kept (best validation, or the last one).
    pub best_epoch: usize,
    /// Its validation metric.
    pub best_valid: Option<f64>,
}

/// The sizes of a [`SeqNet`].
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Catalogue size `V`; the item table has `V + extra_tokens` rows.
    pub n_items: usize,
    /// Extra rows after the catalogue: padding (SASRec), padding + mask (BERT4Rec).
    pub extra_tokens: usize,
    /// Longest sequence the position table covers.
    pub max_len: usize,
    /// Transformer sizes.
    pub encoder: EncoderConfig,
    /// Causal attention (SASRec) or bidirectional (BERT4Rec).
    pub causal: bool,
    /// Multiply item embeddings by `sqrt(hidden)` (SASRec's reference code does).
    pub scale_embeddings: bool,
    /// LayerNorm after the embedding sum (BERT; with post-LN encoders).
    pub embedding_norm: bool,
    /// BERT's prediction head (dense + GELU + LayerNorm, output bias) before the tied output
    /// layer.
    pub head: bool,
    /// Time embeddings added to each position (the event's own time).
    pub time: TimeFeatures,
    /// Time embeddings of the *predicted* event added to each output state (SASRec: the time
    /// of the next event in training, `now` when recommending).
    pub query_time: bool,
    /// Vocabulary size of each categorical context column embedded at every position (the
    /// event's own context; one more row for "missing"); empty for none.
    pub context: Vec<usize>,
    /// Embeddings of the *next* event's context added at each position (SASRec: the context
    /// in which the predicted item is chosen; the request's at the last position when
    /// recommending), so attention can combine it with the history.
    pub query_context: bool,
    /// Size of the frozen text vectors (MiniLM's 384) whose trained linear projection is added
    /// to every item's embedding, UniSRec-style (Hou et al. 2022), so an item is represented
    /// by its text as well as its id; 0 for none. The vectors themselves are set with
    /// [`SeqNet::set_text_vectors`] and saved with the weights.
    pub text_dim: usize,
    /// With text: also score each item by the similarity of its frozen text vector to the
    /// recency-weighted mean of the text vectors read so far (half-life 5 events), times a
    /// trained weight (parameter `text.skip`): the language-model recommender's score, kept
    /// whole next to the learned one, so that what the encoder knows is not lost in the
    /// projection (see [`SeqNet::add_output_columns`]).
    pub text_skip: bool,
    /// Popularity prior: add `weight × z_i` to every item's logit, `z_i` the standardised
    /// `ln(1 + count)` of item `i` in the data the network was fitted to (or carried to, see
    /// [`SeqNet::set_prior_counts`]) and `weight` a trained scalar (parameter
    /// `prior.weight`). Frozen counts rather than learned biases, so the learned weight
    /// carries to another catalogue: with text-only items a transferred model knows how much
    /// popularity matters before it has seen one target event. Not with the prediction head.
    pub prior: bool,
}

/// Recency half-life, in events, of the text-skip user vector (the `text` model's default).
const SKIP_HALF_LIFE: f32 = 5.0;

/// The text part of the item representation: frozen vectors and their trained projection.
struct TextPart {
    /// `[V + extra, D]`, centred on the mean of the items that have text (rows of items
    /// without text and of the extra tokens are zero). Not a parameter.
    vecs: Tensor,
    /// `[D, H]`, trained.
    proj: Tensor,
    /// `[1]`, trained weight of the raw text similarity (with `text_skip`).
    skip: Option<Tensor>,
    /// With `text_skip`: `vecs` on the host, row-major (empty otherwise).
    host: Vec<f32>,
}

/// Embeddings + Transformer + tied output layer.
pub struct SeqNet {
    cfg: NetConfig,
    pub(crate) params: Params,
    item_emb: Tensor,
    pos_emb: Tensor,
    emb_norm: Option<Norm>,
    encoder: Encoder,
    head: Option<(Linear, Norm, Tensor)>,
    /// (feature index, table) of the enabled position time embeddings.
    time_tables: Vec<(usize, Tensor)>,
    /// Same for the predicted event's time.
    query_tables: Vec<(usize, Tensor)>,
    /// One table per context column (`size + 1` rows, the last for "missing").
    context_tables: Vec<Tensor>,
    /// Same for the predicted event's context.
    query_context_tables: Vec<Tensor>,
    /// Frozen text vectors and their projection, when `cfg.text_dim > 0`.
    text: Option<TextPart>,
    /// With `cfg.prior`: the frozen standardised log-counts `[V, 1]` and their trained weight
    /// `[1]`.
    prior: Option<(Tensor, Tensor)>,
    /// Training only: `[V + extra, 1]`, 0 for the items whose id embedding is dropped in the
    /// current step (see [`SeqNet::drop_item_ids`]).
    id_mask: std::sync::Mutex<Option<Tensor>>,
}

impl std::fmt::Debug for SeqNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqNet")
            .field("cfg", &self.cfg)
            .field("params", &self.params)
            .finish()
    }
}

/// Which time embeddings a sequence model adds to each position (each needs timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeFeatures {
    /// Log-bucketed gap since the previous event.
    pub gap: bool,
    /// Hour of day (UTC).
    pub hour: bool,
    /// Day of week (UTC, Monday = 0).
    pub dow: bool,
}

impl TimeFeatures {
    /// Whether any feature is on.
    pub fn any(&self) -> bool {
        self.gap || self.hour || self.dow
    }

    fn enabled(&self) -> Vec<usize> {
        [self.gap, self.hour, self.dow]
            .iter()
            .enumerate()
            .filter(|(_, &on)| on)
            .map(|(k, _)| k)
            .collect()
    }
}

/// Rows of the gap, hour and day-of-week tables; the first (gap) or last (hour, day) row is
/// "unknown": the first event of a sequence, or no timestamp (`now` not given).
pub const TIME_ROWS: [usize; 3] = [32, 25, 8];
/// Time ids `[gap, hour, dow]` of an "unknown" time.
pub const UNKNOWN_TIME: [u32; 3] = [0, 24, 7];

/// Time ids `[gap, hour, dow]` of an event at `ts` (unix seconds) whose previous event was at
/// `prev`: gap bucket `1 + ⌊log2(1 + Δs)⌋` capped at 31 (0 when there is no previous event),
/// hour of day and day of week in UTC.
pub fn time_ids(prev: Option<i64>, ts: Option<i64>) -> [u32; 3] {
    let Some(t) = ts else {
        return UNKNOWN_TIME;
    };
    let gap = match prev {
        Some(p) => {
            let dt = (t - p).max(0) as u64 + 1;
            1 + (63 - dt.leading_zeros()).min(30)
        }
        None => 0,
    };
    let hour = (t.rem_euclid(86_400) / 3600) as u32;
    // 1970-01-01 was a Thursday (index 3 with Monday = 0).
    let dow = (t.div_euclid(86_400) + 3).rem_euclid(7) as u32;
    [gap, hour, dow]
}

/// Time ids of every event of a time-ordered sequence `ts` (the first one's gap is unknown).
pub fn sequence_time_ids(ts: &[i64]) -> Vec<[u32; 3]> {
    ts.iter()
        .enumerate()
        .map(|(j, &t)| time_ids(j.checked_sub(1).map(|p| ts[p]), Some(t)))
        .collect()
}

/// A left-padded batch: item ids `[B, L]` (padding = `pad`), real lengths, `L`.
pub struct Padded {
    /// Time ids per position (`[B, L]`, unknown on padding), when the model uses time.
    pub time: Option<Vec<[u32; 3]>>,
    /// Context codes per position (`[B, L, columns]`, missing on padding), when the model
    /// uses context.
    pub context: Option<Vec<u32>>,
    /// Context codes of the event *after* each position (SASRec: the context in which the
    /// predicted item is chosen; the request's at the last position when recommending).
    pub next_context: Option<Vec<u32>>,
    /// Row-major `[B, L]` ids.
    pub ids: Vec<u32>,
    /// Real items per row.
    pub lens: Vec<usize>,
    /// Padded length.
    pub l: usize,
}

impl Padded {
    /// Pads `seqs` on the left to the longest one (each at most `max_len`, longer ones keep
    /// their last `max_len` items).
    pub fn new(seqs: &[&[u32]], pad: u32, max_len: usize) -> Padded {
        let l = seqs
            .iter()
            .map(|s| s.len().min(max_len))
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![pad; seqs.len() * l];
        let mut lens = Vec::with_capacity(seqs.len());
        for (b, s) in seqs.iter().enumerate() {
            let s = &s[s.len() - s.len().min(max_len)..];
            ids[b * l + l - s.len()..(b + 1) * l].copy_from_slice(s);
            lens.push(s.len());
        }
        Padded {
            time: None,
            context: None,
            next_context: None,
            ids,
            lens,
            l,
        }
    }

    /// Adds per-position context codes (`k` per event), `codes[b]` parallel to the `b`-th
    /// sequence given to [`Padded::new`] (cut the same way, keeping the last events).
    pub fn with_context(mut self, codes: &[&[u32]], k: usize) -> Padded {
        self.context = Some(self.align(codes, k));
        self
    }

    /// Adds the context of the event after each position (see [`Padded::next_context`]),
    /// aligned like [`Padded::with_context`].
    pub fn with_next_context(mut self, codes: &[&[u32]], k: usize) -> Padded {
        self.next_context = Some(self.align(codes, k));
        self
    }

    /// `k` codes per event right-aligned into `[B, L, k]`, missing on padding.
    fn align(&self, codes: &[&[u32]], k: usize) -> Vec<u32> {
        let l = self.l;
        let mut c = vec![seer_core::MISSING; self.lens.len() * l * k];
        for (b, (cb, &len)) in codes.iter().zip(&self.lens).enumerate() {
            let n = (cb.len() / k.max(1)).min(len);
            let cb = &cb[cb.len() - n * k..];
            c[(b * l + l - n) * k..(b + 1) * l * k].copy_from_slice(cb);
        }
        c
    }

    /// Adds per-position time ids, `times[b]` parallel to the `b`-th sequence given to
    /// [`Padded::new`] (cut the same way, keeping the last items).
    pub fn with_time(mut self, times: &[&[[u32; 3]]]) -> Padded {
        let l = self.l;
        let mut t = vec![UNKNOWN_TIME; self.lens.len() * l];
        for (b, (tb, &len)) in times.iter().zip(&self.lens).enumerate() {
            let tb = &tb[tb.len() - len.min(tb.len())..];
            t[b * l + l - tb.len()..(b + 1) * l].copy_from_slice(tb);
        }
        self.time = Some(t);
        self
    }

    /// Flat `b * L + j` index of every real position, row by row, oldest first.
    pub fn real_positions(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (b, &len) in self.lens.iter().enumerate() {
            for j in self.l - len..self.l {
                out.push((b * self.l + j) as u32);
            }
        }
        out
    }
}

impl SeqNet {
    /// A freshly initialised network (item and position tables N(0, 0.02²)).
    pub fn new(cfg: NetConfig, rng: &mut ChaCha8Rng, device: &Device) -> Result<SeqNet> {
        let h = cfg.encoder.hidden;
        let mut p = Params::new(device.clone());
        let item_emb = p.normal(rng, "item_emb", &[cfg.n_items + cfg.extra_tokens, h], 0.02)?;
        let pos_emb = p.normal(rng, "pos_emb", &[cfg.max_len, h], 0.02)?;
        let emb_norm = if cfg.embedding_norm {
            Some(Norm::new(&mut p, "emb_norm", h, cfg.encoder.eps)?)
        } else {
            None
        };
        let names = ["gap", "hour", "dow"];
        let mut time_tables = Vec::new();
        let mut query_tables = Vec::new();
        for k in cfg.time.enabled() {
            let t = p.normal(rng, &format!("time.{}", names[k]), &[TIME_ROWS[k], h], 0.02)?;
            time_tables.push((k, t));
            if cfg.query_time {
                let q = p.normal(
                    rng,
                    &format!("query.{}", names[k]),
                    &[TIME_ROWS[k], h],
                    0.02,
                )?;
                query_tables.push((k, q));
            }
        }
        let mut context_tables = Vec::new();
        let mut query_context_tables = Vec::new();
        for (j, &size) in cfg.context.iter().enumerate() {
            context_tables.push(p.normal(rng, &format!("context.{j}"), &[size + 1, h], 0.02)?);
            if cfg.query_context {
                query_context_tables.push(p.normal(
                    rng,
                    &format!("query_context.{j}"),
                    &[size + 1, h],
                    0.02,
                )?);
            }
        }
        let text = if cfg.text_dim > 0 {
            Some(TextPart {
                vecs: Tensor::zeros(
                    (cfg.n_items + cfg.extra_tokens, cfg.text_dim),
                    candle_core::DType::F32,
                    device,
                )?,
                proj: p.normal(rng, "text.proj", &[cfg.text_dim, h], 0.02)?,
                skip: if cfg.text_skip {
                    Some(p.constant("text.skip", &[1], 1.0)?)
                } else {
                    None
                },
                host: Vec::new(),
            })
        } else {
            None
        };
        let prior = if cfg.prior {
            if cfg.head {
                return Err(Error::Tensor(
                    "the popularity prior is not supported with a prediction head".into(),
                ));
            }
            Some((
                Tensor::zeros((cfg.n_items, 1), candle_core::DType::F32, device)?,
                p.constant("prior.weight", &[1], 1.0)?,
            ))
        } else {
            None
        };
        let encoder = Encoder::new(&mut p, rng, "encoder", &cfg.encoder)?;
        let head = if cfg.head {
            Some((
                Linear::new(&mut p, rng, "head.dense", h, h)?,
                Norm::new(&mut p, "head.norm", h, cfg.encoder.eps)?,
                p.constant("head.bias", &[cfg.n_items], 0.0)?,
            ))
        } else {
            None
        };
        Ok(SeqNet {
            cfg,
            params: p,
            item_emb,
            pos_emb,
            emb_norm,
            encoder,
            head,
            time_tables,
            query_tables,
            context_tables,
            query_context_tables,
            text,
            prior,
            id_mask: std::sync::Mutex::new(None),
        })
    }

    /// Sets the popularity prior (see [`NetConfig::prior`]) from the item counts of `seqs`
    /// (users × items, one entry per event): `z_i = (ln(1 + c_i) − mean) / std` over the
    /// catalogue. No-op without the prior.
    pub fn set_prior_counts(&mut self, seqs: &seer_data::Csr) -> Result<()> {
        self.set_prior_values(prior_z(&seqs.col_counts()))
    }

    /// Sets the standardised prior values, one per catalogue item.
    fn set_prior_values(&mut self, z: Vec<f32>) -> Result<()> {
        let n = self.cfg.n_items;
        let dev = self.params.device().clone();
        match &mut self.prior {
            Some((vals, _)) if z.len() == n => {
                *vals = nn::floats(z, &[n, 1], &dev)?;
                Ok(())
            }
            Some(_) => Err(Error::Tensor(format!(
                "popularity prior: {} values for {n} items",
                z.len()
            ))),
            None => Ok(()),
        }
    }

    /// Item-id dropout for one training step (DropoutNet, Volkovs et al. 2017): with text,
    /// each catalogue item's id embedding is left out with probability `p` until
    /// [`SeqNet::keep_item_ids`], so the text projection must carry the item on its own, as
    /// it will for items that never had an event. No-op without text or with `p == 0`.
    pub fn drop_item_ids(&self, p: f32, rng: &mut ChaCha8Rng) -> Result<()> {
        if self.text.is_none() || p <= 0.0 {
            return Ok(());
        }
        let n = self.cfg.n_items + self.cfg.extra_tokens;
        let mask: Vec<f32> = (0..n)
            .map(|i| {
                if i < self.cfg.n_items && rng.random::<f32>() < p {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        let t = nn::floats(mask, &[n, 1], self.params.device())?;
        *self
            .id_mask
            .lock()
            .map_err(|_| Error::Tensor("poisoned id mask".into()))? = Some(t);
        Ok(())
    }

    /// Ends [`SeqNet::drop_item_ids`]: every id embedding is used again.
    pub fn keep_item_ids(&self) {
        if let Ok(mut m) = self.id_mask.lock() {
            *m = None;
        }
    }

    /// Sets the frozen text vectors, `[n_items, text_dim]` row-major (a zero row for an item
    /// without text). They are centred on the mean of the items that have text.
    pub fn set_text_vectors(&mut self, vecs: &[f32]) -> Result<()> {
        let (n, d) = (self.cfg.n_items, self.cfg.text_dim);
        if d == 0 || vecs.len() != n * d {
            return Err(Error::Tensor(format!(
                "text vectors: {} values for {n} items of {d} dimensions",
                vecs.len()
            )));
        }
        let has = |r: &[f32]| r.iter().any(|&x| x != 0.0);
        let mut mean = vec![0f32; d];
        let mut count = 0usize;
        for r in vecs.chunks_exact(d).filter(|r| has(r)) {
            mean.iter_mut().zip(r).for_each(|(m, &x)| *m += x);
            count += 1;
        }
        mean.iter_mut().for_each(|m| *m /= count.max(1) as f32);
        let mut centred = vec![0f32; (n + self.cfg.extra_tokens) * d];
        for (o, r) in centred.chunks_exact_mut(d).zip(vecs.chunks_exact(d)) {
            if has(r) {
                o.iter_mut()
                    .zip(r.iter().zip(&mean))
                    .for_each(|(o, (&x, &m))| *o = x - m);
            }
        }
        self.set_text_tensor(centred)
    }

    /// Sets the stored (already centred) text vectors, `[n_items + extra, text_dim]`.
    fn set_text_tensor(&mut self, centred: Vec<f32>) -> Result<()> {
        let rows = self.cfg.n_items + self.cfg.extra_tokens;
        let d = self.cfg.text_dim;
        let dev = self.params.device().clone();
        match &mut self.text {
            Some(t) => {
                if t.skip.is_some() {
                    // The text skip reads history vectors on the host every batch.
                    t.host = centred.clone();
                }
                t.vecs = nn::floats(centred, &[rows, d], &dev)?;
                Ok(())
            }
            None => Err(Error::Tensor("this network has no text part".into())),
        }
    }

    /// Zeroes the id embeddings of `items`, so they are represented by their text alone
    /// (items without training events: their id rows were only ever pushed down as
    /// negatives of the softmax).
    pub fn zero_item_rows(&self, items: &[u32]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let (n, h) = (self.cfg.n_items, self.cfg.encoder.hidden);
        self.edit_item_rows(|v| {
            for i in items.iter().map(|&i| i as usize).filter(|&i| i < n) {
                v[i * h..(i + 1) * h].fill(0.0);
            }
        })
    }

    /// Reads the id embedding table (`[V + extra, H]`, row-major) to the host, lets `edit`
    /// rewrite it and sets it back.
    fn edit_item_rows(&self, edit: impl FnOnce(&mut [f32])) -> Result<()> {
        let Some((_, var)) = self.params.vars().iter().find(|(n, _)| n == "item_emb") else {
            return Err(Error::Tensor("no item_emb parameter".into()));
        };
        let mut v = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        edit(&mut v);
        var.set(&nn::floats(v, var.dims(), self.params.device())?)?;
        Ok(())
    }

    /// Initialises the id embeddings of the items that have text (`vecs`, `[n_items, d]`
    /// row-major, zero rows for items without) from the principal components of their
    /// sentence vectors (see [`pca_rows`]), at the random initialisation's spread (0.02); the
    /// other rows keep their random values.
    pub fn init_items_from_text(&self, vecs: &[f32], d: usize) -> Result<()> {
        let (n, h) = (self.cfg.n_items, self.cfg.encoder.hidden);
        if vecs.len() != n * d {
            return Err(Error::Tensor(format!(
                "text vectors: {} values for {n} items of {d} dimensions",
                vecs.len()
            )));
        }
        let init = pca_rows(vecs, d, h, 0.02)?;
        self.edit_item_rows(|v| {
            for (i, row) in init.iter().enumerate() {
                if let Some(row) = row {
                    v[i * h..(i + 1) * h].copy_from_slice(row);
                }
            }
        })
    }

    /// Cold items from text: sets the id embedding (and, with a prediction head, the output
    /// bias) of every item with text that `seen` marks false from a ridge map of sentence
    /// vectors to the learned rows of the seen items with text (see [`ridge_rows`]). Items
    /// without events were only ever pushed down as negatives of the softmax; this gives
    /// them the row an item with their text would have learned. `vecs` is `[n_items, d]`,
    /// zero rows for items without text. `spread` rescales the predictions' spread (see
    /// [`ridge_rows`]; 0 keeps the least-squares predictions). Returns how many rows were set
    /// and the chosen ridge strength.
    pub fn map_unseen_from_text(
        &self,
        vecs: &[f32],
        d: usize,
        seen: &[bool],
        spread: f64,
    ) -> Result<(usize, f64)> {
        let (n, h) = (self.cfg.n_items, self.cfg.encoder.hidden);
        if vecs.len() != n * d || seen.len() != n {
            return Err(Error::Tensor(format!(
                "text map: {} text values and {} seen flags for {n} items of {d} dimensions",
                vecs.len(),
                seen.len()
            )));
        }
        let has = |i: usize| vecs[i * d..(i + 1) * d].iter().any(|&x| x != 0.0);
        let fit: Vec<usize> = (0..n).filter(|&i| seen[i] && has(i)).collect();
        let apply: Vec<usize> = (0..n).filter(|&i| !seen[i] && has(i)).collect();
        if apply.is_empty() {
            return Ok((0, 0.0));
        }
        let var = |name: &str| {
            self.params
                .vars()
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| Error::Tensor(format!("no {name} parameter")))
        };
        let emb_var = var("item_emb")?;
        let mut emb = emb_var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        let bias_var = if self.head.is_some() {
            Some(var("head.bias")?)
        } else {
            None
        };
        let mut bias = match &bias_var {
            Some(v) => Some(v.as_tensor().flatten_all()?.to_vec1::<f32>()?),
            None => None,
        };
        // The regression targets: each item's id row, with its output bias as one more column.
        let w = h + usize::from(bias.is_some());
        let mut rows = vec![0f32; n * w];
        for i in 0..n {
            rows[i * w..i * w + h].copy_from_slice(&emb[i * h..(i + 1) * h]);
            if let Some(b) = &bias {
                rows[i * w + h] = b[i];
            }
        }
        let (pred, s) = ridge_rows(vecs, d, &rows, w, &fit, &apply, spread)?;
        for (&i, p) in apply.iter().zip(&pred) {
            emb[i * h..(i + 1) * h].copy_from_slice(&p[..h]);
            if let Some(b) = bias.as_mut() {
                b[i] = p[h];
            }
        }
        let dev = self.params.device();
        emb_var.set(&nn::floats(emb, emb_var.dims(), dev)?)?;
        if let (Some(v), Some(b)) = (bias_var, bias) {
            v.set(&nn::floats(b, v.dims(), dev)?)?;
        }
        Ok((apply.len(), s))
    }

    /// Every row of the item table, `[V + extra, H]`: the id embeddings plus, with text, the
    /// projected text vectors.
    fn item_rows(&self) -> Result<Tensor> {
        match &self.text {
            None => Ok(self.item_emb.clone()),
            Some(t) => {
                let mask = self
                    .id_mask
                    .lock()
                    .map_err(|_| Error::Tensor("poisoned id mask".into()))?
                    .clone();
                let ids = match mask {
                    Some(m) => self.item_emb.broadcast_mul(&m)?,
                    None => self.item_emb.clone(),
                };
                Ok((ids + t.vecs.matmul(&t.proj)?)?)
            }
        }
    }

    /// The trainable parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The network's sizes.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// Hidden states `[B, L, H]` of a padded batch; `rng` turns dropout on.
    pub fn encode(&self, batch: &Padded, mut rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let dev = self.params.device();
        let (b, l) = (batch.lens.len(), batch.l);
        let h = self.cfg.encoder.hidden;
        let ids = nn::indices(&batch.ids, &[b * l], dev)?;
        let mut x = self
            .item_rows()?
            .index_select(&ids, 0)?
            .reshape((b, l, h))?;
        if self.cfg.scale_embeddings {
            x = (x * (h as f64).sqrt())?;
        }
        // Position 0 = most recent item (see the module docs).
        let pos: Vec<u32> = (0..l)
            .map(|j| ((l - 1 - j).min(self.cfg.max_len - 1)) as u32)
            .collect();
        let pos = self
            .pos_emb
            .index_select(&nn::indices(&pos, &[l], dev)?, 0)?;
        x = x.broadcast_add(&pos)?;
        if let Some(times) = &batch.time {
            for (k, table) in &self.time_tables {
                let ids: Vec<u32> = times.iter().map(|t| t[*k]).collect();
                let e = table.index_select(&nn::indices(&ids, &[b * l], dev)?, 0)?;
                x = (x + e.reshape((b, l, h))?)?;
            }
        }
        if let Some(codes) = &batch.context {
            let e = self.context_sum(&self.context_tables, codes, b * l)?;
            x = (x + e.reshape((b, l, h))?)?;
        }
        if let (Some(codes), false) = (&batch.next_context, self.query_context_tables.is_empty()) {
            let e = self.context_sum(&self.query_context_tables, codes, b * l)?;
            x = (x + e.reshape((b, l, h))?)?;
        }
        if let Some(n) = &self.emb_norm {
            x = n.forward(&x)?;
        }
        if let Some(r) = rng.as_deref_mut() {
            x = ops::dropout(&x, self.cfg.encoder.dropout, r)?;
        }
        let mut keep = vec![0f32; b * l];
        for (row, &len) in batch.lens.iter().enumerate() {
            keep[row * l + l - len..(row + 1) * l].fill(1.0);
        }
        let keep = nn::floats(keep, &[b, l, 1], dev)?;
        x = x.broadcast_mul(&keep)?;
        let mask = nn::floats(
            attention_mask(&batch.lens, l, self.cfg.causal),
            &[b, 1, l, l],
            dev,
        )?;
        self.encoder.forward(&x, &mask, &keep, rng)
    }

    /// Catalogue logits `[N, V]` of hidden states `[N, H]` (tied item embeddings, plus the
    /// prediction head when configured).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let items = self.item_table()?;
        match &self.head {
            None => Ok(hidden.matmul(&items.t()?)?),
            Some((dense, norm, bias)) => {
                let z = norm.forward(&dense.forward(hidden)?.gelu_erf()?)?;
                Ok(z.matmul(&items.t()?)?.broadcast_add(bias)?)
            }
        }
    }

    /// The catalogue's rows of the item table, `[V, H]`; with the text skip `[V, H + D]`, the
    /// frozen text vectors side by side with the learned rows (the output states then carry
    /// the weighted history text vector in their last `D` columns, see
    /// [`SeqNet::add_output_columns`]); with the popularity prior one more column of prior values
    /// (matched by the prior's weight in the output states).
    pub fn item_table(&self) -> Result<Tensor> {
        let rows = self.item_rows()?.narrow(0, 0, self.cfg.n_items)?;
        let mut parts = vec![rows];
        if let Some(t) = &self.text {
            if t.skip.is_some() {
                parts.push(t.vecs.narrow(0, 0, self.cfg.n_items)?);
            }
        }
        if let Some((vals, _)) = &self.prior {
            parts.push(vals.clone());
        }
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        Ok(Tensor::cat(&parts, 1)?)
    }

    /// The output states `[N, H]` at flat positions `rows` of `batch`, extended to match the
    /// extra columns of [`SeqNet::item_table`]. With the text skip: extended to `[N, H + D]` by `skip × u`, `u` the L2-normalised recency-weighted mean of
    /// the text vectors of the items up to that position (weights `0.5^(age / 5)`); so that
    /// a logit is the learned score plus `skip` × the similarity of the item's text to the
    /// history's. With the popularity prior, one more column holding the prior's weight.
    /// Unchanged without either.
    pub fn add_output_columns(
        &self,
        hidden: &Tensor,
        batch: &Padded,
        rows: &[u32],
    ) -> Result<Tensor> {
        let hidden = self.add_skip_part(hidden, batch, rows)?;
        match &self.prior {
            Some((_, weight)) => {
                let ones = Tensor::ones((rows.len(), 1), candle_core::DType::F32, hidden.device())?;
                Ok(Tensor::cat(&[&hidden, &ones.broadcast_mul(weight)?], 1)?)
            }
            None => Ok(hidden),
        }
    }

    /// The text-skip part of [`SeqNet::add_output_columns`].
    fn add_skip_part(&self, hidden: &Tensor, batch: &Padded, rows: &[u32]) -> Result<Tensor> {
        let Some(TextPart {
            skip: Some(skip),
            host: table,
            ..
        }) = &self.text
        else {
            return Ok(hidden.clone());
        };
        let d = self.cfg.text_dim;
        let l = batch.l;
        let decay = 0.5f32.powf(1.0 / SKIP_HALF_LIFE);
        let mut u = vec![0f32; rows.len() * d];
        for (n, &r) in rows.iter().enumerate() {
            let (b, j) = (r as usize / l, r as usize % l);
            let out = &mut u[n * d..(n + 1) * d];
            let mut w = 1.0f32;
            // Left-padded: the row's items sit at positions ≤ j, newest at j.
            for q in (l - batch.lens[b]..=j).rev() {
                let item = batch.ids[b * l + q] as usize;
                let v = &table[item * d..(item + 1) * d];
                out.iter_mut().zip(v).for_each(|(o, x)| *o += w * x);
                w *= decay;
            }
            let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                out.iter_mut().for_each(|x| *x /= norm);
            }
        }
        let u = nn::floats(u, &[rows.len(), d], self.params.device())?.broadcast_mul(skip)?;
        Ok(Tensor::cat(&[hidden, &u], 1)?)
    }

    /// Full-catalogue cross-entropy of hidden states `[N, H]` against `targets`, through the
    /// prediction head when configured, with the fused [`ops::catalogue_cross_entropy`].
    pub fn catalogue_loss(&self, hidden: &Tensor, targets: &[u32]) -> Result<Tensor> {
        let table = self.item_table()?;
        match &self.head {
            None => {
                let zero =
                    Tensor::zeros(self.cfg.n_items, candle_core::DType::F32, hidden.device())?;
                ops::catalogue_cross_entropy(hidden, &table, &zero, targets)
            }
            Some((dense, norm, bias)) => {
                let z = norm.forward(&dense.forward(hidden)?.gelu_erf()?)?;
                ops::catalogue_cross_entropy(&z, &table, bias, targets)
            }
        }
    }

    /// Hidden states `[N, H]` at flat positions `rows` of an encoded batch `[B, L, H]`.
    pub fn gather(&self, encoded: &Tensor, rows: &[u32]) -> Result<Tensor> {
        let (b, l, h) = encoded.dims3()?;
        let idx = nn::indices(rows, &[rows.len()], self.params.device())?;
        Ok(encoded.reshape((b * l, h))?.index_select(&idx, 0)?)
    }

    /// Adds the predicted events' time embeddings (`query[n]` for row `n` of `hidden`,
    /// `[N, H]`); unchanged when the model has none.
    pub fn add_query(&self, hidden: &Tensor, query: &[[u32; 3]]) -> Result<Tensor> {
        let mut h = hidden.clone();
        for (k, table) in &self.query_tables {
            let ids: Vec<u32> = query.iter().map(|t| t[*k]).collect();
            let idx = nn::indices(&ids, &[ids.len()], self.params.device())?;
            h = (h + table.index_select(&idx, 0)?)?;
        }
        Ok(h)
    }

    /// Sum over context columns of the embeddings of `codes` (`n × columns`, row-major; a
    /// missing or unseen code reads the "missing" row), `[n, H]`.
    fn context_sum(&self, tables: &[Tensor], codes: &[u32], n: usize) -> Result<Tensor> {
        let k = self.cfg.context.len();
        let dev = self.params.device();
        let mut out: Option<Tensor> = None;
        for (j, (table, &size)) in tables.iter().zip(&self.cfg.context).enumerate() {
            let ids: Vec<u32> = (0..n)
                .map(|p| {
                    let c = codes.get(p * k + j).copied().unwrap_or(seer_core::MISSING);
                    if (c as usize) < size {
                        c
                    } else {
                        size as u32
                    }
                })
                .collect();
            let e = table.index_select(&nn::indices(&ids, &[n], dev)?, 0)?;
            out = Some(match out {
                Some(o) => (o + e)?,
                None => e,
            });
        }
        out.ok_or_else(|| Error::Tensor("context embeddings of a model without context".into()))
    }

    /// Whether the model embeds the context of the next event at each position.
    pub fn has_next_context(&self) -> bool {
        !self.query_context_tables.is_empty()
    }

    /// Context columns the model embeds (0 without context).
    pub fn n_context(&self) -> usize {
        self.cfg.context.len()
    }

    /// Whether the model adds the predicted event's time to its output states.
    pub fn has_query_time(&self) -> bool {
        !self.query_tables.is_empty()
    }

    /// Scores of every item for each sequence of `batch`, read at its last position, into
    /// `out` (`B × V`); `query` gives the time of the predicted event per sequence.
    pub fn score_last(
        &self,
        batch: &Padded,
        query: Option<&[[u32; 3]]>,
        out: &mut [f32],
    ) -> Result<()> {
        let l = batch.l;
        let rows: Vec<u32> = (0..batch.lens.len())
            .map(|b| (b * l + l - 1) as u32)
            .collect();
        let enc = self.encode(batch, None)?;
        let mut hidden = self.gather(&enc, &rows)?;
        if let Some(q) = query {
            hidden = self.add_query(&hidden, q)?;
        }
        let hidden = self.add_output_columns(&hidden, batch, &rows)?;

        let logits = self.logits(&hidden)?;
        let v = logits.flatten_all()?.to_vec1::<f32>()?;
        out.copy_from_slice(&v);
        Ok(())
    }

    /// Writes the weights and the model's config into `dir` (see [`crate::io`]).
    pub(crate) fn save(&self, dir: &Path, kind: &str, config: &crate::ModelConfig) -> Result<()> {
        let snap = self.params.snapshot()?;
        let mut tensors: Vec<(&str, io::Tensor<'_>)> = snap
            .iter()
            .map(|(n, s, d)| (n.as_str(), io::Tensor::f32(s, d)))
            .collect();
        let text = match &self.text {
            Some(t) => Some((
                t.vecs.dims().to_vec(),
                t.vecs.flatten_all()?.to_vec1::<f32>()?,
            )),
            None => None,
        };
        if let Some((shape, v)) = &text {
            tensors.push(("text_vecs", io::Tensor::f32(shape, v)));
        }
        let prior = match &self.prior {
            Some((vals, _)) => Some((vals.dims().to_vec(), vals.flatten_all()?.to_vec1::<f32>()?)),
            None => None,
        };
        if let Some((shape, v)) = &prior {
            tensors.push(("prior_vals", io::Tensor::f32(shape, v)));
        }
        io::save(dir, kind, config, &tensors)
    }

    /// Loads the weights saved by [`SeqNet::save`] into a network built for `cfg`; the
    /// catalogue size is read from the item table.
    pub(crate) fn load(file: &Loaded, mut cfg: NetConfig) -> Result<SeqNet> {
        let (shape, _) = file.f32("item_emb", None)?;
        let rows = shape.first().copied().unwrap_or(0);
        if shape.len() != 2 || rows < cfg.extra_tokens {
            return Err(file.bad(format!("tensor \"item_emb\": bad shape {shape:?}")));
        }
        cfg.n_items = rows - cfg.extra_tokens;
        // Context columns and their sizes are read from the tables.
        cfg.context.clear();
        while file.has(&format!("context.{}", cfg.context.len())) {
            let (shape, _) = file.f32(&format!("context.{}", cfg.context.len()), None)?;
            cfg.context
                .push(shape.first().copied().unwrap_or(1).saturating_sub(1));
        }
        cfg.query_context &= !cfg.context.is_empty();
        let text = if file.has("text_vecs") {
            let (shape, v) = file.f32("text_vecs", None)?;
            if shape.len() != 2 || shape[0] != rows {
                return Err(file.bad(format!("tensor \"text_vecs\": bad shape {shape:?}")));
            }
            cfg.text_dim = shape[1];
            cfg.text_skip = file.has("text.skip");
            Some(v)
        } else {
            cfg.text_dim = 0;
            cfg.text_skip = false;
            None
        };
        cfg.prior = file.has("prior.weight");
        let prior = if cfg.prior {
            let (shape, v) = file.f32("prior_vals", None)?;
            if shape != [rows - cfg.extra_tokens, 1] {
                return Err(file.bad(format!("tensor \"prior_vals\": bad shape {shape:?}")));
            }
            Some(v)
        } else {
            None
        };
        let mut net = SeqNet::new(cfg, &mut ChaCha8Rng::seed_from_u64(0), &Device::Cpu)?;
        if let Some(v) = text {
            net.set_text_tensor(v)?;
        }
        if let Some(v) = prior {
            net.set_prior_values(v)?;
        }
        let mut values = Vec::new();
        for (name, _) in net.params.vars() {
            values.push((name.clone(), file.f32(name, None)?));
        }
        net.params
            .restore(|name| {
                values
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, (s, d))| (s.as_slice(), d.as_slice()))
            })
            .map_err(|e| file.bad(e.to_string()))?;
        Ok(net)
    }

    /// This network for a new catalogue of `map.len()` items, for continual updates: new item
    /// `j` keeps the embedding (and output bias) of old item `map[j]`; an item without one
    /// (never seen by the model, or seen only after it was trained) starts at the mean
    /// embedding of the known items that directly precede it in `seqs` (each user's events
    /// in time order, new indices), the items it follows in practice, or at the mean of
    /// all known items when nothing known precedes it. Everything else is copied unchanged.
    ///
    /// A text-enhanced network needs the new catalogue's frozen text vectors in `text`
    /// (`[map.len(), text_dim]`, see [`SeqNet::set_text_vectors`]). With every entry of `map`
    /// `None` this is a transfer to another catalogue: id embeddings start at zero, so items
    /// are known by their text alone until training says more.
    pub fn with_catalogue(
        &self,
        map: &[Option<u32>],
        seqs: &seer_data::Csr,
        text: Option<&[f32]>,
    ) -> Result<SeqNet> {
        match (&self.text, text) {
            (Some(_), None) => {
                return Err(Error::config(
                    "text",
                    "carrying a text-enhanced model to a new catalogue needs the new items' \
                     text vectors (continual updates of text models are not supported yet; \
                     refit it from scratch)",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "text",
                    "text vectors given for a model without a text part",
                ))
            }
            _ => {}
        }
        let old_n = self.cfg.n_items;
        let h = self.cfg.encoder.hidden;
        if map.len() != seqs.n_cols {
            return Err(Error::Tensor(format!(
                "item map has {} entries for a catalogue of {}",
                map.len(),
                seqs.n_cols
            )));
        }
        if let Some(&bad) = map.iter().flatten().find(|&&o| o as usize >= old_n) {
            return Err(Error::Tensor(format!(
                "item map points at old item {bad}, but the model has {old_n} items"
            )));
        }
        let new_n = map.len();
        let snap = self.params.snapshot()?;
        let find = |name: &str| {
            snap.iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, d)| d.as_slice())
                .ok_or_else(|| Error::Tensor(format!("no parameter {name:?}")))
        };
        let old_emb = find("item_emb")?;
        let known: Vec<u32> = map.iter().flatten().copied().collect();
        let mean_of = |rows: &mut dyn Iterator<Item = u32>| -> Option<Vec<f32>> {
            let mut acc = vec![0f32; h];
            let mut n = 0usize;
            for r in rows {
                let src = &old_emb[r as usize * h..(r as usize + 1) * h];
                acc.iter_mut().zip(src).for_each(|(a, b)| *a += b);
                n += 1;
            }
            (n > 0).then(|| acc.iter().map(|a| a / n as f32).collect())
        };
        let overall = mean_of(&mut known.iter().copied()).unwrap_or_else(|| vec![0.0; h]);
        // Known predecessors (old indices) of every item the model does not know.
        let mut preceding: Vec<Vec<u32>> = vec![Vec::new(); new_n];
        for u in 0..seqs.n_rows as u32 {
            for w in seqs.row(u).windows(2) {
                let (a, b) = (w[0] as usize, w[1] as usize);
                if b < new_n && map[b].is_none() {
                    if let Some(Some(old)) = map.get(a) {
                        preceding[b].push(*old);
                    }
                }
            }
        }
        let mut emb = Vec::with_capacity((new_n + self.cfg.extra_tokens) * h);
        for (j, m) in map.iter().enumerate() {
            match m {
                Some(o) => emb.extend_from_slice(&old_emb[*o as usize * h..(*o as usize + 1) * h]),
                None => emb.extend(
                    mean_of(&mut preceding[j].iter().copied()).unwrap_or_else(|| overall.clone()),
                ),
            }
        }
        // Padding / mask rows follow the catalogue.
        emb.extend_from_slice(&old_emb[old_n * h..]);
        let bias = match self.head {
            Some(_) => {
                let old = find("head.bias")?;
                let mean = if known.is_empty() {
                    0.0
                } else {
                    known.iter().map(|&o| old[o as usize]).sum::<f32>() / known.len() as f32
                };
                Some(
                    map.iter()
                        .map(|m| m.map_or(mean, |o| old[o as usize]))
                        .collect::<Vec<f32>>(),
                )
            }
            None => None,
        };
        let cfg = NetConfig {
            n_items: new_n,
            ..self.cfg.clone()
        };
        let mut net = SeqNet::new(cfg, &mut ChaCha8Rng::seed_from_u64(0), self.params.device())?;
        if let Some(v) = text {
            net.set_text_vectors(v)?;
        }
        // The prior counts what the carried network will be trained on and read.
        net.set_prior_counts(seqs)?;
        let emb_shape = [new_n + self.cfg.extra_tokens, h];
        let bias_shape = [new_n];
        net.params.restore(|name| match name {
            "item_emb" => Some((&emb_shape[..], emb.as_slice())),
            "head.bias" => bias.as_deref().map(|b| (&bias_shape[..], b)),
            _ => snap
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, s, d)| (s.as_slice(), d.as_slice())),
        })?;
        Ok(net)
    }
}

/// Standardised `ln(1 + count)` (zero mean, unit variance over the catalogue; all zero when
/// every count is equal).
fn prior_z(counts: &[u32]) -> Vec<f32> {
    let n = counts.len().max(1) as f64;
    let logs: Vec<f64> = counts.iter().map(|&c| f64::from(c).ln_1p()).collect();
    let mean = logs.iter().sum::<f64>() / n;
    let var = logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    logs.iter()
        .map(|x| {
            if sd > 0.0 {
                ((x - mean) / sd) as f32
            } else {
                0.0
            }
        })
        .collect()
}

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

/// What a sequence model reads for one user when scoring: the known history and, when the
/// model uses them, its time ids and context codes, plus the time and context of the request.
#[derive(Debug, Clone, Default)]
pub struct SeqInput {
    /// Items, oldest first (items the model does not know dropped).
    pub items: Vec<u32>,
    /// Time ids per item (empty when the model uses no time).
    pub times: Vec<[u32; 3]>,
    /// Time ids of the request (`now` against the last event).
    pub query: [u32; 3],
    /// Context codes per item, `columns` each (empty when the model uses no context).
    pub context: Vec<u32>,
    /// Context codes of the request (`columns`; missing when not given).
    pub query_context: Vec<u32>,
}

impl SeqInput {
    /// The input of `user` for a model over `n_items` items, with time ids when `time` is
    /// set (unknown where the context has no timestamps) and `columns` context codes per
    /// event (missing where the context has none).
    pub fn of(user: &UserContext<'_>, n_items: usize, time: bool, columns: usize) -> SeqInput {
        let mut items = Vec::with_capacity(user.history.len());
        let mut ts = Vec::with_capacity(user.history.len());
        let mut context = Vec::new();
        let per_event = user
            .context
            .filter(|c| !user.history.is_empty() && c.len() == user.history.len() * columns);
        for (j, &i) in user.history.iter().enumerate() {
            if (i as usize) < n_items {
                items.push(i);
                ts.push(user.timestamps.and_then(|t| t.get(j).copied()));
                if columns > 0 {
                    match per_event {
                        Some(c) => context.extend_from_slice(&c[j * columns..(j + 1) * columns]),
                        None => context.extend(std::iter::repeat_n(seer_core::MISSING, columns)),
                    }
                }
            }
        }
        let query_context = match user.now_context {
            Some(c) if c.len() == columns => c.to_vec(),
            _ => vec![seer_core::MISSING; columns],
        };
        let (times, query) = if time {
            let ids = ts
                .iter()
                .enumerate()
                .map(|(j, &t)| time_ids(j.checked_sub(1).and_then(|p| ts[p]), t))
                .collect();
            (ids, time_ids(ts.last().copied().flatten(), user.now))
        } else {
            (Vec::new(), UNKNOWN_TIME)
        };
        SeqInput {
            items,
            times,
            query,
            context,
            query_context,
        }
    }
}

/// Scores each input (history already cut to what the model reads, oldest first) into its
/// row of `out` (`inputs.len() × V`), with time embeddings when `time`, the request's time
/// when `query` (SASRec) and context embeddings when the network has them. Inputs are grouped
/// by length into batches of 64 so that each batch is padded only to its own longest member:
/// a validation pass over Beauty's 22 363 users then encodes ~0.2 M positions instead of
/// 1.1 M.
pub fn score_histories(
    net: &SeqNet,
    inputs: &[SeqInput],
    time: bool,
    query: bool,
    max_len: usize,
    out: &mut [f32],
) -> Result<()> {
    let n = net.config().n_items;
    let pad = n as u32;
    let k = net.n_context();
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| inputs[i].items.len());
    let mut buf = Vec::new();
    for group in order.chunks(64) {
        let refs: Vec<&[u32]> = group.iter().map(|&i| inputs[i].items.as_slice()).collect();
        let mut padded = Padded::new(&refs, pad, max_len);
        if time {
            let tr: Vec<&[[u32; 3]]> = group.iter().map(|&i| inputs[i].times.as_slice()).collect();
            padded = padded.with_time(&tr);
        }
        if k > 0 {
            let cr: Vec<&[u32]> = group
                .iter()
                .map(|&i| inputs[i].context.as_slice())
                .collect();
            padded = padded.with_context(&cr, k);
        }
        if k > 0 && net.has_next_context() {
            // Each event's next one is known; after the last comes the request.
            let next: Vec<Vec<u32>> = group
                .iter()
                .map(|&i| {
                    let x = &inputs[i];
                    let mut c = x.context.get(k..).unwrap_or(&[]).to_vec();
                    c.extend_from_slice(&x.query_context);
                    c
                })
                .collect();
            let refs: Vec<&[u32]> = next.iter().map(Vec::as_slice).collect();
            padded = padded.with_next_context(&refs, k);
        }
        let q: Option<Vec<[u32; 3]>> =
            (time && query).then(|| group.iter().map(|&i| inputs[i].query).collect());
        buf.resize(group.len() * n, 0.0);
        net.score_last(&padded, q.as_deref(), &mut buf)?;
        for (&i, row) in group.iter().zip(buf.chunks_exact(n.max(1))) {
            out[i * n..(i + 1) * n].copy_from_slice(row);
        }
    }
    Ok(())
}

/// The users a sequence model trains on: those with at least `min_len` events (`lens[u]`),
/// restricted to `only` when given (ids outside the matrix are ignored).
pub fn training_users(lens: &[usize], min_len: usize, only: Option<&[u32]>) -> Vec<u32> {
    let ok = |u: u32| lens.get(u as usize).is_some_and(|&l| l >= min_len);
    match only {
        Some(list) => {
            let mut v: Vec<u32> = list.iter().copied().filter(|&u| ok(u)).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        None => (0..lens.len() as u32).filter(|&u| ok(u)).collect(),
    }
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
    let mut log = TrainLog::default();
    let mut best: Option<(f64, nn::Snapshot)> = None;
    let mut bad_rounds = 0usize;
    let mut start_epoch = 1;
    if let Some(dir) = checkpoint {
        if let Some(state) = resume::load(dir, params, &mut opt)? {
            log = state.log;
            bad_rounds = state.bad_rounds;
            best = state.best;
            start_epoch = if state.stopped {
                cfg.epochs + 1
            } else {
                log.epochs.len() + 1
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
                    log.best_valid
                        .map(|v| format!(" · best valid {v:.4}"))
                        .unwrap_or_default()
                ));
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        let mut entry = EpochLog {
            epoch,
            loss: total / seen.max(1) as f64,
            seconds,
            seqs_per_sec: seen as f64 / seconds.max(1e-9),
            valid: None,
        };
        let mut stop = false;
        match validate {
            Some(f) if epoch % cfg.eval_every.max(1) == 0 || epoch == cfg.epochs => {
                let v = f()?;
                entry.valid = Some(v);
                if best.as_ref().is_none_or(|(b, _)| v > *b) {
                    best = Some((v, params.snapshot()?));
                    log.best_epoch = epoch;
                    log.best_valid = Some(v);
                    bad_rounds = 0;
                } else {
                    bad_rounds += 1;
                    stop = cfg.patience > 0 && bad_rounds >= cfg.patience;
                }
            }
            Some(_) => {}
            None => log.best_epoch = epoch,
        }
        tracing::info!(
            epoch,
            loss = entry.loss,
            seconds,
            valid = entry.valid,
            "epoch done"
        );
        log.epochs.push(entry);
        if let Some(dir) = checkpoint {
            resume::save(dir, stop, params, &opt, &log, bad_rounds, best.as_ref())?;
        }
        if stop {
            break;
        }
    }
    pb.finish_and_clear();
    if let Some((_, snap)) = &best {
        params.restore(|name| {
            snap.iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, s, d)| (s.as_slice(), d.as_slice()))
        })?;
    }
    Ok(log)
}

/// Resumable training state: weights, optimiser moments, the log so far and the best
/// weights, in one safetensors file written atomically after every epoch.
mod resume {
    use super::*;

    type Shaped = (Vec<usize>, Vec<f32>);

    pub(super) struct State {
        pub stopped: bool,
        pub log: TrainLog,
        pub bad_rounds: usize,
        pub best: Option<(f64, nn::Snapshot)>,
    }

    #[derive(Serialize, Deserialize)]
    struct Header {
        /// Training ended (early stop): a rerun restores the result instead of training on.
        #[serde(default)]
        stopped: bool,
        log: TrainLog,
        bad_rounds: usize,
        best: Option<f64>,
        steps: usize,
    }

    pub(super) fn save(
        dir: &Path,
        stopped: bool,
        params: &Params,
        opt: &AdamW,
        log: &TrainLog,
        bad_rounds: usize,
        best: Option<&(f64, nn::Snapshot)>,
    ) -> Result<()> {
        let (steps, adam) = opt.state(params)?;
        let snap = params.snapshot()?;
        let mut named: Vec<(String, &[usize], &[f32])> = Vec::new();
        for (n, s, d) in &snap {
            named.push((format!("param.{n}"), s, d));
        }
        for (n, s, d) in &adam {
            named.push((n.clone(), s, d));
        }
        if let Some((_, b)) = best {
            for (n, s, d) in b {
                named.push((format!("best.{n}"), s, d));
            }
        }
        let tensors: Vec<(&str, io::Tensor<'_>)> = named
            .iter()
            .map(|(n, s, d)| (n.as_str(), io::Tensor::f32(s, d)))
            .collect();
        let header = Header {
            stopped,
            log: log.clone(),
            bad_rounds,
            best: best.map(|(v, _)| *v),
            steps,
        };
        io::save(dir, "training-state", &header, &tensors)
    }

    pub(super) fn load(dir: &Path, params: &Params, opt: &mut AdamW) -> Result<Option<State>> {
        if !dir.join(io::WEIGHTS_FILE).exists() {
            return Ok(None);
        }
        let file = Loaded::read(dir)?;
        let header: Header = serde_json::from_str(file.meta("config")?)
            .map_err(|e| file.bad(format!("training state: {e}")))?;
        let mut cache: Vec<(String, Shaped)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (n, _) in params.vars() {
            names.push(format!("param.{n}"));
            names.push(format!("adam.m.{n}"));
            names.push(format!("adam.v.{n}"));
            if header.best.is_some() {
                names.push(format!("best.{n}"));
            }
        }
        for n in names {
            let t = file.f32(&n, None)?;
            cache.push((n, t));
        }
        let find = |key: &str| {
            cache
                .iter()
                .find(|(n, _)| n == key)
                .map(|(_, (s, d))| (s.as_slice(), d.as_slice()))
        };
        params.restore(|n| find(&format!("param.{n}")))?;
        opt.load_state(params, header.steps, |k| find(k))?;
        let best = match header.best {
            Some(v) => {
                let mut snap = Vec::new();
                for (n, var) in params.vars() {
                    let (_, d) = find(&format!("best.{n}"))
                        .ok_or_else(|| file.bad(format!("no best.{n}")))?;
                    snap.push((n.clone(), var.dims().to_vec(), d.to_vec()));
                }
                Some((v, snap))
            }
            None => None,
        };
        Ok(Some(State {
            stopped: header.stopped,
            log: header.log,
            bad_rounds: header.bad_rounds,
            best,
        }))
    }
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
