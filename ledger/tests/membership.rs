//! The verifier judges each height by the membership in force there: a key
//! a `member` record revokes still signs in that record's block and not
//! after; a revoked node key's attestations count up to that block and not
//! after, and the default quorum is a majority of the organisations
//! attesting at each height.

use fundtrail_ledger::block::{Attestation, Block};
use fundtrail_ledger::crypto::{CryptoError, PublicKey};
use fundtrail_ledger::record::{MemberBody, RecordBody, SignedRecord};
use fundtrail_ledger::types::{Height, Role};
use fundtrail_ledger::verify::{ChainVerifier, VerifyError, VerifyErrorKind};
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::Kit;

const MEMBER_NONCE: u64 = 77;

fn builder() -> ChainBuilder {
    ChainBuilder::for_kit(Kit::new(5))
}

/// A revocation of `role`'s `key`, backed by three of the five
/// organisations.
fn revoke(b: &ChainBuilder, role: Role, key: PublicKey) -> SignedRecord {
    let org = b.kit().org(role).id.clone();
    let body = RecordBody::Member(MemberBody::RevokeKey { org, key });
    b.kit().sign_by_orgs(
        Role::Insurance,
        body,
        MEMBER_NONCE,
        &[Role::Health, Role::Finance],
    )
}

fn verify(b: &ChainBuilder, entries: &[(Block, Vec<Attestation>)]) -> Result<(), VerifyError> {
    let mut verifier = ChainVerifier::new(b.genesis.clone())?.require_majority();
    verifier.verify_blocks(entries.to_vec())?;
    verifier.finish(Height(entries.len() as u64))
}

fn health_records(b: &mut ChainBuilder) -> Vec<SignedRecord> {
    b.records(24)
        .into_iter()
        .filter(|r| r.envelope.submitter_key == b.kit().org(Role::Health).submitter.public())
        .collect()
}

#[test]
fn a_revoked_submitter_key_signs_in_the_revoking_block_and_not_after() {
    let mut b = builder();
    let health = b.kit().org(Role::Health).submitter.public();
    let mut same_block = health_records(&mut b);
    assert!(!same_block.is_empty());
    same_block.push(revoke(&b, Role::Health, health));
    let revoking = b.seal(same_block);
    assert!(revoking.0.outcomes.last().is_some_and(|o| o.is_accepted()));
    let honest = vec![revoking.clone()];
    verify(&b, &honest).expect("records of the revoking block stand");

    let after = health_records(&mut b);
    let late = b.seal(after);
    let err = verify(&b, &[revoking, late]).expect_err("the revoked key signs nothing after");
    assert_eq!(err.height, Height(2));
    assert!(
        matches!(
            err.kind,
            VerifyErrorKind::Signature(CryptoError::UnknownKey(_))
        ),
        "{err}"
    );
}

#[test]
fn a_revoked_node_key_attests_through_the_revoking_block_and_not_after() {
    let mut b = builder();
    let finance_node = b.kit().org(Role::Finance).node.public();
    let records = b.records(4);
    let mut first = b.seal(records);
    let revoking = b.seal(vec![revoke(&b, Role::Finance, finance_node)]);
    let records = b.records(4);
    let (block, all) = b.seal(records);
    let (others, _): (Vec<Attestation>, Vec<Attestation>) = all
        .iter()
        .cloned()
        .partition(|a| a.node_key != finance_node);

    let honest = vec![
        first.clone(),
        revoking.clone(),
        (block.clone(), others.clone()),
    ];
    verify(&b, &honest).expect("three of three attesting organisations after the revocation");

    let counted = vec![first.clone(), revoking.clone(), (block.clone(), all)];
    let err = verify(&b, &counted).expect_err("the revoked node key's attestation is refused");
    assert_eq!(err.height, Height(3));
    assert!(
        matches!(err.kind, VerifyErrorKind::UnknownAttester { .. }),
        "{err}"
    );

    // Before the revocation took effect, four organisations attest and a
    // majority of them is three.
    first.1.truncate(2);
    let short = vec![first, revoking, (block, others)];
    let err = verify(&b, &short).expect_err("two of four is short of a majority");
    assert_eq!(err.height, Height(1));
    assert!(
        matches!(
            err.kind,
            VerifyErrorKind::AttestationQuorum {
                required: 3,
                actual: 2
            }
        ),
        "{err}"
    );
}

#[test]
fn a_block_proposed_by_a_revoked_node_key_is_refused() {
    let mut b = builder();
    let proposer = b.nodes[0].public();
    let role = b
        .kit()
        .orgs
        .iter()
        .find(|o| o.node.public() == proposer)
        .map(|o| o.role);
    let revoking = b.seal(vec![revoke(&b, role.expect("a department"), proposer)]);
    let records = b.records(4);
    let after = b.seal(records);
    let err = verify(&b, &[revoking, after]).expect_err("its key is no longer in force");
    assert_eq!(err.height, Height(2));
    assert!(
        matches!(err.kind, VerifyErrorKind::UnknownProposer { .. }),
        "{err}"
    );
}
