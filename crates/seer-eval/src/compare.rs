//! Another tool's numbers on the same data and split, beside seer's own (`seer bench --compare
//! FILE`).
//!
//! The reference file is the JSON that `benches/recbole/run_recbole.py` writes after running
//! RecBole on a `seer export --format recbole --split` folder: per model its RecBole class, test
//! metrics under seer's lower-case names (`ndcg@10`, `hr@10`, …), fit and evaluation seconds,
//! plus the protocol it ran under and the events per part of the split it read. A
//! [`Reference`] keeps what the report needs and the differences found between that run and
//! the bench it is put beside ([`Reference::check`]): another dataset, another protocol or
//! other split sizes make the comparison meaningless, so they are printed as warnings in every
//! output rather than silently ignored.
//!
//! seer models are matched to reference models by model kind (`config.model` of the bench
//! entry: `itemknn:k=100,neighbours=target` is an `itemknn`); reference models without a seer
//! counterpart (RecBole's BPR) still get their row.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::result::ModelResult;

/// Another tool's results on the same dataset and split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Tool and version, e.g. `"RecBole 1.2.1"`.
    pub tool: String,
    /// The file the results were read from.
    pub source: String,
    /// Dataset name in the file (the exported folder's name).
    pub dataset: String,
    /// The protocol the reference ran under (`"recbole"` or `"seer"`).
    pub protocol: String,
    /// Events per part of the split the reference read (`train`, `valid`, `test`).
    pub n_interactions: BTreeMap<String, usize>,
    /// One entry per reference model, in file order.
    pub models: Vec<ReferenceModel>,
    /// Differences between the reference run and the bench it sits beside; empty when the
    /// dataset, protocol and split sizes agree.
    pub warnings: Vec<String>,
}

/// One model of a [`Reference`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceModel {
    /// Lower-case model kind, matched against seer's (`pop`, `itemknn`, `ease`, `bpr`, …).
    pub name: String,
    /// The model as the tool names it, with any patch applied (`"Pop (patched: pop-count-fix)"`).
    pub label: String,
    /// The model's hyper-parameters as the tool reported them (`null` when none).
    pub config: serde_json::Value,
    /// Test metrics, seer's key names.
    pub metrics: BTreeMap<String, f64>,
    /// Seconds spent fitting (building the model and its training loop).
    pub fit_seconds: f64,
    /// Seconds spent evaluating the test part.
    pub eval_seconds: f64,
}

/// The runner's JSON, as far as the report needs it.
#[derive(Deserialize)]
struct RecboleFile {
    dataset: String,
    protocol: String,
    recbole_version: String,
    #[serde(default)]
    n_interactions: BTreeMap<String, usize>,
    models: Vec<RecboleModel>,
}

#[derive(Deserialize)]
struct RecboleModel {
    name: String,
    recbole_model: String,
    #[serde(default)]
    patched: Option<String>,
    #[serde(default)]
    config: serde_json::Value,
    metrics: BTreeMap<String, f64>,
    fit_seconds: f64,
    eval_seconds: f64,
}

