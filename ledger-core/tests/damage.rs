//! Damage to a stopped store's log: a flipped byte or a zeroed block in a
//! record of each kind, with and without the index. The store refuses to
//! open and names the place; nothing is cut; `check_log` lists every
//! damaged stretch; `repair` keeps every valid record, quarantines the
//! damaged bytes and fetches the lost events from a peer's copy. A torn
//! tail of any size is cut and kept whole.

use std::collections::BTreeMap;
use std::path::Path;

use ledger_core::error::StoreError;
use ledger_core::store::{
    check_log, repair, AppendOutcome, Ledger, LogFile, LogItem, StoreOptions, HEADER_LEN,
    KIND_EVENT, KIND_FORK_PROOF, KIND_SYNCED,
};
use ledger_core::testkit::{sample_certificate, test_charter, FeedWriter};
use ledger_core::{AuthorId, Charter, CountryCode, EventBody, SignedEvent, VoidReason};

fn code(s: &str) -> CountryCode {
    CountryCode::new(s).unwrap()
}

fn issue(w: &mut FeedWriter, n: u64) -> SignedEvent {
    let cert = sample_certificate(w.author.participant, code("EU"), n);
    w.next(EventBody::CertificateIssued(cert), 1_767_225_600_000 + n)
}

fn opts() -> StoreOptions {
    StoreOptions {
        cache_bytes: 4 << 20,
        // Small merges, often: crashes and failures meet them.
        lookup_memory_slots: 512,
    }
}

/// A store with two feeds written in several group commits (so the log
/// holds synced marks) and a fork proof.
fn pristine(dir: &Path, c: &Charter) {
    let l = Ledger::open(dir, c, opts()).unwrap();
    let mut bw = FeedWriter::new(c.network_id(), AuthorId::new("BW", "mme").unwrap());
    let mut eu = FeedWriter::new(c.network_id(), AuthorId::new("EU", "mme").unwrap());
    for round in 0..6 {
        let mut batch = Vec::new();
        for n in 0..20 {
            batch.push(issue(&mut bw, round * 100 + n + 1));
            batch.push(issue(&mut eu, round * 100 + n + 1));
        }
        l.append_batch(batch).unwrap();
    }
    // A fork of IN's feed: two different events at seq 2.
    let mut w = FeedWriter::new(c.network_id(), AuthorId::new("IN", "mme").unwrap());
    l.append(issue(&mut w, 1)).unwrap();
    let mut w2 = FeedWriter::new(c.network_id(), AuthorId::new("IN", "mme").unwrap());
    w2.seq = w.seq;
    w2.prev = w.prev;
    l.append(issue(&mut w, 2)).unwrap();
    let other = w2.next(
        EventBody::CertificateVoided {
            certificate: "IN-2026-0000001".into(),
            reason: VoidReason::Lost,
            note: String::new(),
        },
        9,
    );
    assert!(matches!(
        l.append(other).unwrap(),
        AppendOutcome::Forked { new: true, .. }
    ));
    l.append(issue(&mut w, 3)).unwrap();
}

