//! The auditor against tampering. An honest chain (real signatures, the
//! contracts executed for every block, attested by all four departments'
//! nodes) audits clean, batched and streamed; tampering is caught, and the
//! error names the height and, where one record is to blame, its id.
//!
//! Tampering the ledger's checks catch is tested in `ledger/tests/verify.rs`;
//! here, the streamed audit reports what the batched one does. Tampering
//! re-sealed and re-attested (as a colluding quorum of nodes could) passes
//! the ledger's checks, and only the contract replay catches it; those tests
//! show the ledger alone passes first. The last test audits 100,000 records
//! through a chain file.

use std::sync::OnceLock;

use fundtrail_contracts::replay::GROUP_RECORDS;
use fundtrail_contracts::{
    AuditError, AuditReport, Auditor, ReplayError, ReplayErrorKind, LATEST_RULES,
};
use fundtrail_ledger::block::{outcomes_root, records_root, Attestation, Block, Verdict};
use fundtrail_ledger::chainfile::{ChainReader, ChainWriter};
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::RecordBody;
use fundtrail_ledger::types::{Height, Role};
use fundtrail_ledger::verify::{ChainVerifier, VerifyError};
use fundtrail_ledger::Genesis;
use fundtrail_testkit::chain::{attest, node_keys, ChainBuilder, DEPARTMENTS};
use fundtrail_testkit::ledger::chain_file;
use fundtrail_testkit::Kit;

const BLOCKS: usize = 20;
const PER_BLOCK: usize = 150;
/// Blocks per `audit_blocks` call, so tampering sits mid-batch.
const BATCH: usize = 6;
/// Where most tampering happens: the third block of the second batch.
const TAMPERED: usize = 8;
const TAMPERED_HEIGHT: Height = Height(TAMPERED as u64 + 1);
/// The block that carries a claim and its duplicate, in that order.
const DUPLICATES: usize = 5;

#[derive(Clone)]
struct Chain {
    genesis: Genesis,
    entries: Vec<(Block, Vec<Attestation>)>,
    state_root: Hash32,
}

fn honest() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let mut b = ChainBuilder::new(2026, 300);
        let entries = (0..BLOCKS)
            .map(|i| {
                let mut records = b.workload_records(PER_BLOCK);
                if i == DUPLICATES {
                    records.extend(b.claim_and_duplicate());
                }
                b.seal(records)
            })
            .collect();
        Chain {
            genesis: b.genesis.clone(),
            entries,
            state_root: b.state_root,
        }
    })
}

fn audit(chain: &Chain) -> Result<AuditReport, AuditError> {
    let mut auditor = Auditor::new(chain.genesis.clone())?.require_attesting_orgs(DEPARTMENTS);
    for batch in chain.entries.chunks(BATCH) {
        auditor.audit_blocks(batch.to_vec())?;
    }
    auditor.finish(Height(chain.entries.len() as u64))
}

/// The ledger's checks alone, as `fundtrail verify` without replay.
fn ledger_only(chain: &Chain) -> Result<(), VerifyError> {
    let mut verifier =
        ChainVerifier::new(chain.genesis.clone())?.require_attesting_orgs(DEPARTMENTS);
    for batch in chain.entries.chunks(BATCH) {
        verifier.verify_blocks(batch.to_vec())?;
    }
    verifier.finish(Height(chain.entries.len() as u64))
}

fn ledger_error(chain: &Chain) -> VerifyError {
    match audit(chain) {
        Err(AuditError::Ledger(e)) => *e,
        other => panic!("expected a ledger error, got {other:?}"),
    }
}

fn replay_error(chain: &Chain) -> ReplayError {
    assert_eq!(ledger_only(chain), Ok(()), "the ledger's checks alone pass");
    match audit(chain) {
        Err(AuditError::Replay(e)) => *e,
        other => panic!("expected a replay error, got {other:?}"),
    }
}

/// Recomputes the roots of block `index` after tampering, then re-links and
/// re-attests it and every later block.
fn reseal(chain: &mut Chain, index: usize) {
    let block = &mut chain.entries[index].0;
    block.header.records_root = records_root(&block.records);
    block.header.outcomes_root = outcomes_root(&block.outcomes);
    reattest_from(chain, index);
}

fn reattest_from(chain: &mut Chain, index: usize) {
    let nodes = node_keys();
    for k in index..chain.entries.len() {
        if k > index {
            chain.entries[k].0.header.prev_hash = chain.entries[k - 1].0.hash().hash();
        }
        chain.entries[k].1 = attest(&nodes, &chain.entries[k].0);
    }
}

fn export(chain: &Chain) -> Vec<u8> {
    chain_file(&chain.genesis, &chain.entries)
}

