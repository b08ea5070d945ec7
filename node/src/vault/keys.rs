//! Vault keys: where the keys that seal vault entries come from, and the
//! key files that hold them.
//!
//! [`VaultKeys`] is the hook for a key manager. The vault never sees key
//! material through it: it asks the source which key and cipher new
//! entries go under, and asks it to encrypt or decrypt one entry in place
//! under a key id. [`FileKeys`] answers from key files named in
//! `node.toml`; a KMS or HSM source implements the same three methods by
//! calling the device (for example PKCS#11 `C_Encrypt` with AES-GCM or
//! SM4-GCM under the key the id names), so the stored layout, the
//! associated data and rotation stay as they are.
//!
//! A vault key file is JSON, written 0600 and never overwritten:
//! `{"key_id": "<16 hex>", "secret_key": "<64 hex>"}`. The 32-byte secret
//! is the AES-256 key; SM4 takes the first 16 bytes of
//! `SHA-256("fundtrail/vault/sm4-key/v1" ‖ secret)`, so the two ciphers
//! never share key bytes.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadCore, AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, AesGcm};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sm4::Sm4;
use zeroize::Zeroizing;

use super::seal::{Cipher, KeyId, KEY_ID_LEN, NONCE_LEN, TAG_LEN};
use crate::owner_only::{self, AccessError};

/// SM4 in GCM mode with a 96-bit nonce, as RFC 8998 defines it: the GCM
/// construction over SM4's 128-bit block.
pub type Sm4Gcm = AesGcm<Sm4, U12>;

const KEY_ID_DOMAIN: &[u8] = b"fundtrail/vault/key-id/v1";
const SM4_KEY_DOMAIN: &[u8] = b"fundtrail/vault/sm4-key/v1";

/// A source of vault keys (see the module comment).
pub trait VaultKeys: Send + Sync {
    /// The key id and cipher that new entries are sealed under.
    fn sealing(&self) -> (KeyId, Cipher);

    /// Encrypts `buffer` in place under key `key` with `cipher`, binding
    /// `aad`; returns the 16-byte tag.
    fn encrypt(
        &self,
        key: &KeyId,
        cipher: Cipher,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], KeyError>;

    /// Decrypts `buffer` in place under key `key` with `cipher` after
    /// checking `tag` over it and `aad`; on failure `buffer` is left
    /// encrypted.
    fn decrypt(
        &self,
        key: &KeyId,
        cipher: Cipher,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), KeyError>;
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("vault key {0} is not held")]
    Unknown(KeyId),
    #[error("authentication failed")]
    Rejected,
    #[error("{0}")]
    Unavailable(String),
}

/// One vault key: a 32-byte secret, wiped when dropped, and its id.
pub struct VaultKey {
    secret: Zeroizing<[u8; 32]>,
    id: KeyId,
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VaultKey({}, secret redacted)", self.id)
    }
}

impl VaultKey {
    pub fn generate() -> VaultKey {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand_core::OsRng.fill_bytes(secret.as_mut());
        VaultKey::from_zeroizing(secret)
    }

    pub fn from_secret(secret: [u8; 32]) -> VaultKey {
        VaultKey::from_zeroizing(Zeroizing::new(secret))
    }

    fn from_zeroizing(secret: Zeroizing<[u8; 32]>) -> VaultKey {
        let id = key_id_of(&secret);
        VaultKey { secret, id }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    fn encrypt(
        &self,
        cipher: Cipher,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], KeyError> {
        match cipher {
            Cipher::Aes256Gcm => encrypt_with::<Aes256Gcm>(&self.secret[..], nonce, aad, buffer),
            Cipher::Sm4Gcm => {
                encrypt_with::<Sm4Gcm>(&sm4_key_of(&self.secret)[..], nonce, aad, buffer)
            }
        }
    }

    fn decrypt(
        &self,
        cipher: Cipher,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), KeyError> {
        match cipher {
            Cipher::Aes256Gcm => {
                decrypt_with::<Aes256Gcm>(&self.secret[..], nonce, aad, buffer, tag)
            }
            Cipher::Sm4Gcm => {
                decrypt_with::<Sm4Gcm>(&sm4_key_of(&self.secret)[..], nonce, aad, buffer, tag)
            }
        }
    }
}

/// The first 8 bytes of `SHA-256("fundtrail/vault/key-id/v1" ‖ secret)`.
fn key_id_of(secret: &[u8; 32]) -> KeyId {
    let digest = Sha256::new()
        .chain_update(KEY_ID_DOMAIN)
        .chain_update(secret)
        .finalize();
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&digest[..KEY_ID_LEN]);
    KeyId(id)
}

