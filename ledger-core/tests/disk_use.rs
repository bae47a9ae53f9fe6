//! Disk use of a store per event, by part (the log, sled, the feed
//! files and the lookup table), for the record: not a benchmark (nothing is timed) and not run
//! by default. `KPL_DISK_EVENTS` events (default 100,000) are appended
//! to five feeds, 256 bodies per call, then the store is closed and its
//! directory measured (apparent bytes and allocated blocks):
//!
//! ```text
//! KPL_DISK_EVENTS=100000 cargo test -p ledger-core --test disk_use -- --ignored --nocapture
//! ```

use std::path::Path;

use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::testkit::{sample_certificate, test_charter, test_key};
use ledger_core::{AuthorId, CountryCode, EventBody};

/// (apparent bytes, allocated bytes) of a file or directory tree.
fn usage(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return (0, 0);
    };
    if !m.is_dir() {
        return (m.len(), m.blocks() * 512);
    }
    let mut total = (0, 0);
    for e in std::fs::read_dir(p).unwrap() {
        let (a, b) = usage(&e.unwrap().path());
        total.0 += a;
        total.1 += b;
    }
    total
}

#[test]
#[ignore = "prints disk use; run by hand"]
fn disk_use_per_event() {
    let n: u64 = std::env::var("KPL_DISK_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
        .min(2_000_000);
    let codes = ["BW", "EU", "ZA", "IN", "AE"];
    let c = test_charter(&codes);
    let dir = tempfile::tempdir().unwrap();
    let authors: Vec<AuthorId> = codes
        .iter()
        .map(|c| AuthorId::new(c, "mme").unwrap())
        .collect();
    let to = CountryCode::new("EU").unwrap();
    let mut encoded = 0u64;
    {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        let mut done = 0u64;
        let mut round = 0usize;
        while done < n {
            let a = &authors[round % authors.len()];
            let k = (n - done).min(256);
            let bodies = (0..k)
                .map(|j| {
                    EventBody::CertificateIssued(sample_certificate(a.participant, to, done + j))
                })
                .collect();
            l.append_own(&test_key(a), a, bodies, 1_767_225_600_000 + done)
                .unwrap();
            done += k;
            round += 1;
        }
        l.for_each_event(|_, ev| encoded += ev.encode().len() as u64)
            .unwrap();
        l.flush().unwrap();
    }
    let d = dir.path();
    let log = usage(&d.join("events.log"));
    let feeds = usage(&d.join("index").join("feeds"));
    let lookup = usage(&d.join("index").join("feeds").join("lookup.table"));
    let index = usage(&d.join("index"));
    let sled = (index.0 - feeds.0, index.1 - feeds.1);
    let all = usage(d);
    println!(
        "events {n}, encoded {encoded} B ({} B per event)",
        encoded / n
    );
    for (what, (a, b)) in [
        ("events.log", log),
        ("index/ sled", sled),
        ("index/feeds", feeds),
        ("  of it lookup.table", lookup),
        ("store dir", all),
    ] {
        println!(
            "{what:>12}: {a:>12} B apparent ({:>7.1} B/event, {:.3}x encoded), {b:>12} B allocated ({:.3}x encoded)",
            a as f64 / n as f64,
            a as f64 / encoded as f64,
            b as f64 / encoded as f64
        );
    }
}
