//! The HTTP API (JSON). Reads are open; writes need the bearer token from
//! the node's token file, and are refused on observer nodes. A write is
//! answered only after its event is durable. Every endpoint is documented in
//! `node/API.md`; the types, paths and codes are those of `kpl-api`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{middleware, Json, Router};
use kpl_api::endpoints::Method;
use kpl_api::error::codes;
use kpl_api::paths;
use kpl_api::types::{
    BatchRefusal, BatchResponse, BatchResult, CertificateView, CharterResponse, CheckpointView,
    CheckpointsResponse, CosignatureView, Created, EventView, FeedHead, FeedPage, FeedsResponse,
    ForkProofView, ForkSummary, ForksResponse, HealthResponse, RotateReceipt, SignedDespite,
    SplitViewView, SplitViewsResponse, TreeHead, VerifyResponse, WriteReceipt,
};
use kpl_api::ErrorBody;
use ledger_core::analysis::{
    AuditParams, CertificateQuery, CertificateStatus, Direction, FindingKind, LedgerView, Severity,
};
use ledger_core::error::{BodyError, EventError, StoreError};
use ledger_core::governance::Proposal;
use ledger_core::store::{CertificateRecord, StoredEvent};
use ledger_core::{
    AuthorId, Certificate, Correction, CountryCode, Date, Digest, EventBody, ImportConfirmation,
    VoidReason,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::service::{now_ms, today, Checked, Identity, Node, WriteError};
use ledger_core::precheck::{Refusal, RefusalKind};

/// Largest single-event request body.
const MAX_BODY: usize = 256 * 1024;
/// Largest batch request body.
const MAX_BATCH_BODY: usize = 16 * 1024 * 1024;
/// Most certificates in one batch request.
const MAX_BATCH: usize = 1000;
/// Most events in one feed page.
const MAX_PAGE: usize = 1000;

/// An API error: status, and a JSON body naming the field and the rule.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    field: Option<String>,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            field: None,
            message: message.into(),
        }
    }
    fn bad(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: codes::INVALID,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }
    fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, message)
    }
    /// Too many analysis requests are already waiting.
    fn busy() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::BUSY,
            format!(
                "{} analysis requests are already waiting for one of the {} computed at once; retry later",
                crate::service::ANALYSIS_MAX_WAITING,
                crate::service::ANALYSIS_CONCURRENCY
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.code, self.field, self.message);
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let text = r.body_text();
        let field = rejection_field(&text);
        ApiError {
            status: if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            code: codes::INVALID_JSON,
            field,
            message: rejection_message(&text),
        }
    }
}

/// A JSON rejection in words for people: axum's and serde's framing
/// ("Failed to deserialize the JSON body into the target type", "at line L
/// column C", "unknown variant", "invalid type") rephrased, the field path
/// kept in front.
fn rejection_message(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("Failed to parse the request body as JSON: ") {
        return format!("the body is not valid JSON: {}", where_in_body(rest));
    }
    if text.starts_with("Expected request with `Content-Type") {
        return "send the body as JSON with the header `content-type: application/json`".into();
    }
    let Some((_, detail)) = text.split_once("target type: ") else {
        return text.to_owned();
    };
    json_error_words(detail.rsplit_once(" at line").map_or(detail, |(d, _)| d))
}

/// A serde_json data error (`PATH: ERROR`, or `ERROR at line L column C`)
/// in words for people: "unknown variant", "invalid type", "expected
/// u32" rephrased, the field path kept in front, the place in the text
/// kept as "(line L, column C)". Shared by the API and `kpl`.
pub fn json_error_words(detail: &str) -> String {
    let (detail, place) = match detail.rsplit_once(" at line ") {
        Some((d, at)) => match at.split_once(" column ") {
            Some((l, c)) => (d, format!(" (line {l}, column {c})")),
            None => (detail, String::new()),
        },
        None => (detail, String::new()),
    };
    let (path, inner) = match detail.split_once(": ") {
        Some((p, rest)) if !p.is_empty() && !p.contains(' ') => (Some(p), rest),
        _ => (None, detail),
    };
    let ticked = |s: &str| s.replace('`', "");
    let said = if let Some(rest) = inner.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let one_of = expected
            .split_once("expected one of ")
            .map(|(_, l)| ticked(l))
            .or_else(|| expected.split_once("expected ").map(|(_, l)| ticked(l)))
            .unwrap_or_default();
        format!("`{value}` is not one of: {one_of}")
    } else if let Some(rest) = inner.strip_prefix("missing field `") {
        format!(
            "the field `{}` is missing",
            rest.split('`').next().unwrap_or(rest)
        )
    } else if let Some(rest) = inner.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let fields = expected
            .split_once("expected one of ")
            .or_else(|| expected.split_once("expected "))
            .map(|(_, l)| format!(" (the fields are: {})", ticked(l)))
            .unwrap_or_default();
        format!("`{name}` is not a field of this body{fields}")
    } else if let Some(rest) = inner.strip_prefix("invalid type: ") {
        match rest.split_once(", expected ") {
            Some((got, want)) => format!("expected {}, got {got}", plain_type(want)),
            None => rest.to_owned(),
        }
    } else if let Some(rest) = inner.strip_prefix("invalid value: ") {
        match rest.split_once(", expected ") {
            Some((got, want)) => format!("expected {}, got {got}", plain_type(want)),
            None => rest.to_owned(),
        }
    } else {
        inner.to_owned()
    };
    match path {
        Some(p) => format!("{p}: {said}{place}"),
        None => format!("{said}{place}"),
    }
}

/// serde's names of Rust types, as people say them.
fn plain_type(want: &str) -> String {
    match want {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number".into(),
        "i8" | "i16" | "i32" | "i64" => "an integer".into(),
        "a string" | "a borrowed string" => "a string".into(),
        w => w.to_owned(),
    }
}

/// "… at line 1 column 10" as "… (line 1, column 10)".
fn where_in_body(rest: &str) -> String {
    match rest.rsplit_once(" at line ") {
        Some((what, at)) => match at.split_once(" column ") {
            Some((l, c)) => format!("{what} (line {l}, column {c})"),
            None => rest.to_owned(),
        },
        None => rest.to_owned(),
    }
}

/// The field a JSON rejection is about. axum words a data error as
/// "Failed to deserialize the JSON body into the target type: PATH: ERROR at
/// line L column C", with `PATH: ` (e.g. `parcels`, `exporter.name`) only
/// when the error lies inside a field; serde names a missing or unknown
/// field in backticks (then the field is PATH.NAME).
fn rejection_field(text: &str) -> Option<String> {
    let detail = text.split_once("target type: ").map_or(text, |(_, d)| d);
    let detail = detail.rsplit_once(" at line").map_or(detail, |(d, _)| d);
    let (path, inner) = match detail.split_once(": ") {
        Some((p, rest)) if !p.is_empty() && !p.contains(' ') => (Some(p), rest),
        _ => (None, detail),
    };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|pre| inner.strip_prefix(pre))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (Some(p), Some(n)) => Some(format!("{p}.{n}")),
        (None, Some(n)) => Some(n.to_owned()),
        (Some(p), None) => Some(p.to_owned()),
        (None, None) => None,
    }
}

