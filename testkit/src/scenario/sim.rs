//! The generator's own chain. Each wave is submitted as the demo submits it
//! (resolve, pseudonymise, sign with the testkit keys, execute), every
//! outcome is checked against the line's expectation, and the state it
//! leaves answers the quotes the next wave is built from.

use std::collections::BTreeMap;

use fundtrail_intake::{pseudonymise, resolve, ClaimLine};
use fundtrail_ledger::block::{Genesis, Outcome, Verdict};
use fundtrail_ledger::pseudonym::{ClaimId, PseudonymKey};
use fundtrail_ledger::record::Period;
use fundtrail_ledger::types::{Amount, Category, RegionCode};

use super::{Expect, ScenarioError, Wave, KIT_SEED};
use crate::{Harness, Kit};
use fundtrail_contracts::error::Fail;
use fundtrail_contracts::lookup::StateLookup;
use fundtrail_contracts::model::{key, ClaimEntry};
use fundtrail_contracts::quote::{chain, load, quote, Quote, QuoteInput, TierQuote};
use fundtrail_contracts::rules::clearing::{self, Bucket};
use fundtrail_contracts::state::{BlockOverlay, MemoryState};

pub struct Sim {
    harness: Harness,
    pub signals: BTreeMap<String, usize>,
}

fn fail(f: Fail) -> ScenarioError {
    match f {
        Fail::Reject(code) => ScenarioError::Quote(code),
        Fail::Fatal(e) => ScenarioError::Exec(e),
    }
}

/// A salt for the `n`-th claim (the simulation never reads it back).
pub fn salt(n: usize) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&(n as u64).to_le_bytes());
    s
}

impl Sim {
    pub fn new(genesis: &Genesis) -> Sim {
        Sim {
            harness: Harness::with_genesis(Kit::new(KIT_SEED), genesis),
            signals: BTreeMap::new(),
        }
    }

    pub fn key(&self) -> &PseudonymKey {
        &self.harness.kit.pseudonyms
    }

    pub fn state(&self) -> &MemoryState {
        &self.harness.state
    }

    pub fn claim_id(&self, line: &ClaimLine) -> ClaimId {
        self.key().claim(&line.institution, line.bill_no.expose())
    }

    /// Submits `wave` as one block and checks every outcome.
    pub fn run(&mut self, wave: &Wave) -> Result<(), ScenarioError> {
        let intake = |e| ScenarioError::Intake {
            wave: wave.name.to_string(),
            error: e,
        };
        let lookup = StateLookup::new(&self.harness.state);
        let mut bodies = Vec::with_capacity(wave.lines.len());
        for (i, s) in wave.lines.iter().enumerate() {
            let line = resolve(s.line.clone(), self.key(), &lookup).map_err(intake)?;
            bodies.push(pseudonymise(line, self.key(), salt(i)).map_err(intake)?);
        }
        let records: Vec<_> = wave
            .lines
            .iter()
            .zip(bodies)
            .map(|(s, b)| {
                self.harness
                    .record(s.role, b.body, usize::from(b.approvals))
            })
            .collect();
        let outcomes = self.harness.block(&records).outcomes;
        for (i, (s, o)) in wave.lines.iter().zip(&outcomes).enumerate() {
            check(&wave.name, i, s.expect, o)?;
            for code in &o.signals {
                *self.signals.entry(code.to_string()).or_default() += 1;
            }
        }
        Ok(())
    }

    pub fn quote(&self, claim: &ClaimId) -> Result<Quote, ScenarioError> {
        quote(self.state(), claim).map_err(fail)
    }

    /// Every tier's entitlement with what the caps did to it.
    pub fn tiers(
        &self,
        claim: &ClaimId,
        category: Option<Category>,
    ) -> Result<[TierQuote; 4], ScenarioError> {
        let mut overlay = BlockOverlay::new(self.state());
        let tx = overlay.tx();
        let entry: ClaimEntry = tx.load(&key::claim(claim))?.ok_or(ScenarioError::Quote(
            fundtrail_contracts::RuleCode::UnknownClaim,
        ))?;
        let l = load(&tx, &entry).map_err(fail)?;
        let input = QuoteInput {
            claim: &entry,
            policy: &l.policy,
            year: &l.year,
            eligible: &l.eligible,
        };
        Ok(chain(&input, category).0)
    }
}

impl Sim {
    /// The total of a clearing bucket's uncleared payouts, if it has any.
    pub fn pending(
        &self,
        period: Period,
        from: &RegionCode,
        to: &RegionCode,
    ) -> Result<Option<Amount>, ScenarioError> {
        let mut overlay = BlockOverlay::new(self.state());
        let bucket = Bucket::new(period.year, period.month, from, to);
        let pending = clearing::pending(&overlay.tx(), &bucket)?;
        Ok((!pending.payouts.is_empty()).then_some(pending.total))
    }
}

/// Whether the engine decided what the line expects.
pub fn outcome_matches(expect: Expect, o: &Outcome) -> bool {
    match (&o.verdict, expect) {
        (Verdict::Accepted, Expect::Accept) => true,
        (Verdict::Rejected { code }, Expect::Reject(want)) => code.as_str() == want.as_str(),
        _ => false,
    }
}

fn check(wave: &str, index: usize, expect: Expect, o: &Outcome) -> Result<(), ScenarioError> {
    if outcome_matches(expect, o) {
        return Ok(());
    }
    let actual = match &o.verdict {
        Verdict::Accepted => "accepted".to_string(),
        Verdict::Rejected { code } => code.to_string(),
    };
    Err(ScenarioError::Unexpected {
        wave: wave.to_string(),
        index,
        expected: expect.to_string(),
        actual,
    })
}
