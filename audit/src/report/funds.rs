//! Money per fund: the opening balance from the genesis, then every accepted
//! credit, transfer and payout and every accepted reversal of one, as gross
//! flows in and out, and the balance they leave.
//!
//! Sums saturate at the largest amount, as the contracts' own do.

use std::collections::BTreeMap;

use fundtrail_ledger::block::Genesis;
use fundtrail_ledger::pseudonym::ClaimId;
use fundtrail_ledger::record::{FundCreditBody, FundSource, RecordId};
use fundtrail_ledger::types::{Amount, FundId, FundKind, OrgId, RegionCode, Scheme};
use serde::{Deserialize, Serialize};

/// The tier a payout pays: a settlement's scheme, or assistance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutScheme {
    Basic,
    CriticalIllness,
    Supplementary,
    Assistance,
}

impl PayoutScheme {
    pub const ALL: [PayoutScheme; 4] = [
        PayoutScheme::Basic,
        PayoutScheme::CriticalIllness,
        PayoutScheme::Supplementary,
        PayoutScheme::Assistance,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PayoutScheme::Basic => "basic",
            PayoutScheme::CriticalIllness => "critical illness",
            PayoutScheme::Supplementary => "supplementary",
            PayoutScheme::Assistance => "assistance",
        }
    }
}

impl From<Scheme> for PayoutScheme {
    fn from(s: Scheme) -> PayoutScheme {
        match s {
            Scheme::Basic => PayoutScheme::Basic,
            Scheme::CriticalIllness => PayoutScheme::CriticalIllness,
            Scheme::Supplementary => PayoutScheme::Supplementary,
        }
    }
}

/// Everything that moved through one fund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundFlow {
    pub fund_id: FundId,
    pub kind: FundKind,
    pub region: RegionCode,
    pub owner: OrgId,
    pub opening_balance: Amount,
    /// Budget appropriations credited.
    pub budget_in: Amount,
    /// Authorised transfers from other funds.
    pub transfer_in: Amount,
    /// Authorised transfers to other funds.
    pub transfer_out: Amount,
    /// Credits into this fund later reversed (taken out again).
    pub credits_reversed: Amount,
    /// Transfers out of this fund later reversed (returned to it).
    pub transfers_returned: Amount,
    /// Accepted payouts, before reversals.
    pub paid: Amount,
    /// Accepted payouts later reversed (returned to the fund).
    pub payouts_reversed: Amount,
    /// Accepted payouts not reversed.
    pub payouts_standing: u64,
    /// Opening plus inflows minus outflows; `None` when the outflows exceed
    /// the inflows, which a chain that passes contract replay never shows.
    pub balance: Option<Amount>,
}

impl FundFlow {
    fn opened(genesis_fund: &fundtrail_ledger::block::GenesisFund) -> FundFlow {
        FundFlow {
            fund_id: genesis_fund.id.clone(),
            kind: genesis_fund.kind,
            region: genesis_fund.region.clone(),
            owner: genesis_fund.owner.clone(),
            opening_balance: genesis_fund.opening_balance,
            budget_in: Amount::ZERO,
            transfer_in: Amount::ZERO,
            transfer_out: Amount::ZERO,
            credits_reversed: Amount::ZERO,
            transfers_returned: Amount::ZERO,
            paid: Amount::ZERO,
            payouts_reversed: Amount::ZERO,
            payouts_standing: 0,
            balance: Some(genesis_fund.opening_balance),
        }
    }

    /// Money that came in after the genesis: credits, returned transfers
    /// and reversed payouts.
    pub fn inflow(&self) -> Amount {
        sum([
            self.budget_in,
            self.transfer_in,
            self.transfers_returned,
            self.payouts_reversed,
        ])
    }

    /// Money that went out: payouts, transfers out and reversed credits.
    pub fn outflow(&self) -> Amount {
        sum([self.paid, self.transfer_out, self.credits_reversed])
    }

    /// Payouts net of their reversals.
    pub fn paid_net(&self) -> Amount {
        self.paid.saturating_sub(self.payouts_reversed)
    }

    fn settle_balance(&mut self) {
        self.balance = plus(self.opening_balance, self.inflow()).checked_sub(self.outflow());
    }
}

/// Payouts net of reversals, by the paying fund's region and by scheme.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutTotals {
    pub total: Amount,
    pub by_scheme: BTreeMap<PayoutScheme, Amount>,
    pub by_region: BTreeMap<RegionCode, Amount>,
    pub by_region_and_scheme: BTreeMap<RegionCode, BTreeMap<PayoutScheme, Amount>>,
}

/// An accepted payout as the report keeps it until it is reversed.
#[derive(Clone, Debug)]
pub(crate) struct Payout {
    pub fund: FundId,
    pub scheme: PayoutScheme,
    pub claim: ClaimId,
    pub amount: Amount,
}

#[derive(Clone, Debug)]
struct Credit {
    fund: FundId,
    from_fund: Option<FundId>,
    amount: Amount,
}

#[derive(Clone, Debug)]
enum Standing {
    Payout(Payout),
    Credit(Credit),
}

