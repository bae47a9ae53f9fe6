//! The network layer of a participant node: libp2p over TCP + Noise + Yamux,
//! with identify, a membership gate (the allowed peer ids, kept current by
//! the application from its governance timeline), gossipsub push and a
//! request-response pull (anti-entropy).
//!
//! It knows nothing of storage: the application serves sync requests through
//! [`SyncSource`], receives everything from the network as [`NetEvent`]s, and
//! drives the layer through a [`NetworkHandle`]. It never verifies event
//! signatures or feed rules: the application does, and reports gossip
//! verdicts back ([`NetworkHandle::report_validation`]) and whether fetched
//! ranges were applied ([`NetworkHandle::fetch_applied`]). Checkpoints and
//! split-view proofs travel on their own topics and are checked by the
//! application too (`crate::checkpoints`).
//!
//! ```text
//!   application ──NetworkHandle (commands)──▶ ┌──────────────┐ ◀─▶ libp2p swarm
//!   application ◀──mpsc::Receiver<NetEvent>── │ network task │
//!   SyncSource (heads, ranges) ◀─blocking──── └──────────────┘
//! ```
//!
//! Wire details another implementation needs are in `node/NETWORK.md`; the
//! gossipsub settings and their reasons in [`gossip`]; the sync protocol and
//! its codec in [`wire`].
//!
//! Every queue is bounded: commands (the handle waits when full), events to
//! the application (dropped and counted when full; a dropped gossip message
//! is reported as Ignore, a dropped fetch is retried at the next sync round),
//! requests in flight per peer, requests being served, and frame sizes.

mod driver;
pub mod gossip;
pub mod pending;
mod transport;
pub mod wire;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ledger_core::{AuthorId, Charter};
use tokio::sync::{mpsc, oneshot};

pub use libp2p::gossipsub::{MessageAcceptance as Validation, MessageId};
pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId};
pub use wire::FeedHeadWire;

/// What the network layer needs from storage to serve other nodes.
///
/// Both methods are called on a blocking thread (`spawn_blocking`), never on
/// the network task, so they may read from disk.
pub trait SyncSource: Send + Sync + 'static {
    /// The head of every feed held: (author, last sequence number, id there).
    fn heads(&self) -> Vec<FeedHeadWire>;
    /// Up to `max` canonical encoded events of `author`'s feed, in order,
    /// starting at `from_seq` (fewer, or none, when the feed is shorter).
    fn range(&self, author: &AuthorId, from_seq: u64, max: usize) -> Vec<Vec<u8>>;
}

/// Limits on queues and concurrency. Every default is conservative for a
/// network of some hundreds of nodes.
#[derive(Clone, Debug)]
pub struct NetLimits {
    /// Capacity of the [`NetEvent`] channel to the application.
    pub event_queue: usize,
    /// Capacity of the command channel from the handles.
    pub command_queue: usize,
    /// Most sync requests this node has in flight to one peer.
    pub max_outbound_requests_per_peer: usize,
    /// Most sync requests of one peer this node serves at once (more get `Busy`).
    pub max_inbound_requests_per_peer: usize,
    /// Most sync requests this node serves at once, all peers together.
    pub max_inbound_requests_total: usize,
    /// Events asked for in one `Range` request (at most `wire::MAX_RANGE_EVENTS`).
    pub range_batch: u32,
    /// Most ranges of one feed asked for ahead of what has been applied
    /// (asked, answered and waiting for an earlier range, or handed to the
    /// application and not yet reported applied). More than one lets the
    /// peer's reads and the transfer overlap this node's verification and
    /// writes; each range holds at most `wire::MAX_RANGE_BYTES`.
    pub ranges_ahead: usize,
    /// Most ranges held on the whole node, all feeds and peers together
    /// (asked, answered or being applied): bounds the memory catch-up uses.
    pub max_ranges_held: usize,
    /// How long a fetched range may wait for [`NetworkHandle::fetch_applied`]
    /// before the feed is released to be fetched again.
    pub apply_timeout: Duration,
    /// Timeout of one sync request.
    pub request_timeout: Duration,
    /// Connections kept open without any stream for this long are closed.
    pub idle_connection_timeout: Duration,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Most established connections in all.
    pub max_connections: u32,
    /// Most incoming connections still in the handshake from addresses no
    /// member has connected from (the general pool).
    pub max_pending_incoming: u32,
    /// Most incoming connections still in the handshake from one IP address.
    pub max_pending_per_ip: u32,
    /// Handshake slots kept for addresses a member has connected from since
    /// the start, taken when the general pool is full (`pending.rs`).
    pub reserved_pending_for_members: u32,
    /// Deadline of a connection's setup: the TCP connect of a dial, then
    /// the Noise handshake and the Yamux upgrade, in either direction.
    pub handshake_timeout: Duration,
    /// A connection whose data stays unacknowledged this long is aborted
    /// by the kernel (`TCP_USER_TIMEOUT`), and an idle one is probed after
    /// half of it: a dead link is closed and redialled instead of being
    /// counted as connected while TCP backs off (`transport.rs`). Zero
    /// leaves the system's defaults (many minutes).
    pub dead_link_timeout: Duration,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            event_queue: 1024,
            command_queue: 256,
            max_outbound_requests_per_peer: 4,
            max_inbound_requests_per_peer: 4,
            max_inbound_requests_total: 32,
            range_batch: wire::MAX_RANGE_EVENTS as u32,
            ranges_ahead: 4,
            max_ranges_held: 16,
            apply_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            idle_connection_timeout: Duration::from_secs(120),
            max_connections_per_peer: 2,
            max_connections: 512,
            max_pending_incoming: 64,
            max_pending_per_ip: 8,
            reserved_pending_for_members: 32,
            handshake_timeout: Duration::from_secs(5),
            dead_link_timeout: Duration::from_secs(30),
        }
    }
}

