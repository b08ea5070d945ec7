use super::parse::redact;
use super::*;
use fundtrail_ledger::pseudonym::{raw_commitment, ClaimId, PseudonymKey};
use fundtrail_ledger::record::RecordBody;

const ID: &str = "11010519491231002X";
const BAD_ID: &str = "110105194912310021";

fn key() -> PseudonymKey {
    PseudonymKey::new(1, [7; 32])
}

fn samples() -> Vec<&'static str> {
    vec![
        r#"{"kind":"eligibility","id_card":"11010519491231002X","category":"dibao","decision":{"grant":{"valid_from":"2026-01-01","valid_until":"2026-12-31"}}}"#,
        r#"{"kind":"eligibility","id_card":"11010519491231002x","category":"tekun","decision":{"revoke":{"effective":"2026-07-01"}}}"#,
        r#"{"kind":"filing","id_card":"11010519491231002X","insured_region":"440100","care_region":"110000","valid_from":"2026-01-01","valid_until":"2026-06-30"}"#,
        r#"{"kind":"claim","id_card":"11010519491231002X","institution":"H44010600001","bill_no":"ZY2026-0000123","institution_level":"tertiary","insured_type":"resident","insured_region":"440100","care_region":"440100","service_date":"2026-03-01","admission":"inpatient","total":"100000.00","in_scope":"90000.00","drg_or_dip_group":"ES23"}"#,
        r#"{"kind":"settlement","ref":"JS2026-0000001","institution":"H44010600001","bill_no":"ZY2026-0000123","scheme":"basic","fund_id":"basic-440100","amount":"62300.00","approvals":2}"#,
        r#"{"kind":"assistance","ref":"JZ2026-0000001","institution":"H44010600001","bill_no":"ZY2026-0000123","category":"dibao","fund_id":"assist-440100","amount":"9061.50"}"#,
        r#"{"kind":"reversal","ref":"CX2026-0000001","target":{"record":"0101010101010101010101010101010101010101010101010101010101010101"},"reason":"data_entry_error"}"#,
        r#"{"kind":"fund_credit","ref":"BK2026-0000001","fund_id":"ci-440100","amount":"2000000.00","source":{"transfer":{"from_fund":"basic-440100"}},"approvals":2}"#,
        r#"{"kind":"clearing","period":{"year":2026,"month":3},"from_region":"440100","to_region":"110000","amount":"350.00","claim_set_root":"0202020202020202020202020202020202020202020202020202020202020202"}"#,
        r#"{"kind":"disclosure","target":{"record":"0101010101010101010101010101010101010101010101010101010101010101"},"holder":"gd-health","requester":"gd-audit","purpose":"audit","case_ref":"SJ-2026-001"}"#,
    ]
}

#[test]
fn gb11643_check_digit() {
    assert!(IdCard::parse(ID).is_ok());
    assert_eq!(IdCard::parse(BAD_ID), Err(IdCardError::CheckDigit));
    assert_eq!(
        IdCard::with_check_digit(&ID[..17]).map(|i| i.expose().to_string()),
        Ok(ID.to_string())
    );
    assert_eq!(IdCard::parse("1101051949123100"), Err(IdCardError::Length));
    assert_eq!(
        IdCard::parse("1101051949123100AX"),
        Err(IdCardError::NotDigits)
    );
    let feb30 = IdCard::with_check_digit("11010519490230002");
    assert_eq!(feb30, Err(IdCardError::BirthDate));
}

