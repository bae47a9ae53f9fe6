//! What lets a client check this replica without trusting it: the
//! checkpoints held of every feed, inclusion and consistency proofs against
//! them, split-view proofs, a certificate's offline-verifiable bundle, and
//! the c2sp.org/tlog-witness endpoint that cosigns other logs' checkpoints.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kpl_api::error::codes;
use kpl_api::types::{
    CheckpointView, CheckpointsResponse, ConsistencyProof, CosignatureView, InclusionProof,
    SplitViewView, SplitViewsResponse, TreeHead,
};
use ledger_core::{AuthorId, Digest};
use serde::Deserialize;
use serde_json::Value;

use super::{blocking, hex_list, query_author, ApiError, AppState, QueryResult};
use crate::service::Node;

/// The bundle: a ledger-core type, written in its own JSON form.
type ApiResult = Result<Json<Value>, ApiError>;

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
#[derive(Deserialize)]
pub(super) struct AuthorQuery {
    author: String,
}

pub(super) async fn checkpoint(
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
pub(super) async fn checkpoints_all(State(node): State<AppState>) -> Json<CheckpointsResponse> {
    let all = node.checkpoints.all_latest();
    Json(CheckpointsResponse {
        checkpoints: all.iter().map(|(a, s)| checkpoint_view(a, s)).collect(),
    })
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
    let svc = node.clone();
    let a = author.clone();
    let held = blocking(move || svc.held_size(&a)).await?;
    if size > held {
        return Err(ApiError::bad(
            field,
            format!("this node holds {held} events of {author}, not {size}"),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
pub(super) struct InclusionQuery {
    id: String,
    size: Option<u64>,
}

pub(super) async fn inclusion_proof(
    State(node): State<AppState>,
    q: QueryResult<InclusionQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let id = Digest::from_hex(&q.id).map_err(|e| ApiError::bad("id", e))?;
    let svc = node.clone();
    let Some(ev) = blocking(move || svc.event_by_id(&id)).await? else {
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
    let svc = node.clone();
    let a = author.clone();
    let (root, proof) = blocking(move || svc.inclusion(&a, seq, size)).await?;
    Ok(Json(InclusionProof {
        author: author.to_string(),
        leaf_index: seq - 1,
        proof: hex_list(&proof),
        root: root.to_hex(),
        seq,
        size,
    }))
}

/// The id stored at `author`/`seq` in this node's feed.
async fn ledger_stored_id(
    node: &Arc<Node>,
    author: &AuthorId,
    seq: u64,
) -> Result<Option<Digest>, ApiError> {
    let svc = node.clone();
    let a = author.clone();
    Ok(blocking(move || svc.event_at(&a, seq)).await?.map(|s| s.id))
}

#[derive(Deserialize)]
pub(super) struct ConsistencyQuery {
    author: String,
    old: u64,
    new: Option<u64>,
}

pub(super) async fn consistency_proof(
    State(node): State<AppState>,
    q: QueryResult<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
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
    let svc = node.clone();
    let a = author.clone();
    let old = q.old;
    let (old_root, new_root, proof) = blocking(move || svc.consistency(&a, old, new)).await?;
    Ok(Json(ConsistencyProof {
        author: author.to_string(),
        new,
        new_root: new_root.to_hex(),
        old,
        old_root: old_root.to_hex(),
        proof: hex_list(&proof),
    }))
}

pub(super) async fn split_views(State(node): State<AppState>) -> Json<SplitViewsResponse> {
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
pub(super) async fn add_checkpoint(
    State(node): State<AppState>,
    body: axum::body::Bytes,
) -> Response {
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
pub(super) async fn bundle(State(node): State<AppState>, Path(number): Path<String>) -> ApiResult {
    if number.len() > 64 {
        return Err(ApiError::bad(
            "number",
            "certificate numbers are at most 64 characters",
        ));
    }
    let n = node.clone();
    let built = tokio::task::spawn_blocking(move || n.bundle(&number))
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
