//! Every endpoint of docs/API.md against a real three-node cluster, one
//! test per group of endpoints: submission, submission errors, records and
//! proofs, queries and lookups, paged listings, blocks and the chain, the
//! vault and disclosures, health and metrics. Each test starts its own
//! cluster (a few seconds) holding the same small flow of records, executed
//! in memory as it is signed, so the content is checked against the rules
//! and the tests do not depend on one another's order.

use std::collections::BTreeMap;
use std::time::Duration;

use fundtrail_contracts::lookup::StateLookup;
use fundtrail_contracts::model::{key, ClaimEntry, PersonYear, Tier};
use fundtrail_contracts::quote::Quote;
use fundtrail_contracts::state::State;
use fundtrail_intake::{canonical_raw_bill, ClaimLine, IdCard, Lookup, PayoutTier};
use fundtrail_ledger::block::{Outcome, Verdict};
use fundtrail_ledger::pseudonym::{raw_commitment, ClaimId, PersonId};
use fundtrail_ledger::record::{
    DisclosureBody, DisclosurePurpose, FilingBody, FundCreditBody, FundSource, Period, RecordBody,
    ReversalBody, ReversalReason, SettlementBody,
};
use fundtrail_ledger::store::Store;
use fundtrail_ledger::types::{Amount, Category, Role, Scheme};
use fundtrail_ledger::{RecordId, SignedRecord};
use fundtrail_node::api::SubmitLine;
use fundtrail_node::proof::ProofFile;
use fundtrail_node::wire::{Receipt, VaultEntry};
use fundtrail_testkit::{bodies, fund, region, Harness, Kit, AWAY, HOME};
use fundtrail_tests::cluster::{committed, record_ids, serial, Http, TestCluster};
use fundtrail_tests::{fetch_request, officer_fetch};
use serde_json::{json, Value};

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");

const OPENING: u64 = 50_000_000;
const CREDIT: u64 = 1_000_000;

fn state_bytes(state: &dyn State, k: &[u8]) -> Vec<u8> {
    state
        .get(k)
        .unwrap()
        .expect("state holds the key")
        .into_owned()
}

/// Anything serialisable as JSON (the crate does not link serde itself).
macro_rules! json_of {
    ($v:expr) => {
        serde_json::to_value($v).unwrap()
    };
}

fn ninety_percent(a: Amount) -> Amount {
    Amount::from_fen(a.fen() * 9 / 10).unwrap()
}

/// Approvals the default policy needs for `amount`.
fn approvals(amount: Amount) -> usize {
    if amount > Amount::yuan(50_000) {
        2
    } else {
        0
    }
}

fn assert_json_error(r: &Http, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    assert!(
        r.content_type.starts_with("application/json"),
        "{what}: the error is JSON: {r:?}"
    );
    assert!(
        r.error().is_some_and(|e| !e.is_empty()),
        "{what}: body is {{\"error\": ...}}: {r:?}"
    );
}

/// GETs `path` from node `i` and checks the answer is a JSON error.
async fn expect_get_error(
    cluster: &TestCluster,
    i: usize,
    path: &str,
    status: u16,
    what: &str,
) -> Http {
    let r = cluster.http_get(i, path).await.unwrap();
    assert_json_error(&r, status, what);
    r
}

/// The records of the flow, signed, and what each must come to.
struct Flow {
    harness: Harness,
    nonce: u64,
    /// (record, the in-memory outcome's verdict)
    records: Vec<(SignedRecord, Verdict)>,
}

impl Flow {
    fn sign(&mut self, role: Role, body: RecordBody, approvals: usize) -> SignedRecord {
        self.nonce += 1;
        let r = self.harness.kit.sign(role, body, self.nonce, approvals);
        let verdict = self.harness.block(std::slice::from_ref(&r)).outcomes[0]
            .verdict
            .clone();
        self.records.push((r.clone(), verdict));
        r
    }
}

/// A cluster holding the flow: every record submitted, applied everywhere
/// and attested by all three organisations.
struct Fixture {
    cluster: TestCluster,
    genesis: fundtrail_ledger::Genesis,
    kit: Kit,
    flow: Flow,
    /// Where each record of the flow landed: (height, index, outcome).
    placed: BTreeMap<RecordId, (u64, u32, Outcome)>,
    /// The head once everything is applied.
    head: Value,
    p1: PersonId,
    p2: PersonId,
    c1: ClaimId,
    /// The standing quotes of claims 1 and 2, in memory.
    q1: Quote,
    q2: Quote,
    /// Claim 1's raw bill and the salt of its commitment.
    raw: Vec<u8>,
    salt: [u8; 32],
    grant: SignedRecord,
    filing: SignedRecord,
    claim1: SignedRecord,
    claim2: SignedRecord,
    /// An underpaid settlement of claim 1, later reversed.
    first: SignedRecord,
    credit: SignedRecord,
    /// A second payout of claim 1 while `first` stands: rejected.
    duplicate: SignedRecord,
    reversal: SignedRecord,
    /// Claim 1's standing settlement.
    corrected: SignedRecord,
    /// Claim 2, cared for away from its insured region.
    cross: SignedRecord,
    insurers_disclosure: SignedRecord,
    auditors_disclosure: SignedRecord,
}

