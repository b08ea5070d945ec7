//! `fundtrail governance` run against a [`TestCluster`] the way
//! docs/OPERATIONS.md runs it: insurance's submitter proposes and submits,
//! other departments' officers sign.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Output;

use fundtrail_ledger::types::Role;

use crate::cluster::TestCluster;
use crate::output_text;

pub struct Governance<'a> {
    pub cluster: &'a TestCluster,
    /// Where proposal files are written.
    pub dir: PathBuf,
    /// The node the commands call.
    pub via: usize,
}

impl Governance<'_> {
    pub fn key(&self, role: Role, name: &str) -> PathBuf {
        self.cluster
            .devnet
            .key_file(&self.cluster.kit.org(role).id, name)
    }

    pub async fn run(&self, args: &[&OsStr]) -> Output {
        tokio::process::Command::new(self.cluster.exe())
            .arg("governance")
            .args(args)
            .output()
            .await
            .expect("run fundtrail governance")
    }

    /// `--node` and `--key` as insurance's submitter, which proposes and
    /// submits every proposal here.
    pub fn node_args(&self) -> Vec<OsString> {
        vec![
            "--node".into(),
            self.cluster.api(self.via).into(),
            "--key".into(),
            self.key(Role::Insurance, "submitter").into(),
        ]
    }

    pub async fn propose(&self, name: &str, action: &[&str]) -> PathBuf {
        let out = self.dir.join(name);
        let mut args: Vec<OsString> = vec!["propose".into()];
        args.extend(self.node_args());
        args.extend(["--out".into(), out.clone().into()]);
        args.extend(action.iter().map(Into::into));
        let output = self.run(&refs(&args)).await;
        assert!(output.status.success(), "{}", output_text(&output));
        out
    }

    pub async fn sign(&self, proposal: &Path, role: Role) -> Output {
        let key = self.key(role, "officer-1");
        let output = self
            .run(&[
                "sign".as_ref(),
                proposal.as_os_str(),
                "--key".as_ref(),
                key.as_os_str(),
            ])
            .await;
        assert!(output.status.success(), "{}", output_text(&output));
        output
    }

    /// `status` or `submit` of `proposal`.
    pub async fn with_proposal(&self, verb: &str, proposal: &Path) -> Output {
        let mut args: Vec<OsString> = vec![verb.into(), proposal.into()];
        args.extend(self.node_args());
        self.run(&refs(&args)).await
    }

    /// Signs `proposal` as each of `signers`' officers; `status` must then
    /// show a quorum, and submitting it must succeed.
    pub async fn pass(&self, proposal: &Path, signers: &[Role]) {
        for role in signers {
            self.sign(proposal, *role).await;
        }
        let status = self.with_proposal("status", proposal).await;
        assert!(status.status.success(), "{}", output_text(&status));
        let submitted = self.with_proposal("submit", proposal).await;
        assert!(submitted.status.success(), "{}", output_text(&submitted));
    }
}

pub fn refs(args: &[OsString]) -> Vec<&OsStr> {
    args.iter().map(|a| a.as_os_str()).collect()
}
