//! Fine-tuning the sentence encoder on behaviour: contrastive training of its top blocks so
//! that a user's history vector lands near the vector of the item they consumed next.
//!
//! Follows the in-batch-negatives recipe of Sentence-BERT's `MultipleNegativesRankingLoss`
//! (Henderson et al. 2017, "Efficient Natural Language Response Suggestion"; Reimers &
//! Gurevych 2019) and the text-side adaptation of UniSRec / Recformer: for a batch of
//! (history, next item) pairs, the history's vector is scored against every next item of the
//! batch by cosine similarity over a temperature, and cross-entropy pushes each history
//! towards its own next item.
//!
//! **Deviations.**
//! - The "user-history text" is read the way the `text` recommender reads a user: the
//!   recency-weighted mean (half-life `half_life` events) of the vectors of the `history`
//!   items before the target, each item text encoded by the encoder being trained. Training
//!   then optimises exactly the score the recommender ranks by, and every forward pass is over
//!   item texts only, whose frozen lower-block states are computed once.
//! - Only the top `layers` blocks train (the embeddings and lower blocks are frozen, their
//!   token states cached); each epoch draws one random target position per training user, and
//!   at most `max_users` users (a seeded sample) take part.
//! - Pairs whose target item occurs twice in a batch do not count each other as negatives.
//!
//! The trained blocks are written back into a copy of the model directory (same tokenizer
//! and configuration, new `model.safetensors`), which [`TextEncoder::load`] reads like any
//! other encoder: the fine-tuned checkpoint.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::SafeTensors;

use super::{text_err, TextEncoder};
use crate::error::{Error, Result};
use crate::train::TrainData;
use crate::train::{self, LoopConfig, TrainLog};
use seer_nn::optim::AdamWConfig;
use seer_nn::transformer::{Encoder, EncoderConfig};
use seer_nn::{self as nn, ops, Params};

/// Fine-tuning settings (the `text` model's `finetune_*` keys).
#[derive(Debug, Clone, PartialEq)]
pub struct FineTuneConfig {
    /// Top blocks trained.
    pub layers: usize,
    /// Passes over the (sampled) training users.
    pub epochs: usize,
    /// Peak AdamW learning rate.
    pub lr: f64,
    /// Pairs per batch (each pair's target is a negative for the others).
    pub batch_size: usize,
    /// Softmax temperature of the cosine similarities.
    pub temperature: f32,
    /// History items read before each target.
    pub history: usize,
    /// Half-life of the history's recency weights, in events.
    pub half_life: f32,
    /// Users taking part (a seeded sample when there are more).
    pub max_users: usize,
    /// Dropout inside the trained blocks (BERT's 0.1).
    pub dropout: f32,
    /// Seed of sampling, batching and dropout.
    pub seed: u64,
}

/// The encoder's top blocks as trainable candle parameters over cached lower-block states.
pub struct TopBlocks {
    params: Params,
    encoder: Encoder,
    /// Index of the first trained block.
    first: usize,
    /// Number of trained blocks.
    layers: usize,
    hidden: usize,
}

/// Weight of each block tensor: `(seer name, BERT name, transposed)`.
const NAMES: [(&str, &str, bool); 16] = [
    ("attn.q.weight", "attention.self.query.weight", true),
    ("attn.q.bias", "attention.self.query.bias", false),
    ("attn.k.weight", "attention.self.key.weight", true),
    ("attn.k.bias", "attention.self.key.bias", false),
    ("attn.v.weight", "attention.self.value.weight", true),
    ("attn.v.bias", "attention.self.value.bias", false),
    ("attn.o.weight", "attention.output.dense.weight", true),
    ("attn.o.bias", "attention.output.dense.bias", false),
    ("norm1.weight", "attention.output.LayerNorm.weight", false),
    ("norm1.bias", "attention.output.LayerNorm.bias", false),
    ("ff1.weight", "intermediate.dense.weight", true),
    ("ff1.bias", "intermediate.dense.bias", false),
    ("ff2.weight", "output.dense.weight", true),
    ("ff2.bias", "output.dense.bias", false),
    ("norm2.weight", "output.LayerNorm.weight", false),
    ("norm2.bias", "output.LayerNorm.bias", false),
];

