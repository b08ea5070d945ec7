//! Submission: any node takes signed records, checks them up front, and
//! gets them into a block through the current leader, retrying across
//! leader changes. Record ids make retries idempotent: a record already on
//! the chain is answered with its committed outcome, never applied twice.
//! The leader's batcher cuts pending records into Raft entries by count and
//! time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundtrail_ledger::record::{RecordId, SignedRecord, MAX_RECORD_BYTES};
use fundtrail_ledger::Keypair;
use openraft::error::{ClientWriteError, RaftError};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::chain::{AdmitError, Chain};
use crate::config::BatchConfig;
use crate::entry::{Batch, NodeId, Placement};
use crate::p2p::Net;
use crate::raft::Raft;
use crate::roster::Roster;
use crate::wire::{Receipt, SubmitError, WireRequest, WireResponse};

/// How long a submission keeps retrying before it reports a timeout.
const SUBMIT_DEADLINE: Duration = Duration::from_secs(60);
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// How long a receipt waits for this node to apply its block.
const LOCAL_APPLY_LIMIT: Duration = Duration::from_secs(10);
/// Raft entries the leader keeps in flight at once.
const IN_FLIGHT_BATCHES: usize = 4;
/// Encoded records one block holds at most, whatever `max_records` says:
/// with [`crate::wire::ENTRIES_PER_APPEND`] blocks per frame, a frame stays under the
/// wire's limit even if every record is as large as a record may be.
const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;
/// Records one forwarded request carries at most; the leader refuses more.
pub const MAX_FORWARDED_RECORDS: usize = 4096;
/// Encoded records one forwarded request carries at most: with one more
/// record, its frame stays under the wire's limit for a submission.
const MAX_FORWARDED_BYTES: usize = 8 * 1024 * 1024;
const _: () = assert!(MAX_FORWARDED_BYTES + MAX_RECORD_BYTES + 1024 < crate::wire::FORWARD_LIMIT);

/// When a submission is answered. The leader applies a block before
/// anyone hears it is committed; a follower applies it a moment later (up
/// to a second or so under full load), so a client that reads back through
/// the node it submitted to asks for `Applied`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerWhen {
    #[default]
    Committed,
    Applied,
}

type Waiter = oneshot::Sender<Result<Receipt, SubmitError>>;

#[derive(Clone)]
pub struct Submitter {
    inner: Arc<Inner>,
}

struct Inner {
    chain: Arc<Chain>,
    raft: Raft,
    net: Net,
    roster: Roster,
    node_id: NodeId,
    queue: mpsc::UnboundedSender<(SignedRecord, Waiter)>,
}

impl Submitter {
    /// Starts the batcher; it proposes only while this node leads.
    pub fn start(
        chain: Arc<Chain>,
        raft: Raft,
        net: Net,
        roster: Roster,
        node_id: NodeId,
        node_key: Arc<Keypair>,
        batch: BatchConfig,
    ) -> Submitter {
        let (queue, rx) = mpsc::unbounded_channel();
        let batcher = Batcher {
            chain: chain.clone(),
            raft: raft.clone(),
            node_key,
            config: batch,
            slots: Arc::new(Semaphore::new(IN_FLIGHT_BATCHES)),
        };
        tokio::spawn(batcher.run(rx));
        Submitter {
            inner: Arc::new(Inner {
                chain,
                raft,
                net,
                roster,
                node_id,
                queue,
            }),
        }
    }

    /// Submits records from a client and waits until each is committed
    /// (or refused), and with [`AnswerWhen::Applied`] until this node has
    /// applied it too. Receipts come back in the order of `records`.
    pub async fn submit(
        &self,
        records: Vec<SignedRecord>,
        when: AnswerWhen,
    ) -> Vec<Result<Receipt, SubmitError>> {
        let admitted = self.inner.chain.admit(&records);
        let (mut results, pending) = self.triage(records, admitted);
        let (slots, records): (Vec<usize>, Vec<SignedRecord>) = pending.into_iter().unzip();
        for (slot, result) in slots.into_iter().zip(self.route(records).await) {
            results[slot] = Some(result);
        }
        let results = finish(results);
        if when == AnswerWhen::Applied {
            self.apply_locally(&results).await;
        }
        results
    }

