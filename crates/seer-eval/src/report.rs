//! Benchmark reports: several models evaluated on one dataset and split, written as JSON, a
//! Markdown table, or a self-contained HTML page with inline SVG plots.
//!
//! The JSON layout is stable and meant for scripts: a top-level `models` list whose entries
//! carry `name` and `metrics` (lower-case keys such as `ndcg@10` → numbers, test stage), plus
//! `valid_metrics`, timings and peak memory. When the metrics include sampled-negative ones
//! (`sampled: true`), every output says **sampled metrics** prominently: sampled numbers are
//! much higher than, and not comparable to, full-ranking numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compare::Reference;
use crate::error::{Error, Result};

/// `value` as pretty JSON with a final newline.
pub(crate) fn write_pretty_json<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })?;
    std::fs::write(path, text + "\n").map_err(Error::io(path))
}

/// The results of one benchmark run: one dataset, one split, several models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Dataset name (`"amazon-beauty"`).
    pub dataset: String,
    /// Human-readable split description (`"leave-one-out (min 3 events)"`).
    pub split: String,
    /// Users in the dataset.
    pub n_users: usize,
    /// Items in the dataset.
    pub n_items: usize,
    /// Interactions in the dataset.
    pub n_interactions: usize,
    /// Users evaluated at the test stage.
    pub users_evaluated: usize,
    /// True when `metrics` include sampled-negative metrics (`sampled{n}_…` keys).
    pub sampled: bool,
    /// One entry per model, in the order they were run.
    pub models: Vec<ModelResult>,
    /// Other tools' results on the same split (`seer bench --compare FILE`); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// The paired comparisons between the later models (each model's comparison with the
    /// first is its [`ModelResult::paired`]): one per pair, the earlier model as baseline;
    /// absent with fewer than three models and in older reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<ModelPair>,
}

/// A paired comparison of two models of a run, neither of them the first
/// ([`BenchReport::pairs`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPair {
    /// The later model of the two; [`Paired::baseline`] names the earlier one.
    pub model: String,
    /// Its per-user difference from the earlier model.
    #[serde(flatten)]
    pub paired: Paired,
}

/// One model's results in a [`BenchReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// The model spec as given on the command line (`"ease"`, `"sasrec"`).
    pub name: String,
    /// The resolved model configuration.
    pub config: serde_json::Value,
    /// Test-stage metrics (keys as in [`crate::EvalReport::metrics`]).
    pub metrics: BTreeMap<String, f64>,
    /// Validation-stage metrics.
    pub valid_metrics: BTreeMap<String, f64>,
    /// Wall-clock seconds spent fitting.
    pub fit_seconds: f64,
    /// Wall-clock seconds spent evaluating (both stages).
    pub eval_seconds: f64,
    /// Peak resident memory during fit + evaluation, MiB (0 when unknown).
    pub peak_rss_mb: f64,
    /// Iterative models (early-stopped on validation): epochs run in the fit on train.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs_run: Option<usize>,
    /// Iterative models: the epoch kept (best validation NDCG@10), which the refit on
    /// train + validation trains for under seer's protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// Test NDCG at the headline cut-off against the first model of the run, on the same
    /// users (absent for the first model itself and in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<Paired>,
}

/// The cut-off reports lead with, of the ascending `ks`: 10 when present, else the largest.
pub fn headline_k(ks: &[usize]) -> Option<usize> {
    if ks.contains(&10) {
        Some(10)
    } else {
        ks.last().copied()
    }
}

/// A paired comparison of two models' per-user test NDCG on the users both evaluated: with
/// one test event per user, the noise of a single model's mean is mostly which users happen
/// to be in the test set, and that noise is shared by both models; the per-user differences
/// have it removed, so their interval is the honest one for "is B better than A here".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// The model compared against (the run's first model).
    pub baseline: String,
    /// The metric compared (`ndcg@10`).
    pub metric: String,
    /// Users evaluated by both models.
    pub users: usize,
    /// Mean over those users of (this model's value − the baseline's).
    pub diff: f64,
    /// Half-width of the 95% interval of `diff`: 1.96 standard errors of the mean difference.
    pub ci95: f64,
}

