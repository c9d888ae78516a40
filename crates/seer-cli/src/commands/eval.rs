//! `seer eval`: a saved model on the test (or validation) part, full ranking.

use std::fs;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use seer_data::Part;
use seer_eval::{evaluate, EvalConfig, Stage};
use seer_models::ModelConfig;

use super::import::load_dataset;
use super::recommend::require_sequence_model;
use crate::args::*;
use crate::artifacts;
use crate::config::SeerConfig;
use crate::progress::Progress;

pub(crate) fn eval_cmd(a: &EvalArgs, cfg: &SeerConfig, progress: Progress) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let split = artifacts::load_split(&a.data, &data)?;
    let meta = artifacts::load_model_meta(&a.model, &data)?;
    if meta.split != artifacts::split_fingerprint(&split) {
        bail!(
            "model {} was fit on a different split of {} than the one there now (re-split \
             since training?); evaluating it could score events it was trained on: retrain it \
             with `seer train`",
            a.model.display(),
            a.data.display()
        );
    }
    let model = seer_models::load(&a.model)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    let stage = match a.stage {
        Some(StageArg::Valid) => Stage::Validation,
        Some(StageArg::Test) => Stage::Test,
        None if meta.fit_on.contains(&Part::Valid) => Stage::Test,
        // Early-stopped on validation: the test stage is the honest one.
        None if ModelConfig::from_spec(&meta.spec).is_ok_and(|c| c.is_iterative()) => Stage::Test,
        None => Stage::Validation,
    };
    if stage == Stage::Validation && meta.fit_on.contains(&Part::Valid) {
        bail!("model {} was fit on the validation part; evaluating it there would measure training data", a.model.display());
    }
    if let Some(n) = a.generate {
        require_sequence_model(&meta.spec, &a.model)?;
        let report = seer_eval::evaluate_generation(
            model.as_ref(),
            &data,
            &split,
            stage,
            n,
            a.beam,
            &progress.bar(data.n_users() as u64, "generate"),
        )?;
        println!(
            "{} on {} ({:?}): next {n} items generated with beam {} for {} users \
             (mean {:.2} target items) in {:.1} s",
            meta.spec,
            data.name,
            stage,
            a.beam,
            report.users_evaluated,
            report.mean_targets,
            report.seconds
        );
        for (k, v) in &report.metrics {
            println!("  {k:<24} {v:.5}");
        }
        if let Some(path) = &a.json {
            fs::write(path, serde_json::to_string_pretty(&report)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut eval_cfg: EvalConfig = cfg.eval.clone();
    if let Some(k) = &a.k {
        eval_cfg.ks = k.clone();
    }
    if a.sampled.is_some() {
        eval_cfg.sampled_negatives = a.sampled;
    }
    let pb = progress.bar(data.n_users() as u64, "evaluate");
    let report = evaluate(
        model.as_ref(),
        &data,
        &split,
        stage,
        &eval_cfg,
        a.export_recs.is_some(),
        &pb,
    )?;
    pb.finish_and_clear();
    println!(
        "{} on {} ({:?}, {} users, full ranking over {} items)",
        meta.spec, data.name, stage, report.users_evaluated, report.n_items
    );
    for (k, v) in &report.metrics {
        println!("  {k:<24} {v:.5}");
    }
    if let Some(path) = &a.export_recs {
        seer_eval::export_recs(&report, &data, path)?;
        println!("recommendations → {}", path.display());
    }
    if let Some(path) = &a.json {
        fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
