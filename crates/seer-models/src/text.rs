//! `text`: the language-model recommender. Items and users are vectors of a pretrained
//! sentence encoder ([`crate::text_encoder`], all-MiniLM-L6-v2 by default); a user's score for
//! an item is the cosine similarity of the two.
//!
//! Follows the "language model as a recommender" baselines of UniSRec (Hou et al. 2022) and
//! Sentence-BERT retrieval: no parameter is trained on the interactions, so an item is
//! recommendable the moment it has text, and what the encoder learned on general text carries
//! over to any domain.
//!
//! - Item vector: the encoder applied to the item's text (`Dataset::item_document`: title,
//!   then `field: value` for description, brand, categories, tags…), for every item of the
//!   catalogue, including items without a single training event. Items without text get a
//!   zero vector (score 0).
//! - User vector, by [`UserMode`]:
//!   - `history` (default): the recency-weighted mean of the vectors of the user's last
//!     `max_history` items, weight `0.5^(age / half_life)` with `age` = 0 for the newest;
//!   - `titles`: the encoder applied to the texts of the user's `recent` latest items, newest
//!     first, joined by `"; "` (computed at scoring time, batched over users);
//!   - `profile`: the encoder applied to the user's profile text (user attributes, declared
//!     interests), for users who have one.
//!
//!   A user without history falls back to the profile vector, and one without either scores
//!   every item 0 (the harness then breaks ties by popularity).
//! - Free-text queries ([`Recommender::score_query`]): the query's vector against the items'.
//!
//! Deviations: vectors are computed once at fit time and saved with the model (the encoder is
//! reloaded from `text_model` only for `titles` and for queries); embeddings go through the
//! on-disk cache of [`EmbeddingCache`] so re-fitting never re-embeds unchanged text.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use indicatif::ProgressBar;
use seer_core::{check_score_len, Recommender, UserContext};
use serde::{Deserialize, Serialize};

use crate::check;
use crate::error::{Error, Result};
use crate::io::{self, Loaded, Tensor};
use crate::text_encoder::finetune::{self, FineTuneConfig};
use crate::text_encoder::{EmbeddingCache, TextEncoder, DEFAULT_MODEL_DIR};
use crate::train::TrainData;

/// Model kind written into saved files.
pub const KIND: &str = "text";

/// How a user becomes a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserMode {
    /// Recency-weighted mean of the user's history item vectors.
    #[default]
    History,
    /// The encoder applied to the user's most recent item texts.
    Titles,
    /// The encoder applied to the user's profile text.
    Profile,
}

/// Hyper-parameters of the language-model recommender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Sentence encoder: a sentence-transformers model directory, or a Hugging Face hub id
    /// when no such directory exists. Default `models/all-MiniLM-L6-v2` (where
    /// `seer fetch minilm` puts it).
    pub text_model: String,
    /// User representation: `history`, `titles` or `profile`. Default `history`.
    pub user: UserMode,
    /// `history`: half-life of the recency weights, in events. Default 5.
    pub half_life: f32,
    /// `history`: at most this many latest items are read. Default 50.
    pub max_history: usize,
    /// `titles`: number of latest item texts read. Default 5.
    pub recent: usize,
    /// Embedding cache folder; empty disables it. Default `models/cache`.
    pub cache: String,
    /// Fine-tune the encoder on the training sequences first (see
    /// [`crate::text_encoder::finetune`]): this many epochs of contrastive training of its
    /// top blocks on (history, next item) pairs. 0 (default): use the encoder as it is.
    pub finetune_epochs: usize,
    /// Top blocks fine-tuned. Default 2 (of MiniLM's 6).
    pub finetune_layers: usize,
    /// Peak learning rate of fine-tuning. Default 1e-4.
    pub finetune_lr: f64,
    /// (history, next item) pairs per batch; the other pairs' items are the negatives.
    /// Default 64.
    pub finetune_batch: usize,
    /// Temperature of the contrastive softmax. Default 0.05.
    pub finetune_temperature: f32,
    /// At most this many users' sequences (a seeded sample) take part. Default 8192.
    pub finetune_users: usize,
    /// Where the fine-tuned encoder (a sentence-transformers model directory) is written; the
    /// fitted model then reads it as its `text_model`. Default `models/minilm-finetuned`.
    pub finetune_out: String,
    /// Seed of fine-tuning. Default 42.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            text_model: DEFAULT_MODEL_DIR.to_string(),
            user: UserMode::History,
            half_life: 5.0,
            max_history: 50,
            recent: 5,
            cache: "models/cache".to_string(),
            finetune_epochs: 0,
            finetune_layers: 2,
            finetune_lr: 1e-4,
            finetune_batch: 64,
            finetune_temperature: 0.05,
            finetune_users: 8192,
            finetune_out: "models/minilm-finetuned".to_string(),
            seed: 42,
        }
    }
}

