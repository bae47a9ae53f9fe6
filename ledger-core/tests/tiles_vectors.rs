//! `docs/vectors/tiles.json`: the c2sp.org/tlog-tiles files of a small
//! test feed (258 events: one full level-0 tile and a partial one), its
//! signed checkpoint and verifier key, regenerated from the code on every
//! run and compared with the file (`KPL_UPDATE_VECTORS=1` rewrites it), then
//! checked as a third party would, with SHA-256 and Ed25519 alone.
//!
//! The key is the insecure, publicly derivable test key of BW/mme
//! (`ledger_core::testkit::test_key`). Never use it for anything else.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

mod common;

use ledger_core::testkit::{sample_certificate, test_charter, FeedWriter};
use ledger_core::tlog::checkpoint::{feed_origin, Checkpoint};
use ledger_core::tlog::note::{Ed25519Signer, Ed25519Verifier};
use ledger_core::{AuthorId, CountryCode, EventBody};

const UPDATE_ENV: &str = "KPL_UPDATE_VECTORS";
const SIZE: u64 = 258;
/// Files larger than this are given by their SHA-256 only.
const INLINE_MAX: usize = 9000;

fn vector_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/tiles.json")
}

fn generate() -> String {
    let charter = test_charter(&["BW", "ZA"]);
    let network = charter.network_id();
    let author: AuthorId = "BW/mme".parse().unwrap();
    let mut w = FeedWriter::new(network, author.clone());
    let bw = CountryCode::new("BW").unwrap();
    let za = CountryCode::new("ZA").unwrap();
    let events: Vec<Vec<u8>> = (1..=SIZE)
        .map(|n| {
            let ts = 1_767_268_800_000 + n * 1000;
            w.next(
                EventBody::CertificateIssued(sample_certificate(bw, za, n)),
                ts,
            )
            .encode()
        })
        .collect();
    let (files, root) = common::tile_files(&events);
    let origin = feed_origin(&charter.network, &network, &author).unwrap();
    let cp = Checkpoint::new(&origin, SIZE, root).unwrap();
    let signer = Ed25519Signer::from_authority_key(&origin, &w.key).unwrap();
    let note = cp.sign(&signer).unwrap().encode();
    let vkey = Ed25519Verifier::new(&origin, &w.key.public())
        .unwrap()
        .verifier_key()
        .to_string();

    let mut inline = serde_json::Map::new();
    let mut digests = serde_json::Map::new();
    for (p, b) in &files {
        digests.insert(p.clone(), json!(hex::encode(Sha256::digest(b))));
        if b.len() <= INLINE_MAX {
            inline.insert(p.clone(), json!(hex::encode(b)));
        }
    }
    let v = json!({
        "description": "The c2sp.org/tlog-tiles files of test feed BW/mme of the network \
            test_charter([BW, ZA]) with 258 certificate_issued events (docs/FORMAT.md §13, \
            \"Tiles\"): paths under the feed's prefix. `files` holds each file's bytes in hex \
            (all but the event bundle of the full tile, too large to print), `sha256` every \
            file's SHA-256. The checkpoint is signed by the insecure test key of BW/mme (TEST \
            KEY ONLY). Check: the note verifies with checkpoint_vkey; root = \
            SHA-256(0x01 || tile/1/000.p/1 || MTH(tile/0/001.p/2)); tile/1/000.p/1 is the MTH \
            of tile/0/000's 256 hashes; each entry (u16 BE 32 || id) has SHA-256(0x00 || id) \
            as its leaf; each event (u32 BE length || bytes) has id SHA-256(\"kp-ledger:event\\0\" \
            || bytes without the last 64).",
        "origin": origin,
        "checkpoint_vkey": vkey,
        "size": SIZE,
        "root": root.to_hex(),
        "checkpoint": note,
        "files": inline,
        "sha256": digests,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap();
    s.push('\n');
    s
}

#[test]
fn tiles_vector_matches_code() {
    let text = generate();
    let path = vector_file();
    if std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1") {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, &text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        return;
    }
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        old == text,
        "docs/vectors/tiles.json differs from what the code produces; if the change is \
         intended: {UPDATE_ENV}=1 cargo test -p ledger-core --test tiles_vectors"
    );
}

fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn mth(h: &[[u8; 32]]) -> [u8; 32] {
    match h.len() {
        0 => sha(&[]),
        1 => h[0],
        n => {
            let k = n.next_power_of_two() / 2;
            sha(&[&[1], &mth(&h[..k]), &mth(&h[k..])])
        }
    }
}

/// The published file as a third party reads it.
#[test]
fn tiles_vector_third_party_check() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(vector_file()).unwrap()).unwrap();
    let file = |p: &str| hex::decode(v["files"][p].as_str().unwrap()).unwrap();
    let hashes =
        |b: Vec<u8>| -> Vec<[u8; 32]> { b.chunks(32).map(|c| c.try_into().unwrap()).collect() };
    // The checkpoint's signature.
    let note = v["checkpoint"].as_str().unwrap();
    let (text, sigs) = note.split_at(note.find("\n\n").unwrap() + 1);
    let vkey = v["checkpoint_vkey"].as_str().unwrap();
    let raw = base64_decode(vkey.rsplit('+').next().unwrap());
    let key = VerifyingKey::from_bytes(raw[1..].try_into().unwrap()).unwrap();
    let sig_b64 = sigs.trim().rsplit(' ').next().unwrap();
    let sig = base64_decode(sig_b64);
    key.verify_strict(text.as_bytes(), &Signature::from_slice(&sig[4..]).unwrap())
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "258");
    let root: [u8; 32] = base64_decode(lines[2]).try_into().unwrap();
    assert_eq!(hex::encode(root), v["root"].as_str().unwrap());
    // The tree from the tiles.
    let t0 = hashes(file("tile/0/000"));
    let t1 = hashes(file("tile/0/001.p/2"));
    let up = hashes(file("tile/1/000.p/1"));
    assert_eq!(t0.len(), 256);
    assert_eq!(up, vec![mth(&t0)]);
    assert_eq!(sha(&[&[1], &up[0], &mth(&t1)]), root);
    // Entries and events.
    for (entries, tile) in [("tile/entries/000", &t0), ("tile/entries/001.p/2", &t1)] {
        let b = file(entries);
        for (i, e) in b.chunks(34).enumerate() {
            assert_eq!(&e[..2], &[0, 32]);
            assert_eq!(sha(&[&[0], &e[2..]]), tile[i]);
        }
    }
    let ev = file("events/001.p/2");
    let ids = file("tile/entries/001.p/2");
    let mut at = 0;
    for i in 0..2 {
        let len = u32::from_be_bytes(ev[at..at + 4].try_into().unwrap()) as usize;
        let e = &ev[at + 4..at + 4 + len];
        assert_eq!(
            &sha(&[b"kp-ledger:event\0", &e[..len - 64]])[..],
            &ids[i * 34 + 2..(i + 1) * 34]
        );
        at += 4 + len;
    }
    assert_eq!(at, ev.len());
    for (p, d) in v["sha256"].as_object().unwrap() {
        if let Some(h) = v["files"][p].as_str() {
            assert_eq!(
                hex::encode(sha(&[&hex::decode(h).unwrap()])),
                d.as_str().unwrap()
            );
        }
    }
}

/// Standard padded base64 (RFC 4648 §4), decoded by hand.
fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).expect("base64") as u32;
        bits = bits << 6 | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}
