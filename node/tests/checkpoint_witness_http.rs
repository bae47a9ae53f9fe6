//! `POST /witness/add-checkpoint` (c2sp.org/tlog-witness) on a real node
//! process: the spec's answers — 200 with a cosignature line that
//! verifies with the node's witness key, 409 `text/x.tlog.size` with the
//! latest size, 409 for another root at the same size (which is also kept
//! as a split-view proof), 422 for a bad consistency proof, 403 without the
//! log's signature, 404 for an unknown origin (or the node's own feed), 400
//! for a malformed body — and the witness state survives a restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kpl_api::paths;
use kpl_tests::{members, TestNet};
use ledger_core::hash::sha256;
use ledger_core::tlog::checkpoint::{feed_origin, witness_name, Checkpoint, WitnessId};
use ledger_core::tlog::cosignature::CosignatureVerifier;
use ledger_core::tlog::merkle::{consistency_proof, leaf_hash, MemoryTree};
use ledger_core::tlog::note::{Ed25519Signer, Note};
use ledger_core::tlog::witness::{parse_cosignature_lines, AddCheckpointRequest};
use ledger_core::{AuthorityKey, Digest};

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");

/// One raw HTTP POST; (status, content type, body).
fn post(base: &str, path: &str, body: &[u8]) -> (u16, String, String) {
    let hostport = base.strip_prefix("http://").unwrap().trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, ctype, body.to_owned())
}

/// A log of `n` arbitrary leaves.
fn tree(n: u64) -> MemoryTree {
    let leaves: Vec<Digest> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    MemoryTree::from_leaf_hashes(&leaves).unwrap()
}

fn signed(origin: &str, key: &AuthorityKey, size: u64, root: Digest) -> Note {
    let signer = Ed25519Signer::from_authority_key(origin, key).unwrap();
    Checkpoint::new(origin, size, root)
        .unwrap()
        .sign(&signer)
        .unwrap()
}

fn body(old: u64, proof: Vec<Digest>, note: Note) -> Vec<u8> {
    AddCheckpointRequest::new(old, proof, note)
        .unwrap()
        .encode()
        .into_bytes()
}

#[test]
fn add_checkpoint_answers_as_the_spec_says() {
    // Only ZA runs: it witnesses BW's log, of which it holds no event.
    let mut net = TestNet::create(EXE, "kp-cp-witness", &members(&["BW", "ZA"], &[]));
    net.start("ZA");
    let c = net.charter();
    let id = c.network_id();
    let bw = net.author("BW");
    let za = net.author("ZA");
    let origin = feed_origin(&c.network, &id, &bw).unwrap();
    let bw_key = net.key_file("BW").key();
    let witness = CosignatureVerifier::new(
        &witness_name(&c.network, &id, WitnessId::Authority(&za)).unwrap(),
        &net.key_file("ZA").public_key,
    )
    .unwrap();
    let api = net.api("ZA");
    let add = |b: &[u8]| post(&api, "/witness/add-checkpoint", b);
    let t3 = tree(3);
    let t5 = tree(5);
    let c3 = signed(&origin, &bw_key, 3, t3.root());
    let c5 = signed(&origin, &bw_key, 5, t5.root());

    // 400: malformed, and old larger than the size.
    for b in [&b"hello"[..], b"old 1\n\nnot a note\n", b""] {
        let (s, _, text) = add(b);
        assert_eq!(s, 400, "{text}");
    }
    assert_eq!(add(&body(4, vec![], c3.clone())).0, 400);

    // 404: not a feed of this network, or the witness's own feed.
    let other = Ed25519Signer::from_seed("example.com/log", [7; 32]).unwrap();
    let foreign = Checkpoint::new("example.com/log", 3, t3.root())
        .unwrap()
        .sign(&other)
        .unwrap();
    assert_eq!(add(&body(0, vec![], foreign)).0, 404);
    let other_net = feed_origin(&c.network, &sha256(&[b"another network"]), &bw).unwrap();
    assert_eq!(
        add(&body(0, vec![], signed(&other_net, &bw_key, 3, t3.root()))).0,
        404
    );
    let own = feed_origin(&c.network, &id, &za).unwrap();
    let za_key = net.key_file("ZA").key();
    assert_eq!(
        add(&body(0, vec![], signed(&own, &za_key, 3, t3.root()))).0,
        404
    );

    // 403: BW's origin, somebody else's key.
    let forged = signed(&origin, &AuthorityKey::generate().unwrap(), 3, t3.root());
    let (s, _, text) = add(&body(0, vec![], forged));
    assert_eq!(s, 403, "{text}");

    // 200: the first checkpoint, from size 0.
    let (s, ctype, text) = add(&body(0, vec![], c3.clone()));
    assert_eq!(s, 200, "{text}");
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    let lines = parse_cosignature_lines(text.as_bytes()).unwrap();
    assert_eq!(lines.len(), 1);
    witness
        .verify_line(c3.text(), &lines[0])
        .expect("cosignature verifies");

    // 409 with the latest size: a stale old size.
    let (s, ctype, text) = add(&body(0, vec![], c5.clone()));
    assert_eq!(
        (s, ctype.as_str(), text.as_str()),
        (409, "text/x.tlog.size", "3\n")
    );
    let (s, ctype, text) = add(&body(4, vec![], c5.clone()));
    assert_eq!(
        (s, ctype.as_str(), text.as_str()),
        (409, "text/x.tlog.size", "3\n")
    );

    // 409: the same size with another root, which is a split view.
    let c3x = signed(&origin, &bw_key, 3, sha256(&[b"another tree"]));
    let (s, ctype, text) = add(&body(3, vec![], c3x));
    assert_eq!(s, 409, "{text}");
    assert_ne!(ctype, "text/x.tlog.size");
    let sv = net.get("ZA", paths::SPLIT_VIEWS);
    assert_eq!(sv["split_views"].as_array().unwrap().len(), 1, "{sv}");
    assert_eq!(sv["split_views"][0]["author"], "BW/mme");

    // 422: a consistency proof that does not verify (or is not empty when
    // it must be).
    let mut wrong = consistency_proof(&t5, 3, 5).unwrap();
    wrong[0] = sha256(&[b"wrong"]);
    let (s, _, text) = add(&body(3, wrong, c5.clone()));
    assert_eq!(s, 422, "{text}");
    let (s, _, _) = add(&body(3, vec![sha256(&[b"x"])], c3.clone()));
    assert_eq!(s, 422);

    // 200: the next checkpoint with its consistency proof.
    let proof = consistency_proof(&t5, 3, 5).unwrap();
    let (s, _, text) = add(&body(3, proof, c5.clone()));
    assert_eq!(s, 200, "{text}");
    let lines = parse_cosignature_lines(text.as_bytes()).unwrap();
    witness
        .verify_line(c5.text(), &lines[0])
        .expect("cosignature verifies");
    // The same checkpoint again: consistent with itself.
    let (s, _, text) = add(&body(5, vec![], c5.clone()));
    assert_eq!(s, 200, "{text}");

    // The state is durable: after a restart the latest size is still 5.
    assert!(net.stop("ZA"));
    net.start("ZA");
    let api = net.api("ZA");
    let c6 = signed(&origin, &bw_key, 6, tree(6).root());
    let (s, ctype, text) = post(&api, "/witness/add-checkpoint", &body(3, vec![], c6));
    assert_eq!(
        (s, ctype.as_str(), text.as_str()),
        (409, "text/x.tlog.size", "5\n")
    );
    assert_eq!(
        net.get("ZA", paths::SPLIT_VIEWS)["split_views"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