impl Config {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.half_life > 0.0 && self.half_life.is_finite()) {
            return Err(Error::config("text.half_life", "must be a positive number"));
        }
        check::at_least_one("text.max_history", self.max_history)?;
        check::at_least_one("text.recent", self.recent)?;
        if self.finetune_epochs > 0 {
            if self.finetune_batch < 2 {
                return Err(Error::config("text.finetune_batch", "must be at least 2"));
            }
            if !(self.finetune_lr > 0.0 && self.finetune_lr.is_finite()) {
                return Err(Error::config("text.finetune_lr", "must be positive"));
            }
            if !(self.finetune_temperature.is_finite() && self.finetune_temperature > 0.0) {
                return Err(Error::config(
                    "text.finetune_temperature",
                    "must be positive",
                ));
            }
            if self.finetune_layers == 0 || self.finetune_users == 0 {
                return Err(Error::config(
                    "text.finetune_layers/finetune_users",
                    "must be at least 1",
                ));
            }
        }
        if self.text_model.trim().is_empty() {
            return Err(Error::config(
                "text.text_model",
                "must name a sentence-transformers model directory",
            ));
        }
        Ok(())
    }
}

/// The fitted language-model recommender.
pub struct TextRecommender {
    config: Config,
    dim: usize,
    n_items: usize,
    /// `[n_items, dim]`, L2-normalised (zero rows for items without text).
    items: Vec<f32>,
    /// Item texts, kept for `titles` (empty otherwise).
    item_text: Vec<String>,
    /// `[n_users, dim]` profile vectors (zero rows for users without one); empty when the data
    /// has no user text.
    profiles: Vec<f32>,
    /// The encoder, loaded on first need after [`crate::load`].
    encoder: OnceLock<std::result::Result<TextEncoder, String>>,
}

impl std::fmt::Debug for TextRecommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextRecommender")
            .field("config", &self.config)
            .field("n_items", &self.n_items)
            .field("dim", &self.dim)
            .finish()
    }
}

/// Encodes `texts` through the cache in `cache_dir` (when not empty).
fn embed(enc: &TextEncoder, texts: &[&str], cache_dir: &str, pb: &ProgressBar) -> Result<Vec<f32>> {
    if cache_dir.is_empty() {
        return enc.encode(texts, pb);
    }
    let mut cache = EmbeddingCache::open(Path::new(cache_dir), enc)?;
    let (v, hits) = enc.encode_cached(texts, &mut cache, pb)?;
    tracing::info!(texts = texts.len(), from_cache = hits, "embedded");
    Ok(v)
}

/// Texts with their vectors zeroed where the text is empty (nothing to say about them).
pub(crate) fn embed_or_zero(
    enc: &TextEncoder,
    texts: &[String],
    cache_dir: &str,
    pb: &ProgressBar,
) -> Result<Vec<f32>> {
    let d = enc.dim();
    let present: Vec<usize> = (0..texts.len())
        .filter(|&i| !texts[i].trim().is_empty())
        .collect();
    let refs: Vec<&str> = present.iter().map(|&i| texts[i].as_str()).collect();
    pb.set_length(refs.len() as u64);
    let v = embed(enc, &refs, cache_dir, pb)?;
    let mut out = vec![0f32; texts.len() * d];
    for (k, &i) in present.iter().enumerate() {
        out[i * d..(i + 1) * d].copy_from_slice(&v[k * d..(k + 1) * d]);
    }
    Ok(out)
}

