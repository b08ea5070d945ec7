//! Key files: an ed25519 secret and its public key as hex JSON, written
//! owner-readable only (0600, never overwritten) and refused on read when
//! group or others can read them. One format for node, submitter and
//! officer keys; the consortium pseudonym key has its own, and so does the
//! vault key (`vault::keys`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use fundtrail_ledger::crypto::{Keypair, PublicKey};
use fundtrail_ledger::pseudonym::PseudonymKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::owner_only;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    public_key: String,
    secret_key: String,
}

/// Writes a freshly generated key to `path`, refusing to overwrite.
pub fn generate(path: &Path) -> Result<Keypair> {
    if path.exists() {
        bail!(
            "{} already exists; refusing to overwrite a key",
            path.display()
        );
    }
    let key = Keypair::generate(&mut rand_core::OsRng);
    write(path, &key)?;
    Ok(key)
}

pub fn write(path: &Path, key: &Keypair) -> Result<()> {
    let file = KeyFile {
        public_key: key.public().to_hex(),
        secret_key: hex::encode(*Zeroizing::new(key.secret_bytes())),
    };
    write_json(path, file, |f| f.secret_key)
        .with_context(|| format!("writing key file {}", path.display()))
}

/// Writes `file` as pretty JSON to a new owner-only file, wiping the text
/// and the secret hex that `secret` takes out of it.
fn write_json<T: Serialize>(path: &Path, file: T, secret: impl FnOnce(T) -> String) -> Result<()> {
    let text = Zeroizing::new(serde_json::to_string_pretty(&file)? + "\n");
    drop(Zeroizing::new(secret(file)));
    owner_only::write_new(path, text.as_bytes())?;
    Ok(())
}

/// A key file's JSON, after checking that only its owner can read it.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = owner_only::read_key_file(path)?;
    // serde's messages can quote a value, so only the position is kept.
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a {what} ({:?} error at line {} column {})",
            path.display(),
            e.classify(),
            e.line(),
            e.column()
        )
    })
}

/// Reads a key file and checks that its public key matches its secret.
pub fn read(path: &Path) -> Result<Keypair> {
    let file: KeyFile = read_json(path, "fundtrail key file")?;
    let file = Secret(file);
    let key = Keypair::from_seed(*parse_secret(&file.0.secret_key, path)?);
    let claimed = PublicKey::from_hex(file.0.public_key.trim())
        .with_context(|| format!("{}: public_key is not valid hex", path.display()))?;
    if claimed != key.public() {
        bail!("{}: public_key does not match secret_key", path.display());
    }
    Ok(key)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PseudonymFile {
    epoch: u32,
    secret_key: String,
}

/// Writes the consortium pseudonym key (shared by the member departments,
/// never by nodes) to `path`, refusing to overwrite.
pub fn write_pseudonym(path: &Path, key: &PseudonymKey) -> Result<()> {
    let file = PseudonymFile {
        epoch: key.epoch(),
        secret_key: hex::encode(*Zeroizing::new(key.secret_bytes())),
    };
    write_json(path, file, |f| f.secret_key)
        .with_context(|| format!("writing pseudonym key {}", path.display()))
}

pub fn generate_pseudonym(path: &Path, epoch: u32) -> Result<PseudonymKey> {
    let mut secret = Zeroizing::new([0u8; 32]);
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, secret.as_mut());
    let key = PseudonymKey::new(epoch, *secret);
    write_pseudonym(path, &key)?;
    Ok(key)
}

pub fn read_pseudonym(path: &Path) -> Result<PseudonymKey> {
    let file: PseudonymFile = read_json(path, "pseudonym key file")?;
    let epoch = file.epoch;
    let secret = Zeroizing::new(file.secret_key);
    Ok(PseudonymKey::new(epoch, *parse_secret(&secret, path)?))
}

/// A parsed key file whose secret hex is wiped when dropped.
struct Secret(KeyFile);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0.secret_key);
    }
}

fn parse_secret(hex_secret: &str, path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    let bytes = Zeroizing::new(hex::decode(hex_secret.trim()).unwrap_or_default());
    let mut secret = Zeroizing::new([0u8; 32]);
    if bytes.len() != secret.len() {
        bail!("{}: secret_key is not 32 hex bytes", path.display());
    }
    secret.copy_from_slice(&bytes);
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn key_files_are_written_0600_and_refused_once_group_or_others_can_read_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let node = dir.path().join("node.key");
        let pseudonym = dir.path().join("consortium.pkey");
        let key = generate(&node).expect("node key");
        generate_pseudonym(&pseudonym, 3).expect("pseudonym key");
        for path in [&node, &pseudonym] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        assert_eq!(read(&node).expect("0600 is read").public(), key.public());
        assert_eq!(read_pseudonym(&pseudonym).expect("0600 is read").epoch(), 3);

        chmod(&node, 0o644);
        chmod(&pseudonym, 0o640);
        let err = format!("{:#}", read(&node).expect_err("0644 is refused"));
        assert!(
            err.contains(&format!("chmod 600 {}", node.display())),
            "{err}"
        );
        let err = format!(
            "{:#}",
            read_pseudonym(&pseudonym).expect_err("0640 is refused")
        );
        assert!(
            err.contains(&format!("chmod 600 {}", pseudonym.display())),
            "{err}"
        );
    }

    #[test]
    fn a_malformed_key_file_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("odd.key");
        let secret = "ab".repeat(32);
        owner_only::write_new(&path, format!("{{\"secret\": \"{secret}\"}}").as_bytes()).unwrap();
        let err = format!("{:#}", read(&path).expect_err("refused"));
        assert!(err.contains("not a fundtrail key file"), "{err}");
        assert!(!err.contains(&secret), "{err}");
    }
}
