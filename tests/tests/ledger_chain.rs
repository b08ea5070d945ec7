//! A chain of 10,000+ signed records in 50+ blocks survives export, import
//! into a fresh RocksDB store and verification; any single flipped byte of
//! the export is detected with an error that names a height; inclusion
//! proofs verify against their header and nothing else.

use fundtrail_ledger::block::{Attestation, Block, RecordProof};
use fundtrail_ledger::chainfile::{verify_stream, ChainCheckError, ChainReader, ChainSummary};
use fundtrail_ledger::store::Store;
use fundtrail_ledger::types::Height;
use fundtrail_ledger::verify::ChainVerifier;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::ledger::chain_file;
use fundtrail_testkit::Kit;
use rand::{Rng, SeedableRng};

const BLOCKS: usize = 50;
const PER_BLOCK: usize = 201;

fn build_chain(c: &Kit) -> Vec<(Block, Vec<Attestation>)> {
    ChainBuilder::for_kit(c.clone()).chain(BLOCKS, PER_BLOCK)
}

fn verify_bytes(bytes: &[u8]) -> Result<ChainSummary, ChainCheckError> {
    let mut reader = ChainReader::new(bytes)?;
    let mut verifier = ChainVerifier::new(reader.genesis().clone())?.require_attesting_orgs(4);
    verify_stream(&mut reader, &mut verifier, |_, _, _| Ok(()))
}

#[test]
fn export_import_verify_and_every_flipped_byte_is_detected() {
    let c = Kit::new(3);
    let chain = build_chain(&c);
    let bytes = chain_file(&c.genesis_with_nodes(), &chain);

    let summary = verify_bytes(&bytes).expect("honest chain verifies");
    assert_eq!(summary.blocks, BLOCKS as u64);
    assert_eq!(summary.records, (BLOCKS * PER_BLOCK) as u64);
    assert!(summary.records >= 10_000);
    assert_eq!(summary.min_attesting_orgs, 4);

    let dir = tempfile::tempdir().expect("tempdir");
    let (store, imported) =
        Store::import(dir.path(), bytes.as_slice()).expect("import verifies and stores");
    assert_eq!(imported.head_hash, summary.head_hash);
    assert_eq!(store.head().expect("head").height, Height(BLOCKS as u64));
    let mut re_exported = Vec::new();
    store.export(&mut re_exported).expect("export from store");
    assert_eq!(
        re_exported, bytes,
        "store round-trips the chain byte for byte"
    );

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xF11F);
    for _ in 0..200 {
        let pos = rng.gen_range(0..bytes.len());
        let bit = 1u8 << rng.gen_range(0..8);
        let mut tampered = bytes.clone();
        tampered[pos] ^= bit;
        let Err(err) = verify_bytes(&tampered) else {
            panic!("flip at byte {pos} must be detected");
        };
        let message = err.to_string();
        assert!(
            message.contains("height "),
            "error names a height: {message}"
        );
        assert!(
            err.height().0 <= BLOCKS as u64 + 1,
            "height {} is in range",
            err.height()
        );
    }
}

#[test]
fn truncated_export_names_the_height_where_it_ends() {
    let c = Kit::new(4);
    let chain = ChainBuilder::for_kit(c.clone()).chain(5, 20);
    let bytes = chain_file(&c.genesis_with_nodes(), &chain);
    for cut in [bytes.len() - 1, bytes.len() / 2, 40, 3] {
        let err = verify_bytes(&bytes[..cut]).expect_err("truncation is detected");
        assert!(err.to_string().contains("height"), "{err}");
    }
}

#[test]
fn inclusion_proof_verifies_only_for_its_record_and_header() {
    let c = Kit::new(5);
    let chain = ChainBuilder::for_kit(c.clone()).chain(2, 37);
    let (block, _) = &chain[0];
    let (other, _) = &chain[1];
    for index in [0, 1, 17, 36] {
        let proof = RecordProof::build(block, index).expect("index in range");
        proof
            .verify(&block.header)
            .expect("proof verifies against its header");
        assert!(
            proof.verify(&other.header).is_err(),
            "fails against another header"
        );
        let mut modified = proof.clone();
        modified.record.envelope.nonce += 1;
        assert!(
            modified.verify(&block.header).is_err(),
            "fails for a modified record"
        );
    }
}
