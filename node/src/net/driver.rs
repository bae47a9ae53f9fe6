//! The network task: owns the swarm, runs the membership gate, gossip and
//! the anti-entropy state machine.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ledger_core::{AuthorId, Charter, EventId, SignedEvent};
use libp2p::allow_block_list::{self, AllowedPeers};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{self, MessageAcceptance, PublishError};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use super::gossip::{self, TopicKind, Topics};
use super::pending;
use super::transport;
use super::wire::{self, FeedHeadWire, SyncCodec, SyncRequest, SyncResponse};
use super::{
    charter_peers, Command, Keypair, NetConfig, NetCounters, NetError, NetEvent, NetLimits,
    NetStatus, NetworkHandle, SyncSource,
};

/// Identify protocol version string.
pub(crate) const IDENTIFY_PROTOCOL: &str = "/kp-ledger/1.0.0";
/// Most addresses taken from one identify message.
const MAX_IDENTIFY_ADDRS: usize = 8;

#[derive(NetworkBehaviour)]
struct Behaviour {
    // First, so that a non-member's connection is denied before any other
    // behaviour sets up a handler for it.
    gate: allow_block_list::Behaviour<AllowedPeers>,
    limits: connection_limits::Behaviour,
    pending: pending::Behaviour,
    identify: identify::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
}

pub(crate) async fn spawn(
    config: NetConfig,
    keypair: Keypair,
    charter: &Charter,
    source: Arc<dyn SyncSource>,
) -> Result<(NetworkHandle, mpsc::Receiver<NetEvent>), NetError> {
    let network = charter.network_id();
    let allowed = config
        .allowed
        .clone()
        .unwrap_or_else(|| charter_peers(charter));
    let limits = config.limits.clone();

    let mut bootstrap = Vec::new();
    for addr in &config.bootstrap {
        match addr.iter().last() {
            Some(Protocol::P2p(peer)) => bootstrap.push((peer, addr.clone())),
            _ => {
                return Err(NetError::BadAddress(format!(
                    "bootstrap address {addr} does not end in /p2p/<peer id>"
                )))
            }
        }
    }

    let local_peer_id = keypair.public().to_peer_id();
    let gossipsub = gossip::behaviour(&keypair, &network).map_err(NetError::Other)?;
    let mut gate = allow_block_list::Behaviour::<AllowedPeers>::default();
    for p in &allowed {
        gate.allow_peer(*p);
    }
    let conn_limits = ConnectionLimits::default()
        .with_max_established_per_peer(Some(limits.max_connections_per_peer))
        .with_max_established(Some(limits.max_connections));
    let pending = pending::Behaviour::new(pending::PendingLimits {
        per_ip: limits.max_pending_per_ip,
        general: limits.max_pending_incoming,
        reserved: limits.reserved_pending_for_members,
    });
    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), keypair.public())
            .with_agent_version(format!("kpl-node/{}", env!("CARGO_PKG_VERSION"))),
    );
    let codec = SyncCodec::default();
    let sync = request_response::Behaviour::with_codec(
        codec.clone(),
        [(wire::SYNC_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(limits.request_timeout)
            .with_max_concurrent_streams(
                limits.max_inbound_requests_per_peer + limits.max_outbound_requests_per_peer + 2,
            ),
    );
    let behaviour = Behaviour {
        gate,
        limits: connection_limits::Behaviour::new(conn_limits),
        pending,
        identify,
        gossipsub,
        sync,
    };

    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| {
            transport::build(key, limits.dead_link_timeout)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
        .map_err(|e| NetError::Other(format!("transport: {e}")))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetError::Other(format!("behaviour: {e}")))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(limits.idle_connection_timeout))
        .with_connection_timeout(limits.handshake_timeout)
        .build();

    let topics = Topics::of(&network);
    for t in [
        gossip::events_topic(&network),
        gossip::forks_topic(&network),
        gossip::checkpoints_topic(&network),
        gossip::split_views_topic(&network),
    ] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&t)
            .map_err(|e| NetError::Other(format!("subscribe: {e}")))?;
    }

    for addr in &config.listen {
        check_port_free(addr)?;
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Other(format!("listen on {addr}: {e}")))?;
    }
    let mut listen_addrs = Vec::new();
    if !config.listen.is_empty() {
        let deadline = Instant::now() + Duration::from_secs(5);
        while listen_addrs.is_empty() {
            match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr { address, .. }) => {
                    info!(%address, "listening");
                    listen_addrs.push(address);
                }
                Ok(SwarmEvent::ListenerClosed { reason, .. }) => {
                    return Err(NetError::Other(format!("listener closed: {reason:?}")));
                }
                Ok(other) => debug!(?other, "event before listening"),
                Err(_) => break,
            }
        }
    }

    let (cmd_tx, cmd_rx) = mpsc::channel(limits.command_queue.max(1));
    let (events_tx, events_rx) = mpsc::channel(limits.event_queue.max(1));
    let (internal_tx, internal_rx) = mpsc::channel(limits.max_inbound_requests_total.max(1) + 16);

    let mut driver = Driver {
        swarm,
        source,
        limits,
        sync_interval: config.sync_interval,
        events_tx,
        cmd_rx,
        internal_tx,
        internal_rx,
        allowed,
        topics,
        bootstrap,
        listen_addrs,
        peers: HashMap::new(),
        outbound: HashMap::new(),
        fetches: HashMap::new(),
        fetch_generation: 0,
        serving_total: 0,
        codec,
        counters: NetCounters::default(),
        refused_by: HashSet::new(),
    };
    driver.dial_bootstrap();
    tokio::spawn(driver.run());
    Ok((
        NetworkHandle {
            tx: cmd_tx,
            local_peer_id,
        },
        events_rx,
    ))
}

