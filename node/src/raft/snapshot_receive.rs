//! Receives a Raft snapshot (the chain file) chunk by chunk into an
//! unnamed spool file, and hands it to openraft only once the chain in it
//! has been checked: links, roots, signatures, the attestation quorum on
//! every block, agreement with the blocks this node already holds, and a
//! Raft membership that keeps a majority of the voters in force at the
//! head of that chain.
//! openraft treats a failed install as a fatal storage error, so a bad
//! snapshot must never reach it: one that fails here is discarded with a
//! log line and the node keeps its state and keeps running.
//!
//! Chunks must arrive in order, each continuing the snapshot the first
//! one started; the total is bounded by `[raft] snapshot_max_bytes`.

use std::io::{BufReader, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;

use openraft::raft::{InstallSnapshotRequest, InstallSnapshotResponse};
use openraft::{Snapshot, SnapshotMeta};
use tokio::sync::Mutex;

use super::inbound::Inbound;
use super::Raft;
use crate::chain::Chain;
use crate::entry::{NodeId, TypeConfig};

/// Why a snapshot message was refused. Nothing of the snapshot is kept.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("snapshot chunk at offset {offset} does not continue the snapshot in hand")]
    OutOfOrder { offset: u64 },
    #[error("snapshot exceeds the configured limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("snapshot refused: {0}")]
    Invalid(String),
    #[error("snapshot spool: {0}")]
    Spool(#[from] std::io::Error),
    #[error("raft: {0}")]
    Raft(String),
}

/// A snapshot whose chunks are arriving.
struct Receiving {
    meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    file: std::fs::File,
    received: u64,
}

pub struct SnapshotReceiver {
    raft: Raft,
    chain: Arc<Chain>,
    /// Checks the snapshot's Raft membership against the voters in force
    /// at the head of its chain.
    inbound: Inbound,
    spool: PathBuf,
    max_bytes: u64,
    current: Mutex<Option<Receiving>>,
}

impl SnapshotReceiver {
    pub fn new(
        raft: Raft,
        chain: Arc<Chain>,
        inbound: Inbound,
        spool: PathBuf,
        max_bytes: u64,
    ) -> SnapshotReceiver {
        SnapshotReceiver {
            raft,
            chain,
            inbound,
            spool,
            max_bytes,
            current: Mutex::new(None),
        }
    }

    /// Takes one chunk; on the last, checks and installs the snapshot.
    /// A chunk from a leader older than this node's vote is answered with
    /// that vote and not kept, as openraft's own receiver does.
    pub async fn receive(
        &self,
        r: InstallSnapshotRequest<TypeConfig>,
    ) -> Result<InstallSnapshotResponse<NodeId>, ReceiveError> {
        let vote = self.current_vote().await?;
        if r.vote < vote {
            return Ok(InstallSnapshotResponse { vote });
        }
        let mut current = self.current.lock().await;
        let result = self.take_chunk(&mut current, &r);
        if result.is_err() {
            *current = None;
        }
        result?;
        if !r.done {
            return Ok(InstallSnapshotResponse { vote });
        }
        let Some(done) = current.take() else {
            return Err(ReceiveError::OutOfOrder { offset: r.offset });
        };
        drop(current);
        self.install(r.vote, done).await
    }

    async fn current_vote(&self) -> Result<openraft::Vote<NodeId>, ReceiveError> {
        self.raft
            .with_raft_state(|s| *s.vote_ref())
            .await
            .map_err(|e| ReceiveError::Raft(e.to_string()))
    }

    /// Appends the chunk to the snapshot in hand, starting a new one at
    /// offset 0.
    fn take_chunk(
        &self,
        current: &mut Option<Receiving>,
        r: &InstallSnapshotRequest<TypeConfig>,
    ) -> Result<(), ReceiveError> {
        if r.offset == 0 {
            *current = Some(Receiving {
                meta: r.meta.clone(),
                file: tempfile::tempfile_in(&self.spool)?,
                received: 0,
            });
        }
        let receiving = current
            .as_mut()
            .filter(|c| c.meta.snapshot_id == r.meta.snapshot_id && c.received == r.offset)
            .ok_or(ReceiveError::OutOfOrder { offset: r.offset })?;
        let total = receiving.received.saturating_add(r.data.len() as u64);
        if total > self.max_bytes {
            return Err(ReceiveError::TooLarge {
                limit: self.max_bytes,
            });
        }
        tokio::task::block_in_place(|| receiving.file.write_all(&r.data))?;
        receiving.received = total;
        Ok(())
    }

    async fn install(
        &self,
        vote: openraft::Vote<NodeId>,
        mut done: Receiving,
    ) -> Result<InstallSnapshotResponse<NodeId>, ReceiveError> {
        let (height, membership) = tokio::task::block_in_place(|| {
            done.file.rewind()?;
            let checked = self
                .chain
                .check_snapshot(BufReader::new(&done.file))
                .map_err(|e| ReceiveError::Invalid(e.to_string()));
            done.file.rewind()?;
            checked
        })?;
        let voters = self.inbound.voters_in_force_at(&membership);
        self.inbound
            .check_majority(done.meta.last_membership.membership(), &voters)
            .map_err(|e| ReceiveError::Invalid(e.to_string()))?;
        tracing::info!(%height, bytes = done.received, "snapshot checked; installing");
        let snapshot = Snapshot {
            meta: done.meta,
            snapshot: Box::new(tokio::fs::File::from_std(done.file)),
        };
        let response = self
            .raft
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| ReceiveError::Raft(e.to_string()))?;
        Ok(response.into())
    }
}
