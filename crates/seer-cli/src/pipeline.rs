//! The end-to-end pipeline shared by `seer bench`, `seer tune` and `seer demo`:
//! for each model, choose hyper-parameters on validation, refit on train + validation, and
//! evaluate once on test with full ranking.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use seer_core::Recommender;
use seer_data::{Dataset, Part, Split};
use seer_eval::{evaluate, mem, EvalConfig, EvalReport, ModelResult, Stage, TestProtocol};
use seer_models::seq::TrainLog;
use seer_models::{FitOptions, ModelConfig, TrainData};

use crate::cli::Progress;

/// The metric hyper-parameters are selected on: NDCG at 10 (or the first K configured).
pub fn selection_key(eval: &EvalConfig) -> String {
    let k = if eval.ks.contains(&10) {
        10
    } else {
        eval.ks.first().copied().unwrap_or(10)
    };
    format!("ndcg@{k}")
}

/// Fits `cfg` on the given split parts. Iterative models (BPR, SASRec, BERT4Rec) validate on the
/// validation part every few epochs (NDCG@10, full ranking, the one protocol), keep the best
/// epoch and stop early; `checkpoint` makes their training resumable.
pub fn fit(
    cfg: &ModelConfig,
    data: &Dataset,
    split: &Split,
    parts: &[Part],
    checkpoint: Option<&std::path::Path>,
    pb: &ProgressBar,
) -> Result<(Box<dyn Recommender>, Option<TrainLog>)> {
    let train = TrainData::new(data, &split.fit_rows(data, parts));
    let valid_cfg = EvalConfig {
        ks: vec![10],
        sampled_negatives: None,
        ..EvalConfig::default()
    };
    let validator = |m: &dyn Recommender| -> seer_models::Result<f64> {
        let report = evaluate(
            m,
            data,
            split,
            Stage::Validation,
            &valid_cfg,
            false,
            &ProgressBar::hidden(),
        )
        .map_err(|e| seer_models::Error::Tensor(format!("validation: {e}")))?;
        Ok(report.metrics.get("ndcg@10").copied().unwrap_or(f64::NAN))
    };
    let has_valid = !split.rows(&[Part::Valid]).is_empty() && !parts.contains(&Part::Valid);
    let log = std::sync::Mutex::new(None);
    let opts = FitOptions {
        validator: if has_valid { Some(&validator) } else { None },
        checkpoint,
        log: Some(&log),
        users: None,
    };
    let model = cfg
        .fit_with(&train, &opts, pb)
        .with_context(|| format!("fitting {}", cfg.name()))?;
    Ok((model, log.into_inner().ok().flatten()))
}

/// Outcome of a validation grid search.
pub struct Tuned {
    /// The best configuration.
    pub best: ModelConfig,
    /// Its validation report.
    pub valid: EvalReport,
    /// Every configuration tried with its selection metric, in grid order.
    pub trials: Vec<(ModelConfig, f64)>,
    /// The best configuration's fitted model, its fit time in seconds and training log, kept
    /// for iterative models (see [`ModelConfig::is_iterative`]).
    pub model: Option<(Box<dyn Recommender>, f64, TrainLog)>,
}

/// Grid search on the validation part: fit each grid point on train, evaluate on validation,
/// keep the best by [`selection_key`]. The test part is never touched.
pub fn tune(
    base: &ModelConfig,
    data: &Dataset,
    split: &Split,
    eval: &EvalConfig,
    grid: bool,
    progress: &Progress,
) -> Result<Tuned> {
    let key = selection_key(eval);
    let candidates = if grid {
        base.tuning_grid()
    } else {
        vec![base.clone()]
    };
    let mut best: Option<(ModelConfig, EvalReport)> = None;
    let mut best_model = None;
    let mut trials = Vec::new();
    for cfg in candidates {
        let t0 = Instant::now();
        let (model, log) = fit(
            &cfg,
            data,
            split,
            &[Part::Train],
            None,
            &progress.spinner("fit (train)"),
        )?;
        let fit_seconds = t0.elapsed().as_secs_f64();
        let pb = progress.bar(data.n_users() as u64, "evaluate (validation)");
        let report = evaluate(
            model.as_ref(),
            data,
            split,
            Stage::Validation,
            eval,
            false,
            &pb,
        )
        .with_context(|| format!("evaluating {} on validation", cfg.name()))?;
        pb.finish_and_clear();
        let score = report.metrics.get(&key).copied().unwrap_or(f64::NAN);
        tracing::info!(model = cfg.name(), config = %spec_of(&cfg), metric = %key, score, "validation");
        trials.push((cfg.clone(), score));
        let better = match &best {
            None => true,
            Some((_, b)) => score > b.metrics.get(&key).copied().unwrap_or(f64::NEG_INFINITY),
        };
        if better {
            if let Some(log) = log {
                best_model = Some((model, fit_seconds, log));
            }
            best = Some((cfg, report));
        }
    }
    let (best, valid) = best.context("the tuning grid is empty")?;
    Ok(Tuned {
        best,
        valid,
        trials,
        model: best_model,
    })
}