/// (offset, end, kind) of every record.
fn layout(log: &Path) -> Vec<(u64, u64, u8)> {
    let f = LogFile::open_read_only(log).unwrap();
    let mut out = Vec::new();
    f.scan_all(HEADER_LEN, |item| {
        match item {
            LogItem::Record(r) => {
                out.push((r.offset, r.offset + 9 + r.payload.len() as u64, r.kind))
            }
            LogItem::Damage(d) => panic!("pristine log damaged at {}", d.offset),
        }
        Ok(())
    })
    .unwrap();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

/// Every event of every feed, by (author, seq).
fn all_events(l: &Ledger) -> BTreeMap<(AuthorId, u64), SignedEvent> {
    let mut out = BTreeMap::new();
    for h in l.heads().unwrap() {
        for (i, ev) in l
            .feed_range(&h.author, 1, 100_000)
            .unwrap()
            .into_iter()
            .enumerate()
        {
            out.insert((h.author.clone(), i as u64 + 1), ev);
        }
    }
    out
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn damage_of_any_record_is_refused_located_listed_and_repaired_from_a_peer() {
    let c = test_charter(&["BW", "EU", "IN", "ZA"]);
    let base = tempfile::tempdir().unwrap();
    let good = base.path().join("good");
    pristine(&good, &c);
    let records = layout(&good.join("events.log"));
    for kind in [KIND_EVENT, KIND_FORK_PROOF, KIND_SYNCED] {
        assert!(
            records.iter().any(|r| r.2 == kind),
            "no record of kind {kind}"
        );
    }
    let peer = Ledger::open(&good, &c, opts()).unwrap();
    let want = all_events(&peer);
    let want_forks = peer.fork_proofs().unwrap().len();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut trial = 0;
    for kind in [KIND_EVENT, KIND_FORK_PROOF, KIND_SYNCED] {
        for zero_block in [false, true] {
            for keep_index in [true, false] {
                trial += 1;
                let dir = base.path().join(format!("trial-{trial}"));
                copy_dir(&good, &dir);
                if !keep_index {
                    std::fs::remove_dir_all(dir.join("index")).unwrap();
                }
                let of_kind: Vec<_> = records.iter().filter(|r| r.2 == kind).collect();
                let (start, end, _) = *of_kind[rng.below(of_kind.len() as u64) as usize];
                let log_path = dir.join("events.log");
                let mut bytes = std::fs::read(&log_path).unwrap();
                let at = start + rng.below(end - start);
                if zero_block {
                    let n = 512.min(bytes.len() as u64 - at) as usize;
                    bytes[at as usize..at as usize + n].fill(0);
                } else {
                    bytes[at as usize] ^= 1 << rng.below(8);
                }
                std::fs::write(&log_path, &bytes).unwrap();
                let what = format!(
                    "kind {kind}, {} at byte {at} (record {start}..{end}), index {}",
                    if zero_block {
                        "zeroed block"
                    } else {
                        "flipped bit"
                    },
                    if keep_index { "kept" } else { "removed" }
                );

                // Refused, with the place named, and not one byte cut.
                let e = match Ledger::open(&dir, &c, opts()) {
                    Err(e) => e,
                    Ok(_) => panic!("{what}: the damaged store opened"),
                };
                let StoreError::Damaged(report) = &e else {
                    panic!("{what}: {e}")
                };
                let first = &report.damaged[0];
                assert!(
                    first.offset <= at && at < first.to.max(first.offset + 1),
                    "{what}: {first}"
                );
                if kind == KIND_EVENT && !zero_block {
                    assert!(
                        first.author.is_some() && first.seq.is_some(),
                        "{what}: {first}"
                    );
                }
                assert!(e.to_string().contains("kpl-node repair"), "{e}");
                assert!(
                    std::fs::read(&log_path).unwrap() == bytes,
                    "{what}: the log changed"
                );

                // The check lists it too, without changing anything.
                let listed = check_log(&dir).unwrap();
                assert!(!listed.is_empty(), "{what}");
                assert_eq!(listed[0].offset, first.offset, "{what}");

                // Repair: every valid record kept, the damaged ones fetched
                // again from the peer, the damaged bytes quarantined.
                let mut fetch = |a: &AuthorId, from: u64| {
                    peer.feed_range(a, from, 1000).map_err(|e| e.to_string())
                };
                let r = repair(&dir, &c, opts(), &mut fetch).unwrap();
                assert!(!r.damaged.is_empty(), "{what}");
                assert!(r.quarantined_bytes > 0, "{what}");
                assert_eq!(r.set_aside, 0, "{what}: {r:?}");
                let quarantined = std::fs::read_dir(dir.join("quarantine"))
                    .unwrap()
                    .filter(|e| {
                        e.as_ref()
                            .unwrap()
                            .file_name()
                            .to_string_lossy()
                            .starts_with("damaged-")
                    })
                    .count();
                assert!(quarantined > 0, "{what}");
                let l = Ledger::open(&dir, &c, opts()).unwrap();
                assert!(all_events(&l) == want, "{what}: events differ after repair");
                let v = l.verify(|_, _| {}).unwrap();
                assert!(v.failure().is_none(), "{what}: {:?}", v.failure());
                if kind != KIND_FORK_PROOF {
                    assert_eq!(l.fork_proofs().unwrap().len(), want_forks, "{what}");
                }
            }
        }
    }
}

#[test]
fn repair_without_a_peer_keeps_later_events_of_a_damaged_feed_aside() {
    let c = test_charter(&["BW", "EU", "IN", "ZA"]);
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("s");
    pristine(&dir, &c);
    let records = layout(&dir.join("events.log"));
    // The 10th event record of the log.
    let (start, _, _) = *records
        .iter()
        .filter(|r| r.2 == KIND_EVENT)
        .nth(10)
        .unwrap();
    let log_path = dir.join("events.log");
    let mut bytes = std::fs::read(&log_path).unwrap();
    bytes[start as usize + 60] ^= 0xff;
    std::fs::write(&log_path, &bytes).unwrap();
    let mut fetch = |_: &AuthorId, _: u64| Err::<Vec<SignedEvent>, _>("no peer".to_string());
    let r = repair(&dir, &c, opts(), &mut fetch).unwrap();
    assert_eq!(r.damaged.len(), 1);
    assert!(r.set_aside > 0, "{r:?}");
    assert_eq!(r.still_missing.len(), 1, "{r:?}");
    assert!(!r.fetch_errors.is_empty());
    let (author, head, first_aside) = &r.still_missing[0];
    assert_eq!(first_aside, &(head + 2), "one event is missing");
    // Nothing valid is lost: kept in the store or set aside, whole.
    let l = Ledger::open(&dir, &c, opts()).unwrap();
    let kept = all_events(&l).len() as u64;
    assert_eq!(kept + r.set_aside + 1, 6 * 40 + 3, "{author}");
    let aside = std::fs::read(r.set_aside_file.as_ref().unwrap()).unwrap();
    assert!(!aside.is_empty());
    assert!(std::path::Path::new(r.old_log.as_ref().unwrap()).exists());
}

#[test]
fn a_torn_tail_of_any_size_is_cut_and_kept_whole() {
    let c = test_charter(&["BW", "EU", "IN", "ZA"]);
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("s");
    pristine(&dir, &c);
    let log_path = dir.join("events.log");
    let len = std::fs::metadata(&log_path).unwrap().len();
    // The remains of an unsynced write: a record header, then 65 MiB of
    // zeros (more than any side file used to keep).
    let mut tail = Vec::new();
    tail.extend_from_slice(&200u32.to_le_bytes());
    tail.extend_from_slice(&[0xab; 4]);
    tail.resize(65 << 20, 0);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log_path)
            .unwrap();
        f.write_all(&tail).unwrap();
    }
    let l = Ledger::open(&dir, &c, opts()).unwrap();
    let r = l.recovery_report();
    let torn = r.torn_tail.expect("a torn tail was cut");
    assert_eq!(torn.offset, len);
    assert_eq!(torn.bytes, tail.len() as u64);
    assert!(
        std::fs::read(&torn.kept_in).unwrap() == tail,
        "the side file differs"
    );
    assert_eq!(std::fs::metadata(&log_path).unwrap().len(), len);
    assert!(l.verify(|_, _| {}).unwrap().failure().is_none());
}

#[test]
fn the_last_record_of_a_closed_store_is_under_the_watermark() {
    // Closing seals the log: damage to its very last event is damage, not
    // the remains of an unsynced write.
    let c = test_charter(&["BW", "EU", "IN", "ZA"]);
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("s");
    pristine(&dir, &c);
    let records = layout(&dir.join("events.log"));
    let (start, end, _) = *records.iter().rev().find(|r| r.2 == KIND_EVENT).unwrap();
    std::fs::remove_dir_all(dir.join("index")).unwrap();
    let log_path = dir.join("events.log");
    let mut bytes = std::fs::read(&log_path).unwrap();
    bytes[(start + end) as usize / 2] ^= 0x10;
    std::fs::write(&log_path, &bytes).unwrap();
    match Ledger::open(&dir, &c, opts()) {
        Err(StoreError::Damaged(r)) => assert_eq!(r.damaged[0].offset, start),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened, so the last event was cut as a torn tail"),
    }
    assert!(
        std::fs::read(&log_path).unwrap() == bytes,
        "the log changed"
    );
}
