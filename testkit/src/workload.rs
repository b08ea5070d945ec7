//! A seeded mix of honest and abusive records over a population of people,
//! for the randomized invariant test and the benchmark. Honest payouts pay
//! exactly the quoted entitlement of the next tier; abusive ones try
//! duplicates, excess, wrong funds, skipped tiers, missing approvals,
//! ineligible assistance, foreign reversals and wrong clearings. With
//! [`Workload::with_group_payment`], the home region pays by DIP and the
//! away region by DRG: inpatient claims name groups (some outside the
//! catalogue), and one block opens with the home region's period
//! settlement, a wrong one beside it.

use fundtrail_ledger::crypto::{Keypair, Signature};
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::ClaimId;
use fundtrail_ledger::record::*;
use fundtrail_ledger::types::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::bodies::{self, date};
use super::{fund, region, Kit, AWAY, HOME};
use fundtrail_contracts::model::{key, ClaimEntry, Tier};
use fundtrail_contracts::quote::quote;
use fundtrail_contracts::rules::clearing::{self, Bucket};
use fundtrail_contracts::state::{BlockOverlay, MemoryState, State};

/// The consortium seed of [`Workload::new`].
pub const WORKLOAD_KIT: u8 = 7;

pub struct Workload {
    pub kit: Kit,
    rng: ChaCha8Rng,
    /// Sign records for real (tests) or leave zero signatures (benchmark:
    /// the engine never checks signatures, the ledger does before it).
    sign: bool,
    people: u64,
    nonce: u64,
    claims: Vec<ClaimId>,
    payouts: Vec<(RecordId, Role)>,
    away_claims: Vec<ClaimId>,
    /// Group payment: the block that opens with the period settlement.
    settle_at_block: Option<usize>,
    blocks: usize,
}

/// Group codes the workload's claims name: the default catalogue's, and
/// one outside it.
const GROUPS: [&str; 5] = ["ES23", "FM19", "RE13", "IB13", "X99"];

const CATEGORIES: [Category; 6] = Category::ALL;

impl Workload {
    /// The workload of the consortium `Kit::new(WORKLOAD_KIT)`.
    pub fn new(seed: u64, people: u64, sign: bool) -> Workload {
        Workload::with_kit(Kit::new(WORKLOAD_KIT), seed, people, sign)
    }

    pub fn with_kit(kit: Kit, seed: u64, people: u64, sign: bool) -> Workload {
        use rand::SeedableRng;
        Workload {
            kit,
            rng: ChaCha8Rng::seed_from_u64(seed),
            sign,
            people,
            nonce: 0,
            claims: Vec::new(),
            payouts: Vec::new(),
            away_claims: Vec::new(),
            settle_at_block: None,
            blocks: 0,
        }
    }

    /// Adds payment by groups: the first block opens with the payment
    /// policies (DIP at home, DRG away), and block `settle_at_block`
    /// (0-based) with the home region's period settlement.
    pub fn with_group_payment(mut self, settle_at_block: usize) -> Workload {
        self.settle_at_block = Some(settle_at_block);
        self
    }

    fn group_payment_records(&mut self, state: &MemoryState) -> Vec<SignedRecord> {
        use fundtrail_contracts::policy::default_payment_policy;
        let mut out = Vec::new();
        if self.blocks == 0 {
            for (method, r) in [(PaymentMethod::Dip, HOME), (PaymentMethod::Drg, AWAY)] {
                let body = default_payment_policy(method, region(r), 2026);
                out.push(self.envelope(Role::Insurance, RecordBody::PaymentPolicy(body), 0));
            }
        }
        if Some(self.blocks) == self.settle_at_block {
            let due = fundtrail_contracts::payment::settlement_due(state, &region(HOME), 2026);
            if let Ok(Some(due)) = due {
                let mut wrong = due.clone();
                wrong.budget = plus_fen(wrong.budget, 1);
                out.push(self.envelope(Role::Insurance, RecordBody::PeriodSettlement(wrong), 0));
                out.push(self.envelope(Role::Insurance, RecordBody::PeriodSettlement(due), 0));
            }
        }
        out
    }

