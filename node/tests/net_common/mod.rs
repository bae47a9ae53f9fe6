//! Helpers shared by the `net_*` tests: a test charter, real signed events,
//! an in-memory `SyncSource`, and bounded waits. Loopback only.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kpl_node::net::{
    FeedHeadWire, Keypair, Multiaddr, NetConfig, NetEvent, Network, NetworkHandle, PeerId,
    SyncSource,
};
use ledger_core::charter::{AuthorityEntry, ParticipantEntry};
use ledger_core::codec::FORMAT_VERSION;
use ledger_core::{
    AuthorId, AuthorityKey, AuthorityName, Charter, CountryCode, Date, Digest, EventBody,
    EventContent, Role, Roles, SignedEvent, VoidReason,
};
use tokio::sync::mpsc;

pub const PARTICIPANTS: [&str; 4] = ["BW", "CA", "EU", "ZA"];

/// The libp2p key of test node `i`.
pub fn node_key(i: u8) -> Keypair {
    Keypair::ed25519_from_bytes([i + 1; 32]).expect("32-byte seed")
}

pub fn peer(i: u8) -> PeerId {
    node_key(i).public().to_peer_id()
}

/// The authority key of participant `p`.
pub fn authority_key(p: usize) -> AuthorityKey {
    AuthorityKey::from_seed([100 + p as u8; 32])
}

pub fn author(p: usize) -> AuthorId {
    AuthorId::new(PARTICIPANTS[p], "mme").unwrap()
}

/// A charter whose participants' nodes are test nodes `members`
/// (participant `i % 4` runs node `members[i]`).
pub fn charter(members: &[u8]) -> Charter {
    let mut c = Charter::new(
        "kp-test",
        Date::from_days(19_000),
        CountryCode::new("BW").unwrap(),
    );
    for (p, code) in PARTICIPANTS.iter().enumerate() {
        let nodes = members
            .iter()
            .enumerate()
            .filter(|(i, _)| i % PARTICIPANTS.len() == p)
            .map(|(_, m)| peer(*m).to_base58())
            .collect();
        c.add_participant(ParticipantEntry {
            code: CountryCode::new(code).unwrap(),
            name: format!("Participant {code}"),
            authorities: vec![AuthorityEntry {
                name: AuthorityName::new("mme").unwrap(),
                title: "Ministry of Mines".into(),
                key: authority_key(p).public(),
                roles: Roles::of(&[Role::IssueCertificates]),
                next_key_digest: None,
            }],
            nodes,
        })
        .unwrap();
    }
    c.validate().unwrap();
    c
}

/// `n` chained, signed events of participant `p`'s feed.
pub fn feed(network: Digest, p: usize, n: u64) -> Vec<SignedEvent> {
    let key = authority_key(p);
    let mut out: Vec<SignedEvent> = Vec::with_capacity(n as usize);
    for seq in 1..=n {
        let content = EventContent {
            version: FORMAT_VERSION,
            network,
            author: author(p),
            seq,
            prev: out.last().map(|e| e.id()),
            timestamp_ms: 1_700_000_000_000 + seq,
            body: EventBody::CertificateVoided {
                certificate: format!("{}-{seq:06}", PARTICIPANTS[p]),
                reason: VoidReason::Cancelled,
                note: String::new(),
            },
        };
        out.push(key.sign(content));
    }
    out
}

/// An in-memory store of feeds, serving sync.
#[derive(Default)]
pub struct MemSource {
    feeds: Mutex<BTreeMap<AuthorId, Vec<Vec<u8>>>>,
    /// When not 0, ranges are answered with at most this many events (as a
    /// peer does when it cuts an answer at the size limit).
    range_cap: std::sync::atomic::AtomicUsize,
}

impl MemSource {
    pub fn with(events: &[SignedEvent]) -> Arc<MemSource> {
        let s = MemSource::default();
        for e in events {
            s.append(&e.encode()).unwrap();
        }
        Arc::new(s)
    }

    /// Appends the next event of its feed; refuses gaps and duplicates.
    pub fn append(&self, bytes: &[u8]) -> Result<(), String> {
        let ev = SignedEvent::decode(bytes).map_err(|e| e.to_string())?;
        let mut feeds = self.feeds.lock().unwrap();
        let feed = feeds.entry(ev.author().clone()).or_default();
        if ev.seq() != feed.len() as u64 + 1 {
            return Err(format!("seq {} after {}", ev.seq(), feed.len()));
        }
        feed.push(bytes.to_vec());
        Ok(())
    }

