//! `seer bench --task rating|like|click`: pointwise prediction of held-out events.
//!
//! Validation: each model is fitted on the training part and predicts the validation events.
//! Test: it is refitted on training + validation (the one protocol: every model sees the
//! validation events at test time) and predicts the test events. With a scenario, every model
//! runs in three modes (one global model, one model per scenario, shared + per-scenario
//! weights), reported over all events and per scenario.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seer_data::{Dataset, Part, Split};
use seer_eval::{pointwise_metrics, PointwiseReport, PointwiseRow};
use seer_models::pointwise::{
    scenario_code, Config, Event, Labelled, Pointwise, Scenario, ScenarioMode, Task,
};
use seer_models::TrainData;

use crate::progress::Progress;

/// Everything `--task` and its flags ask for.
pub struct PointwiseArgs<'a> {
    /// The task.
    pub task: Task,
    /// Model specs: `mean`, `lr[:…]`, `fm[:…]`.
    pub models: &'a [String],
    /// Scenario definition.
    pub scenario: Option<Scenario>,
    /// `(scenario name, fraction)`: keep only this share of the scenario's training events.
    pub keep: Option<(String, f64)>,
    /// Seed of negative sampling and of `keep`.
    pub seed: u64,
    /// The split in words, for the report.
    pub split_text: String,
    /// Choose each model's hyper-parameters on validation from [`grid`] first.
    pub tune: bool,
}

/// Hyper-parameter settings tried by `--tune`, appended to the model's own spec (which keeps
/// its feature switches): learning rates and regularisation.
pub fn grid(spec: &str) -> Vec<String> {
    let name = spec.split(':').next().unwrap_or("").trim();
    let extra: Vec<String> = match name {
        "lr" => [0.05, 0.1, 0.2]
            .iter()
            .flat_map(|a| [0.1, 1.0].map(|l2| format!("alpha={a},l2={l2},epochs=5")))
            .collect(),
        "fm" => [0.001, 0.002, 0.005]
            .iter()
            .flat_map(|lr| {
                [0.01, 0.03].map(|rv| format!("lr={lr},reg_v={rv},reg_w=0.01,epochs=15"))
            })
            .collect(),
        _ => Vec::new(),
    };
    if extra.is_empty() {
        return vec![spec.to_string()];
    }
    let sep = if spec.contains(':') { "," } else { ":" };
    extra.iter().map(|e| format!("{spec}{sep}{e}")).collect()
}

/// The events of `rows` of `data`.
fn events_of(data: &Dataset, rows: &[usize]) -> Vec<Event> {
    let inter = &data.interactions;
    rows.iter()
        .map(|&r| Event {
            user: inter.user[r],
            item: inter.item[r],
            ts: inter.ts[r],
            context: inter.context.iter().map(|c| c.codes[r]).collect(),
            rating: inter.rating[r],
        })
        .collect()
}

/// The scenario of each event, named: what per-scenario slices and `--scenario-keep` read.
struct Scenarios<'a> {
    scenario: Option<&'a Scenario>,
    /// The context column a `context:` scenario reads.
    column: Option<usize>,
    names: Vec<String>,
}

impl Scenarios<'_> {
    /// Resolves `--scenario` against `data`'s context columns.
    fn new<'a>(data: &Dataset, scenario: Option<&'a Scenario>) -> Result<Scenarios<'a>> {
        let context_names: Vec<String> = data
            .interactions
            .context
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let column = match scenario {
            Some(Scenario::Context(c)) => match context_names.iter().position(|n| n == c) {
                Some(i) => Some(i),
                None => bail!(
                    "--scenario context:{c}: {} has no context column {c:?} (it has: {})",
                    data.name,
                    if context_names.is_empty() {
                        "none".to_string()
                    } else {
                        context_names.join(", ")
                    }
                ),
            },
            _ => None,
        };
        let names: Vec<String> = match scenario {
            Some(s @ Scenario::Context(_)) => {
                s.names(column.map_or(&[][..], |c| data.interactions.context[c].values.ids()))
            }
            Some(s) => s.names(&[]),
            None => Vec::new(),
        };
        Ok(Scenarios {
            scenario,
            column,
            names,
        })
    }

    fn name_of(&self, code: u32) -> String {
        self.names
            .get(code as usize)
            .cloned()
            .unwrap_or_else(|| "(missing)".into())
    }

    fn code_of(&self, e: &Event) -> Option<u32> {
        self.scenario.map(|s| scenario_code(s, self.column, e))
    }

    /// Metrics of predictions `p` over all of `l`'s events, then per scenario.
    fn slices(
        &self,
        l: &Labelled,
        p: &[f32],
        ratings: bool,
    ) -> Vec<(String, BTreeMap<String, f64>)> {
        let mut out = vec![("all".to_string(), pointwise_metrics(p, &l.y, ratings))];
        if self.scenario.is_some() {
            let mut groups: BTreeMap<u32, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
            for ((e, &y), &p) in l.events.iter().zip(&l.y).zip(p) {
                if let Some(c) = self.code_of(e) {
                    let g = groups.entry(c).or_default();
                    g.0.push(p);
                    g.1.push(y);
                }
            }
            for (c, (p, y)) in groups {
                out.push((self.name_of(c), pointwise_metrics(&p, &y, ratings)));
            }
        }
        out
    }
}