/// The SM4 key: the first 16 bytes of
/// `SHA-256("fundtrail/vault/sm4-key/v1" ‖ secret)`.
fn sm4_key_of(secret: &[u8; 32]) -> Zeroizing<[u8; 16]> {
    let mut digest = Sha256::new()
        .chain_update(SM4_KEY_DOMAIN)
        .chain_update(secret)
        .finalize();
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&digest[..16]);
    zeroize::Zeroize::zeroize(digest.as_mut_slice());
    key
}

fn encrypt_with<A>(
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<[u8; TAG_LEN], KeyError>
where
    A: KeyInit + AeadInPlace + AeadCore<NonceSize = U12, TagSize = U16>,
{
    let cipher = A::new_from_slice(key).map_err(|_| KeyError::Unavailable("key length".into()))?;
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, buffer)
        .map_err(|_| KeyError::Unavailable("the entry is too long to seal".into()))?;
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&tag);
    Ok(out)
}

fn decrypt_with<A>(
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), KeyError>
where
    A: KeyInit + AeadInPlace + AeadCore<NonceSize = U12, TagSize = U16>,
{
    let cipher = A::new_from_slice(key).map_err(|_| KeyError::Unavailable("key length".into()))?;
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            aad,
            buffer,
            GenericArray::from_slice(tag),
        )
        .map_err(|_| KeyError::Rejected)
}

/// Vault keys from key files: one that seals new entries, and older ones
/// that still open what they sealed (during a rotation).
#[derive(Debug)]
pub struct FileKeys {
    cipher: Cipher,
    /// The sealing key first.
    held: Vec<VaultKey>,
}

impl FileKeys {
    pub fn new(sealing: VaultKey, cipher: Cipher, older: Vec<VaultKey>) -> FileKeys {
        let mut held = vec![sealing];
        for key in older {
            if !held.iter().any(|k| k.id == key.id) {
                held.push(key);
            }
        }
        FileKeys { cipher, held }
    }

    /// Reads `key_file` (the sealing key) and `previous` (keys that only
    /// open).
    pub fn load(
        key_file: &Path,
        cipher: Cipher,
        previous: &[PathBuf],
    ) -> Result<FileKeys, KeyFileError> {
        let sealing = read_key_file(key_file)?;
        let older = previous
            .iter()
            .map(|p| read_key_file(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FileKeys::new(sealing, cipher, older))
    }

    /// Every key id held, the sealing key's first.
    pub fn held(&self) -> Vec<KeyId> {
        self.held.iter().map(|k| k.id).collect()
    }

    fn key(&self, id: &KeyId) -> Result<&VaultKey, KeyError> {
        self.held
            .iter()
            .find(|k| &k.id == id)
            .ok_or(KeyError::Unknown(*id))
    }
}

impl VaultKeys for FileKeys {
    fn sealing(&self) -> (KeyId, Cipher) {
        (self.held[0].id, self.cipher)
    }

    fn encrypt(
        &self,
        key: &KeyId,
        cipher: Cipher,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], KeyError> {
        self.key(key)?.encrypt(cipher, nonce, aad, buffer)
    }

