//! Checkpoints and witness cosignatures on real node processes:
//! after writes, every node holds each writer's latest checkpoint, signed
//! by the writer's authority key and carrying cosignatures of at least two
//! distinct witnesses (participants and the observer) that verify with the
//! members' keys; the checkpoint's root is the tree of the feed's event ids;
//! the checkpoints survive a restart.

use std::time::Duration;

use kpl_api::paths;
use kpl_tests::{members, wait_until, TestNet};
use ledger_core::tlog::checkpoint::{feed_origin, witness_name, Checkpoint, WitnessId};
use ledger_core::tlog::cosignature::CosignatureVerifier;
use ledger_core::tlog::merkle::{event_leaf_hash, root_from_leaf_hashes};
use ledger_core::tlog::note::{Ed25519Verifier, Note};
use ledger_core::{AuthorId, Digest, ObserverId};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(60);
const ALL: [&str; 4] = ["BW", "ZA", "EU", "wdc"];

/// Every member's cosignature verifier (name, verifier), by label.
fn witnesses(net: &TestNet) -> Vec<(String, CosignatureVerifier)> {
    let c = net.charter();
    let id = c.network_id();
    ALL.iter()
        .map(|l| {
            let kf = net.key_file(l);
            let name = if *l == "wdc" {
                let o = ObserverId::new(l).unwrap();
                witness_name(&c.network, &id, WitnessId::Observer(&o)).unwrap()
            } else {
                witness_name(&c.network, &id, WitnessId::Authority(&net.author(l))).unwrap()
            };
            (
                l.to_string(),
                CosignatureVerifier::new(&name, &kf.public_key).unwrap(),
            )
        })
        .collect()
}

/// The root of the first `size` events of `author`'s feed as `label` serves them.
fn feed_root(net: &TestNet, label: &str, author: &AuthorId, size: u64) -> Digest {
    let v = net.get(
        label,
        &format!("{}?author={author}&from=1&limit=1000", paths::FEED),
    );
    let leaves: Vec<Digest> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .take(size as usize)
        .map(|e| event_leaf_hash(&Digest::from_hex(e["id"].as_str().unwrap()).unwrap()))
        .collect();
    assert_eq!(leaves.len() as u64, size);
    root_from_leaf_hashes(&leaves)
}

/// Checks a `/v1/checkpoint` answer for `author` at `size`; returns the
/// labels of the witnesses whose cosignatures verify.
fn check_checkpoint(net: &TestNet, label: &str, writer: &str, v: &Value, size: u64) -> Vec<String> {
    let c = net.charter();
    let author = net.author(writer);
    let origin = feed_origin(&c.network, &c.network_id(), &author).unwrap();
    assert_eq!(v["author"], author.to_string(), "{label}: {v}");
    assert_eq!(v["origin"], origin, "{label}: {v}");
    assert_eq!(v["size"], size, "{label}: {v}");
    let text = v["note"].as_str().unwrap();
    let log = Ed25519Verifier::new(&origin, &net.key_file(writer).public_key).unwrap();
    let (cp, note, _) = Checkpoint::open(text.as_bytes(), &[&log]).expect("the author's signature");
    assert_eq!(cp.size, size);
    assert_eq!(v["root"], cp.root.to_hex());
    assert_eq!(cp.root, feed_root(net, label, &author, size), "{label}");
    let mut seen = Vec::new();
    for s in note.signatures() {
        if s.name == origin {
            continue;
        }
        let (who, w) = witnesses(net)
            .into_iter()
            .find(|(_, w)| ledger_core::tlog::note::NoteVerifier::name(w) == s.name)
            .unwrap_or_else(|| panic!("{label}: cosignature by an unknown name {}", s.name));
        assert_ne!(
            who, writer,
            "{label}: the author cosigned its own checkpoint"
        );
        w.verify_line(note.text(), s)
            .unwrap_or_else(|e| panic!("{label}: cosignature of {who}: {e}"));
        if !seen.contains(&who) {
            seen.push(who);
        }
    }
    seen
}

