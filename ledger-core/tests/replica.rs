//! The one replica verifier: every failure recorded (not only the first),
//! a broken feed skipped from its break while every other feed is verified
//! to its end, feeds of admitted authors opened from decisions earlier in
//! the stream, the same verdicts from a store's log and from a downloaded
//! replica, and no panic on any bytes.

use std::collections::BTreeMap;
use std::path::Path;

use ledger_core::governance::{Decision, Proposal};
use ledger_core::replica::{
    verify_replica, AnnouncedHead, ReplicaSource, ReplicaVerifier, Signatures, Verdict,
    MAX_REPORTED_FAILURES,
};
use ledger_core::store::{
    verify_log, Ledger, LogFile, LogItem, StoreOptions, HEADER_LEN, KIND_EVENT,
};
use ledger_core::testkit::{
    all_roles, governed_charter, sample_certificate, test_charter, test_participant, FeedWriter,
};
use ledger_core::{AuthorId, Charter, CountryCode, Date, EventBody, ForkProof, SignedEvent};
use proptest::prelude::*;

fn code(s: &str) -> CountryCode {
    CountryCode::new(s).unwrap()
}

fn author(s: &str) -> AuthorId {
    AuthorId::new(s, "mme").unwrap()
}

fn issue(w: &mut FeedWriter, n: u64) -> SignedEvent {
    let cert = sample_certificate(w.author.participant, code("EU"), n);
    w.next(EventBody::CertificateIssued(cert), 1_767_225_600_000 + n)
}

/// `n` events of each of `codes`' feeds, interleaved.
fn feeds(c: &Charter, codes: &[&str], n: u64) -> Vec<SignedEvent> {
    let mut ws: Vec<FeedWriter> = codes
        .iter()
        .map(|p| FeedWriter::new(c.network_id(), author(p)))
        .collect();
    let mut out = Vec::new();
    for i in 1..=n {
        for w in &mut ws {
            out.push(issue(w, i));
        }
    }
    out
}

fn with_bad_signature(ev: &SignedEvent) -> SignedEvent {
    let mut bad = ev.clone();
    let mut sig = *bad.signature.as_bytes();
    sig[5] ^= 0x01;
    bad.signature = ledger_core::FixedBytes(sig);
    bad
}

#[test]
fn every_failure_is_listed_and_other_feeds_are_verified_to_their_end() {
    let c = test_charter(&["BW", "EU", "IN"]);
    let evs = feeds(&c, &["BW", "EU", "IN"], 3000);
    let mut v = ReplicaVerifier::new(&c, Signatures::Strict);
    let mut skipped = 0;
    for (i, ev) in evs.iter().enumerate() {
        let ev = match (ev.author().participant.as_str(), ev.seq()) {
            // BW's seq 1500 is not linked to 1499: a chain failure.
            ("BW", 1500) => {
                let mut w = FeedWriter::new(c.network_id(), author("BW"));
                w.seq = 1499;
                issue(&mut w, 77_777)
            }
            // EU's seq 10 carries a signature that does not verify.
            ("EU", 10) => with_bad_signature(ev),
            _ => ev.clone(),
        };
        if v.event(Some(i as u64), &ev) == Verdict::Skipped {
            skipped += 1;
        }
    }
    let r = v.finish();
    assert_eq!(r.failure_count, 2, "{:?}", r.failures);
    assert_eq!(r.failures.len(), 2);
    // In log order: EU's at position 28 (seq 10), BW's later.
    let eu = &r.failures[0];
    assert_eq!(
        (eu.author.as_ref(), eu.seq),
        (Some(&author("EU")), Some(10))
    );
    assert!(eu.reason.contains("signature"), "{}", eu.reason);
    assert_eq!(eu.offset, Some(3 * 9 + 1));
    let bw = &r.failures[1];
    assert_eq!(
        (bw.author.as_ref(), bw.seq),
        (Some(&author("BW")), Some(1500))
    );
    assert!(bw.reason.contains("link"), "{}", bw.reason);
    // IN verified whole; BW up to 1499; EU up to 9; the rest unverified.
    assert_eq!(r.events, 3000 + 1499 + 9);
    assert_eq!(r.unverified, (3000 - 1500) + (3000 - 10));
    assert!(
        skipped >= 3000 - 1500,
        "BW's later events are skipped as fed"
    );
    let broken: Vec<(String, u64, u64)> = r
        .broken_feeds
        .iter()
        .map(|b| (b.author.to_string(), b.from_seq, b.unverified))
        .collect();
    assert_eq!(
        broken,
        vec![
            ("BW/mme".to_owned(), 1500, 1500),
            ("EU/mme".to_owned(), 10, 2990)
        ]
    );
    assert_eq!(r.failure().map(|f| f.seq), Some(Some(10)));
}

