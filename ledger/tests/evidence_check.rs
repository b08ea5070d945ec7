//! `Equivocation::check`: a real conflicting pair by one node key checks;
//! a pair over one block, a pair of two keys, a bad signature and a key that
//! is not a genesis node key are refused.

use fundtrail_ledger::block::{Attestation, Block, BlockHash};
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::evidence::{Equivocation, EvidenceError};
use fundtrail_ledger::hash::hash_domain;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::Kit;

fn one_block(c: &Kit) -> Block {
    let mut builder = ChainBuilder::for_kit(c.clone());
    let records = builder.records(1);
    builder.seal_verified(records).into_block()
}

fn other_block() -> BlockHash {
    BlockHash::from_hash(hash_domain(
        "fundtrail/test/other",
        b"a block never applied",
    ))
}

/// The first org's node attesting both the chain's block and another.
fn equivocation(c: &Kit, block: &Block) -> Equivocation {
    let node = &c.orgs[0].node;
    let chain_id = &block.header.chain_id;
    let height = block.header.height;
    Equivocation {
        chain_block: block.hash(),
        chain_attestation: Some(Attestation::sign(node, chain_id, height, block.hash())),
        conflicting: Attestation::sign(node, chain_id, height, other_block()),
    }
}

#[test]
fn a_real_conflicting_pair_checks() {
    let c = Kit::new(1);
    let block = one_block(&c);
    let evidence = equivocation(&c, &block);
    assert_eq!(evidence.check(&c.genesis_with_nodes()), Ok(()));
    let alone = Equivocation {
        chain_attestation: None,
        ..evidence
    };
    assert_eq!(alone.check(&c.genesis_with_nodes()), Ok(()));
}

#[test]
fn a_pair_that_signs_one_block_is_refused() {
    let c = Kit::new(1);
    let block = one_block(&c);
    let mut evidence = equivocation(&c, &block);
    evidence.conflicting = evidence.chain_attestation.clone().expect("pair");
    assert_eq!(
        evidence.check(&c.genesis_with_nodes()),
        Err(EvidenceError::NotConflicting(block.hash()))
    );
}

#[test]
fn a_pair_of_two_keys_is_refused() {
    let c = Kit::new(1);
    let block = one_block(&c);
    let mut evidence = equivocation(&c, &block);
    let h = &block.header;
    evidence.chain_attestation = Some(Attestation::sign(
        &c.orgs[1].node,
        &h.chain_id,
        h.height,
        block.hash(),
    ));
    assert_eq!(
        evidence.check(&c.genesis_with_nodes()),
        Err(EvidenceError::PairMismatch)
    );
}

#[test]
fn a_bad_signature_is_refused() {
    let c = Kit::new(1);
    let block = one_block(&c);
    let mut evidence = equivocation(&c, &block);
    evidence.conflicting.signature.0[0] ^= 1;
    assert_eq!(
        evidence.check(&c.genesis_with_nodes()),
        Err(EvidenceError::BadSignature(c.orgs[0].node.public().short()))
    );
}

#[test]
fn a_key_outside_genesis_or_not_a_node_key_is_refused() {
    let c = Kit::new(1);
    let block = one_block(&c);
    let h = &block.header;
    for signer in [&Keypair::from_seed([250; 32]), &c.orgs[0].submitter] {
        let evidence = Equivocation {
            chain_block: block.hash(),
            chain_attestation: None,
            conflicting: Attestation::sign(signer, &h.chain_id, h.height, other_block()),
        };
        assert_eq!(
            evidence.check(&c.genesis_with_nodes()),
            Err(EvidenceError::UnknownKey(signer.public().short()))
        );
    }
}
