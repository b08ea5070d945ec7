//! Who may call what: each route's scope as a function of the caller's
//! organisation role and key role, and, for a record or a fund, of whose
//! it is. docs/API.md "Access" is the same table in words.

use fundtrail_ledger::record::RecordKind;
use fundtrail_ledger::types::{KeyRole, OrgId, Role};

use super::Caller;

/// The API's routes, grouped by the data they touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/records`.
    Submit,
    /// `POST /v1/lookup/submissions`: the caller's own organisation's
    /// submissions (the handler checks the named key's organisation).
    SubmissionLookup,
    /// `GET /v1/records/{id}` and its proof (checked per record).
    Record,
    /// `GET /v1/claims/{claim}`.
    Claim,
    /// `GET /v1/persons/{person}/years/{year}`.
    PersonYear,
    /// `GET /v1/lookup/payout/...`: which payout a reversal names.
    PayoutLookup,
    /// `GET /v1/lookup/clearing/...`: a clearing bucket's claim-set root.
    ClearingLookup,
    /// `GET /v1/funds/{fund}` (checked per fund).
    Fund,
    /// Blocks and the chain file.
    Chain,
    /// The head, the membership, checkpoints and equivocation evidence
    /// (no person-level data).
    Head,
    /// The node's access log and its head.
    AccessLog,
    /// `POST /v1/vault`: raw bills of the node's own organisation.
    Deposit,
    /// `POST /v1/disclosures/{id}/fetch` (the handler checks that the
    /// caller's organisation is the disclosure's requester).
    DisclosureFetch,
    /// `GET /metrics` when it is not public.
    Metrics,
}

impl Route {
    /// The route an axum path template belongs to; `None` for public
    /// routes and routes this table does not know (which are refused).
    pub fn of(method: &str, template: &str) -> Option<Route> {
        Some(match (method, template) {
            ("POST", "/v1/records") => Route::Submit,
            ("POST", "/v1/lookup/submissions") => Route::SubmissionLookup,
            ("GET", "/v1/records/{id}" | "/v1/records/{id}/proof") => Route::Record,
            ("GET", "/v1/claims/{claim}") => Route::Claim,
            ("GET", "/v1/persons/{person}/years/{year}") => Route::PersonYear,
            ("GET", "/v1/lookup/payout/{claim}/{tier}") => Route::PayoutLookup,
            ("GET", "/v1/lookup/clearing/{year}/{month}/{from}/{to}") => Route::ClearingLookup,
            ("GET", "/v1/funds/{fund}") => Route::Fund,
            ("GET", "/v1/blocks/{height}" | "/v1/blocks" | "/v1/chain") => Route::Chain,
            (
                "GET",
                "/v1/head"
                | "/v1/evidence"
                | "/v1/membership"
                | "/v1/checkpoint"
                | "/v1/checkpoint/cosigned"
                | "/checkpoint"
                | "/v1/checkpoint/consistency"
                | "/v1/checkpoint/inclusion/{height}",
            ) => Route::Head,
            ("GET", "/v1/access-log" | "/v1/access-log/head") => Route::AccessLog,
            ("POST", "/v1/vault") => Route::Deposit,
            ("POST", "/v1/disclosures/{id}/fetch") => Route::DisclosureFetch,
            ("GET", "/metrics") => Route::Metrics,
            _ => return None,
        })
    }

    /// Whether the access log records calls of this route: those that
    /// read person-level or raw data (the chain's blocks included), and
    /// vault deposits.
    pub fn logged(self) -> bool {
        !matches!(
            self,
            Route::Submit | Route::Head | Route::ClearingLookup | Route::Metrics
        )
    }

    /// Whether the route only reads.
    fn reads(self) -> bool {
        !matches!(
            self,
            Route::Submit | Route::Deposit | Route::DisclosureFetch
        )
    }
}

