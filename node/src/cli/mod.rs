//! The `fundtrail` command line: every subcommand's arguments and the code
//! that runs it. Output meant for scripts comes with `--json`.

pub mod access_log;
pub mod bench;
mod bench_cluster;
mod bench_figures;
mod bench_load;
pub mod checkpoint;
pub mod client;
pub mod demo;
pub mod devnet;
pub mod disclose;
pub mod genesis;
pub mod governance;
pub mod query;
pub mod sign;
pub mod submit;
pub mod vault;
pub mod verify;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fundtrail",
    version,
    about = "fundtrail: a permissioned ledger for China's medical-protection funds",
    long_about = "fundtrail: a permissioned ledger that the insurance (医保), civil-affairs (民政), \
health (卫健) and finance (财政) departments run together. Each department runs a node; their \
systems append signed records to one shared, hash-chained ledger, every node re-executes the \
same deterministic rules, and auditors verify the chain offline.\n\n\
Start with `fundtrail demo --dir /tmp/ft-demo`, or `fundtrail devnet up --dir DIR --nodes 4`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Generate an ed25519 key file (node, submitter or officer key), or
    /// with --pseudonym the consortium's pseudonym key, or with --vault a
    /// node's vault key.
    Keygen {
        /// Where to write the key (mode 0600, never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Generate the consortium pseudonym (HMAC) key instead.
        #[arg(long, conflicts_with = "vault")]
        pseudonym: bool,
        /// Generate a vault key (the secret that seals a node's vault at
        /// rest) instead; keep it outside the node's data directory.
        #[arg(long)]
        vault: bool,
        /// Key epoch of a pseudonym key.
        #[arg(long, default_value_t = 1)]
        epoch: u32,
        /// Print the public key as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build the genesis document from a consortium TOML file (orgs, roles,
    /// keys, funds, policy regions).
    Genesis {
        /// The consortium file; see README "Configuration".
        #[arg(long)]
        config: PathBuf,
        /// Where to write genesis.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// The main job: a four-department devnet of real processes runs a
    /// seeded year of realistic records with injected abuses, then the
    /// chain is exported, verified independently and reported on.
    Demo(demo::DemoArgs),
    /// Sign a department's JSON-lines file (raw identifiers, pseudonymised
    /// here) and submit it; prints one JSON outcome per line.
    Submit(submit::SubmitArgs),
    /// Verify a chain file or a stopped node's data directory offline:
    /// links, Merkle roots, every signature, the attestation quorum, and a
    /// full contract replay. Non-zero exit on any mismatch.
    Verify {
        /// A chain file (from `export`) or a node's data directory.
        path: PathBuf,
        /// Organisations that must attest every block (default: a majority
        /// of the organisations running nodes).
        #[arg(long)]
        quorum: Option<usize>,
        /// Also prove that this older export is a prefix of the chain.
        #[arg(long)]
        consistent_with: Option<PathBuf>,
        /// A signed checkpoint (from `checkpoint get`): the chain must
        /// reach its size and hold its blocks, or it is stale, truncated
        /// or forked.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Signed checkpoints (C2SP): get one from the nodes, print a
    /// genesis's verifier keys, check one's signatures.
    Checkpoint {
        #[command(subcommand)]
        action: checkpoint::CheckpointAction,
    },
    /// Membership changes approved by a quorum of organisations: propose,
    /// sign (each officer, offline), status, submit; and show the
    /// membership in force.
    Governance {
        #[command(subcommand)]
        action: governance::GovernanceAction,
    },
    /// Auditor's tools.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// A node's access log (操作日志): every read of person-level or raw
    /// data, hash-chained.
    AccessLog {
        #[command(subcommand)]
        action: access_log::AccessLogAction,
    },
    /// The node's private vault, while its node is stopped.
    Vault {
        #[command(subcommand)]
        action: vault::VaultAction,
    },
    /// Run a node until SIGTERM or Ctrl-C.
    Run {
        /// The node's configuration file (node.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// A local network of real node processes with generated keys.
    Devnet {
        #[command(subcommand)]
        action: DevnetAction,
    },
    /// Read from a node: a record, claim, person, fund, block or the head.
    Query {
        #[command(flatten)]
        node: client::NodeArgs,
        #[command(subcommand)]
        what: query::Target,
    },
    /// Fetch the raw bill behind an accepted disclosure your organisation
    /// filed (submit the `disclosure` line first). Your officer key signs a
    /// `disclosure_fetch` record, which the rules accept only within the
    /// disclosure's grant (how many fetches, until when); your node then
    /// asks the holder; the bill is checked to be the disclosure target's
    /// and to match its on-chain commitment, and is written to a file only
    /// you can read. Nothing of it is printed.
    Disclose {
        /// Your organisation's node, and your officer key.
        #[command(flatten)]
        node: client::NodeArgs,
        /// The disclosure record's id (hex).
        disclosure: String,
        /// Where to write the raw bill (created with mode 0600).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The one-stop entitlement split (一站式结算) for a claim.
    Quote {
        #[command(flatten)]
        node: client::NodeArgs,
        /// Claim pseudonym as EPOCH:HEX.
        claim: String,
    },
    /// Benchmarks; each prints this machine's ed25519 batch-verify rate
    /// beside its figures (docs/PERFORMANCE.md).
    Bench {
        #[command(subcommand)]
        target: bench::BenchTarget,
    },
    /// Write an inclusion-proof file for a record and its outcome, with
    /// the attestations of its block.
    Prove {
        /// Record id (hex).
        record_id: String,
        #[command(flatten)]
        from: ChainAccess,
        /// Also prove the block in this signed checkpoint's tree, so the
        /// proof can be checked against the checkpoint alone.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a proof file offline: the record and outcome are in the
    /// block, and either enough organisations attested it (--genesis) or a
    /// signed checkpoint holds it (--checkpoint; with --genesis too, the
    /// checkpoint's signatures are checked as well).
    VerifyProof {
        proof: PathBuf,
        #[arg(long, required_unless_present = "checkpoint")]
        genesis: Option<PathBuf>,
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Organisations that must have attested (default: a majority of
        /// the organisations running nodes).
        #[arg(long)]
        quorum: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Write the chain (blocks and attestations) to a chain file, from a
    /// running node or from a stopped node's data directory.
    Export {
        #[command(flatten)]
        from: ChainAccess,
        #[arg(long)]
        out: PathBuf,
    },
}

/// Where a command reads the chain: a running node or a stopped node's
/// data directory.
#[derive(clap::Args)]
pub struct ChainAccess {
    /// A node's API URL.
    #[arg(long, conflicts_with = "data_dir", requires = "key")]
    pub node: Option<String>,
    /// The enrolled key that signs requests to the node.
    #[arg(long, env = "FUNDTRAIL_KEY")]
    pub key: Option<PathBuf>,
    /// The CA certificate (PEM) of the node's TLS certificate.
    #[arg(long, env = "FUNDTRAIL_CA")]
    pub ca: Option<PathBuf>,
    /// A stopped node's data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum AuditAction {
    /// Verify a chain and write report.json and a self-contained
    /// report.html (fund flows, rejections over time, signals,
    /// institutions, disclosures).
    Report {
        /// A chain file or a stopped node's data directory.
        #[arg(long)]
        chain: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        quorum: Option<usize>,
        /// A signed checkpoint the chain must reach and agree with; the
        /// report shows it and its signers.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum DevnetAction {
    /// Create (first time) and start the nodes, then wait for a leader.
    Up {
        #[arg(long)]
        dir: PathBuf,
        /// 1-5: insurance, civil affairs, health, finance, then an audit
        /// office learner.
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        /// First libp2p port; APIs listen 100 above.
        #[arg(long, default_value_t = 7100)]
        base_port: u16,
    },
    /// Stop the nodes (SIGTERM, then SIGKILL after 15 s).
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Each node's API URL, process and head.
    Status {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen {
            out,
            pseudonym,
            vault: vault_key,
            epoch,
            json,
        } => {
            if vault_key {
                vault::keygen(&out, json)
            } else {
                keygen(&out, pseudonym, epoch, json)
            }
        }
        Command::Vault { action } => vault::run(action),
        Command::Governance { action } => runtime()?.block_on(governance::run(action)),
        Command::AccessLog { action } => access_log::run(action),
        Command::Genesis { config, out } => {
            let spec = genesis::ConsortiumSpec::load(&config)?;
            let base = config.parent().unwrap_or(std::path::Path::new("."));
            let genesis = spec.genesis(base)?;
            genesis::write(&out, &genesis)?;
            println!(
                "genesis {} written to {}",
                genesis.hash().to_hex(),
                out.display()
            );
            Ok(())
        }
        Command::Demo(args) => runtime()?.block_on(demo::run(args)),
        Command::Submit(args) => runtime()?.block_on(submit::run(args)),
        Command::Verify {
            path,
            quorum,
            consistent_with,
            checkpoint,
            json,
        } => verify::verify(
            &path,
            quorum,
            verify::Against {
                older: consistent_with.as_deref(),
                checkpoint: checkpoint.as_deref(),
            },
            json,
        ),
        Command::Checkpoint { action } => runtime()?.block_on(checkpoint::run(action)),
        Command::Audit {
            action:
                AuditAction::Report {
                    chain,
                    out,
                    quorum,
                    checkpoint,
                },
        } => verify::report(&chain, &out, quorum, checkpoint.as_deref()),
        Command::Run { config } => {
            let config = crate::config::NodeConfig::load(&config)?;
            runtime()?.block_on(crate::node::run(config))
        }
        Command::Devnet { action } => runtime()?.block_on(devnet_action(action)),
        Command::Query { node, what } => runtime()?.block_on(query::run(&node.client()?, what)),
        Command::Disclose {
            node,
            disclosure,
            out,
            json,
        } => runtime()?.block_on(disclose::run(disclose::DiscloseArgs {
            node: &node,
            disclosure: &disclosure,
            out: &out,
            as_json: json,
        })),
        Command::Quote { node, claim } => {
            runtime()?.block_on(query::quote(&node.client()?, &claim))
        }
        Command::Bench { target } => bench::run(target),
        Command::Prove {
            record_id,
            from,
            checkpoint,
            out,
        } => runtime()?.block_on(prove(&record_id, from, checkpoint.as_deref(), &out)),
        Command::VerifyProof {
            proof,
            genesis,
            checkpoint,
            quorum,
            json,
        } => match checkpoint {
            Some(cp) => verify_proof_in(&proof, &cp, genesis.as_deref(), json),
            None => {
                let genesis = genesis.context("--genesis or --checkpoint is required")?;
                verify_proof(&proof, &genesis, quorum, json)
            }
        },
        Command::Export { from, out } => runtime()?.block_on(export(from, out)),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn keygen(out: &std::path::Path, pseudonym: bool, epoch: u32, json: bool) -> Result<()> {
    if pseudonym {
        crate::keys::generate_pseudonym(out, epoch)?;
        println!("pseudonym key (epoch {epoch}) written to {}", out.display());
        return Ok(());
    }
    let key = crate::keys::generate(out)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "public_key": key.public().to_hex(), "file": out })
        );
    } else {
        println!("{}  {}", key.public().to_hex(), out.display());
    }
    Ok(())
}

async fn devnet_action(action: DevnetAction) -> Result<()> {
    match action {
        DevnetAction::Up {
            dir,
            nodes,
            base_port,
        } => {
            let mut net = match devnet::Devnet::load(&dir) {
                Ok(net) => net,
                Err(_) => {
                    devnet::Devnet::create(&dir, nodes, &devnet::Plan::generated(), base_port)?
                }
            };
            net.start().await?;
            for n in &net.nodes {
                println!("{:<18} {}  pid {}", n.org, n.api, n.pid.unwrap_or(0));
            }
            Ok(())
        }
        DevnetAction::Down { dir } => {
            devnet::Devnet::load(&dir)?.stop()?;
            println!("devnet in {} stopped", dir.display());
            Ok(())
        }
        DevnetAction::Status { dir, json } => devnet_status(&dir, json).await,
    }
}

async fn devnet_status(dir: &std::path::Path, json: bool) -> Result<()> {
    let net = devnet::Devnet::load(dir)?;
    let mut rows = Vec::new();
    for (i, n) in net.nodes.iter().enumerate() {
        let running = n.pid.is_some_and(devnet::alive);
        let head = match net.client(i)?.get("/v1/head").await {
            Ok(h) => h,
            Err(_) => serde_json::Value::Null,
        };
        rows.push(serde_json::json!({
            "org": n.org, "api": n.api, "p2p": n.p2p, "pid": n.pid, "running": running,
            "height": head["height"], "hash": head["hash"], "leader": head["raft"]["leader"],
        }));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "nodes": rows }))?
        );
    } else {
        for r in rows {
            println!(
                "{:<18} {:<24} running={:<5} height={}",
                r["org"].as_str().unwrap_or(""),
                r["api"].as_str().unwrap_or(""),
                r["running"],
                r["height"]
            );
        }
    }
    Ok(())
}

impl ChainAccess {
    fn client(&self, url: &str) -> Result<client::NodeClient> {
        let credentials = client::Credentials::load(self.ca.as_deref(), self.key.as_deref())?;
        client::NodeClient::new(url, &credentials)
    }
}

async fn export(from: ChainAccess, out: PathBuf) -> Result<()> {
    let summary = match (&from.node, &from.data_dir) {
        (Some(url), _) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(&out)
                    .with_context(|| format!("creating {}", out.display()))?,
            );
            let bytes = from.client(url)?.export_to(&mut file).await?;
            std::io::Write::flush(&mut file)
                .with_context(|| format!("writing {}", out.display()))?;
            format!("{bytes} bytes")
        }
        (None, Some(dir)) => {
            let store = fundtrail_ledger::store::Store::open(dir)
                .with_context(|| format!("opening {} (is its node stopped?)", dir.display()))?;
            let file = std::io::BufWriter::new(std::fs::File::create(&out)?);
            let s = store.export(file).context("exporting")?;
            format!("{} blocks, {} records", s.blocks, s.records)
        }
        (None, None) => anyhow::bail!("give --node URL or --data-dir DIR"),
    };
    println!("exported {summary} to {}", out.display());
    Ok(())
}

