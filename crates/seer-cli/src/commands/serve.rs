//! `seer serve`: the HTTP server over a dataset, a model and the event store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::import::load_dataset;
use crate::args::*;
use crate::artifacts;

/// `seer serve`.
pub(crate) fn serve_cmd(a: &ServeArgs) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let meta = artifacts::load_model_meta(&a.model, &data)?;
    let model = seer_models::load(&a.model)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    if model.n_items() != data.n_items() {
        bail!(
            "model {} scores {} items but dataset {} has {}: serve a model trained on this \
             dataset",
            a.model.display(),
            model.n_items(),
            a.data.display(),
            data.n_items()
        );
    }
    let trained_until = meta.trained_until;
    let mut live = seer_serve::live::Live::new(data, model, meta.spec);
    if let Some(spec) = &a.text_encoder {
        let enc = seer_models::text_encoder::TextEncoder::resolve(spec)
            .with_context(|| format!("--text-encoder {spec}"))?;
        let mut cache = a.store.clone().into_os_string();
        cache.push(".embeddings");
        live = live.with_encoder(enc, Some(PathBuf::from(cache)))?;
    }
    let live = std::sync::Arc::new(live);
    let config = seer_serve::ServeConfig {
        addr: a.addr,
        store: a.store.clone(),
        limits: seer_serve::api::Limits {
            max_body: a.max_body,
            max_batch: a.max_batch,
            ..Default::default()
        },
        model_dir: a.model.clone(),
        model_trained_until: trained_until,
        retrain: seer_serve::retrain::RetrainConfig {
            dir: a.versions.clone().unwrap_or_else(|| {
                let mut p = a.store.clone().into_os_string();
                p.push(".versions");
                PathBuf::from(p)
            }),
            every: a.retrain_every,
            interval_secs: a.retrain_interval,
            update_epochs: a.update_epochs,
            holdout: a.holdout,
            margin: a.margin,
            threads: a.retrain_threads,
        },
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if a.threads > 0 {
        rt.worker_threads(a.threads);
    }
    let rt = rt.build().context("starting the async runtime")?;
    rt.block_on(seer_serve::serve(config, live))?;
    Ok(ExitCode::SUCCESS)
}
