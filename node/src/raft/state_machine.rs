//! The Raft state machine: the chain. Applying a batch entry commits a
//! block (with the applied index in the same write batch) and signs an
//! attestation of it; a snapshot is the chain file up to the applied block.
//!
//! A snapshot in transit (exported for a follower, or being received) is an
//! unnamed temporary file in the data directory, never a buffer in memory:
//! it is the whole chain. The file has no name, so it vanishes when openraft
//! drops it or the process dies.

use std::io::{BufReader, BufWriter, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fundtrail_ledger::block::Attestation;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::types::Height;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use tokio::fs::File;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{read_err, write_err, StorageError};
use crate::chain::{AppliedBatch, Chain, ChainError, SnapshotPoint};
use crate::entry::{Batch, BatchApplied, LogId, NodeId, StoredMembership, TypeConfig};
use crate::metrics::Metrics;

/// How long an export waits for its head block's attestation quorum.
const QUORUM_WAIT: Duration = Duration::from_secs(10);

pub struct StateMachine {
    chain: Arc<Chain>,
    metrics: Arc<Metrics>,
    node_key: Arc<Keypair>,
    attestations: mpsc::UnboundedSender<Attestation>,
    membership: StoredMembership,
    /// Whether openraft has asked for the current snapshot since this
    /// process started; see `get_current_snapshot`.
    snapshot_asked: bool,
    /// Where snapshot files in transit live (the data directory).
    spool: PathBuf,
}

impl StateMachine {
    /// `attestations` receives this node's attestation of every block it
    /// commits, for gossip; snapshots in transit are spooled in `spool`.
    pub fn new(
        chain: Arc<Chain>,
        node_key: Arc<Keypair>,
        attestations: mpsc::UnboundedSender<Attestation>,
        metrics: Arc<Metrics>,
        spool: PathBuf,
    ) -> Result<StateMachine, ChainError> {
        let (_, membership) = chain.applied_state()?;
        Ok(StateMachine {
            chain,
            metrics,
            node_key,
            attestations,
            membership,
            snapshot_asked: false,
            spool,
        })
    }

    /// Exports the chain up to `point` into a new spool file.
    fn export(&self, point: &SnapshotPoint) -> std::io::Result<File> {
        let mut out = BufWriter::new(tempfile::tempfile_in(&self.spool)?);
        self.chain
            .export_at(&mut out, point)
            .map_err(std::io::Error::other)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        Ok(File::from_std(file))
    }

    /// Waits, at most [`QUORUM_WAIT`], until the block at `height` is
    /// attested by the quorum a follower requires of every block of a
    /// snapshot; the newest block may still be collecting attestations.
    async fn await_quorum(&self, height: Height) {
        let deadline = tokio::time::Instant::now() + QUORUM_WAIT;
        while height > Height(0) && tokio::time::Instant::now() < deadline {
            match self.chain.has_quorum(height) {
                Ok(true) => return,
                Ok(false) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "reading attestations for a snapshot failed");
                    return;
                }
            }
        }
        if height > Height(0) {
            tracing::warn!(%height, "exporting a snapshot whose head lacks the attestation quorum; followers will refuse it until it has");
        }
    }

    fn apply_batch(&self, batch: &Batch, log_id: &LogId) -> Result<BatchApplied, ChainError> {
        let started = std::time::Instant::now();
        let AppliedBatch {
            applied,
            block,
            phases,
        } = tokio::task::block_in_place(|| {
            self.chain.apply_batch(batch, log_id, &self.membership)
        })?;
        let took = started.elapsed();
        self.metrics.apply_seconds.observe(took.as_secs_f64());
        if let Some(block) = block {
            tracing::info!(
                height = %block.header.height,
                records = block.records.len(),
                apply_ms = took.as_millis() as u64,
                admit_ms = phases.admit.as_millis() as u64,
                execute_ms = phases.execute.as_millis() as u64,
                state_reads_ms = phases.state_reads.as_millis() as u64,
                commit_ms = phases.commit.as_millis() as u64,
                "block committed"
            );
            self.metrics.block_committed(&block);
            if !self
                .chain
                .attests(&self.node_key.public(), block.header.height)
            {
                return Ok(applied);
            }
            let a = Attestation::sign(
                &self.node_key,
                &block.header.chain_id,
                block.header.height,
                block.hash(),
            );
            self.chain.store().put_attestation(&a)?;
            let _ = self.attestations.send(a);
        }
        Ok(applied)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        self.chain.applied_state().map_err(read_err)
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchApplied>, StorageError>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        for entry in entries {
            let log_id = entry.log_id;
            let applied = match entry.payload {
                EntryPayload::Normal(batch) => self.apply_batch(&batch, &log_id),
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(log_id), m);
                    self.chain
                        .record_applied(&log_id, &self.membership)
                        .map(|_| BatchApplied::default())
                }
                EntryPayload::Blank => self
                    .chain
                    .record_applied(&log_id, &self.membership)
                    .map(|_| BatchApplied::default()),
            };
            out.push(applied.map_err(write_err)?);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            chain: self.chain.clone(),
            spool: self.spool.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<File>, StorageError> {
        Ok(Box::new(spool_file(&self.spool).map_err(write_err)?))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        mut snapshot: Box<File>,
    ) -> Result<(), StorageError> {
        snapshot.flush().await.map_err(write_err)?;
        let bytes = rewound(&mut snapshot).await.map_err(read_err)?;
        let file = BufReader::new(snapshot.into_std().await);
        let height = tokio::task::block_in_place(|| {
            self.chain
                .install(file, &meta.last_log_id, &meta.last_membership)
        })
        .map_err(write_err)?;
        tracing::info!(%height, bytes, "installed and verified chain snapshot");
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    /// The chain file up to the applied block, exported now: what Raft
    /// sends a follower that is behind the purged log. No snapshot file is
    /// kept, so the first request, which openraft makes when it starts and
    /// only for the meta, is answered with none; openraft then takes a
    /// snapshot point itself if it has purged log. That spares every start
    /// an export of the whole chain.
    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        if !std::mem::replace(&mut self.snapshot_asked, true) {
            return Ok(None);
        }
        let point = self.chain.snapshot_point().map_err(read_err)?;
        self.await_quorum(point.head.height).await;
        let mut file = tokio::task::block_in_place(|| self.export(&point)).map_err(read_err)?;
        let bytes = rewound(&mut file).await.map_err(read_err)?;
        let meta = snapshot_meta(point);
        tracing::info!(snapshot = %meta.snapshot_id, bytes, "exported chain snapshot");
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(file),
        }))
    }
}

