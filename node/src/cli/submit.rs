//! `fundtrail submit`: a department's JSON-lines file (raw identifiers)
//! becomes signed records on this machine, is submitted to a node, and each
//! line's outcome is printed as one JSON line, with a summary in words on
//! stderr. A file with a bad line is refused as a whole, naming the line,
//! unless `--continue` is given. The exit code says how the file fared
//! (docs/SUBMISSION.md, "Exit codes").

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use fundtrail_intake::{check_references, parse_file, parse_file_each, SubmissionLine};
use serde_json::{json, Value};

use super::client::{Credentials, NodeClient};
use super::sign::{HttpLookup, Signed, Signer};
use crate::api::{SubmissionQuery, SubmitLine, MAX_LOOKUP_NONCES};
use crate::wire::Receipt;

/// Records per submit request.
const CHUNK: usize = 1000;

#[derive(Args)]
pub struct SubmitArgs {
    /// The node's API URL (normally your own department's node).
    #[arg(long)]
    pub node: String,
    /// The department's submitter key file; it also signs the requests.
    #[arg(long)]
    pub key: PathBuf,
    /// The CA certificate (PEM) of the node's TLS certificate (for a
    /// devnet, found beside its keys).
    #[arg(long, env = "FUNDTRAIL_CA")]
    pub ca: Option<PathBuf>,
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

/// A file that did not end with every line committed and accepted. Its
/// exit code tells scripts which: 1 when a line was not committed, 3 when
/// every line was committed but the rules rejected some.
#[derive(Debug, thiserror::Error)]
pub enum SubmitFailure {
    #[error("{0} lines were not committed")]
    NotCommitted(usize),
    #[error("{0} lines were committed but rejected by the rules")]
    Rejected(usize),
}

impl SubmitFailure {
    pub fn exit_code(&self) -> u8 {
        match self {
            SubmitFailure::NotCommitted(_) => 1,
            SubmitFailure::Rejected(_) => 3,
        }
    }
}

pub async fn run(args: SubmitArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let (lines, mut problems) = parse(&text, args.keep_going, &args.file)?;
    let credentials = Credentials::load(args.ca.as_deref(), Some(&args.key))?;
    let client = NodeClient::new(&args.node, &credentials)?;
    let signer = signer(&args, &client).await?;
    let (fresh, resubmitted) = split_resubmitted(&client, &signer, lines).await?;
    let lookup = HttpLookup {
        client: client.clone(),
    };
    let mut signed = Vec::new();
    for (n, line) in fresh {
        match signer.sign(n, line, &lookup) {
            Ok(s) => signed.push((n, s)),
            Err(e) if args.keep_going => problems.push((n, format!("{e:#}"))),
            Err(e) => bail!("{e:#}; nothing was submitted"),
        }
    }
    let mut tally = Tally::default();
    for (n, e) in &problems {
        tally.not_submitted += 1;
        println!(
            "{}",
            json!({ "line": n, "status": "not_submitted", "error": e })
        );
    }
    for (n, receipt) in &resubmitted {
        print_line(*n, &SubmitLine::Receipt(receipt.clone()), &mut tally)?;
    }
    submit_all(&client, &signed, args.vault, &mut tally).await?;
    eprintln!("submit: {tally}");
    tally.verdict()
}

type Parsed = (Vec<(usize, SubmissionLine)>, Vec<(usize, String)>);

/// The file's lines, refused as a whole at the first bad one (a bad line
/// or a reference reused for other content), or with `keep_going` the
/// good lines and each bad one's error.
fn parse(text: &str, keep_going: bool, file: &Path) -> Result<Parsed> {
    let refuse = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!("{}: {e}; nothing was submitted", file.display())
    };
    if !keep_going {
        let lines = parse_file(text).map_err(|e| refuse(&e))?;
        if let Some(e) = check_references(&lines).first() {
            return Err(refuse(e));
        }
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
    let reused: Vec<_> = check_references(&good)
        .into_iter()
        .map(|e| (e.line, e.error.to_string()))
        .collect();
    good.retain(|(n, _)| !reused.iter().any(|(r, _)| r == n));
    bad.extend(reused);
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

type Resubmitted = Vec<(usize, Receipt)>;

/// Sets apart the lines whose reference already named a committed record:
/// the same reference is the same record, whatever the chain now resolves
/// the line to, so these are answered with the original and not signed.
async fn split_resubmitted(
    client: &NodeClient,
    signer: &Signer,
    lines: Vec<(usize, SubmissionLine)>,
) -> Result<(Vec<(usize, SubmissionLine)>, Resubmitted)> {
    let (referenced, mut fresh): (Vec<_>, Vec<_>) = lines
        .into_iter()
        .partition(|(_, line)| line.reference().is_some());
    let mut resubmitted = Vec::new();
    for part in referenced.chunks(MAX_LOOKUP_NONCES) {
        let query = SubmissionQuery {
            submitter: signer.submitter.public(),
            nonces: part.iter().map(|(_, l)| signer.nonce(l)).collect(),
        };
        let answer = client
            .post("/v1/lookup/submissions", &serde_json::to_value(&query)?)
            .await?;
        let found: Vec<Option<Receipt>> = serde_json::from_value(answer)
            .context("the node answered the reference lookup with something else")?;
        if found.len() != part.len() {
            bail!("the node answered the reference lookup for other lines");
        }
        for ((n, line), receipt) in part.iter().cloned().zip(found) {
            match receipt {
                Some(r) => resubmitted.push((n, r)),
                None => fresh.push((n, line)),
            }
        }
    }
    fresh.sort_by_key(|(n, _)| *n);
    Ok((fresh, resubmitted))
}

async fn submit_all(
    client: &NodeClient,
    signed: &[(usize, Signed)],
    vault: bool,
    tally: &mut Tally,
) -> Result<()> {
    for chunk in signed.chunks(CHUNK) {
        let records: Vec<_> = chunk.iter().map(|(_, s)| s.record.clone()).collect();
        let receipts = client.submit_applied(&records).await?;
        if receipts.len() != chunk.len() {
            bail!(
                "the node answered {} records with {} receipts",
                chunk.len(),
                receipts.len()
            );
        }
        for ((n, _), receipt) in chunk.iter().zip(&receipts) {
            print_line(*n, receipt, tally)?;
        }
        if vault {
            deposit(client, chunk, &receipts).await?;
        }
    }
    Ok(())
}

/// Prints one line's outcome as JSON, with its line number and status.
fn print_line(n: usize, outcome: &SubmitLine, tally: &mut Tally) -> Result<()> {
    let status = tally.count(outcome);
    let mut line = serde_json::to_value(outcome)?;
    if let Value::Object(map) = &mut line {
        map.insert("line".into(), json!(n));
        map.insert("status".into(), json!(status));
    }
    println!("{line}");
    Ok(())
}

/// How the lines of a file ended.
#[derive(Default)]
struct Tally {
    accepted: usize,
    rejected: usize,
    already_accepted: usize,
    already_rejected: usize,
    refused: usize,
    errors: usize,
    not_submitted: usize,
}

impl Tally {
    /// Counts one outcome; returns its status word.
    fn count(&mut self, outcome: &SubmitLine) -> &'static str {
        match outcome {
            SubmitLine::Receipt(Receipt::Committed { outcome, .. }) => {
                self.tick_verdict(outcome.is_accepted(), false);
                "committed"
            }
            SubmitLine::Receipt(Receipt::AlreadyCommitted { outcome, .. }) => {
                self.tick_verdict(outcome.is_accepted(), true);
                "already_committed"
            }
            SubmitLine::Receipt(Receipt::Refused { .. }) => {
                self.refused += 1;
                "refused"
            }
            SubmitLine::Error { .. } => {
                self.errors += 1;
                "error"
            }
        }
    }

    fn tick_verdict(&mut self, accepted: bool, before: bool) {
        let slot = match (accepted, before) {
            (true, false) => &mut self.accepted,
            (false, false) => &mut self.rejected,
            (true, true) => &mut self.already_accepted,
            (false, true) => &mut self.already_rejected,
        };
        *slot += 1;
    }

    /// Ok only when every line's record is on the chain and accepted.
    fn verdict(&self) -> Result<()> {
        let not_committed = self.refused + self.errors + self.not_submitted;
        if not_committed > 0 {
            return Err(SubmitFailure::NotCommitted(not_committed).into());
        }
        let rejected = self.rejected + self.already_rejected;
        if rejected > 0 {
            return Err(SubmitFailure::Rejected(rejected).into());
        }
        Ok(())
    }
}

impl std::fmt::Display for Tally {
    /// E.g. "3 committed now (2 accepted, 1 rejected by the rules); 1
    /// already committed before, nothing changed (accepted)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdicts = |accepted: usize, rejected: usize| match (accepted, rejected) {
            (_, 0) => "accepted".to_string(),
            (0, _) => "rejected by the rules".to_string(),
            _ => format!("{accepted} accepted, {rejected} rejected by the rules"),
        };
        let mut parts = Vec::new();
        let now = self.accepted + self.rejected;
        if now > 0 {
            parts.push(format!(
                "{now} committed now ({})",
                verdicts(self.accepted, self.rejected)
            ));
        }
        let before = self.already_accepted + self.already_rejected;
        if before > 0 {
            parts.push(format!(
                "{before} already committed before, nothing changed ({})",
                verdicts(self.already_accepted, self.already_rejected)
            ));
        }
        for (n, what) in [
            (self.refused, "refused by the node, nothing changed"),
            (self.errors, "not confirmed by the chain (retry the file)"),
            (self.not_submitted, "not submitted"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if parts.is_empty() {
            parts.push("no lines".into());
        }
        f.write_str(&parts.join("; "))
    }
}

/// Keeps the raw bills of the committed claims in the node's vault (again
/// for a resubmission: a deposit of the same bill is idempotent).
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
                SubmitLine::Receipt(Receipt::Committed { .. } | Receipt::AlreadyCommitted { .. })
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