impl TopBlocks {
    /// The top `layers` blocks of `enc`, initialised to its weights, with `dropout` in
    /// training.
    pub fn new(enc: &TextEncoder, layers: usize, dropout: f32) -> Result<TopBlocks> {
        let bert = &enc.bert;
        let n = bert.layers.len();
        if layers == 0 || layers > n {
            return Err(Error::config(
                "text.finetune_layers",
                format!("{layers} not in 1..={n} (the encoder's blocks)"),
            ));
        }
        let h = bert.hidden;
        let cfg = EncoderConfig {
            hidden: h,
            layers,
            heads: bert.heads,
            inner: bert.inner,
            dropout,
            attn_dropout: dropout,
            norm_first: false,
            eps: bert.eps as f64,
        };
        let mut params = Params::new(Device::Cpu);
        let encoder = Encoder::new(
            &mut params,
            &mut ChaCha8Rng::seed_from_u64(0),
            "encoder",
            &cfg,
        )?;
        let first = n - layers;
        // Our blocks store weights `[in, out]` like the inference path; split its fused
        // query/key/value matrix `[H, 3H]` into three.
        let mut values: HashMap<String, (Vec<usize>, Vec<f32>)> = HashMap::new();
        for j in 0..layers {
            let l = &bert.layers[first + j];
            let col = |k: usize| -> Vec<f32> {
                (0..h)
                    .flat_map(|r| l.wqkv[r * 3 * h + k * h..r * 3 * h + (k + 1) * h].to_vec())
                    .collect()
            };
            let mut put = |name: &str, shape: Vec<usize>, v: Vec<f32>| {
                values.insert(format!("encoder.{j}.{name}"), (shape, v));
            };
            for (k, q) in ["q", "k", "v"].iter().enumerate() {
                put(&format!("attn.{q}.weight"), vec![h, h], col(k));
                put(
                    &format!("attn.{q}.bias"),
                    vec![h],
                    l.bqkv[k * h..(k + 1) * h].to_vec(),
                );
            }
            put("attn.o.weight", vec![h, h], l.wo.clone());
            put("attn.o.bias", vec![h], l.bo.clone());
            put("norm1.weight", vec![h], l.norm1.gamma.clone());
            put("norm1.bias", vec![h], l.norm1.beta.clone());
            put("ff1.weight", vec![h, bert.inner], l.w1.clone());
            put("ff1.bias", vec![bert.inner], l.b1.clone());
            put("ff2.weight", vec![bert.inner, h], l.w2.clone());
            put("ff2.bias", vec![h], l.b2.clone());
            put("norm2.weight", vec![h], l.norm2.gamma.clone());
            put("norm2.bias", vec![h], l.norm2.beta.clone());
        }
        params.restore(|name| values.get(name).map(|(s, v)| (s.as_slice(), v.as_slice())))?;
        Ok(TopBlocks {
            params,
            encoder,
            first,
            layers,
            hidden: h,
        })
    }

    /// Index of the first trained block: the cached states come from the blocks below it.
    pub fn first(&self) -> usize {
        self.first
    }

