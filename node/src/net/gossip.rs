//! Push: gossipsub topics, message ids and settings.
//!
//! # Settings, and why
//!
//! - **Message id = event id.** The id of a message on the events topic is
//!   the 32-byte event id (`SHA-256("kp-ledger:event\0" || canonical
//!   content)`), so the same event published by two nodes, or re-published
//!   after anti-entropy, is one message everywhere and duplicates are
//!   dropped by every node's duplicate cache. Data that does not decode as an
//!   event (and every fork-proof message) gets
//!   `SHA-256("kp-ledger:gossip\0" || data)`, which can never equal an event id.
//! - **Signing: `MessageAuthenticity::Signed` + `ValidationMode::Strict`.**
//!   Events already carry their authority's Ed25519 signature, so gossipsub
//!   signing adds nothing to the integrity of the ledger. It is kept on anyway
//!   because (1) it is the default of go-, js- and rust-libp2p, so another
//!   implementation joins with its defaults; (2) the authenticated `source`
//!   lets every node refuse a message whose *originating* node is not in the
//!   charter, not only one whose forwarding neighbour is not (a member cannot
//!   launder an outsider's traffic without signing it as its own, which makes
//!   it accountable); (3) the cost (one Ed25519 check and ~140 bytes per
//!   message) is small for the ledger's traffic (thousands of certificates a
//!   year, not per second).
//! - **Manual validation** (`validate_messages`): nothing is forwarded before
//!   the application has checked the event against its feed and reported
//!   Accept / Reject / Ignore. Reject lowers the forwarding peer's score
//!   (P4 below); Ignore drops the message without penalty.
//! - **Max transmit size**: 80 KiB on the events topic (an event is at most
//!   64 KiB, plus the gossipsub envelope and signature); 208 KiB on the forks
//!   topic (a fork proof is at most 192 KiB); 48 KiB on the checkpoints topic
//!   (a signed checkpoint note is at most 32 KiB here); 80 KiB on the
//!   split-views topic (a split-view proof is at most 64 KiB here).
//! - **Peer scoring** is on, tuned for a small, sparse, known network. Per
//!   topic: P4 (invalid deliveries) weight -10 on the squared count of
//!   rejected messages, the count decaying 1 % a second (half-life ≈ 69 s);
//!   P2 (first deliveries) weight 1, capped at 10; P1 (time in mesh), P3
//!   and P3b (mesh delivery deficit) off, since the traffic is too sparse
//!   to expect a delivery rate; IP colocation off, since membership is
//!   already gated by the charter. With the default thresholds (gossip -10,
//!   publish -50, graylist -80), a handful of rejected messages cuts a
//!   peer off gossip for a minute or two. Anti-entropy is not score-gated.
//! - Protocol ids, heartbeat and mesh sizes are the libp2p defaults
//!   (`/meshsub/1.3.0` … `/meshsub/1.0.0`, 1 s, D = 6), flood publishing on;
//!   the first heartbeat comes after 1 s instead of 5 s, and the duplicate
//!   cache keeps ids for 10 minutes instead of 1.

use std::collections::HashMap;
use std::time::Duration;

use ledger_core::codec::{FORMAT_VERSION, MAX_EVENT_BYTES, MAX_FORK_PROOF_BYTES};
use ledger_core::event::EVENT_CONTEXT;
use ledger_core::hash::sha256;
use ledger_core::Digest;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicHash, TopicScoreParams, ValidationMode,
};
use libp2p::identity::Keypair;

/// Domain separation for ids of gossip data that is not an event.
pub const GOSSIP_ID_CONTEXT: &[u8] = b"kp-ledger:gossip\0";

/// Max transmit size of the events topic.
pub const MAX_EVENT_MESSAGE_BYTES: usize = MAX_EVENT_BYTES + 16 * 1024;
/// Max transmit size of the fork-proof topic.
pub const MAX_FORK_MESSAGE_BYTES: usize = MAX_FORK_PROOF_BYTES + 16 * 1024;

/// Largest payload of the checkpoints topic: one signed checkpoint note
/// (its text, the log's signature and cosignature lines).
pub const MAX_CHECKPOINT_NOTE_BYTES: usize = 32 * 1024;
/// Max transmit size of the checkpoints topic.
pub const MAX_CHECKPOINT_MESSAGE_BYTES: usize = MAX_CHECKPOINT_NOTE_BYTES + 16 * 1024;
/// Largest payload of the split-views topic: one canonical encoded
/// split-view proof (its notes carry only the log's signatures).
pub const MAX_SPLIT_VIEW_GOSSIP_BYTES: usize = 64 * 1024;
/// Max transmit size of the split-views topic.
pub const MAX_SPLIT_VIEW_MESSAGE_BYTES: usize = MAX_SPLIT_VIEW_GOSSIP_BYTES + 16 * 1024;

