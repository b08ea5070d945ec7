//! The report against real chains: its money agrees with the records and
//! with the contracts' own fund balances, its counts with the outcomes, and
//! its page is self-contained and escaped.

mod common;

use std::collections::BTreeMap;

use common::{workload_chain, TestChain};
use fundtrail_audit::report::PayoutScheme;
use fundtrail_audit::{html, write_report, AuditReport, ReportBuilder, Verification};
use fundtrail_contracts::quote::quote;
use fundtrail_ledger::block::{Code, Verdict};
use fundtrail_ledger::pseudonym::ClaimId;
use fundtrail_ledger::record::{
    DisclosureBody, DisclosureFetchBody, DisclosurePurpose, Envelope, FundCreditBody, FundSource,
    RecordBody, RecordId, ReversalBody, ReversalReason,
};
use fundtrail_ledger::types::{Amount, Category, FundId, Role, Scheme};
use fundtrail_testkit::bodies::{assist, claim, grant, settle};
use fundtrail_testkit::{fund, region, HOME};

fn yuan(s: &str) -> Amount {
    s.parse().unwrap()
}

fn report_of(chain: &TestChain) -> AuditReport {
    let mut builder = ReportBuilder::new(&chain.genesis);
    for block in &chain.blocks {
        builder.add_block(block);
    }
    builder.finish(chain.verify())
}

/// What the small chain's test needs to find again in the report.
struct Scenario {
    chain: TestChain,
    disclosure: RecordId,
    disclosed: RecordId,
}

fn credit(fund_id: &str, amount: Amount, source: FundSource) -> RecordBody {
    RecordBody::FundCredit(FundCreditBody {
        fund_id: fund(fund_id),
        amount,
        source,
    })
}

/// Five days of a small consortium: credits and transfers, claims at two
/// hospitals, honest and abusive payouts, a reversal and disclosures.
fn scenario() -> Scenario {
    let mut c = TestChain::new(3);
    let budget = FundSource::Budget {
        appropriation: "2026-GD-044".parse().unwrap(),
    };
    let transfer = FundSource::Transfer {
        from_fund: fund("ci-110000"),
    };
    let records = vec![
        c.record(
            Role::Finance,
            credit("basic-440100", yuan("250000.00"), budget),
            0,
        ),
        c.record(
            Role::Finance,
            credit("assist-440100", yuan("80000.00"), transfer.clone()),
            2,
        ),
        c.record(
            Role::Finance,
            credit("assist-440100", yuan("1.00"), transfer),
            0,
        ),
    ];
    c.block(0, records);

    let (p1, p2) = (c.kit().person(1), c.kit().person(2));
    let (k1, k2, k3) = (
        c.kit().claim_id(1),
        c.kit().claim_id(2),
        c.kit().claim_id(3),
    );
    let mut other_hospital = claim(k2, p2, yuan("5000.00"), yuan("4000.00"));
    other_hospital.institution = "H44010002".parse().unwrap();
    let records = vec![
        c.record(
            Role::CivilAffairs,
            grant(p1, Category::Dibao, "2026-01-01", "2026-12-31"),
            0,
        ),
        c.record(
            Role::Health,
            RecordBody::Claim(claim(k1, p1, yuan("100000.00"), yuan("90000.00"))),
            0,
        ),
        c.record(Role::Health, RecordBody::Claim(other_hospital), 0),
    ];
    c.block(1, records);

    let q = quote(&c.builder.state, &k1).unwrap();
    let basic1 = c.record(Role::Insurance, settle(k1, Scheme::Basic, q.basic), 2);
    let disclosed = basic1.id();
    let over = q.assistance.checked_add(yuan("0.01")).unwrap();
    let records = vec![
        basic1,
        c.record(Role::Insurance, settle(k1, Scheme::Basic, q.basic), 2),
        c.record(
            Role::Health,
            RecordBody::Claim(claim(k1, p1, yuan("100000.00"), yuan("90000.00"))),
            0,
        ),
        c.record(
            Role::Insurance,
            settle(
                ClaimId {
                    epoch: 1,
                    tag: fundtrail_ledger::hash::Hash32([7; 32]),
                },
                Scheme::Basic,
                yuan("10.00"),
            ),
            0,
        ),
    ];
    c.block(2, records);

    let q = quote(&c.builder.state, &k1).unwrap();
    let q2 = quote(&c.builder.state, &k2).unwrap();
    let basic2 = c.record(Role::Insurance, settle(k2, Scheme::Basic, q2.basic), 0);
    let basic2_id = basic2.id();
    let records = vec![
        c.record(
            Role::Insurance,
            settle(k1, Scheme::CriticalIllness, q.critical_illness),
            0,
        ),
        c.record(Role::CivilAffairs, assist(k1, Category::Dibao, over), 0),
        basic2,
        c.record(
            Role::Health,
            RecordBody::Claim(claim(k3, p1, yuan("100000.00"), yuan("90000.00"))),
            0,
        ),
    ];
    c.block(3, records);

    let auditor = c.kit().org(Role::Auditor).id.clone();
    let health = c.kit().org(Role::Health).id.clone();
    let disclose = |requester| {
        RecordBody::Disclosure(DisclosureBody {
            target: disclosed,
            holder: health.clone(),
            requester,
            purpose: DisclosurePurpose::FraudInvestigation,
            case_ref: Some("AUD-2026-007".parse().unwrap()),
        })
    };
    let reverse = RecordBody::Reversal(ReversalBody {
        target: basic2_id,
        reason: ReversalReason::DataEntryError,
    });
    let records = vec![
        c.record(
            Role::CivilAffairs,
            assist(k1, Category::Dibao, q.assistance),
            0,
        ),
        c.record(Role::Insurance, reverse, 0),
        c.record(Role::Auditor, disclose(auditor.clone()), 1),
        c.record(Role::Auditor, disclose(health.clone()), 0),
    ];
    let disclosure = records[2].id();
    c.block(5, records);
    Scenario {
        chain: c,
        disclosure,
        disclosed,
    }
}

