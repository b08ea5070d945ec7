//! Deterministic sample data: a four-department consortium, one record of
//! every kind, and a builder for signed, attested chains. Used by the test
//! vectors, tests, the crash-safety child process and the benchmarks; the
//! contracts are not involved, so every outcome here is `Accepted` and state
//! writes are empty.

use fundtrail_ledger::block::{
    Attestation, Block, Genesis, GenesisFund, GenesisKey, GenesisOrg, Outcome, Verdict,
};
use fundtrail_ledger::chainfile::ChainWriter;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::{raw_commitment, PseudonymKey};
use fundtrail_ledger::record::*;
use fundtrail_ledger::types::*;
use fundtrail_ledger::verify::{BlockDraft, VerifiedBlock};

/// One organisation's keys.
pub struct OrgKeys {
    pub org: OrgId,
    pub role: Role,
    pub submitter: Keypair,
    pub officer: Keypair,
    pub node: Keypair,
}

/// The four departments of a pooling region, with keys derived from seeds.
pub struct Consortium {
    pub chain_id: ChainId,
    pub orgs: Vec<OrgKeys>,
    pub pseudonyms: PseudonymKey,
}

fn label<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("fixture labels are valid")
}

impl Consortium {
    pub fn new(seed: u8) -> Consortium {
        let roles = [
            ("gd-insurance", Role::Insurance),
            ("gd-civil-affairs", Role::CivilAffairs),
            ("gd-health", Role::Health),
            ("gd-finance", Role::Finance),
        ];
        let orgs = roles
            .iter()
            .enumerate()
            .map(|(i, (name, role))| {
                let base = seed.wrapping_mul(16).wrapping_add(i as u8 * 3);
                OrgKeys {
                    org: label(name),
                    role: *role,
                    submitter: Keypair::from_seed([base; 32]),
                    officer: Keypair::from_seed([base.wrapping_add(1); 32]),
                    node: Keypair::from_seed([base.wrapping_add(2); 32]),
                }
            })
            .collect();
        Consortium {
            chain_id: label("gd-medfund-test"),
            orgs,
            pseudonyms: PseudonymKey::new(1, [seed; 32]),
        }
    }

    pub fn org(&self, role: Role) -> &OrgKeys {
        self.orgs
            .iter()
            .find(|o| o.role == role)
            .expect("every role is present")
    }

    pub fn genesis(&self) -> Genesis {
        let orgs = self
            .orgs
            .iter()
            .map(|o| GenesisOrg {
                id: o.org.clone(),
                role: o.role,
                keys: vec![
                    GenesisKey {
                        key: o.submitter.public(),
                        role: KeyRole::Submitter,
                    },
                    GenesisKey {
                        key: o.officer.public(),
                        role: KeyRole::Officer,
                    },
                    GenesisKey {
                        key: o.node.public(),
                        role: KeyRole::Node,
                    },
                ],
            })
            .collect();
        let fund = |id: &str, kind, owner: &OrgKeys| GenesisFund {
            id: label(id),
            kind,
            region: label("440100"),
            owner: owner.org.clone(),
            opening_balance: Amount::yuan(50_000_000),
        };
        let ins = self.org(Role::Insurance);
        let civ = self.org(Role::CivilAffairs);
        Genesis {
            version: fundtrail_ledger::block::GENESIS_VERSION,
            chain_id: self.chain_id.clone(),
            timestamp_ms: 1_767_225_600_000,
            orgs,
            funds: vec![
                fund("basic-440100", FundKind::Basic, ins),
                fund("ci-440100", FundKind::CriticalIllness, ins),
                fund("supp-440100", FundKind::Supplementary, ins),
                fund("assist-440100", FundKind::Assistance, civ),
            ],
            policies: vec![sample_policy()],
            rules_version: 1,
        }
    }

