//! The HTTP API every node serves (axum): submit signed records, read
//! records, claims, people, funds and blocks, stream blocks, export the
//! chain, list equivocation evidence, the private vault and disclosures,
//! health and Prometheus metrics. Request and response shapes are
//! documented in docs/API.md.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fundtrail_contracts::lookup::StateLookup;
use fundtrail_contracts::model::{key, ClaimEntry, FundEntry, PersonYear};
use fundtrail_ledger::codec;
use fundtrail_ledger::evidence::Equivocation;
use fundtrail_ledger::hash::{DomainHasher, Hash32};
use fundtrail_ledger::lookup::{Lookup, PayoutTier};
use fundtrail_ledger::pseudonym::{ClaimId, PersonId};
use fundtrail_ledger::record::{Period, RecordId, SignedRecord};
use fundtrail_ledger::store::{
    claim_prefix, fund_prefix, person_prefix, ChainPosition, IndexPage, RecordEntry,
};
use fundtrail_ledger::types::{FundId, Height, KeyRole, Role};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{self, Caller, Gate};
use crate::chain::{Chain, StoreState};
use crate::consortium::ConsortiumView;
use crate::evidence::EvidenceJson;
use crate::metrics::Metrics;
use crate::p2p::Net;
use crate::proof::ProofFile;
use crate::raft::Raft;
use crate::roster::Roster;
use crate::submit::{AnswerWhen, Submitter};
use crate::vault::{FetchError, Vault};
use crate::wire::{Receipt, SubmitError, VaultEntry};

/// Most records one submit request may carry.
pub const MAX_SUBMIT_RECORDS: usize = 10_000;
/// Largest request body: 10,000 records with approvals fit.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct Api {
    pub chain: Arc<Chain>,
    pub submitter: Submitter,
    pub raft: Raft,
    pub vault: Vault,
    pub net: Net,
    pub roster: Roster,
    pub org: fundtrail_ledger::types::OrgId,
    /// Signs the checkpoints this node serves.
    pub node_key: Arc<fundtrail_ledger::crypto::Keypair>,
    /// The checkpoints the departments' nodes sign together.
    pub cosigned: Arc<crate::cosigned::Cosigned>,
    /// Cosigns checkpoints submitted to `/witness/add-checkpoint`.
    pub witness: Arc<crate::witness::Witness>,
    pub metrics: Arc<Metrics>,
    /// Authenticates, bounds and scopes every request (docs/API.md "Access").
    pub gate: Arc<Gate>,
}

pub fn router(api: Api) -> Router {
    let gate = api.gate.clone();
    Router::new()
        .route("/v1/records", post(submit))
        .route("/v1/records/{id}", get(record))
        .route("/v1/records/{id}/proof", get(record_proof))
        .route("/v1/claims/{claim}", get(claim))
        .route("/v1/persons/{person}/years/{year}", get(person_year))
        .route("/v1/funds/{fund}", get(fund))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/blocks", get(block_stream))
        .route("/v1/head", get(head))
        .route("/v1/membership", get(membership))
        .route("/v1/checkpoint", get(checkpoint))
        .route("/v1/checkpoint/cosigned", get(checkpoint_cosigned))
        // Where transparency-log tools look for a log's latest checkpoint.
        .route("/checkpoint", get(checkpoint_cosigned))
        .route("/v1/checkpoint/consistency", get(checkpoint_consistency))
        .route(
            "/v1/checkpoint/inclusion/{height}",
            get(checkpoint_inclusion),
        )
        .route("/witness/add-checkpoint", post(add_checkpoint))
        .route("/v1/lookup/payout/{claim}/{tier}", get(lookup_payout))
        .route(
            "/v1/lookup/clearing/{year}/{month}/{from}/{to}",
            get(lookup_clearing),
        )
        .route("/v1/lookup/submissions", post(lookup_submissions))
        .route("/v1/chain", get(export))
        .route("/v1/evidence", get(evidence))
        .route("/v1/vault", post(deposit))
        .route("/v1/disclosures/{id}/fetch", post(fetch_disclosed))
        .route("/v1/access-log", get(access_log))
        .route("/v1/access-log/head", get(access_log_head))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(gate, access::guard))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// An error as JSON `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn not_found(what: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("{what} not found"))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Path parameters; a parameter that does not parse (a height or year that
/// is not a number) is a 400 with a JSON error like every other, and the
/// message does not repeat the value.
struct Path<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(Path(t)),
            Err(e) if e.status().is_client_error() => Err(bad_request(
                "malformed path: heights, years and months are integers",
            )),
            Err(e) => Err(ApiError(e.status(), "path parameters missing".into())),
        }
    }
}

/// Query parameters, with a JSON error when they do not parse.
struct Params<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Params(t))
            .map_err(|e| {
                bad_request(format!(
                    "malformed query: {}",
                    fundtrail_intake::redact(&e.body_text())
                ))
            })
    }
}

/// A body that is not the expected JSON. serde's message quotes the
/// offending value, which may be a raw identifier pasted in the wrong
/// place, so quoted values and long digit runs are masked (as the intake
/// parser does, docs/SUBMISSION.md).
fn malformed(e: JsonRejection) -> ApiError {
    bad_request(format!(
        "malformed request: {}",
        fundtrail_intake::redact(&e.body_text())
    ))
}

/// One line of a submit response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum SubmitLine {
    Receipt(Receipt),
    Error { error: SubmitError },
}

#[derive(Deserialize)]
struct SubmitQuery {
    #[serde(default)]
    wait: AnswerWhen,
}

