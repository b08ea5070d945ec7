//! Independent replay: re-executes the contracts over a block and checks
//! that the outcomes, rules version and state root it records are what the
//! rules give. [`replay_verified`] does it for one block on any [`State`]
//! (a node catching up); [`Auditor`] audits a whole chain offline on a
//! [`MemoryState`], the ledger's checks first, and sums it up in an
//! [`AuditReport`]. Both are as deterministic as the engine: the only
//! parallel work is the ledger's, beside the replay of earlier blocks.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc::{self, Receiver, SyncSender};

use fundtrail_ledger::block::{
    next_state_root, Attestation, Block, BlockHash, Code, Genesis, Outcome, Verdict,
};
use fundtrail_ledger::chainfile::{BlockEntry, ChainFileError};
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{RecordId, SignedRecord};
use fundtrail_ledger::types::{ChainId, Height};
use fundtrail_ledger::verify::{
    BlockReport, ChainVerifier, PendingBlocks, QuorumRule, VerifiedBlock, VerifiedGroup,
    VerifyError,
};
use serde::Serialize;

use crate::engine::{execute_identified, genesis_state, BlockContext, BlockExecution};
use crate::error::ExecError;
use crate::state::{MemoryState, State};

/// A block whose contract results differ from what the rules give: what,
/// at which height, and which record when one is to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ReplayError {
    pub height: Height,
    pub record: Option<RecordId>,
    pub kind: ReplayErrorKind,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "height {}", self.height)?;
        if let Some(r) = &self.record {
            write!(f, ", record {r}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayErrorKind {
    #[error("contract execution failed: {0}")]
    Exec(ExecError),
    #[error("header says rules version {recorded}, the rules schedule gives {replayed}")]
    RulesVersion { recorded: u32, replayed: u32 },
    #[error("{records} records but {outcomes} outcomes")]
    OutcomeCount { records: usize, outcomes: usize },
    #[error("outcome {index} names record {named}, not the record at that index")]
    OutcomeForOtherRecord { index: usize, named: RecordId },
    #[error(
        "record {index} is recorded as {}, replay gives {}",
        verdict_text(.recorded),
        verdict_text(.replayed)
    )]
    Verdict {
        index: usize,
        recorded: Verdict,
        replayed: Verdict,
    },
    #[error(
        "record {index} is recorded with signals [{}], replay gives [{}]",
        codes_text(.recorded),
        codes_text(.replayed)
    )]
    Signals {
        index: usize,
        recorded: Vec<Code>,
        replayed: Vec<Code>,
    },
    #[error("state_root is {recorded}, replay gives {replayed}")]
    StateRoot { recorded: Hash32, replayed: Hash32 },
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Accepted => "accepted".to_string(),
        Verdict::Rejected { code } => format!("rejected ({code})"),
    }
}

fn codes_text(codes: &[Code]) -> String {
    let names: Vec<&str> = codes.iter().map(Code::as_str).collect();
    names.join(", ")
}

/// Re-executes a block the ledger's [`ChainVerifier`] has passed on `state`
/// (the state after the previous block, whose root is `prev_state_root`)
/// and checks its rules version, every outcome and its state root. The
/// verifier checked that each outcome names the id of the record at its
/// index, so the ids are taken from there instead of hashing every record
/// again. On success the execution is returned so the caller can commit
/// its writes.
pub fn replay_verified(
    block: &VerifiedBlock,
    prev_state_root: &Hash32,
    state: &dyn State,
) -> Result<BlockExecution, ReplayError> {
    let block = block.block();
    check_count(block)?;
    let exec = execute_identified(
        &context(block, prev_state_root),
        named_records(block),
        state,
    )
    .map_err(|e| exec_failed(block, e))?;
    check(block, &exec)?;
    Ok(exec)
}

/// Each record with the id its outcome names.
fn named_records(block: &Block) -> impl ExactSizeIterator<Item = (RecordId, &SignedRecord)> {
    block
        .outcomes
        .iter()
        .map(|o| o.record_id)
        .zip(&block.records)
}

fn context(block: &Block, prev_state_root: &Hash32) -> BlockContext {
    BlockContext {
        height: block.header.height,
        timestamp_ms: block.header.timestamp_ms,
        prev_state_root: *prev_state_root,
    }
}

fn exec_failed(block: &Block, e: ExecError) -> ReplayError {
    ReplayError {
        height: block.header.height,
        record: None,
        kind: ReplayErrorKind::Exec(e),
    }
}

fn check_count(block: &Block) -> Result<(), ReplayError> {
    if block.outcomes.len() == block.records.len() {
        return Ok(());
    }
    Err(ReplayError {
        height: block.header.height,
        record: None,
        kind: ReplayErrorKind::OutcomeCount {
            records: block.records.len(),
            outcomes: block.outcomes.len(),
        },
    })
}

