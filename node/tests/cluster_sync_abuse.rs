//! A misbehaving member abusing the anti-entropy protocol
//! `/kp-ledger/sync/1` against real honest node processes. The member
//! (EU, a charter participant whose node is not started) connects with its
//! own libp2p key and writes whatever it likes on sync streams:
//!
//! - requests for absurd ranges (from seq 1 to `u32::MAX` events, from
//!   `u64::MAX`, of an author nobody knows), frames the protocol refuses,
//!   and hundreds of requests at once: every answer is bounded or the
//!   stream is closed, nothing is stored, the honest nodes go on serving
//!   each other;
//! - slow-loris streams (a request written a byte at a time, a length
//!   prefix and then silence, many such streams at once): each stream is
//!   dropped by the request deadline, and the honest nodes go on serving
//!   each other meanwhile.
//!
//! The peak RSS of every honest node is measured before and after each
//! attack and must grow by less than a stated bound.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use kpl_node::net::wire::{
    self, check_response, read_frame, SyncRequest, SyncResponse, MAX_RANGE_EVENTS,
    MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES,
};
use kpl_node::net::{Keypair, Multiaddr, NetLimits, PeerId};
use kpl_tests::{wait_until, PeakRss, TestNet};
use ledger_core::{codec, AuthorId};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::StreamProtocol;
use tokio::sync::{mpsc, oneshot};

mod lying;
use kpl_api::paths;
use lying::{honest_addrs, honest_ids, network, HONEST, SINGLE_ATTACK_RSS_KIB, WITHIN};

/// What the member writes on one sync stream.
#[derive(Clone, Debug)]
enum Write {
    /// These bytes at once (a frame, well-formed or not), then the write
    /// side is closed.
    Bytes(Vec<u8>),
    /// These bytes one at a time, `gap` apart, then the write side is
    /// closed.
    Trickle { bytes: Vec<u8>, gap: Duration },
    /// These bytes, then nothing for `silence`, then `after`.
    Stall {
        bytes: Vec<u8>,
        silence: Duration,
        after: Vec<u8>,
    },
}

/// The member's side of the sync protocol: writes a [`Write`], reads a
/// response under the protocol's bounds.
#[derive(Clone, Default)]
struct LiarCodec;

impl request_response::Codec for LiarCodec {
    type Protocol = StreamProtocol;
    type Request = Write;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Write>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(io::Error::other("the member serves nothing"))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let res = read_frame(io, MAX_RESPONSE_BYTES).await?;
        check_response(&res)?;
        Ok(res)
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, w: Write) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match w {
            Write::Bytes(b) => io.write_all(&b).await?,
            Write::Trickle { bytes, gap } => {
                for b in bytes {
                    io.write_all(&[b]).await?;
                    io.flush().await?;
                    tokio::time::sleep(gap).await;
                }
            }
            Write::Stall {
                bytes,
                silence,
                after,
            } => {
                io.write_all(&bytes).await?;
                io.flush().await?;
                tokio::time::sleep(silence).await;
                io.write_all(&after).await?;
            }
        }
        io.flush().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(io::Error::other("the member serves nothing"))
    }
}

/// How one stream ended, and when (from the request being queued).
#[derive(Debug)]
struct Outcome {
    result: Result<SyncResponse, String>,
    took: Duration,
}

type Reply = oneshot::Sender<Outcome>;

/// The member: a bare libp2p swarm with EU's key that speaks only the
/// requester's side of `/kp-ledger/sync/1`, with a client deadline far
/// beyond the honest nodes' so that what ends a stream is their doing.
struct Liar {
    rt: tokio::runtime::Runtime,
    tx: mpsc::Sender<(PeerId, Write, Reply)>,
    stop: Option<oneshot::Sender<()>>,
}

/// The member's own deadline of one stream.
const LIAR_TIMEOUT: Duration = Duration::from_secs(120);

impl Liar {
    fn connect(net: &TestNet) -> Liar {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel(1024);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (up_tx, up_rx) = std::sync::mpsc::channel();
        rt.spawn(drive(
            net.p2p_key("EU"),
            honest_addrs(net),
            honest_ids(net),
            rx,
            up_tx,
            stop_rx,
        ));
        up_rx
            .recv_timeout(WITHIN + Duration::from_secs(5))
            .expect("the member reports")
            .expect("the member connects to every honest node");
        Liar {
            rt,
            tx,
            stop: Some(stop_tx),
        }
    }

