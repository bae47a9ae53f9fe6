//! No answer from partial data: a read over the whole ledger that meets a
//! record it cannot read says so (the analysis view is marked partial, with
//! how many records and where), instead of answering from what decoded;
//! and a proof bundle is not built around a record it cannot read.

use std::os::unix::fs::FileExt;
use std::path::Path;

use ledger_core::analysis::{AuditParams, LedgerView};
use ledger_core::bundle::{build, BundleError};
use ledger_core::store::{
    Ledger, LogFile, LogItem, StoreOptions, HEADER_LEN, KIND_EVENT, SCAN_THREAD_FROM_BYTES,
};
use ledger_core::testkit::{matching_confirmation, sample_certificate, test_charter, FeedWriter};
use ledger_core::{AuthorId, Charter, CountryCode, EventBody, SignedEvent};

fn code(s: &str) -> CountryCode {
    CountryCode::new(s).unwrap()
}

fn author(s: &str) -> AuthorId {
    AuthorId::new(s, "mme").unwrap()
}

fn opts() -> StoreOptions {
    StoreOptions {
        cache_bytes: 4 << 20,
        ..StoreOptions::default()
    }
}

const EXPORTS: u64 = 40;

/// BW and ZA each export `EXPORTS` certificates to EU, which confirms
/// every one but the last five of each (so the audit has findings), in
/// several group commits.
fn trade(l: &Ledger, c: &Charter) {
    let net = c.network_id();
    let mut eu = FeedWriter::new(net, author("EU"));
    for from in ["BW", "ZA"] {
        let mut w = FeedWriter::new(net, author(from));
        let mut batch = Vec::new();
        for n in 1..=EXPORTS {
            let cert = sample_certificate(code(from), code("EU"), n);
            batch.push(w.next(
                EventBody::CertificateIssued(cert.clone()),
                1_767_225_600_000 + n,
            ));
            if n <= EXPORTS - 5 {
                batch.push(eu.next(
                    EventBody::ImportConfirmed(matching_confirmation(&cert)),
                    1_767_225_700_000 + n,
                ));
            }
            if batch.len() >= 16 {
                l.append_batch(std::mem::take(&mut batch)).unwrap();
            }
        }
        l.append_batch(batch).unwrap();
    }
}

/// (offset, body length, event) of every event record of the log.
fn event_records(log: &Path) -> Vec<(u64, usize, SignedEvent)> {
    let f = LogFile::open_read_only(log).unwrap();
    let mut out = Vec::new();
    f.scan_all(HEADER_LEN, |item| {
        if let LogItem::Record(r) = item {
            if r.kind == KIND_EVENT {
                let ev = SignedEvent::decode(&r.payload).unwrap();
                out.push((r.offset, r.payload.len() + 1, ev));
            }
        }
        Ok(())
    })
    .unwrap();
    out
}

/// The record in the middle of the log.
fn middle(log: &Path) -> (u64, usize, SignedEvent) {
    let recs = event_records(log);
    recs[recs.len() / 2].clone()
}

fn whole_view(c: &Charter) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open(dir.path(), c, opts()).unwrap();
    trade(&l, c);
    let v = LedgerView::from_ledger(&l).unwrap();
    assert!(v.partial().is_none());
    (
        v.event_count(),
        v.audit(&AuditParams::new(1_900_000_000_000)).len(),
    )
}

#[test]
fn a_record_that_does_not_decode_makes_the_view_partial_not_smaller() {
    let c = test_charter(&["BW", "EU", "ZA"]);
    let (all_events, _) = whole_view(&c);
    let dir = tempfile::tempdir().unwrap();
    {
        let l = Ledger::open(dir.path(), &c, opts()).unwrap();
        trade(&l, &c);
    }
    // A closed store, its index kept: one byte in the middle of the log is
    // changed and the record's checksum made to hold again (so opening,
    // which checks checksums, lets it through; decoding does not).
    let log = dir.path().join("events.log");
    let (off, body_len, ev) = middle(&log);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log)
        .unwrap();
    let mut body = vec![0u8; body_len];
    f.read_exact_at(&mut body, off + 8).unwrap();
    body[1] = 0x7f; // the format version byte of the event
    f.write_all_at(&body, off + 8).unwrap();
    f.write_all_at(&crc32fast::hash(&body).to_le_bytes(), off + 4)
        .unwrap();
    drop(f);

    let l = Ledger::open(dir.path(), &c, opts()).unwrap();
    let v = LedgerView::from_ledger(&l).unwrap();
    let p = v
        .partial()
        .expect("the view says it was built from partial data");
    assert_eq!(p.unreadable_records, 1);
    assert_eq!(v.unreadable_count(), 1);
    assert_eq!(p.first_offset, off);
    let u = &p.unreadable[0];
    assert_eq!((u.offset, u.to), (off, off + 8 + body_len as u64));
    assert_eq!(
        (u.author.as_ref(), u.seq),
        (Some(ev.author()), Some(ev.seq()))
    );
    assert!(u.reason.contains("does not decode"), "{}", u.reason);
    // Every other event is still in the view.
    assert_eq!(v.event_count(), all_events - 1);

    // And the store's own full check names it.
    let r = l.verify(|_, _| {}).unwrap();
    assert_eq!(r.failure().map(|f| f.offset), Some(Some(off)));
}

