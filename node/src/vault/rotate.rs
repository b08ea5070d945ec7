//! Re-sealing the vault under a new key, resumably. Entries are visited in
//! key order in pages; each entry not yet under the sealing key and cipher
//! is opened (with whichever held key its header names) and sealed anew,
//! and each page's re-sealed entries are written in one fsynced batch. An
//! entry names its key in its header, so a rotation cut short (even by
//! `kill -9`) leaves a vault every entry of which opens with the old and
//! new keys together, and running it again re-seals only what is left.

use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::RecordId;
use fundtrail_ledger::store::{Store, StoreError, VaultRow};

use super::keys::VaultKeys;
use super::seal::{self, Header, OpenError, SealError};

/// How far a rotation has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Entries the vault held when the rotation started.
    pub total: usize,
    /// Entries visited so far.
    pub visited: usize,
    /// Entries re-sealed by this run.
    pub resealed: usize,
    /// Entries found already under the sealing key and cipher.
    pub already: usize,
}

impl Progress {
    /// Entries under the sealing key so far.
    pub fn done(&self) -> usize {
        self.resealed + self.already
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("vault entry {record} could not be opened: {source}")]
    Open {
        record: String,
        #[source]
        source: OpenError,
    },
    #[error("vault entry {record} could not be sealed: {source}")]
    Seal {
        record: String,
        #[source]
        source: SealError,
    },
    #[error("the vault holds an entry under a key that is not a record id ({len} bytes)")]
    BadKey { len: usize },
}

/// Re-seals every entry of `store`'s vault that is not under `keys`'
/// sealing key and cipher, `page` entries per fsynced batch, calling
/// `report` after each batch.
pub fn rotate(
    store: &Store,
    keys: &dyn VaultKeys,
    page: usize,
    report: &mut dyn FnMut(&Progress),
) -> Result<Progress, RotateError> {
    let page = page.max(1);
    let mut progress = Progress {
        total: store.vault_len()?,
        ..Progress::default()
    };
    let mut after: Option<Vec<u8>> = None;
    loop {
        let entries = store.vault_page(after.as_deref(), page)?;
        let Some((last, _)) = entries.last() else {
            break;
        };
        after = Some(last.clone());
        let resealed = reseal_page(keys, &entries, &mut progress)?;
        let batch: Vec<(&[u8], &[u8])> = resealed
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        if !batch.is_empty() {
            store.vault_put(&batch)?;
        }
        progress.resealed += resealed.len();
        report(&progress);
    }
    Ok(progress)
}

/// The entries of one page that need it, re-sealed; counts the others.
fn reseal_page(
    keys: &dyn VaultKeys,
    entries: &[VaultRow],
    progress: &mut Progress,
) -> Result<Vec<VaultRow>, RotateError> {
    let (key_id, cipher) = keys.sealing();
    let mut out = Vec::new();
    for (key, stored) in entries {
        progress.visited += 1;
        let record = record_id(key)?;
        let open_error = |source| RotateError::Open {
            record: record.to_hex(),
            source,
        };
        let header = Header::parse(stored).map_err(open_error)?;
        if header.key_id == key_id && header.cipher == cipher {
            progress.already += 1;
            continue;
        }
        let plain = seal::open(keys, &record, stored).map_err(open_error)?;
        let sealed = seal::seal(keys, &record, &plain).map_err(|source| RotateError::Seal {
            record: record.to_hex(),
            source,
        })?;
        out.push((key.clone(), sealed));
    }
    Ok(out)
}