/// An officer's fetch under `disclosure`, signed by `key`.
fn fetch_by(
    c: &TestChain,
    key: &fundtrail_ledger::crypto::Keypair,
    disclosure: RecordId,
    target: RecordId,
    nonce: u64,
) -> fundtrail_ledger::SignedRecord {
    let body = RecordBody::DisclosureFetch(DisclosureFetchBody { disclosure, target });
    Envelope::new(c.kit().chain_id.clone(), body, key.public(), nonce).sign(key)
}

#[test]
fn each_disclosure_lists_its_fetches_with_officer_and_time() {
    let Scenario {
        mut chain,
        disclosure,
        disclosed,
    } = scenario();
    let copy = |k: &fundtrail_ledger::crypto::Keypair| {
        fundtrail_ledger::crypto::Keypair::from_seed(k.secret_bytes())
    };
    let audit = chain.kit().org(Role::Auditor);
    let (officer, submitter) = (copy(&audit.officers[1]), copy(&audit.submitter));
    let fetched = fetch_by(&chain, &officer, disclosure, disclosed, 1);
    let by_submitter = fetch_by(&chain, &submitter, disclosure, disclosed, 2);
    let too_late = fetch_by(&chain, &officer, disclosure, disclosed, 3);
    let ids = [fetched.id(), by_submitter.id(), too_late.id()];
    chain.block(6, vec![fetched, by_submitter]);
    // The default window is 30 days from the disclosure (day 5).
    chain.block(36, vec![too_late]);

    let report = report_of(&chain);
    assert!(report.verification.ok, "{:?}", report.verification.error);
    let fetches = &report.disclosures[0].fetches;
    let listed: Vec<RecordId> = fetches.iter().map(|f| f.record_id).collect();
    assert_eq!(listed, ids);
    assert_eq!(fetches[0].verdict, Verdict::Accepted);
    assert_eq!(fetches[0].officer, officer.public());
    assert_eq!(
        fetches[0].org.as_ref().map(|o| o.as_str()),
        Some("gd-audit")
    );
    assert_eq!(fetches[0].height.0, 6);
    assert_eq!(fetches[0].timestamp_ms, chain.blocks[5].header.timestamp_ms);
    assert_eq!(
        fetches[1].verdict,
        Verdict::Rejected {
            code: code("ROLE_NOT_ALLOWED")
        }
    );
    assert_eq!(fetches[1].officer, submitter.public());
    assert_eq!(
        fetches[2].verdict,
        Verdict::Rejected {
            code: code("GRANT_EXPIRED")
        }
    );
    assert!(report.disclosures[1].fetches.is_empty());
    let page = html::render(&report);
    assert!(page.contains("Fetches of raw bills"), "the page lists them");
    assert!(
        page.contains("1 (+2 refused)"),
        "and counts them per disclosure"
    );
}