impl Paired {
    /// The difference, its interval and the verdict: `+0.0123 ± 0.0045 (above)`.
    pub fn summary(&self) -> String {
        format!("{:+.4} ± {:.4} ({})", self.diff, self.ci95, self.verdict())
    }

    /// `"above"` or `"below"` when the interval excludes 0, else `"not distinguishable"`.
    pub fn verdict(&self) -> &'static str {
        if self.diff - self.ci95 > 0.0 {
            "above"
        } else if self.diff + self.ci95 < 0.0 {
            "below"
        } else {
            "not distinguishable"
        }
    }
}

/// Pairs `a` (the baseline) and `b` by user (both in ascending user order, as
/// [`crate::EvalReport::per_user_ndcg`] is) and returns the mean of `b − a` over the common
/// users with its 95% half-width; `None` with fewer than 2 common users.
pub fn paired_difference(a: &[(u32, f64)], b: &[(u32, f64)]) -> Option<(usize, f64, f64)> {
    let (mut i, mut j) = (0, 0);
    let mut d = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                d.push(b[j].1 - a[i].1);
                i += 1;
                j += 1;
            }
        }
    }
    let n = d.len();
    if n < 2 {
        return None;
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((n, mean, 1.96 * (var / n as f64).sqrt()))
}

/// Where a table column's value comes from.
enum Source {
    /// A test-stage metric key.
    Metric(String),
    /// A field of [`ModelResult`].
    Field(fn(&ModelResult) -> f64),
}

/// A table column: header and how to get the value.
struct Column {
    header: String,
    source: Source,
    /// Highlight the highest value (metrics) or nothing (timings, memory).
    highlight: bool,
    decimals: usize,
}

impl Column {
    fn value(&self, m: &ModelResult) -> Option<f64> {
        match &self.source {
            Source::Metric(key) => m.metrics.get(key).copied(),
            Source::Field(f) => Some(f(m)),
        }
    }
}

impl BenchReport {
    /// The cut-offs K present in the results (from `ndcg@K` keys), ascending.
    pub fn ks(&self) -> Vec<usize> {
        let mut ks: Vec<usize> = self
            .models
            .iter()
            .flat_map(|m| m.metrics.keys())
            .filter_map(|k| k.strip_prefix("ndcg@")?.parse().ok())
            .collect();
        ks.sort_unstable();
        ks.dedup();
        ks
    }

    /// The cut-off shown in tables: 10 when present, else the largest K.
    pub fn headline_k(&self) -> Option<usize> {
        headline_k(&self.ks())
    }

    /// Prefixes of sampled metrics present (`"sampled100_"`), ascending.
    fn sampled_prefixes(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .models
            .iter()
            .flat_map(|m| m.metrics.keys())
            .filter(|k| k.starts_with("sampled"))
            .filter_map(|k| k.split_once('_').map(|(p, _)| format!("{p}_")))
            .collect();
        p.sort();
        p.dedup();
        p
    }

    /// Sentence explaining sampled metrics, when there are any.
    fn sampled_notice(&self) -> Option<String> {
        self.sampled.then(|| {
            let parts: Vec<String> = self
                .sampled_prefixes()
                .iter()
                .map(|p| {
                    let n = p.trim_start_matches("sampled").trim_end_matches('_');
                    format!("columns prefixed {p} rank each target against {n} random negatives")
                })
                .collect();
            let which = if parts.is_empty() {
                "sampled columns rank each target against random negatives".to_string()
            } else {
                parts.join("; ")
            };
            format!(
                "SAMPLED METRICS: {which} instead of the whole catalogue; they are inflated and \
                 not comparable to full-ranking metrics."
            )
        })
    }

