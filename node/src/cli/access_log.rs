//! `fundtrail access-log verify`: checks a node's access log (操作日志)
//! offline, and against a head the node published, naming the first
//! damaged line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use fundtrail_ledger::hash::Hash32;

use crate::access_log::{self, Summary};

#[derive(Subcommand)]
pub enum AccessLogAction {
    /// Check an access log: its header, and each entry's number, link to
    /// the line before and hash. Exits non-zero naming the first damaged
    /// line (a changed byte, a removed, moved or inserted line, a cut).
    Verify {
        /// The log file (`access.log` in a node's data directory).
        file: PathBuf,
        /// A head hash (hex) kept elsewhere: the log must hold the entry
        /// with that hash, so a log cut short below it or rewritten whole
        /// is refused.
        #[arg(long)]
        head: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(action: AccessLogAction) -> Result<()> {
    match action {
        AccessLogAction::Verify { file, head, json } => verify(&file, head.as_deref(), json),
    }
}

fn verify(file: &Path, head: Option<&str>, json: bool) -> Result<()> {
    let expected = head
        .map(|h| Hash32::from_hex(h).context("--head must be a hash: 64 hex characters"))
        .transpose()?;
    let reader =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let summary = access_log::verify(reader, expected)
        .with_context(|| format!("access log {}", file.display()))?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "chain_id": summary.chain_id,
                "node_key": summary.node_key,
                "entries": summary.entries,
                "head": summary.head,
                "expected_head_at": summary.expected_head_at,
            })
        );
    } else {
        print_summary(file, &summary);
    }
    Ok(())
}

fn print_summary(file: &Path, s: &Summary) {
    println!(
        "access log {} of chain {} and node key {}: {} entries, unbroken; head: entry {} hash {}",
        file.display(),
        s.chain_id,
        s.node_key.to_hex(),
        s.entries,
        s.head.seq,
        s.head.hash
    );
    if let Some(at) = s.expected_head_at {
        println!(
            "holds the expected head as entry {at}; {} entries were appended after it",
            s.entries - at
        );
    }
}