    /// Signs `body` as `role`'s submitter.
    pub fn sign(&self, role: Role, body: RecordBody, nonce: u64) -> SignedRecord {
        let org = self.org(role);
        Envelope::new(self.chain_id.clone(), body, org.submitter.public(), nonce)
            .sign(&org.submitter)
    }

    /// Signs `body` as `role`'s submitter with its officer's approval.
    pub fn sign_approved(&self, role: Role, body: RecordBody, nonce: u64) -> SignedRecord {
        let org = self.org(role);
        let mut env = Envelope::new(self.chain_id.clone(), body, org.submitter.public(), nonce);
        env.approve(&org.officer);
        env.sign(&org.submitter)
    }
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
pub fn sample_bodies(c: &Consortium, i: u64) -> Vec<RecordBody> {
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
    ]
}

/// The role that submits each sample kind.
pub fn submitter_role(kind: RecordKind) -> Role {
    match kind {
        RecordKind::Eligibility | RecordKind::Assistance => Role::CivilAffairs,
        RecordKind::Claim | RecordKind::Disclosure => Role::Health,
        RecordKind::FundCredit => Role::Finance,
        _ => Role::Insurance,
    }
}

/// Builds a chain of signed, attested blocks on top of a genesis.
pub struct ChainBuilder<'a> {
    pub consortium: &'a Consortium,
    pub genesis: Genesis,
    prev_hash: Hash32,
    next_height: Height,
    timestamp_ms: u64,
    nonce: u64,
}

impl<'a> ChainBuilder<'a> {
    pub fn new(consortium: &'a Consortium) -> ChainBuilder<'a> {
        let genesis = consortium.genesis();
        ChainBuilder {
            prev_hash: genesis.hash().hash(),
            timestamp_ms: genesis.timestamp_ms,
            genesis,
            consortium,
            next_height: Height(1),
            nonce: 0,
        }
    }

    /// `n` signed records cycling through every kind; every eleventh carries
    /// an officer approval.
    pub fn records(&mut self, n: usize) -> Vec<SignedRecord> {
        (0..n)
            .map(|_| {
                self.nonce += 1;
                let kind_no = (self.nonce % RecordKind::ALL.len() as u64) as usize;
                let body = sample_bodies(self.consortium, self.nonce).swap_remove(kind_no);
                let role = submitter_role(body.kind());
                if self.nonce % 11 == 0 {
                    self.consortium.sign_approved(role, body, self.nonce)
                } else {
                    self.consortium.sign(role, body, self.nonce)
                }
            })
            .collect()
    }

    /// Seals the next block over `records`, all accepted.
    pub fn block(&mut self, records: Vec<SignedRecord>) -> VerifiedBlock {
        let outcomes = accepted_outcomes(&records);
        self.timestamp_ms += 1_000;
        let proposer = self.consortium.orgs[0].node.public();
        let block = BlockDraft {
            chain_id: self.genesis.chain_id.clone(),
            height: self.next_height,
            prev_hash: self.prev_hash,
            timestamp_ms: self.timestamp_ms,
            proposer,
            rules_version: 1,
            state_root: fundtrail_ledger::block::next_state_root(&self.prev_hash, &[]),
            records,
            outcomes,
        }
        .seal();
        self.prev_hash = block.header().hash().hash();
        self.next_height = self.next_height.next();
        block
    }

    /// Every org's node attests `block`.
    pub fn attest(&self, block: &Block) -> Vec<Attestation> {
        self.consortium
            .orgs
            .iter()
            .map(|o| {
                Attestation::sign(
                    &o.node,
                    &block.header.chain_id,
                    block.header.height,
                    block.hash(),
                )
            })
            .collect()
    }

    /// `blocks` blocks of `per_block` records, each with attestations.
    pub fn chain(&mut self, blocks: usize, per_block: usize) -> Vec<(Block, Vec<Attestation>)> {
        (0..blocks)
            .map(|_| {
                let records = self.records(per_block);
                let block = self.block(records).into_block();
                let atts = self.attest(&block);
                (block, atts)
            })
            .collect()
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