impl Reference {
    /// Reads a results file written by `benches/recbole/run_recbole.py`.
    pub fn read_recbole(path: &Path) -> Result<Reference> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        let file: RecboleFile = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_owned(),
            source,
        })?;
        if file.models.is_empty() {
            return Err(Error::Config {
                key: "--compare".into(),
                message: format!("{}: the file lists no model", path.display()),
            });
        }
        let models = file
            .models
            .into_iter()
            .map(|m| ReferenceModel {
                name: m.name.to_lowercase(),
                label: match m.patched {
                    Some(p) => format!("{} (patched: {p})", m.recbole_model),
                    None => m.recbole_model,
                },
                config: m.config,
                metrics: m.metrics,
                fit_seconds: m.fit_seconds,
                eval_seconds: m.eval_seconds,
            })
            .collect();
        Ok(Reference {
            tool: format!("RecBole {}", file.recbole_version),
            source: path.display().to_string(),
            dataset: file.dataset,
            protocol: file.protocol,
            n_interactions: file.n_interactions,
            models,
            warnings: Vec::new(),
        })
    }

    /// Records every way the reference run differs from the bench it is compared with:
    /// `dataset` name, `protocol` (`"seer"` or `"recbole"`) and the events per part of the
    /// split (`(part name, count)` with part names `train`, `valid`, `test`).
    pub fn check(&mut self, dataset: &str, protocol: &str, parts: &[(&str, usize)]) {
        if self.dataset != dataset {
            self.warnings.push(format!(
                "the reference ran on dataset `{}`, this bench on `{dataset}`",
                self.dataset
            ));
        }
        if self.protocol != protocol {
            self.warnings.push(format!(
                "the reference ran under the `{}` protocol, this bench under `{protocol}` \
                 (`seer bench --protocol {}` for a like-for-like run)",
                self.protocol, self.protocol
            ));
        }
        if self.n_interactions.is_empty() {
            self.warnings
                .push("the reference does not say how many events each part held".into());
        }
        for &(part, n) in parts {
            match self.n_interactions.get(part) {
                Some(&r) if r != n => self.warnings.push(format!(
                    "{part}: the reference read {r} events, this split has {n} \
                     (export this split with `seer export --split` and rerun the reference)"
                )),
                _ => {}
            }
        }
    }

    /// The reference model for a seer model: same kind (`config.model`, or the spec before
    /// `:`).
    pub fn model_for(&self, m: &ModelResult) -> Option<&ReferenceModel> {
        let kind = model_kind(m);
        self.models.iter().find(|r| r.name == kind)
    }

    /// The table beside seer's: one row per seer model that has a reference counterpart, then
    /// one per reference model no seer model matched. Cells: model, reference model, metric
    /// at `k` for both with the relative difference, for NDCG and HR, fit + evaluation
    /// seconds for both and seer's speed-up.
    pub fn table(&self, seer: &[ModelResult], k: usize) -> (Vec<String>, Vec<Vec<String>>) {
        let tool = self
            .tool
            .split(' ')
            .next()
            .unwrap_or("reference")
            .to_string();
        let headers = vec![
            "model".to_string(),
            format!("{tool} model"),
            format!("NDCG@{k} seer"),
            format!("NDCG@{k} {tool}"),
            "Δ".into(),
            format!("HR@{k} seer"),
            format!("HR@{k} {tool}"),
            "Δ".into(),
            "fit + eval s seer".into(),
            format!("fit + eval s {tool}"),
            "seer speed-up".into(),
        ];
        let (nk, hk) = (format!("ndcg@{k}"), format!("hr@{k}"));
        let num = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.4}"));
        let mut rows = Vec::new();
        let mut used = vec![false; self.models.len()];
        for m in seer {
            let Some(idx) = self.models.iter().position(|r| r.name == model_kind(m)) else {
                continue;
            };
            used[idx] = true;
            let r = &self.models[idx];
            let (sn, rn) = (m.metrics.get(&nk).copied(), r.metrics.get(&nk).copied());
            let (sh, rh) = (m.metrics.get(&hk).copied(), r.metrics.get(&hk).copied());
            let (st, rt) = (
                m.fit_seconds + m.eval_seconds,
                r.fit_seconds + r.eval_seconds,
            );
            rows.push(vec![
                m.name.clone(),
                r.label.clone(),
                num(sn),
                num(rn),
                relative(sn, rn),
                num(sh),
                num(rh),
                relative(sh, rh),
                format!("{st:.2}"),
                format!("{rt:.2}"),
                if st > 0.0 {
                    format!("{:.1}x", rt / st)
                } else {
                    "—".into()
                },
            ]);
        }
        for (r, _) in self.models.iter().zip(&used).filter(|(_, u)| !**u) {
            rows.push(vec![
                "—".into(),
                r.label.clone(),
                "—".into(),
                num(r.metrics.get(&nk).copied()),
                "—".into(),
                "—".into(),
                num(r.metrics.get(&hk).copied()),
                "—".into(),
                "—".into(),
                format!("{:.2}", r.fit_seconds + r.eval_seconds),
                "—".into(),
            ]);
        }
        (headers, rows)
    }

    /// One line naming the reference.
    pub fn title(&self) -> String {
        format!(
            "Side by side: {} on the same split ({}; its protocol: {})",
            self.tool, self.source, self.protocol
        )
    }
}

/// A bench entry's model kind: `config.model` when present, else the spec before `:`.
pub fn model_kind(m: &ModelResult) -> String {
    m.config
        .get("model")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| m.name.split(':').next().unwrap_or("").to_string())
}

