//! Sentence embeddings with a pretrained BERT-family encoder: all-MiniLM-L6-v2 by default.
//!
//! Follows sentence-transformers (Reimers & Gurevych 2019, "Sentence-BERT") running MiniLM
//! (Wang et al. 2020, "MiniLM: Deep Self-Attention Distillation", 6 layers, hidden 384, 12
//! heads): WordPiece tokens with `[CLS]`/`[SEP]`, BERT embeddings (word + position + token
//! type, LayerNorm), post-LayerNorm Transformer blocks with exact (erf) GELU, **mean pooling
//! over the real tokens** and L2 normalisation. The vectors equal sentence-transformers' to a
//! cosine of 0.9999 or better (checked against a fixture made by
//! `tests/fixtures/minilm/make_fixture.py`).
//!
//! Where it deviates, for speed (same results):
//! - **No padding at all.** The tokenizer's own `tokenizer.json` pads every input to 128
//!   tokens; sentence-transformers pads to the longest of each batch. Here the tokens of a
//!   whole batch are packed into one `[tokens, hidden]` matrix, so every matrix product runs on
//!   real tokens only, and attention runs per sentence on its own tokens (no mask needed).
//!   Batches are cut by token count after sorting by length.
//! - The projections use faer's multi-threaded matrix product with the bias written first
//!   (`out = bias; out += x · W`), the query/key/value projections are one product with the
//!   three weight matrices side by side, and the residual add is fused into the LayerNorm.
//! - GELU uses erf from Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7) over a
//!   vectorised `exp`, instead of libm's scalar `erff`.
//!
//! This is the inference path. The model directory is the sentence-transformers layout
//! (`config.json`, `tokenizer.json`, `model.safetensors`, optionally
//! `sentence_bert_config.json` for the maximum sequence length and `1_Pooling/config.json`,
//! which must ask for mean pooling).

use std::path::{Path, PathBuf};

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use indicatif::ProgressBar;
use rayon::prelude::*;
use safetensors::SafeTensors;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use seer_nn::ops::fast_exp;

mod cache;
pub mod finetune;
pub use cache::EmbeddingCache;

/// Where `seer fetch minilm` puts the model by default, relative to the working directory.
pub const DEFAULT_MODEL_DIR: &str = "models/all-MiniLM-L6-v2";

/// Tokens per packed batch: large enough that the matrix products run at full speed, small
/// enough that the activations stay in cache-friendly sizes (4 096 × 1 536 floats = 24 MiB).
const TOKENS_PER_BATCH: usize = 4096;

/// Rows (tokens) per block of the fused per-layer work: the block's feed-forward activations
/// (`ROWS × 1 536` floats, 768 KiB) stay in a core's L2 cache between the two products.
const ROWS: usize = 128;

/// `config.json` fields of a BERT model that the encoder needs.
#[derive(Debug, Clone, Deserialize)]
struct BertConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    model_type: Option<String>,
}

fn default_eps() -> f64 {
    1e-12
}

/// `sentence_bert_config.json`.
#[derive(Debug, Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

/// `1_Pooling/config.json`.
#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

/// A LayerNorm's gain and bias.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

/// One Transformer block, weights stored `[in, out]` row-major.
struct Layer {
    /// Query, key and value projections side by side: `[H, 3H]`.
    wqkv: Vec<f32>,
    bqkv: Vec<f32>,
    wo: Vec<f32>,
    bo: Vec<f32>,
    norm1: Norm,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    norm2: Norm,
}

/// A BERT encoder's weights.
struct Bert {
    hidden: usize,
    heads: usize,
    inner: usize,
    eps: f32,
    max_positions: usize,
    vocab: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    /// Token-type 0 embedding (single sentences only).
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

/// A pretrained sentence encoder: tokenizer plus BERT, producing L2-normalised vectors.
pub struct TextEncoder {
    tokenizer: tokenizers::Tokenizer,
    bert: Bert,
    max_len: usize,
    fingerprint: String,
    dir: PathBuf,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("dir", &self.dir)
            .field("dim", &self.bert.hidden)
            .field("layers", &self.bert.layers.len())
            .field("max_len", &self.max_len)
            .finish()
    }
}

