//! A one-page SVG of a run: each fault as a band over the seconds it
//! lasted, under it the records acknowledged per second and each node's
//! blocks per second.

use std::fmt::Write;

use super::check::{FaultResult, Window};

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 70.0;
const COLOURS: [&str; 5] = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];

pub fn svg(title: &str, faults: &[FaultResult], windows: &[Window], orgs: &[String]) -> String {
    let seconds = windows.len().max(1) as f64;
    let x = |ms: f64| LEFT + (WIDTH - LEFT - RIGHT) * (ms / 1000.0) / seconds;
    let fault_top = 40.0;
    let fault_rows = faults.len().min(1) as f64 * 40.0;
    let rows_top = fault_top + fault_rows + 20.0;
    let height = rows_top + ROW * (orgs.len() + 1) as f64 + 40.0;
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
    for (k, f) in faults.iter().enumerate() {
        let (a, b) = (x(f.span.start_ms as f64), x(f.span.end_ms as f64));
        let _ = writeln!(
            s,
            r##"<rect x="{a:.1}" y="{fault_top}" width="{:.1}" height="{}" fill="#d62728" fill-opacity="0.18"/>"##,
            (b - a).max(1.0),
            height - fault_top - 30.0
        );
        let label_y = fault_top + 12.0 + (k % 3) as f64 * 12.0;
        let _ = writeln!(
            s,
            r##"<text x="{a:.1}" y="{label_y}" fill="#a01010">{}</text>"##,
            escape(&f.span.fault)
        );
    }
    let _ = writeln!(s, r#"<text x="10" y="{}">faults</text>"#, fault_top + 12.0);
    let mut row = |label: &str, values: Vec<f64>, colour: &str, index: usize| {
        let top = rows_top + ROW * index as f64;
        let max = values.iter().cloned().fold(1.0, f64::max);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#bbb"/>"##,
            top + ROW - 10.0,
            WIDTH - RIGHT,
            top + ROW - 10.0
        );
        let _ = writeln!(
            s,
            r##"<text x="10" y="{:.1}">{}</text><text x="10" y="{:.1}" fill="#666">max {max:.0}/s</text>"##,
            top + ROW / 2.0,
            escape(label),
            top + ROW / 2.0 + 13.0
        );
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(sec, v)| {
                let px = x(sec as f64 * 1000.0 + 500.0);
                let py = top + ROW - 10.0 - (ROW - 20.0) * v / max;
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            points.join(" ")
        );
    };
    row(
        "acknowledged records",
        windows.iter().map(|w| w.acks as f64).collect(),
        "#ff7f0e",
        0,
    );
    for (i, org) in orgs.iter().enumerate() {
        row(
            &format!("node {i} {org} blocks"),
            windows
                .iter()
                .map(|w| w.blocks.get(i).copied().unwrap_or(0) as f64)
                .collect(),
            COLOURS[i % COLOURS.len()],
            i + 1,
        );
    }
    let axis_y = height - 20.0;
    let step = if seconds > 300.0 {
        60
    } else if seconds > 60.0 {
        30
    } else {
        10
    };
    for sec in (0..=seconds as u64).step_by(step) {
        let px = x(sec as f64 * 1000.0);
        let _ = writeln!(
            s,
            r#"<text x="{px:.1}" y="{axis_y}" text-anchor="middle">{sec}s</text>"#
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