/// Waits until every running node serves `writer`'s checkpoint at `size`
/// with cosignatures of at least `min` distinct witnesses.
fn wait_cosigned(net: &TestNet, labels: &[&str], writer: &str, size: u64, min: usize) {
    let author = net.author(writer);
    let mut last = Vec::new();
    let r = wait_until(
        WITHIN,
        Duration::from_millis(200),
        "cosigned checkpoints",
        || {
            last = labels
                .iter()
                .map(|l| net.get_status(l, &format!("{}?author={author}", paths::CHECKPOINT)))
                .collect();
            last.iter()
                .zip(labels)
                .all(|((s, v), l)| {
                    *s == 200
                        && v["size"] == size
                        && check_checkpoint(net, l, writer, v, size).len() >= min
                })
                .then_some(())
        },
    );
    if let Err(e) = r {
        panic!("{e}: {last:?}");
    }
}

#[test]
fn checkpoints_carry_cosignatures_of_distinct_witnesses() {
    let mut net = TestNet::create(EXE, "kp-cp-cosign", &members(&["BW", "ZA", "EU"], &["wdc"]));
    net.start_all(&ALL, WITHIN);
    for n in 1..=3 {
        net.issue("BW", "EU", n);
    }
    for n in 1..=2 {
        net.issue("ZA", "BW", n);
    }
    net.wait_heads_equal(&ALL, 5, WITHIN);
    wait_cosigned(&net, &ALL, "BW", 3, 2);
    wait_cosigned(&net, &ALL, "ZA", 2, 2);
    // Eventually every other member's cosignature reaches every node.
    wait_cosigned(&net, &ALL, "BW", 3, 3);

    for l in ALL {
        let all = net.get(l, paths::CHECKPOINTS);
        let authors: Vec<&str> = all["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["author"].as_str().unwrap())
            .collect();
        assert_eq!(authors, ["BW/mme", "ZA/mme"], "{l}: {all}");
        let s = net.status(l);
        assert_eq!(s["checkpoints"], 2, "{l}: {s}");
        assert_eq!(s["split_views"], 0, "{l}: {s}");
    }
    // An empty feed has no checkpoint; an unknown author is 404 too, a
    // malformed one 422.
    assert_eq!(
        net.get_status("BW", &format!("{}?author=EU/mme", paths::CHECKPOINT))
            .0,
        404
    );
    assert_eq!(
        net.get_status("BW", &format!("{}?author=XX/mme", paths::CHECKPOINT))
            .0,
        404
    );
    assert_eq!(
        net.get_status("BW", &format!("{}?author=bw", paths::CHECKPOINT))
            .0,
        422
    );

    // More writes: a later checkpoint replaces the first, and is cosigned.
    let c = net.issue("BW", "ZA", 4);
    let _ = c;
    wait_cosigned(&net, &ALL, "BW", 4, 2);

    // Checkpoints, cosignatures and witness state survive a restart.
    let before = net.get("ZA", &format!("{}?author=BW/mme", paths::CHECKPOINT));
    assert!(net.stop("ZA"), "ZA stops cleanly");
    net.start("ZA");
    let after = net.get("ZA", &format!("{}?author=BW/mme", paths::CHECKPOINT));
    assert_eq!(after["size"], 4);
    let n_before = Note::parse(before["note"].as_str().unwrap().as_bytes())
        .unwrap()
        .signatures()
        .len();
    let n_after = Note::parse(after["note"].as_str().unwrap().as_bytes())
        .unwrap()
        .signatures()
        .len();
    assert!(n_after >= n_before.min(3), "{before} / {after}");
    check_checkpoint(&net, "ZA", "BW", &after, 4);
    net.wait_connected(&ALL, WITHIN);
    net.issue("BW", "ZA", 5);
    wait_cosigned(&net, &ALL, "BW", 5, 2);
    for l in ALL {
        net.assert_verified(l);
    }
}

/// `/v1/keys` publishes what a C2SP tool needs to check checkpoints and
/// cosignatures, and follows a key rotation: after it, the published
/// checkpoint key is the new one, it verifies the checkpoints signed since,
/// and the genesis key no longer does.
#[test]
fn published_keys_verify_checkpoints_and_follow_a_rotation() {
    let mut net = TestNet::create(EXE, "kp-cp-keys", &members(&["BW", "ZA", "EU"], &["wdc"]));
    net.start_all(&ALL, WITHIN);
    net.issue("BW", "EU", 1);
    net.issue("ZA", "BW", 1);
    net.wait_heads_equal(&ALL, 2, WITHIN);
    wait_cosigned(&net, &ALL, "BW", 1, 2);
    wait_cosigned(&net, &ALL, "ZA", 1, 2);
    let published = |label: &str, author: &str| -> Value {
        let v = net.get(label, paths::KEYS);
        v["feeds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["author"] == author)
            .cloned()
            .unwrap_or_else(|| panic!("{author} not in {v}"))
    };
    let opens = |vkey: &str, note: &str| {
        let v = Ed25519Verifier::parse(vkey).unwrap();
        Checkpoint::open(note.as_bytes(), &[&v]).is_ok()
    };
    let bw = published("wdc", "BW/mme");
    let genesis = net.key_file("BW").public_key.to_hex();
    assert_eq!(bw["key"], genesis, "{bw}");
    let cp = net.get("wdc", &format!("{}?author=BW/mme", paths::CHECKPOINT));
    assert!(opens(
        bw["checkpoint_vkey"].as_str().unwrap(),
        cp["note"].as_str().unwrap()
    ));
    // BW's witness key checks BW's cosignature on ZA's checkpoint.
    let za_cp = net.get("wdc", &format!("{}?author=ZA/mme", paths::CHECKPOINT));
    let note = Note::parse(za_cp["note"].as_str().unwrap().as_bytes()).unwrap();
    let wv = CosignatureVerifier::parse(bw["witness_vkey"].as_str().unwrap()).unwrap();
    let line = note
        .signatures()
        .iter()
        .find(|s| s.name == bw["witness_name"].as_str().unwrap());
    if let Some(line) = line {
        wv.verify_line(note.text(), line).unwrap();
    }
    let old_vkey = bw["checkpoint_vkey"].as_str().unwrap().to_owned();
    let obs = &net.get("BW", paths::KEYS)["observers"];
    assert_eq!(obs[0]["observer"], "wdc", "{obs}");

    // Rotate BW's key, write once more: the published key moves on.
    let token = net.token("BW");
    let (status, v) = net.post(
        "BW",
        paths::KEYS_ROTATE,
        Some(&token),
        &serde_json::json!({}),
    );
    assert_eq!(status, 200, "{v}");
    net.issue("BW", "EU", 2);
    net.wait_heads_equal(&ALL, 4, WITHIN);
    let mut last = Value::Null;
    wait_until(
        WITHIN,
        Duration::from_millis(200),
        "the new key published and used",
        || {
            let k = published("wdc", "BW/mme");
            let cp = net.get("wdc", &format!("{}?author=BW/mme", paths::CHECKPOINT));
            last = serde_json::json!({"keys": k, "checkpoint": cp});
            (k["key"] != genesis
                && cp["size"] == 3
                && opens(
                    k["checkpoint_vkey"].as_str().unwrap(),
                    cp["note"].as_str().unwrap(),
                ))
            .then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {last}"));
    let k = published("wdc", "BW/mme");
    assert_eq!(k["since_seq"], 3, "{k}");
    assert_eq!(k["key_epochs"].as_array().unwrap().len(), 2, "{k}");
    let cp = net.get("wdc", &format!("{}?author=BW/mme", paths::CHECKPOINT));
    assert!(
        !opens(&old_vkey, cp["note"].as_str().unwrap()),
        "the genesis key still verifies"
    );
    // Each epoch carries its own verifier keys and the checkpoint sizes it
    // signs: the genesis key sizes 0..2, the new key from the rotation's
    // own seq (2) on.
    let epochs = k["key_epochs"].as_array().unwrap();
    let (first, second) = (&epochs[0], &epochs[1]);
    assert_eq!(first["from_seq"], 1, "{k}");
    assert_eq!(first["key"], genesis, "{k}");
    assert_eq!(first["checkpoint_vkey"], old_vkey.as_str(), "{k}");
    assert_eq!(first["checkpoint_sizes_from"], 0, "{k}");
    assert_eq!(first["checkpoint_sizes_below"], 2, "{k}");
    assert_eq!(second["from_seq"], 3, "{k}");
    assert_eq!(second["key"], k["key"], "{k}");
    assert_eq!(second["checkpoint_vkey"], k["checkpoint_vkey"], "{k}");
    assert_eq!(second["witness_vkey"], k["witness_vkey"], "{k}");
    assert_eq!(first["witness_vkey"], bw["witness_vkey"], "{k}");
    assert_ne!(first["witness_vkey"], second["witness_vkey"], "{k}");
    assert_eq!(second["checkpoint_sizes_from"], 2, "{k}");
    assert!(second["checkpoint_sizes_below"].is_null(), "{k}");
    let note = cp["note"].as_str().unwrap();
    assert!(opens(second["checkpoint_vkey"].as_str().unwrap(), note));
    assert!(!opens(first["checkpoint_vkey"].as_str().unwrap(), note));
}