fn text_err(path: &Path, message: impl Into<String>) -> Error {
    Error::BadModelFile {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&raw).map_err(|e| text_err(path, e.to_string()))
}

impl TextEncoder {
    /// Loads a sentence-transformers model directory (e.g. the one `seer fetch minilm`
    /// writes). Errors name the missing or malformed file.
    pub fn load(dir: &Path) -> Result<TextEncoder> {
        if !dir.is_dir() {
            return Err(Error::config(
                "text_model",
                format!(
                    "{} is not a model directory; run `seer fetch minilm` to fetch \
                     all-MiniLM-L6-v2 into {DEFAULT_MODEL_DIR}, or pass --text-model DIR",
                    dir.display()
                ),
            ));
        }
        let cfg: BertConfig = read_json(&dir.join("config.json"))?;
        if let Some(t) = &cfg.model_type {
            if t != "bert" {
                return Err(text_err(
                    &dir.join("config.json"),
                    format!("model_type {t:?}; only BERT-family encoders are supported"),
                ));
            }
        }
        if let Some(act) = &cfg.hidden_act {
            if act != "gelu" {
                return Err(text_err(
                    &dir.join("config.json"),
                    format!("hidden_act {act:?}; only \"gelu\" is supported"),
                ));
            }
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(text_err(
                &dir.join("config.json"),
                "hidden_size must be a multiple of num_attention_heads",
            ));
        }
        let pooling = dir.join("1_Pooling").join("config.json");
        if pooling.exists() {
            let p: PoolingConfig = read_json(&pooling)?;
            if !p.pooling_mode_mean_tokens || p.pooling_mode_cls_token || p.pooling_mode_max_tokens
            {
                return Err(text_err(
                    &pooling,
                    "only mean pooling (pooling_mode_mean_tokens) is supported",
                ));
            }
        }
        let st = dir.join("sentence_bert_config.json");
        let max_len = if st.exists() {
            read_json::<SentenceConfig>(&st)?.max_seq_length
        } else {
            None
        }
        .unwrap_or(cfg.max_position_embeddings)
        .min(cfg.max_position_embeddings);

        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = tokenizers::Tokenizer::from_file(&tok_path)
            .map_err(|e| text_err(&tok_path, e.to_string()))?;
        // The shipped tokenizer.json pads everything to 128 and truncates at 128; we pack
        // without padding and truncate at the model's own maximum, like sentence-transformers.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| text_err(&tok_path, e.to_string()))?;

        let w_path = dir.join("model.safetensors");
        let raw = std::fs::read(&w_path).map_err(|source| Error::Io {
            path: w_path.clone(),
            source,
        })?;
        let mut h = Sha256::new();
        h.update(&raw);
        h.update(std::fs::read(&tok_path).unwrap_or_default());
        let digest = h.finalize();
        let fingerprint: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let st = SafeTensors::deserialize(&raw).map_err(|e| text_err(&w_path, e.to_string()))?;
        let bert = Bert::from_safetensors(&st, &cfg, &w_path)?;
        Ok(TextEncoder {
            tokenizer,
            bert,
            max_len,
            fingerprint,
            dir: dir.to_path_buf(),
        })
    }

    /// Loads `spec`: a local model directory when one exists there, else a Hugging Face hub
    /// model id (`sentence-transformers/all-MiniLM-L6-v2`), downloaded into the hub cache
    /// (`HF_HOME`) on first use. Errors say which was tried.
    pub fn resolve(spec: &str) -> Result<TextEncoder> {
        let path = Path::new(spec);
        if path.is_dir() || !looks_like_hub_id(spec) {
            return Self::load(path);
        }
        Self::from_hub(spec)
    }

