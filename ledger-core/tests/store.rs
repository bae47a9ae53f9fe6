//! The store: appends, duplicates, gaps, forks, refusals, reopening,
//! recovery from a torn tail or a lost index, and tamper detection.

use std::io::Write;
use std::path::Path;

use ledger_core::error::{EventError, StoreError};
use ledger_core::store::{AppendOutcome, Ledger, StoreOptions};
use ledger_core::testkit::{matching_confirmation, sample_certificate, test_charter, FeedWriter};
use ledger_core::{AuthorId, Charter, CountryCode, EventBody, SignedEvent, VoidReason};

fn code(s: &str) -> CountryCode {
    CountryCode::new(s).unwrap()
}

fn charter() -> Charter {
    test_charter(&["BW", "EU", "IN", "ZA"])
}

fn open(dir: &Path, c: &Charter) -> Ledger {
    Ledger::open(dir, c, StoreOptions::default()).unwrap()
}

fn issue(w: &mut FeedWriter, n: u64) -> SignedEvent {
    let cert = sample_certificate(w.author.participant, code("EU"), n);
    w.next(EventBody::CertificateIssued(cert), 1_767_225_600_000 + n)
}

fn writer(c: &Charter, who: &str) -> FeedWriter {
    FeedWriter::new(c.network_id(), AuthorId::new(who, "mme").unwrap())
}

#[test]
fn appends_reads_back_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let mut w = writer(&c, "BW");
    let events: Vec<_> = (1..=50).map(|n| issue(&mut w, n)).collect();
    {
        let l = open(dir.path(), &c);
        let out = l.append_batch(events.clone()).unwrap();
        for (i, o) in out.iter().enumerate() {
            assert_eq!(
                *o,
                AppendOutcome::Appended {
                    id: events[i].id(),
                    seq: i as u64 + 1
                }
            );
        }
    }
    let l = open(dir.path(), &c);
    let head = l
        .heads()
        .unwrap()
        .into_iter()
        .find(|h| h.author == w.author)
        .unwrap();
    assert_eq!(head.seq, 50);
    assert_eq!(head.id, Some(events[49].id()));
    assert_eq!(l.feed_range(&w.author, 1, 1000).unwrap(), events);
    assert_eq!(
        l.event_by_id(&events[7].id()).unwrap().unwrap().event,
        events[7]
    );
    let report = l.verify(|_, _| {}).unwrap();
    assert_eq!(report.failure(), None);
    assert_eq!(report.events, 50);
}

#[test]
fn duplicate_is_recognised_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let l = open(dir.path(), &c);
    let mut w = writer(&c, "BW");
    let e = issue(&mut w, 1);
    assert!(matches!(
        l.append(e.clone()).unwrap(),
        AppendOutcome::Appended { .. }
    ));
    assert_eq!(
        l.append(e.clone()).unwrap(),
        AppendOutcome::Duplicate { id: e.id() }
    );
    assert_eq!(l.event_count().unwrap(), 1);
    assert_eq!(l.certificate("BW-2026-0000001").unwrap().issued.len(), 1);
}

#[test]
fn events_ahead_of_a_gap_are_held_then_applied() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let l = open(dir.path(), &c);
    let mut w = writer(&c, "ZA");
    let evs: Vec<_> = (1..=5).map(|n| issue(&mut w, n)).collect();
    assert!(matches!(
        l.append(evs[0].clone()).unwrap(),
        AppendOutcome::Appended { .. }
    ));
    // 4, 3, 5 arrive before 2.
    for i in [3, 2, 4] {
        assert_eq!(
            l.append(evs[i].clone()).unwrap(),
            AppendOutcome::Held {
                id: evs[i].id(),
                head: 1
            }
        );
    }
    assert_eq!(l.event_count().unwrap(), 1);
    assert!(matches!(
        l.append(evs[1].clone()).unwrap(),
        AppendOutcome::Appended { seq: 2, .. }
    ));
    assert_eq!(l.feed_range(&w.author, 1, 10).unwrap(), evs);
    // A missing event leaves the feed at its head.
    let later: Vec<_> = (6..=8).map(|n| issue(&mut w, n)).collect();
    assert!(matches!(
        l.append(later[2].clone()).unwrap(),
        AppendOutcome::Held { head: 5, .. }
    ));
    assert_eq!(l.event_count().unwrap(), 5);
}

