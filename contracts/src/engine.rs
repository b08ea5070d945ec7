//! The block executor: genesis state, rules-version dispatch, and the
//! per-record pipeline (seen? → who signed? → may that role submit this
//! kind? → the kind's rule). A rejected record keeps its place with its code
//! and changes nothing but its own `rec/` entry.

use fundtrail_ledger::block::{next_state_root, Genesis, Outcome, StateWrite, Verdict};
use fundtrail_ledger::codec;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{RecordId, RecordKind, SignedRecord};
use fundtrail_ledger::types::{Height, KeyRole, OrgId, Role};

use crate::codes::RuleCode;
use crate::error::{ExecError, Fail};
use crate::model::{key, FundEntry, KeyEntry, OrgEntry, Policies, RecordMeta, RulesSchedule};
use crate::policy::insert_policy;
use crate::rules::{self, reject, RecordCtx, RuleResult, SUPPORTED_RULES};
use crate::state::{BlockOverlay, State, Tx};

/// Inputs of one block besides its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub height: Height,
    pub timestamp_ms: u64,
    /// The state root after the previous block (or genesis).
    pub prev_state_root: Hash32,
}

/// The result of executing one block. `writes` are sorted by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockExecution {
    pub outcomes: Vec<Outcome>,
    pub writes: Vec<StateWrite>,
    pub state_root: Hash32,
    pub rules_version: u32,
}

/// The contract state genesis establishes, sorted by key.
pub fn genesis_state(genesis: &Genesis) -> Vec<StateWrite> {
    let mut writes = std::collections::BTreeMap::new();
    let mut put = |k: Vec<u8>, v: Vec<u8>| {
        writes.insert(k, Some(v));
    };
    let schedule = RulesSchedule {
        genesis: genesis.rules_version,
        scheduled: Vec::new(),
    };
    put(key::RULES.to_vec(), codec::encode(&schedule));
    let mut orgs: Vec<OrgId> = genesis.orgs.iter().map(|o| o.id.clone()).collect();
    orgs.sort();
    orgs.dedup();
    put(key::ORGS.to_vec(), codec::encode(&orgs));
    for o in &genesis.orgs {
        put(key::org(&o.id), codec::encode(&OrgEntry { role: o.role }));
        for k in &o.keys {
            put(
                key::key(&k.key),
                codec::encode(&KeyEntry {
                    org: o.id.clone(),
                    role: k.role,
                }),
            );
        }
    }
    for f in &genesis.funds {
        let entry = FundEntry {
            kind: f.kind,
            region: f.region.clone(),
            owner: f.owner.clone(),
            balance: f.opening_balance,
        };
        put(key::fund(&f.id), codec::encode(&entry));
    }
    let mut policies: std::collections::BTreeMap<Vec<u8>, Policies> =
        std::collections::BTreeMap::new();
    for p in &genesis.policies {
        insert_policy(
            policies.entry(key::policy(&p.region, p.year)).or_default(),
            p.clone(),
        );
    }
    for (k, list) in policies {
        put(k, codec::encode(&list));
    }
    writes.into_iter().collect()
}

/// The state root a chain starts from: the genesis writes chained onto the
/// genesis hash.
pub fn genesis_state_root(genesis: &Genesis) -> Hash32 {
    next_state_root(&genesis.hash().hash(), &genesis_state(genesis))
}

/// The rules version that applies at `height`.
pub fn rules_version_at(state: &dyn State, height: Height) -> Result<u32, ExecError> {
    let mut overlay = BlockOverlay::new(state);
    let tx = overlay.tx();
    let schedule: RulesSchedule = tx.load(key::RULES)?.ok_or(ExecError::NoGenesis)?;
    Ok(version_in(&schedule, height))
}

fn version_in(schedule: &RulesSchedule, height: Height) -> u32 {
    schedule
        .scheduled
        .iter()
        .filter(|(activation, _)| *activation <= height)
        .max_by_key(|(activation, _)| *activation)
        .map(|(_, v)| *v)
        .unwrap_or(schedule.genesis)
}

/// Executes one block's records (already signature-verified) on `state`.
/// The caller commits `writes` (with the block) and puts `state_root` and
/// `rules_version` in the header.
pub fn execute_block(
    ctx: &BlockContext,
    records: &[SignedRecord],
    state: &dyn State,
) -> Result<BlockExecution, ExecError> {
    execute_identified(ctx, records.iter().map(|r| (r.id(), r)), state)
}

/// [`execute_block`] over records whose ids the caller has already computed
/// and checked: the ledger's verifier has them (a block's outcomes name
/// them), and so has a node that admitted the records. Saves hashing every
/// record again.
pub fn execute_identified<'r>(
    ctx: &BlockContext,
    records: impl Iterator<Item = (RecordId, &'r SignedRecord)>,
    state: &dyn State,
) -> Result<BlockExecution, ExecError> {
    let rules_version = supported_rules_at(state, ctx.height)?;
    let mut overlay = BlockOverlay::new(state);
    let outcomes = records
        .map(|(id, record)| execute_record(ctx, rules_version, id, record, &mut overlay))
        .collect::<Result<Vec<_>, _>>()?;
    let writes = overlay.into_writes();
    let state_root = next_state_root(&ctx.prev_state_root, &writes);
    Ok(BlockExecution {
        outcomes,
        writes,
        state_root,
        rules_version,
    })
}