    /// Downloads (or finds in the hub cache) the files of hub model `repo` and loads them.
    pub fn from_hub(repo: &str) -> Result<TextEncoder> {
        let hub_err = |e: String| {
            Error::config(
                "text_model",
                format!(
                    "{repo:?} is not a local directory, and fetching it from the Hugging Face \
                     hub failed ({e}); use a local model directory (`seer fetch minilm` puts \
                     all-MiniLM-L6-v2 in {DEFAULT_MODEL_DIR})"
                ),
            )
        };
        let api = hf_hub::api::sync::Api::new().map_err(|e| hub_err(e.to_string()))?;
        let model = api.model(repo.to_string());
        let mut dir = None;
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            let p = model
                .get(file)
                .map_err(|e| hub_err(format!("{file}: {e}")))?;
            dir = p.parent().map(Path::to_path_buf);
        }
        // Optional files: the sequence length and the pooling mode.
        for file in ["sentence_bert_config.json", "1_Pooling/config.json"] {
            let _ = model.get(file);
        }
        let dir = dir.ok_or_else(|| hub_err("no files".into()))?;
        Self::load(&dir)
    }

    /// Vector size (384 for MiniLM-L6).
    pub fn dim(&self) -> usize {
        self.bert.hidden
    }

    /// Maximum tokens per text (longer texts are truncated, as in sentence-transformers).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// A short hash of the weights and tokenizer: the embedding cache's key for this model.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Token ids of each text, `[CLS] … [SEP]`, truncated to [`Self::max_len`].
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Tensor(format!("tokenizing: {e}")))?;
        Ok(enc.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// L2-normalised embeddings of `texts`, row-major `texts.len() × dim`. Texts are sorted
    /// by token count and packed into batches of about 4 096 tokens; `pb` advances by one per
    /// text.
    pub fn encode(&self, texts: &[&str], pb: &ProgressBar) -> Result<Vec<f32>> {
        let ids = self.tokenize(texts)?;
        self.encode_ids(&ids, pb)
    }

    /// [`Self::encode`] through `cache`: texts already in it are not encoded again, the others
    /// (each distinct text once) are encoded, added and flushed to disk. Returns the vectors and
    /// how many texts came from the cache.
    pub fn encode_cached(
        &self,
        texts: &[&str],
        cache: &mut EmbeddingCache,
        pb: &ProgressBar,
    ) -> Result<(Vec<f32>, usize)> {
        let h = self.dim();
        let mut missing: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| cache.get(t).is_none())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        pb.inc((texts.len() - missing.len()) as u64);
        let fresh = self.encode(&missing, pb)?;
        for (t, v) in missing.iter().zip(fresh.chunks_exact(h)) {
            cache.insert(t, v);
        }
        cache.flush()?;
        let mut out = Vec::with_capacity(texts.len() * h);
        for t in texts {
            let v = cache.get(t).ok_or_else(|| {
                Error::Tensor("embedding cache lost a vector it was just given".into())
            })?;
            out.extend_from_slice(v);
        }
        let hits = texts
            .iter()
            .filter(|t| missing.binary_search(t).is_err())
            .count();
        Ok((out, hits))
    }

    /// [`Self::encode`] on already tokenized texts.
    pub fn encode_ids(&self, ids: &[Vec<u32>], pb: &ProgressBar) -> Result<Vec<f32>> {
        let h = self.bert.hidden;
        for (i, s) in ids.iter().enumerate() {
            if let Some(&bad) = s.iter().find(|&&t| t as usize >= self.bert.vocab) {
                return Err(Error::Tensor(format!(
                    "text {i}: token id {bad} outside the vocabulary of {}",
                    self.bert.vocab
                )));
            }
            if s.len() > self.bert.max_positions {
                return Err(Error::Tensor(format!(
                    "text {i}: {} tokens, more than the model's {} positions",
                    s.len(),
                    self.bert.max_positions
                )));
            }
        }
        let mut out = vec![0f32; ids.len() * h];
        for_batches(ids, |batch, seqs| {
            let pooled = self.bert.embed(seqs);
            for (k, &i) in batch.iter().enumerate() {
                out[i * h..(i + 1) * h].copy_from_slice(&pooled[k * h..(k + 1) * h]);
            }
            pb.inc(batch.len() as u64);
        });
        Ok(out)
    }

    /// Number of Transformer blocks.
    pub fn n_layers(&self) -> usize {
        self.bert.layers.len()
    }

    /// Token states of each text (`ids`, from [`Self::tokenize`]) after the embeddings and
    /// the first `upto` blocks, `[len, dim]` row-major per text: the frozen input of
    /// fine-tuning the blocks above (see [`finetune`]).
    pub fn token_states(&self, ids: &[Vec<u32>], upto: usize) -> Vec<Vec<f32>> {
        let h = self.bert.hidden;
        let mut out = vec![Vec::new(); ids.len()];
        for_batches(ids, |batch, seqs| {
            let x = self.bert.states(seqs, upto);
            let mut off = 0;
            for &i in batch {
                let l = ids[i].len();
                out[i] = x[off * h..(off + l) * h].to_vec();
                off += l;
            }
        });
        out
    }
}

