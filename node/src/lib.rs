//! fundtrail-node: one department's node and the `fundtrail` command.
//!
//! - [`config`], [`keys`], [`roster`]: what a node loads and who its peers are.
//! - [`entry`]: a Raft log entry (a signed batch of records) and openraft's
//!   type configuration.
//! - [`wire`]: every message nodes exchange and the bounded frames carrying them.
//! - [`chain`]: the store plus block production, admission and snapshot install.
//! - [`consortium`]: the membership in force, as the API shows it.
//! - [`checkpoint`]: this node's signed checkpoints, and the vkeys of a genesis;
//!   [`cosigned`]: the checkpoints the nodes sign together and gossip;
//!   [`witness`]: a tlog-witness cosigning the chain's checkpoints.
//! - [`p2p`]: the permissioned libp2p swarm; [`refusals`]: refused peer
//!   messages, counted and logged.
//! - [`raft`]: openraft's log store, state machine and network adapter.
//! - [`submit`]: admission, forwarding to the leader, batching.
//! - [`vault`]: raw bills kept private, disclosed only under an on-chain record.
//! - [`api`]: the HTTP API; [`node`]: `fundtrail run`.
//! - [`evidence`]: the JSON form of equivocation evidence.
//! - [`access_log`]: the hash-chained log of reads of person-level and raw
//!   data (操作日志).

pub mod access;
pub mod access_log;
pub mod api;
pub mod chain;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod consortium;
pub mod cosigned;
pub mod cpu;
pub mod entry;
pub mod evidence;
pub mod keys;
pub mod metrics;
pub mod node;
pub mod owner_only;
pub mod p2p;
pub mod proof;
pub mod raft;
pub mod refusals;
pub mod roster;
pub mod serve;
pub mod submit;
pub mod tls;
pub mod vault;
pub mod verified;
pub mod wire;
pub mod witness;

/// The whole `fundtrail` command: parse arguments, start logging, run.
/// (The end-to-end tests build a copy of the binary from this.)
pub fn main_entry() -> anyhow::Result<()> {
    use clap::Parser;
    let cli = cli::Cli::parse();
    init_logging();
    cli::run(cli)
}

/// The `fundtrail` process: [`main_entry`], its error on stderr, and the
/// exit code [`exit_code`] gives it.
pub fn main_exit() -> std::process::ExitCode {
    match main_entry() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(exit_code(&e))
        }
    }
}

/// The process exit code for an error `main_entry` returned: `submit`'s
/// own codes (docs/SUBMISSION.md, "Exit codes"), 1 for anything else.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    error
        .downcast_ref::<cli::submit::SubmitFailure>()
        .map_or(1, cli::submit::SubmitFailure::exit_code)
}

/// Logs go to stderr; `FUNDTRAIL_LOG` filters (tracing's env-filter syntax)
/// and `FUNDTRAIL_LOG_FORMAT=json` gives one JSON object per line.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FUNDTRAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn,libp2p=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("FUNDTRAIL_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
