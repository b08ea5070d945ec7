//! Who may call the API: every request but `/healthz`, the witness's
//! `add-checkpoint` (and `/metrics` when configured public) is signed by a key the chain enrols
//! ([`signature`]), fresh and not replayed, within its key's rate, and
//! inside the scope of its organisation and key role ([`scope`]). The
//! [`guard`] middleware applies all of it before a handler runs, hands
//! the handler the [`Caller`], and writes reads of person-level and raw
//! data to the node's access log before the answer leaves.

mod accessed;
pub mod limits;
pub mod scope;
pub mod signature;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fundtrail_contracts::model::{key, FundEntry, KeyEntry, OrgEntry};
use fundtrail_ledger::codec;
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::RecordId;
use fundtrail_ledger::store::Store;
use fundtrail_ledger::types::{FundId, KeyRole, OrgId, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;

use self::limits::RateLimiter;
use self::scope::{Refusal, Route};
use self::signature::{Covered, Presented, SignatureError};
use crate::access_log::{AccessLog, AccessedId};

/// An authenticated caller: an enrolled key, its organisation and roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub key: PublicKey,
    pub org: OrgId,
    pub org_role: Role,
    pub key_role: KeyRole,
}

/// `[access]` in node.toml: how requests are authenticated and bounded.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// How far a signature's created time may lie from the node's clock,
    /// and how long its nonce is remembered.
    pub signature_window_s: u64,
    /// Serve `GET /metrics` without a signature (for a scraper on a
    /// monitoring network).
    pub public_metrics: bool,
    /// Requests per second one key may make, and the burst above it.
    pub rate_per_key: u32,
    pub burst_per_key: u32,
    /// Requests handled at once; more are answered 503 at once.
    pub max_in_flight: usize,
    /// Open connections; more are closed as they arrive.
    pub max_connections: usize,
    /// Time to finish the TLS handshake and then each request's headers.
    pub header_read_timeout_ms: u64,
    /// Time a handler may take to produce its answer (a streamed body
    /// may take longer to send).
    pub request_timeout_ms: u64,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            signature_window_s: 300,
            public_metrics: false,
            rate_per_key: 200,
            burst_per_key: 400,
            max_in_flight: 512,
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 120_000,
        }
    }
}

impl AccessConfig {
    /// Refuses a setting of zero that would turn every caller away.
    pub fn check(&self) -> Result<(), String> {
        let zero = [
            ("signature_window_s", self.signature_window_s == 0),
            ("rate_per_key", self.rate_per_key == 0),
            ("burst_per_key", self.burst_per_key == 0),
            ("max_in_flight", self.max_in_flight == 0),
            ("max_connections", self.max_connections == 0),
            ("header_read_timeout_ms", self.header_read_timeout_ms == 0),
            ("request_timeout_ms", self.request_timeout_ms == 0),
        ];
        match zero.iter().find(|(_, is_zero)| *is_zero) {
            Some((name, _)) => Err(format!("[access] {name} must be above 0")),
            None => Ok(()),
        }
    }
}

/// The most nonces remembered at once; past it, requests are turned away
/// (503) until old ones expire, rather than forgetting a nonce early.
const MAX_REMEMBERED: usize = 2_000_000;

/// Why a request is not authenticated (401).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(
        "the signature was created {0} s ago, outside the {1} s window; sign the request again"
    )]
    Stale(u64, u64),
    #[error("the signature's created time is {0} s ahead of this node's clock")]
    Future(u64),
    #[error("the signature was created before this node started; sign the request again")]
    BeforeStart,
    #[error("this signature's nonce was already used: a replayed request")]
    Replayed,
    #[error("key {0} is not enrolled on the chain (unknown or revoked)")]
    NotEnrolled(String),
}

/// Signatures seen within the window, by key and nonce.
#[derive(Default)]
struct Remembered {
    seen: HashSet<(PublicKey, String)>,
    /// (expiry, key, nonce) in arrival order; expiries are not sorted
    /// exactly, so pruning stops at the first live entry.
    order: VecDeque<(u64, PublicKey, String)>,
}

/// Freshness and replay checks of request signatures.
pub struct Freshness {
    window_s: u64,
    started_s: u64,
    remembered: Mutex<Remembered>,
}

/// How far ahead of the node's clock a created time may be.
const AHEAD_S: u64 = 60;