/// Results of work done off the network task.
enum Internal {
    /// A sync request was served (`None`: the source failed).
    Served {
        peer: PeerId,
        channel: ResponseChannel<SyncResponse>,
        response: Option<SyncResponse>,
    },
    /// The local heads were read to compare with a peer's.
    LocalHeads {
        peer: PeerId,
        remote: Vec<FeedHeadWire>,
        local: Option<Vec<FeedHeadWire>>,
    },
}

#[derive(Default)]
struct PeerState {
    /// Sync requests in flight to this peer.
    outbound: usize,
    /// A round (heads request, then comparison) is under way.
    in_round: bool,
    /// Feeds to fetch from this peer, in turn.
    queue: VecDeque<AuthorId>,
    /// Requests of this peer being served.
    serving: usize,
    /// The feed heads this peer announced in its last `Heads` answer
    /// (`None` until its first answer on this connection: a peer that has
    /// not answered yet is not a peer that holds nothing).
    heads: Option<Vec<crate::net::FeedHeadWire>>,
    /// When the first connection was established.
    since: Option<std::time::Instant>,
    /// The peer identified itself on this connection: its gate let this
    /// node in.
    identified: bool,
}

/// A connection a member closes within this time, before identifying
/// itself or answering a request, is taken as a refusal by its membership
/// gate (e.g. this node is not admitted there yet).
const CLOSED_AT_ONCE: Duration = Duration::from_secs(2);

enum Outbound {
    Heads {
        peer: PeerId,
    },
    Range {
        peer: PeerId,
        author: AuthorId,
        generation: u64,
        from_seq: u64,
        max: u32,
    },
}

/// Catching up one feed from one peer. At most one per author, so each
/// feed's events reach the application in order and only once per round.
///
/// Several ranges are asked for ahead (at most [`NetLimits::ranges_ahead`]
/// per feed, counting those asked, answered and being applied), so the
/// peer's reads and the transfer overlap this node's verification and
/// writes. Answers may arrive in any order; they wait in `ready` until every
/// earlier one has been handed over.
struct Fetch {
    peer: PeerId,
    /// Tells this fetch's requests from an earlier fetch's of the same feed.
    generation: u64,
    /// The first seq not yet handed to the application.
    next_emit: u64,
    /// The first seq not yet asked for.
    next_ask: u64,
    target_seq: u64,
    /// Ranges asked for and not answered yet: from_seq -> max.
    asked: BTreeMap<u64, u32>,
    /// Ranges answered (checked: consecutive events of the author from
    /// their from_seq) waiting for an earlier one: from_seq -> events.
    ready: BTreeMap<u64, Vec<Vec<u8>>>,
    /// Ranges handed to the application, not yet reported applied, oldest
    /// first: (from_seq, count).
    applying: VecDeque<(u64, u64)>,
    /// When the oldest range handed over must have been reported applied.
    deadline: Option<Instant>,
    /// Whether the feed waits in its peer's queue for a request slot.
    queued: bool,
}