/// Takes a snapshot. The chain is append-only and every committed block
/// stays in the store, so the blocks up to the applied one already are the
/// snapshot, durably: taking one only fixes its point, which lets Raft
/// purge the log behind it. Raft keeps nothing of a built snapshot but its
/// meta; the chain file is exported by `get_current_snapshot` when a
/// follower needs it. (Exporting the whole chain here, on every node every
/// `snapshot_every` entries, cost seconds of CPU that grew with the chain.)
pub struct SnapshotBuilder {
    chain: Arc<Chain>,
    spool: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let meta = snapshot_meta(self.chain.snapshot_point().map_err(read_err)?);
        tracing::info!(snapshot = %meta.snapshot_id, "snapshot point taken");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(spool_file(&self.spool).map_err(write_err)?),
        })
    }
}

/// Puts `file` back at its start, ready to be read; returns its length.
async fn rewound(file: &mut File) -> std::io::Result<u64> {
    let len = file.seek(SeekFrom::End(0)).await?;
    file.rewind().await?;
    Ok(len)
}

/// A new, empty, unnamed file in `dir`.
fn spool_file(dir: &std::path::Path) -> std::io::Result<File> {
    tempfile::tempfile_in(dir).map(File::from_std)
}

fn snapshot_meta(point: SnapshotPoint) -> SnapshotMeta<NodeId, openraft::BasicNode> {
    let snapshot_id = match &point.applied {
        Some(id) => format!("{}-{}-{}", id.leader_id, id.index, point.head.height),
        None => "empty".to_string(),
    };
    SnapshotMeta {
        last_log_id: point.applied,
        last_membership: point.membership,
        snapshot_id,
    }
}