/// The sentence vectors of every catalogue item of `train` (zero rows for items without
/// text) with `enc`, through the cache in `cache_dir`. Used by every model that reads item
/// text; `key` names the setting in the error for data without item text.
pub(crate) fn item_vectors(
    enc: &TextEncoder,
    cache_dir: &str,
    train: &TrainData,
    key: &str,
    pb: &ProgressBar,
) -> Result<Vec<f32>> {
    if train.item_text.iter().all(|t| t.trim().is_empty()) {
        return Err(Error::config(
            key,
            "the dataset has no item text (titles, descriptions, categories…) to embed; \
             import item fields or use another model",
        ));
    }
    embed_or_zero(enc, &train.item_text, cache_dir, pb)
}

impl TextRecommender {
    /// Embeds every item's text (and every user's profile text) of `train`.
    pub fn fit(config: &Config, train: &TrainData, pb: &ProgressBar) -> Result<TextRecommender> {
        config.validate()?;
        let mut config = Config {
            text_model: absolute(&config.text_model),
            ..config.clone()
        };
        let mut enc = TextEncoder::resolve(&config.text_model)?;
        if config.finetune_epochs > 0 {
            let out = PathBuf::from(absolute(&config.finetune_out));
            let ft = FineTuneConfig {
                layers: config.finetune_layers,
                epochs: config.finetune_epochs,
                lr: config.finetune_lr,
                batch_size: config.finetune_batch,
                temperature: config.finetune_temperature,
                // The 5 latest carry most of the recency weight at the default half-life.
                history: config.max_history.min(5),
                half_life: config.half_life,
                max_users: config.finetune_users,
                dropout: 0.1,
                seed: config.seed,
            };
            let log = finetune::fine_tune(&enc, train, &ft, &out, pb)?;
            tracing::info!(
                epochs = log.epochs.len(),
                final_loss = log.epochs.last().map(|e| e.loss),
                out = %out.display(),
                "encoder fine-tuned"
            );
            enc = TextEncoder::load(&out)?;
            config.text_model = out.to_string_lossy().into_owned();
            // A fine-tuned encoder is new each fit: keep its vectors out of the shared cache.
            config.cache = String::new();
        }
        let config = &config;
        let items = item_vectors(&enc, &config.cache, train, "text", pb)?;
        let profiles = if train.user_text.iter().any(|t| !t.trim().is_empty()) {
            embed_or_zero(&enc, &train.user_text, &config.cache, pb)?
        } else {
            Vec::new()
        };
        if config.user == UserMode::Profile && profiles.is_empty() {
            return Err(Error::config(
                "text.user",
                "`profile` needs user text (user attributes or declared interests), and this \
                 dataset has none; use `history` or `titles`",
            ));
        }
        let keep_text = config.user == UserMode::Titles;
        Ok(TextRecommender {
            config: config.clone(),
            dim: enc.dim(),
            n_items: train.n_items,
            items,
            item_text: if keep_text {
                train.item_text.clone()
            } else {
                Vec::new()
            },
            profiles,
            encoder: OnceLock::from(Ok(enc)),
        })
    }

    /// Reads a saved model; the encoder is loaded when first needed.
    pub(crate) fn load(file: &Loaded, config: Config) -> Result<TextRecommender> {
        let dim = file.usize("text.dim")?.first().copied().unwrap_or(0);
        if dim == 0 {
            return Err(file.bad("text.dim must be positive".into()));
        }
        let (_, items) = file.f32("text.items", None)?;
        if items.len() % dim != 0 {
            return Err(file.bad(format!("text.items is not a multiple of {dim}")));
        }
        let profiles = if file.has("text.profiles") {
            file.f32("text.profiles", None)?.1
        } else {
            Vec::new()
        };
        let item_text: Vec<String> = if file.has("text.item_text") {
            serde_json::from_slice(file.bytes("text.item_text")?)
                .map_err(|e| file.bad(format!("text.item_text: {e}")))?
        } else {
            Vec::new()
        };
        Ok(TextRecommender {
            n_items: items.len() / dim,
            dim,
            items,
            item_text,
            profiles,
            config,
            encoder: OnceLock::new(),
        })
    }