    /// Queues `w` on a new stream to `peer`; the outcome arrives on the
    /// receiver.
    fn send(&self, peer: &str, w: Write) -> oneshot::Receiver<Outcome> {
        let (reply, rx) = oneshot::channel();
        let peer: PeerId = peer.parse().unwrap();
        self.tx.blocking_send((peer, w, reply)).unwrap();
        rx
    }

    /// Waits (at most `within`) for the outcomes of `pending`, in order.
    fn outcomes(&self, pending: Vec<oneshot::Receiver<Outcome>>, within: Duration) -> Vec<Outcome> {
        self.rt.block_on(async {
            let deadline = tokio::time::Instant::now() + within;
            let mut out = Vec::new();
            for rx in pending {
                match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(o)) => out.push(o),
                    Ok(Err(_)) => panic!("the member's driver went away"),
                    Err(_) => panic!("a sync stream still open after {within:?}"),
                }
            }
            out
        })
    }

    /// Sends `w` to `peer` and waits (at most `within`) for its outcome.
    fn ask(&self, peer: &str, w: Write, within: Duration) -> Outcome {
        let rx = self.send(peer, w);
        self.outcomes(vec![rx], within).pop().unwrap()
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn drive(
    key: Keypair,
    addrs: Vec<Multiaddr>,
    ids: Vec<String>,
    mut rx: mpsc::Receiver<(PeerId, Write, Reply)>,
    up: std::sync::mpsc::Sender<Result<(), String>>,
    mut stop: oneshot::Receiver<()>,
) {
    let behaviour = request_response::Behaviour::with_codec(
        LiarCodec,
        [(wire::SYNC_PROTOCOL, ProtocolSupport::Outbound)],
        request_response::Config::default()
            .with_request_timeout(LIAR_TIMEOUT)
            .with_max_concurrent_streams(256),
    );
    let built = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|e| e.to_string())
        .and_then(|b| b.with_behaviour(|_| behaviour).map_err(|e| e.to_string()));
    let mut swarm = match built {
        Ok(b) => b
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build(),
        Err(e) => {
            let _ = up.send(Err(e));
            return;
        }
    };
    let ready = lying::dial_and_await(&mut swarm, addrs, &ids, "connected to", |ev| match ev {
        libp2p::swarm::SwarmEvent::ConnectionEstablished { peer_id, .. } => Some(*peer_id),
        _ => None,
    })
    .await;
    if let Err(e) = ready {
        let _ = up.send(Err(e));
        return;
    }
    let _ = up.send(Ok(()));
    let mut pending: HashMap<OutboundRequestId, (Reply, Instant)> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    for _ in 0..10_000_000 {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep_until(deadline) => return,
            cmd = rx.recv() => match cmd {
                Some((peer, w, reply)) => {
                    let id = swarm.behaviour_mut().send_request(&peer, w);
                    pending.insert(id, (reply, Instant::now()));
                }
                None => return,
            },
            ev = swarm.select_next_some() => {
                use request_response::{Event, Message};
                let (id, result) = match ev {
                    libp2p::swarm::SwarmEvent::Behaviour(Event::Message {
                        message: Message::Response { request_id, response },
                        ..
                    }) => (request_id, Ok(response)),
                    libp2p::swarm::SwarmEvent::Behaviour(Event::OutboundFailure {
                        request_id,
                        error,
                        ..
                    }) => (request_id, Err(error.to_string())),
                    _ => continue,
                };
                if let Some((reply, at)) = pending.remove(&id) {
                    let _ = reply.send(Outcome { result, took: at.elapsed() });
                }
            }
        }
    }
}

/// One frame around `body` (the length prefix is the body's).
fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn request(req: &SyncRequest) -> Vec<u8> {
    frame(&codec::encode(req))
}

fn range(author: &AuthorId, from_seq: u64, max: u32) -> Vec<u8> {
    request(&SyncRequest::Range {
        author: author.clone(),
        from_seq,
        max,
    })
}

