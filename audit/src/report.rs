//! The audit report: what a chain shows about money, rejections, signals,
//! disclosures and equivocating nodes, built by streaming its blocks
//! through a [`ReportBuilder`] after the genesis.
//!
//! The builder keeps per-claim, per-institution, per-fund and per-day
//! totals, the standing payouts and credits a reversal may still undo, and
//! the disclosure log with each disclosure's fetches; never the blocks
//! themselves. It trusts the outcomes
//! recorded in the blocks (record ids included): checking them is the
//! verifier's and the contract replay's job, whose result the caller hands
//! to [`ReportBuilder::finish`] as a [`Verification`]. Nothing here names a
//! person or a claim: the chain holds only pseudonyms, and the report keeps
//! none of them.

mod funds;
mod institutions;
mod payment;
mod series;

use std::collections::BTreeMap;

use fundtrail_ledger::block::{Block, BlockHash, Genesis, Outcome, Verdict};
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::evidence::Equivocation;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{
    DisclosureFetchBody, DisclosurePurpose, MemberBody, RecordBody, RecordId, RecordKind,
    SignedRecord,
};
use fundtrail_ledger::types::{ChainId, Date, FundId, GroupCode, Height, OrgId};
use fundtrail_ledger::verify::QuorumRule;
use serde::{Deserialize, Serialize};

pub use funds::{FundFlow, PayoutScheme, PayoutTotals};
pub use institutions::{InstitutionRanking, InstitutionRow, TOP_INSTITUTIONS};
pub use payment::{
    point_value, GroupRow, PaymentInstitutionRow, RegionPayment, SettledRow, SettlementSeen,
    PAYMENT_SIGNALS,
};
pub use series::{day_of, CodeSeries, DayActivity, DayCounts};

pub(crate) use funds::plus;
use funds::{BookError, FundBook, Payout};
use institutions::InstitutionBook;
use payment::PaymentBook;
use series::{ActivityBuilder, SeriesBuilder};

/// Version of the report's JSON layout (2: each disclosure lists its
/// fetches; 3: payment by groups per region).
pub const REPORT_VERSION: u16 = 3;
/// How many anomalies the report lists before it only counts them.
pub const MAX_ANOMALIES: usize = 100;
/// How many equivocations the report lists before it only counts them.
pub const MAX_EQUIVOCATIONS: usize = 100;

/// What the chain verifier (and, if run, the contract replay) concluded.
/// The caller fills this in; the report only presents it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub ok: bool,
    /// Whether outcomes and state roots were re-executed, not only the
    /// links, roots and signatures checked.
    pub contracts_replayed: bool,
    pub blocks: u64,
    pub records: u64,
    pub head_height: Height,
    pub head_hash: Hash32,
    pub state_root: Hash32,
    /// How many organisations every block had to be attested by.
    pub attestation_quorum: QuorumRule,
    /// Fewest distinct organisations that attested any one block.
    pub min_attesting_orgs: Option<usize>,
    /// The first problem found, when `ok` is false.
    pub error: Option<String>,
    /// The signed checkpoint the chain was checked against, if any.
    pub checkpoint: Option<CheckpointSeen>,
}

/// A signed checkpoint (docs/ENCODING.md §9) and how the chain stands
/// against it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSeen {
    pub size: u64,
    pub root: Hash32,
    /// The key names of the node keys whose signatures verified.
    pub signers: Vec<String>,
    /// Whether the chain reaches the checkpoint and holds its blocks.
    pub consistent: bool,
    /// The verdict in words: consistent, stale or truncated, inconsistent.
    pub verdict: String,
}

impl Verification {
    /// What a contract-replaying audit found: `seen` is what the auditor
    /// had checked ([`fundtrail_contracts::Auditor::report`], or the report
    /// `finish` returned) and `error` why it stopped, if it did.
    pub fn from_audit(
        seen: &fundtrail_contracts::AuditReport,
        error: Option<&fundtrail_contracts::AuditError>,
    ) -> Verification {
        Verification {
            ok: error.is_none(),
            contracts_replayed: true,
            blocks: seen.blocks,
            records: seen.records,
            head_height: seen.head_height,
            head_hash: seen.head_hash,
            state_root: seen.state_root,
            attestation_quorum: seen.attestations.required,
            min_attesting_orgs: seen.attestations.min_orgs,
            error: error.map(|e| e.to_string()),
            checkpoint: None,
        }
    }
}

/// The chain as the report saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSummary {
    pub chain_id: ChainId,
    pub genesis_hash: Hash32,
    pub genesis_timestamp_ms: u64,
    pub blocks: u64,
    pub last_height: Height,
    pub first_block_ms: Option<u64>,
    pub last_block_ms: Option<u64>,
}

