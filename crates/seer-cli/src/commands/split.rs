//! `seer split`: assign every event of a dataset directory to train, validation or test.

use std::process::ExitCode;

use anyhow::Result;
use seer_data::Part;

use super::import::load_dataset;
use crate::args::*;
use crate::artifacts;
use crate::config::SeerConfig;

/// `seer split`.
pub(crate) fn split_cmd(a: &SplitArgs, cfg: &SeerConfig) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let split_cfg = a.params.config(&cfg.split);
    let split = split_cfg.split(&data)?;
    artifacts::save_split(&a.data, &split)?;
    println!(
        "split {}: train {}, validation {}, test {} events",
        data.name,
        split.count(Part::Train),
        split.count(Part::Valid),
        split.count(Part::Test)
    );
    Ok(ExitCode::SUCCESS)
}
