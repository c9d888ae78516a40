//! `seer export`: a dataset and its split as RecBole atomic files.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::import::load_dataset;
use crate::args::*;
use crate::artifacts;

/// `seer export`.
pub(crate) fn export_cmd(a: &ExportArgs) -> Result<ExitCode> {
    let data = load_dataset(&a.data)?;
    let split = if a.split {
        Some(artifacts::load_split(&a.data, &data)?)
    } else {
        None
    };
    let ExportFormat::Recbole = a.format;
    let dir = seer_data::export::write_recbole(&data, split.as_ref(), &a.out)
        .with_context(|| format!("exporting to {}", a.out.display()))?;
    println!(
        "exported {} as RecBole atomic files → {}",
        data.name,
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