impl ChainSummary {
    /// The UTC days of the first and last block.
    pub fn period(&self) -> Option<(Date, Date)> {
        Some((day_of(self.first_block_ms?), day_of(self.last_block_ms?)))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    pub accepted: u64,
    pub rejected: u64,
}

impl VerdictCounts {
    pub fn total(&self) -> u64 {
        self.accepted + self.rejected
    }
}

/// One `disclosure` record: who asked to see which raw record, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureEntry {
    pub height: Height,
    pub timestamp_ms: u64,
    pub record_id: RecordId,
    pub requester: OrgId,
    pub holder: OrgId,
    pub purpose: DisclosurePurpose,
    pub case_ref: Option<GroupCode>,
    pub target: RecordId,
    pub verdict: Verdict,
    /// The `disclosure_fetch` records that drew on it, refused ones too:
    /// who received the raw bill, and when.
    pub fetches: Vec<FetchEntry>,
}

/// One `disclosure_fetch` record: an officer's fetch of the raw bill a
/// disclosure granted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchEntry {
    pub height: Height,
    pub timestamp_ms: u64,
    pub record_id: RecordId,
    /// The key that signed the fetch: the officer who receives the bill.
    pub officer: PublicKey,
    /// The officer key's organisation, from the genesis or a `member`
    /// record that added it.
    pub org: Option<OrgId>,
    pub verdict: Verdict,
}

