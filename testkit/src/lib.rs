//! fundtrail-testkit: deterministic fixtures for tests, benchmarks and the
//! demo. Never use these keys for anything real.
//!
//! - this module: a consortium of the four departments (plus an auditor)
//!   with keys from fixed seeds, a genesis with the default policy, helpers
//!   that sign records, a [`Harness`] that executes blocks in memory, and
//!   [`bodies`] with the fixtures' defaults;
//! - [`chain`]: the chain builder: signed records executed by the contracts,
//!   sealed and attested by every department's node;
//! - [`ledger`]: one record body of every kind, accepted outcomes and the
//!   chain file of a chain;
//! - [`workload`]: a seeded mix of honest and abusive records;
//! - [`scenario`]: the demo's seeded dataset of submission lines.

pub mod chain;
pub mod ledger;
pub mod scenario;
pub mod workload;

use fundtrail_ledger::block::{Genesis, GenesisFund, GenesisKey, GenesisOrg, GENESIS_VERSION};
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::pseudonym::{ClaimId, PersonId, PseudonymKey};
use fundtrail_ledger::record::{Envelope, RecordBody, RecordId, SignedRecord};
use fundtrail_ledger::types::{
    Amount, ChainId, FundId, FundKind, KeyRole, OrgId, RegionCode, Role,
};

use fundtrail_contracts::policy::default_policy;

/// The insured region of the fixtures and a second region for cross-region care.
pub const HOME: &str = "440100";
pub const AWAY: &str = "110000";
pub const YEAR: u16 = 2026;

/// The departments that run a voting node; the auditor runs none here.
pub const DEPARTMENTS: usize = 4;

pub struct OrgKit {
    pub id: OrgId,
    pub role: Role,
    pub submitter: Keypair,
    pub officers: [Keypair; 2],
    /// Enrolled only by [`Kit::genesis_with_nodes`], and only for the
    /// departments: a cluster enrols the node keys it generates.
    pub node: Keypair,
}

impl Clone for OrgKit {
    fn clone(&self) -> OrgKit {
        let copy = |k: &Keypair| Keypair::from_seed(k.secret_bytes());
        OrgKit {
            id: self.id.clone(),
            role: self.role,
            submitter: copy(&self.submitter),
            officers: [copy(&self.officers[0]), copy(&self.officers[1])],
            node: copy(&self.node),
        }
    }
}

#[derive(Clone)]
pub struct Kit {
    pub chain_id: ChainId,
    pub orgs: Vec<OrgKit>,
    pub pseudonyms: PseudonymKey,
}

fn label<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("fixture labels are valid")
}

pub fn region(s: &str) -> RegionCode {
    label(s)
}

pub fn fund(s: &str) -> FundId {
    label(s)
}

impl Kit {
    pub fn new(seed: u8) -> Kit {
        let roles = [
            ("gd-insurance", Role::Insurance),
            ("gd-civil-affairs", Role::CivilAffairs),
            ("gd-health", Role::Health),
            ("gd-finance", Role::Finance),
            ("gd-audit", Role::Auditor),
        ];
        let key = |org: usize, n: u8| {
            Keypair::from_seed(
                [seed, org as u8, n, 0x5a]
                    .repeat(8)
                    .try_into()
                    .expect("32 bytes"),
            )
        };
        let orgs = roles
            .iter()
            .enumerate()
            .map(|(i, (name, role))| OrgKit {
                id: label(name),
                role: *role,
                submitter: key(i, 0),
                officers: [key(i, 1), key(i, 2)],
                node: key(i, 3),
            })
            .collect();
        Kit {
            chain_id: label("gd-medfund-test"),
            orgs,
            pseudonyms: PseudonymKey::new(1, [seed; 32]),
        }
    }

    pub fn org(&self, role: Role) -> &OrgKit {
        self.orgs
            .iter()
            .find(|o| o.role == role)
            .expect("every role is present")
    }

    /// Every organisation with its submitter and officer keys.
    pub fn genesis_orgs(&self) -> Vec<GenesisOrg> {
        self.orgs
            .iter()
            .map(|o| {
                let mut keys = vec![GenesisKey {
                    key: o.submitter.public(),
                    role: KeyRole::Submitter,
                }];
                keys.extend(o.officers.iter().map(|k| GenesisKey {
                    key: k.public(),
                    role: KeyRole::Officer,
                }));
                GenesisOrg {
                    id: o.id.clone(),
                    role: o.role,
                    keys,
                }
            })
            .collect()
    }

