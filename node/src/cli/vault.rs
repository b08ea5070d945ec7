//! `fundtrail keygen --vault` and `fundtrail vault rotate`: a node's vault
//! key file, and re-sealing a stopped node's vault under a new key
//! (resumable: a rotation cut short is finished by running it again).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use fundtrail_ledger::store::{Store, StoreError};

use crate::config::{refuse_inside_data_dir, NodeConfig};
use crate::owner_only;
use crate::vault::keys::{generate_key_file, read_key_file};
use crate::vault::rotate::{rotate, Progress};
use crate::vault::{FileKeys, KeyId};

#[derive(Subcommand)]
pub enum VaultAction {
    /// Re-seal every vault entry under a new key, with the node stopped.
    /// Entries go in fsynced batches and name their key, so a rotation cut
    /// short is finished by running it again; meanwhile the vault opens
    /// with the old and new keys together. Afterwards point `[vault]`
    /// key_file at the new key (README, "Rotating the vault key").
    Rotate {
        /// The node's configuration; its `[vault]` keys open the entries.
        #[arg(long)]
        config: PathBuf,
        /// The new vault key file (`fundtrail keygen --vault`).
        #[arg(long)]
        new_key: PathBuf,
        /// Entries per fsynced batch.
        #[arg(long, default_value_t = 256)]
        batch: usize,
    },
}

pub fn run(action: VaultAction) -> Result<()> {
    match action {
        VaultAction::Rotate {
            config,
            new_key,
            batch,
        } => rotate_vault(&config, &new_key, batch),
    }
}

/// `fundtrail keygen --vault --out FILE`.
pub fn keygen(out: &Path, json: bool) -> Result<()> {
    let key = generate_key_file(out)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "vault_key_id": key.id().to_hex(), "file": out })
        );
    } else {
        println!("vault key {} written to {}", key.id(), out.display());
    }
    Ok(())
}

fn rotate_vault(config_path: &Path, new_key: &Path, batch: usize) -> Result<()> {
    let config = NodeConfig::load(config_path)?;
    refuse_inside_data_dir(new_key, &config.data_dir)?;
    let keys = rotation_keys(&config, new_key)?;
    let (new_id, cipher) = crate::vault::VaultKeys::sealing(&keys);
    let store = open_stopped(&config.data_dir)?;
    println!(
        "re-sealing the vault in {} under key {new_id} ({cipher}), {batch} entries per batch",
        config.data_dir.display()
    );
    let mut report = |p: &Progress| print_progress(p, new_id);
    let done = rotate(&store, &keys, batch, &mut report).with_context(|| {
        "rotation stopped; what it re-sealed stays re-sealed: fix the cause and run it again"
    })?;
    println!(
        "rotation complete: all {} entries are under key {new_id} ({} re-sealed by this run). \
         Now set [vault] key_file to {} and cipher = \"{cipher}\" in {}, and take the old \
         key out of previous_key_files; keep the old key file offline for as long as you \
         keep backups made before the rotation.",
        done.total,
        done.resealed,
        new_key.display(),
        config_path.display()
    );
    Ok(())
}

/// The new key seals; the configured key and its predecessors open.
fn rotation_keys(config: &NodeConfig, new_key: &Path) -> Result<FileKeys> {
    let new = read_key_file(new_key).context("reading the new vault key")?;
    let mut older = Vec::new();
    for path in std::iter::once(&config.vault.key_file).chain(&config.vault.previous_key_files) {
        older.push(read_key_file(path).context("reading a configured vault key")?);
    }
    Ok(FileKeys::new(new, config.vault.cipher, older))
}

/// Opens a stopped node's store; a running node holds its lock.
fn open_stopped(data_dir: &Path) -> Result<Store> {
    if !data_dir.is_dir() {
        bail!("{} is not a node's data directory", data_dir.display());
    }
    owner_only::create_or_check_dir(data_dir)?;
    match Store::open(data_dir) {
        Ok(store) => Ok(store),
        Err(StoreError::Db(e)) if e.to_string().to_lowercase().contains("lock") => bail!(
            "the data directory {} is in use: its node is running (it holds the database \
             lock); stop the node, then rotate",
            data_dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("opening {}", data_dir.display())),
    }
}

fn print_progress(p: &Progress, key: KeyId) {
    println!(
        "progress: {}/{} entries under key {key} ({} re-sealed by this run)",
        p.done(),
        p.total,
        p.resealed
    );
}
