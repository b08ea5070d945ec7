//! `fundtrail governance`: membership changes as quorum-backed `member`
//! records that departments' officers approve offline. A proposal is a
//! JSON file holding the record's envelope, unsigned: each officer adds an
//! approval (`sign`), `status` counts them against the quorum at a node's
//! head, and the proposing department's submitter signs and submits it
//! (`submit`). `show` prints the membership in force.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use fundtrail_ledger::crypto::{verify_one, Keypair};
use fundtrail_ledger::record::{Envelope, MemberBody, PolicyBody, RecordBody};
use fundtrail_ledger::types::{Height, KeyRole, OrgId};
use fundtrail_ledger::{PublicKey, Verdict};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use super::client::{NodeArgs, NodeClient};
use crate::api::SubmitLine;
use crate::consortium::ConsortiumView;
use crate::wire::Receipt;

const FORMAT: &str = "fundtrail-governance-proposal/v1";

#[derive(Subcommand)]
pub enum GovernanceAction {
    /// Write a proposal for ACTION, to be approved by officers and then
    /// signed and submitted with --key, the proposing department's
    /// submitter key.
    Propose {
        #[command(flatten)]
        node: NodeArgs,
        /// The proposal file to write (never overwritten).
        #[arg(long)]
        out: PathBuf,
        #[command(subcommand)]
        action: ProposedAction,
    },
    /// Add one officer's approval to a proposal, after printing what it
    /// does and who has approved it so far.
    Sign {
        proposal: PathBuf,
        /// The approving officer's key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// The approvals a proposal holds and lacks against the quorum at the
    /// node's head. Exits non-zero while it is short of quorum.
    Status {
        proposal: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long)]
        json: bool,
    },
    /// Sign a proposal with --key (its proposing submitter key) and submit
    /// it; prints the committed outcome. Exits non-zero if the rules
    /// rejected it.
    Submit {
        proposal: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The membership in force: organisations, keys by role, node keys'
    /// terms, quorums and scheduled rules versions.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long)]
        json: bool,
    },
}

/// What a proposal does. Keys are given as 64 hex characters or as a
/// key file (only its public key is read).
#[derive(Subcommand, Clone, Debug)]
pub enum ProposedAction {
    /// Admit an organisation (its keys and node follow as add-key and
    /// add-node).
    AddOrg {
        #[arg(long)]
        org: String,
        /// insurance, civil_affairs, health, finance or auditor.
        #[arg(long)]
        role: String,
    },
    /// Remove an organisation: none of its keys signs, proposes or
    /// attests from the next block on.
    RemoveOrg {
        #[arg(long)]
        org: String,
    },
    /// Enrol a key: submitter, officer, node or reader.
    AddKey {
        #[arg(long)]
        org: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        public: String,
    },
    /// Revoke a key: it signs nothing from the next block on.
    RevokeKey {
        #[arg(long)]
        org: String,
        #[arg(long)]
        public: String,
    },
    /// Replace a key: writes OUT adding the new key and OUT with
    /// `-revoke` before its extension revoking the old one; submit the
    /// second once the new key is in use.
    RotateKey {
        #[arg(long)]
        org: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        old: String,
        #[arg(long)]
        new: String,
    },
    /// Enrol a node key: the node attests from the next block on, and
    /// proposes blocks unless its organisation is an auditor.
    AddNode {
        #[arg(long)]
        org: String,
        #[arg(long)]
        public: String,
    },
    /// Revoke a node key: its attestations stop counting and its blocks
    /// are refused from the next block on.
    RemoveNode {
        #[arg(long)]
        org: String,
        #[arg(long)]
        public: String,
    },
    /// Switch the contract rules to VERSION from block ACTIVATION on.
    ScheduleRules {
        #[arg(long)]
        version: u32,
        #[arg(long)]
        activation: u64,
    },
    /// Set what an accepted disclosure grants from then on.
    DisclosureGrant {
        #[arg(long)]
        max_fetches: u16,
        #[arg(long)]
        valid_days: u16,
    },
    /// Publish a policy (a JSON policy body, as in genesis); insurance's
    /// submitter proposes it and the rules need no quorum.
    Policy {
        #[arg(long)]
        file: PathBuf,
    },
}

/// A proposal file: the unsigned envelope, and the organisation of each
/// key named in it as the node reported when it was proposed (for
/// reading offline; `status` checks against the node again).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    pub format: String,
    pub envelope: Envelope,
    pub directory: BTreeMap<PublicKey, (OrgId, KeyRole)>,
    pub directory_height: Height,
}

