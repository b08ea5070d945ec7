//! Parsing JSON lines and files, with errors that name the line and field
//! and mask every value the parser would otherwise quote.

use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{
    DisclosurePurpose, EligibilityDecision, FundSource, Period, ReversalReason,
};
use fundtrail_ledger::types::{
    Admission, Amount, Category, Date, FundId, GroupCode, InstitutionId, InstitutionLevel,
    InsuredType, OrgId, RegionCode, Scheme,
};

use super::{BillNo, IdCard, IntakeError, LineError, Reference, SubmissionLine, Target};

/// Parses one JSON line.
pub fn parse_line(line: &str) -> Result<SubmissionLine, IntakeError> {
    serde_json::from_str(line).map_err(|e| IntakeError::Json {
        field: blame(line),
        message: json_message(&e),
    })
}

fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let mut message = redact(full.strip_suffix(&position).unwrap_or(&full));
    if e.is_syntax() || e.is_eof() {
        message = format!("malformed JSON: {message}");
    }
    if e.column() > 0 {
        message.push_str(&format!(" (column {})", e.column()));
    }
    message
}

/// The first known field of a JSON object whose value does not parse as
/// that field's type (serde's message cannot say which field it was).
fn blame(line: &str) -> Option<&'static str> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) else {
        return None;
    };
    map.iter()
        .find_map(|(name, value)| match field_ok(name, value) {
            Some((field, false)) => Some(field),
            _ => None,
        })
}

const KINDS: [&str; 12] = [
    "policy",
    "eligibility",
    "filing",
    "claim",
    "settlement",
    "assistance",
    "reversal",
    "fund_credit",
    "clearing",
    "disclosure",
    "payment_policy",
    "period_settlement",
];

/// For a known field name: the name, and whether `v` parses as its type.
fn field_ok(name: &str, v: &serde_json::Value) -> Option<(&'static str, bool)> {
    fn is<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> bool {
        T::deserialize(v).is_ok()
    }
    let known = |field: &'static str, ok: bool| Some((field, ok));
    match name {
        "kind" => known("kind", v.as_str().is_some_and(|k| KINDS.contains(&k))),
        "id_card" => known("id_card", is::<IdCard>(v)),
        "bill_no" => known("bill_no", is::<BillNo>(v)),
        "institution" => known("institution", is::<InstitutionId>(v)),
        "region" => known("region", is::<RegionCode>(v)),
        "insured_region" => known("insured_region", is::<RegionCode>(v)),
        "care_region" => known("care_region", is::<RegionCode>(v)),
        "from_region" => known("from_region", is::<RegionCode>(v)),
        "to_region" => known("to_region", is::<RegionCode>(v)),
        "service_date" => known("service_date", is::<Date>(v)),
        "valid_from" => known("valid_from", is::<Date>(v)),
        "valid_until" => known("valid_until", is::<Date>(v)),
        "effective_from" => known("effective_from", is::<Date>(v)),
        "total" => known("total", is::<Amount>(v)),
        "in_scope" => known("in_scope", is::<Amount>(v)),
        "amount" => known("amount", is::<Amount>(v)),
        "fund_id" => known("fund_id", is::<FundId>(v)),
        "category" => known("category", is::<Category>(v)),
        "decision" => known("decision", is::<EligibilityDecision>(v)),
        "institution_level" => known("institution_level", is::<InstitutionLevel>(v)),
        "insured_type" => known("insured_type", is::<InsuredType>(v)),
        "admission" => known("admission", is::<Admission>(v)),
        "drg_or_dip_group" => known("drg_or_dip_group", is::<Option<GroupCode>>(v)),
        "case_ref" => known("case_ref", is::<Option<GroupCode>>(v)),
        "supplementary_cover" => known("supplementary_cover", is::<bool>(v)),
        "scheme" => known("scheme", is::<Scheme>(v)),
        "approvals" => known("approvals", is::<u8>(v)),
        "ref" => known("ref", is::<Reference>(v)),
        "target" => known("target", is::<Target>(v)),
        "reason" => known("reason", is::<ReversalReason>(v)),
        "source" => known("source", is::<FundSource>(v)),
        "period" => known("period", is::<Period>(v)),
        "claim_set_root" => known("claim_set_root", is::<Option<Hash32>>(v)),
        "holder" => known("holder", is::<OrgId>(v)),
        "requester" => known("requester", is::<OrgId>(v)),
        "purpose" => known("purpose", is::<DisclosurePurpose>(v)),
        "year" => known("year", is::<u16>(v)),
        "params" => known("params", is::<fundtrail_ledger::record::PolicyParams>(v)),
        "method" => known("method", is::<fundtrail_ledger::record::PaymentMethod>(v)),
        "base_rate" => known("base_rate", is::<Amount>(v)),
        "budget" => known("budget", is::<Amount>(v)),
        "groups" => known(
            "groups",
            is::<Vec<fundtrail_ledger::record::GroupStandard>>(v),
        ),
        "lines" => known(
            "lines",
            is::<Vec<fundtrail_ledger::record::SettlementLine>>(v),
        ),
        _ => None,
    }
}

/// Parses a JSON-lines file, refusing it at the first bad line. Blank lines
/// are skipped; each line comes with its 1-based number.
pub fn parse_file(text: &str) -> Result<Vec<(usize, SubmissionLine)>, LineError> {
    parse_file_each(text)
        .into_iter()
        .map(|(line, r)| {
            r.map(|l| (line, l))
                .map_err(|error| LineError { line, error })
        })
        .collect()
}

/// Parses every non-blank line of a file, keeping going past bad ones.
pub fn parse_file_each(text: &str) -> Vec<(usize, Result<SubmissionLine, IntakeError>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, parse_line(l)))
        .collect()
}

/// Masks every quoted value in a parser message except snake_case words
/// (field and variant names) and punctuation, and any long digit run, so
/// a message about bad input never repeats an identifier.
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' | '"' => {
                let mut quoted = String::new();
                let mut escaped = false;
                for q in chars.by_ref() {
                    if q == c && !escaped {
                        break;
                    }
                    escaped = q == '\\' && !escaped;
                    quoted.push(q);
                }
                let shown = is_name(&quoted).then_some(quoted.as_str());
                out.push(c);
                out.push_str(shown.unwrap_or("…"));
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    mask_digit_runs(&out)
}

fn is_name(s: &str) -> bool {
    let word = s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let punctuation = s.bytes().all(|b| b.is_ascii_punctuation());
    (1..=40).contains(&s.len()) && (word || punctuation)
}

fn mask_digit_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    for c in s.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() >= 6 { "…" } else { &run });
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}
