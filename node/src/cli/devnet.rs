//! `fundtrail devnet up|down|status`: a local consortium of real node
//! processes on loopback, with generated keys, genesis and configs under
//! one directory. `up` on an existing directory restarts its nodes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fundtrail_contracts::policy::default_policy;
use fundtrail_ledger::block::{Genesis, GenesisFund, GenesisKey, GenesisOrg, GENESIS_VERSION};
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::pseudonym::PseudonymKey;
use fundtrail_ledger::types::{Amount, FundKind, KeyRole, OrgId, RegionCode, Role};
use serde::{Deserialize, Serialize};

use super::client::{Credentials, NodeClient};
use crate::access::AccessConfig;
use crate::config::{
    BatchConfig, NodeConfig, PeerConfig, RaftConfig, StoreConfig, TlsConfig, VaultConfig,
};
use crate::owner_only;
use crate::vault::Cipher;

/// The departments, in the order devnet nodes are given to them; a fifth
/// and later node belongs to the audit office (a non-voting learner).
pub const DEPARTMENTS: [(&str, Role); 5] = [
    ("gd-insurance", Role::Insurance),
    ("gd-civil-affairs", Role::CivilAffairs),
    ("gd-health", Role::Health),
    ("gd-finance", Role::Finance),
    ("gd-audit", Role::Auditor),
];

/// Keys of one organisation, before they are written to disk.
pub struct OrgKeys {
    pub id: OrgId,
    pub role: Role,
    pub submitter: Keypair,
    pub officers: Vec<Keypair>,
}

/// Everything needed to lay out a devnet: a genesis without node keys
/// (`create` adds one per node), the organisations' keys, and settings.
pub struct Plan {
    pub genesis: Genesis,
    pub orgs: Vec<OrgKeys>,
    pub pseudonyms: PseudonymKey,
    pub raft: RaftConfig,
    pub batch: BatchConfig,
    pub store: StoreConfig,
    /// The cipher every node seals its vault with.
    pub vault_cipher: Cipher,
    /// How every node's API authenticates and bounds callers.
    pub access: AccessConfig,
}

impl Plan {
    /// Fresh random keys for the five organisations, funds of every kind
    /// in two regions, and the default policy.
    pub fn generated() -> Plan {
        let rng = &mut rand_core::OsRng;
        let orgs: Vec<OrgKeys> = DEPARTMENTS
            .iter()
            .map(|(id, role)| OrgKeys {
                id: id.parse().expect("department ids are valid labels"),
                role: *role,
                submitter: Keypair::generate(rng),
                officers: vec![Keypair::generate(rng), Keypair::generate(rng)],
            })
            .collect();
        let regions: Vec<RegionCode> = ["440100", "440300"]
            .iter()
            .map(|r| r.parse().expect("valid region"))
            .collect();
        let mut secret = [0u8; 32];
        rand_core::RngCore::fill_bytes(rng, &mut secret);
        let genesis = Genesis {
            version: GENESIS_VERSION,
            chain_id: "gd-medfund-devnet".parse().expect("valid chain id"),
            timestamp_ms: 1_767_225_600_000,
            orgs: orgs.iter().map(OrgKeys::genesis_org).collect(),
            funds: default_funds(&regions),
            policies: regions
                .iter()
                .map(|r| default_policy(r.clone(), 2026))
                .collect(),
            rules_version: fundtrail_contracts::LATEST_RULES,
        };
        Plan {
            genesis,
            orgs,
            pseudonyms: PseudonymKey::new(1, secret),
            raft: RaftConfig::default(),
            batch: BatchConfig::default(),
            store: StoreConfig::default(),
            vault_cipher: Cipher::default(),
            access: AccessConfig::default(),
        }
    }
}

impl OrgKeys {
    /// The organisation's genesis entry without node keys.
    pub fn genesis_org(&self) -> GenesisOrg {
        let mut keys = vec![GenesisKey {
            key: self.submitter.public(),
            role: KeyRole::Submitter,
        }];
        keys.extend(self.officers.iter().map(|k| GenesisKey {
            key: k.public(),
            role: KeyRole::Officer,
        }));
        GenesisOrg {
            id: self.id.clone(),
            role: self.role,
            keys,
        }
    }
}

