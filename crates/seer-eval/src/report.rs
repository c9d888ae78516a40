//! Benchmark reports: several models evaluated on one dataset and split, written as JSON, a
//! Markdown table, or a self-contained HTML page with inline SVG plots.
//!
//! The JSON layout is stable and meant for scripts: a top-level `models` list whose entries
//! carry `name` and `metrics` (lower-case keys such as `ndcg@10` → numbers, test stage), plus
//! `valid_metrics`, timings and peak memory. When the metrics include sampled-negative ones
//! (`sampled: true`), every output says **sampled metrics** prominently: sampled numbers are
//! much higher than, and not comparable to, full-ranking numbers.

use std::fmt::Write as _;
use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compare::Reference;
use crate::error::{Error, Result};
pub use crate::result::{headline_k, paired_difference, ModelPair, ModelResult, Paired};

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
mod tests;
