//! `fundtrail verify` and `fundtrail audit report`: the auditor's offline
//! checks of a chain file or a stopped node's data directory — hash links,
//! Merkle roots, every signature (batch-verified in parallel), the
//! attestation quorum, and a full contract replay that recomputes every
//! outcome and state root — and the audit report built in the same pass.
//! Equivocation evidence the file carries is checked as it is read and
//! shown beside the verdict; it does not change the verdict on the chain.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fundtrail_audit::report::{CheckpointSeen, ReportBuilder, Verification};
use fundtrail_contracts::{AuditError, AuditReport, Auditor};
use fundtrail_ledger::block::Genesis;
use fundtrail_ledger::chainfile::{BlockEntry, ChainFileError, ChainReader};
use fundtrail_ledger::evidence::Equivocation;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::types::Height;
use fundtrail_ledger::verify::QuorumRule;
use indicatif::{ProgressBar, ProgressStyle};

use super::checkpoint::HeldCheckpoint;
use crate::evidence::EvidenceJson;

/// A chain file to read, exported first if the path is a data directory.
pub struct ChainSource {
    pub file: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl ChainSource {
    pub fn open(path: &Path) -> Result<ChainSource> {
        if !path.is_dir() {
            return Ok(ChainSource {
                file: path.to_path_buf(),
                _temp: None,
            });
        }
        let store = fundtrail_ledger::store::Store::open(path).with_context(|| {
            format!(
                "opening data directory {} (is its node stopped?)",
                path.display()
            )
        })?;
        let temp = tempfile::tempdir()?;
        let file = temp.path().join("chain.ftc");
        let out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        store
            .export(out)
            .context("reading the chain out of the data directory")?;
        Ok(ChainSource {
            file,
            _temp: Some(temp),
        })
    }

    pub fn reader(&self) -> Result<ChainReader<std::io::BufReader<std::fs::File>>> {
        let file = std::fs::File::open(&self.file)
            .with_context(|| format!("opening {}", self.file.display()))?;
        ChainReader::new(std::io::BufReader::new(file))
            .with_context(|| format!("{} is not a valid chain file", self.file.display()))
    }
}

/// What an audit of one chain found.
pub struct Audited {
    pub genesis: Genesis,
    pub report: AuditReport,
    pub error: Option<AuditError>,
    /// Block hashes at the heights asked for (for prefix checks).
    pub hashes_at: Vec<(Height, Hash32)>,
    /// Equivocation evidence read before the audit ended.
    pub equivocations: Vec<Equivocation>,
}

/// Audits the whole chain, feeding every block read to `on_block` as
/// well (the report builder), with a progress bar unless `quiet`.
pub fn audit(
    source: &ChainSource,
    quorum: Option<usize>,
    quiet: bool,
    watch: &[Height],
    mut on_block: impl FnMut(&BlockEntry) + Send,
) -> Result<Audited> {
    let mut reader = source.reader()?;
    let genesis = reader.genesis().clone();
    let last = reader.header().to_height;
    let rule = quorum.map_or(QuorumRule::MajorityAtEachHeight, QuorumRule::AtLeast);
    let mut auditor = Auditor::new(genesis.clone())
        .context("genesis keys")?
        .require(rule);
    let bar = progress(last.0, quiet);
    let mut hashes_at = Vec::new();
    let entries = std::iter::from_fn(|| reader.next_entry().transpose()).inspect(
        |e: &Result<BlockEntry, ChainFileError>| {
            if let Ok(entry) = e {
                on_block(entry);
            }
        },
    );
    let streamed = auditor.audit_stream(entries, |b| {
        bar.inc(1);
        if watch.contains(&b.height) {
            hashes_at.push((b.height, b.hash.hash()));
        }
    });
    bar.finish_and_clear();
    let equivocations = reader.equivocations().to_vec();
    let error = streamed.err();
    let report = auditor.report();
    let error = match error {
        Some(e) => Some(e),
        None => auditor.finish(last).err(),
    };
    Ok(Audited {
        genesis,
        report,
        error,
        hashes_at,
        equivocations,
    })
}

fn progress(blocks: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    ProgressBar::new(blocks).with_style(
        ProgressStyle::with_template(
            "verifying {bar:40} {pos}/{len} blocks ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

/// What `fundtrail verify` also checks a chain against.
pub struct Against<'a> {
    /// An older export that must be a prefix.
    pub older: Option<&'a Path>,
    /// A signed checkpoint the chain must reach and agree with.
    pub checkpoint: Option<&'a Path>,
}

/// `fundtrail verify`.
pub fn verify(path: &Path, quorum: Option<usize>, against: Against, json: bool) -> Result<()> {
    let older = against.older.map(older_head).transpose()?;
    let watch: Vec<Height> = older.iter().map(|(h, _)| *h).collect();
    let mut held = against.checkpoint.map(HeldCheckpoint::read).transpose()?;
    let source = ChainSource::open(path)?;
    let audited = audit(&source, quorum, json, &watch, |entry| {
        if let Some(h) = held.as_mut() {
            h.push(&entry.block.hash());
        }
    })?;
    let prefix = older.map(|(h, hash)| prefix_check(&audited, h, hash));
    print_verification(&audited, prefix.as_ref(), json)?;
    if let Some(e) = &audited.error {
        bail!(
            "the chain does not verify (first failure at height {})",
            e.height()
        );
    }
    if let Some(Err(msg)) = prefix {
        bail!("{msg}");
    }
    if let Some(held) = held {
        let seen = held.conclude(&audited.genesis, audited.report.head_height)?;
        if !seen.consistent {
            bail!("{}", seen.verdict);
        }
        let line = format!(
            "checkpoint: {}; signed by {}",
            seen.verdict,
            seen.signers.join(", ")
        );
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    Ok(())
}

/// The head of an older export, after checking that file on its own.
fn older_head(path: &Path) -> Result<(Height, Hash32)> {
    let source = ChainSource::open(path)?;
    let audited = audit(&source, Some(0), true, &[], |_| {})?;
    if let Some(e) = audited.error {
        bail!("the older export {} does not verify: {e}", path.display());
    }
    Ok((audited.report.head_height, audited.report.head_hash))
}

fn prefix_check(audited: &Audited, height: Height, hash: Hash32) -> Result<String, String> {
    if height == Height(0) {
        return Ok("the older export is empty: trivially a prefix".into());
    }
    match audited.hashes_at.iter().find(|(h, _)| *h == height) {
        Some((_, h)) if *h == hash => Ok(format!(
            "the older export (head {height}) is a prefix of this chain"
        )),
        Some(_) => Err(format!(
            "NOT CONSISTENT: at height {height} this chain has a different block than the older export"
        )),
        None => Err(format!(
            "NOT CONSISTENT: this chain does not reach the older export's head {height}"
        )),
    }
}

fn print_verification(
    a: &Audited,
    prefix: Option<&Result<String, String>>,
    json: bool,
) -> Result<()> {
    let r = &a.report;
    if json {
        let error = a.error.as_ref().map(|e| {
            serde_json::json!({
                "height": e.height(),
                "record": e.record().map(|id| id.to_hex()),
                "message": e.to_string(),
            })
        });
        let prefix = prefix.map(|p| match p {
            Ok(m) => serde_json::json!({ "ok": true, "message": m }),
            Err(m) => serde_json::json!({ "ok": false, "message": m }),
        });
        let ok = a.error.is_none() && prefix.as_ref().is_none_or(|p| p["ok"] == true);
        let equivocations: Vec<EvidenceJson> = a
            .equivocations
            .iter()
            .map(|e| EvidenceJson::new(&a.genesis, e))
            .collect();
        let out = serde_json::json!({
            "ok": ok,
            "report": r,
            "error": error,
            "consistency": prefix,
            "equivocations": equivocations,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match &a.error {
        None => println!(
            "verification OK: {} blocks, {} records ({} accepted, {} rejected); head {} {}; \
state root {} recomputed by contract replay; every block attested by at least {} organisations",
            r.blocks,
            r.records,
            r.accepted,
            r.rejected,
            r.head_height,
            r.head_hash.to_hex(),
            r.state_root.to_hex(),
            r.attestations.min_orgs.unwrap_or(0)
        ),
        Some(e) => println!("verification FAILED: {e}"),
    }
    for line in equivocation_lines(&a.genesis, &a.equivocations) {
        println!("{line}");
    }
    for k in &r.refused_keys {
        println!(
            "REFUSED KEY: a member record at height {} added key {}, which signs nothing: {}",
            k.height,
            k.key.short(),
            k.reason
        );
    }
    for (code, n) in &r.rejected_by_code {
        println!("  rejected {code:<24} {n}");
    }
    if let Some(p) = prefix {
        match p {
            Ok(m) | Err(m) => println!("{m}"),
        }
    }
    Ok(())
}

/// One line per piece of equivocation evidence, naming the node, its
/// organisation, the height and both blocks.
pub fn equivocation_lines(genesis: &Genesis, evidence: &[Equivocation]) -> Vec<String> {
    evidence
        .iter()
        .map(|e| {
            let key = e.node_key();
            let org = genesis
                .org_of_key(&key)
                .map_or_else(|| "an unknown organisation".into(), |o| o.id.to_string());
            let (chain, other) = (e.chain_block.to_hex(), e.conflicting_block().to_hex());
            let what = if e.chain_attestation.is_some() {
                "attested two blocks"
            } else {
                "attested a block other than the chain's"
            };
            format!(
                "EQUIVOCATION: node {} of {org} {what} at height {}: {chain} (the chain's) and {other}",
                key.short(),
                e.height()
            )
        })
        .collect()
}

/// `fundtrail audit report`: verification plus the report, in one pass.
pub fn report(
    path: &Path,
    out: &Path,
    quorum: Option<usize>,
    checkpoint: Option<&Path>,
) -> Result<()> {
    let source = ChainSource::open(path)?;
    let genesis = source.reader()?.genesis().clone();
    let mut builder = ReportBuilder::new(&genesis);
    let mut held = checkpoint.map(HeldCheckpoint::read).transpose()?;
    let audited = audit(&source, quorum, false, &[], |e| {
        builder.add_block(&e.block);
        if let Some(h) = held.as_mut() {
            h.push(&e.block.hash());
        }
    })?;
    let mut verification = Verification::from_audit(&audited.report, audited.error.as_ref());
    if let Some(held) = held {
        hold_to(
            &mut verification,
            held.conclude(&genesis, audited.report.head_height)?,
        );
    }
    let failed = (!verification.ok).then(|| verification.error.clone().unwrap_or_default());
    builder.add_equivocations(&audited.equivocations);
    let report = builder.finish(verification);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (json, html) = fundtrail_audit::write_report(out, &report)
        .with_context(|| format!("writing the report to {}", out.display()))?;
    println!("audit report: {} and {}", json.display(), html.display());
    for line in equivocation_lines(&genesis, &audited.equivocations) {
        println!("{line}");
    }
    match failed {
        None => Ok(()),
        Some(e) => bail!("the chain did not verify (the report says where): {e}"),
    }
}

/// Records the checkpoint in the verification; a chain that is stale,
/// truncated or forked against it did not verify.
pub fn hold_to(verification: &mut Verification, seen: CheckpointSeen) {
    if !seen.consistent && verification.ok {
        verification.ok = false;
        verification.error = Some(seen.verdict.clone());
    }
    verification.checkpoint = Some(seen);
}
