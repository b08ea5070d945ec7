//! The two questions a submitter asks of the chain before it can sign a line
//! that refers to earlier records: which record is the standing payout of a
//! claim's tier, and which claim-set root a clearing of a bucket must carry.
//! The rule engine answers them from state, a node serves them over HTTP,
//! and client-side intake asks them through [`Lookup`].

use serde::{Deserialize, Serialize};

use crate::hash::Hash32;
use crate::pseudonym::ClaimId;
use crate::record::{Period, RecordId};
use crate::types::{RegionCode, Scheme};

/// A payout tier of one claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutTier {
    Basic,
    CriticalIllness,
    Supplementary,
    Assistance,
}

impl From<Scheme> for PayoutTier {
    fn from(s: Scheme) -> PayoutTier {
        match s {
            Scheme::Basic => PayoutTier::Basic,
            Scheme::CriticalIllness => PayoutTier::CriticalIllness,
            Scheme::Supplementary => PayoutTier::Supplementary,
        }
    }
}

/// A chain lookup failed (storage or network); carries no identifiers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(pub String);

/// What a line's references are resolved against.
pub trait Lookup {
    /// The standing (accepted, unreversed) payout of `tier` on `claim`.
    fn payout(&self, claim: &ClaimId, tier: PayoutTier) -> Result<Option<RecordId>, LookupError>;

    /// The claim-set root of a clearing bucket's uncleared payouts.
    fn clearing_root(
        &self,
        period: Period,
        from: &RegionCode,
        to: &RegionCode,
    ) -> Result<Option<Hash32>, LookupError>;
}