fn code(s: &str) -> Code {
    Code::new(s).unwrap()
}

fn payout_of(body: &RecordBody) -> Option<(FundId, Amount)> {
    match body {
        RecordBody::Settlement(s) => Some((s.fund_id.clone(), s.amount)),
        RecordBody::Assistance(a) => Some((a.fund_id.clone(), a.amount)),
        _ => None,
    }
}

/// Accepted payouts per fund minus the accepted reversals of them, summed
/// from the records themselves.
fn net_payouts(chain: &TestChain) -> BTreeMap<FundId, Amount> {
    let mut payouts: BTreeMap<RecordId, (FundId, Amount)> = BTreeMap::new();
    for (body, verdict, id) in chain.records() {
        if *verdict != Verdict::Accepted {
            continue;
        }
        if let Some(p) = payout_of(body) {
            payouts.insert(id, p);
        }
        if let RecordBody::Reversal(r) = body {
            payouts.remove(&r.target);
        }
    }
    let mut net = BTreeMap::new();
    for (fund, amount) in payouts.into_values() {
        let total: &mut Amount = net.entry(fund).or_default();
        *total = total.checked_add(amount).unwrap();
    }
    net
}

fn rejections_by_code(chain: &TestChain) -> BTreeMap<Code, u64> {
    let mut counts = BTreeMap::new();
    for (_, verdict, _) in chain.records() {
        if let Verdict::Rejected { code } = verdict {
            *counts.entry(code.clone()).or_default() += 1;
        }
    }
    counts
}

fn assert_money_agrees(chain: &TestChain, report: &AuditReport) {
    let net = net_payouts(chain);
    for f in &report.funds {
        let expected = net.get(&f.fund_id).copied().unwrap_or_default();
        assert_eq!(f.paid_net(), expected, "net payouts of {}", f.fund_id);
        assert_eq!(
            f.balance,
            Some(chain.fund_balance(&f.fund_id)),
            "balance of {}",
            f.fund_id
        );
    }
    let total = net
        .values()
        .fold(Amount::ZERO, |t, a| t.checked_add(*a).unwrap());
    assert_eq!(report.payouts.total, total);
    let by_region: Amount = report
        .payouts
        .by_region
        .values()
        .fold(Amount::ZERO, |t, a| t.checked_add(*a).unwrap());
    assert_eq!(by_region, total);
}

