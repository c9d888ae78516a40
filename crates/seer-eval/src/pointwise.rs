//! Reports of pointwise prediction (`seer bench --task rating|like|click`): predicted ratings
//! or probabilities of held-out events against their targets, per model, per scenario mode
//! and per scenario.
//!
//! Metrics: ratings — `rmse`, `mae`; probabilities — `auc`, `logloss`, `accuracy`,
//! `precision`, `recall`, `f1` (decisions at 0.5) and `calibration_error` (10 bins). Every
//! row also gives the number of evaluated examples `n` and the share of positives `pos_rate`
//! (probabilities) or the mean target (ratings).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use seer_core::prob;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Metrics of predictions `p` against targets `y`: rating metrics when `ratings`, else
/// probability metrics.
pub fn pointwise_metrics(p: &[f32], y: &[f32], ratings: bool) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    m.insert("n".into(), p.len() as f64);
    let mean_y = y.iter().map(|&v| v as f64).sum::<f64>() / y.len().max(1) as f64;
    if ratings {
        m.insert("rmse".into(), prob::rmse(p, y));
        m.insert("mae".into(), prob::mae(p, y));
        m.insert("mean_target".into(), mean_y);
    } else {
        if let Some(a) = prob::auc(p, y) {
            m.insert("auc".into(), a);
        }
        m.insert("logloss".into(), prob::log_loss(p, y));
        let d = prob::decisions(p, y, 0.5);
        m.insert("accuracy".into(), d.accuracy);
        m.insert("precision".into(), d.precision);
        m.insert("recall".into(), d.recall);
        m.insert("f1".into(), d.f1);
        m.insert(
            "calibration_error".into(),
            prob::calibration_error(p, y, 10),
        );
        m.insert("pos_rate".into(), mean_y);
    }
    m
}

/// One model (in one scenario mode) on one slice of the evaluation events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointwiseRow {
    /// Model spec (`"fm:factors=16"`), or `mean` for the baseline.
    pub model: String,
    /// Scenario mode (`global`, `separate`, `shared`); `global` without scenarios.
    pub mode: String,
    /// `all`, or the scenario's name.
    pub slice: String,
    /// Test metrics (model fitted on train + validation).
    pub metrics: BTreeMap<String, f64>,
    /// Validation metrics (model fitted on train only).
    pub valid_metrics: BTreeMap<String, f64>,
    /// Seconds fitting the test-stage model (features + training).
    pub fit_seconds: f64,
    /// Training examples of the test-stage model.
    pub train_examples: usize,
    /// Share of distinct static feature keys sharing a hashed slot (0 for baselines).
    pub collision_rate: f64,
    /// The setting chosen on validation (`--tune`), when tuned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<String>,
}

/// A pointwise benchmark on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointwiseReport {
    /// Dataset name.
    pub dataset: String,
    /// The split, in words.
    pub split: String,
    /// `rating`, `like` or `click`, with its settings.
    pub task: String,
    /// The scenario definition, when one is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Training events per scenario at the test stage (after any `--scenario-keep`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scenario_train_events: BTreeMap<String, usize>,
    /// Rows: per model and mode, `all` first and then each scenario.
    pub rows: Vec<PointwiseRow>,
}

impl PointwiseReport {
    /// Whether the task predicts ratings.
    fn ratings(&self) -> bool {
        self.task.starts_with("rating")
    }