#[test]
fn the_list_of_failures_is_bounded_and_every_one_counted() {
    let c = test_charter(&["BW"]);
    let mut v = ReplicaVerifier::new(&c, Signatures::Strict);
    for i in 0..(MAX_REPORTED_FAILURES as u64 + 500) {
        v.event_bytes(Some(i), &[1, 2, 3], None);
    }
    let r = v.finish();
    assert_eq!(r.failure_count, MAX_REPORTED_FAILURES as u64 + 500);
    assert_eq!(r.failures.len(), MAX_REPORTED_FAILURES);
    assert!(r.failures[0].reason.contains("does not decode"));
}

#[test]
fn without_signature_checks_the_chain_is_still_checked() {
    let c = test_charter(&["BW"]);
    let evs = feeds(&c, &["BW"], 5);
    let mut v = ReplicaVerifier::new(&c, Signatures::Unchecked);
    assert!(matches!(v.event(Some(0), &evs[0]), Verdict::Chained(_)));
    // A bad signature passes unchecked (the store's own, verified, log).
    assert!(matches!(
        v.event(Some(1), &with_bad_signature(&evs[1])),
        Verdict::Chained(_)
    ));
    // seq 4 before 3: a gap.
    assert_eq!(v.event(Some(2), &evs[3]), Verdict::Failed);
    assert_eq!(v.event(Some(3), &evs[2]), Verdict::Skipped);
    assert_eq!(v.feed(&author("BW")).map(|f| f.head_seq), Some(2));
    assert_eq!(v.broken_from(&author("BW")), Some(4));
    let r = v.finish();
    assert_eq!((r.events, r.unverified, r.failure_count), (2, 1, 1));
}

