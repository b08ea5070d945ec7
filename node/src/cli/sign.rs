//! Turns submission lines (raw identifiers) into signed records on the
//! department's side: resolve references against the chain (by pseudonym
//! only), pseudonymise with the consortium key, attach officer approvals,
//! sign. Raw identifiers never leave this process; the raw bill and its
//! salt come back for the department's own vault.

use anyhow::{Context, Result};
use fundtrail_intake::{
    pseudonymise, resolve, LineIdentity, Lookup, LookupError, PayoutTier, RawBill, SubmissionLine,
};
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::{ClaimId, PseudonymKey};
use fundtrail_ledger::record::{Envelope, Period, RecordId, SignedRecord};
use fundtrail_ledger::types::{ChainId, RegionCode, Role};
use fundtrail_testkit::Kit;

use super::client::NodeClient;
use crate::wire::VaultEntry;

/// One department's signing material.
pub struct Signer {
    pub chain_id: ChainId,
    pub submitter: Keypair,
    pub officers: Vec<Keypair>,
    pub pseudonyms: PseudonymKey,
}

/// A signed record and, for a claim, what the vault keeps.
pub struct Signed {
    pub record: SignedRecord,
    pub raw: Option<RawBill>,
}

impl Signed {
    pub fn vault_entry(&self) -> Option<VaultEntry> {
        self.raw.as_ref().map(|raw| VaultEntry {
            record_id: self.record.id(),
            salt: raw.salt.to_vec(),
            raw_bill: raw.canonical.clone(),
        })
    }
}

impl Signer {
    /// The signer of the testkit consortium's organisation with `role`, as
    /// its own systems would hold it (the demo's departments, the tests').
    pub fn of_kit(kit: &Kit, role: Role) -> Signer {
        let copy = |k: &Keypair| Keypair::from_seed(k.secret_bytes());
        let org = kit.org(role);
        Signer {
            chain_id: kit.chain_id.clone(),
            submitter: copy(&org.submitter),
            officers: org.officers.iter().map(copy).collect(),
            pseudonyms: kit.pseudonyms.clone(),
        }
    }

    /// Signs line `number` of a file. The record's nonce, and a claim's
    /// salt, come from the line's identity under the consortium secret
    /// (its reference, or its content: docs/SUBMISSION.md), so signing the
    /// same line again gives the same record id (a resubmission is a
    /// no-op), while the salt stays unguessable.
    pub fn sign(&self, number: usize, line: SubmissionLine, chain: &dyn Lookup) -> Result<Signed> {
        let seed = LineIdentity::of(&line).seed(&self.pseudonyms);
        let line = if line.needs_lookup() {
            resolve(line, &self.pseudonyms, chain).with_context(|| format!("line {number}"))?
        } else {
            line
        };
        let intake = pseudonymise(line, &self.pseudonyms, seed.0)
            .with_context(|| format!("line {number}"))?;
        let mut envelope = Envelope::new(
            self.chain_id.clone(),
            intake.body,
            self.submitter.public(),
            LineIdentity::nonce(&seed),
        );
        for officer in self.officers.iter().take(intake.approvals as usize) {
            envelope.approve(officer);
        }
        Ok(Signed {
            record: envelope.sign(&self.submitter),
            raw: intake.raw,
        })
    }

    /// The nonce `line`'s record carries, without signing it.
    pub fn nonce(&self, line: &SubmissionLine) -> u64 {
        LineIdentity::nonce(&LineIdentity::of(line).seed(&self.pseudonyms))
    }
}

/// [`Lookup`] over a node's API. Only pseudonyms are sent.
pub struct HttpLookup {
    pub client: NodeClient,
}

impl HttpLookup {
    fn get(&self, path: String) -> Result<serde_json::Value, LookupError> {
        let client = self.client.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move { client.get(&path).await })
        })
        .map_err(|e| LookupError(e.to_string()))
    }
}

impl Lookup for HttpLookup {
    fn payout(&self, claim: &ClaimId, tier: PayoutTier) -> Result<Option<RecordId>, LookupError> {
        let tier = serde_json::to_value(tier).map_err(|e| LookupError(e.to_string()))?;
        let tier = tier.as_str().unwrap_or_default().to_string();
        let v = self.get(format!("/v1/lookup/payout/{claim}/{tier}"))?;
        serde_json::from_value(v["record_id"].clone()).map_err(|e| LookupError(e.to_string()))
    }

    fn clearing_root(
        &self,
        period: Period,
        from: &RegionCode,
        to: &RegionCode,
    ) -> Result<Option<Hash32>, LookupError> {
        let v = self.get(format!(
            "/v1/lookup/clearing/{}/{}/{from}/{to}",
            period.year, period.month
        ))?;
        serde_json::from_value(v["claim_set_root"].clone()).map_err(|e| LookupError(e.to_string()))
    }
}
