//! Files the CLI keeps next to datasets and models: the split of a dataset directory, and the
//! metadata that ties a saved model to the data and parts it was fit on.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use seer_core::IdMap;
use seer_data::{Dataset, Part, Split, SplitConfig};
use serde::{Deserialize, Serialize};

const SPLIT_JSON: &str = "split.json";
const SPLIT_PARTS: &str = "split.parts";
const MODEL_META: &str = "seer-model.json";
const MODEL_IDS: &str = "ids.json";

/// Writes `split` into the dataset directory `dir` (`split.json` + one byte per row).
pub fn save_split(dir: &Path, split: &Split) -> Result<()> {
    let json = serde_json::to_string_pretty(&split.config)?;
    let bytes: Vec<u8> = split.part.iter().map(|&p| p as u8).collect();
    write_atomic(&dir.join(SPLIT_PARTS), &bytes)?;
    write_atomic(&dir.join(SPLIT_JSON), json.as_bytes())?;
    Ok(())
}

/// Reads the split of dataset directory `dir`, checking it matches `data`.
pub fn load_split(dir: &Path, data: &Dataset) -> Result<Split> {
    let cfg_path = dir.join(SPLIT_JSON);
    if !cfg_path.exists() {
        bail!(
            "{} has no split yet: run `seer split --data {}` first",
            dir.display(),
            dir.display()
        );
    }
    let config: SplitConfig = serde_json::from_slice(
        &fs::read(&cfg_path).with_context(|| format!("reading {}", cfg_path.display()))?,
    )
    .with_context(|| format!("parsing {}", cfg_path.display()))?;
    let parts_path = dir.join(SPLIT_PARTS);
    let bytes =
        fs::read(&parts_path).with_context(|| format!("reading {}", parts_path.display()))?;
    if bytes.len() != data.interactions.len() {
        bail!(
            "{} has {} rows but the dataset has {} interactions: re-run `seer split`",
            parts_path.display(),
            bytes.len(),
            data.interactions.len()
        );
    }
    let part = bytes
        .iter()
        .enumerate()
        .map(|(r, &b)| match b {
            0 => Ok(Part::Train),
            1 => Ok(Part::Valid),
            2 => Ok(Part::Test),
            _ => bail!(
                "{}: byte {r} is {b}, expected 0, 1 or 2",
                parts_path.display()
            ),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Split {
        config,
        part,
        learners: None,
    })
}

/// What a model directory says about how the model was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Model spec as resolved (`ease:lambda=500`).
    pub spec: String,
    /// Dataset name it was fit on.
    pub dataset: String,
    /// Split parts it was fit on.
    pub fit_on: Vec<Part>,
    /// Seconds the fit took.
    pub fit_seconds: f64,
    /// [`split_fingerprint`] of the split it was fit on: evaluating on any other split could
    /// score events the model was trained on.
    pub split: String,
    /// Unix seconds of the latest event it was fit on (datasets with timestamps): a
    /// continual update (`seer train --from`) trains on the events after it.
    #[serde(default)]
    pub trained_until: Option<i64>,
}

/// A stable fingerprint (FNV-1a 64 over the config JSON and the part of every row) of a split.
pub fn split_fingerprint(split: &Split) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for b in serde_json::to_vec(&split.config).unwrap_or_default() {
        eat(b);
    }
    for &p in &split.part {
        eat(p as u8);
    }
    format!("{h:016x}")
}

/// Writes the model metadata and the item vocabulary next to the model's own files.
pub fn save_model_meta(dir: &Path, meta: &ModelMeta, items: &IdMap) -> Result<()> {
    write_atomic(
        &dir.join(MODEL_META),
        serde_json::to_string_pretty(meta)?.as_bytes(),
    )?;
    write_atomic(
        &dir.join(MODEL_IDS),
        serde_json::to_string(items)?.as_bytes(),
    )?;
    Ok(())
}

/// Reads the metadata and the item vocabulary of a model directory.
pub fn load_model_vocab(dir: &Path) -> Result<(ModelMeta, IdMap)> {
    let p = dir.join(MODEL_META);
    let meta: ModelMeta =
        serde_json::from_slice(&fs::read(&p).with_context(|| {
            format!("reading {} (is this a seer model directory?)", p.display())
        })?)
        .with_context(|| format!("parsing {}", p.display()))?;
    let ids_path = dir.join(MODEL_IDS);
    let items: IdMap = serde_json::from_slice(
        &fs::read(&ids_path).with_context(|| format!("reading {}", ids_path.display()))?,
    )
    .with_context(|| format!("parsing {}", ids_path.display()))?;
    Ok((meta, items))
}

/// Reads the metadata of a model directory and checks its vocabulary matches `data`.
pub fn load_model_meta(dir: &Path, data: &Dataset) -> Result<ModelMeta> {
    let (meta, items) = load_model_vocab(dir)?;
    if items.ids() != data.items.ids() {
        bail!(
            "model {} was trained on a different item vocabulary ({} items) than dataset {:?} \
             ({} items)",
            dir.display(),
            items.len(),
            data.name,
            data.n_items()
        );
    }
    Ok(meta)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers never see a
/// half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-write");
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}