async fn prove(
    record_id: &str,
    from: ChainAccess,
    checkpoint: Option<&std::path::Path>,
    out: &std::path::Path,
) -> Result<()> {
    let size = checkpoint
        .map(checkpoint::read)
        .transpose()?
        .map(|signed| signed.checkpoint().size());
    let proof = match (&from.node, &from.data_dir) {
        (Some(url), _) => {
            let client = from.client(url)?;
            let value = client
                .get(&format!("/v1/records/{record_id}/proof"))
                .await?;
            let mut proof: crate::proof::ProofFile =
                serde_json::from_value(value).context("the node's proof is malformed")?;
            if let Some(size) = size {
                let path = format!(
                    "/v1/checkpoint/inclusion/{}?size={size}",
                    proof.header.height
                );
                proof.block_in_checkpoint = Some(
                    serde_json::from_value(client.get(&path).await?)
                        .context("the node's block inclusion proof is malformed")?,
                );
            }
            proof
        }
        (None, Some(dir)) => proof_from_store(dir, record_id, size)?,
        (None, None) => anyhow::bail!("give --node URL or --data-dir DIR"),
    };
    crate::proof::write(out, &proof)?;
    println!(
        "proof of record {record_id} at height {} written to {}",
        proof.header.height,
        out.display()
    );
    Ok(())
}

