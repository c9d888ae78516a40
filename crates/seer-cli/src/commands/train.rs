//! `seer train`: fit a model (early stopping and refit for the iterative ones), or update a saved sequence model with new events (`--from`).

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use seer_data::{Dataset, Part, Split};
use seer_models::ModelConfig;

use super::import::load_dataset;
use crate::args::*;
use crate::progress::Progress;
use crate::{artifacts, pipeline};

/// `seer train`.
pub(crate) fn train_cmd(a: &TrainArgs, progress: &Progress) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let split = artifacts::load_split(&a.data, &data)?;
    let (Some(spec), None) = (&a.model, &a.from) else {
        return continual_update(a, &data, &split, progress);
    };
    let model_cfg = ModelConfig::from_spec(spec)?;
    // Iterative models (bpr, sasrec, bert4rec) by default follow the bench protocol:
    // train on the training part with early stopping on validation, then refit on
    // train + validation for the best epoch count.
    let refit = a.on.is_none() && model_cfg.is_iterative();
    let parts: &[Part] = match a.on {
        Some(FitOn::Train) => &[Part::Train],
        Some(FitOn::TrainValid) => &[Part::Train, Part::Valid],
        None if refit => &[Part::Train],
        None => &[Part::Train, Part::Valid],
    };
    let t0 = Instant::now();
    // Iterative models write their training state here after every epoch; a rerun
    // of an interrupted `seer train` with the same arguments resumes from it.
    let state = a.out.join("training-state");
    let checkpoint = model_cfg.is_iterative().then_some(state.as_path());
    let (mut model, log) = pipeline::fit(
        &model_cfg,
        &data,
        &split,
        parts,
        checkpoint,
        &progress.spinner("fit"),
    )?;
    let mut parts = parts.to_vec();
    // The validation curve of the early-stopped phase, written next to the model.
    let curve = log.as_ref().map(serde_json::to_vec_pretty).transpose()?;
    if let (false, Some(log)) = (refit, &log) {
        if let Some(v) = log.best_valid {
            println!(
                "best validation epoch {} of {} (ndcg@10 {v:.5})",
                log.best_epoch,
                log.epochs.len()
            );
        }
    }
    if let (true, Some(log)) = (refit, log) {
        let cfg = model_cfg.with_fixed_epochs(log.best_epoch);
        let refit_state = a.out.join("training-state-refit");
        (model, _) = pipeline::fit(
            &cfg,
            &data,
            &split,
            &[Part::Train, Part::Valid],
            Some(&refit_state),
            &progress.spinner("refit (train + validation)"),
        )?;
        parts = vec![Part::Train, Part::Valid];
        println!(
            "best validation epoch {} (ndcg@10 {:.5}); refit on train + validation",
            log.best_epoch,
            log.best_valid.unwrap_or(f64::NAN)
        );
        if refit_state.exists() {
            std::fs::remove_dir_all(&refit_state)
                .with_context(|| format!("removing {}", refit_state.display()))?;
        }
    }
    let fit_seconds = t0.elapsed().as_secs_f64();
    let meta = save_trained(
        model.as_ref(),
        &a.out,
        pipeline::spec_of(&model_cfg),
        &data,
        &split,
        &parts,
        fit_seconds,
    )?;
    let curve_path = a.out.join(TRAIN_LOG_FILE);
    match curve {
        Some(curve) => artifacts::write_atomic(&curve_path, &curve)?,
        // Not from an earlier model in the same directory.
        None if curve_path.exists() => fs::remove_file(&curve_path)
            .with_context(|| format!("removing {}", curve_path.display()))?,
        None => {}
    }
    if state.exists() {
        std::fs::remove_dir_all(&state).with_context(|| format!("removing {}", state.display()))?;
    }
    println!(
        "trained {} in {fit_seconds:.2} s → {}",
        meta.spec,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Per-epoch training loss, speed and validation NDCG@10 of an iterative model's
/// early-stopped phase (`seer train`), in the model directory.
pub(crate) const TRAIN_LOG_FILE: &str = "train-log.json";

/// Saves a model fitted on `parts` of `split` into `out` with its metadata and vocabulary.
pub(crate) fn save_trained(
    model: &dyn seer_core::Recommender,
    out: &Path,
    spec: String,
    data: &Dataset,
    split: &Split,
    parts: &[Part],
    fit_seconds: f64,
) -> Result<artifacts::ModelMeta> {
    model
        .save(out)
        .with_context(|| format!("saving the model to {}", out.display()))?;
    let meta = artifacts::ModelMeta {
        spec,
        dataset: data.name.clone(),
        fit_on: parts.to_vec(),
        fit_seconds,
        split: artifacts::split_fingerprint(split),
        trained_until: latest_event(data, split, parts),
    };
    artifacts::save_model_meta(out, &meta, &data.items)?;
    Ok(meta)
}

/// Unix seconds of the latest event in `parts` (datasets with timestamps).
pub(crate) fn latest_event(data: &Dataset, split: &Split, parts: &[Part]) -> Option<i64> {
    if !data.has_timestamps {
        return None;
    }
    split
        .rows(parts)
        .into_iter()
        .map(|r| data.interactions.ts[r])
        .max()
}

/// `seer train --from MODEL`: continues training a saved sequence model on the events that
/// arrived after it was trained, extending its item table with the items it never learned.
pub(crate) fn continual_update(
    a: &TrainArgs,
    data: &Dataset,
    split: &Split,
    progress: &Progress,
) -> Result<ExitCode> {
    let Some(from) = &a.from else {
        bail!("`seer train` needs --model SPEC or --from MODEL_DIR");
    };
    let t0 = Instant::now();
    let (old_meta, old_items) = artifacts::load_model_vocab(from)
        .with_context(|| format!("reading the model to update, {}", from.display()))?;
    let parts: Vec<Part> = match a.on {
        Some(FitOn::Train) => vec![Part::Train],
        Some(FitOn::TrainValid) | None => vec![Part::Train, Part::Valid],
    };
    let rows = split.rows(&parts);
    let until = old_meta.trained_until.filter(|_| data.has_timestamps);
    let is_new = |r: usize| until.is_none_or(|t| data.interactions.ts[r] > t);
    // Users with new events train; items the model knows by id and saw in training keep
    // their embeddings, every other item starts from its predecessors (see
    // `SeqNet::with_catalogue`).
    let mut users: Vec<u32> = rows
        .iter()
        .filter(|&&r| is_new(r))
        .map(|&r| data.interactions.user[r])
        .collect();
    users.sort_unstable();
    users.dedup();
    let new_events = rows.iter().filter(|&&r| is_new(r)).count();
    let active = users.len();
    if !(a.replay >= 0.0 && a.replay.is_finite()) {
        bail!("--replay {}: must be a number ≥ 0", a.replay);
    }
    let mut others: Vec<u32> = (0..data.n_users() as u32)
        .filter(|u| users.binary_search(u).is_err())
        .collect();
    {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        others.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(42));
    }
    others.truncate((a.replay * active as f64).round() as usize);
    users.extend(others);
    if users.is_empty() {
        bail!(
            "no events in {} after the model's latest training event ({}): nothing to \
             update it with",
            a.data.display(),
            until.map_or_else(|| "unknown".into(), |t| t.to_string())
        );
    }
    let (mut learned, mut arrived) = (vec![false; data.n_items()], vec![false; data.n_items()]);
    for &r in &rows {
        let i = data.interactions.item[r] as usize;
        if is_new(r) {
            arrived[i] = true;
        } else {
            learned[i] = true;
        }
    }
    let map: Vec<Option<u32>> = (0..data.n_items() as u32)
        .map(|j| {
            let id = data.items.id(j)?;
            learned[j as usize].then(|| old_items.get(id)).flatten()
        })
        .collect();
    // Items in the new events that the model never learned.
    let new_items = (0..map.len())
        .filter(|&j| map[j].is_none() && arrived[j])
        .count();
    let train = seer_models::TrainData::new(data, &rows);
    let opts = seer_models::FitOptions {
        users: Some(&users),
        ..seer_models::FitOptions::default()
    };
    let model = seer_models::update(
        from,
        &map,
        a.epochs,
        &train,
        &opts,
        &progress.spinner("update"),
    )
    .with_context(|| format!("updating {}", from.display()))?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let meta = save_trained(
        model.as_ref(),
        &a.out,
        old_meta.spec.clone(),
        data,
        split,
        &parts,
        fit_seconds,
    )?;
    println!(
        "updated {} from {} with {new_events} new events of {active} users ({new_items} items \
         new to the model, {} epochs, {} users replayed) in {fit_seconds:.2} s → {}",
        meta.spec,
        from.display(),
        a.epochs,
        users.len() - active,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
