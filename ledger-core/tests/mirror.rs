//! `ledger_core::mirror` against in-memory sources: a mirror grows with
//! its feed, keeps what it has, and refuses (writing nothing) a source that
//! goes back, shows a tree inconsistent with the mirror's checkpoint, signs
//! with another key, or serves a bad tile or bundle.

use std::collections::BTreeMap;
use std::path::Path;

mod common;

use ledger_core::mirror::mirror_feed;
use ledger_core::testkit::{sample_certificate, test_charter, FeedWriter};
use ledger_core::tlog::checkpoint::{feed_origin, Checkpoint};
use ledger_core::tlog::note::{Ed25519Signer, Ed25519Verifier};
use ledger_core::{AuthorId, AuthorityKey, CountryCode, EventBody};

struct Feed {
    origin: String,
    key: AuthorityKey,
    events: Vec<Vec<u8>>,
}

fn feed(n: u64, variant: u64) -> Feed {
    let charter = test_charter(&["BW", "ZA"]);
    let network = charter.network_id();
    let author: AuthorId = "BW/mme".parse().unwrap();
    let mut w = FeedWriter::new(network, author.clone());
    let bw = CountryCode::new("BW").unwrap();
    let za = CountryCode::new("ZA").unwrap();
    let events = (1..=n)
        .map(|i| {
            // `variant` changes the events from 100 on: another history.
            let k = if i >= 100 { i + variant * 10_000 } else { i };
            w.next(
                EventBody::CertificateIssued(sample_certificate(bw, za, k)),
                1_767_268_800_000 + i,
            )
            .encode()
        })
        .collect();
    Feed {
        origin: feed_origin(&charter.network, &network, &author).unwrap(),
        key: w.key,
        events,
    }
}

/// Every file of the first `size` events of `f`, signed by `key`.
fn files(f: &Feed, size: u64, key: &AuthorityKey) -> BTreeMap<String, Vec<u8>> {
    let (mut out, root) = common::tile_files(&f.events[..size as usize]);
    let cp = Checkpoint::new(&f.origin, size, root).unwrap();
    let signer = Ed25519Signer::from_authority_key(&f.origin, key).unwrap();
    out.insert(
        "checkpoint".into(),
        cp.sign(&signer).unwrap().encode().into_bytes(),
    );
    out
}

fn run(
    dir: &Path,
    f: &Feed,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<ledger_core::mirror::FeedReport, String> {
    let epochs = vec![(1, Ed25519Verifier::new(&f.origin, &f.key.public()).unwrap())];
    let src = |p: &str| Ok(files.get(p).cloned());
    mirror_feed(dir, &f.origin, &epochs, &src)
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_mirror_grows_and_refuses_what_does_not_check() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("BW/mme");
    let f = feed(600, 0);
    let r = run(&dir, &f, &files(&f, 300, &f.key)).unwrap();
    assert_eq!((r.previous_size, r.size), (None, 300));
    assert_eq!(r.full_written, 3);
    assert_eq!(r.partial_written, 4);
    assert_eq!(snapshot(&dir), files(&f, 300, &f.key));

    // Grown: the full tiles are kept, the partial ones of older widths gone.
    let r = run(&dir, &f, &files(&f, 520, &f.key)).unwrap();
    assert_eq!(r.previous_size, Some(300));
    assert_eq!((r.full_written, r.partial_written, r.removed), (3, 4, 4));
    assert_eq!(snapshot(&dir), files(&f, 520, &f.key));
    let r = run(&dir, &f, &files(&f, 520, &f.key)).unwrap();
    assert_eq!((r.full_written, r.partial_written, r.removed), (0, 0, 0));
    let good = snapshot(&dir);

    // Each of these is refused and leaves the mirror as it was.
    let other = feed(600, 1);
    let stranger = AuthorityKey::from_seed([9; 32]);
    let mut bad_tile = files(&f, 600, &f.key);
    bad_tile.get_mut("tile/0/002.p/88").unwrap()[7] ^= 1;
    let mut bad_entries = files(&f, 600, &f.key);
    bad_entries.get_mut("tile/entries/002.p/88").unwrap()[40] ^= 1;
    let mut bad_events = files(&f, 600, &f.key);
    bad_events.get_mut("events/002.p/88").unwrap()[9] ^= 1;
    let mut missing = files(&f, 600, &f.key);
    missing.remove("events/002.p/88");
    let cases = [
        ("behind", files(&f, 400, &f.key)),
        ("another history", files(&other, 600, &other.key)),
        ("another key", files(&f, 600, &stranger)),
        ("a bad tile", bad_tile),
        ("a bad entry", bad_entries),
        ("a bad event", bad_events),
        ("a missing bundle", missing),
    ];
    for (what, src) in cases {
        let r = run(&dir, &f, &src);
        assert!(r.is_err(), "{what}: {r:?}");
        assert_eq!(snapshot(&dir), good, "{what}: the mirror changed");
    }
    // A mirror whose own full tile was damaged does not go on from it.
    let p = dir.join("tile/0/000");
    let mut b = std::fs::read(&p).unwrap();
    b[0] ^= 1;
    std::fs::write(&p, &b).unwrap();
    assert!(run(&dir, &f, &files(&f, 600, &f.key)).is_err());
}
