//! A misbehaving member against real node processes. The member
//! is a charter participant whose node process is not started; the test
//! plays it with its own libp2p key (`p2p.key`) and authority key
//! (`<label>.key`) and publishes crafted bytes:
//!
//! - a forged signature, a broken chain link, a wrong-network event and an
//!   oversized message are refused: nothing of them is stored, the honest
//!   nodes count the refusal in `kpl_verification_failures_total`, and go
//!   on working (a later genuine write still propagates);
//! - two different events for one sequence number, sent to different
//!   nodes, leave every node holding the same fork proof.
//!
//! Each test prints every honest node's peak RSS before and after the
//! attack and bounds its growth. Abuse of the sync protocol is in
//! `cluster_sync_abuse.rs`.

use std::time::Duration;

use futures::StreamExt;
use kpl_node::net::{Keypair, Multiaddr};
use kpl_tests::{
    certificate, peak_rss_kib, sign_event, wait_until, Ghost, Heads, PeakRss, TestNet,
};
use ledger_core::hash::sha256;
use ledger_core::{AuthorityKey, Digest, EventBody, SignedEvent};
use libp2p::gossipsub;

mod lying;
use kpl_api::paths;
use lying::{honest_addrs, honest_ids, network, HONEST, SINGLE_ATTACK_RSS_KIB, WITHIN};

/// EU's next genuine certificate event at `seq` after `prev`.
fn eu_event(net: &TestNet, seq: u64, prev: Option<Digest>, n: u64) -> SignedEvent {
    sign_event(
        &net.key_file("EU").key(),
        net.network_id(),
        &net.author("EU"),
        seq,
        prev,
        EventBody::CertificateIssued(certificate("EU", "BW", n)),
    )
}

/// EU's node identity, connected to every honest node and given time for
/// the gossip subscriptions to be exchanged.
fn eu_ghost(net: &TestNet, serve: &[SignedEvent]) -> Ghost {
    let g = Ghost::spawn(net.p2p_key("EU"), &net.charter(), honest_addrs(net), serve);
    g.wait_connected(&honest_ids(net), WITHIN).unwrap();
    net.wait_connected(&HONEST, WITHIN);
    wait_until(
        WITHIN,
        Duration::from_millis(50),
        "EU listed as peer",
        || {
            HONEST
                .iter()
                .all(|l| net.peers(l).contains(&net.peer_id("EU")))
                .then_some(())
        },
    )
    .unwrap();
    // Subscriptions go out right after the connection; leave them time.
    std::thread::sleep(Duration::from_millis(700));
    g
}

/// Publishes bad event `make(k)` (k = 1, 2, ...) through `g` until every
/// honest node counted a refusal for `reason` (a node whose subscription
/// had not reached the ghost yet misses an attempt; at most three attempts,
/// so the misbehaving peer's gossip score stays above the graylist), then
/// checks nothing was stored (heads as `before`, no attempt's id known) and
/// that the network still works.
fn assert_refused_publish(
    net: &TestNet,
    g: &Ghost,
    reason: &str,
    before: &Heads,
    make: impl Fn(u64) -> SignedEvent,
) {
    let mut ids = Vec::new();
    for k in 1..=3 {
        let ev = make(k);
        ids.push(ev.id().to_hex());
        g.publish(ev.encode(), WITHIN).unwrap();
        if counted(
            net,
            reason,
            Duration::from_secs(if k == 3 { 15 } else { 5 }),
        ) {
            break;
        }
    }
    assert_refused(net, reason, before, &ids);
}

/// Whether every honest node counted a refusal for `reason` within `within`.
fn counted(net: &TestNet, reason: &str, within: Duration) -> bool {
    wait_until(within, Duration::from_millis(100), "refusals", || {
        HONEST
            .iter()
            .all(|l| net.failures(l, reason) >= 1)
            .then_some(())
    })
    .is_ok()
}