/// Something a chain that passes contract replay never contains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AnomalyKind {
    /// The block's record and outcome lists differ in length.
    OutcomeCount { records: usize, outcomes: usize },
    /// An accepted payout or credit names a fund the genesis does not have.
    UnknownFund { fund: FundId },
    /// An accepted reversal of a record that is not an accepted, standing
    /// payout or credit.
    ReversalOfNothing { target: RecordId },
    /// An accepted fetch under a record that is no disclosure in the chain.
    FetchOfNothing { disclosure: RecordId },
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnomalyKind::OutcomeCount { records, outcomes } => {
                write!(f, "{records} records but {outcomes} outcomes")
            }
            AnomalyKind::UnknownFund { fund } => {
                write!(f, "accepted record names fund {fund}, not in the genesis")
            }
            AnomalyKind::ReversalOfNothing { target } => write!(
                f,
                "accepted reversal of {}, which is no standing payout or credit",
                &target.to_hex()[..12]
            ),
            AnomalyKind::FetchOfNothing { disclosure } => write!(
                f,
                "accepted disclosure fetch under {}, which is no disclosure in the chain",
                &disclosure.to_hex()[..12]
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub height: Height,
    pub record: Option<RecordId>,
    #[serde(flatten)]
    pub kind: AnomalyKind,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomalies {
    /// The first [`MAX_ANOMALIES`], in chain order.
    pub listed: Vec<Anomaly>,
    /// How many more there were.
    pub omitted: u64,
}

impl Anomalies {
    fn push(&mut self, anomaly: Anomaly) {
        if self.listed.len() < MAX_ANOMALIES {
            self.listed.push(anomaly);
        } else {
            self.omitted += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.omitted == 0
    }
}

/// A genesis node key that attested a block other than the chain's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationEntry {
    pub height: Height,
    /// The organisation the key belongs to in the genesis.
    pub org: Option<OrgId>,
    pub node_key: PublicKey,
    pub chain_block: BlockHash,
    pub conflicting_block: BlockHash,
    /// Whether the key's attestation of the chain's block is held too:
    /// then the key signed two blocks at this height.
    pub attested_chain_block: bool,
}

impl EquivocationEntry {
    pub fn new(genesis: &Genesis, evidence: &Equivocation) -> EquivocationEntry {
        let node_key = evidence.node_key();
        EquivocationEntry {
            height: evidence.height(),
            org: genesis.org_of_key(&node_key).map(|o| o.id.clone()),
            node_key,
            chain_block: evidence.chain_block,
            conflicting_block: evidence.conflicting_block(),
            attested_chain_block: evidence.chain_attestation.is_some(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocations {
    /// The first [`MAX_EQUIVOCATIONS`], in height and node key order.
    pub listed: Vec<EquivocationEntry>,
    /// How many more there were.
    pub omitted: u64,
}

impl Equivocations {
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.omitted == 0
    }
}

/// The whole report; `report.json` is this, serialised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    pub version: u16,
    pub chain: ChainSummary,
    pub verification: Verification,
    pub records: BTreeMap<RecordKind, VerdictCounts>,
    pub activity: Vec<DayActivity>,
    pub funds: Vec<FundFlow>,
    pub payouts: PayoutTotals,
    pub rejections: CodeSeries,
    pub signals: CodeSeries,
    pub institutions: InstitutionRanking,
    /// Payment by groups, per care region and year with a payment policy.
    pub payment: Vec<RegionPayment>,
    pub disclosures: Vec<DisclosureEntry>,
    pub anomalies: Anomalies,
    pub equivocations: Equivocations,
}

impl AuditReport {
    pub fn record_totals(&self) -> VerdictCounts {
        self.records
            .values()
            .fold(VerdictCounts::default(), |t, c| VerdictCounts {
                accepted: t.accepted + c.accepted,
                rejected: t.rejected + c.rejected,
            })
    }
}

/// Where in the chain the record being booked sits.
#[derive(Clone, Copy)]
struct At {
    height: Height,
    timestamp_ms: u64,
    day: Date,
}

/// Builds an [`AuditReport`] from the blocks of one chain, in order.
pub struct ReportBuilder {
    chain: ChainSummary,
    records: BTreeMap<RecordKind, VerdictCounts>,
    activity: ActivityBuilder,
    funds: FundBook,
    rejections: SeriesBuilder,
    signals: SeriesBuilder,
    institutions: InstitutionBook,
    payment: PaymentBook,
    disclosures: Vec<DisclosureEntry>,
    /// Where each disclosure sits in `disclosures`.
    disclosure_at: BTreeMap<RecordId, usize>,
    /// Organisations of keys `member` records added, for fetches they sign.
    added_keys: BTreeMap<PublicKey, OrgId>,
    anomalies: Anomalies,
    genesis: Genesis,
    equivocations: Equivocations,
}

impl ReportBuilder {
    pub fn new(genesis: &Genesis) -> ReportBuilder {
        ReportBuilder {
            chain: ChainSummary {
                chain_id: genesis.chain_id.clone(),
                genesis_hash: genesis.hash().hash(),
                genesis_timestamp_ms: genesis.timestamp_ms,
                blocks: 0,
                last_height: Height(0),
                first_block_ms: None,
                last_block_ms: None,
            },
            records: BTreeMap::new(),
            activity: ActivityBuilder::default(),
            funds: FundBook::new(genesis),
            rejections: SeriesBuilder::default(),
            signals: SeriesBuilder::default(),
            institutions: InstitutionBook::default(),
            payment: PaymentBook::default(),
            disclosures: Vec::new(),
            disclosure_at: BTreeMap::new(),
            added_keys: BTreeMap::new(),
            anomalies: Anomalies::default(),
            genesis: genesis.clone(),
            equivocations: Equivocations::default(),
        }
    }

    /// Lists equivocation evidence the chain file carried (the reader has
    /// checked it), in the order given.
    pub fn add_equivocations(&mut self, evidence: &[Equivocation]) {
        for e in evidence {
            let list = &mut self.equivocations;
            if list.listed.len() < MAX_EQUIVOCATIONS {
                list.listed.push(EquivocationEntry::new(&self.genesis, e));
            } else {
                list.omitted += 1;
            }
        }
    }

    /// Books the next block of the chain.
    pub fn add_block(&mut self, block: &Block) {
        let header = &block.header;
        let at = At {
            height: header.height,
            timestamp_ms: header.timestamp_ms,
            day: day_of(header.timestamp_ms),
        };
        self.note_block(at);
        if block.records.len() != block.outcomes.len() {
            self.anomaly(
                at,
                None,
                AnomalyKind::OutcomeCount {
                    records: block.records.len(),
                    outcomes: block.outcomes.len(),
                },
            );
        }
        for (record, outcome) in block.records.iter().zip(&block.outcomes) {
            self.add_record(at, record, outcome);
        }
    }

    /// Ends the report with what the verifier found.
    pub fn finish(self, verification: Verification) -> AuditReport {
        let (funds, payouts) = self.funds.finish();
        AuditReport {
            version: REPORT_VERSION,
            chain: self.chain,
            verification,
            records: self.records,
            activity: self.activity.finish(),
            funds,
            payouts,
            rejections: self.rejections.finish(),
            signals: self.signals.finish(),
            institutions: self.institutions.finish(),
            payment: self.payment.finish(),
            disclosures: self.disclosures,
            anomalies: self.anomalies,
            equivocations: self.equivocations,
        }
    }

    fn note_block(&mut self, at: At) {
        let chain = &mut self.chain;
        chain.blocks += 1;
        chain.last_height = at.height;
        chain.first_block_ms.get_or_insert(at.timestamp_ms);
        chain.last_block_ms = Some(at.timestamp_ms);
        self.activity.block(at.day);
    }

    fn add_record(&mut self, at: At, record: &SignedRecord, outcome: &Outcome) {
        let body = &record.envelope.body;
        let accepted = outcome.is_accepted();
        self.count(body.kind(), accepted, at.day);
        if let Verdict::Rejected { code } = &outcome.verdict {
            self.rejections.add(at.day, code);
        }
        for signal in &outcome.signals {
            self.signals.add(at.day, signal);
        }
        let id = outcome.record_id;
        match body {
            RecordBody::Claim(c) => {
                self.institutions.claim(c, accepted);
                if accepted {
                    self.payment.claim(c, outcome);
                }
            }
            RecordBody::PaymentPolicy(p) if accepted => self.payment.policy(p),
            RecordBody::PeriodSettlement(s) => self.payment.settlement(at.height, id, s, accepted),
            RecordBody::Settlement(s) => {
                let payout = Payout {
                    fund: s.fund_id.clone(),
                    scheme: s.scheme.into(),
                    claim: s.claim_id,
                    amount: s.amount,
                };
                self.payout(at, id, payout, &outcome.verdict);
            }
            RecordBody::Assistance(a) => {
                let payout = Payout {
                    fund: a.fund_id.clone(),
                    scheme: PayoutScheme::Assistance,
                    claim: a.claim_id,
                    amount: a.amount,
                };
                self.payout(at, id, payout, &outcome.verdict);
            }
            RecordBody::FundCredit(c) if accepted => {
                let booked = self.funds.credit(id, c);
                self.booked(at, id, booked);
            }
            RecordBody::Reversal(r) if accepted => self.reversal(at, id, r.target),
            RecordBody::Disclosure(d) => {
                self.disclosure_at.insert(id, self.disclosures.len());
                self.disclosures.push(DisclosureEntry {
                    height: at.height,
                    timestamp_ms: at.timestamp_ms,
                    record_id: id,
                    requester: d.requester.clone(),
                    holder: d.holder.clone(),
                    purpose: d.purpose,
                    case_ref: d.case_ref.clone(),
                    target: d.target,
                    verdict: outcome.verdict.clone(),
                    fetches: Vec::new(),
                });
            }
            RecordBody::DisclosureFetch(f) => self.fetch(at, record, f, outcome),
            RecordBody::Member(MemberBody::AddKey { org, key, .. }) if accepted => {
                self.added_keys.insert(*key, org.clone());
            }
            _ => {}
        }
    }

    /// Lists a fetch under its disclosure; a refused fetch of a record that
    /// is no disclosure shows only in the record counts and rejections.
    fn fetch(&mut self, at: At, record: &SignedRecord, f: &DisclosureFetchBody, outcome: &Outcome) {
        let officer = record.envelope.submitter_key;
        let org = match self.genesis.org_of_key(&officer) {
            Some(o) => Some(o.id.clone()),
            None => self.added_keys.get(&officer).cloned(),
        };
        let entry = FetchEntry {
            height: at.height,
            timestamp_ms: at.timestamp_ms,
            record_id: outcome.record_id,
            officer,
            org,
            verdict: outcome.verdict.clone(),
        };
        match self.disclosure_at.get(&f.disclosure) {
            Some(&i) => self.disclosures[i].fetches.push(entry),
            None if outcome.is_accepted() => self.anomaly(
                at,
                Some(outcome.record_id),
                AnomalyKind::FetchOfNothing {
                    disclosure: f.disclosure,
                },
            ),
            None => {}
        }
    }

    fn count(&mut self, kind: RecordKind, accepted: bool, day: Date) {
        let counts = self.records.entry(kind).or_default();
        if accepted {
            counts.accepted += 1;
        } else {
            counts.rejected += 1;
        }
        self.activity.record(day, accepted);
    }

    fn payout(&mut self, at: At, id: RecordId, payout: Payout, verdict: &Verdict) {
        match verdict {
            Verdict::Rejected { code } => {
                self.institutions
                    .rejected(&payout.claim, payout.amount, code);
            }
            Verdict::Accepted => {
                let (claim, amount) = (payout.claim, payout.amount);
                let booked = self.funds.pay(id, payout);
                if booked.is_ok() {
                    self.institutions.paid(&claim, amount);
                }
                self.booked(at, id, booked);
            }
        }
    }

    fn reversal(&mut self, at: At, id: RecordId, target: RecordId) {
        match self.funds.reverse(target) {
            Ok(Some(payout)) => self.institutions.reversed(&payout.claim, payout.amount),
            Ok(None) => {}
            Err(e) => self.booked(at, id, Err(e)),
        }
    }

    fn booked(&mut self, at: At, id: RecordId, booked: Result<(), BookError>) {
        let kind = match booked {
            Ok(()) => return,
            Err(BookError::UnknownFund(fund)) => AnomalyKind::UnknownFund { fund },
            Err(BookError::NotStanding(target)) => AnomalyKind::ReversalOfNothing { target },
        };
        self.anomaly(at, Some(id), kind);
    }

    fn anomaly(&mut self, at: At, record: Option<RecordId>, kind: AnomalyKind) {
        self.anomalies.push(Anomaly {
            height: at.height,
            record,
            kind,
        });
    }
}
