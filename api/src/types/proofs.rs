//! The key material of the network's logs and witnesses, and the Merkle
//! proofs of one feed's log.

use serde::{Deserialize, Serialize};

/// `GET /v1/keys`: for each authority feed its current key, the note
/// verifier key of its checkpoints and its cosignature verifier key, epoch
/// by epoch; for each observer its witness key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeysResponse {
    pub feeds: Vec<FeedKeys>,
    pub network_id: String,
    pub observers: Vec<ObserverKeys>,
}

/// One authority feed's keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedKeys {
    pub author: String,
    /// The note verifier key of its checkpoints (c2sp.org/signed-note).
    pub checkpoint_vkey: String,
    /// The key in force now, in hex.
    pub key: String,
    pub key_epochs: Vec<KeyEpoch>,
    /// The origin line of its checkpoints.
    pub origin: String,
    pub since_seq: u64,
    pub witness_name: String,
    /// Its cosignature verifier key as a witness (c2sp.org/tlog-cosignature).
    pub witness_vkey: String,
}

/// One key of a feed, from the event that put it in force: the checkpoint
/// sizes it signs are `checkpoint_sizes_from` up to, not including,
/// `checkpoint_sizes_below` (`null`: the key in force now).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyEpoch {
    pub checkpoint_sizes_below: Option<u64>,
    pub checkpoint_sizes_from: u64,
    pub checkpoint_vkey: String,
    pub from_seq: u64,
    pub key: String,
    pub witness_vkey: String,
}

/// One observer's witness key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObserverKeys {
    pub key: String,
    pub observer: String,
    pub witness_name: String,
    pub witness_vkey: String,
}

/// `GET /v1/proofs/inclusion`: the audit path of one event (leaf
/// `seq - 1`) in its feed's tree of `size` leaves, whose root is `root`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionProof {
    pub author: String,
    pub leaf_index: u64,
    pub proof: Vec<String>,
    pub root: String,
    pub seq: u64,
    pub size: u64,
}

/// `GET /v1/proofs/consistency`: that the feed's tree of `new` leaves
/// extends its tree of `old` leaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub author: String,
    pub new: u64,
    pub new_root: String,
    pub old: u64,
    pub old_root: String,
    pub proof: Vec<String>,
}