    fn decrypt(
        &self,
        key: &KeyId,
        cipher: Cipher,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), KeyError> {
        self.key(key)?.decrypt(cipher, nonce, aad, buffer, tag)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("{path} is not a vault key file ({reason})")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: secret_key is not 32 bytes of hex")]
    BadSecret { path: PathBuf },
    #[error("{path}: key_id {claimed} is not the id of its secret_key ({actual})")]
    WrongId {
        path: PathBuf,
        claimed: String,
        actual: KeyId,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    key_id: String,
    secret_key: String,
}

/// Writes `key` to a new file at `path` (mode 0600, never overwriting).
pub fn write_key_file(path: &Path, key: &VaultKey) -> Result<(), KeyFileError> {
    if path.exists() {
        return Err(KeyFileError::Exists {
            path: path.to_path_buf(),
        });
    }
    let file = KeyFile {
        key_id: key.id.to_hex(),
        secret_key: hex::encode(&key.secret[..]),
    };
    let text =
        Zeroizing::new(serde_json::to_string_pretty(&file).expect("a key file serialises") + "\n");
    // The hex copy of the secret is wiped as well as the text.
    drop(Zeroizing::new(file.secret_key));
    owner_only::write_new(path, text.as_bytes())?;
    Ok(())
}

/// Generates a vault key and writes it to a new file at `path`.
pub fn generate_key_file(path: &Path) -> Result<VaultKey, KeyFileError> {
    let key = VaultKey::generate();
    write_key_file(path, &key)?;
    Ok(key)
}

/// Reads a vault key file, refusing one that group or others can read and
/// one whose `key_id` is not its secret's.
pub fn read_key_file(path: &Path) -> Result<VaultKey, KeyFileError> {
    let text = owner_only::read_key_file(path)?;
    // serde's messages can quote a value, so only the position is kept.
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| KeyFileError::Malformed {
        path: path.to_path_buf(),
        reason: format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    })?;
    let KeyFile { key_id, secret_key } = file;
    let secret_key = Zeroizing::new(secret_key);
    let bytes =
        Zeroizing::new(
            hex::decode(secret_key.trim()).map_err(|_| KeyFileError::BadSecret {
                path: path.to_path_buf(),
            })?,
        );
    let mut secret = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(KeyFileError::BadSecret {
            path: path.to_path_buf(),
        });
    }
    secret.copy_from_slice(&bytes);
    let key = VaultKey::from_zeroizing(secret);
    if KeyId::from_hex(&key_id) != Some(key.id) {
        return Err(KeyFileError::WrongId {
            path: path.to_path_buf(),
            claimed: key_id,
            actual: key.id,
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).expect("hex")
    }

    /// RFC 8998 (ShangMi cipher suites for TLS 1.3), Appendix A.1,
    /// "SM4-GCM Test Vectors".
    #[test]
    fn sm4_gcm_gives_the_rfc_8998_test_vector() {
        let key = unhex("0123456789ABCDEFFEDCBA9876543210");
        let nonce: [u8; 12] = unhex("00001234567800000000ABCD").try_into().unwrap();
        let aad = unhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
        let plaintext = unhex(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD
             EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFF EEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        );
        let ciphertext = unhex(
            "17F399F08C67D5EE19D0DC9969C4BB7D 5FD46FD3756489069157B282BB200735
             D82710CA5C22F0CCFA7CBF93D496AC15 A56834CBCF98C397B4024A2691233B8D",
        );
        let tag: [u8; 16] = unhex("83DE3541E4C2B58177E065A9BF7B62EC")
            .try_into()
            .unwrap();

        let mut buffer = plaintext.clone();
        let got = encrypt_with::<Sm4Gcm>(&key, &nonce, &aad, &mut buffer).expect("encrypts");
        assert_eq!(buffer, ciphertext);
        assert_eq!(got, tag);
        decrypt_with::<Sm4Gcm>(&key, &nonce, &aad, &mut buffer, &tag).expect("decrypts");
        assert_eq!(buffer, plaintext);

        let mut bad_tag = tag;
        bad_tag[0] ^= 1;
        let mut buffer = ciphertext.clone();
        assert!(matches!(
            decrypt_with::<Sm4Gcm>(&key, &nonce, &aad, &mut buffer, &bad_tag),
            Err(KeyError::Rejected)
        ));
        assert_eq!(buffer, ciphertext, "left encrypted on failure");
    }

    /// NIST GCM test case 16 (AES-256, 60-byte plaintext, 20 bytes of
    /// associated data), from "The Galois/Counter Mode of Operation".
    #[test]
    fn aes_256_gcm_gives_the_gcm_specification_test_case_16() {
        let key = unhex("feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308");
        let nonce: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
        let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let plaintext = unhex(
            "d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72
             1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b39",
        );
        let ciphertext = unhex(
            "522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa
             8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662",
        );
        let tag: [u8; 16] = unhex("76fc6ece0f4e1768cddf8853bb2d551b")
            .try_into()
            .unwrap();
        let mut buffer = plaintext.clone();
        let got = encrypt_with::<Aes256Gcm>(&key, &nonce, &aad, &mut buffer).expect("encrypts");
        assert_eq!(buffer, ciphertext);
        assert_eq!(got, tag);
    }

    #[test]
    fn a_key_id_depends_on_the_secret_only() {
        let a = VaultKey::from_secret([1; 32]);
        assert_eq!(a.id(), VaultKey::from_secret([1; 32]).id());
        assert_ne!(a.id(), VaultKey::from_secret([2; 32]).id());
        let expected = Sha256::new()
            .chain_update(b"fundtrail/vault/key-id/v1")
            .chain_update([1u8; 32])
            .finalize();
        assert_eq!(a.id().0, expected[..8]);
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let key = VaultKey::from_secret([0xab; 32]);
        let keys = FileKeys::new(VaultKey::from_secret([0xab; 32]), Cipher::Sm4Gcm, vec![]);
        for shown in [format!("{key:?}"), format!("{keys:?}")] {
            assert!(!shown.contains(&"ab".repeat(8)), "{shown}");
            assert!(shown.contains(&key.id().to_hex()), "{shown}");
        }
    }

    #[test]
    fn a_key_file_round_trips_and_is_written_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        let key = generate_key_file(&path).expect("written");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_key_file(&path).expect("read").id(), key.id());
        assert!(generate_key_file(&path).is_err(), "never overwritten");
    }