/// Configuration of the network layer.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Addresses to listen on (default `/ip4/127.0.0.1/tcp/0`).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and to redial at every sync round while not
    /// connected; each address must end in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Time between two anti-entropy rounds with every connected peer (a
    /// round also runs on every new connection).
    pub sync_interval: Duration,
    /// The peers allowed to connect at start; `None`: every node of the
    /// charter ([`charter_peers`]). A node passes the membership of the day
    /// from its governance timeline, and keeps it current with
    /// [`NetworkHandle::set_allowed_peers`].
    pub allowed: Option<HashSet<PeerId>>,
    pub limits: NetLimits,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")],
            bootstrap: Vec::new(),
            sync_interval: Duration::from_secs(30),
            allowed: None,
            limits: NetLimits::default(),
        }
    }
}

/// What the network layer tells the application. The receiver is bounded
/// ([`NetLimits::event_queue`]); read it promptly.
#[derive(Debug)]
pub enum NetEvent {
    /// An event arrived by gossip. Validate it and call
    /// [`NetworkHandle::report_validation`] with `msg_id` and `from`:
    /// nothing is forwarded until then.
    GossipEvent {
        bytes: Vec<u8>,
        /// The neighbour that forwarded it (the one a Reject penalises).
        from: PeerId,
        /// The event id when `bytes` decode as an event.
        msg_id: MessageId,
    },
    /// A fork proof arrived by gossip; validate and report like an event.
    ForkProof {
        bytes: Vec<u8>,
        from: PeerId,
        msg_id: MessageId,
    },
    /// A signed checkpoint note (with cosignature lines) arrived on the
    /// checkpoints topic; validate and report like an event.
    Checkpoint {
        bytes: Vec<u8>,
        from: PeerId,
        msg_id: MessageId,
    },
    /// A split-view proof arrived on the split-views topic; validate and
    /// report like an event.
    SplitView {
        bytes: Vec<u8>,
        from: PeerId,
        msg_id: MessageId,
    },
    /// Anti-entropy fetched consecutive events of one feed, from `from_seq`
    /// on, in order. Append them, then call [`NetworkHandle::fetch_applied`]
    /// so the layer fetches the next batch of this feed. Structure (author
    /// and consecutive sequence numbers) is checked; signatures are not.
    FetchedEvents {
        from: PeerId,
        author: AuthorId,
        from_seq: u64,
        events: Vec<Vec<u8>>,
    },
    /// A member (an allowed peer) connected (first connection to it).
    PeerConnected { peer: PeerId },
    /// The last connection to a member closed.
    PeerDisconnected { peer: PeerId },
}