/// The rules version in force at `height`, if this build can execute it.
fn supported_rules_at(state: &dyn State, height: Height) -> Result<u32, ExecError> {
    let version = rules_version_at(state, height)?;
    if !SUPPORTED_RULES.contains(&version) {
        return Err(ExecError::UnsupportedRules { height, version });
    }
    Ok(version)
}

fn execute_record(
    ctx: &BlockContext,
    rules: u32,
    id: RecordId,
    record: &SignedRecord,
    overlay: &mut BlockOverlay,
) -> Result<Outcome, ExecError> {
    let kind = record.kind();
    let mut tx = overlay.tx();
    let record_key = key::record(&id);
    if tx.contains(&record_key)? {
        return Ok(outcome(id, Err(RuleCode::DuplicateRecord)));
    }
    let (result, org) = match identify(&tx, record)? {
        Ok((org, role)) => {
            let rctx = RecordCtx {
                id,
                record,
                height: ctx.height,
                timestamp_ms: ctx.timestamp_ms,
                org: org.clone(),
                role,
                rules,
            };
            (run_rule(&mut tx, &rctx), Some(org))
        }
        Err(code) => (Err(Fail::Reject(code)), None),
    };
    let verdict = match result {
        Ok(signals) => {
            tx.commit();
            Ok(signals)
        }
        Err(Fail::Reject(code)) => {
            drop(tx);
            Err(code)
        }
        Err(Fail::Fatal(e)) => return Err(e),
    };
    let meta = RecordMeta {
        kind,
        org,
        accepted: verdict.is_ok(),
    };
    let mut tx = overlay.tx();
    tx.store(record_key, &meta);
    tx.commit();
    Ok(outcome(id, verdict))
}

fn outcome(record_id: RecordId, verdict: Result<Vec<RuleCode>, RuleCode>) -> Outcome {
    match verdict {
        Ok(signals) => Outcome {
            record_id,
            verdict: Verdict::Accepted,
            signals: signals.into_iter().map(RuleCode::code).collect(),
        },
        Err(code) => Outcome {
            record_id,
            verdict: Verdict::Rejected { code: code.code() },
            signals: Vec::new(),
        },
    }
}

/// The submitter's organisation and role, or why the key may not submit.
fn identify(tx: &Tx, record: &SignedRecord) -> Result<Result<(OrgId, Role), RuleCode>, ExecError> {
    let Some(k) = tx.shared::<KeyEntry>(&key::key(&record.envelope.submitter_key))? else {
        return Ok(Err(RuleCode::UnknownKey));
    };
    if k.role != signing_role(record.kind()) {
        return Ok(Err(RuleCode::RoleNotAllowed));
    }
    let Some(org) = tx.shared::<OrgEntry>(&key::org(&k.org))? else {
        return Ok(Err(RuleCode::UnknownKey));
    };
    Ok(Ok((k.org.clone(), org.role)))
}

/// The key role that signs each kind: an officer signs the fetch of a raw
/// bill, as the person who receives it; a submitter key signs the rest.
pub fn signing_role(kind: RecordKind) -> KeyRole {
    match kind {
        RecordKind::DisclosureFetch => KeyRole::Officer,
        _ => KeyRole::Submitter,
    }
}

/// Which roles may submit each kind (design §3). Reversals are further
/// limited to the original submitter's organisation by their rule.
pub fn allowed(kind: RecordKind, role: Role) -> bool {
    use RecordKind as K;
    match kind {
        K::Member | K::Reversal | K::Disclosure | K::DisclosureFetch => true,
        K::Policy
        | K::Filing
        | K::Settlement
        | K::Clearing
        | K::PaymentPolicy
        | K::PeriodSettlement => role == Role::Insurance,
        K::Eligibility => role == Role::CivilAffairs,
        K::Claim => role == Role::Health,
        K::Assistance => matches!(role, Role::CivilAffairs | Role::Insurance),
        K::FundCredit => role == Role::Finance,
    }
}

fn run_rule(tx: &mut Tx, ctx: &RecordCtx) -> RuleResult {
    use fundtrail_ledger::RecordBody as B;
    if !allowed(ctx.record.kind(), ctx.role) {
        return reject(RuleCode::RoleNotAllowed);
    }
    match &ctx.record.envelope.body {
        B::Member(b) => rules::member::apply(tx, ctx, b),
        B::Policy(b) => rules::policy::apply(tx, ctx, b),
        B::Eligibility(b) => rules::eligibility::apply(tx, ctx, b),
        B::Filing(b) => rules::filing::apply(tx, ctx, b),
        B::Claim(b) => rules::claim::apply(tx, ctx, b),
        B::Settlement(b) => rules::settlement::apply(tx, ctx, b),
        B::Assistance(b) => rules::assistance::apply(tx, ctx, b),
        B::Reversal(b) => rules::reversal::apply(tx, ctx, b),
        B::FundCredit(b) => rules::fund_credit::apply(tx, ctx, b),
        B::Clearing(b) => rules::clearing::apply(tx, ctx, b),
        B::Disclosure(b) => rules::disclosure::apply(tx, ctx, b),
        B::DisclosureFetch(b) => rules::disclosure_fetch::apply(tx, ctx, b),
        B::PaymentPolicy(b) => rules::payment_policy::apply(tx, ctx, b),
        B::PeriodSettlement(b) => rules::period_settlement::apply(tx, ctx, b),
    }
}