/// Checks every honest node counted a refusal for `reason` and stored
/// nothing (heads as `before`, none of `ids` known), and that the network
/// still works: a genuine write on BW reaches everyone.
fn assert_refused(net: &TestNet, reason: &str, before: &Heads, ids: &[String]) {
    if !counted(net, reason, Duration::from_secs(15)) {
        let per: Vec<String> = HONEST
            .iter()
            .map(|l| format!("{l}: {}", net.failures(l, reason)))
            .collect();
        panic!("{reason} not counted on every honest node: {per:?}");
    }
    for l in HONEST {
        assert_eq!(&net.heads(l), before, "{l}: heads moved");
        for id in ids {
            let (status, v) = net.get_status(l, &paths::event(id));
            assert_eq!(status, 404, "{l} stored the refused event: {v}");
        }
        assert_eq!(
            net.get(l, paths::FORKS)["fork_proofs"],
            serde_json::json!([])
        );
    }
    // Honest nodes go on working.
    let c = net.issue("BW", "ZA", 900);
    let got = net.wait_heads_equal(&HONEST, kpl_tests::total(before) + 1, WITHIN);
    assert_eq!(got["BW/mme"].0, before["BW/mme"].0 + 1);
    for l in HONEST {
        assert_eq!(net.get_status(l, &paths::certificate(&c.number)).0, 200);
        net.assert_verified(l);
    }
}

#[test]
fn forged_signature_is_refused() {
    let net = network("kp-cluster-forged");
    let rss = PeakRss::now(&net, &HONEST);
    let before = net.heads("BW");
    let g = eu_ghost(&net, &[]);
    assert_refused_publish(&net, &g, "bad_signature", &before, |k| {
        let mut ev = eu_event(&net, 1, None, k);
        // Signed by a key that is not EU's.
        ev.signature = AuthorityKey::generate()
            .unwrap()
            .sign(ev.content.clone())
            .signature;
        ev
    });
    rss.check(&net, "forged signature", SINGLE_ATTACK_RSS_KIB);
}

#[test]
fn broken_chain_link_is_refused() {
    let net = network("kp-cluster-link");
    let rss = PeakRss::now(&net, &HONEST);
    // A genuine first event, stored by everyone (served to anti-entropy
    // too, should a node miss the gossip)...
    let first = eu_event(&net, 1, None, 1);
    let g = eu_ghost(&net, std::slice::from_ref(&first));
    g.publish(first.encode(), WITHIN).unwrap();
    let before = net.wait_heads_equal(&HONEST, 1, WITHIN);
    assert_eq!(before["EU/mme"].0, 1);
    // ...then seq 2, properly signed, linked to something else.
    assert_refused_publish(&net, &g, "broken_link", &before, |k| {
        eu_event(
            &net,
            2,
            Some(sha256(&[b"not the head", &k.to_be_bytes()])),
            1 + k,
        )
    });
    rss.check(&net, "broken link", SINGLE_ATTACK_RSS_KIB);
}

#[test]
fn wrong_network_event_is_refused() {
    let net = network("kp-cluster-wrongnet");
    let rss = PeakRss::now(&net, &HONEST);
    let before = net.heads("BW");
    let g = eu_ghost(&net, &[]);
    // EU's own key, EU's place, but another network's id.
    assert_refused_publish(&net, &g, "wrong_network", &before, |k| {
        sign_event(
            &net.key_file("EU").key(),
            sha256(&[b"another network"]),
            &net.author("EU"),
            1,
            None,
            EventBody::CertificateIssued(certificate("EU", "BW", k)),
        )
    });
    rss.check(&net, "wrong network", SINGLE_ATTACK_RSS_KIB);
}