/// Content type of a submission in the records' canonical encoding: a BCS
/// sequence of signed records (docs/ENCODING.md), for systems that submit
/// at volume and already hold the bytes they signed.
pub const BCS_CONTENT_TYPE: &str = "application/x-bcs";

/// The records of a submit request, from a JSON array or, under
/// [`BCS_CONTENT_TYPE`], their BCS encoding.
struct SubmittedRecords(Vec<SignedRecord>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for SubmittedRecords {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bcs = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == BCS_CONTENT_TYPE.as_bytes());
        if !bcs {
            let Json(records) = Json::from_request(req, state).await.map_err(malformed)?;
            return Ok(SubmittedRecords(records));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| bad_request(format!("unreadable request body: {}", e.body_text())))?;
        codec::decode("submitted records", &body)
            .map(SubmittedRecords)
            .map_err(|e| bad_request(format!("malformed request: {e}")))
    }
}

async fn submit(
    State(api): State<Api>,
    Params(q): Params<SubmitQuery>,
    SubmittedRecords(records): SubmittedRecords,
) -> ApiResult<Vec<SubmitLine>> {
    if records.len() > MAX_SUBMIT_RECORDS {
        return Err(bad_request(format!(
            "{} records in one request; at most {MAX_SUBMIT_RECORDS}",
            records.len()
        )));
    }
    let m = &api.metrics;
    m.records_submitted.inc_by(records.len() as u64);
    let lines: Vec<SubmitLine> = api
        .submitter
        .submit(records, q.wait)
        .await
        .into_iter()
        .map(|r| match r {
            Ok(receipt) => {
                if matches!(receipt, Receipt::Refused { .. }) {
                    m.records_refused.inc();
                }
                SubmitLine::Receipt(receipt)
            }
            Err(error) => {
                m.submit_errors.inc();
                SubmitLine::Error { error }
            }
        })
        .collect();
    Ok(Json(lines))
}

fn parse_record_id(s: &str) -> Result<RecordId, ApiError> {
    RecordId::from_hex(s).map_err(|_| bad_request("record id must be 64 hex characters"))
}

/// `EPOCH:HEX`, as pseudonyms are printed.
fn parse_pseudonym(s: &str) -> Result<(u32, Hash32), ApiError> {
    access::pseudonym(s)
        .ok_or_else(|| bad_request("pseudonym must be EPOCH:HEX (64 hex characters)"))
}

fn entry_json(api: &Api, e: RecordEntry, history: &PageRequest) -> Result<Value, ApiError> {
    let target = e.outcome.record_id;
    let acted_on_by = api
        .chain
        .store()
        .targeting_page(&target, history.after, history.limit)
        .map_err(internal)?;
    let acted_on_by_ids: Vec<RecordId> = api
        .chain
        .store()
        .records_at(&acted_on_by.positions)
        .map_err(internal)?
        .into_iter()
        .map(|e| e.outcome.record_id)
        .collect();
    Ok(json!({
        "record_id": e.outcome.record_id,
        "kind": e.record.kind().name(),
        "height": e.height,
        "index": e.index,
        "outcome": e.outcome,
        "record": e.record,
        "acted_on_by": acted_on_by_ids,
        "acted_on_by_next_cursor": next_cursor(&Listing::ActedOn(&target), &acted_on_by),
    }))
}

