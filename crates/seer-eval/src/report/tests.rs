//! Tests of the bench reports (JSON, Markdown, HTML).

use super::*;
use std::collections::BTreeMap;

fn model(name: &str, scale: f64) -> ModelResult {
    let mut metrics = BTreeMap::new();
    for k in [5, 10, 20] {
        let kf = k as f64;
        metrics.insert(format!("ndcg@{k}"), scale * kf / 40.0);
        metrics.insert(format!("hr@{k}"), scale * kf / 25.0);
        metrics.insert(format!("recall@{k}"), scale * kf / 25.0);
        metrics.insert(format!("coverage@{k}"), 0.1);
        metrics.insert(format!("pop@{k}"), 100.0 * scale);
    }
    metrics.insert("mrr".into(), scale / 10.0);
    metrics.insert("auc".into(), 0.5 + scale / 4.0);
    ModelResult {
        name: name.into(),
        config: serde_json::json!({ "model": name }),
        valid_metrics: metrics.clone(),
        metrics,
        fit_seconds: 1.5,
        eval_seconds: 0.25,
        peak_rss_mb: 120.0,
        epochs_run: None,
        best_epoch: None,
        paired: None,
    }
}

fn report() -> BenchReport {
    BenchReport {
        dataset: "demo".into(),
        split: "leave-one-out (min 3 events)".into(),
        n_users: 10,
        n_items: 20,
        n_interactions: 100,
        users_evaluated: 9,
        sampled: false,
        models: vec![model("pop", 0.5), model("<ease>", 1.0)],
        references: Vec::new(),
        pairs: Vec::new(),
    }
}

#[test]
fn json_is_stable_and_round_trips() {
    let r = report();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.json");
    r.write_json(&path).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["models"][1]["name"], "<ease>");
    assert_eq!(v["models"][1]["metrics"]["ndcg@10"], 0.25);
    assert_eq!(v["sampled"], false);
    assert_eq!(BenchReport::read_json(&path).unwrap(), r);
}

#[test]
fn markdown_table() {
    let md = report().to_markdown();
    let lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(
        lines[0],
        "| Model | NDCG@10 | HR@10 | Recall@10 | MRR | AUC | Coverage@10 | Fit s | Eval s | Peak MB |"
    );
    assert_eq!(lines.len(), 4);
    assert!(
        lines[3].starts_with("| &lt;ease> | **0.2500** | **0.4000** |"),
        "{}",
        lines[3]
    );
    assert!(lines[2].contains("| 0.1250 |"));
    assert!(!md.to_lowercase().contains("sampled"));
}

/// Pairs only the users both models evaluated; interval = 1.96 · sd / √n of the
/// differences (by hand: differences 0, 0.5, 0.2 on users 1, 2, 4).
#[test]
fn paired_difference_by_hand() {
    let a = [(0, 0.0), (1, 1.0), (2, 0.5), (4, 0.2)];
    let b = [(1, 1.0), (2, 1.0), (3, 0.3), (4, 0.4)];
    let (n, diff, ci) = paired_difference(&a, &b).unwrap();
    assert_eq!(n, 3);
    assert!((diff - 0.7 / 3.0).abs() < 1e-12);
    let var = ((0.0 - 0.7 / 3.0f64).powi(2)
        + (0.5 - 0.7 / 3.0f64).powi(2)
        + (0.2 - 0.7 / 3.0f64).powi(2))
        / 2.0;
    assert!((ci - 1.96 * (var / 3.0).sqrt()).abs() < 1e-12);
    assert!(paired_difference(&a[..1], &b).is_none());
}

#[test]
fn markdown_lists_paired_differences_with_a_verdict() {
    let mut r = report();
    let p = |diff: f64| Paired {
        baseline: "pop".into(),
        metric: "ndcg@10".into(),
        users: 943,
        diff,
        ci95: 0.01,
    };
    r.models.push(model("als", 0.8));
    r.models[1].paired = Some(p(0.02));
    r.models[2].paired = Some(p(-0.005));
    let md = r.to_markdown();
    assert!(
        md.contains("Paired against `pop` on the same 943 test users"),
        "{md}"
    );
    assert!(md.contains(": +0.0200 ± 0.0100 (above)"), "{md}");
    assert!(
        md.contains(": -0.0050 ± 0.0100 (not distinguishable)"),
        "{md}"
    );
    let html = r.to_html().unwrap();
    assert!(
        html.contains("<li>&lt;ease&gt;: +0.0200 ± 0.0100 (above)</li>"),
        "{html}"
    );
    // Older reports without the field still read.
    let json = serde_json::to_string(&report()).unwrap();
    assert!(!json.contains("paired"));
    assert!(!json.contains("pairs"));
    assert!(!md.contains("with each other"), "{md}");
}