#[test]
fn fund_flows_equal_accepted_payouts_and_contract_balances() {
    let s = scenario();
    let report = report_of(&s.chain);
    assert!(report.verification.ok, "{:?}", report.verification.error);
    assert_money_agrees(&s.chain, &report);

    let basic = report
        .funds
        .iter()
        .find(|f| f.fund_id == fund("basic-440100"))
        .unwrap();
    assert_eq!(basic.budget_in, yuan("250000.00"));
    assert_eq!(
        basic.paid,
        yuan("64400.00"),
        "62,300 + 2,100 before the reversal"
    );
    assert_eq!(basic.payouts_reversed, yuan("2100.00"));
    assert_eq!(basic.payouts_standing, 1);
    let assist_fund = report
        .funds
        .iter()
        .find(|f| f.fund_id == fund("assist-440100"))
        .unwrap();
    assert_eq!(assist_fund.transfer_in, yuan("80000.00"));
    assert_eq!(assist_fund.paid_net(), yuan("9061.50"));
    let source = report
        .funds
        .iter()
        .find(|f| f.fund_id == fund("ci-110000"))
        .unwrap();
    assert_eq!(source.transfer_out, yuan("80000.00"));

    let home = &report.payouts.by_region_and_scheme[&region(HOME)];
    assert_eq!(home[&PayoutScheme::Basic], yuan("62300.00"));
    assert_eq!(home[&PayoutScheme::CriticalIllness], yuan("14755.00"));
    assert_eq!(home[&PayoutScheme::Assistance], yuan("9061.50"));
    assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
}

#[test]
fn rejections_by_code_equal_the_outcomes() {
    let s = scenario();
    let report = report_of(&s.chain);
    let expected = rejections_by_code(&s.chain);
    assert_eq!(report.rejections.totals, expected);
    for c in [
        "MISSING_APPROVAL",
        "DUPLICATE_PAYMENT",
        "DUPLICATE_CLAIM",
        "UNKNOWN_CLAIM",
        "ABOVE_ENTITLEMENT",
        "ROLE_NOT_ALLOWED",
    ] {
        assert_eq!(report.rejections.totals.get(&code(c)), Some(&1), "{c}");
    }
    let per_day: u64 = report.rejections.by_day.iter().map(|d| d.total).sum();
    assert_eq!(per_day, report.rejections.total());
    let days: Vec<String> = report
        .rejections
        .by_day
        .iter()
        .map(|d| d.day.to_string())
        .collect();
    assert_eq!(
        days,
        ["2026-01-01", "2026-01-03", "2026-01-04", "2026-01-06"]
    );
    assert_eq!(report.record_totals().rejected, report.rejections.total());
    let mut signals: BTreeMap<Code, u64> = BTreeMap::new();
    for outcome in s.chain.blocks.iter().flat_map(|b| &b.outcomes) {
        for signal in &outcome.signals {
            *signals.entry(signal.clone()).or_default() += 1;
        }
    }
    assert_eq!(report.signals.totals, signals);
    assert_eq!(signals.get(&code("SPLIT_ADMISSION")), Some(&1));
}

#[test]
fn institutions_are_ranked_by_rejected_payout_amount() {
    let s = scenario();
    let report = report_of(&s.chain);
    let top = &report.institutions.top;
    assert_eq!(report.institutions.seen, 2);
    let first = &top[0];
    assert_eq!(first.institution.as_ref().unwrap().as_str(), "H44010001");
    // The duplicate basic (62,300) and the excess assistance (9,061.51).
    assert_eq!(first.rejected_amount, yuan("71361.51"));
    assert_eq!(first.claims_rejected, 1);
    assert_eq!(top[1].institution, None, "the payout on a claim never seen");
    assert_eq!(top[1].rejected_amount, yuan("10.00"));
    assert_eq!(top.len(), 2, "H44010002 had no rejected payout");
}

#[test]
fn disclosure_log_lists_every_disclosure() {
    let s = scenario();
    let report = report_of(&s.chain);
    assert_eq!(report.disclosures.len(), 2);
    let d = &report.disclosures[0];
    assert_eq!(d.record_id, s.disclosure);
    assert_eq!(d.target, s.disclosed);
    assert_eq!(d.requester.as_str(), "gd-audit");
    assert_eq!(d.holder.as_str(), "gd-health");
    assert_eq!(d.purpose, DisclosurePurpose::FraudInvestigation);
    assert_eq!(d.case_ref.as_ref().unwrap().as_str(), "AUD-2026-007");
    assert_eq!(d.verdict, Verdict::Accepted);
    assert_eq!(d.height.0, 5);
    assert_eq!(
        report.disclosures[1].verdict,
        Verdict::Rejected {
            code: code("ROLE_NOT_ALLOWED")
        },
        "the requester must be the submitting org"
    );
}