/// Counters of what the layer refused or dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NetCounters {
    /// Connections refused or closed because the peer is not a member.
    pub denied_connections: u64,
    /// Gossip messages rejected because their source or forwarder is not a member.
    pub non_member_messages: u64,
    /// Gossip messages dropped because the event queue was full.
    pub dropped_gossip: u64,
    /// Fetched ranges dropped because the event queue was full.
    pub dropped_fetches: u64,
    /// Sync requests answered `Busy` because of the serving limits.
    pub busy_responses: u64,
    /// Sync requests that failed (timeouts, closed connections, refused
    /// responses; requests of other peers that could not be answered).
    pub failed_requests: u64,
    /// Sync frames refused as oversized or malformed, in either direction.
    pub bad_frames: u64,
    /// Fetched ranges refused for bad structure (wrong author or sequence).
    pub bad_ranges: u64,
    /// Events delivered to the application through anti-entropy.
    pub fetched_events: u64,
    /// Gossip verdicts that came after gossipsub had dropped the message
    /// from its cache (the application took longer than its history, 5 s):
    /// the message was not forwarded; anti-entropy still carries it.
    pub late_verdicts: u64,
}

/// A snapshot of the layer's state.
#[derive(Clone, Debug)]
pub struct NetStatus {
    pub local_peer_id: PeerId,
    pub listen_addrs: Vec<Multiaddr>,
    pub connected: Vec<PeerId>,
    /// The feed heads each connected member announced in its last `Heads`
    /// answer (for sync lag, and for the node to confirm its own feed's
    /// head). A member that has not answered a `Heads` request on its
    /// current connection yet is absent, not listed with no heads.
    pub peer_heads: std::collections::HashMap<PeerId, Vec<FeedHeadWire>>,
    pub counters: NetCounters,
}

