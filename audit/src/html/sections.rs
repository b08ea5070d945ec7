//! The report's sections after the funds: rejections, signals,
//! institutions, records, disclosures, anomalies and equivocations, and the
//! helpers all sections share.

use std::collections::BTreeMap;

use fundtrail_ledger::block::{Code, Verdict};
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::DisclosurePurpose;

use super::charts::{horizontal_bars, Bar, BarGroup, Scale, PALETTE};
use super::table::{html, num, text, Table};
use super::text::{count, escape, money, percent, short_hash, utc_minute};
use super::timeline;
use crate::codes::meaning;
use crate::report::{AuditReport, CodeSeries, DisclosureEntry};

pub(super) fn section(id: &str, title: &str, lead: &str, body: &str) -> String {
    format!(
        r#"<section id="{id}"><h2>{}</h2><p class="lead">{}</p>{body}</section>"#,
        escape(title),
        escape(lead)
    )
}

pub(super) fn empty(message: &str) -> String {
    format!(r#"<p class="empty">{}</p>"#, escape(message))
}

fn purpose_name(purpose: DisclosurePurpose) -> &'static str {
    match purpose {
        DisclosurePurpose::Audit => "audit",
        DisclosurePurpose::FraudInvestigation => "fraud investigation",
        DisclosurePurpose::Appeal => "appeal",
        DisclosurePurpose::ClinicalReview => "clinical review",
    }
}

pub(super) fn code_html(code: &str) -> String {
    format!("<code>{}</code>", escape(code))
}

fn verdict_badge(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Accepted => r#"<span class="badge ok">accepted</span>"#.into(),
        Verdict::Rejected { code } => {
            format!(
                r#"<span class="badge bad">{}</span>"#,
                escape(code.as_str())
            )
        }
    }
}

pub fn rejections(report: &AuditReport) -> String {
    let series = &report.rejections;
    let totals = report.record_totals();
    let lead = format!(
        "{} of {} records ({}) were rejected. Rejected records stay on the chain with their code: \
         an attempted duplicate payment is evidence, not noise.",
        count(totals.rejected),
        count(totals.total()),
        percent(totals.rejected, totals.total())
    );
    if series.totals.is_empty() {
        return section(
            "rejections",
            "Rejections",
            &lead,
            &empty("No record was rejected."),
        );
    }
    let groups: Vec<BarGroup> = series
        .ranked()
        .into_iter()
        .map(|(code, n)| BarGroup {
            label: code.to_string(),
            bars: vec![Bar {
                value: n,
                text: count(n),
                color: PALETTE[1],
            }],
        })
        .collect();
    let body = format!(
        "{}<h3>Rejections per day</h3>{}<h3>What the codes mean</h3>{}",
        horizontal_bars(&groups, Scale::Count, "Rejected records by code"),
        over_time(report, series, "Rejected records per day by code"),
        code_table(series)
    );
    section("rejections", "Rejections", &lead, &body)
}

pub fn signals(report: &AuditReport) -> String {
    let series = &report.signals;
    let lead = "Signals flag accepted claims for review (high cost, split admissions, \
                frequent change of care region; under payment by groups, upcoding, \
                low-standard admissions and readmission into the same group); they never \
                reject a record.";
    if series.totals.is_empty() {
        return section("signals", "Signals", lead, &empty("No signal was raised."));
    }
    let body = format!(
        "{}<h3>Signals per day</h3>{}",
        code_table(series),
        over_time(report, series, "Signals per day by code")
    );
    section("signals", "Signals", lead, &body)
}

fn over_time(report: &AuditReport, series: &CodeSeries, label: &str) -> String {
    match report.chain.period() {
        Some((first, last)) => timeline::codes_chart(series, first, last, label),
        None => String::new(),
    }
}

fn code_table(series: &CodeSeries) -> String {
    let total = series.total();
    let mut table = Table::new(&["Code", "Meaning", "Count#", "Share#"]);
    for (code, n) in series.ranked() {
        table.row(vec![
            html(code_html(code.as_str())),
            text(meaning(code.as_str()).unwrap_or("(not known to this build)")),
            num(count(n)),
            num(percent(n, total)),
        ]);
    }
    table.finish()
}

