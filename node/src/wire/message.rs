//! The messages nodes exchange, one request or response per frame. Each
//! type here crosses the wire in BCS, which encodes an enum variant by its
//! position and a struct by its field order: reordering either changes the
//! bytes, which the vectors in `node/testdata/wire_vectors.json` catch.

use fundtrail_ledger::block::{Attestation, Outcome};
use fundtrail_ledger::record::{RecordId, SignedRecord};
use fundtrail_ledger::store::RecordEntry;
use fundtrail_ledger::types::Height;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::entry::{NodeId, TypeConfig};

/// A request to a peer. The variant order is the tag order the frame
/// limits are keyed by.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot (the chain file); travels on its own
    /// protocol.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Records forwarded to the leader; answered once committed.
    Submit(Vec<SignedRecord>),
    /// Attestations this peer holds for heights `from..=to`.
    Attestations {
        from: Height,
        to: Height,
    },
    /// A raw record asked for under an accepted on-chain disclosure fetch.
    Disclose(DisclosureRequest),
}

/// The answer to a [`WireRequest`]: the variant of the same name, or
/// [`WireResponse::Refused`].
#[derive(Debug, Serialize, Deserialize)]
pub enum WireResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Submit(Result<Vec<Receipt>, SubmitError>),
    Attestations(Vec<Attestation>),
    Disclose(DisclosureResponse),
    /// The request was not served (e.g. the peer is not a consortium node).
    Refused(String),
}

/// What happened to one submitted record. Clients see it as JSON too.
/// (Externally tagged: it crosses the wire in BCS, which has no internal
/// tags.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Receipt {
    /// In a committed block, with the contracts' verdict.
    Committed {
        height: Height,
        index: u32,
        outcome: Outcome,
    },
    /// Not admitted: bad signature, unknown key, malformed. Nothing changed.
    Refused { record_id: RecordId, reason: String },
    /// Already on the chain before this submission (a resubmission): the
    /// original placement and verdict. Nothing changed.
    AlreadyCommitted {
        height: Height,
        index: u32,
        outcome: Outcome,
    },
}

impl Receipt {
    /// The answer for a record that was on the chain before it was submitted.
    pub fn already_committed(entry: RecordEntry) -> Receipt {
        Receipt::AlreadyCommitted {
            height: entry.height,
            index: entry.index,
            outcome: entry.outcome,
        }
    }
}

/// Why a submission got no receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SubmitError {
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("no leader could take the record before the deadline")]
    Timeout,
    #[error("internal error: {0}")]
    Internal(String),
}

/// Asks the holder of a raw bill for it, once per fetch the chain accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureRequest {
    /// The accepted `disclosure_fetch` record that authorises this one
    /// delivery (it names the disclosure, which names the bill).
    pub fetch: RecordId,
    /// The height of the block that holds it, as the requester has it: the
    /// holder waits a moment to have applied that block before it looks.
    pub height: Height,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisclosureResponse {
    Granted(VaultEntry),
    Refused(String),
}

/// A raw bill as its department keeps it in its vault, deposits it, and
/// discloses it. Hidden in `Debug`; its bytes are wiped when dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultEntry {
    /// The claim record the bill belongs to.
    pub record_id: RecordId,
    #[serde(with = "hex_bytes")]
    pub salt: Vec<u8>,
    #[serde(with = "hex_bytes")]
    pub raw_bill: Vec<u8>,
}

impl std::fmt::Debug for VaultEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VaultEntry({}, {} bytes, hidden)",
            self.record_id,
            self.raw_bill.len()
        )
    }
}

impl Drop for VaultEntry {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.salt);
        zeroize::Zeroize::zeroize(&mut self.raw_bill);
    }
}

/// Bytes as hex in JSON, as plain bytes in BCS.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(bytes))
        } else {
            bytes.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            hex::decode(s).map_err(serde::de::Error::custom)
        } else {
            Vec::<u8>::deserialize(d)
        }
    }
}
