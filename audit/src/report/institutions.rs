//! Claims and payouts per medical institution. A payout names only a claim
//! id, so the institution comes from the claim record seen earlier in the
//! chain; a payout on a claim never seen counts under "unknown".

use std::collections::BTreeMap;

use fundtrail_ledger::block::Code;
use fundtrail_ledger::pseudonym::ClaimId;
use fundtrail_ledger::record::ClaimBody;
use fundtrail_ledger::types::{Amount, InstitutionId};
use serde::{Deserialize, Serialize};

use super::funds::plus;

/// How many institutions the report lists.
pub const TOP_INSTITUTIONS: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionRow {
    /// `None` for payouts on claims the chain never showed.
    pub institution: Option<InstitutionId>,
    pub claims_accepted: u64,
    pub claims_rejected: u64,
    /// Accepted payouts net of reversals.
    pub paid: Amount,
    pub rejected_payouts: u64,
    /// Sum of the amounts the rejected payouts asked for.
    pub rejected_amount: Amount,
    pub rejected_by_code: BTreeMap<Code, u64>,
}

impl InstitutionRow {
    fn new(institution: Option<InstitutionId>) -> InstitutionRow {
        InstitutionRow {
            institution,
            claims_accepted: 0,
            claims_rejected: 0,
            paid: Amount::ZERO,
            rejected_payouts: 0,
            rejected_amount: Amount::ZERO,
            rejected_by_code: BTreeMap::new(),
        }
    }
}

/// The institutions with the largest rejected payout amounts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionRanking {
    /// Institutions named by any claim.
    pub seen: u64,
    /// At most [`TOP_INSTITUTIONS`] rows with a rejected payout, largest
    /// rejected amount first.
    pub top: Vec<InstitutionRow>,
}

#[derive(Default)]
pub(crate) struct InstitutionBook {
    claims: BTreeMap<ClaimId, InstitutionId>,
    rows: BTreeMap<Option<InstitutionId>, InstitutionRow>,
}

impl InstitutionBook {
    /// An accepted claim fixes its institution; a rejected one names it
    /// only if no claim with that id came before.
    pub fn claim(&mut self, body: &ClaimBody, accepted: bool) {
        let institution = body.institution.clone();
        if accepted {
            self.claims.insert(body.claim_id, institution.clone());
        } else {
            self.claims
                .entry(body.claim_id)
                .or_insert_with(|| institution.clone());
        }
        let row = self.row(Some(institution));
        if accepted {
            row.claims_accepted += 1;
        } else {
            row.claims_rejected += 1;
        }
    }

    pub fn paid(&mut self, claim: &ClaimId, amount: Amount) {
        let row = self.row_of(claim);
        row.paid = plus(row.paid, amount);
    }

    pub fn reversed(&mut self, claim: &ClaimId, amount: Amount) {
        let row = self.row_of(claim);
        row.paid = row.paid.saturating_sub(amount);
    }

    pub fn rejected(&mut self, claim: &ClaimId, amount: Amount, code: &Code) {
        let row = self.row_of(claim);
        row.rejected_payouts += 1;
        row.rejected_amount = plus(row.rejected_amount, amount);
        *row.rejected_by_code.entry(code.clone()).or_default() += 1;
    }

    fn row_of(&mut self, claim: &ClaimId) -> &mut InstitutionRow {
        let institution = self.claims.get(claim).cloned();
        self.row(institution)
    }

    fn row(&mut self, institution: Option<InstitutionId>) -> &mut InstitutionRow {
        self.rows
            .entry(institution.clone())
            .or_insert_with(|| InstitutionRow::new(institution))
    }

    pub fn finish(self) -> InstitutionRanking {
        let seen = self.rows.keys().filter(|k| k.is_some()).count() as u64;
        let mut top: Vec<InstitutionRow> = self
            .rows
            .into_values()
            .filter(|r| r.rejected_payouts > 0)
            .collect();
        top.sort_by(|a, b| {
            b.rejected_amount
                .cmp(&a.rejected_amount)
                .then_with(|| b.rejected_payouts.cmp(&a.rejected_payouts))
                .then_with(|| a.institution.cmp(&b.institution))
        });
        top.truncate(TOP_INSTITUTIONS);
        InstitutionRanking { seen, top }
    }
}
