//! A small HTTPS client for a node's API that signs every request with
//! an enrolled key (docs/API.md "Access"), used by the CLI, the devnet,
//! the demo and the cluster benchmark.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fundtrail_ledger::codec;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::record::SignedRecord;
use reqwest::Method;
use serde_json::Value;

use crate::access::signature;
use crate::api::{SubmitLine, BCS_CONTENT_TYPE};

/// How a submission's records travel: a JSON array, or their canonical BCS
/// encoding (smaller, and cheaper for both sides to produce and read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BodyEncoding {
    Json,
    Bcs,
}

impl BodyEncoding {
    /// A submission body holding `records`.
    pub fn encode(self, records: &[SignedRecord]) -> Result<Vec<u8>> {
        Ok(match self {
            BodyEncoding::Json => serde_json::to_vec(records)?,
            BodyEncoding::Bcs => codec::encode(&records),
        })
    }
}

/// How a client reaches a node: the CA its TLS certificate is checked
/// against and the enrolled key that signs each request.
#[derive(Clone, Default)]
pub struct Credentials {
    /// PEM of the CA to trust; without it, only plain-HTTP (loopback
    /// development) nodes can be reached.
    pub ca_pem: Option<Vec<u8>>,
    /// Without a key, requests go unsigned (only `/healthz` answers them).
    pub key: Option<Arc<Keypair>>,
}

impl Credentials {
    /// Reads the CA and key files. Without `ca`, a key file in a devnet's
    /// `keys/` directory brings the devnet's `tls/ca.pem` with it.
    pub fn load(ca: Option<&Path>, key: Option<&Path>) -> Result<Credentials> {
        let ca = ca
            .map(Path::to_path_buf)
            .or_else(|| key.and_then(devnet_ca_beside));
        let ca_pem = match ca {
            Some(path) => Some(
                std::fs::read(&path)
                    .with_context(|| format!("reading the CA certificate {}", path.display()))?,
            ),
            None => None,
        };
        let key = key.map(crate::keys::read).transpose()?.map(Arc::new);
        Ok(Credentials { ca_pem, key })
    }

    /// The same trust, signing with `key`.
    pub fn signed_by(&self, key: Keypair) -> Credentials {
        Credentials {
            ca_pem: self.ca_pem.clone(),
            key: Some(Arc::new(key)),
        }
    }
}

/// `DIR/tls/ca.pem` for a key file `DIR/keys/NAME`, if it exists.
fn devnet_ca_beside(key: &Path) -> Option<PathBuf> {
    let keys = key.parent()?;
    let ca = keys.parent()?.join("tls").join("ca.pem");
    (keys.file_name()? == "keys" && ca.is_file()).then_some(ca)
}

/// Where a command reaches a node, and as whom: `--node`, `--key` and
/// `--ca` (or their environment variables).
#[derive(clap::Args, Clone, Debug)]
pub struct NodeArgs {
    /// The node's API URL, e.g. https://127.0.0.1:8100.
    #[arg(long, env = "FUNDTRAIL_NODE")]
    pub node: String,
    /// The enrolled key that signs the requests (submitter, officer or
    /// reader key of your organisation).
    #[arg(long, env = "FUNDTRAIL_KEY")]
    pub key: PathBuf,
    /// The CA certificate (PEM) the node's certificate is checked against.
    /// For a devnet it is found beside its keys (DIR/tls/ca.pem).
    #[arg(long, env = "FUNDTRAIL_CA")]
    pub ca: Option<PathBuf>,
}

impl NodeArgs {
    pub fn client(&self) -> Result<NodeClient> {
        NodeClient::new(
            &self.node,
            &Credentials::load(self.ca.as_deref(), Some(&self.key))?,
        )
    }
}

#[derive(Clone)]
pub struct NodeClient {
    base: String,
    http: reqwest::Client,
    credentials: Credentials,
}

