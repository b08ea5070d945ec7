//! The departments' nodes in the lab: a devnet laid out by `fundtrail
//! devnet`'s own code, whose `node.toml` files are rewritten to the
//! addresses of the lab's hosts (each node listens on its own address,
//! reaches its peers at theirs, and serves a TLS certificate for its
//! address), then run unchanged, one node process per namespace. Kills,
//! pauses and restarts act on those processes; one node's data directory
//! can be a small tmpfs, to fill up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fundtrail_node::cli::client::NodeClient;
use fundtrail_node::cli::devnet::{Devnet, Plan};
use fundtrail_node::config::NodeConfig;
use fundtrail_testkit::Kit;

use super::net::{node_ip, run, Lab, API_PORT, P2P_PORT};

pub struct LabNode {
    pub org: String,
    pub config: PathBuf,
    pub log: PathBuf,
    pub data: PathBuf,
    process: Option<Child>,
    paused: bool,
}

/// Field order is drop order: processes stop, then the tmpfs goes, then
/// the namespaces, then the files.
pub struct LabCluster {
    pub nodes: Vec<LabNode>,
    /// Where each node's log is copied when the cluster drops.
    pub keep_logs: Option<PathBuf>,
    /// With libfaketime: the directory of each node's clock offset file.
    clocks: Option<PathBuf>,
    small_disk: Option<PathBuf>,
    pub devnet: Devnet,
    pub kit: Kit,
    pub lab: Lab,
    exe: PathBuf,
    _dir: tempfile::TempDir,
}