#[test]
fn damage_under_an_open_store_makes_the_view_partial() {
    let c = test_charter(&["BW", "EU", "ZA"]);
    let (all_events, all_findings) = whole_view(&c);
    assert!(
        all_findings >= 10,
        "five unconfirmed exports of each exporter"
    );
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open(dir.path(), &c, opts()).unwrap();
    trade(&l, &c);
    // The disk changes a byte in the middle of the log while the store is
    // open (a node serving reads).
    let log = dir.path().join("events.log");
    let (off, body_len, ev) = middle(&log);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log)
        .unwrap();
    let at = off + 8 + body_len as u64 / 2;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x10], at).unwrap();
    drop(f);

    let v = LedgerView::from_ledger(&l).unwrap();
    let p = v.partial().expect("partial");
    assert_eq!(p.unreadable_records, 1, "{p:?}");
    assert_eq!(p.first_offset, off);
    assert_eq!(
        (p.unreadable[0].author.as_ref(), p.unreadable[0].seq),
        (Some(ev.author()), Some(ev.seq()))
    );
    assert!(p.unreadable[0].reason.contains("checksum"));
    // The records after the damage are read, not dropped with it.
    assert_eq!(v.event_count(), all_events - 1);
    let findings = v.audit(&AuditParams::new(1_900_000_000_000));
    assert!(findings.len() >= all_findings, "{}", findings.len());

    // The scan itself lists it too.
    let scan = l.for_each_event(|_, _| {}).unwrap();
    assert!(!scan.is_complete());
    assert_eq!(scan.events, all_events as u64 - 1);
    assert_eq!(scan.unreadable_count, 1);
}

#[test]
fn no_bundle_is_built_around_a_record_it_cannot_read() {
    let c = test_charter(&["BW", "EU", "ZA"]);
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open(dir.path(), &c, opts()).unwrap();
    trade(&l, &c);
    let log = dir.path().join("events.log");
    let recs = event_records(&log);
    // The confirmation of BW's certificate 3.
    let (off, body_len, ev) = recs
        .iter()
        .find(|(_, _, e)| {
            matches!(&e.content.body, EventBody::ImportConfirmed(x) if x.certificate == "BW-2026-0000003")
        })
        .cloned()
        .unwrap();
    assert_eq!(ev.author(), &author("EU"));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log)
        .unwrap();
    let at = off + 8 + body_len as u64 / 2;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x10], at).unwrap();
    drop(f);
    match build(&l, "BW-2026-0000003", &|_| None) {
        Err(BundleError::Unreadable(m)) => assert!(m.contains(&off.to_string()), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// A scan of a long range of the log (the store reads ranges of
/// `SCAN_THREAD_FROM_BYTES` and more on a thread of its own while the
/// caller visits their events) visits
/// the same events in the same order, and lists the same unreadable
/// records, as scans of short ranges covering it, which read inline.
#[test]
fn a_long_scan_visits_what_short_scans_visit_in_the_same_order() {
    let c = test_charter(&["BW", "EU", "ZA"]);
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open(dir.path(), &c, opts()).unwrap();
    let log = dir.path().join("events.log");
    let net = c.network_id();
    let mut writers = [
        FeedWriter::new(net, author("BW")),
        FeedWriter::new(net, author("ZA")),
    ];
    let mut n = 0u64;
    while std::fs::metadata(&log).unwrap().len() < SCAN_THREAD_FROM_BYTES + (1 << 20) {
        let w = &mut writers[(n / 256 % 2) as usize];
        let batch: Vec<SignedEvent> = (0..256)
            .map(|_| {
                n += 1;
                let cert = sample_certificate(w.author.participant, code("EU"), n);
                w.next(EventBody::CertificateIssued(cert), 1_767_225_600_000 + n)
            })
            .collect();
        l.append_batch(batch).unwrap();
    }
    let recs = event_records(&log);
    // Two damaged records (a byte changed, so their checksums fail), at a
    // third and two thirds of the log.
    let damaged = [
        recs[recs.len() / 3].clone(),
        recs[2 * recs.len() / 3].clone(),
    ];
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log)
        .unwrap();
    for (off, body_len, _) in &damaged {
        let at = off + 8 + *body_len as u64 / 2;
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ 0x10], at).unwrap();
    }
    drop(f);

    let mut long = Vec::new();
    let (scan, end) = l
        .for_each_event_between(0, None, |id, ev| long.push((*id, ev.seq())))
        .unwrap();
    assert!(
        end >= SCAN_THREAD_FROM_BYTES,
        "the range is long enough to be read on its own thread"
    );

    // Short ranges, each ending at the start of an undamaged record.
    let mut short = Vec::new();
    let (mut events, mut unreadable, mut unreadable_count) = (0, Vec::new(), 0);
    let mut from = 0;
    let bounds = recs
        .iter()
        .step_by(500)
        .skip(1)
        .map(|r| r.0)
        .filter(|o| damaged.iter().all(|d| d.0 != *o))
        .chain([end]);
    for to in bounds {
        let (s, e) = l
            .for_each_event_between(from, Some(to), |id, ev| short.push((*id, ev.seq())))
            .unwrap();
        assert!(
            to - from < SCAN_THREAD_FROM_BYTES,
            "a short range is read inline"
        );
        events += s.events;
        unreadable_count += s.unreadable_count;
        unreadable.extend(s.unreadable);
        from = e;
    }
    assert_eq!(from, end);
    assert_eq!(long.len(), recs.len() - 2);
    assert_eq!(long, short);
    assert_eq!(scan.events, events);
    assert_eq!(scan.events as usize, long.len());
    assert_eq!(scan.unreadable_count, 2);
    assert_eq!(scan.unreadable_count, unreadable_count);
    assert_eq!(scan.unreadable, unreadable);
    let offsets: Vec<u64> = scan.unreadable.iter().map(|d| d.offset).collect();
    assert_eq!(offsets, [damaged[0].0, damaged[1].0]);
    // Every undamaged record is visited, in log order.
    let expected: Vec<_> = recs
        .iter()
        .filter(|r| damaged.iter().all(|d| d.0 != r.0))
        .map(|r| (r.2.id(), r.2.seq()))
        .collect();
    assert_eq!(long, expected);
}
