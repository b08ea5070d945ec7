//! The chain verifier against tampering, without the contracts: an honest
//! signed and attested chain verifies in batches; a changed record, header
//! field, record order, link, timestamp, proposer or attestation is refused
//! with an error that names the height and, where one record is to blame,
//! its id; a failed batch leaves the verifier where it was.

use std::sync::OnceLock;

use fundtrail_ledger::block::{Attestation, Block};
use fundtrail_ledger::crypto::{CryptoError, Keypair};
use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::{Height, Role};
use fundtrail_ledger::verify::{ChainVerifier, VerifyError, VerifyErrorKind};
use fundtrail_ledger::Genesis;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::Kit;

const BLOCKS: usize = 12;
const PER_BLOCK: usize = 40;
/// Blocks per `verify_blocks` call, so tampering sits mid-batch.
const BATCH: usize = 5;
/// Where the tampering happens: the third block of the second batch.
const TAMPERED: usize = 7;
const TAMPERED_HEIGHT: Height = Height(TAMPERED as u64 + 1);
/// Every organisation runs a node and attests every block.
const ORGS: usize = 4;

#[derive(Clone)]
struct Chain {
    genesis: Genesis,
    entries: Vec<(Block, Vec<Attestation>)>,
}

fn consortium() -> &'static Kit {
    static CONSORTIUM: OnceLock<Kit> = OnceLock::new();
    CONSORTIUM.get_or_init(|| Kit::new(8))
}

fn honest() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let mut b = ChainBuilder::for_kit(consortium().clone());
        let entries = b.chain(BLOCKS, PER_BLOCK);
        Chain {
            genesis: b.genesis.clone(),
            entries,
        }
    })
}

fn verify(chain: &Chain) -> Result<(), VerifyError> {
    let mut verifier = ChainVerifier::new(chain.genesis.clone())?.require_attesting_orgs(ORGS);
    for batch in chain.entries.chunks(BATCH) {
        verifier.verify_blocks(batch.to_vec())?;
    }
    verifier.finish(Height(chain.entries.len() as u64))
}

fn error(chain: &Chain) -> VerifyError {
    verify(chain).expect_err("tampering is detected")
}

/// Re-links and re-attests block `index` and every later one, as a
/// colluding quorum of nodes could.
fn reattest_from(chain: &mut Chain, index: usize) {
    let builder = ChainBuilder::for_kit(consortium().clone());
    for k in index..chain.entries.len() {
        if k > index {
            chain.entries[k].0.header.prev_hash = chain.entries[k - 1].0.hash().hash();
        }
        chain.entries[k].1 = builder.attest(&chain.entries[k].0);
    }
}

#[test]
fn honest_chain_verifies_and_a_short_one_is_truncated() {
    let chain = honest();
    assert_eq!(verify(chain), Ok(()));

    let mut verifier = ChainVerifier::new(chain.genesis.clone())
        .expect("genesis keys")
        .require_attesting_orgs(ORGS);
    verifier
        .verify_blocks(chain.entries[..TAMPERED].to_vec())
        .expect("an honest prefix");
    let promised = Height(BLOCKS as u64);
    let e = verifier
        .finish(promised)
        .expect_err("the chain stops early");
    assert_eq!(
        (e.height, e.kind),
        (
            TAMPERED_HEIGHT,
            VerifyErrorKind::Truncated {
                expected: promised,
                actual: Height(TAMPERED as u64),
            }
        )
    );
}

#[test]
fn changed_record_byte_fails_its_signature() {
    let original = &honest().entries[TAMPERED].0.records[7];
    let bytes = original.encode();
    // Past the version and chain id, into the body.
    let in_body = (24..bytes.len() - 64).find_map(|pos| {
        let mut b = bytes.clone();
        b[pos] ^= 0x01;
        SignedRecord::decode(&b)
            .ok()
            .filter(|r| r.envelope.chain_id == original.envelope.chain_id)
    });
    let mut in_signature = original.clone();
    in_signature.signature.0[63] ^= 0x01;
    for tampered in [in_body.expect("a byte that still decodes"), in_signature] {
        let mut chain = honest().clone();
        chain.entries[TAMPERED].0.records[7] = tampered.clone();
        let e = error(&chain);
        assert_eq!((e.height, e.record), (TAMPERED_HEIGHT, Some(tampered.id())));
        assert!(
            matches!(
                e.kind,
                VerifyErrorKind::Signature(CryptoError::BadSignature { .. })
            ),
            "{e}"
        );
    }
}

