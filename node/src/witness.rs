//! A tlog-witness (c2sp.org/tlog-witness) for this node's chain, at
//! `POST /witness/add-checkpoint`: it cosigns a checkpoint signed by a
//! majority of the consortium's node organisations once it is consistent
//! with the last one it cosigned, and keeps that one on disk before it
//! answers. The cosignature (tlog-cosignature/v1, type 0x04) is by this
//! node's key under the name `fundtrail/<chain>/<org>/witness`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use fundtrail_ledger::block::Genesis;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::merkle::empty_root;
use fundtrail_ledger::tlog::{
    origin, verify_consistency, ConsistencyProof, Cosigner, KeyName, SignedCheckpoint, Vkey,
};
use fundtrail_ledger::types::OrgId;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{genesis_vkeys, trusted_signers, witness_name, CheckpointFailure};

/// At most this many consistency proof lines (the spec's limit).
const MAX_PROOF_LINES: usize = 63;
/// Largest request body taken.
pub const MAX_BODY_BYTES: usize = 64 << 10;
const STATE_FILE: &str = "witness.json";

/// What `add-checkpoint` answers, with the spec's status for each.
#[derive(Debug, PartialEq, Eq)]
pub enum WitnessAnswer {
    /// 200: the cosignature lines.
    Cosigned(String),
    /// 409: the size of the last checkpoint cosigned.
    Conflict(u64),
    /// 400.
    BadRequest(String),
    /// 403: no valid signature by enough trusted keys.
    Forbidden(String),
    /// 404: a log this witness does not know.
    UnknownOrigin,
    /// 422: not consistent with the last checkpoint cosigned.
    Unprocessable(String),
}

/// The last checkpoint this witness cosigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Cosigned {
    size: u64,
    root: Hash32,
}

pub struct Witness {
    origin: String,
    trusted: Vec<Vkey>,
    required: usize,
    name: KeyName,
    key: Arc<Keypair>,
    state_file: PathBuf,
    /// Held across the check and the write, so two requests cannot roll
    /// the state back.
    last: Mutex<Cosigned>,
}

impl Witness {
    /// The witness of `genesis`'s chain, its state kept in `data_dir`.
    pub fn open(
        data_dir: &Path,
        genesis: &Genesis,
        key: Arc<Keypair>,
        org: &OrgId,
    ) -> anyhow::Result<Witness> {
        let state_file = data_dir.join(STATE_FILE);
        let last = match std::fs::read(&state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is damaged: {e}", state_file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Cosigned {
                size: 0,
                root: empty_root(),
            },
            Err(e) => return Err(e.into()),
        };
        let name = witness_name(&genesis.chain_id, org).map_err(CheckpointFailure::from)?;
        Ok(Witness {
            origin: origin(&genesis.chain_id),
            trusted: genesis_vkeys(genesis)?,
            required: crate::proof::default_quorum(genesis),
            name,
            key,
            state_file,
            last: Mutex::new(last),
        })
    }

    /// The verifier key of this witness's cosignatures.
    pub fn vkey(&self) -> Vkey {
        Cosigner::new(self.name.clone(), &self.key).vkey().clone()
    }

    /// Handles one `add-checkpoint` body at time `now` (POSIX seconds).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> WitnessAnswer {
        let request = match parse(body) {
            Ok(r) => r,
            Err(e) => return WitnessAnswer::BadRequest(e),
        };
        let cp = request.checkpoint.checkpoint();
        if cp.origin() != self.origin {
            return WitnessAnswer::UnknownOrigin;
        }
        if let Err(e) = self.check_signatures(&request.checkpoint) {
            return WitnessAnswer::Forbidden(e);
        }
        if request.old > cp.size() {
            return WitnessAnswer::BadRequest(format!(
                "old size {} is above the checkpoint's {}",
                request.old,
                cp.size()
            ));
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if request.old != last.size {
            return WitnessAnswer::Conflict(last.size);
        }
        if let Err(e) = consistent(&last, &request) {
            return WitnessAnswer::Unprocessable(e);
        }
        let next = Cosigned {
            size: cp.size(),
            root: *cp.root(),
        };
        if let Err(e) = self.persist(&next) {
            tracing::error!(error = %e, "keeping the witness state failed; not cosigning");
            return WitnessAnswer::Unprocessable("the witness could not keep its state".into());
        }
        *last = next;
        match Cosigner::new(self.name.clone(), &self.key).cosign(&cp.text(), now) {
            Ok(line) => WitnessAnswer::Cosigned(line.line()),
            Err(e) => WitnessAnswer::BadRequest(e.to_string()),
        }
    }

    fn check_signatures(&self, signed: &SignedCheckpoint) -> Result<(), String> {
        trusted_signers(signed, &self.trusted, self.required)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Writes the state to a new file, syncs it, and renames it over the
    /// old one, syncing the directory: a crash leaves the old or the new.
    fn persist(&self, state: &Cosigned) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = self.state_file.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&serde_json::to_vec(state).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.state_file)?;
        if let Some(dir) = self.state_file.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