/// A record; `cursor` and `limit` page its `acted_on_by` past the first
/// [`ACTED_ON_BY_LIMIT`].
async fn record(
    State(api): State<Api>,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Value> {
    let entry = committed(&api, &id, "record")?;
    let history = q.request(
        &Listing::ActedOn(&entry.outcome.record_id),
        ACTED_ON_BY_LIMIT,
    )?;
    Ok(Json(entry_json(&api, entry, &history)?))
}

/// Inclusion proofs of a record and its outcome, with the block's
/// attestations (see `fundtrail verify-proof`).
async fn record_proof(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<ProofFile> {
    let entry = committed(&api, &id, "record")?;
    let store = api.chain.store();
    let block = store
        .block(entry.height)
        .map_err(internal)?
        .ok_or_else(|| not_found("block"))?;
    let attestations = store.attestations(entry.height).map_err(internal)?;
    ProofFile::build(&block, entry.index as usize, attestations)
        .map(Json)
        .map_err(internal)
}

/// The committed record a path names (hex id), or a 400/404.
fn committed(api: &Api, id: &str, what: &str) -> Result<RecordEntry, ApiError> {
    let id = parse_record_id(id)?;
    api.chain
        .store()
        .record(&id)
        .map_err(internal)?
        .ok_or_else(|| not_found(what))
}

/// The records of a page, each with the first page of what acted on it.
fn entries(api: &Api, page: &IndexPage) -> Result<Vec<Value>, ApiError> {
    let history = PageRequest::first(ACTED_ON_BY_LIMIT);
    let records = api
        .chain
        .store()
        .records_at(&page.positions)
        .map_err(internal)?;
    records
        .into_iter()
        .map(|e| entry_json(api, e, &history))
        .collect()
}

fn state_value<T: serde::de::DeserializeOwned>(
    api: &Api,
    key: &[u8],
) -> Result<Option<T>, ApiError> {
    match api.chain.store().state_get(key).map_err(internal)? {
        Some(bytes) => Ok(Some(
            codec::decode("state value", &bytes).map_err(internal)?,
        )),
        None => Ok(None),
    }
}

async fn claim(
    State(api): State<Api>,
    Path(claim): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Value> {
    let (epoch, tag) = parse_pseudonym(&claim)?;
    let claim_id = ClaimId { epoch, tag };
    let listing = Listing::Claim(&claim_id);
    let request = q.request(&listing, LIST_DEFAULT_LIMIT)?;
    let entry: Option<ClaimEntry> = state_value(&api, &key::claim(&claim_id))?;
    let page = api
        .chain
        .store()
        .claim_page(&claim_id, request.after, request.limit)
        .map_err(internal)?;
    if entry.is_none() && page.positions.is_empty() && request.after.is_none() {
        return Err(not_found("claim"));
    }
    let quote = fundtrail_contracts::quote(&StoreState(api.chain.store()), &claim_id).ok();
    let group_case: Option<fundtrail_contracts::payment::GroupCase> =
        state_value(&api, &key::group_case(&claim_id))?;
    Ok(Json(json!({
        "claim": entry,
        "quote": quote,
        "group_case": group_case,
        "records": entries(&api, &page)?,
        "next_cursor": next_cursor(&listing, &page),
    })))
}

async fn person_year(
    State(api): State<Api>,
    Path((person, year)): Path<(String, u16)>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Value> {
    let (epoch, tag) = parse_pseudonym(&person)?;
    let person = PersonId { epoch, tag };
    let listing = Listing::Person(&person);
    let request = q.request(&listing, LIST_DEFAULT_LIMIT)?;
    let usage: Option<PersonYear> = state_value(&api, &key::person_year(&person, year))?;
    let page = api
        .chain
        .store()
        .person_page(&person, request.after, request.limit)
        .map_err(internal)?;
    Ok(Json(json!({
        "person": person,
        "year": year,
        "usage": usage.unwrap_or_default(),
        "records": entries(&api, &page)?,
        "next_cursor": next_cursor(&listing, &page),
    })))
}

async fn fund(
    State(api): State<Api>,
    Path(fund): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Value> {
    let fund: FundId = fund.parse().map_err(|_| bad_request("invalid fund id"))?;
    let listing = Listing::Fund(&fund);
    let request = q.request(&listing, LIST_DEFAULT_LIMIT)?;
    let entry: FundEntry =
        state_value(&api, &key::fund(&fund))?.ok_or_else(|| not_found("fund"))?;
    let page = api
        .chain
        .store()
        .fund_page(&fund, request.after, request.limit)
        .map_err(internal)?;
    Ok(Json(json!({
        "fund": fund,
        "entry": entry,
        "movements": entries(&api, &page)?,
        "next_cursor": next_cursor(&listing, &page),
    })))
}

/// Entries a listing gives when the request names no `limit`.
const LIST_DEFAULT_LIMIT: usize = 100;
/// Most entries one page of a listing gives; a larger `limit` is served
/// as this, and the page's `next_cursor` goes on from there.
const LIST_MAX_LIMIT: usize = 1_000;
/// Most reversals and disclosures a record's `acted_on_by` lists at once.
const ACTED_ON_BY_LIMIT: usize = 1_000;

/// A listing's paging parameters: `limit` and the `cursor` a previous
/// page answered with as its `next_cursor`.
#[derive(Deserialize)]
struct PageQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Which page of a listing to read.
struct PageRequest {
    after: Option<ChainPosition>,
    limit: usize,
}

impl PageRequest {
    fn first(limit: usize) -> PageRequest {
        PageRequest { after: None, limit }
    }
}

impl PageQuery {
    /// The page asked for in `listing`: `limit` (`default` when absent)
    /// held to 1..=[`LIST_MAX_LIMIT`], and the position the cursor names,
    /// which must be one of this listing's.
    fn request(&self, listing: &Listing, default: usize) -> Result<PageRequest, ApiError> {
        let after = match &self.cursor {
            Some(cursor) => Some(listing.position(cursor)?),
            None => None,
        };
        let limit = self.limit.unwrap_or(default).clamp(1, LIST_MAX_LIMIT);
        Ok(PageRequest { after, limit })
    }
}

/// The index a listing reads and the key it lists under, which a cursor
/// is bound to.
enum Listing<'a> {
    Claim(&'a ClaimId),
    Person(&'a PersonId),
    Fund(&'a FundId),
    ActedOn(&'a RecordId),
}

/// Domain of the check that binds a cursor to its listing.
const CURSOR_DOMAIN: &str = "fundtrail/api-cursor/v1";
/// A cursor's bytes: height u64 BE, index u32 BE, then [`CURSOR_CHECK`]
/// bytes of check.
const CURSOR_BYTES: usize = 12 + CURSOR_CHECK;
const CURSOR_CHECK: usize = 8;

impl Listing<'_> {
    /// The listing's name and the store's key prefix it lists under.
    fn binding(&self) -> Vec<u8> {
        let (name, key): (&[u8], Vec<u8>) = match self {
            Listing::Claim(c) => (b"claim", claim_prefix(c)),
            Listing::Person(p) => (b"person", person_prefix(p)),
            Listing::Fund(f) => (b"fund", fund_prefix(f)),
            Listing::ActedOn(id) => (b"acted_on_by", id.as_bytes().to_vec()),
        };
        [name, &[0], &key].concat()
    }

    /// The first bytes of `H(CURSOR_DOMAIN, binding ‖ position)`: a cursor
    /// carries them so that one from another listing, or altered, is
    /// refused rather than read as a position of this one. A client
    /// could compute them; it would gain nothing it cannot ask for.
    fn check(&self, position: &[u8; 12]) -> [u8; CURSOR_CHECK] {
        let mut h = DomainHasher::new(CURSOR_DOMAIN);
        h.update(&self.binding());
        h.update(position);
        let digest = h.finish();
        let mut check = [0; CURSOR_CHECK];
        check.copy_from_slice(&digest.0[..CURSOR_CHECK]);
        check
    }

    /// The cursor of the page that starts after `p`: hex, opaque to
    /// clients.
    fn cursor(&self, p: ChainPosition) -> String {
        let position = position_bytes(p);
        hex::encode([&position[..], &self.check(&position)].concat())
    }

    /// The position a cursor of this listing names; anything else is a
    /// 400 that does not repeat it.
    fn position(&self, cursor: &str) -> Result<ChainPosition, ApiError> {
        let mut bytes = [0u8; CURSOR_BYTES];
        hex::decode_to_slice(cursor, &mut bytes)
            .map_err(|_| bad_request("malformed cursor: pass a page's next_cursor unchanged"))?;
        let mut position = [0u8; 12];
        position.copy_from_slice(&bytes[..12]);
        if bytes[12..] != self.check(&position) {
            return Err(bad_request(
                "cursor is not one this listing gave out: it belongs to another listing or was altered",
            ));
        }
        Ok(position_from(position))
    }
}

/// Height u64 BE ‖ index u32 BE.
fn position_bytes(p: ChainPosition) -> [u8; 12] {
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&p.height.0.to_be_bytes());
    bytes[8..].copy_from_slice(&p.index.to_be_bytes());
    bytes
}

fn position_from(bytes: [u8; 12]) -> ChainPosition {
    let mut height = [0u8; 8];
    let mut index = [0u8; 4];
    height.copy_from_slice(&bytes[..8]);
    index.copy_from_slice(&bytes[8..]);
    ChainPosition {
        height: Height(u64::from_be_bytes(height)),
        index: u32::from_be_bytes(index),
    }
}

/// The cursor of the page after `page`, or `None` at the listing's end.
fn next_cursor(listing: &Listing, page: &IndexPage) -> Option<String> {
    page.next_after().map(|p| listing.cursor(p))
}

fn block_json(api: &Api, h: Height) -> Result<Option<Value>, ApiError> {
    let Some(block) = api.chain.store().block(h).map_err(internal)? else {
        return Ok(None);
    };
    let attestations = api.chain.store().attestations(h).map_err(internal)?;
    Ok(Some(json!({
        "hash": block.hash(),
        "header": block.header,
        "records": block.records,
        "outcomes": block.outcomes,
        "attestations": attestations,
    })))
}

async fn block(State(api): State<Api>, Path(height): Path<u64>) -> ApiResult<Value> {
    block_json(&api, Height(height))?
        .map(Json)
        .ok_or_else(|| not_found("block"))
}

#[derive(Deserialize)]
struct StreamQuery {
    from: Option<u64>,
    /// Keep the stream open and send new blocks as they commit.
    #[serde(default)]
    follow: bool,
}

/// Blocks from a height as JSON lines; with `follow=true` it stays open.
async fn block_stream(State(api): State<Api>, Params(q): Params<StreamQuery>) -> Response {
    let next = Height(q.from.unwrap_or(1).max(1));
    let stream = futures::stream::unfold((api, next, q.follow), |(api, h, follow)| async move {
        let mut heads = api.chain.subscribe();
        loop {
            match block_json(&api, h) {
                Ok(Some(v)) => {
                    let line = format!("{v}\n");
                    return Some((Ok::<_, std::io::Error>(line), (api, h.next(), follow)));
                }
                Ok(None) if follow => {
                    if heads.changed().await.is_err() {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| internal(e).into_response())
}

#[derive(Deserialize)]
struct CheckpointQuery {
    size: Option<u64>,
}

/// This node's signed checkpoint at `size` (default: its head), as a
/// C2SP signed note (docs/API.md, "Checkpoints").
async fn checkpoint(State(api): State<Api>, Params(q): Params<CheckpointQuery>) -> Response {
    let size = q.size.unwrap_or(api.chain.head().height.0);
    let signed = tokio::task::block_in_place(|| {
        crate::checkpoint::sign(api.chain.store(), size, &api.node_key, &api.org)
    });
    match signed {
        Ok(signed) => note_response(&signed),
        Err(e) => checkpoint_error(e).into_response(),
    }
}

/// A signed checkpoint as the C2SP note text.
fn note_response(signed: &fundtrail_ledger::tlog::SignedCheckpoint) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        signed.to_string(),
    )
        .into_response()
}

/// The latest checkpoint a majority of the departments' nodes signed on
/// their own, with every signature this node holds for it (docs/API.md,
/// "Checkpoints").
async fn checkpoint_cosigned(State(api): State<Api>) -> Response {
    let head = api.chain.head().height;
    let required = api.chain.membership().majority(head);
    match tokio::task::block_in_place(|| api.cosigned.latest(required)) {
        Ok(Some(signed)) => note_response(&signed),
        Ok(None) => ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "no checkpoint signed by a majority of the departments' nodes yet; they sign every \
             few seconds"
                .into(),
        )
        .into_response(),
        Err(e) => checkpoint_error(e).into_response(),
    }
}

/// The tlog-witness `add-checkpoint` call (docs/API.md, "Witness").
async fn add_checkpoint(State(api): State<Api>, body: axum::body::Bytes) -> Response {
    use crate::witness::WitnessAnswer as A;
    if body.len() > crate::witness::MAX_BODY_BYTES {
        return ApiError(StatusCode::PAYLOAD_TOO_LARGE, "body too large".into()).into_response();
    }
    let now = crate::access::now_s();
    let answer = tokio::task::block_in_place(|| api.witness.add_checkpoint(&body, now));
    let text = |status: StatusCode, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response()
    };
    match answer {
        A::Cosigned(lines) => text(StatusCode::OK, lines),
        A::Conflict(size) => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, "text/x.tlog.size")],
            format!("{size}\n"),
        )
            .into_response(),
        A::BadRequest(e) => text(StatusCode::BAD_REQUEST, e + "\n"),
        A::Forbidden(e) => text(StatusCode::FORBIDDEN, e + "\n"),
        A::UnknownOrigin => text(StatusCode::NOT_FOUND, "unknown origin\n".into()),
        A::Unprocessable(e) => text(StatusCode::UNPROCESSABLE_ENTITY, e + "\n"),
    }
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// The consistency proof between the checkpoint trees of `from` and `to`
/// blocks (default: the head).
async fn checkpoint_consistency(
    State(api): State<Api>,
    Params(q): Params<ConsistencyQuery>,
) -> ApiResult<fundtrail_ledger::tlog::ConsistencyProof> {
    let to = q.to.unwrap_or(api.chain.head().height.0);
    tokio::task::block_in_place(|| crate::checkpoint::consistency(api.chain.store(), q.from, to))
        .map(Json)
        .map_err(checkpoint_error)
}

/// The inclusion proof of the block at `height` in the checkpoint tree of
/// `size` blocks (default: the head).
async fn checkpoint_inclusion(
    State(api): State<Api>,
    Path(height): Path<u64>,
    Params(q): Params<CheckpointQuery>,
) -> ApiResult<fundtrail_ledger::merkle::InclusionProof> {
    let size = q.size.unwrap_or(api.chain.head().height.0);
    tokio::task::block_in_place(|| {
        crate::checkpoint::inclusion(api.chain.store(), Height(height), size)
    })
    .map(Json)
    .map_err(checkpoint_error)
}

/// Sizes beyond the head are not found; sizes that cannot be proven
/// (an old size above the new, genesis as a leaf) are bad requests.
fn checkpoint_error(e: crate::checkpoint::CheckpointFailure) -> ApiError {
    use crate::checkpoint::CheckpointFailure as F;
    match e {
        F::BeyondHead { .. } => ApiError(StatusCode::NOT_FOUND, e.to_string()),
        F::Consistency(_) | F::Inclusion(_) | F::Genesis => bad_request(e.to_string()),
        other => internal(other),
    }
}

/// The consortium in force after the head (docs/API.md, "Membership").
async fn membership(State(api): State<Api>) -> ApiResult<ConsortiumView> {
    ConsortiumView::of(&api.chain).map(Json).map_err(internal)
}

async fn head(State(api): State<Api>) -> ApiResult<Value> {
    let head = api.chain.head();
    let attestations = api
        .chain
        .store()
        .attestations(head.height)
        .map_err(internal)?;
    let members = api.chain.membership();
    let orgs: std::collections::BTreeSet<String> = attestations
        .iter()
        .filter_map(|a| members.attester(&a.node_key, head.height))
        .map(ToString::to_string)
        .collect();
    let metrics = api.raft.metrics().borrow().clone();
    Ok(Json(json!({
        "chain_id": api.chain.genesis().chain_id,
        "height": head.height,
        "hash": head.hash,
        "state_root": head.state_root,
        "timestamp_ms": head.timestamp_ms,
        "attested_by": orgs,
        "equivocations": api.chain.store().conflicting_count().map_err(internal)?,
        "org": api.org,
        "raft": {
            "node_id": metrics.id,
            "state": format!("{:?}", metrics.state),
            "term": metrics.current_term,
            "leader": metrics.current_leader,
            "last_applied": metrics.last_applied.map(|l| l.index),
            "voters": metrics.membership_config.membership().voter_ids().collect::<Vec<_>>(),
        },
    })))
}

/// The standing payout of a claim's tier (what a reversal by bill names).
async fn lookup_payout(
    State(api): State<Api>,
    Path((claim, tier)): Path<(String, String)>,
) -> ApiResult<Value> {
    let (epoch, tag) = parse_pseudonym(&claim)?;
    let tier: PayoutTier = serde_json::from_value(Value::String(tier)).map_err(|_| {
        bad_request("tier must be basic, critical_illness, supplementary or assistance")
    })?;
    let state = StoreState(api.chain.store());
    let id = StateLookup::new(&state)
        .payout(&ClaimId { epoch, tag }, tier)
        .map_err(internal)?;
    Ok(Json(json!({ "record_id": id })))
}

/// The claim-set root a clearing of this bucket must carry now.
async fn lookup_clearing(
    State(api): State<Api>,
    Path((year, month, from, to)): Path<(u16, u8, String, String)>,
) -> ApiResult<Value> {
    let region = |s: &str| s.parse().map_err(|_| bad_request("invalid region code"));
    let state = StoreState(api.chain.store());
    let root = StateLookup::new(&state)
        .clearing_root(Period { year, month }, &region(&from)?, &region(&to)?)
        .map_err(internal)?;
    Ok(Json(json!({ "claim_set_root": root })))
}

/// Nonces of one submitter to look up (`POST /v1/lookup/submissions`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionQuery {
    pub submitter: fundtrail_ledger::crypto::PublicKey,
    pub nonces: Vec<u64>,
}

/// Nonces one lookup may ask about.
pub const MAX_LOOKUP_NONCES: usize = 1000;

/// For each nonce, the record `submitter` already committed under it, as
/// an `already_committed` receipt, or null: how a department's client
/// tells a resubmitted reference from a new one (docs/SUBMISSION.md).
async fn lookup_submissions(
    State(api): State<Api>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<SubmissionQuery>, JsonRejection>,
) -> ApiResult<Vec<Option<Receipt>>> {
    let Json(q) = body.map_err(malformed)?;
    let store = api.chain.store();
    let owner = access::key_org(store, &q.submitter).map_err(internal)?;
    if owner.as_ref() != Some(&caller.org) && caller.org_role != Role::Auditor {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "submissions are looked up by the submitting organisation or audit".into(),
        ));
    }
    if q.nonces.len() > MAX_LOOKUP_NONCES {
        return Err(bad_request(format!(
            "{} nonces in one lookup; at most {MAX_LOOKUP_NONCES}",
            q.nonces.len()
        )));
    }
    let mut receipts = Vec::with_capacity(q.nonces.len());
    for nonce in q.nonces {
        let entry = store
            .record_by_submission(&q.submitter, nonce)
            .map_err(internal)?;
        receipts.push(entry.map(Receipt::already_committed));
    }
    Ok(Json(receipts))
}

/// The chain (blocks with attestations) as a chain file, sent as it is
/// written: never whole in memory, whatever the chain's size.
async fn export(State(api): State<Api>) -> Result<Response, ApiError> {
    let chain = api.chain.clone();
    let body = streamed(move |out| {
        chain
            .store()
            .export(out)
            .map(|_| ())
            .map_err(std::io::Error::other)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

/// Bytes one chunk of a streamed body carries.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks a streamed body's writer may run ahead of the client.
const CHUNKS_AHEAD: usize = 8;

type Chunk = std::io::Result<axum::body::Bytes>;

/// A body written by `write` on a blocking thread, in chunks of
/// [`CHUNK_BYTES`] of which at most [`CHUNKS_AHEAD`] wait for the client.
/// Answers with an error if `write` fails before its first chunk; a later
/// failure (or the client leaving) ends the body early, which a chain
/// file's reader detects.
async fn streamed<F>(write: F) -> Result<Body, ApiError>
where
    F: FnOnce(&mut ChunkWriter) -> std::io::Result<()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES),
        };
        if let Err(e) = write(&mut out).and_then(|()| out.send()) {
            tracing::debug!(error = %e, "a streamed response ended early");
            let _ = out.tx.blocking_send(Err(e));
        }
    });
    let first = match rx.recv().await {
        Some(chunk) => chunk.map_err(internal)?,
        None => axum::body::Bytes::new(),
    };
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let chunks = futures::StreamExt::chain(futures::stream::once(async { Ok(first) }), rest);
    Ok(Body::from_stream(chunks))
}

