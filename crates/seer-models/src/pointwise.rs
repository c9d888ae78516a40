//! Score and rating prediction: one feature-based ranker fitted on the events themselves,
//! `R_ui = f(h_u, h_i, c)`, optionally with shared plus per-scenario weights.
//!
//! Papers: Rendle, "Factorization Machines", ICDM 2010 (rating prediction on MovieLens and
//! Netflix with user, item and attribute indicators), McMahan et al., KDD 2013 (FTRL logistic
//! regression for clicks), and for several scenarios Daumé III, "Frustratingly Easy Domain
//! Adaptation", ACL 2007: every feature gets a shared copy and a copy for the event's scenario,
//! so one model learns what holds everywhere and, where a scenario has the data, how it
//! differs; a scenario with few events leans on the shared weights learned from the others.
//!
//! Tasks ([`Task`]):
//! - **rating**: regression of the event's rating under squared loss, around the training
//!   mean; predictions are clamped to the training ratings' range (RMSE, MAE).
//! - **like**: the event's rating at or above a threshold is a positive (explicit data;
//!   AUC, log loss, accuracy/precision/recall/F1 at 0.5).
//! - **click**: every event is a positive and `negatives` items per event are sampled from the
//!   catalogue as negatives (implicit data), uniformly or in proportion to the item's training
//!   events ([`Sampling`]); items of the user's training history are not drawn.
//!
//! Features are those of [`crate::ranker::features`] without the generator group. The history
//! of an event is the user's training events strictly earlier in time, so a training event
//! never sees itself, and statistics (item counts, which fields are categorical) come from the
//! [`TrainData`] only.
//!
//! **Deviations.** The scenario copies are hashed into the same space as the shared features
//! (one more collision source, measured by the same rate). One model per scenario
//! ([`ScenarioMode::Separate`]) falls back to the training base rate / mean rating for a
//! scenario without training events.

use std::collections::HashMap;

use indicatif::ProgressBar;
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seer_core::{ItemIdx, UserContext, MISSING};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ranker::features::{self, fnv1a, Candidate, FeatureSpace};
use crate::ranker::{Examples, Fitted, Loss, RankerConfig};
use crate::train::TrainData;

/// What is predicted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "lowercase", deny_unknown_fields)]
pub enum Task {
    /// The event's rating (squared loss).
    Rating,
    /// Rating ≥ `threshold` is a positive (log loss).
    Like {
        /// Default 4 (MovieLens' "liked": 4 or 5 stars).
        threshold: f32,
    },
    /// Events are positives; `negatives` sampled items per event are negatives (log loss).
    Click {
        /// Negatives per event (≥ 1). Default 4.
        negatives: usize,
        /// How they are drawn.
        sampling: Sampling,
    },
}

impl Task {
    /// `rating`, `like` or `click`.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Rating => "rating",
            Task::Like { .. } => "like",
            Task::Click { .. } => "click",
        }
    }

    fn loss(&self) -> Loss {
        match self {
            Task::Rating => Loss::Squared,
            _ => Loss::Logistic,
        }
    }
}

/// How negatives are drawn from the catalogue for the click task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// Every item equally likely.
    Uniform,
    /// In proportion to the item's training events plus one: negatives look like what users
    /// actually meet, so the model cannot win by learning popularity alone.
    Popularity,
}

/// Which scenario an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// A categorical context column of the data (its values are the scenarios).
    Context(String),
    /// Saturday/Sunday (UTC) against the other days.
    Weekend,
    /// Night 0–6 h, morning 6–12 h, afternoon 12–18 h, evening 18–24 h (UTC).
    Daypart,
}

impl Scenario {
    /// Parses `weekend`, `daypart` or `context:COLUMN`.
    pub fn parse(s: &str) -> Result<Scenario> {
        match s.trim() {
            "weekend" => Ok(Scenario::Weekend),
            "daypart" => Ok(Scenario::Daypart),
            other => match other.split_once(':') {
                Some(("context", col)) if !col.trim().is_empty() => {
                    Ok(Scenario::Context(col.trim().to_string()))
                }
                _ => Err(Error::config(
                    "scenario",
                    format!("{other:?}: expected weekend, daypart or context:COLUMN"),
                )),
            },
        }
    }

