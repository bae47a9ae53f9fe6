//! I/O failures injected at each write site of a group commit: nothing of
//! a failed write stays visible or durable, the writer learns the exact
//! outcome, and the next write succeeds without reopening the store.

use std::io::Write as _;

use super::faults::{fail_next, Site};
use super::lookup;
use super::*;
use crate::model::{CountryCode, EventBody};
use crate::testkit::{sample_certificate, test_charter, test_key, FeedWriter};

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

fn setup() -> (tempfile::TempDir, Charter, FeedWriter) {
    let dir = tempfile::tempdir().unwrap();
    let c = test_charter(&["BW", "EU"]);
    let w = FeedWriter::new(c.network_id(), AuthorId::new("BW", "mme").unwrap());
    (dir, c, w)
}

fn issue(w: &mut FeedWriter, n: u64) -> SignedEvent {
    let cert = sample_certificate(w.author.participant, CountryCode::new("EU").unwrap(), n);
    w.next(EventBody::CertificateIssued(cert), 1_767_225_600_000 + n)
}

fn head(l: &Ledger, a: &AuthorId) -> u64 {
    l.heads()
        .unwrap()
        .into_iter()
        .find(|h| &h.author == a)
        .map_or(0, |h| h.seq)
}

fn log_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("events.log")).unwrap().len()
}

#[test]
fn a_failed_sync_leaves_nothing_and_the_next_write_succeeds() {
    for (site, errno) in [(Site::LogSync, EIO), (Site::LogSync, ENOSPC)] {
        let (dir, c, mut w) = setup();
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        let first: Vec<_> = (1..=3).map(|n| issue(&mut w, n)).collect();
        l.append_batch(first).unwrap();
        let len = log_len(dir.path());
        let failed = issue(&mut w, 4);
        fail_next(site, errno);
        let e = l.append(failed.clone()).unwrap_err();
        assert!(matches!(e, StoreError::NotStored(_)), "{site:?}: {e}");
        // Nothing visible, nothing in the log, and the store says why.
        assert_eq!(head(&l, &w.author), 3, "{site:?}");
        assert!(l.event_by_id(&failed.id()).unwrap().is_none());
        assert_eq!(log_len(dir.path()), len, "{site:?}: the log was cut back");
        assert!(l.degraded().is_some(), "{site:?}");
        // The same event again: stored now, and the store is healthy.
        assert_eq!(
            l.append(failed.clone()).unwrap(),
            AppendOutcome::Appended {
                id: failed.id(),
                seq: 4
            }
        );
        assert_eq!(l.degraded(), None);
        let next = issue(&mut w, 5);
        l.append(next).unwrap();
        drop(l);
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        assert_eq!(head(&l, &w.author), 5, "{site:?}");
        assert!(l.verify(|_, _| {}).unwrap().failure().is_none());
    }
}

/// The index is applied behind the answer: a batch that fails there does
/// not undo the write (its event is in the synced log), reads that need
/// the index fail with the reason until the next write rebuilds it, and
/// nothing is lost.
#[test]
fn a_failed_index_batch_keeps_the_acknowledged_write_and_the_next_write_rebuilds_the_index() {
    for errno in [ENOSPC, EIO] {
        let (dir, c, mut w) = setup();
        let key = test_key(&AuthorId::new("EU", "mme").unwrap());
        let own = AuthorId::new("EU", "mme").unwrap();
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        let first: Vec<_> = (1..=3).map(|n| issue(&mut w, n)).collect();
        l.append_batch(first).unwrap();
        let len = log_len(dir.path());
        let acked = issue(&mut w, 4);
        fail_next(Site::Index, errno);
        assert_eq!(
            l.append(acked.clone()).unwrap(),
            AppendOutcome::Appended {
                id: acked.id(),
                seq: 4
            },
            "errno {errno}"
        );
        assert!(log_len(dir.path()) > len, "the event is in the log");
        // Reads that need the index say why they cannot answer yet.
        assert!(l.event_by_id(&acked.id()).is_err());
        assert!(l.degraded().is_some());
        // The same event again is a duplicate, found in memory.
        assert_eq!(
            l.append(acked.clone()).unwrap(),
            AppendOutcome::Duplicate { id: acked.id() }
        );
        assert_eq!(l.degraded(), None, "the write rebuilt the index");
        assert_eq!(head(&l, &w.author), 4);
        assert_eq!(l.event_at(&w.author, 4).unwrap().unwrap().id, acked.id());
        // An own append whose batch fails is acknowledged too.
        let body = EventBody::CertificateIssued(sample_certificate(
            own.participant,
            CountryCode::new("BW").unwrap(),
            1,
        ));
        fail_next(Site::Index, errno);
        let out = l
            .append_own(&key, &own, vec![body], 1_767_225_600_000)
            .unwrap();
        assert_eq!(out[0].1, 1);
        assert!(l.heads().is_err());
        l.append(issue(&mut w, 5)).unwrap();
        assert_eq!(l.degraded(), None);
        assert_eq!(l.event_at(&own, 1).unwrap().unwrap().id, out[0].0);
        assert_eq!(l.tree_size(&own).unwrap(), 1);
        assert_eq!(head(&l, &w.author), 5);
        drop(l);
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        assert_eq!(head(&l, &w.author), 5, "errno {errno}");
        assert_eq!(head(&l, &own), 1, "errno {errno}");
        assert!(l.verify(|_, _| {}).unwrap().failure().is_none());
    }
}

