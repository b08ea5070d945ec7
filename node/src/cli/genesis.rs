//! `fundtrail genesis`: builds the genesis document from a consortium TOML
//! file of organisations, their keys, funds and the policy regions.

use std::path::Path;

use anyhow::{Context, Result};
use fundtrail_contracts::policy::default_policy;
use fundtrail_ledger::block::{Genesis, GenesisFund, GenesisKey, GenesisOrg, GENESIS_VERSION};
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::types::{ChainId, KeyRole, OrgId, RegionCode, Role};
use serde::{Deserialize, Serialize};

/// The consortium file (`consortium.toml`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsortiumSpec {
    pub chain_id: ChainId,
    /// Genesis time; blocks are stamped after it.
    pub timestamp_ms: u64,
    #[serde(default = "default_rules_version")]
    pub rules_version: u32,
    /// The genesis default policy (contracts/policy/default.toml) is
    /// installed for each of these regions for `policy_year`.
    pub policy_year: u16,
    pub policy_regions: Vec<RegionCode>,
    pub orgs: Vec<OrgSpec>,
    #[serde(default)]
    pub funds: Vec<GenesisFund>,
}

fn default_rules_version() -> u32 {
    fundtrail_contracts::LATEST_RULES
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSpec {
    pub id: OrgId,
    pub role: Role,
    /// Each key is a hex public key or the path of a key file (relative to
    /// the consortium file).
    #[serde(default)]
    pub node_keys: Vec<String>,
    #[serde(default)]
    pub submitter_keys: Vec<String>,
    #[serde(default)]
    pub officer_keys: Vec<String>,
    /// Keys of reporting systems that only read through the API.
    #[serde(default)]
    pub reader_keys: Vec<String>,
}

impl ConsortiumSpec {
    pub fn load(path: &Path) -> Result<ConsortiumSpec> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The genesis; key paths are taken relative to `base`.
    pub fn genesis(&self, base: &Path) -> Result<Genesis> {
        let orgs = self
            .orgs
            .iter()
            .map(|o| org(o, base))
            .collect::<Result<Vec<_>>>()?;
        Ok(Genesis {
            version: GENESIS_VERSION,
            chain_id: self.chain_id.clone(),
            timestamp_ms: self.timestamp_ms,
            orgs,
            funds: self.funds.clone(),
            policies: self
                .policy_regions
                .iter()
                .map(|r| default_policy(r.clone(), self.policy_year))
                .collect(),
            rules_version: self.rules_version,
        })
    }
}

fn org(spec: &OrgSpec, base: &Path) -> Result<GenesisOrg> {
    let mut keys = Vec::new();
    for (list, role) in [
        (&spec.node_keys, KeyRole::Node),
        (&spec.submitter_keys, KeyRole::Submitter),
        (&spec.officer_keys, KeyRole::Officer),
        (&spec.reader_keys, KeyRole::Reader),
    ] {
        for k in list {
            let key = resolve_key(k, base).with_context(|| format!("a key of {}", spec.id))?;
            keys.push(GenesisKey { key, role });
        }
    }
    Ok(GenesisOrg {
        id: spec.id.clone(),
        role: spec.role,
        keys,
    })
}

fn resolve_key(key: &str, base: &Path) -> Result<PublicKey> {
    let public = if key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()) {
        PublicKey::from_hex(key).context("invalid public key")?
    } else {
        crate::keys::read(&base.join(key))?.public()
    };
    fundtrail_ledger::crypto::enrol_key(&public)
        .with_context(|| format!("key {} is not a strong ed25519 key", public.short()))?;
    Ok(public)
}

/// Writes `genesis` as pretty JSON.
pub fn write(path: &Path, genesis: &Genesis) -> Result<()> {
    let text = serde_json::to_string_pretty(genesis)? + "\n";
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