    /// Names of the scenarios, indexed by their code (context columns: their values).
    pub fn names(&self, context_values: &[String]) -> Vec<String> {
        match self {
            Scenario::Weekend => vec!["weekday".into(), "weekend".into()],
            Scenario::Daypart => ["night", "morning", "afternoon", "evening"]
                .map(String::from)
                .to_vec(),
            Scenario::Context(_) => context_values.to_vec(),
        }
    }

    /// The column index for a context scenario; an error names the known columns.
    fn column(&self, train: &TrainData) -> Result<Option<usize>> {
        match self {
            Scenario::Context(c) => match train.context_names.iter().position(|n| n == c) {
                Some(i) => Ok(Some(i)),
                None => Err(Error::config(
                    "scenario",
                    format!(
                        "context column {c:?} is not in the data (it has: {})",
                        if train.context_names.is_empty() {
                            "none".to_string()
                        } else {
                            train.context_names.join(", ")
                        }
                    ),
                )),
            },
            _ => Ok(None),
        }
    }

    /// Whether it needs real timestamps.
    fn needs_time(&self) -> bool {
        !matches!(self, Scenario::Context(_))
    }
}

/// How scenarios enter the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioMode {
    /// One model that ignores the scenario.
    Global,
    /// One model per scenario, each fitted on its scenario's events only.
    Separate,
    /// One model with shared weights plus per-scenario weights (feature augmentation).
    Shared,
}

impl ScenarioMode {
    /// `global`, `separate` or `shared`.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioMode::Global => "global",
            ScenarioMode::Separate => "separate",
            ScenarioMode::Shared => "shared",
        }
    }
}

/// Pointwise prediction settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The model (its `loss` is set from the task). Default logistic regression.
    pub ranker: RankerConfig,
    /// Feature groups (the generator group is always off here).
    pub features: features::Config,
    /// What is predicted. Default `rating`.
    pub task: Task,
    /// Scenario of each event; none by default.
    pub scenario: Option<Scenario>,
    /// How scenarios enter the model. Default `global`.
    pub mode: ScenarioMode,
    /// Seed of the negative sampling. Default 42.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ranker: RankerConfig::Lr(Default::default()),
            features: features::Config {
                generator: false,
                ..Default::default()
            },
            task: Task::Rating,
            scenario: None,
            mode: ScenarioMode::Global,
            seed: 42,
        }
    }
}

