//! `seer demo`: import, clean, split, tune, train, evaluate and recommend on the bundled demo data.

use std::process::ExitCode;

use anyhow::{Context, Result};
use seer_data::Part;
use seer_models::ModelConfig;

use super::bench::{bench_dataset, write_bench};
use super::import::import;
use super::recommend::{recommend_lines, Rules};
use crate::args::*;
use crate::config::SeerConfig;
use crate::progress::Progress;
use crate::{artifacts, pipeline};

/// `seer demo`: the quickstart's main job.
pub(crate) fn demo(a: &DemoArgs, cfg: &SeerConfig, progress: Progress) -> Result<ExitCode> {
    let demo_cfg_path = a.data.join("seer.toml");
    let cfg = if demo_cfg_path.exists() {
        SeerConfig::load(&demo_cfg_path)?
    } else {
        cfg.clone()
    };
    println!("seer demo — SYNTHETIC interactions over real goodbooks-10k book metadata (see {}/ATTRIBUTION.md)\n", a.data.display());
    let ds_dir = a.out.join("dataset");
    let data = import(&a.data, &ds_dir, &cfg, progress)?;
    let split = cfg.split.split(&data)?;
    artifacts::save_split(&ds_dir, &split)?;
    println!(
        "dataset: {} users, {} items, {} events; split: train {}, validation {}, test {}\n",
        data.n_users(),
        data.n_items(),
        data.interactions.len(),
        split.count(Part::Train),
        split.count(Part::Valid),
        split.count(Part::Test)
    );
    let report = bench_dataset(&data, &split, &a.models.0, &cfg.eval, true, progress)?;
    let bench_dir = a.out.join("bench");
    write_bench(&report, &cfg, &bench_dir)?;
    println!("{}", report.to_markdown());
    println!(
        "(test part, full ranking; hyper-parameters chosen on validation; report: {}/bench.html)\n",
        bench_dir.display()
    );

    // A few recommendations from the best model by NDCG@10, refit on everything known.
    let key = pipeline::selection_key(&cfg.eval);
    let best = report
        .models
        .iter()
        .max_by(|x, y| {
            let a = x.metrics.get(&key).copied().unwrap_or(0.0);
            let b = y.metrics.get(&key).copied().unwrap_or(0.0);
            a.total_cmp(&b)
        })
        .context("no model ran")?;
    let best_cfg: ModelConfig = serde_json::from_value(best.config.clone())?;
    let (model, _) = pipeline::fit(
        &best_cfg,
        &data,
        &split,
        &[Part::Train, Part::Valid, Part::Test],
        None,
        &progress.spinner("fit (all events)"),
    )?;
    println!(
        "recommendations from {} (fit on all events):",
        pipeline::spec_of(&best_cfg)
    );
    for uid in ["u1", "u2", "u3"] {
        if let Some(u) = data.users.get(uid) {
            for line in
                recommend_lines(model.as_ref(), &data, u, 5, None, false, &Rules::default())?
            {
                println!("  {line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
