//! What the node's analysis view computes: the audit, statistics and a
//! certificate's trace, each off the async runtime within the analysis
//! limits, serialised where it was computed, and marked `partial` when
//! records of the log could not be read.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kpl_api::error::codes;
use kpl_api::types::{Analysed, AuditResponse, PartialView, TraceResponse};
use ledger_core::analysis::{
    AuditParams, CertificateQuery, CertificateStatus, FindingKind, LedgerView, Severity,
};
use ledger_core::CountryCode;
use serde::Deserialize;
use serde_json::Value;

use super::{date_param, ApiError, AppState, QueryResult};
use crate::service::{now_ms, Node};

/// Computes an analysis answer from the node's view of the whole replica,
/// off the async runtime ([`Node::analyse`]: on a thread of lowered
/// priority), at most [`crate::service::ANALYSIS_CONCURRENCY`] at once; with more than
/// [`crate::service::ANALYSIS_MAX_WAITING`] requests already waiting, `503`
/// (`busy`). The view is first brought up to date with the events stored
/// since (one update at a time). A view built while records of the log
/// could not be read is partial: every answer from it carries `partial`
/// ([`answered`]).
pub(super) async fn analysed<T: Send + 'static>(
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
pub(super) struct JsonBytes(Vec<u8>);

impl IntoResponse for JsonBytes {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// [`analysed`], with the answer serialised on the analysis thread.
pub(super) async fn analysed_json<S: serde::Serialize>(
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
pub(super) fn answered<T: serde::Serialize>(v: &LedgerView, answer: T) -> Analysed<T> {
    Analysed {
        answer,
        partial: v.partial().map(PartialView::from),
    }
}

/// The `partial` key of an answer from view `v`, if it is partial.
pub fn partial_json(v: &LedgerView) -> Option<Value> {
    v.partial()
        .and_then(|p| serde_json::to_value(PartialView::from(p)).ok())
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
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

pub(super) async fn audit(
    State(node): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    q: QueryResult<AuditQuery>,
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
        Ok(answered(
            v,
            AuditResponse {
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
pub(super) struct StatsQuery {
    year: i32,
    quarter: Option<u8>,
}

pub(super) async fn stats(
    State(node): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    q: QueryResult<StatsQuery>,
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
        Ok(answered(v, v.stats(q.year, q.quarter)))
    })
    .await?;
    Ok(answer)
}

pub(super) async fn trace(
    State(node): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(number): Path<String>,
) -> Result<JsonBytes, ApiError> {
    let now = now_ms();
    let answer = analysed_json(&node, client.ip(), move |v| match v.trace_at(&number, &AuditParams::new(now)) {
        Some(t) => Ok(answered(
            v,
            TraceResponse {
                by_origin: t.carats_by_origin(),
                tree: t.render_tree(),
                trace: t,
            },
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
