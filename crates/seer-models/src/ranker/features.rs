//! Features of a (user, item, context) triple for the rankers, hashed into a fixed space.
//!
//! Every feature is a key (`"it:genres=Sci-Fi"`) and a value; the key is hashed with 64-bit
//! FNV-1a into `2^bits` slots (the hashing trick, Weinberger et al. 2009). FNV-1a is eight
//! lines, so it is written here rather than pulled in as a dependency; it is stable across
//! runs and platforms, which saved models need. Collisions are measured on the training keys
//! ([`FeatureSpace::collision_rate`]) and reported at fit time.
//!
//! Groups (each can be switched off in [`Config`]):
//! - **ids**: `u:USER`, `i:ITEM`.
//! - **attributes**: each categorical user attribute `ua:FIELD=VALUE` and each token of each
//!   categorical item field `it:FIELD=TOKEN` (list fields such as genres or categories give one
//!   feature per entry). A field counts as categorical when it has at most half as many
//!   distinct values as entities with a value, so titles, descriptions and ids stay out.
//! - **history match**: `hs:FIELD` = the share of the user's history items that carry one of
//!   the candidate's tokens of FIELD ("matches your favourite genre").
//! - **crosses**: `x:UFIELD=UVALUE&IFIELD=TOKEN` for every user attribute × item token.
//! - **counts**: `ipop:B` with B = ⌊log2(1 + training events of the item)⌋, `uact:B` with
//!   B = ⌊log2(1 + history length)⌋.
//! - **recency**: `rec:B`, B = ⌊log2(1 + hours since the user's latest event)⌋, when the data
//!   has timestamps and the request a time.
//! - **time**: `hour:H`, `dow:D` of the request time (UTC), when known.
//! - **context**: `ctx:COLUMN=CODE` for the request's categorical context.
//! - **generator**: `gs` = the candidate generator's score, standardised with the mean and
//!   standard deviation of the ranker's training candidates, and `grank:B`, B = ⌊log2(1 +
//!   rank)⌋ of the item in the generator's list.
//!
//! - **text** (off by default: it runs the MiniLM encoder once per catalogue, through the
//!   embedding cache): `txt` = cosine between the candidate's text vector and the user's (the
//!   mean of their latest 50 history items' vectors, or their profile text's vector when they
//!   have no history), and `txtb:B`, B = ⌊10 · cosine⌋. A new item with text gets this
//!   signal before anyone has touched it.
//!
//! Statistics (item counts, score mean and deviation, which fields are categorical) come from
//! the [`TrainData`] the ranker is fitted on only, never from validation or test events.

use std::collections::{HashMap, HashSet};

use indicatif::ProgressBar;
use seer_core::{ItemIdx, UserContext, MISSING};
use serde::{Deserialize, Serialize};

use crate::train::TrainData;

/// Which feature groups to build, and the hashed space's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `2^bits` hashed slots (10–26). Default 20 (1,048,576 slots).
    pub bits: u32,
    /// `u:USER`, `i:ITEM`. Default true.
    pub ids: bool,
    /// User attributes and item field tokens. Default true.
    pub attributes: bool,
    /// Share of the history matching the candidate, per item field. Default true.
    pub history_match: bool,
    /// User attribute × item token crosses. Default true.
    pub crosses: bool,
    /// Item popularity and user activity buckets. Default true.
    pub counts: bool,
    /// Hours since the user's latest event, bucketed. Default true.
    pub recency: bool,
    /// Hour of day and day of week of the request. Default true.
    pub time: bool,
    /// The request's categorical context. Default true.
    pub context: bool,
    /// The candidate generator's standardised score and rank bucket. Default true.
    pub generator: bool,
    /// Text similarity of user and item (MiniLM vectors). Default false.
    pub text: bool,
    /// `text`: the sentence encoder (a sentence-transformers directory or a hub id). Default
    /// `models/all-MiniLM-L6-v2`.
    pub text_model: String,
    /// `text`: embedding cache folder; empty disables it. Default `models/cache`.
    pub text_cache: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bits: 20,
            ids: true,
            attributes: true,
            history_match: true,
            crosses: true,
            counts: true,
            recency: true,
            time: true,
            context: true,
            generator: true,
            text: false,
            text_model: crate::text_encoder::DEFAULT_MODEL_DIR.to_string(),
            text_cache: "models/cache".to_string(),
        }
    }
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self, prefix: &str) -> crate::Result<()> {
        if !(10..=26).contains(&self.bits) {
            return Err(crate::Error::config(
                format!("{prefix}.bits"),
                format!("{} must be within 10..=26", self.bits),
            ));
        }
        Ok(())
    }
}

