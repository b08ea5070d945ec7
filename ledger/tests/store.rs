//! The RocksDB store: committed blocks, records and attestations read back
//! after a reopen and export byte for byte as the chain file of the same
//! chain; a block that does not extend the head, a second genesis in the
//! same directory and a directory that holds no chain are refused; index
//! pages list every record of a claim, person, fund or target once, in
//! chain order, reading no more of the index than one page.

use std::collections::BTreeMap;

use fundtrail_ledger::block::{Attestation, Outcome, Verdict};
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{FundCreditBody, FundSource, RecordBody, RecordId, SignedRecord};
use fundtrail_ledger::store::{
    ChainPosition, Durability, ImportError, IndexPage, Store, StoreError,
};
use fundtrail_ledger::types::{Amount, FundId, Height, Role};
use fundtrail_ledger::verify::{BlockDraft, VerifiedBlock};
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::ledger::chain_file;
use fundtrail_testkit::{fund, Kit};
use rocksdb::perf::{PerfContext, PerfStatsLevel};

const BLOCKS: usize = 3;
const PER_BLOCK: usize = 12;

/// `BLOCKS` sealed blocks with every node's attestation.
fn sealed(builder: &mut ChainBuilder) -> Vec<(VerifiedBlock, Vec<Attestation>)> {
    (0..BLOCKS)
        .map(|_| {
            let records = builder.records(PER_BLOCK);
            let block = builder.seal_verified(records);
            let attestations = builder.attest(block.block());
            (block, attestations)
        })
        .collect()
}

#[test]
fn committed_blocks_read_back_after_a_reopen_and_export_as_written() {
    let c = Kit::new(31);
    let mut builder = ChainBuilder::for_kit(c.clone());
    let genesis = builder.genesis.clone();
    let chain = sealed(&mut builder);
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::create(dir.path(), &genesis, Hash32::ZERO).expect("fresh store");
        for (block, attestations) in &chain {
            let head = store
                .commit_block(block, &[], &[], Durability::Synced)
                .expect("extends the head");
            assert_eq!(head.height, block.header().height);
            assert_eq!(head.hash, block.block().hash().hash());
            for a in attestations {
                store.put_attestation(a).expect("attestation");
            }
        }
    }

    let store = Store::open(dir.path()).expect("reopens");
    assert_eq!(store.genesis(), &genesis);
    let (last, _) = chain.last().expect("blocks");
    let head = store.head().expect("head");
    assert_eq!(
        (head.height, head.hash, head.state_root),
        (
            Height(BLOCKS as u64),
            last.block().hash().hash(),
            last.header().state_root
        )
    );
    for (block, attestations) in &chain {
        let height = block.header().height;
        assert_eq!(
            store.block(height).expect("read").as_ref(),
            Some(block.block())
        );
        let mut stored = store.attestations(height).expect("read");
        let mut expected = attestations.clone();
        stored.sort_by_key(|a| a.node_key);
        expected.sort_by_key(|a| a.node_key);
        assert_eq!(stored, expected, "attestations at {height}");
        for (index, record) in block.block().records.iter().enumerate() {
            let entry = store
                .record(&record.id())
                .expect("read")
                .expect("committed");
            assert_eq!((entry.height, entry.index), (height, index as u32));
            assert_eq!(&entry.record, record);
            assert_eq!(entry.outcome, block.block().outcomes[index]);
        }
    }
    assert_eq!(store.block(Height(BLOCKS as u64 + 1)).expect("read"), None);

    let entries: Vec<_> = chain
        .iter()
        .map(|(b, a)| (b.block().clone(), a.clone()))
        .collect();
    let mut exported = Vec::new();
    let summary = store.export(&mut exported).expect("export");
    assert_eq!(summary.blocks, BLOCKS as u64);
    assert_eq!(exported, chain_file(&genesis, &entries));
}

