//! The request and response bodies, and the API form of core types.
//!
//! Ids, digests and signatures are lower-case hex strings; authors are
//! written `participant/authority`. Fields are declared in alphabetical
//! order (see the crate documentation).

use ledger_core::charter::Charter;
use ledger_core::lifecycle::Corrected;
use ledger_core::replica::{BrokenFeed, VerifyFailure, VerifyReport};
use ledger_core::{Digest, EventBody, ForkProof, SignedEvent};
use serde::{Deserialize, Serialize, Serializer};

mod analysis;
mod governance;
mod proofs;
mod status;

pub use analysis::{
    Analysed, AuditResponse, CertificateList, PartialView, TraceResponse, UnreadableView,
};
pub use governance::{DecisionView, GovernanceResponse, MembersResponse, OrphanApproval};
pub use proofs::{
    ConsistencyProof, FeedKeys, InclusionProof, KeyEpoch, KeysResponse, ObserverKeys,
};
pub use status::{PeerView, StatusResponse};

/// A core type written with its object keys in alphabetical order at every
/// depth, as every other object of the API is.
fn sorted<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// One signed event as the API shows it: its id, its place, and its body
/// (the body in the ledger's own JSON form).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventView {
    pub author: String,
    #[serde(serialize_with = "sorted")]
    #[schema(value_type = Object)]
    pub body: EventBody,
    pub id: String,
    pub kind: String,
    pub prev: Option<String>,
    pub seq: u64,
    pub signature: String,
    pub timestamp_ms: u64,
}

impl EventView {
    /// The view of `event`, whose id the caller already knows.
    pub fn of(id: &Digest, event: &SignedEvent) -> EventView {
        let c = &event.content;
        EventView {
            author: c.author.to_string(),
            body: c.body.clone(),
            id: id.to_string(),
            kind: c.body.kind().to_owned(),
            prev: c.prev.as_ref().map(Digest::to_string),
            seq: c.seq,
            signature: event.signature.to_string(),
            timestamp_ms: c.timestamp_ms,
        }
    }
}

impl From<&SignedEvent> for EventView {
    fn from(event: &SignedEvent) -> EventView {
        EventView::of(&event.id(), event)
    }
}

/// The head of one feed: its author, last seq and last event id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedHead {
    pub author: String,
    /// `null` for a feed with no event yet.
    pub id: Option<String>,
    pub seq: u64,
}

impl From<&ledger_core::store::FeedHead> for FeedHead {
    fn from(h: &ledger_core::store::FeedHead) -> FeedHead {
        FeedHead {
            author: h.author.to_string(),
            id: h.id.as_ref().map(Digest::to_string),
            seq: h.seq,
        }
    }
}

/// A fork proof in short: the author, the place, the two event ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForkSummary {
    pub author: String,
    pub first: String,
    pub second: String,
    pub seq: u64,
}

impl From<&ForkProof> for ForkSummary {
    fn from(p: &ForkProof) -> ForkSummary {
        let (a, b) = p.ids();
        ForkSummary {
            author: p.author().to_string(),
            first: a.to_string(),
            second: b.to_string(),
            seq: p.seq(),
        }
    }
}

/// A fork proof in full: both events, and the proof's canonical encoding
/// in hex (what `kpl verify-fork` checks offline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForkProofView {
    pub author: String,
    pub first: String,
    pub first_event: EventView,
    pub proof_hex: String,
    pub second: String,
    pub second_event: EventView,
    pub seq: u64,
}

impl From<&ForkProof> for ForkProofView {
    fn from(p: &ForkProof) -> ForkProofView {
        let (a, b) = p.ids();
        ForkProofView {
            author: p.author().to_string(),
            first: a.to_string(),
            first_event: EventView::of(&a, &p.first),
            proof_hex: hex::encode(p.encode()),
            second: b.to_string(),
            second_event: EventView::of(&b, &p.second),
            seq: p.seq(),
        }
    }
}

/// `GET /v1/feeds`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedsResponse {
    pub feeds: Vec<FeedHead>,
    pub fork_proofs: Vec<ForkSummary>,
}

/// `GET /v1/feed`: a page of events, as JSON views or (`encoding=hex`) as
/// their canonical encodings in hex.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum FeedPage {
    Events { events: Vec<EventView> },
    Hex { events_hex: Vec<String> },
}

/// `GET /v1/forks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForksResponse {
    pub fork_proofs: Vec<ForkProofView>,
}