/// Basic, critical-illness and supplementary funds (insurance) and an
/// assistance fund (civil affairs) per region, 50 million yuan each.
pub fn default_funds(regions: &[RegionCode]) -> Vec<GenesisFund> {
    let mut funds = Vec::new();
    for r in regions {
        for (prefix, kind, owner) in [
            ("basic", FundKind::Basic, "gd-insurance"),
            ("ci", FundKind::CriticalIllness, "gd-insurance"),
            ("supp", FundKind::Supplementary, "gd-insurance"),
            ("assist", FundKind::Assistance, "gd-civil-affairs"),
        ] {
            funds.push(GenesisFund {
                id: format!("{prefix}-{r}").parse().expect("valid fund id"),
                kind,
                region: r.clone(),
                owner: owner.parse().expect("valid org id"),
                opening_balance: Amount::yuan(50_000_000),
            });
        }
    }
    funds
}

/// One running node as `devnet.json` records it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevnetNode {
    pub org: OrgId,
    pub api: String,
    pub p2p: String,
    pub config: PathBuf,
    pub log: PathBuf,
    pub pid: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Devnet {
    pub dir: PathBuf,
    pub nodes: Vec<DevnetNode>,
}

const STATE_FILE: &str = "devnet.json";

impl Devnet {
    pub fn load(dir: &Path) -> Result<Devnet> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("no devnet in {} (run `fundtrail devnet up`)", dir.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    fn save(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(self.dir.join(STATE_FILE), text).context("writing devnet.json")
    }

    /// The devnet's CA certificate, which every node's TLS certificate
    /// chains to.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("tls").join("ca.pem")
    }

    /// An organisation's key file of `role` (`submitter`, `officer-1`,
    /// `officer-2`, `reader`, `node`).
    pub fn key_file(&self, org: &OrgId, role: &str) -> PathBuf {
        self.dir.join("keys").join(format!("{org}-{role}.key"))
    }

    /// A client of node `i`, signing as its organisation's submitter.
    pub fn client(&self, i: usize) -> Result<NodeClient> {
        let node = &self.nodes[i];
        let key = self.key_file(&node.org, "submitter");
        let credentials = Credentials::load(Some(&self.ca_file()), Some(&key))?;
        NodeClient::new(&node.api, &credentials)
    }

    pub fn clients(&self) -> Result<Vec<NodeClient>> {
        (0..self.nodes.len()).map(|i| self.client(i)).collect()
    }

    /// Lays out keys, consortium, genesis and node configs for `nodes`
    /// nodes under `dir` (which must not hold a devnet yet).
    pub fn create(dir: &Path, nodes: usize, plan: &Plan, base_port: u16) -> Result<Devnet> {
        if dir.join(STATE_FILE).exists() {
            bail!("{} already holds a devnet", dir.display());
        }
        if nodes == 0 || nodes > plan.orgs.len() {
            bail!("a devnet has 1 to {} nodes", plan.orgs.len());
        }
        let keys = dir.join("keys");
        owner_only::create_or_check_dir(&keys).context("creating the devnet's key directory")?;
        let node_keys = write_org_keys(&keys, plan, nodes)?;
        crate::keys::write_pseudonym(&keys.join("consortium.pkey"), &plan.pseudonyms)?;
        let genesis = with_devnet_keys(&plan.genesis, &keys, &node_keys)?;
        let ca = write_ca(dir, &genesis)?;
        super::genesis::write(&dir.join("genesis.json"), &genesis)?;
        let addrs: Vec<(String, u16)> = (0..nodes)
            .map(|i| {
                (
                    format!("/ip4/127.0.0.1/tcp/{}", base_port + i as u16),
                    base_port + 100 + i as u16,
                )
            })
            .collect();
        let mut out = Vec::new();
        for (i, (org, key_path)) in node_keys.iter().enumerate() {
            out.push(write_node_config(
                dir, plan, &ca, i, org, key_path, &node_keys, &addrs,
            )?);
        }
        let devnet = Devnet {
            dir: dir.to_path_buf(),
            nodes: out,
        };
        devnet.save()?;
        Ok(devnet)
    }

    /// Starts every node that is not running, then waits until all answer
    /// and a leader is elected.
    pub async fn start(&mut self) -> Result<()> {
        self.start_with(&std::env::current_exe()?).await
    }