impl Freshness {
    pub fn new(window: Duration, now_s: u64) -> Freshness {
        Freshness {
            window_s: window.as_secs(),
            started_s: now_s,
            remembered: Mutex::default(),
        }
    }

    /// Refuses a signature created outside the window around `now_s`, or
    /// before this node started (its nonce might have been used with the
    /// previous process, whose memory is gone).
    pub fn check_time(&self, created: u64, now_s: u64) -> Result<(), AuthError> {
        if created > now_s + AHEAD_S {
            return Err(AuthError::Future(created - now_s));
        }
        if now_s.saturating_sub(created) > self.window_s {
            return Err(AuthError::Stale(now_s - created, self.window_s));
        }
        if created < self.started_s {
            return Err(AuthError::BeforeStart);
        }
        Ok(())
    }

    /// Records a verified signature's nonce, refusing one already seen.
    /// `Ok(false)` when memory is full.
    pub fn remember(
        &self,
        key: PublicKey,
        nonce: &str,
        created: u64,
        now_s: u64,
    ) -> Result<bool, AuthError> {
        let mut r = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((expiry, k, n)) = r.order.front().cloned() {
            if expiry >= now_s {
                break;
            }
            r.order.pop_front();
            r.seen.remove(&(k, n));
        }
        if r.seen.contains(&(key, nonce.to_string())) {
            return Err(AuthError::Replayed);
        }
        if r.seen.len() >= MAX_REMEMBERED {
            return Ok(false);
        }
        r.seen.insert((key, nonce.to_string()));
        let expiry = created + self.window_s + AHEAD_S;
        r.order.push_back((expiry, key, nonce.to_string()));
        Ok(true)
    }
}

/// The caller a key stands for, from the chain's key registry at this
/// node's head: a key revoked by a `member` record is gone from it once
/// the revoking block is applied.
pub fn enrolled(store: &Store, key: &PublicKey) -> Result<Option<Caller>, String> {
    let Some(entry) = state::<KeyEntry>(store, &key::key(key))? else {
        return Ok(None);
    };
    let Some(org) = state::<OrgEntry>(store, &key::org(&entry.org))? else {
        return Ok(None);
    };
    Ok(Some(Caller {
        key: *key,
        org: entry.org,
        org_role: org.role,
        key_role: entry.role,
    }))
}

fn state<T: serde::de::DeserializeOwned>(store: &Store, key: &[u8]) -> Result<Option<T>, String> {
    match store.state_get(key).map_err(|e| e.to_string())? {
        Some(bytes) => codec::decode("state value", &bytes)
            .map(Some)
            .map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

/// What the [`guard`] needs: the store it reads keys, records and funds
/// from, and the node's own organisation.
pub struct Gate {
    pub store: Arc<Store>,
    pub node_org: OrgId,
    pub config: AccessConfig,
    pub freshness: Freshness,
    pub limiter: RateLimiter,
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Where reads of person-level and raw data are recorded.
    pub log: AccessLog,
}

impl Gate {
    pub fn new(store: Arc<Store>, node_org: OrgId, config: AccessConfig, log: AccessLog) -> Gate {
        Gate {
            log,
            store,
            node_org,
            freshness: Freshness::new(Duration::from_secs(config.signature_window_s), now_s()),
            limiter: RateLimiter::new(config.rate_per_key, config.burst_per_key),
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_in_flight)),
            config,
        }
    }
}

pub fn now_s() -> u64 {
    now_ms() / 1000
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A pseudonym as paths carry it, `EPOCH:HEX`.
pub fn pseudonym(s: &str) -> Option<(u32, Hash32)> {
    let (epoch, tag) = s.split_once(':')?;
    Some((epoch.parse().ok()?, Hash32::from_hex(tag).ok()?))
}

/// A refusal as the API answers it: a status and a JSON error.
pub struct Denied(StatusCode, String);

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "accept-signature",
                HeaderValue::from_static(
                    r#"ft=("@method" "@path" "@query" "content-digest");alg="ed25519""#,
                ),
            );
        }
        response
    }
}

fn unauthorized(e: impl std::fmt::Display) -> Denied {
    Denied(StatusCode::UNAUTHORIZED, e.to_string())
}

fn forbidden(e: Refusal) -> Denied {
    Denied(StatusCode::FORBIDDEN, e.to_string())
}

