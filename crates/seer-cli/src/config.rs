//! `seer.toml`: one typed configuration assembled from each crate's own config structs.
//!
//! Precedence, lowest to highest: built-in defaults < `seer.toml` (or `--config FILE`) <
//! environment variables `SEER_SECTION__KEY` (e.g. `SEER_EVAL__KS="[5, 10]"`,
//! `SEER_IMPORT__CLEANING__STRICT=true`; values are read as TOML, else as a string) < flags.
//! `seer config --default` prints [`DEFAULT_TOML`], every key documented.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use seer_data::import::{import_generic, ColumnMapping, SideFile};
use seer_data::{CleaningConfig, CleaningReport, Dataset, SplitConfig};
use seer_eval::EvalConfig;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeerConfig {
    /// How to read and clean input data.
    pub import: ImportSection,
    /// How to split into train / validation / test.
    pub split: SplitConfig,
    /// How to evaluate.
    pub eval: EvalConfig,
}

/// `[import]`: generic-format mapping and cleaning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportSection {
    /// Input format: `auto` (detected from the folder's or file's contents) or `recbole`
    /// (RecBole atomic files `NAME.inter` + optional `.item` / `.user`; anything else is an
    /// error). `seer import --format` sets it.
    pub format: ImportFormat,
    /// Interactions file for the generic CSV/TSV/JSONL importer, relative to the folder being
    /// imported. When unset, the format is detected from the folder's contents.
    pub interactions: Option<PathBuf>,
    /// Which columns of `interactions` hold what.
    pub columns: ColumnMapping,
    /// Optional items file (id column + text columns), relative to the imported folder.
    pub items: Option<SideFile>,
    /// Optional users file (id column + attribute columns), relative to the imported folder.
    pub users: Option<SideFile>,
    /// Cleaning rules.
    pub cleaning: CleaningConfig,
}

/// `[import] format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    /// Detect the format from the folder's or file's contents.
    #[default]
    Auto,
    /// RecBole atomic files: `NAME.inter` (+ `NAME.item`, `NAME.user`).
    Recbole,
}

/// The documented default configuration; a test checks it equals `SeerConfig::default()`.
pub const DEFAULT_TOML: &str = r#"# seer.toml — every key is optional; shown here with its default.
# Precedence: built-in defaults < this file < SEER_SECTION__KEY env vars < command-line flags.

[import]
format = "auto"             # auto = detect (MovieLens, RecBole, sequences, Beauty, seer.toml mapping);
                            # recbole = RecBole atomic files only (NAME.inter + .item/.user)
# interactions = "interactions.csv"   # generic CSV/TSV/JSONL file, relative to the imported folder;
#                                      # unset = detect the format (MovieLens, RecBole, sequences, Beauty)

[import.columns]            # column mapping of the generic importer
user = "user_id"            # user id column (string)
item = "item_id"            # item id column (string)
# timestamp = "timestamp"   # timestamp column; unset = file order is time order
# rating = "rating"         # rating/weight column; unset = 1.0 for every event
context = []                # categorical context columns kept per event, e.g. ["device"]
# delimiter = ","           # one ASCII character; default tab for .tsv, comma otherwise
timestamp_format = "unix_seconds"   # unix_seconds | unix_millis | rfc3339

# [import.items]            # optional items file: id column + text columns
# path = "items.csv"
# id = "id"
# columns = ["title", "description"]

[import.cleaning]
strict = false              # true: the first malformed row is a fatal error (file:line:field)
drop_duplicates = true      # drop rows identical to an earlier row in every column
repeats = "keep_first"      # repeated user-item events: keep_first | keep_last | keep_all
# rating_range = [1.0, 5.0] # inclusive; rows outside are dropped (default: no check)
min_timestamp = 631152000   # unix seconds (1990-01-01); earlier or >1 day in the future is dropped
k_core_users = 0            # drop users with fewer events, iterated with k_core_items (0 = off)
k_core_items = 0            # drop items with fewer events (0 = off)
max_examples = 5            # examples kept per reason in the cleaning report

[split]
method = "leave_one_out"    # leave_one_out | temporal | random_holdout
min_events = 3              # leave_one_out: users with fewer events are training-only
# method = "temporal"
# valid_from = { quantile = 0.8 }   # or { unix = 1500000000 }
# test_from = { quantile = 0.9 }
# method = "random_holdout"
# valid_ratio = 0.1
# test_ratio = 0.1
# seed = 42

[eval]
ks = [5, 10, 20]            # cut-offs K
# sampled_negatives = 100   # also report sampled metrics (keys prefixed sampled100_); off by default
seed = 42                   # seed of the negative sampler
batch_users = 256           # users scored per batch and parallel task
protocol = "seer"           # seer: at test time models see the validation event (input history
                            # train + valid; non-sequential models refit on train + valid);
                            # recbole: fit on train only, score from train, mask train + valid