/// The verifier checks a group's links, ids and keys beside its signature
/// batch; a group that fails must still leave it as it was, so the honest
/// group verifies next and the chain finishes.
#[test]
fn a_failed_group_leaves_the_verifier_where_it_was() {
    let chain = honest();
    let mut verifier = ChainVerifier::new(chain.genesis.clone())
        .expect("genesis keys")
        .require_attesting_orgs(ORGS);
    let batches: Vec<_> = chain.entries.chunks(BATCH).collect();
    verifier
        .verify_blocks(batches[0].to_vec())
        .expect("first batch is honest");
    let mut tampered = batches[1].to_vec();
    tampered[2].0.records[7].signature.0[63] ^= 0x01;
    let e = verifier
        .verify_blocks(tampered)
        .expect_err("a bad signature");
    assert!(matches!(e.kind, VerifyErrorKind::Signature(_)), "{e}");
    assert_eq!(verifier.next_height(), Height(BATCH as u64 + 1));
    for batch in &batches[1..] {
        verifier
            .verify_blocks(batch.to_vec())
            .expect("honest batches after the failure");
    }
    assert_eq!(verifier.finish(Height(chain.entries.len() as u64)), Ok(()));
}

#[test]
fn changed_header_field_is_blamed_on_its_block() {
    type Change = fn(&mut Block);
    let changes: [(&str, Change); 6] = [
        ("timestamp", |b| b.header.timestamp_ms += 1),
        ("state_root", |b| b.header.state_root.0[0] ^= 1),
        ("outcomes_root", |b| b.header.outcomes_root.0[0] ^= 1),
        ("records_root", |b| b.header.records_root.0[0] ^= 1),
        ("rules_version", |b| b.header.rules_version += 1),
        ("proposer", |b| b.header.proposer.0[5] ^= 1),
    ];
    for (field, change) in changes {
        let mut chain = honest().clone();
        change(&mut chain.entries[TAMPERED].0);
        let e = error(&chain);
        assert_eq!(
            (e.height, e.record),
            (TAMPERED_HEIGHT, None),
            "{field}: {e}"
        );
    }
}

/// Re-attested, a changed header still fails where the ledger can tell:
/// a record root that does not match the records, a link to nowhere, a
/// clock that runs backwards.
#[test]
fn re_attested_header_changes_the_ledger_can_check_are_refused() {
    let mut chain = honest().clone();
    chain.entries[TAMPERED].0.header.records_root.0[0] ^= 1;
    reattest_from(&mut chain, TAMPERED);
    let e = error(&chain);
    assert_eq!((e.height, e.record), (TAMPERED_HEIGHT, None), "{e}");
    assert!(matches!(e.kind, VerifyErrorKind::RecordsRoot { .. }), "{e}");

    let mut chain = honest().clone();
    chain.entries[TAMPERED].0.header.prev_hash.0[0] ^= 1;
    reattest_from(&mut chain, TAMPERED);
    let e = error(&chain);
    assert_eq!((e.height, e.record), (TAMPERED_HEIGHT, None), "{e}");
    assert!(matches!(e.kind, VerifyErrorKind::BrokenLink { .. }), "{e}");

    let mut chain = honest().clone();
    let previous = chain.entries[TAMPERED - 1].0.header.timestamp_ms;
    chain.entries[TAMPERED].0.header.timestamp_ms = previous - 1;
    reattest_from(&mut chain, TAMPERED);
    let e = error(&chain);
    assert_eq!(
        (e.height, e.kind),
        (
            TAMPERED_HEIGHT,
            VerifyErrorKind::TimeRegressed {
                previous,
                actual: previous - 1
            }
        )
    );
}

