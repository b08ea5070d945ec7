//! Offline chain verification: hash links, Merkle roots, record form, every
//! record and approval signature (batch-verified across cores) and every
//! attestation signature. Contract replay (outcomes and state roots) lives in
//! the contracts crate; this module needs nothing but the chain itself.
//!
//! Blocks are checked in groups so signature batches span many blocks, and
//! the error reported is always the first problem in chain order.

use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

use rayon::prelude::*;

use crate::block::{
    outcomes_root, Attestation, Block, BlockHash, BlockHeader, Genesis, BLOCK_VERSION,
};
use crate::codec;
use crate::crypto::{
    spawn_batch, verify_batch, CryptoError, KeyRing, PublicKey, SignedDigest, SpawnedBatch,
};
use crate::hash::{domain, hash_domain, Hash32};
use crate::membership::{accepted_member_bodies, Membership};
use crate::merkle;
use crate::record::{RecordError, RecordId};
use crate::types::Height;

pub use crate::membership::RefusedKey;

/// What was wrong, where. `record` is set when one record is to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct VerifyError {
    pub height: Height,
    pub record: Option<RecordId>,
    pub kind: VerifyErrorKind,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "height {}", self.height)?;
        if let Some(r) = &self.record {
            write!(f, ", record {r}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyErrorKind {
    #[error("block version {0} is not supported")]
    Version(u16),
    #[error("block belongs to chain {actual}, expected {expected}")]
    WrongChain { expected: String, actual: String },
    #[error("expected height {expected}, found {actual}")]
    HeightGap { expected: Height, actual: Height },
    #[error("prev_hash {actual} does not link to the previous block {expected}")]
    BrokenLink { expected: Hash32, actual: Hash32 },
    #[error("timestamp {actual} ms is before the previous block's {previous} ms")]
    TimeRegressed { previous: u64, actual: u64 },
    #[error("records_root is {actual} but the records hash to {expected}")]
    RecordsRoot { expected: Hash32, actual: Hash32 },
    #[error("outcomes_root is {actual} but the outcomes hash to {expected}")]
    OutcomesRoot { expected: Hash32, actual: Hash32 },
    #[error("{records} records but {outcomes} outcomes")]
    OutcomeCount { records: usize, outcomes: usize },
    #[error("outcome {index} names record {named}, not the record at that index")]
    OutcomeForOtherRecord { index: usize, named: RecordId },
    #[error("record appears twice in the chain (first at height {first})")]
    RepeatedRecord { first: Height },
    #[error("record is malformed: {0}")]
    RecordForm(RecordError),
    #[error("signature check failed: {0}")]
    Signature(CryptoError),
    #[error(
        "block proposed by {key}, which is not a node key of a voting organisation at this height"
    )]
    UnknownProposer { key: String },
    #[error("attestation by {key} is not from a node key in force at this height")]
    UnknownAttester { key: String },
    #[error("attestation signs block {actual}, but the block at this height is {expected}")]
    AttestationForOtherBlock {
        expected: BlockHash,
        actual: BlockHash,
    },
    #[error("attestation signature by node {key} is invalid")]
    AttestationSignature { key: String },
    #[error("only {actual} organisations attested this block, {required} required")]
    AttestationQuorum { required: usize, actual: usize },
    #[error("chain ends at height {actual}, expected {expected}")]
    Truncated { expected: Height, actual: Height },
}

/// A block whose structure, links and signatures have been checked, or that
/// this node sealed itself from records it verified. Only this module and
/// [`crate::block`]'s sealing can construct one; the store accepts only these.
#[derive(Clone, Debug)]
pub struct VerifiedBlock {
    block: Block,
}

impl VerifiedBlock {
    pub(crate) fn new_unchecked(block: Block) -> VerifiedBlock {
        VerifiedBlock { block }
    }

    pub fn block(&self) -> &Block {
        &self.block
    }

    pub fn into_block(self) -> Block {
        self.block
    }

    pub fn header(&self) -> &BlockHeader {
        &self.block.header
    }
}

/// Consecutive blocks that passed verification, each with its report.
pub type VerifiedGroup = Vec<(VerifiedBlock, BlockReport)>;

