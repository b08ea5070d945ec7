//! Equivocation evidence from a node's chain to the auditor, without a
//! cluster: `Chain::accept_attestation` keeps a validly signed attestation
//! of a block other than the chain's (once per height and key) and nothing
//! forged; a snapshot carries it to the node that installs it; a data
//! directory holding it exports it to `fundtrail verify`'s
//! code path and to the audit report, which list it; a chain without it
//! shows none.

use fundtrail_ledger::block::{Attestation, Block, BlockHash, Genesis};
use fundtrail_ledger::chainfile::ChainWriter;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::hash_domain;
use fundtrail_ledger::types::Height;
use fundtrail_node::chain::Chain;
use fundtrail_node::cli::verify::{audit, equivocation_lines, report, ChainSource};
use fundtrail_node::entry::StoredMembership;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_tests::data_tempdir;

/// The department whose node equivocates in these tests.
const EQUIVOCATOR: usize = 3;
const QUORUM: usize = 3;

struct Node {
    dir: tempfile::TempDir,
    chain: Chain,
    genesis: Genesis,
    nodes: Vec<Keypair>,
    blocks: Vec<Block>,
}

/// A node that installed three blocks attested by every department but
/// the equivocator's, whose attestations have not arrived yet.
fn node() -> Node {
    let mut builder = ChainBuilder::new(11, 40);
    let blocks = builder.blocks(3, 12);
    let genesis = builder.genesis.clone();
    let last = Height(blocks.len() as u64);
    let mut w = ChainWriter::new(Vec::new(), &genesis, Height(1), last).expect("writer");
    for (block, atts) in &blocks {
        let others: Vec<Attestation> = atts
            .iter()
            .filter(|a| a.node_key != builder.nodes[EQUIVOCATOR].public())
            .cloned()
            .collect();
        w.write_block(block, &others).expect("block");
    }
    let bytes = w.finish().expect("finish");
    let dir = data_tempdir();
    let chain = Chain::open(dir.path(), &genesis).expect("open");
    chain
        .install(bytes.as_slice(), &None, &StoredMembership::default())
        .expect("install");
    Node {
        dir,
        chain,
        genesis,
        nodes: builder.nodes,
        blocks: blocks.into_iter().map(|(b, _)| b).collect(),
    }
}

fn other_block(n: u8) -> BlockHash {
    BlockHash::from_hash(hash_domain("fundtrail/test/other", &[n]))
}

fn attest(node: &Keypair, genesis: &Genesis, height: u64, hash: BlockHash) -> Attestation {
    Attestation::sign(node, &genesis.chain_id, Height(height), hash)
}

fn held(n: &Node) -> u64 {
    n.chain.store().conflicting_count().expect("count")
}

/// The equivocator attests another block at height 2, three times over.
fn equivocate(n: &Node) {
    let node = &n.nodes[EQUIVOCATOR];
    for (i, other) in [1, 2, 3].into_iter().enumerate() {
        let conflicting = attest(node, &n.genesis, 2, other_block(other));
        assert!(!n.chain.accept_attestation(&conflicting).expect("accept"));
        assert_eq!(held(n), 1, "after conflicting attestation {}", i + 1);
    }
}

#[test]
fn a_conflicting_attestation_is_kept_once_and_a_forged_one_not_at_all() {
    let n = node();
    let genesis = &n.genesis;
    assert_eq!(held(&n), 0);

    let mut forged = attest(&n.nodes[1], genesis, 3, other_block(9));
    forged.signature.0[0] ^= 1;
    assert!(!n.chain.accept_attestation(&forged).expect("accept"));
    let stranger = attest(&Keypair::from_seed([0x5a; 32]), genesis, 3, other_block(9));
    assert!(!n.chain.accept_attestation(&stranger).expect("accept"));
    let above_head = attest(&n.nodes[1], genesis, 4, other_block(9));
    assert!(!n.chain.accept_attestation(&above_head).expect("accept"));
    assert_eq!(
        held(&n),
        0,
        "forged, unknown and future attestations keep nothing"
    );

    equivocate(&n);
    let store = n.chain.store();
    let kept = store
        .equivocations(Height(1), Height(3), 10)
        .expect("evidence");
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0].conflicting_block(),
        other_block(1),
        "the first is kept"
    );
    assert_eq!(kept[0].chain_block, n.blocks[1].hash());
    assert!(kept[0].chain_attestation.is_none());

    let honest = attest(&n.nodes[EQUIVOCATOR], genesis, 2, n.blocks[1].hash());
    assert!(
        n.chain.accept_attestation(&honest).expect("accept"),
        "evidence at a height does not stop attesting the chain's block"
    );
    assert!(store
        .attestations(Height(2))
        .expect("atts")
        .contains(&honest));
    let kept = store
        .equivocations(Height(1), Height(3), 10)
        .expect("evidence");
    assert_eq!(kept[0].chain_attestation.as_ref(), Some(&honest));
    assert_eq!(kept[0].check(genesis), Ok(()));
}