    fn envelope(&mut self, role: Role, body: RecordBody, approvals: usize) -> SignedRecord {
        self.nonce += 1;
        if self.sign {
            return self.kit.sign(role, body, self.nonce, approvals);
        }
        let org = self.kit.org(role);
        let mut env = Envelope::new(
            self.kit.chain_id.clone(),
            body,
            org.submitter.public(),
            self.nonce,
        );
        let zero = Signature([0; 64]);
        env.approvals = org
            .officers
            .iter()
            .take(approvals)
            .map(|k: &Keypair| Approval {
                key: k.public(),
                signature: zero,
            })
            .collect();
        SignedRecord {
            envelope: env,
            signature: zero,
        }
    }

    /// The next block of `n` records, generated against `state` (the state
    /// after the previous block).
    pub fn block(&mut self, state: &MemoryState, n: usize) -> Vec<SignedRecord> {
        let mut touched = std::collections::BTreeSet::new();
        let mut records = if self.settle_at_block.is_some() {
            self.group_payment_records(state)
        } else {
            Vec::new()
        };
        let rest = n.saturating_sub(records.len());
        records.extend((0..rest).map(|_| self.one(state, &mut touched)));
        self.blocks += 1;
        records
    }

    fn one(
        &mut self,
        state: &MemoryState,
        touched: &mut std::collections::BTreeSet<ClaimId>,
    ) -> SignedRecord {
        let roll = self.rng.gen_range(0..100);
        match roll {
            0..=9 => self.eligibility(),
            10..=12 => self.filing(),
            13..=37 => self.claim(),
            38..=79 => match self.payout(state, touched, roll >= 68) {
                Some(r) => r,
                None => self.claim(),
            },
            80..=85 => self.reversal(),
            86..=89 => self.fund_credit(),
            90..=93 => self.clearing(state),
            94..=96 => self.disclosure(),
            _ => self.foreign(),
        }
    }

    fn day(&mut self) -> Date {
        Date::from_ymd(2026, self.rng.gen_range(1..=12), self.rng.gen_range(1..=28))
            .unwrap_or(date("2026-06-01"))
    }

    fn eligibility(&mut self) -> SignedRecord {
        let person = self.kit.person(self.rng.gen_range(0..self.people));
        let category = CATEGORIES[self.rng.gen_range(0..CATEGORIES.len())];
        let body = if self.rng.gen_bool(0.85) {
            let (a, b) = (self.day(), self.day());
            bodies::grant_dates(person, category, a.min(b), a.max(b))
        } else {
            let effective = self.day();
            RecordBody::Eligibility(EligibilityBody {
                person,
                category,
                decision: EligibilityDecision::Revoke { effective },
            })
        };
        self.envelope(Role::CivilAffairs, body, 0)
    }

    fn filing(&mut self) -> SignedRecord {
        let person = self.kit.person(self.rng.gen_range(0..self.people));
        let (a, b) = (self.day(), self.day());
        let body = RecordBody::Filing(FilingBody {
            person,
            insured_region: region(HOME),
            care_region: region(AWAY),
            valid_from: a.min(b),
            valid_until: a.max(b),
        });
        self.envelope(Role::Insurance, body, 0)
    }

