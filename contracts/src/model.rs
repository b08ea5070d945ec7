//! What the engine keeps in state: the keys (a short ASCII prefix, then
//! fixed-width or label fields) and the BCS-encoded values stored under them.
//! docs/RULES.md lists them; changing one changes every state root.

use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::{ClaimId, PersonId};
use fundtrail_ledger::record::{PolicyBody, RecordId, RecordKind};
use fundtrail_ledger::types::{
    Admission, Amount, Category, Date, FundId, FundKind, Height, InstitutionId, InstitutionLevel,
    InsuredType, KeyRole, OrgId, RegionCode, Role, Scheme,
};
use serde::{Deserialize, Serialize};

/// State keys.
pub mod key {
    use super::*;

    fn with(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let len = prefix.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>();
        let mut k = Vec::with_capacity(len);
        k.extend_from_slice(prefix);
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                k.push(b'/');
            }
            k.extend_from_slice(p);
        }
        k
    }

    /// A pseudonym's epoch (big-endian) and tag.
    fn pseudonym_bytes(epoch: u32, tag: &Hash32) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[..4].copy_from_slice(&epoch.to_be_bytes());
        b[4..].copy_from_slice(&tag.0);
        b
    }

    fn person_bytes(p: &PersonId) -> [u8; 36] {
        pseudonym_bytes(p.epoch, &p.tag)
    }

    pub const RULES: &[u8] = b"rules";
    pub const ORGS: &[u8] = b"orgs";
    /// The consortium's disclosure grant terms, once a `member` record set them.
    pub const GRANT_TERMS: &[u8] = b"grant_terms";

    pub fn org(org: &OrgId) -> Vec<u8> {
        with(b"org/", &[org.as_str().as_bytes()])
    }
    pub fn key(k: &PublicKey) -> Vec<u8> {
        with(b"key/", &[&k.0])
    }
    pub fn fund(f: &FundId) -> Vec<u8> {
        with(b"fund/", &[f.as_str().as_bytes()])
    }
    pub fn policy(region: &RegionCode, year: u16) -> Vec<u8> {
        with(
            b"policy/",
            &[region.as_str().as_bytes(), &year.to_be_bytes()],
        )
    }
    pub fn eligibility(p: &PersonId) -> Vec<u8> {
        with(b"elig/", &[&person_bytes(p)])
    }
    pub fn filing(p: &PersonId) -> Vec<u8> {
        with(b"filing/", &[&person_bytes(p)])
    }
    pub fn claim(c: &ClaimId) -> Vec<u8> {
        with(b"claim/", &[&pseudonym_bytes(c.epoch, &c.tag)])
    }
    pub fn person_year(p: &PersonId, year: u16) -> Vec<u8> {
        with(b"year/", &[&person_bytes(p), &year.to_be_bytes()])
    }
    pub fn history(p: &PersonId) -> Vec<u8> {
        with(b"hist/", &[&person_bytes(p)])
    }
    pub fn record(id: &RecordId) -> Vec<u8> {
        with(b"rec/", &[id.as_bytes()])
    }
    pub fn reversible(id: &RecordId) -> Vec<u8> {
        with(b"rev/", &[id.as_bytes()])
    }
    /// Rules version 3: what the accepted disclosure `id` grants.
    pub fn grant(id: &RecordId) -> Vec<u8> {
        with(b"grant/", &[id.as_bytes()])
    }
    /// Rules version 4: the payment policy of a care region and year.
    pub fn payment_policy(region: &RegionCode, year: u16) -> Vec<u8> {
        with(b"pay/", &[region.as_str().as_bytes(), &year.to_be_bytes()])
    }
    /// Rules version 4: the grouped cases of a care region and year.
    pub fn payment_year(region: &RegionCode, year: u16) -> Vec<u8> {
        with(b"payy/", &[region.as_str().as_bytes(), &year.to_be_bytes()])
    }
    /// Rules version 4: the grouped case of an accepted claim.
    pub fn group_case(c: &ClaimId) -> Vec<u8> {
        with(b"gcase/", &[&pseudonym_bytes(c.epoch, &c.tag)])
    }
    /// Rules version 4: a person's last grouped inpatient case.
    pub fn last_group(p: &PersonId) -> Vec<u8> {
        with(b"grp/", &[&person_bytes(p)])
    }
    pub fn clearing(year: u16, month: u8, from: &RegionCode, to: &RegionCode) -> Vec<u8> {
        bucket(b"xr/", year, month, from, to)
    }
    /// Rules version 2: the running total and count of a clearing bucket.
    pub fn clearing_head(year: u16, month: u8, from: &RegionCode, to: &RegionCode) -> Vec<u8> {
        bucket(b"xb/", year, month, from, to)
    }
    /// Rules version 2: the `seq`-th payout that joined the clearing bucket
    /// whose head is `head` (a [`clearing_head`] key).
    pub fn clearing_entry(head: &[u8], seq: u32) -> Vec<u8> {
        let bucket = head.strip_prefix(b"xb/").unwrap_or(head);
        with(b"xq/", &[bucket, &seq.to_be_bytes()])
    }
    fn bucket(prefix: &[u8], year: u16, month: u8, from: &RegionCode, to: &RegionCode) -> Vec<u8> {
        let [y0, y1] = year.to_be_bytes();
        with(
            prefix,
            &[
                &[y0, y1, month],
                from.as_str().as_bytes(),
                to.as_str().as_bytes(),
            ],
        )
    }
}