impl Fixture {
    /// Starts a cluster and gets a small realistic flow onto it, each
    /// record through a different node, checking each outcome against
    /// the in-memory execution.
    async fn start() -> Fixture {
        let cluster = TestCluster::start(EXE.as_ref(), 3)
            .await
            .expect("cluster starts");
        let genesis = cluster.genesis().unwrap();
        let mut flow = Flow {
            harness: Harness::new(7),
            nonce: 0,
            records: Vec::new(),
        };
        let kit = Harness::new(7).kit;

        // --- A small realistic flow, executed in memory as it is signed. ---
        let p1 = kit.person(1);
        let p2 = kit.person(2);
        let c1 = kit.claim_id(1);
        let c2 = kit.claim_id(2);
        let grant = flow.sign(
            Role::CivilAffairs,
            bodies::grant(p1, Category::Dibao, "2026-01-01", "2026-12-31"),
            0,
        );
        let filing = flow.sign(
            Role::Insurance,
            RecordBody::Filing(FilingBody {
                person: p2,
                insured_region: region(AWAY),
                care_region: region(HOME),
                valid_from: bodies::date("2026-01-01"),
                valid_until: bodies::date("2026-12-31"),
            }),
            0,
        );
        // The raw bill behind claim 1, committed to as a department would.
        let raw_line: ClaimLine = serde_json::from_value(json!({
            "id_card": "440106195803120419", "institution": "H44010001", "bill_no": "BILL-00000001",
            "institution_level": "tertiary", "insured_type": "resident", "insured_region": HOME,
            "care_region": HOME, "service_date": "2026-03-01", "admission": "inpatient",
            "total": "100000.00", "in_scope": "90000.00"
        }))
        .unwrap();
        assert_eq!(
            raw_line.id_card,
            IdCard::parse("440106195803120419").unwrap()
        );
        let raw = canonical_raw_bill(&raw_line);
        let salt = [0x5c; 32];
        let mut claim1_body = bodies::claim(c1, p1, Amount::yuan(100_000), Amount::yuan(90_000));
        claim1_body.raw_commitment = raw_commitment(&salt, &raw);
        let claim1 = flow.sign(Role::Health, RecordBody::Claim(claim1_body), 0);
        let mut claim2_body = bodies::claim(c2, p2, Amount::yuan(8_000), Amount::yuan(6_000));
        claim2_body.insured_region = region(AWAY);
        let claim2 = flow.sign(Role::Health, RecordBody::Claim(claim2_body), 0);

        let q1 = fundtrail_contracts::quote(&flow.harness.state, &c1).unwrap();
        let q2 = fundtrail_contracts::quote(&flow.harness.state, &c2).unwrap();
        assert!(!q1.basic.is_zero() && !q2.basic.is_zero(), "{q1:?} {q2:?}");
        let underpaid = ninety_percent(q1.basic);
        let first = flow.sign(
            Role::Insurance,
            bodies::settle(c1, Scheme::Basic, underpaid),
            approvals(underpaid),
        );
        let credit = flow.sign(
            Role::Finance,
            RecordBody::FundCredit(FundCreditBody {
                fund_id: fund(&format!("basic-{HOME}")),
                amount: Amount::yuan(CREDIT),
                source: FundSource::Budget {
                    appropriation: "CZ-2026-001".parse().unwrap(),
                },
            }),
            0,
        );
        let duplicate = flow.sign(
            Role::Insurance,
            bodies::settle(c1, Scheme::Basic, q1.basic),
            approvals(q1.basic),
        );
        let reversal = flow.sign(
            Role::Insurance,
            RecordBody::Reversal(ReversalBody {
                target: first.id(),
                reason: ReversalReason::DataEntryError,
            }),
            0,
        );
        let corrected = flow.sign(
            Role::Insurance,
            bodies::settle(c1, Scheme::Basic, q1.basic),
            approvals(q1.basic),
        );
        // Care elsewhere is paid by the insured region's fund, cleared later.
        let cross = flow.sign(
            Role::Insurance,
            RecordBody::Settlement(SettlementBody {
                claim_id: c2,
                scheme: Scheme::Basic,
                fund_id: fund(&format!("basic-{AWAY}")),
                amount: q2.basic,
            }),
            approvals(q2.basic),
        );
        let disclosure = |requester: &str| {
            RecordBody::Disclosure(DisclosureBody {
                target: claim1.id(),
                holder: "gd-health".parse().unwrap(),
                requester: requester.parse().unwrap(),
                purpose: DisclosurePurpose::Audit,
                case_ref: Some("SJ-2026-017".parse().unwrap()),
            })
        };
        let insurers_disclosure = flow.sign(Role::Insurance, disclosure("gd-insurance"), 1);
        let auditors_disclosure = flow.sign(Role::Auditor, disclosure("gd-audit"), 1);

        let code = |v: &Verdict| match v {
            Verdict::Rejected { code } => Some(code.to_string()),
            Verdict::Accepted => None,
        };
        for (r, v) in &flow.records {
            let expect_rejected = r.id() == duplicate.id();
            assert_eq!(
                code(v).is_some(),
                expect_rejected,
                "in memory, {} came to {v:?}",
                r.kind().name()
            );
        }
        assert_eq!(
            code(&flow.records[6].1).as_deref(),
            Some("DUPLICATE_PAYMENT")
        );

        // --- POST /v1/records?wait=applied: each record through a different
        // node, which can show it as soon as it answers. ---
        let mut placed = BTreeMap::new();
        for (i, (r, verdict)) in flow.records.iter().enumerate() {
            let lines = cluster
                .client(i % 3)
                .submit_applied(std::slice::from_ref(r))
                .await
                .unwrap();
            let read_back = cluster
                .client(i % 3)
                .get(&format!("/v1/records/{}", r.id()))
                .await
                .expect("the node that answered has the record");
            assert_eq!(read_back["outcome"]["record_id"], json!(r.id()));
            assert_eq!(lines.len(), 1);
            let (height, index, outcome) = committed(&lines[0])
                .unwrap_or_else(|| panic!("{} not committed: {:?}", r.kind().name(), lines[0]));
            assert_eq!(outcome.record_id, r.id());
            assert_eq!(
                &outcome.verdict,
                verdict,
                "the cluster decides {} as the rules do in memory",
                r.kind().name()
            );
            placed.insert(r.id(), (height, index, outcome.clone()));
        }

        // Every node has applied everything before the reads ...
        let head = cluster
            .converge(Duration::from_secs(30))
            .await
            .expect("converge");
        // ... and holds every block's attestations by all three organisations.
        for n in 0..3 {
            cluster
                .verified_export(n, 3)
                .await
                .expect("attested by all");
        }
        Fixture {
            cluster,
            genesis,
            kit,
            flow,
            placed,
            head,
            p1,
            p2,
            c1,
            q1,
            q2,
            raw,
            salt,
            grant,
            filing,
            claim1,
            claim2,
            first,
            credit,
            duplicate,
            reversal,
            corrected,
            cross,
            insurers_disclosure,
            auditors_disclosure,
        }
    }