/// 64-bit FNV-1a of `parts` joined (each part followed by a 0xff separator byte).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in p.iter().chain(&[0xffu8]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A categorical field: its name and, per entity, its tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Field name (`"genres"`, `"occupation"`).
    pub name: String,
    /// Tokens of every entity (empty when missing).
    pub tokens: Vec<Vec<String>>,
}

/// Generators merged beyond the first (see [`Candidate::extra`]).
pub const MAX_EXTRA_GENERATORS: usize = 2;

/// One candidate as the generator(s) saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The item.
    pub item: ItemIdx,
    /// The (first) generator's score.
    pub score: f32,
    /// 0-based position in the generator's list (its length when it did not propose the item).
    pub rank: usize,
    /// Score and rank of each further generator (as many as the model merges; the rest unused).
    pub extra: [(f32, u32); MAX_EXTRA_GENERATORS],
}

impl Candidate {
    /// A candidate of a single generator.
    pub fn new(item: ItemIdx, score: f32, rank: usize) -> Candidate {
        Candidate {
            item,
            score,
            rank,
            extra: [(f32::NAN, 0); MAX_EXTRA_GENERATORS],
        }
    }
}

/// Everything needed to turn (user, candidate) into hashed features, fitted on training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpace {
    /// Groups and size.
    pub config: Config,
    /// Categorical item fields.
    pub item_fields: Vec<Field>,
    /// Categorical user attributes.
    pub user_fields: Vec<Field>,
    /// Training events per item.
    pub item_counts: Vec<u32>,
    /// Names of the request's context columns.
    pub context_names: Vec<String>,
    /// Mean and standard deviation of generator scores over the ranker's training candidates.
    pub score_mean: f32,
    /// See `score_mean` (1 when unknown).
    pub score_std: f32,
    /// Mean and standard deviation of each further generator's scores.
    #[serde(default)]
    pub extra_score_stats: Vec<(f32, f32)>,
    /// Length of a text vector (0 without the text group).
    #[serde(default)]
    pub text_dim: usize,
    /// `[n_items × text_dim]` L2-normalised item text vectors (zero rows: no text); stored
    /// as a tensor beside the model, not in its JSON.
    #[serde(skip)]
    pub item_text: Vec<f32>,
    /// `[n_users × text_dim]` profile text vectors, empty when no user has profile text.
    #[serde(skip)]
    pub user_text: Vec<f32>,
}