/// Calls `f(batch, seqs)` on batches of about [`TOKENS_PER_BATCH`] tokens, longest texts
/// first: `batch` holds indices into `ids`, `seqs` their token ids.
fn for_batches(ids: &[Vec<u32>], mut f: impl FnMut(&[usize], &[&[u32]])) {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        let mut tokens = 0;
        while end < order.len()
            && (end == start || tokens + ids[order[end]].len() <= TOKENS_PER_BATCH)
        {
            tokens += ids[order[end]].len();
            end += 1;
        }
        let seqs: Vec<&[u32]> = order[start..end].iter().map(|&i| &ids[i][..]).collect();
        f(&order[start..end], &seqs);
        start = end;
    }
}

/// `org/name` with no other separators and no such local path: a hub model id.
fn looks_like_hub_id(spec: &str) -> bool {
    let mut parts = spec.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none() && !Path::new(spec).exists()
}

impl Bert {
    fn from_safetensors(st: &SafeTensors<'_>, cfg: &BertConfig, path: &Path) -> Result<Bert> {
        // Checkpoints saved from `BertForXxx` carry a `bert.` prefix.
        let prefix = if st.names().iter().any(|n| n.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            let full = format!("{prefix}{name}");
            let t = st
                .tensor(&full)
                .map_err(|_| text_err(path, format!("missing tensor {full}")))?;
            if t.shape() != shape {
                return Err(text_err(
                    path,
                    format!(
                        "tensor {full} has shape {:?}, expected {shape:?}",
                        t.shape()
                    ),
                ));
            }
            if t.dtype() != safetensors::Dtype::F32 {
                return Err(text_err(
                    path,
                    format!(
                        "tensor {full} is {:?}; only F32 weights are supported",
                        t.dtype()
                    ),
                ));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        // Old BERT checkpoints name LayerNorm parameters gamma/beta.
        let norm = |name: &str, h: usize| -> Result<Norm> {
            let g = get(&format!("{name}.weight"), &[h])
                .or_else(|_| get(&format!("{name}.gamma"), &[h]))?;
            let b = get(&format!("{name}.bias"), &[h])
                .or_else(|_| get(&format!("{name}.beta"), &[h]))?;
            Ok(Norm { gamma: g, beta: b })
        };
        // torch stores Linear weights `[out, in]`; transpose to `[in, out]`.
        let linear = |name: &str, i: usize, o: usize| -> Result<(Vec<f32>, Vec<f32>)> {
            let w = get(&format!("{name}.weight"), &[o, i])?;
            Ok((transpose(&w, o, i), get(&format!("{name}.bias"), &[o])?))
        };
        let (h, inner) = (cfg.hidden_size, cfg.intermediate_size);
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let n = |s: &str| format!("encoder.layer.{l}.{s}");
            let (wq, bq) = linear(&n("attention.self.query"), h, h)?;
            let (wk, bk) = linear(&n("attention.self.key"), h, h)?;
            let (wv, bv) = linear(&n("attention.self.value"), h, h)?;
            let mut wqkv = vec![0f32; h * 3 * h];
            for r in 0..h {
                let row = &mut wqkv[r * 3 * h..(r + 1) * 3 * h];
                row[..h].copy_from_slice(&wq[r * h..(r + 1) * h]);
                row[h..2 * h].copy_from_slice(&wk[r * h..(r + 1) * h]);
                row[2 * h..].copy_from_slice(&wv[r * h..(r + 1) * h]);
            }
            let (wo, bo) = linear(&n("attention.output.dense"), h, h)?;
            let (w1, b1) = linear(&n("intermediate.dense"), h, inner)?;
            let (w2, b2) = linear(&n("output.dense"), inner, h)?;
            layers.push(Layer {
                wqkv,
                bqkv: [bq, bk, bv].concat(),
                wo,
                bo,
                norm1: norm(&n("attention.output.LayerNorm"), h)?,
                w1,
                b1,
                w2,
                b2,
                norm2: norm(&n("output.LayerNorm"), h)?,
            });
        }
        let token_type = get(
            "embeddings.token_type_embeddings.weight",
            &[
                st.tensor(&format!("{prefix}embeddings.token_type_embeddings.weight"))
                    .map(|t| t.shape()[0])
                    .unwrap_or(2),
                h,
            ],
        )?;
        Ok(Bert {
            hidden: h,
            heads: cfg.num_attention_heads,
            inner,
            eps: cfg.layer_norm_eps as f32,
            max_positions: cfg.max_position_embeddings,
            vocab: cfg.vocab_size,
            word: get("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?,
            position: get(
                "embeddings.position_embeddings.weight",
                &[cfg.max_position_embeddings, h],
            )?,
            token_type: token_type[..h].to_vec(),
            emb_norm: norm("embeddings.LayerNorm", h)?,
            layers,
        })
    }

    /// Mean-pooled, L2-normalised embeddings of `seqs` (token ids), packed without padding.
    fn embed(&self, seqs: &[&[u32]]) -> Vec<f32> {
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let x = self.states(seqs, self.layers.len());
        pool(&x, &lens, self.hidden)
    }

    /// Token states of `seqs` after the embeddings and the first `upto` blocks, packed
    /// (`[tokens, hidden]`, sequence after sequence).
    fn states(&self, seqs: &[&[u32]], upto: usize) -> Vec<f32> {
        let h = self.hidden;
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let t: usize = lens.iter().sum();
        // Embeddings + LayerNorm, one row per token.
        let mut x = vec![0f32; t * h];
        let tokens: Vec<(u32, usize)> = seqs
            .iter()
            .flat_map(|s| s.iter().enumerate().map(|(p, &id)| (id, p)))
            .collect();
        x.par_chunks_mut(h)
            .zip(&tokens)
            .for_each(|(row, &(id, p))| {
                let w = &self.word[id as usize * h..(id as usize + 1) * h];
                let pe = &self.position[p * h..(p + 1) * h];
                for (((o, &a), &b), &c) in row.iter_mut().zip(w).zip(pe).zip(&self.token_type) {
                    *o = a + b + c;
                }
                norm_row(row, &self.emb_norm, self.eps);
            });
        let mut qkv = vec![0f32; t * 3 * h];
        let mut ctx = vec![0f32; t * h];
        let inner = self.inner;
        for layer in &self.layers[..upto.min(self.layers.len())] {
            qkv.par_chunks_mut(ROWS * 3 * h)
                .zip(x.par_chunks(ROWS * h))
                .for_each(|(out, xb)| linear(xb, &layer.wqkv, &layer.bqkv, out));
            attention(&qkv, &lens, h, self.heads, &mut ctx);
            // Everything after attention, fused per block of rows while it is in cache:
            // x = LN(x + ctx·Wo + bo); x = LN(x + gelu(x·W1 + b1)·W2 + b2).
            x.par_chunks_mut(ROWS * h)
                .zip(ctx.par_chunks(ROWS * h))
                .for_each_init(
                    || (vec![0f32; ROWS * h], vec![0f32; ROWS * inner]),
                    |(tmp, ff), (xb, cb)| {
                        let rows = xb.len() / h;
                        let (tmp, ff) = (&mut tmp[..rows * h], &mut ff[..rows * inner]);
                        linear(cb, &layer.wo, &layer.bo, tmp);
                        add_norm(xb, tmp, &layer.norm1, self.eps);
                        linear(xb, &layer.w1, &layer.b1, ff);
                        gelu(ff);
                        linear(ff, &layer.w2, &layer.b2, tmp);
                        add_norm(xb, tmp, &layer.norm2, self.eps);
                    },
                );
        }
        x
    }
}

/// Mean over each sequence's tokens of the packed states `x`, then L2 normalisation.
fn pool(x: &[f32], lens: &[usize], h: usize) -> Vec<f32> {
    let mut out = vec![0f32; lens.len() * h];
    let mut offsets = Vec::with_capacity(lens.len());
    let mut off = 0;
    for &l in lens {
        offsets.push(off);
        off += l;
    }
    out.par_chunks_mut(h)
        .zip(offsets.par_iter().zip(lens))
        .for_each(|(o, (&off, &l))| {
            for r in off..off + l {
                for (a, &b) in o.iter_mut().zip(&x[r * h..(r + 1) * h]) {
                    *a += b;
                }
            }
            let inv = 1.0 / l.max(1) as f32;
            o.iter_mut().for_each(|v| *v *= inv);
            let n = o.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            o.iter_mut().for_each(|v| *v /= n);
        });
    out
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

/// `out = x · w + b` for `x` `[rows, k]`, `w` `[k, n]`, all row-major, on the calling
/// thread (callers run blocks of rows in parallel).
fn linear(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    let n = b.len();
    let k = w.len() / n;
    let rows = x.len() / k;
    for r in out.chunks_exact_mut(n) {
        r.copy_from_slice(b);
    }
    matmul(
        MatMut::from_row_major_slice_mut(out, rows, n),
        Accum::Add,
        MatRef::from_row_major_slice(x, rows, k),
        MatRef::from_row_major_slice(w, k, n),
        1.0f32,
        Par::Seq,
    );
}

/// Self-attention of each packed sequence over its own tokens. `qkv` rows are
/// `[q | k | v]` of width `3h`; `ctx` gets the heads' outputs side by side. Per sequence and
/// head, two small matrix products on strided views (`S = Q Kᵀ`, `ctx = softmax(S) V`), with
/// sequences in parallel.
fn attention(qkv: &[f32], lens: &[usize], h: usize, heads: usize, ctx: &mut [f32]) {
    let dh = h / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    // Split `ctx` (and read `qkv`) per sequence so sequences run in parallel.
    let mut parts = Vec::with_capacity(lens.len());
    let mut rest = &mut ctx[..];
    let mut off = 0;
    for &l in lens {
        let (a, b) = rest.split_at_mut(l * h);
        parts.push((off, l, a));
        rest = b;
        off += l;
    }
    parts
        .into_par_iter()
        .for_each_init(Vec::new, |scores: &mut Vec<f32>, (off, l, out)| {
            scores.resize(l * l, 0.0);
            let rows = &qkv[off * 3 * h..(off + l) * 3 * h];
            for hd in 0..heads {
                let c = hd * dh;
                let view = |start: usize| {
                    MatRef::from_row_major_slice_with_stride(
                        &rows[start..start + (l - 1) * 3 * h + dh],
                        l,
                        dh,
                        3 * h,
                    )
                };
                let (q, k, v) = (view(c), view(h + c), view(2 * h + c));
                matmul(
                    MatMut::from_row_major_slice_mut(scores, l, l),
                    Accum::Replace,
                    q,
                    k.transpose(),
                    scale,
                    Par::Seq,
                );
                for r in scores.chunks_exact_mut(l) {
                    softmax_row(r);
                }
                // `[l, dh]` with row stride `h`, built as the transpose of a column-major view:
                // faer 0.24.4's `from_row_major_slice_with_stride_mut` swaps the strides (it
                // makes a column-major view and writes out of place).
                matmul(
                    MatMut::from_column_major_slice_with_stride_mut(
                        &mut out[c..c + (l - 1) * h + dh],
                        dh,
                        l,
                        h,
                    )
                    .transpose_mut(),
                    Accum::Replace,
                    MatRef::from_row_major_slice(scores, l, l),
                    v,
                    1.0f32,
                    Par::Seq,
                );
            }
        });
}

/// Softmax of one row in place.
#[inline]
fn softmax_row(r: &mut [f32]) {
    let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in r.iter_mut() {
        *v = fast_exp(*v - m);
    }
    let inv = 1.0 / sum(r);
    r.iter_mut().for_each(|v| *v *= inv);
}

/// Sum with 8 running sums, so it vectorises.
#[inline]
fn sum(a: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let c = a.chunks_exact(8);
    let tail: f32 = c.remainder().iter().sum();
    for x in c {
        for k in 0..8 {
            acc[k] += x[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// LayerNorm of one row in place.
#[inline]
fn norm_row(row: &mut [f32], n: &Norm, eps: f32) {
    let d = row.len() as f32;
    let mean = row.iter().sum::<f32>() / d;
    let var = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / d;
    let rstd = 1.0 / (var + eps).sqrt();
    for ((v, &g), &b) in row.iter_mut().zip(&n.gamma).zip(&n.beta) {
        *v = (*v - mean) * rstd * g + b;
    }
}

/// `x = LayerNorm(x + y)`, row by row.
fn add_norm(x: &mut [f32], y: &[f32], n: &Norm, eps: f32) {
    let h = n.gamma.len();
    for (xr, yr) in x.chunks_exact_mut(h).zip(y.chunks_exact(h)) {
        xr.iter_mut().zip(yr).for_each(|(a, &b)| *a += b);
        norm_row(xr, n, eps);
    }
}

/// Exact GELU, `x · Φ(x) = x/2 · (1 + erf(x/√2))`, in place.
fn gelu(xs: &mut [f32]) {
    for v in xs.iter_mut() {
        let x = *v;
        *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), branch-free so it vectorises.
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    // Clamped so the product stays a normal float: denormals cost ~100 cycles each.
    (1.0 - poly * fast_exp((-a * a).max(-80.0))).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Fixture {
        sentences: Vec<String>,
        ids: Vec<Vec<u32>>,
        vectors: Vec<Vec<f32>>,
        max_seq_length: usize,
    }

    fn fixture() -> Fixture {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/minilm/minilm.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn tokens_and_vectors_equal_sentence_transformers() {
        let Some(dir) = crate::testutil::minilm_dir() else {
            return;
        };
        let enc = TextEncoder::load(&dir).unwrap();
        let fx = fixture();
        assert_eq!(enc.max_len(), fx.max_seq_length);
        assert_eq!(enc.dim(), 384);
        let texts: Vec<&str> = fx.sentences.iter().map(|s| s.as_str()).collect();
        // Tokens: same ids, no padding, truncated at 256 (not the shipped 128).
        assert_eq!(enc.tokenize(&texts).unwrap(), fx.ids);
        let v = enc.encode(&texts, &ProgressBar::hidden()).unwrap();
        for (i, want) in fx.vectors.iter().enumerate() {
            let got = &v[i * 384..(i + 1) * 384];
            let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "text {i}: norm {norm}");
            let wn: f32 = want.iter().map(|x| x * x).sum::<f32>().sqrt();
            let cos: f32 = got.iter().zip(want).map(|(a, b)| a * b).sum::<f32>() / wn;
            assert!(cos >= 0.9999, "text {i} {:?}: cosine {cos}", texts[i]);
        }
        // One text at a time gives the same vectors as the packed batch.
        for (i, t) in texts.iter().enumerate() {
            let one = enc.encode(&[t], &ProgressBar::hidden()).unwrap();
            let d: f32 = one
                .iter()
                .zip(&v[i * 384..(i + 1) * 384])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(d < 1e-5, "text {i}: alone vs batched differ by {d}");
        }
    }

    #[test]
    fn the_cache_is_hit_on_the_second_run() {
        let Some(dir) = crate::testutil::minilm_dir() else {
            return;
        };
        let enc = TextEncoder::load(&dir).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let texts = ["red nail polish", "dark sci-fi thriller", "red nail polish"];
        let mut cache = EmbeddingCache::open(tmp.path(), &enc).unwrap();
        let (first, hits) = enc
            .encode_cached(&texts, &mut cache, &ProgressBar::hidden())
            .unwrap();
        assert_eq!((hits, cache.len()), (0, 2));
        // A new process: the vectors come from disk, none is encoded again.
        let mut cache = EmbeddingCache::open(tmp.path(), &enc).unwrap();
        let (second, hits) = enc
            .encode_cached(&texts, &mut cache, &ProgressBar::hidden())
            .unwrap();
        assert_eq!(hits, 3);
        assert_eq!(first, second);
        let direct = enc.encode(&texts, &ProgressBar::hidden()).unwrap();
        let d = first
            .iter()
            .zip(&direct)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(d < 1e-5, "cached and direct vectors differ by {d}");
    }

    #[test]
    fn hub_ids_are_told_from_paths() {
        assert!(looks_like_hub_id("sentence-transformers/all-MiniLM-L6-v2"));
        for local in [
            "models/all-MiniLM-L6-v2/extra",
            "/abs/path",
            "./models",
            "../x",
            "plain",
            "a/",
        ] {
            assert!(!looks_like_hub_id(local), "{local}");
        }
        // A path that exists is local even if it looks like an id.
        let Some(dir) = crate::testutil::minilm_dir() else {
            return;
        };
        let spec = dir.to_string_lossy().into_owned();
        assert_eq!(TextEncoder::resolve(&spec).unwrap().dim(), 384);
    }

    #[test]
    fn a_missing_model_directory_says_how_to_fetch_it() {
        let err = TextEncoder::load(Path::new("/nonexistent/minilm")).unwrap_err();
        assert!(err.to_string().contains("seer fetch minilm"), "{err}");
    }

    #[test]
    fn erf_matches_libm() {
        let mut worst = 0f32;
        for i in -4000..=4000 {
            let x = i as f32 / 500.0;
            worst = worst.max((erf(x) - candle_core::cpu::erf::erf_f32(x)).abs());
        }
        assert!(worst < 1e-6, "worst erf error {worst}");
    }

    #[test]
    fn packed_attention_equals_a_direct_computation() {
        // Two sequences (3 and 2 tokens), hidden 4 in 2 heads.
        let (h, heads) = (4, 2);
        let lens = [3usize, 2];
        let qkv: Vec<f32> = (0..5 * 3 * h)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0)
            .collect();
        let mut ctx = vec![0f32; 5 * h];
        attention(&qkv, &lens, h, heads, &mut ctx);
        let dh = h / heads;
        let mut off = 0;
        for &l in &lens {
            for hd in 0..heads {
                for i in 0..l {
                    let q = &qkv[(off + i) * 3 * h + hd * dh..][..dh];
                    let s: Vec<f64> = (0..l)
                        .map(|j| {
                            let k = &qkv[(off + j) * 3 * h + h + hd * dh..][..dh];
                            q.iter().zip(k).map(|(a, b)| (a * b) as f64).sum::<f64>()
                                / (dh as f64).sqrt()
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::MIN, f64::max);
                    let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                    for d in 0..dh {
                        let want: f64 = (0..l)
                            .map(|j| {
                                (s[j] - m).exp() / z
                                    * qkv[(off + j) * 3 * h + 2 * h + hd * dh + d] as f64
                            })
                            .sum();
                        let got = ctx[(off + i) * h + hd * dh + d] as f64;
                        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
                    }
                }
            }
            off += l;
        }
    }
}