    /// Waits for this node to apply the highest block in `results`. A
    /// follower hears of a commit a moment after the leader answers; past
    /// the limit the receipts stand anyway, as they are committed.
    async fn apply_locally(&self, results: &[Result<Receipt, SubmitError>]) {
        let highest = results.iter().filter_map(|r| match r {
            Ok(Receipt::Committed { height, .. } | Receipt::AlreadyCommitted { height, .. }) => {
                Some(*height)
            }
            _ => None,
        });
        let Some(height) = highest.max() else { return };
        if !self
            .inner
            .chain
            .applied_through(height, LOCAL_APPLY_LIMIT)
            .await
        {
            tracing::warn!(
                height = height.0,
                "committed, but not yet applied on this node; answering anyway"
            );
        }
    }

    /// Answers what can be answered without ordering: refused records and
    /// records already on the chain. Returns the rest with their slots.
    fn triage(
        &self,
        records: Vec<SignedRecord>,
        admitted: Vec<Result<RecordId, AdmitError>>,
    ) -> (Slots, Vec<(usize, SignedRecord)>) {
        let mut results = vec![None; records.len()];
        let mut pending = Vec::new();
        for (i, (record, verdict)) in records.into_iter().zip(admitted).enumerate() {
            match verdict {
                Err(e) => {
                    results[i] = Some(Ok(Receipt::Refused {
                        record_id: record.id(),
                        reason: e.to_string(),
                    }))
                }
                Ok(id) => match committed_receipt(&self.inner.chain, &id) {
                    Some(receipt) => results[i] = Some(Ok(receipt)),
                    None => pending.push((i, record)),
                },
            }
        }
        (results, pending)
    }

    /// Gets records committed through whichever node leads, retrying
    /// across leader changes until the deadline.
    async fn route(&self, records: Vec<SignedRecord>) -> Vec<Result<Receipt, SubmitError>> {
        if records.is_empty() {
            return Vec::new();
        }
        let deadline = Instant::now() + SUBMIT_DEADLINE;
        let mut last = SubmitError::Timeout;
        while Instant::now() < deadline {
            let attempt = match self.inner.raft.current_leader().await {
                Some(leader) if leader == self.inner.node_id => {
                    self.propose_local(records.clone()).await
                }
                Some(leader) => self.forward(leader, records.clone()).await,
                None => Err(SubmitError::NotLeader { leader: None }),
            };
            match attempt {
                Ok(receipts) => return receipts.into_iter().map(Ok).collect(),
                Err(e) => {
                    tracing::debug!(error = %e, "submission attempt failed; retrying");
                    last = e;
                }
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        tracing::warn!(records = records.len(), error = %last, "submission gave up");
        records.iter().map(|_| Err(SubmitError::Timeout)).collect()
    }

    /// Forwards records to the leader, in requests the wire's limits
    /// admit, sent one after another.
    async fn forward(
        &self,
        leader: NodeId,
        records: Vec<SignedRecord>,
    ) -> Result<Vec<Receipt>, SubmitError> {
        let peer = self
            .inner
            .roster
            .by_id(leader)
            .ok_or(SubmitError::NotLeader { leader: None })?
            .peer;
        let mut receipts = Vec::with_capacity(records.len());
        for part in forwarded_parts(records) {
            let request = WireRequest::Submit(part);
            match self.inner.net.request(peer, request, SUBMIT_DEADLINE).await {
                Ok(WireResponse::Submit(result)) => receipts.extend(result?),
                Ok(WireResponse::Refused(reason)) => return Err(SubmitError::Internal(reason)),
                Ok(_) => return Err(SubmitError::Internal("unexpected response".into())),
                Err(e) => return Err(SubmitError::Internal(e.to_string())),
            }
        }
        Ok(receipts)
    }

    /// Serves records forwarded by another node, which verified their
    /// signatures. Form and keys are checked again here; signatures are
    /// verified by every node when it applies the block, which drops any
    /// that fail, so a faulty forwarder cannot get a bad record in.
    pub async fn serve_forwarded(
        &self,
        records: Vec<SignedRecord>,
    ) -> Result<Vec<Receipt>, SubmitError> {
        let leader = self.inner.raft.current_leader().await;
        if leader != Some(self.inner.node_id) {
            return Err(SubmitError::NotLeader { leader });
        }
        let prechecked = self.inner.chain.precheck(&records);
        let (mut results, pending) = self.triage(records, prechecked);
        let (slots, records): (Vec<usize>, Vec<SignedRecord>) = pending.into_iter().unzip();
        let receipts = self.propose_local(records).await?;
        for (slot, receipt) in slots.into_iter().zip(receipts) {
            results[slot] = Some(Ok(receipt));
        }
        finish(results).into_iter().collect()
    }

    /// Queues records with this node's batcher and waits for them all.
    async fn propose_local(&self, records: Vec<SignedRecord>) -> Result<Vec<Receipt>, SubmitError> {
        let mut waiting = Vec::with_capacity(records.len());
        for record in records {
            let (tx, rx) = oneshot::channel();
            self.inner
                .queue
                .send((record, tx))
                .map_err(|_| SubmitError::Internal("batcher stopped".into()))?;
            waiting.push(rx);
        }
        let mut receipts = Vec::with_capacity(waiting.len());
        for rx in waiting {
            let result = rx
                .await
                .map_err(|_| SubmitError::Internal("batcher dropped a record".into()))?;
            receipts.push(result?);
        }
        Ok(receipts)
    }
}

type Slots = Vec<Option<Result<Receipt, SubmitError>>>;

fn finish(results: Slots) -> Vec<Result<Receipt, SubmitError>> {
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(SubmitError::Timeout)))
        .collect()
}