impl NodeClient {
    pub fn new(base: &str, credentials: &Credentials) -> Result<NodeClient> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .tls_built_in_root_certs(false);
        if let Some(pem) = &credentials.ca_pem {
            let ca =
                reqwest::Certificate::from_pem(pem).context("the CA certificate is not PEM")?;
            builder = builder.add_root_certificate(ca);
        }
        Ok(NodeClient {
            base: base.trim_end_matches('/').to_string(),
            http: builder.build().context("building the HTTP client")?,
            credentials: credentials.clone(),
        })
    }

    /// This client, signing with `key` instead.
    pub fn signed_by(&self, key: Keypair) -> NodeClient {
        NodeClient {
            credentials: self.credentials.signed_by(key),
            ..self.clone()
        }
    }

    /// This client, sending requests unsigned.
    pub fn unsigned(&self) -> NodeClient {
        NodeClient {
            credentials: Credentials {
                key: None,
                ..self.credentials.clone()
            },
            ..self.clone()
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Submits records and waits for their receipts (one per record),
    /// which come once the records are committed.
    pub async fn submit(&self, records: &[SignedRecord]) -> Result<Vec<SubmitLine>> {
        self.submit_to("/v1/records", records, BodyEncoding::Json)
            .await
    }

    /// Submits records; the receipts come once this node has applied them,
    /// so a read from it right after sees them.
    pub async fn submit_applied(&self, records: &[SignedRecord]) -> Result<Vec<SubmitLine>> {
        self.submit_to("/v1/records?wait=applied", records, BodyEncoding::Json)
            .await
    }

    /// [`NodeClient::submit`] with the records sent as `encoding`.
    pub async fn submit_as(
        &self,
        records: &[SignedRecord],
        encoding: BodyEncoding,
    ) -> Result<Vec<SubmitLine>> {
        self.submit_to("/v1/records", records, encoding).await
    }

    async fn submit_to(
        &self,
        path: &str,
        records: &[SignedRecord],
        encoding: BodyEncoding,
    ) -> Result<Vec<SubmitLine>> {
        let body = encoding.encode(records)?;
        self.submit_encoded(path, body, encoding).await
    }

    /// Submits records already encoded as `encoding` (see
    /// [`BodyEncoding::encode`]).
    pub async fn submit_encoded(
        &self,
        path: &str,
        body: Vec<u8>,
        encoding: BodyEncoding,
    ) -> Result<Vec<SubmitLine>> {
        let content_type = match encoding {
            BodyEncoding::Json => "application/json",
            BodyEncoding::Bcs => BCS_CONTENT_TYPE,
        };
        let response = self
            .send(Method::POST, path, body, Some(content_type))
            .await?;
        read_json(response).await
    }

    /// GETs an API path (e.g. `/v1/head`) as JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        read_json(self.send(Method::GET, path, Vec::new(), None).await?).await
    }

    /// GETs an API path that answers plain text (e.g. `/v1/checkpoint`).
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let response = self.send(Method::GET, path, Vec::new(), None).await?;
        let status = response.status();
        let text = response.text().await.context("reading the response")?;
        if !status.is_success() {
            bail!("{status}: {}", error_message(text));
        }
        Ok(text)
    }

    /// POSTs JSON to an API path.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let body = serde_json::to_vec(body)?;
        let response = self
            .send(Method::POST, path, body, Some("application/json"))
            .await?;
        read_json(response).await
    }

    /// Downloads the node's chain file.
    pub async fn export(&self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.export_to(&mut bytes).await?;
        Ok(bytes)
    }

    /// Streams the node's chain file into `out`; returns its length.
    pub async fn export_to(&self, out: &mut impl std::io::Write) -> Result<u64> {
        let response = self
            .send(Method::GET, "/v1/chain", Vec::new(), None)
            .await?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            bail!("export failed: {status}: {}", error_message(text));
        }
        let mut stream = response.bytes_stream();
        let mut written = 0u64;
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            let chunk = chunk.context("the chain stream broke off")?;
            out.write_all(&chunk).context("writing the chain file")?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// Sends a request, signed (RFC 9421) when the client has a key; any
    /// status comes back.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<reqwest::Response> {
        let url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .with_context(|| format!("{}{path} is not a URL", self.base))?;
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(key) = &self.credentials.key {
            let mut nonce = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
            let headers = signature::sign(
                key,
                method.as_str(),
                url.path(),
                url.query(),
                &body,
                crate::access::now_s(),
                &hex::encode(nonce),
            );
            for (name, value) in headers {
                request = request.header(name, value);
            }
        }
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        request
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable_node(e, &self.base, method.as_str(), path))
    }
}

/// A connection error with the likely cause in words (TLS trust, mostly).
fn unreachable_node(e: reqwest::Error, base: &str, method: &str, path: &str) -> anyhow::Error {
    let chain = format!("{:#}", anyhow::Error::new(e));
    let hint = if chain.contains("UnknownIssuer") || chain.contains("certificate") {
        " (the node's TLS certificate is not trusted: give its CA with --ca or FUNDTRAIL_CA)"
    } else {
        ""
    };
    anyhow::anyhow!("{method} {base}{path}: {chain}{hint}")
}

/// The `error` of a JSON error body, or the body as it came.
fn error_message(text: String) -> String {
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or(text)
}

async fn read_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let status = response.status();
    let text = response.text().await.context("reading the response")?;
    if !status.is_success() {
        bail!("{status}: {}", error_message(text));
    }
    serde_json::from_str(&text).context("the node's response is not the expected JSON")
}