#[test]
fn refusals_name_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let l = open(dir.path(), &c);

    // From another network.
    let other = test_charter(&["BW", "EU"]);
    let mut foreign = writer(&other, "BW");
    match l.append(issue(&mut foreign, 1)).unwrap() {
        AppendOutcome::Rejected(EventError::WrongNetwork { .. }) => {}
        o => panic!("{o:?}"),
    }

    // Forged signature: signed by another participant's key.
    let mut w = writer(&c, "BW");
    let mut forged = issue(&mut w, 1);
    forged.signature = writer(&c, "EU").key.sign(forged.content.clone()).signature;
    match l.append(forged).unwrap() {
        AppendOutcome::Rejected(EventError::BadSignature { seq: 1, .. }) => {}
        o => panic!("{o:?}"),
    }

    // Broken link.
    let mut w = writer(&c, "BW");
    let first = issue(&mut w, 1);
    l.append(first).unwrap();
    w.prev = Some(ledger_core::Digest::ZERO);
    match l.append(issue(&mut w, 2)).unwrap() {
        AppendOutcome::Rejected(EventError::BrokenLink { seq: 2, .. }) => {}
        o => panic!("{o:?}"),
    }

    // Body rule: expiry before issue.
    let mut w = writer(&c, "ZA");
    let mut cert = sample_certificate(code("ZA"), code("EU"), 9);
    cert.expires_on = cert.issued_on.add_days(-1);
    match l
        .append(w.next(EventBody::CertificateIssued(cert), 5))
        .unwrap()
    {
        AppendOutcome::Rejected(EventError::Body { source, .. }) => {
            assert!(
                source
                    .to_string()
                    .contains("before the certificate was issued"),
                "{source}"
            )
        }
        o => panic!("{o:?}"),
    }
    // Body rule: a number that is not the issuer's.
    let mut w = writer(&c, "ZA");
    let mut cert = sample_certificate(code("ZA"), code("EU"), 9);
    cert.number = "BW-2026-1".into();
    match l
        .append(w.next(EventBody::CertificateIssued(cert), 5))
        .unwrap()
    {
        AppendOutcome::Rejected(EventError::Body { source, .. }) => {
            assert!(
                source
                    .to_string()
                    .contains("must start with the issuer's code"),
                "{source}"
            )
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(l.event_count().unwrap(), 1);
}

#[test]
fn forks_are_found_in_either_order_and_verify_offline() {
    let c = charter();
    let mut w = writer(&c, "IN");
    let base = issue(&mut w, 1);
    let mut w2 = FeedWriter { ..writer(&c, "IN") };
    w2.seq = w.seq;
    w2.prev = w.prev;
    let a = issue(&mut w, 2);
    let b = w2.next(
        EventBody::CertificateVoided {
            certificate: "IN-2026-0000001".into(),
            reason: VoidReason::Lost,
            note: String::new(),
        },
        9,
    );
    let mut proofs = Vec::new();
    for order in [[&a, &b], [&b, &a]] {
        let dir = tempfile::tempdir().unwrap();
        let l = open(dir.path(), &c);
        l.append(base.clone()).unwrap();
        assert!(matches!(
            l.append(order[0].clone()).unwrap(),
            AppendOutcome::Appended { .. }
        ));
        let AppendOutcome::Forked { proof, new: true } = l.append(order[1].clone()).unwrap() else {
            panic!("no fork found")
        };
        proof.verify(&c).unwrap();
        // The first-seen side stays in the feed; the proof keeps both.
        assert_eq!(l.feed_range(&w.author, 2, 1).unwrap()[0], *order[0]);
        // Seen again: not stored twice.
        assert!(matches!(
            l.append(order[1].clone()).unwrap(),
            AppendOutcome::Forked { new: false, .. }
        ));
        drop(l);
        let l = open(dir.path(), &c);
        assert_eq!(l.fork_proofs().unwrap(), vec![(*proof).clone()]);
        assert_eq!(
            l.certificate("IN-2026-0000001").unwrap().fork_proofs.len(),
            1
        );
        assert_eq!(l.verify(|_, _| {}).unwrap().failure(), None);
        proofs.push(proof);
    }
    assert_eq!(proofs[0], proofs[1]);
    // A proof checked against another network fails.
    assert!(proofs[0].verify(&test_charter(&["IN"])).is_err());
}

#[test]
fn certificate_index_gathers_the_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let l = open(dir.path(), &c);
    let mut bw = writer(&c, "BW");
    let mut eu = writer(&c, "EU");
    let cert = sample_certificate(code("BW"), code("EU"), 42);
    l.append(bw.next(EventBody::CertificateIssued(cert.clone()), 1))
        .unwrap();
    l.append(eu.next(EventBody::ImportConfirmed(matching_confirmation(&cert)), 2))
        .unwrap();
    let rec = l.certificate(&cert.number).unwrap();
    assert_eq!(rec.issued.len(), 1);
    assert_eq!(rec.confirmations.len(), 1);
    assert!(l.certificate("BW-NOPE").unwrap().is_empty());
}

