//! Answers a submission's references from contract state
//! ([`fundtrail_ledger::lookup::Lookup`]): the standing payout of a claim's
//! tier, and the claim-set root a clearing of a bucket must carry.

use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::lookup::{Lookup, LookupError, PayoutTier};
use fundtrail_ledger::pseudonym::ClaimId;
use fundtrail_ledger::record::{Period, RecordId};
use fundtrail_ledger::types::RegionCode;
use serde::de::DeserializeOwned;

use crate::model::{key, ClaimEntry, Tier};
use crate::rules::clearing::{self, claim_set_root, Bucket};
use crate::state::{BlockOverlay, State};

/// [`Lookup`] over any contract state (a node's store, a [`crate::MemoryState`]).
pub struct StateLookup<'a> {
    state: &'a dyn State,
}

impl<'a> StateLookup<'a> {
    /// Answers from `state`.
    pub fn new(state: &'a dyn State) -> StateLookup<'a> {
        StateLookup { state }
    }

    fn load<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, LookupError> {
        let Some(bytes) = self
            .state
            .get(key)
            .map_err(|e| LookupError(e.to_string()))?
        else {
            return Ok(None);
        };
        fundtrail_ledger::codec::decode("state value", &bytes)
            .map(Some)
            .map_err(|e| LookupError(e.to_string()))
    }
}

fn tier(t: PayoutTier) -> Tier {
    match t {
        PayoutTier::Basic => Tier::Basic,
        PayoutTier::CriticalIllness => Tier::CriticalIllness,
        PayoutTier::Supplementary => Tier::Supplementary,
        PayoutTier::Assistance => Tier::Assistance,
    }
}

impl Lookup for StateLookup<'_> {
    fn payout(&self, claim: &ClaimId, t: PayoutTier) -> Result<Option<RecordId>, LookupError> {
        let entry: Option<ClaimEntry> = self.load(&key::claim(claim))?;
        Ok(entry.and_then(|c| c.paid(tier(t)).map(|p| p.record)))
    }

    fn clearing_root(
        &self,
        period: Period,
        from: &RegionCode,
        to: &RegionCode,
    ) -> Result<Option<Hash32>, LookupError> {
        let bucket = Bucket::new(period.year, period.month, from, to);
        let mut overlay = BlockOverlay::new(self.state);
        let pending =
            clearing::pending(&overlay.tx(), &bucket).map_err(|e| LookupError(e.to_string()))?;
        Ok((!pending.payouts.is_empty()).then(|| claim_set_root(&pending)))
    }
}
