//! fundtrail-audit: the auditor's toolkit that needs no node.
//!
//! - [`report`]: stream a chain's blocks through a [`ReportBuilder`] to get
//!   an [`AuditReport`]: fund flows, rejections and signals over time, the
//!   institutions with the most rejected payout money, the disclosure log.
//! - [`html`]: the report as one offline HTML page with inline SVG charts.
//! - [`write_report`]: `report.json` and `report.html` into a directory.
//!
//! Verifying the chain is not done here: the caller runs the ledger's
//! verifier (and the contract replay) and hands the result to
//! [`ReportBuilder::finish`] as a [`Verification`]. Like the contracts, the
//! report is deterministic: the same chain and verification give the same
//! bytes.

pub mod codes;
pub mod html;
pub mod report;

use std::io;
use std::path::{Path, PathBuf};

pub use report::{AuditReport, ReportBuilder, Verification};

/// File names [`write_report`] uses.
pub const JSON_FILE: &str = "report.json";
pub const HTML_FILE: &str = "report.html";

/// Writes `report.json` and `report.html` into `dir` (created if missing)
/// and returns their paths.
pub fn write_report(dir: &Path, report: &AuditReport) -> io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let json_path = dir.join(JSON_FILE);
    let html_path = dir.join(HTML_FILE);
    let mut json = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    json.push('\n');
    std::fs::write(&json_path, json)?;
    std::fs::write(&html_path, html::render(report))?;
    Ok((json_path, html_path))
}