/// Errors of the network layer.
#[derive(Debug)]
pub enum NetError {
    /// The network task has stopped.
    Closed,
    /// No peer is subscribed to the topic yet: the message was not sent
    /// (anti-entropy will carry the event once peers connect).
    NoPeers,
    /// The data is larger than the topic allows.
    TooLarge { size: usize, max: usize },
    /// A multiaddr was refused (e.g. a bootstrap address without `/p2p/`).
    BadAddress(String),
    /// Building, listening, publishing or dialing failed.
    Other(String),
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetError::Closed => write!(f, "the network task has stopped"),
            NetError::NoPeers => write!(f, "no peer is subscribed to the topic"),
            NetError::TooLarge { size, max } => {
                write!(f, "{size} bytes exceed the limit of {max}")
            }
            NetError::BadAddress(s) => write!(f, "bad address: {s}"),
            NetError::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for NetError {}

/// The peer ids of every node listed in the charter (participants and
/// observers). Entries that are not valid peer ids are skipped (a validated
/// charter has none).
pub fn charter_peers(charter: &Charter) -> HashSet<PeerId> {
    charter
        .participants
        .iter()
        .flat_map(|p| p.nodes.iter())
        .chain(charter.observers.iter().flat_map(|o| o.nodes.iter()))
        .filter(|s| charter.node_member(s).is_some())
        .filter_map(|s| s.parse().ok())
        .collect()
}

pub(crate) enum Command {
    Publish {
        topic: gossip::TopicKind,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<MessageId, NetError>>,
    },
    Report {
        msg_id: MessageId,
        peer: PeerId,
        verdict: Validation,
    },
    FetchApplied {
        author: AuthorId,
        from_seq: u64,
        applied: bool,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    SetAllowed {
        peers: HashSet<PeerId>,
    },
    SyncNow,
    Status {
        reply: oneshot::Sender<NetStatus>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// The network layer.
pub struct Network;

impl Network {
    /// Builds the swarm, starts listening, dials the bootstrap peers and
    /// spawns the network task on the current tokio runtime.
    ///
    /// Only peers of [`NetConfig::allowed`] (default
    /// [`charter_peers`]`(charter)`) may connect (update with
    /// [`NetworkHandle::set_allowed_peers`]); the topics are named after
    /// `charter.network_id()`. Returns once the first listen address is
    /// known (or after 5 s).
    pub async fn spawn(
        config: NetConfig,
        keypair: Keypair,
        charter: &Charter,
        source: Arc<dyn SyncSource>,
    ) -> Result<(NetworkHandle, mpsc::Receiver<NetEvent>), NetError> {
        driver::spawn(config, keypair, charter, source).await
    }
}

/// A cheap, cloneable handle to the network task.
#[derive(Clone)]
pub struct NetworkHandle {
    tx: mpsc::Sender<Command>,
    local_peer_id: PeerId,
}

impl NetworkHandle {
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    async fn send(&self, cmd: Command) -> Result<(), NetError> {
        self.tx.send(cmd).await.map_err(|_| NetError::Closed)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply)).await?;
        rx.await.map_err(|_| NetError::Closed)
    }

    /// Publishes an encoded event on the events topic. Returns its message
    /// id (the event id); publishing an event already seen is not an error.
    pub async fn publish(&self, event_bytes: Vec<u8>) -> Result<MessageId, NetError> {
        self.ask(|reply| Command::Publish {
            topic: gossip::TopicKind::Events,
            bytes: event_bytes,
            reply,
        })
        .await?
    }

    /// Publishes an encoded fork proof on the fork-proof topic.
    pub async fn publish_fork_proof(&self, proof_bytes: Vec<u8>) -> Result<MessageId, NetError> {
        self.ask(|reply| Command::Publish {
            topic: gossip::TopicKind::Forks,
            bytes: proof_bytes,
            reply,
        })
        .await?
    }

    /// Publishes a signed checkpoint note (its text form) on the
    /// checkpoints topic.
    pub async fn publish_checkpoint(&self, note: Vec<u8>) -> Result<MessageId, NetError> {
        self.ask(|reply| Command::Publish {
            topic: gossip::TopicKind::Checkpoints,
            bytes: note,
            reply,
        })
        .await?
    }

    /// Publishes an encoded split-view proof on the split-views topic.
    pub async fn publish_split_view(&self, proof: Vec<u8>) -> Result<MessageId, NetError> {
        self.ask(|reply| Command::Publish {
            topic: gossip::TopicKind::SplitViews,
            bytes: proof,
            reply,
        })
        .await?
    }

    /// Reports the application's verdict on a gossip message: `Accept`
    /// forwards it, `Reject` drops it and penalises `peer` (use it for
    /// messages that are certainly invalid: bad signature, wrong network,
    /// garbage), `Ignore` drops it without penalty (duplicate, gap in the
    /// feed, unknown yet).
    pub async fn report_validation(
        &self,
        msg_id: MessageId,
        peer: PeerId,
        verdict: Validation,
    ) -> Result<(), NetError> {
        self.send(Command::Report {
            msg_id,
            peer,
            verdict,
        })
        .await
    }

    /// Reports whether the [`NetEvent::FetchedEvents`] of `author` starting
    /// at `from_seq` were appended. When they were, the layer fetches the
    /// next batch of that feed; when not, it stops fetching the feed from
    /// that peer until the next sync round.
    pub async fn fetch_applied(
        &self,
        author: AuthorId,
        from_seq: u64,
        applied: bool,
    ) -> Result<(), NetError> {
        self.send(Command::FetchApplied {
            author,
            from_seq,
            applied,
        })
        .await
    }

    /// Dials an address (with or without `/p2p/<peer id>`). A peer that
    /// turns out not to be a member is disconnected at once.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Replaces the set of peers allowed to connect (e.g. after governance
    /// changed the node list). Connected peers no longer allowed are
    /// disconnected.
    pub async fn set_allowed_peers(&self, peers: HashSet<PeerId>) -> Result<(), NetError> {
        self.send(Command::SetAllowed { peers }).await
    }

    /// Starts an anti-entropy round with every connected peer now.
    pub async fn sync_now(&self) -> Result<(), NetError> {
        self.send(Command::SyncNow).await
    }

    /// Connected peers, listen addresses and counters.
    pub async fn status(&self) -> Result<NetStatus, NetError> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Stops the network task, closing every connection; returns when it
    /// has stopped. Later calls on any handle return [`NetError::Closed`].
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.ask(|reply| Command::Shutdown { reply }).await
    }
}
