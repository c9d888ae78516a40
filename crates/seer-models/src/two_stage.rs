//! Two-stage recommending: a candidate generator proposes, a feature-based ranker orders.
//!
//! Follows the candidate-generation + ranking architecture of Covington, Adams & Sargin, "Deep
//! Neural Networks for YouTube Recommendations", RecSys 2016: any seer model (EASE, item-kNN,
//! SASRec, …) returns its top `candidates` items for the user (seen items excluded), and a
//! pointwise ranker — logistic regression with FTRL ([`crate::ranker::lr`]) or a factorization
//! machine ([`crate::ranker::fm`]) — re-orders them by `P(engage | user, item, context)` from
//! the hashed features of [`crate::ranker::features`], the generator's own score among them.
//!
//! **Training without leakage.** The ranker must learn from events its generator did not see.
//! Each user's latest training event (users with at least two) is held out; a generator fitted
//! on the rest proposes candidates for that moment (the held-out event's time and context
//! are the request's); the held-out item is the positive when the generator found it, and
//! `negatives` other candidates, drawn uniformly from the list, are the negatives ("hard"
//! negatives: what the ranker will actually have to separate at serving time). Item counts for
//! these examples come from the inner training part too. Then the generator is refit on all of
//! the training data for serving, and the counts are updated to it. No statistic ever reads
//! validation or test events: the model only receives [`TrainData`].
//!
//! **Deviations.** Users whose held-out item the generator missed give no example (the ranker
//! cannot change what it is not offered); the share of such users is logged as the generator's
//! recall. Items outside the candidate list keep the generator's order below every candidate.

use std::path::Path;

use indicatif::ProgressBar;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use seer_core::{check_score_len, ItemIdx, Recommender, UserContext};
use serde::{Deserialize, Serialize};

use crate::check;
use crate::error::{Error, Result};
use crate::io::{self, Loaded, Tensor};
use crate::ranker::features::{self, Candidate, FeatureSpace};
use crate::ranker::{self, fm, lr, Examples};
use crate::train::TrainData;
use crate::ModelConfig;

/// Model kind in files and reports.
pub const KIND: &str = "two_stage";

/// Generators merged beyond the first.
pub const MAX_EXTRA_GENERATORS: usize = features::MAX_EXTRA_GENERATORS;

pub use crate::ranker::RankerConfig;

/// Two-stage hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The candidate generator. Default `pop`.
    pub generator: Box<ModelConfig>,
    /// Further generators (at most [`MAX_EXTRA_GENERATORS`]) whose top `candidates` are
    /// merged with the first one's: the candidate set is the union, and every candidate
    /// carries every generator's score and rank as features. Spec: `ease|itemknn+lr`.
    /// Default none.
    pub extra_generators: Vec<ModelConfig>,
    /// The ranker. Default logistic regression.
    pub ranker: RankerConfig,
    /// Candidates the generator proposes per user (≥ 1). Default 200.
    pub candidates: usize,
    /// Negatives per training user, drawn from the candidates (≥ 1). Default 20.
    pub negatives: usize,
    /// Users the ranker learns from, a seeded sample (0 = all). Default 0.
    pub max_users: usize,
    /// Seed of the negative sampling and the user sample. Default 42.
    pub seed: u64,
    /// Feature groups and hashed space.
    pub features: features::Config,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            generator: Box::new(ModelConfig::Popularity(Default::default())),
            extra_generators: Vec::new(),
            ranker: RankerConfig::Lr(Default::default()),
            candidates: 200,
            negatives: 20,
            max_users: 0,
            seed: 42,
            features: Default::default(),
        }
    }
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if matches!(*self.generator, ModelConfig::TwoStage(_)) {
            return Err(Error::config(
                "two_stage.generator",
                "a two-stage model cannot generate candidates for another",
            ));
        }
        self.generator.validate()?;
        if self.extra_generators.len() > MAX_EXTRA_GENERATORS {
            return Err(Error::config(
                "two_stage.extra_generators",
                format!(
                    "{} extra generators; at most {MAX_EXTRA_GENERATORS} can be merged",
                    self.extra_generators.len()
                ),
            ));
        }
        for g in &self.extra_generators {
            if matches!(g, ModelConfig::TwoStage(_)) {
                return Err(Error::config(
                    "two_stage.extra_generators",
                    "a two-stage model cannot generate candidates for another",
                ));
            }
            g.validate()?;
        }
        self.ranker.validate()?;
        let loss = match &self.ranker {
            RankerConfig::Lr(c) => c.loss,
            RankerConfig::Fm(c) => c.loss,
        };
        if loss != ranker::Loss::Logistic {
            return Err(Error::config(
                "two_stage.ranker.loss",
                "a two-stage ranker predicts engagement probabilities: the loss must be logistic",
            ));
        }
        check::at_least_one("two_stage.candidates", self.candidates)?;
        check::at_least_one("two_stage.negatives", self.negatives)?;
        self.features.validate("two_stage.features")
    }

    /// `GENERATOR+RANKER`, e.g. `ease+lr`.
    pub fn short_name(&self) -> String {
        let r = match self.ranker {
            RankerConfig::Lr(_) => "lr",
            RankerConfig::Fm(_) => "fm",
        };
        let mut g = self.generator.name().to_string();
        for e in &self.extra_generators {
            g.push('|');
            g.push_str(e.name());
        }
        format!("{g}+{r}")
    }
}