impl Fetch {
    /// Ranges of this feed asked for, answered or being applied.
    fn window(&self) -> usize {
        self.asked.len() + self.ready.len() + self.applying.len()
    }

    /// Whether another range may be asked for now.
    fn can_ask(&self, ahead: usize) -> bool {
        self.next_ask <= self.target_seq && self.window() < ahead
    }

    /// Nothing is left to ask for, wait for or apply.
    fn finished(&self) -> bool {
        self.next_emit > self.target_seq
            && self.asked.is_empty()
            && self.ready.is_empty()
            && self.applying.is_empty()
    }
}

struct Driver {
    swarm: Swarm<Behaviour>,
    source: Arc<dyn SyncSource>,
    limits: NetLimits,
    sync_interval: Duration,
    events_tx: mpsc::Sender<NetEvent>,
    cmd_rx: mpsc::Receiver<Command>,
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    allowed: HashSet<PeerId>,
    topics: Topics,
    bootstrap: Vec<(PeerId, Multiaddr)>,
    listen_addrs: Vec<Multiaddr>,
    peers: HashMap<PeerId, PeerState>,
    outbound: HashMap<OutboundRequestId, Outbound>,
    fetches: HashMap<AuthorId, Fetch>,
    /// The generation of the last fetch started.
    fetch_generation: u64,
    serving_total: usize,
    /// Shares the refused-frame counter with the behaviour's codec.
    codec: SyncCodec,
    counters: NetCounters,
    /// Members that closed our last connection at once: their connects and
    /// disconnects are logged at debug level until one lasts (otherwise a
    /// node not yet admitted logs both every sync round).
    refused_by: HashSet<PeerId>,
}

impl Driver {
    async fn run(mut self) {
        let period = self.sync_interval.max(Duration::from_millis(100));
        let mut tick = tokio::time::interval_at(Instant::now() + period, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let shutdown_reply: Option<oneshot::Sender<()>> = loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                cmd = self.cmd_rx.recv() => match cmd {
                    None => break None,
                    Some(Command::Shutdown { reply }) => break Some(reply),
                    Some(cmd) => self.on_command(cmd),
                },
                Some(work) = self.internal_rx.recv() => self.on_internal(work),
                _ = tick.tick() => self.on_tick(),
            }
        };
        info!("network task stopping");
        drop(self);
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    fn emit(&mut self, ev: NetEvent) -> bool {
        self.events_tx.try_send(ev).is_ok()
    }