impl Config {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        self.ranker.validate()?;
        self.features.validate("pointwise.features")?;
        if let Task::Click { negatives: 0, .. } = self.task {
            return Err(Error::config("pointwise.negatives", "must be at least 1"));
        }
        if let Task::Like { threshold } = self.task {
            if !threshold.is_finite() {
                return Err(Error::config("pointwise.threshold", "must be a number"));
            }
        }
        if self.mode != ScenarioMode::Global && self.scenario.is_none() {
            return Err(Error::config(
                "pointwise.mode",
                format!("mode {} needs a scenario", self.mode.name()),
            ));
        }
        Ok(())
    }

    /// The ranker with the task's loss.
    fn ranker_for_task(&self) -> RankerConfig {
        let loss = self.task.loss();
        match &self.ranker {
            RankerConfig::Lr(c) => {
                RankerConfig::Lr(crate::ranker::lr::Config { loss, ..c.clone() })
            }
            RankerConfig::Fm(c) => {
                RankerConfig::Fm(crate::ranker::fm::Config { loss, ..c.clone() })
            }
        }
    }

    /// Parses `lr[:key=value,…]` or `fm[:…]`: keys of the ranker and of the feature groups.
    pub fn from_spec(spec: &str, base: &Config) -> Result<Config> {
        let spec = spec.trim();
        let (name, params) = spec.split_once(':').unwrap_or((spec, ""));
        let mut rk = serde_json::Map::new();
        match name.trim() {
            "lr" | "fm" => {
                rk.insert("kind".into(), name.trim().into());
            }
            other => {
                return Err(Error::Spec {
                    model: "pointwise",
                    message: format!("model {other:?}: expected lr or fm"),
                })
            }
        }
        let mut feats = serde_json::to_value(&base.features)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        for (key, value) in crate::registry::spec_params(params, "pointwise")? {
            if feats.contains_key(&key) {
                feats.insert(key, value);
            } else {
                rk.insert(key, value);
            }
        }
        let spec_err = |e: serde_json::Error| Error::Spec {
            model: "pointwise",
            message: format!("{spec}: {e}"),
        };
        let ranker: RankerConfig =
            serde_json::from_value(serde_json::Value::Object(rk)).map_err(spec_err)?;
        let mut features: features::Config =
            serde_json::from_value(serde_json::Value::Object(feats)).map_err(spec_err)?;
        features.generator = false;
        let cfg = Config {
            ranker,
            features,
            ..base.clone()
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// One event to predict: who, what, when, in which context, and its rating.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The user.
    pub user: u32,
    /// The item.
    pub item: ItemIdx,
    /// Unix seconds (or the position in the user's sequence when the data has no times).
    pub ts: i64,
    /// Codes of the categorical context columns (`MISSING` when absent).
    pub context: Vec<u32>,
    /// The rating (1 for implicit events).
    pub rating: f32,
}

/// Events with their targets: for the click task, each event followed by its sampled negatives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labelled {
    /// Events (negatives carry the event's user, time and context and another item).
    pub events: Vec<Event>,
    /// Targets: ratings, or 0/1.
    pub y: Vec<f32>,
}

/// A fitted pointwise model.
#[derive(Debug, Clone)]
pub struct Pointwise {
    config: Config,
    space: FeatureSpace,
    /// Global / shared: one model under key `None`; separate: one per scenario code.
    models: HashMap<Option<u32>, Fitted>,
    /// Subtracted from rating targets before training, added back to predictions.
    offset: f32,
    /// Training base rate (logistic) or mean rating: the prediction without a model.
    fallback: f32,
    /// Clamp for rating predictions.
    range: (f32, f32),
    column: Option<usize>,
    /// Training examples (after negatives), for throughput reports.
    pub examples: usize,
}

/// The scenario code of an event.
pub fn scenario_code(s: &Scenario, column: Option<usize>, ev: &Event) -> u32 {
    match s {
        Scenario::Weekend => {
            let dow = (ev.ts.div_euclid(86_400) + 3).rem_euclid(7); // Monday = 0
            (dow >= 5) as u32
        }
        Scenario::Daypart => (ev.ts.rem_euclid(86_400) / 3600 / 6) as u32,
        Scenario::Context(_) => column
            .and_then(|c| ev.context.get(c).copied())
            .unwrap_or(MISSING),
    }
}

/// The training events of `train` as [`Event`]s, in row order.
pub fn training_events(train: &TrainData) -> Vec<Event> {
    let m = &train.matrix;
    let nc = m.n_context;
    let mut out = Vec::with_capacity(m.indices.len());
    for u in 0..m.n_rows {
        for r in m.indptr[u]..m.indptr[u + 1] {
            out.push(Event {
                user: u as u32,
                item: m.indices[r],
                ts: m.ts[r],
                context: if nc > 0 && !m.context.is_empty() {
                    m.context[r * nc..(r + 1) * nc].to_vec()
                } else {
                    Vec::new()
                },
                rating: m.weights[r],
            });
        }
    }
    out
}

