//! `GET /v1/status`: the node, its peers and its replica in short.

use serde::{Deserialize, Serialize};

use super::FeedHead;

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusResponse {
    /// Checkpoints held (the latest of each feed).
    pub checkpoints: u64,
    /// Events in this node's store.
    pub events: u64,
    pub feeds: Vec<FeedHead>,
    pub fork_proofs: u64,
    /// This node's identity in words (its authority, or its observer).
    pub identity: String,
    pub listen_addrs: Vec<String>,
    /// The network's name in the charter.
    pub network: String,
    /// The network layer's counters (`null` when it did not answer).
    #[schema(value_type = Option<Object>)]
    pub network_counters: Option<serde_json::Value>,
    pub network_id: String,
    pub peer_id: String,
    pub peers: Vec<PeerView>,
    /// An observer node: it never writes.
    pub read_only: bool,
    pub split_views: u64,
    pub uptime_secs: u64,
}

/// One connected peer: its id, the member whose node it is, and how many
/// events it is behind this node (`null` until it announced its heads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerView {
    pub events_behind: Option<u64>,
    /// `participant XX`, `observer NAME` or `unknown`.
    pub member: String,
    pub peer_id: String,
}
