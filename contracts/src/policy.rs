//! Policy as data: the genesis default parameters embedded from
//! `policy/default.toml` (compiled in, so reading them is not I/O), the
//! lookup of the policy that applies to a claim, the terms a disclosure
//! grants (the consortium's, or `policy/disclosure.toml`), and the default
//! payment policies by groups (`policy/payment.toml`).

use std::ops::Deref;
use std::rc::Rc;

use fundtrail_ledger::record::{PaymentMethod, PaymentPolicyBody, PolicyBody, PolicyParams};
use fundtrail_ledger::types::{Date, RegionCode};

use crate::error::ExecError;
use crate::model::{key, GrantTerms, Policies};
use crate::state::Tx;

/// The text of `contracts/policy/default.toml`.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../policy/default.toml");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy file does not parse: {0}")]
pub struct PolicyFileError(String);

/// Parses a policy file in the format of `default.toml`.
pub fn parse_policy(text: &str) -> Result<PolicyParams, PolicyFileError> {
    toml::from_str(text).map_err(|e| PolicyFileError(e.to_string()))
}

/// The genesis default parameters.
pub fn default_params() -> PolicyParams {
    parse_policy(DEFAULT_POLICY_TOML).expect("the embedded default policy parses (tested)")
}

/// A genesis policy record for `region` and `year` with the defaults,
/// effective from 1 January.
pub fn default_policy(region: RegionCode, year: u16) -> PolicyBody {
    PolicyBody {
        region,
        year,
        effective_from: Date::from_ymd(u32::from(year).max(1970), 1, 1)
            .unwrap_or(Date::from_days(0)),
        params: default_params(),
    }
}

/// The text of `contracts/policy/payment.toml`.
pub const DEFAULT_PAYMENT_TOML: &str = include_str!("../policy/payment.toml");

/// Parses the table of `method` in a file in the format of `payment.toml`
/// into a payment policy for `region` and `year`.
pub fn parse_payment_policy(
    text: &str,
    method: PaymentMethod,
    region: RegionCode,
    year: u16,
) -> Result<PaymentPolicyBody, PolicyFileError> {
    let name = match method {
        PaymentMethod::Drg => "drg",
        PaymentMethod::Dip => "dip",
        PaymentMethod::Itemised => "itemised",
    };
    let mut file: toml::Table = toml::from_str(text).map_err(|e| PolicyFileError(e.to_string()))?;
    let Some(toml::Value::Table(mut table)) = file.remove(name) else {
        return Err(PolicyFileError(format!("no [{name}] table")));
    };
    table.insert("region".into(), toml::Value::String(region.as_str().into()));
    table.insert("year".into(), toml::Value::Integer(i64::from(year)));
    table
        .try_into()
        .map_err(|e: toml::de::Error| PolicyFileError(e.to_string()))
}

/// The default payment policy by `method` (DRG or DIP) for `region` and
/// `year`.
pub fn default_payment_policy(
    method: PaymentMethod,
    region: RegionCode,
    year: u16,
) -> PaymentPolicyBody {
    parse_payment_policy(DEFAULT_PAYMENT_TOML, method, region, year)
        .expect("the embedded payment policy parses (tested)")
}

/// The text of `contracts/policy/disclosure.toml`.
pub const DEFAULT_GRANT_TOML: &str = include_str!("../policy/disclosure.toml");

/// What a disclosure grants while the consortium has set no terms. Parsed
/// once: parsing on every accepted disclosure cost about 3 % of `bench
/// contracts`, whose workload is 3 % disclosures.
pub fn default_grant_terms() -> GrantTerms {
    static TERMS: std::sync::OnceLock<GrantTerms> = std::sync::OnceLock::new();
    *TERMS.get_or_init(|| {
        toml::from_str(DEFAULT_GRANT_TOML).expect("the embedded grant terms parse (tested)")
    })
}

/// The terms a disclosure accepted now grants.
pub fn grant_terms(tx: &Tx) -> Result<GrantTerms, ExecError> {
    Ok(tx
        .load(key::GRANT_TERMS)?
        .unwrap_or_else(default_grant_terms))
}

/// The policy in force for one claim: a handle into the block's cached
/// list of that region and year, so nothing is copied per record.
pub struct PolicyInForce {
    list: Rc<Policies>,
    index: usize,
}

impl Deref for PolicyInForce {
    type Target = PolicyParams;

    fn deref(&self) -> &PolicyParams {
        &self.list[self.index].params
    }
}

/// The policy for care insured in `region` on `date`: of that year's
/// policies, the latest whose `effective_from` is on or before `date`.
pub fn policy_for(
    tx: &Tx,
    region: &RegionCode,
    date: Date,
) -> Result<Option<PolicyInForce>, ExecError> {
    let year = u16::try_from(date.year()).unwrap_or(u16::MAX);
    let list: Rc<Policies> = tx.shared(&key::policy(region, year))?.unwrap_or_default();
    let index = list.iter().rposition(|p| p.effective_from <= date);
    Ok(index.map(|index| PolicyInForce { list, index }))
}

/// Adds `body` to its region and year, keeping `effective_from` order (a
/// later record with the same date replaces the earlier).
pub fn insert_policy(list: &mut Policies, body: PolicyBody) {
    list.retain(|p| p.effective_from != body.effective_from);
    let pos = list.partition_point(|p| p.effective_from < body.effective_from);
    list.insert(pos, body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_ledger::types::{Amount, Bp, Category};

    #[test]
    fn default_policy_parses_with_design_values() {
        let p = default_params();
        assert_eq!(p.basic.deductible, Amount::yuan(1_000));
        assert_eq!(p.basic.resident_ratio.tertiary, Bp(7000));
        assert_eq!(p.critical_illness.poor_deductible, Amount::yuan(5_000));
        assert_eq!(p.critical_illness.poor_ratio, Bp(6500));
        assert_eq!(p.supplementary.annual_cap, Amount::yuan(250_000));
        assert_eq!(p.assistance.len(), Category::ALL.len());
        assert_eq!(p.approvals.threshold, Amount::yuan(50_000));
        assert!(fundtrail_ledger::RecordBody::Policy(default_policy(
            "440100".parse().unwrap(),
            2026
        ))
        .validate()
        .is_ok());
    }

    #[test]
    fn default_grant_terms_are_those_of_rules_version_3() {
        // Rules version 3 reads these when it accepts a disclosure:
        // changing them changes how recorded chains replay.
        assert_eq!(
            default_grant_terms(),
            GrantTerms {
                max_fetches: 3,
                valid_days: 30
            }
        );
    }

    #[test]
    fn default_payment_policies_parse_and_validate() {
        for method in [PaymentMethod::Drg, PaymentMethod::Dip] {
            let p = default_payment_policy(method, "440300".parse().unwrap(), 2026);
            assert_eq!(p.method, method);
            assert_eq!(p.groups.len(), 10);
            assert_eq!(p.retention, Bp(7000));
            assert!(fundtrail_ledger::RecordBody::PaymentPolicy(p)
                .validate()
                .is_ok());
        }
        assert!(parse_payment_policy(
            "[drg]\nmethod = \"drg\"",
            PaymentMethod::Drg,
            "440300".parse().unwrap(),
            2026
        )
        .is_err());
    }

    #[test]
    fn a_malformed_policy_file_is_an_error() {
        assert!(parse_policy("[basic]\ndeductible = 1000.5").is_err());
    }
}