/// Runs one model through the whole protocol and returns its bench row.
pub fn run_model(
    spec: &str,
    data: &Dataset,
    split: &Split,
    eval: &EvalConfig,
    grid: bool,
    progress: &Progress,
) -> Result<(ModelResult, EvalReport)> {
    let base = ModelConfig::from_spec(spec).with_context(|| format!("model spec {spec:?}"))?;
    mem::reset_peak_rss();
    let mut tuned = tune(&base, data, split, eval, grid, progress)?;
    let epochs = tuned
        .model
        .as_ref()
        .map(|(_, _, log)| (log.epochs.len(), log.best_epoch));
    let (model, fit_seconds) = match (tuned.model.take(), eval.protocol) {
        // RecBole's protocol: the model fit on train, early-stopped on validation.
        (Some((m, secs, _)), TestProtocol::Recbole) => (m, secs),
        // seer's protocol for iterative models: refit on train + validation for the best
        // epoch count found on validation (as the other models are refit); the validation
        // event is then both trained on and part of the input sequence at test time.
        (Some((_, secs, log)), TestProtocol::Seer) => {
            let t0 = Instant::now();
            let cfg = tuned.best.with_fixed_epochs(log.best_epoch);
            let (model, _) = fit(
                &cfg,
                data,
                split,
                &[Part::Train, Part::Valid],
                None,
                &progress.spinner("refit (train + validation)"),
            )?;
            let refit = t0.elapsed().as_secs_f64();
            tracing::info!(
                model = spec,
                best_epoch = log.best_epoch,
                train_seconds = secs,
                refit_seconds = refit,
                "refit done"
            );
            (model, secs + refit)
        }
        (None, _) => {
            mem::reset_peak_rss();
            let t0 = Instant::now();
            // Test protocol: refit on train + validation so the model has seen the validation
            // event (RecBole's protocol instead keeps the model fit on train only).
            let parts: &[Part] = match eval.protocol {
                TestProtocol::Seer => &[Part::Train, Part::Valid],
                TestProtocol::Recbole => &[Part::Train],
            };
            let (model, _) = fit(
                &tuned.best,
                data,
                split,
                parts,
                None,
                &progress.spinner("fit for test"),
            )?;
            (model, t0.elapsed().as_secs_f64())
        }
    };
    let t1 = Instant::now();
    let pb = progress.bar(data.n_users() as u64, "evaluate (test)");
    let test = evaluate(model.as_ref(), data, split, Stage::Test, eval, true, &pb)
        .with_context(|| format!("evaluating {spec} on test"))?;
    pb.finish_and_clear();
    let eval_seconds = t1.elapsed().as_secs_f64();
    // Process-wide high-water mark since the reset: dataset + model + evaluation buffers.
    let peak = mem::peak_rss_bytes().unwrap_or(0);
    tracing::info!(model = spec, fit_seconds, eval_seconds, "test done");
    let result = ModelResult {
        name: spec.to_owned(),
        config: serde_json::to_value(&tuned.best).unwrap_or_default(),
        metrics: test.metrics.clone(),
        valid_metrics: tuned.valid.metrics.clone(),
        fit_seconds,
        eval_seconds,
        peak_rss_mb: peak as f64 / (1024.0 * 1024.0),
        epochs_run: epochs.map(|e| e.0),
        best_epoch: epochs.map(|e| e.1),
        paired: None,
    };
    Ok((result, test))
}

/// A compact, human-readable spec of a resolved config (`ease:lambda=500`).
pub fn spec_of(cfg: &ModelConfig) -> String {
    let v = serde_json::to_value(cfg).unwrap_or_default();
    let mut parts = BTreeMap::new();
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            if k != "model" {
                parts.insert(k.clone(), val.to_string());
            }
        }
    }
    let kv: Vec<String> = parts.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if kv.is_empty() {
        cfg.name().to_owned()
    } else {
        format!("{}:{}", cfg.name(), kv.join(","))
    }
}