pub fn institutions(report: &AuditReport) -> String {
    let ranking = &report.institutions;
    let lead = format!(
        "Institutions by the amount their rejected payouts asked for ({} institutions named by claims). \
         A payout names a claim; its institution is the one on the claim record.",
        count(ranking.seen)
    );
    if ranking.top.is_empty() {
        return section(
            "institutions",
            "Institutions",
            &lead,
            &empty("No payout was rejected."),
        );
    }
    let mut table = Table::new(&[
        "#",
        "Institution",
        "Claims accepted#",
        "Claims rejected#",
        "Paid (net)#",
        "Rejected payouts#",
        "Rejected amount#",
        "Main codes",
    ]);
    for (rank, row) in ranking.top.iter().enumerate() {
        let name = match &row.institution {
            Some(i) => code_html(i.as_str()),
            None => r#"<span class="muted">unknown claim</span>"#.into(),
        };
        table.row(vec![
            num((rank + 1).to_string()),
            html(name),
            num(count(row.claims_accepted)),
            num(count(row.claims_rejected)),
            num(money(row.paid)),
            num(count(row.rejected_payouts)),
            num(money(row.rejected_amount)),
            html(main_codes(&row.rejected_by_code)),
        ]);
    }
    section("institutions", "Institutions", &lead, &table.finish())
}

fn main_codes(by_code: &BTreeMap<Code, u64>) -> String {
    let mut ranked: Vec<_> = by_code.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .iter()
        .take(3)
        .map(|(code, n)| format!("{}&nbsp;×{}", code_html(code.as_str()), count(**n)))
        .collect::<Vec<_>>()
        .join("<br>")
}

pub fn records(report: &AuditReport) -> String {
    let mut table = Table::new(&[
        "Kind",
        "Accepted#",
        "Rejected#",
        "Total#",
        "Rejected share#",
    ]);
    for (kind, c) in &report.records {
        table.row(vec![
            text(kind.name().replace('_', " ")),
            num(count(c.accepted)),
            num(count(c.rejected)),
            num(count(c.total())),
            num(percent(c.rejected, c.total())),
        ]);
    }
    let t = report.record_totals();
    table.total_row(vec![
        text("All records"),
        num(count(t.accepted)),
        num(count(t.rejected)),
        num(count(t.total())),
        num(percent(t.rejected, t.total())),
    ]);
    let over_time = match report.chain.period() {
        Some((first, last)) => format!(
            "<h3>Records per day</h3>{}",
            timeline::activity_chart(&report.activity, first, last)
        ),
        None => String::new(),
    };
    section(
        "records",
        "Records by kind",
        "Every record in the chain with the contracts' verdict.",
        &format!("{}{over_time}", table.finish()),
    )
}

pub fn disclosures(report: &AuditReport) -> String {
    let lead = "Every request to see the raw record behind an on-chain record: who asked, \
                who holds it, why, and whether the request was accepted; then every fetch \
                of a raw bill under an accepted request: which officer received it, and when.";
    if report.disclosures.is_empty() {
        return section(
            "disclosures",
            "Disclosure log",
            lead,
            &empty("No disclosure was requested."),
        );
    }
    let mut table = Table::new(&[
        "Height#",
        "Date",
        "Requester",
        "Holder",
        "Purpose",
        "Case ref",
        "Target record",
        "Outcome",
        "Fetches#",
    ]);
    for d in &report.disclosures {
        let case_ref = match &d.case_ref {
            Some(c) => code_html(c.as_str()),
            None => r#"<span class="muted">–</span>"#.into(),
        };
        table.row(vec![
            num(count(d.height.0)),
            text(crate::report::day_of(d.timestamp_ms).to_string()),
            text(d.requester.as_str()),
            text(d.holder.as_str()),
            text(purpose_name(d.purpose)),
            html(case_ref),
            html(code_html(&short_hash(&d.target.hash()))),
            html(verdict_badge(&d.verdict)),
            num(fetch_count(d)),
        ]);
    }
    let body = format!("{}{}", table.finish(), fetches(report));
    section("disclosures", "Disclosure log", lead, &body)
}