    /// Answers every later range with at most `cap` events.
    pub fn cap_ranges(&self, cap: usize) {
        self.range_cap
            .store(cap, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn len(&self, author: &AuthorId) -> usize {
        self.feeds.lock().unwrap().get(author).map_or(0, Vec::len)
    }

    pub fn total(&self) -> usize {
        self.feeds.lock().unwrap().values().map(Vec::len).sum()
    }

    pub fn feed(&self, author: &AuthorId) -> Vec<Vec<u8>> {
        self.feeds
            .lock()
            .unwrap()
            .get(author)
            .cloned()
            .unwrap_or_default()
    }
}

impl SyncSource for MemSource {
    fn heads(&self) -> Vec<FeedHeadWire> {
        self.feeds
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(author, feed)| {
                let last = SignedEvent::decode(feed.last()?).ok()?;
                Some(FeedHeadWire {
                    author: author.clone(),
                    seq: feed.len() as u64,
                    id: last.id(),
                })
            })
            .collect()
    }

    fn range(&self, author: &AuthorId, from_seq: u64, max: usize) -> Vec<Vec<u8>> {
        let feeds = self.feeds.lock().unwrap();
        let Some(feed) = feeds.get(author) else {
            return Vec::new();
        };
        let start = (from_seq.max(1) - 1) as usize;
        let cap = match self.range_cap.load(std::sync::atomic::Ordering::SeqCst) {
            0 => max,
            c => c.min(max),
        };
        feed.iter().skip(start).take(cap).cloned().collect()
    }
}

pub struct TestNode {
    pub handle: NetworkHandle,
    pub events: mpsc::Receiver<NetEvent>,
    pub source: Arc<MemSource>,
    pub peer: PeerId,
}

impl TestNode {
    /// The first listen address, with `/p2p/<peer id>`.
    pub async fn addr(&self) -> Multiaddr {
        let st = self.handle.status().await.unwrap();
        let a = st.listen_addrs.first().expect("listening").clone();
        assert!(
            a.to_string().starts_with("/ip4/127.0.0.1/"),
            "loopback only"
        );
        a.with(libp2p::multiaddr::Protocol::P2p(self.peer))
    }
}

pub fn test_config() -> NetConfig {
    NetConfig {
        sync_interval: Duration::from_secs(2),
        ..NetConfig::default()
    }
}

pub async fn start(i: u8, charter: &Charter, source: Arc<MemSource>) -> TestNode {
    start_with(i, charter, source, test_config()).await
}

pub async fn start_with(
    i: u8,
    charter: &Charter,
    source: Arc<MemSource>,
    config: NetConfig,
) -> TestNode {
    let (handle, events) = Network::spawn(config, node_key(i), charter, source.clone())
        .await
        .expect("network starts");
    TestNode {
        handle,
        events,
        source,
        peer: peer(i),
    }
}

/// Waits (bounded) for an event matching `pred`, skipping others.
pub async fn wait_for<T>(
    rx: &mut mpsc::Receiver<NetEvent>,
    within: Duration,
    mut pred: impl FnMut(NetEvent) -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + within;
    for _ in 0..100_000 {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => {
                if let Some(t) = pred(ev) {
                    return Some(t);
                }
            }
            Ok(None) | Err(_) => return None,
        }
    }
    None
}

/// Waits (bounded) until `node` reports `peer` as connected.
pub async fn wait_connected(node: &TestNode, peer: PeerId, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    for _ in 0..10_000 {
        if node
            .handle
            .status()
            .await
            .unwrap()
            .connected
            .contains(&peer)
        {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Publishes, retrying (bounded) while no peer has subscribed yet.
pub async fn publish_retry(node: &TestNode, bytes: Vec<u8>) -> kpl_node::net::MessageId {
    for _ in 0..100 {
        match node.handle.publish(bytes.clone()).await {
            Ok(id) => return id,
            Err(kpl_node::net::NetError::NoPeers) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("publish: {e}"),
        }
    }
    panic!("no peer subscribed within 10 s");
}