use crate::ranker::Fitted;

/// How the ranker did on its own training examples (the inner split), logged at fit time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Training examples.
    pub examples: usize,
    /// Users whose held-out item was among the generator's candidates.
    pub users_with_positive: usize,
    /// Users with a held-out event.
    pub users: usize,
    /// AUC of the ranker on its training examples after training.
    pub train_auc: f64,
    /// Log loss on the training examples after training.
    pub train_log_loss: f64,
    /// Expected calibration error (10 bins) on the training examples.
    pub calibration_error: f64,
    /// Share of distinct static feature keys sharing a hashed slot.
    pub collision_rate: f64,
}

/// A fitted two-stage model.
pub struct TwoStage {
    config: Config,
    generator: Box<dyn Recommender>,
    extra: Vec<Box<dyn Recommender>>,
    ranker: Fitted,
    space: FeatureSpace,
    n_items: usize,
    report: FitReport,
}

impl std::fmt::Debug for TwoStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoStage")
            .field("config", &self.config)
            .field("n_items", &self.n_items)
            .field("report", &self.report)
            .finish()
    }
}

/// The request of a user at a row of a training matrix: its events before `end`, the time and
/// context of the event at `end`.
fn context_at(train: &TrainData, end: usize) -> (Option<i64>, Option<Vec<u32>>) {
    let m = &train.matrix;
    let nc = m.n_context;
    let now = train.has_timestamps.then(|| m.ts[end]);
    let ctx =
        (nc > 0 && !m.context.is_empty()).then(|| m.context[end * nc..(end + 1) * nc].to_vec());
    (now, ctx)
}