/// A store with three feeds, closed.
fn store(dir: &Path, c: &Charter) {
    let l = Ledger::open(
        dir,
        c,
        StoreOptions {
            cache_bytes: 4 << 20,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let evs = feeds(c, &["BW", "EU", "IN"], 20);
    for chunk in evs.chunks(15) {
        l.append_batch(chunk.to_vec()).unwrap();
    }
}

/// (offset, author, seq) of every event record.
fn event_records(log: &Path) -> Vec<(u64, u64, AuthorId, u64)> {
    let f = LogFile::open_read_only(log).unwrap();
    let mut out = Vec::new();
    f.scan_all(HEADER_LEN, |item| {
        if let LogItem::Record(r) = item {
            if r.kind == KIND_EVENT {
                let ev = SignedEvent::decode(&r.payload).unwrap();
                out.push((
                    r.offset,
                    r.offset + 9 + r.payload.len() as u64,
                    ev.author().clone(),
                    ev.seq(),
                ));
            }
        }
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn verify_log_lists_two_damaged_records_in_two_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let c = test_charter(&["BW", "EU", "IN"]);
    store(dir.path(), &c);
    let log = dir.path().join("events.log");
    let records = event_records(&log);
    let pick = |a: &str, seq: u64| {
        records
            .iter()
            .find(|(_, _, au, s)| au == &author(a) && *s == seq)
            .cloned()
            .unwrap()
    };
    let (bw_off, bw_end, _, _) = pick("BW", 5);
    let (eu_off, eu_end, _, _) = pick("EU", 12);
    let mut bytes = std::fs::read(&log).unwrap();
    // A byte in the middle of each record's certificate.
    bytes[((bw_off + bw_end) / 2) as usize] ^= 0x40;
    bytes[((eu_off + eu_end) / 2) as usize] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();

    let r = verify_log(&log, &c, u64::MAX, |_, _| {}).unwrap();
    assert!(!r.is_ok());
    let damaged: Vec<(Option<u64>, Option<String>, Option<u64>)> = r
        .failures
        .iter()
        .map(|f| (f.offset, f.author.as_ref().map(|a| a.to_string()), f.seq))
        .collect();
    assert_eq!(
        damaged,
        vec![
            (Some(bw_off), Some("BW/mme".into()), Some(5)),
            (Some(eu_off), Some("EU/mme".into()), Some(12)),
        ],
        "{:?}",
        r.failures
    );
    assert!(r.failures.iter().all(|f| f.reason.contains("checksum")));
    assert_eq!(r.failure_count, 2);
    // IN whole, BW to 4, EU to 11; the rest could not be chained.
    assert_eq!(r.events, 20 + 4 + 11);
    assert_eq!(r.unverified, (20 - 5) + (20 - 12));
    assert_eq!(r.broken_feeds.len(), 2);
}

/// A replica served from memory, with its mistakes.
struct Served {
    heads: Vec<AnnouncedHead>,
    feeds: BTreeMap<AuthorId, Vec<SignedEvent>>,
    forks: Vec<ForkProof>,
    pages: usize,
}

impl ReplicaSource for Served {
    type Error = String;
    fn heads(&mut self) -> Result<Vec<AnnouncedHead>, String> {
        Ok(self.heads.clone())
    }
    fn feed_page(
        &mut self,
        author: &AuthorId,
        from_seq: u64,
    ) -> Result<Vec<Result<Vec<u8>, String>>, String> {
        self.pages += 1;
        let f = self.feeds.get(author).cloned().unwrap_or_default();
        Ok(f.iter()
            .skip((from_seq - 1) as usize)
            .take(7)
            .map(|e| Ok(e.encode()))
            .collect())
    }
    fn fork_proofs(&mut self) -> Result<Vec<Result<Vec<u8>, String>>, String> {
        let mut v: Vec<Result<Vec<u8>, String>> =
            self.forks.iter().map(|p| Ok(p.encode())).collect();
        v.push(Err("not hex".into()));
        Ok(v)
    }
}

fn served(feeds: BTreeMap<AuthorId, Vec<SignedEvent>>) -> Served {
    let heads = feeds
        .iter()
        .map(|(a, evs)| AnnouncedHead {
            author: a.to_string(),
            seq: evs.len() as u64,
            id: evs.last().map(|e| e.id().to_hex()),
        })
        .collect();
    Served {
        heads,
        feeds,
        forks: Vec::new(),
        pages: 0,
    }
}

#[test]
fn a_downloaded_replica_opens_admitted_feeds_and_lists_every_mistake_of_the_source() {
    let c = governed_charter(&["BW", "EU", "IN", "ZA"]);
    let net = c.network_id();
    let ms = |d: &str| d.parse::<Date>().unwrap().days() as u64 * 86_400_000 + 43_200_000;
    let mut w: BTreeMap<&str, FeedWriter> = ["BW", "EU", "IN", "ZA", "CG", "XX"]
        .iter()
        .map(|p| (*p, FeedWriter::new(net, author(p))))
        .collect();
    let mut feeds: BTreeMap<AuthorId, Vec<SignedEvent>> = BTreeMap::new();
    let mut sign = |who: &str, body: EventBody, at: &str| {
        let ev = w.get_mut(who).unwrap().next(body, ms(at));
        feeds.entry(author(who)).or_default().push(ev.clone());
        ev
    };
    let admit = sign(
        "BW",
        EventBody::GovernanceProposed(Proposal {
            decision: Decision::AdmitParticipant(test_participant("CG", all_roles())),
            effective_on: "2026-03-01".parse().unwrap(),
            reference: "admission of CG".into(),
        }),
        "2026-02-01",
    )
    .id();
    for p in ["EU", "IN", "ZA"] {
        sign(
            p,
            EventBody::GovernanceApproved {
                proposal: admit,
                note: String::new(),
            },
            "2026-02-02",
        );
    }
    for n in 1..=20 {
        let cert = sample_certificate(code("CG"), code("EU"), n);
        sign("CG", EventBody::CertificateIssued(cert), "2026-03-05");
    }
    for n in 1..=10 {
        let cert = sample_certificate(code("XX"), code("EU"), n);
        sign("XX", EventBody::CertificateIssued(cert), "2026-03-05");
    }
    for n in 1..=30 {
        let cert = sample_certificate(code("IN"), code("EU"), n);
        sign("IN", EventBody::CertificateIssued(cert), "2026-03-06");
    }
    let clean = feeds.clone();

    // Served faithfully: every feed verifies, CG's through the decision.
    let mut ok = clean.clone();
    ok.remove(&author("XX"));
    let mut src = served(ok);
    let r = verify_replica(&c, &mut src, |_, _| {}).unwrap();
    assert_eq!(
        r.failures.len(),
        1,
        "only the undecodable fork proof: {:?}",
        r.failures
    );
    assert_eq!(r.events, 1 + 3 + 20 + 30);
    assert_eq!(r.feeds, 5);

    // Served with mistakes: an unknown author's feed, CG's seq 9 with a bad
    // signature, IN's head announced past what is served.
    let mut bad = clean.clone();
    bad.get_mut(&author("CG")).unwrap()[8] = with_bad_signature(&clean[&author("CG")][8]);
    bad.get_mut(&author("IN")).unwrap().truncate(25);
    let mut src = served(bad);
    for h in &mut src.heads {
        if h.author == "IN/mme" {
            h.seq = 30;
            h.id = Some(clean[&author("IN")][29].id().to_hex());
        }
    }
    let r = verify_replica(&c, &mut src, |_, _| {}).unwrap();
    let got: Vec<(Option<String>, Option<u64>)> = r
        .failures
        .iter()
        .map(|f| (f.author.as_ref().map(|a| a.to_string()), f.seq))
        .collect();
    assert_eq!(
        got,
        vec![
            (None, None),
            (Some("CG/mme".into()), Some(9)),
            (Some("IN/mme".into()), Some(26)),
            (Some("XX/mme".into()), Some(1)),
        ],
        "{:?}",
        r.failures
    );
    assert!(r.failures[1].reason.contains("signature"));
    assert!(r.failures[2].reason.contains("serves only 25"));
    assert!(r.failures[3].reason.contains("neither the charter nor"));
    // BW 1, EU and ZA 1 each, IN to 25 (its approval included), CG to 8.
    assert_eq!(r.events, 1 + 2 + 25 + 8);
    assert_eq!(r.unverified, (20 - 9) + 5 + 10);
}

#[test]
fn a_source_serving_another_place_fails_that_place() {
    let c = test_charter(&["BW", "EU"]);
    let evs = feeds(&c, &["BW", "EU"], 4);
    let mut f: BTreeMap<AuthorId, Vec<SignedEvent>> = BTreeMap::new();
    for e in &evs {
        f.entry(e.author().clone()).or_default().push(e.clone());
    }
    let eu2 = f[&author("EU")][1].clone();
    f.get_mut(&author("BW")).unwrap()[2] = eu2;
    let mut src = served(f);
    let r = verify_replica(&c, &mut src, |_, _| {}).unwrap();
    let bw = r
        .failures
        .iter()
        .find(|f| f.author == Some(author("BW")))
        .unwrap();
    assert_eq!(bw.seq, Some(3));
    assert!(bw.reason.contains("EU/mme seq 2"), "{}", bw.reason);
    assert_eq!(r.events, 2 + 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_bytes_are_a_failure_never_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        seq in 2u64..5,
    ) {
        let c = test_charter(&["BW"]);
        let mut v = ReplicaVerifier::new(&c, Signatures::Strict);
        let mut good = FeedWriter::new(c.network_id(), author("BW"));
        let first = issue(&mut good, 1);
        v.event(Some(0), &first);
        let _ = v.event_bytes(Some(1), &bytes, Some((&author("BW"), seq)));
        let _ = v.event_bytes(Some(2), &bytes, None);
        let _ = v.fork_proof_bytes(Some(3), &bytes);
        let mut with_version = bytes.clone();
        with_version.insert(0, 1);
        let _ = v.event_bytes(Some(4), &with_version, None);
        let _ = v.fork_proof_bytes(Some(5), &with_version);
        let r = v.finish();
        prop_assert!(r.failure_count >= 3);
        prop_assert_eq!(r.events, 1);
    }
}