    /// Funds of every kind in both regions, 50 million yuan each.
    pub fn genesis(&self) -> Genesis {
        let mut funds = Vec::new();
        for r in [HOME, AWAY] {
            for (prefix, kind, owner) in [
                ("basic", FundKind::Basic, Role::Insurance),
                ("ci", FundKind::CriticalIllness, Role::Insurance),
                ("supp", FundKind::Supplementary, Role::Insurance),
                ("assist", FundKind::Assistance, Role::CivilAffairs),
            ] {
                funds.push(GenesisFund {
                    id: fund(&format!("{prefix}-{r}")),
                    kind,
                    region: region(r),
                    owner: self.org(owner).id.clone(),
                    opening_balance: Amount::yuan(50_000_000),
                });
            }
        }
        Genesis {
            version: GENESIS_VERSION,
            chain_id: self.chain_id.clone(),
            timestamp_ms: 1_767_225_600_000,
            orgs: self.genesis_orgs(),
            funds,
            policies: vec![
                default_policy(region(HOME), YEAR),
                default_policy(region(AWAY), YEAR),
            ],
            rules_version: fundtrail_contracts::LATEST_RULES,
        }
    }

    /// [`Kit::genesis`] with the node key of every department, as a chain
    /// whose blocks the departments propose and attest.
    pub fn genesis_with_nodes(&self) -> Genesis {
        let mut genesis = self.genesis();
        for (org, kit) in genesis.orgs.iter_mut().zip(&self.orgs) {
            if kit.role != Role::Auditor {
                org.keys.push(GenesisKey {
                    key: kit.node.public(),
                    role: KeyRole::Node,
                });
            }
        }
        genesis
    }

    /// The departments' node keys, in organisation order.
    pub fn department_nodes(&self) -> Vec<Keypair> {
        self.orgs
            .iter()
            .filter(|o| o.role != Role::Auditor)
            .map(|o| Keypair::from_seed(o.node.secret_bytes()))
            .collect()
    }

    /// Signs `body` as `role`'s submitter with `approvals` of its officers.
    pub fn sign(&self, role: Role, body: RecordBody, nonce: u64, approvals: usize) -> SignedRecord {
        let org = self.org(role);
        let mut env = Envelope::new(self.chain_id.clone(), body, org.submitter.public(), nonce);
        for officer in org.officers.iter().take(approvals) {
            env.approve(officer);
        }
        env.sign(&org.submitter)
    }

    /// Signs with officers of other organisations too (member quorum).
    pub fn sign_by_orgs(
        &self,
        role: Role,
        body: RecordBody,
        nonce: u64,
        approving: &[Role],
    ) -> SignedRecord {
        let org = self.org(role);
        let mut env = Envelope::new(self.chain_id.clone(), body, org.submitter.public(), nonce);
        for r in approving {
            env.approve(&self.org(*r).officers[0]);
        }
        env.sign(&org.submitter)
    }

    pub fn person(&self, n: u64) -> PersonId {
        self.pseudonyms.person(&format!("4401001990{n:08}"))
    }

    pub fn claim_id(&self, n: u64) -> ClaimId {
        self.pseudonyms
            .claim(&label("H44010001"), &format!("BILL-{n:08}"))
    }
}

/// A chain in memory: executes blocks and applies their writes.
pub struct Harness {
    pub kit: Kit,
    pub state: fundtrail_contracts::state::MemoryState,
    pub root: fundtrail_ledger::hash::Hash32,
    pub height: fundtrail_ledger::types::Height,
    nonce: u64,
}

impl Harness {
    pub fn new(seed: u8) -> Harness {
        let kit = Kit::new(seed);
        let genesis = kit.genesis();
        Harness::with_genesis(kit, &genesis)
    }

    /// A chain from `genesis`, whose keys must be `kit`'s.
    pub fn with_genesis(kit: Kit, genesis: &Genesis) -> Harness {
        let mut state = fundtrail_contracts::state::MemoryState::new();
        state.apply(&fundtrail_contracts::engine::genesis_state(genesis));
        let root = fundtrail_contracts::engine::genesis_state_root(genesis);
        Harness {
            kit,
            state,
            root,
            height: fundtrail_ledger::types::Height(0),
            nonce: 0,
        }
    }

    /// When [`Harness::block`] stamps the block at `height`: one second
    /// per block after the genesis.
    pub fn timestamp_ms(height: fundtrail_ledger::types::Height) -> u64 {
        1_767_225_600_000 + height.0 * 1000
    }

    /// Signs the next record with a fresh nonce.
    pub fn record(&mut self, role: Role, body: RecordBody, approvals: usize) -> SignedRecord {
        self.nonce += 1;
        self.kit.sign(role, body, self.nonce, approvals)
    }

    /// Executes `records` as the next block and commits it (the returned
    /// execution's `writes` have been moved into the state).
    pub fn block(
        &mut self,
        records: &[SignedRecord],
    ) -> fundtrail_contracts::engine::BlockExecution {
        self.block_identified(records.iter().map(|r| (r.id(), r)))
    }