impl LabCluster {
    /// Lays out `nodes` departments in `lab`; node `small_disk.0`'s data
    /// directory is a tmpfs of `small_disk.1` MiB; Raft heartbeats every
    /// `heartbeat_ms` if given. Nothing starts yet.
    pub fn create(
        lab: Lab,
        exe: &Path,
        nodes: usize,
        small_disk: Option<(usize, u64)>,
        heartbeat_ms: Option<u64>,
    ) -> Result<LabCluster> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", lab.run_name()))
            .tempdir()?;
        let kit = Kit::new(7);
        // Batching and Raft timings as `fundtrail devnet` writes them: the
        // defaults an operator starts from, or a slower heartbeat with
        // elections 5-10 heartbeats long, as for a WAN.
        let mut plan = Plan::from_kit(&kit);
        if let Some(ms) = heartbeat_ms {
            plan.raft.heartbeat_ms = ms;
            plan.raft.election_timeout_min_ms = 5 * ms;
            plan.raft.election_timeout_max_ms = 10 * ms;
        }
        let mut devnet = Devnet::create(dir.path(), nodes, &plan, P2P_PORT)?;
        let ca = fundtrail_node::tls::LocalCa::new("fundtrail fault lab CA")?;
        std::fs::write(devnet.ca_file(), ca.cert_pem())?;
        let configs: Vec<NodeConfig> = devnet
            .nodes
            .iter()
            .map(|n| read_config(&n.config))
            .collect::<Result<_>>()?;
        let ips: Vec<(fundtrail_ledger::PublicKey, String)> = configs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Ok((
                    fundtrail_node::keys::read(&c.node_key)?.public(),
                    node_ip(i),
                ))
            })
            .collect::<Result<_>>()?;
        let mut lab_nodes = Vec::new();
        for (i, mut config) in configs.into_iter().enumerate() {
            let ip = node_ip(i);
            config.listen = format!("/ip4/{ip}/tcp/{P2P_PORT}");
            config.api = format!("{ip}:{API_PORT}").parse()?;
            for peer in &mut config.peers {
                let (_, peer_ip) = ips
                    .iter()
                    .find(|(k, _)| *k == peer.node_key)
                    .context("a peer outside the devnet")?;
                peer.address = format!("/ip4/{peer_ip}/tcp/{P2P_PORT}");
            }
            let (cert, key) = ca.issue(std::slice::from_ref(&ip))?;
            let tls_dir = config
                .tls
                .cert_file
                .as_ref()
                .and_then(|p| p.parent())
                .context("the devnet node has a TLS certificate")?
                .to_path_buf();
            std::fs::remove_file(tls_dir.join("node.key"))?;
            fundtrail_node::tls::write_node_files(&tls_dir, &cert, &key)?;
            let node = &mut devnet.nodes[i];
            std::fs::write(&node.config, toml::to_string_pretty(&config)?)?;
            node.api = format!("https://{ip}:{API_PORT}");
            node.p2p = config.listen.clone();
            lab_nodes.push(LabNode {
                org: node.org.to_string(),
                config: node.config.clone(),
                log: node.log.clone(),
                data: config.data_dir.clone(),
                process: None,
                paused: false,
            });
        }
        let mut cluster = LabCluster {
            nodes: lab_nodes,
            keep_logs: None,
            clocks: None,
            small_disk: None,
            devnet,
            kit,
            lab,
            exe: exe.to_path_buf(),
            _dir: dir,
        };
        if let Some((i, mib)) = small_disk {
            let data = cluster.nodes[i].data.clone();
            std::fs::create_dir_all(&data)?;
            run(&[
                "mount",
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
                &data.to_string_lossy(),
            ])?;
            cluster.small_disk = Some(data);
        }
        Ok(cluster)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Starts node `i` in its namespace with its `node.toml`.
    pub fn start(&mut self, i: usize) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let node = &self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        // `ip netns exec` enters the namespace and execs the node in place,
        // so the child's pid is the node's.
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.lab.node_ns(i)])
            .arg(&self.exe)
            .arg("run")
            .arg("--config")
            .arg(&node.config);
        if let Some(clocks) = &self.clocks {
            // Only the wall clock moves; timers run on the monotonic one.
            command
                .env("LD_PRELOAD", FAKETIME_LIB)
                .env("FAKETIME_TIMESTAMP_FILE", clocks.join(format!("n{i}")))
                .env("FAKETIME_NO_CACHE", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting a node")?;
        self.nodes[i].process = Some(child);
        self.nodes[i].paused = false;
        Ok(())
    }

    /// Runs every node under libfaketime (from the next start), each with
    /// its wall clock at the true time until [`Self::shift_clock`].
    pub fn fake_clocks(&mut self) -> Result<()> {
        if !Path::new(FAKETIME_LIB).exists() {
            bail!("{FAKETIME_LIB} is missing (scripts/setup.sh installs faketime)");
        }
        let dir = self._dir.path().join("clocks");
        std::fs::create_dir_all(&dir)?;
        for i in 0..self.len() {
            std::fs::write(dir.join(format!("n{i}")), "+0\n")?;
        }
        self.clocks = Some(dir);
        Ok(())
    }

    /// Sets node `i`'s wall clock `offset` from the true time (libfaketime's
    /// form: `+1d`, `-2h`, `+0`); the node reads it at its next clock call.
    pub fn shift_clock(&self, i: usize, offset: &str) -> Result<()> {
        let dir = self
            .clocks
            .as_ref()
            .context("the nodes run without fake clocks")?;
        std::fs::write(dir.join(format!("n{i}")), format!("{offset}\n"))?;
        Ok(())
    }

    pub fn start_all(&mut self) -> Result<()> {
        (0..self.len()).try_for_each(|i| self.start(i))
    }

    /// SIGKILL to node `i`, waiting until it is gone.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.nodes[i].paused = false;
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) to node `i`.
    pub fn pause(&mut self, i: usize, stop: bool) -> Result<()> {
        let pid = self.pid(i).context("the node is not running")?;
        let sig = if stop { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: a signal to a child this cluster started and has not reaped.
        if unsafe { libc::kill(pid as i32, sig) } != 0 {
            bail!("signalling node {i}: {}", std::io::Error::last_os_error());
        }
        self.nodes[i].paused = stop;
        Ok(())
    }

    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].process.as_ref().map(Child::id)
    }

    /// Whether node `i` was started and has exited since, without being
    /// killed by the cluster; its exit status.
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        self.nodes[i]
            .process
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Forgets an exited node's process (after [`Self::exited`] saw it).
    pub fn reap(&mut self, i: usize) {
        self.nodes[i].process = None;
    }

    pub fn running(&self, i: usize) -> bool {
        self.nodes[i].process.is_some()
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// The first panic in any node's log, with its node.
    pub fn panic(&self) -> Option<(usize, String)> {
        (0..self.len()).find_map(|i| {
            let log = self.log(i);
            let lines: Vec<&str> = log.lines().collect();
            let at = lines.iter().position(|l| l.contains("panicked at"))?;
            Some((i, lines[at..lines.len().min(at + 3)].join("\n")))
        })
    }

    /// A client of node `i` over the lab's network (usable only from the
    /// client namespace), signing as the node's organisation's submitter.
    pub fn client(&self, i: usize) -> Result<NodeClient> {
        self.devnet.client(i)
    }

    /// The small disk's mount point, if a node has one.
    pub fn small_disk(&self) -> Option<&Path> {
        self.small_disk.as_deref()
    }

    /// Fills the small disk to its last byte with a filler file; returns
    /// the filler's path.
    pub fn fill_small_disk(&self) -> Result<PathBuf> {
        use std::io::Write;
        let disk = self.small_disk().context("no node has a small disk")?;
        let filler = disk.join("filler");
        let mut file = std::fs::File::create(&filler)?;
        let chunk = vec![0u8; 1 << 20];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => return Err(e).context("filling the small disk"),
            }
        }
        let _ = file.sync_all();
        // A last partial chunk may still fit.
        let _ = file.write(&chunk[..4096]);
        Ok(filler)
    }

    /// Waits until every running node answers `/v1/head` with a leader.
    pub async fn ready(&self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        for i in (0..self.len()).filter(|i| self.running(*i)) {
            let client = self.client(i)?;
            loop {
                match client.get("/v1/head").await {
                    Ok(h) if !h["raft"]["leader"].is_null() => break,
                    other => {
                        if start.elapsed() > limit {
                            bail!(
                                "node {i} is not ready: {:?}\n{}",
                                other.err(),
                                tail(&self.log(i))
                            );
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }
}

impl Drop for LabCluster {
    fn drop(&mut self) {
        for i in 0..self.len() {
            if self.nodes[i].paused {
                let _ = self.pause(i, false);
            }
            self.kill9(i);
        }
        if let Some(dir) = &self.keep_logs {
            for node in &self.nodes {
                let _ = std::fs::create_dir_all(dir);
                let _ = std::fs::copy(&node.log, dir.join(format!("{}.log", node.org)));
            }
        }
        if let Some(disk) = self.small_disk.take() {
            if let Err(e) = run(&["umount", &disk.to_string_lossy()]) {
                eprintln!("fault lab: {e:#}; unmounting lazily");
                let _ = run(&["umount", "-l", &disk.to_string_lossy()]);
            }
        }
    }
}

/// libfaketime for multi-threaded programs, as Debian's `faketime` installs it.
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

fn read_config(path: &Path) -> Result<NodeConfig> {
    let text = std::fs::read_to_string(path)?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The last 30 lines of a log.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
