//! A small HTTP client for a node's API, used by the CLI, the devnet,
//! the demo and the cluster benchmark.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use fundtrail_ledger::codec;
use fundtrail_ledger::record::SignedRecord;
use serde_json::Value;

use crate::api::{SubmitLine, BCS_CONTENT_TYPE};

/// How a submission's records travel: a JSON array, or their canonical BCS
/// encoding (smaller, and cheaper for both sides to produce and read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BodyEncoding {
    Json,
    Bcs,
}

#[derive(Clone)]
pub struct NodeClient {
    base: String,
    http: reqwest::Client,
}

impl NodeClient {
    pub fn new(base: &str) -> Result<NodeClient> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(NodeClient {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
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
        let request = self.http.post(format!("{}{path}", self.base));
        let request = match encoding {
            BodyEncoding::Json => request.json(records),
            BodyEncoding::Bcs => request
                .header(reqwest::header::CONTENT_TYPE, BCS_CONTENT_TYPE)
                .body(codec::encode(&records)),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("submitting to {}", self.base))?;
        read_json(response).await
    }

    /// GETs an API path (e.g. `/v1/head`) as JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .with_context(|| format!("GET {}{}", self.base, path))?;
        read_json(response).await
    }

    /// POSTs JSON to an API path.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}{}", self.base, path))
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {}{}", self.base, path))?;
        read_json(response).await
    }

    /// Downloads the node's chain file.
    pub async fn export(&self) -> Result<Vec<u8>> {
        let response = self
            .http
            .get(format!("{}/v1/chain", self.base))
            .send()
            .await
            .with_context(|| format!("exporting from {}", self.base))?;
        if !response.status().is_success() {
            bail!("export failed: {}", response.status());
        }
        Ok(response.bytes().await?.to_vec())
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let status = response.status();
    let text = response.text().await.context("reading the response")?;
    if !status.is_success() {
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or(text);
        bail!("{status}: {message}");
    }
    serde_json::from_str(&text).context("the node's response is not the expected JSON")
}