/// The header names who proposed the block, and only a voting
/// organisation's node key may: a block re-attested under another
/// proposer (a submitter key here) is refused at its height.
#[test]
fn a_block_proposed_by_a_key_that_may_not_propose_is_refused_even_re_attested() {
    let mut chain = honest().clone();
    let submitter = consortium().org(Role::Insurance).submitter.public();
    chain.entries[TAMPERED].0.header.proposer = submitter;
    reattest_from(&mut chain, TAMPERED);
    let e = error(&chain);
    assert_eq!((e.height, e.record), (TAMPERED_HEIGHT, None), "{e}");
    assert!(
        matches!(e.kind, VerifyErrorKind::UnknownProposer { .. }),
        "{e}"
    );
}

#[test]
fn swapped_records_break_the_outcome_order() {
    let mut chain = honest().clone();
    let records = &mut chain.entries[TAMPERED].0.records;
    records.swap(3, 4);
    let now_third = records[3].id();
    let e = error(&chain);
    assert_eq!((e.height, e.record), (TAMPERED_HEIGHT, Some(now_third)));
    assert!(
        matches!(
            e.kind,
            VerifyErrorKind::OutcomeForOtherRecord { index: 3, .. }
        ),
        "{e}"
    );
}

/// A record already on the chain, re-sealed into a later block (records
/// and outcomes roots recomputed, re-attested), is refused as a repeat.
#[test]
fn a_record_repeated_in_a_later_block_is_refused() {
    let mut chain = honest().clone();
    let repeated = chain.entries[1].0.records[0].clone();
    let outcome = chain.entries[1].0.outcomes[0].clone();
    let block = &mut chain.entries[TAMPERED].0;
    block.records.push(repeated.clone());
    block.outcomes.push(outcome);
    block.header.records_root = fundtrail_ledger::block::records_root(&block.records);
    block.header.outcomes_root = fundtrail_ledger::block::outcomes_root(&block.outcomes);
    reattest_from(&mut chain, TAMPERED);
    let e = error(&chain);
    assert_eq!(
        (e.height, e.record, e.kind),
        (
            TAMPERED_HEIGHT,
            Some(repeated.id()),
            VerifyErrorKind::RepeatedRecord { first: Height(2) }
        )
    );
}

#[test]
fn forged_attestations_are_refused() {
    let honest_block = &honest().entries[TAMPERED].0;
    let c = consortium();
    let node = &c.orgs[1].node;
    let (chain_id, hash) = (&honest_block.header.chain_id, honest_block.hash());
    let other_hash = honest().entries[TAMPERED - 1].0.hash();
    let not_a_node = Keypair::from_seed([0x5e; 32]);
    let submitter = &c.org(Role::Insurance).submitter;
    let mut signed_other_hash = Attestation::sign(node, chain_id, TAMPERED_HEIGHT, other_hash);
    signed_other_hash.block_hash = hash;
    let at = |key: &Keypair, hash| Some(Attestation::sign(key, chain_id, TAMPERED_HEIGHT, hash));
    type Expect = fn(&VerifyErrorKind) -> bool;
    let forgeries: [(&str, Option<Attestation>, Expect); 5] = [
        ("stranger's key", at(&not_a_node, hash), |k| {
            matches!(k, VerifyErrorKind::UnknownAttester { .. })
        }),
        ("submitter key", at(submitter, hash), |k| {
            matches!(k, VerifyErrorKind::UnknownAttester { .. })
        }),
        ("node signed another hash", Some(signed_other_hash), |k| {
            matches!(k, VerifyErrorKind::AttestationSignature { .. })
        }),
        ("node attests another block", at(node, other_hash), |k| {
            matches!(k, VerifyErrorKind::AttestationForOtherBlock { .. })
        }),
        ("attestation missing", None, |k| {
            *k == VerifyErrorKind::AttestationQuorum {
                required: ORGS,
                actual: ORGS - 1,
            }
        }),
    ];
    for (what, forged, expected) in forgeries {
        let mut chain = honest().clone();
        let atts = &mut chain.entries[TAMPERED].1;
        match forged {
            Some(a) => atts[1] = a,
            None => {
                atts.remove(1);
            }
        }
        let e = error(&chain);
        assert_eq!((e.height, e.record), (TAMPERED_HEIGHT, None), "{what}: {e}");
        assert!(expected(&e.kind), "{what}: {e}");
    }
}