    #[test]
    fn a_key_file_open_to_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        generate_key_file(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_key_file(&path)
            .expect_err("0644 is refused")
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_key_file(&path).is_ok(), "0600 is accepted");
    }

    #[test]
    fn a_key_file_with_a_wrong_id_or_a_short_secret_is_refused_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        let wrong_id = dir.path().join("wrong-id.key");
        let secret = "cd".repeat(32);
        owner_only::write_new(
            &wrong_id,
            format!("{{\"key_id\": \"0000000000000000\", \"secret_key\": \"{secret}\"}}")
                .as_bytes(),
        )
        .unwrap();
        let err = read_key_file(&wrong_id).expect_err("refused").to_string();
        assert!(err.contains("key_id"), "{err}");
        assert!(!err.contains(&secret), "{err}");
        let short = dir.path().join("short.key");
        owner_only::write_new(
            &short,
            b"{\"key_id\": \"0000000000000000\", \"secret_key\": \"cdcd\"}",
        )
        .unwrap();
        assert!(matches!(
            read_key_file(&short),
            Err(KeyFileError::BadSecret { .. })
        ));
        let typo = dir.path().join("typo.key");
        owner_only::write_new(&typo, format!("{{\"key\": \"{secret}\"}}").as_bytes()).unwrap();
        let err = read_key_file(&typo).expect_err("refused").to_string();
        assert!(!err.contains(&secret), "{err}");
    }

    #[test]
    fn file_keys_seal_under_the_first_key_and_open_under_any() {
        let keys = FileKeys::new(
            VaultKey::from_secret([2; 32]),
            Cipher::Aes256Gcm,
            vec![
                VaultKey::from_secret([1; 32]),
                VaultKey::from_secret([2; 32]),
            ],
        );
        assert_eq!(keys.held().len(), 2, "a key named twice is held once");
        assert_eq!(keys.sealing().0, VaultKey::from_secret([2; 32]).id());
        let unknown = VaultKey::from_secret([3; 32]).id();
        let mut buffer = vec![0u8; 4];
        assert!(matches!(
            keys.encrypt(&unknown, Cipher::Aes256Gcm, &[0; 12], b"", &mut buffer),
            Err(KeyError::Unknown(id)) if id == unknown
        ));
    }
}
