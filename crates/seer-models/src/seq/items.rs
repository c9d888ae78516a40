//! The item rows of a [`SeqNet`]: the popularity prior, frozen text vectors, rows started or
//! mapped from text, and carrying a network over to a grown catalogue.

use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::net::{NetConfig, SeqNet};
use super::text_rows::{pca_rows, ridge_rows};
use crate::error::{Error, Result};
use seer_nn::{self as nn};

impl SeqNet {
    /// Sets the popularity prior (see [`NetConfig::prior`]) from the item counts of `seqs`
    /// (users × items, one entry per event): `z_i = (ln(1 + c_i) − mean) / std` over the
    /// catalogue. No-op without the prior.
    pub fn set_prior_counts(&mut self, seqs: &seer_data::Csr) -> Result<()> {
        self.set_prior_values(prior_z(&seqs.col_counts()))
    }

    /// Sets the standardised prior values, one per catalogue item.
    pub(super) fn set_prior_values(&mut self, z: Vec<f32>) -> Result<()> {
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
    pub(super) fn set_text_tensor(&mut self, centred: Vec<f32>) -> Result<()> {
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
    pub(super) fn item_rows(&self) -> Result<Tensor> {
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