/// Cuts what is written into chunks and hands them to a bounded channel,
/// waiting while it is full.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    /// Sends what is buffered, if anything.
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        self.tx.blocking_send(Ok(chunk.into())).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK_BYTES {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Evidence listed by `GET /v1/evidence` when the request names no limit.
const EVIDENCE_DEFAULT_LIMIT: usize = 100;
/// Most evidence one `GET /v1/evidence` lists.
const EVIDENCE_MAX_LIMIT: usize = 1_000;

#[derive(Deserialize)]
struct EvidenceQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

/// Equivocation evidence held at heights from `from` on, a page at a time.
async fn evidence(State(api): State<Api>, Params(q): Params<EvidenceQuery>) -> ApiResult<Value> {
    let limit = q
        .limit
        .unwrap_or(EVIDENCE_DEFAULT_LIMIT)
        .clamp(1, EVIDENCE_MAX_LIMIT);
    let from = Height(q.from.unwrap_or(1).max(1));
    let store = api.chain.store();
    let genesis = api.chain.genesis();
    let per_height = genesis.keys_with_role(KeyRole::Node).count();
    let mut found = store
        .equivocations(from, api.chain.head().height, limit + per_height)
        .map_err(internal)?;
    let next_from = whole_heights(&mut found, limit);
    let listed: Vec<EvidenceJson> = found
        .iter()
        .map(|e| EvidenceJson::new(genesis, e))
        .collect();
    Ok(Json(json!({
        "held": store.conflicting_count().map_err(internal)?,
        "evidence": listed,
        "next_from": next_from,
    })))
}

/// Cuts `found` (in height order) to its first `limit` pieces plus the rest
/// of the last one's height, so no height is split across pages, and
/// returns the height the next page starts at, if anything is left.
fn whole_heights(found: &mut Vec<Equivocation>, limit: usize) -> Option<Height> {
    let last = found.get(limit.checked_sub(1)?)?.height();
    let end = found
        .iter()
        .position(|e| e.height() > last)
        .unwrap_or(found.len());
    let next = found.get(end).map(Equivocation::height);
    found.truncate(end);
    next
}

async fn deposit(
    State(api): State<Api>,
    body: Result<Json<Vec<VaultEntry>>, JsonRejection>,
) -> ApiResult<Value> {
    let Json(entries) = body.map_err(malformed)?;
    if entries.len() > MAX_VAULT_ENTRIES {
        return Err(bad_request(format!(
            "{} entries in one deposit; at most {MAX_VAULT_ENTRIES}",
            entries.len()
        )));
    }
    let deadline = tokio::time::Instant::now() + VAULT_WAIT;
    let mut sealed = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        applied(&api, &entry.record_id, left).await;
        let one = api.vault.check_and_seal(entry).map_err(|e| {
            let message = format!("entry {}: {e}", i + 1);
            if e.is_refusal() {
                bad_request(message)
            } else {
                internal(message)
            }
        })?;
        sealed.push(one);
    }
    // All or nothing, and on disk before the answer.
    api.vault.keep(&sealed).map_err(internal)?;
    Ok(Json(json!({ "stored": entries.len() })))
}

