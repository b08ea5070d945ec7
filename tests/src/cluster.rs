//! A real cluster for end-to-end tests: node processes of the
//! `fundtrail-e2e` binary on loopback, laid out by `fundtrail devnet` with
//! the fixture consortium's keys so tests can sign records.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fundtrail_ledger::chainfile::{verify_stream, ChainReader, ChainSummary};
use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::Role;
use fundtrail_ledger::verify::ChainVerifier;
use fundtrail_node::api::SubmitLine;
use fundtrail_node::cli::client::NodeClient;
use fundtrail_node::cli::devnet::{alive, signal, Devnet, Plan};
use fundtrail_node::config::{BatchConfig, RaftConfig};
use fundtrail_testkit::Kit;
use serde_json::Value;

/// Tests that start a cluster take this first: one cluster at a time, as
/// each is several processes on a small machine.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

pub struct TestCluster {
    pub devnet: Devnet,
    pub kit: Kit,
    exe: PathBuf,
    _dir: tempfile::TempDir,
}

/// A base port whose node and API ports (base..base+5, base+100..base+105)
/// are all free right now.
fn base_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        drop(listener);
        let base = 20_000 + port % 20_000;
        let free = (0..5)
            .flat_map(|i| [base + i, base + 100 + i])
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
}

impl TestCluster {
    /// Starts `nodes` nodes and waits for a leader. Small batches and
    /// frequent snapshots, so tests exercise both.
    pub async fn start(exe: &Path, nodes: usize) -> Result<TestCluster> {
        Self::start_with(exe, nodes, |_| {}).await
    }

    /// [`Self::start`] with the devnet plan adjusted by `adjust` first.
    pub async fn start_with(
        exe: &Path,
        nodes: usize,
        adjust: impl FnOnce(&mut Plan),
    ) -> Result<TestCluster> {
        let dir = tempfile::tempdir()?;
        let kit = Kit::new(7);
        let mut plan = Plan::from_kit(&kit);
        plan.batch = BatchConfig {
            max_records: 200,
            max_wait_ms: 20,
        };
        plan.raft = RaftConfig {
            heartbeat_ms: 100,
            election_timeout_min_ms: 600,
            election_timeout_max_ms: 1200,
            snapshot_every: 20,
            keep_logs: 5,
            // Small, so a snapshot crosses in many messages.
            snapshot_chunk_bytes: 64 << 10,
            snapshot_install_timeout_ms: 60_000,
            ..RaftConfig::default()
        };
        adjust(&mut plan);
        let mut devnet = Devnet::create(dir.path(), nodes, &plan, base_port())?;
        devnet.start_with(exe).await?;
        Ok(TestCluster {
            devnet,
            kit,
            exe: exe.to_path_buf(),
            _dir: dir,
        })
    }

    /// A client of node `i`, over TLS, signing as an officer of the audit
    /// office: a caller that may read everything and submit records. Raw
    /// data routes take the node's own organisation ([`Self::department`],
    /// [`Self::officer`]).
    pub fn client(&self, i: usize) -> NodeClient {
        self.client_as(i, &self.kit.org(Role::Auditor).officers[0])
    }

    /// A client of node `i` signing as its own organisation's submitter.
    pub fn department(&self, i: usize) -> NodeClient {
        self.devnet.client(i).expect("the devnet's CA and keys")
    }

    /// A client of node `i` signing as an officer of its organisation.
    pub fn officer(&self, i: usize) -> NodeClient {
        let org = &self.devnet.nodes[i].org;
        let kit_org = self
            .kit
            .orgs
            .iter()
            .find(|o| &o.id == org)
            .expect("every devnet organisation is the kit's");
        self.client_as(i, &kit_org.officers[0])
    }

    /// A client of node `i` signing with `key`.
    pub fn client_as(&self, i: usize, key: &fundtrail_ledger::Keypair) -> NodeClient {
        self.department(i)
            .signed_by(fundtrail_ledger::Keypair::from_seed(key.secret_bytes()))
    }

    pub fn node_count(&self) -> usize {
        self.devnet.nodes.len()
    }

    /// The index of the node that currently leads, as the first running
    /// node that knows a leader sees it.
    pub async fn leader(&self) -> Result<usize> {
        let mut ids = Vec::new();
        for i in 0..self.node_count() {
            let head = self.client(i).get("/v1/head").await.ok();
            ids.push(head.as_ref().and_then(|h| h["raft"]["node_id"].as_u64()));
            if let Some(leader) = head.and_then(|h| h["raft"]["leader"].as_u64()) {
                for j in i + 1..self.node_count() {
                    let head = self.client(j).get("/v1/head").await.ok();
                    ids.push(head.and_then(|h| h["raft"]["node_id"].as_u64()));
                }
                if let Some(index) = ids.iter().position(|id| *id == Some(leader)) {
                    return Ok(index);
                }
                bail!("the leader, node id {leader}, does not answer");
            }
        }
        bail!("no node reports a leader")
    }