#[test]
fn every_kind_round_trips_through_json() {
    for text in samples() {
        let line = parse_line(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let again = serde_json::to_string(&line).expect("lines serialise");
        assert_eq!(parse_line(&again), Ok(line.clone()), "{again}");
        assert!(pseudonymise(line, &key(), [3; 32]).is_ok(), "{text}");
    }
}

#[test]
fn policy_line_round_trips() {
    let template = include_str!("../../examples/policy.jsonl");
    let Ok(SubmissionLine::Policy(body)) = parse_line(template.trim()) else {
        panic!("examples/policy.jsonl holds one policy line");
    };
    let line = SubmissionLine::Policy(body.clone());
    let text = serde_json::to_string(&line).expect("serialises");
    assert!(text.starts_with(r#"{"kind":"policy","region":"440300""#));
    assert_eq!(parse_line(&text), Ok(line.clone()));
    let intake = pseudonymise(line, &key(), [0; 32]).expect("policy");
    assert_eq!(intake.body, RecordBody::Policy(body));
}

#[test]
fn claim_gets_pseudonyms_and_commitment() {
    let line = parse_line(samples()[3]).expect("claim parses");
    let SubmissionLine::Claim(c) = &line else {
        panic!("not a claim");
    };
    let expected_raw = canonical_raw_bill(c);
    let intake = pseudonymise(line, &key(), [5; 32]).expect("claim");
    let RecordBody::Claim(body) = &intake.body else {
        panic!("not a claim body");
    };
    let institution: InstitutionId = "H44010600001".parse().expect("valid");
    assert_eq!(body.person, key().person(ID));
    assert_eq!(body.claim_id, key().claim(&institution, "ZY2026-0000123"));
    let raw = intake.raw.expect("claims keep a raw bill");
    assert_eq!(raw.canonical, expected_raw);
    assert_eq!(body.raw_commitment, raw_commitment(&[5; 32], &expected_raw));
    assert!(!format!("{raw:?}{:?}", intake.body).contains(ID));
}

#[test]
fn payouts_carry_their_approvals() {
    let intake = pseudonymise(parse_line(samples()[4]).expect("ok"), &key(), [0; 32]);
    assert_eq!(intake.map(|i| i.approvals), Ok(2));
    let mut line = parse_line(samples()[4]).expect("ok");
    if let SubmissionLine::Settlement(s) = &mut line {
        s.approvals = 17;
    }
    assert_eq!(
        pseudonymise(line, &key(), [0; 32]),
        Err(IntakeError::TooManyApprovals(17))
    );
}

#[test]
fn malformed_json_names_the_line() {
    let text = format!(
        "{}\n\n{}\n{{\"kind\":\"claim\",\n",
        samples()[0],
        samples()[2]
    );
    let err = parse_file(&text).expect_err("line 4 is cut short");
    assert_eq!(err.line, 4);
    assert!(err.to_string().starts_with("line 4: "), "{err}");
}

#[test]
fn a_bad_id_is_refused_without_showing_it() {
    let text = samples()[0].replace(ID, BAD_ID);
    let file = format!("{}\n{text}\n", samples()[2]);
    let err = parse_file(&file).expect_err("bad check digit");
    let shown = err.to_string();
    assert_eq!(err.line, 2);
    assert!(
        shown.contains("id_card: ") && shown.contains("check digit"),
        "{shown}"
    );
    assert!(
        !shown.contains(BAD_ID) && !shown.contains(&BAD_ID[..12]),
        "{shown}"
    );
}

#[test]
fn an_id_written_as_a_number_is_not_echoed() {
    let text = samples()[2].replace(&format!("\"{ID}\""), "110105194912310021");
    let shown = parse_line(&text).expect_err("not a string").to_string();
    assert!(shown.contains("ID-card number as a JSON string"), "{shown}");
    assert!(!shown.contains("1101051949"), "{shown}");
}

#[test]
fn values_in_parser_messages_are_masked() {
    let text = samples()[2].replace("\"440100\"", "\"1101051949 1231002X\"");
    let shown = parse_line(&text).expect_err("bad region label").to_string();
    assert!(!shown.contains("1101051949"), "{shown}");
    let wrong_kind = samples()[0].replace("eligibility", "110105194912310");
    let shown = parse_line(&wrong_kind)
        .expect_err("unknown kind")
        .to_string();
    assert!(shown.contains("unknown variant"), "{shown}");
    assert!(!shown.contains("110105"), "{shown}");
    assert!(shown.contains("`claim`"), "{shown}");
}

#[test]
fn unknown_fields_are_refused() {
    let text = samples()[2].replace(
        "\"kind\":\"filing\",",
        "\"kind\":\"filing\",\"name\":\"x\",",
    );
    let shown = parse_line(&text).expect_err("unknown field").to_string();
    assert!(shown.contains("unknown field `name`"), "{shown}");
}

#[test]
fn bad_bill_numbers_are_refused_without_showing_them() {
    let text = samples()[4].replace("ZY2026-0000123", "ZY 2026 0000123");
    let shown = parse_line(&text).expect_err("space").to_string();
    assert!(shown.contains("bill number"), "{shown}");
    assert!(!shown.contains("0000123"), "{shown}");
}

#[test]
fn continue_on_error_reports_every_bad_line() {
    let text = format!("{}\nnot json\n{}\n{{}}\n", samples()[0], samples()[1]);
    let results = parse_file_each(&text);
    let lines: Vec<(usize, bool)> = results.iter().map(|(n, r)| (*n, r.is_ok())).collect();
    assert_eq!(lines, vec![(1, true), (2, false), (3, true), (4, false)]);
}

#[test]
fn structural_checks_apply() {
    let text = samples()[3].replace("\"90000.00\"", "\"190000.00\"");
    let line = parse_line(&text).expect("parses");
    assert!(matches!(
        pseudonymise(line, &key(), [0; 32]),
        Err(IntakeError::Body(BodyError::InScopeAboveTotal { .. }))
    ));
}

struct FakeChain;

impl Lookup for FakeChain {
    fn payout(&self, claim: &ClaimId, tier: PayoutTier) -> Result<Option<RecordId>, LookupError> {
        let institution: InstitutionId = "H44010600001".parse().expect("valid");
        let known = *claim == key().claim(&institution, "ZY2026-0000123");
        Ok((known && tier == PayoutTier::Basic).then(|| RecordId::from_hash(Hash32([9; 32]))))
    }

    fn clearing_root(
        &self,
        _: Period,
        _: &RegionCode,
        _: &RegionCode,
    ) -> Result<Option<Hash32>, LookupError> {
        Err(LookupError("node unreachable".into()))
    }
}

#[test]
fn references_resolve_against_the_chain() {
    let text = r#"{"kind":"reversal","ref":"CX2026-0000001","target":{"payout":{"institution":"H44010600001","bill_no":"ZY2026-0000123","tier":"basic"}},"reason":"fraud_finding"}"#;
    let line = parse_line(text).expect("parses");
    assert!(line.needs_lookup());
    assert_eq!(
        pseudonymise(line.clone(), &key(), [0; 32]),
        Err(IntakeError::Unresolved { field: "target" })
    );
    let resolved = resolve(line, &key(), &FakeChain).expect("found");
    assert!(!resolved.needs_lookup());
    let body = pseudonymise(resolved, &key(), [0; 32]).expect("ok").body;
    assert!(matches!(body, RecordBody::Reversal(r) if r.target.hash() == Hash32([9; 32])));

    let missing = parse_line(&text.replace("basic", "assistance")).expect("parses");
    assert_eq!(
        resolve(missing, &key(), &FakeChain),
        Err(IntakeError::NotFound { field: "target" })
    );
    let clearing = samples()[8].replace(
        r#","claim_set_root":"0202020202020202020202020202020202020202020202020202020202020202""#,
        "",
    );
    let line = parse_line(&clearing).expect("parses");
    assert!(matches!(
        resolve(line, &key(), &FakeChain),
        Err(IntakeError::Lookup {
            field: "claim_set_root",
            ..
        })
    ));
}

#[test]
fn redaction_keeps_names_and_punctuation() {
    assert_eq!(
        redact("expected `,` or `}`"),
        "expected `,` or `}`".to_string()
    );
    assert_eq!(
        redact("invalid date \"2026-13-01\": expected YYYY-MM-DD"),
        "invalid date \"…\": expected YYYY-MM-DD"
    );
    assert_eq!(redact("integer 440106199003071234 here"), "integer … here");
}

fn seed_of(text: &str) -> fundtrail_ledger::hash::Hash32 {
    LineIdentity::of(&parse_line(text).expect("parses")).seed(&key())
}

#[test]
fn a_reference_decides_the_identity_of_a_payout_and_content_does_not() {
    let payout = samples()[4];
    let other_ref = payout.replace("JS2026-0000001", "JS2026-0000002");
    let other_amount = payout.replace("62300.00", "62299.00");
    assert_eq!(seed_of(payout), seed_of(payout), "same line, same record");
    assert_ne!(
        seed_of(payout),
        seed_of(&other_ref),
        "a new reference is a new record, with identical content"
    );
    assert_eq!(
        seed_of(payout),
        seed_of(&other_amount),
        "the same reference names the same record"
    );
    let other_key = PseudonymKey::new(1, [8; 32]);
    let line = parse_line(payout).expect("parses");
    assert_ne!(
        LineIdentity::of(&line).seed(&key()),
        LineIdentity::of(&line).seed(&other_key),
        "only the consortium key derives it"
    );
}

#[test]
fn a_line_without_a_reference_is_identified_by_its_content() {
    let claim = samples()[3];
    assert_eq!(seed_of(claim), seed_of(claim));
    assert_ne!(
        seed_of(claim),
        seed_of(&claim.replace("100000.00", "100200.00"))
    );
    let grant = samples()[0];
    let with_ref = grant.replacen(
        r#""kind":"eligibility","#,
        r#""kind":"eligibility","ref":"MZ-2026-17","#,
        1,
    );
    assert_ne!(
        seed_of(grant),
        seed_of(&with_ref),
        "an optional ref counts when given"
    );
}

#[test]
fn payouts_reversals_and_fund_credits_require_a_reference() {
    for text in &samples()[4..8] {
        let mut without: serde_json::Value = serde_json::from_str(text).expect("json");
        without.as_object_mut().expect("object").remove("ref");
        let err = parse_line(&without.to_string()).expect_err(text);
        assert!(err.to_string().contains("missing field `ref`"), "{err}");
    }
    let bad = samples()[4].replace("JS2026-0000001", "JS 2026");
    let err = parse_line(&bad).expect_err("a space is refused");
    assert!(err.to_string().starts_with("ref: "), "{err}");
    assert!(
        !err.to_string().contains("JS"),
        "never shows the value: {err}"
    );
}

#[test]
fn a_reference_reused_for_other_content_is_refused_naming_both_lines() {
    let payout = samples()[4];
    let lines: Vec<(usize, SubmissionLine)> = [
        (1, payout.to_string()),
        (2, payout.to_string()),
        (3, payout.replace("62300.00", "100.00")),
        (4, payout.replace("JS2026-0000001", "JS2026-0000009")),
    ]
    .into_iter()
    .map(|(n, t)| (n, parse_line(&t).expect("parses")))
    .collect();
    let errors = check_references(&lines);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, 3);
    assert_eq!(
        errors[0].error,
        IntakeError::ReferenceReused { first_line: 1 }
    );
}