pub async fn run(action: GovernanceAction) -> Result<()> {
    match action {
        GovernanceAction::Propose { node, out, action } => propose(&node, &out, action).await,
        GovernanceAction::Sign { proposal, key } => sign(&proposal, &key),
        GovernanceAction::Status {
            proposal,
            node,
            json,
        } => status(&proposal, &node, json).await,
        GovernanceAction::Submit { proposal, node } => submit(&proposal, &node).await,
        GovernanceAction::Show { node, json } => show(&node, json).await,
    }
}

async fn membership(client: &NodeClient) -> Result<ConsortiumView> {
    let value = client.get("/v1/membership").await?;
    serde_json::from_value(value).context("the node's membership answer")
}

async fn propose(node: &NodeArgs, out: &Path, action: ProposedAction) -> Result<()> {
    let client = node.client()?;
    let view = membership(&client).await?;
    let submitter = crate::keys::read(&node.key)?.public();
    let bodies = bodies(&action)?;
    let outs = proposal_paths(out, bodies.len());
    for (body, path) in bodies.into_iter().zip(&outs) {
        let proposal = Proposal {
            format: FORMAT.to_string(),
            envelope: Envelope::new(
                view.chain_id.clone(),
                body,
                submitter,
                rand_core::OsRng.next_u64(),
            ),
            directory: directory(&view),
            directory_height: view.height,
        };
        write_new(path, &proposal)?;
        println!("{}", describe(&proposal.envelope.body));
        println!("proposal written to {}", path.display());
    }
    Ok(())
}

/// OUT, and for a second proposal OUT with `-revoke` before its extension.
fn proposal_paths(out: &Path, n: usize) -> Vec<PathBuf> {
    let mut paths = vec![out.to_path_buf()];
    if n > 1 {
        let stem = out.file_stem().unwrap_or_default().to_string_lossy();
        let ext = out
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        paths.push(out.with_file_name(format!("{stem}-revoke{ext}")));
    }
    paths
}

fn directory(view: &ConsortiumView) -> BTreeMap<PublicKey, (OrgId, KeyRole)> {
    view.orgs
        .iter()
        .flat_map(|o| o.keys.iter().map(|k| (k.key, (o.org.clone(), k.role))))
        .collect()
}

/// The record bodies an action proposes, in submission order.
fn bodies(action: &ProposedAction) -> Result<Vec<RecordBody>> {
    let member = |m| RecordBody::Member(m);
    Ok(match action {
        ProposedAction::AddOrg { org, role } => vec![member(MemberBody::AddOrg {
            org: org_id(org)?,
            role: named(role, "role")?,
        })],
        ProposedAction::RemoveOrg { org } => {
            vec![member(MemberBody::RemoveOrg { org: org_id(org)? })]
        }
        ProposedAction::AddKey { org, role, public } => {
            vec![member(add_key(org, public, named(role, "key role")?)?)]
        }
        ProposedAction::AddNode { org, public } => {
            vec![member(add_key(org, public, KeyRole::Node)?)]
        }
        ProposedAction::RevokeKey { org, public } | ProposedAction::RemoveNode { org, public } => {
            vec![member(revoke_key(org, public)?)]
        }
        ProposedAction::RotateKey {
            org,
            role,
            old,
            new,
        } => vec![
            member(add_key(org, new, named(role, "key role")?)?),
            member(revoke_key(org, old)?),
        ],
        ProposedAction::ScheduleRules {
            version,
            activation,
        } => vec![member(MemberBody::ScheduleRules {
            version: *version,
            activation: Height(*activation),
        })],
        ProposedAction::DisclosureGrant {
            max_fetches,
            valid_days,
        } => vec![member(MemberBody::DisclosureGrant {
            max_fetches: *max_fetches,
            valid_days: *valid_days,
        })],
        ProposedAction::Policy { file } => vec![RecordBody::Policy(policy(file)?)],
    })
}

fn add_key(org: &str, public: &str, key_role: KeyRole) -> Result<MemberBody> {
    Ok(MemberBody::AddKey {
        org: org_id(org)?,
        key: public_key(public)?,
        key_role,
    })
}

fn revoke_key(org: &str, public: &str) -> Result<MemberBody> {
    Ok(MemberBody::RevokeKey {
        org: org_id(org)?,
        key: public_key(public)?,
    })
}