    fn columns(&self) -> Vec<Column> {
        let metric = |header: String, key: String, highlight: bool| Column {
            header,
            source: Source::Metric(key),
            highlight,
            decimals: 4,
        };
        let mut cols = Vec::new();
        if let Some(k) = self.headline_k() {
            cols.push(metric(format!("NDCG@{k}"), format!("ndcg@{k}"), true));
            cols.push(metric(format!("HR@{k}"), format!("hr@{k}"), true));
            cols.push(metric(format!("Recall@{k}"), format!("recall@{k}"), true));
        }
        cols.push(metric("MRR".into(), "mrr".into(), true));
        cols.push(metric("AUC".into(), "auc".into(), true));
        if let Some(k) = self.headline_k() {
            cols.push(metric(
                format!("Coverage@{k}"),
                format!("coverage@{k}"),
                true,
            ));
            for p in self.sampled_prefixes() {
                cols.push(metric(format!("{p}NDCG@{k}"), format!("{p}ndcg@{k}"), true));
                cols.push(metric(format!("{p}HR@{k}"), format!("{p}hr@{k}"), true));
            }
        }
        if self
            .models
            .iter()
            .any(|m| m.metrics.contains_key("ranker_auc"))
        {
            cols.push(metric("Ranker AUC".into(), "ranker_auc".into(), true));
            cols.push(Column {
                header: "Ranker log loss".into(),
                source: Source::Metric("ranker_logloss".into()),
                highlight: false,
                decimals: 4,
            });
        }
        let plain = |header: &str, f: fn(&ModelResult) -> f64, decimals| Column {
            header: header.into(),
            source: Source::Field(f),
            highlight: false,
            decimals,
        };
        cols.push(plain("Fit s", |m| m.fit_seconds, 2));
        cols.push(plain("Eval s", |m| m.eval_seconds, 2));
        cols.push(plain("Peak MB", |m| m.peak_rss_mb, 0));
        cols
    }

    /// Rows of formatted cells (model name first), with the best value per column marked.
    fn cells(&self) -> (Vec<String>, Vec<Vec<(String, bool)>>) {
        let cols = self.columns();
        let mut headers = vec!["Model".to_string()];
        headers.extend(cols.iter().map(|c| c.header.clone()));
        let best: Vec<Option<f64>> = cols
            .iter()
            .map(|c| {
                if !c.highlight {
                    return None;
                }
                self.models
                    .iter()
                    .filter_map(|m| c.value(m))
                    .reduce(f64::max)
            })
            .collect();
        let rows = self
            .models
            .iter()
            .map(|m| {
                let mut row = vec![(m.name.clone(), false)];
                for (c, b) in cols.iter().zip(&best) {
                    row.push(match c.value(m) {
                        Some(v) => (
                            format!("{v:.*}", c.decimals),
                            self.models.len() > 1 && Some(v) == *b,
                        ),
                        None => ("–".into(), false),
                    });
                }
                row
            })
            .collect();
        (headers, rows)
    }

    /// One line describing the data.
    fn summary(&self) -> String {
        format!(
            "Dataset {}: {} users, {} items, {} interactions; split: {}; {} users evaluated \
             (test stage, full ranking, seen items masked).",
            self.dataset,
            self.n_users,
            self.n_items,
            self.n_interactions,
            self.split,
            self.users_evaluated
        )
    }

