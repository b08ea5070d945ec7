//! `node.toml`: where a node keeps its data, which keys and genesis it
//! loads, where it listens, who its peers are, and how it batches.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::types::OrgId;
use fundtrail_ledger::Genesis;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// RocksDB data directory; created on first start.
    pub data_dir: PathBuf,
    /// The consortium's genesis document (JSON, from `fundtrail genesis`).
    pub genesis: PathBuf,
    /// This node's key file; its public key must be a genesis node key.
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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's node public key (hex), as listed in genesis.
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
        let mut config: NodeConfig =
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.data_dir,
            &mut config.genesis,
            &mut config.node_key,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        config.raft.check()?;
        Ok(config)
    }

    pub fn load_genesis(&self) -> Result<Genesis> {
        read_genesis(&self.genesis)
    }
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
