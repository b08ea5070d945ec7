//! Determinism without a database: the same records give the same state
//! roots in two independent executions, the second of which is serialised to
//! bytes half-way, dropped, and resumed from those bytes alone; the
//! workload includes payment by groups and a period settlement in the
//! second half. (The RocksDB version of this test is
//! tests/tests/contracts_determinism.rs.)

use std::collections::BTreeMap;

use fundtrail_contracts::{execute_block, BlockContext, MemoryState};
use fundtrail_ledger::block::StateWrite;
use fundtrail_ledger::block::Verdict;
use fundtrail_ledger::codec;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::RecordKind;
use fundtrail_ledger::types::Height;
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::Harness;

const BLOCKS: usize = 30;
const PER_BLOCK: usize = 150;

#[test]
fn resume_from_persisted_bytes_reaches_the_same_roots() {
    let mut first = Harness::new(7);
    let mut w = Workload::new(4242, 200, false).with_group_payment(BLOCKS / 2 + 2);
    let mut blocks = Vec::new();
    let mut roots_a = Vec::new();
    let mut seen = BTreeMap::new();
    for _ in 0..BLOCKS {
        let records = w.block(&first.state, PER_BLOCK);
        for (r, o) in records.iter().zip(first.block(&records).outcomes) {
            let verdict = match o.verdict {
                Verdict::Accepted => "ACCEPTED".to_string(),
                Verdict::Rejected { code } => code.to_string(),
            };
            *seen.entry((r.kind(), verdict)).or_insert(0) += 1;
        }
        roots_a.push(first.root);
        blocks.push(records);
    }
    // The run covers payment by groups: policies, grouped cases, the
    // settlement (and a wrong one), and cases refused for their group or
    // after the year closed.
    let count = |kind: RecordKind, verdict: &str| seen.get(&(kind, verdict.to_string())).copied();
    assert_eq!(count(RecordKind::PaymentPolicy, "ACCEPTED"), Some(2));
    assert_eq!(count(RecordKind::PeriodSettlement, "ACCEPTED"), Some(1));
    assert_eq!(
        count(RecordKind::PeriodSettlement, "SETTLEMENT_MISMATCH"),
        Some(1)
    );
    assert!(count(RecordKind::Claim, "UNKNOWN_GROUP") > Some(0));
    assert!(count(RecordKind::Claim, "ALREADY_SETTLED") > Some(0));

    let mut second = Harness::new(7);
    let mut roots_b = Vec::new();
    for records in &blocks[..BLOCKS / 2] {
        second.block(records);
        roots_b.push(second.root);
    }
    // "Persist": every entry and the head, as bytes; then drop the run.
    let entries: Vec<StateWrite> = second
        .state
        .iter()
        .map(|(k, v)| (k.to_vec(), Some(v.to_vec())))
        .collect();
    let persisted = codec::encode(&(entries, second.root, second.height));
    drop(second);

    let (entries, mut root, mut height): (Vec<StateWrite>, Hash32, Height) =
        codec::decode("persisted state", &persisted).unwrap();
    let mut state = MemoryState::new();
    state.apply(&entries);
    for records in &blocks[BLOCKS / 2..] {
        height = height.next();
        let ctx = BlockContext {
            height,
            timestamp_ms: Harness::timestamp_ms(height),
            prev_state_root: root,
        };
        let exec = execute_block(&ctx, records, &state).unwrap();
        state.apply(&exec.writes);
        root = exec.state_root;
        roots_b.push(root);
    }
    assert_eq!(roots_a, roots_b);
    assert_eq!(state, first.state);
}