/// The events topic of a network: `kp-ledger/<network id hex>/events/1`.
pub fn events_topic(network: &Digest) -> IdentTopic {
    IdentTopic::new(format!("kp-ledger/{}/events/1", network.to_hex()))
}

/// The fork-proof topic of a network: `kp-ledger/<network id hex>/forks/1`.
pub fn forks_topic(network: &Digest) -> IdentTopic {
    IdentTopic::new(format!("kp-ledger/{}/forks/1", network.to_hex()))
}

/// The checkpoints topic of a network:
/// `kp-ledger/<network id hex>/checkpoints/1`. Payload: a signed checkpoint
/// note (c2sp.org/tlog-checkpoint) of one feed, signed by the feed's
/// authority, with zero or more witness cosignature lines.
pub fn checkpoints_topic(network: &Digest) -> IdentTopic {
    IdentTopic::new(format!("kp-ledger/{}/checkpoints/1", network.to_hex()))
}

/// The split-views topic of a network:
/// `kp-ledger/<network id hex>/split-views/1`. Payload: a canonical encoded
/// `SplitViewProof`.
pub fn split_views_topic(network: &Digest) -> IdentTopic {
    IdentTopic::new(format!("kp-ledger/{}/split-views/1", network.to_hex()))
}

/// The message id of `data` published on the events topic, computed from
/// the bytes alone, with no decoder: when `data` has the form of an encoded
/// event (its version byte `0x01`, at most [`MAX_EVENT_BYTES`], longer
/// than the 64 signature bytes that end it), `SHA-256("kp-ledger:event\0"
/// || data without its last 64 bytes)`, which for an event is its id (an
/// encoded event is its content then its signature: docs/FORMAT.md §5);
/// else `SHA-256("kp-ledger:gossip\0" || data)`.
pub fn event_message_id(data: &[u8]) -> MessageId {
    match data.len().checked_sub(SIGNATURE_BYTES) {
        Some(content)
            if content > 0 && data.len() <= MAX_EVENT_BYTES && data[0] == FORMAT_VERSION =>
        {
            MessageId::new(sha256(&[EVENT_CONTEXT, &data[..content]]).as_bytes())
        }
        _ => other_message_id(data),
    }
}

/// The signature that ends an encoded event.
const SIGNATURE_BYTES: usize = 64;

/// The message id of non-event data (fork proofs, garbage).
pub fn other_message_id(data: &[u8]) -> MessageId {
    MessageId::new(sha256(&[GOSSIP_ID_CONTEXT, data]).as_bytes())
}

/// Builds the gossipsub behaviour, subscribed to nothing yet.
pub(crate) fn behaviour(
    keypair: &Keypair,
    network: &Digest,
) -> Result<gossipsub::Behaviour, String> {
    let events = events_topic(network).hash();
    let forks = forks_topic(network).hash();
    let checkpoints = checkpoints_topic(network).hash();
    let split_views = split_views_topic(network).hash();
    let events_for_id = events.clone();
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(move |m: &gossipsub::Message| {
            if m.topic == events_for_id {
                event_message_id(&m.data)
            } else {
                other_message_id(&m.data)
            }
        })
        .max_transmit_size(MAX_EVENT_MESSAGE_BYTES)
        .max_transmit_size_for_topic(MAX_FORK_MESSAGE_BYTES, forks.clone())
        .max_transmit_size_for_topic(MAX_CHECKPOINT_MESSAGE_BYTES, checkpoints.clone())
        .max_transmit_size_for_topic(MAX_SPLIT_VIEW_MESSAGE_BYTES, split_views.clone())
        .heartbeat_interval(Duration::from_secs(1))
        .heartbeat_initial_delay(Duration::from_secs(1))
        .duplicate_cache_time(Duration::from_secs(10 * 60))
        .build()
        .map_err(|e| format!("gossipsub config: {e}"))?;
    let mut b = gossipsub::Behaviour::new(MessageAuthenticity::Signed(keypair.clone()), config)
        .map_err(|e| format!("gossipsub: {e}"))?;
    let mut topics = HashMap::new();
    topics.insert(events, topic_score());
    topics.insert(forks, topic_score());
    topics.insert(checkpoints, topic_score());
    topics.insert(split_views, topic_score());
    let params = PeerScoreParams {
        topics,
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    b.with_peer_score(params, PeerScoreThresholds::default())
        .map_err(|e| format!("gossipsub scoring: {e}"))?;
    Ok(b)
}

fn topic_score() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        // P1 off: no credit for merely staying in the mesh.
        time_in_mesh_weight: 0.0,
        // P2: a little credit for first deliveries.
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 10.0,
        // P3 / P3b off: traffic is too sparse for a delivery-rate target.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: rejected messages.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
        ..TopicScoreParams::default()
    }
}