/// Mean and standard deviation (at least 1e-6) of non-empty `scores`.
fn mean_std(scores: &[f32]) -> (f32, f32) {
    let n = scores.len() as f64;
    let mean = scores.iter().map(|&s| s as f64).sum::<f64>() / n;
    let var = scores
        .iter()
        .map(|&s| (s as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean as f32, (var.sqrt() as f32).max(1e-6))
}

/// Splits a stored value into tokens: list fields are joined with `" | "`.
fn tokens_of(value: &str) -> Vec<String> {
    value
        .split(" | ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The categorical fields among `columns` (name, value per entity): at most half as many
/// distinct tokens as entities with a value.
fn categorical(columns: &[(String, Vec<String>)]) -> Vec<Field> {
    columns
        .iter()
        .filter_map(|(name, values)| {
            let tokens: Vec<Vec<String>> = values.iter().map(|v| tokens_of(v)).collect();
            let present = tokens.iter().filter(|t| !t.is_empty()).count();
            let distinct: HashSet<&str> = tokens.iter().flatten().map(String::as_str).collect();
            (present > 0 && distinct.len() * 2 <= present).then(|| Field {
                name: name.clone(),
                tokens,
            })
        })
        .collect()
}

impl FeatureSpace {
    /// Statistics from `train` only. `item_columns` / `user_columns`: the dataset's item text
    /// fields and user attributes (name, value per entity); `context_names`: its context
    /// columns.
    pub fn fit(
        config: &Config,
        train: &TrainData,
        item_columns: &[(String, Vec<String>)],
        user_columns: &[(String, Vec<String>)],
        context_names: &[String],
    ) -> FeatureSpace {
        let mut item_counts = vec![0u32; train.n_items];
        for &i in &train.matrix.indices {
            item_counts[i as usize] += 1;
        }
        FeatureSpace {
            config: config.clone(),
            item_fields: categorical(item_columns),
            user_fields: categorical(user_columns),
            item_counts,
            context_names: context_names.to_vec(),
            score_mean: 0.0,
            score_std: 1.0,
            extra_score_stats: Vec::new(),
            text_dim: 0,
            item_text: Vec::new(),
            user_text: Vec::new(),
        }
    }

    /// With the text group on: embeds every item's text (and users' profile text) of `train`
    /// with the configured encoder, through the cache. A no-op when the group is off.
    pub fn attach_text(&mut self, train: &TrainData, pb: &ProgressBar) -> crate::Result<()> {
        if !self.config.text {
            return Ok(());
        }
        let enc = crate::text_encoder::TextEncoder::resolve(&self.config.text_model)?;
        self.item_text =
            crate::text::item_vectors(&enc, &self.config.text_cache, train, "features.text", pb)?;
        self.user_text = if train.user_text.iter().any(|t| !t.trim().is_empty()) {
            crate::text::embed_or_zero(&enc, &train.user_text, &self.config.text_cache, pb)?
        } else {
            Vec::new()
        };
        self.text_dim = enc.dim();
        Ok(())
    }

    /// Sets text vectors read back from a saved model; checks their shapes.
    pub fn set_text(&mut self, dim: usize, items: Vec<f32>, users: Vec<f32>) -> crate::Result<()> {
        if dim == 0 || items.len() != self.item_counts.len() * dim {
            return Err(crate::Error::config(
                "features.text",
                format!(
                    "{} item text values for {} items of dimension {dim}",
                    items.len(),
                    self.item_counts.len()
                ),
            ));
        }
        self.text_dim = dim;
        self.item_text = items;
        self.user_text = users;
        Ok(())
    }

    /// Sets the generator-score standardisation from the training candidates' scores.
    pub fn set_score_stats(&mut self, scores: &[f32]) {
        if scores.is_empty() {
            return;
        }
        (self.score_mean, self.score_std) = mean_std(scores);
    }

    /// Adds the next further generator's score standardisation (see [`Candidate::extra`]).
    pub fn add_extra_score_stats(&mut self, scores: &[f32]) {
        self.extra_score_stats.push(if scores.is_empty() {
            (0.0, 1.0)
        } else {
            mean_std(scores)
        });
    }

    /// Number of hashed slots.
    pub fn dim(&self) -> usize {
        1 << self.config.bits
    }

    /// The hashed slot of a feature key.
    pub fn slot(&self, key: &str) -> u32 {
        (fnv1a(&[key.as_bytes()]) & ((1u64 << self.config.bits) - 1)) as u32
    }

    /// Per-request features shared by every candidate of `user` (ids, attributes, counts,
    /// recency, time, context), with their keys.
    fn user_part(&self, user: &UserContext<'_>, out: &mut Vec<(String, f32)>) {
        let c = &self.config;
        if c.ids {
            if let Some(u) = user.user {
                out.push((format!("u:{u}"), 1.0));
            }
        }
        if c.attributes {
            if let Some(u) = user.user {
                for f in &self.user_fields {
                    for t in f.tokens.get(u as usize).into_iter().flatten() {
                        out.push((format!("ua:{}={t}", f.name), 1.0));
                    }
                }
            }
        }
        if c.counts {
            let b = (user.history.len() as f64 + 1.0).log2().floor() as u32;
            out.push((format!("uact:{b}"), 1.0));
        }
        if let (true, Some(now), Some(ts)) = (c.recency, user.now, user.timestamps) {
            if let Some(&last) = ts.last() {
                let hours = ((now - last).max(0) as f64) / 3600.0;
                let b = (hours + 1.0).log2().floor() as u32;
                out.push((format!("rec:{b}"), 1.0));
            }
        }
        if let (true, Some(now)) = (c.time, user.now) {
            let hour = now.rem_euclid(86_400) / 3600;
            // Monday = 0 (1970-01-01, day 0, was a Thursday = 3).
            let dow = (now.div_euclid(86_400) + 3).rem_euclid(7);
            out.push((format!("hour:{hour}"), 1.0));
            out.push((format!("dow:{dow}"), 1.0));
        }
        if let (true, Some(ctx)) = (c.context, user.now_context) {
            for (name, &code) in self.context_names.iter().zip(ctx) {
                if code != MISSING {
                    out.push((format!("ctx:{name}={code}"), 1.0));
                }
            }
        }
    }

    /// The features of candidate `cand` for `user`, as (key, value) pairs: the readable form
    /// that explanations use. [`Self::hashed`] is the same list hashed.
    pub fn keyed(
        &self,
        user: &UserContext<'_>,
        cand: Candidate,
        history_tokens: &HistoryTokens,
    ) -> Vec<(String, f32)> {
        let mut out = Vec::with_capacity(32);
        self.user_part(user, &mut out);
        self.item_part(user, cand, history_tokens, &mut out);
        out
    }

    /// The request's own features (the same for every candidate), hashed: compute once per
    /// request and pass to [`Self::candidate_hashed`].
    pub fn user_hashed(&self, user: &UserContext<'_>) -> Vec<(u32, f32)> {
        let mut keys = Vec::with_capacity(16);
        self.user_part(user, &mut keys);
        keys.iter().map(|(k, v)| (self.slot(k), *v)).collect()
    }

    /// `user_part` (from [`Self::user_hashed`]) followed by the candidate's own features,
    /// hashed, appended to `out`: the same list as [`Self::hashed`].
    pub fn candidate_hashed(
        &self,
        user: &UserContext<'_>,
        user_part: &[(u32, f32)],
        cand: Candidate,
        history_tokens: &HistoryTokens,
        out: &mut Vec<(u32, f32)>,
    ) {
        out.extend_from_slice(user_part);
        let mut keys = Vec::with_capacity(24);
        self.item_part(user, cand, history_tokens, &mut keys);
        out.extend(keys.iter().map(|(k, v)| (self.slot(k), *v)));
    }

    /// The candidate's features (item, history match, crosses, counts, generator).
    fn item_part(
        &self,
        user: &UserContext<'_>,
        cand: Candidate,
        history_tokens: &HistoryTokens,
        out: &mut Vec<(String, f32)>,
    ) {
        let c = &self.config;
        let i = cand.item as usize;
        if c.ids {
            out.push((format!("i:{i}"), 1.0));
        }
        for (fi, f) in self.item_fields.iter().enumerate() {
            let toks = f.tokens.get(i).map(Vec::as_slice).unwrap_or(&[]);
            if c.attributes {
                for t in toks {
                    out.push((format!("it:{}={t}", f.name), 1.0));
                }
            }
            if c.history_match && !toks.is_empty() {
                let share = history_tokens.share(fi, toks);
                if share > 0.0 {
                    out.push((format!("hs:{}", f.name), share));
                }
            }
            if c.crosses {
                if let Some(u) = user.user {
                    for uf in &self.user_fields {
                        for uv in uf.tokens.get(u as usize).into_iter().flatten() {
                            for t in toks {
                                out.push((format!("x:{}={uv}&{}={t}", uf.name, f.name), 1.0));
                            }
                        }
                    }
                }
            }
        }
        if c.counts {
            let n = self.item_counts.get(i).copied().unwrap_or(0);
            let b = (n as f64 + 1.0).log2().floor() as u32;
            out.push((format!("ipop:{b}"), 1.0));
        }
        if c.text && !history_tokens.text.is_empty() {
            let d = self.text_dim;
            if let Some(v) = self.item_text.get(i * d..(i + 1) * d) {
                if v.iter().any(|&x| x != 0.0) {
                    let cos: f32 = v.iter().zip(&history_tokens.text).map(|(a, b)| a * b).sum();
                    out.push(("txt".to_string(), cos));
                    let b = (cos * 10.0).floor().clamp(-10.0, 10.0) as i32;
                    out.push((format!("txtb:{b}"), 1.0));
                }
            }
        }
        if c.generator {
            let z = if cand.score.is_finite() {
                (cand.score - self.score_mean) / self.score_std
            } else {
                0.0
            };
            out.push(("gs".to_string(), z));
            let b = (cand.rank as f64 + 1.0).log2().floor() as u32;
            out.push((format!("grank:{b}"), 1.0));
            for (j, (&(score, rank), &(mean, std))) in
                cand.extra.iter().zip(&self.extra_score_stats).enumerate()
            {
                let z = if score.is_finite() {
                    (score - mean) / std
                } else {
                    0.0
                };
                out.push((format!("gs{}", j + 1), z));
                let b = (rank as f64 + 1.0).log2().floor() as u32;
                out.push((format!("grank{}:{b}", j + 1), 1.0));
            }
        }
    }

    /// [`Self::keyed`] hashed into slots, appended to `out`.
    pub fn hashed(
        &self,
        user: &UserContext<'_>,
        cand: Candidate,
        history_tokens: &HistoryTokens,
        out: &mut Vec<(u32, f32)>,
    ) {
        let user_part = self.user_hashed(user);
        self.candidate_hashed(user, &user_part, cand, history_tokens, out);
    }

    /// Token counts of a user's history per item field, for the history-match features, and
    /// the user's text vector for the text feature.
    pub fn history_tokens(&self, user: &UserContext<'_>) -> HistoryTokens {
        let history = user.history;
        let text = self.user_text_vector(user);
        let mut distinct: Vec<ItemIdx> = history.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let counts = self
            .item_fields
            .iter()
            .map(|f| {
                let mut m: HashMap<String, u32> = HashMap::new();
                for &h in &distinct {
                    for t in f.tokens.get(h as usize).into_iter().flatten() {
                        *m.entry(t.clone()).or_default() += 1;
                    }
                }
                m
            })
            .collect();
        HistoryTokens {
            counts,
            n: distinct.len(),
            text,
        }
    }

    /// The user's normalised text vector: the mean of the latest 50 history items' vectors,
    /// else their profile's; empty without the text group or anything to read.
    fn user_text_vector(&self, user: &UserContext<'_>) -> Vec<f32> {
        let d = self.text_dim;
        if !self.config.text || d == 0 {
            return Vec::new();
        }
        let mut v = vec![0.0f32; d];
        let start = user.history.len().saturating_sub(50);
        for &h in &user.history[start..] {
            if let Some(x) = self.item_text.get(h as usize * d..(h as usize + 1) * d) {
                for (a, b) in v.iter_mut().zip(x) {
                    *a += b;
                }
            }
        }
        if v.iter().all(|&x| x == 0.0) {
            if let Some(x) = user
                .user
                .and_then(|u| self.user_text.get(u as usize * d..(u as usize + 1) * d))
            {
                v.copy_from_slice(x);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 {
            return Vec::new();
        }
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    /// The share of distinct keys in `keys` that share their slot with another key.
    pub fn collision_rate<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> f64 {
        let mut slots: HashMap<u32, u32> = HashMap::new();
        let mut seen = HashSet::new();
        for k in keys {
            if seen.insert(k) {
                *slots.entry(self.slot(k)).or_default() += 1;
            }
        }
        if seen.is_empty() {
            return 0.0;
        }
        let colliding: u32 = slots.values().filter(|&&c| c > 1).sum();
        colliding as f64 / seen.len() as f64
    }

    /// The keys of every feature the training data can produce apart from per-request ones
    /// (ids, attribute tokens, crosses), for [`Self::collision_rate`].
    pub fn static_keys(&self, n_users: usize) -> Vec<String> {
        let mut keys = Vec::new();
        if self.config.ids {
            keys.extend((0..n_users).map(|u| format!("u:{u}")));
            keys.extend((0..self.item_counts.len()).map(|i| format!("i:{i}")));
        }
        let vocab = |f: &Field| -> Vec<String> {
            let s: HashSet<&String> = f.tokens.iter().flatten().collect();
            let mut v: Vec<String> = s.into_iter().cloned().collect();
            v.sort();
            v
        };
        for f in &self.item_fields {
            for t in vocab(f) {
                keys.push(format!("it:{}={t}", f.name));
                if self.config.crosses {
                    for uf in &self.user_fields {
                        for uv in vocab(uf) {
                            keys.push(format!("x:{}={uv}&{}={t}", uf.name, f.name));
                        }
                    }
                }
            }
        }
        for f in &self.user_fields {
            for t in vocab(f) {
                keys.push(format!("ua:{}={t}", f.name));
            }
        }
        keys
    }
}

/// Per item field, how many of the user's distinct history items carry each token.
#[derive(Debug, Clone, Default)]
pub struct HistoryTokens {
    counts: Vec<HashMap<String, u32>>,
    n: usize,
    /// The user's normalised text vector (empty when none).
    text: Vec<f32>,
}

impl HistoryTokens {
    /// The share of history items carrying at least the most frequent of `tokens` (an
    /// approximation of "carries any of them" that needs no per-item pass).
    fn share(&self, field: usize, tokens: &[String]) -> f32 {
        if self.n == 0 {
            return 0.0;
        }
        let best = tokens
            .iter()
            .filter_map(|t| self.counts.get(field).and_then(|m| m.get(t)))
            .max()
            .copied()
            .unwrap_or(0);
        best as f32 / self.n as f32
    }

    /// The token of `tokens` most frequent in the history, with its share.
    pub fn favourite<'a>(&self, field: usize, tokens: &'a [String]) -> Option<(&'a str, f32)> {
        let m = self.counts.get(field)?;
        tokens
            .iter()
            .filter_map(|t| m.get(t).map(|&c| (t.as_str(), c)))
            .max_by_key(|&(_, c)| c)
            .map(|(t, c)| (t, c as f32 / self.n.max(1) as f32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::csr;

    fn space(cfg: &Config) -> (FeatureSpace, TrainData) {
        // items 0..4: genres; users 0..3 with occupation
        let train = TrainData::from_csr(
            csr(4, &[(0, 0, 1), (0, 1, 2), (1, 1, 1), (1, 2, 2), (2, 1, 1)]),
            true,
        );
        let items = vec![(
            "genres".to_string(),
            vec![
                "Drama | Crime".to_string(),
                "Drama".to_string(),
                "Comedy".to_string(),
                "Drama | Comedy".to_string(),
                String::new(),
                "Crime".into(),
                "Drama".into(),
                "Comedy".into(),
            ],
        )];
        let users = vec![
            (
                "occupation".to_string(),
                vec![
                    "writer".into(),
                    "artist".into(),
                    "writer".into(),
                    "writer".into(),
                ],
            ),
            // unique per user: not categorical
            (
                "zip".to_string(),
                vec!["1".into(), "2".into(), "3".into(), "4".into()],
            ),
        ];
        let fs = FeatureSpace::fit(cfg, &train, &items, &users, &["device".into()]);
        (fs, train)
    }

    #[test]
    fn builds_every_group_from_training_statistics() {
        let (mut fs, _) = space(&Config::default());
        assert_eq!(fs.item_fields.len(), 1);
        assert_eq!(
            fs.user_fields.len(),
            1,
            "zip is unique per user, not a feature"
        );
        assert_eq!(fs.item_counts[..4], [1, 3, 1, 0]);
        fs.set_score_stats(&[1.0, 3.0]);
        let history = [0u32, 1];
        let ts = [0i64, 7200];
        let user = UserContext {
            user: Some(0),
            history: &history,
            timestamps: Some(&ts),
            now: Some(7200 + 3 * 3600 + 86_400 * 4),
            context: None,
            now_context: Some(&[1]),
        };
        let ht = fs.history_tokens(&user);
        let keys = fs.keyed(&user, Candidate::new(3, 3.0, 2), &ht);
        let get = |k: &str| keys.iter().find(|(key, _)| key == k).map(|(_, v)| *v);
        assert_eq!(get("u:0"), Some(1.0));
        assert_eq!(get("i:3"), Some(1.0));
        assert_eq!(get("ua:occupation=writer"), Some(1.0));
        assert_eq!(get("it:genres=Drama"), Some(1.0));
        assert_eq!(get("it:genres=Comedy"), Some(1.0));
        // both history items are Drama
        assert_eq!(get("hs:genres"), Some(1.0));
        assert_eq!(get("x:occupation=writer&genres=Comedy"), Some(1.0));
        assert_eq!(get("ipop:0"), Some(1.0));
        assert_eq!(get("uact:1"), Some(1.0));
        // 4 days + 3 h after the last event: log2(1 + 99) → 6
        assert_eq!(get("rec:6"), Some(1.0));
        // 1970-01-05 (Monday) 05:00
        assert_eq!(get("hour:5"), Some(1.0));
        assert_eq!(get("dow:0"), Some(1.0));
        assert_eq!(get("ctx:device=1"), Some(1.0));
        assert_eq!(get("gs"), Some(1.0));
        assert_eq!(get("grank:1"), Some(1.0));
        let mut hashed = Vec::new();
        fs.hashed(&user, Candidate::new(3, 3.0, 2), &ht, &mut hashed);
        assert_eq!(hashed.len(), keys.len());
        assert!(hashed.iter().all(|&(i, _)| (i as usize) < fs.dim()));
        assert_eq!(
            ht.favourite(0, &["Comedy".into(), "Drama".into()]),
            Some(("Drama", 1.0))
        );
        // Switched-off groups are absent.
        let (fs, _) = space(&Config {
            ids: false,
            crosses: false,
            ..Config::default()
        });
        let keys = fs.keyed(&user, Candidate::new(3, 0.0, 0), &ht);
        assert!(keys
            .iter()
            .all(|(k, _)| !k.starts_with("u:") && !k.starts_with("x:")));
    }

    /// The measured collision rate of distinct keys matches the birthday estimate
    /// 1 − (1 − 1/m)^(n − 1) for n keys in m slots.
    #[test]
    fn collision_rate_matches_the_hashing_estimate() {
        let (fs, _) = space(&Config {
            bits: 12,
            ..Config::default()
        });
        let keys: Vec<String> = (0..2000).map(|i| format!("i:{i}")).collect();
        let rate = fs.collision_rate(keys.iter().map(String::as_str));
        let (n, m) = (2000f64, 4096f64);
        let expected = 1.0 - (1.0 - 1.0 / m).powf(n - 1.0);
        assert!((rate - expected).abs() < 0.05, "{rate} vs {expected}");
        assert!(!fs.static_keys(4).is_empty());
        assert_eq!(fnv1a(&[b"a"]), fnv1a(&[b"a"]));
        assert_ne!(fnv1a(&[b"ab"]), fnv1a(&[b"a", b"b"]));
    }
}
