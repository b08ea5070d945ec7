//! Disclosure as a grant, at both ends of a delivery. The requester's node
//! names an accepted `disclosure_fetch` record of its organisation to the
//! holder ([`Vault::fetch_disclosed`]). The holder ([`Vault::serve`])
//! checks that fetch on its own chain, answers each fetch once (noted
//! durably before the bill leaves), and delivers only the bill of the
//! disclosure's target. The requester checks that the delivered bill is
//! that target's and matches its commitment ([`check_delivery`]), so a
//! holder that delivers another claim's bill is caught.

use std::time::Duration;

use fundtrail_ledger::block::Verdict;
use fundtrail_ledger::record::{DisclosureBody, DisclosureFetchBody, RecordBody, RecordId};
use fundtrail_ledger::store::{RecordEntry, Store};
use fundtrail_ledger::types::OrgId;

use super::{check_commitment, Vault, VaultError};
use crate::p2p::{Net, NetError};
use crate::roster::Roster;
use crate::wire::{DisclosureRequest, DisclosureResponse, VaultEntry, WireRequest, WireResponse};

/// How long the requester waits for the holder's answer.
const HOLDER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the requester's node got no verified bill.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("that record is not a disclosure")]
    NotADisclosure,
    #[error("that record is not a disclosure_fetch of this disclosure")]
    NotAFetchOf,
    #[error("the disclosure was filed by another organisation")]
    AnotherRequester,
    #[error("the {what} record was rejected by the rules ({code})")]
    Rejected { what: &'static str, code: String },
    #[error("the holder runs no node")]
    NoHolderNode,
    #[error("asking the holder: {0}")]
    Network(#[from] NetError),
    #[error("holder refused: {0}")]
    Refused(String),
    #[error("the holder answered with another kind of message")]
    UnexpectedAnswer,
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error("store: {0}")]
    Store(String),
}

/// What is wrong with a bill a holder delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(
        "the holder delivered the raw bill of record {delivered}, which is not the bill \
         behind the disclosure's target {target}"
    )]
    AnotherRecord { delivered: String, target: String },
    #[error("the delivered raw bill does not match the disclosure target's commitment: {0}")]
    Commitment(VaultError),
    #[error("the disclosure's target {0} is not on this node's chain")]
    NoTarget(String),
    #[error("store: {0}")]
    Store(String),
}

impl Vault {
    /// Fetches, as the requester, the raw bill that the accepted fetch
    /// record `fetch` draws from `disclosure`: asks the holder's node and
    /// returns the bill only once it is checked to be the target's.
    pub async fn fetch_disclosed(
        &self,
        net: &Net,
        roster: &Roster,
        disclosure: RecordId,
        fetch: RecordId,
    ) -> Result<VaultEntry, FetchError> {
        let granted = self.own_disclosure(&disclosure)?;
        let height = self.accepted_fetch_of(&disclosure, &fetch)?.height;
        let holder = roster
            .members()
            .into_iter()
            .find(|m| m.org == granted.holder && roster.in_force(m))
            .ok_or(FetchError::NoHolderNode)?;
        let request = WireRequest::Disclose(DisclosureRequest { fetch, height });
        match net.request(holder.peer, request, HOLDER_TIMEOUT).await? {
            WireResponse::Disclose(DisclosureResponse::Granted(entry)) => {
                check_delivery(&self.store, &granted.target, &entry)?;
                Ok(entry)
            }
            WireResponse::Disclose(DisclosureResponse::Refused(reason)) => {
                Err(FetchError::Refused(reason))
            }
            _ => Err(FetchError::UnexpectedAnswer),
        }
    }