impl Pointwise {
    /// Targets for `events` under the task (the click task draws negatives, seeded).
    pub fn label(config: &Config, train: &TrainData, events: &[Event], seed: u64) -> Labelled {
        match config.task {
            Task::Rating => Labelled {
                events: events.to_vec(),
                y: events.iter().map(|e| e.rating).collect(),
            },
            Task::Like { threshold } => Labelled {
                events: events.to_vec(),
                y: events
                    .iter()
                    .map(|e| (e.rating >= threshold) as u8 as f32)
                    .collect(),
            },
            Task::Click {
                negatives,
                sampling,
            } => {
                let m = &train.matrix;
                let mut counts = vec![0u32; train.n_items];
                for &i in &m.indices {
                    counts[i as usize] += 1;
                }
                let weights: Vec<f64> = counts.iter().map(|&c| c as f64 + 1.0).collect();
                let pop = WeightedIndex::new(&weights).ok();
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut out = Labelled::default();
                let n = train.n_items;
                for e in events {
                    out.events.push(e.clone());
                    out.y.push(1.0);
                    let u = e.user as usize;
                    let seen = if u < m.n_rows {
                        &m.indices[m.indptr[u]..m.indptr[u + 1]]
                    } else {
                        &[][..]
                    };
                    for _ in 0..negatives {
                        // A few tries to avoid the user's own items; a user who has seen
                        // nearly everything gets whatever the last draw was.
                        let mut item = e.item;
                        for _ in 0..32 {
                            item = match (sampling, &pop) {
                                (Sampling::Popularity, Some(p)) => p.sample(&mut rng) as u32,
                                _ => rng.random_range(0..n) as u32,
                            };
                            if item != e.item && !seen.contains(&item) {
                                break;
                            }
                        }
                        out.events.push(Event { item, ..e.clone() });
                        out.y.push(0.0);
                    }
                }
                out
            }
        }
    }

    /// Fits on every training event of `train` (labelled by the task).
    pub fn fit(config: &Config, train: &TrainData, pb: &ProgressBar) -> Result<Pointwise> {
        config.validate()?;
        let column = match &config.scenario {
            Some(s) => {
                if s.needs_time() && !train.has_timestamps {
                    return Err(Error::config(
                        "scenario",
                        "weekend and daypart scenarios need real timestamps; this data has none",
                    ));
                }
                s.column(train)?
            }
            None => None,
        };
        let mut fcfg = config.features.clone();
        fcfg.generator = false;
        let space = FeatureSpace::fit(
            &fcfg,
            train,
            &train.item_fields,
            &train.user_fields,
            &train.context_names,
        );
        let mut space = space;
        space.attach_text(train, pb)?;
        let labelled = Pointwise::label(config, train, &training_events(train), config.seed);
        if labelled.events.is_empty() {
            return Err(Error::config(
                "pointwise",
                "no training events to learn from",
            ));
        }
        let rated = config.task == Task::Rating;
        let mean = labelled.y.iter().map(|&y| y as f64).sum::<f64>() / labelled.y.len() as f64;
        let (lo, hi) = labelled
            .y
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &y| {
                (a.min(y), b.max(y))
            });
        let mut pw = Pointwise {
            config: config.clone(),
            space,
            models: HashMap::new(),
            offset: if rated { mean as f32 } else { 0.0 },
            fallback: mean as f32,
            range: if rated { (lo, hi) } else { (0.0, 1.0) },
            column,
            examples: labelled.events.len(),
        };
        pw.space.config.generator = false;

