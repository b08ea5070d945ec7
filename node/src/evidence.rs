//! The JSON form of equivocation evidence, shared by `GET /v1/evidence` and
//! `fundtrail verify --json`: who attested which two blocks at what height,
//! with the attestations themselves.

use fundtrail_audit::report::EquivocationEntry;
use fundtrail_ledger::block::{Attestation, Genesis};
use fundtrail_ledger::evidence::Equivocation;
use serde::Serialize;

#[derive(Serialize)]
pub struct EvidenceJson<'a> {
    #[serde(flatten)]
    pub entry: EquivocationEntry,
    /// The key's attestation of the chain's block, when held.
    pub chain_attestation: &'a Option<Attestation>,
    pub conflicting_attestation: &'a Attestation,
}

impl<'a> EvidenceJson<'a> {
    pub fn new(genesis: &Genesis, evidence: &'a Equivocation) -> EvidenceJson<'a> {
        EvidenceJson {
            entry: EquivocationEntry::new(genesis, evidence),
            chain_attestation: &evidence.chain_attestation,
            conflicting_attestation: &evidence.conflicting,
        }
    }
}