#[test]
fn html_is_self_contained_balanced_and_escaped() {
    let s = scenario();
    let mut report = report_of(&s.chain);
    report.verification.ok = false;
    report.verification.error = Some("height 3: <script>alert(1)</script> & more".into());
    let page = html::render(&report);
    assert!(!page.contains("http://") && !page.contains("https://"));
    for attr in ["src=", "<script", "@import", "url("] {
        assert!(!page.contains(attr), "{attr}");
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
    let opened = page.matches("<svg").count();
    assert!(opened >= 4, "charts: {opened}");
    assert_eq!(opened, page.matches("</svg>").count());
    for tag in ["table", "section", "div", "tr", "td"] {
        let open =
            page.matches(&format!("<{tag}>")).count() + page.matches(&format!("<{tag} ")).count();
        assert_eq!(open, page.matches(&format!("</{tag}>")).count(), "<{tag}>");
    }
    assert!(page.contains("Verification failed"));
    assert!(page.contains("AUD-2026-007"));
    for person in [s.chain.kit().person(1), s.chain.kit().person(2)] {
        assert!(
            !page.contains(&person.tag.to_hex()[..16]),
            "no pseudonym in the page"
        );
    }
    assert!(
        !page.contains(&s.disclosed.to_hex()),
        "record ids only in short form"
    );
}

#[test]
fn written_report_round_trips_and_is_deterministic() {
    let s = scenario();
    let report = report_of(&s.chain);
    let dir = tempfile::tempdir().unwrap();
    let (json, page) = write_report(dir.path(), &report).unwrap();
    let read: AuditReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(read, report);
    assert_eq!(
        std::fs::read_to_string(page).unwrap(),
        html::render(&report_of(&s.chain))
    );
}

#[test]
fn empty_chain_renders() {
    let chain = TestChain::new(1);
    let report = ReportBuilder::new(&chain.genesis).finish(Verification::default());
    assert_eq!(report.chain.blocks, 0);
    assert_eq!(report.funds.len(), chain.genesis.funds.len());
    let page = html::render(&report);
    assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
    assert!(page.contains("No record was rejected."));
}

#[test]
fn workload_report_agrees_with_outcomes_and_balances() {
    let chain = workload_chain(11, 24, 60);
    let report = report_of(&chain);
    assert!(report.verification.ok, "{:?}", report.verification.error);
    assert_eq!(report.rejections.totals, rejections_by_code(&chain));
    assert_money_agrees(&chain, &report);
    assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
    assert!(report.institutions.top.len() > 1);
    assert!(!report.disclosures.is_empty());
}

#[test]
fn tampered_chain_still_reports_and_says_verification_failed() {
    let mut s = scenario();
    let duplicate = &mut s.chain.blocks[2].outcomes[1];
    assert_eq!(
        duplicate.verdict,
        Verdict::Rejected {
            code: code("DUPLICATE_PAYMENT")
        }
    );
    duplicate.verdict = Verdict::Accepted;
    let report = report_of(&s.chain);
    let v = &report.verification;
    assert!(!v.ok && v.contracts_replayed);
    let error = v.error.as_deref().unwrap();
    assert!(error.contains("height 3"), "{error}");

    let basic = report
        .funds
        .iter()
        .find(|f| f.fund_id == fund("basic-440100"))
        .unwrap();
    assert_ne!(
        basic.balance,
        Some(s.chain.fund_balance(&basic.fund_id)),
        "the flipped outcome pays twice in the report, never in the contracts"
    );
    let page = html::render(&report);
    assert!(page.contains("Verification failed"));
    assert!(page.contains(&html_escaped(error)));
}

fn html_escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