/// Per-block result of verification, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockReport {
    pub height: Height,
    pub hash: BlockHash,
    pub records: usize,
    /// Distinct organisations with a valid attestation of this block.
    pub attesting_orgs: usize,
}

/// Verifies a chain block by block, carrying the link and key state forward.
/// The height of every record id seen so far. Lookups only, never
/// iterated, so hash order cannot reach a result; record ids are already
/// uniform hashes, and a hash map spares the B-tree's key comparisons.
#[allow(clippy::disallowed_types)]
type SeenRecords = std::collections::HashMap<RecordId, Height, foldhash::fast::RandomState>;

pub struct ChainVerifier {
    genesis: Genesis,
    /// The membership in force at `next_height`.
    membership: Arc<Membership>,
    prev_hash: Hash32,
    next_height: Height,
    last_timestamp: u64,
    seen: SeenRecords,
    quorum: QuorumRule,
    refused_keys: Vec<RefusedKey>,
}

/// How many organisations must attest each block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuorumRule {
    /// Attestations are checked but none are required.
    #[default]
    None,
    AtLeast(usize),
    /// A majority of the organisations with a node key in force at the
    /// block's height.
    MajorityAtEachHeight,
}

impl QuorumRule {
    /// The organisations required at `height`.
    pub fn required(self, membership: &Membership, height: Height) -> usize {
        match self {
            QuorumRule::None => 0,
            QuorumRule::AtLeast(n) => n,
            QuorumRule::MajorityAtEachHeight => membership.majority(height),
        }
    }
}

impl fmt::Display for QuorumRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuorumRule::None => write!(f, "attestations not required"),
            QuorumRule::AtLeast(n) => write!(f, "attestations by {n} organisations required per block"),
            QuorumRule::MajorityAtEachHeight => write!(
                f,
                "attestations by a majority of the organisations running nodes at each height required"
            ),
        }
    }
}

impl ChainVerifier {
    /// Starts at height 1 after `genesis`. Every genesis key is enrolled
    /// strictly here.
    pub fn new(genesis: Genesis) -> Result<ChainVerifier, VerifyError> {
        let at_genesis = |e| VerifyError {
            height: Height(0),
            record: None,
            kind: VerifyErrorKind::Signature(e),
        };
        let membership = Membership::from_genesis(&genesis).map_err(at_genesis)?;
        Ok(ChainVerifier {
            prev_hash: genesis.hash().hash(),
            last_timestamp: genesis.timestamp_ms,
            genesis,
            membership: Arc::new(membership),
            next_height: Height(1),
            seen: SeenRecords::default(),
            quorum: QuorumRule::None,
            refused_keys: Vec::new(),
        })
    }

    /// Requires every block to be attested as `rule` says.
    pub fn require(mut self, rule: QuorumRule) -> ChainVerifier {
        self.quorum = rule;
        self
    }

    /// Requires every block to be attested by at least `orgs` organisations.
    pub fn require_attesting_orgs(self, orgs: usize) -> ChainVerifier {
        self.require(QuorumRule::AtLeast(orgs))
    }

    /// Requires every block to be attested by a majority of the
    /// organisations with a node key in force at its height.
    pub fn require_majority(self) -> ChainVerifier {
        self.require(QuorumRule::MajorityAtEachHeight)
    }

    /// The membership in force at [`ChainVerifier::next_height`].
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn next_height(&self) -> Height {
        self.next_height
    }

    pub fn head_hash(&self) -> Hash32 {
        self.prev_hash
    }

    /// Keys added by member records that were refused, in chain order.
    pub fn refused_keys(&self) -> &[RefusedKey] {
        &self.refused_keys
    }

    /// Checks a run of consecutive blocks with their attestations. On success
    /// the blocks are returned as [`VerifiedBlock`]s with a report each; on
    /// failure the verifier is left as it was before the call.
    pub fn verify_blocks(
        &mut self,
        entries: Vec<(Block, Vec<Attestation>)>,
    ) -> Result<VerifiedGroup, VerifyError> {
        let before = self.position();
        let (verdict, scans) = self.start_group(entries, Scan::Parallel).conclude();
        verdict.inspect_err(|_| self.rewind(before, &scans))
    }