#[test]
fn verify_and_the_audit_report_show_the_evidence_a_data_directory_holds() {
    let n = node();
    equivocate(&n);
    let honest = attest(&n.nodes[EQUIVOCATOR], &n.genesis, 2, n.blocks[1].hash());
    assert!(n.chain.accept_attestation(&honest).expect("accept"));
    let Node {
        dir,
        chain,
        genesis,
        nodes,
        blocks,
    } = n;
    drop(chain);

    let source = ChainSource::open(dir.path()).expect("export the data directory");
    let audited = audit(&source, Some(QUORUM), true, &[], |_| {}).expect("audit");
    assert!(audited.error.is_none(), "{:?}", audited.error);
    let key = nodes[EQUIVOCATOR].public();
    let org = genesis.org_of_key(&key).expect("a genesis key").id.clone();
    assert_eq!(
        equivocation_lines(&genesis, &audited.equivocations),
        vec![format!(
            "EQUIVOCATION: node {} of {org} attested two blocks at height 2: {} (the chain's) and {}",
            key.short(),
            blocks[1].hash().to_hex(),
            other_block(1).to_hex()
        )]
    );

    let out = tempfile::tempdir().expect("tempdir");
    report(dir.path(), out.path(), Some(QUORUM), None).expect("report");
    let json = report_json(out.path());
    let listed = &json["equivocations"]["listed"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["height"], 2);
    assert_eq!(listed[0]["org"], org.as_str());
    assert_eq!(listed[0]["node_key"], key.to_hex());
    assert_eq!(listed[0]["chain_block"], blocks[1].hash().to_hex());
    assert_eq!(listed[0]["conflicting_block"], other_block(1).to_hex());
    assert_eq!(listed[0]["attested_chain_block"], true);
    let html = std::fs::read_to_string(out.path().join("report.html")).expect("html");
    assert!(html.contains(&format!("<code>{}</code>", key.short())));
}

/// A node that catches up through a snapshot keeps the evidence in it.
#[test]
fn a_snapshot_carries_the_evidence_to_the_node_that_installs_it() {
    let n = node();
    equivocate(&n);
    let head = n.chain.head().height;
    let mut snapshot = Vec::new();
    n.chain
        .store()
        .export_to(&mut snapshot, head)
        .expect("export");
    let dir = data_tempdir();
    let fresh = Chain::open(dir.path(), &n.genesis).expect("open");
    assert_eq!(fresh.store().conflicting_count().expect("count"), 0);
    fresh
        .install(snapshot.as_slice(), &None, &StoredMembership::default())
        .expect("install");
    assert_eq!(fresh.store().conflicting_count().expect("count"), 1);
}

#[test]
fn a_chain_without_evidence_shows_none() {
    let n = node();
    let Node { dir, chain, .. } = n;
    drop(chain);
    let source = ChainSource::open(dir.path()).expect("export the data directory");
    let audited = audit(&source, Some(QUORUM), true, &[], |_| {}).expect("audit");
    assert!(audited.error.is_none(), "{:?}", audited.error);
    assert!(audited.equivocations.is_empty());

    let out = tempfile::tempdir().expect("tempdir");
    report(dir.path(), out.path(), Some(QUORUM), None).expect("report");
    let json = report_json(out.path());
    assert_eq!(json["equivocations"]["listed"], serde_json::json!([]));
    assert_eq!(json["equivocations"]["omitted"], 0);
    let html = std::fs::read_to_string(out.path().join("report.html")).expect("html");
    assert!(html.contains("None: no node attested a block other than the chain"));
}

fn report_json(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}