    /// The accepted disclosure `id`, filed by this node's organisation.
    fn own_disclosure(&self, id: &RecordId) -> Result<DisclosureBody, FetchError> {
        let entry = self.on_chain(id, "disclosure record")?;
        let RecordBody::Disclosure(body) = entry.record.envelope.body else {
            return Err(FetchError::NotADisclosure);
        };
        if body.requester != self.org {
            return Err(FetchError::AnotherRequester);
        }
        if let Verdict::Rejected { code } = entry.outcome.verdict {
            return Err(FetchError::Rejected {
                what: "disclosure",
                code: code.to_string(),
            });
        }
        Ok(body)
    }

    /// The accepted fetch record `id` of `disclosure`.
    fn accepted_fetch_of(
        &self,
        disclosure: &RecordId,
        id: &RecordId,
    ) -> Result<RecordEntry, FetchError> {
        let entry = self.on_chain(id, "disclosure_fetch record")?;
        match &entry.record.envelope.body {
            RecordBody::DisclosureFetch(f) if &f.disclosure == disclosure => {}
            _ => return Err(FetchError::NotAFetchOf),
        }
        if let Verdict::Rejected { code } = &entry.outcome.verdict {
            return Err(FetchError::Rejected {
                what: "disclosure_fetch",
                code: code.to_string(),
            });
        }
        Ok(entry)
    }

    fn on_chain(&self, id: &RecordId, what: &'static str) -> Result<RecordEntry, FetchError> {
        self.store
            .record(id)
            .map_err(|e| FetchError::Store(e.to_string()))?
            .ok_or(FetchError::NotFound(what))
    }

    /// Answers, as the holder, a request from a node of `requester`: the
    /// bill of the disclosure's target, if the named fetch is accepted on
    /// this node's chain, draws on a disclosure of `requester` that names
    /// this organisation as holder, and was not served before.
    pub fn serve(&self, requester: &OrgId, request: &DisclosureRequest) -> DisclosureResponse {
        match self.serve_fetch(requester, request) {
            Ok(entry) => {
                tracing::info!(fetch = %request.fetch.to_hex(), requester = %requester, "a disclosure fetch was served");
                DisclosureResponse::Granted(entry)
            }
            Err(reason) => DisclosureResponse::Refused(reason),
        }
    }

    fn serve_fetch(
        &self,
        requester: &OrgId,
        request: &DisclosureRequest,
    ) -> Result<VaultEntry, String> {
        let fetch = self
            .store
            .record(&request.fetch)
            .map_err(|e| e.to_string())?
            .ok_or("no disclosure_fetch record with that id is on the chain")?;
        let RecordBody::DisclosureFetch(body) = &fetch.record.envelope.body else {
            return Err("that record is not a disclosure_fetch".into());
        };
        if let Verdict::Rejected { code } = &fetch.outcome.verdict {
            return Err(format!(
                "the disclosure_fetch record was rejected by the rules ({code})"
            ));
        }
        let disclosure = self.disclosure_to(requester, body)?;
        // One request at a time between "not served yet" and "served".
        let _serving = self
            .serving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self
            .store
            .fetch_served(&request.fetch)
            .map_err(|e| e.to_string())?
        {
            return Err(
                "that fetch was served already: each disclosure_fetch delivers once".into(),
            );
        }
        let entry = self.target_entry(&disclosure.target)?;
        self.store
            .note_fetch_served(&request.fetch, fetch.height)
            .map_err(|e| {
                tracing::warn!(fetch = %request.fetch.to_hex(), error = %e, "a disclosure fetch could not be noted as served; not delivered");
                format!("the holder could not note the fetch as served: {e}")
            })?;
        Ok(entry)
    }

    /// The disclosure `fetch` draws on, if it names this organisation as
    /// holder and `requester` as requester.
    fn disclosure_to(
        &self,
        requester: &OrgId,
        fetch: &DisclosureFetchBody,
    ) -> Result<DisclosureBody, String> {
        let entry = self
            .store
            .record(&fetch.disclosure)
            .map_err(|e| e.to_string())?
            .ok_or("the fetch's disclosure is not on the chain")?;
        let RecordBody::Disclosure(body) = entry.record.envelope.body else {
            return Err("the fetch names a record that is not a disclosure".into());
        };
        if body.holder != self.org {
            return Err("the disclosure names another holder".into());
        }
        if &body.requester != requester {
            return Err("the disclosure was filed by another organisation".into());
        }
        Ok(body)
    }