"#;

impl SeerConfig {
    /// Defaults, overlaid with `path` when it exists, then with `SEER_*` environment variables.
    pub fn load(path: &Path) -> Result<SeerConfig> {
        let mut table = toml::Table::new();
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            table = text
                .parse::<toml::Table>()
                .with_context(|| format!("parsing config {}", path.display()))?;
        }
        apply_env(&mut table, std::env::vars())?;
        let cfg: SeerConfig = toml::Value::Table(table)
            .try_into()
            .with_context(|| format!("config {} (and SEER_* variables)", path.display()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Validates every section; errors name the key path.
    pub fn validate(&self) -> Result<()> {
        self.import.cleaning.validate()?;
        self.split.validate()?;
        self.eval.validate()?;
        Ok(())
    }
}

/// Applies `SEER_SECTION__KEY=value` overrides to a TOML table.
fn apply_env(table: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) -> Result<()> {
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("SEER_") else {
            continue;
        };
        if !rest.contains("__") {
            continue; // e.g. SEER_LOG: not a config key
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value.clone()));
        let mut node = &mut *table;
        for key in &path[..path.len() - 1] {
            node = node
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .with_context(|| format!("{name}: {key} is not a section"))?;
        }
        node.insert(path[path.len() - 1].clone(), parsed);
    }
    Ok(())
}

/// Imports `path` with the configured importer: the generic one when
/// `import.interactions` is set (in `cfg` or in a `seer.toml` inside the folder), else the
/// detected format. The dataset is named after the folder.
pub fn import_with(
    path: &Path,
    cfg: &SeerConfig,
    pb: &ProgressBar,
) -> Result<(Dataset, CleaningReport)> {
    let local = path.join("seer.toml");
    let mut section = cfg.import.clone();
    if section.interactions.is_none() && path.is_dir() && local.exists() {
        section = SeerConfig::load(&local)?.import;
        // Cleaning flags given for this run (e.g. --strict) still apply.
        section.cleaning.strict |= cfg.import.cleaning.strict;
    }
    // A format given for this run wins over the folder's own seer.toml.
    let format = match cfg.import.format {
        ImportFormat::Auto => section.format,
        f => f,
    };
    if format == ImportFormat::Recbole {
        // Atomic files only: no generic mapping, no detection.
        section.interactions = None;
    }
    let (mut data, report) = match (&section.interactions, format) {
        (_, ImportFormat::Recbole) => seer_data::import_atomic(path, &section.cleaning, pb)?,
        (Some(file), ImportFormat::Auto) => {
            let resolve = |s: &Option<SideFile>| {
                s.clone().map(|mut s| {
                    s.path = path.join(&s.path);
                    s
                })
            };
            let (items, users) = (resolve(&section.items), resolve(&section.users));
            import_generic(
                &path.join(file),
                &section.columns,
                items.as_ref(),
                users.as_ref(),
                &section.cleaning,
                pb,
            )?
        }
        (None, ImportFormat::Auto) => seer_data::import_path(path, &section.cleaning, pb)?,
    };
    if section.interactions.is_some() {
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            data.name = name.to_owned();
        }
    }
    Ok((data, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_is_the_default_config() {
        let parsed: SeerConfig = toml::from_str(DEFAULT_TOML).unwrap();
        assert_eq!(parsed, SeerConfig::default());
    }

    #[test]
    fn env_overrides_file_and_unknown_keys_fail() {
        let mut t: toml::Table = "[eval]\nks = [1, 2]\n".parse().unwrap();
        let vars = vec![
            ("SEER_EVAL__KS".to_string(), "[3]".to_string()),
            ("SEER_IMPORT__COLUMNS__USER".to_string(), "uid".to_string()),
            ("SEER_LOG".to_string(), "x".to_string()),
        ];
        apply_env(&mut t, vars.into_iter()).unwrap();
        let cfg: SeerConfig = toml::Value::Table(t).try_into().unwrap();
        assert_eq!(cfg.eval.ks, vec![3]);
        assert_eq!(cfg.import.columns.user, "uid");
        let bad: Result<SeerConfig, _> = toml::from_str("[eval]\nkz = [1]\n");
        assert!(bad.unwrap_err().to_string().contains("kz"));
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cfg: SeerConfig = toml::from_str("[eval]\nks = [0]\n").unwrap();
        let err = format!("{:#}", cfg.validate().unwrap_err());
        assert!(err.contains("eval.ks"), "{err}");
    }
}
