//! `fundtrail disclose`: fetch the raw bill behind an accepted disclosure
//! that the caller's organisation filed. Each fetch draws on the
//! disclosure's grant: the officer's `--key` signs a `disclosure_fetch`
//! record, which the rules accept only within the grant's count and
//! window, so the chain shows who saw the bill and when. The officer's own
//! node then asks the holder over libp2p and checks that the bill is the
//! disclosure target's and matches its on-chain commitment; this command
//! checks both again against the records as the node serves them, then
//! writes the bill to a file readable only by its owner. Nothing of the
//! bill is printed.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use fundtrail_contracts::RuleCode;
use fundtrail_ledger::block::Verdict;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::record::{
    DisclosureBody, DisclosureFetchBody, Envelope, RecordBody, RecordId, SignedRecord,
};
use fundtrail_ledger::store::RecordEntry;
use rand_core::RngCore;
use serde_json::{json, Value};

use super::client::{NodeArgs, NodeClient};
use crate::api::SubmitLine;
use crate::vault::check_commitment;
use crate::vault::disclose::is_bill_of;
use crate::wire::{Receipt, VaultEntry};

/// What `fundtrail disclose` was asked to do.
pub struct DiscloseArgs<'a> {
    /// The node, and the officer key that signs the fetch and the requests.
    pub node: &'a NodeArgs,
    pub disclosure: &'a str,
    pub out: &'a Path,
    pub as_json: bool,
}

pub async fn run(args: DiscloseArgs<'_>) -> Result<()> {
    let client = args.node.client()?;
    let disclosure = RecordId::from_hex(args.disclosure)
        .context("the disclosure id must be 64 hex characters")?;
    let officer = crate::keys::read(&args.node.key)?;
    let (filed, body) = accepted_disclosure(&client, &disclosure).await?;
    let fetch = sign_fetch(&filed, &body, &officer);
    submit_fetch(&client, &fetch).await?;
    let answer = client
        .post(
            &format!("/v1/disclosures/{disclosure}/fetch"),
            &json!({ "fetch": fetch.id() }),
        )
        .await
        .context("fetching the disclosed record")?;
    let entry: VaultEntry = serde_json::from_value(answer["entry"].clone())
        .context("the node's answer carries no raw record")?;
    check_again(&client, &body, &entry).await?;
    write_private(args.out, &entry.raw_bill)?;
    report(&entry, &fetch.id(), args.out, args.as_json);
    Ok(())
}

/// The disclosure record as the node has it, if the rules accepted it.
async fn accepted_disclosure(
    client: &NodeClient,
    id: &RecordId,
) -> Result<(RecordEntry, DisclosureBody)> {
    let filed = record(client, id).await.context("reading the disclosure")?;
    let RecordBody::Disclosure(body) = &filed.record.envelope.body else {
        bail!("record {id} is not a disclosure");
    };
    if let Verdict::Rejected { code } = &filed.outcome.verdict {
        bail!(
            "the disclosure was rejected by the rules ({code}: {}); it grants no fetch",
            meaning(code.as_str())
        );
    }
    let body = body.clone();
    Ok((filed, body))
}

/// The officer's fetch under the disclosure `filed`.
fn sign_fetch(filed: &RecordEntry, body: &DisclosureBody, officer: &Keypair) -> SignedRecord {
    let fetch = RecordBody::DisclosureFetch(DisclosureFetchBody {
        disclosure: filed.outcome.record_id,
        target: body.target,
    });
    let envelope = Envelope::new(
        filed.record.envelope.chain_id.clone(),
        fetch,
        officer.public(),
        rand_core::OsRng.next_u64(),
    );
    envelope.sign(officer)
}

/// Puts the fetch on the chain; an error unless the rules accepted it.
async fn submit_fetch(client: &NodeClient, fetch: &SignedRecord) -> Result<()> {
    let lines = client
        .submit_applied(std::slice::from_ref(fetch))
        .await
        .context("submitting the disclosure fetch")?;
    let outcome = match lines.into_iter().next() {
        Some(SubmitLine::Receipt(Receipt::Committed { outcome, .. })) => outcome,
        Some(SubmitLine::Receipt(Receipt::Refused { reason, .. })) => {
            bail!("the node refused the disclosure fetch: {reason}")
        }
        Some(other) => bail!("the disclosure fetch was not committed: {other:?}"),
        None => bail!("the node answered the disclosure fetch with no receipt"),
    };
    if let Verdict::Rejected { code } = outcome.verdict {
        bail!(
            "the disclosure fetch {} was rejected by the rules ({code}: {})",
            fetch.id(),
            meaning(code.as_str())
        );
    }
    Ok(())
}

fn meaning(code: &str) -> &'static str {
    RuleCode::parse(code).map_or("a code this build does not know", RuleCode::meaning)
}

/// Checks the delivered bill against the chain as the node serves it: it
/// is the bill of the disclosure's target, and matches its commitment.
async fn check_again(client: &NodeClient, body: &DisclosureBody, entry: &VaultEntry) -> Result<()> {
    let target = record(client, &body.target)
        .await
        .context("reading the disclosure's target")?;
    let delivered = record(client, &entry.record_id)
        .await
        .context("reading the delivered bill's claim")?;
    if !is_bill_of(&target, &delivered) {
        bail!(
            "the delivered raw bill is of record {}, not the bill behind the disclosure's target {}",
            entry.record_id,
            body.target
        );
    }
    if let Err(e) = check_commitment(&delivered, entry) {
        bail!("the delivered raw bill fails the check against the chain: {e}");
    }
    Ok(())
}

async fn record(client: &NodeClient, id: &RecordId) -> Result<RecordEntry> {
    let v: Value = client.get(&format!("/v1/records/{id}")).await?;
    serde_json::from_value(v).context("the node's record is not in the expected form")
}

/// Writes `bytes` to a new or emptied file with mode 0600 (an existing
/// file is narrowed to 0600 before anything is written to it).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {} to its owner", path.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn report(entry: &VaultEntry, fetch: &RecordId, out: &Path, as_json: bool) {
    if as_json {
        let v = json!({
            "claim": entry.record_id,
            "fetch": fetch,
            "bytes": entry.raw_bill.len(),
            "out": out,
            "matches_commitment": true,
        });
        println!("{v}");
        return;
    }
    println!(
        "raw bill of claim {} ({} bytes) matches its on-chain commitment; written to {} \
         (fetch {fetch} on the chain)",
        entry.record_id,
        entry.raw_bill.len(),
        out.display()
    );
}
