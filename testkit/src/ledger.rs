//! Ledger-level sample data: one record body of every kind (the golden
//! vectors and [`crate::chain::ChainBuilder::records`]), accepted outcomes
//! for blocks committed without the contracts (the crash-safety child), and
//! the chain file of a chain.

use fundtrail_ledger::block::{Attestation, Block, Genesis, Outcome, Verdict};
use fundtrail_ledger::chainfile::ChainWriter;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::raw_commitment;
use fundtrail_ledger::record::*;
use fundtrail_ledger::types::*;

use crate::Kit;

fn label<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("fixture labels are valid")
}

/// Illustrative parameters (the contract engine's own defaults live in
/// contracts/policy/default.toml).
pub fn sample_policy() -> PolicyBody {
    let ratios = |g, s, t| LevelRatios {
        grassroots: Bp(g),
        secondary: Bp(s),
        tertiary: Bp(t),
    };
    PolicyBody {
        region: label("440100"),
        year: 2026,
        effective_from: label("2026-01-01"),
        params: PolicyParams {
            basic: BasicParams {
                deductible: Amount::yuan(1_000),
                annual_cap: Amount::yuan(400_000),
                resident_ratio: ratios(8000, 7500, 7000),
                employee_ratio: ratios(9000, 8500, 8000),
                deductible_waived_for: vec![Category::Tekun, Category::Dibao],
                deductible_waived_at: vec![
                    InstitutionLevel::Grassroots,
                    InstitutionLevel::Secondary,
                ],
            },
            critical_illness: CriticalIllnessParams {
                deductible: Amount::yuan(10_000),
                ratio: Bp(6000),
                annual_cap: Amount::yuan(400_000),
                poor_categories: vec![Category::Tekun, Category::Dibao, Category::Orphan],
                poor_deductible: Amount::yuan(5_000),
                poor_ratio: Bp(6500),
                poor_cap_exempt: true,
            },
            supplementary: SupplementaryParams {
                ratio_in_catalogue: Bp(9000),
                ratio_out_of_catalogue: Bp(7500),
                annual_cap: Amount::yuan(250_000),
            },
            assistance: vec![AssistanceParams {
                category: Category::Dibao,
                ratio: Bp(7000),
                deductible: Amount::ZERO,
                annual_cap: Amount::yuan(50_000),
            }],
            approvals: ApprovalParams {
                threshold: Amount::yuan(50_000),
                required: 1,
            },
            signals: SignalParams {
                per_capita_disposable_income: Amount::yuan(55_000),
                high_cost_share: Bp(5000),
                readmission_days: 15,
                region_change_window_days: 90,
                region_change_max: 3,
            },
        },
    }
}