    /// [`ChainVerifier::verify_blocks`] without waiting for the group's
    /// signatures: their batch runs on the rayon pool while the caller
    /// stages the next group or replays an earlier one. Meant for a thread
    /// of its own beside the pool: the records are scanned on the calling
    /// thread, so staging never queues behind the batches it started.
    ///
    /// Every other check is done before this returns
    /// ([`PendingBlocks::failed`]), and the verifier moves past the group
    /// at once: after a failed [`PendingBlocks::finish`] it must not be fed
    /// further blocks, and it is not rewound.
    pub fn begin_blocks(&mut self, entries: Vec<(Block, Vec<Attestation>)>) -> PendingBlocks {
        self.start_group(entries, Scan::Here)
    }

    fn start_group(
        &mut self,
        entries: Vec<(Block, Vec<Attestation>)>,
        scan: Scan,
    ) -> PendingBlocks {
        // A changed header breaks the next block's link, but the changed
        // block itself (its attestations no longer match) is to blame: the
        // blocks before a broken link are checked first.
        let walk = self.linked_prefix(&entries);
        let linked_entries = &entries[..walk.in_force.len()];
        let scans: Vec<BlockScan> = match scan {
            Scan::Parallel => linked_entries.par_iter().map(scan_block).collect(),
            Scan::Here => linked_entries.iter().map(scan_block).collect(),
        };
        // Started first, so the pool checks signatures while the rest
        // of the checks run here.
        let signatures = PendingSignatures::start(walk.group_ring(), &scans, self.next_height);
        let checks = GroupChecks {
            form: self.check_scans(linked_entries, &scans),
            reports: self.check_roots_and_attestations(linked_entries, &scans, &walk),
            link: walk.link_error.clone().map_or(Ok(()), Err),
            advanced: self.advance(linked_entries, &scans, walk),
        };
        PendingBlocks {
            entries,
            checks,
            scans,
            signatures,
        }
    }

    /// Where the verifier stands, to return to if a group fails.
    fn position(&self) -> Position {
        Position {
            membership: Arc::clone(&self.membership),
            prev_hash: self.prev_hash,
            next_height: self.next_height,
            last_timestamp: self.last_timestamp,
        }
    }

    /// Undoes [`ChainVerifier::advance`] for a group that failed, so a
    /// failed call leaves the verifier as it was.
    fn rewind(&mut self, to: Position, scans: &[BlockScan]) {
        for id in scans.iter().flat_map(|s| &s.ids) {
            if self.seen.get(id).is_some_and(|h| *h >= to.next_height) {
                self.seen.remove(id);
            }
        }
        self.refused_keys.retain(|r| r.height < to.next_height);
        self.membership = to.membership;
        self.prev_hash = to.prev_hash;
        self.next_height = to.next_height;
        self.last_timestamp = to.last_timestamp;
    }

    /// The leading blocks of `entries` that link up, with the membership
    /// in force at each, and what is wrong with the next one.
    fn linked_prefix(&self, entries: &[(Block, Vec<Attestation>)]) -> GroupWalk {
        let mut walk = GroupWalk {
            in_force: Vec::with_capacity(entries.len()),
            after: Arc::clone(&self.membership),
            refused: Vec::new(),
            link_error: None,
        };
        let mut prev_hash = self.prev_hash;
        let mut expected_height = self.next_height;
        let mut last_ts = self.last_timestamp;
        for (block, _) in entries {
            let h = &block.header;
            if let Err(e) = self.check_link(h, prev_hash, expected_height, last_ts, &walk.after) {
                walk.link_error = Some(e);
                break;
            }
            walk.step(block);
            prev_hash = h.hash().hash();
            expected_height = expected_height.next();
            last_ts = h.timestamp_ms;
        }
        walk
    }

