//! The signature rule end to end, in process: records and attestations
//! signed with crafted edge-case signatures (`edge_sig`) by enrolled keys of
//! the test consortium get the same verdict at node admission, when a node
//! applies a batch, installs a snapshot or takes in an attestation, in the
//! offline verifier and the auditor, and when a proof's attestations are
//! counted, however the signatures are grouped.

use fundtrail_contracts::{AuditError, Auditor};
use fundtrail_ledger::block::{Attestation, Block};
use fundtrail_ledger::chainfile::ChainWriter;
use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::Height;
use fundtrail_ledger::verify::{ChainVerifier, VerifyError, VerifyErrorKind};
use fundtrail_node::chain::{AdmitError, Chain};
use fundtrail_node::entry::{Batch, LogId, Placement, StoredMembership};
use fundtrail_node::proof::ProofFile;
use fundtrail_testkit::chain::{attest, ChainBuilder, DEPARTMENTS};
use fundtrail_testkit::Kit;
use fundtrail_tests::data_tempdir;
use fundtrail_tests::edge_sig::EdgeKind;
use openraft::CommittedLeaderId;

const SEED: u64 = 215;
const PEOPLE: u64 = 40;
/// Honest records around the crafted ones: enough that admission splits
/// its signatures into more than one batch chunk.
const FILLERS: usize = 300;

fn builder() -> ChainBuilder {
    ChainBuilder::new(SEED, PEOPLE)
}

/// `record` with its submitter's signature replaced by one of `kind`.
fn resign(kit: &Kit, record: SignedRecord, kind: EdgeKind) -> SignedRecord {
    let submitter = kit
        .orgs
        .iter()
        .map(|o| &o.submitter)
        .find(|k| k.public() == record.envelope.submitter_key)
        .expect("workload records are signed by kit submitters");
    let signature = kind.sign(submitter.secret_bytes(), &record.id().hash());
    SignedRecord {
        signature,
        ..record
    }
}

/// One workload record re-signed with each kind, after `fillers` honest ones.
fn records(b: &mut ChainBuilder, kinds: &[EdgeKind], fillers: usize) -> Vec<SignedRecord> {
    let mut records = b.workload_records(fillers + kinds.len());
    let crafted = records.split_off(fillers);
    records.extend(
        crafted
            .into_iter()
            .zip(kinds)
            .map(|(r, kind)| resign(&b.workload.kit, r, *kind)),
    );
    records
}

fn kind_of(records: &[SignedRecord], kinds: &[EdgeKind], record: &SignedRecord) -> EdgeKind {
    let crafted = &records[records.len() - kinds.len()..];
    crafted
        .iter()
        .position(|r| r == record)
        .map_or(EdgeKind::Honest, |i| kinds[i])
}

fn assert_admitted_by_the_rule(
    chain: &Chain,
    batch: &[SignedRecord],
    kinds: &[EdgeKind],
    all: &[SignedRecord],
) {
    for (record, verdict) in batch.iter().zip(chain.admit(batch)) {
        let kind = kind_of(all, kinds, record);
        match verdict {
            Ok(id) => {
                assert!(kind.valid(), "{kind:?} admitted");
                assert_eq!(id, record.id());
            }
            Err(AdmitError::BadSignature(_)) => assert!(!kind.valid(), "{kind:?} refused"),
            Err(e) => panic!("{kind:?}: unexpected {e}"),
        }
    }
}

#[test]
fn admission_gives_each_kind_its_verdict_in_any_batch() {
    let mut b = builder();
    let all = records(&mut b, &EdgeKind::ALL, FILLERS);
    let dir = data_tempdir();
    let chain = Chain::open(dir.path(), &b.genesis).expect("open");
    let crafted = &all[FILLERS..];

    assert_admitted_by_the_rule(&chain, &all, &EdgeKind::ALL, &all);
    for record in crafted {
        assert_admitted_by_the_rule(&chain, std::slice::from_ref(record), &EdgeKind::ALL, &all);
    }
    let reversed: Vec<SignedRecord> = all.iter().rev().cloned().collect();
    assert_admitted_by_the_rule(&chain, &reversed, &EdgeKind::ALL, &all);
    let among_few: Vec<SignedRecord> = [crafted, &all[..3]].concat();
    assert_admitted_by_the_rule(&chain, &among_few, &EdgeKind::ALL, &all);
}