fn internal(e: impl std::fmt::Display) -> Denied {
    Denied(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Largest body each route takes.
fn body_limit(route: Route) -> usize {
    match route {
        Route::Submit => 64 << 20,
        Route::Deposit => 16 << 20,
        Route::SubmissionLookup => 1 << 20,
        _ => 16 << 10,
    }
}

/// The middleware: authenticates, limits and scopes a request, runs its
/// handler with the [`Caller`] in the request's extensions, and writes
/// reads of person-level and raw data to the access log before the answer
/// leaves.
pub async fn guard(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let Ok(_permit) = gate.in_flight.clone().try_acquire_owned() else {
        return Denied(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is at its limit of requests in flight; try again shortly".into(),
        )
        .into_response();
    };
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if is_public(&gate, &template) {
        return next.run(request).await;
    }
    let Some(route) = Route::of(request.method().as_str(), &template) else {
        return forbidden(Refusal::Unlisted).into_response();
    };
    let admitted = match admit(&gate, route, request).await {
        Ok(admitted) => admitted,
        Err(denied) => return denied.into_response(),
    };
    let response = match admitted.request {
        Ok(request) => answer(&gate, next, request).await,
        Err(denied) => denied.into_response(),
    };
    match admitted.logged {
        Some(access) => gate.log_access(access, template, response),
        None => response,
    }
}

/// Routes any caller may use: health, metrics when configured so, and
/// the witness, which like every tlog-witness trusts only the signatures
/// on the checkpoint it is sent.
fn is_public(gate: &Gate, template: &str) -> bool {
    template == "/healthz"
        || template == "/witness/add-checkpoint"
        || (template == "/metrics" && gate.config.public_metrics)
}

/// The handler's answer, or a 503 when it takes longer than allowed.
async fn answer(gate: &Gate, next: Next, request: Request) -> Response {
    let limit = Duration::from_millis(gate.config.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Denied(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no answer within {} ms", limit.as_millis()),
        )
        .into_response(),
    }
}

/// An authenticated request: ready for its handler (body buffered, caller
/// attached) or refused by its scope, and what the access log will say of
/// it if its route is logged.
struct Admitted {
    request: Result<Request, Denied>,
    logged: Option<Access>,
}

/// Who read what, before the status is known.
struct Access {
    caller: Caller,
    method: axum::http::Method,
    ids: Vec<AccessedId>,
}

/// Everything a request must pass before its handler. Refusals before the
/// caller is known are errors; a scope refusal of a known caller is
/// logged like an answer.
async fn admit(gate: &Gate, route: Route, request: Request) -> Result<Admitted, Denied> {
    let (mut parts, body) = request.into_parts();
    let limit = body_limit(route);
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Denied(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {limit} bytes"),
        )
    })?;
    let caller = authenticate(gate, &parts, &body)?;
    if !gate.limiter.take(&caller.key) {
        return Err(Denied(
            StatusCode::TOO_MANY_REQUESTS,
            format!("key {} is over its rate; slow down", caller.key.short()),
        ));
    }
    let params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map_err(|_| Denied(StatusCode::BAD_REQUEST, "malformed path".into()))?;
    let logged = route.logged().then(|| Access {
        caller: caller.clone(),
        method: parts.method.clone(),
        ids: accessed::ids(route, &params, &body, |id| gate.knows(id)),
    });
    let scoped = scope::allows(&caller, route, &gate.node_org)
        .map_err(forbidden)
        .and_then(|()| check_object(gate, &caller, route, &params));
    let request = scoped.map(|()| {
        parts.extensions.insert(caller);
        Request::from_parts(parts, Body::from(body))
    });
    Ok(Admitted { request, logged })
}

impl Gate {
    /// Whether a fund or height a request names exists on this chain
    /// (other ids are of a form no raw identifier takes).
    fn knows(&self, id: &AccessedId) -> bool {
        match id {
            AccessedId::Fund(f) => {
                matches!(state::<FundEntry>(&self.store, &key::fund(f)), Ok(Some(_)))
            }
            AccessedId::Height(h) => self.store.head().is_ok_and(|head| *h <= head.height),
            _ => true,
        }
    }

    /// Writes `access` with the answer's status to the access log; the
    /// answer is withheld (503) if the log cannot take it.
    fn log_access(&self, access: Access, route: String, response: Response) -> Response {
        let entries = accessed::entries(access, route, response.status(), now_ms());
        for entry in entries {
            if let Err(e) = self.log.append(entry) {
                tracing::error!(error = %e, "the access log refused an entry; the answer is withheld");
                return Denied(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the access log is unavailable; nothing was answered".into(),
                )
                .into_response();
            }
        }
        response
    }
}