#[test]
fn store_of_another_network_and_second_opener_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let l = open(dir.path(), &c);
    match Ledger::open(dir.path(), &c, StoreOptions::default()) {
        Err(StoreError::Locked(_)) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("second opener accepted"),
    }
    drop(l);
    match Ledger::open(dir.path(), &test_charter(&["BW"]), StoreOptions::default()) {
        Err(e @ StoreError::WrongNetwork { .. }) => assert!(e.to_string().contains("network")),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened a store of another network"),
    }
}

#[test]
fn concurrent_appends_are_group_committed() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let l = open(dir.path(), &c);
    std::thread::scope(|s| {
        for who in ["BW", "EU", "IN", "ZA"] {
            let l = &l;
            let c = &c;
            s.spawn(move || {
                let author = AuthorId::new(who, "mme").unwrap();
                let key = ledger_core::testkit::test_key(&author);
                for n in 0..100u64 {
                    let cert = sample_certificate(
                        author.participant,
                        code(if who == "EU" { "BW" } else { "EU" }),
                        n,
                    );
                    let out = l
                        .append_own(
                            &key,
                            &author,
                            vec![EventBody::CertificateIssued(cert)],
                            1_000 + n,
                        )
                        .unwrap();
                    assert_eq!(out[0].1, n + 1);
                }
                let _ = c;
            });
        }
    });
    assert_eq!(l.event_count().unwrap(), 400);
    assert_eq!(l.verify(|_, _| {}).unwrap().failure(), None);
    drop(l);
    let l = open(dir.path(), &c);
    assert_eq!(l.event_count().unwrap(), 400);
}

#[test]
fn large_own_batches_are_signed_in_parallel_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let l = open(dir.path(), &c);
    let author = AuthorId::new("BW", "mme").unwrap();
    let key = ledger_core::testkit::test_key(&author);
    let bodies: Vec<_> = (0..1000)
        .map(|n| EventBody::CertificateIssued(sample_certificate(code("BW"), code("EU"), n)))
        .collect();
    let out = l.append_own(&key, &author, bodies, 77).unwrap();
    assert_eq!(out.len(), 1000);
    assert_eq!(l.verify(|_, _| {}).unwrap().failure(), None);
}

#[test]
fn torn_tail_is_cut_and_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let mut w = writer(&c, "BW");
    let evs: Vec<_> = (1..=10).map(|n| issue(&mut w, n)).collect();
    {
        let l = open(dir.path(), &c);
        l.append_batch(evs.clone()).unwrap();
    }
    // Half of a record: what a crash in the middle of a write leaves.
    let log = dir.path().join("events.log");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let mut rec = Vec::new();
    let ev11 = issue(&mut w, 11);
    ledger_core::store::frame(1, &ev11.encode(), &mut rec);
    f.write_all(&rec[..rec.len() / 2]).unwrap();
    drop(f);
    let l = open(dir.path(), &c);
    assert_eq!(l.event_count().unwrap(), 10);
    assert_eq!(l.verify(|_, _| {}).unwrap().failure(), None);
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("torn-tail"))
        .collect();
    assert_eq!(kept.len(), 1);
    // And the feed goes on.
    assert!(matches!(
        l.append(ev11).unwrap(),
        AppendOutcome::Appended { seq: 11, .. }
    ));
}

