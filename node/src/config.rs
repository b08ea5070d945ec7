//! `node.toml`: where a node keeps its data, which keys and genesis it
//! loads, where it listens, who its peers are, how it batches, and which
//! key seals its vault.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::types::OrgId;
use fundtrail_ledger::Genesis;
use serde::{Deserialize, Serialize};

use crate::access::AccessConfig;
use crate::owner_only;
use crate::vault::Cipher;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// RocksDB data directory; created on first start.
    pub data_dir: PathBuf,
    /// The consortium's genesis document (JSON, from `fundtrail genesis`).
    pub genesis: PathBuf,
    /// This node's key file: a genesis node key, or one a `member` record
    /// enrols (the node then joins a running consortium).
    pub node_key: PathBuf,
    /// The organisation this node serves.
    pub org: OrgId,
    /// libp2p listen address, e.g. `/ip4/0.0.0.0/tcp/7001`.
    pub listen: String,
    /// HTTP API address, e.g. `127.0.0.1:8001`.
    pub api: SocketAddr,
    /// The other consortium nodes and where to reach them.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default)]
    pub raft: RaftConfig,
    #[serde(default)]
    pub store: StoreConfig,
    /// The key that seals the private vault; required.
    pub vault: VaultConfig,
    /// The API's TLS certificate and key; required.
    pub tls: TlsConfig,
    /// How API callers are authenticated and bounded.
    #[serde(default)]
    pub access: AccessConfig,
}

/// `[store]`: how the node's RocksDB store is tuned.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// MiB of table blocks RocksDB caches. Contracts read committed state
    /// at random, so a node applies blocks at a rate that does not fall
    /// as the chain grows while this holds the `state` family
    /// (`fundtrail_store_bytes{family="state"}`) and then some.
    #[serde(default = "default_block_cache_mb")]
    pub block_cache_mb: u64,
}

fn default_block_cache_mb() -> u64 {
    1024
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            block_cache_mb: default_block_cache_mb(),
        }
    }
}

impl StoreConfig {
    pub fn tuning(&self) -> fundtrail_ledger::store::StoreTuning {
        fundtrail_ledger::store::StoreTuning {
            block_cache_bytes: usize::try_from(self.block_cache_mb << 20).unwrap_or(usize::MAX),
        }
    }
}

/// `[tls]`: the API's certificate chain and private key (PEM). Plain HTTP
/// is only for development on a loopback address, and says so loudly.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Serve plain HTTP instead; refused unless `api` is a loopback address.
    #[serde(default)]
    pub plain_http_on_loopback: bool,
}

/// How the API is served, once `[tls]` is checked.
pub enum ApiTransport<'c> {
    Tls {
        cert_file: &'c Path,
        key_file: &'c Path,
    },
    PlainLoopback,
}

impl TlsConfig {
    /// Refuses a `[tls]` section that is incomplete, or plain HTTP on an
    /// address other hosts can reach.
    pub fn transport(&self, api: SocketAddr) -> Result<ApiTransport<'_>> {
        match (&self.cert_file, &self.key_file, self.plain_http_on_loopback) {
            (None, None, true) if api.ip().is_loopback() => Ok(ApiTransport::PlainLoopback),
            (None, None, true) => bail!(
                "[tls] plain_http_on_loopback is set but the API listens on {api}, which is not \
                 a loopback address: give [tls] cert_file and key_file"
            ),
            (Some(cert_file), Some(key_file), false) => Ok(ApiTransport::Tls {
                cert_file,
                key_file,
            }),
            _ => bail!(
                "[tls] needs both cert_file and key_file (PEM), or, for development on a \
                 loopback address only, plain_http_on_loopback = true and neither file"
            ),
        }
    }
}

