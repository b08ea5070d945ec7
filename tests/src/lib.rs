//! End-to-end tests live in `tests/`; `src/bin` holds helper processes they
//! drive (see tests/README.md), [`cluster`] starts real multi-node
//! networks for them, [`fault`] runs them in network namespaces under
//! faults and checks what they acknowledged, [`edge_sig`] crafts edge-case
//! signatures, [`hostile`] speaks to a node as a peer that holds a genesis
//! node key but lies, [`governance`] runs the governance CLI against a
//! cluster, and [`joining`] adds a node genesis does not list.
//! [`data_tempdir`] is a temporary data directory a node accepts;
//! [`health_claim`] a claim the health department signed, with its raw bill;
//! [`officer_fetch`] an officer's fetch under a disclosure;
//! [`eligibility_grant`] a civil-affairs record, and [`civil_load`] a
//! stream of them until told to stop; [`output_text`]
//! a finished command's exit status and output, for assertion messages.

pub mod cluster;
pub mod edge_sig;
pub mod fault;
pub mod governance;
pub mod hostile;
pub mod joining;

/// Civil affairs' dibao grant for 2026 to person `n`, signed with its
/// submitter key under `nonce`.
pub fn eligibility_grant(
    kit: &fundtrail_testkit::Kit,
    n: u64,
    nonce: u64,
) -> fundtrail_ledger::record::SignedRecord {
    use fundtrail_ledger::types::{Category, Role};
    let body = fundtrail_testkit::bodies::grant(
        kit.person(n),
        Category::Dibao,
        "2026-01-01",
        "2026-12-31",
    );
    kit.sign(Role::CivilAffairs, body, nonce, 0)
}

/// A finished command's exit status, stdout and stderr, for a failed
/// assertion to show.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A temporary directory only its owner can enter, as a node requires of
/// its data directory (it refuses one that group or others can enter).
pub fn data_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("temp dir")
}

/// The health department's claim line (examples/claim.jsonl, line 1).
pub const CLAIM_LINE: &str = r#"{"kind":"claim","id_card":"440106195803120419","institution":"H44010600001","bill_no":"ZY2026-0000123","institution_level":"tertiary","insured_type":"resident","insured_region":"440100","care_region":"440100","service_date":"2026-03-01","admission":"inpatient","total":"100000.00","in_scope":"90000.00","drg_or_dip_group":"ES23","supplementary_cover":false}"#;

/// [`CLAIM_LINE`] signed on the health department's side (resolved
/// through node `health`), and the vault entry holding its raw bill.
pub fn health_claim(
    cluster: &cluster::TestCluster,
    kit: &fundtrail_testkit::Kit,
    health: usize,
) -> (
    fundtrail_ledger::SignedRecord,
    fundtrail_node::wire::VaultEntry,
) {
    health_claim_of(cluster, kit, health, CLAIM_LINE)
}

/// [`health_claim`] of another claim line.
pub fn health_claim_of(
    cluster: &cluster::TestCluster,
    kit: &fundtrail_testkit::Kit,
    health: usize,
    claim_line: &str,
) -> (
    fundtrail_ledger::SignedRecord,
    fundtrail_node::wire::VaultEntry,
) {
    use fundtrail_intake::{canonical_raw_bill, parse_line, SubmissionLine};
    use fundtrail_node::cli::sign::{HttpLookup, Signer};
    let signer = Signer::of_kit(kit, fundtrail_ledger::types::Role::Health);
    let line = parse_line(claim_line).expect("the claim line parses");
    let SubmissionLine::Claim(claim_line) = &line else {
        panic!("a claim line")
    };
    let raw_bill = canonical_raw_bill(claim_line);
    let lookup = HttpLookup {
        client: cluster.client(health),
    };
    let signed = signer
        .sign(1, line.clone(), &lookup)
        .expect("the claim signs");
    let entry = signed.vault_entry().expect("a claim has a raw bill");
    assert_eq!(entry.raw_bill, raw_bill);
    (signed.record, entry)
}

/// A `disclosure_fetch` of `target` under `disclosure`, signed by officer
/// `n` (0 or 1) of the organisation with `role`: the officer who receives
/// the raw bill.
pub fn officer_fetch(
    kit: &fundtrail_testkit::Kit,
    role: fundtrail_ledger::types::Role,
    n: usize,
    disclosure: fundtrail_ledger::RecordId,
    target: fundtrail_ledger::RecordId,
    nonce: u64,
) -> fundtrail_ledger::SignedRecord {
    use fundtrail_ledger::crypto::Keypair;
    use fundtrail_ledger::record::{DisclosureFetchBody, Envelope, RecordBody};
    let officer = Keypair::from_seed(kit.org(role).officers[n].secret_bytes());
    let body = RecordBody::DisclosureFetch(DisclosureFetchBody { disclosure, target });
    Envelope::new(kit.chain_id.clone(), body, officer.public(), nonce).sign(&officer)
}

/// The body of `POST /v1/disclosures/{id}/fetch` naming `fetch`.
pub fn fetch_request(fetch: &fundtrail_ledger::SignedRecord) -> serde_json::Value {
    serde_json::json!({ "fetch": fetch.id() })
}

/// Submits batches of civil-affairs grants through `clients` in turn until
/// `stop`, returning the ids of those acknowledged as committed.
pub async fn civil_load(
    kit: fundtrail_testkit::Kit,
    clients: Vec<fundtrail_node::cli::client::NodeClient>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<fundtrail_ledger::record::RecordId> {
    let mut acknowledged = Vec::new();
    let mut n = 10_000;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let batch: Vec<_> = (0..20)
            .map(|k| eligibility_grant(&kit, n + k, 50_000 + n + k))
            .collect();
        n += 20;
        let client = &clients[(n as usize / 20) % clients.len()];
        if let Ok(lines) = client.submit(&batch).await {
            for (record, line) in batch.iter().zip(&lines) {
                if cluster::committed(line).is_some() {
                    acknowledged.push(record.id());
                }
            }
        }
    }
    acknowledged
}
