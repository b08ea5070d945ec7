//! `fundtrail disclose`: fetch the raw bill behind an accepted disclosure
//! that the caller's organisation filed. The caller's own node asks the
//! holder over libp2p and checks the bill against the claim's on-chain
//! commitment; this command checks it again against the claim as the node
//! serves it, then writes the bill to a file readable only by its owner.
//! Nothing of the bill is printed.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use fundtrail_ledger::store::RecordEntry;
use serde_json::{json, Value};

use super::client::NodeClient;
use crate::vault::check_commitment;
use crate::wire::VaultEntry;

pub async fn run(client: &NodeClient, disclosure: &str, out: &Path, as_json: bool) -> Result<()> {
    let answer = client
        .post(&format!("/v1/disclosures/{disclosure}/fetch"), &Value::Null)
        .await
        .context("fetching the disclosed record")?;
    let entry: VaultEntry = serde_json::from_value(answer["entry"].clone())
        .context("the node's answer carries no raw record")?;
    let claim: RecordEntry = serde_json::from_value(
        client
            .get(&format!("/v1/records/{}", entry.record_id))
            .await
            .context("reading the disclosed claim")?,
    )
    .context("the node's claim record is not in the expected form")?;
    if let Err(e) = check_commitment(&claim, &entry) {
        bail!("the delivered raw bill fails the check against the chain: {e}");
    }
    write_private(out, &entry.raw_bill)?;
    report(&entry, out, as_json);
    Ok(())
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

fn report(entry: &VaultEntry, out: &Path, as_json: bool) {
    if as_json {
        let v = json!({
            "claim": entry.record_id,
            "bytes": entry.raw_bill.len(),
            "out": out,
            "matches_commitment": true,
        });
        println!("{v}");
        return;
    }
    println!(
        "raw bill of claim {} ({} bytes) matches its on-chain commitment; written to {}",
        entry.record_id,
        entry.raw_bill.len(),
        out.display()
    );
}
