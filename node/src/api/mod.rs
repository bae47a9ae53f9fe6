//! The HTTP API (JSON). Reads are open; writes need the bearer token from
//! the node's token file, and are refused on observer nodes. A write is
//! answered only after its event is durable. Every endpoint is documented in
//! `node/API.md`; the types, paths and codes are those of `kpl-api`.
//!
//! One file a job: this one the route table, the router and what every
//! handler shares; [`error`] the error answer and its status codes,
//! [`auth`] the token and the write gate, [`writes`] the event-signing
//! endpoints, [`reads`] the replica as it is, [`analysis`] what the
//! analysis view computes, [`proofs`] checkpoints, proofs, bundles and the
//! witness endpoint, [`governance`] proposals, approvals and decisions.
//! Handlers reach the store only through [`Node`]'s methods.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{middleware, Router};
use kpl_api::endpoints::Method;
use kpl_api::paths;
use ledger_core::error::StoreError;
use ledger_core::{AuthorId, Date, Digest};
use serde::Deserialize;

use crate::service::Node;

mod analysis;
mod auth;
mod error;
mod governance;
mod proofs;
mod reads;
mod writes;

pub use analysis::partial_json;
pub use error::{json_error_words, ApiError};
pub use governance::{check_peer_ids, ApprovalBody};
pub use writes::{CorrectionRequest, VoidRequest};

/// Largest single-event request body.
const MAX_BODY: usize = 256 * 1024;
/// Largest batch request body.
const MAX_BATCH_BODY: usize = 16 * 1024 * 1024;

type AppState = Arc<Node>;
type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

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
        (Post, paths::CERTIFICATES, Write, post(writes::issue)),
        (Post, paths::CONFIRMATIONS, Write, post(writes::confirm)),
        (Post, paths::VOIDS, Write, post(writes::void)),
        (Post, paths::CORRECTIONS, Write, post(writes::correct)),
        (Post, paths::KEYS_ROTATE, Write, post(writes::rotate)),
        (
            Post,
            paths::GOVERNANCE_PROPOSALS,
            Write,
            post(governance::propose),
        ),
        (
            Post,
            paths::GOVERNANCE_APPROVALS,
            Write,
            post(governance::approve),
        ),
        (
            Post,
            paths::CERTIFICATES_BATCH,
            Batch,
            post(writes::issue_batch),
        ),
        (Get, paths::HEALTH, Open, get(reads::health)),
        (Get, paths::CHARTER, Open, get(reads::charter)),
        (Get, paths::STATUS, Open, get(reads::status)),
        (Get, paths::FEEDS, Open, get(reads::feeds)),
        (Get, paths::FEED, Open, get(reads::feed_range)),
        (Get, paths::EVENT, Open, get(reads::event_by_id)),
        (Get, paths::CERTIFICATES, Open, get(reads::certificates)),
        (Get, paths::CERTIFICATE, Open, get(reads::certificate)),
        (Get, paths::FORKS, Open, get(reads::forks)),
        (Get, paths::VERIFY, Open, get(reads::verify)),
        (Get, paths::AUDIT, Open, get(analysis::audit)),
        (Get, paths::STATS, Open, get(analysis::stats)),
        (Get, paths::TRACE, Open, get(analysis::trace)),
        (Get, paths::BUNDLE, Open, get(proofs::bundle)),
        (Get, paths::CHECKPOINT, Open, get(proofs::checkpoint)),
        (Get, paths::CHECKPOINTS, Open, get(proofs::checkpoints_all)),
        (Get, paths::KEYS, Open, get(reads::keys)),
        (
            Get,
            paths::PROOFS_INCLUSION,
            Open,
            get(proofs::inclusion_proof),
        ),
        (
            Get,
            paths::PROOFS_CONSISTENCY,
            Open,
            get(proofs::consistency_proof),
        ),
        (Get, paths::SPLIT_VIEWS, Open, get(proofs::split_views)),
        (Get, paths::GOVERNANCE, Open, get(governance::governance)),
        (
            Get,
            paths::GOVERNANCE_DECISION,
            Open,
            get(governance::governance_decision),
        ),
        (Get, paths::MEMBERS, Open, get(reads::members)),
        (Get, paths::OPENAPI, Open, get(openapi)),
        (Get, paths::METRICS, Open, get(reads::metrics)),
        (Get, paths::TILES, Open, get(crate::tiles::serve)),
        (
            Post,
            paths::WITNESS_ADD_CHECKPOINT,
            Witness,
            post(proofs::add_checkpoint),
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
    let writes =
        writes
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .route_layer(middleware::from_fn_with_state(
                node.clone(),
                auth::token_first,
            ));
    let batch = batch
        .layer(DefaultBodyLimit::max(MAX_BATCH_BODY))
        .route_layer(middleware::from_fn_with_state(
            node.clone(),
            auth::token_first,
        ));
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
/// Runs a read of the store off the async runtime; a failure is `500`.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// An author given in a query: 422 when malformed, 404 when neither in the
/// charter nor admitted by a decision this node holds.
fn query_author(node: &Node, field: &str, text: &str) -> Result<AuthorId, ApiError> {
    let author: AuthorId = text.parse().map_err(|e: String| ApiError::bad(field, e))?;
    if node.author_entry(&author).is_none() {
        return Err(ApiError::not_found(format!(
            "{author} is not an author of this network"
        )));
    }
    Ok(author)
}

fn date_param(field: &str, v: &Option<String>) -> Result<Option<Date>, ApiError> {
    v.as_deref()
        .map(|s| s.parse::<Date>().map_err(|e| ApiError::bad(field, e)))
        .transpose()
}

fn hex_list(hashes: &[Digest]) -> Vec<String> {
    hashes.iter().map(Digest::to_hex).collect()
}

/// `?force=true` on a write: sign it even though the check before signing
/// refuses it (the audit still reports it).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WriteQuery {
    #[serde(default)]
    force: bool,
}

fn force_of(q: QueryResult<WriteQuery>) -> Result<bool, ApiError> {
    q.map(|Query(q)| q.force)
        .map_err(|e| ApiError::bad("force", e.body_text()))
}