    /// The results as a Markdown table (test-stage metrics at K = 10, or the largest K), best
    /// value per metric in bold.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let title = if self.sampled {
            " (sampled metrics)"
        } else {
            ""
        };
        let _ = writeln!(s, "## seer bench: {}{title}\n", self.dataset);
        if let Some(n) = self.sampled_notice() {
            let _ = writeln!(s, "> **⚠ {n}**\n");
        }
        let _ = writeln!(s, "{}\n", self.summary());
        let (headers, rows) = self.cells();
        md_table(&mut s, &headers, 1, rows);
        if let Some(k) = self.headline_k() {
            for r in &self.references {
                let _ = writeln!(s, "\n### {}\n", r.title());
                for w in &r.warnings {
                    let _ = writeln!(s, "> **⚠ {w}**\n");
                }
                let (headers, rows) = r.table(&self.models, k);
                md_table(&mut s, &headers, 2, plain_cells(rows));
            }
        }
        for (head, lines) in [self.paired_lines(), self.pair_lines()]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(s, "\n{head}:\n");
            for l in lines {
                let _ = writeln!(s, "- {}", l.replace('<', "&lt;"));
            }
        }
        s
    }

    /// The paired comparisons with the first model, when there are any: a heading and one
    /// line per compared model (`name: +0.0123 ± 0.0045 (above)`).
    fn paired_lines(&self) -> Option<(String, Vec<String>)> {
        let first = self.models.iter().find_map(|m| m.paired.as_ref())?;
        let head = format!(
            "Paired against `{}` on the same {} test users ({} difference, 95% interval of \
             the mean per-user difference)",
            first.baseline, first.users, first.metric
        );
        let lines = self
            .models
            .iter()
            .filter_map(|m| Some(format!("{}: {}", m.name, m.paired.as_ref()?.summary())))
            .collect();
        Some((head, lines))
    }

    /// The paired comparisons between later models ([`Self::pairs`]), when there are any: a
    /// heading and one line per pair (`b − a: +0.0012 ± 0.0015 (not distinguishable)`).
    fn pair_lines(&self) -> Option<(String, Vec<String>)> {
        let first = &self.pairs.first()?.paired;
        let head = format!(
            "The later models paired with each other on the same users ({} of the later model \
             minus the earlier one)",
            first.metric
        );
        let lines = self
            .pairs
            .iter()
            .map(|p| {
                format!(
                    "{} − {}: {}",
                    p.model,
                    p.paired.baseline,
                    p.paired.summary()
                )
            })
            .collect();
        Some((head, lines))
    }

    /// Writes the report as pretty-printed JSON.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        write_pretty_json(self, path)
    }

    /// Reads a report written by [`Self::write_json`].
    pub fn read_json(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_owned(),
            source,
        })
    }

    /// The report as a self-contained HTML page: the table plus inline SVG plots of NDCG@K
    /// and HR@K against K (one line per model), NDCG at the headline K per model, and the mean
    /// training popularity of recommended items per model.
    pub fn to_html(&self) -> Result<String> {
        let title = format!(
            "seer bench: {}{}",
            self.dataset,
            if self.sampled {
                " (sampled metrics)"
            } else {
                ""
            }
        );
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{}</title>\n<style>\n\
             body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
             table {{ border-collapse: collapse; margin: 1em 0; }}\n\
             th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}\n\
             th:first-child, td:first-child {{ text-align: left; }}\n\
             th {{ background: #f2f2f2; }}\n\
             .best {{ font-weight: bold; }}\n\
             .sampled {{ background: #fff3cd; border: 2px solid #e0a800; padding: 0.8em; \
             font-weight: bold; }}\n\
             .plots {{ display: flex; flex-wrap: wrap; gap: 1em; }}\n\
             </style>\n</head>\n<body>\n<h1>{}</h1>\n",
            esc(&title),
            esc(&title)
        );
        if let Some(n) = self.sampled_notice() {
            let _ = writeln!(h, "<p class=\"sampled\">⚠ {}</p>", esc(&n));
        }
        let _ = writeln!(h, "<p>{}</p>", esc(&self.summary()));
        let (headers, rows) = self.cells();
        html_table(&mut h, &headers, rows);
        for (head, lines) in [self.paired_lines(), self.pair_lines()]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(h, "<p>{}:</p>\n<ul>", esc(&head));
            for l in lines {
                let _ = writeln!(h, "<li>{}</li>", esc(&l));
            }
            h.push_str("</ul>\n");
        }
        h.push_str("<h2>Plots (full ranking, test stage)</h2>\n<div class=\"plots\">\n");
        let ks = self.ks();
        for (metric, label) in [("ndcg", "NDCG@K"), ("hr", "HR@K")] {
            let series: Vec<(String, Vec<(usize, f64)>)> = self
                .models
                .iter()
                .map(|m| {
                    let pts = ks
                        .iter()
                        .filter_map(|k| Some((*k, *m.metrics.get(&format!("{metric}@{k}"))?)))
                        .collect();
                    (m.name.clone(), pts)
                })
                .collect();
            h.push_str(&line_chart(&format!("{label} vs K"), label, &series)?);
        }
        if let Some(k) = self.headline_k() {
            let bars = |key: String| -> Vec<(String, f64)> {
                self.models
                    .iter()
                    .map(|m| (m.name.clone(), m.metrics.get(&key).copied().unwrap_or(0.0)))
                    .collect()
            };
            h.push_str(&bar_chart(
                &format!("NDCG@{k} per model"),
                &bars(format!("ndcg@{k}")),
            )?);
            h.push_str(&bar_chart(
                &format!("Mean training popularity of top-{k} items"),
                &bars(format!("pop@{k}")),
            )?);
        }
        h.push_str("</div>\n");
        if let Some(k) = self.headline_k() {
            for r in &self.references {
                let _ = writeln!(h, "<h2>{}</h2>", esc(&r.title()));
                for w in &r.warnings {
                    let _ = writeln!(h, "<p class=\"sampled\">⚠ {}</p>", esc(w));
                }
                let (headers, rows) = r.table(&self.models, k);
                html_table(&mut h, &headers, plain_cells(rows));
                h.push_str("<div class=\"plots\">\n");
                let tool = r.tool.split(' ').next().unwrap_or("reference");
                for (key, label) in [("ndcg", "NDCG"), ("hr", "HR")] {
                    let key = format!("{key}@{k}");
                    // seer's bar, then the reference's, per model with a counterpart.
                    let mut bars = Vec::new();
                    for m in &self.models {
                        if let Some(rm) = r.model_for(m) {
                            bars.push((
                                format!("{} seer", m.name),
                                m.metrics.get(&key).copied().unwrap_or(0.0),
                                0,
                            ));
                            bars.push((
                                format!("{} {tool}", rm.name),
                                rm.metrics.get(&key).copied().unwrap_or(0.0),
                                1,
                            ));
                        }
                    }
                    if !bars.is_empty() {
                        h.push_str(&paired_bar_chart(
                            &format!("{label}@{k}: seer and {tool}"),
                            &bars,
                        )?);
                    }
                }
                h.push_str("</div>\n");
            }
        }
        h.push_str("</body>\n</html>\n");
        Ok(h)
    }

    /// Writes [`Self::to_html`] to `path`.
    pub fn write_html(&self, path: &Path) -> Result<()> {
        let html = self.to_html()?;
        std::fs::write(path, html).map_err(Error::io(path))
    }
}

