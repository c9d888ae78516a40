//! `seer import`: read a dataset in any supported format, clean it, save it as a dataset directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use seer_data::Dataset;

use crate::args::*;
use crate::config::SeerConfig;
use crate::progress::Progress;

/// `seer import`.
pub(crate) fn import_cmd(a: ImportArgs, cfg: SeerConfig, progress: Progress) -> Result<ExitCode> {
    let mut cfg = cfg;
    if a.strict {
        cfg.import.cleaning.strict = true;
    }
    if let Some(k) = a.k_core {
        cfg.import.cleaning.k_core_users = k;
        cfg.import.cleaning.k_core_items = k;
    }
    if let Some(f) = a.format {
        cfg.import.format = f;
    }
    let mut path = a.path.clone();
    if a.columns.apply(&mut cfg.import)? && cfg.import.interactions.is_none() {
        // Column flags with a file PATH: import that file with the generic importer.
        if path.is_file() {
            let file = path
                .file_name()
                .map(PathBuf::from)
                .context("PATH has no file name")?;
            path = path.parent().map(Path::to_path_buf).unwrap_or_default();
            if path.as_os_str().is_empty() {
                path = PathBuf::from(".");
            }
            cfg.import.interactions = Some(file);
        } else {
            bail!("column flags need a file PATH, or --interactions FILE inside the folder PATH");
        }
    }
    let data = import(&path, &a.out, &cfg, progress)?;
    println!(
        "imported {}: {} users, {} items, {} interactions → {}",
        data.name,
        data.n_users(),
        data.n_items(),
        data.interactions.len(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Imports and cleans `path`, writes the dataset directory `out` and the cleaning report.
pub(crate) fn import(
    path: &Path,
    out: &Path,
    cfg: &SeerConfig,
    progress: Progress,
) -> Result<Dataset> {
    let pb = progress.spinner(&format!("importing {}", path.display()));
    let (data, report) = crate::config::import_with(path, cfg, &pb)
        .with_context(|| format!("importing {}", path.display()))?;
    pb.finish_and_clear();
    eprintln!("{report}");
    data.save(out, Some(&report))
        .with_context(|| format!("writing dataset directory {}", out.display()))?;
    // Also on its own (the manifest holds a copy), for people and tools reading it.
    report.save(&out.join("cleaning-report.json"))?;
    Ok(data)
}

pub(crate) fn load_dataset(dir: &Path) -> Result<Dataset> {
    Dataset::load(dir).with_context(|| {
        format!(
            "loading dataset directory {} (write one with `seer import`)",
            dir.display()
        )
    })
}