    /// The trainable parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Mean-pooled, L2-normalised vectors `[N, H]` of texts given by their lower-block token
    /// states (`[len, H]` row-major each, len ≥ 1). Dropout is on when `rng` is given.
    pub fn pooled(&self, states: &[&[f32]], rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let h = self.hidden;
        let n = states.len();
        let lens: Vec<usize> = states.iter().map(|s| (s.len() / h).max(1)).collect();
        let l = lens.iter().copied().max().unwrap_or(1);
        // Right-padded input, a key mask hiding the padding, and the real-token indicator.
        let mut x = vec![0f32; n * l * h];
        let mut mask = vec![0f32; n * l * l];
        let mut keep = vec![0f32; n * l];
        for (b, s) in states.iter().enumerate() {
            x[b * l * h..b * l * h + s.len()].copy_from_slice(s);
            for q in 0..l {
                for k in lens[b]..l {
                    mask[(b * l + q) * l + k] = -1e9;
                }
            }
            keep[b * l..b * l + lens[b]]
                .iter_mut()
                .for_each(|v| *v = 1.0);
        }
        let dev = Device::Cpu;
        let x = nn::floats(x, &[n, l, h], &dev)?;
        let mask = nn::floats(mask, &[n, 1, l, l], &dev)?;
        let keep = nn::floats(keep, &[n, l, 1], &dev)?;
        let y = self.encoder.forward(&x, &mask, &keep, rng)?; // padded rows zeroed
        let inv: Vec<f32> = lens.iter().map(|&k| 1.0 / k as f32).collect();
        let mean = y.sum(1)?.broadcast_mul(&nn::floats(inv, &[n, 1], &dev)?)?;
        Ok(nn::unit_rows(&mean)?)
    }

    /// [`Self::pooled`] without dropout or gradients, in chunks, as plain vectors.
    pub fn vectors(&self, states: &[&[f32]]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(states.len() * self.hidden);
        let mut order: Vec<usize> = (0..states.len()).collect();
        order.sort_by_key(|&i| states[i].len());
        let mut by_pos = vec![0usize; states.len()];
        let mut sorted = Vec::with_capacity(states.len() * self.hidden);
        for chunk in order.chunks(256) {
            let s: Vec<&[f32]> = chunk.iter().map(|&i| states[i]).collect();
            let v = self
                .pooled(&s, None)?
                .detach()
                .flatten_all()?
                .to_vec1::<f32>()?;
            sorted.extend(v);
        }
        for (p, &i) in order.iter().enumerate() {
            by_pos[i] = p;
        }
        for &p in &by_pos {
            out.extend_from_slice(&sorted[p * self.hidden..(p + 1) * self.hidden]);
        }
        Ok(out)
    }

    /// Writes `enc`'s model directory with these blocks in place of its top ones into `out`:
    /// every file of the sentence-transformers layout copied, `model.safetensors` rewritten.
    pub fn save(&self, enc: &TextEncoder, out: &Path) -> Result<()> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(out).map_err(io_err(out))?;
        let src = enc.dir();
        for name in [
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.txt",
            "sentence_bert_config.json",
            "modules.json",
            "config_sentence_transformers.json",
            "1_Pooling/config.json",
        ] {
            let from = src.join(name);
            if from.exists() {
                let to = out.join(name);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                std::fs::copy(&from, &to).map_err(io_err(&to))?;
            }
        }
        let w_path = src.join("model.safetensors");
        let raw = std::fs::read(&w_path).map_err(io_err(&w_path))?;
        let st = SafeTensors::deserialize(&raw).map_err(|e| text_err(&w_path, e.to_string()))?;
        let prefix = if st.names().iter().any(|n| n.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        let snap = self.params.snapshot()?;
        let mut replaced: HashMap<String, Vec<u8>> = HashMap::new();
        for j in 0..self.layers {
            for (ours, theirs, transposed) in NAMES {
                let name = format!("encoder.{j}.{ours}");
                let (_, shape, data) = snap
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .ok_or_else(|| Error::Tensor(format!("no parameter {name}")))?;
                let v = if transposed {
                    super::transpose(data, shape[0], shape[1])
                } else {
                    data.clone()
                };
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                let full = format!("{prefix}encoder.layer.{}.{theirs}", self.first + j);
                // Old checkpoints name LayerNorm parameters gamma/beta.
                let full = if st.tensor(&full).is_err() {
                    full.replace("LayerNorm.weight", "LayerNorm.gamma")
                        .replace("LayerNorm.bias", "LayerNorm.beta")
                } else {
                    full
                };
                replaced.insert(full, bytes);
            }
        }
        let mut views = Vec::new();
        for (name, t) in st.tensors() {
            let data = replaced
                .get(&name)
                .map(|b| b.as_slice())
                .unwrap_or_else(|| t.data());
            let view = safetensors::tensor::TensorView::new(t.dtype(), t.shape().to_vec(), data)
                .map_err(|e| text_err(&w_path, e.to_string()))?;
            views.push((name, view));
        }
        let out_w = out.join("model.safetensors");
        safetensors::serialize_to_file(views, None, &out_w)
            .map_err(|e| text_err(&out_w, e.to_string()))?;
        Ok(())
    }
}