/// `GET /v1/charter`: the charter in its own JSON form, and its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CharterResponse {
    #[serde(serialize_with = "sorted")]
    #[schema(value_type = Object)]
    pub charter: Charter,
    pub network_id: String,
}

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthResponse {
    pub network_id: String,
    pub own_feed: Option<OwnFeedView>,
    pub reasons: Vec<String>,
    /// `ok`, or `degraded` while writes are refused or failing.
    pub status: String,
}

/// Whether this node confirmed its own feed's head since it started:
/// confirmed (`seq`, by `peers` members or by the operator), or refused
/// (`reason`, `message`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OwnFeedView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_operator: Option<bool>,
    pub confirmed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// The answer to one write: the event's id and seq once durable; whether
/// it had been signed before (a retry); the refusal it was signed despite
/// (`?force=true`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WriteReceipt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub already_signed: Option<bool>,
    /// The signing author, on a governance proposal's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub durable: bool,
    pub id: String,
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_despite: Option<SignedDespite>,
}

/// `POST /v1/certificates/batch`: one result per certificate, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
}

/// A certificate of a batch: written, or refused with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BatchResult {
    Refused { error: BatchRefusal },
    Written(WriteReceipt),
}

/// Why one certificate of a batch was not written: the ledger rule (absent
/// when the certificate itself is malformed), the field, the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchRefusal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

/// `POST /v1/keys/rotate`: the rotation's place and the new key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotateReceipt {
    pub durable: bool,
    pub id: String,
    pub new_public_key: String,
    pub next_key_digest: String,
    pub seq: u64,
}

/// The rule a forced write broke, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedDespite {
    pub message: String,
    pub rule: String,
}

/// The answer to a write that names its author (key rotations,
/// governance proposals and approvals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Created {
    pub author: String,
    pub durable: bool,
    pub id: String,
    pub seq: u64,
}

/// `GET /v1/verify`: the replica checked from its log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerifyResponse {
    pub broken_feeds: Vec<BrokenFeedView>,
    pub elapsed_ms: u64,
    pub events: u64,
    pub failure: Option<VerifyFailureView>,
    pub failure_count: u64,
    pub failures: Vec<VerifyFailureView>,
    pub feeds: u64,
    pub fork_proofs: u64,
    pub log_bytes: u64,
    pub ok: bool,
    pub unverified: u64,
}

impl VerifyResponse {
    pub fn of(r: &VerifyReport, elapsed_ms: u64) -> VerifyResponse {
        VerifyResponse {
            broken_feeds: r.broken_feeds.iter().map(BrokenFeedView::from).collect(),
            elapsed_ms,
            events: r.events,
            failure: r.failure().map(VerifyFailureView::from),
            failure_count: r.failure_count,
            failures: r.failures.iter().map(VerifyFailureView::from).collect(),
            feeds: r.feeds,
            fork_proofs: r.fork_proofs,
            log_bytes: r.log_bytes,
            ok: r.is_ok(),
            unverified: r.unverified,
        }
    }
}

/// One record that failed verification, placed as far as it can be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerifyFailureView {
    pub author: Option<String>,
    pub event_id: Option<String>,
    pub offset: Option<u64>,
    pub reason: String,
    pub seq: Option<u64>,
}

impl From<&VerifyFailure> for VerifyFailureView {
    fn from(f: &VerifyFailure) -> VerifyFailureView {
        VerifyFailureView {
            author: f.author.as_ref().map(|a| a.to_string()),
            event_id: f.id.as_ref().map(Digest::to_string),
            offset: f.offset,
            reason: f.reason.clone(),
            seq: f.seq,
        }
    }
}

/// A feed whose events from `from_seq` on could not be verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokenFeedView {
    pub author: String,
    pub from_seq: u64,
    pub unverified: u64,
}

impl From<&BrokenFeed> for BrokenFeedView {
    fn from(b: &BrokenFeed) -> BrokenFeedView {
        BrokenFeedView {
            author: b.author.to_string(),
            from_seq: b.from_seq,
            unverified: b.unverified,
        }
    }
}

/// `GET /v1/certificates/{number}`: every event naming one certificate,
/// and the status they give it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertificateView {
    pub confirmations: Vec<EventView>,
    #[serde(serialize_with = "sorted")]
    #[schema(value_type = Option<Object>)]
    pub corrected: Option<Corrected>,
    pub corrections: Vec<EventView>,
    pub fork_proofs: Vec<ForkProofView>,
    pub issued: Vec<EventView>,
    pub number: String,
    /// `issued`, `confirmed`, `voided`, `forked` or `never_issued`.
    pub status: String,
    pub voids: Vec<EventView>,
}

