//! Records carrying edge-case signatures (R with a torsion component, R of
//! small order, a non-canonical s) are sent to a real four-node cluster
//! through every node at once, round after round, mixed among honest
//! records in batches that differ from node to node and round to round.
//! Every node must end on one head, each crafted record must get the
//! signature rule's verdict (committed once if valid, refused everywhere if
//! not), and the exported chain must verify.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::{Category, Role};
use fundtrail_ledger::RecordId;
use fundtrail_node::api::SubmitLine;
use fundtrail_node::wire::Receipt;
use fundtrail_testkit::{bodies, Harness};
use fundtrail_tests::cluster::{committed, record_ids, serial, TestCluster};
use fundtrail_tests::edge_sig::EdgeKind;

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");
const NODES: usize = 4;
const ROUNDS: usize = 10;
const HONEST_PER_BATCH: usize = 6;

/// Signs records as the civil-affairs system, some with crafted signatures.
struct Signer {
    harness: Harness,
    person: u64,
}

impl Signer {
    fn record(&mut self, kind: EdgeKind) -> SignedRecord {
        self.person += 1;
        let body = bodies::grant(
            self.harness.kit.person(self.person),
            Category::Dibao,
            "2026-01-01",
            "2026-12-31",
        );
        let record = self.harness.record(Role::CivilAffairs, body, 0);
        let seed = self
            .harness
            .kit
            .org(Role::CivilAffairs)
            .submitter
            .secret_bytes();
        let signature = kind.sign(seed, &record.id().hash());
        SignedRecord {
            signature,
            ..record
        }
    }
}

/// The crafted records of one round, and for each node a batch holding
/// all of them among honest records, in an order of its own.
fn round(
    signer: &mut Signer,
    round: usize,
) -> (Vec<(EdgeKind, SignedRecord)>, Vec<Vec<SignedRecord>>) {
    let crafted: Vec<(EdgeKind, SignedRecord)> = [
        EdgeKind::TorsionR,
        EdgeKind::SmallOrderR,
        EdgeKind::NonCanonicalS,
    ]
    .into_iter()
    .map(|kind| (kind, signer.record(kind)))
    .collect();
    let batches = (0..NODES)
        .map(|node| {
            let mut batch: Vec<SignedRecord> = (0..HONEST_PER_BATCH)
                .map(|_| signer.record(EdgeKind::Honest))
                .collect();
            for (i, (_, record)) in crafted.iter().enumerate() {
                let at = (round + node * 2 + i * 3) % (batch.len() + 1);
                batch.insert(at, record.clone());
            }
            batch
        })
        .collect();
    (crafted, batches)
}

/// What a node told the client about `id`: committed at a height, or refused.
fn answer_for(lines: &[SubmitLine], batch: &[SignedRecord], id: RecordId) -> Option<u64> {
    let i = batch
        .iter()
        .position(|r| r.id() == id)
        .expect("in the batch");
    match &lines[i] {
        SubmitLine::Receipt(Receipt::Refused { .. }) => None,
        line => Some(committed(line).expect("committed or refused").0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_case_signatures_through_every_node_leave_one_head_and_a_verifying_chain() {
    let _serial = serial().await;
    let cluster = Arc::new(
        TestCluster::start(EXE.as_ref(), NODES)
            .await
            .expect("cluster starts"),
    );
    let mut signer = Signer {
        harness: Harness::new(7),
        person: 0,
    };
    let mut expected: BTreeMap<RecordId, EdgeKind> = BTreeMap::new();
    for r in 0..ROUNDS {
        let (crafted, batches) = round(&mut signer, r);
        let sent = batches.clone();
        let tasks: Vec<_> = batches
            .into_iter()
            .enumerate()
            .map(|(node, batch)| {
                let cluster = cluster.clone();
                tokio::spawn(async move { cluster.submit(node, &batch).await })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task").expect("submission answered"));
        }
        for (kind, record) in &crafted {
            let id = record.id();
            expected.insert(id, *kind);
            let heights: BTreeSet<Option<u64>> = answers
                .iter()
                .zip(&sent)
                .map(|(lines, batch)| answer_for(lines, batch, id))
                .collect();
            assert_eq!(
                heights.len(),
                1,
                "{kind:?} answered differently by different nodes: {heights:?}"
            );
            let height = heights.into_iter().next().expect("one answer");
            assert_eq!(
                height.is_some(),
                kind.valid(),
                "{kind:?} in round {r}: {height:?}"
            );
        }
    }

    cluster
        .converge(Duration::from_secs(60))
        .await
        .expect("one head on every node");
    let (bytes, summary) = cluster
        .verified_export(0, NODES)
        .await
        .expect("the chain verifies");
    let on_chain: BTreeSet<RecordId> = record_ids(&bytes)
        .expect("record ids")
        .into_iter()
        .collect();
    assert_eq!(summary.records as usize, on_chain.len(), "no record twice");
    for (id, kind) in &expected {
        assert_eq!(on_chain.contains(id), kind.valid(), "{kind:?} {id}");
    }
    cluster.check_none_crashed().expect("no node crashed");
}