/// A genuinely signed EU event over the 64 KiB event limit (but under the
/// gossip transmit limit, so it reaches the application). The network layer
/// refuses to publish it, so it goes out through a plain gossipsub swarm
/// holding EU's libp2p key.
#[test]
fn oversized_event_is_refused() {
    let net = network("kp-cluster-oversized");
    let rss = PeakRss::now(&net, &HONEST);
    let before = net.heads("BW");
    let mut c = certificate("EU", "BW", 1);
    c.exporter.address = "x".repeat(70 * 1024);
    let ev = sign_event(
        &net.key_file("EU").key(),
        net.network_id(),
        &net.author("EU"),
        1,
        None,
        EventBody::CertificateIssued(c),
    );
    let bytes = ev.encode();
    assert!(bytes.len() > ledger_core::codec::MAX_EVENT_BYTES);
    assert!(bytes.len() < kpl_node::net::gossip::MAX_EVENT_MESSAGE_BYTES - 1024);

    // The node's own network layer will not send it.
    {
        let g = eu_ghost(&net, &[]);
        let e = g.publish(bytes.clone(), WITHIN).unwrap_err();
        assert!(e.contains("exceed"), "{e}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ids = honest_ids(&net);
    let addrs = honest_addrs(&net);
    let topic = kpl_node::net::gossip::events_topic(&net.network_id());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let key = net.p2p_key("EU");
    rt.spawn(raw_publisher(
        key, addrs, ids, topic, bytes, sent_tx, stop_rx,
    ));
    sent_rx
        .recv_timeout(WITHIN)
        .expect("raw publisher reports")
        .expect("raw publish");
    assert_refused(&net, "decode", &before, &[ev.id().to_hex()]);
    let _ = stop_tx.send(());
    rt.shutdown_timeout(Duration::from_secs(2));
    rss.check(&net, "oversized", SINGLE_ATTACK_RSS_KIB);
}

/// A bare gossipsub swarm (signed messages, large transmit limit): dials
/// `addrs`, waits until every peer of `ids` subscribed to `topic`, publishes
/// `data`, reports, and keeps the connections until `stop`.
async fn raw_publisher(
    key: Keypair,
    addrs: Vec<Multiaddr>,
    ids: Vec<String>,
    topic: gossipsub::IdentTopic,
    data: Vec<u8>,
    sent: std::sync::mpsc::Sender<Result<(), String>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let built = (|| -> Result<libp2p::Swarm<gossipsub::Behaviour>, String> {
        let config = gossipsub::ConfigBuilder::default()
            .validation_mode(gossipsub::ValidationMode::Strict)
            .max_transmit_size(256 * 1024)
            .build()
            .map_err(|e| e.to_string())?;
        let mut b =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
                .map_err(|e| e.to_string())?;
        b.subscribe(&topic).map_err(|e| e.to_string())?;
        Ok(libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default(),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .map_err(|e| e.to_string())?
            .with_behaviour(|_| b)
            .map_err(|e| e.to_string())?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build())
    })();
    let mut swarm = match built {
        Ok(s) => s,
        Err(e) => {
            let _ = sent.send(Err(e));
            return;
        }
    };
    let hash = topic.hash();
    let ready = lying::dial_and_await(
        &mut swarm,
        addrs,
        &ids,
        "subscriptions seen",
        |ev| match ev {
            libp2p::swarm::SwarmEvent::Behaviour(gossipsub::Event::Subscribed {
                peer_id,
                topic,
            }) if *topic == hash => Some(*peer_id),
            _ => None,
        },
    )
    .await;
    if let Err(e) = ready {
        let _ = sent.send(Err(e));
        return;
    }
    let r = swarm
        .behaviour_mut()
        .publish(topic.clone(), data)
        .map(|_| ())
        .map_err(|e| e.to_string());
    let _ = sent.send(r);
    // Keep driving the swarm (bounded) so the message goes out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for _ in 0..1_000_000 {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep_until(deadline) => return,
            _ = swarm.select_next_some() => {}
        }
    }
}