    /// A Markdown report: one table of test metrics (validation in parentheses for the
    /// headline metric).
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Pointwise prediction: {}\n", self.dataset);
        let _ = writeln!(s, "- task: {}", self.task);
        let _ = writeln!(s, "- split: {}", self.split);
        if let Some(sc) = &self.scenario {
            let _ = writeln!(s, "- scenario: {sc}");
            if !self.scenario_train_events.is_empty() {
                let parts: Vec<String> = self
                    .scenario_train_events
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                let _ = writeln!(s, "- training events per scenario: {}", parts.join(", "));
            }
        }
        let _ = writeln!(
            s,
            "- test metrics from models fitted on train + validation; the headline metric's \
             validation value (fitted on train only) in parentheses\n"
        );
        let cols: &[&str] = if self.ratings() {
            &["rmse", "mae"]
        } else {
            &[
                "auc",
                "logloss",
                "accuracy",
                "precision",
                "recall",
                "f1",
                "calibration_error",
            ]
        };
        let _ = write!(s, "| model | mode | slice | n |");
        for c in cols {
            let _ = write!(s, " {c} |");
        }
        let _ = writeln!(s, " fit s | examples/s |");
        let _ = write!(s, "|---|---|---|--:|");
        for _ in cols {
            let _ = write!(s, "--:|");
        }
        let _ = writeln!(s, "--:|--:|");
        for r in &self.rows {
            let _ = write!(
                s,
                "| {} | {} | {} | {} |",
                r.model,
                r.mode,
                r.slice,
                r.metrics.get("n").copied().unwrap_or(0.0) as usize
            );
            for (ci, c) in cols.iter().enumerate() {
                match r.metrics.get(*c) {
                    Some(v) if ci == 0 => match r.valid_metrics.get(*c) {
                        Some(vv) => {
                            let _ = write!(s, " {v:.4} ({vv:.4}) |");
                        }
                        None => {
                            let _ = write!(s, " {v:.4} |");
                        }
                    },
                    Some(v) => {
                        let _ = write!(s, " {v:.4} |");
                    }
                    None => {
                        let _ = write!(s, " – |");
                    }
                }
            }
            let eps = if r.fit_seconds > 0.0 && r.slice == "all" && r.train_examples > 0 {
                format!("{:.0}", r.train_examples as f64 / r.fit_seconds)
            } else {
                "–".into()
            };
            let fit = if r.slice == "all" {
                format!("{:.2}", r.fit_seconds)
            } else {
                "".into()
            };
            let _ = writeln!(s, " {fit} | {eps} |");
        }
        let chosen: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.slice == "all")
            .filter_map(|r| {
                r.chosen
                    .as_ref()
                    .map(|c| format!("- {} [{}]: `{c}`", r.model, r.mode))
            })
            .collect();
        if !chosen.is_empty() {
            let _ = writeln!(s, "\nChosen on validation (`--tune`):\n");
            for c in chosen {
                let _ = writeln!(s, "{c}");
            }
        }
        s
    }

    /// Writes the report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        crate::report::write_pretty_json(self, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_task_and_markdown() {
        let m = pointwise_metrics(&[0.9, 0.2, 0.7, 0.4], &[1.0, 0.0, 0.0, 1.0], false);
        assert_eq!(m["n"], 4.0);
        assert!((m["auc"] - 0.75).abs() < 1e-12);
        assert!((m["accuracy"] - 0.5).abs() < 1e-12);
        assert!((m["pos_rate"] - 0.5).abs() < 1e-12);
        assert!(!m.contains_key("rmse"));
        let r = pointwise_metrics(&[4.0, 3.0], &[5.0, 3.0], true);
        assert!((r["rmse"] - 0.5f64.sqrt()).abs() < 1e-12);
        assert!((r["mae"] - 0.5).abs() < 1e-12);
        assert!(!r.contains_key("auc"));
        let report = PointwiseReport {
            dataset: "d".into(),
            split: "random".into(),
            task: "rating".into(),
            scenario: None,
            scenario_train_events: BTreeMap::new(),
            rows: vec![PointwiseRow {
                model: "fm".into(),
                mode: "global".into(),
                slice: "all".into(),
                metrics: r.clone(),
                valid_metrics: r,
                fit_seconds: 2.0,
                train_examples: 1000,
                collision_rate: 0.0,
                chosen: None,
            }],
        };
        let md = report.to_markdown();
        assert!(md.contains("| rmse | mae |"), "{md}");
        assert!(
            md.contains("| fm | global | all | 2 | 0.7071 (0.7071) | 0.5000 |"),
            "{md}"
        );
        assert!(md.contains("| 2.00 | 500 |"), "{md}");
    }
}
