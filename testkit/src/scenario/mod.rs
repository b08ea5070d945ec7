//! The demo's dataset (feature `scenario`): a seeded, deterministic year of
//! a Guangdong medical-protection consortium as submission lines with raw
//! identifiers ([`fundtrail_intake`]), in ordered **waves**.
//!
//! Inside a wave the order of records does not matter (the demo submits a
//! wave to four nodes at once): each person has at most one claim or payout
//! per wave, funds are ample, and a record that depends on another is in a
//! later wave. Honest payouts pay exactly the entitlement the real engine
//! quotes, because the generator submits every wave to its own chain (the
//! real engine, the testkit keys of [`KIT_SEED`]) and checks every outcome
//! before building the next wave.
//!
//! | wave | records |
//! |---|---|
//! | `setup` | budget credits and a basic→critical-illness transfer per prefecture, a mid-year policy, payment policies (Guangzhou DIP, Shenzhen DRG), eligibility grants (all six categories), filings |
//! | `claims-1` | one claim per person (inpatient/outpatient, three levels, cross-region with filings) |
//! | `basic-1` … `assistance-1` | one wave per tier, each the quoted entitlement (two officer approvals above 50,000) |
//! | `claims-2` … `assistance-2` | second claims for about a third of the people, some readmissions |
//! | `revocations` | eligibility ended (some before a later assistance attempt) |
//! | `reversals` | keying errors (paid 90 %) and fraud clawbacks |
//! | `corrections` | the keying errors paid at the entitlement |
//! | `clearing` | one clearing per (month, insured → care region) bucket, auditors' disclosures |
//! | `upcoding-baseline` | one Shenzhen hospital's November cases, coded by cost |
//! | `upcoding` | the same hospital's December cases, all coded to the heaviest DRG group (`UPCODING` signal) |
//! | `abuses` | the injected abuses, one of each per 500 people (at least one) |
//! | `settlement-refused` | a period settlement one fen short of the budget (`SETTLEMENT_MISMATCH`) |
//! | `settlement` | the period settlement by points of Guangzhou and Shenzhen |
//!
//! Abuses and their codes: a payout submitted twice (`DUPLICATE_PAYMENT`),
//! a bill submitted twice (`DUPLICATE_CLAIM`), assistance after eligibility
//! was revoked (`NOT_ELIGIBLE`), care in another region without a filing
//! (`NO_FILING`), basic above the annual cap (`ANNUAL_CAP`), a payout above
//! its entitlement (`ABOVE_ENTITLEMENT`), a payout from another kind of
//! fund (`WRONG_FUND`), a large payout with one officer approval
//! (`MISSING_APPROVAL`); and a period settlement that does not add up
//! (`SETTLEMENT_MISMATCH`). [`Scenario::expected`] counts them by code.
//! Inpatient claims carry the DRG group their cost codes to; in Guangzhou
//! and Shenzhen they are grouped cases (docs/RULES.md, "payment by groups").

mod abuse;
mod honest;
mod payment;
mod sim;
mod world;

use std::collections::BTreeMap;
use std::fmt;

use fundtrail_intake::{
    AssistanceLine, ClaimLine, IntakeError, Reference, SettlementLine, SubmissionLine,
};
use fundtrail_ledger::block::{Genesis, GenesisFund, GenesisOrg, GENESIS_VERSION};
use fundtrail_ledger::pseudonym::ClaimId;
use fundtrail_ledger::types::{Amount, Category, ChainId, FundKind, Role, Scheme};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::Kit;
use fundtrail_contracts::model::Tier;
use fundtrail_contracts::policy::default_policy;
use fundtrail_contracts::quote::Quote;
use fundtrail_contracts::ExecError;
use fundtrail_contracts::RuleCode;

pub use payment::{upcoding_hospital, GROUPED};
pub use sim::outcome_matches;
use sim::Sim;
use world::{World, PREFECTURES};

/// The testkit seed of the consortium keys the scenario is simulated with.
pub const KIT_SEED: u8 = 26;
/// The policy year of the scenario.
pub const YEAR: u16 = 2026;

/// One of each abuse is injected per this many people (at least one).
const ABUSE_EVERY: usize = 500;
/// One keying error (underpaid, reversed, corrected) per this many people.
const KEYING_ERROR_EVERY: usize = 300;
/// One fraud clawback, and one December revocation, per this many people.
const FRAUD_EVERY: usize = 600;

/// Opening balance of every fund in the scenario genesis.
const OPENING_BALANCE: u64 = 20_000_000;