/// How long a deposit waits, in all, for its claims to reach this node's
/// chain.
const VAULT_WAIT: Duration = Duration::from_secs(10);
/// Most entries one deposit may carry.
pub const MAX_VAULT_ENTRIES: usize = 10_000;

/// Waits (at most `limit`) until `id` is on this node's chain. A record
/// committed through another node may be a moment from applied here; the
/// department deposits its raw bills as soon as its claims are committed.
async fn applied(api: &Api, id: &RecordId, limit: Duration) {
    let store = api.chain.store();
    api.chain
        .wait_until(limit, |_| !matches!(store.record(id), Ok(None)))
        .await;
}

/// The `disclosure_fetch` record a fetch request names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchRequest {
    fetch: String,
}

/// Asks the holder named in an accepted on-chain disclosure for the raw
/// bill, under an accepted `disclosure_fetch` record of it (the body
/// `{"fetch": "<record id>"}`), and returns it once checked to be the bill
/// of the disclosure's target.
async fn fetch_disclosed(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<FetchRequest>, JsonRejection>,
) -> ApiResult<Value> {
    let disclosure = parse_record_id(&id)?;
    let Ok(Json(body)) = body else {
        return Err(bad_request(
            "name the accepted disclosure_fetch record: {\"fetch\": \"<record id>\"}",
        ));
    };
    let fetch = parse_record_id(&body.fetch)?;
    signed_by_caller(&api, &caller, &fetch)?;
    let entry = api
        .vault
        .fetch_disclosed(&api.net, &api.roster, disclosure, fetch)
        .await
        .map_err(fetch_refused)?;
    Ok(Json(
        json!({ "verified": true, "disclosure": disclosure, "fetch": fetch, "entry": entry }),
    ))
}