/// Size of a node's log file, in bytes.
fn log_bytes(net: &TestNet, label: &str) -> u64 {
    std::fs::metadata(net.node(label).data_dir.join("node.log"))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// What an attack may add to an honest node's log: a few lines, not one
/// per stream the member opens.
const LOG_BOUND_BYTES: u64 = 64 * 1024;

/// Checks no honest node's log grew by [`LOG_BOUND_BYTES`] or more since
/// `before` (one size per node of [`HONEST`]).
fn assert_log_bounded(net: &TestNet, attack: &str, before: &[u64]) {
    for (l, b) in HONEST.iter().zip(before) {
        let grew = log_bytes(net, l).saturating_sub(*b);
        eprintln!("log: {attack}: {l}: +{grew} bytes");
        assert!(
            grew < LOG_BOUND_BYTES,
            "{attack}: {l}'s log grew by {grew} bytes"
        );
    }
}

fn counter(net: &TestNet, label: &str, name: &str) -> u64 {
    net.status(label)["network_counters"][name]
        .as_u64()
        .unwrap_or(0)
}

/// Checks the honest nodes stored nothing of the attack (heads as `before`,
/// no fork proof) and go on serving each other: a genuine write on `on`
/// reaches all of them within [`WITHIN`]. Returns the heads after it.
fn assert_still_serving(net: &TestNet, on: &str, before: &kpl_tests::Heads, n: u64) {
    for l in HONEST {
        assert_eq!(&net.heads(l), before, "{l}: heads moved");
        assert_eq!(
            net.get(l, paths::FORKS)["fork_proofs"],
            serde_json::json!([])
        );
    }
    let started = Instant::now();
    let c = net.issue(on, if on == "BW" { "ZA" } else { "BW" }, n);
    net.wait_heads_equal(&HONEST, kpl_tests::total(before) + 1, WITHIN);
    for l in HONEST {
        assert_eq!(net.get_status(l, &paths::certificate(&c.number)).0, 200);
        net.assert_verified(l);
    }
    eprintln!(
        "a genuine write on {on} reached every honest node in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Requests for absurd ranges, frames the protocol refuses, and bursts of
/// hundreds of requests at once: each answer is bounded (at most what the
/// node holds and at most the protocol's bounds), `Busy`, or the stream is
/// closed without an answer; nothing is stored; the honest nodes go on
/// serving each other; their peak RSS stays within a bound.
#[test]
fn absurd_sync_requests_get_bounded_answers() {
    let net = network("kp-sync-absurd");
    for n in 1..=3 {
        net.issue("BW", "ZA", n);
    }
    let before = net.wait_heads_equal(&HONEST, 3, WITHIN);
    let rss = PeakRss::now(&net, &HONEST);
    let log_before: Vec<u64> = HONEST.iter().map(|l| log_bytes(&net, l)).collect();
    let bad_before: Vec<u64> = HONEST
        .iter()
        .map(|l| counter(&net, l, "bad_frames"))
        .collect();
    let liar = Liar::connect(&net);
    let bw = net.author("BW");
    let nobody = AuthorId::new("XX", "nobody").unwrap();
    let quick = Duration::from_secs(10);
    for l in HONEST {
        let peer = net.peer_id(l);
        let ask = |w: Vec<u8>| liar.ask(&peer, Write::Bytes(w), quick);
        // The whole of BW's feed, however many events are asked for.
        let o = ask(range(&bw, 1, u32::MAX));
        match &o.result {
            Ok(SyncResponse::Events(e)) => assert_eq!(e.len(), 3, "{l}"),
            other => panic!("{l}: range 1..u32::MAX: {other:?}"),
        }
        // Nothing beyond the head, nothing of an unknown author.
        for (w, what) in [
            (range(&bw, u64::MAX, u32::MAX), "from u64::MAX"),
            (range(&bw, 4, 1), "from past the head"),
            (range(&nobody, 1, u32::MAX), "an unknown author"),
        ] {
            let o = ask(w);
            assert!(
                matches!(&o.result, Ok(SyncResponse::Events(e)) if e.is_empty()),
                "{l}: {what}: {o:?}"
            );
        }
        // Heads: what the node holds.
        let o = ask(request(&SyncRequest::Heads));
        match &o.result {
            Ok(SyncResponse::Heads(h)) => {
                let held = before.values().filter(|h| h.0 > 0).count();
                assert_eq!(h.len(), held, "{l}: {h:?}");
            }
            other => panic!("{l}: heads: {other:?}"),
        }
        // Refused by the codec: the stream is closed without an answer.
        let mut trailing = codec::encode(&SyncRequest::Heads);
        trailing.extend_from_slice(&[0; 8]);
        let refused = [
            (range(&bw, 0, 10), "from seq 0"),
            (range(&bw, 1, 0), "0 events"),
            (frame(&trailing), "trailing bytes"),
            (frame(&[0xff; 16]), "a body that does not decode"),
            (u32::MAX.to_be_bytes().to_vec(), "a prefix of u32::MAX"),
            (
                frame(&vec![0; MAX_REQUEST_BYTES + 1]),
                "a body over the bound",
            ),
            (vec![0, 0, 0, 0], "an empty frame"),
        ];
        let n_refused = refused.len() as u64;
        for (w, what) in refused {
            let o = ask(w);
            assert!(o.result.is_err(), "{l}: {what} was answered: {o:?}");
            assert!(o.took < quick, "{l}: {what}: {o:?}");
        }
        let i = HONEST.iter().position(|h| *h == l).unwrap();
        wait_until(
            WITHIN,
            Duration::from_millis(100),
            "the refused frames counted",
            || (counter(&net, l, "bad_frames") >= bad_before[i] + n_refused).then_some(()),
        )
        .unwrap();
    }

    // Bursts of 200 requests at once to every honest node, alternating
    // the widest range and heads, one after the other for as long as a
    // genuine write takes to go round (at least 2 s, at most 100 bursts
    // or 40 s).
    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let (events, heads, busy, closed, slowest, sent) = std::thread::scope(|s| {
        let burst = s.spawn(|| {
            let (mut events, mut heads, mut busy, mut closed) = (0u32, 0u32, 0u32, 0u32);
            let mut slowest = Duration::ZERO;
            let mut sent = 0u32;
            for _ in 0..100 {
                if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(40) {
                    break;
                }
                let mut pending = Vec::new();
                for l in HONEST {
                    let peer = net.peer_id(l);
                    for k in 0..200 {
                        let w = if k % 2 == 0 {
                            range(&bw, 1, u32::MAX)
                        } else {
                            request(&SyncRequest::Heads)
                        };
                        pending.push(liar.send(&peer, Write::Bytes(w)));
                        sent += 1;
                    }
                }
                for o in liar.outcomes(pending, Duration::from_secs(60)) {
                    slowest = slowest.max(o.took);
                    match o.result {
                        Ok(SyncResponse::Events(e)) => {
                            assert!(e.len() == 3 && e.len() <= MAX_RANGE_EVENTS, "{e:?}");
                            events += 1;
                        }
                        Ok(SyncResponse::Heads(_)) => heads += 1,
                        Ok(SyncResponse::Busy) => busy += 1,
                        Err(_) => closed += 1,
                    }
                }
            }
            (events, heads, busy, closed, slowest, sent)
        });
        std::thread::sleep(Duration::from_millis(500));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_still_serving(&net, "ZA", &before, 700)
        }));
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        let tally = burst.join().expect("the bursts");
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
        tally
    });
    let burst_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "absurd ranges: {sent} requests in {burst_secs:.1} s: {events} ranges answered (3 events each), {heads} heads answered, {busy} busy, {closed} streams refused or closed; slowest outcome {:.1} s",
        slowest.as_secs_f64()
    );
    assert!(events > 0 && heads > 0, "nothing answered");
    assert!(
        slowest < NetLimits::default().request_timeout,
        "{slowest:?}"
    );
    drop(liar);
    let after = net.heads("BW");
    assert_eq!(kpl_tests::total(&after), kpl_tests::total(&before) + 1);
    for l in HONEST {
        assert_eq!(net.heads(l), after, "{l}");
        net.assert_verified(l);
    }
    rss.check(&net, "absurd ranges", SINGLE_ATTACK_RSS_KIB);
    assert_log_bounded(&net, "absurd ranges", &log_before);
}