/// Audits an exported chain file through the streaming path; also returns
/// the blocks and records the progress callback saw.
fn audit_file(bytes: &[u8]) -> (Result<AuditReport, AuditError>, u64, u64) {
    let (mut blocks, mut records) = (0, 0);
    let result = (|| {
        let mut reader = ChainReader::new(bytes)?;
        let mut auditor =
            Auditor::new(reader.genesis().clone())?.require_attesting_orgs(DEPARTMENTS);
        let last = reader.header().to_height;
        auditor.audit_stream(
            std::iter::from_fn(|| reader.next_entry().transpose()),
            |b| {
                blocks += 1;
                records += b.records as u64;
            },
        )?;
        auditor.finish(last)
    })();
    (result, blocks, records)
}

#[test]
fn honest_chain_audits_clean_in_batches_and_streamed() {
    let chain = honest();
    let report = audit(chain).expect("the honest chain audits clean");
    let records: usize = chain.entries.iter().map(|(b, _)| b.records.len()).sum();
    let (last, _) = chain.entries.last().expect("blocks");
    assert_eq!(report.blocks, BLOCKS as u64);
    assert_eq!(report.records, records as u64);
    assert_eq!(report.accepted + report.rejected, report.records);
    assert!(report.accepted > report.records / 3, "{report:?}");
    for code in ["ROLE_NOT_ALLOWED", "DUPLICATE_CLAIM", "ABOVE_ENTITLEMENT"] {
        assert!(
            report.rejected_by_code.keys().any(|c| c.as_str() == code),
            "no {code} in {:?}",
            report.rejected_by_code
        );
    }
    assert_eq!(report.head_height, last.header.height);
    assert_eq!(report.head_hash, last.hash().hash());
    assert_eq!(report.state_root, chain.state_root);
    assert_eq!(
        report.attestations.required,
        fundtrail_ledger::verify::QuorumRule::AtLeast(DEPARTMENTS)
    );
    assert_eq!(report.attestations.min_orgs, Some(DEPARTMENTS));
    assert_eq!(report.attestations.min_orgs_at, Some(Height(1)));

    let (streamed, blocks, seen) = audit_file(&export(chain));
    assert_eq!(streamed.expect("the exported file audits clean"), report);
    assert_eq!((blocks, seen), (report.blocks, report.records));
}

/// Streamed, a group's signatures are still being checked while the next
/// group is staged and the one before is replayed. An error in a later
/// group is still the one the batched audit reports, and only the blocks
/// before its group have passed.
#[test]
fn ledger_errors_mid_stream_match_the_batched_audit() {
    const {
        assert!(
            TAMPERED * PER_BLOCK > GROUP_RECORDS,
            "tampering after the first group"
        )
    };
    type Tamper = fn(&mut Chain);
    let cases: [(&str, Tamper); 2] = [
        ("record signature", |c| {
            c.entries[TAMPERED].0.records[7].signature.0[63] ^= 0x01
        }),
        ("header timestamp", |c| {
            c.entries[TAMPERED].0.header.timestamp_ms += 1
        }),
    ];
    for (what, tamper) in cases {
        let mut chain = honest().clone();
        tamper(&mut chain);
        let batched = ledger_error(&chain);
        assert_eq!(batched.height, TAMPERED_HEIGHT, "{what}: {batched}");
        let (streamed, blocks, _) = audit_file(&export(&chain));
        match streamed {
            // The same failure; a signature's index within its batch
            // differs with the grouping.
            Err(AuditError::Ledger(e)) => assert_eq!(
                (e.height, e.record, std::mem::discriminant(&e.kind)),
                (
                    batched.height,
                    batched.record,
                    std::mem::discriminant(&batched.kind)
                ),
                "{what}: {e} against {batched}"
            ),
            other => panic!("{what}: expected a ledger error, got {other:?}"),
        }
        assert!(
            blocks > 0 && blocks < TAMPERED_HEIGHT.0,
            "{what}: {blocks} blocks passed before the error"
        );
    }
}

#[test]
fn re_attested_header_fields_the_contracts_commit_to_fail_replay() {
    let mut chain = honest().clone();
    chain.entries[TAMPERED].0.header.state_root.0[0] ^= 1;
    reattest_from(&mut chain, TAMPERED);
    let e = replay_error(&chain);
    assert_eq!((e.height, e.record), (TAMPERED_HEIGHT, None));
    assert!(matches!(e.kind, ReplayErrorKind::StateRoot { .. }), "{e}");

    let mut chain = honest().clone();
    // A version this build supports, but not the one in force.
    chain.entries[TAMPERED].0.header.rules_version = 1;
    reattest_from(&mut chain, TAMPERED);
    let e = replay_error(&chain);
    assert_eq!(
        (e.height, e.kind),
        (
            TAMPERED_HEIGHT,
            ReplayErrorKind::RulesVersion {
                recorded: 1,
                replayed: LATEST_RULES
            }
        )
    );
}