/// `[vault]`: the department's vault key, kept outside `data_dir`, and the
/// cipher new entries are sealed with.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// The vault key file (`fundtrail keygen --vault --out FILE`).
    pub key_file: PathBuf,
    /// `aes-256-gcm` (default) or `sm4-gcm`.
    #[serde(default)]
    pub cipher: Cipher,
    /// Older keys that still open what they sealed, while `fundtrail vault
    /// rotate` re-seals the vault under `key_file`.
    #[serde(default)]
    pub previous_key_files: Vec<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's node public key (hex), as genesis or a `member` record
    /// enrols it. A key the chain held here has not enrolled yet is trusted
    /// as a voter, on this file's word, until the chain enrols or revokes
    /// it: list only keys a member proposal enrols.
    pub node_key: PublicKey,
    /// Its libp2p address, e.g. `/ip4/10.0.0.2/tcp/7001`.
    pub address: String,
}

/// How the leader cuts pending records into Raft entries (one entry = one
/// block): whichever limit is reached first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    pub max_records: usize,
    pub max_wait_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_records: 4000,
            max_wait_ms: 50,
        }
    }
}

impl BatchConfig {
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftConfig {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Log entries between snapshots (a snapshot is the chain itself).
    pub snapshot_every: u64,
    /// Log entries kept behind the latest snapshot before purging.
    pub keep_logs: u64,
    /// Bytes per message when the chain is sent as a snapshot.
    #[serde(default = "default_snapshot_chunk_bytes")]
    pub snapshot_chunk_bytes: u64,
    /// How long the leader waits for a snapshot's last message, which the
    /// follower answers only once it has verified, replayed and installed
    /// the whole chain.
    #[serde(default = "default_snapshot_install_timeout_ms")]
    pub snapshot_install_timeout_ms: u64,
    /// The largest snapshot (chain file) this node accepts from a leader;
    /// a larger one is refused and discarded as it arrives.
    #[serde(default = "default_snapshot_max_bytes")]
    pub snapshot_max_bytes: u64,
}

fn default_snapshot_chunk_bytes() -> u64 {
    4 << 20
}

fn default_snapshot_install_timeout_ms() -> u64 {
    10 * 60 * 1000
}

fn default_snapshot_max_bytes() -> u64 {
    64 << 30
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            heartbeat_ms: 200,
            election_timeout_min_ms: 1000,
            election_timeout_max_ms: 2000,
            snapshot_every: 2000,
            keep_logs: 1000,
            snapshot_chunk_bytes: default_snapshot_chunk_bytes(),
            snapshot_install_timeout_ms: default_snapshot_install_timeout_ms(),
            snapshot_max_bytes: default_snapshot_max_bytes(),
        }
    }
}

impl RaftConfig {
    /// Refuses settings the wire cannot carry.
    pub fn check(&self) -> Result<()> {
        let chunk_limit = (crate::wire::SNAPSHOT_CHUNK_LIMIT - (64 << 10)) as u64;
        if self.snapshot_chunk_bytes == 0 || self.snapshot_chunk_bytes > chunk_limit {
            anyhow::bail!(
                "[raft] snapshot_chunk_bytes must be between 1 and {chunk_limit}, not {}",
                self.snapshot_chunk_bytes
            );
        }
        Ok(())
    }
}