    /// As [`Devnet::start`], with `exe` as the `fundtrail` binary.
    pub async fn start_with(&mut self, exe: &Path) -> Result<()> {
        for i in 0..self.nodes.len() {
            if !self.nodes[i].pid.is_some_and(alive) {
                self.start_node(i, exe)?;
            }
        }
        self.wait_ready(Duration::from_secs(60)).await
    }

    /// Starts node `i` (whatever its state) and records its pid.
    pub fn start_node(&mut self, i: usize, exe: &Path) -> Result<()> {
        self.nodes[i].pid = Some(spawn_node(&self.nodes[i], exe)?);
        self.save()
    }

    pub async fn wait_ready(&self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        for client in self.clients()? {
            loop {
                let head = client.get("/v1/head").await;
                if let Ok(h) = &head {
                    if !h["raft"]["leader"].is_null() {
                        break;
                    }
                }
                if start.elapsed() > limit {
                    bail!(
                        "node {} did not become ready: {:?}",
                        client.base(),
                        head.err()
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// SIGTERM to every node, SIGKILL to any still running after 15 s.
    pub fn stop(&mut self) -> Result<()> {
        for node in &self.nodes {
            if let Some(pid) = node.pid.filter(|p| alive(*p)) {
                signal(pid, "TERM");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for node in &mut self.nodes {
            if let Some(pid) = node.pid {
                while alive(pid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(100));
                }
                if alive(pid) {
                    signal(pid, "KILL");
                }
            }
            node.pid = None;
        }
        self.save()
    }
}

fn write_org_keys(keys: &Path, plan: &Plan, nodes: usize) -> Result<Vec<(OrgId, PathBuf)>> {
    let mut node_keys = Vec::new();
    for (i, org) in plan.orgs.iter().enumerate() {
        crate::keys::write(
            &keys.join(format!("{}-submitter.key", org.id)),
            &org.submitter,
        )?;
        for (n, officer) in org.officers.iter().enumerate() {
            crate::keys::write(
                &keys.join(format!("{}-officer-{}.key", org.id, n + 1)),
                officer,
            )?;
        }
        if i < nodes {
            let path = keys.join(format!("{}-node.key", org.id));
            crate::keys::generate(&path)?;
            node_keys.push((org.id.clone(), path));
        }
    }
    Ok(node_keys)
}

/// The devnet's CA (`tls/ca.pem`), which issues each node's certificate.
fn write_ca(dir: &Path, genesis: &Genesis) -> Result<crate::tls::LocalCa> {
    let ca = crate::tls::LocalCa::new(&format!("fundtrail devnet CA {}", genesis.chain_id))?;
    let tls = dir.join("tls");
    owner_only::create_or_check_dir(&tls)?;
    std::fs::write(tls.join("ca.pem"), ca.cert_pem()).context("writing the devnet's CA")?;
    Ok(ca)
}

/// The plan's genesis with each node's key added to its organisation,
/// and a reader key (written beside the others) for every organisation.
fn with_devnet_keys(
    base: &Genesis,
    keys: &Path,
    node_keys: &[(OrgId, PathBuf)],
) -> Result<Genesis> {
    let mut genesis = base.clone();
    for org in &mut genesis.orgs {
        let reader = crate::keys::generate(&keys.join(format!("{}-reader.key", org.id)))?;
        org.keys.push(GenesisKey {
            key: reader.public(),
            role: KeyRole::Reader,
        });
    }
    for (org, path) in node_keys {
        let entry = genesis
            .orgs
            .iter_mut()
            .find(|o| &o.id == org)
            .with_context(|| format!("{org} is not in the plan's genesis"))?;
        entry.keys.push(GenesisKey {
            key: crate::keys::read(path)?.public(),
            role: KeyRole::Node,
        });
    }
    Ok(genesis)
}

#[allow(clippy::too_many_arguments)]
fn write_node_config(
    dir: &Path,
    plan: &Plan,
    ca: &crate::tls::LocalCa,
    i: usize,
    org: &OrgId,
    key_path: &Path,
    all: &[(OrgId, PathBuf)],
    addrs: &[(String, u16)],
) -> Result<DevnetNode> {
    let node_dir = dir.join("nodes").join(org.as_str());
    owner_only::create_or_check_dir(&node_dir)?;
    // Beside the node key, outside the data directory.
    let vault_key = key_path.with_file_name(format!("{org}-vault.key"));
    crate::vault::keys::generate_key_file(&vault_key)?;
    let mut peers = Vec::new();
    for (j, (_, other)) in all.iter().enumerate() {
        if j != i {
            peers.push(PeerConfig {
                node_key: crate::keys::read(other)?.public(),
                address: addrs[j].0.clone(),
            });
        }
    }
    let api: std::net::SocketAddr = format!("127.0.0.1:{}", addrs[i].1).parse()?;
    let (cert, key) = ca.issue(&["127.0.0.1".to_string(), "localhost".to_string()])?;
    let tls_dir = node_dir.join("tls");
    crate::tls::write_node_files(&tls_dir, &cert, &key)?;
    let config = NodeConfig {
        data_dir: node_dir.join("data").canonicalize_or_self(),
        genesis: dir.join("genesis.json").canonicalize_or_self(),
        node_key: key_path.canonicalize_or_self(),
        org: org.clone(),
        listen: addrs[i].0.clone(),
        api,
        peers,
        batch: plan.batch.clone(),
        raft: plan.raft.clone(),
        store: plan.store.clone(),
        vault: VaultConfig {
            key_file: vault_key.canonicalize_or_self(),
            cipher: plan.vault_cipher,
            previous_key_files: Vec::new(),
        },
        tls: TlsConfig {
            cert_file: Some(tls_dir.join("node.crt").canonicalize_or_self()),
            key_file: Some(tls_dir.join("node.key").canonicalize_or_self()),
            plain_http_on_loopback: false,
        },
        access: plan.access.clone(),
    };
    let config_path = node_dir.join("node.toml");
    std::fs::write(&config_path, toml::to_string_pretty(&config)?)?;
    Ok(DevnetNode {
        org: org.clone(),
        api: format!("https://{api}"),
        p2p: addrs[i].0.clone(),
        config: config_path,
        log: node_dir.join("node.log"),
        pid: None,
    })
}

trait CanonicalOrSelf {
    fn canonicalize_or_self(&self) -> PathBuf;
}

impl CanonicalOrSelf for Path {
    /// Absolute, so configs work from any working directory.
    fn canonicalize_or_self(&self) -> PathBuf {
        match (
            self.parent().and_then(|p| p.canonicalize().ok()),
            self.file_name(),
        ) {
            (Some(parent), Some(name)) => parent.join(name),
            _ => self.to_path_buf(),
        }
    }
}

fn spawn_node(node: &DevnetNode, exe: &Path) -> Result<u32> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&node.log)
        .with_context(|| format!("opening {}", node.log.display()))?;
    let child = std::process::Command::new(exe)
        .arg("run")
        .arg("--config")
        .arg(&node.config)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: the node outlives this command and is
        // not hit by the terminal's Ctrl-C.
        .process_group(0)
        .spawn()
        .context("starting a node process")?;
    Ok(child.id())
}

/// Whether any thread of process `pid` is still running. Its main thread
/// turns zombie while others may still be exiting with its files (the
/// store's lock among them) open, so every thread is looked at.
pub fn alive(pid: u32) -> bool {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    threads
        .flatten()
        .any(|t| !is_zombie(&t.path().join("stat")))
}

fn is_zombie(stat: &std::path::Path) -> bool {
    std::fs::read_to_string(stat)
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

pub fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

impl Plan {
    /// The fixture consortium of `fundtrail-testkit` (keys from fixed
    /// seeds), for the demo and the tests. Never for real data.
    pub fn from_kit(kit: &fundtrail_testkit::Kit) -> Plan {
        let copy = |k: &Keypair| Keypair::from_seed(k.secret_bytes());
        let orgs = kit
            .orgs
            .iter()
            .map(|o| OrgKeys {
                id: o.id.clone(),
                role: o.role,
                submitter: copy(&o.submitter),
                officers: o.officers.iter().map(copy).collect(),
            })
            .collect();
        Plan {
            genesis: kit.genesis(),
            orgs,
            pseudonyms: kit.pseudonyms.clone(),
            raft: RaftConfig::default(),
            batch: BatchConfig::default(),
            store: StoreConfig::default(),
            vault_cipher: Cipher::default(),
            access: AccessConfig::default(),
        }
    }
}
