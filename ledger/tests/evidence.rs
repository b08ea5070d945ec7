//! Equivocation evidence in chain files and the store: it round-trips, a
//! file without it reads as before, and tampered evidence fails naming its
//! height.

use fundtrail_ledger::block::{Attestation, Block, BlockHash, Genesis};
use fundtrail_ledger::chainfile::{
    verify_stream, ChainCheckError, ChainFileError, ChainFileHeader, ChainReader, ChainSummary,
    ChainWriter, FrameType, FORMAT_VERSION, MAGIC,
};
use fundtrail_ledger::codec;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::evidence::Equivocation;
use fundtrail_ledger::hash::{hash_domain, Hash32};
use fundtrail_ledger::types::Height;
use fundtrail_ledger::verify::ChainVerifier;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::Kit;

type Chain = [(Block, Vec<Attestation>)];

fn chain(c: &Kit) -> Vec<(Block, Vec<Attestation>)> {
    ChainBuilder::for_kit(c.clone()).chain(3, 4)
}

fn other_block(n: u8) -> BlockHash {
    BlockHash::from_hash(hash_domain("fundtrail/test/other", &[n]))
}

/// `node` attesting another block at the height of `block`, paired with its
/// attestation of `block` when `paired`.
fn evidence(node: &Keypair, block: &Block, paired: bool) -> Equivocation {
    let h = &block.header;
    Equivocation {
        chain_block: block.hash(),
        chain_attestation: paired
            .then(|| Attestation::sign(node, &h.chain_id, h.height, block.hash())),
        conflicting: Attestation::sign(node, &h.chain_id, h.height, other_block(1)),
    }
}

/// Evidence at height 2 by two departments' nodes, in node key order; the
/// second is paired with its chain attestation only if `both_paired`.
fn evidence_at_2(c: &Kit, chain: &Chain, both_paired: bool) -> Vec<Equivocation> {
    let block = &chain[1].0;
    let mut list = vec![
        evidence(&c.orgs[0].node, block, true),
        evidence(&c.orgs[1].node, block, both_paired),
    ];
    list.sort_by_key(Equivocation::node_key);
    list
}

fn write(genesis: &Genesis, chain: &Chain, evidence: &[Equivocation]) -> Vec<u8> {
    let last = Height(chain.len() as u64);
    let mut w = ChainWriter::new(Vec::new(), genesis, Height(1), last).expect("writer");
    for (block, atts) in chain {
        w.write_block(block, atts).expect("block");
        for e in evidence
            .iter()
            .filter(|e| e.height() == block.header.height)
        {
            w.write_equivocation(e).expect("evidence");
        }
    }
    w.finish().expect("finish")
}

fn verify(bytes: &[u8]) -> Result<(ChainSummary, Vec<Equivocation>), ChainCheckError> {
    let mut reader = ChainReader::new(bytes)?;
    let mut verifier = ChainVerifier::new(reader.genesis().clone())?.require_attesting_orgs(4);
    let summary = verify_stream(&mut reader, &mut verifier, |_, _, _| Ok(()))?;
    Ok((summary, reader.equivocations().to_vec()))
}

/// The file as the format was before evidence frames, framed by hand.
fn framed_by_hand(genesis: &Genesis, chain: &Chain) -> Vec<u8> {
    fn frame(out: &mut Vec<u8>, t: FrameType, payload: Vec<u8>) {
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.push(t as u8);
        out.extend_from_slice(&payload);
    }
    let header = ChainFileHeader {
        format_version: FORMAT_VERSION,
        chain_id: genesis.chain_id.clone(),
        genesis_hash: genesis.hash(),
        from_height: Height(1),
        to_height: Height(chain.len() as u64),
    };
    let mut out = MAGIC.to_vec();
    frame(&mut out, FrameType::Header, codec::encode(&header));
    frame(&mut out, FrameType::Genesis, codec::encode(genesis));
    for (block, atts) in chain {
        let mut atts = atts.clone();
        atts.sort_by_key(|a| a.node_key);
        frame(&mut out, FrameType::Block, codec::encode(&(block, atts)));
    }
    let last: Hash32 = chain.last().expect("blocks").0.hash().hash();
    frame(
        &mut out,
        FrameType::End,
        codec::encode(&(chain.len() as u64, last)),
    );
    out
}