    /// The config this model was fitted with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The item vectors, `[n_items, dim]`.
    pub fn item_vectors(&self) -> &[f32] {
        &self.items
    }

    fn encoder(&self) -> Result<&TextEncoder> {
        self.encoder
            .get_or_init(|| {
                TextEncoder::resolve(&self.config.text_model).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::config("text.text_model", e.clone()))
    }

    /// The user's vector (not normalised; all zero when there is nothing to go on), for the
    /// modes that need no encoder call.
    fn user_vector(&self, user: &UserContext<'_>, out: &mut [f32]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        let d = self.dim;
        let profile = user
            .user
            .map(|u| u as usize)
            .filter(|&u| (u + 1) * d <= self.profiles.len())
            .map(|u| &self.profiles[u * d..(u + 1) * d])
            .filter(|p| p.iter().any(|&x| x != 0.0));
        let known: Vec<u32> = user
            .history
            .iter()
            .copied()
            .filter(|&i| (i as usize) < self.n_items)
            .collect();
        if self.config.user == UserMode::Profile || known.is_empty() {
            if let Some(p) = profile {
                out.copy_from_slice(p);
                return;
            }
        }
        let start = known.len().saturating_sub(self.config.max_history);
        let last = known.len().saturating_sub(1);
        for (pos, &i) in known.iter().enumerate().skip(start) {
            let age = (last - pos) as f32;
            let w = 0.5f32.powf(age / self.config.half_life);
            let v = &self.items[i as usize * d..(i as usize + 1) * d];
            for (o, &x) in out.iter_mut().zip(v) {
                *o += w * x;
            }
        }
    }

    /// `titles`: the text the encoder reads for a user, or `None` to fall back.
    fn recent_titles(&self, user: &UserContext<'_>) -> Option<String> {
        let texts: Vec<&str> = user
            .history
            .iter()
            .rev()
            .filter_map(|&i| self.item_text.get(i as usize))
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .take(self.config.recent)
            .collect();
        (!texts.is_empty()).then(|| texts.join("; "))
    }

    /// `out[u, i] = users[u] · items[i]`.
    fn scores(&self, users: &[f32], out: &mut [f32]) {
        let (d, n) = (self.dim, self.n_items);
        let m = users.len() / d;
        matmul(
            MatMut::from_row_major_slice_mut(out, m, n),
            Accum::Replace,
            MatRef::from_row_major_slice(users, m, d),
            MatRef::from_row_major_slice(&self.items, n, d).transpose(),
            1.0f32,
            Par::rayon(0),
        );
    }
}

/// Scales `v` to unit length (left at zero when it is zero).
fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

impl Recommender for TextRecommender {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        self.score_batch(std::slice::from_ref(user), out)
    }

    fn score_batch(&self, users: &[UserContext<'_>], out: &mut [f32]) -> seer_core::Result<()> {
        check_score_len(users.len() * self.n_items, out.len())?;
        let d = self.dim;
        let mut vecs = vec![0f32; users.len() * d];
        for (u, v) in users.iter().zip(vecs.chunks_exact_mut(d)) {
            self.user_vector(u, v);
        }
        if self.config.user == UserMode::Titles {
            let texts: Vec<(usize, String)> = users
                .iter()
                .enumerate()
                .filter_map(|(k, u)| self.recent_titles(u).map(|t| (k, t)))
                .collect();
            if !texts.is_empty() {
                let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
                let enc = self.encoder()?;
                let v = enc.encode(&refs, &ProgressBar::hidden())?;
                for ((k, _), row) in texts.iter().zip(v.chunks_exact(d)) {
                    vecs[k * d..(k + 1) * d].copy_from_slice(row);
                }
            }
        }
        for v in vecs.chunks_exact_mut(d) {
            normalise(v);
        }
        self.scores(&vecs, out);
        Ok(())
    }

    fn score_query(&self, query: &str, out: &mut [f32]) -> seer_core::Result<()> {
        check_score_len(self.n_items, out.len())?;
        let v = self.encoder()?.encode(&[query], &ProgressBar::hidden())?;
        self.scores(&v, out);
        Ok(())
    }

    fn save(&self, dir: &Path) -> seer_core::Result<()> {
        let dim = [self.dim];
        let text_json =
            serde_json::to_vec(&self.item_text).map_err(|e| Error::Tensor(e.to_string()))?;
        let mut tensors = vec![
            ("text.dim", Tensor::u64(&dim)),
            (
                "text.items",
                Tensor::f32(&[self.n_items, self.dim], &self.items),
            ),
        ];
        if !self.profiles.is_empty() {
            tensors.push((
                "text.profiles",
                Tensor::f32(&[self.profiles.len() / self.dim, self.dim], &self.profiles),
            ));
        }
        if !self.item_text.is_empty() {
            tensors.push(("text.item_text", Tensor::bytes(&text_json)));
        }
        Ok(io::save_model(dir, KIND, &self.config, &tensors)?)
    }
}

/// The absolute form of a model directory, so a saved model finds its encoder from any
/// working directory.
pub(crate) fn absolute(path: &str) -> String {
    let p = PathBuf::from(path);
    std::fs::canonicalize(&p)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_round_trip, csr, minilm_dir};

