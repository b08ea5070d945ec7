//! One fixed sample of every wire variant (and of every variant of the
//! enums inside them), named `request.<variant>[.<case>]` or
//! `response.<variant>[.<case>]`. Keys come from fixed seeds and ed25519
//! signs deterministically, so every sample encodes to the same bytes on
//! every run; `vectors` pins those bytes.

use std::collections::BTreeSet;

use fundtrail_ledger::block::{Attestation, Outcome, Verdict};
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::HashOf;
use fundtrail_ledger::record::{Envelope, FundCreditBody, FundSource, RecordBody, SignedRecord};
use fundtrail_ledger::types::{Amount, Height};
use fundtrail_ledger::{ChainId, Hash32};
use openraft::error::{Fatal, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{CommittedLeaderId, Entry, EntryPayload, Membership, SnapshotMeta, Vote};

use super::{
    DisclosureRequest, DisclosureResponse, Receipt, SubmitError, VaultEntry, WireRequest,
    WireResponse,
};
use crate::entry::{Batch, LogId, NodeId, StoredMembership, TypeConfig};

fn chain_id() -> ChainId {
    "gd-medfund-test".parse().expect("a valid chain id")
}

fn node_key() -> Keypair {
    Keypair::from_seed([1; 32])
}

fn vote() -> Vote<NodeId> {
    Vote::new(3, 1)
}

fn log_id() -> LogId {
    LogId::new(CommittedLeaderId::new(3, 1), 7)
}

fn membership() -> Membership<NodeId, openraft::BasicNode> {
    Membership::new(vec![BTreeSet::from([1, 2, 3])], BTreeSet::from([4]))
}

/// A fund credit signed by a fixed submitter key.
pub fn record() -> SignedRecord {
    let submitter = Keypair::from_seed([2; 32]);
    Envelope {
        version: 1,
        chain_id: chain_id(),
        body: RecordBody::FundCredit(FundCreditBody {
            fund_id: "basic-440100".parse().expect("a valid fund id"),
            amount: Amount::yuan(500),
            source: FundSource::Budget {
                appropriation: "CZ-2026-002".parse().expect("a valid code"),
            },
        }),
        submitter_key: submitter.public(),
        nonce: 1,
        approvals: Vec::new(),
    }
    .sign(&submitter)
}

fn entries() -> Vec<Entry<TypeConfig>> {
    let batch = Batch::propose(&node_key(), &chain_id(), 1_767_225_600_000, vec![record()]);
    let at = |index| LogId::new(CommittedLeaderId::new(3, 1), index);
    vec![
        Entry {
            log_id: at(5),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: at(6),
            payload: EntryPayload::Normal(batch),
        },
        Entry {
            log_id: at(7),
            payload: EntryPayload::Membership(membership()),
        },
    ]
}

fn attestation() -> Attestation {
    let key = node_key();
    let block_hash = HashOf::from_hash(Hash32([9; 32]));
    let digest = Attestation::digest(&chain_id(), Height(2), &block_hash);
    Attestation {
        chain_id: chain_id(),
        height: Height(2),
        block_hash,
        node_key: key.public(),
        signature: key.sign(&digest),
    }
}

pub fn requests() -> Vec<(&'static str, WireRequest)> {
    let append = |entries| {
        WireRequest::AppendEntries(AppendEntriesRequest {
            vote: vote(),
            prev_log_id: Some(LogId::new(CommittedLeaderId::new(2, 2), 4)),
            entries,
            leader_commit: Some(log_id()),
        })
    };
    vec![
        ("request.append_entries.heartbeat", append(Vec::new())),
        ("request.append_entries.entries", append(entries())),
        (
            "request.vote",
            WireRequest::Vote(VoteRequest::new(vote(), Some(log_id()))),
        ),
        (
            "request.install_snapshot",
            WireRequest::InstallSnapshot(InstallSnapshotRequest {
                vote: vote(),
                meta: SnapshotMeta {
                    last_log_id: Some(log_id()),
                    last_membership: StoredMembership::new(Some(log_id()), membership()),
                    snapshot_id: "3-1-7".into(),
                },
                offset: 65_536,
                data: vec![1, 2, 3],
                done: false,
            }),
        ),
        ("request.submit", WireRequest::Submit(vec![record()])),
        (
            "request.attestations",
            WireRequest::Attestations {
                from: Height(1),
                to: Height(2),
            },
        ),
        (
            "request.disclose",
            WireRequest::Disclose(DisclosureRequest {
                fetch: record().id(),
                height: Height(3),
            }),
        ),
    ]
}

pub fn responses() -> Vec<(&'static str, WireResponse)> {
    let append = WireResponse::AppendEntries;
    let submit = WireResponse::Submit;
    let committed = Receipt::Committed {
        height: Height(2),
        index: 0,
        outcome: Outcome {
            record_id: record().id(),
            verdict: Verdict::Accepted,
            signals: Vec::new(),
        },
    };
    let already = Receipt::AlreadyCommitted {
        height: Height(1),
        index: 3,
        outcome: Outcome {
            record_id: record().id(),
            verdict: Verdict::Accepted,
            signals: Vec::new(),
        },
    };
    let refused = Receipt::Refused {
        record_id: record().id(),
        reason: "signature does not verify".into(),
    };
    let entry = VaultEntry {
        record_id: record().id(),
        salt: vec![0x5c; 32],
        raw_bill: b"raw bill".to_vec(),
    };
    vec![
        (
            "response.append_entries.success",
            append(Ok(AppendEntriesResponse::Success)),
        ),
        (
            "response.append_entries.partial_success",
            append(Ok(AppendEntriesResponse::PartialSuccess(Some(log_id())))),
        ),
        (
            "response.append_entries.conflict",
            append(Ok(AppendEntriesResponse::Conflict)),
        ),
        (
            "response.append_entries.higher_vote",
            append(Ok(AppendEntriesResponse::HigherVote(Vote::new(4, 2)))),
        ),
        (
            "response.append_entries.fatal",
            append(Err(RaftError::Fatal(Fatal::Stopped))),
        ),
        (
            "response.vote",
            WireResponse::Vote(Ok(VoteResponse::new(vote(), Some(log_id()), true))),
        ),
        (
            "response.install_snapshot",
            WireResponse::InstallSnapshot(Ok(InstallSnapshotResponse { vote: vote() })),
        ),
        (
            "response.submit.receipts",
            submit(Ok(vec![committed, refused])),
        ),
        (
            "response.submit.already_committed",
            submit(Ok(vec![already])),
        ),
        (
            "response.submit.not_leader",
            submit(Err(SubmitError::NotLeader { leader: Some(2) })),
        ),
        ("response.submit.timeout", submit(Err(SubmitError::Timeout))),
        (
            "response.submit.internal",
            submit(Err(SubmitError::Internal("batcher stopped".into()))),
        ),
        (
            "response.attestations",
            WireResponse::Attestations(vec![attestation()]),
        ),
        (
            "response.disclose.granted",
            WireResponse::Disclose(DisclosureResponse::Granted(entry)),
        ),
        (
            "response.disclose.refused",
            WireResponse::Disclose(DisclosureResponse::Refused(
                "the disclosure names another holder".into(),
            )),
        ),
        ("response.refused", WireResponse::Refused("busy".into())),
    ]
}