#[test]
fn evidence_round_trips_through_a_chain_file() {
    let c = Kit::new(5);
    let chain = chain(&c);
    let written = evidence_at_2(&c, &chain, false);
    let bytes = write(&c.genesis_with_nodes(), &chain, &written);
    let (summary, read) = verify(&bytes).expect("a chain with evidence verifies");
    assert_eq!(summary.blocks, 3);
    assert_eq!(read, written);
}

#[test]
fn a_file_without_evidence_is_the_old_format_and_reads_unchanged() {
    let c = Kit::new(5);
    let chain = chain(&c);
    let old = framed_by_hand(&c.genesis_with_nodes(), &chain);
    assert_eq!(write(&c.genesis_with_nodes(), &chain, &[]), old);
    let (summary, read) = verify(&old).expect("an old file verifies");
    assert_eq!(summary.blocks, 3);
    assert!(read.is_empty());
}

/// Writes `evidence` after block 2 and returns the reader's error.
fn error_with(c: &Kit, chain: &Chain, evidence: Equivocation) -> ChainFileError {
    let bytes = write(&c.genesis_with_nodes(), chain, &[evidence]);
    match verify(&bytes) {
        Err(ChainCheckError::File(e)) => e,
        other => panic!("tampered evidence must fail reading, got {other:?}"),
    }
}

fn assert_fails_at_2(e: ChainFileError, says: &str) {
    let message = e.to_string();
    assert_eq!(e.height, Height(2), "{message}");
    assert!(message.starts_with("chain file at height 2: "), "{message}");
    assert!(message.contains(says), "{message}");
}

#[test]
fn tampered_evidence_fails_naming_its_height() {
    let c = Kit::new(5);
    let chain = chain(&c);
    let block = &chain[1].0;
    let node = &c.orgs[2].node;

    let mut bad_signature = evidence(node, block, true);
    bad_signature.conflicting.signature.0[7] ^= 0x40;
    assert_fails_at_2(
        error_with(&c, &chain, bad_signature),
        &format!("signature by key {} does not verify", node.public().short()),
    );

    let mut not_conflicting = evidence(node, block, true);
    not_conflicting.conflicting = not_conflicting.chain_attestation.clone().expect("pair");
    assert_fails_at_2(error_with(&c, &chain, not_conflicting), "nothing conflicts");

    let stranger = Keypair::from_seed([0xee; 32]);
    assert_fails_at_2(
        error_with(&c, &chain, evidence(&stranger, block, false)),
        "is not a genesis node key",
    );

    let mut other_chain_block = evidence(node, block, false);
    other_chain_block.chain_block = other_block(2);
    other_chain_block.conflicting =
        Attestation::sign(node, &block.header.chain_id, Height(2), other_block(3));
    let bytes = write_unchecked_after_2(&c, &chain, &other_chain_block);
    match verify(&bytes) {
        Err(ChainCheckError::File(e)) => assert_fails_at_2(e, "the file's block is"),
        other => panic!("evidence about another block must fail, got {other:?}"),
    }
}

/// The writer refuses evidence about a block other than the one it just
/// wrote, so this splices such a frame in by hand after block 2.
fn write_unchecked_after_2(c: &Kit, chain: &Chain, evidence: &Equivocation) -> Vec<u8> {
    let mut honest = framed_by_hand(&c.genesis_with_nodes(), &chain[..2]);
    let end = honest.split_off(honest.len() - END_FRAME_BYTES);
    let payload = codec::encode(evidence);
    honest.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    honest.push(FrameType::Evidence as u8);
    honest.extend_from_slice(&payload);
    honest.extend_from_slice(&end);
    honest
}