    /// The vault entry of the bill behind `target`, opened.
    fn target_entry(&self, target: &RecordId) -> Result<VaultEntry, String> {
        let bill = bill_record(&self.store, target)?;
        match self.load(&bill) {
            Ok(Some(entry)) => Ok(entry),
            Ok(None) => Err("this vault holds no raw record for the target".into()),
            Err(e) => {
                tracing::warn!(record = %bill.to_hex(), error = %e, "a vault entry asked for by a disclosure could not be opened");
                Err(format!("the holder could not open its vault entry: {e}"))
            }
        }
    }
}

/// The claim record whose raw bill a disclosure of `target` reaches: the
/// claim itself, or for a payout (settlement, assistance) the accepted
/// claim it was made on — disclosures name payouts by bill.
fn bill_record(store: &Store, target: &RecordId) -> Result<RecordId, String> {
    let entry = store
        .record(target)
        .map_err(|e| e.to_string())?
        .ok_or("the disclosed record is not on the chain")?;
    let body = &entry.record.envelope.body;
    if matches!(body, RecordBody::Claim(_)) {
        return Ok(*target);
    }
    let claim = body
        .claim()
        .ok_or("the disclosed record has no raw bill behind it")?;
    for e in store.records_by_claim(&claim).map_err(|e| e.to_string())? {
        if is_bill_of(&entry, &e) {
            return Ok(e.outcome.record_id);
        }
    }
    Err("no accepted claim behind the disclosed payout".into())
}

/// Whether `delivered` is the record whose bill a disclosure of `target`
/// reaches: the target itself when it is a claim; for a payout, the
/// accepted claim with the payout's claim id.
pub fn is_bill_of(target: &RecordEntry, delivered: &RecordEntry) -> bool {
    match &target.record.envelope.body {
        RecordBody::Claim(_) => delivered.outcome.record_id == target.outcome.record_id,
        body => match (body.claim(), &delivered.record.envelope.body) {
            (Some(claim), RecordBody::Claim(c)) => {
                c.claim_id == claim && delivered.outcome.is_accepted()
            }
            _ => false,
        },
    }
}