/// Rules version, then each outcome in order, then the state root.
fn check(block: &Block, exec: &BlockExecution) -> Result<(), ReplayError> {
    let header = &block.header;
    let fail = |kind| {
        Err(ReplayError {
            height: header.height,
            record: None,
            kind,
        })
    };
    if exec.rules_version != header.rules_version {
        return fail(ReplayErrorKind::RulesVersion {
            recorded: header.rules_version,
            replayed: exec.rules_version,
        });
    }
    check_count(block)?;
    let pairs = block.outcomes.iter().zip(&exec.outcomes);
    if let Some((index, (recorded, replayed))) = pairs.enumerate().find(|(_, (a, b))| a != b) {
        return Err(outcome_mismatch(header.height, index, recorded, replayed));
    }
    if exec.state_root != header.state_root {
        return fail(ReplayErrorKind::StateRoot {
            recorded: header.state_root,
            replayed: exec.state_root,
        });
    }
    Ok(())
}

fn outcome_mismatch(
    height: Height,
    index: usize,
    recorded: &Outcome,
    replayed: &Outcome,
) -> ReplayError {
    let kind = if recorded.record_id != replayed.record_id {
        ReplayErrorKind::OutcomeForOtherRecord {
            index,
            named: recorded.record_id,
        }
    } else if recorded.verdict != replayed.verdict {
        ReplayErrorKind::Verdict {
            index,
            recorded: recorded.verdict.clone(),
            replayed: replayed.verdict.clone(),
        }
    } else {
        ReplayErrorKind::Signals {
            index,
            recorded: recorded.signals.clone(),
            replayed: replayed.signals.clone(),
        }
    };
    ReplayError {
        height,
        record: Some(replayed.record_id),
        kind,
    }
}

/// Why an audit stopped. Every variant names the height, and the record
/// when one is to blame.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("ledger check failed at {0}")]
    Ledger(Box<VerifyError>),
    #[error("contract replay failed at {0}")]
    Replay(Box<ReplayError>),
    #[error(transparent)]
    Read(Box<ChainFileError>),
}

impl AuditError {
    pub fn height(&self) -> Height {
        match self {
            AuditError::Ledger(e) => e.height,
            AuditError::Replay(e) => e.height,
            AuditError::Read(e) => e.height,
        }
    }

    pub fn record(&self) -> Option<RecordId> {
        match self {
            AuditError::Ledger(e) => e.record,
            AuditError::Replay(e) => e.record,
            AuditError::Read(_) => None,
        }
    }
}

impl From<VerifyError> for AuditError {
    fn from(e: VerifyError) -> AuditError {
        AuditError::Ledger(Box::new(e))
    }
}

impl From<ReplayError> for AuditError {
    fn from(e: ReplayError) -> AuditError {
        AuditError::Replay(Box::new(e))
    }
}

impl From<ChainFileError> for AuditError {
    fn from(e: ChainFileError) -> AuditError {
        AuditError::Read(Box::new(e))
    }
}

/// One block that passed both the ledger checks and the replay, for
/// progress reporting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockAudit {
    pub height: Height,
    pub hash: BlockHash,
    pub records: usize,
    pub accepted: usize,
    /// Distinct organisations with a valid attestation of this block.
    pub attesting_orgs: usize,
}

/// What an audit saw; serialises for machine-readable output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub chain_id: ChainId,
    pub genesis_hash: Hash32,
    pub blocks: u64,
    pub records: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub rejected_by_code: BTreeMap<Code, u64>,
    pub signals_by_code: BTreeMap<Code, u64>,
    /// The last block that passed both the ledger's checks and the
    /// replay; height 0 and the genesis hash before any did.
    pub head_height: Height,
    pub head_hash: Hash32,
    /// Contract state root after the head, recomputed by the replay.
    pub state_root: Hash32,
    pub attestations: AttestationCoverage,
    /// Keys `member` records added that strict enrolment refused: they
    /// sign nothing on this chain.
    pub refused_keys: Vec<RefusedKeyNote>,
}

/// A refused key as a report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedKeyNote {
    pub height: Height,
    pub key: PublicKey,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttestationCoverage {
    /// How many organisations every block had to be attested by.
    pub required: QuorumRule,
    /// Fewest distinct organisations that attested any one block, and the
    /// first block with that few (`None` when there are no blocks).
    pub min_orgs: Option<usize>,
    pub min_orgs_at: Option<Height>,
}

/// Records per group handed to the ledger's verifier by
/// [`Auditor::audit_stream`]: enough for signature batches to keep every
/// core busy, small enough to bound memory.
pub const GROUP_RECORDS: usize = 1_024;