/// `(seer − reference) / reference` as a signed percentage.
fn relative(seer: Option<f64>, reference: Option<f64>) -> String {
    match (seer, reference) {
        (Some(s), Some(r)) if r != 0.0 => format!("{:+.1}%", (s - r) / r * 100.0),
        (Some(0.0), Some(_)) => "0%".into(),
        _ => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
      "dataset": "ml-100k", "protocol": "recbole", "recbole_version": "1.2.1",
      "torch_version": "2.12.1", "n_users": 943, "n_items": 1682,
      "n_interactions": {"train": 98114, "valid": 943, "test": 943},
      "fit_on": ["train"], "masked_at_test": ["train", "valid"],
      "models": [
        {"name": "pop", "recbole_model": "Pop", "patched": "pop-count-fix", "config": null,
         "metrics": {"hr@10": 0.0859, "ndcg@10": 0.0448}, "valid_metrics": null,
         "users_evaluated": 943, "load_seconds": 1.0, "fit_seconds": 0.5, "eval_seconds": 0.5},
        {"name": "ease", "recbole_model": "EASE", "patched": null,
         "config": {"reg_weight": 250.0},
         "metrics": {"hr@10": 0.1347, "ndcg@10": 0.0698}, "valid_metrics": {},
         "users_evaluated": 943, "load_seconds": 1.0, "fit_seconds": 3.0, "eval_seconds": 1.0},
        {"name": "bpr", "recbole_model": "BPR", "patched": null, "config": null,
         "metrics": {"hr@10": 0.1, "ndcg@10": 0.05}, "valid_metrics": {},
         "users_evaluated": 943, "load_seconds": 1.0, "fit_seconds": 30.0, "eval_seconds": 1.0}
      ]
    }"#;

    fn seer_model(name: &str, kind: &str, ndcg: f64, hr: f64) -> ModelResult {
        ModelResult {
            name: name.into(),
            config: serde_json::json!({ "model": kind }),
            metrics: [("ndcg@10".to_string(), ndcg), ("hr@10".to_string(), hr)].into(),
            valid_metrics: BTreeMap::new(),
            fit_seconds: 0.3,
            eval_seconds: 0.1,
            peak_rss_mb: 10.0,
            epochs_run: None,
            best_epoch: None,
            paired: None,
        }
    }

    fn read() -> Reference {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, FILE).unwrap();
        Reference::read_recbole(&path).unwrap()
    }

    #[test]
    fn reads_the_runner_json() {
        let r = read();
        assert_eq!(r.tool, "RecBole 1.2.1");
        assert_eq!(r.models.len(), 3);
        assert_eq!(r.models[0].label, "Pop (patched: pop-count-fix)");
        assert_eq!(r.models[1].metrics["ndcg@10"], 0.0698);
        assert_eq!(r.n_interactions["valid"], 943);
    }

    #[test]
    fn matches_by_kind_and_reports_differences_and_speed_up() {
        let r = read();
        let seer = vec![
            seer_model("ease:lambda=250", "ease", 0.0698, 0.1400),
            seer_model("itemknn", "itemknn", 0.05, 0.09),
        ];
        assert_eq!(r.model_for(&seer[0]).unwrap().label, "EASE");
        assert!(r.model_for(&seer[1]).is_none());
        let (headers, rows) = r.table(&seer, 10);
        assert_eq!(headers.len(), 11);
        assert_eq!(headers[3], "NDCG@10 RecBole");
        // ease matched; pop and bpr are reference-only rows; itemknn has no counterpart.
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][0], "ease:lambda=250");
        assert_eq!(rows[0][4], "+0.0%");
        // HR 0.1400 vs 0.1347: +3.9%.
        assert_eq!(rows[0][7], "+3.9%");
        // 4.0 s against 0.4 s.
        assert_eq!(rows[0][10], "10.0x");
        assert_eq!(rows[1][1], "Pop (patched: pop-count-fix)");
        assert_eq!(rows[1][0], "—");
        assert_eq!(rows[2][1], "BPR");
        assert_eq!(rows[2][9], "31.00");
    }

    #[test]
    fn check_names_every_mismatch() {
        let mut r = read();
        r.check(
            "ml-100k",
            "recbole",
            &[("train", 98114), ("valid", 943), ("test", 943)],
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        r.check("amazon-beauty", "seer", &[("train", 98000), ("valid", 943)]);
        assert_eq!(r.warnings.len(), 3, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("amazon-beauty"));
        assert!(r.warnings[1].contains("--protocol recbole"));
        assert!(r.warnings[2].starts_with("train: the reference read 98114"));
    }

    #[test]
    fn bad_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, r#"{"dataset": "x", "protocol": "recbole"}"#).unwrap();
        let e = Reference::read_recbole(&path).unwrap_err().to_string();
        assert!(
            e.contains("bad.json") && e.contains("recbole_version"),
            "{e}"
        );
        let e = Reference::read_recbole(&dir.path().join("none.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.json"), "{e}");
    }
}