fn proof_from_store(
    dir: &std::path::Path,
    record_id: &str,
    checkpoint_size: Option<u64>,
) -> Result<crate::proof::ProofFile> {
    let id = fundtrail_ledger::RecordId::from_hex(record_id).context("record id must be hex")?;
    let store = fundtrail_ledger::store::Store::open(dir)
        .with_context(|| format!("opening {} (is its node stopped?)", dir.display()))?;
    let entry = store.record(&id)?.context("no such record in this chain")?;
    let block = store
        .block(entry.height)?
        .context("block missing from the store")?;
    let mut proof = crate::proof::ProofFile::build(
        &block,
        entry.index as usize,
        store.attestations(entry.height)?,
    )?;
    if let Some(size) = checkpoint_size {
        proof.block_in_checkpoint = Some(crate::checkpoint::inclusion(&store, entry.height, size)?);
    }
    Ok(proof)
}

/// `verify-proof --checkpoint`: the record in its block, and the block in
/// the checkpoint's tree; with `genesis`, the checkpoint's signatures too.
fn verify_proof_in(
    path: &std::path::Path,
    checkpoint: &std::path::Path,
    genesis: Option<&std::path::Path>,
    json: bool,
) -> Result<()> {
    let proof = crate::proof::read(path)?;
    let signed = checkpoint::read(checkpoint)?;
    let signers = match genesis {
        Some(g) => checkpoint::check_signatures(&signed, &crate::config::read_genesis(g)?, None)?,
        None => Vec::new(),
    };
    let cp = signed.checkpoint();
    proof.verify_in(cp)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true, "record_id": proof.record.record_id(), "height": proof.header.height,
                "outcome": proof.outcome, "checkpoint_size": cp.size(), "checkpoint_root": cp.root(),
                "checkpoint_signers": signers,
            })
        );
    } else {
        println!(
            "record {} is in block {} with outcome {:?}; the block is in the checkpoint of {} blocks (root {})",
            proof.record.record_id().to_hex(),
            proof.header.height,
            proof.outcome.verdict,
            cp.size(),
            cp.root()
        );
    }
    Ok(())
}

fn verify_proof(
    path: &std::path::Path,
    genesis: &std::path::Path,
    quorum: Option<usize>,
    json: bool,
) -> Result<()> {
    let genesis = crate::config::read_genesis(genesis)?;
    let proof = crate::proof::read(path)?;
    let quorum = quorum.unwrap_or_else(|| crate::proof::default_quorum(&genesis));
    let orgs = proof.verify(&genesis)?;
    let ok = orgs >= quorum;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": ok, "record_id": proof.record.record_id(), "height": proof.header.height,
                "outcome": proof.outcome, "attesting_orgs": orgs, "quorum": quorum,
            })
        );
    } else {
        println!(
            "record {} is in block {} with outcome {:?}; attested by {orgs} organisations (quorum {quorum})",
            proof.record.record_id().to_hex(),
            proof.header.height,
            proof.outcome.verdict
        );
    }
    if !ok {
        anyhow::bail!("only {orgs} organisations attested the block; {quorum} required");
    }
    Ok(())
}
