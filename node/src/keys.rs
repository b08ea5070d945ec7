//! Key files: an ed25519 secret and its public key as hex JSON, written
//! owner-readable only. One format for node, submitter and officer keys.

use std::path::Path;

use anyhow::{bail, Context, Result};
use fundtrail_ledger::crypto::{Keypair, PublicKey};
use fundtrail_ledger::pseudonym::PseudonymKey;
use serde::{Deserialize, Serialize};

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
        secret_key: hex::encode(key.secret_bytes()),
    };
    let text = serde_json::to_string_pretty(&file)? + "\n";
    write_private(path, text.as_bytes())
        .with_context(|| format!("writing key file {}", path.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// Reads a key file and checks that its public key matches its secret.
pub fn read(path: &Path) -> Result<Keypair> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a fundtrail key file", path.display()))?;
    let key = Keypair::from_seed(parse_secret(&file.secret_key, path)?);
    let claimed = PublicKey::from_hex(file.public_key.trim())
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
        secret_key: hex::encode(key.secret_bytes()),
    };
    let text = serde_json::to_string_pretty(&file)? + "\n";
    write_private(path, text.as_bytes())
        .with_context(|| format!("writing pseudonym key {}", path.display()))
}

pub fn generate_pseudonym(path: &Path, epoch: u32) -> Result<PseudonymKey> {
    let mut secret = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let key = PseudonymKey::new(epoch, secret);
    write_pseudonym(path, &key)?;
    Ok(key)
}

pub fn read_pseudonym(path: &Path) -> Result<PseudonymKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading pseudonym key {}", path.display()))?;
    let file: PseudonymFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a pseudonym key file", path.display()))?;
    Ok(PseudonymKey::new(
        file.epoch,
        parse_secret(&file.secret_key, path)?,
    ))
}

fn parse_secret(hex_secret: &str, path: &Path) -> Result<[u8; 32]> {
    hex::decode(hex_secret.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{}: secret_key is not 32 hex bytes", path.display()))
}