    // ----- swarm events -------------------------------------------------

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(ev)) => self.on_gossip(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                if let Some(ps) = self.peers.get_mut(&peer_id) {
                    ps.identified = true;
                }
                if self.allowed.contains(&peer_id) {
                    for addr in info.listen_addrs.into_iter().take(MAX_IDENTIFY_ADDRS) {
                        self.swarm.add_peer_address(peer_id, addr);
                    }
                }
            }
            SwarmEvent::Behaviour(_) => {}
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if !self.allowed.contains(&peer_id) {
                    // The gate denies these; this is a second line.
                    self.counters.denied_connections += 1;
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if num_established.get() == 1 {
                    if self.refused_by.contains(&peer_id) {
                        debug!(peer = %peer_id, "member connected (it closed the last connection at once)");
                    } else {
                        info!(peer = %peer_id, "member connected");
                    }
                    self.peers.entry(peer_id).or_default().since = Some(std::time::Instant::now());
                    if !self.emit(NetEvent::PeerConnected { peer: peer_id }) {
                        debug!("event queue full: PeerConnected dropped");
                    }
                    self.start_round(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    let Some(state) = self.peers.remove(&peer_id) else {
                        return;
                    };
                    // A peer that identified itself or answered let this
                    // node in: it disconnected, its gate did not refuse.
                    let at_once = state.since.is_some_and(|t| t.elapsed() < CLOSED_AT_ONCE)
                        && !state.identified
                        && state.heads.is_none();
                    if at_once {
                        if self.refused_by.insert(peer_id) {
                            warn!(peer = %peer_id, "member closed the connection at once: its membership gate may refuse this node (not admitted yet?); retrying every sync round, logged at debug level from now on");
                        } else {
                            debug!(peer = %peer_id, "member closed the connection at once again");
                        }
                    } else {
                        self.refused_by.remove(&peer_id);
                        info!(peer = %peer_id, "member disconnected");
                    }
                    self.fetches.retain(|_, f| f.peer != peer_id);
                    if !self.emit(NetEvent::PeerDisconnected { peer: peer_id }) {
                        debug!("event queue full: PeerDisconnected dropped");
                    }
                }
            }
            SwarmEvent::IncomingConnectionError {
                error: ListenError::Denied { cause },
                peer_id,
                ..
            } => {
                self.counters.denied_connections += 1;
                debug!(?peer_id, %cause, "incoming connection denied");
            }
            SwarmEvent::OutgoingConnectionError {
                error: DialError::Denied { cause },
                peer_id,
                ..
            } => {
                self.counters.denied_connections += 1;
                debug!(?peer_id, %cause, "outgoing connection denied");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                if !self.listen_addrs.contains(&address) {
                    self.listen_addrs.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
            }
            other => debug!(?other, "swarm event"),
        }
    }

    fn on_gossip(&mut self, ev: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = ev
        else {
            return;
        };
        let from_member = self.allowed.contains(&propagation_source)
            && message.source.is_some_and(|s| self.allowed.contains(&s));
        if !from_member {
            self.counters.non_member_messages += 1;
            warn!(forwarder = %propagation_source, source = ?message.source, "gossip from a non-member rejected");
            self.report(&message_id, &propagation_source, MessageAcceptance::Reject);
            return;
        }
        let kind = self.topics.kind(&message.topic);
        let ev = match kind {
            TopicKind::Events => NetEvent::GossipEvent {
                bytes: message.data,
                from: propagation_source,
                msg_id: message_id.clone(),
            },
            TopicKind::Forks => NetEvent::ForkProof {
                bytes: message.data,
                from: propagation_source,
                msg_id: message_id.clone(),
            },
            TopicKind::Checkpoints => NetEvent::Checkpoint {
                bytes: message.data,
                from: propagation_source,
                msg_id: message_id.clone(),
            },
            TopicKind::SplitViews => NetEvent::SplitView {
                bytes: message.data,
                from: propagation_source,
                msg_id: message_id.clone(),
            },
            TopicKind::Other => {
                self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
                return;
            }
        };
        if !self.emit(ev) {
            self.counters.dropped_gossip += 1;
            warn!("event queue full: gossip message dropped");
            self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
        }
    }

    fn report(&mut self, id: &gossipsub::MessageId, peer: &PeerId, verdict: MessageAcceptance) {
        let in_cache = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, peer, verdict);
        if !in_cache {
            self.counters.late_verdicts += 1;
        }
    }

    fn on_sync(&mut self, ev: request_response::Event<SyncRequest, SyncResponse>) {
        use request_response::{Event, Message};
        match ev {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve(peer, request, channel),
            Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_response(peer, request_id, response),
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.counters.failed_requests += 1;
                debug!(%peer, %error, "sync request failed");
                if let Some(ob) = self.outbound.remove(&request_id) {
                    self.request_done(&ob);
                    match ob {
                        Outbound::Heads { peer } => {
                            if let Some(ps) = self.peers.get_mut(&peer) {
                                ps.in_round = false;
                            }
                        }
                        Outbound::Range {
                            author, generation, ..
                        } => self.drop_fetch(&author, generation),
                    }
                    self.pump_all();
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                self.counters.failed_requests += 1;
                debug!(%peer, %error, "serving a sync request failed");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    // ----- serving --------------------------------------------------------

    fn serve(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        if !self.allowed.contains(&peer) {
            // Dropping the channel closes the stream without an answer.
            return;
        }
        let ps = self.peers.entry(peer).or_default();
        if ps.serving >= self.limits.max_inbound_requests_per_peer
            || self.serving_total >= self.limits.max_inbound_requests_total
        {
            self.counters.busy_responses += 1;
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, SyncResponse::Busy);
            return;
        }
        ps.serving += 1;
        self.serving_total += 1;
        let source = Arc::clone(&self.source);
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let response = tokio::task::spawn_blocking(move || match request {
                SyncRequest::Heads => SyncResponse::Heads(wire::bound_heads(source.heads())),
                SyncRequest::Range {
                    author,
                    from_seq,
                    max,
                } => {
                    let max = (max as usize).min(wire::MAX_RANGE_EVENTS);
                    SyncResponse::Events(wire::bound_events(
                        source.range(&author, from_seq, max),
                        max,
                    ))
                }
            })
            .await
            .ok();
            let _ = tx
                .send(Internal::Served {
                    peer,
                    channel,
                    response,
                })
                .await;
        });
    }

    fn on_internal(&mut self, work: Internal) {
        match work {
            Internal::Served {
                peer,
                channel,
                response,
            } => {
                self.serving_total = self.serving_total.saturating_sub(1);
                if let Some(ps) = self.peers.get_mut(&peer) {
                    ps.serving = ps.serving.saturating_sub(1);
                }
                match response {
                    Some(r) => {
                        let _ = self.swarm.behaviour_mut().sync.send_response(channel, r);
                    }
                    None => warn!(%peer, "the sync source failed; request dropped"),
                }
            }
            Internal::LocalHeads {
                peer,
                remote,
                local,
            } => {
                let Some(ps) = self.peers.get_mut(&peer) else {
                    return;
                };
                ps.in_round = false;
                let Some(local) = local else {
                    warn!("the sync source failed to list heads");
                    return;
                };
                self.plan(peer, remote, local);
            }
        }
    }

    // ----- anti-entropy ---------------------------------------------------

    /// Starts a round with `peer`: ask for its heads.
    fn start_round(&mut self, peer: PeerId) {
        let Some(ps) = self.peers.get_mut(&peer) else {
            return;
        };
        if ps.in_round || ps.outbound >= self.limits.max_outbound_requests_per_peer.max(1) {
            return;
        }
        ps.in_round = true;
        ps.outbound += 1;
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, SyncRequest::Heads);
        self.outbound.insert(id, Outbound::Heads { peer });
    }

    fn request_done(&mut self, ob: &Outbound) {
        let peer = match ob {
            Outbound::Heads { peer } | Outbound::Range { peer, .. } => peer,
        };
        if let Some(ps) = self.peers.get_mut(peer) {
            ps.outbound = ps.outbound.saturating_sub(1);
        }
    }

    fn on_response(&mut self, _peer: PeerId, id: OutboundRequestId, response: SyncResponse) {
        let Some(ob) = self.outbound.remove(&id) else {
            return;
        };
        self.request_done(&ob);
        match ob {
            Outbound::Heads { peer } => match response {
                SyncResponse::Heads(remote) => {
                    if let Some(ps) = self.peers.get_mut(&peer) {
                        ps.heads = Some(remote.clone());
                    }
                    let source = Arc::clone(&self.source);
                    let tx = self.internal_tx.clone();
                    tokio::spawn(async move {
                        let local = tokio::task::spawn_blocking(move || source.heads())
                            .await
                            .ok();
                        let _ = tx
                            .send(Internal::LocalHeads {
                                peer,
                                remote,
                                local,
                            })
                            .await;
                    });
                }
                other => {
                    if !matches!(other, SyncResponse::Busy) {
                        self.counters.bad_ranges += 1;
                    }
                    if let Some(ps) = self.peers.get_mut(&peer) {
                        ps.in_round = false;
                    }
                }
            },
            Outbound::Range {
                peer,
                author,
                generation,
                from_seq,
                max,
            } => self.on_range(peer, author, generation, from_seq, max, response),
        }
        self.pump_all();
    }

    /// Compares heads and queues the feeds `peer` has more of.
    fn plan(&mut self, peer: PeerId, remote: Vec<FeedHeadWire>, local: Vec<FeedHeadWire>) {
        let local: HashMap<AuthorId, (u64, EventId)> = local
            .into_iter()
            .map(|h| (h.author, (h.seq, h.id)))
            .collect();
        let Some(ps) = self.peers.get_mut(&peer) else {
            return;
        };
        for h in remote.into_iter().take(wire::MAX_HEADS) {
            let (have, have_id) = local.get(&h.author).copied().unwrap_or((0, EventId::ZERO));
            if self.fetches.contains_key(&h.author) {
                continue;
            }
            let next_seq = if h.seq > have {
                debug!(%peer, author = %h.author, have, remote = h.seq, "feed behind");
                have + 1
            } else if h.seq == have && h.id != have_id {
                // Same place, different event: fetch the peer's side so the
                // store can check it and, if both are signed, prove the fork.
                debug!(%peer, author = %h.author, seq = h.seq, "heads differ at the same place");
                h.seq
            } else {
                continue;
            };
            ps.queue.push_back(h.author.clone());
            self.fetch_generation += 1;
            self.fetches.insert(
                h.author,
                Fetch {
                    peer,
                    generation: self.fetch_generation,
                    next_emit: next_seq,
                    next_ask: next_seq,
                    target_seq: h.seq,
                    asked: BTreeMap::new(),
                    ready: BTreeMap::new(),
                    applying: VecDeque::new(),
                    deadline: None,
                    queued: true,
                },
            );
        }
        self.pump(peer);
    }

    /// Sends queued range requests to `peer` up to its in-flight limit,
    /// taking the feeds in turn so that one long feed does not hold every
    /// slot.
    fn pump(&mut self, peer: PeerId) {
        let max_inflight = self.limits.max_outbound_requests_per_peer.max(1);
        let ahead = self.limits.ranges_ahead.max(1);
        let batch = u64::from(
            self.limits
                .range_batch
                .clamp(1, wire::MAX_RANGE_EVENTS as u32),
        );
        let held_cap = self.limits.max_ranges_held.max(1);
        let mut held: usize = self.fetches.values().map(Fetch::window).sum();
        let Some(ps) = self.peers.get_mut(&peer) else {
            return;
        };
        while ps.outbound < max_inflight && held < held_cap {
            let Some(author) = ps.queue.pop_front() else {
                return;
            };
            let Some(f) = self.fetches.get_mut(&author) else {
                continue;
            };
            if f.peer != peer || !f.queued {
                continue;
            }
            if !f.can_ask(ahead) {
                // Back in the queue when one of its ranges is answered or applied.
                f.queued = false;
                continue;
            }
            let max = batch.min(f.target_seq - f.next_ask + 1) as u32;
            let from_seq = f.next_ask;
            f.next_ask += u64::from(max);
            f.asked.insert(from_seq, max);
            held += 1;
            let generation = f.generation;
            if f.can_ask(ahead) {
                ps.queue.push_back(author.clone());
            } else {
                f.queued = false;
            }
            ps.outbound += 1;
            let id = self.swarm.behaviour_mut().sync.send_request(
                &peer,
                SyncRequest::Range {
                    author: author.clone(),
                    from_seq,
                    max,
                },
            );
            self.outbound.insert(
                id,
                Outbound::Range {
                    peer,
                    author,
                    generation,
                    from_seq,
                    max,
                },
            );
        }
    }

    /// Puts `author`'s fetch back in its peer's queue if it may ask for more.
    fn requeue(&mut self, author: &AuthorId) {
        let ahead = self.limits.ranges_ahead.max(1);
        let Some(f) = self.fetches.get_mut(author) else {
            return;
        };
        if f.queued || !f.can_ask(ahead) {
            return;
        }
        match self.peers.get_mut(&f.peer) {
            Some(ps) => {
                f.queued = true;
                ps.queue.push_back(author.clone());
            }
            None => {
                self.fetches.remove(author);
            }
        }
    }

    /// Ends `author`'s fetch if it is still the one of `generation` (a newer
    /// fetch of the feed is left alone). What was handed over stays with
    /// the application; the next round starts again from the store's head.
    fn drop_fetch(&mut self, author: &AuthorId, generation: u64) {
        if self
            .fetches
            .get(author)
            .is_some_and(|f| f.generation == generation)
        {
            self.fetches.remove(author);
        }
    }

    fn on_range(
        &mut self,
        peer: PeerId,
        author: AuthorId,
        generation: u64,
        from_seq: u64,
        max: u32,
        response: SyncResponse,
    ) {
        let asked = match self.fetches.get_mut(&author) {
            Some(f) if f.peer == peer && f.generation == generation => {
                f.asked.remove(&from_seq).is_some()
            }
            _ => false,
        };
        if !asked {
            return;
        }
        let events = match response {
            SyncResponse::Events(events) => events,
            SyncResponse::Busy => {
                // Try again at the next round.
                self.drop_fetch(&author, generation);
                return;
            }
            SyncResponse::Heads(_) => {
                self.counters.bad_ranges += 1;
                self.drop_fetch(&author, generation);
                return;
            }
        };
        if !events.is_empty() {
            if let Err(why) = check_range(&events, &author, from_seq, max) {
                self.counters.bad_ranges += 1;
                warn!(%peer, %author, from_seq, why, "bad range refused");
                self.drop_fetch(&author, generation);
                return;
            }
        }
        let Some(f) = self.fetches.get_mut(&author) else {
            return;
        };
        let count = events.len() as u64;
        if count < u64::from(max) {
            // The peer holds less than it announced, or its answer was cut
            // at the size limit: what was asked beyond this answer is not
            // used, and the feed ends here for this round (the next round
            // asks again from the new head).
            f.target_seq = (from_seq + count).saturating_sub(1);
            f.asked.retain(|&s, _| s < from_seq);
            f.ready.retain(|&s, _| s < from_seq);
            f.next_ask = f.next_ask.min(from_seq + count);
        }
        if count > 0 {
            f.ready.insert(from_seq, events);
        }
        self.emit_ready(&author);
        if self.fetches.get(&author).is_some_and(|f| f.finished()) {
            self.fetches.remove(&author);
            return;
        }
        self.requeue(&author);
    }

    /// Hands `author`'s answered ranges to the application, in order, as
    /// far as they are consecutive.
    fn emit_ready(&mut self, author: &AuthorId) {
        loop {
            let Some(f) = self.fetches.get_mut(author) else {
                return;
            };
            let Some(events) = f.ready.remove(&f.next_emit) else {
                return;
            };
            let from_seq = f.next_emit;
            let count = events.len() as u64;
            let generation = f.generation;
            let ev = NetEvent::FetchedEvents {
                from: f.peer,
                author: author.clone(),
                from_seq,
                events,
            };
            if !self.emit(ev) {
                self.counters.dropped_fetches += 1;
                warn!("event queue full: fetched range dropped");
                self.drop_fetch(author, generation);
                return;
            }
            self.counters.fetched_events += count;
            let Some(f) = self.fetches.get_mut(author) else {
                return;
            };
            f.next_emit += count;
            if f.applying.is_empty() {
                f.deadline = Some(Instant::now() + self.limits.apply_timeout);
            }
            f.applying.push_back((from_seq, count));
        }
    }

    fn on_fetch_applied(&mut self, author: AuthorId, from_seq: u64, applied: bool) {
        let Some(f) = self.fetches.get_mut(&author) else {
            return;
        };
        if f.applying.front().map(|(s, _)| *s) != Some(from_seq) {
            return;
        }
        f.applying.pop_front();
        f.deadline = (!f.applying.is_empty()).then(|| Instant::now() + self.limits.apply_timeout);
        if !applied {
            // The store refused part of it: start again from its head next round.
            self.fetches.remove(&author);
        } else if f.finished() {
            // Caught up with the head this round started from.
            self.fetches.remove(&author);
        } else {
            self.requeue(&author);
        }
        self.pump_all();
    }

    /// Sends what every peer's queue may send: a slot of the node-wide
    /// bound ([`NetLimits::max_ranges_held`]) may have been freed.
    fn pump_all(&mut self) {
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for p in peers {
            self.pump(p);
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        // A range handed over and never reported applied releases its feed.
        self.fetches
            .retain(|_, f| f.deadline.is_none_or(|deadline| deadline > now));
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for p in peers {
            self.start_round(p);
        }
        self.dial_bootstrap();
    }

    fn dial_bootstrap(&mut self) {
        for (peer, addr) in self.bootstrap.clone() {
            if self.swarm.is_connected(&peer) || !self.allowed.contains(&peer) {
                continue;
            }
            let opts = DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                debug!(%addr, %e, "bootstrap dial failed");
            }
        }
    }

    // ----- commands -------------------------------------------------------

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish {
                topic,
                bytes,
                reply,
            } => {
                let _ = reply.send(self.publish(topic, bytes));
            }
            Command::Report {
                msg_id,
                peer,
                verdict,
            } => self.report(&msg_id, &peer, verdict),
            Command::FetchApplied {
                author,
                from_seq,
                applied,
            } => self.on_fetch_applied(author, from_seq, applied),
            Command::Dial { addr, reply } => {
                let opts = match addr.iter().last() {
                    Some(Protocol::P2p(peer)) => DialOpts::peer_id(peer)
                        .addresses(vec![addr.clone()])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build(),
                    _ => DialOpts::unknown_peer_id().address(addr.clone()).build(),
                };
                let r = self
                    .swarm
                    .dial(opts)
                    .map_err(|e| NetError::Other(format!("dial {addr}: {e}")));
                let _ = reply.send(r);
            }
            Command::SetAllowed { peers } => self.set_allowed(peers),
            Command::SyncNow => {
                let peers: Vec<PeerId> = self.peers.keys().copied().collect();
                for p in peers {
                    self.start_round(p);
                }
            }
            Command::Status { reply } => {
                let mut connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                connected.sort();
                let _ = reply.send(NetStatus {
                    local_peer_id: *self.swarm.local_peer_id(),
                    listen_addrs: self.listen_addrs.clone(),
                    connected,
                    peer_heads: self
                        .peers
                        .iter()
                        .filter_map(|(p, st)| Some((*p, st.heads.clone()?)))
                        .collect(),
                    counters: NetCounters {
                        bad_frames: self.codec.bad_frames(),
                        ..self.counters.clone()
                    },
                });
            }
            Command::Shutdown { .. } => {}
        }
    }

    fn publish(
        &mut self,
        kind: TopicKind,
        bytes: Vec<u8>,
    ) -> Result<gossipsub::MessageId, NetError> {
        let Some(topic) = self.topics.hash(kind).cloned() else {
            return Err(NetError::Other("no such topic".into()));
        };
        let max = kind.max_payload();
        if bytes.len() > max {
            return Err(NetError::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        let id = if kind == TopicKind::Events {
            gossip::event_message_id(&bytes)
        } else {
            gossip::other_message_id(&bytes)
        };
        match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            Ok(id) => Ok(id),
            Err(PublishError::Duplicate) => Ok(id),
            Err(PublishError::NoPeersSubscribedToTopic) => Err(NetError::NoPeers),
            Err(PublishError::MessageTooLarge) => Err(NetError::TooLarge {
                size: max,
                max: kind.max_message(),
            }),
            Err(e) => Err(NetError::Other(format!("publish: {e}"))),
        }
    }

    fn set_allowed(&mut self, peers: HashSet<PeerId>) {
        let gate = &mut self.swarm.behaviour_mut().gate;
        for p in self.allowed.difference(&peers) {
            // Closes every connection to `p`.
            gate.disallow_peer(*p);
        }
        for p in peers.difference(&self.allowed) {
            gate.allow_peer(*p);
        }
        info!(members = peers.len(), "allowed peers updated");
        self.allowed = peers;
    }
}

