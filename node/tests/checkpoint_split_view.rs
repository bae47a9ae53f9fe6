//! A split view on real node processes: EU (played in the test
//! by network instances holding EU's libp2p key and authority key) publishes
//! its feed and a genuine checkpoint, which the honest nodes cosign; then it
//! signs two checkpoints inconsistent with it (a smaller tree with another
//! root, and the same size with another root) and sends them to BW alone.
//! BW catches both, and the same two split-view proofs reach every node,
//! the observer included; each verifies with nothing but EU's key.

use std::time::Duration;

use kpl_api::paths;
use kpl_node::net::NetError;
use kpl_tests::{certificate, members, sign_event, wait_until, Ghost, TestNet};
use ledger_core::hash::sha256;
use ledger_core::tlog::checkpoint::{feed_origin, Checkpoint};
use ledger_core::tlog::merkle::{event_leaf_hash, root_from_leaf_hashes};
use ledger_core::tlog::note::{Ed25519Signer, Ed25519Verifier, NoteVerifier};
use ledger_core::tlog::witness::SplitViewProof;
use ledger_core::{Digest, EventBody, SignedEvent};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(60);
const HONEST: [&str; 3] = ["BW", "ZA", "wdc"];

/// Publishes a signed checkpoint note through a ghost, retrying while no
/// peer has subscribed yet.
fn publish_checkpoint(g: &Ghost, note: &str) {
    wait_until(
        WITHIN,
        Duration::from_millis(100),
        "a subscribed peer",
        || match futures::executor::block_on(g.handle.publish_checkpoint(note.as_bytes().to_vec()))
        {
            Ok(_) => Some(()),
            Err(NetError::NoPeers) => None,
            Err(e) => panic!("publish: {e}"),
        },
    )
    .unwrap();
}

