//! The private vault (可用不可见): raw bills and salts for the claims this
//! node's organisation submitted, in a column family that is never
//! exported or replicated. A raw bill leaves the vault only to the
//! organisation named as requester in an accepted, on-chain `disclosure`
//! record that names this organisation as holder; the receiver checks it
//! against the claim's `raw_commitment`.

use std::sync::Arc;

use fundtrail_ledger::codec;
use fundtrail_ledger::pseudonym::raw_commitment;
use fundtrail_ledger::record::{RecordBody, RecordId};
use fundtrail_ledger::store::{cf, RecordEntry, Store};
use fundtrail_ledger::types::OrgId;

use crate::wire::{DisclosureRequest, DisclosureResponse, VaultEntry};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("record {0} is not on the chain")]
    NotOnChain(String),
    #[error("record {0} is not a claim")]
    NotAClaim(String),
    #[error("record {0} was not submitted by this node's organisation")]
    NotOurs(String),
    #[error("raw bill does not match the claim's raw_commitment")]
    CommitmentMismatch,
    #[error("salt must be 32 bytes")]
    BadSalt,
    #[error("store: {0}")]
    Store(String),
}

#[derive(Clone)]
pub struct Vault {
    store: Arc<Store>,
    org: OrgId,
}

impl Vault {
    pub fn new(store: Arc<Store>, org: OrgId) -> Vault {
        Vault { store, org }
    }

    /// Keeps a raw bill for one of our own committed claims, after checking
    /// it matches the claim's commitment.
    pub fn deposit(&self, entry: &VaultEntry) -> Result<(), VaultError> {
        let claim = self.committed(&entry.record_id)?;
        if self.submitter_org(&claim).as_ref() != Some(&self.org) {
            return Err(VaultError::NotOurs(entry.record_id.to_hex()));
        }
        check_commitment(&claim, entry)?;
        self.store
            .db()
            .put_cf(
                self.store.cf(cf::VAULT),
                entry.record_id.as_bytes(),
                codec::encode(entry),
            )
            .map_err(|e| VaultError::Store(e.to_string()))
    }

    /// Answers a disclosure request from `requester`. Grants only what an
    /// accepted on-chain disclosure names: this org as holder, the asking
    /// org as requester.
    pub fn serve(&self, requester: &OrgId, request: &DisclosureRequest) -> DisclosureResponse {
        match self.authorised_entry(requester, request) {
            Ok(entry) => DisclosureResponse::Granted(entry),
            Err(reason) => DisclosureResponse::Refused(reason),
        }
    }

    fn authorised_entry(
        &self,
        requester: &OrgId,
        request: &DisclosureRequest,
    ) -> Result<VaultEntry, String> {
        let on_chain = self
            .store
            .record(&request.disclosure)
            .map_err(|e| e.to_string())?
            .ok_or("no disclosure record with that id is on the chain")?;
        if !on_chain.outcome.is_accepted() {
            return Err("the disclosure record was rejected by the rules".into());
        }
        let RecordBody::Disclosure(body) = &on_chain.record.envelope.body else {
            return Err("that record is not a disclosure".into());
        };
        if body.holder != self.org {
            return Err("the disclosure names another holder".into());
        }
        if &body.requester != requester {
            return Err("the disclosure was filed by another organisation".into());
        }
        self.load(&self.bill_record(&body.target)?)?
            .ok_or_else(|| "this vault holds no raw record for the target".into())
    }

    /// The claim record whose raw bill a disclosure of `target` reaches:
    /// the claim itself, or for a payout (settlement, assistance) the
    /// accepted claim it was made on — disclosures name payouts by bill.
    fn bill_record(&self, target: &RecordId) -> Result<RecordId, String> {
        let entry = self
            .store
            .record(target)
            .map_err(|e| e.to_string())?
            .ok_or("the disclosed record is not on the chain")?;
        let body = &entry.record.envelope.body;
        if matches!(body, RecordBody::Claim(_)) {
            return Ok(*target);
        }
        let claim = body
            .claim()
            .ok_or("the disclosed record has no raw bill behind it")?;
        for id in self
            .store
            .records_by_claim(&claim)
            .map_err(|e| e.to_string())?
        {
            let Some(e) = self.store.record(&id).map_err(|e| e.to_string())? else {
                continue;
            };
            if matches!(e.record.envelope.body, RecordBody::Claim(_)) && e.outcome.is_accepted() {
                return Ok(id);
            }
        }
        Err("no accepted claim behind the disclosed payout".into())
    }

    fn load(&self, id: &RecordId) -> Result<Option<VaultEntry>, String> {
        let bytes = self
            .store
            .db()
            .get_cf(self.store.cf(cf::VAULT), id.as_bytes())
            .map_err(|e| e.to_string())?;
        bytes
            .map(|b| codec::decode("vault entry", &b).map_err(|e| e.to_string()))
            .transpose()
    }

    fn committed(&self, id: &RecordId) -> Result<RecordEntry, VaultError> {
        self.store
            .record(id)
            .map_err(|e| VaultError::Store(e.to_string()))?
            .ok_or_else(|| VaultError::NotOnChain(id.to_hex()))
    }

    fn submitter_org(&self, entry: &RecordEntry) -> Option<OrgId> {
        self.store
            .genesis()
            .org_of_key(&entry.record.envelope.submitter_key)
            .map(|o| o.id.clone())
    }

    /// Checks a disclosed raw bill against the claim on our own chain.
    pub fn verify_disclosed(&self, entry: &VaultEntry) -> Result<(), VaultError> {
        check_commitment(&self.committed(&entry.record_id)?, entry)
    }
}

/// Whether `entry`'s raw bill and salt give `claim`'s `raw_commitment`.
pub fn check_commitment(claim: &RecordEntry, entry: &VaultEntry) -> Result<(), VaultError> {
    let RecordBody::Claim(body) = &claim.record.envelope.body else {
        return Err(VaultError::NotAClaim(entry.record_id.to_hex()));
    };
    let salt: [u8; 32] = entry
        .salt
        .as_slice()
        .try_into()
        .map_err(|_| VaultError::BadSalt)?;
    if raw_commitment(&salt, &entry.raw_bill) != body.raw_commitment {
        return Err(VaultError::CommitmentMismatch);
    }
    Ok(())
}