/// Audits a chain from its genesis, one batch of blocks at a time, keeping
/// only the contract state: each batch goes through the ledger's
/// [`ChainVerifier`] (links, roots, record and approval signatures batch
/// verified on all cores, attestations and their quorum), then every block
/// is replayed in order on the state the previous ones left.
///
/// Within one batch a ledger error is reported even when an earlier block
/// of the batch would also have failed the replay. An error ends the
/// audit: the auditor is not meant to be fed further blocks after one.
pub struct Auditor {
    verifier: ChainVerifier,
    replayer: Replayer,
    quorum: QuorumRule,
}

impl Auditor {
    /// Starts before height 1 with the contract state genesis establishes.
    pub fn new(genesis: Genesis) -> Result<Auditor, AuditError> {
        let replayer = Replayer::new(&genesis);
        Ok(Auditor {
            verifier: ChainVerifier::new(genesis)?,
            replayer,
            quorum: QuorumRule::None,
        })
    }

    /// Requires every block to be attested as `rule` says.
    pub fn require(self, rule: QuorumRule) -> Auditor {
        Auditor {
            verifier: self.verifier.require(rule),
            replayer: self.replayer,
            quorum: rule,
        }
    }

    /// Requires every block to be attested by at least `orgs` organisations.
    pub fn require_attesting_orgs(self, orgs: usize) -> Auditor {
        self.require(QuorumRule::AtLeast(orgs))
    }

    /// Audits the next consecutive blocks with their attestations.
    pub fn audit_blocks(
        &mut self,
        entries: Vec<(Block, Vec<Attestation>)>,
    ) -> Result<Vec<BlockAudit>, AuditError> {
        let verified = self.verifier.verify_blocks(entries)?;
        Ok(self.replayer.replay_group(verified)?)
    }

    /// Audits blocks as a reader yields them, e.g.
    /// `std::iter::from_fn(|| reader.next_entry().transpose())` over a
    /// `ChainReader`, in groups of about [`GROUP_RECORDS`] records. A
    /// staging thread reads each group and puts it through the ledger's
    /// checks, leaving its signature batch to the rayon pool, while this
    /// thread replays the groups before it as their signatures pass; no
    /// core waits for the last batch of a group. At most
    /// [`STAGED_GROUPS`] groups wait between the two, which bounds memory.
    /// `progress` sees each block once it has passed both, a group at a
    /// time. A read error is reported after the blocks read before it.
    pub fn audit_stream<I>(
        &mut self,
        entries: I,
        mut progress: impl FnMut(&BlockAudit),
    ) -> Result<(), AuditError>
    where
        I: Iterator<Item = Result<BlockEntry, ChainFileError>> + Send,
    {
        let Auditor {
            verifier, replayer, ..
        } = self;
        let (staged, arriving) = mpsc::sync_channel(STAGED_GROUPS);
        std::thread::scope(|scope| {
            scope.spawn(move || stage_groups(verifier, entries, staged));
            replay_arriving(replayer, arriving, &mut progress)
        })
    }

    /// The verdict at the end of the chain: fails unless it reached
    /// `expected_last`.
    pub fn finish(&self, expected_last: Height) -> Result<AuditReport, AuditError> {
        self.verifier.finish(expected_last)?;
        Ok(self.report())
    }

    /// What the audit has seen so far.
    pub fn report(&self) -> AuditReport {
        let genesis = self.verifier.genesis();
        let tally = &self.replayer.tally;
        AuditReport {
            chain_id: genesis.chain_id.clone(),
            genesis_hash: genesis.hash().hash(),
            blocks: tally.blocks,
            records: tally.records,
            accepted: tally.accepted,
            rejected: tally.rejected.values().sum(),
            rejected_by_code: tally.rejected.clone(),
            signals_by_code: tally.signals.clone(),
            head_height: tally.head.map_or(Height(0), |(height, _)| height),
            head_hash: tally.head.map_or(genesis.hash().hash(), |(_, hash)| hash),
            state_root: self.replayer.state_root,
            attestations: AttestationCoverage {
                required: self.quorum,
                min_orgs: tally.least_attested.map(|(orgs, _)| orgs),
                min_orgs_at: tally.least_attested.map(|(_, at)| at),
            },
            refused_keys: self
                .verifier
                .refused_keys()
                .iter()
                .map(|r| RefusedKeyNote {
                    height: r.height,
                    key: r.key,
                    reason: r.reason.to_string(),
                })
                .collect(),
        }
    }
}

/// Groups read and checked ahead of the replay, besides the one being
/// replayed.
pub const STAGED_GROUPS: usize = 4;

/// What the staging side of [`Auditor::audit_stream`] hands on, in chain
/// order.
enum Staged {
    Group(Box<PendingBlocks>),
    ReadFailed(ChainFileError),
}