/// A store dropped while its last batches wait for the indexer, or whose
/// index lost them (as a crash would), re-indexes them from the log.
#[test]
fn events_acknowledged_before_the_index_holds_them_are_found_after_reopening() {
    let (dir, c, mut w) = setup();
    {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        for n in 1..=40 {
            l.append(issue(&mut w, n)).unwrap();
        }
        // Read straight after the answer: the index is caught up first.
        assert_eq!(head(&l, &w.author), 40);
        for n in 41..=80 {
            l.append(issue(&mut w, n)).unwrap();
        }
        // The last batch fails to reach the index.
        fail_next(Site::Index, EIO);
        l.append(issue(&mut w, 81)).unwrap();
    }
    let root = {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        assert_eq!(head(&l, &w.author), 81);
        assert!(l.verify(|_, _| {}).unwrap().is_ok());
        l.tree_root(&w.author, 81).unwrap()
    };
    // The Merkle tree agrees with one built from the whole log.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    assert_eq!(l.tree_root(&w.author, 81).unwrap(), root);
    assert_eq!(l.inclusion_proof(&w.author, 81, 81).unwrap().len(), 2);
}

#[test]
fn a_failed_own_append_is_not_stored_and_can_be_retried() {
    let (dir, c, w) = setup();
    let key = test_key(&w.author);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let body = |n| {
        EventBody::CertificateIssued(sample_certificate(
            w.author.participant,
            CountryCode::new("EU").unwrap(),
            n,
        ))
    };
    l.append_own(&key, &w.author, vec![body(1)], 1_767_225_600_000)
        .unwrap();
    fail_next(Site::LogSync, EIO);
    assert!(matches!(
        l.append_own(&key, &w.author, vec![body(2)], 1_767_225_600_001),
        Err(StoreError::NotStored(_))
    ));
    assert_eq!(head(&l, &w.author), 1);
    assert_eq!(l.authoring_record(&w.author).unwrap().seq, 1);
    let out = l
        .append_own(&key, &w.author, vec![body(2)], 1_767_225_600_002)
        .unwrap();
    assert_eq!(out[0].1, 2);
    assert_eq!(l.authoring_record(&w.author).unwrap().seq, 2);
}

#[test]
fn an_unwritten_authoring_record_keeps_the_write_and_blocks_the_next_until_written() {
    let (dir, c, w) = setup();
    let key = test_key(&w.author);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let body = |n| {
        EventBody::CertificateIssued(sample_certificate(
            w.author.participant,
            CountryCode::new("EU").unwrap(),
            n,
        ))
    };
    l.append_own(&key, &w.author, vec![body(1)], 1_767_225_600_000)
        .unwrap();
    fail_next(Site::Authoring, ENOSPC);
    // Stored: the answer must say so.
    let out = l
        .append_own(&key, &w.author, vec![body(2)], 1_767_225_600_001)
        .unwrap();
    assert_eq!(out[0].1, 2);
    assert!(l.degraded().is_some());
    assert_eq!(l.authoring_record(&w.author).unwrap().seq, 1);
    // The next own append first writes the record it owes.
    fail_next(Site::Authoring, ENOSPC);
    assert!(matches!(
        l.append_own(&key, &w.author, vec![body(3)], 1_767_225_600_002),
        Err(StoreError::NotStored(_))
    ));
    assert_eq!(head(&l, &w.author), 2);
    let out = l
        .append_own(&key, &w.author, vec![body(3)], 1_767_225_600_003)
        .unwrap();
    assert_eq!(out[0].1, 3);
    assert_eq!(l.authoring_record(&w.author).unwrap().seq, 3);
    assert_eq!(l.degraded(), None);
}