/// Why a movement could not be booked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BookError {
    UnknownFund(FundId),
    NotStanding(RecordId),
}

/// The running books: one [`FundFlow`] per genesis fund and the accepted
/// payouts and credits that a reversal may still undo.
pub(crate) struct FundBook {
    funds: BTreeMap<FundId, FundFlow>,
    standing: BTreeMap<RecordId, Standing>,
    net: BTreeMap<(RegionCode, PayoutScheme), Amount>,
}

impl FundBook {
    pub fn new(genesis: &Genesis) -> FundBook {
        FundBook {
            funds: genesis
                .funds
                .iter()
                .map(|f| (f.id.clone(), FundFlow::opened(f)))
                .collect(),
            standing: BTreeMap::new(),
            net: BTreeMap::new(),
        }
    }

    pub fn pay(&mut self, id: RecordId, payout: Payout) -> Result<(), BookError> {
        let fund = self.fund(&payout.fund)?;
        fund.paid = plus(fund.paid, payout.amount);
        fund.payouts_standing += 1;
        let cell = (fund.region.clone(), payout.scheme);
        let net = self.net.entry(cell).or_default();
        *net = plus(*net, payout.amount);
        self.standing.insert(id, Standing::Payout(payout));
        Ok(())
    }

    pub fn credit(&mut self, id: RecordId, body: &FundCreditBody) -> Result<(), BookError> {
        let from_fund = match &body.source {
            FundSource::Budget { .. } => None,
            FundSource::Transfer { from_fund } => Some(from_fund.clone()),
        };
        if let Some(from) = &from_fund {
            self.fund(from)?;
        }
        let fund = self.fund(&body.fund_id)?;
        match from_fund {
            None => fund.budget_in = plus(fund.budget_in, body.amount),
            Some(_) => fund.transfer_in = plus(fund.transfer_in, body.amount),
        }
        if let Some(from) = &from_fund {
            let source = self.fund(from)?;
            source.transfer_out = plus(source.transfer_out, body.amount);
        }
        let credit = Credit {
            fund: body.fund_id.clone(),
            from_fund,
            amount: body.amount,
        };
        self.standing.insert(id, Standing::Credit(credit));
        Ok(())
    }

    /// Undoes the standing payout or credit `target`; returns the payout
    /// when it was one.
    pub fn reverse(&mut self, target: RecordId) -> Result<Option<Payout>, BookError> {
        match self.standing.remove(&target) {
            None => Err(BookError::NotStanding(target)),
            Some(Standing::Payout(p)) => self.reverse_payout(p).map(Some),
            Some(Standing::Credit(c)) => self.reverse_credit(c).map(|()| None),
        }
    }

    fn reverse_payout(&mut self, payout: Payout) -> Result<Payout, BookError> {
        let fund = self.fund(&payout.fund)?;
        fund.payouts_reversed = plus(fund.payouts_reversed, payout.amount);
        fund.payouts_standing = fund.payouts_standing.saturating_sub(1);
        let cell = (fund.region.clone(), payout.scheme);
        if let Some(net) = self.net.get_mut(&cell) {
            *net = net.saturating_sub(payout.amount);
        }
        Ok(payout)
    }

    fn reverse_credit(&mut self, credit: Credit) -> Result<(), BookError> {
        let fund = self.fund(&credit.fund)?;
        fund.credits_reversed = plus(fund.credits_reversed, credit.amount);
        if let Some(from) = &credit.from_fund {
            let source = self.fund(from)?;
            source.transfers_returned = plus(source.transfers_returned, credit.amount);
        }
        Ok(())
    }

    fn fund(&mut self, id: &FundId) -> Result<&mut FundFlow, BookError> {
        self.funds
            .get_mut(id)
            .ok_or_else(|| BookError::UnknownFund(id.clone()))
    }

    pub fn finish(self) -> (Vec<FundFlow>, PayoutTotals) {
        let funds = self
            .funds
            .into_values()
            .map(|mut f| {
                f.settle_balance();
                f
            })
            .collect();
        (funds, totals(self.net))
    }
}

fn totals(net: BTreeMap<(RegionCode, PayoutScheme), Amount>) -> PayoutTotals {
    let mut t = PayoutTotals::default();
    for ((region, scheme), amount) in net {
        t.total = plus(t.total, amount);
        add_to(t.by_scheme.entry(scheme).or_default(), amount);
        add_to(t.by_region.entry(region.clone()).or_default(), amount);
        let row = t.by_region_and_scheme.entry(region).or_default();
        add_to(row.entry(scheme).or_default(), amount);
    }
    t
}

fn add_to(total: &mut Amount, amount: Amount) {
    *total = plus(*total, amount);
}

/// `a + b`, saturating at the largest amount.
pub(crate) fn plus(a: Amount, b: Amount) -> Amount {
    a.checked_add(b)
        .unwrap_or_else(|| Amount::from_fen(Amount::MAX_FEN).unwrap_or(Amount::ZERO))
}

pub(crate) fn sum(amounts: impl IntoIterator<Item = Amount>) -> Amount {
    amounts.into_iter().fold(Amount::ZERO, plus)
}