    fn claim(&mut self) -> SignedRecord {
        let n = self.nonce + 1_000_000;
        let claim_id = if self.rng.gen_bool(0.03) && !self.claims.is_empty() {
            self.claims[self.rng.gen_range(0..self.claims.len())]
        } else {
            self.kit.claim_id(n)
        };
        let person = self.kit.person(self.rng.gen_range(0..self.people));
        let total =
            Amount::from_fen(self.rng.gen_range(10_000..30_000_000)).unwrap_or(Amount::ZERO);
        let in_scope =
            Amount::from_fen(self.rng.gen_range(0..=total.fen())).unwrap_or(Amount::ZERO);
        let mut body = bodies::claim(claim_id, person, total, in_scope);
        body.institution_level = [
            InstitutionLevel::Grassroots,
            InstitutionLevel::Secondary,
            InstitutionLevel::Tertiary,
        ][self.rng.gen_range(0..3)];
        body.insured_type = if self.rng.gen_bool(0.6) {
            InsuredType::Resident
        } else {
            InsuredType::Employee
        };
        body.admission = if self.rng.gen_bool(0.5) {
            Admission::Inpatient
        } else {
            Admission::Outpatient
        };
        body.service_date = self.day();
        body.supplementary_cover = self.rng.gen_bool(0.3);
        if self.rng.gen_bool(0.15) {
            body.care_region = region(AWAY);
            self.away_claims.push(claim_id);
        }
        if self.settle_at_block.is_some() && body.admission == Admission::Inpatient {
            body.drg_or_dip_group =
                GroupCode::new(GROUPS[self.rng.gen_range(0..GROUPS.len())]).ok();
            let hospital = format!("H4401000{}", self.rng.gen_range(1..=4));
            body.institution = hospital.parse().unwrap_or(body.institution);
        }
        self.claims.push(claim_id);
        self.envelope(Role::Health, RecordBody::Claim(body), 0)
    }

    /// An honest payout of the next tier of a random claim, or an abusive
    /// variant of it.
    fn payout(
        &mut self,
        state: &MemoryState,
        touched: &mut std::collections::BTreeSet<ClaimId>,
        abusive: bool,
    ) -> Option<SignedRecord> {
        if self.claims.is_empty() {
            return None;
        }
        let claim_id = self.claims[self.rng.gen_range(0..self.claims.len())];
        if !touched.insert(claim_id) {
            return None;
        }
        let bytes = state.get(&key::claim(&claim_id)).ok()??;
        let claim: ClaimEntry = fundtrail_ledger::codec::decode("claim", &bytes).ok()?;
        let q = quote(state, &claim_id).ok()?;
        let amounts = [q.basic, q.critical_illness, q.supplementary, q.assistance];
        let next = Tier::ALL
            .into_iter()
            .find(|t| claim.paid(*t).is_none() && !amounts[*t as usize].is_zero());
        let (tier, mut amount) = match next {
            Some(t) => (t, amounts[t as usize]),
            None => (
                claim.paid.last().map_or(Tier::Basic, |p| p.tier),
                Amount::yuan(1),
            ),
        };
        let mut category = q.assistance_category.unwrap_or(Category::Dibao);
        let mut approvals = if amount > Amount::yuan(50_000) { 2 } else { 0 };
        let mut fund_tier = tier;
        let mut tier = tier;
        if abusive {
            match self.rng.gen_range(0..6) {
                0 => {
                    amount = amount
                        .checked_add(
                            Amount::from_fen(self.rng.gen_range(1..500_000))
                                .unwrap_or(Amount::ZERO),
                        )
                        .unwrap_or(amount)
                }
                1 => fund_tier = Tier::ALL[self.rng.gen_range(0..4)],
                2 => tier = Tier::ALL[self.rng.gen_range(0..4)],
                3 => approvals = 0,
                4 => category = CATEGORIES[self.rng.gen_range(0..CATEGORIES.len())],
                _ => match claim.paid.first() {
                    Some(p) => {
                        tier = p.tier;
                        amount = p.amount;
                    }
                    None => amount = amount.checked_add(Amount::yuan(1)).unwrap_or(amount),
                },
            }
        }
        let fund_id = fund(&format!("{}-{HOME}", fund_prefix(fund_tier)));
        let (role, body) = match tier {
            Tier::Assistance => (
                Role::CivilAffairs,
                RecordBody::Assistance(AssistanceBody {
                    claim_id,
                    category,
                    fund_id,
                    amount,
                }),
            ),
            t => {
                let scheme = match t {
                    Tier::Basic => Scheme::Basic,
                    Tier::CriticalIllness => Scheme::CriticalIllness,
                    _ => Scheme::Supplementary,
                };
                (
                    Role::Insurance,
                    RecordBody::Settlement(SettlementBody {
                        claim_id,
                        scheme,
                        fund_id,
                        amount,
                    }),
                )
            }
        };
        let r = self.envelope(role, body, approvals);
        self.payouts.push((r.id(), role));
        Some(r)
    }