/// The rules version from genesis and each scheduled switch, by activation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesSchedule {
    pub genesis: u32,
    pub scheduled: Vec<(Height, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgEntry {
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub org: OrgId,
    pub role: KeyRole,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundEntry {
    pub kind: FundKind,
    pub region: RegionCode,
    pub owner: OrgId,
    pub balance: Amount,
}

/// Policies for one region and year, by `effective_from`.
pub type Policies = Vec<PolicyBody>;

/// Eligibility windows `[from, until]` for one person and category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: Date,
    pub until: Date,
}

impl Window {
    pub fn covers(&self, d: Date) -> bool {
        self.from <= d && d <= self.until
    }
}

/// A person's eligibility windows by category, in grant order.
pub type Eligibility = Vec<(Category, Window)>;

/// The categories whose window covers `date`, each once, in category order.
pub fn eligible_on(e: &Eligibility, date: Date) -> Vec<Category> {
    let mut cats: Vec<Category> = e
        .iter()
        .filter(|(_, w)| w.covers(date))
        .map(|(c, _)| *c)
        .collect();
    cats.sort();
    cats.dedup();
    cats
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilingEntry {
    pub insured_region: RegionCode,
    pub care_region: RegionCode,
    pub window: Window,
}

/// The four payout tiers of one claim, in the order they must be paid.
/// (BCS encodes variants by index, so the names are only for JSON.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Basic,
    CriticalIllness,
    Supplementary,
    Assistance,
}

impl Tier {
    pub const ALL: [Tier; 4] = [
        Tier::Basic,
        Tier::CriticalIllness,
        Tier::Supplementary,
        Tier::Assistance,
    ];

    pub fn fund_kind(self) -> FundKind {
        match self {
            Tier::Basic => FundKind::Basic,
            Tier::CriticalIllness => FundKind::CriticalIllness,
            Tier::Supplementary => FundKind::Supplementary,
            Tier::Assistance => FundKind::Assistance,
        }
    }
}

impl From<Scheme> for Tier {
    fn from(s: Scheme) -> Tier {
        match s {
            Scheme::Basic => Tier::Basic,
            Scheme::CriticalIllness => Tier::CriticalIllness,
            Scheme::Supplementary => Tier::Supplementary,
        }
    }
}

/// An accepted, unreversed payout on a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paid {
    pub tier: Tier,
    pub record: RecordId,
    pub amount: Amount,
}

/// An accepted claim and what has been paid on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimEntry {
    pub person: PersonId,
    pub level: InstitutionLevel,
    pub insured_type: InsuredType,
    pub insured_region: RegionCode,
    pub care_region: RegionCode,
    pub service_date: Date,
    pub admission: Admission,
    pub total: Amount,
    pub in_scope: Amount,
    pub supplementary_cover: bool,
    pub paid: Vec<Paid>,
}

impl ClaimEntry {
    pub fn paid(&self, tier: Tier) -> Option<&Paid> {
        self.paid.iter().find(|p| p.tier == tier)
    }

    pub fn paid_total(&self) -> Amount {
        Amount::from_fen(self.paid.iter().map(|p| p.amount.fen()).sum()).unwrap_or(Amount::ZERO)
    }

    pub fn year(&self) -> u16 {
        u16::try_from(self.service_date.year()).unwrap_or(u16::MAX)
    }

    pub fn cross_region(&self) -> bool {
        self.insured_region != self.care_region
    }
}

/// What one person has used in one calendar year (caps and deductibles).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonYear {
    pub basic_deductible_used: Amount,
    pub basic_paid: Amount,
    pub ci_deductible_used: Amount,
    pub ci_paid: Amount,
    pub supplementary_paid: Amount,
    pub assistance_deductible_used: Amount,
    pub assistance_paid: Vec<(Category, Amount)>,
    /// Projected out-of-pocket of the year's claims (for the high-cost signal).
    pub out_of_pocket: Amount,
}

// Not derived: `Amount::default()` has scale 0, and `Amount::fen` expects 2.
impl Default for PersonYear {
    fn default() -> PersonYear {
        let z = Amount::ZERO;
        PersonYear {
            basic_deductible_used: z,
            basic_paid: z,
            ci_deductible_used: z,
            ci_paid: z,
            supplementary_paid: z,
            assistance_deductible_used: z,
            assistance_paid: Vec::new(),
            out_of_pocket: z,
        }
    }
}