/// The later models' comparisons with each other get their own lines, in Markdown, HTML
/// and JSON (flattened: `model` beside `baseline`, `diff`, …).
#[test]
fn pairs_between_later_models_are_listed() {
    let mut r = report();
    r.models.push(model("als", 0.8));
    r.pairs.push(ModelPair {
        model: "als".into(),
        paired: Paired {
            baseline: "<ease>".into(),
            metric: "ndcg@10".into(),
            users: 943,
            diff: -0.03,
            ci95: 0.01,
        },
    });
    let md = r.to_markdown();
    assert!(
        md.contains("The later models paired with each other on the same users (ndcg@10"),
        "{md}"
    );
    assert!(
        md.contains("- als − &lt;ease>: -0.0300 ± 0.0100 (below)"),
        "{md}"
    );
    let html = r.to_html().unwrap();
    assert!(
        html.contains("<li>als − &lt;ease&gt;: -0.0300 ± 0.0100 (below)</li>"),
        "{html}"
    );
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["pairs"][0]["model"], "als", "{json}");
    assert_eq!(json["pairs"][0]["baseline"], "<ease>", "{json}");
    let back: BenchReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn headline_k_falls_back_to_largest() {
    let mut r = report();
    for m in &mut r.models {
        m.metrics.retain(|k, _| !k.ends_with("@10"));
    }
    assert_eq!(r.ks(), vec![5, 20]);
    assert_eq!(r.headline_k(), Some(20));
    assert!(r.to_markdown().contains("NDCG@20"));
}

#[test]
fn sampled_is_labelled_everywhere() {
    let mut r = report();
    r.sampled = true;
    for m in &mut r.models {
        m.metrics.insert("sampled100_ndcg@10".into(), 0.6);
        m.metrics.insert("sampled100_hr@10".into(), 0.8);
    }
    let md = r.to_markdown();
    assert!(md.contains("(sampled metrics)"));
    assert!(md.contains("SAMPLED METRICS: columns prefixed sampled100_ rank each target against 100 random negatives"), "{md}");
    assert!(md.contains("sampled100_NDCG@10"));
    let html = r.to_html().unwrap();
    assert!(html.contains("<title>seer bench: demo (sampled metrics)</title>"));
    assert!(html.contains("class=\"sampled\""));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["sampled"], true);
}

#[test]
fn html_is_self_contained_with_plots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.html");
    report().write_html(&path).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(html.contains("&lt;ease&gt;"), "model names are escaped");
    assert!(!html.contains("<ease>"));
    assert!(!html.contains("src=\"http"), "no external resources");
    for t in [
        "NDCG@K vs K",
        "HR@K vs K",
        "NDCG@10 per model",
        "popularity",
    ] {
        assert!(html.contains(t), "{t}");
    }
}

#[test]
fn references_sit_beside_seer_in_every_output() {
    let mut r = report();
    let mut reference = Reference {
        tool: "RecBole 1.2.1".into(),
        source: "rb.json".into(),
        dataset: "demo".into(),
        protocol: "recbole".into(),
        n_interactions: [("train".to_string(), 80)].into(),
        models: vec![crate::compare::ReferenceModel {
            name: "pop".into(),
            label: "Pop".into(),
            config: serde_json::Value::Null,
            metrics: [("ndcg@10".to_string(), 0.1), ("hr@10".to_string(), 0.2)].into(),
            fit_seconds: 2.0,
            eval_seconds: 1.75,
        }],
        warnings: Vec::new(),
    };
    reference.check("demo", "seer", &[("train", 81)]);
    assert_eq!(reference.warnings.len(), 2);
    r.references.push(reference);
    let md = r.to_markdown();
    assert!(md.contains("### Side by side: RecBole 1.2.1"), "{md}");
    assert!(md.contains("| NDCG@10 seer | NDCG@10 RecBole |"), "{md}");
    // seer pop: ndcg@10 = 0.5 · 10 / 40 = 0.125 against 0.1: +25%; 3.75 s against 1.75 s.
    assert!(
        md.contains("| pop | Pop | 0.1250 | 0.1000 | +25.0% |"),
        "{md}"
    );
    assert!(md.contains("| 1.75 | 3.75 | 2.1x |"), "{md}");
    assert!(
        md.contains("⚠ the reference ran under the `recbole` protocol"),
        "{md}"
    );
    let html = r.to_html().unwrap();
    assert!(html.contains("<th>HR@10 RecBole</th>"));
    assert!(html.contains("NDCG@10: seer and RecBole"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.json");
    r.write_json(&path).unwrap();
    assert_eq!(BenchReport::read_json(&path).unwrap(), r);
    // Without references the key is absent, so older readers see the same schema.
    report().write_json(&path).unwrap();
    assert!(!std::fs::read_to_string(&path)
        .unwrap()
        .contains("references"));
}

#[test]
fn empty_report_still_renders() {
    let r = BenchReport {
        models: vec![],
        ..report()
    };
    assert!(r.to_html().is_ok());
    assert_eq!(r.headline_k(), None);
    assert!(r.to_markdown().contains("| Model | MRR | AUC |"));
}
