//! The replica as it is: the charter, health and status, feeds and their
//! pages, events, certificates (one, or a filtered list), fork proofs,
//! verification, the key material of every feed, the membership on a day,
//! and the metrics.

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kpl_api::types::{
    CertificateList, CertificateView, CharterResponse, EventView, FeedHead, FeedKeys, FeedPage,
    FeedsResponse, ForkProofView, ForkSummary, ForksResponse, HealthResponse, KeyEpoch,
    KeysResponse, MembersResponse, ObserverKeys, PeerView, StatusResponse, VerifyResponse,
};
use ledger_core::analysis::{CertificateQuery, CertificateStatus, Direction};
use ledger_core::store::{CertificateRecord, StoredEvent};
use ledger_core::{AuthorId, CountryCode, Date, Digest};
use serde::Deserialize;

use super::analysis::{analysed_json, answered, JsonBytes};
use super::{blocking, date_param, ApiError, AppState, QueryResult};
use crate::service::{today, Identity};

/// Most events in one feed page.
const MAX_PAGE: usize = 1000;

pub(super) async fn charter(State(node): State<AppState>) -> Json<CharterResponse> {
    Json(CharterResponse {
        charter: node.charter().clone(),
        network_id: node.network_id().to_string(),
    })
}

/// `GET /v1/health`: always 200 while the API answers (reads are served);
/// `status` is `degraded`, with the reasons, while writes are refused or
/// failing: the store's last write failed after an I/O error, or this node
/// has not confirmed its own feed's head since it started.
pub(super) async fn health(State(node): State<AppState>) -> Json<HealthResponse> {
    let reasons = node.health_reasons();
    let status = if reasons.is_empty() { "ok" } else { "degraded" };
    Json(HealthResponse {
        network_id: node.network_id().to_string(),
        own_feed: node.own_feed.state().view(),
        reasons,
        status: status.to_owned(),
    })
}

