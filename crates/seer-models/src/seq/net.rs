//! The network SASRec and BERT4Rec share: item + position embeddings (plus time, context
//! and text parts), a Transformer encoder and the tied output layer ([`SeqNet`]).

use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::batch::{Padded, TimeFeatures, TIME_ROWS};
use crate::error::{Error, Result};
use seer_nn::transformer::{attention_mask, Encoder, EncoderConfig, Linear, Norm};
use seer_nn::{self as nn, ops, Params};

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
pub(super) struct TextPart {
    /// `[V + extra, D]`, centred on the mean of the items that have text (rows of items
    /// without text and of the extra tokens are zero). Not a parameter.
    pub(super) vecs: Tensor,
    /// `[D, H]`, trained.
    pub(super) proj: Tensor,
    /// `[1]`, trained weight of the raw text similarity (with `text_skip`).
    pub(super) skip: Option<Tensor>,
    /// With `text_skip`: `vecs` on the host, row-major (empty otherwise).
    pub(super) host: Vec<f32>,
}

/// Embeddings + Transformer + tied output layer.
pub struct SeqNet {
    pub(super) cfg: NetConfig,
    pub(crate) params: Params,
    pub(super) item_emb: Tensor,
    pub(super) pos_emb: Tensor,
    pub(super) emb_norm: Option<Norm>,
    pub(super) encoder: Encoder,
    pub(super) head: Option<(Linear, Norm, Tensor)>,
    /// (feature index, table) of the enabled position time embeddings.
    pub(super) time_tables: Vec<(usize, Tensor)>,
    /// Same for the predicted event's time.
    pub(super) query_tables: Vec<(usize, Tensor)>,
    /// One table per context column (`size + 1` rows, the last for "missing").
    pub(super) context_tables: Vec<Tensor>,
    /// Same for the predicted event's context.
    pub(super) query_context_tables: Vec<Tensor>,
    /// Frozen text vectors and their projection, when `cfg.text_dim > 0`.
    pub(super) text: Option<TextPart>,
    /// With `cfg.prior`: the frozen standardised log-counts `[V, 1]` and their trained weight
    /// `[1]`.
    pub(super) prior: Option<(Tensor, Tensor)>,
    /// Training only: `[V + extra, 1]`, 0 for the items whose id embedding is dropped in the
    /// current step (see [`SeqNet::drop_item_ids`]).
    pub(super) id_mask: std::sync::Mutex<Option<Tensor>>,
}

impl std::fmt::Debug for SeqNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqNet")
            .field("cfg", &self.cfg)
            .field("params", &self.params)
            .finish()
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
        Ok(self.encoder.forward(&x, &mask, &keep, rng)?)
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
                Ok(ops::catalogue_cross_entropy(
                    hidden, &table, &zero, targets,
                )?)
            }
            Some((dense, norm, bias)) => {
                let z = norm.forward(&dense.forward(hidden)?.gelu_erf()?)?;
                Ok(ops::catalogue_cross_entropy(&z, &table, bias, targets)?)
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
}