/// The field a body rule is about.
fn body_field(e: &BodyError) -> String {
    match e {
        BodyError::CertificateNumberPrefix { .. } | BodyError::CertificateNumberSyntax(_) => {
            "number".into()
        }
        BodyError::ExpiryBeforeIssue { .. } => "expires_on".into(),
        BodyError::Zero { field } | BodyError::Empty { field } => (*field).into(),
        BodyError::AmountTooLarge { field, .. } => (*field).into(),
        BodyError::TooLong { field, .. } | BodyError::TooMany { field, .. } => (*field).into(),
        BodyError::ControlCharacter { field } | BodyError::DateOutOfRange { field, .. } => {
            (*field).into()
        }
        BodyError::HsCodeOutside7102(_) | BodyError::HsCodeNotKp(_) | BodyError::HsCodesList => {
            "hs_codes".into()
        }
        BodyError::MixedOriginList => "origin".into(),
        BodyError::SourceList => "source_certificates".into(),
        BodyError::ConfirmationExporter { .. } => "exporter_participant".into(),
        BodyError::SelfImport(_) => "certificate".into(),
        BodyError::RotationToSameKey => "new_key".into(),
        BodyError::Governance(_) => "decision".into(),
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> ApiError {
        match e {
            WriteError::ReadOnly => ApiError::new(
                StatusCode::FORBIDDEN,
                codes::READ_ONLY,
                "this is an observer node: observers are read-only and cannot write events",
            ),
            WriteError::Store(StoreError::Event(EventError::Body { source, .. })) => {
                ApiError::bad(&body_field(&source), source.to_string())
            }
            WriteError::Store(StoreError::Event(e @ EventError::MissingRole { .. })) => {
                ApiError::new(StatusCode::FORBIDDEN, codes::MISSING_ROLE, e.to_string())
            }
            // Always this node's own authority: what the store refused is
            // judged by the charter and the decisions this node holds.
            WriteError::Store(StoreError::Event(EventError::UnknownAuthor(author))) => {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    codes::NOT_A_MEMBER,
                    format!(
                        "this node's authority {author} is not (yet) a member of the network according to what this node holds (the charter and the governance decisions in its store). If a decision admitting it was adopted, wait until this node has synced it from its peers (GET /v1/governance, /v1/members) and retry; otherwise ask the Chair to propose its admission"
                    ),
                )
            }
            WriteError::Store(StoreError::Event(e @ EventError::NotAMember { .. })) => {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    codes::NOT_A_MEMBER,
                    format!(
                        "{e} (by the governance decisions this node holds; see GET /v1/members)"
                    ),
                )
            }
            WriteError::OwnFeedUnconfirmed(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::OWN_FEED_UNCONFIRMED, m)
            }
            // The store's own check, behind the node's: its head is below
            // the place it acknowledged last.
            WriteError::Store(e @ StoreError::OwnFeedBehind { .. }) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::OWN_FEED_UNCONFIRMED,
                e.to_string(),
            ),
            WriteError::StoreDegraded(m) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::STORE_DEGRADED,
                format!("the store could not keep this write after an I/O error (disk full, EIO): nothing of it was written. Free disk space or fix the device, then retry: {m}"),
            ),
            WriteError::Clock(e) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::CLOCK_IMPLAUSIBLE,
                e.to_string(),
            ),
            WriteError::Store(e) => ApiError::internal(e.to_string()),
            WriteError::Internal(m) => ApiError::internal(m),
        }
    }
}

type AppState = Arc<Node>;
type ApiResult = Result<Json<Value>, ApiError>;
type Receipt = Result<Json<WriteReceipt>, ApiError>;

/// How a route is guarded, which decides the sub-router it joins.
enum Access {
    /// Open reads.
    Open,
    /// A write: the token before the body, bodies up to [`MAX_BODY`].
    Write,
    /// The batch write: the token first, bodies up to [`MAX_BATCH_BODY`].
    Batch,
    /// The c2sp.org/tlog-witness endpoint: open, its own body limit.
    Witness,
}

/// Every route the node serves, with its handler: the one list the router
/// is built from, and which [`served`] gives out (the OpenAPI document must
/// name the same routes; a test holds them to it).
fn table() -> Vec<(Method, &'static str, Access, MethodRouter<AppState>)> {
    use Access::{Batch, Open, Witness, Write};
    use Method::{Get, Post};
    vec![
        (Post, paths::CERTIFICATES, Write, post(issue)),
        (Post, paths::CONFIRMATIONS, Write, post(confirm)),
        (Post, paths::VOIDS, Write, post(void)),
        (Post, paths::CORRECTIONS, Write, post(correct)),
        (Post, paths::KEYS_ROTATE, Write, post(rotate)),
        (Post, paths::GOVERNANCE_PROPOSALS, Write, post(propose)),
        (Post, paths::GOVERNANCE_APPROVALS, Write, post(approve)),
        (Post, paths::CERTIFICATES_BATCH, Batch, post(issue_batch)),
        (Get, paths::HEALTH, Open, get(health)),
        (Get, paths::CHARTER, Open, get(charter)),
        (Get, paths::STATUS, Open, get(status)),
        (Get, paths::FEEDS, Open, get(feeds)),
        (Get, paths::FEED, Open, get(feed_range)),
        (Get, paths::EVENT, Open, get(event_by_id)),
        (Get, paths::CERTIFICATES, Open, get(certificates)),
        (Get, paths::CERTIFICATE, Open, get(certificate)),
        (Get, paths::FORKS, Open, get(forks)),
        (Get, paths::VERIFY, Open, get(verify)),
        (Get, paths::AUDIT, Open, get(audit)),
        (Get, paths::STATS, Open, get(stats)),
        (Get, paths::TRACE, Open, get(trace)),
        (Get, paths::BUNDLE, Open, get(bundle)),
        (Get, paths::CHECKPOINT, Open, get(checkpoint)),
        (Get, paths::CHECKPOINTS, Open, get(checkpoints_all)),
        (Get, paths::KEYS, Open, get(keys)),
        (Get, paths::PROOFS_INCLUSION, Open, get(inclusion_proof)),
        (Get, paths::PROOFS_CONSISTENCY, Open, get(consistency_proof)),
        (Get, paths::SPLIT_VIEWS, Open, get(split_views)),
        (Get, paths::GOVERNANCE, Open, get(governance)),
        (
            Get,
            paths::GOVERNANCE_DECISION,
            Open,
            get(governance_decision),
        ),
        (Get, paths::MEMBERS, Open, get(members)),
        (Get, paths::OPENAPI, Open, get(openapi)),
        (Get, paths::METRICS, Open, get(metrics)),
        (Get, paths::TILES, Open, get(crate::tiles::serve)),
        (
            Post,
            paths::WITNESS_ADD_CHECKPOINT,
            Witness,
            post(add_checkpoint),
        ),
    ]
}

/// The method and route of everything [`router`] serves.
pub fn served() -> Vec<(Method, &'static str)> {
    table().into_iter().map(|(m, p, _, _)| (m, p)).collect()
}

/// Builds the router.
pub fn router(node: Arc<Node>) -> Router {
    let (mut open, mut writes, mut batch, mut witness) =
        (Router::new(), Router::new(), Router::new(), Router::new());
    for (_, path, access, handler) in table() {
        match access {
            Access::Open => open = open.route(path, handler),
            Access::Write => writes = writes.route(path, handler),
            Access::Batch => batch = batch.route(path, handler),
            Access::Witness => witness = witness.route(path, handler),
        }
    }
    let writes = writes
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route_layer(middleware::from_fn_with_state(node.clone(), token_first));
    let batch = batch
        .layer(DefaultBodyLimit::max(MAX_BATCH_BODY))
        .route_layer(middleware::from_fn_with_state(node.clone(), token_first));
    let witness = witness.layer(DefaultBodyLimit::max(
        ledger_core::tlog::witness::MAX_REQUEST_BYTES,
    ));
    open.merge(witness)
        .merge(writes)
        .merge(batch)
        .with_state(node)
}

/// `GET /v1/openapi.json`: the OpenAPI 3 document of this API, open like
/// every read.
async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOCUMENT
        .get_or_init(kpl_api::openapi::document_json)
        .clone();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Constant-time comparison of the bearer token.
fn authorised(node: &Node, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token_matches(&node.token, given.trim()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORISED,
            "writes need `Authorization: Bearer <token>` with the token from the node's api.token file",
        ))
    }
}