fn org_id(s: &str) -> Result<OrgId> {
    OrgId::new(s).with_context(|| format!("{s:?} is not an organisation id"))
}

/// A role or key role by its snake_case name.
fn named<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .with_context(|| format!("{s:?} is not a {what}"))
}

/// 64 hex characters, or a key file whose public key is read.
fn public_key(s: &str) -> Result<PublicKey> {
    if let Ok(key) = PublicKey::from_hex(s) {
        return Ok(key);
    }
    #[derive(Deserialize)]
    struct PublicPart {
        public_key: String,
    }
    let text = std::fs::read_to_string(s)
        .with_context(|| format!("{s:?} is neither a hex public key nor a readable key file"))?;
    let part: PublicPart =
        serde_json::from_str(&text).with_context(|| format!("{s}: not a key file"))?;
    PublicKey::from_hex(part.public_key.trim())
        .with_context(|| format!("{s}: public_key is not valid hex"))
}

fn policy(file: &Path) -> Result<PolicyBody> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a policy", file.display()))
}

/// What a record does, in plain words.
pub fn describe(body: &RecordBody) -> String {
    let RecordBody::Member(m) = body else {
        return match body {
            RecordBody::Policy(p) => format!(
                "publish the policy of region {} for {}, effective from {}",
                p.region, p.year, p.effective_from
            ),
            other => format!("submit a {} record", other.kind().name()),
        };
    };
    match m {
        MemberBody::AddOrg { org, role } => {
            format!("admit organisation {org} with the role {}", role_name(role))
        }
        MemberBody::RemoveOrg { org } => format!(
            "remove organisation {org}: none of its keys signs, proposes or attests after the block that accepts this"
        ),
        MemberBody::AddKey { org, key, key_role } => format!(
            "enrol {} as a {} key of {org}, in force from the block after the one that accepts this",
            key,
            role_name(key_role)
        ),
        MemberBody::RevokeKey { org, key } => format!(
            "revoke key {key} of {org}: from the block after the one that accepts this it signs nothing and its attestations do not count"
        ),
        MemberBody::ScheduleRules {
            version,
            activation,
        } => format!("switch the contract rules to version {version} from block {activation} on"),
        MemberBody::DisclosureGrant {
            max_fetches,
            valid_days,
        } => format!(
            "let each accepted disclosure grant at most {max_fetches} fetches, within {valid_days} days"
        ),
    }
}

fn role_name<T: Serialize>(role: &T) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn read_proposal(path: &Path) -> Result<Proposal> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let proposal: Proposal = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a governance proposal", path.display()))?;
    if proposal.format != FORMAT {
        bail!(
            "{}: format {:?}, expected {FORMAT:?}",
            path.display(),
            proposal.format
        );
    }
    check_approvals(&proposal.envelope)
        .with_context(|| format!("{} has been tampered with", path.display()))?;
    Ok(proposal)
}

/// Every approval must sign this envelope, each key once.
fn check_approvals(envelope: &Envelope) -> Result<()> {
    let digest = envelope.approval_digest();
    let mut seen = BTreeSet::new();
    for a in &envelope.approvals {
        if !seen.insert(a.key) {
            bail!("key {} approves twice", a.key.short());
        }
        verify_one(&a.key, &digest, &a.signature)
            .with_context(|| format!("the approval by {} does not verify", a.key.short()))?;
    }
    Ok(())
}