    /// Raft's voters as node `i` reports them (empty if it does not answer).
    pub async fn voters(&self, i: usize) -> std::collections::BTreeSet<u64> {
        let Ok(head) = self.client(i).get("/v1/head").await else {
            return Default::default();
        };
        head["raft"]["voters"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x.as_u64()).collect())
            .unwrap_or_default()
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(pid) = self.devnet.nodes[i].pid.take() {
            signal(pid, "KILL");
            while alive(pid) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn terminate(&mut self, i: usize) {
        if let Some(pid) = self.devnet.nodes[i].pid.take() {
            signal(pid, "TERM");
            let deadline = Instant::now() + Duration::from_secs(15);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.devnet.start_node(i, &self.exe)
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.devnet.nodes[i]
            .config
            .parent()
            .expect("config is in the node's directory")
            .join("data")
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.devnet.nodes[i].log).unwrap_or_default()
    }

    /// Submits through node `i`, retrying on other nodes if it is down.
    pub async fn submit(&self, i: usize, records: &[SignedRecord]) -> Result<Vec<SubmitLine>> {
        let n = self.node_count();
        let mut last = None;
        for k in 0..n {
            let node = (i + k) % n;
            if !self.devnet.nodes[node].pid.is_some_and(alive) {
                continue;
            }
            match self.client(node).submit(records).await {
                Ok(lines) => return Ok(lines),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no node is running")))
    }

    /// Waits until every running node reports the same head, then returns
    /// it (height, hash, state root).
    pub async fn converge(&self, limit: Duration) -> Result<Value> {
        let start = Instant::now();
        loop {
            self.check_none_crashed()?;
            let mut heads = Vec::new();
            for i in 0..self.node_count() {
                if self.devnet.nodes[i].pid.is_some_and(alive) {
                    heads.push(self.client(i).get("/v1/head").await.ok());
                }
            }
            let key = |h: &Option<Value>| {
                h.as_ref().map(|h| {
                    (
                        h["height"].clone(),
                        h["hash"].clone(),
                        h["state_root"].clone(),
                    )
                })
            };
            if heads
                .iter()
                .all(|h| h.is_some() && key(h) == key(&heads[0]))
            {
                return Ok(heads[0].clone().expect("checked"));
            }
            if start.elapsed() > limit {
                bail!(
                    "nodes did not converge: {:?}",
                    heads.iter().map(key).collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Fails if a node the test did not stop has exited, or if any node's
    /// log shows a panic (openraft's core can panic and leave the process
    /// up): a crash must not pass as a node that is merely down.
    pub fn check_none_crashed(&self) -> Result<()> {
        for (i, node) in self.devnet.nodes.iter().enumerate() {
            let exited = node.pid.is_some_and(|pid| !alive(pid));
            let log = self.log(i);
            let panic = first_panic(&log);
            if exited || panic.is_some() {
                let what = if exited {
                    "exited on its own"
                } else {
                    "panicked"
                };
                bail!(
                    "node {i} {what}; {}\n{}",
                    panic.unwrap_or_default(),
                    lead_up(&log)
                );
            }
        }
        Ok(())
    }

    /// Exports node `i`'s chain and verifies it offline, requiring every
    /// block to be attested by `orgs` organisations (retrying while
    /// attestations are still arriving).
    pub async fn verified_export(&self, i: usize, orgs: usize) -> Result<(Vec<u8>, ChainSummary)> {
        let start = Instant::now();
        loop {
            self.check_none_crashed()?;
            let bytes = self.client(i).export().await?;
            match verify(&bytes, orgs) {
                Ok(summary) => return Ok((bytes, summary)),
                Err(e) if start.elapsed() > Duration::from_secs(30) => {
                    return Err(e).context("exported chain does not verify")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    pub async fn stop(mut self) {
        let _ = self.devnet.stop();
    }
}

pub fn verify(bytes: &[u8], orgs: usize) -> Result<ChainSummary> {
    let mut reader = ChainReader::new(bytes)?;
    let mut verifier = ChainVerifier::new(reader.genesis().clone())?.require_attesting_orgs(orgs);
    Ok(verify_stream(&mut reader, &mut verifier, |_, _, _| Ok(()))?)
}

/// Every record id in a chain file, in chain order.
pub fn record_ids(bytes: &[u8]) -> Result<Vec<fundtrail_ledger::RecordId>> {
    let mut reader = ChainReader::new(bytes)?;
    let mut ids = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        ids.extend(entry.block.outcomes.iter().map(|o| o.record_id));
    }
    Ok(ids)
}

/// Checks that a chain file holds no record twice and every one of the
/// `acknowledged` records, of which there must be more than `at_least`.
pub fn each_acknowledged_once(
    bytes: &[u8],
    acknowledged: &[fundtrail_ledger::RecordId],
    at_least: usize,
) -> Result<()> {
    let ids = record_ids(bytes)?;
    let on_chain: std::collections::BTreeSet<_> = ids.iter().copied().collect();
    if on_chain.len() != ids.len() {
        bail!(
            "{} records are on the chain twice",
            ids.len() - on_chain.len()
        );
    }
    let lost = acknowledged
        .iter()
        .filter(|id| !on_chain.contains(id))
        .count();
    if lost > 0 {
        bail!("{lost} of {} acknowledged records lost", acknowledged.len());
    }
    if acknowledged.len() <= at_least {
        bail!("only {} records acknowledged", acknowledged.len());
    }
    Ok(())
}

/// Stops every node. A test that passed still fails here if a node panicked
/// or died on its own at any point, even after its last check.
impl Drop for TestCluster {
    fn drop(&mut self) {
        let crashed = self.check_none_crashed().err();
        for node in &self.devnet.nodes {
            if let Some(pid) = node.pid {
                signal(pid, "KILL");
            }
        }
        if let Some(e) = crashed.filter(|_| !std::thread::panicking()) {
            panic!("{e:#}");
        }
    }
}

/// A response as it came over the wire, for tests of status codes and
/// error bodies.
#[derive(Debug)]
pub struct Http {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

impl Http {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The `error` of a JSON error body, if the body is one.
    pub fn error(&self) -> Option<String> {
        self.json()["error"].as_str().map(str::to_string)
    }
}

/// Sends a request through `client` (signed if it has a key) and returns
/// the answer whatever its status.
pub async fn http(
    client: &NodeClient,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Http> {
    let response = client.send(method, path, body, content_type).await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await?;
    Ok(Http {
        status,
        content_type,
        text,
    })
}

impl TestCluster {
    /// Node `i`'s API base URL.
    pub fn api(&self, i: usize) -> &str {
        &self.devnet.nodes[i].api
    }

    /// The `fundtrail` binary the nodes run.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// GET `path` on node `i`, whatever the status.
    pub async fn http_get(&self, i: usize, path: &str) -> Result<Http> {
        http(
            &self.client(i),
            reqwest::Method::GET,
            path,
            None,
            Vec::new(),
        )
        .await
    }

    /// GET `path` through `client`, whatever the status.
    pub async fn http_get_with(&self, client: &NodeClient, path: &str) -> Result<Http> {
        http(client, reqwest::Method::GET, path, None, Vec::new()).await
    }

    /// POST `body` as JSON to `path` through `client`, whatever the status.
    pub async fn http_post_with(
        &self,
        client: &NodeClient,
        path: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<Http> {
        let json = Some("application/json");
        http(client, reqwest::Method::POST, path, json, body.into()).await
    }

    /// POST `body` as JSON to `path` on node `i`, whatever the status.
    pub async fn http_post(&self, i: usize, path: &str, body: impl Into<String>) -> Result<Http> {
        self.http_post_as(i, path, "application/json", body.into())
            .await
    }

    /// POST `body` as `content_type` to `path` on node `i`, whatever the
    /// status.
    pub async fn http_post_as(
        &self,
        i: usize,
        path: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<Http> {
        http(
            &self.client(i),
            reqwest::Method::POST,
            path,
            Some(content_type),
            body.into(),
        )
        .await
    }

    /// Node `i`'s head height.
    pub async fn height(&self, i: usize) -> Result<u64> {
        self.client(i).get("/v1/head").await?["height"]
            .as_u64()
            .context("the head has no height")
    }

    /// Waits until node `i` has applied `height` (a record committed through
    /// another node reaches it a little later).
    pub async fn wait_for_height(&self, i: usize, height: u64, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while self.height(i).await.unwrap_or(0) < height {
            if tokio::time::Instant::now() > deadline {
                bail!("node {i} did not reach height {height} within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// The genesis the cluster was laid out with.
    pub fn genesis(&self) -> Result<fundtrail_ledger::Genesis> {
        fundtrail_node::config::read_genesis(&self.devnet.dir.join("genesis.json"))
    }
}

/// The height, index and outcome of a receipt of a record on the chain:
/// committed by this request, or already committed before it.
pub fn committed(line: &SubmitLine) -> Option<(u64, u32, &fundtrail_ledger::Outcome)> {
    use fundtrail_node::wire::Receipt;
    match line {
        SubmitLine::Receipt(
            Receipt::Committed {
                height,
                index,
                outcome,
            }
            | Receipt::AlreadyCommitted {
                height,
                index,
                outcome,
            },
        ) => Some((height.0, *index, outcome)),
        _ => None,
    }
}

/// A base port whose node ports (base..base+5) and API ports
/// (base+100..base+105) are free now, for a devnet a test lays out itself.
pub fn free_base_port() -> u16 {
    base_port()
}

/// What led to a crash: the 60 log lines before the first panic (its
/// backtrace fills the end of the log), or the last 40 lines without one.
fn lead_up(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    match lines.iter().position(|l| l.contains("panicked at")) {
        Some(at) => format!(
            "its log before the panic:\n{}",
            lines[at.saturating_sub(60)..at].join("\n")
        ),
        None => format!(
            "its log ends:\n{}",
            lines[lines.len().saturating_sub(40)..].join("\n")
        ),
    }
}

/// A panic's message and location: the lines after "panicked at", above
/// the backtrace that fills the rest of the log.
fn first_panic(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    let at = lines.iter().position(|l| l.contains("panicked at"))?;
    Some(lines[at..lines.len().min(at + 3)].join("\n"))
}
