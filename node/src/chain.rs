//! The node's chain: the RocksDB store plus what turns an ordered batch into
//! a committed block — admission (form, known key, signatures, batch
//! verified in parallel, skipping records this node verified when a client
//! submitted them), de-duplication by record id, contract execution,
//! sealing, and one atomic commit that also records the Raft applied index.
//! Also installs a received chain (a Raft snapshot) by verifying and
//! replaying it.

use std::borrow::Cow;
use std::cell::Cell;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use fundtrail_contracts::replay::{replay_verified, ReplayError};
use fundtrail_contracts::{execute_identified, genesis_state, genesis_state_root, BlockContext};
use fundtrail_contracts::{State, StateError};
use fundtrail_ledger::block::{Attestation, Block, Genesis, StateWrite};
use fundtrail_ledger::chainfile::{verify_stream, ChainCheckError, ChainReader};
use fundtrail_ledger::codec;
use fundtrail_ledger::crypto::{verify_batch, KeyRing, SignedDigest};
use fundtrail_ledger::membership::{
    accepted_member_bodies, Membership, RefusedKey, SavedMembership,
};
use fundtrail_ledger::record::{RecordError, RecordId, SignedRecord};
use fundtrail_ledger::store::{Durability, Head, Store, StoreError, StoreTuning};
use fundtrail_ledger::types::Height;
use fundtrail_ledger::verify::{BlockDraft, ChainVerifier, VerifiedBlock};
use fundtrail_ledger::PublicKey;
use rayon::prelude::*;
use tokio::sync::watch;

use crate::cpu::{self, Section};
use crate::entry::{Batch, BatchApplied, LogId, Placement, StoredMembership};
use crate::owner_only::{self, AccessError};
use crate::verified::VerifiedRecords;

const META_APPLIED: &[u8] = b"raft_applied";
const META_MEMBERSHIP: &[u8] = b"raft_membership";
/// The consortium membership in force after the head ([`Membership`]),
/// rewritten with each block that changes it, so that opening the store
/// need not read the whole chain.
const META_CONSORTIUM: &[u8] = b"consortium";

/// How applied entries are committed: left out of RocksDB's write-ahead
/// log, because the Raft log already holds every committed entry durably.
/// A crash loses the blocks applied since the last flush together with the
/// applied index that covers them, and openraft applies those entries
/// again from its log on restart. The log store flushes before it purges
/// (`raft::log_store`), so the entries a restart needs are always there.
/// This spares each block a second copy of its records in the WAL and an
/// fsync (docs/ARCHITECTURE.md, Durability).
const APPLIED: Durability = Durability::Redoable;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("contract execution failed at height {height}: {reason}")]
    Execution { height: Height, reason: String },
    #[error("data directory holds a different chain (genesis {stored}, configured {configured})")]
    WrongGenesis { stored: String, configured: String },
    #[error("genesis holds a key that fails strict enrolment: {0}")]
    BadGenesisKey(String),
    #[error(transparent)]
    DataDirectory(#[from] AccessError),
    #[error("received chain is invalid: {0}")]
    Invalid(#[from] ChainCheckError),
    #[error("received chain diverges from ours at height {0}")]
    Diverged(Height),
    #[error("received chain ends at height {theirs}, behind ours at {ours}")]
    Behind { theirs: Height, ours: Height },
    #[error("received chain does not replay: {0}")]
    Replay(Box<ReplayError>),
}

/// Why a record cannot enter a block. Messages name keys by their short
/// hex form and never show record contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("malformed record: {0}")]
    Form(#[from] RecordError),
    #[error("key {0} is not a member key of this consortium")]
    UnknownKey(String),
    #[error("signature by key {0} does not verify")]
    BadSignature(String),
    #[error("the entry was proposed by node key {0}, which is not in force")]
    ProposerNotInForce(String),
}

/// Contract state read straight from the store.
pub struct StoreState<'a>(pub &'a Store);

impl State for StoreState<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>, StateError> {
        let value = self
            .0
            .state_get(key)
            .map_err(|e| StateError(e.to_string()))?;
        Ok(value.map(Cow::Owned))
    }
}

/// [`StoreState`] adding up the time its reads take.
struct TimedReads<'a> {
    state: StoreState<'a>,
    spent: Cell<Duration>,
}

impl State for TimedReads<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>, StateError> {
        let started = Instant::now();
        let value = self.state.get(key);
        self.spent.set(self.spent.get() + started.elapsed());
        value
    }
}

/// The records a block will hold, where each sits among the batch's
/// placements, and a placement for every record of the batch.
#[derive(Default)]
struct Selection {
    records: Vec<SignedRecord>,
    slots: Vec<usize>,
    placements: Vec<(RecordId, Placement)>,
}

/// A sealed block, its state writes, and a placement for every record of
/// its batch.
type SealedBlock = (VerifiedBlock, Vec<StateWrite>, Vec<(RecordId, Placement)>);

/// What applying one Raft entry produced.
pub struct AppliedBatch {
    pub applied: BatchApplied,
    /// The committed block; `None` when no record of the batch remained.
    pub block: Option<Block>,
    pub phases: ApplyPhases,
}

