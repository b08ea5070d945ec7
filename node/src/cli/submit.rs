//! `fundtrail submit`: a department's JSON-lines file (raw identifiers)
//! becomes signed records on this machine, is submitted to a node, and each
//! record's outcome is printed as one JSON line. A file with a bad line is
//! refused as a whole, naming the line, unless `--continue` is given.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use fundtrail_intake::{parse_file, parse_file_each, SubmissionLine};
use serde_json::{json, Value};

use super::client::NodeClient;
use super::sign::{HttpLookup, Signed, Signer};
use crate::api::SubmitLine;

/// Records per submit request.
const CHUNK: usize = 1000;

#[derive(Args)]
pub struct SubmitArgs {
    /// The node's API URL (normally your own department's node).
    #[arg(long)]
    pub node: String,
    /// The department's submitter key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Officer key files, for lines that ask for approvals (in order).
    #[arg(long = "officer")]
    pub officers: Vec<PathBuf>,
    /// The consortium pseudonym key (`fundtrail keygen --pseudonym`).
    #[arg(long)]
    pub pseudonym_key: PathBuf,
    /// Submit the good lines and report the bad ones, instead of refusing
    /// the whole file.
    #[arg(long = "continue")]
    pub keep_going: bool,
    /// Also keep each claim's raw bill and salt in the node's private vault
    /// (only for your own department's node).
    #[arg(long)]
    pub vault: bool,
    /// The JSON-lines file (see docs/SUBMISSION.md and examples/).
    pub file: PathBuf,
}

pub async fn run(args: SubmitArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let (lines, bad) = parse(&text, args.keep_going, &args.file)?;
    let client = NodeClient::new(&args.node)?;
    let signer = signer(&args, &client).await?;
    let lookup = HttpLookup {
        client: client.clone(),
    };
    let mut signed = Vec::new();
    let mut problems = bad;
    for (n, line) in lines {
        match signer.sign(n, line, &lookup) {
            Ok(s) => signed.push((n, s)),
            Err(e) if args.keep_going => problems.push((n, format!("{e:#}"))),
            Err(e) => bail!("{e:#}; nothing was submitted"),
        }
    }
    for (n, e) in &problems {
        println!("{}", json!({ "line": n, "error": e }));
    }
    submit_all(&client, &signed, args.vault).await?;
    if !problems.is_empty() {
        bail!("{} lines were not submitted", problems.len());
    }
    Ok(())
}

type Parsed = (Vec<(usize, SubmissionLine)>, Vec<(usize, String)>);

fn parse(text: &str, keep_going: bool, file: &Path) -> Result<Parsed> {
    if !keep_going {
        let lines = parse_file(text)
            .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was submitted", file.display()))?;
        return Ok((lines, Vec::new()));
    }
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (n, result) in parse_file_each(text) {
        match result {
            Ok(line) => good.push((n, line)),
            Err(e) => bad.push((n, e.to_string())),
        }
    }
    Ok((good, bad))
}

async fn signer(args: &SubmitArgs, client: &NodeClient) -> Result<Signer> {
    let head = client.get("/v1/head").await?;
    let chain_id = head["chain_id"]
        .as_str()
        .context("the node did not report its chain id")?
        .parse()
        .context("the node reported an invalid chain id")?;
    Ok(Signer {
        chain_id,
        submitter: crate::keys::read(&args.key)?,
        officers: args
            .officers
            .iter()
            .map(|p| crate::keys::read(p))
            .collect::<Result<_>>()?,
        pseudonyms: crate::keys::read_pseudonym(&args.pseudonym_key)?,
    })
}

async fn submit_all(client: &NodeClient, signed: &[(usize, Signed)], vault: bool) -> Result<()> {
    for chunk in signed.chunks(CHUNK) {
        let records: Vec<_> = chunk.iter().map(|(_, s)| s.record.clone()).collect();
        let receipts = client.submit_applied(&records).await?;
        for ((n, _), receipt) in chunk.iter().zip(&receipts) {
            let mut line = serde_json::to_value(receipt)?;
            if let Value::Object(map) = &mut line {
                map.insert("line".into(), json!(n));
            }
            println!("{line}");
        }
        if vault {
            deposit(client, chunk, &receipts).await?;
        }
    }
    Ok(())
}

/// Keeps the raw bills of the committed claims in the node's vault.
async fn deposit(
    client: &NodeClient,
    chunk: &[(usize, Signed)],
    receipts: &[SubmitLine],
) -> Result<()> {
    let entries: Vec<_> = chunk
        .iter()
        .zip(receipts)
        .filter(|(_, r)| {
            matches!(
                r,
                SubmitLine::Receipt(crate::wire::Receipt::Committed { .. })
            )
        })
        .filter_map(|((_, s), _)| s.vault_entry())
        .collect();
    if !entries.is_empty() {
        client
            .post("/v1/vault", &serde_json::to_value(&entries)?)
            .await?;
    }
    Ok(())
}
