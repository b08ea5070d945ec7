//! A store written in key layout 1 (records under their ids, blocks listing
//! record ids, index entries holding record ids) is moved to the current
//! layout when opened: every block, record, index page and the exported
//! chain read back as before, and a move cut short resumes where it
//! stopped.

use fundtrail_ledger::block::{BlockHeader, Outcome};
use fundtrail_ledger::codec;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{RecordId, SignedRecord};
use fundtrail_ledger::store::{cf, ChainPosition, Durability, Store};
use fundtrail_ledger::types::Height;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::Kit;
use rocksdb::IteratorMode;
use serde::Serialize;

const BLOCKS: u64 = 4;

#[derive(Serialize)]
struct BlockV1<'a> {
    header: &'a BlockHeader,
    record_ids: Vec<RecordId>,
}

#[derive(Serialize)]
struct RecordV1<'a> {
    height: Height,
    index: u32,
    record: &'a SignedRecord,
    outcome: &'a Outcome,
}

/// Everything a reader sees of a store: its export, every record by id,
/// and the claim and fund listings.
#[derive(Debug, PartialEq)]
struct Seen {
    export: Vec<u8>,
    records: Vec<Option<(Height, u32, RecordId)>>,
    claims: Vec<Vec<ChainPosition>>,
    funds: Vec<Vec<ChainPosition>>,
}

fn seen(store: &Store, ids: &[RecordId]) -> Seen {
    let mut export = Vec::new();
    store.export(&mut export).expect("export");
    let mut claims = Vec::new();
    let mut funds = Vec::new();
    for id in ids {
        let entry = store.record(id).expect("read").expect("held");
        let body = &entry.record.envelope.body;
        if let Some(c) = body.claim() {
            claims.push(store.claim_page(&c, None, 100).expect("page").positions);
        }
        for f in body.funds() {
            funds.push(store.fund_page(f, None, 100).expect("page").positions);
        }
    }
    let records = ids
        .iter()
        .map(|id| {
            let e = store.record(id).expect("read")?;
            Some((e.height, e.index, e.outcome.record_id))
        })
        .collect();
    Seen {
        export,
        records,
        claims,
        funds,
    }
}

/// Rewrites blocks `from..=BLOCKS` of the store at `dir` as layout 1 wrote
/// them, and every index value, and forgets the layout.
fn rewrite_as_layout_1(dir: &std::path::Path, from: u64) {
    let store = Store::open(dir).expect("open");
    let db = store.db();
    for h in from..=BLOCKS {
        let block = store.block(Height(h)).expect("read").expect("held");
        let ids: Vec<RecordId> = block.outcomes.iter().map(|o| o.record_id).collect();
        for (i, (record, outcome)) in block.records.iter().zip(&block.outcomes).enumerate() {
            let at = ChainPosition {
                height: Height(h),
                index: i as u32,
            };
            let old = RecordV1 {
                height: Height(h),
                index: i as u32,
                record,
                outcome,
            };
            let key = position_key(at);
            db.delete_cf(store.cf(cf::RECORDS), key).expect("delete");
            db.delete_cf(store.cf(cf::RECORD_IDS), outcome.record_id.as_bytes())
                .expect("delete");
            db.put_cf(
                store.cf(cf::RECORDS),
                outcome.record_id.as_bytes(),
                codec::encode(&old),
            )
            .expect("put");
        }
        let old = BlockV1 {
            header: &block.header,
            record_ids: ids,
        };
        db.put_cf(store.cf(cf::BLOCKS), h.to_be_bytes(), codec::encode(&old))
            .expect("put");
    }
    for family in [cf::IDX_CLAIM, cf::IDX_FUND, cf::IDX_SUBMISSION] {
        let keys: Vec<Box<[u8]>> = db
            .iterator_cf(store.cf(family), IteratorMode::Start)
            .map(|kv| kv.expect("index entry").0)
            .collect();
        for key in keys {
            // Any 32 bytes: the current layout never reads the value.
            db.put_cf(store.cf(family), &key, [7u8; 32]).expect("put");
        }
    }
    db.delete_cf(store.cf(cf::META), b"store_format")
        .expect("delete");
    if from > 1 {
        db.put_cf(
            store.cf(cf::META),
            b"layout_1_moved_through",
            codec::encode(&Height(from - 1)),
        )
        .expect("put");
    }
}

fn position_key(at: ChainPosition) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&at.height.0.to_be_bytes());
    k[8..].copy_from_slice(&at.index.to_be_bytes());
    k
}

fn chain_in(dir: &std::path::Path) -> Vec<RecordId> {
    let mut builder = ChainBuilder::for_kit(Kit::new(41));
    let store = Store::create(dir, &builder.genesis.clone(), Hash32::ZERO).expect("create");
    let mut ids = Vec::new();
    for _ in 0..BLOCKS {
        let records = builder.records(14);
        let block = builder.seal_verified(records);
        ids.extend(block.block().outcomes.iter().map(|o| o.record_id));
        store
            .commit_block(&block, &[], &[], Durability::Synced)
            .expect("commit");
    }
    ids
}

#[test]
fn a_layout_1_store_is_moved_to_this_layout_when_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ids = chain_in(dir.path());
    let before = seen(&Store::open(dir.path()).expect("open"), &ids);
    assert!(before.records.iter().all(Option::is_some));
    assert!(!before.claims.is_empty() && !before.funds.is_empty());

    rewrite_as_layout_1(dir.path(), 1);
    let moved = Store::open(dir.path()).expect("moved on open");
    assert_eq!(seen(&moved, &ids), before);
    drop(moved);
    assert_eq!(
        seen(&Store::open(dir.path()).expect("reopens"), &ids),
        before
    );
}

#[test]
fn a_move_cut_short_resumes_after_the_last_block_it_moved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ids = chain_in(dir.path());
    let before = seen(&Store::open(dir.path()).expect("open"), &ids);
    // Blocks 1 and 2 were moved before the crash; 3 and 4 were not.
    rewrite_as_layout_1(dir.path(), 3);
    let moved = Store::open(dir.path()).expect("resumed on open");
    assert_eq!(seen(&moved, &ids), before);
}