/// `GET /v1/status`: the node, its peers and its replica in short.
pub(super) async fn status(State(node): State<AppState>) -> Result<Json<StatusResponse>, ApiError> {
    let net = node.net.status().await.ok();
    let svc = node.clone();
    let (heads, forks) =
        blocking(move || Ok((svc.feed_heads()?, svc.fork_proofs()?.len()))).await?;
    let peer_heads = node.peer_heads().await;
    let lag: std::collections::HashMap<String, u64> =
        node.sync_lag(&peer_heads).into_iter().collect();
    let charter = node.charter();
    let membership = node.timeline();
    let membership = membership.at(today());
    let peers: Vec<PeerView> = net
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
                    PeerView {
                        events_behind: lag.get(&id).copied(),
                        member,
                        peer_id: id,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(StatusResponse {
        checkpoints: node.checkpoints.all_latest().len() as u64,
        events: heads.iter().map(|h| h.seq).sum::<u64>(),
        feeds: heads.iter().map(FeedHead::from).collect(),
        fork_proofs: forks as u64,
        identity: node.identity.describe(),
        listen_addrs: net
            .as_ref()
            .map(|s| s.listen_addrs.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default(),
        network: charter.network.clone(),
        network_counters: net
            .as_ref()
            .map(|s| serde_json::to_value(&s.counters))
            .transpose()
            .map_err(|e| ApiError::internal(e.to_string()))?,
        network_id: node.network_id().to_hex(),
        peer_id: node.net.local_peer_id().to_string(),
        peers,
        read_only: matches!(node.identity, Identity::Observer { .. }),
        split_views: node.checkpoints.split_view_count() as u64,
        uptime_secs: node.started.elapsed().as_secs(),
    }))
}

pub(super) async fn feeds(State(node): State<AppState>) -> Result<Json<FeedsResponse>, ApiError> {
    let svc = node.clone();
    let (heads, forks) = blocking(move || Ok((svc.feed_heads()?, svc.fork_proofs()?))).await?;
    Ok(Json(FeedsResponse {
        feeds: heads.iter().map(FeedHead::from).collect(),
        fork_proofs: forks.iter().map(ForkSummary::from).collect(),
    }))
}

#[derive(Deserialize)]
pub(super) struct RangeQuery {
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

pub(super) async fn feed_range(
    State(node): State<AppState>,
    q: QueryResult<RangeQuery>,
) -> Result<Json<FeedPage>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let author: AuthorId = q
        .author
        .parse()
        .map_err(|e: String| ApiError::bad("author", e))?;
    if node.author_entry(&author).is_none() {
        return Err(ApiError::not_found(format!(
            "{author} is not an author of this network"
        )));
    }
    let limit = q.limit.clamp(1, MAX_PAGE);
    let svc = node.clone();
    if q.encoding.as_deref() == Some("hex") {
        let raw = blocking(move || svc.feed_page_raw(&author, q.from, limit)).await?;
        return Ok(Json(FeedPage::Hex {
            events_hex: raw.iter().map(hex::encode).collect(),
        }));
    }
    let evs = blocking(move || svc.feed_page(&author, q.from, limit)).await?;
    Ok(Json(FeedPage::Events {
        events: evs.iter().map(EventView::from).collect(),
    }))
}

pub(super) async fn event_by_id(
    State(node): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let id = Digest::from_hex(&id).map_err(|e| ApiError::bad("id", e))?;
    let svc = node.clone();
    match blocking(move || svc.event_by_id(&id)).await? {
        Some(s) => Ok(Json(stored_view(&s))),
        None => Err(ApiError::not_found(format!("no event {id}"))),
    }
}

pub(super) async fn certificate(
    State(node): State<AppState>,
    Path(number): Path<String>,
) -> Result<Json<CertificateView>, ApiError> {
    if number.len() > 64 {
        return Err(ApiError::bad(
            "number",
            "certificate numbers are at most 64 characters",
        ));
    }
    let svc = node.clone();
    let n = number.clone();
    let rec = blocking(move || svc.certificate_record(&n)).await?;
    if rec.is_empty() {
        return Err(ApiError::not_found(format!(
            "no event names certificate {number}"
        )));
    }
    Ok(Json(certificate_view(&number, &rec)))
}

pub(super) async fn forks(State(node): State<AppState>) -> Result<Json<ForksResponse>, ApiError> {
    let svc = node.clone();
    let forks = blocking(move || svc.fork_proofs()).await?;
    Ok(Json(ForksResponse {
        fork_proofs: forks.iter().map(ForkProofView::from).collect(),
    }))
}

pub(super) async fn verify(State(node): State<AppState>) -> Result<Json<VerifyResponse>, ApiError> {
    let svc = node.clone();
    let started = std::time::Instant::now();
    let r = blocking(move || svc.verify_replica()).await?;
    Ok(Json(VerifyResponse::of(
        &r,
        started.elapsed().as_millis() as u64,
    )))
}

/// Computes an analysis answer from the node's view of the whole replica,
/// off the async runtime ([`Node::analyse`]: on a thread of lowered
/// priority), at most [`crate::service::ANALYSIS_CONCURRENCY`] at once; with more than
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

#[derive(Deserialize)]
pub(super) struct CertificatesQuery {
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

pub(super) async fn certificates(
    State(node): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    q: QueryResult<CertificatesQuery>,
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
        let total = all.len() as u64;
        all.truncate(limit);
        Ok(answered(
            v,
            CertificateList {
                query,
                total,
                certificates: all,
            },
        ))
    })
    .await?;
    Ok(answer)
}
pub(super) async fn metrics(State(node): State<AppState>) -> Response {
    let svc = node.clone();
    let counts = tokio::task::spawn_blocking(move || {
        let heads = svc.feed_heads().unwrap_or_default();
        let forks = svc.fork_proofs().map(|f| f.len()).unwrap_or(0);
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

/// `GET /v1/keys`: the key material a client needs to check this
/// network's checkpoints and cosignatures with any C2SP tool: for each
/// authority feed its current key (the one that signs its checkpoints and
/// its cosignatures as a witness, which moves on with each rotation), the
/// note verifier key of its checkpoints, and its cosignature verifier key;
/// for each observer its witness key.
pub(super) async fn keys(State(node): State<AppState>) -> Result<Json<KeysResponse>, ApiError> {
    use ledger_core::tlog::checkpoint::{witness_name, WitnessId};
    use ledger_core::tlog::cosignature::CosignatureVerifier;
    use ledger_core::tlog::note::Ed25519Verifier;
    let svc = node.clone();
    let states = blocking(move || svc.feed_states()).await?;
    let charter = node.charter();
    let network_id = node.network_id();
    let timeline = node.timeline();
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
            key_epochs.push(KeyEpoch {
                checkpoint_sizes_below: epochs.get(i + 1).map(|n| n.from_seq - 1),
                checkpoint_sizes_from: e.from_seq.saturating_sub(1),
                checkpoint_vkey: vkey,
                from_seq: e.from_seq,
                key: e.key.to_hex(),
                witness_vkey: wkey,
            });
        }
        feeds.push(FeedKeys {
            author: author.to_string(),
            checkpoint_vkey,
            key: key.to_hex(),
            key_epochs,
            origin,
            since_seq: epochs.last().map_or(1, |e| e.from_seq),
            witness_name: wname,
            witness_vkey,
        });
    }
    let mut observers = Vec::new();
    for o in timeline.latest().observers.values() {
        let wname = witness_name(&charter.network, &network_id, WitnessId::Observer(&o.id))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let witness_vkey = CosignatureVerifier::new(&wname, &o.key)
            .map(|v| v.verifier_key().to_string())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        observers.push(ObserverKeys {
            key: o.key.to_hex(),
            observer: o.id.as_str().to_owned(),
            witness_name: wname,
            witness_vkey,
        });
    }
    Ok(Json(KeysResponse {
        feeds,
        network_id: network_id.to_hex(),
        observers,
    }))
}

#[derive(Deserialize)]
pub(super) struct MembersQuery {
    at: Option<String>,
}

/// `GET /v1/members?at=YYYY-MM-DD`: the membership in force on a day
/// (default: today, UTC), as this replica's governance timeline says.
pub(super) async fn members(
    State(node): State<AppState>,
    q: QueryResult<MembersQuery>,
) -> Result<Json<MembersResponse>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let at = match q.at.as_deref() {
        None | Some("") => today(),
        Some(s) => s.parse::<Date>().map_err(|e| ApiError::bad("at", e))?,
    };
    let t = node.timeline();
    let m = t.at(at);
    Ok(Json(MembersResponse {
        at,
        chair: m.chair,
        observers: m.observers.values().cloned().collect(),
        participants: m.participants.values().cloned().collect(),
    }))
}