/// Checks, as the requester, that `entry` is the bill of the disclosure
/// target `target` on this node's chain, and matches its commitment.
pub fn check_delivery(
    store: &Store,
    target: &RecordId,
    entry: &VaultEntry,
) -> Result<(), DeliveryError> {
    let read = |id: &RecordId| {
        store
            .record(id)
            .map_err(|e| DeliveryError::Store(e.to_string()))
    };
    let target_entry = read(target)?.ok_or_else(|| DeliveryError::NoTarget(target.to_hex()))?;
    match read(&entry.record_id)? {
        Some(delivered) if is_bill_of(&target_entry, &delivered) => {
            check_commitment(&delivered, entry).map_err(DeliveryError::Commitment)
        }
        _ => Err(DeliveryError::AnotherRecord {
            delivered: entry.record_id.to_hex(),
            target: target.to_hex(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fundtrail_ledger::crypto::Keypair;
    use fundtrail_ledger::hash::Hash32;
    use fundtrail_ledger::pseudonym::raw_commitment;
    use fundtrail_ledger::record::{DisclosurePurpose, Envelope, SignedRecord};
    use fundtrail_ledger::store::Durability;
    use fundtrail_ledger::types::{Amount, Height, Role, Scheme};
    use fundtrail_testkit::chain::ChainBuilder;
    use fundtrail_testkit::{bodies, Kit};

    use super::*;
    use crate::vault::keys::{FileKeys, VaultKey};
    use crate::vault::seal::Cipher;

    /// A chain in a store: two claims of health with their raw bills, a
    /// payout on the first, the audit office's accepted disclosure of the
    /// first claim, and two fetches under it (one by its officer, one by
    /// its submitter key, which the rules refuse).
    struct Fixture {
        dir: tempfile::TempDir,
        store: Arc<Store>,
        bills: [VaultEntry; 2],
        claims: [RecordId; 2],
        payout: RecordId,
        fetch: RecordId,
        refused_fetch: RecordId,
    }

    fn bill(record_id: RecordId, n: u8) -> VaultEntry {
        VaultEntry {
            record_id,
            salt: vec![n; 32],
            raw_bill: format!("{{\"bill\":\"synthetic {n}\"}}").into_bytes(),
        }
    }

    fn signed_claim(kit: &Kit, n: u8) -> SignedRecord {
        let mut body = bodies::claim(
            kit.claim_id(u64::from(n)),
            kit.person(u64::from(n)),
            Amount::yuan(10_000),
            Amount::yuan(9_000),
        );
        body.raw_commitment = raw_commitment(
            &[n; 32],
            &bill(RecordId::from_hash(Hash32::ZERO), n).raw_bill,
        );
        kit.sign(Role::Health, RecordBody::Claim(body), u64::from(n), 0)
    }

    fn officer_fetch(
        kit: &Kit,
        key: &Keypair,
        disclosure: RecordId,
        target: RecordId,
    ) -> SignedRecord {
        let body = RecordBody::DisclosureFetch(DisclosureFetchBody { disclosure, target });
        Envelope::new(kit.chain_id.clone(), body, key.public(), 7).sign(key)
    }

    fn fixture() -> Fixture {
        let kit = Kit::new(7);
        let mut chain = ChainBuilder::for_kit(kit.clone());
        let claims = [signed_claim(&kit, 1), signed_claim(&kit, 2)];
        let payout = kit.sign(
            Role::Insurance,
            bodies::settle(kit.claim_id(1), Scheme::Basic, Amount::yuan(100)),
            3,
            0,
        );
        let disclosure = kit.sign(
            Role::Auditor,
            RecordBody::Disclosure(DisclosureBody {
                target: claims[0].id(),
                holder: "gd-health".parse().unwrap(),
                requester: "gd-audit".parse().unwrap(),
                purpose: DisclosurePurpose::Audit,
                case_ref: None,
            }),
            4,
            1,
        );
        let audit = kit.org(Role::Auditor);
        let officer = Keypair::from_seed(audit.officers[0].secret_bytes());
        let submitter = Keypair::from_seed(audit.submitter.secret_bytes());
        let fetch = officer_fetch(&kit, &officer, disclosure.id(), claims[0].id());
        let refused_fetch = officer_fetch(&kit, &submitter, disclosure.id(), claims[0].id());
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::create(dir.path(), &chain.genesis, Hash32([0; 32])).expect("store");
        let blocks = [
            vec![claims[0].clone(), claims[1].clone()],
            vec![payout.clone(), disclosure.clone()],
            vec![fetch.clone(), refused_fetch.clone()],
        ];
        for records in blocks {
            let block = chain.seal_verified(records);
            store
                .commit_block(&block, &[], &[], Durability::Synced)
                .expect("commit");
        }
        let outcome = |id: &RecordId| store.record(id).unwrap().unwrap().outcome.verdict;
        assert_eq!(outcome(&payout.id()), Verdict::Accepted);
        assert_eq!(outcome(&fetch.id()), Verdict::Accepted);
        assert_ne!(outcome(&refused_fetch.id()), Verdict::Accepted);
        Fixture {
            dir,
            store: Arc::new(store),
            bills: [bill(claims[0].id(), 1), bill(claims[1].id(), 2)],
            claims: [claims[0].id(), claims[1].id()],
            payout: payout.id(),
            fetch: fetch.id(),
            refused_fetch: refused_fetch.id(),
        }
    }

    #[test]
    fn the_requester_accepts_only_the_bill_behind_the_target() {
        let f = fixture();
        let [first, second] = &f.bills;
        check_delivery(&f.store, &f.claims[0], first).expect("the target's own bill");
        check_delivery(&f.store, &f.payout, first).expect("the bill behind the payout");

        // A holder that delivers another claim's bill, genuine and matching
        // that claim's commitment, is caught.
        for target in [f.claims[0], f.payout] {
            let e = check_delivery(&f.store, &target, second).unwrap_err();
            assert!(matches!(e, DeliveryError::AnotherRecord { .. }), "{e}");
            assert!(e.to_string().contains(&f.claims[1].to_hex()), "{e}");
        }
        // ... and so is a changed bill under the right record id,
        let mut changed = bill(f.claims[0], 1);
        changed.raw_bill[2] ^= 1;
        let e = check_delivery(&f.store, &f.claims[0], &changed).unwrap_err();
        assert!(
            matches!(e, DeliveryError::Commitment(VaultError::CommitmentMismatch)),
            "{e}"
        );
        // ... and a bill of a record this chain does not have.
        let stray = bill(RecordId::from_hash(Hash32([9; 32])), 1);
        let e = check_delivery(&f.store, &f.claims[0], &stray).unwrap_err();
        assert!(matches!(e, DeliveryError::AnotherRecord { .. }), "{e}");
    }

    fn holder(store: Arc<Store>) -> Vault {
        let keys = FileKeys::new(VaultKey::from_secret([5; 32]), Cipher::Aes256Gcm, vec![]);
        Vault::new(store, "gd-health".parse().unwrap(), Arc::new(keys))
    }

    fn ask(vault: &Vault, requester: &str, fetch: RecordId) -> Result<VaultEntry, String> {
        let request = DisclosureRequest {
            fetch,
            height: Height(0),
        };
        match vault.serve(&requester.parse().unwrap(), &request) {
            DisclosureResponse::Granted(entry) => Ok(entry),
            DisclosureResponse::Refused(reason) => Err(reason),
        }
    }

    #[test]
    fn the_holder_serves_each_accepted_fetch_once_even_across_a_restart() {
        let f = fixture();
        let vault = holder(f.store.clone());
        vault.deposit(&f.bills[0]).expect("health keeps its bill");
        vault.deposit(&f.bills[1]).expect("and the other");

        let reason = ask(&vault, "gd-insurance", f.fetch).unwrap_err();
        assert!(reason.contains("another organisation"), "{reason}");
        let reason = ask(&vault, "gd-audit", f.refused_fetch).unwrap_err();
        assert!(
            reason.contains("rejected by the rules (ROLE_NOT_ALLOWED)"),
            "{reason}"
        );
        let reason = ask(&vault, "gd-audit", f.claims[0]).unwrap_err();
        assert!(reason.contains("not a disclosure_fetch"), "{reason}");
        assert!(
            !f.store.fetch_served(&f.fetch).unwrap(),
            "refusals serve nothing"
        );

        let delivered = ask(&vault, "gd-audit", f.fetch).expect("the accepted fetch is served");
        assert!(
            delivered == f.bills[0],
            "the target's bill, not the other claim's"
        );
        let reason = ask(&vault, "gd-audit", f.fetch).unwrap_err();
        assert!(reason.contains("served already"), "{reason}");

        // The note is on disk: a reopened store still refuses the fetch.
        let dir = f.dir.path().to_path_buf();
        drop(vault);
        let store = Arc::try_unwrap(f.store).ok().expect("the only handle");
        drop(store);
        let reopened = Arc::new(Store::open(&dir).expect("reopens"));
        assert!(reopened.fetch_served(&f.fetch).unwrap());
        let reason = ask(&holder(reopened), "gd-audit", f.fetch).unwrap_err();
        assert!(reason.contains("served already"), "{reason}");
    }
}