#[test]
fn an_own_feed_below_its_authoring_record_is_never_signed_again() {
    let (dir, c, w) = setup();
    let key = test_key(&w.author);
    let body = |n| {
        EventBody::CertificateIssued(sample_certificate(
            w.author.participant,
            CountryCode::new("EU").unwrap(),
            n,
        ))
    };
    let backup = tempfile::tempdir().unwrap();
    {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        l.append_own(&key, &w.author, vec![body(1)], 1_767_225_600_000)
            .unwrap();
    }
    // An older copy of the log (and index), with the newer authoring record.
    for f in ["events.log", "charter.bin", "events.synced"] {
        std::fs::copy(dir.path().join(f), backup.path().join(f)).unwrap();
    }
    {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        l.append_own(&key, &w.author, vec![body(2), body(3)], 1_767_225_600_001)
            .unwrap();
    }
    for f in ["events.log", "charter.bin", "events.synced"] {
        std::fs::copy(backup.path().join(f), dir.path().join(f)).unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    assert_eq!(head(&l, &w.author), 1);
    let e = l
        .append_own(&key, &w.author, vec![body(4)], 1_767_225_600_002)
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::OwnFeedBehind {
                store_head: 1,
                record_seq: 3,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn an_authoring_record_failing_with_eio_keeps_the_write_and_blocks_the_next_until_written() {
    let (dir, c, w) = setup();
    let key = test_key(&w.author);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let body = |n| {
        EventBody::CertificateIssued(sample_certificate(
            w.author.participant,
            CountryCode::new("EU").unwrap(),
            n,
        ))
    };
    // The feed's first record (the file does not exist yet) fails.
    fail_next(Site::Authoring, EIO);
    let out = l
        .append_own(&key, &w.author, vec![body(1)], 1_767_225_600_000)
        .unwrap();
    assert_eq!(out[0].1, 1);
    assert!(l.degraded().is_some());
    assert_eq!(l.authoring_record(&w.author), None);
    fail_next(Site::Authoring, EIO);
    assert!(matches!(
        l.append_own(&key, &w.author, vec![body(2)], 1_767_225_600_001),
        Err(StoreError::NotStored(_))
    ));
    assert_eq!(head(&l, &w.author), 1);
    let out = l
        .append_own(&key, &w.author, vec![body(2)], 1_767_225_600_002)
        .unwrap();
    assert_eq!(out[0].1, 2);
    assert_eq!(l.authoring_record(&w.author).unwrap().seq, 2);
    assert_eq!(l.degraded(), None);
    drop(l);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    assert_eq!(l.authoring_record(&w.author).unwrap().seq, 2);
    assert_eq!(head(&l, &w.author), 2);
}

/// Faults injected at random into concurrent writers' group commits (the
/// thread that leads a commit fails it, whoever's writes it covers): every
/// writer is told exactly what happened to its events.
#[test]
fn every_writer_a_failed_group_commit_covers_is_told_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let codes = ["BW", "EU", "IN", "ZA"];
    let c = test_charter(&codes);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let acked = Mutex::new(Vec::<(AuthorId, u64, EventId)>::new());
    let refused = Mutex::new(Vec::<EventId>::new());
    let refused_own = std::sync::atomic::AtomicU64::new(0);
    let injected = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for (t, code) in codes.iter().enumerate() {
            let (l, c, acked, refused, refused_own, injected) =
                (&l, &c, &acked, &refused, &refused_own, &injected);
            s.spawn(move || {
                let a = AuthorId::new(code, "mme").unwrap();
                let key = test_key(&a);
                let mut w = FeedWriter::new(c.network_id(), a.clone());
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                let mut next = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                for i in 0..60u64 {
                    let r = next();
                    if r % 5 == 0 {
                        // (A failed index batch refuses nothing: tested on its own.)
                        fail_next(Site::LogSync, if r % 3 == 0 { EIO } else { ENOSPC });
                        injected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let n = 1000 * t as u64 + i;
                    if t == 3 {
                        let before = l.feed_state(&a).unwrap().unwrap().head_seq;
                        let body = EventBody::CertificateIssued(sample_certificate(
                            a.participant,
                            CountryCode::new("EU").unwrap(),
                            n,
                        ));
                        match l.append_own(&key, &a, vec![body], 1_767_225_600_000 + n) {
                            Ok(v) => acked.lock().unwrap().push((a.clone(), v[0].1, v[0].0)),
                            Err(e) => {
                                assert!(matches!(e, StoreError::NotStored(_)), "{e}");
                                refused_own.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let now = l.feed_state(&a).unwrap().unwrap().head_seq;
                                assert_eq!(now, before, "a refused own event is visible");
                            }
                        }
                        continue;
                    }
                    let (seq, prev) = (w.seq, w.prev);
                    let batch: Vec<SignedEvent> =
                        (0..1 + r % 3).map(|k| issue(&mut w, n * 4 + k)).collect();
                    let ids: Vec<EventId> = batch.iter().map(|e| e.id()).collect();
                    match l.append_batch(batch) {
                        Ok(outs) => {
                            for (k, o) in outs.into_iter().enumerate() {
                                let want = AppendOutcome::Appended {
                                    id: ids[k],
                                    seq: seq + 1 + k as u64,
                                };
                                assert_eq!(o, want);
                                acked
                                    .lock()
                                    .unwrap()
                                    .push((a.clone(), seq + 1 + k as u64, ids[k]));
                            }
                        }
                        Err(e) => {
                            assert!(matches!(e, StoreError::NotStored(_)), "{e}");
                            for id in &ids {
                                assert!(
                                    l.event_by_id(id).unwrap().is_none(),
                                    "a refused event is visible"
                                );
                            }
                            assert_eq!(l.feed_state(&a).unwrap().unwrap().head_seq, seq);
                            refused.lock().unwrap().extend(ids);
                            (w.seq, w.prev) = (seq, prev);
                        }
                    }
                }
            });
        }
    });
    let acked = acked.into_inner().unwrap();
    let refused = refused.into_inner().unwrap();
    assert!(!refused.is_empty(), "no fault fired");
    let check = |l: &Ledger, when: &str| {
        for (a, seq, id) in &acked {
            let e = l.event_at(a, *seq).unwrap();
            assert_eq!(
                e.map(|e| e.id),
                Some(*id),
                "{when}: acknowledged {a} seq {seq}"
            );
        }
        for id in &refused {
            assert!(
                l.event_by_id(id).unwrap().is_none(),
                "{when}: refused {id} is visible"
            );
        }
        let heads: u64 = l.heads().unwrap().iter().map(|h| h.seq).sum();
        assert_eq!(heads, acked.len() as u64, "{when}");
        let v = l.verify(|_, _| {}).unwrap();
        assert!(
            v.is_ok() && v.events == acked.len() as u64,
            "{when}: {:?}",
            v.failure()
        );
    };
    check(&l, "before reopening");
    drop(l);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    check(&l, "after reopening");
    let mut seen = HashMap::new();
    l.for_each_event(|id, _| *seen.entry(*id).or_insert(0) += 1)
        .unwrap();
    assert!(acked.iter().all(|(_, _, id)| seen.get(id) == Some(&1)));
    assert!(refused.iter().all(|id| !seen.contains_key(id)));
}

#[test]
fn a_seal_whose_sync_fails_loses_nothing_and_the_store_keeps_writing() {
    let (dir, c, mut w) = setup();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    l.append_batch((1..=3).map(|n| issue(&mut w, n)).collect())
        .unwrap();
    let len = log_len(dir.path());
    fail_next(Site::LogSync, EIO);
    assert!(matches!(l.seal(), Err(StoreError::NotStored(_))));
    assert_eq!(log_len(dir.path()), len, "the seal's mark was cut back");
    assert!(l.degraded().is_some());
    assert_eq!(head(&l, &w.author), 3);
    l.append(issue(&mut w, 4)).unwrap();
    assert_eq!(l.degraded(), None);
    l.seal().unwrap();
    drop(l);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    assert_eq!(head(&l, &w.author), 4);
    assert_eq!(l.recovery_report().watermark, log_len(dir.path()));
    assert!(l.verify(|_, _| {}).unwrap().is_ok());
}

#[test]
fn a_fork_proof_of_a_failed_commit_is_not_kept_and_a_retry_stores_it_once() {
    let (dir, c, mut w) = setup();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let mut other = FeedWriter::new(c.network_id(), w.author.clone());
    l.append(issue(&mut w, 1)).unwrap();
    other.seq = w.seq;
    other.prev = w.prev;
    l.append(issue(&mut w, 2)).unwrap();
    let fork = issue(&mut other, 99);
    for errno in [EIO, ENOSPC] {
        fail_next(Site::LogSync, errno);
        assert!(matches!(
            l.append(fork.clone()),
            Err(StoreError::NotStored(_))
        ));
        assert!(l.fork_proofs().unwrap().is_empty());
    }
    assert!(matches!(
        l.append(fork.clone()).unwrap(),
        AppendOutcome::Forked { new: true, .. }
    ));
    assert!(matches!(
        l.append(fork.clone()).unwrap(),
        AppendOutcome::Forked { new: false, .. }
    ));
    assert_eq!(l.fork_proofs().unwrap().len(), 1);
    drop(l);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    assert_eq!(l.fork_proofs().unwrap().len(), 1);
    assert_eq!(head(&l, &w.author), 2);
    assert!(l.verify(|_, _| {}).unwrap().is_ok());
}

/// An event that fills a gap releases the events held behind it. When the
/// group commit that would store them fails, they are cut from the log with
/// it, and must stay held (not be dropped from the index outside the
/// commit's batch): `AppendOutcome::Held` promises they are applied once
/// the gap is filled.
#[test]
fn held_events_released_by_a_failed_commit_are_applied_when_the_gap_is_filled() {
    let (dir, c, mut w) = setup();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    l.append(issue(&mut w, 1)).unwrap();
    let gap = issue(&mut w, 2);
    let held: Vec<SignedEvent> = (3..=4).map(|n| issue(&mut w, n)).collect();
    for ev in &held {
        assert!(matches!(
            l.append(ev.clone()).unwrap(),
            AppendOutcome::Held { .. }
        ));
    }
    fail_next(Site::LogSync, EIO);
    assert!(matches!(
        l.append(gap.clone()),
        Err(StoreError::NotStored(_))
    ));
    assert_eq!(
        head(&l, &w.author),
        1,
        "nothing of the failed write is visible"
    );
    assert_eq!(
        l.held_events().unwrap().len(),
        2,
        "the events held behind the gap are still held after the failed write"
    );
    assert!(matches!(
        l.append(gap).unwrap(),
        AppendOutcome::Appended { seq: 2, .. }
    ));
    assert_eq!(
        head(&l, &w.author),
        4,
        "the held events are applied once the gap is filled"
    );
}

/// Ranges verified before the ranges they follow were appended are
/// accepted (a rotation between them only costs a second check), and a
/// verification never lets a bad signature in.
#[test]
fn ranges_verified_ahead_of_their_append_are_accepted_and_bad_signatures_refused() {
    let (dir, c, mut w) = setup();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let first: Vec<SignedEvent> = (1..=40).map(|n| issue(&mut w, n)).collect();
    // The first range ends with a key rotation: the second is signed with
    // the new key.
    let new_key = AuthorityKey::from_seed([7; 32]);
    let mut first = first;
    first.push(w.next(
        EventBody::AuthorityKeyRotated {
            new_key: new_key.public(),
            next_key_digest: None,
        },
        1_767_225_600_100,
    ));
    w.key = new_key;
    let mut second: Vec<SignedEvent> = (42..=90).map(|n| issue(&mut w, n)).collect();
    let third: Vec<SignedEvent> = (91..=130).map(|n| issue(&mut w, n)).collect();
    // A signature that does not verify, in the middle of the second range.
    second[10].signature.0[0] ^= 1;
    let bad = second[10].id();

    // Every range verified before any is appended.
    let v1 = l.verify_received(first.clone());
    let v2 = l.verify_received(second.clone());
    let v3 = l.verify_received(third);
    assert_eq!(v1.len(), 41);
    assert_eq!(v2.ids().nth(10), Some(bad));

    let out = l.append_verified(v1).unwrap();
    assert!(out
        .iter()
        .all(|o| matches!(o, AppendOutcome::Appended { .. })));
    let out = l.append_verified(v2).unwrap();
    for (i, o) in out.iter().enumerate() {
        match i {
            0..=9 => assert!(matches!(o, AppendOutcome::Appended { .. }), "{i}: {o:?}"),
            10 => assert!(
                matches!(o, AppendOutcome::Rejected(EventError::BadSignature { .. })),
                "{o:?}"
            ),
            // Behind the refused event: a gap, held.
            _ => assert!(matches!(o, AppendOutcome::Held { .. }), "{i}: {o:?}"),
        }
    }
    assert_eq!(head(&l, &w.author), 51);
    assert!(l.event_by_id(&bad).unwrap().is_none());
    // The third range, verified long before, waits behind the gap too.
    let out = l.append_verified(v3).unwrap();
    assert!(out.iter().all(|o| matches!(o, AppendOutcome::Held { .. })));
    // The right event fills the gap and releases everything held.
    second[10].signature.0[0] ^= 1;
    let out = l.append_batch(vec![second[10].clone()]).unwrap();
    assert!(matches!(out[0], AppendOutcome::Appended { seq: 52, .. }));
    assert_eq!(head(&l, &w.author), 130);
    drop(l);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    assert_eq!(head(&l, &w.author), 130);
    assert!(l.verify(|_, _| {}).unwrap().is_ok());
}

/// An index of the older layout (a sled entry per Merkle node, no layout
/// mark) is rebuilt from the log on open, with the same tree.
#[test]
fn an_index_of_the_older_layout_is_rebuilt_on_open() {
    let (dir, c, mut w) = setup();
    let (root, proof) = {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        l.append_batch((1..=100).map(|n| issue(&mut w, n)).collect())
            .unwrap();
        let root = l.tree_root(&w.author, 100).unwrap();
        let proof = l.inclusion_proof(&w.author, 37, 100).unwrap();
        l.index_current();
        let t = l.tree();
        t.remove(META_LAYOUT).unwrap();
        let old_node = key(b'T', &[&w.author.key_bytes(), &[0], &0u64.to_be_bytes()]);
        t.insert(old_node, &[0u8; 32][..]).unwrap();
        l.flush().unwrap();
        (root, proof)
    };
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let why = l.recovery_report().index_rebuilt.unwrap_or_default();
    assert!(why.contains("older layout"), "{why}");
    assert_eq!(head(&l, &w.author), 100);
    assert_eq!(l.tree_root(&w.author, 100).unwrap(), root);
    assert_eq!(l.inclusion_proof(&w.author, 37, 100).unwrap(), proof);
    assert!(l.tree().scan_prefix([b'T']).next().is_none());
    drop(l);
    // Opened again: the layout is current, nothing to rebuild.
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    assert_eq!(l.recovery_report().index_rebuilt, None);
    assert_eq!(l.tree_root(&w.author, 100).unwrap(), root);
}

/// Events held ahead of a gap are released by the event that fills it,
/// also after the store was reopened in between.
#[test]
fn events_held_before_a_reopen_are_released_when_the_gap_is_filled() {
    let (dir, c, mut w) = setup();
    let first = issue(&mut w, 1);
    let gap = issue(&mut w, 2);
    let held: Vec<SignedEvent> = (3..=5).map(|n| issue(&mut w, n)).collect();
    {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        l.append(first).unwrap();
        for ev in &held {
            assert!(matches!(
                l.append(ev.clone()).unwrap(),
                AppendOutcome::Held { .. }
            ));
        }
    }
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    assert_eq!(l.held_events().unwrap().len(), 3);
    assert!(matches!(
        l.append(gap).unwrap(),
        AppendOutcome::Appended { seq: 2, .. }
    ));
    assert_eq!(head(&l, &w.author), 5);
    assert!(l.held_events().unwrap().is_empty());
    // Nothing held any more: later events append straight on.
    l.append(issue(&mut w, 6)).unwrap();
    assert_eq!(head(&l, &w.author), 6);
}

fn feed_file(dir: &Path, a: &AuthorId, ext: &str) -> PathBuf {
    dir.join("index")
        .join(feedfiles::FEEDS_DIR)
        .join(format!("{}.{ext}", hex::encode(a.key_bytes())))
}

/// Every answer that comes from the feed files, for a feed of `n` events:
/// each event by place, a range, roots and proofs at several sizes.
fn feed_answers(l: &Ledger, a: &AuthorId, n: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for seq in 1..=n {
        let e = l.event_at(a, seq).unwrap().expect("the event by place");
        assert_eq!(e.event.seq(), seq);
        assert_eq!(e.id, e.event.id());
        out.push(e.id.as_bytes().to_vec());
    }
    assert!(l.event_at(a, n + 1).unwrap().is_none());
    assert_eq!(l.feed_range_raw(a, 1, usize::MAX).unwrap().len() as u64, n);
    for size in [1, n / 3, n / 2 + 1, n] {
        let size = size.max(1);
        out.push(l.tree_root(a, size).unwrap().as_bytes().to_vec());
        for seq in [1, size.div_ceil(2), size] {
            for d in l.inclusion_proof(a, seq, size).unwrap() {
                out.push(d.as_bytes().to_vec());
            }
        }
        for d in l.consistency_proof(a, size.div_ceil(3), n).unwrap() {
            out.push(d.as_bytes().to_vec());
        }
    }
    out
}

/// Copies the sled half of an index (everything but the feed files).
fn copy_sled(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == feedfiles::FEEDS_DIR {
            continue;
        }
        let target = to.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_sled(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A crash between an index batch's feed-file writes and its sled batch
/// leaves places and nodes beyond the head sled knows, and slots of the
/// lookup table past the index's offset: they are ignored, the replay of
/// the log past that offset writes them again (each lookup slot found
/// already there, none added twice), and nothing needs a rebuild.
#[test]
fn feed_entries_beyond_the_head_after_a_crash_mid_apply_are_rewritten() {
    let (dir, c, mut w) = setup();
    let events: Vec<SignedEvent> = (1..=80).map(|n| issue(&mut w, n)).collect();
    {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        l.append_batch(events[..50].to_vec()).unwrap();
    }
    let sled_at_50 = dir.path().join("sled-at-50");
    copy_sled(&dir.path().join("index"), &sled_at_50);
    let expected = {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        for chunk in events[50..].chunks(7) {
            l.append_batch(chunk.to_vec()).unwrap();
        }
        (feed_answers(&l, &w.author, 80), lookup_answers(&l, &events))
    };
    // sled as of 50 events, the feed files as of 80, as after a kill.
    let index = dir.path().join("index");
    for e in std::fs::read_dir(&index).unwrap() {
        let e = e.unwrap();
        if e.file_name() == feedfiles::FEEDS_DIR {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            std::fs::remove_dir_all(e.path()).unwrap();
        } else {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    copy_sled(&sled_at_50, &index);
    // And garbage past everything, as a torn write would leave.
    let seq_file = feed_file(dir.path(), &w.author, "seq");
    let len = std::fs::metadata(&seq_file).unwrap().len();
    assert_eq!(len, 80 * feedfiles::SEQ_WIDTH);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&seq_file)
        .unwrap()
        .write_all(&[0xAB; 100])
        .unwrap();
    let slots_before = std::fs::read(lookup_file(dir.path())).unwrap();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let r = l.recovery_report();
    assert_eq!(r.index_rebuilt, None);
    assert_eq!(r.replayed_records, 30);
    assert_eq!(head(&l, &w.author), 80);
    assert_eq!(feed_answers(&l, &w.author, 80), expected.0);
    assert_eq!(lookup_answers(&l, &events), expected.1);
    // The same slots: only the header (its covered offset) may differ.
    let slots_after = std::fs::read(lookup_file(dir.path())).unwrap();
    assert_eq!(
        slots_before[lookup::HEADER as usize..],
        slots_after[lookup::HEADER as usize..]
    );
    // Places past the garbage are written over it.
    l.append(issue(&mut w, 81)).unwrap();
    assert_eq!(l.event_at(&w.author, 81).unwrap().unwrap().event.seq(), 81);
}

/// Feed files shorter than the head the sled index names (their last
/// writes lost, or cut) make the store rebuild the index from the log on
/// open: no event lost, every answer the same.
#[test]
fn feed_files_shorter_than_the_head_rebuild_the_index() {
    for ext in ["seq", "nodes"] {
        let (dir, c, mut w) = setup();
        let expected = {
            let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
            l.append_batch((1..=100).map(|n| issue(&mut w, n)).collect())
                .unwrap();
            feed_answers(&l, &w.author, 100)
        };
        let f = feed_file(dir.path(), &w.author, ext);
        let len = std::fs::metadata(&f).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(len / 2 + 5)
            .unwrap();
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        let why = l.recovery_report().index_rebuilt.unwrap_or_default();
        assert!(why.contains("feed index files"), "{ext}: {why}");
        assert_eq!(head(&l, &w.author), 100, "{ext}");
        assert_eq!(feed_answers(&l, &w.author, 100), expected, "{ext}");
        drop(l);
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        assert_eq!(l.recovery_report().index_rebuilt, None, "{ext}");
    }
}

/// Flips one bit of the byte at `at` in file `f`.
fn flip(f: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(f)
        .unwrap();
    let mut b = [0u8];
    file.read_exact_at(&mut b, at).unwrap();
    file.write_all_at(&[b[0] ^ 0x10], at).unwrap();
}

/// A damaged byte anywhere in a seq file or a node file: found on open
/// (the index is rebuilt), or by the read that meets it while the store
/// runs (that read fails, the index is rebuilt before the next write, and
/// the answers are right again).
#[test]
fn a_damaged_byte_in_a_feed_file_is_found_and_the_index_rebuilt() {
    for (ext, at) in [
        ("seq", 0),
        ("seq", 48 * 63 + 20),
        ("seq", 48 * 99 + 47),
        ("nodes", 3),
        ("nodes", 36 * 62 + 33),
    ] {
        let (dir, c, mut w) = setup();
        let expected = {
            let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
            l.append_batch((1..=100).map(|n| issue(&mut w, n)).collect())
                .unwrap();
            feed_answers(&l, &w.author, 100)
        };
        let f = feed_file(dir.path(), &w.author, ext);
        // Closed: found on open.
        flip(&f, at);
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        let why = l.recovery_report().index_rebuilt.unwrap_or_default();
        assert!(why.contains("damaged"), "{ext} {at}: {why}");
        assert_eq!(feed_answers(&l, &w.author, 100), expected, "{ext} {at}");
        // Running: the read that meets it fails, the next write rebuilds.
        let f = feed_file(dir.path(), &w.author, ext);
        flip(&f, at);
        let hit = if ext == "seq" {
            let seq = at / 48 + 1;
            l.event_at(&w.author, seq).err()
        } else {
            // The inclusion proofs of size 100 read every complete node.
            (1..=100).find_map(|seq| l.inclusion_proof(&w.author, seq, 100).err())
        };
        let e = hit.unwrap_or_else(|| panic!("{ext} {at}: the damage was not met"));
        assert!(e.to_string().contains("damaged"), "{ext} {at}: {e}");
        l.append(issue(&mut w, 101)).unwrap();
        assert!(l.degraded().is_none(), "{ext} {at}");
        assert_eq!(head(&l, &w.author), 101);
        let mut now = feed_answers(&l, &w.author, 101);
        now.truncate(100);
        assert_eq!(now, expected[..100].to_vec(), "{ext} {at}: events by place");
    }
}

/// An index of layout 2 (an `E` sled entry per event with its Merkle
/// nodes, no feed files) is rebuilt on open into the current layout.
#[test]
fn an_index_of_layout_2_is_rebuilt_on_open() {
    let (dir, c, mut w) = setup();
    let expected = {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        l.append_batch((1..=100).map(|n| issue(&mut w, n)).collect())
            .unwrap();
        let answers = feed_answers(&l, &w.author, 100);
        l.index_current();
        let t = l.tree();
        t.insert(META_LAYOUT, &[2u8][..]).unwrap();
        let e = key(b'E', &[&w.author.key_bytes(), &1u64.to_be_bytes()]);
        t.insert(e, &[0u8; 44][..]).unwrap();
        l.flush().unwrap();
        answers
    };
    std::fs::remove_dir_all(dir.path().join("index").join(feedfiles::FEEDS_DIR)).unwrap();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let why = l.recovery_report().index_rebuilt.unwrap_or_default();
    assert!(why.contains("older layout"), "{why}");
    assert_eq!(feed_answers(&l, &w.author, 100), expected);
    assert!(l.tree().scan_prefix([b'E']).next().is_none());
    assert_eq!(
        l.tree().get(META_LAYOUT).unwrap().as_deref(),
        Some(&[INDEX_LAYOUT][..])
    );
    drop(l);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    assert_eq!(l.recovery_report().index_rebuilt, None);
}

fn lookup_file(dir: &Path) -> PathBuf {
    dir.join("index")
        .join(feedfiles::FEEDS_DIR)
        .join(feedfiles::LOOKUP_FILE)
}

/// Every answer that comes from the lookup table: each event by id, each
/// number's certificate record, and a number and an id never stored.
fn lookup_answers(l: &Ledger, events: &[SignedEvent]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for ev in events {
        let got = l.event_by_id(&ev.id()).unwrap().expect("the event by id");
        assert_eq!(got.event.encode(), ev.encode());
        let n = ev.content.body.certificate_number().expect("a number");
        let rec = l.certificate(n).unwrap();
        assert_eq!(rec.issued.len(), 1, "{n}");
        out.push(rec.issued[0].id.as_bytes().to_vec());
    }
    assert!(l
        .event_by_id(&crate::hash::sha256(&[b"never stored"]))
        .unwrap()
        .is_none());
    assert!(l.certificate("XX-NEVER-ISSUED").unwrap().issued.is_empty());
    out
}

/// The first slot of the lookup table that holds something.
fn first_full_slot(f: &Path) -> u64 {
    let b = std::fs::read(f).unwrap();
    let slots = &b[lookup::HEADER as usize..];
    let i = slots
        .chunks_exact(lookup::SLOT as usize)
        .position(|s| s.iter().any(|&x| x != 0))
        .expect("a full slot");
    lookup::HEADER + i as u64 * lookup::SLOT
}

/// The lookup table lost, cut, or with a damaged byte in its header or a
/// slot: found on open (the index is rebuilt from the log), or by the read
/// that meets it while the store runs (that read fails with the reason,
/// the next write rebuilds the index, and the answers are right again).
#[test]
fn a_lost_or_damaged_lookup_table_is_found_and_the_index_rebuilt() {
    for damage in ["lost", "cut", "header", "slot"] {
        let (dir, c, mut w) = setup();
        let events: Vec<SignedEvent> = (1..=100).map(|n| issue(&mut w, n)).collect();
        let expected = {
            let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
            l.append_batch(events.clone()).unwrap();
            lookup_answers(&l, &events)
        };
        let f = lookup_file(dir.path());
        match damage {
            "lost" => std::fs::remove_file(&f).unwrap(),
            "cut" => {
                let len = std::fs::metadata(&f).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&f)
                    .unwrap()
                    .set_len(len - 16)
                    .unwrap();
            }
            "header" => flip(&f, 20),
            _ => flip(&f, first_full_slot(&f) + 5),
        }
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        let why = l.recovery_report().index_rebuilt.unwrap_or_default();
        assert!(why.contains("lookup table"), "{damage}: {why}");
        assert_eq!(lookup_answers(&l, &events), expected, "{damage}");
        drop(l);
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        assert_eq!(l.recovery_report().index_rebuilt, None, "{damage}");
        if damage != "slot" {
            continue;
        }
        // Running: the read that meets a damaged slot fails, the next
        // write rebuilds the index.
        flip(&f, first_full_slot(&f) + 2);
        let e = events
            .iter()
            .find_map(|ev| {
                let n = ev.content.body.certificate_number().unwrap_or_default();
                l.event_by_id(&ev.id()).err().or(l.certificate(n).err())
            })
            .expect("the damage was met");
        assert!(e.to_string().contains("damaged"), "{e}");
        let more = issue(&mut w, 101);
        l.append(more.clone()).unwrap();
        assert!(l.degraded().is_none());
        let mut all = events.clone();
        all.push(more);
        let now = lookup_answers(&l, &all);
        assert_eq!(now[..100], expected[..]);
    }
}

/// The lookup table is synced in bulk: after a crash its file covers less
/// of the log than the index (its recent slots lost). Opening the store
/// replays only the records between into the table, rebuilds nothing, and
/// every answer is the same; the next clean close leaves nothing to replay.
#[test]
fn a_lookup_table_behind_the_index_is_caught_up_from_the_log() {
    let (dir, c, mut w) = setup();
    let events: Vec<SignedEvent> = (1..=120).map(|n| issue(&mut w, n)).collect();
    let opts = StoreOptions {
        lookup_memory_slots: 100,
        ..StoreOptions::default()
    };
    let f = lookup_file(dir.path());
    let (expected, behind) = {
        let l = Ledger::open(dir.path(), &c, opts.clone()).unwrap();
        l.append_batch(events[..40].to_vec()).unwrap();
        l.flush().unwrap();
        // The table's file as a crash would leave it: 40 events merged, the
        // 80 after them (160 slots: one merge of 100 and more) not all.
        let at_40 = std::fs::read(&f).unwrap();
        for chunk in events[40..].chunks(9) {
            l.append_batch(chunk.to_vec()).unwrap();
        }
        l.flush().unwrap();
        (lookup_answers(&l, &events), at_40)
    };
    std::fs::write(&f, &behind).unwrap();
    let l = Ledger::open(dir.path(), &c, opts.clone()).unwrap();
    let r = l.recovery_report();
    assert_eq!(r.index_rebuilt, None);
    assert_eq!(r.replayed_records, 0);
    assert_eq!(r.lookup_records, 80);
    assert_eq!(head(&l, &w.author), 120);
    assert_eq!(lookup_answers(&l, &events), expected);
    drop(l);
    let l = Ledger::open(dir.path(), &c, opts).unwrap();
    let r = l.recovery_report();
    assert_eq!((r.index_rebuilt, r.lookup_records), (None, 0));
    assert_eq!(lookup_answers(&l, &events), expected);
}