/// Slow-loris streams: a request written a byte at a time, too slowly to
/// finish; a length prefix and then silence; and 40 such streams at once to
/// one node. The honest node drops each stream at its request deadline
/// (`NetLimits::request_timeout`, 30 s, which covers reading the request),
/// holds at most a connection's stream limit of them at once (streams
/// beyond it are dropped at once), answers a slow but finished request, and
/// goes on serving the other honest nodes meanwhile.
#[test]
fn slow_loris_sync_streams_are_dropped_at_the_deadline() {
    let net = network("kp-sync-loris");
    let before = net.heads("BW");
    let rss = PeakRss::now(&net, &HONEST);
    let log_before: Vec<u64> = HONEST.iter().map(|l| log_bytes(&net, l)).collect();
    let liar = Liar::connect(&net);
    let deadline = NetLimits::default().request_timeout;
    let heads = request(&SyncRequest::Heads);
    // A prefix announcing the largest request, so there is always more to
    // send.
    let big_prefix = (MAX_REQUEST_BYTES as u32).to_be_bytes().to_vec();
    let started = Instant::now();
    let mut pending = Vec::new();
    let mut kinds = Vec::new();
    for l in HONEST {
        let peer = net.peer_id(l);
        // Slow but finished well within the deadline: answered.
        pending.push(liar.send(
            &peer,
            Write::Trickle {
                bytes: heads.clone(),
                gap: Duration::from_millis(300),
            },
        ));
        kinds.push((l, "slow but finished"));
        // A byte every 5 s: the 8-byte request would take 40 s.
        pending.push(liar.send(
            &peer,
            Write::Trickle {
                bytes: heads.clone(),
                gap: Duration::from_secs(5),
            },
        ));
        kinds.push((l, "byte by byte"));
        // A length prefix, then 45 s of silence, then the body: by then
        // the stream is gone.
        pending.push(liar.send(
            &peer,
            Write::Stall {
                bytes: big_prefix.clone(),
                silence: Duration::from_secs(45),
                after: vec![0; MAX_REQUEST_BYTES],
            },
        ));
        kinds.push((l, "prefix then silence"));
    }
    // Many unfinished streams at once to BW (after the ones above have
    // their streams): a prefix and then a byte a second.
    std::thread::sleep(Duration::from_millis(500));
    let bw = net.peer_id("BW");
    for _ in 0..40 {
        let mut bytes = big_prefix.clone();
        bytes.extend(vec![0u8; MAX_REQUEST_BYTES]);
        pending.push(liar.send(
            &bw,
            Write::Trickle {
                bytes,
                gap: Duration::from_secs(1),
            },
        ));
        kinds.push(("BW", "one of many"));
    }
    // While the streams are held, the honest nodes serve each other.
    std::thread::sleep(Duration::from_secs(3));
    assert_still_serving(&net, "BW", &before, 800);

    let outcomes = liar.outcomes(pending, deadline + Duration::from_secs(30));
    let total_secs = started.elapsed().as_secs_f64();
    let mut at_once = 0;
    let mut at_deadline = Vec::new();
    for ((l, kind), o) in kinds.iter().zip(&outcomes) {
        match *kind {
            "slow but finished" => assert!(
                matches!(&o.result, Ok(SyncResponse::Heads(_))),
                "{l}: {kind}: {o:?}"
            ),
            "byte by byte" => {
                assert!(o.result.is_err(), "{l}: {kind}: {o:?}");
                // Dropped by the node's deadline: after it, and before the
                // member would have finished (40 s); the member notices at
                // its next byte, at most 5 s later.
                assert!(
                    o.took >= deadline - Duration::from_secs(2)
                        && o.took < deadline + Duration::from_secs(8),
                    "{l}: {kind}: {o:?}"
                );
                at_deadline.push(o.took.as_secs_f64());
            }
            "prefix then silence" => {
                // When the member speaks again (45 s), the stream is gone.
                assert!(o.result.is_err(), "{l}: {kind}: {o:?}");
                assert!(o.took < Duration::from_secs(52), "{l}: {kind}: {o:?}");
            }
            _ => {
                assert!(o.result.is_err(), "{l}: {kind}: {o:?}");
                assert!(o.took < deadline + Duration::from_secs(9), "{kind}: {o:?}");
                if o.took < Duration::from_secs(5) {
                    at_once += 1;
                }
            }
        }
    }
    let held = 40 - at_once;
    let limits = NetLimits::default();
    let per_connection =
        limits.max_inbound_requests_per_peer + limits.max_outbound_requests_per_peer + 2;
    eprintln!(
        "slow-loris: all {} streams ended in {total_secs:.1} s; slow ones dropped after {:.1}..{:.1} s (deadline {deadline:?}); of 40 unfinished streams to BW {at_once} dropped at once, {held} held until the deadline (stream limit {per_connection} per connection)",
        outcomes.len(),
        at_deadline.iter().cloned().fold(f64::MAX, f64::min),
        at_deadline.iter().cloned().fold(0.0, f64::max),
    );
    assert!(
        held <= per_connection,
        "{held} unfinished streams held by BW"
    );
    // The member's connections are still usable: a plain request is answered.
    for l in HONEST {
        let o = liar.ask(&net.peer_id(l), Write::Bytes(heads.clone()), WITHIN);
        assert!(matches!(o.result, Ok(SyncResponse::Heads(_))), "{l}: {o:?}");
    }
    drop(liar);
    rss.check(&net, "slow-loris", SINGLE_ATTACK_RSS_KIB);
    assert_log_bounded(&net, "slow-loris", &log_before);
}
