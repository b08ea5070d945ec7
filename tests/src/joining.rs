//! A node joining a running [`TestCluster`]: a department's node whose key
//! genesis does not list, laid out beside the devnet's nodes with its own
//! `node.toml` (plain HTTP on loopback, since the devnet keeps no CA key),
//! started from genesis, and added to the cluster so its helpers reach it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fundtrail_ledger::chainfile::ChainReader;
use fundtrail_ledger::crypto::{Keypair, PublicKey};
use fundtrail_ledger::types::{Height, OrgId};
use fundtrail_node::cli::devnet::DevnetNode;
use fundtrail_node::config::{NodeConfig, PeerConfig, TlsConfig};

use crate::cluster::TestCluster;

/// A node key for `org`'s new node, written as DIR/keys/{org}-{name}.key.
pub fn new_node_key(cluster: &TestCluster, org: &OrgId, name: &str) -> Result<(PathBuf, Keypair)> {
    let path = cluster.devnet.key_file(org, name);
    let key = fundtrail_node::keys::generate(&path)?;
    Ok((path, key))
}

/// Lays out and starts a node of `org` with the key in `key_file`, whose
/// peers are every devnet node; returns its index in the cluster.
pub fn start_joining_node(
    cluster: &mut TestCluster,
    org: &OrgId,
    key_file: &Path,
) -> Result<usize> {
    let index = cluster.node_count();
    let template = NodeConfig::load(&cluster.devnet.nodes[0].config)?;
    let dir = cluster
        .devnet
        .dir
        .join("nodes")
        .join(format!("{org}-{index}"));
    std::fs::create_dir_all(&dir)?;
    let vault_key = key_file.with_file_name(format!("{org}-{index}-vault.key"));
    fundtrail_node::vault::keys::generate_key_file(&vault_key)?;
    let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port()?);
    let api: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let peers = cluster
        .devnet
        .nodes
        .iter()
        .map(|n| {
            let config = NodeConfig::load(&n.config)?;
            Ok(PeerConfig {
                node_key: fundtrail_node::keys::read(&config.node_key)?.public(),
                address: n.p2p.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let config = NodeConfig {
        data_dir: dir.join("data"),
        node_key: key_file.to_path_buf(),
        org: org.clone(),
        listen: p2p.clone(),
        api,
        peers,
        vault: fundtrail_node::config::VaultConfig {
            key_file: vault_key,
            ..template.vault.clone()
        },
        tls: TlsConfig {
            plain_http_on_loopback: true,
            ..TlsConfig::default()
        },
        ..template
    };
    let config_path = dir.join("node.toml");
    std::fs::write(&config_path, toml::to_string_pretty(&config)?)?;
    cluster.devnet.nodes.push(DevnetNode {
        org: org.clone(),
        api: format!("http://{api}"),
        p2p,
        config: config_path,
        log: dir.join("node.log"),
        pid: None,
    });
    cluster.restart(index)?;
    Ok(index)
}

/// Adds node `peer` to node `i`'s `peers`, as its operator would once
/// the chain enrols it; takes effect when node `i` restarts.
pub fn add_peer(cluster: &TestCluster, i: usize, peer: usize) -> Result<()> {
    let path = &cluster.devnet.nodes[i].config;
    let mut config = NodeConfig::load(path)?;
    let key_file = NodeConfig::load(&cluster.devnet.nodes[peer].config)?.node_key;
    config.peers.push(PeerConfig {
        node_key: fundtrail_node::keys::read(&key_file)?.public(),
        address: cluster.devnet.nodes[peer].p2p.clone(),
    });
    std::fs::write(path, toml::to_string_pretty(&config)?)?;
    Ok(())
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The heights of a chain file's blocks that `key` attested.
pub fn attested_by(bytes: &[u8], key: &PublicKey) -> Result<Vec<Height>> {
    let mut reader = ChainReader::new(bytes)?;
    let mut heights = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        if entry.attestations.iter().any(|a| &a.node_key == key) {
            heights.push(entry.block.header.height);
        }
    }
    Ok(heights)
}