/// Each generator's top `k` unseen items for `user`, merged: the first generator's list in its
/// order, then items only the others proposed (in their order). Every candidate carries the
/// first generator's score and rank (rank `k` when it was not in that list) and each other
/// generator's. `bufs` (one score buffer per generator) is left holding the scores.
fn propose(
    gens: &[&dyn Recommender],
    user: &UserContext<'_>,
    k: usize,
    bufs: &mut [Vec<f32>],
) -> Result<Vec<Candidate>> {
    let mut lists = Vec::with_capacity(gens.len());
    for (g, buf) in gens.iter().zip(bufs.iter_mut()) {
        g.score(user, buf)?;
        let mut masked = buf.clone();
        for &h in user.history {
            if let Some(s) = masked.get_mut(h as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
        lists.push(seer_core::topk::top_k(&masked, k));
    }
    let mut rank_of: Vec<std::collections::HashMap<ItemIdx, usize>> = lists
        .iter()
        .map(|l| l.iter().enumerate().map(|(r, &(i, _))| (i, r)).collect())
        .collect();
    let mut out: Vec<Candidate> = Vec::with_capacity(k * gens.len());
    let mut seen = std::collections::HashSet::new();
    for l in &lists {
        for &(item, _) in l {
            if !seen.insert(item) {
                continue;
            }
            let at = |j: usize, rank_of: &mut [std::collections::HashMap<ItemIdx, usize>]| {
                let score = bufs[j].get(item as usize).copied().unwrap_or(f32::NAN);
                (score, *rank_of[j].get(&item).unwrap_or(&k))
            };
            let (score, rank) = at(0, &mut rank_of);
            let mut extra = [(f32::NAN, 0u32); MAX_EXTRA_GENERATORS];
            for (j, e) in extra.iter_mut().enumerate().take(gens.len() - 1) {
                let (s, r) = at(j + 1, &mut rank_of);
                *e = (s, r as u32);
            }
            out.push(Candidate {
                item,
                score,
                rank,
                extra,
            });
        }
    }
    Ok(out)
}

/// Each training user's candidates (user, held-out row, list), as the generators fitted on
/// the inner part propose them.
fn inner_candidates(
    config: &Config,
    train: &TrainData,
    inner: &TrainData,
    gens_inner: &[Box<dyn Recommender>],
    users: &[(usize, usize)],
    pb: &ProgressBar,
) -> Result<Vec<(usize, usize, Vec<Candidate>)>> {
    // Candidates for each training user, as the inner generator sees them.
    pb.set_message(format!("{}: candidates", config.short_name()));
    pb.set_length(users.len() as u64);
    let n = train.n_items;
    let k = config.candidates;
    let gen_refs: Vec<&dyn Recommender> = gens_inner.iter().map(|g| g.as_ref()).collect();
    users
        .par_iter()
        .map_init(
            || vec![vec![0.0f32; n]; gen_refs.len()],
            |bufs, &(u, row)| -> Result<(usize, usize, Vec<Candidate>)> {
                let m = &inner.matrix;
                let (s, e) = (m.indptr[u], m.indptr[u + 1]);
                let (now, ctx) = context_at(train, row);
                let ts = inner.has_timestamps.then(|| &m.ts[s..e]);
                let nc = m.n_context;
                let hctx = (nc > 0 && !m.context.is_empty()).then(|| &m.context[s * nc..e * nc]);
                let uc = UserContext {
                    user: Some(u as u32),
                    history: &m.indices[s..e],
                    timestamps: ts,
                    now,
                    context: hctx,
                    now_context: ctx.as_deref(),
                };
                let cands = propose(&gen_refs, &uc, k, bufs)?;
                pb.inc(1);
                Ok((u, row, cands))
            },
        )
        .collect()
}

/// The ranker's training examples: each user's held-out item when the generator offered it
/// (label 1) and `config.negatives` sampled candidates of the same list (label 0); with the
/// number of users whose list held the item.
fn ranker_examples(
    config: &Config,
    train: &TrainData,
    inner: &TrainData,
    space: &FeatureSpace,
    lists: &[(usize, usize, Vec<Candidate>)],
    rng: &mut ChaCha8Rng,
) -> (Examples, usize) {
    let mut examples = Examples::new();
    let mut with_pos = 0usize;
    let mut x = Vec::with_capacity(64);
    for (u, row, cands) in lists {
        let target = train.matrix.indices[*row];
        let Some(pos) = cands.iter().find(|c| c.item == target) else {
            continue;
        };
        with_pos += 1;
        let m = &inner.matrix;
        let (s, e) = (m.indptr[*u], m.indptr[*u + 1]);
        let (now, ctx) = context_at(train, *row);
        let uc = UserContext {
            user: Some(*u as u32),
            history: &m.indices[s..e],
            timestamps: inner.has_timestamps.then(|| &m.ts[s..e]),
            now,
            context: None,
            now_context: ctx.as_deref(),
        };
        let ht = space.history_tokens(&uc);
        let user_part = space.user_hashed(&uc);
        x.clear();
        space.candidate_hashed(&uc, &user_part, *pos, &ht, &mut x);
        examples.push(&x, 1.0);
        let negs: Vec<&Candidate> = cands.iter().filter(|c| c.item != target).collect();
        for c in negs.choose_multiple(rng, config.negatives) {
            x.clear();
            space.candidate_hashed(&uc, &user_part, **c, &ht, &mut x);
            examples.push(&x, 0.0);
        }
    }
    (examples, with_pos)
}

impl TwoStage {
    /// Fits the ranker on an inner hold-out of `train`, then the generator on all of `train`.
    pub fn fit(config: &Config, train: &TrainData, pb: &ProgressBar) -> Result<TwoStage> {
        config.validate()?;
        let hidden = ProgressBar::hidden();
        let (inner, held) = train.without_last_events();
        pb.set_message(format!("{}: inner generator", config.short_name()));
        let mut gens_inner = vec![config.generator.fit(&inner, &hidden)?];
        for g in &config.extra_generators {
            gens_inner.push(g.fit(&inner, &hidden)?);
        }

        let mut users: Vec<(usize, usize)> = held
            .iter()
            .enumerate()
            .filter_map(|(u, h)| h.map(|r| (u, r)))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        if config.max_users > 0 && users.len() > config.max_users {
            users.shuffle(&mut rng);
            users.truncate(config.max_users);
            users.sort_unstable();
        }
        let n_users = users.len();

        let lists = inner_candidates(config, train, &inner, &gens_inner, &users, pb)?;
        drop(gens_inner);

        // Feature statistics from the inner part only.
        let mut space = FeatureSpace::fit(
            &config.features,
            &inner,
            &train.item_fields,
            &train.user_fields,
            &train.context_names,
        );
        space.attach_text(train, pb)?;
        let all_scores: Vec<f32> = lists
            .iter()
            .flat_map(|(_, _, c)| c.iter().map(|c| c.score))
            .filter(|s| s.is_finite())
            .collect();
        space.set_score_stats(&all_scores);
        for j in 0..config.extra_generators.len() {
            let s: Vec<f32> = lists
                .iter()
                .flat_map(|(_, _, c)| c.iter().map(move |c| c.extra[j].0))
                .filter(|s| s.is_finite())
                .collect();
            space.add_extra_score_stats(&s);
        }

        // Examples: the held-out item when offered, plus sampled candidate negatives.
        pb.set_message(format!("{}: features", config.short_name()));
        let (examples, with_pos) = ranker_examples(config, train, &inner, &space, &lists, &mut rng);
        if with_pos == 0 {
            return Err(Error::config(
                "two_stage",
                format!(
                    "the generator {} never proposed a held-out item among its {} candidates: \
                     nothing to train the ranker on (more candidates, or another generator)",
                    config.generator.name(),
                    config.candidates
                ),
            ));
        }

        pb.set_message(format!("{}: ranker", config.short_name()));
        let mut ranker = config.ranker.build(space.dim())?;
        let log = |epoch: usize, loss: f64| {
            tracing::info!(epoch, loss, "two-stage ranker epoch");
        };
        ranker.fit(&examples, log);
        let p: Vec<f32> = (0..examples.len())
            .map(|r| {
                let (i, v) = examples.row(r);
                ranker.predict(i, v)
            })
            .collect();
        let keys = space.static_keys(train.n_users);
        let report = FitReport {
            examples: examples.len(),
            users_with_positive: with_pos,
            users: n_users,
            train_auc: ranker::auc(&p, &examples.y).unwrap_or(0.5),
            train_log_loss: ranker::log_loss(&p, &examples.y),
            calibration_error: ranker::calibration_error(&p, &examples.y, 10),
            collision_rate: space.collision_rate(keys.iter().map(String::as_str)),
        };
        tracing::info!(
            model = %config.short_name(),
            examples = report.examples,
            generator_recall = with_pos as f64 / n_users.max(1) as f64,
            train_auc = report.train_auc,
            train_log_loss = report.train_log_loss,
            calibration_error = report.calibration_error,
            collision_rate = report.collision_rate,
            "two-stage ranker fitted"
        );

        // Serving: the generator on all of the training data, counts from it.
        pb.set_message(format!("{}: generator", config.short_name()));
        let generator = config.generator.fit(train, &hidden)?;
        let extra = config
            .extra_generators
            .iter()
            .map(|g| g.fit(train, &hidden))
            .collect::<Result<Vec<_>>>()?;
        let full = FeatureSpace::fit(
            &config.features,
            train,
            &train.item_fields,
            &train.user_fields,
            &train.context_names,
        );
        space.item_counts = full.item_counts;
        pb.finish_and_clear();
        Ok(TwoStage {
            config: config.clone(),
            generator,
            extra,
            ranker,
            space,
            n_items: train.n_items,
            report,
        })
    }

    /// The fit-time report of the ranker.
    pub fn report(&self) -> &FitReport {
        &self.report
    }

    /// The generator's candidates for `user` (seen items excluded).
    fn candidates(&self, user: &UserContext<'_>, scores: &mut [f32]) -> Result<Vec<Candidate>> {
        let mut gens: Vec<&dyn Recommender> = vec![self.generator.as_ref()];
        gens.extend(self.extra.iter().map(|g| g.as_ref()));
        let mut bufs = vec![vec![0.0f32; self.n_items]; gens.len()];
        let c = propose(&gens, user, self.config.candidates, &mut bufs)?;
        scores.copy_from_slice(&bufs[0]);
        Ok(c)
    }

    /// The ranker's `P(engage)` for each of the generator's candidates, best generator
    /// candidate first; `scores` is left holding the generator's scores.
    fn probabilities(
        &self,
        user: &UserContext<'_>,
        scores: &mut [f32],
    ) -> Result<Vec<(ItemIdx, f32)>> {
        let cands = self.candidates(user, scores)?;
        let ht = self.space.history_tokens(user);
        // The request's own features are the same for every candidate: hashed once.
        let user_part = self.space.user_hashed(user);
        let mut x = Vec::with_capacity(64);
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        Ok(cands
            .into_iter()
            .map(|c| {
                x.clear();
                self.space
                    .candidate_hashed(user, &user_part, c, &ht, &mut x);
                idx.clear();
                val.clear();
                for &(i, v) in &x {
                    idx.push(i);
                    val.push(v);
                }
                (c.item, self.ranker.predict(&idx, &val))
            })
            .collect())
    }

    /// Why `item` for `user`: the ranker's largest positive feature contributions, in words,
    /// with the probability. `None` when the generator did not propose the item.
    pub fn explain_item(
        &self,
        user: &UserContext<'_>,
        item: ItemIdx,
        item_name: &dyn Fn(ItemIdx) -> String,
    ) -> Result<Option<(f32, Vec<String>)>> {
        let mut scores = vec![0.0; self.n_items];
        let cands = self.candidates(user, &mut scores)?;
        let Some(c) = cands.iter().find(|c| c.item == item) else {
            return Ok(None);
        };
        let ht = self.space.history_tokens(user);
        let keyed = self.space.keyed(user, *c, &ht);
        let (idx, val): (Vec<u32>, Vec<f32>) =
            keyed.iter().map(|(k, v)| (self.space.slot(k), *v)).unzip();
        let p = self.ranker.predict(&idx, &val);
        let contrib = self.ranker.contributions(&idx, &val);
        let mut words = Vec::new();
        for (slot, w) in contrib.into_iter().filter(|c| c.1 > 0.0).take(3) {
            let Some(pos) = idx.iter().position(|&i| i == slot) else {
                continue;
            };
            words.push(describe(
                &keyed[pos].0,
                &self.space,
                &ht,
                item,
                user,
                item_name,
                w,
            ));
        }
        if words.is_empty() {
            words.push("no feature speaks for it more than for the other candidates".into());
        }
        Ok(Some((p, words)))
    }
}

/// A feature key in plain words.
fn describe(
    key: &str,
    space: &FeatureSpace,
    ht: &features::HistoryTokens,
    item: ItemIdx,
    user: &UserContext<'_>,
    item_name: &dyn Fn(ItemIdx) -> String,
    weight: f32,
) -> String {
    let (group, rest) = key.split_once(':').unwrap_or((key, ""));
    let text = match group {
        "hs" => {
            let fi = space.item_fields.iter().position(|f| f.name == rest);
            let fav = fi.and_then(|fi| {
                let toks = space.item_fields[fi].tokens.get(item as usize)?;
                ht.favourite(fi, toks).map(|(t, s)| (t.to_string(), s))
            });
            match fav {
                Some((t, s)) => format!(
                    "matches your favourite {rest} {t} ({:.0}% of your history)",
                    s * 100.0
                ),
                None => format!("matches the {rest} of your history"),
            }
        }
        "it" => {
            let (f, v) = rest.split_once('=').unwrap_or((rest, ""));
            format!("{f}: {v}")
        }
        "ua" => {
            let (f, v) = rest.split_once('=').unwrap_or((rest, ""));
            format!("liked by users with {f} {v}")
        }
        "x" => format!("popular with users like you ({})", rest.replace('&', ", ")),
        "ipop" => "popular".to_string(),
        "gs" | "grank" => match user.history.last() {
            Some(&h) => format!("close to what you engaged with, e.g. {}", item_name(h)),
            None => "a strong candidate".to_string(),
        },
        "rec" => "fits how recently you were active".to_string(),
        "hour" | "dow" => "fits this time of day or week".to_string(),
        "ctx" => format!("fits the current context ({rest})"),
        "i" => "liked by many users".to_string(),
        "u" => "fits your personal taste".to_string(),
        "uact" => "fits how active you are".to_string(),
        _ => key.to_string(),
    };
    format!("{text} [+{weight:.2}]")
}

impl Recommender for TwoStage {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score(&self, user: &UserContext<'_>, out: &mut [f32]) -> seer_core::Result<()> {
        check_score_len(self.n_items, out.len())?;
        let probs = self.probabilities(user, out)?;
        // Everything outside the list keeps the generator's order, below every candidate.
        let (mean, std) = (self.space.score_mean, self.space.score_std);
        for s in out.iter_mut() {
            *s = if s.is_finite() {
                -2.0 + ranker::sigmoid((*s - mean) / std)
            } else {
                -2.0
            };
        }
        for (i, p) in probs {
            out[i as usize] = p;
        }
        Ok(())
    }

    fn explain(
        &self,
        user: &UserContext<'_>,
        item: ItemIdx,
        item_name: &dyn Fn(ItemIdx) -> String,
    ) -> seer_core::Result<Option<(f32, Vec<String>)>> {
        Ok(self.explain_item(user, item, item_name)?)
    }

    fn candidate_probabilities(
        &self,
        user: &UserContext<'_>,
    ) -> seer_core::Result<Option<Vec<(ItemIdx, f32)>>> {
        let mut scores = vec![0.0; self.n_items];
        Ok(Some(self.probabilities(user, &mut scores)?))
    }

    fn save(&self, dir: &Path) -> seer_core::Result<()> {
        let gen_dir = dir.join("generator");
        self.generator.save(&gen_dir)?;
        for (j, g) in self.extra.iter().enumerate() {
            g.save(&dir.join(format!("generator{}", j + 1)))?;
        }
        let space = serde_json::to_vec(&self.space)
            .map_err(|e| Error::config("two_stage.features", e.to_string()))?;
        let report = serde_json::to_vec(&self.report)
            .map_err(|e| Error::config("two_stage.report", e.to_string()))?;
        let (fm_w, fm_v) = match &self.ranker {
            Fitted::Fm(m) => m.weights(),
            Fitted::Lr(_) => (Vec::new(), Vec::new()),
        };
        let mut tensors = match &self.ranker {
            Fitted::Lr(m) => {
                let (z, n) = m.state();
                vec![
                    ("lr.z", Tensor::f32(&[z.len()], z)),
                    ("lr.n", Tensor::f32(&[n.len()], n)),
                    ("two_stage.features", Tensor::bytes(&space)),
                    ("two_stage.report", Tensor::bytes(&report)),
                ]
            }
            Fitted::Fm(_) => {
                vec![
                    ("fm.w", Tensor::f32(&[fm_w.len()], &fm_w)),
                    ("fm.v", Tensor::f32(&[fm_v.len()], &fm_v)),
                    ("two_stage.features", Tensor::bytes(&space)),
                    ("two_stage.report", Tensor::bytes(&report)),
                ]
            }
        };
        let d = self.space.text_dim;
        if let Some(rows) = self.space.item_text.len().checked_div(d) {
            let it = &self.space.item_text;
            tensors.push(("features.item_text", Tensor::f32(&[rows, d], it)));
            let ut = &self.space.user_text;
            if !ut.is_empty() {
                tensors.push(("features.user_text", Tensor::f32(&[ut.len() / d, d], ut)));
            }
        }
        Ok(io::save_model(dir, KIND, &self.config, &tensors)?)
    }
}

impl TwoStage {
    pub(crate) fn load(file: &Loaded, config: Config) -> Result<TwoStage> {
        let generator = crate::load(&file.dir().join("generator"))?;
        let extra = (1..=config.extra_generators.len())
            .map(|j| crate::load(&file.dir().join(format!("generator{j}"))))
            .collect::<Result<Vec<_>>>()?;
        let mut space: FeatureSpace = serde_json::from_slice(file.bytes("two_stage.features")?)
            .map_err(|e| file.bad(format!("two_stage.features: {e}")))?;
        if space.config.text {
            let d = space.text_dim;
            let (_, items) = file.f32("features.item_text", Some(&[space.item_counts.len(), d]))?;
            let users = if file.has("features.user_text") {
                file.f32("features.user_text", None)?.1
            } else {
                Vec::new()
            };
            space.set_text(d, items, users)?;
        }
        let report: FitReport = serde_json::from_slice(file.bytes("two_stage.report")?)
            .map_err(|e| file.bad(format!("two_stage.report: {e}")))?;
        let dim = space.dim();
        let ranker = match &config.ranker {
            RankerConfig::Lr(c) => {
                let (_, z) = file.f32("lr.z", Some(&[dim + 1]))?;
                let (_, n) = file.f32("lr.n", Some(&[dim + 1]))?;
                Fitted::Lr(lr::Ftrl::from_state(c, z, n)?)
            }
            RankerConfig::Fm(c) => {
                let (_, w) = file.f32("fm.w", Some(&[dim + 1]))?;
                let (_, v) = file.f32("fm.v", Some(&[dim * c.factors]))?;
                Fitted::Fm(fm::Fm::from_weights(c, w, v)?)
            }
        };
        let n_items = generator.n_items();
        Ok(TwoStage {
            config,
            generator,
            extra,
            ranker,
            space,
            n_items,
            report,
        })
    }
}

#[cfg(test)]
mod tests;
