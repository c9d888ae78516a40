//! `seer bench`: the whole protocol for every model, written as bench.json, bench.md and bench.html.

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use seer_data::{Dataset, Part, SplitConfig};
use seer_eval::{BenchReport, EvalConfig};
use seer_models::ModelConfig;

use super::import::load_dataset;
use crate::args::*;
use crate::config::SeerConfig;
use crate::pipeline;
use crate::progress::Progress;

pub(crate) fn bench_cmd(a: &BenchArgs, cfg: &SeerConfig, progress: Progress) -> Result<ExitCode> {
    if a.task != TaskArg::Ranking {
        return pointwise_cmd(a, cfg, progress);
    }
    let default_models = ModelList(["pop", "itemknn", "ease", "als"].map(String::from).to_vec());
    let models = a.models.as_ref().unwrap_or(&default_models);
    let mut eval_cfg = cfg.eval.clone();
    if let Some(k) = &a.k {
        eval_cfg.ks = k.clone();
    }
    if a.sampled.is_some() {
        eval_cfg.sampled_negatives = a.sampled;
    }
    match a.protocol {
        Some(ProtocolArg::Seer) => eval_cfg.protocol = seer_eval::TestProtocol::Seer,
        Some(ProtocolArg::Recbole) => eval_cfg.protocol = seer_eval::TestProtocol::Recbole,
        None => {}
    }
    eval_cfg.validate()?;
    let references = a
        .compare
        .iter()
        .map(|p| seer_eval::Reference::read_recbole(p))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    // Every model spec is checked before any dataset is read, so a typo in the last model
    // fails at once and is not hidden behind (or found after) a long import.
    for spec in &models.0 {
        ModelConfig::from_spec(spec).with_context(|| format!("model spec {spec:?}"))?;
    }
    let mut placed = vec![false; references.len()];
    for path in &a.data {
        let data = if path.join("manifest.json").exists() {
            load_dataset(path)?
        } else {
            let t0 = Instant::now();
            let pb = progress.spinner(&format!("importing {}", path.display()));
            let (d, report) = crate::config::import_with(path, cfg, &pb)
                .with_context(|| format!("importing {}", path.display()))?;
            pb.finish_and_clear();
            tracing::info!(seconds = t0.elapsed().as_secs_f64(), dataset = %d.name, "imported");
            eprintln!("{report}");
            d
        };
        // SplitConfig::split itself refuses a temporal split of data without timestamps.
        let split_cfg = a.split.config(&cfg.split);
        let mut split = split_cfg.split(&data)?;
        if let Some(f) = a.train_users {
            split = split.few_shot(&data, f, a.split.seed)?;
        }
        let out = a.out.join(&data.name);
        let mut report = bench_dataset(&data, &split, &models.0, &eval_cfg, a.tune, progress)?;
        // A reference goes to the dataset it names; with one dataset, every reference does
        // (a name mismatch then shows as a warning).
        for (i, r) in references.iter().enumerate() {
            if r.dataset == data.name || a.data.len() == 1 {
                placed[i] = true;
                let mut r = r.clone();
                let protocol = match eval_cfg.protocol {
                    seer_eval::TestProtocol::Seer => "seer",
                    seer_eval::TestProtocol::Recbole => "recbole",
                };
                r.check(
                    &data.name,
                    protocol,
                    &[
                        ("train", split.count(Part::Train)),
                        ("valid", split.count(Part::Valid)),
                        ("test", split.count(Part::Test)),
                    ],
                );
                for w in &r.warnings {
                    tracing::warn!("--compare {}: {w}", r.source);
                }
                report.references.push(r);
            }
        }
        let mut resolved = cfg.clone();
        resolved.eval = eval_cfg.clone();
        resolved.split = split.config.clone();
        write_bench(&report, &resolved, &out)?;
        println!("{}", report.to_markdown());
        println!("bench for {} → {}", data.name, out.display());
    }
    for (r, _) in references.iter().zip(&placed).filter(|(_, p)| !**p) {
        tracing::warn!(
            "--compare {}: its dataset `{}` is none of the benched datasets; left out",
            r.source,
            r.dataset
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `seer bench --task rating|like|click`.
pub(crate) fn pointwise_cmd(
    a: &BenchArgs,
    cfg: &SeerConfig,
    progress: Progress,
) -> Result<ExitCode> {
    use seer_models::pointwise::{Sampling, Scenario, Task};
    let task = match a.task {
        TaskArg::Rating => Task::Rating,
        TaskArg::Like => Task::Like {
            threshold: a.like_threshold,
        },
        TaskArg::Click => {
            if a.negatives == 0 {
                bail!("--negatives must be at least 1");
            }
            Task::Click {
                negatives: a.negatives,
                sampling: match a.sampling {
                    SamplingArg::Uniform => Sampling::Uniform,
                    SamplingArg::Popularity => Sampling::Popularity,
                },
            }
        }
        TaskArg::Ranking => unreachable!("ranking is bench_cmd's own path"),
    };
    for (flag, used) in [
        ("--sampled", a.sampled.is_some()),
        ("--compare", !a.compare.is_empty()),
        ("--train-users", a.train_users.is_some()),
        ("--protocol", a.protocol.is_some()),
    ] {
        if used {
            bail!("{flag} applies to --task ranking only");
        }
    }
    let scenario = a.scenario.as_deref().map(Scenario::parse).transpose()?;
    let keep = match &a.scenario_keep {
        None => None,
        Some(s) => {
            if scenario.is_none() {
                bail!("--scenario-keep needs --scenario");
            }
            let Some((name, f)) = s.split_once('=') else {
                bail!("--scenario-keep {s:?}: expected SCENARIO=FRACTION, e.g. weekend=0.05");
            };
            let f: f64 = f
                .trim()
                .parse()
                .ok()
                .filter(|f: &f64| (0.0..=1.0).contains(f))
                .with_context(|| {
                    format!("--scenario-keep {s:?}: the fraction must be a number in 0..=1")
                })?;
            Some((name.trim().to_string(), f))
        }
    };
    let default_models = ModelList(["mean", "lr", "fm"].map(String::from).to_vec());
    let models = a.models.as_ref().unwrap_or(&default_models);
    for path in &a.data {
        let data = if path.join("manifest.json").exists() {
            load_dataset(path)?
        } else {
            let pb = progress.spinner(&format!("importing {}", path.display()));
            let (d, report) = crate::config::import_with(path, cfg, &pb)
                .with_context(|| format!("importing {}", path.display()))?;
            pb.finish_and_clear();
            eprintln!("{report}");
            d
        };
        let split = a.split.config(&cfg.split).split(&data)?;
        let args = crate::pointwise::PointwiseArgs {
            task,
            models: &models.0,
            scenario: scenario.clone(),
            keep: keep.clone(),
            seed: a.split.seed,
            split_text: describe_split(&split.config),
            tune: a.tune,
        };
        let report = crate::pointwise::bench(&data, &split, &args, &progress)?;
        let out = a.out.join(&data.name);
        fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        report.write_json(&out.join("pointwise.json"))?;
        let md = report.to_markdown();
        fs::write(out.join("pointwise.md"), &md)
            .with_context(|| format!("writing {}", out.join("pointwise.md").display()))?;
        println!("{md}");
        println!("pointwise bench for {} → {}", data.name, out.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn describe_split(cfg: &SplitConfig) -> String {
    match cfg {
        SplitConfig::LeaveOneOut { .. } => {
            "leave-one-out by time (last event test, second-to-last validation; events with \
             equal timestamps keep file order)"
                .into()
        }
        SplitConfig::Temporal {
            valid_from,
            test_from,
        } => {
            format!(
                "global temporal split (validation from {valid_from:?}, test from {test_from:?})"
            )
        }
        SplitConfig::RandomHoldout {
            valid_ratio,
            test_ratio,
            seed,
        } => format!(
            "random per-user holdout (validation {valid_ratio}, test {test_ratio}, seed {seed})"
        ),
        SplitConfig::ColdItems { fraction, seed } => format!(
            "cold items ({:.0}% of the items, seed {seed}, have every event held out of \
             training and validation; those events are the test targets; validation is each \
             user's last warm event)",
            fraction * 100.0
        ),
        SplitConfig::ColdUsers {
            fraction,
            max_events,
            seed,
        } => format!(
            "cold users ({:.0}% of the users, seed {seed}, keep only their first 0–{max_events} \
             events for training; their later events are the test targets; validation is the \
             other users' last event)",
            fraction * 100.0
        ),
    }
}

/// Runs every model through the protocol on one dataset.
pub(crate) fn bench_dataset(
    data: &Dataset,
    split: &seer_data::Split,
    models: &[String],
    eval: &EvalConfig,
    tune: bool,
    progress: Progress,
) -> Result<BenchReport> {
    let mut rows: Vec<seer_eval::ModelResult> = Vec::new();
    let mut users_evaluated = 0;
    // Every model's per-user NDCG at the headline cut-off, in run order: each later model is
    // compared user by user with the first (its `paired`) and with every model between them
    // (the report's `pairs`).
    let mut per_user: Vec<Vec<(u32, f64)>> = Vec::new();
    let mut pairs = Vec::new();
    for spec in models {
        let (mut row, test) = pipeline::run_model(spec, data, split, eval, tune, &progress)?;
        users_evaluated = test.users_evaluated;
        if let Some(k) = seer_eval::report::headline_k(&test.ks) {
            for (i, base) in per_user.iter().enumerate() {
                let Some((users, diff, ci95)) =
                    seer_eval::paired_difference(base, &test.per_user_ndcg)
                else {
                    continue;
                };
                let paired = seer_eval::Paired {
                    // by the names the rows carry (a tuned row names its configuration)
                    baseline: rows[i].name.clone(),
                    metric: format!("ndcg@{k}"),
                    users,
                    diff,
                    ci95,
                };
                if i == 0 {
                    row.paired = Some(paired);
                } else {
                    pairs.push(seer_eval::ModelPair {
                        model: row.name.clone(),
                        paired,
                    });
                }
            }
        }
        per_user.push(test.per_user_ndcg);
        rows.push(row);
    }
    Ok(BenchReport {
        dataset: data.name.clone(),
        split: format!(
            "{}{}; test protocol: {}",
            describe_split(&split.config),
            match &split.learners {
                Some(l) => format!(
                    "; few-shot: models learn from {} of the {} users only (all are tested)",
                    l.iter().filter(|&&x| x).count(),
                    l.len()
                ),
                None => String::new(),
            },
            match eval.protocol {
                seer_eval::TestProtocol::Seer =>
                    "seer (models see the validation event: \
                    non-sequential models refit on train + validation)",
                seer_eval::TestProtocol::Recbole =>
                    "recbole (fit on train only; validation \
                    items masked at test)",
            }
        ),
        n_users: data.n_users(),
        n_items: data.n_items(),
        n_interactions: data.interactions.len(),
        users_evaluated,
        sampled: eval.sampled_negatives.is_some(),
        models: rows,
        references: Vec::new(),
        pairs,
    })
}

pub(crate) fn write_bench(report: &BenchReport, cfg: &SeerConfig, out: &Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // The resolved configuration of the run, next to its outputs (each model's own resolved
    // config, seed included, is in bench.json).
    fs::write(out.join("seer-config.toml"), toml::to_string_pretty(cfg)?)
        .with_context(|| format!("writing {}", out.join("seer-config.toml").display()))?;
    report.write_json(&out.join("bench.json"))?;
    fs::write(out.join("bench.md"), report.to_markdown())
        .with_context(|| format!("writing {}", out.join("bench.md").display()))?;
    report.write_html(&out.join("bench.html"))?;
    Ok(())
}
