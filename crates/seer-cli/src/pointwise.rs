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

use crate::cli::Progress;

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

/// Runs every model (and scenario mode) on one dataset.
pub fn bench(
    data: &Dataset,
    split: &Split,
    a: &PointwiseArgs<'_>,
    progress: &Progress,
) -> Result<PointwiseReport> {
    if a.task == Task::Rating || matches!(a.task, Task::Like { .. }) {
        let r = &data.interactions.rating;
        let first = r.first().copied().unwrap_or(1.0);
        if r.iter().all(|&x| x == first) {
            bail!(
                "--task {} needs explicit ratings, and every event of {} has rating {first}: \
                 use --task click (events against sampled negatives) for implicit data",
                a.task.name(),
                data.name
            );
        }
    }
    let context_names: Vec<String> = data
        .interactions
        .context
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let column = match &a.scenario {
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
    let names: Vec<String> = match &a.scenario {
        Some(s @ Scenario::Context(_)) => {
            s.names(column.map_or(&[][..], |c| data.interactions.context[c].values.ids()))
        }
        Some(s) => s.names(&[]),
        None => Vec::new(),
    };
    let name_of = |code: u32| -> String {
        names
            .get(code as usize)
            .cloned()
            .unwrap_or_else(|| "(missing)".into())
    };
    let code_of = |e: &Event| a.scenario.as_ref().map(|s| scenario_code(s, column, e));

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
                        code_of(e).map(name_of).as_deref() != Some(name.as_str())
                            || keep_draw[*r] < *frac
                    })
                    .map(|(r, _)| r)
                    .collect()
            }
            _ => rows,
        }
    };
    if let (Some((name, _)), Some(_)) = (&a.keep, &a.scenario) {
        if !names.iter().any(|n| n == name) {
            bail!(
                "--scenario-keep {name}=…: no scenario named {name:?} (scenarios: {})",
                names.join(", ")
            );
        }
    }
    let train_rows = thin(split.rows(&[Part::Train]));
    let full_rows = thin(split.rows(&[Part::Train, Part::Valid]));
    let stage_train = TrainData::new(data, &train_rows);
    let stage_full = TrainData::new(data, &full_rows);
    let mut per_scenario = BTreeMap::new();
    if a.scenario.is_some() {
        for e in events_of(data, &full_rows) {
            if let Some(c) = code_of(&e) {
                *per_scenario.entry(name_of(c)).or_insert(0usize) += 1;
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
    let valid = Pointwise::label(&base, &stage_train, &valid_events, a.seed + 1);
    let test = Pointwise::label(&base, &stage_full, &test_events, a.seed + 2);
    let ratings = a.task == Task::Rating;

    let slices = |l: &Labelled, p: &[f32]| -> Vec<(String, BTreeMap<String, f64>)> {
        let mut out = vec![("all".to_string(), pointwise_metrics(p, &l.y, ratings))];
        if a.scenario.is_some() {
            let mut groups: BTreeMap<u32, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
            for ((e, &y), &p) in l.events.iter().zip(&l.y).zip(p) {
                if let Some(c) = code_of(e) {
                    let g = groups.entry(c).or_default();
                    g.0.push(p);
                    g.1.push(y);
                }
            }
            for (c, (p, y)) in groups {
                out.push((name_of(c), pointwise_metrics(&p, &y, ratings)));
            }
        }
        out
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
            // The training mean rating / base rate for every event.
            let mean_of = |l: &Labelled| -> f32 {
                l.y.iter().map(|&y| y as f64).sum::<f64>() as f32 / l.y.len().max(1) as f32
            };
            let tl = Pointwise::label(
                &base,
                &stage_full,
                &seer_models::pointwise::training_events(&stage_full),
                a.seed,
            );
            let vl = Pointwise::label(
                &base,
                &stage_train,
                &seer_models::pointwise::training_events(&stage_train),
                a.seed,
            );
            let (mt, mv) = (mean_of(&tl), mean_of(&vl));
            let pt = vec![mt; test.y.len()];
            let pv = vec![mv; valid.y.len()];
            let vs = slices(&valid, &pv);
            for ((slice, m), (_, vm)) in slices(&test, &pt).into_iter().zip(vs) {
                rows.push(PointwiseRow {
                    model: "mean".into(),
                    mode: "global".into(),
                    slice,
                    metrics: m,
                    valid_metrics: vm,
                    fit_seconds: 0.0,
                    train_examples: tl.y.len(),
                    collision_rate: 0.0,
                    chosen: None,
                });
            }
            continue;
        }
        for &mode in modes {
            let mode_base = Config {
                mode,
                ..base.clone()
            };
            let label = format!("{spec} [{}]", mode.name());
            let pb = progress.bar(0, &label);
            // Validation: every candidate setting fitted on train; the best by validation
            // RMSE (ratings) or log loss (probabilities) goes on to the test stage.
            let candidates = if a.tune {
                grid(spec)
            } else {
                vec![spec.clone()]
            };
            let mut best: Option<(f64, String, Config, Vec<f32>)> = None;
            for cand in candidates {
                let cfg = Config::from_spec(&cand, &mode_base)?;
                let model_v = Pointwise::fit(&cfg, &stage_train, &pb)?;
                let pv = model_v.predict(&stage_train, &valid.events);
                let m = pointwise_metrics(&pv, &valid.y, ratings);
                let key = if ratings { "rmse" } else { "logloss" };
                let score = m.get(key).copied().unwrap_or(f64::INFINITY);
                if a.tune {
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
            let model = Pointwise::fit(&cfg, &stage_full, &pb)?;
            let fit_seconds = t0.elapsed().as_secs_f64();
            pb.finish_and_clear();
            let pt = model.predict(&stage_full, &test.events);
            let collision = model.collision_rate(data.n_users());
            let vs = slices(&valid, &pv);
            for ((slice, m), (_, vm)) in slices(&test, &pt).into_iter().zip(vs) {
                rows.push(PointwiseRow {
                    model: spec.clone(),
                    mode: mode.name().into(),
                    slice,
                    metrics: m,
                    valid_metrics: vm,
                    fit_seconds,
                    train_examples: model.examples,
                    collision_rate: collision,
                    chosen: a.tune.then(|| chosen.clone()),
                });
            }
            tracing::info!(model = %label, fit_seconds, "pointwise model done");
        }
    }
    let task = match a.task {
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
    };
    Ok(PointwiseReport {
        dataset: data.name.clone(),
        split: a.split_text.clone(),
        task,
        scenario: a.scenario.as_ref().map(|s| {
            let base = match s {
                Scenario::Weekend => "weekend vs weekday (UTC)".to_string(),
                Scenario::Daypart => {
                    "daypart (UTC night 0–6, morning 6–12, afternoon 12–18, evening 18–24)".into()
                }
                Scenario::Context(c) => format!("context column {c}"),
            };
            match &a.keep {
                Some((n, f)) => format!(
                    "{base}; only {:.1}% of the {n} training events kept",
                    f * 100.0
                ),
                None => base,
            }
        }),
        scenario_train_events: per_scenario,
        rows,
    })
}