/// Wall time of each phase of applying a batch, for the node's log: where
/// a slow block spent its time.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyPhases {
    /// Admission: form, keys, signatures, and the duplicate lookups.
    pub admit: Duration,
    /// Contract execution and sealing, including `state_reads`.
    pub execute: Duration,
    /// The contracts' reads of committed state from the store.
    pub state_reads: Duration,
    /// The one atomic, fsynced store write.
    pub commit: Duration,
}

/// The applied Raft entry, membership and head a snapshot stands at.
pub struct SnapshotPoint {
    pub applied: Option<LogId>,
    pub membership: StoredMembership,
    pub head: Head,
}

pub struct Chain {
    store: Arc<Store>,
    /// Who may sign, propose and attest from the next block on.
    members: RwLock<Membership>,
    verified: VerifiedRecords,
    /// Held while a block (or snapshot) commits, so a snapshot reads the
    /// head and the applied index as one consistent pair.
    commit: Mutex<()>,
    head: watch::Sender<Head>,
}

impl Chain {
    /// Opens the store in `dir`, creating it from `genesis` on first start.
    /// A new `dir` is created 0700; an existing one that group or others
    /// can enter is refused (it may hold the vault).
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<Chain, ChainError> {
        Self::open_tuned(dir, genesis, &StoreTuning::default())
    }