    /// [`Harness::block`] for records whose ids the caller computed.
    pub fn block_identified<'r>(
        &mut self,
        records: impl ExactSizeIterator<Item = (RecordId, &'r SignedRecord)>,
    ) -> fundtrail_contracts::engine::BlockExecution {
        self.block_at(Harness::timestamp_ms(self.height.next()), records)
    }

    /// [`Harness::block_identified`] stamped `timestamp_ms`, for rules
    /// that read the block's time.
    pub fn block_at<'r>(
        &mut self,
        timestamp_ms: u64,
        records: impl ExactSizeIterator<Item = (RecordId, &'r SignedRecord)>,
    ) -> fundtrail_contracts::engine::BlockExecution {
        let height = self.height.next();
        let ctx = fundtrail_contracts::engine::BlockContext {
            height,
            timestamp_ms,
            prev_state_root: self.root,
        };
        let mut exec = fundtrail_contracts::engine::execute_identified(&ctx, records, &self.state)
            .expect("in-memory execution does not fail");
        self.state.apply(&std::mem::take(&mut exec.writes));
        self.root = exec.state_root;
        self.height = height;
        exec
    }

    /// Submits one record in its own block; returns its outcome.
    pub fn submit(
        &mut self,
        role: Role,
        body: RecordBody,
        approvals: usize,
    ) -> fundtrail_ledger::block::Outcome {
        let r = self.record(role, body, approvals);
        self.block(&[r]).outcomes.remove(0)
    }
}

/// Body builders with the fixtures' defaults.
pub mod bodies {
    use fundtrail_ledger::hash::Hash32;
    use fundtrail_ledger::pseudonym::{ClaimId, PersonId};
    use fundtrail_ledger::record::*;
    use fundtrail_ledger::types::*;

    use super::{fund, region, AWAY, HOME};

    pub fn date(s: &str) -> Date {
        s.parse().expect("fixture dates are valid")
    }

    /// A resident's inpatient claim at a tertiary hospital in the home region.
    pub fn claim(
        claim_id: ClaimId,
        person: PersonId,
        total: Amount,
        in_scope: Amount,
    ) -> ClaimBody {
        ClaimBody {
            claim_id,
            person,
            institution: "H44010001".parse().expect("valid"),
            institution_level: InstitutionLevel::Tertiary,
            insured_type: InsuredType::Resident,
            insured_region: region(HOME),
            care_region: region(HOME),
            service_date: date("2026-03-01"),
            admission: Admission::Inpatient,
            total,
            in_scope,
            drg_or_dip_group: None,
            supplementary_cover: false,
            raw_commitment: Hash32([1; 32]),
        }
    }

    /// A clearing of the bucket of `month` 2026 from the home region to
    /// the away region.
    pub fn clearing(month: u8, amount: Amount, claim_set_root: Hash32) -> RecordBody {
        RecordBody::Clearing(ClearingBody {
            period: Period { year: 2026, month },
            from_region: region(HOME),
            to_region: region(AWAY),
            amount,
            claim_set_root,
        })
    }

    pub fn settle(claim_id: ClaimId, scheme: Scheme, amount: Amount) -> RecordBody {
        let prefix = match scheme {
            Scheme::Basic => "basic",
            Scheme::CriticalIllness => "ci",
            Scheme::Supplementary => "supp",
        };
        RecordBody::Settlement(SettlementBody {
            claim_id,
            scheme,
            fund_id: fund(&format!("{prefix}-{HOME}")),
            amount,
        })
    }

    pub fn assist(claim_id: ClaimId, category: Category, amount: Amount) -> RecordBody {
        RecordBody::Assistance(AssistanceBody {
            claim_id,
            category,
            fund_id: fund(&format!("assist-{HOME}")),
            amount,
        })
    }

    pub fn grant(person: PersonId, category: Category, from: &str, until: &str) -> RecordBody {
        RecordBody::Eligibility(EligibilityBody {
            person,
            category,
            decision: EligibilityDecision::Grant {
                valid_from: date(from),
                valid_until: date(until),
            },
        })
    }

    pub fn grant_dates(
        person: PersonId,
        category: Category,
        from: Date,
        until: Date,
    ) -> RecordBody {
        RecordBody::Eligibility(EligibilityBody {
            person,
            category,
            decision: EligibilityDecision::Grant {
                valid_from: from,
                valid_until: until,
            },
        })
    }

    pub fn revoke(person: PersonId, category: Category, effective: &str) -> RecordBody {
        RecordBody::Eligibility(EligibilityBody {
            person,
            category,
            decision: EligibilityDecision::Revoke {
                effective: date(effective),
            },
        })
    }
}
