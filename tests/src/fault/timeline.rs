//! A one-page SVG of a run: each fault as a band over the seconds it
//! lasted (numbered, with a legend), under it the records acknowledged per
//! second and each node's blocks per second, with a bar under a node's
//! line while a fault hits it. A node's catch-up bursts are clipped at
//! twice its 95th percentile, so its ordinary rate stays readable.

use std::fmt::Write;

use super::check::{FaultResult, Window};

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 160.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 70.0;
const COLOURS: [&str; 5] = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];

pub fn svg(title: &str, faults: &[FaultResult], windows: &[Window], orgs: &[String]) -> String {
    let seconds = windows.len().max(1) as f64;
    let x = |ms: f64| LEFT + (WIDTH - LEFT - RIGHT) * (ms / 1000.0) / seconds;
    let kinds: Vec<&str> = faults.iter().fold(Vec::new(), |mut kinds, f| {
        if !kinds.contains(&f.span.fault.as_str()) {
            kinds.push(&f.span.fault);
        }
        kinds
    });
    let kind_no = |f: &FaultResult| kinds.iter().position(|k| *k == f.span.fault).unwrap_or(0) + 1;
    let band_top = 40.0;
    let rows_top = band_top + 20.0;
    let rows_bottom = rows_top + ROW * (orgs.len() + 1) as f64;
    let legend_top = rows_bottom + 35.0;
    let height = legend_top + 16.0 * kinds.len().div_ceil(2) as f64 + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(s, r#"<text x="10" y="{}">faults</text>"#, band_top + 12.0);
    for f in faults {
        let (a, b) = (x(f.span.start_ms as f64), x(f.span.end_ms as f64));
        let _ = writeln!(
            s,
            r##"<rect x="{a:.1}" y="{band_top}" width="{:.1}" height="{:.1}" fill="#d62728" fill-opacity="0.15"/>"##,
            (b - a).max(1.0),
            rows_bottom - band_top
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" fill="#a01010" text-anchor="middle">{}</text>"##,
            (a + b) / 2.0,
            band_top + 12.0,
            kind_no(f)
        );
    }
    let mut row = |label: &str,
                   values: Vec<f64>,
                   colour: &str,
                   index: usize,
                   hit: Vec<(f64, f64)>| {
        let top = rows_top + ROW * index as f64;
        let base = top + ROW - 12.0;
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let p95 = sorted.get(sorted.len() * 95 / 100).copied().unwrap_or(1.0);
        let max = sorted
            .last()
            .copied()
            .unwrap_or(1.0)
            .min(2.0 * p95)
            .max(1.0);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="#bbb"/>"##,
            WIDTH - RIGHT
        );
        let _ = writeln!(
            s,
            r##"<text x="10" y="{:.1}">{}</text><text x="10" y="{:.1}" fill="#666">top of scale {max:.0}/s</text>"##,
            top + ROW / 2.0,
            escape(label),
            top + ROW / 2.0 + 13.0
        );
        for (a, b) in hit {
            let _ = writeln!(
                s,
                r##"<rect x="{a:.1}" y="{:.1}" width="{:.1}" height="5" fill="#d62728"/>"##,
                base + 3.0,
                (b - a).max(1.0)
            );
        }
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(sec, v)| {
                let px = x(sec as f64 * 1000.0 + 500.0);
                let py = base - (ROW - 24.0) * v.min(max) / max;
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.3" points="{}"/>"#,
            points.join(" ")
        );
    };
    row(
        "records acknowledged",
        windows.iter().map(|w| w.acks as f64).collect(),
        "#ff7f0e",
        0,
        Vec::new(),
    );
    for (i, org) in orgs.iter().enumerate() {
        let hit = faults
            .iter()
            .filter(|f| f.span.nodes.contains(&i))
            .map(|f| (x(f.span.start_ms as f64), x(f.span.end_ms as f64)))
            .collect();
        row(
            &format!("node {i} {org}: blocks"),
            windows
                .iter()
                .map(|w| w.blocks.get(i).copied().unwrap_or(0) as f64)
                .collect(),
            COLOURS[i % COLOURS.len()],
            i + 1,
            hit,
        );
    }
    let step = if seconds > 300.0 {
        60
    } else if seconds > 60.0 {
        30
    } else {
        10
    };
    for sec in (0..=seconds as u64).step_by(step) {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{sec}s</text>"#,
            x(sec as f64 * 1000.0),
            rows_bottom + 14.0
        );
    }
    for (k, kind) in kinds.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#a01010">{}: {}</text>"##,
            10.0 + (k % 2) as f64 * 420.0,
            legend_top + 16.0 * (k / 2) as f64,
            k + 1,
            escape(kind)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
