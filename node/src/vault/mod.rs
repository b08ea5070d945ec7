//! The private vault (可用不可见): raw bills and salts for the claims this
//! node's organisation submitted, in a column family that is never
//! exported or replicated. Every entry is sealed at rest with
//! authenticated encryption under the department's vault key, which is
//! kept outside the data directory ([`seal`], [`keys`]), and written with
//! an fsync before a deposit is acknowledged. A raw bill leaves the vault
//! only to the organisation named as requester in an accepted, on-chain
//! `disclosure` record that names this organisation as holder; the
//! receiver checks it against the claim's `raw_commitment`. [`rotate`]
//! re-seals the vault under a new key.

pub mod keys;
pub mod rotate;
pub mod seal;

use std::sync::Arc;

use fundtrail_ledger::codec;
use fundtrail_ledger::pseudonym::raw_commitment;
use fundtrail_ledger::record::{RecordBody, RecordId};
use fundtrail_ledger::store::{RecordEntry, Store};
use fundtrail_ledger::types::OrgId;
use zeroize::Zeroizing;

pub use keys::{FileKeys, VaultKey, VaultKeys};
pub use seal::{Cipher, KeyId, OpenError, SealError};

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
    #[error("the vault entry of record {record} could not be sealed: {source}")]
    Seal {
        record: String,
        #[source]
        source: SealError,
    },
    #[error("the vault entry of record {record} could not be opened: {source}")]
    Open {
        record: String,
        #[source]
        source: OpenError,
    },
    #[error("the vault entry of record {record} opened but is not a vault entry of that record")]
    Misfiled { record: String },
    #[error("store: {0}")]
    Store(String),
}

impl VaultError {
    /// Whether the depositor's entry is at fault (not the node's keys or
    /// store).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            VaultError::NotOnChain(_)
                | VaultError::NotAClaim(_)
                | VaultError::NotOurs(_)
                | VaultError::CommitmentMismatch
                | VaultError::BadSalt
        )
    }
}

/// A deposit checked and sealed, ready to be written.
pub struct SealedEntry {
    record_id: RecordId,
    sealed: Vec<u8>,
}

#[derive(Clone)]
pub struct Vault {
    store: Arc<Store>,
    org: OrgId,
    keys: Arc<dyn VaultKeys>,
}

impl Vault {
    pub fn new(store: Arc<Store>, org: OrgId, keys: Arc<dyn VaultKeys>) -> Vault {
        Vault { store, org, keys }
    }

    /// Keeps a raw bill for one of our own committed claims, after checking
    /// it matches the claim's commitment; returns once it is on disk.
    pub fn deposit(&self, entry: &VaultEntry) -> Result<(), VaultError> {
        let sealed = self.check_and_seal(entry)?;
        self.keep(&[sealed])
    }

    /// Checks that `entry` is the raw bill of one of our own committed
    /// claims, and seals it under the sealing key.
    pub fn check_and_seal(&self, entry: &VaultEntry) -> Result<SealedEntry, VaultError> {
        let claim = self.committed(&entry.record_id)?;
        if self.submitter_org(&claim).as_ref() != Some(&self.org) {
            return Err(VaultError::NotOurs(entry.record_id.to_hex()));
        }
        check_commitment(&claim, entry)?;
        // Sized up front, so no copy of the plaintext is left behind by a
        // reallocation; wiped when dropped.
        let mut plain = Zeroizing::new(Vec::with_capacity(
            64 + entry.salt.len() + entry.raw_bill.len(),
        ));
        codec::encode_into(&mut *plain, entry);
        let sealed =
            seal::seal(self.keys.as_ref(), &entry.record_id, &plain).map_err(|source| {
                VaultError::Seal {
                    record: entry.record_id.to_hex(),
                    source,
                }
            })?;
        Ok(SealedEntry {
            record_id: entry.record_id,
            sealed,
        })
    }

    /// Writes sealed entries in one batch, fsynced before it returns: a
    /// deposit is acknowledged only once it survives a crash.
    pub fn keep(&self, entries: &[SealedEntry]) -> Result<(), VaultError> {
        let batch: Vec<(&[u8], &[u8])> = entries
            .iter()
            .map(|e| (e.record_id.as_bytes().as_slice(), e.sealed.as_slice()))
            .collect();
        self.store
            .vault_put(&batch)
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
        let bill = self.bill_record(&body.target)?;
        match self.load(&bill) {
            Ok(Some(entry)) => Ok(entry),
            Ok(None) => Err("this vault holds no raw record for the target".into()),
            Err(e) => {
                tracing::warn!(record = %bill.to_hex(), error = %e, "a vault entry asked for by a disclosure could not be opened");
                Err(format!("the holder could not open its vault entry: {e}"))
            }
        }
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

    /// The raw bill kept for record `id`, opened; an entry that does not
    /// open is an error naming the record and the key id, never content.
    pub fn load(&self, id: &RecordId) -> Result<Option<VaultEntry>, VaultError> {
        let Some(stored) = self
            .store
            .vault_get(id.as_bytes())
            .map_err(|e| VaultError::Store(e.to_string()))?
        else {
            return Ok(None);
        };
        let plain =
            seal::open(self.keys.as_ref(), id, &stored).map_err(|source| VaultError::Open {
                record: id.to_hex(),
                source,
            })?;
        let misfiled = || VaultError::Misfiled {
            record: id.to_hex(),
        };
        let entry: VaultEntry = codec::decode("vault entry", &plain).map_err(|_| misfiled())?;
        if &entry.record_id != id {
            return Err(misfiled());
        }
        Ok(Some(entry))
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