/// Checks the signature, its freshness and nonce, and that its key is
/// enrolled now.
fn authenticate(
    gate: &Gate,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Caller, Denied> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let presented = Presented::from_headers(header).map_err(unauthorized)?;
    let now = now_s();
    gate.freshness
        .check_time(presented.created, now)
        .map_err(unauthorized)?;
    let digest = header(signature::CONTENT_DIGEST)
        .ok_or_else(|| unauthorized(SignatureError::Missing("Content-Digest")))?;
    let covered = Covered {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        digest,
    };
    presented.verify(&covered, body).map_err(unauthorized)?;
    let caller = enrolled(&gate.store, &presented.key)
        .map_err(internal)?
        .ok_or_else(|| unauthorized(AuthError::NotEnrolled(presented.key.short())))?;
    let remembered = gate
        .freshness
        .remember(presented.key, &presented.nonce, presented.created, now)
        .map_err(unauthorized)?;
    if !remembered {
        return Err(Denied(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many signed requests within the window; try again shortly".into(),
        ));
    }
    Ok(caller)
}

/// The per-object part of a scope: whose record or fund a path names,
/// read from the path parameters as the handler will read them
/// (percent-decoded). A parameter that does not parse is refused here.
fn check_object(
    gate: &Gate,
    caller: &Caller,
    route: Route,
    params: &RawPathParams,
) -> Result<(), Denied> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    let malformed = |what: &str| Denied(StatusCode::BAD_REQUEST, what.to_string());
    match route {
        Route::Record => {
            let id = RecordId::from_hex(param("id"))
                .map_err(|_| malformed("record id must be 64 hex characters"))?;
            let Some(entry) = gate.store.record(&id).map_err(internal)? else {
                return Ok(());
            };
            let signer = &entry.record.envelope.submitter_key;
            let owner = key_org(&gate.store, signer).map_err(internal)?;
            scope::record_readable(caller, owner.as_ref(), entry.record.kind()).map_err(forbidden)
        }
        Route::Fund => {
            let fund: FundId = param("fund")
                .parse()
                .map_err(|_| malformed("invalid fund id"))?;
            match state::<FundEntry>(&gate.store, &key::fund(&fund)).map_err(internal)? {
                Some(entry) => scope::fund_readable(caller, &entry.owner).map_err(forbidden),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The organisation a key belongs to: from the key registry, or from
/// genesis for a key since revoked.
pub fn key_org(store: &Store, key: &PublicKey) -> Result<Option<OrgId>, String> {
    if let Some(entry) = state::<KeyEntry>(store, &key::key(key))? {
        return Ok(Some(entry.org));
    }
    Ok(store.genesis().org_of_key(key).map(|o| o.id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_outside_the_window_or_before_the_start_is_refused() {
        let f = Freshness::new(Duration::from_secs(300), 1_000);
        assert!(f.check_time(1_000, 1_100).is_ok());
        assert_eq!(f.check_time(1_000, 1_301), Err(AuthError::Stale(301, 300)));
        assert_eq!(f.check_time(1_200, 1_100), Err(AuthError::Future(100)));
        assert!(f.check_time(1_150, 1_100).is_ok(), "a little ahead");
        assert_eq!(f.check_time(999, 1_100), Err(AuthError::BeforeStart));
    }

    #[test]
    fn an_access_setting_of_zero_is_refused() {
        assert!(AccessConfig::default().check().is_ok());
        let config = AccessConfig {
            max_in_flight: 0,
            ..AccessConfig::default()
        };
        assert_eq!(
            config.check(),
            Err("[access] max_in_flight must be above 0".into())
        );
    }

    #[test]
    fn a_nonce_is_refused_the_second_time_until_it_expires() {
        let f = Freshness::new(Duration::from_secs(300), 1_000);
        let a = PublicKey([1; 32]);
        let b = PublicKey([2; 32]);
        assert_eq!(f.remember(a, "n", 1_000, 1_000), Ok(true));
        assert_eq!(f.remember(a, "n", 1_000, 1_001), Err(AuthError::Replayed));
        assert_eq!(f.remember(b, "n", 1_000, 1_001), Ok(true), "another key");
        assert_eq!(f.remember(a, "m", 1_000, 1_001), Ok(true), "another nonce");
        // Past the window the time check refuses it; memory may then forget.
        assert_eq!(f.remember(a, "n", 1_000, 2_000), Ok(true));
    }
}
