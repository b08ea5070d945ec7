//! Replay of payment by groups. A chain whose workload pays by groups
//! (payment policies, grouped claims, a period settlement and a wrong one)
//! audits clean; a settlement whose recorded verdict or amounts were
//! changed, re-sealed and re-attested (as a colluding quorum of nodes
//! could), passes the ledger's checks and fails the contract replay at
//! that record.

use fundtrail_contracts::{AuditError, AuditReport, Auditor, ReplayErrorKind};
use fundtrail_ledger::block::{outcomes_root, records_root, Attestation, Block, Verdict};
use fundtrail_ledger::record::RecordBody;
use fundtrail_ledger::types::{Amount, Height, Role};
use fundtrail_ledger::verify::ChainVerifier;
use fundtrail_ledger::Genesis;
use fundtrail_testkit::chain::{attest, node_keys, ChainBuilder, DEPARTMENTS};
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::Kit;

const BLOCKS: usize = 10;
const PER_BLOCK: usize = 150;
const SETTLES_AT: usize = 6;

struct Chain {
    genesis: Genesis,
    entries: Vec<(Block, Vec<Attestation>)>,
}

fn chain() -> Chain {
    let workload = Workload::new(41, 150, true).with_group_payment(SETTLES_AT);
    let mut b = ChainBuilder::with_workload(workload);
    let entries = (0..BLOCKS)
        .map(|_| {
            let records = b.workload_records(PER_BLOCK);
            b.seal(records)
        })
        .collect();
    Chain {
        genesis: b.genesis.clone(),
        entries,
    }
}

fn audit(chain: &Chain) -> Result<AuditReport, AuditError> {
    let mut auditor = Auditor::new(chain.genesis.clone())?.require_attesting_orgs(DEPARTMENTS);
    auditor.audit_blocks(chain.entries.clone())?;
    auditor.finish(Height(chain.entries.len() as u64))
}

fn ledger_passes(chain: &Chain) {
    let mut verifier = ChainVerifier::new(chain.genesis.clone())
        .unwrap()
        .require_attesting_orgs(DEPARTMENTS);
    verifier.verify_blocks(chain.entries.clone()).unwrap();
}

fn reseal(chain: &mut Chain, index: usize) {
    let block = &mut chain.entries[index].0;
    block.header.records_root = records_root(&block.records);
    block.header.outcomes_root = outcomes_root(&block.outcomes);
    let nodes = node_keys();
    for k in index..chain.entries.len() {
        if k > index {
            chain.entries[k].0.header.prev_hash = chain.entries[k - 1].0.hash().hash();
        }
        chain.entries[k].1 = attest(&nodes, &chain.entries[k].0);
    }
}

/// The settlement block's period settlements: `(index, accepted)`.
fn settlements(chain: &Chain) -> Vec<(usize, bool)> {
    let block = &chain.entries[SETTLES_AT].0;
    block
        .records
        .iter()
        .zip(&block.outcomes)
        .enumerate()
        .filter(|(_, (r, _))| matches!(r.envelope.body, RecordBody::PeriodSettlement(_)))
        .map(|(i, (_, o))| (i, o.is_accepted()))
        .collect()
}

#[test]
fn a_chain_paying_by_groups_audits_clean() {
    let chain = chain();
    assert_eq!(settlements(&chain), [(0, false), (1, true)]);
    let report = audit(&chain).unwrap();
    assert_eq!(report.blocks, BLOCKS as u64);
}

#[test]
fn a_refused_settlement_recorded_as_accepted_fails_replay() {
    let mut chain = chain();
    let block = &mut chain.entries[SETTLES_AT].0;
    block.outcomes[0].verdict = Verdict::Accepted;
    // The honest settlement after it would then be refused as settled.
    reseal(&mut chain, SETTLES_AT);
    ledger_passes(&chain);
    let Err(AuditError::Replay(e)) = audit(&chain) else {
        panic!("expected a replay error");
    };
    assert_eq!(e.height, Height(SETTLES_AT as u64 + 1));
    let ReplayErrorKind::Verdict {
        index,
        recorded: Verdict::Accepted,
        replayed: Verdict::Rejected { code },
    } = &e.kind
    else {
        panic!("expected accepted-versus-rejected, got {e}");
    };
    assert_eq!((*index, code.as_str()), (0, "SETTLEMENT_MISMATCH"));
}

#[test]
fn settlement_amounts_changed_and_re_signed_fail_replay() {
    let mut chain = chain();
    let kit = Kit::new(fundtrail_testkit::workload::WORKLOAD_KIT);
    let insurance = &kit.org(Role::Insurance).submitter;
    let block = &mut chain.entries[SETTLES_AT].0;
    let mut envelope = block.records[1].envelope.clone();
    let RecordBody::PeriodSettlement(body) = &mut envelope.body else {
        panic!("the honest settlement is second");
    };
    assert!(
        body.lines.len() > 1,
        "a settlement among several institutions"
    );
    // One fen from the first institution to the second: still the budget.
    let fen = Amount::from_fen(1).unwrap();
    body.lines[0].amount = body.lines[0].amount.checked_sub(fen).unwrap();
    body.lines[1].amount = body.lines[1].amount.checked_add(fen).unwrap();
    let resigned = envelope.sign(insurance);
    block.outcomes[1].record_id = resigned.id();
    block.records[1] = resigned.clone();
    reseal(&mut chain, SETTLES_AT);
    ledger_passes(&chain);
    let Err(AuditError::Replay(e)) = audit(&chain) else {
        panic!("expected a replay error");
    };
    assert_eq!(
        (e.height, e.record),
        (Height(SETTLES_AT as u64 + 1), Some(resigned.id()))
    );
    let ReplayErrorKind::Verdict {
        replayed: Verdict::Rejected { code },
        ..
    } = &e.kind
    else {
        panic!("expected accepted-versus-rejected, got {e}");
    };
    assert_eq!(code.as_str(), "SETTLEMENT_MISMATCH");
}