/// Seed and size of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioConfig {
    pub seed: u64,
    /// People in the population (each has at least one claim).
    pub people: usize,
}

impl Default for ScenarioConfig {
    fn default() -> ScenarioConfig {
        ScenarioConfig {
            seed: 2026,
            people: 3_000,
        }
    }
}

/// What the engine must decide about a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Accept,
    Reject(RuleCode),
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Accept => f.write_str("accepted"),
            Expect::Reject(code) => f.write_str(code.as_str()),
        }
    }
}

/// One line and the organisation role that submits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub role: Role,
    pub line: SubmissionLine,
    pub expect: Expect,
}

/// Lines that may be submitted in any order, after every earlier wave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wave {
    pub name: String,
    pub lines: Vec<Submission>,
}

/// A generated dataset and what the chain must make of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub config: ScenarioConfig,
    /// Genesis with the testkit consortium of [`KIT_SEED`] (see [`genesis`]).
    pub genesis: Genesis,
    pub waves: Vec<Wave>,
    /// Rejections by code: exactly the injected abuses.
    pub expected: BTreeMap<String, usize>,
    /// Signals raised by accepted records, by code.
    pub signals: BTreeMap<String, usize>,
}

/// Why generation stopped: the simulated chain disagreed with the plan.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("wave {wave}: {error}")]
    Intake { wave: String, error: IntakeError },
    #[error("wave {wave} line {index}: expected {expected}, the engine said {actual}")]
    Unexpected {
        wave: String,
        index: usize,
        expected: String,
        actual: String,
    },
    #[error("quote failed with {0}")]
    Quote(RuleCode),
}

/// The scenario's funds (four kinds in each of six prefectures) and default
/// policies, for any consortium with Guangdong's organisations and roles.
pub fn genesis(chain_id: ChainId, orgs: Vec<GenesisOrg>) -> Genesis {
    let owner = |role: Role| {
        orgs.iter()
            .find(|o| o.role == role)
            .map(|o| o.id.clone())
            .unwrap_or_else(|| label("missing-org"))
    };
    let kinds = [
        (FundKind::Basic, Role::Insurance),
        (FundKind::CriticalIllness, Role::Insurance),
        (FundKind::Supplementary, Role::Insurance),
        (FundKind::Assistance, Role::CivilAffairs),
    ];
    let mut funds = Vec::new();
    for (region, _) in PREFECTURES {
        for (kind, role) in kinds {
            funds.push(GenesisFund {
                id: label(&fund_name(kind, region)),
                kind,
                region: label(region),
                owner: owner(role),
                opening_balance: Amount::yuan(OPENING_BALANCE),
            });
        }
    }
    Genesis {
        version: GENESIS_VERSION,
        chain_id,
        timestamp_ms: 1_767_225_600_000,
        orgs,
        funds,
        policies: PREFECTURES
            .iter()
            .map(|(r, _)| default_policy(label(r), YEAR))
            .collect(),
        rules_version: fundtrail_contracts::LATEST_RULES,
    }
}

/// Generates the scenario for `config`, simulating every wave.
pub fn generate(config: &ScenarioConfig) -> Result<Scenario, ScenarioError> {
    let mut g = Generator::new(config);
    g.setup()?;
    g.round(1)?;
    g.round(2)?;
    g.revocations()?;
    g.reversals()?;
    g.corrections()?;
    g.clearing()?;
    g.upcoding()?;
    g.abuses()?;
    g.settlements()?;
    Ok(Scenario {
        config: config.clone(),
        genesis: g.genesis,
        waves: g.waves,
        expected: g.expected,
        signals: g.sim.signals,
    })
}

fn label<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: fmt::Debug,
{
    s.parse().expect("scenario labels are valid")
}

fn label_ref(s: &str) -> Reference {
    Reference::parse(s).expect("scenario references are valid")
}

/// `basic-440100`, `ci-440100`, `supp-440100`, `assist-440100`.
pub fn fund_name(kind: FundKind, region: &str) -> String {
    let prefix = match kind {
        FundKind::Basic => "basic",
        FundKind::CriticalIllness => "ci",
        FundKind::Supplementary => "supp",
        FundKind::Assistance => "assist",
    };
    format!("{prefix}-{region}")
}

/// What the generator does differently with one claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Special {
    None,
    /// Tiers from `from` on are not paid honestly; an abuse comes instead.
    Withhold {
        from: Tier,
        abuse: Abuse,
    },
    /// `tier` is paid 90 % by a keying error, reversed, then paid right.
    Underpay(Tier),
    /// The last paid tier is clawed back after a fraud finding.
    Clawback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Abuse {
    OverCap,
    MissingApproval,
    AboveEntitlement,
    WrongFund,
    AfterRevoke,
}