/// The staging side: reads each group and starts its checks until the
/// entries end, a group fails a check, or the replaying side stops.
fn stage_groups<I>(verifier: &mut ChainVerifier, mut entries: I, staged: SyncSender<Staged>)
where
    I: Iterator<Item = Result<BlockEntry, ChainFileError>>,
{
    loop {
        let (group, end) = read_group(&mut entries);
        let pending = verifier.begin_blocks(group);
        let failed = pending.failed();
        if staged.send(Staged::Group(Box::new(pending))).is_err() || failed {
            return;
        }
        match end {
            GroupEnd::More => {}
            GroupEnd::Done => return,
            GroupEnd::Failed(e) => {
                // Nothing is left to tell if the replaying side has stopped.
                let _ = staged.send(Staged::ReadFailed(e));
                return;
            }
        }
    }
}

/// The replaying side: each staged group once its signatures pass, in
/// order, until the first error.
fn replay_arriving(
    replayer: &mut Replayer,
    arriving: Receiver<Staged>,
    progress: &mut impl FnMut(&BlockAudit),
) -> Result<(), AuditError> {
    for staged in arriving {
        let group = match staged {
            Staged::Group(pending) => pending.finish()?,
            Staged::ReadFailed(e) => return Err(e.into()),
        };
        replayer
            .replay_group(group)?
            .iter()
            .for_each(&mut *progress);
    }
    Ok(())
}

enum GroupEnd {
    More,
    Done,
    Failed(ChainFileError),
}

fn read_group<I>(entries: &mut I) -> (Vec<(Block, Vec<Attestation>)>, GroupEnd)
where
    I: Iterator<Item = Result<BlockEntry, ChainFileError>>,
{
    let mut group = Vec::new();
    let mut records = 0;
    while records < GROUP_RECORDS {
        match entries.next() {
            Some(Ok(entry)) => {
                records += entry.block.records.len().max(1);
                group.push((entry.block, entry.attestations));
            }
            Some(Err(e)) => return (group, GroupEnd::Failed(e)),
            None => return (group, GroupEnd::Done),
        }
    }
    (group, GroupEnd::More)
}

/// The replaying side: the contract state and what has been counted.
struct Replayer {
    state: MemoryState,
    state_root: Hash32,
    tally: Tally,
}

impl Replayer {
    fn new(genesis: &Genesis) -> Replayer {
        let writes = genesis_state(genesis);
        let state_root = next_state_root(&genesis.hash().hash(), &writes);
        let mut state = MemoryState::new();
        state.apply(&writes);
        Replayer {
            state,
            state_root,
            tally: Tally::default(),
        }
    }

    fn replay_group(&mut self, group: VerifiedGroup) -> Result<Vec<BlockAudit>, ReplayError> {
        group
            .into_iter()
            .map(|(block, report)| self.replay(block, &report))
            .collect()
    }

    fn replay(
        &mut self,
        block: VerifiedBlock,
        report: &BlockReport,
    ) -> Result<BlockAudit, ReplayError> {
        let exec = replay_verified(&block, &self.state_root, &self.state)?;
        self.state.apply(&exec.writes);
        self.state_root = exec.state_root;
        Ok(self.tally.add(block.block(), report))
    }
}

#[derive(Default)]
struct Tally {
    blocks: u64,
    records: u64,
    accepted: u64,
    rejected: BTreeMap<Code, u64>,
    signals: BTreeMap<Code, u64>,
    /// Fewest attesting organisations and the first height with that few.
    least_attested: Option<(usize, Height)>,
    /// The last block that passed both the ledger's checks and the replay.
    head: Option<(Height, Hash32)>,
}

impl Tally {
    fn add(&mut self, block: &Block, report: &BlockReport) -> BlockAudit {
        let mut accepted = 0;
        for outcome in &block.outcomes {
            match &outcome.verdict {
                Verdict::Accepted => accepted += 1,
                Verdict::Rejected { code } => count(&mut self.rejected, code),
            }
            for signal in &outcome.signals {
                count(&mut self.signals, signal);
            }
        }
        self.blocks += 1;
        self.records += block.records.len() as u64;
        self.accepted += accepted as u64;
        if self
            .least_attested
            .is_none_or(|(orgs, _)| report.attesting_orgs < orgs)
        {
            self.least_attested = Some((report.attesting_orgs, report.height));
        }
        self.head = Some((report.height, report.hash.hash()));
        BlockAudit {
            height: report.height,
            hash: report.hash,
            records: block.records.len(),
            accepted,
            attesting_orgs: report.attesting_orgs,
        }
    }
}

fn count(counts: &mut BTreeMap<Code, u64>, code: &Code) {
    match counts.get_mut(code) {
        Some(n) => *n += 1,
        None => {
            counts.insert(code.clone(), 1);
        }
    }
}