#[test]
fn a_block_that_does_not_extend_the_head_is_refused_and_changes_nothing() {
    let c = Kit::new(32);
    let mut builder = ChainBuilder::for_kit(c.clone());
    let genesis = builder.genesis.clone();
    let chain = sealed(&mut builder);
    let other = Kit::new(33);
    let foreign = sealed(&mut ChainBuilder::for_kit(other));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(dir.path(), &genesis, Hash32::ZERO).expect("fresh store");

    let refusals = [
        ("a block of another genesis", &foreign[0].0, Height(1)),
        ("a block that skips a height", &chain[1].0, Height(2)),
    ];
    for (what, block, actual) in refusals {
        let e = store
            .commit_block(block, &[], &[], Durability::Synced)
            .expect_err(what);
        assert!(
            matches!(
                e,
                StoreError::NotNext { expected: Height(1), actual: a, parent }
                    if a == actual && parent == genesis.hash().hash()
            ),
            "{what}: {e}"
        );
        assert_eq!(store.head().expect("head").height, Height(0), "{what}");
        let first = block.block().records[0].id();
        assert_eq!(store.record(&first).expect("read"), None, "{what}");
    }

    store
        .commit_block(&chain[0].0, &[], &[], Durability::Synced)
        .expect("block 1");
    let e = store
        .commit_block(&chain[0].0, &[], &[], Durability::Synced)
        .expect_err("block 1 again");
    assert!(
        matches!(
            e,
            StoreError::NotNext {
                expected: Height(2),
                actual: Height(1),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_second_genesis_or_a_directory_without_a_chain_is_refused() {
    let c = Kit::new(34);
    let genesis = c.genesis_with_nodes();
    let other = Kit::new(35).genesis_with_nodes();
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::create(dir.path(), &genesis, Hash32::ZERO).expect("fresh store"));

    let e = Store::create(dir.path(), &other, Hash32::ZERO)
        .err()
        .expect("the directory holds a chain");
    assert!(matches!(e, StoreError::AlreadyInitialised(_)), "{e}");
    let e = Store::import(dir.path(), chain_file(&other, &[]).as_slice())
        .err()
        .expect("import into a store that holds a chain");
    assert!(
        matches!(e, ImportError::Store(StoreError::AlreadyInitialised(_))),
        "{e}"
    );
    let store = Store::open(dir.path()).expect("the first chain is intact");
    assert_eq!(store.genesis(), &genesis);

    let empty = tempfile::tempdir().expect("tempdir");
    let e = Store::open(empty.path()).err().expect("nothing to open");
    assert!(matches!(e, StoreError::NoGenesis), "{e}");
}

/// A credit of `fen` to `to`, signed by finance with `nonce`.
fn credit(kit: &Kit, to: &FundId, fen: u64, nonce: u64) -> SignedRecord {
    let body = RecordBody::FundCredit(FundCreditBody {
        fund_id: to.clone(),
        amount: Amount::from_fen(fen).expect("amount"),
        source: FundSource::Budget {
            appropriation: "CZ-2026-001".parse().expect("label"),
        },
    });
    kit.sign(Role::Finance, body, nonce, 0)
}

/// The next block over `records`, every one accepted. The store keeps
/// what it is given; the contracts are not what is under test here, and
/// leaving them out keeps 100,000 records quick to build.
fn next_block(store: &Store, records: Vec<SignedRecord>) -> VerifiedBlock {
    let head = store.head().expect("head");
    let outcomes = records
        .iter()
        .map(|r| Outcome {
            record_id: r.id(),
            verdict: Verdict::Accepted,
            signals: vec![],
        })
        .collect();
    BlockDraft {
        chain_id: store.genesis().chain_id.clone(),
        height: head.height.next(),
        prev_hash: head.hash,
        timestamp_ms: head.timestamp_ms + 1_000,
        proposer: fundtrail_testkit::chain::node_keys()[0].public(),
        rules_version: 1,
        state_root: Hash32::ZERO,
        records,
        outcomes,
    }
    .seal()
}

/// A counter of RocksDB's perf context for this thread, as its report
/// names it (the crate's metric enum leaves the iterator counts out).
fn perf_count(perf: &PerfContext, name: &str) -> u64 {
    perf.report(false)
        .split(',')
        .filter_map(|part| part.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("the perf report counts {name}"))
}

/// The ids of the records a page lists, read at their positions.
fn ids_at(store: &Store, page: &IndexPage) -> Vec<RecordId> {
    let records = store.records_at(&page.positions).expect("listed records");
    records.into_iter().map(|e| e.outcome.record_id).collect()
}

/// Every record of a listing, a page of `limit` at a time through the
/// position each page ends at. Checks each page's size, and, through
/// RocksDB's perf counters, that it read the index with one seek and at
/// most `limit` steps: the page's keys and the one after, never the rest.
fn paged(
    store: &Store,
    limit: usize,
    page: impl Fn(Option<ChainPosition>) -> IndexPage,
) -> (Vec<RecordId>, usize) {
    rocksdb::perf::set_perf_stats(PerfStatsLevel::EnableCount);
    let mut perf = PerfContext::default();
    let mut all = Vec::new();
    let mut pages = 0;
    let mut after = None;
    loop {
        perf.reset();
        let p = page(after);
        pages += 1;
        assert_eq!(perf_count(&perf, "iter_seek_count"), 1, "page {pages}");
        let steps = perf_count(&perf, "iter_next_count");
        assert!(
            steps <= limit as u64,
            "page {pages} stepped through {steps} keys of the index for a limit of {limit}"
        );
        assert!(p.positions.len() <= limit, "page {pages} is over its limit");
        if p.more {
            assert_eq!(
                p.positions.len(),
                limit,
                "page {pages} is short, yet more follow"
            );
        }
        all.extend(ids_at(store, &p));
        match p.next_after() {
            Some(next) => after = Some(next),
            None => return (all, pages),
        }
    }
}

#[test]
fn a_fund_of_100000_movements_pages_to_its_end_in_chain_order_a_page_at_a_time() {
    const MOVEMENTS: u64 = 100_000;
    /// Four listed movements and one of the neighbour's in every five.
    const PER_BLOCK: u64 = 1_250;
    const LIMIT: usize = 999;
    let kit = Kit::new(36);
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::create(dir.path(), &kit.genesis_with_nodes(), Hash32::ZERO).expect("fresh store");
    // Its neighbour in key order has movements in the same blocks.
    let listed = fund("basic-1");
    let neighbour = fund("basic-10");
    let started = std::time::Instant::now();
    let mut expected = Vec::with_capacity(MOVEMENTS as usize);
    let mut nonce = 0;
    while (expected.len() as u64) < MOVEMENTS {
        let records: Vec<SignedRecord> = (0..PER_BLOCK)
            .map(|i| {
                nonce += 1;
                let to = if i % 5 == 4 { &neighbour } else { &listed };
                credit(&kit, to, nonce, nonce)
            })
            .collect();
        let block = next_block(&store, records);
        let records = &block.block().records;
        expected.extend(
            records
                .iter()
                .filter(|r| r.envelope.body.funds() == vec![&listed])
                .map(SignedRecord::id),
        );
        store
            .commit_block(&block, &[], &[], Durability::Redoable)
            .expect("commit");
    }
    // Part of the index in table files, the rest in the memtable.
    store.flush().expect("flush");
    for _ in 0..3 {
        let records = (0..PER_BLOCK)
            .map(|_| {
                nonce += 1;
                credit(&kit, &neighbour, nonce, nonce)
            })
            .collect();
        let block = next_block(&store, records);
        store
            .commit_block(&block, &[], &[], Durability::Redoable)
            .expect("commit");
    }
    eprintln!("built {nonce} records in {:?}", started.elapsed());

    let started = std::time::Instant::now();
    let (listed_ids, pages) = paged(&store, LIMIT, |after| {
        store.fund_page(&listed, after, LIMIT).expect("page")
    });
    eprintln!("paged through in {pages} pages in {:?}", started.elapsed());
    assert_eq!(pages, (MOVEMENTS as usize).div_ceil(LIMIT));
    assert_eq!(expected.len() as u64, MOVEMENTS);
    assert_eq!(listed_ids.len(), expected.len());
    assert!(
        listed_ids == expected,
        "every movement once, in chain order"
    );

    let (neighbours, _) = paged(&store, LIMIT, |after| {
        store.fund_page(&neighbour, after, LIMIT).expect("page")
    });
    assert_eq!(neighbours.len() as u64, MOVEMENTS / 4 + 3 * PER_BLOCK);
}

/// Where each record of `blocks` is listed, by index: what the store's
/// pages must give back.
#[derive(Default)]
struct Listings {
    claims: BTreeMap<String, Vec<RecordId>>,
    persons: BTreeMap<String, Vec<RecordId>>,
    funds: BTreeMap<FundId, Vec<RecordId>>,
    targets: BTreeMap<RecordId, Vec<RecordId>>,
}

impl Listings {
    fn add(&mut self, record: &SignedRecord) {
        let body = &record.envelope.body;
        let id = record.id();
        if let Some(c) = body.claim() {
            self.claims.entry(c.to_string()).or_default().push(id);
        }
        if let Some(p) = body.person() {
            self.persons.entry(p.to_string()).or_default().push(id);
        }
        for f in body.funds() {
            self.funds.entry(f.clone()).or_default().push(id);
        }
        for t in body.targets() {
            self.targets.entry(t).or_default().push(id);
        }
    }
}

#[test]
fn every_listing_pages_as_a_model_of_the_chain_says_while_the_chain_grows() {
    let kit = Kit::new(37);
    let mut builder = ChainBuilder::for_kit(kit.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(dir.path(), &builder.genesis, Hash32::ZERO).expect("fresh store");
    let mut model = Listings::default();
    let commit = |builder: &mut ChainBuilder, model: &mut Listings| {
        let records = builder.records(PER_BLOCK);
        let block = builder.seal_verified(records);
        block.block().records.iter().for_each(|r| model.add(r));
        store
            .commit_block(&block, &[], &[], Durability::Synced)
            .expect("commit");
    };
    for _ in 0..BLOCKS {
        commit(&mut builder, &mut model);
    }
    assert!(
        [
            model.claims.len(),
            model.persons.len(),
            model.funds.len(),
            model.targets.len()
        ]
        .iter()
        .all(|n| *n > 0),
        "the chain has records in every index"
    );
    for limit in 1..=3 {
        for (fund, ids) in &model.funds {
            let (listed, _) = paged(&store, limit, |after| {
                store.fund_page(fund, after, limit).expect("page")
            });
            assert_eq!(&listed, ids, "fund {fund}, pages of {limit}");
        }
        for ids in model.claims.values() {
            let first = store.record(&ids[0]).expect("read").expect("held");
            let claim = first.record.envelope.body.claim().expect("a claim");
            let (listed, _) = paged(&store, limit, |after| {
                store.claim_page(&claim, after, limit).expect("page")
            });
            assert_eq!(&listed, ids, "claim {claim}, pages of {limit}");
        }
        for ids in model.persons.values() {
            let first = store.record(&ids[0]).expect("read").expect("held");
            let person = first.record.envelope.body.person().expect("a person");
            let (listed, _) = paged(&store, limit, |after| {
                store.person_page(&person, after, limit).expect("page")
            });
            assert_eq!(&listed, ids, "person {person}, pages of {limit}");
        }
        for (target, ids) in &model.targets {
            let (listed, _) = paged(&store, limit, |after| {
                store.targeting_page(target, after, limit).expect("page")
            });
            assert_eq!(&listed, ids, "target {target}, pages of {limit}");
        }
    }

    // A position handed out stays good while blocks are added: the next
    // pages hold what was not listed yet, then what came since.
    let (fund, before) = model
        .funds
        .iter()
        .max_by_key(|(_, ids)| ids.len())
        .map(|(f, ids)| (f.clone(), ids.clone()))
        .expect("a fund");
    let first = store.fund_page(&fund, None, 1).expect("page");
    assert_eq!(ids_at(&store, &first), before[..1]);
    commit(&mut builder, &mut model);
    let grown = &model.funds[&fund];
    assert!(grown.len() > before.len(), "the new block moves the fund");
    let rest = store
        .fund_page(&fund, first.next_after(), usize::MAX)
        .expect("page");
    assert!(!rest.more);
    assert_eq!(ids_at(&store, &rest), grown[1..]);

    let nothing = store
        .claim_page(&kit.claim_id(99_999_999), None, 10)
        .expect("page");
    assert_eq!(
        nothing,
        IndexPage {
            positions: vec![],
            more: false
        }
    );
    assert_eq!(nothing.next_after(), None);
}
