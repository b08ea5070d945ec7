//! Determinism: the same records give the same state root in two
//! independent executions — one in memory from genesis to the end, one on
//! the RocksDB store that is closed and reopened half-way and continues from
//! the persisted state alone. The workload includes payment by groups, with
//! the period settlement before the restart.

use fundtrail_contracts::{execute_block, genesis_state, genesis_state_root, BlockContext};
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::store::{Durability, Store};
use fundtrail_ledger::types::{Height, Role};
use fundtrail_ledger::verify::BlockDraft;
use fundtrail_node::chain::StoreState;
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::Harness;

const BLOCKS: usize = 24;
const PER_BLOCK: usize = 150;

/// Executes one block on the store and commits it with its writes.
fn commit_on_store(
    store: &Store,
    records: &[SignedRecord],
    proposer: fundtrail_ledger::PublicKey,
) -> Hash32 {
    let head = store.head().unwrap();
    let height = head.height.next();
    let ctx = BlockContext {
        height,
        timestamp_ms: head.timestamp_ms + 1_000,
        prev_state_root: head.state_root,
    };
    let exec = execute_block(&ctx, records, &StoreState(store)).unwrap();
    let block = BlockDraft {
        chain_id: store.genesis().chain_id.clone(),
        height,
        prev_hash: head.hash,
        timestamp_ms: ctx.timestamp_ms,
        proposer,
        rules_version: exec.rules_version,
        state_root: exec.state_root,
        records: records.to_vec(),
        outcomes: exec.outcomes,
    }
    .seal();
    store
        .commit_block(&block, &exec.writes, &[], Durability::Synced)
        .unwrap()
        .state_root
}

#[test]
fn restart_mid_way_reaches_the_same_state_roots() {
    // Run A: in memory, generating the records as it goes.
    let mut memory = Harness::new(7);
    let mut workload = Workload::new(99, 200, true).with_group_payment(BLOCKS / 2 - 3);
    let mut blocks = Vec::new();
    let mut roots_a = Vec::new();
    for _ in 0..BLOCKS {
        let records = workload.block(&memory.state, PER_BLOCK);
        memory.block(&records);
        roots_a.push(memory.root);
        blocks.push(records);
    }

    // Run B: on the store, closed and reopened after half the blocks.
    let dir = tempfile::tempdir().unwrap();
    let genesis = memory.kit.genesis();
    let proposer = memory.kit.org(Role::Insurance).submitter.public();
    let mut roots_b = Vec::new();
    {
        let store = Store::create(dir.path(), &genesis, genesis_state_root(&genesis)).unwrap();
        let state_cf = store.cf(fundtrail_ledger::store::cf::STATE);
        for (k, v) in genesis_state(&genesis) {
            store.db().put_cf(state_cf, k, v.unwrap()).unwrap();
        }
        for records in &blocks[..BLOCKS / 2] {
            roots_b.push(commit_on_store(&store, records, proposer));
        }
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head().unwrap().height, Height((BLOCKS / 2) as u64));
    assert_eq!(store.head().unwrap().state_root, roots_a[BLOCKS / 2 - 1]);
    for records in &blocks[BLOCKS / 2..] {
        roots_b.push(commit_on_store(&store, records, proposer));
    }

    assert_eq!(roots_a, roots_b);
    // Every value of the in-memory state is in the store, byte for byte.
    for (k, v) in memory.state.iter() {
        assert_eq!(store.state_get(k).unwrap().as_deref(), Some(v));
    }
    // The period settlement of the first half was accepted and replayed.
    let year = fundtrail_contracts::model::key::payment_year(&"440100".parse().unwrap(), 2026);
    let settled: fundtrail_contracts::model::PaymentYear =
        fundtrail_ledger::codec::decode("payment year", &store.state_get(&year).unwrap().unwrap())
            .unwrap();
    assert!(settled.settled.is_some());
    // And the roots are not trivially equal: every block changed state.
    let mut distinct = roots_a.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), BLOCKS);
}