/// What every model of one bench is fitted and scored on.
struct Stages<'a> {
    data: &'a Dataset,
    base: Config,
    /// Training part (validation stage) and training + validation (test stage).
    train: TrainData,
    full: TrainData,
    /// Labelled validation and test events (with sampled negatives for clicks).
    valid: Labelled,
    test: Labelled,
    ratings: bool,
    scenarios: Scenarios<'a>,
}

impl Stages<'_> {
    /// Rows of both stages: each model's test and validation metrics, per slice.
    #[allow(clippy::too_many_arguments)]
    fn rows(
        &self,
        model: &str,
        mode: &str,
        pt: &[f32],
        pv: &[f32],
        fit_seconds: f64,
        train_examples: usize,
        collision_rate: f64,
        chosen: Option<String>,
    ) -> Vec<PointwiseRow> {
        let vs = self.scenarios.slices(&self.valid, pv, self.ratings);
        self.scenarios
            .slices(&self.test, pt, self.ratings)
            .into_iter()
            .zip(vs)
            .map(|((slice, m), (_, vm))| PointwiseRow {
                model: model.into(),
                mode: mode.into(),
                slice,
                metrics: m,
                valid_metrics: vm,
                fit_seconds,
                train_examples,
                collision_rate,
                chosen: chosen.clone(),
            })
            .collect()
    }

    /// The training mean rating / base rate for every event.
    fn mean_rows(&self, seed: u64) -> Vec<PointwiseRow> {
        let mean_of = |l: &Labelled| -> f32 {
            l.y.iter().map(|&y| y as f64).sum::<f64>() as f32 / l.y.len().max(1) as f32
        };
        let events = seer_models::pointwise::training_events;
        let tl = Pointwise::label(&self.base, &self.full, &events(&self.full), seed);
        let vl = Pointwise::label(&self.base, &self.train, &events(&self.train), seed);
        let (mt, mv) = (mean_of(&tl), mean_of(&vl));
        let pt = vec![mt; self.test.y.len()];
        let pv = vec![mv; self.valid.y.len()];
        self.rows("mean", "global", &pt, &pv, 0.0, tl.y.len(), 0.0, None)
    }

    /// One model in one scenario mode: each candidate setting fitted on train, the best by
    /// validation RMSE (ratings) or log loss (probabilities) refitted for the test stage.
    fn model_rows(
        &self,
        spec: &str,
        mode: ScenarioMode,
        tune: bool,
        progress: &Progress,
    ) -> Result<Vec<PointwiseRow>> {
        let mode_base = Config {
            mode,
            ..self.base.clone()
        };
        let label = format!("{spec} [{}]", mode.name());
        let pb = progress.bar(0, &label);
        let candidates = if tune {
            grid(spec)
        } else {
            vec![spec.to_string()]
        };
        let mut best: Option<(f64, String, Config, Vec<f32>)> = None;
        for cand in candidates {
            let cfg = Config::from_spec(&cand, &mode_base)?;
            let model_v = Pointwise::fit(&cfg, &self.train, &pb)?;
            let pv = model_v.predict(&self.train, &self.valid.events);
            let m = pointwise_metrics(&pv, &self.valid.y, self.ratings);
            let key = if self.ratings { "rmse" } else { "logloss" };
            let score = m.get(key).copied().unwrap_or(f64::INFINITY);
            if tune {
                tracing::info!(candidate = %cand, key, score, "pointwise tuning");
            }
            if best.as_ref().is_none_or(|b| score < b.0) {
                best = Some((score, cand, cfg, pv));
            }
        }
        let Some((_, chosen, cfg, pv)) = best else {
            bail!("{spec}: no setting to try");
        };
        let t0 = Instant::now();
        let model = Pointwise::fit(&cfg, &self.full, &pb)?;
        let fit_seconds = t0.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let pt = model.predict(&self.full, &self.test.events);
        let collision = model.collision_rate(self.data.n_users());
        tracing::info!(model = %label, fit_seconds, "pointwise model done");
        Ok(self.rows(
            spec,
            mode.name(),
            &pt,
            &pv,
            fit_seconds,
            model.examples,
            collision,
            tune.then_some(chosen),
        ))
    }
}

/// Explicit-rating tasks need ratings that differ.
fn check_ratings(data: &Dataset, task: Task) -> Result<()> {
    if task == Task::Rating || matches!(task, Task::Like { .. }) {
        let r = &data.interactions.rating;
        let first = r.first().copied().unwrap_or(1.0);
        if r.iter().all(|&x| x == first) {
            bail!(
                "--task {} needs explicit ratings, and every event of {} has rating {first}: \
                 use --task click (events against sampled negatives) for implicit data",
                task.name(),
                data.name
            );
        }
    }
    Ok(())
}

