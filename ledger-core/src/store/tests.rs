//! I/O failures injected at each write site of a group commit: nothing of
//! a failed write stays visible or durable, the writer learns the exact
//! outcome, and the next write succeeds without reopening the store.

use super::faults::{fail_next, Site};
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
fn a_failed_sync_or_index_batch_leaves_nothing_and_the_next_write_succeeds() {
    for (site, errno) in [
        (Site::LogSync, EIO),
        (Site::LogSync, ENOSPC),
        (Site::Index, ENOSPC),
    ] {
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