struct Claim {
    person: usize,
    line: ClaimLine,
    id: ClaimId,
    special: Special,
    /// The honest payouts, by tier.
    paid: Vec<(Tier, Submission)>,
    /// The entitlement split quoted right after the claim was accepted.
    plan: Option<Quote>,
}

struct Generator {
    rng: ChaCha8Rng,
    people: usize,
    world: World,
    genesis: Genesis,
    sim: Sim,
    waves: Vec<Wave>,
    claims: Vec<Claim>,
    /// People whose claims carry a special plan (one per person).
    special_people: std::collections::BTreeSet<usize>,
    expected: BTreeMap<String, usize>,
    /// Payouts strictly above this need two officer approvals.
    threshold: Amount,
    /// The departments' reference serials handed out so far.
    references: std::cell::Cell<u32>,
}

impl Generator {
    fn new(config: &ScenarioConfig) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let kit = Kit::new(KIT_SEED);
        let genesis = genesis(kit.chain_id.clone(), kit.genesis_orgs());
        Generator {
            world: World::new(&mut rng, config.people),
            rng,
            people: config.people,
            sim: Sim::new(&genesis),
            genesis,
            waves: Vec::new(),
            claims: Vec::new(),
            special_people: Default::default(),
            expected: BTreeMap::new(),
            threshold: fundtrail_contracts::policy::default_params()
                .approvals
                .threshold,
            references: std::cell::Cell::new(0),
        }
    }

    /// The next department reference: `prefix`, the year and a serial, as
    /// a settlement serial (JS), a disbursement order (JZ), a reversal
    /// voucher (CX) or an appropriation document (BK) would read.
    fn reference(&self, prefix: &str) -> Reference {
        let n = self.references.get() + 1;
        self.references.set(n);
        label_ref(&format!("{prefix}{YEAR}-{n:07}"))
    }

    /// One per `per` people, at least one.
    fn few(&self, per: usize) -> usize {
        (self.people / per).max(1)
    }

    /// Simulates `lines` as the next wave and keeps it.
    fn push(&mut self, name: String, lines: Vec<Submission>) -> Result<(), ScenarioError> {
        let wave = Wave { name, lines };
        self.sim.run(&wave)?;
        for s in &wave.lines {
            if let Expect::Reject(code) = s.expect {
                *self.expected.entry(code.as_str().to_string()).or_default() += 1;
            }
        }
        self.waves.push(wave);
        Ok(())
    }

    /// A payout line on claim `c` for `tier`, drawn on the fund of `fund`'s kind.
    fn payout(
        &self,
        c: usize,
        tier: Tier,
        amount: Amount,
        fund: Tier,
        approvals: u8,
    ) -> Submission {
        let claim = &self.claims[c];
        let region = claim.line.insured_region.as_str();
        let fund_id = label(&fund_name(fund.fund_kind(), region));
        let (institution, bill_no) = (claim.line.institution.clone(), claim.line.bill_no.clone());
        let (role, line) = match scheme(tier) {
            Some(scheme) => (
                Role::Insurance,
                SubmissionLine::Settlement(SettlementLine {
                    reference: self.reference("JS"),
                    institution,
                    bill_no,
                    scheme,
                    fund_id,
                    amount,
                    approvals,
                }),
            ),
            None => (
                Role::CivilAffairs,
                SubmissionLine::Assistance(AssistanceLine {
                    reference: self.reference("JZ"),
                    institution,
                    bill_no,
                    category: claim
                        .plan
                        .and_then(|q| q.assistance_category)
                        .unwrap_or(Category::Dibao),
                    fund_id,
                    amount,
                    approvals,
                }),
            ),
        };
        Submission {
            role,
            line,
            expect: Expect::Accept,
        }
    }

    /// Officer approvals an honest payout of `amount` carries.
    fn approvals_for(&self, amount: Amount) -> u8 {
        if amount > self.threshold {
            2
        } else {
            0
        }
    }
}

fn scheme(tier: Tier) -> Option<Scheme> {
    match tier {
        Tier::Basic => Some(Scheme::Basic),
        Tier::CriticalIllness => Some(Scheme::CriticalIllness),
        Tier::Supplementary => Some(Scheme::Supplementary),
        Tier::Assistance => None,
    }
}

/// The role that submits payouts of `tier` (and so may reverse them).
fn payer(tier: Tier) -> Role {
    match tier {
        Tier::Assistance => Role::CivilAffairs,
        _ => Role::Insurance,
    }
}