/// EU signs two different events for seq 1 and sends one to BW, the other
/// to ZA (two instances of EU's node identity, each connected to one node).
/// Every node, the observer included, ends up with the same fork proof.
#[test]
fn equivocation_ends_with_the_same_fork_proof_everywhere() {
    let net = network("kp-cluster-fork");
    let rss = PeakRss::now(&net, &HONEST);
    let a = eu_event(&net, 1, None, 1);
    let b = eu_event(&net, 1, None, 2);
    assert_ne!(a.id(), b.id());
    let charter = net.charter();
    let to_bw = Ghost::spawn(
        net.p2p_key("EU"),
        &charter,
        net.p2p_addrs("BW"),
        std::slice::from_ref(&a),
    );
    let to_za = Ghost::spawn(
        net.p2p_key("EU"),
        &charter,
        net.p2p_addrs("ZA"),
        std::slice::from_ref(&b),
    );
    to_bw.wait_connected(&[net.peer_id("BW")], WITHIN).unwrap();
    to_za.wait_connected(&[net.peer_id("ZA")], WITHIN).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    to_bw.publish(a.encode(), WITHIN).unwrap();
    to_za.publish(b.encode(), WITHIN).unwrap();

    let (lo, hi) = if a.id() < b.id() {
        (a.id(), b.id())
    } else {
        (b.id(), a.id())
    };
    let want = serde_json::json!([{
        "author": "EU/mme",
        "seq": 1,
        "first": lo.to_hex(),
        "second": hi.to_hex(),
    }]);
    let mut seen = Vec::new();
    let r = wait_until(
        WITHIN,
        Duration::from_millis(100),
        "the fork proof on every node",
        || {
            seen = HONEST
                .iter()
                .map(|l| net.get(l, paths::FEEDS)["fork_proofs"].clone())
                .collect();
            seen.iter().all(|f| *f == want).then_some(())
        },
    );
    if let Err(e) = r {
        panic!("{e}: want {want}, seen {seen:?}");
    }
    // The full proofs are byte-identical everywhere.
    let proofs: Vec<_> = HONEST
        .iter()
        .map(|l| net.get(l, paths::FORKS)["fork_proofs"][0]["proof_hex"].clone())
        .collect();
    assert!(proofs[0].is_string());
    assert!(proofs.iter().all(|p| *p == proofs[0]), "{proofs:?}");
    for l in HONEST {
        net.assert_verified(l);
        assert!(net.metric(l, "kpl_fork_proofs") == 1, "{l}");
        // One side stays in the feed (the first seen); both numbers show
        // the fork.
        for n in ["EU-2026-0000001", "EU-2026-0000002"] {
            let v = net.get(l, &paths::certificate(n));
            assert_eq!(v["status"], "forked", "{l}: {v}");
        }
    }
    // Every node also keeps one side in EU's feed (anti-entropy brings it
    // to a node that only received the proof).
    wait_until(
        WITHIN,
        Duration::from_millis(100),
        "a side of the fork in every feed",
        || {
            HONEST
                .iter()
                .all(|l| net.heads(l)["EU/mme"].0 == 1)
                .then_some(())
        },
    )
    .unwrap();
    // The honest network goes on working.
    let c = net.issue("ZA", "BW", 1);
    wait_until(
        WITHIN,
        Duration::from_millis(100),
        "ZA's write everywhere",
        || {
            HONEST
                .iter()
                .all(|l| net.get_status(l, &paths::certificate(&c.number)).0 == 200)
                .then_some(())
        },
    )
    .unwrap();
    rss.check(&net, "equivocation", SINGLE_ATTACK_RSS_KIB);
}