    /// Version, chain, height, link to the previous block and timestamp.
    fn check_link(
        &self,
        h: &BlockHeader,
        prev_hash: Hash32,
        expected_height: Height,
        last_ts: u64,
        membership: &Membership,
    ) -> Result<(), VerifyError> {
        let fail = |kind| {
            Err(VerifyError {
                height: h.height,
                record: None,
                kind,
            })
        };
        if h.version != BLOCK_VERSION {
            return fail(VerifyErrorKind::Version(h.version));
        }
        if h.chain_id != self.genesis.chain_id {
            return fail(VerifyErrorKind::WrongChain {
                expected: self.genesis.chain_id.to_string(),
                actual: h.chain_id.to_string(),
            });
        }
        if h.height != expected_height {
            return Err(VerifyError {
                height: expected_height,
                record: None,
                kind: VerifyErrorKind::HeightGap {
                    expected: expected_height,
                    actual: h.height,
                },
            });
        }
        if h.prev_hash != prev_hash {
            return fail(VerifyErrorKind::BrokenLink {
                expected: prev_hash,
                actual: h.prev_hash,
            });
        }
        if h.timestamp_ms < last_ts {
            return fail(VerifyErrorKind::TimeRegressed {
                previous: last_ts,
                actual: h.timestamp_ms,
            });
        }
        if !membership.proposes(&h.proposer) {
            return fail(VerifyErrorKind::UnknownProposer {
                key: h.proposer.short(),
            });
        }
        Ok(())
    }

