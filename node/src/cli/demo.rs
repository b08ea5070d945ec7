//! `fundtrail demo`: the main job. Starts a four-department devnet of real
//! node processes, generates a seeded year of realistic records (thousands
//! of people and claims across six prefectures, the full settlement chain)
//! with known injected abuses, payment by groups in two prefectures and an
//! upcoding hospital, submits it wave by wave through all four
//! nodes, prints what the chain decided (the period settlements and the
//! hospital flagged for upcoding among it), exports the chain, verifies it
//! independently (with a full contract replay) and writes the audit report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use fundtrail_audit::report::{CheckpointSeen, ReportBuilder, Verification};
use fundtrail_ledger::block::Verdict;
use fundtrail_ledger::types::Role;
use fundtrail_testkit::scenario::{self, outcome_matches, Scenario, ScenarioConfig, Submission};
use fundtrail_testkit::Kit;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use super::checkpoint::{self, HeldCheckpoint};
use super::client::NodeClient;
use super::devnet::{Devnet, Plan};
use super::sign::{HttpLookup, Signed, Signer};
use super::verify::{audit, ChainSource};
use crate::api::SubmitLine;
use crate::wire::Receipt;

/// Records per submit request, and requests in flight at once.
const CHUNK: usize = 250;
const IN_FLIGHT: usize = 8;

#[derive(Args)]
pub struct DemoArgs {
    /// Working directory (created; must not hold a devnet already).
    #[arg(long)]
    pub dir: PathBuf,
    /// People in the generated population.
    #[arg(long, default_value_t = 3000)]
    pub people: usize,
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// First libp2p port; the APIs listen 100 above.
    #[arg(long, default_value_t = 7100)]
    pub base_port: u16,
    /// Leave the devnet running afterwards (stop it with `devnet down`).
    #[arg(long)]
    pub keep_running: bool,
    /// Also write the summary as JSON here.
    #[arg(long)]
    pub summary: Option<PathBuf>,
}

/// What the demo saw, for people and for tests.
#[derive(Debug, Default, Serialize)]
pub struct DemoSummary {
    pub records: usize,
    pub accepted: usize,
    pub rejected_by_code: BTreeMap<String, usize>,
    pub injected_by_code: BTreeMap<String, usize>,
    pub signals_by_code: BTreeMap<String, usize>,
    /// Lines whose outcome differed from what the generator planned.
    pub unexpected: usize,
    pub not_committed: usize,
    pub fund_balances: BTreeMap<String, String>,
    pub verification_ok: bool,
    pub verification: String,
    pub chain_file: PathBuf,
    pub report: PathBuf,
    /// The final signed checkpoint (C2SP) and the organisations' node keys
    /// that signed it.
    pub checkpoint: PathBuf,
    pub checkpoint_signers: Vec<String>,
    /// Regions whose period settlement by points was accepted, with the
    /// point value (yuan per point).
    pub settled_regions: BTreeMap<String, String>,
    /// Institutions the `UPCODING` signal flagged.
    pub upcoding_flagged: Vec<String>,
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let scenario = generate(&args)?;
    let kit = Kit::new(scenario::KIT_SEED);
    let mut plan = Plan::from_kit(&kit);
    plan.genesis = scenario.genesis.clone();
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    write_inputs(&args.dir, &scenario)?;
    println!(
        "starting a devnet of 4 department nodes in {}",
        args.dir.display()
    );
    let mut devnet = Devnet::create(&args.dir, 4, &plan, args.base_port)?;
    devnet.start().await?;
    let result = drive(&args, &devnet, &scenario, &kit).await;
    if !args.keep_running {
        devnet.stop()?;
    }
    let summary = result?;
    if let Some(path) = &args.summary {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)?;
    }
    if !summary.verification_ok {
        bail!("independent verification FAILED: {}", summary.verification);
    }
    Ok(())
}