#[test]
fn re_sealed_swap_of_dependent_records_fails_replay() {
    let mut chain = honest().clone();
    let block = &mut chain.entries[DUPLICATES].0;
    let (first, second) = (PER_BLOCK, PER_BLOCK + 1);
    block.records.swap(first, second);
    block.outcomes.swap(first, second);
    let duplicate = block.records[first].id();
    reseal(&mut chain, DUPLICATES);
    let e = replay_error(&chain);
    assert_eq!(
        (e.height, e.record),
        (Height(DUPLICATES as u64 + 1), Some(duplicate))
    );
    let ReplayErrorKind::Verdict {
        index,
        recorded: Verdict::Rejected { code },
        replayed: Verdict::Accepted,
    } = &e.kind
    else {
        panic!("expected a rejected-versus-accepted verdict, got {e}");
    };
    assert_eq!((*index, code.as_str()), (first, "DUPLICATE_CLAIM"));
}

#[test]
fn settlement_re_signed_by_the_health_submitter_fails_replay_for_role() {
    let mut chain = honest().clone();
    let kit = Kit::new(7); // the workload's keys
    let health = &kit.org(Role::Health).submitter;
    let (block_index, record_index) = (TAMPERED..chain.entries.len())
        .find_map(|k| {
            let b = &chain.entries[k].0;
            let i = b.records.iter().zip(&b.outcomes).position(|(r, o)| {
                matches!(r.envelope.body, RecordBody::Settlement(_))
                    && r.envelope.approvals.is_empty()
                    && o.is_accepted()
            })?;
            Some((k, i))
        })
        .expect("an accepted settlement without approvals");
    let target = &mut chain.entries[block_index].0;
    let mut envelope = target.records[record_index].envelope.clone();
    envelope.submitter_key = health.public();
    let resigned = envelope.sign(health);
    target.outcomes[record_index].record_id = resigned.id();
    target.records[record_index] = resigned.clone();
    reseal(&mut chain, block_index);

    let e = replay_error(&chain);
    assert_eq!(
        (e.height, e.record),
        (Height(block_index as u64 + 1), Some(resigned.id()))
    );
    let ReplayErrorKind::Verdict {
        recorded: Verdict::Accepted,
        replayed: Verdict::Rejected { code },
        ..
    } = &e.kind
    else {
        panic!("expected accepted-versus-rejected, got {e}");
    };
    assert_eq!(code.as_str(), "ROLE_NOT_ALLOWED");
}

#[test]
fn outcome_flipped_to_accepted_fails_replay_in_batches_and_streamed() {
    let mut chain = honest().clone();
    let block = &mut chain.entries[TAMPERED].0;
    let index = block
        .outcomes
        .iter()
        .position(|o| !o.is_accepted())
        .expect("a rejected record");
    let Verdict::Rejected { code } = block.outcomes[index].verdict.clone() else {
        unreachable!("position found a rejection");
    };
    block.outcomes[index].verdict = Verdict::Accepted;
    let record = block.records[index].id();
    reseal(&mut chain, TAMPERED);

    let e = replay_error(&chain);
    assert_eq!(
        e,
        ReplayError {
            height: TAMPERED_HEIGHT,
            record: Some(record),
            kind: ReplayErrorKind::Verdict {
                index,
                recorded: Verdict::Accepted,
                replayed: Verdict::Rejected { code },
            },
        }
    );
    match audit_file(&export(&chain)).0 {
        Err(AuditError::Replay(streamed)) => assert_eq!(*streamed, e),
        other => panic!("expected the same replay error, got {other:?}"),
    }
}

#[test]
fn truncated_chain_file_names_the_height_it_stopped_at() {
    let bytes = export(honest());
    let (result, blocks, _) = audit_file(&bytes[..bytes.len() * 2 / 3]);
    let Err(e @ AuditError::Read(_)) = result else {
        panic!("expected a read error, got {result:?}");
    };
    assert_eq!(e.height(), Height(blocks + 1), "{e}");
}

#[test]
fn hundred_thousand_records_audit_end_to_end() {
    const BIG_BLOCKS: usize = 50;
    const BIG_PER_BLOCK: usize = 2_000;
    // Several groups, so reading and verifying overlap the replay.
    const { assert!(BIG_BLOCKS * BIG_PER_BLOCK > 4 * GROUP_RECORDS) };
    let mut b = ChainBuilder::new(77, 20_000);
    let last = Height(BIG_BLOCKS as u64);
    let mut w = ChainWriter::new(Vec::new(), &b.genesis, Height(1), last).expect("writer");
    for _ in 0..BIG_BLOCKS {
        let records = b.workload_records(BIG_PER_BLOCK);
        let (block, atts) = b.seal(records);
        w.write_block(&block, &atts).expect("in-memory write");
    }
    let file = w.finish().expect("in-memory finish");
    // Speed is measured by `fundtrail bench verify`, not here.
    let (report, blocks, records) = audit_file(&file);
    let report = report.expect("the chain audits clean");
    assert_eq!(report.records, (BIG_BLOCKS * BIG_PER_BLOCK) as u64);
    assert_eq!((blocks, records), (report.blocks, report.records));
    assert_eq!(report.state_root, b.state_root);
    assert_eq!(report.head_hash, b.prev_hash);
    assert_eq!(report.attestations.min_orgs, Some(DEPARTMENTS));
}
