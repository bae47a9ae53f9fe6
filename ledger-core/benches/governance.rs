//! What governance costs: deriving the membership timeline, the membership
//! check on the append path, and an audit that follows the timeline.
//!
//! Run: `cargo bench -p ledger-core --bench governance`. A plain harness
//! (no criterion) so that it runs in seconds; each figure is the median of
//! several runs, with a baseline measured in the same run:
//!
//! - **timeline**: `Timeline::build` over a network of 60 participants and
//!   300 adopted decisions (about 12,000 governance events: decades of KP
//!   plenaries at a decision a month), against strictly verifying the
//!   signatures of those same events (what receiving them costs anyway).
//! - **append**: durable group-committed appends of certificates into a
//!   store that holds those 300 decisions, against the same appends into a
//!   store with none (the membership check and feed lookup per event).
//! - **audit**: `LedgerView::build` + audit of 20,000 certificates with the
//!   300 decisions, against the same without them.
//!
//! Stores are written under `target/bench-tmp/` (the project's filesystem).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ledger_core::analysis::{AuditParams, LedgerView};
use ledger_core::event::verify_strict_many;
use ledger_core::governance::{Decision, GovernanceLog, Proposal, Timeline};
use ledger_core::testkit::{governed_charter, sample_certificate, test_key, FeedWriter};
use ledger_core::{
    AuthorId, Charter, CountryCode, Date, EventBody, Ledger, SignedEvent, StoreOptions,
};

const PARTICIPANTS: usize = 60;
const DECISIONS: usize = 300;
const CERTIFICATES: usize = 20_000;
const RUNS: usize = 5;

/// Sixty two-letter codes, AA, AB, ...
fn codes() -> Vec<String> {
    (0..PARTICIPANTS)
        .map(|i| {
            let a = (b'A' + (i / 26) as u8) as char;
            let b = (b'A' + (i % 26) as u8) as char;
            format!("{a}{b}")
        })
        .collect()
}

fn ms(d: Date) -> u64 {
    d.days() as u64 * 86_400_000 + 43_200_000
}

/// A network and its governance history: each month the Chair (the first
/// participant) proposes a suspension or a reinstatement of someone, and
/// two-thirds of the others approve.
fn history() -> (Charter, Vec<SignedEvent>, Vec<FeedWriter>) {
    let codes = codes();
    let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
    let charter = governed_charter(&refs);
    let network = charter.network_id();
    let mut writers: Vec<FeedWriter> = codes
        .iter()
        .map(|c| FeedWriter::new(network, AuthorId::new(c, "mme").expect("author")))
        .collect();
    let start = Date::from_ymd(2003, 1, 1).expect("date");
    let mut events = Vec::new();
    let mut suspended: Vec<bool> = vec![false; PARTICIPANTS];
    for k in 0..DECISIONS {
        let day = start.add_days(30 * k as i32);
        let who = 1 + (k * 7) % (PARTICIPANTS - 1);
        let decision = if suspended[who] {
            Decision::Reinstate {
                participant: CountryCode::new(&codes[who]).expect("code"),
            }
        } else {
            Decision::Suspend {
                participant: CountryCode::new(&codes[who]).expect("code"),
                exporting_zones: vec![],
            }
        };
        suspended[who] = !suspended[who];
        let p = writers[0].next(
            EventBody::GovernanceProposed(Proposal {
                decision,
                effective_on: day.add_days(20),
                reference: format!("decision {k}"),
            }),
            ms(day),
        );
        let id = p.id();
        events.push(p);
        for (i, w) in writers.iter_mut().enumerate().skip(1) {
            if !suspended[i] || i == who {
                events.push(w.next(
                    EventBody::GovernanceApproved {
                        proposal: id,
                        note: String::new(),
                    },
                    ms(day.add_days(1)),
                ));
            }
        }
    }
    (charter, events, writers)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-tmp")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("bench dir");
    d
}

/// `n` certificates of the second participant, continuing its feed from
/// `w` (fresh, or after its approvals in the history).
fn certificates(charter: &Charter, mut w: FeedWriter, n: usize) -> Vec<SignedEvent> {
    let from = &charter.participants[1];
    let to = charter.participants[3].code;
    // Dated after the whole history, by a participant never suspended then.
    let t = ms(Date::from_ymd(2030, 1, 1).expect("date"));
    (0..n)
        .map(|i| {
            w.next(
                EventBody::CertificateIssued(sample_certificate(from.code, to, i as u64)),
                t + i as u64,
            )
        })
        .collect()
}