/// The latest checkpoint held of one feed: its note (the signed text, as
/// c2sp.org/tlog-checkpoint writes it) and the witnesses' cosignatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointView {
    pub author: String,
    pub cosignatures: Vec<CosignatureView>,
    pub note: String,
    pub origin: String,
    pub root: String,
    pub size: u64,
}

/// One witness's cosignature of a checkpoint: its name and when it signed
/// (seconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CosignatureView {
    pub timestamp: u64,
    pub witness: String,
}

/// `GET /v1/checkpoints`: the latest checkpoint of every feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointsResponse {
    pub checkpoints: Vec<CheckpointView>,
}

/// One side of a split view: the tree size and root a signed checkpoint
/// claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TreeHead {
    pub root: String,
    pub size: u64,
}

impl From<&ledger_core::tlog::checkpoint::Checkpoint> for TreeHead {
    fn from(c: &ledger_core::tlog::checkpoint::Checkpoint) -> TreeHead {
        TreeHead {
            root: c.root.to_string(),
            size: c.size,
        }
    }
}

/// A proof that one log signed two checkpoints that cannot both be true:
/// both notes, the consistency path that fails between them, and the
/// proof's canonical encoding in hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SplitViewView {
    pub author: String,
    pub first: TreeHead,
    pub first_note: String,
    pub hash: String,
    pub origin: String,
    pub path: Vec<String>,
    pub proof_hex: String,
    pub second: TreeHead,
    pub second_note: String,
}

/// `GET /v1/split-views`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SplitViewsResponse {
    pub split_views: Vec<SplitViewView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_written_as_the_node_always_wrote_them() {
        let r = WriteReceipt {
            already_signed: None,
            author: None,
            durable: true,
            id: "ab".into(),
            seq: 7,
            signed_despite: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"durable":true,"id":"ab","seq":7}"#
        );
        let forced = WriteReceipt {
            signed_despite: Some(SignedDespite {
                message: "m".into(),
                rule: "r".into(),
            }),
            ..r
        };
        assert_eq!(
            serde_json::to_string(&forced).unwrap(),
            r#"{"durable":true,"id":"ab","seq":7,"signed_despite":{"message":"m","rule":"r"}}"#
        );
    }

    #[test]
    fn a_batch_result_reads_back_as_what_it_is() {
        let written: BatchResult =
            serde_json::from_str(r#"{"durable":true,"id":"ab","seq":1}"#).unwrap();
        assert!(matches!(written, BatchResult::Written(_)));
        let refused: BatchResult =
            serde_json::from_str(r#"{"error":{"field":"number","message":"twice"}}"#).unwrap();
        assert!(matches!(refused, BatchResult::Refused { .. }));
        assert_eq!(
            serde_json::to_string(&refused).unwrap(),
            r#"{"error":{"field":"number","message":"twice"}}"#
        );
    }

    #[test]
    fn proofs_and_keys_are_written_as_the_node_always_wrote_them() {
        let p = InclusionProof {
            author: "BW/mme".into(),
            leaf_index: 2,
            proof: vec!["aa".into()],
            root: "bb".into(),
            seq: 3,
            size: 4,
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"author":"BW/mme","leaf_index":2,"proof":["aa"],"root":"bb","seq":3,"size":4}"#
        );
        let e = KeyEpoch {
            checkpoint_sizes_below: None,
            checkpoint_sizes_from: 0,
            checkpoint_vkey: "c".into(),
            from_seq: 1,
            key: "k".into(),
            witness_vkey: "w".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"checkpoint_sizes_below":null,"checkpoint_sizes_from":0,"checkpoint_vkey":"c","from_seq":1,"key":"k","witness_vkey":"w"}"#
        );
    }

    #[test]
    fn partial_comes_after_the_answer_and_only_when_partial() {
        let whole = Analysed {
            answer: TreeHead {
                root: "r".into(),
                size: 1,
            },
            partial: None,
        };
        assert_eq!(
            serde_json::to_string(&whole).unwrap(),
            r#"{"root":"r","size":1}"#
        );
        let partial = Analysed {
            partial: Some(PartialView {
                first_offset: 8,
                unreadable: vec![UnreadableView {
                    author: None,
                    offset: 8,
                    reason: "crc".into(),
                    seq: None,
                    to: 16,
                }],
                unreadable_records: 1,
            }),
            ..whole
        };
        let text = serde_json::to_string(&partial).unwrap();
        assert_eq!(
            text,
            r#"{"root":"r","size":1,"partial":{"first_offset":8,"unreadable":[{"author":null,"offset":8,"reason":"crc","seq":null,"to":16}],"unreadable_records":1}}"#
        );
        let back: Analysed<TreeHead> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, partial);
    }
}
