//! The published vector of the store's disk format (docs/vectors/store_log.json):
//! a small store written by the code, and the same bytes read back the way a
//! third party would, from FORMAT.md §12 alone (CRC-32, little-endian
//! integers, no ledger-core decoding of the framing).
//!
//! Regenerate with `KPL_UPDATE_VECTORS=1 cargo test -p ledger-core --test store_vectors`.

use std::path::PathBuf;

use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::testkit::{sample_certificate, test_charter, test_key};
use ledger_core::{AuthorId, CountryCode, EventBody};
use serde_json::{json, Value};

const UPDATE_ENV: &str = "KPL_UPDATE_VECTORS";

fn vector_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/store_log.json")
}

fn u32le(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().unwrap())
}

fn u64le(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().unwrap())
}

/// Writes the store: two own appends of BW (the second write opens with a
/// synced mark for the first), then a clean close (a last mark, and
/// `events.synced`).
fn generate() -> Value {
    let dir = tempfile::tempdir().unwrap();
    let c = test_charter(&["BW", "EU"]);
    let a = AuthorId::new("BW", "mme").unwrap();
    let key = test_key(&a);
    let body = |n| {
        EventBody::CertificateIssued(sample_certificate(
            a.participant,
            CountryCode::new("EU").unwrap(),
            n,
        ))
    };
    {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        l.append_own(&key, &a, vec![body(1)], 1_767_225_600_000)
            .unwrap();
        l.append_own(&key, &a, vec![body(2)], 1_767_225_660_000)
            .unwrap();
    }
    let log = std::fs::read(dir.path().join("events.log")).unwrap();
    let synced = std::fs::read(dir.path().join("events.synced")).unwrap();
    let rec_dir = dir.path().join("authoring");
    let rec_name = format!("{}.rec", hex::encode(a.key_bytes()));
    let authoring = std::fs::read(rec_dir.join(&rec_name)).unwrap();
    json!({
        "description": "A store of network `test_charter([BW, EU])` after two own appends of BW/mme and a clean close: events.log (header, event, synced mark, event, synced mark), events.synced, and BW/mme's authoring record. See FORMAT.md section 12.",
        "network_id": c.network_id().to_string(),
        "events_log_hex": hex::encode(&log),
        "events_synced_hex": hex::encode(&synced),
        "authoring_record_file": format!("authoring/{rec_name}"),
        "authoring_record_hex": hex::encode(&authoring),
    })
}

#[test]
fn the_store_vector_matches_the_code() {
    let v = generate();
    let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
    let path = vector_path();
    if std::env::var(UPDATE_ENV).is_ok_and(|x| x == "1") {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        old == text,
        "docs/vectors/store_log.json differs from what the code writes; if the disk format change is intended, regenerate it with {UPDATE_ENV}=1 cargo test -p ledger-core --test store_vectors"
    );
}

#[test]
fn a_third_party_reads_the_store_vector_from_the_spec() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(vector_path()).unwrap()).unwrap();
    let log = hex::decode(v["events_log_hex"].as_str().unwrap()).unwrap();
    // Header: magic, version 2, network id, CRC of the first 44 bytes.
    assert_eq!(&log[..8], b"KPLEDGER");
    assert_eq!(u32le(&log[8..]), 2);
    assert_eq!(hex::encode(&log[12..44]), v["network_id"].as_str().unwrap());
    assert_eq!(crc32fast::hash(&log[..44]), u32le(&log[44..]));
    // Records: len, CRC of kind||payload, kind, payload.
    let mut off = 48usize;
    let mut kinds = Vec::new();
    let mut events: Vec<Vec<u8>> = Vec::new();
    let mut last_mark = 0u64;
    while off < log.len() {
        let len = u32le(&log[off..]) as usize;
        let crc = u32le(&log[off + 4..]);
        let body = &log[off + 8..off + 8 + len];
        assert_eq!(crc32fast::hash(body), crc, "record at {off}");
        kinds.push(body[0]);
        if body[0] == 1 {
            events.push(body[1..].to_vec());
        }
        if body[0] == 3 {
            // A synced mark: 8 bytes, an offset at or before the mark itself.
            assert_eq!(len, 9);
            let m = u64le(&body[1..]);
            assert!(m <= off as u64 && m > last_mark);
            last_mark = m;
        }
        off += 8 + len;
    }
    assert_eq!(off, log.len());
    assert_eq!(kinds, vec![1, 3, 1, 3]);
    // The last mark covers every byte before it: the whole log but itself.
    assert_eq!(last_mark as usize, log.len() - 17);
    // events.synced: magic, length, CRC; it names the whole log.
    let s = hex::decode(v["events_synced_hex"].as_str().unwrap()).unwrap();
    assert_eq!(&s[..8], b"KPLSYNC1");
    assert_eq!(u64le(&s[8..]) as usize, log.len());
    assert_eq!(crc32fast::hash(&s[..16]), u32le(&s[16..]));
    // The authoring record: two 512-byte slots; seq 2 is in slot 0 (even).
    let r = hex::decode(v["authoring_record_hex"].as_str().unwrap()).unwrap();
    let slot = &r[..512.min(r.len())];
    assert_eq!(&slot[..8], b"KPLAUTH1");
    let n = u16::from_le_bytes([slot[8], slot[9]]) as usize;
    assert_eq!(crc32fast::hash(&slot[..10 + n]), u32le(&slot[10 + n..]));
    let payload = &slot[10..10 + n];
    assert_eq!(&payload[..2], b"BW");
    let name_len = payload[2] as usize;
    assert_eq!(&payload[3..3 + name_len], b"mme");
    assert_eq!(u64le(&payload[3 + name_len..]), 2);
    // The record's id is the second event's id: SHA-256 of the domain tag
    // and the event's content, i.e. of the event bytes without the
    // signature (FORMAT.md section 5).
    let id = &payload[3 + name_len + 8..];
    let second = &events[1];
    let content = &second[..second.len() - 64];
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"kp-ledger:event\0");
    h.update(content);
    assert_eq!(id, h.finalize().as_slice());
}