fn write_new(path: &Path, proposal: &Proposal) -> Result<()> {
    let text = serde_json::to_string_pretty(proposal)? + "\n";
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| {
            format!(
                "creating {} (an existing file is never overwritten)",
                path.display()
            )
        })?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn rewrite(path: &Path, proposal: &Proposal) -> Result<()> {
    let text = serde_json::to_string_pretty(proposal)? + "\n";
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

fn sign(path: &Path, key_file: &Path) -> Result<()> {
    let mut proposal = read_proposal(path)?;
    let officer = crate::keys::read(key_file)?;
    print_proposal(&proposal);
    let me = officer.public();
    if proposal.envelope.approvals.iter().any(|a| a.key == me) {
        bail!("{} has already approved this proposal", who(&proposal, &me));
    }
    if proposal.envelope.submitter_key == me {
        bail!("the proposing submitter key cannot approve its own proposal");
    }
    proposal.envelope.approve(&officer);
    rewrite(path, &proposal)?;
    println!("approved by {}", who(&proposal, &me));
    Ok(())
}

fn who(proposal: &Proposal, key: &PublicKey) -> String {
    match proposal.directory.get(key) {
        Some((org, role)) => format!("{org} ({} key {})", role_name(role), key.short()),
        None => format!(
            "key {} (not a member key at height {})",
            key.short(),
            proposal.directory_height
        ),
    }
}

fn print_proposal(proposal: &Proposal) {
    let env = &proposal.envelope;
    println!("This proposal would: {}.", describe(&env.body));
    println!("Chain: {}", env.chain_id);
    println!("Proposed by {}", who(proposal, &env.submitter_key));
    if env.approvals.is_empty() {
        println!("Approved so far by: nobody");
    }
    for a in &env.approvals {
        println!("Approved by {}", who(proposal, &a.key));
    }
    println!(
        "(organisations as the node reported at height {}; `governance status` checks the chain's head)",
        proposal.directory_height
    );
}

/// Who backs a proposal at a head, by the rules' count.
#[derive(Debug, Serialize)]
pub struct Tally {
    pub needed: usize,
    pub backing: Vec<OrgId>,
    pub missing: Vec<OrgId>,
    /// Approvals that do not count: keys not in force, or not officer keys.
    pub not_counted: Vec<PublicKey>,
    pub quorum_required: bool,
}

impl Tally {
    pub fn reached(&self) -> bool {
        !self.quorum_required || self.backing.len() >= self.needed
    }
}

/// The organisations backing `envelope` at the head `view` describes: the
/// submitter's and each approving officer's, among the members.
pub fn tally(envelope: &Envelope, view: &ConsortiumView) -> Tally {
    let mut backing = BTreeSet::new();
    if let Some((org, _)) = view.key(&envelope.submitter_key) {
        backing.insert(org.org.clone());
    }
    let mut not_counted = Vec::new();
    for a in &envelope.approvals {
        match view.key(&a.key) {
            Some((org, KeyRole::Officer)) => {
                backing.insert(org.org.clone());
            }
            _ => not_counted.push(a.key),
        }
    }
    let missing = view
        .orgs
        .iter()
        .map(|o| o.org.clone())
        .filter(|o| !backing.contains(o))
        .collect();
    Tally {
        needed: view.member_quorum,
        backing: backing.into_iter().collect(),
        missing,
        not_counted,
        quorum_required: matches!(envelope.body, RecordBody::Member(_)),
    }
}

async fn status(path: &Path, node: &NodeArgs, json: bool) -> Result<()> {
    let proposal = read_proposal(path)?;
    let view = membership(&node.client()?).await?;
    let tally = tally(&proposal.envelope, &view);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "proposal": describe(&proposal.envelope.body),
                "height": view.height,
                "quorum_reached": tally.reached(),
                "tally": tally,
            })
        );
    } else {
        print_status(&proposal, &view, &tally);
    }
    if !tally.reached() {
        bail!("short of quorum");
    }
    Ok(())
}

fn print_status(proposal: &Proposal, view: &ConsortiumView, tally: &Tally) {
    println!(
        "This proposal would: {}.",
        describe(&proposal.envelope.body)
    );
    if view.key(&proposal.envelope.submitter_key).is_none() {
        println!(
            "warning: its submitter key {} is not in force at height {}",
            proposal.envelope.submitter_key.short(),
            view.height
        );
    }
    if !tally.quorum_required {
        println!("The rules need no quorum for this record.");
        return;
    }
    let names = |orgs: &[OrgId]| {
        orgs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "At height {}: backed by {} of the {} organisations needed ({}).",
        view.height,
        tally.backing.len(),
        tally.needed,
        names(&tally.backing)
    );
    for key in &tally.not_counted {
        println!(
            "not counted: the approval by {} (not an officer key in force)",
            key.short()
        );
    }
    if tally.reached() {
        println!("QUORUM REACHED: ready to submit.");
    } else {
        let short = tally.needed - tally.backing.len();
        println!(
            "SHORT OF QUORUM: {short} more organisation(s) must approve, from: {}.",
            names(&tally.missing)
        );
    }
}