/// One body of every record kind, in kind order. Identifiers are synthetic
/// and pseudonymised; `i` varies them.
pub fn sample_bodies(c: &Kit, i: u64) -> Vec<RecordBody> {
    let person = c
        .pseudonyms
        .person(&format!("44010019900101{:04}", i % 10_000));
    let institution: InstitutionId = label("H44010001");
    let claim_id = c.pseudonyms.claim(&institution, &format!("BILL-{i:08}"));
    let d = |s: &str| -> Date { label(s) };
    let target = RecordId::from_hash(fundtrail_ledger::hash::hash_domain(
        "fixture",
        &i.to_le_bytes(),
    ));
    vec![
        RecordBody::Member(MemberBody::ScheduleRules {
            version: 2,
            activation: Height(1_000_000),
        }),
        RecordBody::Policy(sample_policy()),
        RecordBody::Eligibility(EligibilityBody {
            person,
            category: Category::Dibao,
            decision: EligibilityDecision::Grant {
                valid_from: d("2026-01-01"),
                valid_until: d("2026-12-31"),
            },
        }),
        RecordBody::Filing(FilingBody {
            person,
            insured_region: label("440100"),
            care_region: label("110000"),
            valid_from: d("2026-01-01"),
            valid_until: d("2026-06-30"),
        }),
        RecordBody::Claim(ClaimBody {
            claim_id,
            person,
            institution,
            institution_level: InstitutionLevel::Tertiary,
            insured_type: InsuredType::Resident,
            insured_region: label("440100"),
            care_region: label("440100"),
            service_date: d("2026-03-01"),
            admission: Admission::Inpatient,
            total: Amount::yuan(100_000),
            in_scope: Amount::yuan(90_000),
            drg_or_dip_group: Some(label("DRG-ES23")),
            supplementary_cover: false,
            raw_commitment: raw_commitment(&[i as u8; 32], b"{\"bill\":\"synthetic\"}"),
        }),
        RecordBody::Settlement(SettlementBody {
            claim_id,
            scheme: Scheme::Basic,
            fund_id: label("basic-440100"),
            amount: Amount::yuan(63_000),
        }),
        RecordBody::Assistance(AssistanceBody {
            claim_id,
            category: Category::Dibao,
            fund_id: label("assist-440100"),
            amount: Amount::from_fen(1_234_567).expect("in range"),
        }),
        RecordBody::Reversal(ReversalBody {
            target,
            reason: ReversalReason::DataEntryError,
        }),
        RecordBody::FundCredit(FundCreditBody {
            fund_id: label("assist-440100"),
            amount: Amount::yuan(1_000_000),
            source: FundSource::Budget {
                appropriation: label("2026-GD-044"),
            },
        }),
        RecordBody::Clearing(ClearingBody {
            period: Period {
                year: 2026,
                month: 3,
            },
            from_region: label("440100"),
            to_region: label("110000"),
            amount: Amount::yuan(12_000),
            claim_set_root: Hash32([7; 32]),
        }),
        RecordBody::Disclosure(DisclosureBody {
            target,
            holder: label("gd-health"),
            requester: label("gd-civil-affairs"),
            purpose: DisclosurePurpose::Audit,
            case_ref: Some(label("AUD-2026-001")),
        }),
        RecordBody::DisclosureFetch(DisclosureFetchBody {
            disclosure: RecordId::from_hash(fundtrail_ledger::hash::hash_domain(
                "fixture/disclosure",
                &i.to_le_bytes(),
            )),
            target,
        }),
        RecordBody::PaymentPolicy(fundtrail_contracts::policy::default_payment_policy(
            PaymentMethod::Dip,
            label("440100"),
            2026,
        )),
        RecordBody::PeriodSettlement(PeriodSettlementBody {
            region: label("440100"),
            year: 2026,
            budget: Amount::yuan(90_000),
            lines: vec![
                SettlementLine {
                    institution: label("H44010001"),
                    points: 340,
                    itemised: Amount::yuan(25_200),
                    entitled: Amount::yuan(21_200),
                    amount: Amount::from_fen(2_433_422).expect("in range"),
                },
                SettlementLine {
                    institution: label("H44010002"),
                    points: 980,
                    itemised: Amount::yuan(61_600),
                    entitled: Amount::yuan(67_600),
                    amount: Amount::from_fen(6_566_578).expect("in range"),
                },
            ],
        }),
    ]
}

/// The role that submits each sample kind.
pub fn submitter_role(kind: RecordKind) -> Role {
    match kind {
        RecordKind::Eligibility | RecordKind::Assistance | RecordKind::DisclosureFetch => {
            Role::CivilAffairs
        }
        RecordKind::Claim | RecordKind::Disclosure => Role::Health,
        RecordKind::FundCredit => Role::Finance,
        _ => Role::Insurance,
    }
}

/// An accepted outcome without signals for each record (ledger fixtures
/// do not run the contracts).
pub fn accepted_outcomes(records: &[SignedRecord]) -> Vec<Outcome> {
    records
        .iter()
        .map(|r| Outcome {
            record_id: r.id(),
            verdict: Verdict::Accepted,
            signals: vec![],
        })
        .collect()
}

/// The chain file of `entries` (heights 1 onwards) on `genesis`, as a node
/// exports it.
pub fn chain_file(genesis: &Genesis, entries: &[(Block, Vec<Attestation>)]) -> Vec<u8> {
    let last = entries
        .last()
        .map_or(Height(0), |(block, _)| block.header.height);
    let mut w = ChainWriter::new(Vec::new(), genesis, Height(1), last).expect("in-memory writer");
    for (block, attestations) in entries {
        w.write_block(block, attestations)
            .expect("blocks in height order");
    }
    w.finish().expect("in-memory finish")
}
