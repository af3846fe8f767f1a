//! Turning runs into figures: medians and spread across repetitions, ratios
//! to the peers measured in the same run, a table, JSON and an SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;
use serde_json::Value;

/// One measurement: a case run once against one server.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub server: String,
    pub case: String,
    pub repetition: usize,
    /// Null when the run failed.
    pub result: Value,
    /// Why the run failed; a failed run is reported, never dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// What the table shows of a case, and which way is better.
pub struct Metric {
    pub label: &'static str,
    pub pointer: &'static str,
    pub lower_is_better: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub case: String,
    pub metric: String,
    pub lower_is_better: bool,
    pub by_server: BTreeMap<String, Figure>,
}

pub fn summarize(runs: &[Run], cases: &[(String, Vec<Metric>)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (case, metrics) in cases {
        for metric in metrics {
            let mut by_server = BTreeMap::new();
            for server in ["livecart", "node", "floor"] {
                let mut values: Vec<f64> = runs
                    .iter()
                    .filter(|r| r.server == server && &r.case == case)
                    .filter_map(|r| r.result.pointer(metric.pointer).and_then(Value::as_f64))
                    .collect();
                if values.is_empty() {
                    continue;
                }
                values.sort_by(|a, b| a.total_cmp(b));
                let median = if values.len() % 2 == 1 {
                    values[values.len() / 2]
                } else {
                    (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
                };
                by_server.insert(
                    server.to_string(),
                    Figure {
                        median,
                        min: values[0],
                        max: values[values.len() - 1],
                        runs: values.len(),
                    },
                );
            }
            if !by_server.is_empty() {
                rows.push(Row {
                    case: case.clone(),
                    metric: metric.label.to_string(),
                    lower_is_better: metric.lower_is_better,
                    by_server,
                });
            }
        }
        // Failed runs get a row of their own, so a median of the runs that
        // worked never hides the ones that did not.
        let mut failures = BTreeMap::new();
        for server in ["livecart", "node", "floor"] {
            let of_server: Vec<&Run> = runs
                .iter()
                .filter(|r| r.server == server && &r.case == case)
                .collect();
            let failed = of_server.iter().filter(|r| r.failed.is_some()).count();
            if failed > 0 {
                failures.insert(
                    server.to_string(),
                    Figure {
                        median: failed as f64,
                        min: failed as f64,
                        max: failed as f64,
                        runs: 1,
                    },
                );
            }
        }
        if !failures.is_empty() {
            rows.push(Row {
                case: case.clone(),
                metric: "failed runs".to_string(),
                lower_is_better: true,
                by_server: failures,
            });
        }
    }
    rows
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn cell(figure: Option<&Figure>) -> String {
    match figure {
        Some(f) if f.runs > 1 => {
            format!("{} ({}–{})", number(f.median), number(f.min), number(f.max))
        }
        Some(f) => number(f.median),
        None => "—".to_string(),
    }
}

fn ratio(row: &Row, other: &str) -> String {
    match (row.by_server.get("livecart"), row.by_server.get(other)) {
        (Some(a), Some(b)) if b.median != 0.0 => format!("{:.2}", a.median / b.median),
        _ => "—".to_string(),
    }
}

/// A markdown table: medians with (min–max) over the repetitions.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| case | metric | livecart | node | floor (tokio) | livecart ÷ node | livecart ÷ floor |\n|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let better = if row.lower_is_better { "↓" } else { "↑" };
        let _ = writeln!(
            out,
            "| {} | {} {better} | {} | {} | {} | {} | {} |",
            row.case,
            row.metric,
            cell(row.by_server.get("livecart")),
            cell(row.by_server.get("node")),
            cell(row.by_server.get("floor")),
            ratio(row, "node"),
            ratio(row, "floor"),
        );
    }
    out
}

/// Fan-out latency (p50 and p99) against the number of subscribers.
pub fn chart(rows: &[Row], path: &Path) -> Result<(), String> {
    let mut series: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| r.case.starts_with("fan-out ") && !r.case.contains("/api"))
    {
        let Some(n) = row
            .case
            .trim_start_matches("fan-out ")
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<f64>().ok())
        else {
            continue;
        };
        if row.metric != "p50 ms" && row.metric != "p99 ms" {
            continue;
        }
        for (server, figure) in &row.by_server {
            series
                .entry((server.clone(), row.metric.clone()))
                .or_default()
                .push((n, figure.median));
        }
    }
    let max_x = series.values().flatten().map(|p| p.0).fold(1.0, f64::max);
    let max_y = series.values().flatten().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Fan-out latency from a change to each subscriber (median of runs)",
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_x * 1.05, 0f64..max_y)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("subscribers (WebSockets, Burt's protocol)")
        .y_desc("latency, ms")
        .draw()
        .map_err(|e| e.to_string())?;
    let colours = [
        ("livecart", RGBColor(156, 47, 31)),
        ("node", RGBColor(55, 68, 154)),
        ("floor", RGBColor(47, 107, 51)),
    ];
    for ((server, metric), mut points) in series {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let colour = colours
            .iter()
            .find(|(s, _)| *s == server)
            .map_or(BLACK, |(_, c)| *c);
        let style = if metric == "p99 ms" {
            colour.stroke_width(3)
        } else {
            colour.stroke_width(1)
        };
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(|e| e.to_string())?
            .label(format!("{server} {}", metric.trim_end_matches(" ms")))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