async fn submit(path: &Path, node: &NodeArgs) -> Result<()> {
    let proposal = read_proposal(path)?;
    let submitter: Keypair = crate::keys::read(&node.key)?;
    if submitter.public() != proposal.envelope.submitter_key {
        bail!(
            "--key is {}, but the proposal names submitter key {}",
            submitter.public().short(),
            proposal.envelope.submitter_key.short()
        );
    }
    let what = describe(&proposal.envelope.body);
    let record = proposal.envelope.sign(&submitter);
    let lines = node.client()?.submit(&[record]).await?;
    let Some(line) = lines.into_iter().next() else {
        bail!("the node answered no receipt");
    };
    report_receipt(&what, line)
}

fn report_receipt(what: &str, line: SubmitLine) -> Result<()> {
    let outcome = match line {
        SubmitLine::Receipt(Receipt::Committed {
            height, outcome, ..
        })
        | SubmitLine::Receipt(Receipt::AlreadyCommitted {
            height, outcome, ..
        }) => (height, outcome),
        SubmitLine::Receipt(Receipt::Refused { reason, .. }) => bail!("refused: {reason}"),
        SubmitLine::Error { error } => bail!("not submitted: {error}"),
    };
    let (height, outcome) = outcome;
    match outcome.verdict {
        Verdict::Accepted => {
            println!(
                "accepted at height {height}: {what}; in force from block {}",
                height.next()
            );
            Ok(())
        }
        Verdict::Rejected { code } => {
            bail!("committed at height {height} but rejected by the rules: {code}")
        }
    }
}

async fn show(node: &NodeArgs, json: bool) -> Result<()> {
    let view = membership(&node.client()?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    println!("chain {} at height {}", view.chain_id, view.height);
    println!(
        "quorum: {} organisations back a member record; {} attest a block",
        view.member_quorum, view.attestation_quorum
    );
    println!("rules version {} in force", view.rules_version);
    for s in &view.scheduled_rules {
        println!(
            "  version {} from block {} (pending)",
            s.version, s.activation
        );
    }
    for org in &view.orgs {
        println!("{} ({})", org.org, role_name(&org.role));
        for k in &org.keys {
            println!("  {:<9} {}", role_name(&k.role), k.key);
        }
    }
    println!("node keys' attester terms:");
    for t in &view.node_terms {
        let until = t.until.map_or("now".to_string(), |u| format!("before {u}"));
        println!(
            "  {} of {}: from block {} {until}",
            t.key.short(),
            t.org,
            t.from
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_writes_an_addition_and_a_revocation_beside_it() {
        let paths = proposal_paths(Path::new("/tmp/p/rotate.json"), 2);
        assert_eq!(paths[0], Path::new("/tmp/p/rotate.json"));
        assert_eq!(paths[1], Path::new("/tmp/p/rotate-revoke.json"));
        let action = ProposedAction::RotateKey {
            org: "insurance".into(),
            role: "node".into(),
            old: "11".repeat(32),
            new: "22".repeat(32),
        };
        let bodies = bodies(&action).expect("bodies");
        assert!(matches!(
            &bodies[0],
            RecordBody::Member(MemberBody::AddKey { key_role: KeyRole::Node, key, .. }) if key.0 == [0x22; 32]
        ));
        assert!(matches!(
            &bodies[1],
            RecordBody::Member(MemberBody::RevokeKey { key, .. }) if key.0 == [0x11; 32]
        ));
    }

    #[test]
    fn unknown_roles_and_malformed_keys_are_refused_by_name() {
        let bad_role = ProposedAction::AddOrg {
            org: "pension".into(),
            role: "treasury".into(),
        };
        let err = bodies(&bad_role).expect_err("no such role");
        assert!(err.to_string().contains("treasury"), "{err}");
        let bad_key = ProposedAction::RevokeKey {
            org: "insurance".into(),
            public: "zz".into(),
        };
        assert!(bodies(&bad_key).is_err());
        let good = ProposedAction::AddOrg {
            org: "pension".into(),
            role: "finance".into(),
        };
        assert!(bodies(&good).is_ok());
    }

    #[test]
    fn a_tampered_approval_is_refused() {
        let officer = Keypair::from_seed([3; 32]);
        let chain = fundtrail_ledger::types::ChainId::new("gov-test").expect("chain id");
        let body = RecordBody::Member(MemberBody::RemoveOrg {
            org: org_id("finance").expect("org"),
        });
        let mut env = Envelope::new(chain, body, Keypair::from_seed([1; 32]).public(), 9);
        env.approve(&officer);
        assert!(check_approvals(&env).is_ok());
        env.nonce += 1;
        assert!(
            check_approvals(&env).is_err(),
            "approval no longer signs the envelope"
        );
    }
}