/// Accepted fetches, and refused ones in brackets.
fn fetch_count(d: &DisclosureEntry) -> String {
    let accepted = d
        .fetches
        .iter()
        .filter(|f| f.verdict == Verdict::Accepted)
        .count();
    let refused = d.fetches.len() - accepted;
    match refused {
        0 => count(accepted as u64),
        _ => format!(
            "{} (+{} refused)",
            count(accepted as u64),
            count(refused as u64)
        ),
    }
}

/// Every fetch, under its disclosure, in chain order.
fn fetches(report: &AuditReport) -> String {
    let all: Vec<_> = report
        .disclosures
        .iter()
        .flat_map(|d| d.fetches.iter().map(move |f| (d, f)))
        .collect();
    if all.is_empty() {
        return empty("No raw bill was fetched.");
    }
    let mut table = Table::new(&[
        "Height#",
        "Time",
        "Disclosure",
        "Officer key",
        "Organisation",
        "Target record",
        "Outcome",
    ]);
    for (d, f) in all {
        let org = match &f.org {
            Some(o) => text(o.as_str()),
            None => html(r#"<span class="muted">not in the genesis</span>"#),
        };
        table.row(vec![
            num(count(f.height.0)),
            text(utc_minute(f.timestamp_ms)),
            html(code_html(&short_hash(&d.record_id.hash()))),
            html(code_html(&short_hash(&Hash32(f.officer.0)))),
            org,
            html(code_html(&short_hash(&d.target.hash()))),
            html(verdict_badge(&f.verdict)),
        ]);
    }
    format!("<h3>Fetches of raw bills</h3>{}", table.finish())
}

pub fn anomalies(report: &AuditReport) -> String {
    let a = &report.anomalies;
    if a.is_empty() {
        return String::new();
    }
    let mut table = Table::new(&["Height#", "Record", "What"]);
    for anomaly in &a.listed {
        let record = match &anomaly.record {
            Some(r) => code_html(&short_hash(&r.hash())),
            None => r#"<span class="muted">–</span>"#.into(),
        };
        table.row(vec![
            num(count(anomaly.height.0)),
            html(record),
            text(anomaly.kind.to_string()),
        ]);
    }
    let mut body = table.finish();
    if a.omitted > 0 {
        body.push_str(&empty(&format!("… and {} more.", count(a.omitted))));
    }
    section(
        "anomalies",
        "Anomalies",
        "Things a chain that passes contract replay never contains. Each deserves a look.",
        &body,
    )
}

pub fn equivocations(report: &AuditReport) -> String {
    let title = "Equivocations";
    let lead = "Department nodes that attested a block other than the chain's at a height: \
                honest nodes attest only the block they applied, so each row is signed \
                evidence against that node.";
    let e = &report.equivocations;
    if e.is_empty() {
        return section(
            "equivocations",
            title,
            lead,
            &empty("None: no node attested a block other than the chain's."),
        );
    }
    let mut table = Table::new(&[
        "Height#",
        "Organisation",
        "Node key",
        "Chain's block",
        "Other block",
        "Signed both",
    ]);
    for entry in &e.listed {
        let org = entry.org.as_ref().map_or("unknown", |o| o.as_str());
        table.row(vec![
            num(count(entry.height.0)),
            text(org),
            html(code_html(&entry.node_key.short())),
            html(code_html(&short_hash(&entry.chain_block.hash()))),
            html(code_html(&short_hash(&entry.conflicting_block.hash()))),
            text(if entry.attested_chain_block {
                "yes"
            } else {
                "no"
            }),
        ]);
    }
    let mut body = table.finish();
    if e.omitted > 0 {
        body.push_str(&empty(&format!("… and {} more.", count(e.omitted))));
    }
    section("equivocations", title, lead, &body)
}