        // Examples, grouped by model.
        pb.set_message(format!("{}: features", config.ranker.name()));
        let mut sets: HashMap<Option<u32>, Examples> = HashMap::new();
        let mut x = Vec::with_capacity(64);
        pb.set_length(labelled.events.len() as u64);
        for (e, &y) in labelled.events.iter().zip(&labelled.y) {
            let key = pw.model_key(e);
            x.clear();
            pw.features(train, e, &mut x);
            sets.entry(key).or_default().push(&x, y - pw.offset);
            pb.inc(1);
        }
        pb.set_message(format!("{}: training", config.ranker.name()));
        let ranker = config.ranker_for_task();
        let mut keys: Vec<Option<u32>> = sets.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let data = &sets[&key];
            let mut model = ranker.build(pw.space.dim())?;
            model.fit(data, |epoch, loss| {
                tracing::info!(epoch, loss, scenario = ?key, "pointwise epoch");
            });
            pw.models.insert(key, model);
        }
        Ok(pw)
    }

    fn model_key(&self, e: &Event) -> Option<u32> {
        match (&self.config.scenario, self.config.mode) {
            (Some(s), ScenarioMode::Separate) => Some(scenario_code(s, self.column, e)),
            _ => None,
        }
    }

    /// The scenario code of `e` (none without a scenario).
    pub fn scenario_of(&self, e: &Event) -> Option<u32> {
        self.config
            .scenario
            .as_ref()
            .map(|s| scenario_code(s, self.column, e))
    }

    /// The hashed features of event `e` given the training data, appended to `x`.
    fn features(&self, train: &TrainData, e: &Event, x: &mut Vec<(u32, f32)>) {
        let m = &train.matrix;
        let u = e.user as usize;
        let (s, end) = if u < m.n_rows {
            (m.indptr[u], m.indptr[u + 1])
        } else {
            (0, 0)
        };
        // Training events strictly before the event: never the event itself.
        let q = s + m.ts[s..end].partition_point(|&t| t < e.ts);
        let uc = UserContext {
            user: Some(e.user),
            history: &m.indices[s..q],
            timestamps: train.has_timestamps.then(|| &m.ts[s..q]),
            now: train.has_timestamps.then_some(e.ts),
            context: None,
            now_context: (!e.context.is_empty()).then_some(e.context.as_slice()),
        };
        let ht = self.space.history_tokens(&uc);
        let cand = Candidate::new(e.item, 0.0, 0);
        let start = x.len();
        self.space.hashed(&uc, cand, &ht, x);
        if let (ScenarioMode::Shared, Some(s)) = (self.config.mode, &self.config.scenario) {
            let code = scenario_code(s, self.column, e);
            let mask = (1u64 << self.space.config.bits) - 1;
            let tag = code.to_le_bytes();
            let copies: Vec<(u32, f32)> = x[start..]
                .iter()
                .map(|&(i, v)| {
                    let h = fnv1a(&[b"sc", &tag, &i.to_le_bytes()]);
                    ((h & mask) as u32, v)
                })
                .collect();
            x.extend(copies);
            // the scenario's own bias
            x.push(((fnv1a(&[b"sc-bias", &tag]) & mask) as u32, 1.0));
        }
    }

    /// Predictions for `events`: probabilities (like, click) or ratings.
    pub fn predict(&self, train: &TrainData, events: &[Event]) -> Vec<f32> {
        use rayon::prelude::*;
        events
            .par_iter()
            .map_init(Vec::new, |x, e| {
                let Some(model) = self.models.get(&self.model_key(e)) else {
                    return self.fallback;
                };
                x.clear();
                self.features(train, e, x);
                let (idx, val): (Vec<u32>, Vec<f32>) = x.iter().copied().unzip();
                let p = model.predict(&idx, &val) + self.offset;
                p.clamp(self.range.0, self.range.1)
            })
            .collect()
    }

    /// The share of distinct static feature keys sharing a hashed slot.
    pub fn collision_rate(&self, n_users: usize) -> f64 {
        let keys = self.space.static_keys(n_users);
        self.space.collision_rate(keys.iter().map(String::as_str))
    }

    /// Models fitted (one, or one per scenario with training events).
    pub fn n_models(&self) -> usize {
        self.models.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranker::fm;

    /// Users 0..8, items 0..8; user u likes items of its parity (rating 5) and dislikes the
    /// others (rating 1), one event per (user, item) pair, hourly timestamps.
    fn parity() -> TrainData {
        let mut inter = seer_data::Interactions::default();
        for u in 0..8u32 {
            for i in 0..8u32 {
                inter.user.push(u);
                inter.item.push(i);
                inter.rating.push(if u % 2 == i % 2 { 5.0 } else { 1.0 });
                inter
                    .ts
                    .push(1_700_000_000 + 3600 * (u as i64 * 8 + i as i64));
            }
        }
        let rows: Vec<usize> = (0..inter.len()).collect();
        TrainData::from_csr(seer_data::Csr::from_rows(&inter, &rows, 8, 8), true)
    }

    #[test]
    fn fm_predicts_ratings_from_an_interaction() {
        let train = parity();
        let cfg = Config {
            ranker: RankerConfig::Fm(fm::Config {
                factors: 4,
                lr: 0.05,
                epochs: 60,
                init_std: 0.1,
                ..Default::default()
            }),
            features: features::Config {
                generator: false,
                history_match: false,
                recency: false,
                time: false,
                counts: false,
                ..Default::default()
            },
            ..Config::default()
        };
        let pw = Pointwise::fit(&cfg, &train, &ProgressBar::hidden()).unwrap();
        let events = training_events(&train);
        let p = pw.predict(&train, &events);
        let rmse = (events
            .iter()
            .zip(&p)
            .map(|(e, &p)| ((e.rating - p) as f64).powi(2))
            .sum::<f64>()
            / events.len() as f64)
            .sqrt();
        assert!(rmse < 0.5, "rmse {rmse}");
        // predictions stay within the training range
        assert!(p.iter().all(|&v| (1.0..=5.0).contains(&v)));
    }

    #[test]
    fn click_negatives_avoid_the_history_and_follow_popularity() {
        let train = TrainData::from_csr(
            crate::testutil::csr(
                6,
                &[
                    (0, 0, 1),
                    (1, 0, 1),
                    (2, 0, 1),
                    (3, 0, 1),
                    (0, 1, 2),
                    (1, 1, 2),
                ],
            ),
            true,
        );
        let cfg = Config {
            task: Task::Click {
                negatives: 50,
                sampling: Sampling::Popularity,
            },
            ..Config::default()
        };
        let ev = vec![Event {
            user: 0,
            item: 0,
            ts: 10,
            context: vec![],
            rating: 1.0,
        }];
        let l = Pointwise::label(&cfg, &train, &ev, 1);
        assert_eq!(l.y.len(), 51);
        assert_eq!(l.y.iter().filter(|&&y| y == 1.0).count(), 1);
        // user 0's history is items 0 and 1: never drawn
        assert!(l.events[1..].iter().all(|e| e.item != 0 && e.item != 1));
        let uniform = Pointwise::label(
            &Config {
                task: Task::Click {
                    negatives: 50,
                    sampling: Sampling::Uniform,
                },
                ..cfg.clone()
            },
            &train,
            &ev,
            1,
        );
        assert_eq!(uniform.y.len(), 51);
    }

    #[test]
    fn shared_scenario_weights_and_specs() {
        let train = parity();
        let base = Config {
            ranker: RankerConfig::Fm(fm::Config {
                factors: 4,
                lr: 0.05,
                epochs: 60,
                init_std: 0.1,
                ..Default::default()
            }),
            task: Task::Like { threshold: 4.0 },
            scenario: Some(Scenario::Weekend),
            ..Config::default()
        };
        for mode in [
            ScenarioMode::Global,
            ScenarioMode::Separate,
            ScenarioMode::Shared,
        ] {
            let cfg = Config {
                mode,
                ..base.clone()
            };
            let pw = Pointwise::fit(&cfg, &train, &ProgressBar::hidden()).unwrap();
            let ev = training_events(&train);
            let p = pw.predict(&train, &ev);
            let y: Vec<f32> = ev.iter().map(|e| (e.rating >= 4.0) as u8 as f32).collect();
            let auc = crate::ranker::auc(&p, &y).unwrap();
            assert!(auc > 0.7, "{mode:?}: auc {auc}");
            if mode == ScenarioMode::Separate {
                assert!(pw.n_models() >= 1);
            }
        }
        let c = Config::from_spec("fm:factors=8,crosses=false", &base).unwrap();
        assert!(matches!(c.ranker, RankerConfig::Fm(ref f) if f.factors == 8));
        assert!(!c.features.crosses);
        assert!(Config::from_spec("svm", &base).is_err());
        assert!(Config::from_spec("lr:nope=1", &base).is_err());
        assert!(Scenario::parse("context:device").is_ok());
        assert!(Scenario::parse("month").is_err());
        let no_time = Config {
            mode: ScenarioMode::Shared,
            ..base
        };
        let mut t = parity();
        t.has_timestamps = false;
        assert!(Pointwise::fit(&no_time, &t, &ProgressBar::hidden()).is_err());
    }
}