fn generate(args: &DemoArgs) -> Result<Scenario> {
    let spinner = ProgressBar::new_spinner().with_message(format!(
        "generating a year of records for {} people (seed {})",
        args.people, args.seed
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let scenario = scenario::generate(&ScenarioConfig {
        seed: args.seed,
        people: args.people,
    })
    .context("generating the scenario")?;
    spinner.finish_and_clear();
    let lines: usize = scenario.waves.iter().map(|w| w.lines.len()).sum();
    println!(
        "generated {lines} records in {} waves for {} people; injected abuses: {}",
        scenario.waves.len(),
        args.people,
        scenario.expected.values().sum::<usize>()
    );
    Ok(scenario)
}

/// The departments' input files, as they would hand them to `submit`.
fn write_inputs(dir: &Path, scenario: &Scenario) -> Result<()> {
    let input = dir.join("input");
    std::fs::create_dir_all(&input)?;
    for (i, wave) in scenario.waves.iter().enumerate() {
        let text: String = wave.lines.iter().map(|s| s.line.to_json() + "\n").collect();
        std::fs::write(
            input.join(format!("{:02}-{}.jsonl", i + 1, wave.name)),
            text,
        )?;
    }
    Ok(())
}

async fn drive(
    args: &DemoArgs,
    devnet: &Devnet,
    scenario: &Scenario,
    kit: &Kit,
) -> Result<DemoSummary> {
    let clients = devnet.clients()?;
    let signers = signers(kit, &scenario.genesis.chain_id);
    let mut summary = DemoSummary {
        injected_by_code: scenario.expected.clone(),
        ..DemoSummary::default()
    };
    let bars = MultiProgress::new();
    let mut line_no = 0usize;
    for wave in &scenario.waves {
        let signed = sign_wave(&signers, wave.lines.clone(), &clients[0], &mut line_no)?;
        let receipts = submit_wave(&clients, &signed, &bars, &wave.name).await?;
        tally(&mut summary, &wave.lines, &receipts);
        deposit_raw_bills(&clients, &signed, &receipts).await?;
    }
    bars.clear().ok();
    print_outcomes(&summary);
    // Finance reads every fund's detail (docs/API.md "Access").
    let finance = clients.get(3).unwrap_or(&clients[0]);
    fund_balances(finance, scenario, &mut summary).await?;
    verify_export(args, &clients, &mut summary).await?;
    Ok(summary)
}

/// Each department's signer, for the chain the devnet runs.
fn signers(kit: &Kit, chain_id: &fundtrail_ledger::ChainId) -> BTreeMap<Role, Signer> {
    kit.orgs
        .iter()
        .map(|o| {
            let mut signer = Signer::of_kit(kit, o.role);
            signer.chain_id = chain_id.clone();
            (o.role, signer)
        })
        .collect()
}

fn sign_wave(
    signers: &BTreeMap<Role, Signer>,
    lines: Vec<Submission>,
    client: &NodeClient,
    line_no: &mut usize,
) -> Result<Vec<Signed>> {
    let lookup = HttpLookup {
        client: client.clone(),
    };
    lines
        .into_iter()
        .map(|s| {
            *line_no += 1;
            let signer = signers.get(&s.role).context("no keys for a role")?;
            signer.sign(*line_no, s.line, &lookup)
        })
        .collect()
}

/// Submits one wave through all nodes, a few requests at a time, and
/// returns the receipts in line order once every record is committed.
async fn submit_wave(
    clients: &[NodeClient],
    signed: &[Signed],
    bars: &MultiProgress,
    name: &str,
) -> Result<Vec<SubmitLine>> {
    let bar = bars.add(
        ProgressBar::new(signed.len() as u64).with_style(
            ProgressStyle::with_template("{prefix:>20} {bar:40} {pos}/{len} records")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
    );
    bar.set_prefix(name.to_string());
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::new();
    for (i, chunk) in signed.chunks(CHUNK).enumerate() {
        let client = clients[i % clients.len()].clone();
        let records: Vec<_> = chunk.iter().map(|s| s.record.clone()).collect();
        let (slots, bar) = (slots.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await?;
            let receipts = client.submit(&records).await?;
            bar.inc(records.len() as u64);
            anyhow::Ok(receipts)
        }));
    }
    let mut receipts = Vec::with_capacity(signed.len());
    for t in tasks {
        receipts.extend(t.await??);
    }
    bar.finish();
    Ok(receipts)
}

fn tally(summary: &mut DemoSummary, lines: &[Submission], receipts: &[SubmitLine]) {
    for (line, receipt) in lines.iter().zip(receipts) {
        summary.records += 1;
        let outcome = match receipt {
            SubmitLine::Receipt(
                Receipt::Committed { outcome, .. } | Receipt::AlreadyCommitted { outcome, .. },
            ) => outcome,
            _ => {
                summary.not_committed += 1;
                continue;
            }
        };
        match &outcome.verdict {
            Verdict::Accepted => summary.accepted += 1,
            Verdict::Rejected { code } => {
                *summary
                    .rejected_by_code
                    .entry(code.to_string())
                    .or_default() += 1
            }
        }
        for s in &outcome.signals {
            *summary.signals_by_code.entry(s.to_string()).or_default() += 1;
        }
        if !outcome_matches(line.expect, outcome) {
            summary.unexpected += 1;
        }
    }
}

/// The health department keeps the raw bills of its claims in its own
/// node's vault (node 2); they never reach the chain.
async fn deposit_raw_bills(
    clients: &[NodeClient],
    signed: &[Signed],
    receipts: &[SubmitLine],
) -> Result<()> {
    let entries: Vec<_> = signed
        .iter()
        .zip(receipts)
        .filter(|(_, r)| {
            matches!(
                r,
                SubmitLine::Receipt(Receipt::Committed { .. } | Receipt::AlreadyCommitted { .. })
            )
        })
        .filter_map(|(s, _)| s.vault_entry())
        .collect();
    for chunk in entries.chunks(CHUNK * 4) {
        clients[2]
            .post("/v1/vault", &serde_json::to_value(chunk)?)
            .await?;
    }
    Ok(())
}

fn print_outcomes(s: &DemoSummary) {
    println!();
    println!(
        "{} records committed: {} accepted, {} rejected",
        s.records - s.not_committed,
        s.accepted,
        s.rejected_by_code.values().sum::<usize>()
    );
    println!(
        "  {:<30} {:>9} {:>9}",
        "rejection code", "injected", "rejected"
    );
    let codes: std::collections::BTreeSet<&String> = s
        .injected_by_code
        .keys()
        .chain(s.rejected_by_code.keys())
        .collect();
    for code in codes {
        let injected = s.injected_by_code.get(code).copied().unwrap_or(0);
        let rejected = s.rejected_by_code.get(code).copied().unwrap_or(0);
        println!("  {code:<30} {injected:>9} {rejected:>9}");
    }
    for (code, n) in &s.signals_by_code {
        println!("  {:<30} {n:>9}", format!("signal {code}"));
    }
    if s.unexpected == 0 && s.not_committed == 0 {
        println!("every outcome is the one the generator planned");
    } else {
        println!(
            "WARNING: {} outcomes differ from the plan, {} records not committed",
            s.unexpected, s.not_committed
        );
    }
}

async fn fund_balances(
    client: &NodeClient,
    scenario: &Scenario,
    s: &mut DemoSummary,
) -> Result<()> {
    println!("fund balances:");
    for fund in &scenario.genesis.funds {
        let v: Value = client.get(&format!("/v1/funds/{}", fund.id)).await?;
        let balance = v["entry"]["balance"].as_str().unwrap_or("?").to_string();
        println!(
            "  {:<16} opening {:>16}  now {:>16}",
            fund.id.to_string(),
            fund.opening_balance.to_string(),
            balance
        );
        s.fund_balances.insert(fund.id.to_string(), balance);
    }
    Ok(())
}

/// Exports the chain once every block carries all four attestations,
/// then verifies it offline and writes the audit report.
async fn verify_export(args: &DemoArgs, clients: &[NodeClient], s: &mut DemoSummary) -> Result<()> {
    let file = args.dir.join("chain.ftc");
    std::fs::write(&file, fully_attested_export(&clients[0]).await?)?;
    println!("exported the chain to {}", file.display());
    let source = ChainSource::open(&file)?;
    let genesis = source.reader()?.genesis().clone();
    let head = source.reader()?.header().to_height;
    let signed = checkpoint::gather(&clients[0], &clients[1..], Some(head.0)).await?;
    s.checkpoint = args.dir.join("checkpoint.txt");
    std::fs::write(&s.checkpoint, signed.to_string())
        .with_context(|| format!("writing {}", s.checkpoint.display()))?;
    let mut held = HeldCheckpoint::new(signed);
    let mut builder = ReportBuilder::new(&genesis);
    let audited = audit(&source, Some(4), false, &[], |e| {
        builder.add_block(&e.block);
        held.push(&e.block.hash());
    })?;
    let seen = held.conclude(&genesis, head)?;
    let report_dir = args.dir.join("report");
    std::fs::create_dir_all(&report_dir)?;
    let mut verification = Verification::from_audit(&audited.report, audited.error.as_ref());
    super::verify::hold_to(&mut verification, seen.clone());
    let report = builder.finish(verification);
    fundtrail_audit::write_report(&report_dir, &report)?;
    payment_outcome(&report, s);
    s.chain_file = file;
    s.report = report_dir.join(fundtrail_audit::HTML_FILE);
    let r = &audited.report;
    match &audited.error {
        None => {
            s.verification_ok = true;
            s.verification = format!(
                "{} blocks, {} records, signatures, links, roots, attestations by all 4 \
organisations and a full contract replay (state root {})",
                r.blocks,
                r.records,
                r.state_root.to_hex()
            );
            println!("independent verification: OK — {}", s.verification);
        }
        Some(e) => {
            s.verification = format!("height {}: {e}", e.height());
            println!("independent verification: FAILED at {}", s.verification);
        }
    }
    println!("audit report: {}", s.report.display());
    print_checkpoint(&seen, s)
}

/// Prints each grouped region's settlement and the institutions flagged
/// for upcoding, as the report found them.
fn payment_outcome(report: &fundtrail_audit::AuditReport, s: &mut DemoSummary) {
    for r in &report.payment {
        let region = r.region.to_string();
        match &r.settlement {
            Some(settled) => {
                println!(
                    "period settlement {region} {}: accepted at height {}, {} points, point value ¥{}, ¥{} to {} institutions",
                    r.year,
                    settled.height,
                    settled.total_points,
                    settled.point_value,
                    settled.paid,
                    r.institutions.len()
                );
                s.settled_regions
                    .insert(region.clone(), settled.point_value.clone());
            }
            None => println!("period settlement {region} {}: none accepted", r.year),
        }
        for i in &r.institutions {
            if i.signals.keys().any(|c| c.as_str() == "UPCODING") {
                println!("upcoding flagged: {} ({region})", i.institution);
                s.upcoding_flagged.push(i.institution.to_string());
            }
        }
    }
    let injected = scenario::upcoding_hospital().to_string();
    if !s.upcoding_flagged.contains(&injected) {
        println!("WARNING: the injected upcoding hospital {injected} was not flagged");
    }
}

/// Prints the final checkpoint with its signers, which must be all four
/// departments, and how the export stands against it.
fn print_checkpoint(seen: &CheckpointSeen, s: &mut DemoSummary) -> Result<()> {
    if seen.signers.len() < 4 || !seen.consistent {
        s.verification_ok = false;
        bail!(
            "the final checkpoint is signed by {} of 4 departments, and the export is {}",
            seen.signers.len(),
            seen.verdict
        );
    }
    println!(
        "final checkpoint ({}): {} blocks, root {}, signed by {}; the export is {}",
        s.checkpoint.display(),
        seen.size,
        seen.root,
        seen.signers.join(", "),
        seen.verdict
    );
    s.checkpoint_signers = seen.signers.clone();
    Ok(())
}

/// The chain once every block carries all four organisations'
/// attestations (they arrive by gossip and repair shortly after a block).
async fn fully_attested_export(client: &NodeClient) -> Result<Vec<u8>> {
    let mut last = None;
    for _ in 0..60 {
        let bytes = client.export().await?;
        match attested_by_all(&bytes) {
            Ok(()) => return Ok(bytes),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no export"))).context("waiting for attestations")
}

fn attested_by_all(bytes: &[u8]) -> Result<()> {
    use fundtrail_ledger::chainfile::{verify_stream, ChainReader};
    let mut reader = ChainReader::new(bytes)?;
    let mut verifier = fundtrail_ledger::verify::ChainVerifier::new(reader.genesis().clone())?
        .require_attesting_orgs(4);
    verify_stream(&mut reader, &mut verifier, |_, _, _| Ok(()))?;
    Ok(())
}