/// Cells without a best-value mark.
fn plain_cells(rows: Vec<Vec<String>>) -> Vec<Vec<(String, bool)>> {
    rows.into_iter()
        .map(|r| r.into_iter().map(|c| (c, false)).collect())
        .collect()
}

/// A Markdown table: the first `left` columns left-aligned, the rest right-aligned; cells
/// marked best in bold.
fn md_table(s: &mut String, headers: &[String], left: usize, rows: Vec<Vec<(String, bool)>>) {
    let _ = writeln!(s, "| {} |", headers.join(" | "));
    let align: Vec<&str> = (0..headers.len())
        .map(|i| if i < left { ":--" } else { "--:" })
        .collect();
    let _ = writeln!(s, "| {} |", align.join(" | "));
    for row in rows {
        let cells: Vec<String> = row
            .into_iter()
            .map(|(c, best)| {
                let c = c.replace('|', "\\|").replace('<', "&lt;");
                if best {
                    format!("**{c}**")
                } else {
                    c
                }
            })
            .collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
}

/// An HTML table; cells marked best get the `best` class.
fn html_table(h: &mut String, headers: &[String], rows: Vec<Vec<(String, bool)>>) {
    h.push_str("<table>\n<tr>");
    for c in headers {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>\n");
    for row in rows {
        h.push_str("<tr>");
        for (c, best) in row {
            let class = if best { " class=\"best\"" } else { "" };
            let _ = write!(h, "<td{class}>{}</td>", esc(&c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

type PlotResult = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn plot_error(plot: &str) -> impl FnOnce(DrawingAreaErrorKind<std::io::Error>) -> Error + '_ {
    move |e| Error::Plot {
        plot: plot.to_owned(),
        message: e.to_string(),
    }
}

/// Upper end of a y axis that shows `max` with some headroom.
fn y_top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.15
    } else {
        1.0
    }
}

/// An SVG line chart: one line (with markers) per series of `(K, value)` points.
fn line_chart(title: &str, y_desc: &str, series: &[(String, Vec<(usize, f64)>)]) -> Result<String> {
    let mut svg = String::new();
    let draw = |svg: &mut String| -> PlotResult {
        let root = SVGBackend::with_string(svg, (560, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let points = series.iter().flat_map(|s| s.1.iter());
        let k_max = points.clone().map(|p| p.0).max().unwrap_or(1) as f64;
        let v_max = points.map(|p| p.1).fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..k_max + 1.0, 0f64..y_top(v_max))?;
        chart.configure_mesh().x_desc("K").y_desc(y_desc).draw()?;
        for (idx, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(idx).to_rgba();
            let xy: Vec<(f64, f64)> = pts.iter().map(|&(k, v)| (k as f64, v)).collect();
            chart
                .draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(xy.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()
    };
    draw(&mut svg).map_err(plot_error(title))?;
    Ok(svg)
}

/// An SVG bar chart with one bar per `(label, value)`, each its own colour.
fn bar_chart(title: &str, bars: &[(String, f64)]) -> Result<String> {
    let bars: Vec<(String, f64, usize)> = bars
        .iter()
        .enumerate()
        .map(|(i, (l, v))| (l.clone(), *v, i))
        .collect();
    coloured_bar_chart(title, &bars, 560)
}

/// Bars of two tools side by side: `(label, value, 0 for seer | 1 for the reference)`; the
/// chart widens with the number of bars so the labels stay legible.
fn paired_bar_chart(title: &str, bars: &[(String, f64, usize)]) -> Result<String> {
    coloured_bar_chart(title, bars, (bars.len() as u32 * 110).max(560))
}

/// An SVG bar chart with one bar per `(label, value, colour index)`.
fn coloured_bar_chart(title: &str, bars: &[(String, f64, usize)], width: u32) -> Result<String> {
    let mut svg = String::new();
    let draw = |svg: &mut String| -> PlotResult {
        let root = SVGBackend::with_string(svg, (width, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let v_max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
        let n = bars.len().max(1) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(55)
            // A segmented range a..b has a segment for b too: end at n - 1 so no empty slot.
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..y_top(v_max))?;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => bars
                .get(*i as usize)
                .map(|b| b.0.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len().max(1))
            .x_label_formatter(&label)
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .margin(12)
                .style_func(|x, _| {
                    let i = match x {
                        SegmentValue::Exact(i) | SegmentValue::CenterOf(i) => *i as usize,
                        SegmentValue::Last => 0,
                    };
                    Palette99::pick(bars.get(i).map_or(0, |b| b.2)).filled()
                })
                .data(bars.iter().enumerate().map(|(i, b)| (i as u32, b.1))),
        )?;
        root.present()
    };
    draw(&mut svg).map_err(plot_error(title))?;
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