/// Refuses a write without the token before its body is read: a stranger
/// costs the node a header check, not the parsing of up to
/// `MAX_BATCH_BODY` bytes of JSON.
async fn token_first(
    State(node): State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    match authorised(&node, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Whether `given` is the token `want` (never when `want` is empty). The
/// time taken does not depend on where the two differ nor on their lengths:
/// both are hashed, and the digests compared in full.
fn token_matches(want: &str, given: &str) -> bool {
    let w = ledger_core::hash::sha256(&[b"kp-ledger api token", want.as_bytes()]);
    let g = ledger_core::hash::sha256(&[b"kp-ledger api token", given.as_bytes()]);
    let diff = w
        .as_bytes()
        .iter()
        .zip(g.as_bytes())
        .fold(0u8, |d, (a, b)| d | (a ^ b));
    diff == 0 && !want.is_empty()
}

/// Checks the token, then that this node may write at all, now: not an
/// observer, and its own feed's head confirmed since the start
/// (`Node::check_writable`; checked again under the key's lock).
fn writer(node: &Node, headers: &HeaderMap) -> Result<(), ApiError> {
    authorised(node, headers)?;
    node.check_writable()?;
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn stored_view(s: &StoredEvent) -> EventView {
    EventView::of(&s.id, &s.event)
}

fn certificate_view(number: &str, r: &CertificateRecord) -> CertificateView {
    let status = if !r.fork_proofs.is_empty() {
        "forked"
    } else if r.issued.is_empty() {
        "never_issued"
    } else if !r.voids.is_empty() {
        "voided"
    } else if !r.confirmations.is_empty() {
        "confirmed"
    } else {
        "issued"
    };
    CertificateView {
        confirmations: r.confirmations.iter().map(stored_view).collect(),
        corrected: ledger_core::lifecycle::corrected(r),
        corrections: r.corrections.iter().map(stored_view).collect(),
        fork_proofs: r.fork_proofs.iter().map(ForkProofView::from).collect(),
        issued: r.issued.iter().map(stored_view).collect(),
        number: number.to_owned(),
        status: status.to_owned(),
        voids: r.voids.iter().map(stored_view).collect(),
    }
}

/// `?force=true` on a write: sign it even though the check before signing
/// refuses it (the audit still reports it).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WriteQuery {
    #[serde(default)]
    force: bool,
}

fn force_of(
    q: Result<Query<WriteQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<bool, ApiError> {
    q.map(|Query(q)| q.force)
        .map_err(|e| ApiError::bad("force", e.body_text()))
}

/// The answer for one checked write: its place, whether it had been signed
/// before (a retry), and the refusal it was signed despite; a refusal is
/// `409` (a conflict with the ledger) or `422` with the rule as its code.
fn checked_receipt(c: Checked) -> Result<WriteReceipt, ApiError> {
    let receipt = |id: Digest, seq| WriteReceipt {
        already_signed: None,
        author: None,
        durable: true,
        id: id.to_string(),
        seq,
        signed_despite: None,
    };
    match c {
        Checked::Signed(id, seq) => Ok(receipt(id, seq)),
        Checked::AlreadySigned(id, seq) => Ok(WriteReceipt {
            already_signed: Some(true),
            ..receipt(id, seq)
        }),
        Checked::SignedAnyway(id, seq, r) => Ok(WriteReceipt {
            signed_despite: Some(SignedDespite {
                message: r.message,
                rule: r.rule.to_owned(),
            }),
            ..receipt(id, seq)
        }),
        Checked::Refused(r) => Err(refusal_error(r)),
    }
}

fn refusal_error(r: Refusal) -> ApiError {
    let status = match r.kind {
        RefusalKind::Conflict => StatusCode::CONFLICT,
        RefusalKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, r.rule, r.message)
}

/// Checks, signs and answers one body.
async fn write_one(
    node: &Arc<Node>,
    body: EventBody,
    force: bool,
) -> Result<WriteReceipt, ApiError> {
    let mut out = node.write_checked(vec![body], force).await?;
    match out.pop() {
        Some(c) => checked_receipt(c),
        None => Err(ApiError::internal("a write lost its outcome")),
    }
}

// ------------------------------------------------------------------ reads

async fn charter(State(node): State<AppState>) -> Json<CharterResponse> {
    Json(CharterResponse {
        charter: node.ledger.charter().clone(),
        network_id: node.ledger.network_id().to_string(),
    })
}

/// `GET /v1/health`: always 200 while the API answers (reads are served);
/// `status` is `degraded`, with the reasons, while writes are refused or
/// failing: the store's last write failed after an I/O error, or this node
/// has not confirmed its own feed's head since it started.
async fn health(State(node): State<AppState>) -> Json<HealthResponse> {
    let reasons = node.health_reasons();
    let status = if reasons.is_empty() { "ok" } else { "degraded" };
    Json(HealthResponse {
        network_id: node.ledger.network_id().to_string(),
        own_feed: node.own_feed.state().view(),
        reasons,
        status: status.to_owned(),
    })
}

async fn status(State(node): State<AppState>) -> ApiResult {
    let net = node.net.status().await.ok();
    let ledger = node.ledger.clone();
    let (heads, forks) =
        blocking(move || Ok((ledger.heads()?, ledger.fork_proofs()?.len()))).await?;
    let peer_heads = node.peer_heads().await;
    let lag: std::collections::HashMap<String, u64> =
        node.sync_lag(&peer_heads).into_iter().collect();
    let charter = node.ledger.charter();
    let membership = node.ledger.timeline();
    let membership = membership.at(today());
    let peers: Vec<Value> = net
        .as_ref()
        .map(|s| {
            s.connected
                .iter()
                .map(|p| {
                    let id = p.to_string();
                    let member = match membership.node_owner(&id) {
                        Some(ledger_core::charter::NodeMember::Participant(c)) => {
                            format!("participant {c}")
                        }
                        Some(ledger_core::charter::NodeMember::Observer(o)) => {
                            format!("observer {o}")
                        }
                        None => "unknown".into(),
                    };
                    json!({"peer_id": id, "member": member, "events_behind": lag.get(&id).copied()})
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "network": charter.network,
        "network_id": node.ledger.network_id(),
        "peer_id": node.net.local_peer_id().to_string(),
        "identity": node.identity.describe(),
        "read_only": matches!(node.identity, Identity::Observer { .. }),
        "listen_addrs": net.as_ref().map(|s| s.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap_or_default(),
        "events": heads.iter().map(|h| h.seq).sum::<u64>(),
        "feeds": heads.iter().map(FeedHead::from).collect::<Vec<_>>(),
        "fork_proofs": forks,
        "checkpoints": node.checkpoints.all_latest().len(),
        "split_views": node.checkpoints.split_view_count(),
        "peers": peers,
        "uptime_secs": node.started.elapsed().as_secs(),
        "network_counters": net.as_ref().map(|s| &s.counters),
    })))
}

async fn feeds(State(node): State<AppState>) -> Result<Json<FeedsResponse>, ApiError> {
    let ledger = node.ledger.clone();
    let (heads, forks) = blocking(move || Ok((ledger.heads()?, ledger.fork_proofs()?))).await?;
    Ok(Json(FeedsResponse {
        feeds: heads.iter().map(FeedHead::from).collect(),
        fork_proofs: forks.iter().map(ForkSummary::from).collect(),
    }))
}

#[derive(Deserialize)]
struct RangeQuery {
    author: String,
    #[serde(default = "one")]
    from: u64,
    #[serde(default = "hundred")]
    limit: usize,
    /// `hex`: the canonical encoded events instead of their JSON view (for
    /// clients that verify the replica themselves).
    encoding: Option<String>,
}
fn one() -> u64 {
    1
}
fn hundred() -> usize {
    100
}

async fn feed_range(
    State(node): State<AppState>,
    q: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FeedPage>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let author: AuthorId = q
        .author
        .parse()
        .map_err(|e: String| ApiError::bad("author", e))?;
    if node.ledger.author_entry(&author).is_none() {
        return Err(ApiError::not_found(format!(
            "{author} is not an author of this network"
        )));
    }
    let limit = q.limit.clamp(1, MAX_PAGE);
    let ledger = node.ledger.clone();
    if q.encoding.as_deref() == Some("hex") {
        let raw = blocking(move || ledger.feed_range_raw(&author, q.from, limit)).await?;
        return Ok(Json(FeedPage::Hex {
            events_hex: raw.iter().map(hex::encode).collect(),
        }));
    }
    let evs = blocking(move || ledger.feed_range(&author, q.from, limit)).await?;
    Ok(Json(FeedPage::Events {
        events: evs.iter().map(EventView::from).collect(),
    }))
}

async fn event_by_id(
    State(node): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let id = Digest::from_hex(&id).map_err(|e| ApiError::bad("id", e))?;
    let ledger = node.ledger.clone();
    match blocking(move || ledger.event_by_id(&id)).await? {
        Some(s) => Ok(Json(stored_view(&s))),
        None => Err(ApiError::not_found(format!("no event {id}"))),
    }
}

async fn certificate(
    State(node): State<AppState>,
    Path(number): Path<String>,
) -> Result<Json<CertificateView>, ApiError> {
    if number.len() > 64 {
        return Err(ApiError::bad(
            "number",
            "certificate numbers are at most 64 characters",
        ));
    }
    let ledger = node.ledger.clone();
    let n = number.clone();
    let rec = blocking(move || ledger.certificate(&n)).await?;
    if rec.is_empty() {
        return Err(ApiError::not_found(format!(
            "no event names certificate {number}"
        )));
    }
    Ok(Json(certificate_view(&number, &rec)))
}

async fn forks(State(node): State<AppState>) -> Result<Json<ForksResponse>, ApiError> {
    let ledger = node.ledger.clone();
    let forks = blocking(move || ledger.fork_proofs()).await?;
    Ok(Json(ForksResponse {
        fork_proofs: forks.iter().map(ForkProofView::from).collect(),
    }))
}

async fn verify(State(node): State<AppState>) -> Result<Json<VerifyResponse>, ApiError> {
    let ledger = node.ledger.clone();
    let started = std::time::Instant::now();
    let r = blocking(move || ledger.verify(|_, _| {})).await?;
    Ok(Json(VerifyResponse::of(
        &r,
        started.elapsed().as_millis() as u64,
    )))
}

/// Computes an analysis answer from the node's view of the whole replica,
/// off the async runtime ([`Node::analyse`]: on a thread of lowered
/// priority), at most [`crate::service::ANALYSIS_CONCURRENCY`] at once; with more than
/// [`crate::service::ANALYSIS_MAX_WAITING`] requests already waiting, `503`
/// (`busy`). The view is first brought up to date with the events stored
/// since (one update at a time). A view built while records of the log
/// could not be read is partial: every answer from it carries `partial`
/// ([`Answer`]).
async fn analysed<T: Send + 'static>(
    node: &Arc<Node>,
    client: std::net::IpAddr,
    f: impl FnOnce(&LedgerView) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    use crate::service::{AnalysisError, NotAdmitted};
    node.analyse(client, move |_, v| f(v))
        .await
        .map_err(|e| match e {
            AnalysisError::NotAdmitted(NotAdmitted::Busy) => ApiError::busy(),
            AnalysisError::NotAdmitted(NotAdmitted::ClientLimit) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::TOO_MANY_REQUESTS,
                format!(
                    "this client already has {} analysis requests computed or waiting; wait for their answers",
                    crate::service::ANALYSIS_PER_CLIENT
                ),
            ),
            AnalysisError::Failed(e) => ApiError::internal(e),
        })?
}

/// A JSON answer serialised where it was computed, on the analysis
/// thread: an audit of a large ledger is megabytes of JSON, which would
/// otherwise be written out on one of the async runtime's threads.
struct JsonBytes(Vec<u8>);

impl IntoResponse for JsonBytes {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// [`analysed`], with the answer serialised on the analysis thread.
async fn analysed_json<S: serde::Serialize>(
    node: &Arc<Node>,
    client: std::net::IpAddr,
    f: impl FnOnce(&LedgerView) -> Result<S, ApiError> + Send + 'static,
) -> Result<JsonBytes, ApiError> {
    analysed(node, client, move |v| {
        let answer = f(v)?;
        serde_json::to_vec(&answer)
            .map(JsonBytes)
            .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await
}

/// An answer and the view's `partial` key (how many records of the log
/// could not be read, the first one's offset, and each of them; absent from
/// a whole view's answer), serialised without first making a JSON tree of the answer:
/// an audit of a large ledger is megabytes.
#[derive(serde::Serialize)]
struct Answer<T: serde::Serialize> {
    #[serde(flatten)]
    answer: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial: Option<Value>,
}

impl<T: serde::Serialize> Answer<T> {
    fn of(v: &LedgerView, answer: T) -> Answer<T> {
        Answer {
            answer,
            partial: partial_json(v),
        }
    }
}

/// The `partial` key of an answer from view `v`, if it is partial.
pub fn partial_json(v: &LedgerView) -> Option<Value> {
    v.partial().map(|p| {
        json!({
            "unreadable_records": p.unreadable_records,
            "first_offset": p.first_offset,
            "unreadable": p.unreadable.iter().map(|u| json!({
                "offset": u.offset,
                "to": u.to,
                "author": u.author.as_ref().map(AuthorId::to_string),
                "seq": u.seq,
                "reason": u.reason,
            })).collect::<Vec<_>>(),
        })
    })
}

#[derive(Deserialize)]
struct AuditQuery {
    participant: Option<String>,
    from: Option<String>,
    to: Option<String>,
    grace_days: Option<i32>,
    tolerance_bp: Option<u32>,
    /// Comma-separated finding kinds.
    kind: Option<String>,
    /// The least serious severity kept.
    severity: Option<String>,
}

fn kinds_param(v: &Option<String>) -> Result<Vec<FindingKind>, ApiError> {
    let Some(list) = v.as_deref() else {
        return Ok(Vec::new());
    };
    list.split(',')
        .filter(|k| !k.is_empty())
        .map(|k| {
            FindingKind::from_name(k).ok_or_else(|| {
                let names: Vec<&str> = FindingKind::ALL.iter().map(|k| k.as_str()).collect();
                ApiError::bad(
                    "kind",
                    format!("{k:?} is not a finding kind; one of: {}", names.join(", ")),
                )
            })
        })
        .collect()
}

fn date_param(field: &str, v: &Option<String>) -> Result<Option<Date>, ApiError> {
    v.as_deref()
        .map(|s| s.parse::<Date>().map_err(|e| ApiError::bad(field, e)))
        .transpose()
}

async fn audit(
    State(node): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<JsonBytes, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let participant = q
        .participant
        .as_deref()
        .map(|p| CountryCode::new(p).map_err(|e| ApiError::bad("participant", e)))
        .transpose()?;
    let now = now_ms();
    let mut params = AuditParams::new(now);
    params.participant = participant;
    params.from = date_param("from", &q.from)?;
    params.to = date_param("to", &q.to)?;
    if let Some(g) = q.grace_days {
        params.confirmation_grace_days = g;
    }
    if let Some(t) = q.tolerance_bp {
        params.tolerance_bp = t;
    }
    params.kinds = kinds_param(&q.kind)?;
    params.min_severity = q
        .severity
        .as_deref()
        .map(|s| {
            s.parse::<Severity>()
                .map_err(|e| ApiError::bad("severity", e))
        })
        .transpose()?;
    let answer = analysed_json(&node, client.ip(), move |v| {
        let findings = v.audit(&params);
        // Not findings yet: exports whose destination may still confirm.
        let mut waiting = CertificateQuery::new(params.now);
        waiting.participant = params.participant;
        waiting.from = params.from;
        waiting.to = params.to;
        waiting.grace_days = params.confirmation_grace_days;
        waiting.status = Some(CertificateStatus::AwaitingConfirmation);
        let awaiting = v.list_certificates(&waiting);
        #[derive(serde::Serialize)]
        struct Audit<P, F, A> {
            params: P,
            findings: F,
            awaiting_confirmation: A,
        }
        Ok(Answer::of(
            v,
            Audit {
                params,
                findings,
                awaiting_confirmation: awaiting,
            },
        ))
    })
    .await?;
    Ok(answer)
}

#[derive(Deserialize)]
struct CertificatesQuery {
    participant: Option<String>,
    direction: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    origin: Option<String>,
    grace_days: Option<i32>,
    limit: Option<usize>,
}

/// Most certificates one list answer carries (`limit`'s default and
/// ceiling); `total` says how many matched.
const MAX_LISTED: usize = 10_000;
const DEFAULT_LISTED: usize = 1_000;

fn code_param(field: &str, v: &Option<String>) -> Result<Option<CountryCode>, ApiError> {
    v.as_deref()
        .map(|p| CountryCode::new(p).map_err(|e| ApiError::bad(field, e)))
        .transpose()
}

async fn certificates(
    State(node): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    q: Result<Query<CertificatesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<JsonBytes, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let mut query = CertificateQuery::new(today());
    query.participant = code_param("participant", &q.participant)?;
    query.origin = code_param("origin", &q.origin)?;
    query.direction = q
        .direction
        .as_deref()
        .map(|d| {
            d.parse::<Direction>()
                .map_err(|e| ApiError::bad("direction", e))
        })
        .transpose()?;
    if query.direction.is_some() && query.participant.is_none() {
        return Err(ApiError::bad(
            "direction",
            "a direction needs a participant (participant=BW&direction=exports)",
        ));
    }
    query.status = q
        .status
        .as_deref()
        .map(|d| {
            d.parse::<CertificateStatus>()
                .map_err(|e| ApiError::bad("status", e))
        })
        .transpose()?;
    query.from = date_param("from", &q.from)?;
    query.to = date_param("to", &q.to)?;
    if let Some(g) = q.grace_days {
        query.grace_days = g;
    }
    let limit = q.limit.unwrap_or(DEFAULT_LISTED);
    if limit == 0 || limit > MAX_LISTED {
        return Err(ApiError::bad(
            "limit",
            format!("a limit is 1 to {MAX_LISTED}"),
        ));
    }
    let answer = analysed_json(&node, client.ip(), move |v| {
        let mut all = v.list_certificates(&query);
        let total = all.len();
        all.truncate(limit);
        #[derive(serde::Serialize)]
        struct Listing<Q, C> {
            query: Q,
            total: usize,
            certificates: C,
        }
        Ok(Answer::of(
            v,
            Listing {
                query,
                total,
                certificates: all,
            },
        ))
    })
    .await?;
    Ok(answer)
}

#[derive(Deserialize)]
struct StatsQuery {
    year: i32,
    quarter: Option<u8>,
}

async fn stats(
    State(node): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    q: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<JsonBytes, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    if let Some(qt) = q.quarter {
        if !(1..=4).contains(&qt) {
            return Err(ApiError::bad("quarter", "a quarter is 1, 2, 3 or 4"));
        }
    }
    // A year outside the calendar has no period: refused, not answered as
    // an empty one.
    ledger_core::analysis::Period::new(q.year, q.quarter).map_err(|e| ApiError::bad("year", e))?;
    let answer = analysed_json(&node, client.ip(), move |v| {
        Ok(Answer::of(v, v.stats(q.year, q.quarter)))
    })
    .await?;
    Ok(answer)
}

async fn trace(
    State(node): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(number): Path<String>,
) -> Result<JsonBytes, ApiError> {
    let now = now_ms();
    let answer = analysed_json(&node, client.ip(), move |v| match v.trace_at(&number, &AuditParams::new(now)) {
        Some(t) => Ok(Answer::of(
            v,
            json!({"trace": t, "tree": t.render_tree(), "by_origin": t.carats_by_origin()}),
        )),
        None => Err(ApiError::not_found(match v.partial() {
            Some(p) => format!(
                "certificate {number} is not in what could be read of this replica: {} record(s) of its log are unreadable (first at offset {})",
                p.unreadable_records, p.first_offset
            ),
            None => format!("certificate {number} was never issued in this ledger"),
        })),
    })
    .await?;
    Ok(answer)
}

async fn metrics(State(node): State<AppState>) -> Response {
    let ledger = node.ledger.clone();
    let counts = tokio::task::spawn_blocking(move || {
        let heads = ledger.heads().unwrap_or_default();
        let forks = ledger.fork_proofs().map(|f| f.len()).unwrap_or(0);
        (
            heads.iter().map(|h| h.seq).sum::<u64>(),
            heads.len() as u64,
            forks as u64,
        )
    })
    .await
    .unwrap_or((0, 0, 0));
    let peers = node
        .net
        .status()
        .await
        .map(|s| s.connected.len() as u64)
        .unwrap_or(0);
    let lag = node.sync_lag(&node.peer_heads().await);
    let body = node.metrics.render(
        &[
            (
                "kpl_events_stored",
                "Events in this node's store.",
                counts.0,
            ),
            ("kpl_feeds", "Feeds in the network.", counts.1),
            ("kpl_fork_proofs", "Fork proofs held.", counts.2),
            ("kpl_peers_connected", "Connected member peers.", peers),
        ],
        &lag,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

// ----------------------------------------------------------------- writes

async fn issue(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<WriteQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<Certificate>, JsonRejection>,
) -> Receipt {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(mut cert) = body?;
    fill_issuing_authority(&node, &mut cert);
    Ok(Json(
        write_one(&node, EventBody::CertificateIssued(cert), force).await?,
    ))
}

/// An empty issuing authority defaults to the authority's title in the
/// charter (or in the decision that admitted it).
fn fill_issuing_authority(node: &Node, cert: &mut Certificate) {
    if cert.issuing_authority.is_empty() {
        if let Identity::Authority { author, .. } = &node.identity {
            if let Some(a) = node.ledger.author_entry(author) {
                cert.issuing_authority = a.title.clone();
            }
        }
    }
}

async fn issue_batch(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<WriteQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<Vec<Value>>, JsonRejection>,
) -> Result<Json<BatchResponse>, ApiError> {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(items) = body?;
    if items.len() > MAX_BATCH {
        return Err(ApiError::bad(
            "",
            format!("at most {MAX_BATCH} certificates per batch"),
        ));
    }
    let Identity::Authority { author, .. } = &node.identity else {
        return Err(WriteError::ReadOnly.into());
    };
    // Check each certificate first so one bad row does not sink the batch.
    let mut results: Vec<Option<BatchResult>> = vec![None; items.len()];
    let mut good = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<Certificate>(item) {
            Ok(mut cert) => {
                fill_issuing_authority(&node, &mut cert);
                let body = EventBody::CertificateIssued(cert);
                match ledger_core::validate::validate_body(author, &body) {
                    Ok(()) => {
                        let number = body.certificate_number().unwrap_or("").to_owned();
                        if !seen.insert(number.clone()) {
                            results[i] = Some(refused(
                                None,
                                Some("number".to_owned()),
                                format!("{number} appears twice in this batch"),
                            ));
                        } else {
                            good.push((i, body));
                        }
                    }
                    Err(e) => results[i] = Some(refused(None, Some(body_field(&e)), e.to_string())),
                }
            }
            Err(e) => {
                let m = e.to_string();
                let field = m.split('`').nth(1).unwrap_or("").to_owned();
                results[i] = Some(refused(None, Some(field), m));
            }
        }
    }
    if !good.is_empty() {
        let (idx, bodies): (Vec<usize>, Vec<EventBody>) = good.into_iter().unzip();
        let out = node.write_checked(bodies, force).await?;
        for (i, c) in idx.into_iter().zip(out) {
            results[i] = Some(match checked_receipt(c) {
                Ok(v) => BatchResult::Written(v),
                Err(e) => refused(Some(e.code.to_owned()), e.field, e.message),
            });
        }
    }
    // Every place is filled: each item was refused above or written here.
    let results = results.into_iter().flatten().collect();
    Ok(Json(BatchResponse { results }))
}

fn refused(code: Option<String>, field: Option<String>, message: String) -> BatchResult {
    BatchResult::Refused {
        error: BatchRefusal {
            code,
            field,
            message,
        },
    }
}

async fn confirm(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<WriteQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<ImportConfirmation>, JsonRejection>,
) -> Receipt {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(c) = body?;
    Ok(Json(
        write_one(&node, EventBody::ImportConfirmed(c), force).await?,
    ))
}

/// The body of `POST /v1/voids`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    pub certificate: String,
    pub reason: VoidReason,
    #[serde(default)]
    pub note: String,
}

async fn void(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<WriteQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<VoidRequest>, JsonRejection>,
) -> Receipt {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(v) = body?;
    let body = EventBody::CertificateVoided {
        certificate: v.certificate,
        reason: v.reason,
        note: v.note,
    };
    Ok(Json(write_one(&node, body, force).await?))
}

/// The body of `POST /v1/corrections`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    pub certificate: String,
    /// Id of the issue event corrected; default: the certificate's issue event.
    pub original: Option<Digest>,
    pub correction: Correction,
    pub note: String,
}

async fn correct(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<WriteQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<CorrectionRequest>, JsonRejection>,
) -> Receipt {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(c) = body?;
    let original = match c.original {
        Some(o) => o,
        None => {
            let ledger = node.ledger.clone();
            let n = c.certificate.clone();
            let rec = blocking(move || ledger.certificate(&n)).await?;
            rec.issued.first().map(|s| s.id).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    codes::UNKNOWN_CERTIFICATE,
                    format!(
                        "{} was never issued in this node's replica: nothing to correct",
                        c.certificate
                    ),
                )
            })?
        }
    };
    let body = EventBody::CertificateCorrected {
        certificate: c.certificate,
        original,
        correction: c.correction,
        note: c.note,
    };
    Ok(Json(write_one(&node, body, force).await?))
}

async fn rotate(
    State(node): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<RotateReceipt>, ApiError> {
    writer(&node, &headers)?;
    let (id, seq, kf) = node.rotate_key().await?;
    Ok(Json(RotateReceipt {
        durable: true,
        id: id.to_string(),
        new_public_key: kf.public_key.to_string(),
        next_key_digest: kf.next_key_digest.to_string(),
        seq,
    }))
}

// ------------------------------------------------------------ checkpoints

/// The JSON view of a checkpoint held for `author`.
fn checkpoint_view(author: &AuthorId, s: &crate::checkpoints::Signed) -> CheckpointView {
    let cp = &s.checkpoint;
    CheckpointView {
        author: author.to_string(),
        cosignatures: crate::checkpoints::cosignatures(&s.note, &cp.origin)
            .into_iter()
            .map(|(witness, timestamp)| CosignatureView { timestamp, witness })
            .collect(),
        note: s.note.encode(),
        origin: cp.origin.clone(),
        root: cp.root.to_string(),
        size: cp.size,
    }
}

/// An author given in a query: 422 when malformed, 404 when neither in the
/// charter nor admitted by a decision this node holds.
fn query_author(node: &Node, field: &str, text: &str) -> Result<AuthorId, ApiError> {
    let author: AuthorId = text.parse().map_err(|e: String| ApiError::bad(field, e))?;
    if node.ledger.author_entry(&author).is_none() {
        return Err(ApiError::not_found(format!(
            "{author} is not an author of this network"
        )));
    }
    Ok(author)
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

#[derive(Deserialize)]
struct AuthorQuery {
    author: String,
}

async fn checkpoint(
    State(node): State<AppState>,
    q: QueryResult<AuthorQuery>,
) -> Result<Json<CheckpointView>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let author = query_author(&node, "author", &q.author)?;
    match node.checkpoints.latest(&author) {
        Some(s) => Ok(Json(checkpoint_view(&author, &s))),
        None => Err(ApiError::not_found(format!(
            "no checkpoint of {author}'s feed yet"
        ))),
    }
}

/// `GET /v1/keys`: the key material a client needs to check this
/// network's checkpoints and cosignatures with any C2SP tool: for each
/// authority feed its current key (the one that signs its checkpoints and
/// its cosignatures as a witness, which moves on with each rotation), the
/// note verifier key of its checkpoints, and its cosignature verifier key;
/// for each observer its witness key.
async fn keys(State(node): State<AppState>) -> ApiResult {
    use ledger_core::tlog::checkpoint::{witness_name, WitnessId};
    use ledger_core::tlog::cosignature::CosignatureVerifier;
    use ledger_core::tlog::note::Ed25519Verifier;
    let ledger = node.ledger.clone();
    let states = blocking(move || {
        let mut out = Vec::new();
        for a in ledger.authors() {
            let state = ledger.feed_state(&a)?;
            out.push((a, state));
        }
        Ok::<_, StoreError>(out)
    })
    .await?;
    let charter = node.ledger.charter();
    let network_id = node.ledger.network_id();
    let timeline = node.ledger.timeline();
    let mut feeds = Vec::new();
    for (author, state) in states {
        let (current, epochs) = match &state {
            Some(s) => (s.keys.last().map(|e| e.key), s.keys.clone()),
            None => (timeline.genesis_entry(&author).map(|e| e.key), Vec::new()),
        };
        let Some(key) = current else { continue };
        let origin = node
            .checkpoints
            .origin(&author)
            .map_err(ApiError::internal)?;
        let checkpoint_vkey = Ed25519Verifier::new(&origin, &key)
            .map(|v| v.verifier_key().to_string())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let wname = witness_name(&charter.network, &network_id, WitnessId::Authority(&author))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let witness_vkey = CosignatureVerifier::new(&wname, &key)
            .map(|v| v.verifier_key().to_string())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        // The node signs a checkpoint of size n with the key in force for
        // event n + 1 (`Checkpoints::sign_own`): the epoch starting at
        // `from_seq` signs sizes from `from_seq - 1` (the rotation event's
        // own seq) up to the next epoch's.
        let mut key_epochs = Vec::new();
        for (i, e) in epochs.iter().enumerate() {
            let vkey = Ed25519Verifier::new(&origin, &e.key)
                .map(|v| v.verifier_key().to_string())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let wkey = CosignatureVerifier::new(&wname, &e.key)
                .map(|v| v.verifier_key().to_string())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            key_epochs.push(json!({
                "from_seq": e.from_seq,
                "key": e.key.to_hex(),
                "checkpoint_vkey": vkey,
                "witness_vkey": wkey,
                "checkpoint_sizes_from": e.from_seq.saturating_sub(1),
                "checkpoint_sizes_below": epochs.get(i + 1).map(|n| n.from_seq - 1),
            }));
        }
        feeds.push(json!({
            "author": author.to_string(),
            "key": key.to_hex(),
            "since_seq": epochs.last().map_or(1, |e| e.from_seq),
            "origin": origin,
            "checkpoint_vkey": checkpoint_vkey,
            "witness_name": wname,
            "witness_vkey": witness_vkey,
            "key_epochs": key_epochs,
        }));
    }
    let mut observers = Vec::new();
    for o in timeline.latest().observers.values() {
        let wname = witness_name(&charter.network, &network_id, WitnessId::Observer(&o.id))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let witness_vkey = CosignatureVerifier::new(&wname, &o.key)
            .map(|v| v.verifier_key().to_string())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        observers.push(json!({
            "observer": o.id.as_str(),
            "key": o.key.to_hex(),
            "witness_name": wname,
            "witness_vkey": witness_vkey,
        }));
    }
    Ok(Json(
        json!({"network_id": network_id, "feeds": feeds, "observers": observers}),
    ))
}

async fn checkpoints_all(State(node): State<AppState>) -> Json<CheckpointsResponse> {
    let all = node.checkpoints.all_latest();
    Json(CheckpointsResponse {
        checkpoints: all.iter().map(|(a, s)| checkpoint_view(a, s)).collect(),
    })
}

fn hex_list(hashes: &[Digest]) -> Vec<String> {
    hashes.iter().map(Digest::to_hex).collect()
}

/// The latest checkpoint's size for `author`, as the default tree size of
/// a proof (409 when there is none covering `at_least`).
fn checkpoint_size(node: &Node, author: &AuthorId, at_least: u64) -> Result<u64, ApiError> {
    let size = node.checkpoints.latest(author).map(|s| s.checkpoint.size);
    match size {
        Some(n) if n >= at_least => Ok(n),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::NOT_CHECKPOINTED,
            format!(
                "no checkpoint of {author}'s feed covers size {at_least} yet (latest: {}); retry after the next checkpoint or pass `size`",
                size.map_or("none".to_owned(), |n| n.to_string())
            ),
        )),
    }
}