/// A member floods the event topic with valid-looking garbage: events with
/// EU's place and bad signatures, bodies that do not decode, and random
/// bytes, 1,500 messages as fast as its network layer sends them. Honest
/// nodes store nothing of it, keep working, and their memory stays within
/// a bound; the figures are printed.
#[test]
fn a_flood_of_garbage_is_refused_in_bounded_memory() {
    let net = network("kp-cluster-flood");
    let before = net.heads("BW");
    let rss_before: Vec<u64> = HONEST.iter().map(|l| peak_rss_kib(net.pid(l))).collect();
    let g = eu_ghost(&net, &[]);
    let started = std::time::Instant::now();
    let mut sent = 0u32;
    let mut refused_locally = 0u32;
    for k in 0..1_500u64 {
        let bytes = match k % 3 {
            // A well-formed event of EU's, signed by someone else.
            0 => {
                let mut ev = eu_event(&net, 1 + k % 7, None, 10_000 + k);
                ev.signature = AuthorityKey::generate()
                    .unwrap()
                    .sign(ev.content.clone())
                    .signature;
                ev.encode()
            }
            // A real event's bytes, cut short.
            1 => {
                let b = eu_event(&net, 1, None, 20_000 + k).encode();
                b[..b.len() / 2].to_vec()
            }
            // Random bytes of random length.
            _ => sha256(&[&k.to_be_bytes()])
                .as_bytes()
                .iter()
                .cycle()
                .take(64 + (k as usize * 37) % 4_000)
                .copied()
                .collect(),
        };
        match g.publish(bytes, Duration::from_secs(2)) {
            Ok(_) => sent += 1,
            // Graylisted or no peer left to send to: the flood is cut off.
            Err(_) => refused_locally += 1,
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    let flood_secs = started.elapsed().as_secs_f64();
    drop(g);
    // Nothing stored; the network goes on working (a genuine write on BW
    // reaches everyone and every replica verifies).
    for l in HONEST {
        assert_eq!(&net.heads(l), &before, "{l}: heads moved");
        assert_eq!(
            net.get(l, paths::FORKS)["fork_proofs"],
            serde_json::json!([])
        );
    }
    let c = net.issue("BW", "ZA", 901);
    net.wait_heads_equal(&HONEST, kpl_tests::total(&before) + 1, WITHIN);
    for l in HONEST {
        assert_eq!(net.get_status(l, &paths::certificate(&c.number)).0, 200);
        net.assert_verified(l);
    }
    for (i, l) in HONEST.iter().enumerate() {
        let after = peak_rss_kib(net.pid(l));
        let grew = after.saturating_sub(rss_before[i]);
        eprintln!(
            "flood: {l}: peak RSS {} MiB before, {} MiB after ({} MiB more); {sent} sent, {refused_locally} not sent, in {flood_secs:.1} s; refusals counted: bad_signature {}, decode {}",
            rss_before[i] / 1024,
            after / 1024,
            grew / 1024,
            net.failures(l, "bad_signature"),
            net.failures(l, "decode"),
        );
        // Bounded: the flood costs an honest node well under 64 MiB.
        assert!(grew < 64 * 1024, "{l}: peak RSS grew by {grew} KiB");
    }
}

/// A member that connects, identifies itself and goes away at once (a
/// restart, a crash) is logged as disconnected, not as refusing this node.
#[test]
fn a_member_that_just_disconnects_is_not_taken_for_a_refusal() {
    let net = network("kp-cluster-gone");
    let g = Ghost::spawn(net.p2p_key("EU"), &net.charter(), honest_addrs(&net), &[]);
    g.wait_connected(&honest_ids(&net), WITHIN).unwrap();
    // Identify goes out right after the connection; leave it time to
    // arrive, well within the 2 s a refusal is judged by.
    std::thread::sleep(Duration::from_millis(400));
    drop(g);
    wait_until(
        WITHIN,
        Duration::from_millis(100),
        "EU gone from the peers",
        || {
            HONEST
                .iter()
                .all(|l| !net.peers(l).contains(&net.peer_id("EU")))
                .then_some(())
        },
    )
    .unwrap();
    for l in HONEST {
        let log = net.log_tail(l, 400);
        assert!(
            !log.contains("membership gate may refuse"),
            "{l} took a disconnection for a refusal:\n{log}"
        );
    }
}