fn split_views(net: &TestNet, label: &str) -> Vec<Value> {
    net.get(label, paths::SPLIT_VIEWS)["split_views"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn inconsistent_checkpoints_end_as_the_same_split_view_proofs_everywhere() {
    let mut net = TestNet::create(EXE, "kp-cp-split", &members(&["BW", "ZA", "EU"], &["wdc"]));
    net.start_all(&HONEST, WITHIN);
    let c = net.charter();
    let eu = net.author("EU");
    let key = net.key_file("EU").key();
    let origin = feed_origin(&c.network, &c.network_id(), &eu).unwrap();
    let signer = Ed25519Signer::from_authority_key(&origin, &key).unwrap();

    // EU's genuine feed of three events.
    let mut events: Vec<SignedEvent> = Vec::new();
    for n in 1..=3u64 {
        let prev = events.last().map(SignedEvent::id);
        events.push(sign_event(
            &key,
            c.network_id(),
            &eu,
            n,
            prev,
            EventBody::CertificateIssued(certificate("EU", "BW", n)),
        ));
    }
    let leaves: Vec<Digest> = events.iter().map(|e| event_leaf_hash(&e.id())).collect();
    let root3 = root_from_leaf_hashes(&leaves);

    {
        let addrs = HONEST.iter().flat_map(|l| net.p2p_addrs(l)).collect();
        let ids: Vec<String> = HONEST.iter().map(|l| net.peer_id(l)).collect();
        let g = Ghost::spawn(net.p2p_key("EU"), &c, addrs, &events);
        g.wait_connected(&ids, WITHIN).unwrap();
        std::thread::sleep(Duration::from_millis(700));
        for e in &events {
            g.publish(e.encode(), WITHIN).unwrap();
        }
        // Whatever gossip missed, anti-entropy brings.
        wait_until(
            WITHIN,
            Duration::from_millis(100),
            "EU's feed everywhere",
            || {
                HONEST
                    .iter()
                    .all(|l| net.heads(l)["EU/mme"].0 == 3)
                    .then_some(())
            },
        )
        .unwrap();
        // The genuine checkpoint: cosigned by the three honest witnesses.
        let good = Checkpoint::new(&origin, 3, root3)
            .unwrap()
            .sign(&signer)
            .unwrap();
        publish_checkpoint(&g, &good.encode());
        wait_until(
            WITHIN,
            Duration::from_millis(200),
            "EU's checkpoint cosigned everywhere",
            || {
                HONEST
                    .iter()
                    .all(|l| {
                        let (s, v) =
                            net.get_status(l, &format!("{}?author=EU/mme", paths::CHECKPOINT));
                        s == 200
                            && v["size"] == 3
                            && v["cosignatures"].as_array().unwrap().len() >= 2
                    })
                    .then_some(())
            },
        )
        .unwrap();
        for l in HONEST {
            assert!(split_views(&net, l).is_empty(), "{l}");
        }
    }

    // EU now signs two checkpoints no honest log could: the tree of its
    // first two events with another root, and its tree of three with
    // another root. Only BW receives them.
    let bogus2 = Checkpoint::new(&origin, 2, sha256(&[b"not EU's tree of 2"]))
        .unwrap()
        .sign(&signer)
        .unwrap();
    let bogus3 = Checkpoint::new(&origin, 3, sha256(&[b"not EU's tree of 3"]))
        .unwrap()
        .sign(&signer)
        .unwrap();
    let g = Ghost::spawn(net.p2p_key("EU"), &c, net.p2p_addrs("BW"), &events);
    g.wait_connected(&[net.peer_id("BW")], WITHIN).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    publish_checkpoint(&g, &bogus2.encode());
    publish_checkpoint(&g, &bogus3.encode());

    let mut seen = Vec::new();
    let r = wait_until(
        WITHIN,
        Duration::from_millis(200),
        "two split views everywhere",
        || {
            seen = HONEST.iter().map(|l| split_views(&net, l)).collect();
            seen.iter().all(|s| s.len() == 2).then_some(())
        },
    );
    if let Err(e) = r {
        panic!("{e}: {seen:?}");
    }
    let hex_of = |s: &Vec<Value>| -> Vec<String> {
        s.iter()
            .map(|v| v["proof_hex"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = hex_of(&seen[0]);
    for (l, s) in HONEST.iter().zip(&seen) {
        assert_eq!(hex_of(s), first, "{l} holds other proofs");
        assert_eq!(net.status(l)["split_views"], 2, "{l}");
    }
    // Each proof stands on EU's key alone.
    let eu_key = Ed25519Verifier::new(&origin, &net.key_file("EU").public_key).unwrap();
    let keys: [&dyn NoteVerifier; 1] = [&eu_key];
    let mut shapes = Vec::new();
    for v in &seen[0] {
        assert_eq!(v["author"], "EU/mme");
        assert_eq!(v["origin"], origin);
        let bytes = hex::decode(v["proof_hex"].as_str().unwrap()).unwrap();
        let view = SplitViewProof::decode(&bytes)
            .unwrap()
            .verify(&keys)
            .unwrap();
        shapes.push((
            view.first.size,
            view.second.size,
            v["path"].as_array().unwrap().len(),
        ));
    }
    shapes.sort();
    // Size 2 against the genuine 3 (with a consistency path), and 3 against 3.
    assert_eq!(shapes.len(), 2);
    assert_eq!((shapes[0].0, shapes[0].1), (2, 3));
    assert!(shapes[0].2 > 0);
    assert_eq!(shapes[1], (3, 3, 0));
    // The genuine checkpoint stays the one served.
    for l in HONEST {
        let v = net.get(l, &format!("{}?author=EU/mme", paths::CHECKPOINT));
        assert_eq!(v["root"], root3.to_hex(), "{l}");
    }
    drop(g);

    // The proofs are durable.
    assert!(net.stop("ZA"));
    net.start("ZA");
    assert_eq!(hex_of(&split_views(&net, "ZA")), first);
    // The honest network goes on: BW's writes are still cosigned.
    net.wait_connected(&HONEST, WITHIN);
    net.issue("BW", "ZA", 1);
    wait_until(
        WITHIN,
        Duration::from_millis(200),
        "BW's checkpoint cosigned",
        || {
            HONEST
                .iter()
                .all(|l| {
                    let (s, v) = net.get_status(l, &format!("{}?author=BW/mme", paths::CHECKPOINT));
                    s == 200 && v["size"] == 1 && !v["cosignatures"].as_array().unwrap().is_empty()
                })
                .then_some(())
        },
    )
    .unwrap();
}