/// Why a caller is refused (403).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("this route is not open to callers")]
    Unlisted,
    #[error("node keys sign blocks and attestations, not API requests")]
    NodeKey,
    #[error("a {0} key may only read")]
    ReadOnly(&'static str),
    #[error("this route takes a {0} key")]
    KeyRole(&'static str),
    #[error("organisations of role {0} have no access to this data")]
    OrgRole(&'static str),
    #[error("this node serves raw data of its own organisation only")]
    OtherOrganisation,
    #[error("this record belongs to another organisation and is outside your role's scope")]
    Record,
    #[error("fund detail goes to the fund's owner, finance and audit")]
    Fund,
}

/// Whether `caller` may use `route` on the node of `node_org`. Records and
/// funds are checked again per object ([`record_readable`],
/// [`fund_readable`]).
pub fn allows(caller: &Caller, route: Route, node_org: &OrgId) -> Result<(), Refusal> {
    match caller.key_role {
        KeyRole::Node => return Err(Refusal::NodeKey),
        KeyRole::Reader if !route.reads() => return Err(Refusal::ReadOnly("reader")),
        _ => {}
    }
    let role = caller.org_role;
    match route {
        Route::Submit => needs_key(caller, &[KeyRole::Submitter, KeyRole::Officer]),
        Route::SubmissionLookup | Route::Record | Route::Fund | Route::Chain | Route::Head => {
            Ok(())
        }
        Route::Claim => needs_org(role, CLAIM_ROLES),
        Route::PersonYear | Route::PayoutLookup => needs_org(role, PERSON_ROLES),
        Route::ClearingLookup => needs_org(role, &[Role::Insurance, Role::Auditor]),
        Route::Deposit => {
            needs_key(caller, &[KeyRole::Submitter])?;
            own_org(caller, node_org)
        }
        Route::DisclosureFetch => {
            needs_key(caller, &[KeyRole::Officer])?;
            own_org(caller, node_org)
        }
        Route::Metrics => own_org(caller, node_org),
        Route::AccessLog if role == Role::Auditor => Ok(()),
        Route::AccessLog => {
            needs_key(caller, &[KeyRole::Officer])?;
            own_org(caller, node_org)
        }
    }
}

/// Organisations that take part in a claim: the hospital side (health),
/// who pays it (insurance, civil affairs), and audit.
const CLAIM_ROLES: &[Role] = &[
    Role::Insurance,
    Role::CivilAffairs,
    Role::Health,
    Role::Auditor,
];

/// Organisations that see a person's yearly totals: the payers, whose
/// caps run per person and year, and audit.
const PERSON_ROLES: &[Role] = &[Role::Insurance, Role::CivilAffairs, Role::Auditor];

/// Whether `caller` may read a record of kind `kind` submitted by `owner`:
/// its own organisation's records in full; audit everything; others the
/// records of their role's data (claim-level records for the organisations
/// that take part in claims; consortium records for all).
pub fn record_readable(
    caller: &Caller,
    owner: Option<&OrgId>,
    kind: RecordKind,
) -> Result<(), Refusal> {
    if owner == Some(&caller.org) || caller.org_role == Role::Auditor {
        return Ok(());
    }
    let roles: &[Role] = match kind {
        RecordKind::Member | RecordKind::Policy | RecordKind::PaymentPolicy => return Ok(()),
        RecordKind::FundCredit | RecordKind::Clearing | RecordKind::PeriodSettlement => {
            &[Role::Insurance, Role::Finance]
        }
        RecordKind::Eligibility => PERSON_ROLES,
        RecordKind::Filing
        | RecordKind::Claim
        | RecordKind::Settlement
        | RecordKind::Assistance
        | RecordKind::Reversal => CLAIM_ROLES,
        RecordKind::Disclosure | RecordKind::DisclosureFetch => &[],
    };
    needs_org(caller.org_role, roles).map_err(|_| Refusal::Record)
}

/// Whether `caller` may read the detail of a fund owned by `owner`.
pub fn fund_readable(caller: &Caller, owner: &OrgId) -> Result<(), Refusal> {
    let allowed = &caller.org == owner || matches!(caller.org_role, Role::Finance | Role::Auditor);
    allowed.then_some(()).ok_or(Refusal::Fund)
}

fn needs_key(caller: &Caller, roles: &[KeyRole]) -> Result<(), Refusal> {
    if roles.contains(&caller.key_role) {
        return Ok(());
    }
    Err(Refusal::KeyRole(match roles {
        [KeyRole::Officer] => "officer",
        [KeyRole::Submitter] => "submitter",
        _ => "submitter or officer",
    }))
}

fn needs_org(role: Role, roles: &[Role]) -> Result<(), Refusal> {
    if roles.contains(&role) {
        Ok(())
    } else {
        Err(Refusal::OrgRole(role_name(role)))
    }
}

fn own_org(caller: &Caller, node_org: &OrgId) -> Result<(), Refusal> {
    if &caller.org == node_org {
        Ok(())
    } else {
        Err(Refusal::OtherOrganisation)
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Insurance => "insurance",
        Role::CivilAffairs => "civil_affairs",
        Role::Health => "health",
        Role::Finance => "finance",
        Role::Auditor => "auditor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_ledger::crypto::PublicKey;

    fn caller(org: &str, org_role: Role, key_role: KeyRole) -> Caller {
        Caller {
            key: PublicKey([1; 32]),
            org: org.parse().expect("org id"),
            org_role,
            key_role,
        }
    }

    fn org(s: &str) -> OrgId {
        s.parse().expect("org id")
    }

    #[test]
    fn node_keys_never_and_reader_keys_only_read() {
        let node = caller("ins", Role::Insurance, KeyRole::Node);
        assert_eq!(
            allows(&node, Route::Chain, &org("ins")),
            Err(Refusal::NodeKey)
        );
        assert_eq!(
            allows(&node, Route::AccessLog, &org("ins")),
            Err(Refusal::NodeKey)
        );
        let reader = caller("ins", Role::Insurance, KeyRole::Reader);
        assert!(allows(&reader, Route::Claim, &org("ins")).is_ok());
        assert!(allows(&reader, Route::Submit, &org("ins")).is_err());
        assert!(allows(&reader, Route::Deposit, &org("ins")).is_err());
    }

    #[test]
    fn raw_data_routes_take_the_nodes_own_organisation_and_the_right_key() {
        let submitter = caller("ins", Role::Insurance, KeyRole::Submitter);
        let officer = caller("ins", Role::Insurance, KeyRole::Officer);
        assert!(allows(&submitter, Route::Deposit, &org("ins")).is_ok());
        assert_eq!(
            allows(&submitter, Route::Deposit, &org("health")),
            Err(Refusal::OtherOrganisation)
        );
        assert_eq!(
            allows(&officer, Route::Deposit, &org("ins")),
            Err(Refusal::KeyRole("submitter"))
        );
        assert!(allows(&officer, Route::DisclosureFetch, &org("ins")).is_ok());
        assert_eq!(
            allows(&submitter, Route::DisclosureFetch, &org("ins")),
            Err(Refusal::KeyRole("officer"))
        );
    }

    #[test]
    fn person_and_claim_data_go_to_the_roles_that_take_part() {
        let finance = caller("fin", Role::Finance, KeyRole::Officer);
        let health = caller("health", Role::Health, KeyRole::Submitter);
        let audit = caller("audit", Role::Auditor, KeyRole::Officer);
        assert!(allows(&finance, Route::Claim, &org("fin")).is_err());
        assert!(allows(&health, Route::Claim, &org("fin")).is_ok());
        assert!(allows(&health, Route::PersonYear, &org("fin")).is_err());
        assert!(allows(&audit, Route::PersonYear, &org("fin")).is_ok());
        assert!(allows(&audit, Route::AccessLog, &org("fin")).is_ok());
        assert!(allows(&health, Route::AccessLog, &org("fin")).is_err());
        assert!(allows(&finance, Route::AccessLog, &org("fin")).is_ok());
    }

    #[test]
    fn records_are_read_by_their_owner_audit_and_the_roles_of_their_data() {
        let finance = caller("fin", Role::Finance, KeyRole::Officer);
        let health = caller("health", Role::Health, KeyRole::Submitter);
        let audit = caller("audit", Role::Auditor, KeyRole::Reader);
        let ins = org("ins");
        assert!(record_readable(&health, Some(&ins), RecordKind::Settlement).is_ok());
        assert_eq!(
            record_readable(&finance, Some(&ins), RecordKind::Settlement),
            Err(Refusal::Record)
        );
        assert!(record_readable(&finance, Some(&ins), RecordKind::FundCredit).is_ok());
        assert!(record_readable(&finance, Some(&org("fin")), RecordKind::Settlement).is_ok());
        assert!(record_readable(&health, Some(&ins), RecordKind::Disclosure).is_err());
        assert!(record_readable(&audit, None, RecordKind::Disclosure).is_ok());
        assert!(record_readable(&finance, None, RecordKind::Policy).is_ok());
    }

    #[test]
    fn fund_detail_goes_to_owner_finance_and_audit() {
        let ins = org("ins");
        assert!(fund_readable(&caller("ins", Role::Insurance, KeyRole::Reader), &ins).is_ok());
        assert!(fund_readable(&caller("fin", Role::Finance, KeyRole::Reader), &ins).is_ok());
        assert!(fund_readable(&caller("a", Role::Auditor, KeyRole::Reader), &ins).is_ok());
        assert_eq!(
            fund_readable(&caller("h", Role::Health, KeyRole::Reader), &ins),
            Err(Refusal::Fund)
        );
    }
}