/// The topics of one network, by hash.
#[derive(Clone, Debug)]
pub(crate) struct Topics {
    pub events: TopicHash,
    pub forks: TopicHash,
    pub checkpoints: TopicHash,
    pub split_views: TopicHash,
}

impl Topics {
    pub(crate) fn of(network: &Digest) -> Topics {
        Topics {
            events: events_topic(network).hash(),
            forks: forks_topic(network).hash(),
            checkpoints: checkpoints_topic(network).hash(),
            split_views: split_views_topic(network).hash(),
        }
    }

    /// Which of the network's topics `topic` is.
    pub(crate) fn kind(&self, topic: &TopicHash) -> TopicKind {
        if topic == &self.events {
            TopicKind::Events
        } else if topic == &self.forks {
            TopicKind::Forks
        } else if topic == &self.checkpoints {
            TopicKind::Checkpoints
        } else if topic == &self.split_views {
            TopicKind::SplitViews
        } else {
            TopicKind::Other
        }
    }

    pub(crate) fn hash(&self, kind: TopicKind) -> Option<&TopicHash> {
        match kind {
            TopicKind::Events => Some(&self.events),
            TopicKind::Forks => Some(&self.forks),
            TopicKind::Checkpoints => Some(&self.checkpoints),
            TopicKind::SplitViews => Some(&self.split_views),
            TopicKind::Other => None,
        }
    }
}

/// The gossip topics of a network.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TopicKind {
    Events,
    Forks,
    Checkpoints,
    SplitViews,
    Other,
}

impl TopicKind {
    /// Largest payload published on the topic.
    pub fn max_payload(self) -> usize {
        match self {
            TopicKind::Events | TopicKind::Other => MAX_EVENT_BYTES,
            TopicKind::Forks => MAX_FORK_PROOF_BYTES,
            TopicKind::Checkpoints => MAX_CHECKPOINT_NOTE_BYTES,
            TopicKind::SplitViews => MAX_SPLIT_VIEW_GOSSIP_BYTES,
        }
    }

    /// Max transmit size of the topic.
    pub fn max_message(self) -> usize {
        match self {
            TopicKind::Events | TopicKind::Other => MAX_EVENT_MESSAGE_BYTES,
            TopicKind::Forks => MAX_FORK_MESSAGE_BYTES,
            TopicKind::Checkpoints => MAX_CHECKPOINT_MESSAGE_BYTES,
            TopicKind::SplitViews => MAX_SPLIT_VIEW_MESSAGE_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::testkit::{sample_certificate, test_charter, FeedWriter};
    use ledger_core::{AuthorId, CountryCode, EventBody};

    #[test]
    fn an_events_message_id_is_its_event_id_computed_without_decoding() {
        let charter = test_charter(&["BW", "ZA"]);
        let mut w = FeedWriter::new(charter.network_id(), AuthorId::new("BW", "mme").unwrap());
        for n in 1..=5 {
            let code = |c| CountryCode::new(c).unwrap();
            let ev = w.next(
                EventBody::CertificateIssued(sample_certificate(code("BW"), code("ZA"), n)),
                1_800_000_000_000 + n,
            );
            let bytes = ev.encode();
            assert_eq!(event_message_id(&bytes), MessageId::new(ev.id().as_bytes()));
            // The same content under another signature is the same message.
            let mut resigned = bytes.clone();
            let last = resigned.len() - 1;
            resigned[last] ^= 1;
            assert_eq!(event_message_id(&resigned), event_message_id(&bytes));
        }
    }

    #[test]
    fn bytes_not_in_the_form_of_an_event_get_the_gossip_hash() {
        let gossip = |d: &[u8]| MessageId::new(sha256(&[GOSSIP_ID_CONTEXT, d]).as_bytes());
        let other_version = [[2u8].as_slice(), &[0u8; 100]].concat();
        let too_large = vec![FORMAT_VERSION; MAX_EVENT_BYTES + 1];
        for d in [
            &[][..],
            &[FORMAT_VERSION][..],
            &[FORMAT_VERSION; 64][..],
            &other_version[..],
            &too_large[..],
        ] {
            assert_eq!(event_message_id(d), gossip(d), "{} bytes", d.len());
        }
        // The form alone decides: 65 bytes starting with the version byte
        // are hashed as an event's content, whether they decode or not.
        let short = [FORMAT_VERSION; 65];
        assert_eq!(
            event_message_id(&short),
            MessageId::new(sha256(&[EVENT_CONTEXT, &short[..1]]).as_bytes())
        );
    }
}