fn apply(chain: &Chain, b: &ChainBuilder, records: Vec<SignedRecord>) -> Vec<Placement> {
    let timestamp_ms = b.genesis.timestamp_ms + 1_000;
    let batch = Batch::propose(&b.nodes[0], &b.genesis.chain_id, timestamp_ms, records);
    let log_id = LogId::new(CommittedLeaderId::new(1, 0), 1);
    let applied = chain
        .apply_batch(&batch, &log_id, &StoredMembership::default())
        .expect("apply");
    applied
        .applied
        .placements
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// A node that applies a batch without having admitted it checks the
/// signatures itself: the invalid kind is dropped, the valid ones are
/// included, and the block it seals verifies offline.
#[test]
fn apply_includes_exactly_the_valid_kinds() {
    let mut b = builder();
    let all = records(&mut b, &EdgeKind::ALL, 20);
    let dir = data_tempdir();
    let chain = Chain::open(dir.path(), &b.genesis).expect("open");
    let placements = apply(&chain, &b, all.clone());
    for (record, placement) in all.iter().zip(&placements) {
        let kind = kind_of(&all, &EdgeKind::ALL, record);
        match placement {
            Placement::Included { .. } => assert!(kind.valid(), "{kind:?} included"),
            Placement::Dropped { reason } => {
                assert!(!kind.valid(), "{kind:?} dropped: {reason}");
                assert!(reason.contains("signature"), "{reason}");
            }
            Placement::Duplicate => panic!("{kind:?} taken for a duplicate"),
        }
    }

    let store = chain.store();
    let block = store
        .block(Height(1))
        .expect("read")
        .expect("the batch made a block");
    let attestations = attest(&b.nodes, &block);
    let mut verifier = ChainVerifier::new(b.genesis.clone())
        .expect("genesis")
        .require_attesting_orgs(DEPARTMENTS);
    verifier
        .verify_blocks(vec![(block, attestations)])
        .expect("the node's block verifies offline");
}

/// A chain of three blocks: honest records around crafted ones in the
/// middle block, and every node's attestation of each block signed with
/// `attestation_kinds` in turn.
fn chain_with(
    kinds: &[EdgeKind],
    attestation_kinds: &[EdgeKind],
) -> Vec<(Block, Vec<Attestation>)> {
    let mut b = builder();
    let mut entries = Vec::new();
    for crafted in [&[][..], kinds, &[]] {
        let records = records(&mut b, crafted, 30);
        let (block, mut attestations) = b.seal(records);
        for ((a, node), kind) in attestations
            .iter_mut()
            .zip(&b.nodes)
            .zip(attestation_kinds.iter().cycle())
        {
            a.signature = kind.sign(node.secret_bytes(), &a.signed_digest().digest);
        }
        entries.push((block, attestations));
    }
    entries
}

fn verify_offline(entries: &[(Block, Vec<Attestation>)], group: usize) -> Result<(), VerifyError> {
    let mut verifier = ChainVerifier::new(builder().genesis)
        .expect("genesis")
        .require_attesting_orgs(DEPARTMENTS);
    for batch in entries.chunks(group) {
        verifier.verify_blocks(batch.to_vec())?;
    }
    verifier.finish(Height(entries.len() as u64))
}

fn audit(entries: &[(Block, Vec<Attestation>)], group: usize) -> Result<(), AuditError> {
    let mut auditor = Auditor::new(builder().genesis)
        .expect("genesis")
        .require_attesting_orgs(DEPARTMENTS);
    for batch in entries.chunks(group) {
        auditor.audit_blocks(batch.to_vec())?;
    }
    auditor.finish(Height(entries.len() as u64)).map(|_| ())
}

const VALID: [EdgeKind; 3] = [EdgeKind::Honest, EdgeKind::TorsionR, EdgeKind::SmallOrderR];

#[test]
fn offline_verifier_and_auditor_accept_the_valid_kinds_in_any_grouping() {
    let entries = chain_with(&VALID, &VALID);
    for group in [1, 2, 3] {
        verify_offline(&entries, group).expect("valid kinds verify");
        audit(&entries, group).expect("valid kinds audit");
    }
}

#[test]
fn offline_verifier_and_auditor_refuse_a_record_with_a_non_canonical_s() {
    let entries = chain_with(&[EdgeKind::TorsionR, EdgeKind::NonCanonicalS], &VALID);
    let bad = entries[1].0.records.last().expect("crafted record").id();
    for group in [1, 2, 3] {
        let err = verify_offline(&entries, group).expect_err("refused");
        assert_eq!((err.height, err.record), (Height(2), Some(bad)), "{err}");
        assert!(matches!(err.kind, VerifyErrorKind::Signature(_)), "{err}");
        let err = audit(&entries, group).expect_err("refused");
        assert_eq!(err.height(), Height(2), "{err}");
        assert!(matches!(err, AuditError::Ledger(_)), "{err}");
    }
}

#[test]
fn offline_verifier_and_auditor_refuse_an_attestation_with_a_non_canonical_s() {
    let entries = chain_with(&VALID, &[EdgeKind::TorsionR, EdgeKind::NonCanonicalS]);
    for group in [1, 2, 3] {
        let err = verify_offline(&entries, group).expect_err("refused");
        assert_eq!(err.height, Height(1), "{err}");
        assert!(
            matches!(err.kind, VerifyErrorKind::AttestationSignature { .. }),
            "{err}"
        );
        assert!(audit(&entries, group).is_err());
    }
}

/// `fundtrail verify-proof` counts the organisations whose attestation
/// holds under the rule: the crafted valid kinds count, a non-canonical s
/// does not.
#[test]
fn proof_verification_counts_attestations_by_the_rule() {
    let genesis = builder().genesis;
    let count = |attestation_kinds: &[EdgeKind]| {
        let entries = chain_with(&VALID, attestation_kinds);
        let (block, attestations) = entries[1].clone();
        let proof = ProofFile::build(&block, block.records.len() - 1, attestations).expect("proof");
        proof.verify(&genesis).expect("inclusion holds")
    };
    assert_eq!(count(&VALID), DEPARTMENTS);
    assert_eq!(
        count(&[
            EdgeKind::TorsionR,
            EdgeKind::SmallOrderR,
            EdgeKind::NonCanonicalS
        ]),
        3
    );
    assert_eq!(count(&[EdgeKind::NonCanonicalS]), 0);
}

fn chain_file(entries: &[(Block, Vec<Attestation>)]) -> Vec<u8> {
    let genesis = builder().genesis;
    let last = Height(entries.len() as u64);
    let mut w = ChainWriter::new(Vec::new(), &genesis, Height(1), last).expect("in-memory writer");
    for (block, attestations) in entries {
        w.write_block(block, attestations).expect("in-memory write");
    }
    w.finish().expect("in-memory finish")
}

fn install(entries: &[(Block, Vec<Attestation>)]) -> (tempfile::TempDir, Chain, bool) {
    let dir = data_tempdir();
    let chain = Chain::open(dir.path(), &builder().genesis).expect("open");
    let installed = chain
        .install(
            chain_file(entries).as_slice(),
            &None,
            &StoredMembership::default(),
        )
        .is_ok();
    (dir, chain, installed)
}

/// A node installing a snapshot verifies it by the rule, and so does a node
/// taking in a peer's attestation of a block it has.
#[test]
fn snapshot_install_and_attestation_intake_follow_the_rule() {
    let (_dir, chain, installed) = install(&chain_with(&VALID, &VALID));
    assert!(installed, "a chain with the valid kinds installs");
    let bad = chain_with(&[EdgeKind::NonCanonicalS], &VALID);
    assert!(
        !install(&bad).2,
        "a record with a non-canonical s is refused"
    );

    let b = builder();
    let (block, honest) = chain_with(&[], &[EdgeKind::Honest])[0].clone();
    assert_eq!(
        chain.store().header(Height(1)).expect("read"),
        Some(block.header)
    );
    for kind in EdgeKind::ALL {
        for (mut a, node) in honest.iter().cloned().zip(&b.nodes) {
            a.signature = kind.sign(node.secret_bytes(), &a.signed_digest().digest);
            let accepted = chain.accept_attestation(&a).expect("store");
            assert_eq!(accepted, kind.valid(), "{kind:?}");
        }
    }
}
