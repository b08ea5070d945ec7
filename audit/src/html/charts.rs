//! Inline SVG charts: grouped horizontal bars, stacked columns over time
//! and a proportion bar. Values arrive as integers (counts, or fen for
//! money); they become `f64` only as coordinates.

use std::fmt::Write;

use super::text::{count, escape, money_compact};

/// Series colours, distinguishable in print and for most colour-blind readers.
pub const PALETTE: [&str; 6] = [
    "#2f6690", "#d1603d", "#3a7d44", "#8e5ea2", "#c49a2c", "#3aa0a8",
];
/// Colour of the "all other codes" series.
pub const OTHER: &str = "#aab4c0";

const WIDTH: f64 = 1040.0;

/// How axis ticks are labelled.
#[derive(Clone, Copy)]
pub enum Scale {
    Count,
    /// Values are fen; ticks show yuan.
    Money,
    /// Values are basis points; ticks show units to two decimals.
    Hundredths,
}

impl Scale {
    fn label(self, value: u64) -> String {
        match self {
            Scale::Count => count(value),
            Scale::Money => money_compact(value),
            Scale::Hundredths => {
                let h = (value + 50) / 100;
                format!("{}.{:02}", h / 100, h % 100)
            }
        }
    }
}

pub struct Bar {
    pub value: u64,
    /// Shown at the end of the bar.
    pub text: String,
    pub color: &'static str,
}

pub struct BarGroup {
    pub label: String,
    pub bars: Vec<Bar>,
}

/// A column of a stacked column chart: `parts` line up with the colours.
pub struct Column {
    pub label: String,
    pub parts: Vec<u64>,
}

/// A step of 1, 2 or 5 × 10ⁿ that covers `max` in about `ticks` steps.
fn nice_step(max: u64, ticks: u64) -> u64 {
    let raw = max.div_ceil(ticks).max(1);
    let mut magnitude = 1u64;
    while magnitude.saturating_mul(10) <= raw {
        magnitude *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| magnitude.saturating_mul(m))
        .find(|step| *step >= raw)
        .unwrap_or(u64::MAX)
}

/// Tick values from 0 to the first tick at or above `max`.
fn ticks(max: u64, target: u64) -> Vec<u64> {
    let step = nice_step(max, target);
    let top = max.div_ceil(step).max(1).saturating_mul(step);
    (0..=top / step).map(|i| i * step).collect()
}

fn svg_open(out: &mut String, height: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height:.0}" width="100%" role="img" aria-label="{}">"#,
        escape(label)
    );
}

/// Rows of one or more horizontal bars each, sharing one value axis.
pub fn horizontal_bars(groups: &[BarGroup], scale: Scale, label: &str) -> String {
    const LABEL_W: f64 = 210.0;
    const VALUE_W: f64 = 110.0;
    const BAR_H: f64 = 16.0;
    const BAR_GAP: f64 = 3.0;
    const GROUP_GAP: f64 = 12.0;
    const AXIS_H: f64 = 26.0;
    let max = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.value))
        .max()
        .unwrap_or(0);
    let ticks = ticks(max, 5);
    let top = *ticks.last().unwrap_or(&1) as f64;
    let plot_w = WIDTH - LABEL_W - VALUE_W;
    let x = |v: u64| LABEL_W + v as f64 / top * plot_w;
    let group_h = |g: &BarGroup| (g.bars.len() as f64 * (BAR_H + BAR_GAP) - BAR_GAP).max(BAR_H);
    let plot_h: f64 = groups.iter().map(|g| group_h(g) + GROUP_GAP).sum::<f64>() + GROUP_GAP;
    let mut out = String::new();
    svg_open(&mut out, plot_h + AXIS_H, label);
    for t in &ticks {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x:.1}" y1="0" x2="{x:.1}" y2="{plot_h:.1}"/><text class="tick" x="{x:.1}" y="{ty:.1}" text-anchor="middle">{label}</text>"#,
            x = x(*t),
            ty = plot_h + 17.0,
            label = escape(&scale.label(*t)),
        );
    }
    let mut y = GROUP_GAP;
    for g in groups {
        let _ = write!(
            out,
            r#"<text class="label" x="{lx:.1}" y="{ly:.1}" text-anchor="end">{}</text>"#,
            escape(&g.label),
            lx = LABEL_W - 10.0,
            ly = y + group_h(g) / 2.0 + 4.0,
        );
        for bar in &g.bars {
            let w = (x(bar.value) - LABEL_W).max(if bar.value > 0 { 1.5 } else { 0.0 });
            let _ = write!(
                out,
                r#"<rect x="{LABEL_W}" y="{y:.1}" width="{w:.1}" height="{BAR_H}" rx="2" fill="{color}"/><text class="value" x="{vx:.1}" y="{vy:.1}">{text}</text>"#,
                color = bar.color,
                vx = LABEL_W + w + 6.0,
                vy = y + BAR_H - 4.0,
                text = escape(&bar.text),
            );
            y += BAR_H + BAR_GAP;
        }
        y += GROUP_GAP - BAR_GAP;
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LABEL_W}" y1="0" x2="{LABEL_W}" y2="{plot_h:.1}"/></svg>"#
    );
    out
}

