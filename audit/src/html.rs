//! The report as one self-contained HTML page: inline CSS and inline SVG
//! charts, no script, and no reference to anything outside the file, so it
//! opens the same on an air-gapped machine and prints cleanly.
//!
//! Every piece of text from the report is escaped. The page shows no person
//! or claim pseudonym at all and record ids only in a short form.

mod charts;
mod funds;
mod payment;
mod sections;
mod table;
mod text;
mod timeline;

use crate::report::{AuditReport, Verification};
use text::{count, escape, money, percent, short_hash};

const STYLE: &str = include_str!("html/style.css");

/// Renders the whole page.
pub fn render(report: &AuditReport) -> String {
    let parts = [
        head(report),
        masthead(report),
        r#"<main><div class="wrap">"#.to_string(),
        verdict(&report.verification),
        kpis(report),
        funds::funds(report),
        sections::rejections(report),
        sections::signals(report),
        sections::institutions(report),
        payment::payment(report),
        sections::records(report),
        sections::disclosures(report),
        sections::anomalies(report),
        sections::equivocations(report),
        "</div></main>".to_string(),
        footer(report),
        "</body></html>\n".to_string(),
    ];
    parts.concat()
}

fn head(report: &AuditReport) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Audit report · {}</title>
<style>{STYLE}</style></head><body>"#,
        escape(report.chain.chain_id.as_str())
    )
}

fn masthead(report: &AuditReport) -> String {
    let chain = &report.chain;
    let period = match chain.period() {
        Some((first, last)) => format!("{first} – {last}"),
        None => "no blocks".into(),
    };
    let v = &report.verification;
    let attested = match v.min_attesting_orgs {
        Some(0) => "none".into(),
        Some(n) => format!("≥ {n} orgs per block"),
        None => "not recorded".into(),
    };
    let facts = [
        ("Chain", chain.chain_id.to_string()),
        ("Period (UTC)", period),
        ("Blocks", count(chain.blocks)),
        ("Head height", count(chain.last_height.0)),
        ("Genesis hash", short_hash(&chain.genesis_hash)),
        ("Head hash", short_hash(&v.head_hash)),
        ("State root", short_hash(&v.state_root)),
        ("Attestations", attested),
    ];
    let dl: String = facts
        .iter()
        .map(|(k, v)| format!("<div><dt>{}</dt><dd>{}</dd></div>", escape(k), escape(v)))
        .collect();
    format!(
        r#"<header class="masthead"><div class="wrap"><div class="eyebrow">fundtrail · medical-protection fund ledger</div><h1>Audit report</h1><dl>{dl}</dl></div></header>"#
    )
}

fn verdict(v: &Verification) -> String {
    let (class, mark, title, detail) = match (v.ok, v.contracts_replayed) {
        (true, true) => (
            "ok",
            "✓",
            "Chain verified",
            "Hash links, Merkle roots, every record, approval and attestation signature checked, \
             and every outcome re-executed by the contracts: the figures below are what the rules decided.",
        ),
        (true, false) => (
            "warn",
            "!",
            "Ledger verified, outcomes not re-executed",
            "Hash links, Merkle roots and signatures hold, but the outcomes below are taken as recorded.",
        ),
        (false, _) => (
            "bad",
            "✗",
            "Verification failed",
            "The figures below come from the blocks as recorded and must not be relied on.",
        ),
    };
    let error = match (&v.error, v.ok) {
        (Some(e), _) => format!(r#"<p class="mono">{}</p>"#, escape(e)),
        (None, false) => "<p>The verifier reported a failure without details.</p>".into(),
        (None, true) => String::new(),
    };
    format!(
        r#"<div class="verdict {class}"><div class="mark">{mark}</div><div><strong>{}</strong>{error}<p>{}</p><p class="muted">{}</p></div></div>"#,
        escape(title),
        escape(detail),
        escape(&verification_scope(v))
    )
}

fn verification_scope(v: &Verification) -> String {
    let attestations = v.attestation_quorum;
    let checkpoint = v.checkpoint.as_ref().map_or(String::new(), |c| {
        format!(
            " Checked against the checkpoint of {} blocks (root {}) signed by {}: {}.",
            count(c.size),
            c.root,
            c.signers.join(", "),
            c.verdict
        )
    });
    format!(
        "{} blocks and {} records checked up to height {}; {attestations}.{checkpoint}",
        count(v.blocks),
        count(v.records),
        count(v.head_height.0),
    )
}

fn kpis(report: &AuditReport) -> String {
    let totals = report.record_totals();
    let cards = [
        (
            "Records",
            count(totals.total()),
            format!("{} accepted", count(totals.accepted)),
        ),
        (
            "Rejected",
            count(totals.rejected),
            format!("{} of records", percent(totals.rejected, totals.total())),
        ),
        (
            "Net payouts (¥)",
            money(report.payouts.total),
            "accepted, minus reversals".to_string(),
        ),
        (
            "Signals",
            count(report.signals.total()),
            format!("{} codes", report.signals.totals.len()),
        ),
        (
            "Disclosures",
            count(report.disclosures.len() as u64),
            "requests to see raw records".to_string(),
        ),
    ];
    let inner: String = cards
        .iter()
        .map(|(k, v, s)| {
            format!(
                r#"<div class="kpi"><div class="k">{}</div><div class="v">{}</div><div class="s">{}</div></div>"#,
                escape(k),
                escape(v),
                escape(s)
            )
        })
        .collect();
    format!(r#"<div class="kpis">{inner}</div>"#)
}

fn footer(report: &AuditReport) -> String {
    format!(
        r#"<footer><div class="wrap">Generated offline by fundtrail-audit (report format {}) from chain <code>{}</code>, genesis <code>{}</code>, up to height {}. Amounts are in yuan (CNY). No person or claim identifier appears in this report; record ids are shortened.</div></footer>"#,
        report.version,
        escape(report.chain.chain_id.as_str()),
        escape(&short_hash(&report.chain.genesis_hash)),
        count(report.chain.last_height.0)
    )
}