struct Request {
    old: u64,
    proof: Vec<Hash32>,
    checkpoint: SignedCheckpoint,
}

/// `old N`, proof lines, an empty line, then the checkpoint.
fn parse(body: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let (old_line, rest) = text.split_once('\n').ok_or("no old size line")?;
    let old = old_line
        .strip_prefix("old ")
        .filter(|n| *n == "0" || !n.starts_with('0'))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or("the first line must be `old <size>`")?;
    // Proof lines are never empty, so a body without them starts its
    // rest with the empty line; otherwise the first empty line ends them
    // (the checkpoint's own empty line comes later).
    let (proof_text, checkpoint) = match rest.strip_prefix('\n') {
        Some(checkpoint) => ("", checkpoint),
        None => rest
            .split_once("\n\n")
            .ok_or("no empty line before the checkpoint")?,
    };
    let proof = proof_lines(proof_text)?;
    let checkpoint =
        SignedCheckpoint::parse(checkpoint.as_bytes()).map_err(|e| format!("checkpoint: {e}"))?;
    Ok(Request {
        old,
        proof,
        checkpoint,
    })
}

fn proof_lines(text: &str) -> Result<Vec<Hash32>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.len() > MAX_PROOF_LINES {
        return Err(format!("more than {MAX_PROOF_LINES} proof lines"));
    }
    lines
        .iter()
        .map(|l| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(l)
                .map_err(|_| "a proof line is not base64".to_string())?;
            let hash: [u8; 32] = bytes
                .try_into()
                .map_err(|_| "a proof line is not a 32-byte hash".to_string())?;
            Ok(Hash32(hash))
        })
        .collect()
}