/// Stacked columns, one per time bucket, with a count axis.
pub fn stacked_columns(columns: &[Column], colors: &[&str], label: &str) -> String {
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 14.0;
    const PLOT_H: f64 = 210.0;
    const AXIS_H: f64 = 28.0;
    let max = columns
        .iter()
        .map(|c| c.parts.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    let ticks = ticks(max, 4);
    let top = *ticks.last().unwrap_or(&1) as f64;
    let y = |v: u64| TOP + PLOT_H - v as f64 / top * PLOT_H;
    let slot = (WIDTH - LEFT - RIGHT) / columns.len().max(1) as f64;
    let bar_w = (slot * 0.72).max(1.0);
    let every = columns.len().div_ceil(12).max(1);
    let mut out = String::new();
    svg_open(&mut out, TOP + PLOT_H + AXIS_H, label);
    for t in &ticks {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{gy:.1}" x2="{x2:.1}" y2="{gy:.1}"/><text class="tick" x="{tx:.1}" y="{ty:.1}" text-anchor="end">{}</text>"#,
            count(*t),
            gy = y(*t),
            x2 = WIDTH - RIGHT,
            tx = LEFT - 8.0,
            ty = y(*t) + 4.0,
        );
    }
    for (i, column) in columns.iter().enumerate() {
        let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
        let mut base = 0u64;
        for (part, color) in column.parts.iter().zip(colors) {
            if *part > 0 {
                let _ = write!(
                    out,
                    r#"<rect x="{x:.1}" y="{ry:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{color}"/>"#,
                    ry = y(base + part),
                    h = y(base) - y(base + part),
                );
            }
            base += part;
        }
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text class="tick" x="{lx:.1}" y="{ly:.1}" text-anchor="middle">{}</text>"#,
                escape(&column.label),
                lx = x + bar_w / 2.0,
                ly = TOP + PLOT_H + 18.0,
            );
        }
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" y1="{base:.1}" x2="{x2:.1}" y2="{base:.1}"/></svg>"#,
        base = TOP + PLOT_H,
        x2 = WIDTH - RIGHT,
    );
    out
}

/// One bar split into proportional segments (e.g. payouts by scheme).
pub fn proportion_bar(parts: &[(u64, &str)], label: &str) -> String {
    const HEIGHT: f64 = 26.0;
    let total: u64 = parts.iter().map(|(v, _)| *v).sum();
    let mut out = String::new();
    svg_open(&mut out, HEIGHT, label);
    let mut x = 0.0;
    for (value, color) in parts.iter().filter(|(v, _)| *v > 0) {
        let w = *value as f64 / total as f64 * WIDTH;
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="0" width="{w:.1}" height="{HEIGHT}" fill="{color}"/>"#
        );
        x += w;
    }
    if total == 0 {
        let _ = write!(
            out,
            r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="{OTHER}"/>"#
        );
    }
    out.push_str("</svg>");
    out
}

/// A legend as HTML: a colour swatch and a name per series.
pub fn legend(items: &[(String, &str)]) -> String {
    let mut out = String::from(r#"<div class="legend">"#);
    for (name, color) in items {
        let _ = write!(
            out,
            r#"<span><i style="background:{color}"></i>{}</span>"#,
            escape(name)
        );
    }
    out.push_str("</div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_one_two_five() {
        assert_eq!(nice_step(0, 5), 1);
        assert_eq!(nice_step(9, 5), 2);
        assert_eq!(nice_step(23, 5), 5);
        assert_eq!(nice_step(480, 5), 100);
        assert_eq!(ticks(23, 5), vec![0, 5, 10, 15, 20, 25]);
        assert_eq!(ticks(0, 4), vec![0, 1]);
    }

    #[test]
    fn empty_charts_are_still_closed() {
        for svg in [
            horizontal_bars(&[], Scale::Count, "x"),
            stacked_columns(&[], &[], "x"),
            proportion_bar(&[], "x"),
        ] {
            assert_eq!(svg.matches("<svg").count(), 1);
            assert!(svg.ends_with("</svg>"));
        }
    }
}
