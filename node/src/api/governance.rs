//! Governance: proposals and approvals signed by this node's authority,
//! and the decisions this replica's timeline holds.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use kpl_api::types::{Created, DecisionView, GovernanceResponse, OrphanApproval, WriteReceipt};
use ledger_core::governance::Proposal;
use ledger_core::{AuthorId, Digest, EventBody};
use serde::Deserialize;

use super::auth::writer;
use super::writes::write_one;
use super::{force_of, ApiError, AppState, QueryResult, WriteQuery};
use crate::service::{today, Identity, Node, WriteError};

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
pub(super) async fn propose(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: QueryResult<WriteQuery>,
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
pub(super) async fn approve(
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
pub(super) async fn governance(State(node): State<AppState>) -> Json<GovernanceResponse> {
    let t = node.timeline();
    Json(GovernanceResponse {
        chair: t.at(today()).chair,
        decisions: t.decisions().to_vec(),
        orphan_approvals: t
            .orphan_approvals()
            .iter()
            .map(|(proposal, event)| OrphanApproval {
                event: event.clone(),
                proposal: proposal.to_hex(),
            })
            .collect(),
        quorum: t.quorum().to_string(),
    })
}

/// `GET /v1/governance/{id}`: one decision by its proposal event's id.
pub(super) async fn governance_decision(
    State(node): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DecisionView>, ApiError> {
    let id = Digest::from_hex(&id).map_err(|e| ApiError::bad("id", e))?;
    let t = node.timeline();
    match t.decision(&id) {
        Some(d) => Ok(Json(DecisionView(d.clone()))),
        None => Err(ApiError::not_found(format!(
            "no governance proposal {id} in this replica"
        ))),
    }
}