/// Fine-tunes the top blocks of `enc` on `train`'s sequences (see the module docs) and
/// writes the result to `out`. Returns the training log.
pub fn fine_tune(
    enc: &TextEncoder,
    train: &TrainData,
    cfg: &FineTuneConfig,
    out: &Path,
    pb: &ProgressBar,
) -> Result<TrainLog> {
    if cfg.batch_size < 2 {
        return Err(Error::config(
            "text.finetune_batch",
            "needs at least 2 pairs (the other pairs are the negatives)",
        ));
    }
    if !(cfg.temperature.is_finite() && cfg.temperature > 0.0) {
        return Err(Error::config(
            "text.finetune_temperature",
            "must be positive",
        ));
    }
    let top = TopBlocks::new(enc, cfg.layers, cfg.dropout)?;
    let has_text: Vec<bool> = train
        .item_text
        .iter()
        .map(|t| !t.trim().is_empty())
        .collect();
    if !has_text.iter().any(|&t| t) {
        return Err(Error::config(
            "text.finetune_epochs",
            "the dataset has no item text to fine-tune on",
        ));
    }
    // Frozen lower-block states of every item with text (empty for the others).
    let present: Vec<usize> = (0..train.n_items).filter(|&i| has_text[i]).collect();
    let texts: Vec<&str> = present
        .iter()
        .map(|&i| train.item_text[i].as_str())
        .collect();
    let ids = enc.tokenize(&texts)?;
    pb.set_message("fine-tune: lower blocks");
    let mut states = vec![Vec::new(); train.n_items];
    for (s, &i) in enc
        .token_states(&ids, top.first())
        .into_iter()
        .zip(&present)
    {
        states[i] = s;
    }
    // Training users: at least one text item before a text item.
    let m = &train.matrix;
    let seqs: Vec<Vec<u32>> = (0..m.n_rows as u32)
        .map(|u| {
            m.row(u)
                .iter()
                .copied()
                .filter(|&i| has_text[i as usize])
                .collect()
        })
        .collect();
    let lens: Vec<usize> = seqs.iter().map(Vec::len).collect();
    let mut users: Vec<u32> = (0..m.n_rows as u32)
        .filter(|&u| lens[u as usize] >= 2)
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    if users.len() > cfg.max_users {
        rand::seq::SliceRandom::shuffle(&mut users[..], &mut rng);
        users.truncate(cfg.max_users);
        users.sort_unstable();
    }
    if users.is_empty() {
        return Err(Error::config(
            "text.finetune_epochs",
            "no user has two training events on items with text",
        ));
    }
    let loop_cfg = LoopConfig {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        adam: AdamWConfig {
            lr: cfg.lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.01,
            warmup_steps: (users.len() / cfg.batch_size).max(1) / 10,
            decay_steps: 0,
            clip_norm: 1.0,
        },
        decay_epochs: 0,
        patience: 0,
        eval_every: 1,
        seed: cfg.seed,
    };
    let step = |batch: &[u32], rng: &mut ChaCha8Rng| -> Result<Tensor> {
        pair_loss(&top, &states, &seqs, batch, cfg, rng)
    };
    pb.set_message("fine-tune");
    let log = train::train_loop(&loop_cfg, top.params(), &users, &lens, step, None, None, pb)?;
    top.save(enc, out)?;
    Ok(log)
}

