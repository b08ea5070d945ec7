//! The cluster benchmark's figures: rates and latency percentiles overall,
//! by 10 s window and by step of committed records; each node's bytes on
//! disk and CPU split per record at each sample; the curve as an SVG.

use std::fmt::Write as _;
use std::time::Duration;

/// One answered submission.
pub struct Done {
    /// When the answer came, since the clock started.
    pub at: Duration,
    /// Submit-to-commit latency of each of its records.
    pub took: Duration,
    pub committed: usize,
}

/// Every node's figures at one moment of the run.
pub struct Sample {
    /// Records the clients had seen committed.
    pub committed: usize,
    pub at: Duration,
    pub nodes: Vec<NodeSample>,
}

pub struct NodeSample {
    pub org: String,
    pub data_dir: u64,
    /// `fundtrail_store_bytes` by family.
    pub families: Vec<(String, f64)>,
    /// `fundtrail_cpu_seconds` by part.
    pub cpu: Vec<(String, f64)>,
}

/// The samples of one labelled metric on a metrics page, e.g. `prefix` =
/// `fundtrail_store_bytes{family="`.
pub fn labelled_in(page: &str, prefix: &str) -> Vec<(String, f64)> {
    page.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|l| {
            let (label, value) = l.split_once("\"} ")?;
            Some((label.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The span the committed rate is also reported over, to show it is
/// sustained rather than an average over bursts.
const WINDOW: Duration = Duration::from_secs(10);

/// One step of committed records.
pub struct Step {
    /// Records committed before it.
    pub from: usize,
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
}

pub struct Figures {
    committed: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    windows: Vec<usize>,
    pub steps: Vec<Step>,
    step: usize,
}

impl Figures {
    pub fn new(dones: &[Done], step: usize) -> Figures {
        let mut dones: Vec<&Done> = dones.iter().collect();
        dones.sort_by_key(|d| d.at);
        let committed = dones.iter().map(|d| d.committed).sum();
        let elapsed = dones.last().map_or(Duration::ZERO, |d| d.at);
        let all: Vec<(Duration, usize)> = dones.iter().map(|d| (d.took, d.committed)).collect();
        let mut windows = Vec::new();
        for d in &dones {
            let w = (d.at.as_secs_f64() / WINDOW.as_secs_f64()) as usize;
            if windows.len() <= w {
                windows.resize(w + 1, 0);
            }
            windows[w] += d.committed;
        }
        let full = (elapsed.as_secs_f64() / WINDOW.as_secs_f64()) as usize;
        windows.truncate(full);
        Figures {
            committed,
            elapsed,
            p50: percentile(&all, 0.50),
            p99: percentile(&all, 0.99),
            windows,
            steps: steps(&dones, step.max(1)),
            step: step.max(1),
        }
    }

    pub fn rate(&self) -> f64 {
        self.committed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn print_totals(&self, limit: f64) {
        println!(
            "committed: {} records in {:.0} s, {:.0} records/s",
            self.committed,
            self.elapsed.as_secs_f64(),
            self.rate()
        );
        println!(
            "submit-to-commit latency: p50 {:.0} ms, p99 {:.0} ms",
            ms(self.p50),
            ms(self.p99)
        );
        println!(
            "ratio: committed / batch verify = {:.3} (limit {:.0} signatures/s)",
            self.rate() / limit,
            limit
        );
    }

    pub fn print_windows(&self) {
        let per: Vec<String> = self
            .windows
            .iter()
            .map(|n| format!("{:.0}", *n as f64 / WINDOW.as_secs_f64()))
            .collect();
        println!(
            "records/s in each {} s window: {}",
            WINDOW.as_secs(),
            per.join(", ")
        );
    }

    pub fn print_steps(&self) {
        let Some(first) = self.steps.first() else {
            return;
        };
        println!("by step of {} records:", self.step);
        println!("  records             records/s  vs first  p50 ms  p99 ms");
        for s in &self.steps {
            println!(
                "  {:>8} - {:<8}  {:>9.0}  {:>7.1}%  {:>6.0}  {:>6.0}",
                s.from,
                s.from + self.step,
                s.rate,
                (s.rate / first.rate - 1.0) * 100.0,
                ms(s.p50),
                ms(s.p99)
            );
        }
    }

    /// Records/s and p99 by step, as an SVG chart.
    pub fn svg(&self, nodes: usize, limit: f64) -> String {
        curve_svg(&self.steps, (self.step, nodes), limit, self.rate())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The latency below which `p` of the records were answered; each
/// submission weighs as many records as it committed.
fn percentile(latencies: &[(Duration, usize)], p: f64) -> Duration {
    let mut sorted: Vec<(Duration, usize)> = latencies.to_vec();
    sorted.sort();
    let total: usize = sorted.iter().map(|(_, n)| n).sum();
    let wanted = (total as f64 * p).ceil().max(1.0) as usize;
    let mut seen = 0;
    for (took, n) in sorted {
        seen += n;
        if seen >= wanted {
            return took;
        }
    }
    Duration::ZERO
}

/// The whole steps of `dones` (sorted by time): the rate over the time the
/// step's records took to commit, and the latencies of the submissions
/// whose records began the step's count.
fn steps(dones: &[&Done], step: usize) -> Vec<Step> {
    let mut out = Vec::new();
    let (mut seen, mut began_at) = (0usize, Duration::ZERO);
    let mut latencies = Vec::new();
    for d in dones {
        latencies.push((d.took, d.committed));
        seen += d.committed;
        let from = out.len() * step;
        if seen >= from + step {
            let took = d.at.saturating_sub(began_at).as_secs_f64().max(1e-9);
            out.push(Step {
                from,
                rate: (seen - from) as f64 / took,
                p50: percentile(&latencies, 0.50),
                p99: percentile(&latencies, 0.99),
            });
            latencies.clear();
            began_at = d.at;
        }
    }
    out
}

/// Each node's bytes on disk per record at each sample, and its CPU time
/// per record, by part, since the sample before; a sample less than a
/// tenth of a `step` after the one before says too little to print.
pub fn print_samples(samples: &[Sample], step: usize) {
    for pair in samples.windows(2) {
        let (before, now) = (&pair[0], &pair[1]);
        let records = now.committed.saturating_sub(before.committed);
        if records < (step / 10).max(1) || now.committed == 0 {
            continue;
        }
        println!(
            "at {} records ({:.0} s); CPU per record since {}:",
            now.committed,
            now.at.as_secs_f64(),
            before.committed
        );
        for (node, prev) in now.nodes.iter().zip(&before.nodes) {
            println!(
                "  {}: {}; CPU {}",
                node.org,
                disk_per_record(node, now.committed),
                cpu_per_record(node, prev, records)
            );
        }
    }
}

fn disk_per_record(node: &NodeSample, committed: usize) -> String {
    let per = |bytes: f64| bytes / committed as f64;
    let mut families: Vec<&(String, f64)> = node
        .families
        .iter()
        .filter(|(_, b)| per(*b) >= 0.5)
        .collect();
    families.sort_by(|a, b| b.1.total_cmp(&a.1));
    let listed: Vec<String> = families
        .iter()
        .map(|(f, b)| format!("{f} {:.0}", per(*b)))
        .collect();
    let listed = if listed.is_empty() {
        "none flushed yet".to_string()
    } else {
        listed.join(", ")
    };
    format!(
        "disk {:.0} B/record (SST and blob files: {listed})",
        per(node.data_dir as f64)
    )
}

fn cpu_per_record(node: &NodeSample, before: &NodeSample, records: usize) -> String {
    let earlier = |part: &str| {
        before
            .cpu
            .iter()
            .find(|(p, _)| p == part)
            .map_or(0.0, |(_, s)| *s)
    };
    let micros = |part: &str, seconds: f64| (seconds - earlier(part)) * 1e6 / records as f64;
    let total = node
        .cpu
        .iter()
        .find(|(p, _)| p == "total")
        .map_or(0.0, |(p, s)| micros(p, *s));
    let parts: Vec<String> = node
        .cpu
        .iter()
        .filter(|(p, _)| p != "total")
        .map(|(p, s)| format!("{p} {:.1}", micros(p, *s)))
        .collect();
    format!("{total:.1} µs/record = {}", parts.join(", "))
}

/// The chart: records/s of each step, the band within 15 % of the first
/// step, and each step's p99 latency below it.
fn curve_svg(steps: &[Step], (step, nodes): (usize, usize), limit: f64, mean: f64) -> String {
    let (w, h, left, top) = (720.0, 420.0, 70.0, 40.0);
    let (plot_w, rate_h, lat_h, gap) = (w - left - 20.0, 200.0, 100.0, 40.0);
    let n = steps.len().max(1) as f64;
    let max_rate = steps.iter().map(|s| s.rate).fold(mean, f64::max) * 1.15;
    let max_p99 = steps.iter().map(|s| ms(s.p99)).fold(1000.0, f64::max) * 1.1;
    let x = |i: usize| left + plot_w * (i as f64 + 0.5) / n;
    let y_rate = |r: f64| top + rate_h * (1.0 - r / max_rate);
    let lat_top = top + rate_h + gap;
    let y_lat = |l: f64| lat_top + lat_h * (1.0 - l / max_p99);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="{w}" height="{h}" fill="white"/>
<text x="{left}" y="20" font-size="14">Committed records/s per {step} records ({nodes} nodes); mean {mean:.0}/s, limit {limit:.0} signatures/s, ratio {:.3}</text>
"#,
        mean / limit
    );
    if let Some(first) = steps.first() {
        let band_top = y_rate(first.rate * 1.15);
        let band_h = y_rate(first.rate * 0.85) - band_top;
        let _ = writeln!(
            s,
            r##"<rect x="{left}" y="{band_top:.1}" width="{plot_w}" height="{band_h:.1}" fill="#e6f2e6"/><text x="{:.1}" y="{:.1}" fill="#4a7">within 15 % of the first step</text>"##,
            left + 4.0,
            band_top + 14.0
        );
    }
    let axis = |s: &mut String, y0: f64, hgt: f64, max: f64, label: &str| {
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y0}" x2="{left}" y2="{:.1}" stroke="#333"/><line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/><text x="8" y="{:.1}">{label}</text><text x="{:.1}" y="{:.1}" text-anchor="end">{max:.0}</text><text x="{:.1}" y="{:.1}" text-anchor="end">0</text>"##,
            y0 + hgt,
            y0 + hgt,
            left + plot_w,
            y0 + hgt,
            y0 + hgt / 2.0,
            left - 4.0,
            y0 + 10.0,
            left - 4.0,
            y0 + hgt
        );
    };
    axis(&mut s, top, rate_h, max_rate, "records/s");
    axis(&mut s, lat_top, lat_h, max_p99, "p99 ms");
    let line = |s: &mut String, points: Vec<(f64, f64)>, colour: &str| {
        let path: Vec<String> = points
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for (a, b) in points {
            let _ = writeln!(
                s,
                r#"<circle cx="{a:.1}" cy="{b:.1}" r="3" fill="{colour}"/>"#
            );
        }
    };
    line(
        &mut s,
        steps
            .iter()
            .enumerate()
            .map(|(i, st)| (x(i), y_rate(st.rate)))
            .collect(),
        "#1f5fa8",
    );
    let one_second = y_lat(1000.0);
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{one_second:.1}" x2="{:.1}" y2="{one_second:.1}" stroke="#c33" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="#c33" text-anchor="end">1 s</text>"##,
        left + plot_w,
        left + plot_w,
        one_second - 3.0
    );
    line(
        &mut s,
        steps
            .iter()
            .enumerate()
            .map(|(i, st)| (x(i), y_lat(ms(st.p99))))
            .collect(),
        "#a8611f",
    );
    for (i, st) in steps.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(i),
            lat_top + lat_h + 16.0,
            millions(st.from + step)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">records committed at the step's end</text></svg>"#,
        left + plot_w / 2.0,
        h - 8.0
    );
    s
}

fn millions(records: usize) -> String {
    if records % 1_000_000 == 0 {
        format!("{}M", records / 1_000_000)
    } else {
        format!("{:.1}M", records as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(at_ms: u64, took_ms: u64, committed: usize) -> Done {
        Done {
            at: Duration::from_millis(at_ms),
            took: Duration::from_millis(took_ms),
            committed,
        }
    }

    #[test]
    fn labelled_samples_are_read_from_a_metrics_page() {
        let page = "# HELP fundtrail_store_bytes Bytes on disk\n\
                    fundtrail_store_bytes{family=\"records\"} 1234\n\
                    fundtrail_cpu_seconds{part=\"contracts\"} 1.5\n\
                    fundtrail_head_height 7\n";
        assert_eq!(
            labelled_in(page, "fundtrail_store_bytes{family=\""),
            vec![("records".to_string(), 1234.0)]
        );
        assert_eq!(
            labelled_in(page, "fundtrail_cpu_seconds{part=\""),
            vec![("contracts".to_string(), 1.5)]
        );
    }

    #[test]
    fn percentiles_weigh_each_submission_by_its_records() {
        let l = [
            (Duration::from_millis(10), 98),
            (Duration::from_millis(900), 2),
        ];
        assert_eq!(percentile(&l, 0.50), Duration::from_millis(10));
        assert_eq!(percentile(&l, 0.98), Duration::from_millis(10));
        assert_eq!(percentile(&l, 0.99), Duration::from_millis(900));
    }

    #[test]
    fn steps_take_their_rate_from_when_their_records_committed() {
        // 100 records per 1 s for 2 s, then 100 per 2 s: steps of 200.
        let dones = [
            done(1000, 50, 100),
            done(2000, 50, 100),
            done(4000, 70, 100),
            done(6000, 900, 100),
            done(7000, 10, 50),
        ];
        let f = Figures::new(&dones, 200);
        assert_eq!(f.steps.len(), 2, "the last 50 records make no whole step");
        assert!((f.steps[0].rate - 100.0).abs() < 1e-9);
        assert!((f.steps[1].rate - 50.0).abs() < 1e-9);
        assert_eq!(f.steps[1].p99, Duration::from_millis(900));
        assert_eq!(f.steps[0].p99, Duration::from_millis(50));
        assert_eq!(f.committed, 450);
        let svg = f.svg(3, 150_000.0);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 4);
    }
}