    const BOOKS: [&str; 6] = [
        "Dune. genres: science fiction, space opera",
        "Foundation. genres: science fiction, galactic empire",
        "The Joy of Cooking. genres: cookbook, recipes",
        "Salt Fat Acid Heat. genres: cookbook, cooking techniques",
        "Neuromancer. genres: science fiction, cyberpunk",
        "Mastering the Art of French Cooking. genres: cookbook, French cuisine",
    ];

    /// Two readers: one of science fiction (items 0, 1), one of cookbooks (items 2, 3).
    fn train(texts: &[&str], users_text: bool) -> TrainData {
        let mut t = TrainData::from_csr(
            csr(texts.len(), &[(0, 0, 1), (0, 1, 2), (1, 2, 1), (1, 3, 2)]),
            false,
        );
        t.item_text = texts.iter().map(|s| s.to_string()).collect();
        if users_text {
            t.user_text = vec!["".into(), "".into()];
        }
        t
    }

    fn config(dir: &Path, user: UserMode) -> Config {
        Config {
            text_model: dir.to_string_lossy().into_owned(),
            user,
            cache: String::new(),
            ..Config::default()
        }
    }

    fn top(scores: &[f32], seen: &[u32]) -> u32 {
        let mut best = None;
        for (i, &s) in scores.iter().enumerate() {
            if seen.contains(&(i as u32)) {
                continue;
            }
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i as u32, s));
            }
        }
        best.expect("an unseen item").0
    }

    #[test]
    fn readers_get_the_unread_book_of_their_genre_in_every_user_mode() {
        let Some(dir) = minilm_dir() else {
            return;
        };
        let data = train(&BOOKS, false);
        for mode in [UserMode::History, UserMode::Titles] {
            let m =
                TextRecommender::fit(&config(&dir, mode), &data, &ProgressBar::hidden()).unwrap();
            let mut s = vec![0.0; BOOKS.len()];
            m.score(&UserContext::from_history(Some(0), &[0, 1]), &mut s)
                .unwrap();
            assert_eq!(top(&s, &[0, 1]), 4, "{mode:?} sci-fi reader: {s:?}");
            m.score(&UserContext::from_history(Some(1), &[2, 3]), &mut s)
                .unwrap();
            assert_eq!(top(&s, &[2, 3]), 5, "{mode:?} cook: {s:?}");
            // Scores are cosines.
            assert!(s.iter().all(|v| (-1.0001..=1.0001).contains(v)), "{s:?}");
        }
    }

    #[test]
    fn a_newly_added_item_is_found_by_a_query_that_describes_it() {
        let Some(dir) = minilm_dir() else {
            return;
        };
        // The catalogue grows by an item with text and no events at all.
        let mut texts = BOOKS.to_vec();
        texts.push("Gardening for beginners: growing tomatoes and herbs on a balcony");
        let m = TextRecommender::fit(
            &config(&dir, UserMode::History),
            &train(&texts, false),
            &ProgressBar::hidden(),
        )
        .unwrap();
        let mut s = vec![0.0; texts.len()];
        m.score_query("how to grow vegetables in pots", &mut s)
            .unwrap();
        assert_eq!(top(&s, &[]), 6, "{s:?}");
        m.score_query("dark cyberpunk hacker novel", &mut s)
            .unwrap();
        assert_eq!(top(&s, &[]), 4, "{s:?}");
        // Other models refuse queries with a message naming the text model.
        let pop = crate::ModelConfig::from_spec("pop")
            .unwrap()
            .fit(&train(&texts, false), &ProgressBar::hidden())
            .unwrap();
        let err = pop.score_query("anything", &mut s).unwrap_err().to_string();
        assert!(err.contains("`text` model"), "{err}");
    }

    #[test]
    fn saved_models_score_like_the_fitted_ones() {
        let Some(dir) = minilm_dir() else {
            return;
        };
        for mode in [UserMode::History, UserMode::Titles] {
            let cfg = crate::ModelConfig::Text(config(&dir, mode));
            assert_round_trip(&cfg, &train(&BOOKS, false));
        }
    }

    #[test]
    fn without_item_text_or_profiles_the_errors_say_what_is_missing() {
        let Some(dir) = minilm_dir() else {
            return;
        };
        let err = TextRecommender::fit(
            &config(&dir, UserMode::History),
            &train(&["", "", "", ""], false),
            &ProgressBar::hidden(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no item text"), "{err}");
        let err = TextRecommender::fit(
            &config(&dir, UserMode::Profile),
            &train(&BOOKS, true),
            &ProgressBar::hidden(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("needs user text"), "{err}");
    }

    #[test]
    fn profiles_serve_users_without_history() {
        let Some(dir) = minilm_dir() else {
            return;
        };
        let mut data = train(&BOOKS, true);
        data.user_text = vec![
            "I love space and robots".into(),
            "home cook who loves French food".into(),
        ];
        let m = TextRecommender::fit(
            &config(&dir, UserMode::History),
            &data,
            &ProgressBar::hidden(),
        )
        .unwrap();
        let mut s = vec![0.0; BOOKS.len()];
        m.score(&UserContext::from_history(Some(1), &[]), &mut s)
            .unwrap();
        assert_eq!(top(&s, &[]), 5, "{s:?}");
        // No history and no profile: nothing to go on, every score 0.
        m.score(&UserContext::from_history(None, &[]), &mut s)
            .unwrap();
        assert!(s.iter().all(|&v| v == 0.0));
    }

    /// With `finetune_epochs`, the fitted model reads the fine-tuned encoder it wrote (its
    /// vectors differ from the pretrained ones), queries go through it, and a saved model
    /// finds it again.
    #[test]
    fn a_fine_tuned_model_uses_and_keeps_its_own_encoder() {
        let Some(dir) = minilm_dir() else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("tuned");
        let data = train(&BOOKS, false);
        let plain = TextRecommender::fit(
            &config(&dir, UserMode::History),
            &data,
            &ProgressBar::hidden(),
        )
        .unwrap();
        let cfg = Config {
            finetune_epochs: 2,
            finetune_layers: 1,
            finetune_batch: 2,
            finetune_out: out.to_string_lossy().into_owned(),
            ..config(&dir, UserMode::History)
        };
        let m = TextRecommender::fit(&cfg, &data, &ProgressBar::hidden()).unwrap();
        assert_eq!(Path::new(&m.config().text_model), out.as_path());
        assert!(out.join("model.safetensors").exists());
        assert_ne!(m.item_vectors(), plain.item_vectors());
        let mut s = vec![0.0; BOOKS.len()];
        m.score_query("dark cyberpunk hacker novel", &mut s)
            .unwrap();
        assert!(s.iter().all(|v| v.is_finite()) && s.iter().any(|&v| v != 0.0));
        let saved = tmp.path().join("model");
        m.save(&saved).unwrap();
        let back = crate::load(&saved).unwrap();
        let mut b = vec![0.0; BOOKS.len()];
        back.score_query("dark cyberpunk hacker novel", &mut b)
            .unwrap();
        assert_eq!(s, b);
        let bad = Config {
            finetune_batch: 1,
            ..cfg
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("finetune_batch"));
    }
}