/// The receipt of a record that was on the chain before it was submitted.
fn committed_receipt(chain: &Chain, id: &RecordId) -> Option<Receipt> {
    match chain.store().record(id) {
        Ok(entry) => entry.map(Receipt::already_committed),
        Err(e) => {
            // Ordered instead: the apply answers a duplicate as committed.
            tracing::warn!(error = %e, "reading a committed record failed");
            None
        }
    }
}

struct Batcher {
    chain: Arc<Chain>,
    raft: Raft,
    /// Signs every proposed batch.
    node_key: Arc<Keypair>,
    config: BatchConfig,
    slots: Arc<Semaphore>,
}

impl Batcher {
    async fn run(self, mut queue: mpsc::UnboundedReceiver<(SignedRecord, Waiter)>) {
        let this = Arc::new(self);
        while let Some(first) = queue.recv().await {
            let mut fill = BlockFill::new(this.config.max_records);
            fill.add(encoded_len(&first.0));
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + this.config.max_wait();
            while !fill.is_full() {
                tokio::select! {
                    item = queue.recv() => match item {
                        Some(item) => {
                            fill.add(encoded_len(&item.0));
                            batch.push(item);
                        }
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            let Ok(slot) = this.slots.clone().acquire_owned().await else {
                return;
            };
            let this = this.clone();
            tokio::spawn(async move {
                this.propose(batch).await;
                drop(slot);
            });
        }
    }

    /// One Raft entry for the batch; every waiter hears how it ended.
    async fn propose(&self, items: Vec<(SignedRecord, Waiter)>) {
        let mut waiters: BTreeMap<RecordId, Vec<Waiter>> = BTreeMap::new();
        let mut records = Vec::with_capacity(items.len());
        for (record, waiter) in items {
            let slot = waiters.entry(record.id()).or_default();
            if slot.is_empty() {
                records.push(record);
            }
            slot.push(waiter);
        }
        let chain_id = &self.chain.genesis().chain_id;
        let batch = Batch::propose(&self.node_key, chain_id, now_ms(), records);
        match self.raft.client_write(batch).await {
            Ok(response) => {
                for (id, placement) in response.data.placements {
                    let result = self.receipt(&id, placement);
                    for w in waiters.remove(&id).unwrap_or_default() {
                        let _ = w.send(result.clone());
                    }
                }
            }
            Err(e) => {
                let error = match e {
                    RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                        SubmitError::NotLeader {
                            leader: f.leader_id,
                        }
                    }
                    other => SubmitError::Internal(other.to_string()),
                };
                for w in waiters.into_values().flatten() {
                    let _ = w.send(Err(error.clone()));
                }
            }
        }
    }

    fn receipt(&self, id: &RecordId, placement: Placement) -> Result<Receipt, SubmitError> {
        match placement {
            Placement::Dropped { reason } => Ok(Receipt::Refused {
                record_id: *id,
                reason,
            }),
            Placement::Included {
                height,
                index,
                outcome,
            } => Ok(Receipt::Committed {
                height,
                index,
                outcome,
            }),
            Placement::Duplicate => committed_receipt(&self.chain, id)
                .ok_or_else(|| SubmitError::Internal("committed record not found".into())),
        }
    }
}

/// How full the block being cut is: by record count and by encoded bytes.
struct BlockFill {
    max_records: usize,
    records: usize,
    bytes: usize,
}

impl BlockFill {
    fn new(max_records: usize) -> BlockFill {
        BlockFill {
            max_records,
            records: 0,
            bytes: 0,
        }
    }

    fn add(&mut self, encoded_bytes: usize) {
        self.records += 1;
        self.bytes += encoded_bytes;
    }

    fn is_full(&self) -> bool {
        self.records >= self.max_records || self.bytes >= MAX_BLOCK_BYTES
    }
}

/// Splits records into forwarded requests of at most
/// [`MAX_FORWARDED_RECORDS`] records and about [`MAX_FORWARDED_BYTES`].
fn forwarded_parts(records: Vec<SignedRecord>) -> Vec<Vec<SignedRecord>> {
    let mut parts: Vec<Vec<SignedRecord>> = Vec::new();
    let mut bytes = 0;
    for record in records {
        let len = encoded_len(&record);
        let full = parts
            .last()
            .is_none_or(|p| p.len() >= MAX_FORWARDED_RECORDS || bytes >= MAX_FORWARDED_BYTES);
        if full {
            parts.push(Vec::new());
            bytes = 0;
        }
        bytes += len;
        if let Some(part) = parts.last_mut() {
            part.push(record);
        }
    }
    parts
}

fn encoded_len(record: &SignedRecord) -> usize {
    bcs::serialized_size(record).unwrap_or(MAX_RECORD_BYTES)
}

/// The leader's wall clock, proposed with each batch (blocks make it
/// monotone).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ENTRIES_PER_APPEND, MAX_FRAME_BYTES};

    #[test]
    fn a_block_of_the_largest_records_is_cut_by_bytes() {
        let mut fill = BlockFill::new(4000);
        let mut records = 0;
        while !fill.is_full() {
            fill.add(MAX_RECORD_BYTES);
            records += 1;
        }
        assert_eq!(records, MAX_BLOCK_BYTES / MAX_RECORD_BYTES);
        let frame = ENTRIES_PER_APPEND as usize * (fill.bytes + MAX_RECORD_BYTES);
        assert!(frame < MAX_FRAME_BYTES, "{frame}");
    }

    #[test]
    fn forwarded_requests_stay_within_the_record_cap_and_the_frame_limit() {
        let mut h = fundtrail_testkit::Harness::new(3);
        let body = fundtrail_testkit::bodies::grant(
            h.kit.person(1),
            fundtrail_ledger::types::Category::Dibao,
            "2026-01-01",
            "2026-12-31",
        );
        let record = h.record(fundtrail_ledger::types::Role::CivilAffairs, body, 0);
        let records = vec![record; 2 * MAX_FORWARDED_RECORDS + 1];
        let parts = forwarded_parts(records);
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_FORWARDED_RECORDS, MAX_FORWARDED_RECORDS, 1]);
    }

    #[test]
    fn a_block_of_small_records_is_cut_by_count() {
        let mut fill = BlockFill::new(1000);
        for _ in 0..999 {
            fill.add(450);
            assert!(!fill.is_full());
        }
        fill.add(450);
        assert!(fill.is_full());
    }
}