/// 422 naming `field` when `size` is beyond what this node holds.
async fn check_held(
    node: &Arc<Node>,
    author: &AuthorId,
    field: &str,
    size: u64,
) -> Result<(), ApiError> {
    let ledger = node.ledger.clone();
    let a = author.clone();
    let held = blocking(move || ledger.tree_size(&a)).await?;
    if size > held {
        return Err(ApiError::bad(
            field,
            format!("this node holds {held} events of {author}, not {size}"),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct InclusionQuery {
    id: String,
    size: Option<u64>,
}

async fn inclusion_proof(
    State(node): State<AppState>,
    q: QueryResult<InclusionQuery>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let id = Digest::from_hex(&q.id).map_err(|e| ApiError::bad("id", e))?;
    let ledger = node.ledger.clone();
    let Some(ev) = blocking(move || ledger.event_by_id(&id)).await? else {
        return Err(ApiError::not_found(format!("no event {id}")));
    };
    let author = ev.event.author().clone();
    let seq = ev.event.seq();
    if ledger_stored_id(&node, &author, seq).await? != Some(id) {
        // The other side of a fork: not in this node's tree.
        return Err(ApiError::not_found(format!(
            "event {id} is not in this node's tree of {author}'s feed (a forked place)"
        )));
    }
    let size = match q.size {
        Some(n) => n,
        None => checkpoint_size(&node, &author, seq)?,
    };
    if size < seq {
        return Err(ApiError::bad(
            "size",
            format!("event {id} is at seq {seq}, beyond a tree of size {size}"),
        ));
    }
    check_held(&node, &author, "size", size).await?;
    let ledger = node.ledger.clone();
    let a = author.clone();
    let (root, proof) = blocking(move || {
        Ok((
            ledger.tree_root(&a, size)?,
            ledger.inclusion_proof(&a, seq, size)?,
        ))
    })
    .await?;
    Ok(Json(json!({
        "author": author.to_string(),
        "seq": seq,
        "leaf_index": seq - 1,
        "size": size,
        "root": root,
        "proof": hex_list(&proof),
    })))
}

/// The id stored at `author`/`seq` in this node's feed.
async fn ledger_stored_id(
    node: &Arc<Node>,
    author: &AuthorId,
    seq: u64,
) -> Result<Option<Digest>, ApiError> {
    let ledger = node.ledger.clone();
    let a = author.clone();
    Ok(blocking(move || ledger.event_at(&a, seq))
        .await?
        .map(|s| s.id))
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    author: String,
    old: u64,
    new: Option<u64>,
}

async fn consistency_proof(
    State(node): State<AppState>,
    q: QueryResult<ConsistencyQuery>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let author = query_author(&node, "author", &q.author)?;
    let new = match q.new {
        Some(n) => n,
        None => checkpoint_size(&node, &author, q.old)?,
    };
    if q.old > new {
        return Err(ApiError::bad(
            "old",
            format!("old size {} is larger than new size {new}", q.old),
        ));
    }
    check_held(&node, &author, "new", new).await?;
    let ledger = node.ledger.clone();
    let a = author.clone();
    let old = q.old;
    let (old_root, new_root, proof) = blocking(move || {
        Ok((
            ledger.tree_root(&a, old)?,
            ledger.tree_root(&a, new)?,
            ledger.consistency_proof(&a, old, new)?,
        ))
    })
    .await?;
    Ok(Json(json!({
        "author": author.to_string(),
        "old": old,
        "new": new,
        "old_root": old_root,
        "new_root": new_root,
        "proof": hex_list(&proof),
    })))
}

async fn split_views(State(node): State<AppState>) -> Json<SplitViewsResponse> {
    let all = node.checkpoints.split_views();
    Json(SplitViewsResponse {
        split_views: all
            .iter()
            .map(|s| SplitViewView {
                author: s.author.to_string(),
                first: TreeHead::from(&s.view.first),
                first_note: s.proof.first.clone(),
                hash: s.hash.to_string(),
                origin: s.view.origin.clone(),
                path: hex_list(&s.proof.path),
                proof_hex: hex::encode(s.proof.encode()),
                second: TreeHead::from(&s.view.second),
                second_note: s.proof.second.clone(),
            })
            .collect(),
    })
}

// ------------------------------------------------------------ witness

/// `POST /witness/add-checkpoint` (c2sp.org/tlog-witness): plain-text body
/// and answers with the spec's status codes.
async fn add_checkpoint(State(node): State<AppState>, body: axum::body::Bytes) -> Response {
    let key = node.identity_key().await;
    let book = node.checkpoints.clone();
    let r = tokio::task::spawn_blocking(move || {
        book.add_checkpoint_http(&body, &key, crate::checkpoints::now_secs())
    })
    .await;
    match r {
        Ok(Ok((answer, actions))) => {
            node.publish_checkpoint_actions(actions).await;
            let status =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                [(header::CONTENT_TYPE, answer.content_type)],
                answer.body,
            )
                .into_response()
        }
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("witness error: {e}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("witness error: {e}\n"),
        )
            .into_response(),
    }
}

/// A self-contained proof bundle for a certificate and its lineage
/// (`ledger_core::bundle`), built from this replica and the latest cosigned
/// checkpoint of each feed involved.
async fn bundle(State(node): State<AppState>, Path(number): Path<String>) -> ApiResult {
    if number.len() > 64 {
        return Err(ApiError::bad(
            "number",
            "certificate numbers are at most 64 characters",
        ));
    }
    let n = node.clone();
    let built = tokio::task::spawn_blocking(move || {
        ledger_core::bundle::build(&n.ledger, &number, &|a| {
            n.checkpoints.latest(a).map(|s| s.note.encode())
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    match built {
        Ok(b) => Ok(Json(
            serde_json::to_value(b).map_err(|e| ApiError::internal(e.to_string()))?,
        )),
        Err(ledger_core::bundle::BundleError::NoIssue(n)) => Err(ApiError::not_found(format!(
            "certificate {n} was never issued in this ledger"
        ))),
        // A record it needs could not be read: no bundle from the rest.
        Err(e @ ledger_core::bundle::BundleError::Unreadable(_)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::UNREADABLE,
            e.to_string(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::NOT_YET_PROVABLE,
            e.to_string(),
        )),
    }
}

// ------------------------------------------------------------- governance

/// The answer to a governance write: 201 with the event's place.
fn created(author: &AuthorId, out: &[(Digest, u64)]) -> (StatusCode, Json<Created>) {
    (
        StatusCode::CREATED,
        Json(Created {
            author: author.to_string(),
            durable: true,
            id: out[0].0.to_string(),
            seq: out[0].1,
        }),
    )
}

fn writer_author(node: &Node) -> Result<AuthorId, ApiError> {
    match &node.identity {
        Identity::Authority { author, .. } => Ok(author.clone()),
        Identity::Observer { .. } => Err(WriteError::ReadOnly.into()),
    }
}

/// `POST /v1/governance/proposals`: a `GovernanceProposed` event signed by
/// this node's authority. The store accepts a proposal from any governance
/// authority; the timeline counts it only when its author's participant
/// chairs on the proposal's day (`GET /v1/governance/{id}` says).
async fn propose(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<WriteQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<Proposal>, JsonRejection>,
) -> Result<(StatusCode, Json<WriteReceipt>), ApiError> {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(p) = body?;
    check_peer_ids(&p.decision)?;
    let day = today();
    if p.effective_on <= day {
        return Err(ApiError::bad(
            "effective_on",
            format!(
                "effective_on {} is not after today ({day}, the proposal's date): a decision is proposed and approved before the day it takes effect",
                p.effective_on
            ),
        ));
    }
    let author = writer_author(&node)?;
    let mut v = write_one(&node, EventBody::GovernanceProposed(p), force).await?;
    let status = if v.already_signed.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    v.author = Some(author.to_string());
    Ok((status, Json(v)))
}

/// 422 unless every peer id a decision names is a libp2p peer id (a
/// multihash of a public key), not only base58 text. The ledger's own rule
/// accepts any base58 text; a node does not sign one that no node can have.
pub fn check_peer_ids(d: &ledger_core::governance::Decision) -> Result<(), ApiError> {
    use ledger_core::governance::Decision;
    let ids: Vec<&String> = match d {
        Decision::AdmitParticipant(e) => e.nodes.iter().collect(),
        Decision::AdmitObserver(e) => e.nodes.iter().collect(),
        Decision::AddNode { peer_id, .. } | Decision::RemoveNode { peer_id } => vec![peer_id],
        _ => Vec::new(),
    };
    for id in ids {
        peer_id_of_a_key(id).map_err(|e| {
            ApiError::bad(
                "peer_id",
                format!("`{id}` is not a libp2p peer id ({e}); `kpl-node init` prints the node's"),
            )
        })?;
    }
    Ok(())
}

/// Checks that `id` is the canonical text of a peer id: a multihash that
/// either embeds a public key that decodes (identity multihash, as of
/// Ed25519 keys) or is a SHA-256 digest of one.
fn peer_id_of_a_key(id: &str) -> Result<(), String> {
    let peer: libp2p::PeerId = id.parse().map_err(|e| format!("{e}"))?;
    if peer.to_string() != id {
        return Err("not in canonical form".into());
    }
    let mh: &libp2p::multihash::Multihash<64> = peer.as_ref();
    match mh.code() {
        0x00 => libp2p::identity::PublicKey::try_decode_protobuf(mh.digest())
            .map(drop)
            .map_err(|e| format!("the embedded public key does not decode: {e}")),
        0x12 if mh.digest().len() == 32 => Ok(()),
        c => Err(format!("multihash code {c:#x} is not a key's")),
    }
}

/// The body of `POST /v1/governance/approvals`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ApprovalBody {
    pub proposal: String,
    #[serde(default)]
    pub note: String,
}

/// `POST /v1/governance/approvals`: a `GovernanceApproved` event naming a
/// proposal's event id. A proposal this node does not hold yet is allowed
/// (it may still be on its way); the approval counts once it arrives.
async fn approve(
    State(node): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ApprovalBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    writer(&node, &headers)?;
    let Json(b) = body?;
    let proposal = Digest::from_hex(&b.proposal).map_err(|e| ApiError::bad("proposal", e))?;
    let author = writer_author(&node)?;
    let out = node
        .write(vec![EventBody::GovernanceApproved {
            proposal,
            note: b.note,
        }])
        .await?;
    Ok(created(&author, &out))
}

/// `GET /v1/governance`: every decision this replica knows, with its
/// approvals and status, and approvals of proposals it does not hold.
async fn governance(State(node): State<AppState>) -> ApiResult {
    let t = node.ledger.timeline();
    Ok(Json(json!({
        "quorum": t.quorum().to_string(),
        "chair": t.at(today()).chair,
        "decisions": t.decisions(),
        "orphan_approvals": t.orphan_approvals().iter()
            .map(|(proposal, event)| json!({"proposal": proposal, "event": event}))
            .collect::<Vec<_>>(),
    })))
}

/// `GET /v1/governance/{id}`: one decision by its proposal event's id.
async fn governance_decision(State(node): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = Digest::from_hex(&id).map_err(|e| ApiError::bad("id", e))?;
    let t = node.ledger.timeline();
    match t.decision(&id) {
        Some(d) => Ok(Json(json!(d))),
        None => Err(ApiError::not_found(format!(
            "no governance proposal {id} in this replica"
        ))),
    }
}

#[derive(Deserialize)]
struct MembersQuery {
    at: Option<String>,
}

/// `GET /v1/members?at=YYYY-MM-DD`: the membership in force on a day
/// (default: today, UTC), as this replica's governance timeline says.
async fn members(State(node): State<AppState>, q: QueryResult<MembersQuery>) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let at = match q.at.as_deref() {
        None | Some("") => today(),
        Some(s) => s.parse::<Date>().map_err(|e| ApiError::bad("at", e))?,
    };
    let t = node.ledger.timeline();
    let m = t.at(at);
    Ok(Json(json!({
        "at": at,
        "chair": m.chair,
        "participants": m.participants.values().collect::<Vec<_>>(),
        "observers": m.observers.values().collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod rejection_tests {
    use super::rejection_message;

    #[test]
    fn json_rejections_are_said_in_words() {
        let t = |s: &str| rejection_message(s);
        assert_eq!(
            t("Failed to deserialize the JSON body into the target type: reason: unknown variant `misplaced`, expected one of `cancelled`, `lost`, `stolen`, `seized` at line 1 column 50"),
            "reason: `misplaced` is not one of: cancelled, lost, stolen, seized"
        );
        assert_eq!(
            t("Failed to deserialize the JSON body into the target type: missing field `note` at line 1 column 9"),
            "the field `note` is missing"
        );
        assert_eq!(
            t("Failed to deserialize the JSON body into the target type: parcels: invalid type: string \"many\", expected u32 at line 1 column 20"),
            "parcels: expected a whole number, got string \"many\""
        );
        assert_eq!(
            t("Failed to deserialize the JSON body into the target type: unknown field `colour`, expected one of `certificate`, `note` at line 1 column 9"),
            "`colour` is not a field of this body (the fields are: certificate, note)"
        );
        assert_eq!(
            t("Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 1"),
            "the body is not valid JSON: EOF while parsing an object (line 1, column 1)"
        );
        let m =
            t("Failed to deserialize the JSON body into the target type: x: y at line 1 column 2");
        assert_eq!(m, "x: y");
    }
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn only_the_token_itself_matches() {
        let token = "3f9a1c0b7d2e4f6a8b0c1d2e3f4a5b6c";
        assert!(token_matches(token, token));
        assert!(!token_matches(token, ""));
        assert!(!token_matches(token, &token[..token.len() - 1]));
        let mut flipped = token.to_owned();
        flipped.replace_range(0..1, "4");
        assert!(!token_matches(token, &flipped));
        // A suffix of any length, 256 in particular, is not the token.
        for n in [1usize, 255, 256, 257, 512] {
            let longer = format!("{token}{}", "x".repeat(n));
            assert!(!token_matches(token, &longer), "token + {n} characters");
        }
        // An empty token never matches, not even an empty one.
        assert!(!token_matches("", ""));
    }
}