/// The spec's consistency checks against the last checkpoint cosigned.
fn consistent(last: &Cosigned, request: &Request) -> Result<(), String> {
    let cp = request.checkpoint.checkpoint();
    if cp.size() == 0 && *cp.root() != empty_root() {
        return Err("a checkpoint of size 0 must have the empty root".into());
    }
    if request.old == 0 {
        return if request.proof.is_empty() {
            Ok(())
        } else {
            Err("a proof from size 0 must be empty".into())
        };
    }
    if request.old == cp.size() {
        return if *cp.root() == last.root {
            Ok(())
        } else {
            Err("same size as the last checkpoint cosigned, another root".into())
        };
    }
    let proof = ConsistencyProof {
        old_size: request.old,
        new_size: cp.size(),
        path: request.proof.clone(),
    };
    verify_consistency(&proof, &last.root, cp.root())
        .map_err(|e| format!("the consistency proof does not hold: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_ledger::block::BlockHash;
    use fundtrail_ledger::tlog::{
        block_leaf, prove_consistency, Checkpoint, Ed25519Signer, Frontier,
    };
    use fundtrail_ledger::types::Role;
    use fundtrail_testkit::{Kit, OrgKit};

    struct Log {
        kit: Kit,
        genesis: Genesis,
        leaves: Vec<Hash32>,
    }

    impl Log {
        fn new() -> Log {
            let kit = Kit::new(3);
            let genesis = kit.genesis_with_nodes();
            Log {
                kit,
                genesis,
                leaves: Vec::new(),
            }
        }

        fn grow(&mut self, blocks: u8) {
            for _ in 0..blocks {
                let n = self.leaves.len() as u8;
                self.leaves
                    .push(block_leaf(&BlockHash::from_hash(Hash32([n; 32]))));
            }
        }

        /// The checkpoint of the first `size` blocks, signed by the node
        /// keys of the first `signers` departments.
        fn checkpoint(&self, size: usize, signers: usize) -> String {
            let tree = Frontier::from_leaves(&self.leaves[..size]).expect("tree");
            let cp = Checkpoint::of_chain(&self.genesis.chain_id, &tree);
            let nodes = self.kit.department_nodes();
            let orgs: Vec<&OrgKit> = self
                .kit
                .orgs
                .iter()
                .filter(|o| o.role != Role::Auditor)
                .collect();
            let mut signed: Option<SignedCheckpoint> = None;
            for (node, org) in nodes.iter().zip(orgs).take(signers) {
                let name =
                    crate::checkpoint::key_name(&self.genesis.chain_id, &org.id).expect("name");
                let signer = Ed25519Signer::new(name, node);
                match signed.as_mut() {
                    None => {
                        signed = Some(SignedCheckpoint::sign(cp.clone(), &signer).expect("sign"))
                    }
                    Some(s) => s.add_signature(signer.sign(&cp.text())).expect("add"),
                }
            }
            signed.expect("one signer at least").to_string()
        }

        fn body(&self, old: usize, size: usize, signers: usize) -> Vec<u8> {
            let mut body = format!("old {old}\n");
            if old > 0 && old < size {
                let proof = prove_consistency(&self.leaves[..size], old as u64).expect("proof");
                for h in proof.path {
                    body.push_str(&base64::engine::general_purpose::STANDARD.encode(h.0));
                    body.push('\n');
                }
            }
            body.push('\n');
            body.push_str(&self.checkpoint(size, signers));
            body.into_bytes()
        }
    }

    fn witness(log: &Log, dir: &Path) -> Witness {
        let key = Arc::new(Keypair::from_seed([0x77; 32]));
        let org = &log.kit.orgs[0].id;
        Witness::open(dir, &log.genesis, key, org).expect("open")
    }

    #[test]
    fn the_witness_answers_as_tlog_witness_says_and_keeps_its_state() {
        let dir = tempfile::tempdir().expect("dir");
        let mut log = Log::new();
        log.grow(9);
        let w = witness(&log, dir.path());
        let first = w.add_checkpoint(&log.body(0, 5, 3), 1_800_000_000);
        let WitnessAnswer::Cosigned(line) = first else {
            panic!("expected a cosignature, got {first:?}");
        };
        assert!(line.starts_with("\u{2014} "), "{line}");
        assert_eq!(
            w.add_checkpoint(&log.body(0, 9, 3), 1),
            WitnessAnswer::Conflict(5)
        );
        let mut tampered = log.body(5, 9, 3);
        let at = "old 5\n".len();
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        assert!(matches!(
            w.add_checkpoint(&tampered, 1),
            WitnessAnswer::Unprocessable(_)
        ));
        assert!(
            matches!(
                w.add_checkpoint(&log.body(5, 9, 1), 1),
                WitnessAnswer::Forbidden(_)
            ),
            "one of four signers is short of a majority"
        );
        assert!(matches!(
            w.add_checkpoint(&log.body(7, 5, 3), 1),
            WitnessAnswer::BadRequest(_)
        ));
        assert!(matches!(
            w.add_checkpoint(b"old 05\n\n", 1),
            WitnessAnswer::BadRequest(_)
        ));
        let other = String::from_utf8(log.body(5, 9, 3))
            .expect("utf-8")
            .replacen(&origin(&log.genesis.chain_id), "other.example/log", 1);
        assert_eq!(
            w.add_checkpoint(other.as_bytes(), 1),
            WitnessAnswer::UnknownOrigin
        );
        assert!(matches!(
            w.add_checkpoint(&log.body(5, 9, 3), 2),
            WitnessAnswer::Cosigned(_)
        ));

        let reopened = witness(&log, dir.path());
        assert_eq!(
            reopened.add_checkpoint(&log.body(5, 9, 3), 3),
            WitnessAnswer::Conflict(9)
        );
        assert!(matches!(
            reopened.add_checkpoint(&log.body(9, 9, 3), 3),
            WitnessAnswer::Cosigned(_)
        ));
    }
}