/// The status of a fetch that delivered no verified bill: a holder that
/// cannot be reached, or delivers something else, is a bad gateway.
fn fetch_refused(e: FetchError) -> ApiError {
    let status = match &e {
        FetchError::NotFound(_) => StatusCode::NOT_FOUND,
        FetchError::NotADisclosure | FetchError::NotAFetchOf | FetchError::NoHolderNode => {
            StatusCode::BAD_REQUEST
        }
        FetchError::AnotherRequester | FetchError::Rejected { .. } | FetchError::Refused(_) => {
            StatusCode::FORBIDDEN
        }
        FetchError::Network(_) | FetchError::UnexpectedAnswer | FetchError::Delivery(_) => {
            StatusCode::BAD_GATEWAY
        }
        FetchError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError(status, e.to_string())
}

/// The node's access log as it is on disk, streamed; check it with
/// `fundtrail access-log verify`.
async fn access_log(State(api): State<Api>) -> Result<Response, ApiError> {
    let path = api.gate.log.path().to_path_buf();
    let body = streamed(move |out| {
        let mut file = std::fs::File::open(&path)?;
        std::io::copy(&mut file, out).map(|_| ())
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// The access log's last entry (its number and hash), to keep elsewhere
/// and check a later copy of the log against (`verify --head`).
async fn access_log_head(State(api): State<Api>) -> Json<crate::access_log::LogHead> {
    Json(api.gate.log.head())
}

/// Refuses a fetch that another officer signed: the chain names who
/// receives the bill, and only that officer's key may collect it.
fn signed_by_caller(api: &Api, caller: &Caller, fetch: &RecordId) -> Result<(), ApiError> {
    let Some(entry) = api.chain.store().record(fetch).map_err(internal)? else {
        return Ok(());
    };
    // Any other record named as a fetch is the vault's to refuse.
    let is_fetch = entry.record.kind() == fundtrail_ledger::record::RecordKind::DisclosureFetch;
    if !is_fetch || entry.record.envelope.submitter_key == caller.key {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::FORBIDDEN,
            "the fetch was signed by another officer; only its signer collects the bill".into(),
        ))
    }
}

async fn healthz(State(api): State<Api>) -> Response {
    let metrics = api.raft.metrics().borrow().clone();
    let body = json!({
        "ok": metrics.running_state.is_ok(),
        "height": api.chain.head().height,
        "leader": metrics.current_leader,
    });
    let status = if metrics.running_state.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(api): State<Api>) -> Response {
    let raft = api.raft.metrics().borrow().clone();
    let m = &api.metrics;
    m.head_height.set(api.chain.head().height.0 as i64);
    m.raft_term.set(raft.current_term as i64);
    m.raft_is_leader
        .set(i64::from(raft.current_leader == Some(raft.id)));
    m.peers_connected
        .set(api.net.connected_peers().await.len() as i64);
    if let Ok(held) = api.chain.store().conflicting_count() {
        m.equivocation_evidence
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }
    match api.chain.store().family_bytes() {
        Ok(families) => {
            for (family, bytes) in families {
                let label = crate::metrics::FamilyLabel {
                    family: family.to_string(),
                };
                m.store_bytes
                    .get_or_create(&label)
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading the store's sizes failed"),
    }
    m.read_cpu();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        m.encode(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_ledger::block::{Attestation, BlockHash};
    use fundtrail_ledger::hash::Hash32;

    async fn collected(body: Body) -> Vec<u8> {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the body streams to its end")
            .to_vec()
    }

    #[tokio::test]
    async fn a_streamed_body_has_the_bytes_written_whatever_the_pieces() {
        let data: Vec<u8> = (0..5 * CHUNK_BYTES + 123)
            .map(|i| (i % 251) as u8)
            .collect();
        let pieces = data.clone();
        let body = streamed(move |out| {
            for piece in pieces.chunks(CHUNK_BYTES / 3 + 7) {
                std::io::Write::write_all(out, piece)?;
            }
            Ok(())
        })
        .await
        .expect("a body");
        assert_eq!(collected(body).await, data);
    }

    #[tokio::test]
    async fn a_stream_that_fails_before_its_first_chunk_is_an_error_answer() {
        let failed = streamed(|_| Err(std::io::Error::other("no head"))).await;
        let ApiError(status, message) = failed.expect_err("an error answer");
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(message, "no head");
    }

    #[tokio::test]
    async fn a_stream_that_fails_later_ends_the_body_early() {
        let body = streamed(|out| {
            std::io::Write::write_all(out, &vec![7; 2 * CHUNK_BYTES])?;
            Err(std::io::Error::other("block 9 is missing"))
        })
        .await
        .expect("the first chunk went out");
        assert!(axum::body::to_bytes(body, usize::MAX).await.is_err());
    }

    fn some_fund(name: &str) -> FundId {
        name.parse().expect("fund id")
    }

    #[test]
    fn a_cursor_names_its_position_only_in_the_listing_that_gave_it_out() {
        let (basic, other) = (some_fund("basic-440100"), some_fund("basic-4401000"));
        let claim = ClaimId {
            epoch: 1,
            tag: Hash32([7; 32]),
        };
        let person = PersonId {
            epoch: 1,
            tag: Hash32([7; 32]),
        };
        let record = RecordId::from_hash(Hash32([7; 32]));
        let at = ChainPosition {
            height: Height(1_234_567),
            index: 89,
        };
        let cursor = Listing::Fund(&basic).cursor(at);
        assert_eq!(
            Listing::Fund(&basic).position(&cursor).expect("its own"),
            at
        );
        assert_eq!(cursor.len(), 2 * CURSOR_BYTES);

        let elsewhere = [
            Listing::Fund(&other),
            Listing::Claim(&claim),
            Listing::Person(&person),
            Listing::ActedOn(&record),
        ];
        for listing in &elsewhere {
            let ApiError(status, message) = listing
                .position(&cursor)
                .expect_err("another listing's cursor");
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(
                message.contains("not one this listing gave out"),
                "{message}"
            );
        }
        // The claim and person listings share a key; their cursors differ.
        let of_claim = Listing::Claim(&claim).cursor(at);
        assert!(Listing::Person(&person).position(&of_claim).is_err());

        let mut altered = Vec::new();
        for i in 0..cursor.len() {
            let mut bytes = cursor.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            altered.push(String::from_utf8(bytes).expect("hex"));
        }
        let garbage = [
            String::new(),
            "zz".repeat(CURSOR_BYTES),
            cursor[..cursor.len() - 2].to_string(),
            format!("{cursor}00"),
            format!("g{}", &cursor[1..]),
            "xyz".to_string(),
        ];
        for bad in altered.iter().chain(&garbage) {
            let ApiError(status, message) =
                Listing::Fund(&basic).position(bad).expect_err("refused");
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(message.contains("cursor"), "{message}");
            assert!(
                bad.is_empty() || !message.contains(bad.as_str()),
                "{message}"
            );
        }
    }

    #[test]
    fn a_limit_is_held_between_one_and_the_most_a_page_gives() {
        let fund = some_fund("basic-440100");
        let limit = |limit: Option<usize>| {
            PageQuery {
                limit,
                cursor: None,
            }
            .request(&Listing::Fund(&fund), LIST_DEFAULT_LIMIT)
            .expect("no cursor to refuse")
            .limit
        };
        assert_eq!(limit(None), LIST_DEFAULT_LIMIT);
        assert_eq!(limit(Some(0)), 1);
        assert_eq!(limit(Some(7)), 7);
        assert_eq!(limit(Some(LIST_MAX_LIMIT)), LIST_MAX_LIMIT);
        assert_eq!(limit(Some(LIST_MAX_LIMIT + 1)), LIST_MAX_LIMIT);
        assert_eq!(limit(Some(usize::MAX)), LIST_MAX_LIMIT);
    }

    /// Evidence at each height given, by a distinct key per piece.
    fn at_heights(heights: &[u64]) -> Vec<Equivocation> {
        heights
            .iter()
            .enumerate()
            .map(|(i, &h)| {
                let node = fundtrail_ledger::Keypair::from_seed([i as u8 + 1; 32]);
                let chain_id = "test-chain".parse().expect("chain id");
                let other = BlockHash::from_hash(Hash32([i as u8; 32]));
                Equivocation {
                    chain_block: BlockHash::from_hash(Hash32([0xff; 32])),
                    chain_attestation: None,
                    conflicting: Attestation::sign(&node, &chain_id, Height(h), other),
                }
            })
            .collect()
    }

    fn heights(found: &[Equivocation]) -> Vec<u64> {
        found.iter().map(|e| e.height().0).collect()
    }

    #[test]
    fn a_page_never_splits_a_height() {
        let mut found = at_heights(&[1, 2, 2, 2, 5, 6]);
        assert_eq!(whole_heights(&mut found, 2), Some(Height(5)));
        assert_eq!(heights(&found), vec![1, 2, 2, 2]);

        let mut found = at_heights(&[1, 2, 2, 2, 5, 6]);
        assert_eq!(whole_heights(&mut found, 5), Some(Height(6)));
        assert_eq!(heights(&found), vec![1, 2, 2, 2, 5]);

        let mut found = at_heights(&[1, 2]);
        assert_eq!(whole_heights(&mut found, 5), None);
        assert_eq!(heights(&found), vec![1, 2]);

        let mut found = at_heights(&[3, 3]);
        assert_eq!(whole_heights(&mut found, 2), None);
        assert_eq!(heights(&found), vec![3, 3]);
    }
}
