//! The model registry as the bench pipeline's [`Factory`] (`seer_eval::bench`): the pipeline
//! shared by `seer bench`, `seer tune`, `seer train` and `seer demo` lives in seer-eval and
//! takes models through the `Recommender` trait; this module hands it `ModelConfig`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use seer_core::Recommender;
use seer_data::{Dataset, Part, Split};
use seer_eval::bench::{self, Bars, Epochs, Factory, Validator};
use seer_eval::{EvalConfig, EvalReport, ModelResult};
use seer_models::train::TrainLog;
use seer_models::{FitOptions, ModelConfig, TrainData};

use crate::progress::Progress;

pub use seer_eval::bench::selection_key;

/// [`ModelConfig`] as the pipeline's model factory.
pub struct Registry;

impl Factory for Registry {
    type Config = ModelConfig;
    type Log = TrainLog;

    fn fit(
        &self,
        cfg: &ModelConfig,
        data: &Dataset,
        rows: &[usize],
        validator: Option<Validator<'_>>,
        checkpoint: Option<&Path>,
        pb: &ProgressBar,
    ) -> seer_eval::Result<(Box<dyn Recommender>, Option<TrainLog>)> {
        let train = TrainData::new(data, rows);
        let validate = validator.map(|v| {
            move |m: &dyn Recommender| -> seer_models::Result<f64> {
                v(m).map_err(|e| seer_models::Error::Tensor(format!("validation: {e}")))
            }
        });
        let log = std::sync::Mutex::new(None);
        let opts = FitOptions {
            validator: validate
                .as_ref()
                .map(|f| f as seer_models::train::Validator<'_>),
            checkpoint,
            log: Some(&log),
            users: None,
        };
        let model = cfg
            .fit_with(&train, &opts, pb)
            .map_err(|e| seer_eval::Error::Fit {
                model: cfg.name().to_owned(),
                message: e.to_string(),
            })?;
        Ok((model, log.into_inner().ok().flatten()))
    }

    fn epochs(&self, log: &TrainLog) -> Epochs {
        Epochs {
            run: log.epochs.len(),
            best: log.best_epoch,
        }
    }

    fn with_fixed_epochs(&self, cfg: &ModelConfig, epochs: usize) -> ModelConfig {
        cfg.with_fixed_epochs(epochs)
    }

    fn describe(&self, cfg: &ModelConfig) -> String {
        spec_of(cfg)
    }
}

impl Bars for Progress {
    fn bar(&self, len: u64, msg: &str) -> ProgressBar {
        Progress::bar(self, len, msg)
    }
    fn spinner(&self, msg: &str) -> ProgressBar {
        Progress::spinner(self, msg)
    }
}

/// Fits `cfg` on the given split parts (see [`bench::fit`]): iterative models (BPR, SASRec,
/// BERT4Rec) validate on the validation part, keep the best epoch and stop early;
/// `checkpoint` makes their training resumable.
pub fn fit(
    cfg: &ModelConfig,
    data: &Dataset,
    split: &Split,
    parts: &[Part],
    checkpoint: Option<&Path>,
    pb: &ProgressBar,
) -> Result<(Box<dyn Recommender>, Option<TrainLog>)> {
    Ok(bench::fit(
        &Registry, cfg, data, split, parts, checkpoint, pb,
    )?)
}

/// The configurations to try for `spec`: its tuning grid with the keys the spec gives kept
/// (see [`ModelConfig::tuning_grid_for`]), or the spec alone.
pub fn candidates(spec: &str, grid: bool) -> Result<Vec<ModelConfig>> {
    let base = ModelConfig::from_spec(spec).with_context(|| format!("model spec {spec:?}"))?;
    Ok(if grid {
        ModelConfig::tuning_grid_for(spec)?
    } else {
        vec![base]
    })
}

/// Grid search of `spec` on the validation part (see [`bench::tune`]).
pub fn tune(
    spec: &str,
    data: &Dataset,
    split: &Split,
    eval: &EvalConfig,
    progress: &Progress,
) -> Result<bench::Tuned<Registry>> {
    let grid = candidates(spec, true)?;
    Ok(bench::tune(&Registry, grid, data, split, eval, progress)?)
}

/// Runs one model through the whole protocol (see [`bench::run_model`]). The row is named by
/// the configuration actually used: `spec`, plus every key tuning set to something other
/// than the spec's value (`ease` tuned to λ = 250 is `ease:lambda=250.0`).
pub fn run_model(
    spec: &str,
    data: &Dataset,
    split: &Split,
    eval: &EvalConfig,
    grid: bool,
    progress: &Progress,
) -> Result<(ModelResult, EvalReport)> {
    let base = ModelConfig::from_spec(spec).with_context(|| format!("model spec {spec:?}"))?;
    let grid = candidates(spec, grid)?;
    let (mut row, test) = bench::run_model(&Registry, spec, grid, data, split, eval, progress)
        .with_context(|| format!("running {spec}"))?;
    row.name = tuned_name(spec, &base, &row.config);
    Ok((row, test))
}

/// `spec` with the keys whose values in `chosen` (a resolved config as JSON) differ from
/// `base` appended, in key order; `spec` itself when none does.
fn tuned_name(spec: &str, base: &ModelConfig, chosen: &serde_json::Value) -> String {
    let base = serde_json::to_value(base).unwrap_or_default();
    let flat = |v: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        let mut out = BTreeMap::new();
        for (k, x) in v.as_object().into_iter().flatten() {
            match (k.as_str(), x.as_object()) {
                // a two-stage model's ranker keys are spec keys of their own
                ("ranker", Some(r)) => out.extend(r.iter().map(|(k, x)| (k.clone(), x.clone()))),
                _ => {
                    out.insert(k.clone(), x.clone());
                }
            }
        }
        out
    };
    let (b, c) = (flat(&base), flat(chosen));
    let changed: Vec<String> = c
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    match (
        changed.is_empty(),
        spec.split_once('+').map_or(spec, |(_, r)| r).contains(':'),
    ) {
        (true, _) => spec.to_owned(),
        (false, true) => format!("{spec},{}", changed.join(",")),
        (false, false) => format!("{spec}:{}", changed.join(",")),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_named_by_the_configuration_used() {
        let name = |spec: &str, chosen: &str| {
            let base = ModelConfig::from_spec(spec).unwrap();
            let chosen = serde_json::to_value(ModelConfig::from_spec(chosen).unwrap()).unwrap();
            tuned_name(spec, &base, &chosen)
        };
        assert_eq!(name("ease", "ease"), "ease");
        assert_eq!(name("ease", "ease:lambda=250"), "ease:lambda=250.0");
        assert_eq!(
            name("itemknn:shrink=10", "itemknn:shrink=10,k=50"),
            "itemknn:shrink=10,k=50"
        );
        assert_eq!(name("ease+lr", "ease+lr:alpha=0.5"), "ease+lr:alpha=0.5");
        assert_eq!(
            name("ease+lr:alpha=1e+0", "ease+lr:alpha=1e+0"),
            "ease+lr:alpha=1e+0"
        );
    }
}