/// Runs every model (and scenario mode) on one dataset.
pub fn bench(
    data: &Dataset,
    split: &Split,
    a: &PointwiseArgs<'_>,
    progress: &Progress,
) -> Result<PointwiseReport> {
    check_ratings(data, a.task)?;
    let scenarios = Scenarios::new(data, a.scenario.as_ref())?;
    // Training rows of both stages, with `--scenario-keep` applied (seeded, the same rows
    // dropped at both stages).
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed ^ 0x5ce7);
    let keep_draw: Vec<f64> = (0..data.interactions.len())
        .map(|_| rng.random::<f64>())
        .collect();
    let thin = |rows: Vec<usize>| -> Vec<usize> {
        match (&a.keep, &a.scenario) {
            (Some((name, frac)), Some(_)) => {
                let ev = events_of(data, &rows);
                rows.into_iter()
                    .zip(ev)
                    .filter(|(r, e)| {
                        scenarios
                            .code_of(e)
                            .map(|c| scenarios.name_of(c))
                            .as_deref()
                            != Some(name.as_str())
                            || keep_draw[*r] < *frac
                    })
                    .map(|(r, _)| r)
                    .collect()
            }
            _ => rows,
        }
    };
    if let (Some((name, _)), Some(_)) = (&a.keep, &a.scenario) {
        if !scenarios.names.iter().any(|n| n == name) {
            bail!(
                "--scenario-keep {name}=…: no scenario named {name:?} (scenarios: {})",
                scenarios.names.join(", ")
            );
        }
    }
    let train_rows = thin(split.rows(&[Part::Train]));
    let full_rows = thin(split.rows(&[Part::Train, Part::Valid]));
    let (train, full) = (
        TrainData::new(data, &train_rows),
        TrainData::new(data, &full_rows),
    );
    let mut per_scenario = BTreeMap::new();
    if a.scenario.is_some() {
        for e in events_of(data, &full_rows) {
            if let Some(c) = scenarios.code_of(&e) {
                *per_scenario.entry(scenarios.name_of(c)).or_insert(0usize) += 1;
            }
        }
    }
    let valid_events = events_of(data, &split.rows(&[Part::Valid]));
    let test_events = events_of(data, &split.rows(&[Part::Test]));
    if test_events.is_empty() {
        bail!("the split has no test events");
    }
    let base = Config {
        task: a.task,
        scenario: a.scenario.clone(),
        seed: a.seed,
        ..Config::default()
    };
    // Targets (and, for clicks, the sampled negatives) are the same for every model.
    let stages = Stages {
        data,
        valid: Pointwise::label(&base, &train, &valid_events, a.seed + 1),
        test: Pointwise::label(&base, &full, &test_events, a.seed + 2),
        base,
        train,
        full,
        ratings: a.task == Task::Rating,
        scenarios,
    };
    let modes: &[ScenarioMode] = if a.scenario.is_some() {
        &[
            ScenarioMode::Global,
            ScenarioMode::Separate,
            ScenarioMode::Shared,
        ]
    } else {
        &[ScenarioMode::Global]
    };
    let mut rows = Vec::new();
    for spec in a.models {
        if spec.trim() == "mean" {
            rows.extend(stages.mean_rows(a.seed));
            continue;
        }
        for &mode in modes {
            rows.extend(stages.model_rows(spec, mode, a.tune, progress)?);
        }
    }
    Ok(PointwiseReport {
        dataset: data.name.clone(),
        split: a.split_text.clone(),
        task: task_text(a.task),
        scenario: a
            .scenario
            .as_ref()
            .map(|s| scenario_text(s, a.keep.as_ref())),
        scenario_train_events: per_scenario,
        rows,
    })
}

/// The task in words, for the report.
fn task_text(task: Task) -> String {
    match task {
        Task::Rating => "rating (squared loss; predictions clamped to the training range)".into(),
        Task::Like { threshold } => format!("like (rating ≥ {threshold} is a positive)"),
        Task::Click {
            negatives,
            sampling,
        } => format!(
            "click (each event against {negatives} {} negatives from the catalogue, none \
             from the user's training history)",
            match sampling {
                seer_models::pointwise::Sampling::Uniform => "uniform",
                seer_models::pointwise::Sampling::Popularity => "popularity-weighted",
            }
        ),
    }
}

/// The scenario (and `--scenario-keep`) in words, for the report.
fn scenario_text(s: &Scenario, keep: Option<&(String, f64)>) -> String {
    let base = match s {
        Scenario::Weekend => "weekend vs weekday (UTC)".to_string(),
        Scenario::Daypart => {
            "daypart (UTC night 0–6, morning 6–12, afternoon 12–18, evening 18–24)".into()
        }
        Scenario::Context(c) => format!("context column {c}"),
    };
    match keep {
        Some((n, f)) => format!(
            "{base}; only {:.1}% of the {n} training events kept",
            f * 100.0
        ),
        None => base,
    }
}
