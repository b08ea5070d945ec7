//! What the access log says of a request: the ids it named, read from its
//! path parameters (and, for a vault deposit, its body), and the entries
//! written once its answer is known.

use axum::extract::RawPathParams;
use axum::http::StatusCode;
use fundtrail_ledger::pseudonym::{ClaimId, PersonId};
use fundtrail_ledger::record::RecordId;
use fundtrail_ledger::types::Height;

use super::scope::Route;
use super::{pseudonym, Access};
use crate::access_log::{AccessEntry, AccessedId};

/// Ids one entry carries; a request that names more (a large deposit) is
/// written as several entries.
const IDS_PER_ENTRY: usize = 500;

/// The ids a request names, as far as they parse (one that does not is a
/// 400 from its handler, and names nothing). A fund id or a height is
/// kept only if `known` knows it (an existing fund, a height the chain
/// has): a label is free text and a height a long number, and a raw
/// identifier pasted in their place must not reach the log.
pub fn ids(
    route: Route,
    params: &RawPathParams,
    body: &[u8],
    known: impl Fn(&AccessedId) -> bool,
) -> Vec<AccessedId> {
    if route == Route::Deposit {
        return deposited(body);
    }
    params
        .iter()
        .filter_map(|(name, value)| named(name, value))
        .filter(|id| known(id))
        .collect()
}

fn named(name: &str, value: &str) -> Option<AccessedId> {
    Some(match name {
        "id" => AccessedId::Record(RecordId::from_hex(value).ok()?),
        "claim" => {
            let (epoch, tag) = pseudonym(value)?;
            AccessedId::Claim(ClaimId { epoch, tag })
        }
        "person" => {
            let (epoch, tag) = pseudonym(value)?;
            AccessedId::Person(PersonId { epoch, tag })
        }
        "fund" => AccessedId::Fund(value.parse().ok()?),
        "height" => AccessedId::Height(Height(value.parse().ok()?)),
        "year" => AccessedId::Year(value.parse().ok()?),
        _ => return None,
    })
}

/// The record ids of a deposit's entries.
fn deposited(body: &[u8]) -> Vec<AccessedId> {
    #[derive(serde::Deserialize)]
    struct Named {
        record_id: RecordId,
    }
    serde_json::from_slice::<Vec<Named>>(body)
        .map(|entries| {
            entries
                .into_iter()
                .map(|e| AccessedId::Record(e.record_id))
                .collect()
        })
        .unwrap_or_default()
}

/// The entries for `access` answered with `status` at `time_ms`.
pub fn entries(
    access: Access,
    route: String,
    status: StatusCode,
    time_ms: u64,
) -> Vec<AccessEntry> {
    let entry = |ids: &[AccessedId]| AccessEntry {
        time_ms,
        caller: access.caller.key,
        org: access.caller.org.clone(),
        role: access.caller.key_role,
        method: access.method.clone(),
        route: route.clone(),
        ids: ids.to_vec(),
        status,
    };
    if access.ids.is_empty() {
        return vec![entry(&[])];
    }
    access.ids.chunks(IDS_PER_ENTRY).map(entry).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Caller;
    use fundtrail_ledger::crypto::PublicKey;
    use fundtrail_ledger::types::{KeyRole, Role};

    #[test]
    fn path_parameters_become_typed_ids_and_raw_values_do_not() {
        let claim = format!("1:{}", "ab".repeat(32));
        assert_eq!(
            named("claim", &claim).map(|c| c.to_string()),
            Some(format!("claim:{claim}"))
        );
        assert_eq!(named("year", "2026"), Some(AccessedId::Year(2026)));
        assert_eq!(
            named("fund", "basic-440100").map(|f| f.to_string()),
            Some("fund:basic-440100".into())
        );
        // An ID-card number pasted where a pseudonym belongs names nothing.
        assert_eq!(named("person", "440106195803120419"), None);
        assert_eq!(named("id", "ZY2026-0000123"), None);
    }

    #[test]
    fn a_large_deposit_is_written_as_several_entries_naming_every_record() {
        let ids: Vec<AccessedId> = (0..1_200u32)
            .map(|i| {
                let mut bytes = [0u8; 32];
                bytes[..4].copy_from_slice(&i.to_be_bytes());
                AccessedId::Record(RecordId::from_hex(&hex::encode(bytes)).expect("hex"))
            })
            .collect();
        let access = Access {
            caller: Caller {
                key: PublicKey([1; 32]),
                org: "gd-health".parse().expect("org"),
                org_role: Role::Health,
                key_role: KeyRole::Submitter,
            },
            method: axum::http::Method::POST,
            ids: ids.clone(),
        };
        let entries = entries(access, "/v1/vault".into(), StatusCode::OK, 7);
        assert_eq!(entries.len(), 3);
        let written: Vec<AccessedId> = entries.into_iter().flat_map(|e| e.ids).collect();
        assert_eq!(written, ids);
    }
}