    fn check_scans(
        &self,
        entries: &[(Block, Vec<Attestation>)],
        scans: &[BlockScan],
    ) -> Result<(), VerifyError> {
        for ((block, _), scan) in entries.iter().zip(scans) {
            if let Some((index, e)) = &scan.form_error {
                return Err(VerifyError {
                    height: block.header.height,
                    record: Some(scan.ids[*index]),
                    kind: VerifyErrorKind::RecordForm(e.clone()),
                });
            }
            for (i, r) in block.records.iter().enumerate() {
                if let Err(e) = r.check_chain(&self.genesis.chain_id) {
                    return Err(VerifyError {
                        height: block.header.height,
                        record: Some(scan.ids[i]),
                        kind: VerifyErrorKind::RecordForm(e),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_roots_and_attestations(
        &self,
        entries: &[(Block, Vec<Attestation>)],
        scans: &[BlockScan],
        walk: &GroupWalk,
    ) -> Result<Vec<BlockReport>, VerifyError> {
        let signatures_hold = attestation_signatures_hold(&walk.after, entries);
        entries
            .iter()
            .zip(scans)
            .zip(&walk.in_force)
            .map(|(((block, atts), scan), membership)| {
                check_roots(block, scan)?;
                let attesting_orgs =
                    self.check_attestations(block, atts, signatures_hold, membership)?;
                Ok(BlockReport {
                    height: block.header.height,
                    hash: scan.hash,
                    records: block.records.len(),
                    attesting_orgs,
                })
            })
            .collect()
    }

    fn check_attestations(
        &self,
        block: &Block,
        atts: &[Attestation],
        signatures_hold: bool,
        membership: &Membership,
    ) -> Result<usize, VerifyError> {
        let height = block.header.height;
        let fail = |kind| {
            Err(VerifyError {
                height,
                record: None,
                kind,
            })
        };
        let hash = block.hash();
        let mut orgs = std::collections::BTreeSet::new();
        for a in atts {
            let Some(org) = membership.attester(&a.node_key, height) else {
                return fail(VerifyErrorKind::UnknownAttester {
                    key: a.node_key.short(),
                });
            };
            if a.block_hash != hash || a.height != height || a.chain_id != self.genesis.chain_id {
                return fail(VerifyErrorKind::AttestationForOtherBlock {
                    expected: hash,
                    actual: a.block_hash,
                });
            }
            let ring = membership.attester_ring();
            if !signatures_hold && verify_batch(ring, &[a.signed_digest()]).is_err() {
                return fail(VerifyErrorKind::AttestationSignature {
                    key: a.node_key.short(),
                });
            }
            orgs.insert(org);
        }
        let required = self.quorum.required(membership, height);
        if orgs.len() < required {
            return fail(VerifyErrorKind::AttestationQuorum {
                required,
                actual: orgs.len(),
            });
        }
        Ok(orgs.len())
    }

    fn advance(
        &mut self,
        entries: &[(Block, Vec<Attestation>)],
        scans: &[BlockScan],
        walk: GroupWalk,
    ) -> Result<(), VerifyError> {
        let GroupWalk {
            in_force,
            after,
            refused,
            ..
        } = walk;
        let next_in_force = in_force.iter().skip(1).chain(std::iter::once(&after));
        for ((((block, _), scan), membership), next) in
            entries.iter().zip(scans).zip(&in_force).zip(next_in_force)
        {
            let height = block.header.height;
            for id in &scan.ids {
                match self.seen.entry(*id) {
                    Entry::Occupied(first) => {
                        return Err(VerifyError {
                            height,
                            record: Some(*id),
                            kind: VerifyErrorKind::RepeatedRecord {
                                first: *first.get(),
                            },
                        })
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(height);
                    }
                }
            }
            // A member record's change is in force from the next block.
            if let Some(pos) = scan.digests.iter().position(|d| !membership.signs(&d.key)) {
                return Err(VerifyError {
                    height,
                    record: Some(scan.ids[scan.digest_owner[pos]]),
                    kind: VerifyErrorKind::Signature(CryptoError::UnknownKey(
                        scan.digests[pos].key.short(),
                    )),
                });
            }
            self.prev_hash = scan.hash.hash();
            self.next_height = height.next();
            self.last_timestamp = block.header.timestamp_ms;
            self.membership = Arc::clone(next);
            self.refused_keys
                .extend(refused.iter().filter(|r| r.height == height).cloned());
        }
        Ok(())
    }

    /// Fails unless the chain reached `expected_last` (a truncated export).
    pub fn finish(&self, expected_last: Height) -> Result<(), VerifyError> {
        let actual = Height(self.next_height.0 - 1);
        if actual != expected_last {
            return Err(VerifyError {
                height: self.next_height,
                record: None,
                kind: VerifyErrorKind::Truncated {
                    expected: expected_last,
                    actual,
                },
            });
        }
        Ok(())
    }
}

/// Where a group's records are scanned.
enum Scan {
    Parallel,
    Here,
}

/// A group's record and approval signatures, being batch-verified against
/// the ring (the group's provisional keys included). An error that names
/// no digest of the group is put at `fallback`.
struct PendingSignatures {
    batch: SpawnedBatch,
    ring: Arc<KeyRing>,
    digests: Arc<[SignedDigest]>,
    fallback: Height,
}

impl PendingSignatures {
    fn start(ring: KeyRing, scans: &[BlockScan], fallback: Height) -> PendingSignatures {
        let ring = Arc::new(ring);
        let digests: Arc<[SignedDigest]> = scans
            .iter()
            .flat_map(|s| s.digests.iter().copied())
            .collect();
        PendingSignatures {
            batch: spawn_batch(Arc::clone(&ring), Arc::clone(&digests)),
            ring,
            digests,
            fallback,
        }
    }

    /// The batch's verdict, blamed on the record whose digest failed.
    fn wait(self, scans: &[BlockScan]) -> Result<(), VerifyError> {
        let Err(e) = self.batch.wait() else {
            return Ok(());
        };
        let index = match &e {
            CryptoError::BadSignature { index, .. } => *index,
            _ => first_unknown_key(&self.ring, &self.digests),
        };
        let mut offset = 0;
        for scan in scans {
            if index < offset + scan.digests.len() {
                let record = scan.digest_owner[index - offset];
                return Err(VerifyError {
                    height: scan.height,
                    record: Some(scan.ids[record]),
                    kind: VerifyErrorKind::Signature(e),
                });
            }
            offset += scan.digests.len();
        }
        Err(VerifyError {
            height: self.fallback,
            record: None,
            kind: VerifyErrorKind::Signature(e),
        })
    }
}

/// What a group's checks besides its signatures found.
struct GroupChecks {
    form: Result<(), VerifyError>,
    reports: Result<Vec<BlockReport>, VerifyError>,
    /// A block that does not link to the one before it, after the blocks
    /// that do.
    link: Result<(), VerifyError>,
    advanced: Result<(), VerifyError>,
}

impl GroupChecks {
    fn passed(&self) -> bool {
        self.form.is_ok() && self.reports.is_ok() && self.link.is_ok() && self.advanced.is_ok()
    }

    /// The reports unless a check failed, else the failure at the lowest
    /// height; at one height, form before signatures before roots and
    /// attestations. A broken link and what advancing found come after.
    fn verdict(self, signatures: Result<(), VerifyError>) -> Result<Vec<BlockReport>, VerifyError> {
        let earliest = [self.form.err(), signatures.err()]
            .into_iter()
            .flatten()
            .chain(self.reports.as_ref().err().cloned())
            .min_by_key(|e| e.height);
        match earliest {
            Some(e) => Err(e),
            None => self.reports,
        }
        .and_then(|reports| self.link.map(|()| reports))
        .and_then(|reports| self.advanced.map(|()| reports))
    }
}

/// A group [`ChainVerifier::begin_blocks`] has checked but for its
/// signatures, which are still being batch-verified.
pub struct PendingBlocks {
    entries: Vec<(Block, Vec<Attestation>)>,
    checks: GroupChecks,
    scans: Vec<BlockScan>,
    signatures: PendingSignatures,
}

impl PendingBlocks {
    /// Whether a check other than the signatures already failed.
    pub fn failed(&self) -> bool {
        !self.checks.passed()
    }

    /// Waits for the signature batch; the blocks with their reports, or
    /// the group's first error.
    pub fn finish(self) -> Result<VerifiedGroup, VerifyError> {
        self.conclude().0
    }

    /// [`PendingBlocks::finish`], handing back the scans to rewind by.
    fn conclude(self) -> (Result<VerifiedGroup, VerifyError>, Vec<BlockScan>) {
        let PendingBlocks {
            entries,
            checks,
            scans,
            signatures,
        } = self;
        let verdict = checks.verdict(signatures.wait(&scans)).map(|reports| {
            entries
                .into_iter()
                .zip(reports)
                .map(|((block, _), report)| (VerifiedBlock::new_unchecked(block), report))
                .collect()
        });
        (verdict, scans)
    }
}

/// What [`ChainVerifier::rewind`] restores.
struct Position {
    membership: Arc<Membership>,
    prev_hash: Hash32,
    next_height: Height,
    last_timestamp: u64,
}

/// A group's linked blocks with the membership in force at each.
struct GroupWalk {
    in_force: Vec<Arc<Membership>>,
    /// The membership after the last linked block.
    after: Arc<Membership>,
    refused: Vec<RefusedKey>,
    link_error: Option<VerifyError>,
}

impl GroupWalk {
    /// Moves past `block`, which links up.
    fn step(&mut self, block: &Block) {
        self.in_force.push(Arc::clone(&self.after));
        if accepted_member_bodies(block).next().is_some() {
            let mut next = (*self.after).clone();
            self.refused.extend(next.apply_block(block));
            self.after = Arc::new(next);
        }
    }

    /// Every key that signs anywhere in the group, for the batch;
    /// [`ChainVerifier::advance`] then checks each signer was in force at
    /// its own block.
    fn group_ring(&self) -> KeyRing {
        let mut ring = self.after.ring().clone();
        for m in &self.in_force {
            ring.merge(m.ring());
        }
        ring
    }
}

/// Whether every attestation signature of the group holds, checked in one
/// batch against every node key that ever held a term. When not,
/// [`ChainVerifier::check_attestations`] checks each in order, to name the
/// first that fails.
fn attestation_signatures_hold(
    membership: &Membership,
    entries: &[(Block, Vec<Attestation>)],
) -> bool {
    let digests: Vec<SignedDigest> = entries
        .iter()
        .flat_map(|(_, atts)| atts.iter().map(Attestation::signed_digest))
        .collect();
    verify_batch(membership.attester_ring(), &digests).is_ok()
}

fn first_unknown_key(ring: &KeyRing, all: &[SignedDigest]) -> usize {
    all.iter().position(|d| !ring.contains(&d.key)).unwrap_or(0)
}

/// What one pass over a block's records computes, in parallel per block.
struct BlockScan {
    height: Height,
    hash: BlockHash,
    ids: Vec<RecordId>,
    records_root: Hash32,
    outcomes_root: Hash32,
    digests: Vec<SignedDigest>,
    /// For each digest, the index of the record that carries it.
    digest_owner: Vec<usize>,
    form_error: Option<(usize, RecordError)>,
}

fn scan_block((block, _): &(Block, Vec<Attestation>)) -> BlockScan {
    let n = block.records.len();
    let mut scan = BlockScan {
        height: block.header.height,
        hash: block.hash(),
        ids: Vec::with_capacity(n),
        records_root: Hash32::ZERO,
        outcomes_root: outcomes_root(&block.outcomes),
        digests: Vec::with_capacity(n),
        digest_owner: Vec::with_capacity(n),
        form_error: None,
    };
    let mut leaves = Vec::with_capacity(n);
    let mut bytes = Vec::with_capacity(1024);
    for (i, record) in block.records.iter().enumerate() {
        bytes.clear();
        codec::encode_into(&mut bytes, record);
        // The signed encoding is the envelope followed by the 64-byte signature.
        let id = RecordId::from_hash(hash_domain(domain::RECORD, &bytes[..bytes.len() - 64]));
        leaves.push(merkle::leaf_hash(&bytes));
        scan.ids.push(id);
        if scan.form_error.is_none() {
            if let Err(e) = record.check_form() {
                scan.form_error = Some((i, e));
            }
        }
        let before = scan.digests.len();
        record.signed_digests(id, &mut scan.digests);
        scan.digest_owner
            .extend(std::iter::repeat_n(i, scan.digests.len() - before));
    }
    scan.records_root = merkle::root(&leaves);
    scan
}

fn check_roots(block: &Block, scan: &BlockScan) -> Result<(), VerifyError> {
    let h = &block.header;
    let fail = |record, kind| {
        Err(VerifyError {
            height: h.height,
            record,
            kind,
        })
    };
    if block.outcomes.len() != block.records.len() {
        return fail(
            None,
            VerifyErrorKind::OutcomeCount {
                records: block.records.len(),
                outcomes: block.outcomes.len(),
            },
        );
    }
    for (i, (o, id)) in block.outcomes.iter().zip(&scan.ids).enumerate() {
        if o.record_id != *id {
            return fail(
                Some(*id),
                VerifyErrorKind::OutcomeForOtherRecord {
                    index: i,
                    named: o.record_id,
                },
            );
        }
    }
    if h.records_root != scan.records_root {
        return fail(
            None,
            VerifyErrorKind::RecordsRoot {
                expected: scan.records_root,
                actual: h.records_root,
            },
        );
    }
    if h.outcomes_root != scan.outcomes_root {
        return fail(
            None,
            VerifyErrorKind::OutcomesRoot {
                expected: scan.outcomes_root,
                actual: h.outcomes_root,
            },
        );
    }
    Ok(())
}

/// The parts of a block a node fills in before sealing it.
pub struct BlockDraft {
    pub chain_id: crate::types::ChainId,
    pub height: Height,
    pub prev_hash: Hash32,
    pub timestamp_ms: u64,
    pub proposer: PublicKey,
    pub rules_version: u32,
    pub state_root: Hash32,
    pub records: Vec<crate::record::SignedRecord>,
    pub outcomes: Vec<crate::block::Outcome>,
}

impl BlockDraft {
    /// Computes the roots and seals the block. The caller must already have
    /// verified every record's signatures and form (a node does so before it
    /// executes the contracts whose outcomes and state root it passes here).
    pub fn seal(self) -> VerifiedBlock {
        let header = BlockHeader {
            version: BLOCK_VERSION,
            chain_id: self.chain_id,
            height: self.height,
            prev_hash: self.prev_hash,
            timestamp_ms: self.timestamp_ms,
            records_root: crate::block::records_root(&self.records),
            outcomes_root: outcomes_root(&self.outcomes),
            state_root: self.state_root,
            proposer: self.proposer,
            rules_version: self.rules_version,
        };
        VerifiedBlock::new_unchecked(Block {
            header,
            records: self.records,
            outcomes: self.outcomes,
        })
    }
}
