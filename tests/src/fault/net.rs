//! The lab's network: a hub namespace holding a bridge, one namespace per
//! node and one for the clients, each joined to the bridge by a veth pair
//! with its own address in 10.77.0.0/24, as separate hosts on one LAN. nft
//! rules in a node's namespace cut it off (both ways or one way); a
//! `fault-relay` process (`src/bin/fault_relay.rs`) spliced between a
//! node's veth and the bridge makes its link slow and lossy. Everything a lab makes is
//! named `ftf-<pid>-…` and removed when it drops; a new lab first removes
//! what a dead run left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

/// Names of every namespace, mount point and directory a lab makes begin
/// with this and the making process's pid.
pub const PREFIX: &str = "ftf-";

/// Ports every node uses in its own namespace.
pub const P2P_PORT: u16 = 7000;
pub const API_PORT: u16 = 8443;

pub struct Lab {
    run: String,
    nodes: usize,
    relays: BTreeMap<usize, Child>,
}

/// Runs a command, failing with its stderr.
pub fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Runs a command, feeding it `input` on stdin (for `nft -f -`).
fn run_with_input(args: &[&str], input: &str) -> Result<()> {
    use std::io::Write;
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", args[0]))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}\ninput:\n{input}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Why namespaces cannot be made here, or `None` when they can.
pub fn not_permitted() -> Option<String> {
    let probe = format!("{PREFIX}{}-probe", std::process::id());
    match run(&["ip", "netns", "add", &probe]) {
        Ok(()) => {
            let _ = run(&["ip", "netns", "del", &probe]);
            None
        }
        Err(e) => Some(format!("{e:#}")),
    }
}

impl Lab {
    /// Makes the hub, `nodes` node namespaces and the client namespace,
    /// after removing what runs that are no longer alive left behind.
    pub fn create(nodes: usize) -> Result<Lab> {
        sweep();
        let mut lab = Lab {
            run: format!("{PREFIX}{}", std::process::id()),
            nodes,
            relays: BTreeMap::new(),
        };
        // A lab of this process that a failed test left: its namespaces go.
        lab.remove_namespaces();
        lab.build().context("building the lab's network")?;
        Ok(lab)
    }

    fn build(&mut self) -> Result<()> {
        let hub = self.hub();
        run(&["ip", "netns", "add", &hub])?;
        run(&["ip", "-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &hub, "link", "set", "br0", "up"])?;
        let members: Vec<(String, String, String)> = (0..self.nodes)
            .map(|i| (self.node_ns(i), format!("n{i}"), node_ip(i)))
            .chain([(self.client_ns(), "cli".to_string(), client_ip())])
            .collect();
        for (ns, port, ip) in members {
            run(&["ip", "netns", "add", &ns])?;
            run(&[
                "ip", "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            run(&[
                "ip", "-n", &hub, "link", "set", &port, "master", "br0", "up",
            ])?;
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                "eth0",
            ])?;
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
            // Wire-sized frames with their checksums, for the relay.
            no_offloads(&ns, "eth0")?;
            no_offloads(&hub, &port)?;
        }
        Ok(())
    }

    /// This run's name, the prefix of everything it makes.
    pub fn run_name(&self) -> &str {
        &self.run
    }

    pub fn hub(&self) -> String {
        format!("{}-hub", self.run)
    }

    pub fn node_ns(&self, i: usize) -> String {
        format!("{}-n{i}", self.run)
    }

    pub fn client_ns(&self) -> String {
        format!("{}-cli", self.run)
    }

    /// Drops traffic between every node of `a` and every node of `b`,
    /// both ways. Clients still reach every node.
    pub fn partition(&self, a: &[usize], b: &[usize]) -> Result<()> {
        for &i in a {
            self.drop_rules(i, b, true)?;
        }
        for &j in b {
            self.drop_rules(j, a, true)?;
        }
        Ok(())
    }

    /// Node `at` no longer hears anything `from` sends; what it sends
    /// still arrives.
    pub fn deafen(&self, at: usize, from: &[usize]) -> Result<()> {
        self.drop_rules(at, from, false)
    }

    fn drop_rules(&self, at: usize, others: &[usize], both_ways: bool) -> Result<()> {
        let ips: Vec<String> = others.iter().map(|&j| node_ip(j)).collect();
        let set = ips.join(", ");
        let output = if both_ways {
            format!("add rule inet fault output ip daddr {{ {set} }} drop\n")
        } else {
            String::new()
        };
        let rules = format!(
            "table inet fault {{\n\
               chain input {{ type filter hook input priority 0; policy accept; }}\n\
               chain output {{ type filter hook output priority 0; policy accept; }}\n\
             }}\n\
             add rule inet fault input ip saddr {{ {set} }} drop\n{output}"
        );
        run_with_input(
            &["ip", "netns", "exec", &self.node_ns(at), "nft", "-f", "-"],
            &rules,
        )
    }

    /// Removes every drop rule.
    pub fn heal_partitions(&self) -> Result<()> {
        for i in 0..self.nodes {
            let ns = self.node_ns(i);
            let listed = Command::new("ip")
                .args(["netns", "exec", &ns, "nft", "list", "tables"])
                .output()
                .context("listing nft tables")?;
            if String::from_utf8_lossy(&listed.stdout).contains("inet fault") {
                run(&[
                    "ip", "netns", "exec", &ns, "nft", "delete", "table", "inet", "fault",
                ])?;
            }
        }
        Ok(())
    }

    /// Splices `relay` between node `i`'s veth and the bridge: every frame
    /// to or from the node waits `min_ms`..`max_ms` and one in
    /// 1000/`loss_permille` is lost.
    pub fn slow_link(
        &mut self,
        i: usize,
        relay: &Path,
        (min_ms, max_ms): (u64, u64),
        loss_permille: u32,
        seed: u64,
    ) -> Result<()> {
        let hub = self.hub();
        let (port, inner, outer) = (format!("n{i}"), format!("r{i}a"), format!("r{i}b"));
        run(&[
            "ip", "-n", &hub, "link", "add", &inner, "type", "veth", "peer", "name", &outer,
        ])?;
        no_offloads(&hub, &inner)?;
        no_offloads(&hub, &outer)?;
        run(&[
            "ip", "-n", &hub, "link", "set", &inner, "promisc", "on", "up",
        ])?;
        run(&["ip", "-n", &hub, "link", "set", &port, "promisc", "on"])?;
        run(&[
            "ip", "-n", &hub, "link", "set", &outer, "master", "br0", "up",
        ])?;
        run(&["ip", "-n", &hub, "link", "set", &port, "nomaster"])?;
        let child = Command::new("ip")
            .args(["netns", "exec", &hub])
            .arg(relay)
            .args([
                &port,
                &inner,
                &min_ms.to_string(),
                &max_ms.to_string(),
                &loss_permille.to_string(),
                &seed.to_string(),
            ])
            .stdin(Stdio::null())
            .spawn()
            .context("starting the relay")?;
        self.relays.insert(i, child);
        Ok(())
    }

    /// Takes node `i`'s relay out again: its veth joins the bridge directly.
    pub fn fast_link(&mut self, i: usize) -> Result<()> {
        let Some(mut relay) = self.relays.remove(&i) else {
            return Ok(());
        };
        if let Ok(Some(status)) = relay.try_wait() {
            bail!("the relay of node {i} had exited: {status}");
        }
        let _ = relay.kill();
        let _ = relay.wait();
        let hub = self.hub();
        let port = format!("n{i}");
        run(&["ip", "-n", &hub, "link", "del", &format!("r{i}a")])?;
        run(&["ip", "-n", &hub, "link", "set", &port, "promisc", "off"])?;
        run(&["ip", "-n", &hub, "link", "set", &port, "master", "br0"])
    }

    fn remove_namespaces(&mut self) {
        for relay in self.relays.values_mut() {
            let _ = relay.kill();
            let _ = relay.wait();
        }
        self.relays.clear();
        for ns in namespaces() {
            if ns.starts_with(&format!("{}-", self.run)) {
                remove_namespace(&ns);
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.remove_namespaces();
    }
}

pub fn node_ip(i: usize) -> String {
    format!("10.77.0.{}", 10 + i)
}

pub fn client_ip() -> String {
    "10.77.0.100".to_string()
}

fn no_offloads(ns: &str, dev: &str) -> Result<()> {
    run(&[
        "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off",
        "gro", "off",
    ])
}

fn namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Kills whatever still runs in namespace `ns`, then deletes it.
fn remove_namespace(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill")
                .args(["-KILL", pid])
                .stderr(Stdio::null())
                .status();
        }
    }
    let _ = run(&["ip", "netns", "del", ns]);
}

/// The pid a lab's name carries (`ftf-<pid>-…`).
fn run_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Removes namespaces, unmounts file systems and deletes temporary
/// directories of labs whose process has exited.
fn sweep() {
    let dead =
        |name: &str| run_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
    for ns in namespaces() {
        if dead(&ns) {
            eprintln!("fault lab: removing namespace {ns} a dead run left");
            remove_namespace(&ns);
        }
    }
    for mount in stale_mounts() {
        let name = mount
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .find(|c| c.starts_with(PREFIX))
            .map(str::to_string);
        if name.as_deref().is_some_and(dead) {
            eprintln!("fault lab: unmounting {} a dead run left", mount.display());
            let _ = run(&["umount", "-l", &mount.to_string_lossy()]);
        }
    }
    let temp = std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten();
    for entry in temp {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(PREFIX)
            && dead(&name)
            && !stale_mounts().iter().any(|m| m.starts_with(entry.path()))
        {
            eprintln!(
                "fault lab: removing {} a dead run left",
                entry.path().display()
            );
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Mount points under a directory named with [`PREFIX`].
fn stale_mounts() -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| p.contains(&format!("/{PREFIX}")))
        .map(PathBuf::from)
        .collect()
}
