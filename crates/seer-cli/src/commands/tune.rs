//! `seer tune`: the validation grid of each model, every configuration with its score.

use std::fs;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::import::load_dataset;
use crate::args::*;
use crate::config::SeerConfig;
use crate::progress::Progress;
use crate::{artifacts, pipeline};

/// `seer tune`.
pub(crate) fn tune_cmd(a: &TuneArgs, cfg: &SeerConfig, progress: &Progress) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let split = artifacts::load_split(&a.data, &data)?;
    let mut chosen = serde_json::Map::new();
    for spec in &a.models.0 {
        let tuned = pipeline::tune(spec, &data, &split, &cfg.eval, progress)?;
        let key = pipeline::selection_key(&cfg.eval);
        println!("{spec}: validation {key} per configuration");
        for (c, s) in &tuned.trials {
            println!("  {:<50} {s:.5}", pipeline::spec_of(c));
        }
        println!("  best: {}", pipeline::spec_of(&tuned.best));
        chosen.insert(spec.clone(), serde_json::to_value(&tuned.best)?);
    }
    if let Some(out) = &a.out {
        fs::write(out, serde_json::to_string_pretty(&chosen)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
