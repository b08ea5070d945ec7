//! The private vault (可用不可见): raw bills and salts for the claims this
//! node's organisation submitted, in a column family that is never
//! exported or replicated. Every entry is sealed at rest with
//! authenticated encryption under the department's vault key, which is
//! kept outside the data directory ([`seal`], [`keys`]), and written with
//! an fsync before a deposit is acknowledged. A raw bill leaves the vault
//! only for an accepted, on-chain `disclosure_fetch` of the organisation
//! named as requester in a `disclosure` that names this organisation as
//! holder, once per fetch; the receiver checks that it is the bill of the
//! disclosure's target and matches its `raw_commitment` ([`disclose`]).
//! [`rotate`] re-seals the vault under a new key.

pub mod disclose;
pub mod keys;
pub mod rotate;
pub mod seal;

use std::sync::{Arc, Mutex};

use fundtrail_ledger::codec;
use fundtrail_ledger::pseudonym::raw_commitment;
use fundtrail_ledger::record::{RecordBody, RecordId};
use fundtrail_ledger::store::{RecordEntry, Store};
use fundtrail_ledger::types::OrgId;
use zeroize::Zeroizing;

pub use disclose::{check_delivery, DeliveryError, FetchError};
pub use keys::{FileKeys, VaultKey, VaultKeys};
pub use seal::{Cipher, KeyId, OpenError, SealError};

use crate::wire::VaultEntry;

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
    /// Held while a disclosure fetch is checked and noted as served.
    serving: Arc<Mutex<()>>,
}

impl Vault {
    pub fn new(store: Arc<Store>, org: OrgId, keys: Arc<dyn VaultKeys>) -> Vault {
        Vault {
            store,
            org,
            keys,
            serving: Arc::default(),
        }
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