/// Fails when the TCP port of `addr` is held by another socket. libp2p's
/// TCP transport binds with port reuse, so a second node given a running
/// node's port would share it (and say it listens), and a port held by
/// another program fails without a reason: a plain bind first tells both,
/// with the operating system's reason. Port 0 (any free port) is not checked.
fn check_port_free(addr: &Multiaddr) -> Result<(), NetError> {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    let (Some(ip), Some(port)) = (ip, port) else {
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    // SO_REUSEADDR, as every server sets: connections of an earlier run
    // still in TIME_WAIT do not hold the port, a listening socket does.
    let target = std::net::SocketAddr::new(ip, port);
    let probe = socket2::Socket::new(
        socket2::Domain::for_address(target),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .and_then(|s| {
        s.set_reuse_address(true)?;
        s.bind(&target.into())?;
        s.listen(1)
    });
    probe.map_err(|e| {
        NetError::Other(format!(
            "listen on {addr}: {e} (is another node or program using this port?)"
        ))
    })
}

/// Checks that `events` are at most `max` encoded events of `author`, with
/// consecutive sequence numbers from `from_seq`. Signatures are not checked.
fn check_range(
    events: &[Vec<u8>],
    author: &AuthorId,
    from_seq: u64,
    max: u32,
) -> Result<(), String> {
    if events.len() > max as usize {
        return Err(format!("{} events for {max} asked", events.len()));
    }
    for (i, bytes) in events.iter().enumerate() {
        let ev = SignedEvent::decode(bytes).map_err(|e| format!("event {i}: {e}"))?;
        if ev.author() != author {
            return Err(format!("event {i} is by {}", ev.author()));
        }
        let want = from_seq + i as u64;
        if ev.seq() != want {
            return Err(format!("event {i} has seq {} instead of {want}", ev.seq()));
        }
    }
    Ok(())
}