impl PersonYear {
    pub fn assistance_paid(&self, c: Category) -> Amount {
        self.assistance_paid
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, a)| *a)
            .unwrap_or(Amount::ZERO)
    }

    pub fn set_assistance_paid(&mut self, c: Category, amount: Amount) {
        match self.assistance_paid.iter_mut().find(|(k, _)| *k == c) {
            Some(entry) => entry.1 = amount,
            None => {
                self.assistance_paid.push((c, amount));
                self.assistance_paid.sort();
            }
        }
    }
}

/// Recent care of one person, for the split-admission and region signals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub last_inpatient: Option<Date>,
    /// `(service date, care region)` of recent claims, oldest first.
    pub regions: Vec<(Date, RegionCode)>,
}

/// Every record the engine has seen, accepted or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMeta {
    pub kind: RecordKind,
    pub org: Option<OrgId>,
    pub accepted: bool,
}

/// What a disclosure grants when it is accepted: the consortium's terms
/// (`grant_terms`), or the defaults of `policy/disclosure.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantTerms {
    pub max_fetches: u16,
    pub valid_days: u16,
}

/// What an accepted disclosure grants: fetches of its target's raw bill.
/// The terms are those in force when the disclosure was accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub requester: OrgId,
    pub target: RecordId,
    /// Fetches are accepted in blocks stamped before this (ms since epoch).
    pub until_ms: u64,
    pub max_fetches: u16,
    /// Fetches accepted so far.
    pub used: u16,
}

/// An accepted record whose effect a `reversal` can undo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reversible {
    Payout(PayoutEntry),
    Credit(CreditEntry),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutEntry {
    pub claim: ClaimId,
    pub tier: Tier,
    pub category: Option<Category>,
    pub fund: FundId,
    pub amount: Amount,
    /// Annual deductible this payout consumed.
    pub deductible_used: Amount,
    pub org: OrgId,
    pub reversed: bool,
    pub cleared: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditEntry {
    pub fund: FundId,
    pub amount: Amount,
    pub from_fund: Option<FundId>,
    pub org: OrgId,
    pub reversed: bool,
}

/// Cross-region payouts of one (period, from_region, to_region) awaiting
/// clearing, in acceptance order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingClearing {
    pub total: Amount,
    pub payouts: Vec<RecordId>,
}

/// Rules version 2: a clearing bucket's head. The payouts themselves are
/// one entry each (`xq/…/<seq>`), so joining a bucket costs the same
/// however many payouts it holds; `next` is the sequence number the next
/// payout takes, `live` how many joined and were not reversed, `total`
/// their amount.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingHead {
    pub total: Amount,
    pub next: u32,
    pub live: u32,
}

impl Default for PendingClearing {
    fn default() -> PendingClearing {
        PendingClearing {
            total: Amount::ZERO,
            payouts: Vec::new(),
        }
    }
}

impl ClaimEntry {
    pub fn from_body(b: &fundtrail_ledger::record::ClaimBody) -> ClaimEntry {
        ClaimEntry {
            person: b.person,
            level: b.institution_level,
            insured_type: b.insured_type,
            insured_region: b.insured_region.clone(),
            care_region: b.care_region.clone(),
            service_date: b.service_date,
            admission: b.admission,
            total: b.total,
            in_scope: b.in_scope,
            supplementary_cover: b.supplementary_cover,
            paid: Vec::new(),
        }
    }
}

/// Rules version 4: the grouped inpatient cases of one care region and
/// year, per institution (sorted), and the settlement that closed the year.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentYear {
    pub institutions: Vec<InstitutionCases>,
    pub settled: Option<RecordId>,
}

impl PaymentYear {
    /// The entry of `institution`, added in order when new.
    pub fn institution(&mut self, institution: &InstitutionId) -> &mut InstitutionCases {
        let i = match self
            .institutions
            .binary_search_by(|c| c.institution.cmp(institution))
        {
            Ok(i) => i,
            Err(i) => {
                self.institutions.insert(
                    i,
                    InstitutionCases {
                        institution: institution.clone(),
                        cases: 0,
                        points: 0,
                        itemised: Amount::ZERO,
                        entitled: Amount::ZERO,
                        months: Vec::new(),
                    },
                );
                i
            }
        };
        &mut self.institutions[i]
    }
}

/// One institution's grouped cases in a year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionCases {
    pub institution: InstitutionId,
    pub cases: u32,
    /// What its cases count in the settlement (outliers pro rata).
    pub points: u64,
    /// What the basic fund would pay for its cases by item.
    pub itemised: Amount,
    /// Its cases' entitlements by group standard.
    pub entitled: Amount,
    /// Its cases by service month, for the upcoding signal.
    pub months: Vec<MonthCases>,
}

/// One institution's cases in one service month.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthCases {
    pub month: u8,
    pub cases: u32,
    /// Sum of the catalogue points of its cases' groups (the case mix).
    pub group_points: u64,
    /// Whether the upcoding signal was raised for this month already.
    pub flagged: bool,
}
