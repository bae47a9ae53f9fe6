//! The API's views over the whole replica never answer from partial data
//! without saying so: a byte of a running node's log changed under it, its
//! `audit`, `stats` and `trace` answers carry `partial` (how many records
//! could not be read, and where), `verify` lists the damaged record, the
//! web explorer's analysis pages say their answer is partial, and a
//! replica that is whole answers without `partial`.

use std::os::unix::fs::FileExt;
use std::time::Duration;

use kpl_api::paths;
use kpl_tests::{members, TestNet};
use ledger_core::store::{LogFile, LogItem, HEADER_LEN, KIND_EVENT};
use ledger_core::SignedEvent;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(30);

#[test]
fn views_of_a_damaged_replica_are_marked_partial() {
    let mut net = TestNet::create(EXE, "kp-api-partial", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], WITHIN);
    let mut certs = Vec::new();
    for n in 1..=12 {
        let c = net.issue("BW", "ZA", n);
        net.confirm("ZA", &c);
        certs.push(c);
    }
    net.wait_heads_equal(&["BW", "ZA"], 24, WITHIN);

    // BW's seq 6 (the issue of certificate 6) is damaged on BW's disk.
    let log = net.node("BW").data_dir.join("store").join("events.log");
    let mut target = None;
    LogFile::open_read_only(&log)
        .unwrap()
        .scan_all(HEADER_LEN, |item| {
            if let LogItem::Record(r) = item {
                if r.kind == KIND_EVENT {
                    let ev = SignedEvent::decode(&r.payload).unwrap();
                    if ev.author().to_string() == "BW/mme" && ev.seq() == 6 {
                        target = Some((r.offset, r.payload.len() as u64 + 1));
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let (off, body_len) = target.expect("BW seq 6 is in BW's log");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log)
        .unwrap();
    let at = off + 8 + body_len / 2;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x20], at).unwrap();
    drop(f);

    let year = certs[0].issued_on.to_string()[..4].to_owned();
    let check = |v: &serde_json::Value, what: &str| {
        let p = &v["partial"];
        assert_eq!(p["unreadable_records"], 1, "{what}: {v}");
        assert_eq!(p["first_offset"], off, "{what}: {v}");
        assert_eq!(p["unreadable"][0]["author"], "BW/mme", "{what}: {v}");
        assert_eq!(p["unreadable"][0]["seq"], 6, "{what}: {v}");
    };
    check(&net.get("BW", paths::AUDIT), "audit");
    check(
        &net.get("BW", &format!("{}?year={year}", paths::STATS)),
        "stats",
    );
    check(&net.get("BW", &paths::trace(&certs[0].number)), "trace");
    // The damaged issue is missing from the trace, which says it is partial.
    let v = net.get("BW", &paths::trace(&certs[5].number));
    assert_eq!(v["trace"]["found"], false, "{v}");
    check(&v, "trace of the damaged certificate");
    let v = net.get("BW", paths::VERIFY);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["failures"][0]["offset"], off, "{v}");
    assert_eq!(v["failures"][0]["author"], "BW/mme", "{v}");
    assert_eq!(v["failures"][0]["seq"], 6, "{v}");

    // The explorer's pages that run the analysis say so too.
    let pages = [
        "/explorer".to_owned(),
        "/explorer/audit".to_owned(),
        format!("/explorer/stats?year={year}"),
        format!("/explorer/certificates/{}", certs[0].number),
    ];
    for page in &pages {
        let (s, body) = kpl_node::cluster::http("GET", &net.api("BW"), page, None, None).unwrap();
        assert_eq!(s, 200, "{page}: {body}");
        assert!(body.contains("Partial answer."), "{page}: {body}");
        assert!(
            body.contains(&format!("(the first at offset {off})")),
            "{page}: {body}"
        );
        let (s, body) = kpl_node::cluster::http("GET", &net.api("ZA"), page, None, None).unwrap();
        assert_eq!(s, 200, "{page}: {body}");
        assert!(!body.contains("Partial answer."), "{page}: {body}");
    }

    // ZA's replica is whole: no `partial`.
    let v = net.get("ZA", paths::AUDIT);
    assert!(v.get("partial").is_none(), "{v}");
    let v = net.get("ZA", &format!("{}?year={year}", paths::STATS));
    assert!(v.get("partial").is_none(), "{v}");
}