#[test]
fn lost_index_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let mut w = writer(&c, "EU");
    let evs: Vec<_> = (1..=30).map(|n| issue(&mut w, n)).collect();
    {
        let l = open(dir.path(), &c);
        l.append_batch(evs.clone()).unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let l = open(dir.path(), &c);
    assert_eq!(l.feed_range(&w.author, 1, 100).unwrap(), evs);
    assert_eq!(l.certificate("EU-2026-0000007").unwrap().issued.len(), 1);
}

#[test]
fn every_changed_byte_of_the_log_is_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let mut w = writer(&c, "ZA");
    let evs: Vec<_> = (1..=3).map(|n| issue(&mut w, n)).collect();
    {
        let l = open(dir.path(), &c);
        l.append_batch(evs).unwrap();
    }
    let log = dir.path().join("events.log");
    let pristine = std::fs::read(&log).unwrap();
    let body_start = ledger_core::store::HEADER_LEN as usize;
    // Every byte after the header, one bit flipped at a time (7 positions
    // per byte would be slow; flip a different bit per byte).
    for i in body_start..pristine.len() {
        let mut bad = pristine.clone();
        bad[i] ^= 1 << (i % 8);
        std::fs::write(&log, &bad).unwrap();
        let report = ledger_core::store::verify_log(&log, &c, u64::MAX, |_, _| {}).unwrap();
        assert!(
            report.failure().is_some(),
            "flip at byte {i} went unnoticed"
        );
    }
    std::fs::write(&log, &pristine).unwrap();
    let report = ledger_core::store::verify_log(&log, &c, u64::MAX, |_, _| {}).unwrap();
    assert_eq!(report.failure(), None);
    assert_eq!(report.events, 3);
}

/// Regression: an authoring thread (`append_own`) races a peer offering junk
/// for places it has written but not yet indexed, batched with valid events
/// of another feed. Every call must succeed (junk is refused, not an error),
/// nothing valid may be lost or claimed `Duplicate` without being stored, and
/// the store must verify and reopen.
#[test]
fn authoring_races_junk_for_unindexed_places() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let c = charter();
    let bw = AuthorId::new("BW", "mme").unwrap();
    let key = ledger_core::testkit::test_key(&bw);
    let za_written;
    {
        let l = open(dir.path(), &c);
        let stop = AtomicBool::new(false);
        za_written = std::thread::scope(|s| {
            s.spawn(|| {
                let mut n = 0u64;
                while n < 3_000 {
                    let bodies = (1..=64)
                        .map(|j| {
                            EventBody::CertificateIssued(sample_certificate(
                                bw.participant,
                                code("EU"),
                                n + j,
                            ))
                        })
                        .collect();
                    l.append_own(&key, &bw, bodies, 1_000).unwrap();
                    n += 64;
                }
                stop.store(true, Ordering::SeqCst);
            });
            let peer = s.spawn(|| {
                let mut za = writer(&c, "ZA");
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) && i < 100_000 {
                    i += 1;
                    let head = l.feed_state(&bw).unwrap().unwrap().head_seq;
                    let mut junk = za.key.sign(za.content(
                        EventBody::CertificateIssued(sample_certificate(code("BW"), code("EU"), 1)),
                        5,
                    ));
                    junk.content.author = bw.clone();
                    junk.content.seq = head + 1 + (i % 64);
                    junk.content.prev = None;
                    let ev = issue(&mut za, i);
                    let out = l
                        .append_batch(vec![ev.clone(), junk])
                        .expect("a batch with junk in it is not a store error");
                    assert!(
                        matches!(out[0], AppendOutcome::Appended { .. }),
                        "{:?}",
                        out[0]
                    );
                    assert!(
                        !matches!(out[1], AppendOutcome::Appended { .. }),
                        "junk appended: {:?}",
                        out[1]
                    );
                }
                za.seq
            });
            peer.join().unwrap()
        });
        assert_eq!(
            l.feed_state(&AuthorId::new("ZA", "mme").unwrap())
                .unwrap()
                .unwrap()
                .head_seq,
            za_written
        );
        assert_eq!(l.verify(|_, _| {}).unwrap().failure(), None);
    }
    let l = open(dir.path(), &c);
    assert_eq!(l.verify(|_, _| {}).unwrap().failure(), None);
    assert_eq!(l.event_count().unwrap(), 3_008 + za_written);
}