    /// [`Chain::open`] with the store tuned by `tuning`.
    pub fn open_tuned(
        dir: &Path,
        genesis: &Genesis,
        tuning: &StoreTuning,
    ) -> Result<Chain, ChainError> {
        owner_only::create_or_check_dir(dir)?;
        let store = match Store::open_tuned(dir, tuning) {
            Ok(store) => store,
            Err(StoreError::NoGenesis) => Store::create_with_state(
                dir,
                genesis,
                genesis_state_root(genesis),
                &genesis_state(genesis),
                tuning,
            )?,
            Err(e) => return Err(e.into()),
        };
        if store.genesis().hash() != genesis.hash() {
            return Err(ChainError::WrongGenesis {
                stored: store.genesis().hash().to_hex(),
                configured: genesis.hash().to_hex(),
            });
        }
        let members = load_members(&store)?;
        let head = store.head()?;
        Ok(Chain {
            store: Arc::new(store),
            members: RwLock::new(members),
            verified: VerifiedRecords::default(),
            commit: Mutex::new(()),
            head: watch::channel(head).0,
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn genesis(&self) -> &Genesis {
        self.store.genesis()
    }

    pub fn head(&self) -> Head {
        *self.head.borrow()
    }

    /// Fires after every commit with the new head.
    pub fn subscribe(&self) -> watch::Receiver<Head> {
        self.head.subscribe()
    }

    /// Waits, at most `limit`, until this node has applied `height`.
    /// Returns whether it has.
    pub async fn applied_through(&self, height: Height, limit: Duration) -> bool {
        self.wait_until(limit, |head| head.height >= height).await
    }

    /// Waits, at most `limit`, until `reached` holds, asking it now and
    /// after every commit. Returns whether it held.
    pub async fn wait_until(
        &self,
        limit: Duration,
        mut reached: impl FnMut(&Head) -> bool,
    ) -> bool {
        let mut heads = self.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let head = *heads.borrow_and_update();
            if reached(&head) {
                return true;
            }
            let changed = tokio::time::timeout_at(deadline, heads.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                return false;
            }
        }
    }

    /// Form, chain and key checks only, without signatures: what the
    /// leader checks on records another node already admitted (every node
    /// verifies the signatures again when it applies the block).
    pub fn precheck(&self, records: &[SignedRecord]) -> Vec<Result<RecordId, AdmitError>> {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        let chain_id = &self.genesis().chain_id;
        records
            .iter()
            .map(|r| precheck(r, chain_id, &members))
            .collect()
    }

    /// Checks each record's form, chain, keys and signatures (batch
    /// verified in parallel; only a failing batch is re-checked one by one),
    /// and remembers the records that passed, so that applying their block
    /// here need not verify them again.
    pub fn admit(&self, records: &[SignedRecord]) -> Vec<Result<RecordId, AdmitError>> {
        let verdicts = Section::Admission.time(|| self.verify(records, |_, _| false));
        let passed = records.iter().zip(&verdicts);
        self.verified
            .remember(passed.filter_map(|(r, v)| v.as_ref().ok().map(|id| (*id, r))));
        verdicts
    }

    /// [`Chain::admit`] for the records of a committed batch: signatures
    /// this node verified at admission are not verified again.
    fn admit_for_block(&self, records: &[SignedRecord]) -> Vec<Result<RecordId, AdmitError>> {
        Section::Admission.time(|| self.verify(records, |id, r| self.verified.take(id, r)))
    }

    /// Form, chain and key checks of every record, and signature checks of
    /// those not `already_verified`.
    fn verify(
        &self,
        records: &[SignedRecord],
        already_verified: impl Fn(RecordId, &SignedRecord) -> bool,
    ) -> Vec<Result<RecordId, AdmitError>> {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        let ring = members.ring();
        let chain_id = &self.genesis().chain_id;
        let mut digests = Vec::new();
        let pre: Vec<Result<RecordId, AdmitError>> = records
            .iter()
            .map(|r| precheck(r, chain_id, &members))
            .collect();
        let mut unverified = Vec::with_capacity(records.len());
        for (i, (r, id)) in records.iter().zip(&pre).enumerate() {
            if let Ok(id) = id {
                if !already_verified(*id, r) {
                    r.signed_digests(*id, &mut digests);
                    unverified.push(i);
                }
            }
        }
        if verify_batch(ring, &digests).is_ok() {
            return pre;
        }
        let mut verdicts = pre;
        let rechecked: Vec<(usize, Result<RecordId, AdmitError>)> = unverified
            .par_iter()
            .map(|&i| {
                let verdict = verdicts[i].clone();
                (
                    i,
                    verdict.and_then(|id| verify_one_record(&records[i], id, ring)),
                )
            })
            .collect();
        for (i, verdict) in rechecked {
            verdicts[i] = verdict;
        }
        verdicts
    }

    /// Turns a committed Raft entry into a block and commits it with the
    /// applied index. Records that fail admission or are already on the
    /// chain stay out of the block; if none remain there is no block.
    pub fn apply_batch(
        &self,
        batch: &Batch,
        applied: &LogId,
        membership: &StoredMembership,
    ) -> Result<AppliedBatch, ChainError> {
        let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        let mut phases = ApplyPhases::default();
        let started = Instant::now();
        let selection = self.select(batch)?;
        phases.admit = started.elapsed();
        let mut meta = applied_meta(applied, membership);
        if selection.records.is_empty() {
            self.write_meta(&meta)?;
            return Ok(AppliedBatch {
                applied: BatchApplied {
                    height: None,
                    placements: selection.placements,
                },
                block: None,
                phases,
            });
        }
        let (block, writes, placements) = self.seal_selection(batch, selection, &mut phases)?;
        let started = Instant::now();
        let changed = self.membership_after(block.block());
        meta.extend(changed.as_ref().map(consortium_meta));
        let new_head =
            Section::Storage.time(|| self.store.commit_block(&block, &writes, &meta, APPLIED))?;
        phases.commit = started.elapsed();
        self.put_in_force(changed);
        self.head.send_replace(new_head);
        Ok(AppliedBatch {
            applied: BatchApplied {
                height: Some(new_head.height),
                placements,
            },
            block: Some(block.into_block()),
            phases,
        })
    }

    /// Executes the selected records and seals them into the next block;
    /// the included records' placements are filled in with its height.
    fn seal_selection(
        &self,
        batch: &Batch,
        selection: Selection,
        phases: &mut ApplyPhases,
    ) -> Result<SealedBlock, ChainError> {
        let Selection {
            records,
            slots,
            mut placements,
        } = selection;
        let started = Instant::now();
        let head = self.store.head()?;
        let ids: Vec<RecordId> = slots.iter().map(|&slot| placements[slot].0).collect();
        let state = TimedReads {
            state: StoreState(&self.store),
            spent: Cell::default(),
        };
        let (built, cpu) =
            cpu::thread_time(|| self.build_block(&head, batch, records, &ids, &state));
        let (block, writes) = built?;
        phases.execute = started.elapsed();
        phases.state_reads = state.spent.get();
        // Reads are too many to time one by one on the CPU clock (each
        // reading is a system call): they take the CPU time's share that
        // they took of the wall time.
        let reads = phases.state_reads.as_secs_f64() / phases.execute.as_secs_f64().max(1e-9);
        let reads = cpu.mul_f64(reads.min(1.0));
        Section::Storage.add(reads);
        Section::Contracts.add(cpu.saturating_sub(reads));
        let height = block.header().height;
        let outcomes = &block.block().outcomes;
        for (index, (slot, outcome)) in slots.into_iter().zip(outcomes).enumerate() {
            placements[slot].1 = Placement::Included {
                height,
                index: index as u32,
                outcome: outcome.clone(),
            };
        }
        Ok((block, writes, placements))
    }

    /// Admission plus de-duplication, in batch order: the records for the
    /// block, and a placement for every record of the batch (the included
    /// ones are filled in once the block has its height).
    fn select(&self, batch: &Batch) -> Result<Selection, ChainError> {
        let verdicts = if self.proposes(&batch.proposer) {
            self.admit_for_block(&batch.records)
        } else {
            // The verifier refuses a block whose proposer is out of force,
            // so such an entry makes no block and its clients resubmit.
            let refused = AdmitError::ProposerNotInForce(batch.proposer.short());
            vec![Err(refused); batch.records.len()]
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut selection = Selection::default();
        for (record, verdict) in batch.records.iter().zip(verdicts) {
            let (id, placement) = match verdict {
                Err(e) => (
                    record.id(),
                    Placement::Dropped {
                        reason: e.to_string(),
                    },
                ),
                Ok(id) if !seen.insert(id) || self.stored(&id)? => (id, Placement::Duplicate),
                Ok(id) => {
                    selection.slots.push(selection.placements.len());
                    selection.records.push(record.clone());
                    (id, Placement::Duplicate)
                }
            };
            selection.placements.push((id, placement));
        }
        Ok(selection)
    }

    fn stored(&self, id: &RecordId) -> Result<bool, ChainError> {
        Ok(Section::Storage.time(|| self.store.contains_record(id))?)
    }

    fn build_block(
        &self,
        head: &Head,
        batch: &Batch,
        records: Vec<SignedRecord>,
        ids: &[RecordId],
        state: &dyn State,
    ) -> Result<(VerifiedBlock, Vec<StateWrite>), ChainError> {
        let height = head.height.next();
        let ctx = BlockContext {
            height,
            // Monotone whatever the leaders' clocks say, and the same on
            // every node because it depends only on the entry and the head.
            timestamp_ms: batch.timestamp_ms.max(head.timestamp_ms + 1),
            prev_state_root: head.state_root,
        };
        let identified = ids.iter().copied().zip(&records);
        let exec =
            execute_identified(&ctx, identified, state).map_err(|e| ChainError::Execution {
                height,
                reason: e.to_string(),
            })?;
        let block = BlockDraft {
            chain_id: self.genesis().chain_id.clone(),
            height,
            prev_hash: head.hash,
            timestamp_ms: ctx.timestamp_ms,
            proposer: batch.proposer,
            rules_version: exec.rules_version,
            state_root: exec.state_root,
            records,
            outcomes: exec.outcomes,
        }
        .seal();
        Ok((block, exec.writes))
    }

    /// Records that a non-block entry (blank, membership) was applied.
    pub fn record_applied(
        &self,
        applied: &LogId,
        membership: &StoredMembership,
    ) -> Result<(), ChainError> {
        let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        self.write_meta(&applied_meta(applied, membership))
    }

    fn write_meta(&self, meta: &[(&'static [u8], Vec<u8>)]) -> Result<(), ChainError> {
        Ok(self.store.meta_write(meta, APPLIED)?)
    }

    /// The last applied Raft log id and membership, as committed.
    pub fn applied_state(&self) -> Result<(Option<LogId>, StoredMembership), ChainError> {
        let applied = match self.store.meta_get(META_APPLIED)? {
            Some(b) => Some(decode_meta(&b)?),
            None => None,
        };
        let membership = match self.store.meta_get(META_MEMBERSHIP)? {
            Some(b) => decode_meta(&b)?,
            None => StoredMembership::default(),
        };
        Ok((applied, membership))
    }

    /// Where a snapshot taken now stands: the applied index, membership and
    /// head, read as one consistent triple.
    pub fn snapshot_point(&self) -> Result<SnapshotPoint, ChainError> {
        let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        let (applied, membership) = self.applied_state()?;
        Ok(SnapshotPoint {
            applied,
            membership,
            head: self.store.head()?,
        })
    }

    /// Writes the chain up to `point`'s head to `out` as a chain file.
    pub fn export_at<W: Write>(&self, out: W, point: &SnapshotPoint) -> Result<(), ChainError> {
        let height = point.head.height;
        self.store
            .export_to(out, height)
            .map_err(|e| StoreError::Corrupt {
                what: format!("export for snapshot failed: {e}"),
                height,
            })?;
        Ok(())
    }

    /// Checks a received chain without changing anything: the chain
    /// file's links, roots and signatures, every block attested by the
    /// quorum `fundtrail verify` requires, and the blocks we already hold
    /// being the same. Returns the chain's head height. A snapshot is
    /// installed only after this passed.
    pub fn check_snapshot<R: Read>(
        &self,
        chain_file: R,
    ) -> Result<(Height, Membership), ChainError> {
        let mut reader = ChainReader::new(chain_file).map_err(ChainCheckError::from)?;
        if reader.genesis().hash() != self.genesis().hash() {
            return Err(ChainError::Diverged(Height(0)));
        }
        let mut verifier = ChainVerifier::new(self.genesis().clone())
            .map_err(|e| ChainError::Invalid(e.into()))?
            .require_majority();
        let ours = self.store.head()?;
        let summary = verify_stream(&mut reader, &mut verifier, |vb, report, _| {
            self.same_as_ours(&vb, &ours)
                .map_err(|e| ChainCheckError::Sink {
                    height: report.height,
                    source: Box::new(e),
                })
        })?;
        // A leader sends a snapshot only to a follower behind its own
        // applied point, so a shorter chain is never a leader's.
        if summary.head_height < ours.height {
            return Err(ChainError::Behind {
                theirs: summary.head_height,
                ours: ours.height,
            });
        }
        Ok((summary.head_height, verifier.membership().clone()))
    }

    /// Whether `height` is attested here by a majority of the
    /// organisations with a node key in force there: what `fundtrail
    /// verify` requires by default, and what a snapshot must hold.
    pub fn has_quorum(&self, height: Height) -> Result<bool, ChainError> {
        let (attested, of) = self.attesting_orgs(height)?;
        Ok(attested > of / 2)
    }

    /// Whether every organisation with a node key in force at `height`
    /// has attested it here.
    pub fn fully_attested(&self, height: Height) -> Result<bool, ChainError> {
        let (attested, of) = self.attesting_orgs(height)?;
        Ok(attested >= of)
    }

    /// How many organisations attested `height` here, of how many attest it.
    fn attesting_orgs(&self, height: Height) -> Result<(usize, usize), ChainError> {
        let atts = self.store.attestations(height)?;
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        let orgs: std::collections::BTreeSet<_> = atts
            .iter()
            .filter_map(|a| members.attester(&a.node_key, height))
            .collect();
        Ok((orgs.len(), members.attesting_orgs(height).len()))
    }

    /// A received block at a height we hold must be the block we hold.
    fn same_as_ours(&self, vb: &VerifiedBlock, ours: &Head) -> Result<(), ChainError> {
        let height = vb.header().height;
        if height <= ours.height {
            let mine = self.store.header(height)?.map(|h| h.hash());
            if mine != Some(vb.block().hash()) {
                return Err(ChainError::Diverged(height));
            }
        }
        Ok(())
    }

    /// Installs a received chain: verifies every block (links, roots,
    /// signatures, attestations), checks the blocks we already have are
    /// the same, replays the contracts on the new ones and commits them.
    pub fn install<R: Read>(
        &self,
        chain_file: R,
        applied: &Option<LogId>,
        membership: &StoredMembership,
    ) -> Result<Height, ChainError> {
        let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        let mut reader = ChainReader::new(chain_file).map_err(ChainCheckError::from)?;
        if reader.genesis().hash() != self.genesis().hash() {
            return Err(ChainError::Diverged(Height(0)));
        }
        let mut verifier = ChainVerifier::new(self.genesis().clone())
            .map_err(|e| ChainError::Invalid(e.into()))?;
        let ours = self.store.head()?;
        let summary = verify_stream(&mut reader, &mut verifier, |vb, report, atts| {
            self.install_block(vb, &ours, &atts)
                .map_err(|e| ChainCheckError::Sink {
                    height: report.height,
                    source: Box::new(e),
                })
        })?;
        // The reader checked each piece of evidence as it read it.
        for e in reader.equivocations() {
            self.store.put_conflicting_attestation(&e.conflicting)?;
        }
        let mut meta = vec![(META_MEMBERSHIP, codec::encode(membership))];
        if let Some(applied) = applied {
            meta.push((META_APPLIED, codec::encode(applied)));
        }
        self.write_meta(&meta)?;
        // The snapshot is not in the Raft log, so nothing could redo it.
        self.store.flush()?;
        self.head.send_replace(self.store.head()?);
        Ok(summary.head_height)
    }

    fn install_block(
        &self,
        vb: VerifiedBlock,
        ours: &Head,
        atts: &[Attestation],
    ) -> Result<(), ChainError> {
        if vb.header().height <= ours.height {
            self.same_as_ours(&vb, ours)?;
        } else {
            let writes = self.replay(&vb)?;
            let changed = self.membership_after(vb.block());
            let meta: Vec<_> = changed.as_ref().map(consortium_meta).into_iter().collect();
            self.store.commit_block(&vb, &writes, &meta, APPLIED)?;
            self.put_in_force(changed);
        }
        for a in atts {
            self.store.put_attestation(a)?;
        }
        Ok(())
    }

    /// Re-executes a received block on our state; it must give the same
    /// rules version, outcomes and state root the block claims.
    fn replay(&self, vb: &VerifiedBlock) -> Result<Vec<StateWrite>, ChainError> {
        let head = self.store.head()?;
        replay_verified(vb, &head.state_root, &StoreState(&self.store))
            .map(|exec| exec.writes)
            .map_err(|e| ChainError::Replay(Box::new(e)))
    }

    /// Stores an attestation after checking it is by a node key whose term
    /// covers its height and signs the block we have there. Returns whether it was
    /// new and valid. A validly signed attestation of another block at a
    /// height we hold is kept as equivocation evidence instead.
    pub fn accept_attestation(&self, a: &Attestation) -> Result<bool, ChainError> {
        if a.chain_id != self.genesis().chain_id {
            return Ok(false);
        }
        let Some(header) = self.store.header(a.height)? else {
            return Ok(false);
        };
        let in_term = self
            .members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .attester(&a.node_key, a.height)
            .is_some();
        let digest = a.signed_digest();
        if !in_term
            || fundtrail_ledger::crypto::verify_one(&digest.key, &digest.digest, &digest.signature)
                .is_err()
        {
            return Ok(false);
        }
        if header.hash() != a.block_hash {
            self.keep_conflicting_attestation(a)?;
            return Ok(false);
        }
        self.store.put_attestation(a)?;
        Ok(true)
    }

    /// Keeps a checked attestation of a block other than ours as evidence,
    /// and warns the first time one arrives for its height and key.
    ///
    /// The chain file carries evidence by genesis node keys only
    /// (docs/ENCODING.md, "Chain file"), so evidence by a key a `member`
    /// record added is logged but not kept.
    fn keep_conflicting_attestation(&self, a: &Attestation) -> Result<(), ChainError> {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        let org = members.attester(&a.node_key, a.height);
        let genesis_node = self
            .genesis()
            .keys_with_role(fundtrail_ledger::types::KeyRole::Node)
            .any(|(_, k)| *k == a.node_key);
        if !genesis_node {
            tracing::warn!(
                org = %org.map(ToString::to_string).unwrap_or_default(),
                node_key = %a.node_key.short(),
                height = %a.height,
                "equivocation by a node key added after genesis: logged, not kept as evidence"
            );
            return Ok(());
        }
        if self.store.put_conflicting_attestation(a)? {
            tracing::warn!(
                org = %org.map(ToString::to_string).unwrap_or_default(),
                node_key = %a.node_key.short(),
                height = %a.height,
                "equivocation: node attested a block other than the chain's"
            );
        }
        Ok(())
    }

    /// The membership after `block`, if its accepted `member` records
    /// change it.
    fn membership_after(&self, block: &Block) -> Option<Membership> {
        accepted_member_bodies(block).next()?;
        let mut next = self
            .members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for refused in next.apply_block(block) {
            warn_refused(&refused);
        }
        Some(next)
    }

    fn put_in_force(&self, changed: Option<Membership>) {
        if let Some(next) = changed {
            *self.members.write().unwrap_or_else(|p| p.into_inner()) = next;
        }
    }

    /// Whether `key`'s attestation of the block at `height` counts.
    pub fn attests(&self, key: &PublicKey, height: Height) -> bool {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        members.attester(key, height).is_some()
    }

    /// Whether `key` is a node key in force for the next block.
    pub fn node_key_in_force(&self, key: &PublicKey) -> bool {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        members
            .enrolment(key)
            .is_some_and(|e| e.role == fundtrail_ledger::types::KeyRole::Node)
    }

    fn proposes(&self, key: &PublicKey) -> bool {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        members.proposes(key)
    }

    /// The membership in force for the next block.
    pub fn membership(&self) -> Membership {
        self.members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn precheck(
    record: &SignedRecord,
    chain_id: &fundtrail_ledger::ChainId,
    members: &Membership,
) -> Result<RecordId, AdmitError> {
    record.check_form()?;
    record.check_chain(chain_id)?;
    let env = &record.envelope;
    for key in std::iter::once(&env.submitter_key).chain(env.approvals.iter().map(|a| &a.key)) {
        if !members.signs(key) {
            return Err(AdmitError::UnknownKey(key.short()));
        }
    }
    Ok(record.id())
}

fn verify_one_record(
    record: &SignedRecord,
    id: RecordId,
    ring: &KeyRing,
) -> Result<RecordId, AdmitError> {
    let mut digests: Vec<SignedDigest> = Vec::new();
    record.signed_digests(id, &mut digests);
    match verify_batch(ring, &digests) {
        Ok(()) => Ok(id),
        Err(fundtrail_ledger::crypto::CryptoError::BadSignature { index, .. }) => {
            Err(AdmitError::BadSignature(digests[index].key.short()))
        }
        Err(e) => Err(AdmitError::BadSignature(e.to_string())),
    }
}

/// The membership in force after the head: from its meta entry, or, in a
/// store that has none yet, from genesis and every block's `member`
/// records, writing the entry.
fn load_members(store: &Store) -> Result<Membership, ChainError> {
    if let Some(bytes) = store.meta_get(META_CONSORTIUM)? {
        let saved: SavedMembership = decode_meta(&bytes)?;
        return Ok(Membership::from_saved(saved));
    }
    let mut members = Membership::from_genesis(store.genesis())
        .map_err(|e| ChainError::BadGenesisKey(e.to_string()))?;
    for block in store.blocks_from(Height(1)) {
        for refused in members.apply_block(&block?) {
            warn_refused(&refused);
        }
    }
    let (key, value) = consortium_meta(&members);
    store.meta_put(key, &value)?;
    Ok(members)
}

fn consortium_meta(members: &Membership) -> (&'static [u8], Vec<u8>) {
    (META_CONSORTIUM, codec::encode(&members.to_saved()))
}

/// The rules take any 32 bytes as a key, so a `member` record can put in
/// force a key that strict enrolment refuses; it then signs nothing, on
/// every node and for the verifier alike, and the node says so.
fn warn_refused(refused: &RefusedKey) {
    tracing::warn!(
        key = %refused.key.short(),
        height = %refused.height,
        error = %refused.reason,
        "a key a member record added cannot sign"
    );
}

fn applied_meta(applied: &LogId, membership: &StoredMembership) -> Vec<(&'static [u8], Vec<u8>)> {
    vec![
        (META_APPLIED, codec::encode(applied)),
        (META_MEMBERSHIP, codec::encode(membership)),
    ]
}

fn decode_meta<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ChainError> {
    codec::decode("raft metadata", bytes).map_err(|e| {
        ChainError::Store(StoreError::Corrupt {
            what: e.to_string(),
            height: Height(0),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_contracts::Auditor;
    use fundtrail_ledger::crypto::Keypair;
    use fundtrail_ledger::record::{Envelope, MemberBody, RecordBody};
    use fundtrail_ledger::store::cf;
    use fundtrail_ledger::types::{Category, KeyRole, Role};
    use fundtrail_testkit::bodies::grant;
    use fundtrail_testkit::Kit;

    fn newcomer_admitted(chain: &Chain, record: &SignedRecord) -> bool {
        match &chain.admit(std::slice::from_ref(record))[0] {
            Ok(_) => true,
            Err(AdmitError::UnknownKey(_)) => false,
            Err(e) => panic!("unexpected admission error: {e}"),
        }
    }

    /// Commits, as Raft entry `index` proposed by `proposer`, a `member`
    /// record backed by a quorum that gives the civil affairs department
    /// submitter key `key`; the rules must accept it.
    fn add_submitter_key(chain: &Chain, kit: &Kit, proposer: &Keypair, key: PublicKey, index: u64) {
        let civil = kit.org(Role::CivilAffairs);
        let add = RecordBody::Member(MemberBody::AddKey {
            org: civil.id.clone(),
            key,
            key_role: KeyRole::Submitter,
        });
        let add = kit.sign_by_orgs(Role::Insurance, add, index, &[Role::Health, Role::Finance]);
        assert!(commit(chain, kit, proposer, add, index).is_accepted());
    }

    /// Applies `record` alone as Raft entry `index`.
    fn apply(
        chain: &Chain,
        kit: &Kit,
        proposer: &Keypair,
        record: SignedRecord,
        index: u64,
    ) -> AppliedBatch {
        let batch = Batch::propose(proposer, &kit.chain_id, index, vec![record]);
        let log_id = LogId::new(openraft::CommittedLeaderId::new(1, 0), index);
        chain
            .apply_batch(&batch, &log_id, &StoredMembership::default())
            .expect("apply")
    }

    /// Commits `record` alone as Raft entry `index`; its outcome.
    fn commit(
        chain: &Chain,
        kit: &Kit,
        proposer: &Keypair,
        record: SignedRecord,
        index: u64,
    ) -> fundtrail_ledger::Outcome {
        let applied = apply(chain, kit, proposer, record, index);
        applied.block.expect("a block").outcomes[0].clone()
    }

    fn revoke(kit: &Kit, role: Role, key: PublicKey, nonce: u64) -> SignedRecord {
        let revoke = RecordBody::Member(MemberBody::RevokeKey {
            org: kit.org(role).id.clone(),
            key,
        });
        kit.sign_by_orgs(
            Role::Insurance,
            revoke,
            nonce,
            &[Role::Health, Role::Finance],
        )
    }

    /// A submission signed by a key a `member` record revoked is refused
    /// at the door, and a committed batch holding one makes no block on
    /// any node, as the verifier would refuse it.
    #[test]
    fn a_revoked_key_is_refused_at_admission_and_its_records_never_enter_a_block() {
        let kit = Kit::new(7);
        let (_dir, chain) = open_chain(&kit.genesis_with_nodes());
        let civil = kit.org(Role::CivilAffairs);
        let proposer = &kit.org(Role::Insurance).node;
        let body = |n| grant(kit.person(n), Category::Dibao, "2026-01-01", "2026-12-31");
        let before = kit.sign(Role::CivilAffairs, body(1), 1, 0);
        assert!(chain.admit(std::slice::from_ref(&before))[0].is_ok());
        let revoking = revoke(&kit, Role::CivilAffairs, civil.submitter.public(), 1);
        assert!(commit(&chain, &kit, proposer, revoking, 1).is_accepted());
        let after = kit.sign(Role::CivilAffairs, body(2), 2, 0);
        assert!(matches!(
            &chain.admit(std::slice::from_ref(&after))[0],
            Err(AdmitError::UnknownKey(_))
        ));
        let other = kit.sign(Role::Health, body(3), 3, 0);
        assert!(chain.admit(std::slice::from_ref(&other))[0].is_ok());
        let applied = apply(&chain, &kit, proposer, after, 2);
        assert!(applied.block.is_none());
        assert!(matches!(
            applied.applied.placements[0].1,
            Placement::Dropped { .. }
        ));
        assert_eq!(chain.head().height, Height(1));
    }

    /// An entry proposed by a node key that is no longer in force makes no
    /// block; one by a key in force does.
    #[test]
    fn an_entry_proposed_by_a_revoked_node_key_makes_no_block() {
        let kit = Kit::new(7);
        let (_dir, chain) = open_chain(&kit.genesis_with_nodes());
        let finance = &kit.org(Role::Finance).node;
        let revoking = revoke(&kit, Role::Finance, finance.public(), 1);
        assert!(commit(&chain, &kit, finance, revoking, 1).is_accepted());
        let body = |n| grant(kit.person(n), Category::Dibao, "2026-01-01", "2026-12-31");
        let record = kit.sign(Role::CivilAffairs, body(1), 2, 0);
        let refused = apply(&chain, &kit, finance, record.clone(), 2);
        assert!(refused.block.is_none());
        let reason = match &refused.applied.placements[0].1 {
            Placement::Dropped { reason } => reason.clone(),
            other => panic!("expected a dropped record, got {other:?}"),
        };
        assert!(reason.contains("not in force"), "{reason}");
        let insurance = &kit.org(Role::Insurance).node;
        assert!(apply(&chain, &kit, insurance, record, 3).block.is_some());
    }

    /// A temporary directory only its owner can enter, as a node requires of
    /// its data directory.
    fn data_tempdir() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .expect("temp dir")
    }

    fn open_chain(genesis: &Genesis) -> (tempfile::TempDir, Chain) {
        let dir = data_tempdir();
        let chain = Chain::open(dir.path(), genesis).expect("open");
        (dir, chain)
    }

    fn identity_key() -> PublicKey {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        PublicKey(identity)
    }

    /// A key the rules accepted but strict enrolment refuses (here the
    /// small-order identity point) signs nothing: a record naming it as
    /// submitter is refused as from an unknown key, as the verifier would.
    #[test]
    fn a_weak_key_a_member_record_added_signs_nothing() {
        let kit = Kit::new(7);
        let genesis = kit.genesis_with_nodes();
        let (_dir, chain) = open_chain(&genesis);
        let weak = identity_key();
        add_submitter_key(&chain, &kit, &kit.org(Role::Insurance).node, weak, 1);
        let civil = kit.org(Role::CivilAffairs);
        let body = grant(kit.person(1), Category::Dibao, "2026-01-01", "2026-12-31");
        let mut by_weak = Envelope::new(kit.chain_id.clone(), body, civil.submitter.public(), 2)
            .sign(&civil.submitter);
        by_weak.envelope.submitter_key = weak;
        assert!(!newcomer_admitted(&chain, &by_weak));
    }

    /// The offline audit lists a key a member record added that strict
    /// enrolment refuses, with its height; a sound key added beside it is
    /// not listed.
    #[test]
    fn the_audit_lists_a_weak_key_a_member_record_added() {
        let kit = Kit::new(7);
        let genesis = kit.genesis_with_nodes();
        let (_dir, chain) = open_chain(&genesis);
        let proposer = &kit.org(Role::Insurance).node;
        add_submitter_key(
            &chain,
            &kit,
            proposer,
            Keypair::from_seed([42; 32]).public(),
            1,
        );
        add_submitter_key(&chain, &kit, proposer, identity_key(), 2);
        let store = chain.store();
        let entries = (1..=2)
            .map(|h| {
                let h = Height(h);
                let block = store.block(h).expect("read").expect("a block");
                (block, store.attestations(h).expect("attestations"))
            })
            .collect();
        let mut auditor = Auditor::new(genesis).expect("auditor");
        auditor.audit_blocks(entries).expect("the chain verifies");
        let report = auditor.finish(Height(2)).expect("the chain is whole");
        let listed: Vec<(Height, PublicKey)> = report
            .refused_keys
            .iter()
            .map(|r| (r.height, r.key))
            .collect();
        assert_eq!(listed, vec![(Height(2), identity_key())]);
    }

    /// A key that a `member` record added may still sign after the node
    /// restarts: from the membership entry, and, in a store without that
    /// entry, from the blocks.
    #[test]
    fn keys_added_by_member_records_survive_a_restart() {
        let kit = Kit::new(7);
        let genesis = kit.genesis_with_nodes();
        let dir = data_tempdir();
        let newcomer = Keypair::from_seed([42; 32]);
        let body = grant(kit.person(1), Category::Dibao, "2026-01-01", "2026-12-31");
        let by_newcomer =
            Envelope::new(kit.chain_id.clone(), body, newcomer.public(), 2).sign(&newcomer);

        let chain = Chain::open(dir.path(), &genesis).expect("open");
        assert!(!newcomer_admitted(&chain, &by_newcomer));
        add_submitter_key(
            &chain,
            &kit,
            &kit.org(Role::Insurance).node,
            newcomer.public(),
            1,
        );
        assert!(newcomer_admitted(&chain, &by_newcomer));
        drop(chain);

        let chain = Chain::open(dir.path(), &genesis).expect("reopen");
        assert!(newcomer_admitted(&chain, &by_newcomer));
        let store = chain.store();
        store
            .db()
            .delete_cf(store.cf(cf::META), META_CONSORTIUM)
            .expect("delete the entry");
        drop(chain);

        let chain = Chain::open(dir.path(), &genesis).expect("reopen without the entry");
        assert!(newcomer_admitted(&chain, &by_newcomer));
    }

    #[test]
    fn a_new_data_directory_is_created_owner_only_and_an_open_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let genesis = Kit::new(3).genesis();
        let parent = tempfile::tempdir().expect("temp dir");
        let fresh = parent.path().join("node").join("data");
        drop(Chain::open(&fresh, &genesis).expect("created"));
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        drop(Chain::open(&fresh, &genesis).expect("reopened"));

        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = Chain::open(&fresh, &genesis).err().expect("refused");
        assert!(matches!(err, ChainError::DataDirectory(_)), "{err}");
        assert!(err.to_string().contains("chmod 700"), "{err}");
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "left as it was");
    }
}
