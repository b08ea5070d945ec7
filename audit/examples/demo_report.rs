//! Writes `report.json` and `report.html` for a seeded demo chain: the
//! contracts' workload of honest and abusive records over two months,
//! spread over six hospitals, plus a few audit disclosures.
//!
//! `cargo run -p fundtrail-audit --example demo_report -- /tmp/fundtrail-report`

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use fundtrail_audit::{write_report, ReportBuilder};
use fundtrail_ledger::block::Verdict;
use fundtrail_ledger::record::{DisclosureBody, DisclosurePurpose, RecordBody, RecordId};
use fundtrail_ledger::types::Role;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/fundtrail-report".into()),
    );
    let mut chain = common::workload_chain(2026, 40, 80);
    add_case_disclosures(&mut chain)?;

    let mut builder = ReportBuilder::new(&chain.genesis);
    for block in &chain.blocks {
        builder.add_block(block);
    }
    let report = builder.finish(chain.verify());
    let (json, html) = write_report(&dir, &report)?;
    println!("{}\n{}", json.display(), html.display());
    Ok(())
}

/// Three disclosures with case references on the first accepted payouts.
fn add_case_disclosures(chain: &mut common::TestChain) -> Result<(), Box<dyn std::error::Error>> {
    let targets: Vec<RecordId> = chain
        .records()
        .filter(|(body, verdict, _)| {
            **verdict == Verdict::Accepted && matches!(body, RecordBody::Settlement(_))
        })
        .map(|(_, _, id)| id)
        .take(3)
        .collect();
    let auditor = chain.kit().org(Role::Auditor).id.clone();
    let health = chain.kit().org(Role::Health).id.clone();
    let purposes = [
        DisclosurePurpose::FraudInvestigation,
        DisclosurePurpose::Audit,
        DisclosurePurpose::Appeal,
    ];
    let mut records = Vec::new();
    for (i, (target, purpose)) in targets.into_iter().zip(purposes).enumerate() {
        let body = RecordBody::Disclosure(DisclosureBody {
            target,
            holder: health.clone(),
            requester: auditor.clone(),
            purpose,
            case_ref: Some(format!("GD-AUD-2026-{:03}", 41 + i).parse()?),
        });
        records.push(chain.record(Role::Auditor, body, 0));
    }
    chain.block(61, records);
    Ok(())
}