fn record_id(key: &[u8]) -> Result<RecordId, RotateError> {
    let bytes: [u8; 32] = key
        .try_into()
        .map_err(|_| RotateError::BadKey { len: key.len() })?;
    Ok(RecordId::from_hash(Hash32(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::keys::{FileKeys, VaultKey};
    use crate::vault::seal::{Cipher, KeyId};

    const ENTRIES: u8 = 25;

    fn old_keys() -> FileKeys {
        FileKeys::new(VaultKey::from_secret([1; 32]), Cipher::Aes256Gcm, vec![])
    }

    /// The new key (SM4) sealing, the old one still opening.
    fn rotating_keys() -> FileKeys {
        FileKeys::new(
            VaultKey::from_secret([2; 32]),
            Cipher::Sm4Gcm,
            vec![VaultKey::from_secret([1; 32])],
        )
    }

    fn new_only() -> FileKeys {
        FileKeys::new(VaultKey::from_secret([2; 32]), Cipher::Sm4Gcm, vec![])
    }

    fn record(n: u8) -> RecordId {
        RecordId::from_hash(Hash32([n; 32]))
    }

    fn plaintext(n: u8) -> Vec<u8> {
        format!("raw bill {n}").into_bytes()
    }

    /// A store whose vault holds `ENTRIES` entries sealed under the old key.
    fn store_with_old_entries() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let genesis = fundtrail_testkit::Kit::new(3).genesis();
        let store = Store::create(dir.path(), &genesis, Hash32([0; 32])).expect("store");
        for n in 0..ENTRIES {
            let sealed = seal::seal(&old_keys(), &record(n), &plaintext(n)).expect("sealed");
            store
                .vault_put(&[(record(n).as_bytes().as_slice(), sealed.as_slice())])
                .expect("put");
        }
        (dir, store)
    }

    fn key_of(store: &Store, n: u8) -> (KeyId, Cipher) {
        let stored = store.vault_get(record(n).as_bytes()).unwrap().unwrap();
        let header = Header::parse(&stored).unwrap();
        (header.key_id, header.cipher)
    }

    fn opens_all(store: &Store, keys: &FileKeys) -> bool {
        (0..ENTRIES).all(|n| {
            let stored = store.vault_get(record(n).as_bytes()).unwrap().unwrap();
            seal::open(keys, &record(n), &stored).is_ok_and(|p| p.as_slice() == plaintext(n))
        })
    }

    #[test]
    fn a_rotation_re_seals_every_entry_under_the_new_key_and_cipher() {
        let (_dir, store) = store_with_old_entries();
        assert!(!opens_all(&store, &new_only()));
        let mut reports = Vec::new();
        let done = rotate(&store, &rotating_keys(), 10, &mut |p| reports.push(*p)).unwrap();
        assert_eq!(done.total, ENTRIES as usize);
        assert_eq!(done.resealed, ENTRIES as usize);
        assert_eq!(done.already, 0);
        assert_eq!(reports.len(), 3, "one report per page of 10: {reports:?}");
        assert_eq!(reports[0].done(), 10);
        assert!(
            opens_all(&store, &new_only()),
            "the new key alone opens all"
        );
        assert!(
            !opens_all(&store, &old_keys()),
            "the old key alone opens none"
        );
        let new_id = VaultKey::from_secret([2; 32]).id();
        assert!((0..ENTRIES).all(|n| key_of(&store, n) == (new_id, Cipher::Sm4Gcm)));

        let again = rotate(&store, &rotating_keys(), 10, &mut |_| {}).unwrap();
        assert_eq!((again.resealed, again.already), (0, ENTRIES as usize));
    }

    #[test]
    fn a_half_rotated_vault_opens_with_both_keys_and_a_rerun_finishes_it() {
        let (_dir, store) = store_with_old_entries();
        // Half of the entries re-sealed, as a rotation cut short leaves them.
        for n in (0..ENTRIES).step_by(2) {
            let stored = store.vault_get(record(n).as_bytes()).unwrap().unwrap();
            let plain = seal::open(&rotating_keys(), &record(n), &stored).unwrap();
            let sealed = seal::seal(&rotating_keys(), &record(n), &plain).unwrap();
            store
                .vault_put(&[(record(n).as_bytes().as_slice(), sealed.as_slice())])
                .unwrap();
        }
        assert!(
            opens_all(&store, &rotating_keys()),
            "old and new keys open all"
        );
        assert!(!opens_all(&store, &new_only()));
        let done = rotate(&store, &rotating_keys(), 7, &mut |_| {}).unwrap();
        assert_eq!(done.already, 13);
        assert_eq!(done.resealed, 12);
        assert!(opens_all(&store, &new_only()));
    }

    #[test]
    fn a_rotation_without_the_old_key_stops_naming_the_entry_and_key() {
        let (_dir, store) = store_with_old_entries();
        let err = rotate(&store, &new_only(), 10, &mut |_| {}).expect_err("cannot open");
        let text = err.to_string();
        assert!(text.contains(&record(0).to_hex()), "{text}");
        assert!(
            text.contains(&VaultKey::from_secret([1; 32]).id().to_hex()),
            "{text}"
        );
        assert!(opens_all(&store, &old_keys()), "nothing was lost");
    }
}
