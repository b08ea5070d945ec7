//! The RocksDB store: committed blocks, records and attestations read back
//! after a reopen and export byte for byte as the chain file of the same
//! chain; a block that does not extend the head, a second genesis in the
//! same directory and a directory that holds no chain are refused.

use fundtrail_ledger::block::Attestation;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::store::{Durability, ImportError, Store, StoreError};
use fundtrail_ledger::types::Height;
use fundtrail_ledger::verify::VerifiedBlock;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::ledger::chain_file;
use fundtrail_testkit::Kit;

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