/// The in-batch contrastive loss of one batch of users (one random target each).
fn pair_loss(
    top: &TopBlocks,
    states: &[Vec<f32>],
    seqs: &[Vec<u32>],
    batch: &[u32],
    cfg: &FineTuneConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Tensor> {
    // Each pair: the target item and the (item, weight) of its history, newest weight 1.
    let mut targets = Vec::with_capacity(batch.len());
    let mut histories = Vec::with_capacity(batch.len());
    for &u in batch {
        let s = &seqs[u as usize];
        let t = rng.random_range(1..s.len());
        let from = t.saturating_sub(cfg.history.max(1));
        let hist: Vec<(u32, f32)> = s[from..t]
            .iter()
            .rev()
            .enumerate()
            .map(|(age, &i)| (i, 0.5f32.powf(age as f32 / cfg.half_life)))
            .collect();
        targets.push(s[t]);
        histories.push(hist);
    }
    // Every distinct item of the batch is encoded once.
    let mut slot: HashMap<u32, usize> = HashMap::new();
    let mut items = Vec::new();
    for &i in targets
        .iter()
        .chain(histories.iter().flatten().map(|(i, _)| i))
    {
        slot.entry(i).or_insert_with(|| {
            items.push(i);
            items.len() - 1
        });
    }
    let refs: Vec<&[f32]> = items
        .iter()
        .map(|&i| states[i as usize].as_slice())
        .collect();
    let v = top.pooled(&refs, Some(rng))?; // [U, H]
    let (b, u) = (batch.len(), items.len());
    let mut w = vec![0f32; b * u];
    for (r, hist) in histories.iter().enumerate() {
        for &(i, wt) in hist {
            w[r * u + slot[&i]] += wt;
        }
    }
    let dev = v.device().clone();
    let q = nn::floats(w, &[b, u], &dev)?.matmul(&v)?;
    let q = nn::unit_rows(&q)?;
    let tslots: Vec<u32> = targets.iter().map(|i| slot[i] as u32).collect();
    let p = v.index_select(&nn::indices(&tslots, &[b], &dev)?, 0)?;
    // A repeated target is not a negative for its twin.
    let mut same = vec![0f32; b * b];
    for r in 0..b {
        for c in 0..b {
            if r != c && targets[r] == targets[c] {
                same[r * b + c] = -1e9;
            }
        }
    }
    let logits = (q.matmul(&p.t()?)? * (1.0 / cfg.temperature as f64))?
        .broadcast_add(&nn::floats(same, &[b, b], &dev)?)?;
    let diag: Vec<u32> = (0..b as u32).collect();
    Ok(ops::softmax_cross_entropy(&logits, &diag)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        d / (n(a) * n(b))
    }

    /// The trainable top blocks over cached lower states give the inference path's vectors,
    /// for any split point; a saved untouched copy loads and encodes identically.
    #[test]
    fn top_blocks_equal_the_inference_path() -> Result<()> {
        let Some(dir) = crate::testutil::minilm_dir() else {
            return Ok(());
        };
        let enc = TextEncoder::load(&dir)?;
        let texts = [
            "A short one",
            "Dune: a desert planet, spice and interstellar empires, a much longer text here",
            "Salt Fat Acid Heat",
        ];
        let want = enc.encode(&texts, &ProgressBar::hidden())?;
        let ids = enc.tokenize(&texts)?;
        let h = enc.dim();
        for layers in [1, 2, enc.n_layers()] {
            let top = TopBlocks::new(&enc, layers, 0.1)?;
            let states = enc.token_states(&ids, top.first());
            let refs: Vec<&[f32]> = states.iter().map(Vec::as_slice).collect();
            let got = top.vectors(&refs)?;
            for k in 0..texts.len() {
                let c = cosine(&got[k * h..(k + 1) * h], &want[k * h..(k + 1) * h]);
                assert!(c > 0.99999, "layers {layers}, text {k}: cosine {c}");
            }
        }
        let tmp = tempfile::tempdir().map_err(|e| Error::Tensor(e.to_string()))?;
        let top = TopBlocks::new(&enc, 2, 0.1)?;
        top.save(&enc, tmp.path())?;
        let back = TextEncoder::load(tmp.path())?;
        let again = back.encode(&texts, &ProgressBar::hidden())?;
        for (a, b) in again.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5);
        }
        Ok(())
    }

    /// Every trained tensor gets a gradient from the contrastive loss, and a few steps on
    /// pairs that always follow each other bring the pairs together; the fine-tuned
    /// checkpoint differs from the original and loads.
    #[test]
    fn fine_tuning_learns_pairs_and_writes_a_checkpoint() -> Result<()> {
        let Some(dir) = crate::testutil::minilm_dir() else {
            return Ok(());
        };
        let enc = TextEncoder::load(&dir)?;
        // Pairs of unrelated texts that users always consume in this order.
        let texts = [
            "red running shoes",
            "a book about medieval castles",
            "green tea with jasmine",
            "a wrench for bicycle repair",
            "violin strings",
            "sunscreen for babies",
            "a map of Tokyo",
            "dark chocolate with sea salt",
        ];
        let mut events = Vec::new();
        for u in 0..64u32 {
            let p = (u % 4) * 2;
            events.push((u, p, 0));
            events.push((u, p + 1, 1));
        }
        let mut train = TrainData::from_csr(crate::testutil::csr(8, &events), false);
        train.item_text = texts.iter().map(|s| s.to_string()).collect();
        let cfg = FineTuneConfig {
            layers: 1,
            epochs: 6,
            lr: 3e-4,
            batch_size: 8,
            temperature: 0.05,
            history: 5,
            half_life: 5.0,
            max_users: 1000,
            dropout: 0.0,
            seed: 1,
        };
        // Gradients reach every trained tensor.
        let top = TopBlocks::new(&enc, 1, 0.0)?;
        let ids = enc.tokenize(&texts)?;
        let states = enc.token_states(&ids, top.first());
        let seqs: Vec<Vec<u32>> = (0..64u32).map(|u| train.matrix.row(u).to_vec()).collect();
        let batch: Vec<u32> = (0..8).collect();
        let loss = pair_loss(
            &top,
            &states,
            &seqs,
            &batch,
            &cfg,
            &mut ChaCha8Rng::seed_from_u64(0),
        )?;
        let grads = loss.backward()?;
        for (name, var) in top.params().vars() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm = g.sqr()?.sum_all()?.to_scalar::<f32>()?;
            assert!(norm > 0.0, "zero gradient for {name}");
        }

        let before = enc.encode(&texts, &ProgressBar::hidden())?;
        let tmp = tempfile::tempdir().map_err(|e| Error::Tensor(e.to_string()))?;
        let log = fine_tune(&enc, &train, &cfg, tmp.path(), &ProgressBar::hidden())?;
        assert_eq!(log.epochs.len(), 6);
        let tuned = TextEncoder::load(tmp.path())?;
        assert_ne!(tuned.fingerprint(), enc.fingerprint());
        let after = tuned.encode(&texts, &ProgressBar::hidden())?;
        let h = enc.dim();
        let pair =
            |v: &[f32], a: usize, b: usize| cosine(&v[a * h..(a + 1) * h], &v[b * h..(b + 1) * h]);
        for p in [0, 2, 4, 6] {
            // Closer to its partner, and closer to it than to the other items' partners.
            assert!(
                pair(&after, p, p + 1) > pair(&before, p, p + 1),
                "pair {p}: {} → {}",
                pair(&before, p, p + 1),
                pair(&after, p, p + 1)
            );
            for q in [1, 3, 5, 7] {
                if q != p + 1 {
                    assert!(
                        pair(&after, p, p + 1) > pair(&after, p, q),
                        "pair {p} vs {q}"
                    );
                }
            }
        }
        Ok(())
    }
}