impl NodeConfig {
    /// Loads `node.toml`; relative paths in it are taken from its directory.
    pub fn load(path: &Path) -> Result<NodeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let table: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        if !table.contains_key("tls") {
            bail!(
                "{} has no [tls] section: the API is served over TLS; name the certificate \
                 chain and key in [tls] cert_file and key_file (see examples/node.toml)",
                path.display()
            );
        }
        if !table.contains_key("vault") {
            bail!(
                "{} has no [vault] section: a node seals its vault under a key kept outside \
                 its data directory; create one with `fundtrail keygen --vault --out FILE` and \
                 name it in [vault] key_file (see examples/node.toml)",
                path.display()
            );
        }
        let mut config: NodeConfig = toml::Value::Table(table)
            .try_into()
            .with_context(|| format!("parsing config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.data_dir,
            &mut config.genesis,
            &mut config.node_key,
            &mut config.vault.key_file,
        ]
        .into_iter()
        .chain(config.vault.previous_key_files.iter_mut())
        .chain(config.tls.cert_file.iter_mut())
        .chain(config.tls.key_file.iter_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        config.raft.check()?;
        config.tls.transport(config.api)?;
        config.access.check().map_err(anyhow::Error::msg)?;
        config.check_vault_keys_outside_data()?;
        Ok(config)
    }

    /// Refuses a vault key file inside the data directory: a copy of the
    /// directory (a backup, a disk sent for repair) must not carry the key
    /// that opens its vault.
    pub fn check_vault_keys_outside_data(&self) -> Result<()> {
        for key in std::iter::once(&self.vault.key_file).chain(&self.vault.previous_key_files) {
            refuse_inside_data_dir(key, &self.data_dir)?;
        }
        Ok(())
    }

    pub fn load_genesis(&self) -> Result<Genesis> {
        read_genesis(&self.genesis)
    }
}

/// Refuses a vault key file `key` that lies inside `data_dir`.
pub fn refuse_inside_data_dir(key: &Path, data_dir: &Path) -> Result<()> {
    if owner_only::is_inside(key, data_dir) {
        bail!(
            "vault key file {} lies inside the data directory {}: keep it outside, so that a \
             copy of the data directory cannot open the vault",
            key.display(),
            data_dir.display()
        );
    }
    Ok(())
}

pub fn read_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading genesis {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing genesis {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads_with_every_documented_field() {
        let mut text = include_str!("../../examples/node.toml").to_string();
        for org in ["gd-civil-affairs", "gd-health", "gd-finance"] {
            text = text.replace(&format!("<hex node key of {org}>"), &"11".repeat(32));
        }
        let config: NodeConfig = toml::from_str(&text).expect("example parses");
        assert_eq!(config.peers.len(), 3);
        assert_eq!(config.raft.snapshot_every, 2000);
        assert_eq!(config.raft.snapshot_chunk_bytes, 4 << 20);
        assert_eq!(config.raft.snapshot_install_timeout_ms, 600_000);
        assert_eq!(config.raft.snapshot_max_bytes, 64 << 30);
        assert_eq!(config.store.block_cache_mb, 1024);
        assert_eq!(config.store.tuning().block_cache_bytes, 1 << 30);
        assert_eq!(
            config.vault.key_file,
            PathBuf::from("keys/gd-insurance-vault.key")
        );
        assert_eq!(config.vault.cipher, Cipher::Aes256Gcm);
        assert!(config.vault.previous_key_files.is_empty());
    }

    fn write_config(dir: &Path, vault: &str) -> PathBuf {
        let text = format!(
            "data_dir = \"data\"\ngenesis = \"genesis.json\"\nnode_key = \"keys/node.key\"\n\
             org = \"gd-health\"\nlisten = \"/ip4/127.0.0.1/tcp/7102\"\napi = \"127.0.0.1:8102\"\n\
             [tls]\nplain_http_on_loopback = true\n{vault}"
        );
        let path = dir.join("node.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    #[test]
    fn vault_key_paths_resolve_from_the_config_directory_and_the_cipher_is_chosen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_config(
            dir.path(),
            "[vault]\nkey_file = \"keys/vault.key\"\ncipher = \"sm4-gcm\"\n\
             previous_key_files = [\"keys/old.key\", \"/abs/older.key\"]\n",
        );
        let config = NodeConfig::load(&path).expect("loads");
        assert_eq!(config.vault.key_file, dir.path().join("keys/vault.key"));
        assert_eq!(config.vault.cipher, Cipher::Sm4Gcm);
        assert_eq!(
            config.vault.previous_key_files,
            vec![
                dir.path().join("keys/old.key"),
                PathBuf::from("/abs/older.key")
            ]
        );
        let path = write_config(dir.path(), "[vault]\nkey_file = \"vault.key\"\n");
        assert_eq!(
            NodeConfig::load(&path).expect("loads").vault.cipher,
            Cipher::Aes256Gcm,
            "the default cipher"
        );
    }

    #[test]
    fn a_config_without_a_vault_key_or_with_an_unknown_cipher_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_config(dir.path(), "");
        let err = format!("{:#}", NodeConfig::load(&path).expect_err("refused"));
        assert!(
            err.contains("[vault]") && err.contains("keygen --vault"),
            "{err}"
        );
        let path = write_config(
            dir.path(),
            "[vault]\nkey_file = \"vault.key\"\ncipher = \"des\"\n",
        );
        assert!(NodeConfig::load(&path).is_err());
    }

    #[test]
    fn a_vault_key_inside_the_data_directory_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        for vault in [
            "[vault]\nkey_file = \"data/vault.key\"\n",
            "[vault]\nkey_file = \"keys/../data/keys/vault.key\"\n",
            "[vault]\nkey_file = \"vault.key\"\nprevious_key_files = [\"data/old.key\"]\n",
        ] {
            let path = write_config(dir.path(), vault);
            let err = format!("{:#}", NodeConfig::load(&path).expect_err(vault));
            assert!(err.contains("inside the data directory"), "{err}");
        }
        let path = write_config(dir.path(), "[vault]\nkey_file = \"keys/vault.key\"\n");
        assert!(NodeConfig::load(&path).is_ok(), "beside the data directory");
    }

    #[test]
    fn plain_http_is_refused_off_loopback_and_tls_needs_both_files() {
        let plain = TlsConfig {
            plain_http_on_loopback: true,
            ..TlsConfig::default()
        };
        let loopback: SocketAddr = "127.0.0.1:8100".parse().expect("address");
        let open: SocketAddr = "0.0.0.0:8100".parse().expect("address");
        assert!(matches!(
            plain.transport(loopback),
            Ok(ApiTransport::PlainLoopback)
        ));
        let err = plain.transport(open).err().expect("refused").to_string();
        assert!(err.contains("not a loopback address"), "{err}");
        let half = TlsConfig {
            cert_file: Some("c.pem".into()),
            ..TlsConfig::default()
        };
        assert!(half.transport(loopback).is_err());
        assert!(TlsConfig::default().transport(loopback).is_err());
        let both = TlsConfig {
            cert_file: Some("c.pem".into()),
            key_file: Some("k.pem".into()),
            plain_http_on_loopback: false,
        };
        assert!(matches!(both.transport(open), Ok(ApiTransport::Tls { .. })));
    }

    #[test]
    fn a_snapshot_chunk_larger_than_the_wire_carries_is_refused() {
        let mut raft = RaftConfig::default();
        assert!(raft.check().is_ok());
        raft.snapshot_chunk_bytes = crate::wire::SNAPSHOT_CHUNK_LIMIT as u64;
        assert!(raft.check().is_err());
        raft.snapshot_chunk_bytes = 0;
        assert!(raft.check().is_err());
    }

    #[test]
    fn a_raft_section_without_the_snapshot_transfer_fields_takes_their_defaults() {
        let older = r#"
            heartbeat_ms = 200
            election_timeout_min_ms = 1000
            election_timeout_max_ms = 2000
            snapshot_every = 500
            keep_logs = 100
        "#;
        let raft: RaftConfig = toml::from_str(older).expect("older section parses");
        assert_eq!(raft.snapshot_every, 500);
        assert_eq!(
            raft.snapshot_chunk_bytes,
            RaftConfig::default().snapshot_chunk_bytes
        );
        assert_eq!(
            raft.snapshot_install_timeout_ms,
            RaftConfig::default().snapshot_install_timeout_ms
        );
        let unknown = format!("{older}\nsnapshot_timeout = 5");
        assert!(
            toml::from_str::<RaftConfig>(&unknown).is_err(),
            "a misspelt field is refused"
        );
    }
}