    fn reversal(&mut self) -> SignedRecord {
        let (target, role) = match self.payouts.len() {
            0 => (RecordId::from_hash(Hash32([9; 32])), Role::Insurance),
            n => self.payouts[self.rng.gen_range(0..n)],
        };
        let role = if self.rng.gen_bool(0.2) {
            Role::Finance
        } else {
            role
        };
        let body = RecordBody::Reversal(ReversalBody {
            target,
            reason: ReversalReason::DataEntryError,
        });
        self.envelope(role, body, 0)
    }

    fn fund_credit(&mut self) -> SignedRecord {
        let prefix = ["basic", "ci", "supp", "assist"][self.rng.gen_range(0..4)];
        let amount = Amount::yuan(self.rng.gen_range(1..5_000_000));
        let source = if self.rng.gen_bool(0.5) {
            FundSource::Budget {
                appropriation: "2026-GD-044".parse().expect("valid"),
            }
        } else {
            FundSource::Transfer {
                from_fund: fund(&format!("{prefix}-{AWAY}")),
            }
        };
        let body = RecordBody::FundCredit(FundCreditBody {
            fund_id: fund(&format!("{prefix}-{HOME}")),
            amount,
            source,
        });
        let approvals = self.rng.gen_range(0..=2);
        self.envelope(Role::Finance, body, approvals)
    }

    fn clearing(&mut self, state: &MemoryState) -> SignedRecord {
        let month = self.rng.gen_range(1..=12u8);
        let bucket = Bucket::new(2026, month, &region(HOME), &region(AWAY));
        let mut overlay = BlockOverlay::new(state);
        let pending = clearing::pending(&overlay.tx(), &bucket).unwrap_or_default();
        let mut amount = pending.total;
        if self.rng.gen_bool(0.3) {
            amount = amount
                .checked_add(Amount::from_fen(1).unwrap_or(Amount::ZERO))
                .unwrap_or(amount);
        }
        let body = bodies::clearing(month, amount, clearing::claim_set_root(&pending));
        self.envelope(Role::Insurance, body, 0)
    }

    fn disclosure(&mut self) -> SignedRecord {
        let target = match self.payouts.len() {
            0 => RecordId::from_hash(Hash32([8; 32])),
            n => self.payouts[self.rng.gen_range(0..n)].0,
        };
        let body = RecordBody::Disclosure(DisclosureBody {
            target,
            holder: self.kit.org(Role::Health).id.clone(),
            requester: self.kit.org(Role::Auditor).id.clone(),
            purpose: DisclosurePurpose::Audit,
            case_ref: None,
        });
        let approvals = usize::from(self.rng.gen_bool(0.9));
        self.envelope(Role::Auditor, body, approvals)
    }

    /// A record from a role that may not submit its kind.
    fn foreign(&mut self) -> SignedRecord {
        let person = self.kit.person(0);
        let body = bodies::grant(person, Category::Tekun, "2026-01-01", "2026-12-31");
        self.envelope(Role::Health, body, 0)
    }
}

fn fund_prefix(t: Tier) -> &'static str {
    match t {
        Tier::Basic => "basic",
        Tier::CriticalIllness => "ci",
        Tier::Supplementary => "supp",
        Tier::Assistance => "assist",
    }
}

fn plus_fen(a: Amount, fen: u64) -> Amount {
    Amount::from_fen(a.fen() + fen).unwrap_or(a)
}