/// The end frame: length, type, block count and last hash.
const END_FRAME_BYTES: usize = 4 + 1 + 8 + 32;

#[test]
fn evidence_out_of_key_order_or_before_any_block_is_refused() {
    let c = Kit::new(5);
    let chain = chain(&c);
    let mut reversed = evidence_at_2(&c, &chain, false);
    reversed.reverse();
    let genesis = c.genesis_with_nodes();
    let mut w = ChainWriter::new(Vec::new(), &genesis, Height(1), Height(3)).expect("writer");
    assert!(
        w.write_equivocation(&reversed[0]).is_err(),
        "before any block"
    );
    w.write_block(&chain[0].0, &chain[0].1).expect("block 1");
    assert!(
        w.write_equivocation(&reversed[0]).is_err(),
        "about another height"
    );
    w.write_block(&chain[1].0, &chain[1].1).expect("block 2");
    w.write_equivocation(&reversed[0]).expect("first evidence");
    assert!(
        w.write_equivocation(&reversed[1]).is_err(),
        "out of key order"
    );
}

#[cfg(feature = "store")]
mod store {
    use super::*;
    use fundtrail_ledger::store::{cf, Store};

    #[test]
    fn the_store_keeps_one_conflicting_attestation_per_height_and_key_and_exports_it() {
        let c = Kit::new(6);
        let chain = chain(&c);
        let bytes = write(&c.genesis_with_nodes(), &chain, &[]);
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::import(dir.path(), bytes.as_slice()).expect("import");

        // Every department attested every block, so the store pairs each.
        let expected = evidence_at_2(&c, &chain, true);
        for e in &expected {
            assert!(store
                .put_conflicting_attestation(&e.conflicting)
                .expect("put"));
        }
        let block = &chain[1].0;
        let node = &c.orgs[0].node;
        for n in 10..13 {
            let again = Attestation::sign(node, &block.header.chain_id, Height(2), other_block(n));
            assert!(!store.put_conflicting_attestation(&again).expect("put"));
        }
        assert_eq!(store.conflicting_count().expect("count"), 2);
        let held = store
            .equivocations(Height(1), Height(3), 10)
            .expect("evidence");
        assert_eq!(
            held, expected,
            "each paired with the chain attestation held"
        );
        assert!(store
            .equivocations(Height(3), Height(3), 10)
            .expect("evidence")
            .is_empty());

        let mut exported = Vec::new();
        store.export(&mut exported).expect("export");
        assert_eq!(exported, write(&c.genesis_with_nodes(), &chain, &expected));
        let (_, read) = verify(&exported).expect("the export verifies");
        assert_eq!(read, expected);

        let again = tempfile::tempdir().expect("tempdir");
        let (imported, _) = Store::import(again.path(), exported.as_slice()).expect("import");
        assert_eq!(imported.conflicting_count().expect("count"), 2);
        let mut re_exported = Vec::new();
        imported.export(&mut re_exported).expect("export");
        assert_eq!(re_exported, exported);
    }

    #[test]
    fn a_store_without_the_evidence_family_opens_and_gains_it() {
        let c = Kit::new(6);
        let chain = chain(&c);
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::import(
            dir.path(),
            write(&c.genesis_with_nodes(), &chain, &[]).as_slice(),
        )
        .expect("import");
        drop(store);
        let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cf::ALL)
            .expect("open raw");
        db.drop_cf(cf::CONFLICTING).expect("drop the family");
        drop(db);

        let store = Store::open(dir.path()).expect("an older store opens");
        assert_eq!(store.conflicting_count().expect("count"), 0);
        let e = evidence(&c.orgs[3].node, &chain[2].0, true);
        assert!(store
            .put_conflicting_attestation(&e.conflicting)
            .expect("put"));
        assert_eq!(
            store
                .equivocations(Height(1), Height(3), 10)
                .expect("evidence"),
            vec![e]
        );
    }
}