    fn height(&self) -> u64 {
        self.head["height"].as_u64().unwrap()
    }

    /// Where `record` landed: (height, index, outcome).
    fn placed(&self, record: &SignedRecord) -> (u64, u32, &Outcome) {
        let (h, i, o) = &self.placed[&record.id()];
        (*h, *i, o)
    }

    fn state(&self) -> &dyn State {
        &self.flow.harness.state
    }

    async fn stop(self) {
        self.cluster.stop().await;
    }
}

fn ids_of(records: &[&SignedRecord]) -> Vec<Value> {
    records.iter().map(|r| json!(r.id())).collect()
}

fn record_ids_in(list: &Value) -> Vec<Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_id"].clone())
        .collect()
}

/// An id no record has.
fn unknown_id() -> RecordId {
    RecordId::from_hex(&"ab".repeat(32)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_records_are_decided_as_in_memory_and_a_resubmission_is_idempotent() {
    let _serial = serial().await;
    let fx = Fixture::start().await;
    let cluster = &fx.cluster;

    // Resubmitting is idempotent: the original placement, nothing new.
    let before = cluster.converge(Duration::from_secs(30)).await.unwrap();
    let again = cluster
        .client(1)
        .submit(std::slice::from_ref(&fx.corrected))
        .await
        .unwrap();
    assert!(
        matches!(
            &again[0],
            SubmitLine::Receipt(Receipt::AlreadyCommitted { .. })
        ),
        "{again:?}"
    );
    let (h, i, o) = committed(&again[0]).expect("answered with its committed outcome");
    assert_eq!((h, i, o), fx.placed(&fx.corrected));

    // The record its submitter committed under a nonce, and null for one
    // it never used (the fixture counts its nonces up from 0); a lookup of
    // too many nonces is refused.
    const UNUSED_NONCE: u64 = u64::MAX - 7;
    let envelope = &fx.corrected.envelope;
    let found = cluster
        .client(2)
        .post(
            "/v1/lookup/submissions",
            &json!({"submitter": envelope.submitter_key, "nonces": [envelope.nonce, UNUSED_NONCE]}),
        )
        .await
        .unwrap();
    assert_eq!(
        found[0]["already_committed"]["outcome"]["record_id"],
        json!(fx.corrected.id())
    );
    assert_eq!(found[0]["already_committed"]["height"], json!(h));
    assert_eq!(found[1], Value::Null);
    let too_many = json!({"submitter": envelope.submitter_key, "nonces": vec![0u64; 1001]});
    let refused = cluster
        .http_post(0, "/v1/lookup/submissions", too_many.to_string())
        .await
        .unwrap();
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.error().unwrap().contains("at most 1000"),
        "{}",
        refused.text
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = cluster.converge(Duration::from_secs(30)).await.unwrap();
    assert_eq!(after["height"], before["height"], "no new block");
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_errors_are_json_and_a_refused_record_changes_nothing() {
    let _serial = serial().await;
    let fx = Fixture::start().await;
    let cluster = &fx.cluster;

    let head_before = cluster.client(0).get("/v1/head").await.unwrap();
    let r = cluster
        .http_post(0, "/v1/records", "[{\"envelope\": {\"version\": 1,")
        .await
        .unwrap();
    assert_json_error(&r, 400, "malformed JSON");
    assert!(r.error().unwrap().contains("malformed request"), "{r:?}");
    let r = cluster
        .http_post(1, "/v1/records", "{\"not\": \"an array\"}")
        .await
        .unwrap();
    assert_json_error(&r, 400, "an object instead of an array");
    let r = cluster
        .http_post(1, "/v1/records?wait=soon", "[]")
        .await
        .unwrap();
    assert_json_error(&r, 400, "an unknown wait");
    assert!(r.error().unwrap().contains("malformed query"), "{r:?}");
    let mut forged = fx
        .kit
        .sign(Role::Finance, fx.credit.envelope.body.clone(), 9_999, 0);
    forged.signature.0[3] ^= 0x40;
    let r = cluster
        .http_post(2, "/v1/records", serde_json::to_string(&[&forged]).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status, 200, "a refusal is a line of a 200: {r:?}");
    let lines: Vec<SubmitLine> = serde_json::from_str(&r.text).unwrap();
    match &lines[..] {
        [SubmitLine::Receipt(Receipt::Refused { record_id, reason })] => {
            assert_eq!(*record_id, forged.id());
            assert!(reason.contains("does not verify"), "{reason}");
        }
        other => panic!("expected one refusal, got {other:?}"),
    }
    let head_after = cluster.client(0).get("/v1/head").await.unwrap();
    assert_eq!(head_before["height"], head_after["height"]);
    assert_eq!(head_before["state_root"], head_after["state_root"]);
    expect_get_error(
        cluster,
        0,
        &format!("/v1/records/{}", forged.id()),
        404,
        "the refused record is not on the chain",
    )
    .await;
    let (bytes, _) = cluster.verified_export(0, 3).await.expect("verifies");
    assert!(
        !record_ids(&bytes).unwrap().contains(&forged.id()),
        "the refused record is not in the chain file"
    );
    let refused: f64 = cluster
        .http_get_with(&cluster.department(2), "/metrics")
        .await
        .unwrap()
        .text
        .lines()
        .find_map(|l| {
            l.strip_prefix("fundtrail_records_refused_total ")?
                .parse()
                .ok()
        })
        .unwrap();
    assert_eq!(refused, 1.0, "node 2 refused the forged record");
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_their_proofs_show_where_each_landed() {
    let _serial = serial().await;
    let fx = Fixture::start().await;
    let cluster = &fx.cluster;
    let (h, i, o) = fx.placed(&fx.corrected);

    // --- GET /v1/records/{id} ---
    let v = cluster
        .client(1)
        .get(&format!("/v1/records/{}", fx.corrected.id()))
        .await
        .unwrap();
    assert_eq!(v["record_id"], json!(fx.corrected.id()));
    assert_eq!(v["kind"], "settlement");
    assert_eq!(v["height"], json!(h));
    assert_eq!(v["index"], json!(i));
    assert_eq!(v["outcome"], json_of!(o));
    assert_eq!(v["record"], json_of!(&fx.corrected));
    assert_eq!(
        v["record"]["envelope"]["body"]["settlement"]["amount"],
        json!(fx.q1.basic.to_string())
    );
    assert_eq!(v["acted_on_by"], json!([]));
    let v = cluster
        .client(2)
        .get(&format!("/v1/records/{}", fx.first.id()))
        .await
        .unwrap();
    assert_eq!(v["acted_on_by"], json!([fx.reversal.id()]));
    let v = cluster
        .client(0)
        .get(&format!("/v1/records/{}", fx.claim1.id()))
        .await
        .unwrap();
    assert_eq!(
        v["acted_on_by"],
        json!([fx.insurers_disclosure.id(), fx.auditors_disclosure.id()])
    );
    let v = cluster
        .client(0)
        .get(&format!("/v1/records/{}", fx.duplicate.id()))
        .await
        .unwrap();
    assert_eq!(
        v["outcome"]["verdict"],
        json!({"rejected": {"code": "DUPLICATE_PAYMENT"}}),
        "a rejected record stays on the chain as evidence"
    );
    let unknown = unknown_id();
    let r = expect_get_error(
        cluster,
        1,
        &format!("/v1/records/{unknown}"),
        404,
        "unknown record",
    )
    .await;
    assert_eq!(r.error().unwrap(), "record not found");
    for bad in ["xyz", "abcd", &"zz".repeat(32), &"ab".repeat(33)] {
        expect_get_error(
            cluster,
            1,
            &format!("/v1/records/{bad}"),
            400,
            "malformed record id",
        )
        .await;
        expect_get_error(
            cluster,
            2,
            &format!("/v1/records/{bad}/proof"),
            400,
            "malformed record id of a proof",
        )
        .await;
    }

    // --- GET /v1/records/{id}/proof ---
    let proof: ProofFile = serde_json::from_value(
        cluster
            .client(2)
            .get(&format!("/v1/records/{}/proof", fx.corrected.id()))
            .await
            .unwrap(),
    )
    .expect("a proof file");
    assert_eq!(proof.record.record_id(), fx.corrected.id());
    assert_eq!(proof.header.height.0, h);
    assert_eq!(&proof.outcome, o);
    let orgs = proof.verify(&fx.genesis).expect("the proof verifies");
    assert_eq!(orgs, 3, "all three organisations attested the block");
    let mut tampered = proof.clone();
    tampered.outcome.verdict = Verdict::Rejected {
        code: "DUPLICATE_PAYMENT".parse().unwrap(),
    };
    assert!(
        tampered.verify(&fx.genesis).is_err(),
        "a changed outcome fails"
    );
    expect_get_error(
        cluster,
        0,
        &format!("/v1/records/{unknown}/proof"),
        404,
        "proof of an unknown record",
    )
    .await;
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_persons_funds_and_lookups_match_the_in_memory_state() {
    let _serial = serial().await;
    let fx = Fixture::start().await;
    let cluster = &fx.cluster;
    let state = fx.state();
    let (c1, p1, p2) = (fx.c1, fx.p1, fx.p2);
    let (q1, q2) = (&fx.q1, &fx.q2);

    // --- GET /v1/claims/{claim} ---
    let v = cluster
        .client(0)
        .get(&format!("/v1/claims/{c1}"))
        .await
        .unwrap();
    let entry: ClaimEntry =
        fundtrail_ledger::codec::decode("claim", &state_bytes(state, &key::claim(&c1))).unwrap();
    assert_eq!(v["claim"], json_of!(&entry), "the claim's contract entry");
    assert_eq!(
        v["claim"]["paid"],
        json!([{"tier": json_of!(Tier::Basic), "record": fx.corrected.id(), "amount": q1.basic.to_string()}])
    );
    let quote = fundtrail_contracts::quote(state, &c1).unwrap();
    assert_eq!(v["quote"], json_of!(&quote), "the one-stop quote");
    assert_eq!(v["quote"]["basic"], json!(q1.basic.to_string()));
    // Claim 1's region pays by item: no institution side by group.
    assert_eq!(v.get("group_case"), Some(&Value::Null));
    assert_eq!(
        record_ids_in(&v["records"]),
        ids_of(&[&fx.claim1, &fx.first, &fx.duplicate, &fx.corrected]),
        "every record about the claim, in chain order"
    );
    expect_get_error(
        cluster,
        1,
        &format!("/v1/claims/1:{}", "cd".repeat(32)),
        404,
        "unknown claim",
    )
    .await;
    for bad in ["nope", "1:xyz", "x:abcd", &"cd".repeat(32), "1:"] {
        expect_get_error(
            cluster,
            1,
            &format!("/v1/claims/{bad}"),
            400,
            "bad claim pseudonym",
        )
        .await;
        expect_get_error(
            cluster,
            2,
            &format!("/v1/persons/{bad}/years/2026"),
            400,
            "bad person pseudonym",
        )
        .await;
        expect_get_error(
            cluster,
            0,
            &format!("/v1/lookup/payout/{bad}/basic"),
            400,
            "bad pseudonym in a lookup",
        )
        .await;
    }

    // --- GET /v1/persons/{person}/years/{year} ---
    let v = cluster
        .client(2)
        .get(&format!("/v1/persons/{p1}/years/2026"))
        .await
        .unwrap();
    let usage: PersonYear = fundtrail_ledger::codec::decode(
        "person year",
        &state_bytes(state, &key::person_year(&p1, 2026)),
    )
    .unwrap();
    assert_eq!(v["person"], json_of!(&p1));
    assert_eq!(v["year"], 2026);
    assert_eq!(v["usage"], json_of!(&usage));
    assert_eq!(
        v["usage"]["basic_paid"],
        json!(q1.basic.to_string()),
        "the reversed payout no longer counts"
    );
    assert_eq!(
        record_ids_in(&v["records"]),
        ids_of(&[&fx.grant, &fx.claim1])
    );
    let v = cluster
        .client(0)
        .get(&format!("/v1/persons/{p2}/years/2026"))
        .await
        .unwrap();
    assert_eq!(
        record_ids_in(&v["records"]),
        ids_of(&[&fx.filing, &fx.claim2])
    );
    assert_eq!(v["usage"]["basic_paid"], json!(q2.basic.to_string()));
    expect_get_error(
        cluster,
        2,
        &format!("/v1/persons/{p1}/years/twenty"),
        400,
        "a year that is not a number",
    )
    .await;

    // --- GET /v1/funds/{fund}: the balance is the opening plus movements. ---
    let basic = format!("basic-{HOME}");
    let v = cluster
        .client(1)
        .get(&format!("/v1/funds/{basic}"))
        .await
        .unwrap();
    assert_eq!(v["fund"], json!(basic));
    assert_eq!(v["entry"]["kind"], "basic");
    assert_eq!(v["entry"]["region"], HOME);
    assert_eq!(v["entry"]["owner"], "gd-insurance");
    let mut balance = i128::from(Amount::yuan(OPENING).fen());
    let mut seen = Vec::new();
    for m in v["movements"].as_array().unwrap() {
        seen.push(m["record_id"].clone());
        if m["outcome"]["verdict"] != "accepted" {
            continue;
        }
        let reversed = m["acted_on_by"]
            .as_array()
            .unwrap()
            .contains(&json!(fx.reversal.id()));
        let body = &m["record"]["envelope"]["body"];
        let fen = |v: &Value| i128::from(v.as_str().unwrap().parse::<Amount>().unwrap().fen());
        if let Some(s) = body.get("settlement") {
            if !reversed {
                balance -= fen(&s["amount"]);
            }
        } else if let Some(c) = body.get("fund_credit") {
            balance += fen(&c["amount"]);
        }
    }
    assert_eq!(
        seen,
        ids_of(&[&fx.first, &fx.credit, &fx.duplicate, &fx.corrected])
    );
    let expected = Amount::yuan(OPENING + CREDIT).fen() - q1.basic.fen();
    assert_eq!(balance, i128::from(expected));
    assert_eq!(
        v["entry"]["balance"],
        json!(Amount::from_fen(expected).unwrap().to_string())
    );
    let v = cluster
        .client(2)
        .get(&format!("/v1/funds/basic-{AWAY}"))
        .await
        .unwrap();
    assert_eq!(
        v["entry"]["balance"],
        json!(
            Amount::from_fen(Amount::yuan(OPENING).fen() - q2.basic.fen())
                .unwrap()
                .to_string()
        ),
        "the insured region's fund paid the care elsewhere"
    );
    assert_eq!(v["movements"][0]["record_id"], json!(fx.cross.id()));
    let r = cluster.http_get(0, "/v1/funds/no-such-fund").await.unwrap();
    assert_json_error(&r, 404, "unknown fund");
    let r = cluster.http_get(0, "/v1/funds/bad%20fund!").await.unwrap();
    assert_json_error(&r, 400, "invalid fund id");

    // --- GET /v1/lookup/payout/{claim}/{tier} ---
    let v = cluster
        .client(0)
        .get(&format!("/v1/lookup/payout/{c1}/basic"))
        .await
        .unwrap();
    assert_eq!(
        v["record_id"],
        json!(fx.corrected.id()),
        "the standing payout"
    );
    let v = cluster
        .client(0)
        .get(&format!("/v1/lookup/payout/{c1}/assistance"))
        .await
        .unwrap();
    assert_eq!(v["record_id"], Value::Null);
    expect_get_error(
        cluster,
        0,
        &format!("/v1/lookup/payout/{c1}/platinum"),
        400,
        "unknown tier",
    )
    .await;
    assert_eq!(
        StateLookup::new(state)
            .payout(&c1, PayoutTier::Basic)
            .unwrap(),
        Some(fx.corrected.id())
    );

    // --- GET /v1/lookup/clearing/{year}/{month}/{from}/{to} ---
    let v = cluster
        .client(1)
        .get(&format!("/v1/lookup/clearing/2026/3/{AWAY}/{HOME}"))
        .await
        .unwrap();
    let root = StateLookup::new(state)
        .clearing_root(
            Period {
                year: 2026,
                month: 3,
            },
            &region(AWAY),
            &region(HOME),
        )
        .unwrap()
        .expect("the cross-region payout is waiting for clearing");
    assert_eq!(v["claim_set_root"], json!(root));
    assert_eq!(
        root,
        fundtrail_ledger::merkle::root(&[fundtrail_ledger::merkle::leaf_hash(
            fx.cross.id().as_bytes()
        )]),
        "the root over the one uncleared payout"
    );
    let v = cluster
        .client(1)
        .get(&format!("/v1/lookup/clearing/2026/4/{AWAY}/{HOME}"))
        .await
        .unwrap();
    assert_eq!(v["claim_set_root"], Value::Null, "an empty bucket");
    let r = cluster
        .http_get(
            1,
            &format!("/v1/lookup/clearing/2026/3/{AWAY}/not%20a%20region"),
        )
        .await
        .unwrap();
    assert_json_error(&r, 400, "invalid region");
    expect_get_error(
        cluster,
        1,
        &format!("/v1/lookup/clearing/2026/march/{AWAY}/{HOME}"),
        400,
        "a month that is not a number",
    )
    .await;
    fx.stop().await;
}

/// Every entry of a listing at `path`, under `key`, through pages of
/// `limit`: the ids of each page in turn.
async fn pages(cluster: &TestCluster, path: &str, key: &str, limit: usize) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}?limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let v = cluster.client(pages.len() % 3).get(&url).await.unwrap();
        let ids = record_ids_in(&v[key]);
        assert!(ids.len() <= limit, "{url}: a page over its limit");
        pages.push(ids);
        match &v["next_cursor"] {
            Value::Null => return pages,
            Value::String(next) => cursor = Some(next.clone()),
            other => panic!("{url}: next_cursor is {other}"),
        }
        assert!(pages.len() <= 10, "{path} pages on without end");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_through_cursors_and_refuse_a_cursor_not_their_own() {
    let _serial = serial().await;
    let fx = Fixture::start().await;
    let cluster = &fx.cluster;
    let (c1, p1) = (fx.c1, fx.p1);
    let fund = format!("/v1/funds/basic-{HOME}");
    let claim = format!("/v1/claims/{c1}");
    let person = format!("/v1/persons/{p1}/years/2026");
    let movements = ids_of(&[&fx.first, &fx.credit, &fx.duplicate, &fx.corrected]);
    let claim_records = ids_of(&[&fx.claim1, &fx.first, &fx.duplicate, &fx.corrected]);

    // --- limit and cursor on GET /v1/funds, /v1/claims, /v1/persons ---
    assert_eq!(
        pages(cluster, &fund, "movements", 2).await,
        vec![movements[..2].to_vec(), movements[2..].to_vec()],
        "every movement once, in chain order, two at a time"
    );
    assert_eq!(
        pages(cluster, &claim, "records", 3).await,
        vec![claim_records[..3].to_vec(), claim_records[3..].to_vec()]
    );
    assert_eq!(
        pages(cluster, &person, "records", 1).await,
        vec![ids_of(&[&fx.grant]), ids_of(&[&fx.claim1])]
    );
    for (limit, served) in [("0", 1), ("4", 4), ("5000", 4)] {
        let v = cluster
            .client(0)
            .get(&format!("{fund}?limit={limit}"))
            .await
            .unwrap();
        assert_eq!(
            record_ids_in(&v["movements"]),
            movements[..served],
            "limit={limit}"
        );
    }
    let whole = cluster.client(1).get(&fund).await.unwrap();
    assert_eq!(
        record_ids_in(&whole["movements"]),
        movements,
        "the default limit is 100"
    );
    assert_eq!(whole["next_cursor"], Value::Null);

    // A page's cursor, then the same cursor elsewhere or altered.
    let first = cluster
        .client(2)
        .get(&format!("{claim}?limit=1"))
        .await
        .unwrap();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more records follow")
        .to_string();
    let mut altered = cursor.clone().into_bytes();
    altered[0] = if altered[0] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).unwrap();
    for (path, what) in [
        (
            format!("{fund}?cursor={cursor}"),
            "a claim's cursor on a fund",
        ),
        (
            format!("{person}?cursor={cursor}"),
            "a claim's cursor on a person",
        ),
        (
            format!("/v1/claims/{}?cursor={cursor}", fx.kit.claim_id(2)),
            "a claim's cursor on another claim",
        ),
        (format!("{claim}?cursor={altered}"), "an altered cursor"),
        (format!("{claim}?cursor=zz"), "a cursor that is not hex"),
        (format!("{claim}?cursor="), "an empty cursor"),
        (
            format!("{claim}?limit=many"),
            "a limit that is not a number",
        ),
    ] {
        let r = expect_get_error(cluster, 0, &path, 400, what).await;
        assert!(
            !r.error().unwrap().contains(&cursor),
            "{what}: the message does not repeat the cursor"
        );
    }
    let next = cluster
        .client(0)
        .get(&format!("{claim}?limit=1&cursor={cursor}"))
        .await
        .unwrap();
    assert_eq!(record_ids_in(&next["records"]), claim_records[1..2]);

    // --- acted_on_by of GET /v1/records/{id} pages the same way ---
    let record = format!("/v1/records/{}", fx.claim1.id());
    let v = cluster.client(1).get(&record).await.unwrap();
    let disclosures = ids_of(&[&fx.insurers_disclosure, &fx.auditors_disclosure]);
    assert_eq!(v["acted_on_by"], json!(disclosures));
    assert_eq!(v["acted_on_by_next_cursor"], Value::Null);
    let v = cluster
        .client(1)
        .get(&format!("{record}?limit=1"))
        .await
        .unwrap();
    assert_eq!(v["acted_on_by"], json!(disclosures[..1]));
    let more = v["acted_on_by_next_cursor"].as_str().expect("one more");
    let v = cluster
        .client(2)
        .get(&format!("{record}?limit=1&cursor={more}"))
        .await
        .unwrap();
    assert_eq!(v["acted_on_by"], json!(disclosures[1..]));
    assert_eq!(v["acted_on_by_next_cursor"], Value::Null);
    expect_get_error(
        cluster,
        2,
        &format!("/v1/records/{}?cursor={more}", fx.first.id()),
        400,
        "another record's history cursor",
    )
    .await;
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_stream_and_follow_and_the_chain_downloads_as_the_store_exports_it() {
    let _serial = serial().await;
    let mut fx = Fixture::start().await;
    let height = fx.height();
    let (h, i, o) = fx.placed(&fx.corrected);

    // --- GET /v1/blocks/{height} ---
    let v = fx
        .cluster
        .client(0)
        .get(&format!("/v1/blocks/{h}"))
        .await
        .unwrap();
    assert_eq!(v["header"]["height"], json!(h));
    assert_eq!(v["records"][i as usize], json_of!(&fx.corrected));
    assert_eq!(v["outcomes"][i as usize], json_of!(o));
    assert!(!v["attestations"].as_array().unwrap().is_empty());
    assert_eq!(v["hash"].as_str().unwrap().len(), 64);
    expect_get_error(
        &fx.cluster,
        0,
        &format!("/v1/blocks/{}", height + 1000),
        404,
        "a block beyond the head",
    )
    .await;
    let r = fx.cluster.http_get(0, "/v1/blocks/abc").await.unwrap();
    assert_json_error(&r, 400, "a height that is not a number");

    // --- GET /v1/blocks?from=1 (NDJSON) ---
    let r = fx.cluster.http_get(1, "/v1/blocks?from=1").await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/x-ndjson"), "{r:?}");
    let blocks: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a block"))
        .collect();
    assert_eq!(blocks.len() as u64, height, "every block, once");
    for (n, b) in blocks.iter().enumerate() {
        assert_eq!(b["header"]["height"], json!(n as u64 + 1));
    }
    assert_eq!(blocks.last().unwrap()["hash"], fx.head["hash"]);
    let streamed: Vec<Value> = blocks
        .iter()
        .flat_map(|b| b["outcomes"].as_array().unwrap().clone())
        .map(|o| o["record_id"].clone())
        .collect();
    for (rec, _) in &fx.flow.records {
        assert!(streamed.contains(&json!(rec.id())));
    }
    let r = fx
        .cluster
        .http_get(1, &format!("/v1/blocks?from={height}"))
        .await
        .unwrap();
    assert_eq!(r.text.lines().count(), 1, "from the head: one block");
    let r = fx.cluster.http_get(1, "/v1/blocks?from=abc").await.unwrap();
    assert_json_error(&r, 400, "a stream start that is not a number");

    // follow=true stays open and sends the next block when it commits.
    let mut stream = fx
        .cluster
        .client(2)
        .send(
            reqwest::Method::GET,
            &format!("/v1/blocks?from={}&follow=true", height + 1),
            Vec::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let next = fx.kit.sign(
        Role::Finance,
        RecordBody::FundCredit(FundCreditBody {
            fund_id: fund(&format!("assist-{HOME}")),
            amount: Amount::yuan(500),
            source: FundSource::Budget {
                appropriation: "CZ-2026-002".parse().unwrap(),
            },
        }),
        10_000,
        0,
    );
    let pending = tokio::time::timeout(Duration::from_millis(300), stream.chunk()).await;
    assert!(pending.is_err(), "nothing is sent before a block commits");
    let lines = fx
        .cluster
        .client(0)
        .submit(std::slice::from_ref(&next))
        .await
        .unwrap();
    let (next_height, _, _) = committed(&lines[0]).expect("committed");
    let mut buf = Vec::new();
    while !buf.contains(&b'\n') {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("the new block arrives within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buf.extend_from_slice(&chunk);
    }
    let line = buf.split(|b| *b == b'\n').next().unwrap();
    let b: Value = serde_json::from_slice(line).unwrap();
    assert_eq!(b["header"]["height"], json!(next_height));
    assert_eq!(b["outcomes"][0]["record_id"], json!(next.id()));
    drop(stream);

    // --- GET /v1/head ---
    let head = fx
        .cluster
        .converge(Duration::from_secs(30))
        .await
        .expect("converge");
    let height = head["height"].as_u64().unwrap();
    for n in 0..3 {
        let v = fx.cluster.client(n).get("/v1/head").await.unwrap();
        assert_eq!(v["chain_id"], "gd-medfund-test");
        assert_eq!(v["height"], json!(height));
        assert_eq!(v["hash"], head["hash"]);
        assert_eq!(
            v["org"],
            ["gd-insurance", "gd-civil-affairs", "gd-health"][n]
        );
        assert_eq!(v["raft"]["node_id"], json!(n + 1));
        assert!(v["raft"]["term"].as_u64().unwrap() >= 1);
        assert!(v["raft"]["leader"].as_u64().is_some());
        assert!(v["raft"]["last_applied"].as_u64().unwrap() >= height);
        assert!(v["timestamp_ms"].as_u64().unwrap() > 0);
        assert_eq!(v["state_root"].as_str().unwrap().len(), 64);
        let attested = v["attested_by"].as_array().unwrap();
        assert!(
            attested.iter().all(|o| o.as_str().is_some_and(|o| [
                "gd-insurance",
                "gd-civil-affairs",
                "gd-health"
            ]
            .contains(&o))),
            "{v}"
        );
    }

    // --- GET /v1/chain ---
    let (bytes, summary) = fx.cluster.verified_export(1, 3).await.expect("verifies");
    assert_eq!(summary.head_height.0, height);
    assert_eq!(json!(summary.head_hash.to_hex()), head["hash"]);
    let ids = record_ids(&bytes).unwrap();
    assert_eq!(ids.len(), fx.flow.records.len() + 1);
    for (rec, _) in &fx.flow.records {
        assert_eq!(ids.iter().filter(|id| **id == rec.id()).count(), 1);
    }
    assert!(ids.contains(&next.id()));
    let response = fx
        .cluster
        .client(1)
        .send(reqwest::Method::GET, "/v1/chain", Vec::new(), None)
        .await
        .unwrap();
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "application/octet-stream"
    );
    assert_eq!(
        response.bytes().await.unwrap(),
        bytes,
        "the same bytes again"
    );
    // The streamed download is byte for byte the store's own export.
    fx.cluster.terminate(1);
    let store = Store::open(&fx.cluster.data_dir(1)).expect("the stopped node's store opens");
    let mut exported = Vec::new();
    store
        .export_to(&mut exported, summary.head_height)
        .expect("the store exports");
    assert_eq!(exported, bytes, "the download is the store's export");
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_keeps_only_its_own_bills_and_serves_only_authorised_disclosures() {
    let _serial = serial().await;
    let fx = Fixture::start().await;
    let cluster = &fx.cluster;
    let unknown = unknown_id();

    // --- POST /v1/vault: only the health node keeps health's raw bills. ---
    let entry = VaultEntry {
        record_id: fx.claim1.id(),
        salt: fx.salt.to_vec(),
        raw_bill: fx.raw.clone(),
    };
    let mut wrong = entry.clone();
    wrong.raw_bill[5] ^= 1;
    let r = cluster
        .http_post_with(
            &cluster.department(2),
            "/v1/vault",
            serde_json::to_string(&[&wrong]).unwrap(),
        )
        .await
        .unwrap();
    assert_json_error(&r, 400, "a raw bill that does not match");
    assert!(r.error().unwrap().contains("raw_commitment"), "{r:?}");
    let r = cluster
        .http_post_with(
            &cluster.department(0),
            "/v1/vault",
            serde_json::to_string(&[&entry]).unwrap(),
        )
        .await
        .unwrap();
    assert_json_error(&r, 400, "another organisation's claim");
    assert!(r.error().unwrap().contains("not submitted by"), "{r:?}");
    let r = cluster
        .http_post_with(&cluster.department(2), "/v1/vault", "{\"record_id\":")
        .await
        .unwrap();
    assert_json_error(&r, 400, "malformed vault body");
    let v = cluster
        .department(2)
        .post("/v1/vault", &json!([entry]))
        .await
        .unwrap();
    assert_eq!(v, json!({"stored": 1}));

    // --- POST /v1/disclosures/{id}/fetch, naming an officer's fetch ---
    let disclosure = fx.insurers_disclosure.id();
    let fetch = officer_fetch(
        &cluster.kit,
        Role::Insurance,
        0,
        disclosure,
        fx.claim1.id(),
        1,
    );
    let lines = cluster
        .client(0)
        .submit_applied(std::slice::from_ref(&fetch))
        .await
        .unwrap();
    assert_eq!(committed(&lines[0]).unwrap().2.verdict, Verdict::Accepted);
    let named = fetch_request(&fetch).to_string();
    let insurance_officer = cluster.officer(0);
    let r = cluster
        .http_post_with(
            &insurance_officer,
            &format!("/v1/disclosures/{disclosure}/fetch"),
            "",
        )
        .await
        .unwrap();
    assert_json_error(&r, 400, "no fetch named");
    let v = insurance_officer
        .post(
            &format!("/v1/disclosures/{disclosure}/fetch"),
            &fetch_request(&fetch),
        )
        .await
        .expect("the insurer's disclosure is served");
    assert_eq!(v["verified"], true);
    assert_eq!(v["fetch"], json_of!(&fetch.id()));
    assert_eq!(v["entry"], json_of!(&entry), "the raw bill as deposited");
    let r = cluster
        .http_post_with(
            &insurance_officer,
            &format!("/v1/disclosures/{disclosure}/fetch"),
            named.clone(),
        )
        .await
        .unwrap();
    assert_json_error(&r, 403, "a fetch served before");
    let r = cluster
        .http_post_with(
            &insurance_officer,
            &format!("/v1/disclosures/{}/fetch", fx.auditors_disclosure.id()),
            named.clone(),
        )
        .await
        .unwrap();
    assert_json_error(&r, 403, "a disclosure filed by another organisation");
    let r = cluster
        .http_post_with(
            &insurance_officer,
            &format!("/v1/disclosures/{}/fetch", fx.corrected.id()),
            named.clone(),
        )
        .await
        .unwrap();
    assert_json_error(&r, 400, "a record that is not a disclosure");
    let r = cluster
        .http_post_with(
            &insurance_officer,
            &format!("/v1/disclosures/{unknown}/fetch"),
            named,
        )
        .await
        .unwrap();
    assert_json_error(&r, 404, "an unknown disclosure");
    let r = cluster
        .http_post_with(&insurance_officer, "/v1/disclosures/nothex/fetch", "")
        .await
        .unwrap();
    assert_json_error(&r, 400, "a malformed disclosure id");
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_report_the_chain_and_the_leader() {
    let _serial = serial().await;
    let fx = Fixture::start().await;
    let cluster = &fx.cluster;
    let height = fx.height();

    // --- GET /healthz ---
    for n in 0..3 {
        let r = cluster.http_get(n, "/healthz").await.unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        let v = r.json();
        assert_eq!(v["ok"], true);
        assert!(v["height"].as_u64().unwrap() >= height);
        assert!(v["leader"].as_u64().is_some());
    }

    // --- GET /metrics ---
    let mut leaders = 0;
    for n in 0..3 {
        let r = cluster
            .http_get_with(&cluster.department(n), "/metrics")
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("text/plain"), "{r:?}");
        let m = &r.text;
        let value = |name: &str| -> f64 {
            m.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} missing from node {n}'s metrics:\n{m}"))
        };
        assert!(value("fundtrail_blocks_committed_total") >= 1.0);
        assert!(value("fundtrail_records_accepted_total") >= 1.0);
        assert_eq!(
            value("fundtrail_records_rejected_total{code=\"DUPLICATE_PAYMENT\"}"),
            1.0,
            "node {n} counted the one rejection"
        );
        assert!(value("fundtrail_raft_term") >= 1.0);
        assert!(value("fundtrail_head_height") >= height as f64);
        assert_eq!(value("fundtrail_peers_connected"), 2.0, "node {n}");
        leaders += value("fundtrail_raft_is_leader") as usize;
        assert!(m.contains("fundtrail_apply_seconds_bucket{le="), "{m}");
        assert!(value("fundtrail_apply_seconds_count") >= 1.0);
        for name in [
            "fundtrail_records_submitted_total",
            "fundtrail_records_refused_total",
            "fundtrail_submit_errors_total",
        ] {
            value(name);
        }
    }
    assert_eq!(leaders, 1, "exactly one node says it leads");
    fx.stop().await;
}