fn main() {
    let (charter, gov, mut writers) = history();
    println!(
        "governance history: {PARTICIPANTS} participants, {DECISIONS} decisions, {} events",
        gov.len()
    );

    // 1. Timeline against strict verification of the same events.
    let mut log = GovernanceLog::new();
    for e in &gov {
        log.insert(e.id(), e);
    }
    let t = Timeline::build(&charter, &log);
    let adopted = t
        .decisions()
        .iter()
        .filter(|d| d.status.word() == "adopted")
        .count();
    assert_eq!(
        adopted, DECISIONS,
        "every decision of the history is adopted"
    );
    let mut build = Vec::new();
    let mut verify = Vec::new();
    let keys: Vec<_> = gov
        .iter()
        .map(|e| test_key(e.author()).verifying_key())
        .collect();
    for _ in 0..RUNS {
        let s = Instant::now();
        std::hint::black_box(Timeline::build(&charter, &log));
        build.push(s.elapsed());
        let items: Vec<_> = gov.iter().zip(keys.iter().copied()).collect();
        let s = Instant::now();
        let ok = verify_strict_many(&items);
        verify.push(s.elapsed());
        assert!(ok.iter().all(|b| *b));
    }
    let (b, v) = (median(build), median(verify));
    println!(
        "timeline build: {:.1} ms; strict verification of the same {} events on every core: {:.1} ms; ratio {:.3}",
        b.as_secs_f64() * 1e3,
        gov.len(),
        v.as_secs_f64() * 1e3,
        b.as_secs_f64() / v.as_secs_f64()
    );

    // 2. Durable appends with and without the governance history.
    let second = AuthorId::new(&codes()[1], "mme").expect("author");
    let certs = certificates(
        &charter,
        FeedWriter::new(charter.network_id(), second),
        CERTIFICATES,
    );
    let after_history = certificates(&charter, writers.swap_remove(1), CERTIFICATES);
    let mut with = Vec::new();
    let mut without = Vec::new();
    for run in 0..RUNS {
        for (governed, out) in [(false, &mut without), (true, &mut with)] {
            let certs = if governed { &after_history } else { &certs };
            let dir = bench_dir(&format!("governance-{run}-{governed}"));
            let l = Ledger::open(&dir, &charter, StoreOptions::default()).expect("open");
            if governed {
                for chunk in gov.chunks(1024) {
                    l.append_batch(chunk.to_vec()).expect("append history");
                }
            }
            let s = Instant::now();
            for chunk in certs.chunks(256) {
                let outcomes = l.append_batch(chunk.to_vec()).expect("append");
                assert!(outcomes
                    .iter()
                    .all(|o| matches!(o, ledger_core::AppendOutcome::Appended { .. })));
            }
            out.push(s.elapsed());
            drop(l);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let (w, wo) = (median(with), median(without));
    println!(
        "durable appends of {CERTIFICATES} certificates (256 per batch): {:.0} events/s with {DECISIONS} decisions, {:.0} events/s without; ratio {:.3}",
        CERTIFICATES as f64 / w.as_secs_f64(),
        CERTIFICATES as f64 / wo.as_secs_f64(),
        wo.as_secs_f64() / w.as_secs_f64()
    );

    // 3. View + audit with and without the history.
    let mut all = after_history.clone();
    all.extend(gov.iter().cloned());
    let params = AuditParams::new(ms(Date::from_ymd(2031, 1, 1).expect("date")));
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..RUNS {
        let s = Instant::now();
        let v = LedgerView::build(&charter, all.iter().map(|e| (e.id(), e.clone())), vec![]);
        std::hint::black_box(v.audit(&params));
        with.push(s.elapsed());
        let s = Instant::now();
        let v = LedgerView::build(&charter, certs.iter().map(|e| (e.id(), e.clone())), vec![]);
        std::hint::black_box(v.audit(&params));
        without.push(s.elapsed());
    }
    let (w, wo) = (median(with), median(without));
    println!(
        "view + audit of {CERTIFICATES} certificates: {:.1} ms with the {} governance events, {:.1} ms without; ratio {:.3}",
        w.as_secs_f64() * 1e3,
        gov.len(),
        wo.as_secs_f64() * 1e3,
        w.as_secs_f64() / wo.as_secs_f64()
    );
}
