//! KP Ledger throughput benchmarks: raw Ed25519 rates, durable appends
//! (one at a time, group-committed, concurrent), verification from the
//! store, and a raw `write + fdatasync` baseline on the same disk.
//!
//! The ledger accepts a signature only under strict RFC 8032 verification
//! (`verify_strict`), checked on every core (`verify_strict_many`, which
//! `store::verify_log` uses). Ed25519 batch verification (`verify_batch`) is
//! *not* the acceptance rule (it is cofactored); it is measured here only as
//! a reference for what batching would buy.
//!
//! Run: `cargo bench -p ledger-core --bench ledger`. Every figure is
//! reported by criterion as `thrpt` in elements (events, or syncs for the
//! baseline) per second. See `BENCHMARKS.md` at the repository root.
//!
//! Store benchmarks write under `target/bench-tmp/` so that they hit the same
//! filesystem as the project (not a tmpfs `/tmp`).
//!
//! `KPL_SCALING=N` runs a growth test instead (see [`scaling`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, Criterion, SamplingMode, Throughput};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use ledger_core::event::{verify_batch, verify_strict_many};
use ledger_core::feed::{genesis_feeds, FeedState};
use ledger_core::store::{verify_log, LogFile, HEADER_LEN, KIND_EVENT};
use ledger_core::testkit::{sample_certificate, test_charter, test_key, FeedWriter};
use ledger_core::{
    AppendOutcome, AuthorId, Charter, CountryCode, EventBody, Ledger, SignedEvent, StoreOptions,
};

const AUTHORS: [&str; 4] = ["BW", "EU", "IN", "ZA"];
/// Events per `append_own` call in the group-commit benchmark.
const GROUP: usize = 256;
/// Events per `verify_batch` call (the store's own batch size).
const VERIFY_BATCH: usize = 256;
/// Events in the log that the verification benchmarks read back.
const VERIFY_LOG_EVENTS: usize = 20_000;
/// Bytes written before each fdatasync in the raw baseline.
const BASELINE_WRITE: usize = 500;
/// 2026-01-01T00:00:00Z in milliseconds.
const T0: u64 = 1_767_225_600_000;

fn code(s: &str) -> CountryCode {
    CountryCode::new(s).expect("country code")
}

fn charter() -> Charter {
    test_charter(&AUTHORS)
}

fn author(who: &str) -> AuthorId {
    AuthorId::new(who, "mme").expect("author")
}

/// A typical event body: certificate `n` issued by `issuer`.
fn body(issuer: &AuthorId, n: u64) -> EventBody {
    let dest = if issuer.participant == code("EU") {
        code("BW")
    } else {
        code("EU")
    };
    EventBody::CertificateIssued(sample_certificate(issuer.participant, dest, n))
}

/// A scratch directory on the project's disk (`target/bench-tmp`).
fn scratch(name: &str) -> tempfile::TempDir {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("bench-tmp");
    std::fs::create_dir_all(&base).expect("create target/bench-tmp");
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(&base)
        .expect("scratch dir")
}

fn open(dir: &Path, c: &Charter) -> Ledger {
    Ledger::open(dir, c, StoreOptions::default()).expect("open store")
}

/// `count` signed, chained certificate events of one author.
fn signed_feed(c: &Charter, who: &str, count: usize) -> Vec<SignedEvent> {
    let mut w = FeedWriter::new(c.network_id(), author(who));
    (1..=count as u64)
        .map(|n| {
            let b = body(&w.author, n);
            w.next(b, T0 + n)
        })
        .collect()
}

// ---------------------------------------------------------------- 1. crypto

fn crypto(cr: &mut Criterion) {
    let c = charter();
    let events = signed_feed(&c, "BW", VERIFY_BATCH);
    let ev = &events[0];
    let msg = ev.content.signed_bytes();
    eprintln!(
        "typical event: {} signed bytes, {} bytes encoded with signature",
        msg.len(),
        ev.encode().len()
    );
    let a = author("BW");
    let key = test_key(&a);
    let sk = SigningKey::from_bytes(&key.seed());
    let vk: VerifyingKey = sk.verifying_key();
    let sig: Signature = sk.sign(&msg);

    let mut g = cr.benchmark_group("crypto");
    g.throughput(Throughput::Elements(1));
    // Raw ed25519-dalek over the real signed bytes of a certificate event.
    g.bench_function("ed25519_sign", |b| b.iter(|| sk.sign(black_box(&msg))));
    g.bench_function("ed25519_verify_strict", |b| {
        b.iter(|| vk.verify_strict(black_box(&msg), black_box(&sig)).is_ok())
    });
    // The ledger's own paths: these also re-encode the content canonically.
    g.bench_function("event_sign", |b| {
        b.iter(|| key.sign(black_box(ev.content.clone())))
    });
    g.bench_function("event_verify_signature", |b| {
        b.iter(|| black_box(ev).verify_signature(&vk))
    });
    g.throughput(Throughput::Elements(VERIFY_BATCH as u64));
    let items: Vec<(&SignedEvent, VerifyingKey)> = events.iter().map(|e| (e, vk)).collect();
    assert!(verify_batch(&items), "batch of valid events must verify");
    // Reference only: cofactored batch verification, one core.
    g.bench_function("verify_batch_256", |b| {
        b.iter(|| verify_batch(black_box(&items)))
    });
    // The acceptance rule, spread over every core.
    g.bench_function("verify_strict_many_256", |b| {
        b.iter(|| verify_strict_many(black_box(&items)))
    });
    g.finish();
}

// ------------------------------------------------------- 2. durable appends

fn appends(cr: &mut Criterion) {
    let c = charter();
    let mut g = cr.benchmark_group("append_durable");

    // (a) One event per call: each call signs one event and waits for its own
    // fdatasync.
    {
        let dir = scratch("one-at-a-time");
        let l = open(dir.path(), &c);
        let a = author("BW");
        let key = test_key(&a);
        let mut n = 0u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function("append_own_1", |b| {
            b.iter_custom(|iters| {
                let bodies: Vec<EventBody> = (0..iters).map(|i| body(&a, n + i + 1)).collect();
                n += iters;
                let start = Instant::now();
                for bd in bodies {
                    let out = l.append_own(&key, &a, vec![bd], T0).expect("append");
                    black_box(out);
                }
                start.elapsed()
            })
        });
    }

    // (b) Group-committed: 256 bodies per call, signed on every core, one
    // write and one fdatasync.
    {
        let dir = scratch("group");
        let l = open(dir.path(), &c);
        let a = author("BW");
        let key = test_key(&a);
        let mut n = 0u64;
        g.throughput(Throughput::Elements(GROUP as u64));
        g.bench_function("append_own_256", |b| {
            b.iter_custom(|iters| {
                let batches: Vec<Vec<EventBody>> = (0..iters)
                    .map(|i| {
                        (0..GROUP as u64)
                            .map(|j| body(&a, n + i * GROUP as u64 + j + 1))
                            .collect()
                    })
                    .collect();
                n += iters * GROUP as u64;
                let start = Instant::now();
                for bodies in batches {
                    let out = l.append_own(&key, &a, bodies, T0).expect("append");
                    black_box(out);
                }
                start.elapsed()
            })
        });
    }

    // (b') Received events (already signed elsewhere), 256 per
    // `append_batch`: signatures checked strictly on every core before the
    // writer's lock, one write, one fdatasync. Signing is not timed here.
    {
        let dir = scratch("received");
        let l = open(dir.path(), &c);
        let mut w = FeedWriter::new(c.network_id(), author("ZA"));
        g.throughput(Throughput::Elements(GROUP as u64));
        g.bench_function("append_batch_256_presigned", |b| {
            b.iter_custom(|iters| {
                let batches: Vec<Vec<SignedEvent>> = (0..iters)
                    .map(|_| {
                        (0..GROUP)
                            .map(|_| {
                                let n = w.seq + 1;
                                let bd = body(&w.author, n);
                                w.next(bd, T0 + n)
                            })
                            .collect()
                    })
                    .collect();
                let start = Instant::now();
                for evs in batches {
                    let out = l.append_batch(evs).expect("append");
                    assert!(out
                        .iter()
                        .all(|o| matches!(o, AppendOutcome::Appended { .. })));
                }
                start.elapsed()
            })
        });
    }

    // (c) Four threads, four authors, each signing one event and calling
    // `append` with it: the store group-commits their syncs.
    {
        let dir = scratch("concurrent");
        let l = open(dir.path(), &c);
        let writers: Vec<Mutex<FeedWriter>> = AUTHORS
            .iter()
            .map(|w| Mutex::new(FeedWriter::new(c.network_id(), author(w))))
            .collect();
        g.throughput(Throughput::Elements(AUTHORS.len() as u64));
        g.bench_function("append_4_threads", |b| {
            b.iter_custom(|iters| {
                let l = &l;
                let start = Instant::now();
                std::thread::scope(|s| {
                    for w in &writers {
                        s.spawn(move || {
                            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
                            for _ in 0..iters {
                                let n = w.seq + 1;
                                let bd = body(&w.author, n);
                                let ev = w.next(bd, T0 + n);
                                let out = l.append(ev).expect("append");
                                assert!(matches!(out, AppendOutcome::Appended { .. }));
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }

    // (c') The same with `append_own` (signing happens inside the store).
    {
        let dir = scratch("concurrent-own");
        let l = open(dir.path(), &c);
        let counters: Vec<Mutex<u64>> = AUTHORS.iter().map(|_| Mutex::new(0)).collect();
        g.throughput(Throughput::Elements(AUTHORS.len() as u64));
        g.bench_function("append_own_1_4_threads", |b| {
            b.iter_custom(|iters| {
                let l = &l;
                let start = Instant::now();
                std::thread::scope(|s| {
                    for (who, ctr) in AUTHORS.iter().zip(&counters) {
                        s.spawn(move || {
                            let a = author(who);
                            let key = test_key(&a);
                            let mut n = ctr.lock().unwrap_or_else(|p| p.into_inner());
                            for _ in 0..iters {
                                *n += 1;
                                let out = l
                                    .append_own(&key, &a, vec![body(&a, *n)], T0)
                                    .expect("append");
                                black_box(out);
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

// ------------------------------------------------- 3. verification from store

/// One-by-one verification of a log on one core: read, decode, chain check
/// and a strict signature verification per event (`FeedState::check_next`).
fn verify_one_by_one(log_path: &Path, c: &Charter) -> u64 {
    let network = c.network_id();
    let mut feeds: std::collections::HashMap<AuthorId, FeedState> = genesis_feeds(c)
        .into_iter()
        .map(|f| (f.author.clone(), f))
        .collect();
    let (log, _) = LogFile::open(log_path).expect("open log");
    let mut n = 0u64;
    log.scan(HEADER_LEN, |rec| {
        assert_eq!(rec.kind, KIND_EVENT);
        let ev = SignedEvent::decode(&rec.payload).expect("decode");
        let feed = feeds.get_mut(ev.author()).expect("known author");
        feed.check_next(&network, &ev).expect("valid event");
        let id = ev.id();
        feed.advance(&ev, id);
        n += 1;
        Ok(())
    })
    .expect("scan");
    n
}

/// Reference only (not the acceptance rule): as [`verify_one_by_one`] but
/// with signatures checked by cofactored batch verification, 256 at a time,
/// on one core (what `verify_log` did before strict verification).
fn verify_batched_256(log_path: &Path, c: &Charter) -> u64 {
    let network = c.network_id();
    let mut feeds: std::collections::HashMap<AuthorId, FeedState> = genesis_feeds(c)
        .into_iter()
        .map(|f| (f.author.clone(), f))
        .collect();
    let (log, _) = LogFile::open(log_path).expect("open log");
    let mut batch: Vec<(SignedEvent, VerifyingKey)> = Vec::with_capacity(VERIFY_BATCH);
    let flush = |batch: &mut Vec<(SignedEvent, VerifyingKey)>| {
        let items: Vec<(&SignedEvent, VerifyingKey)> = batch.iter().map(|(e, k)| (e, *k)).collect();
        assert!(verify_batch(&items), "valid batch");
        batch.clear();
    };
    let mut n = 0u64;
    log.scan(HEADER_LEN, |rec| {
        assert_eq!(rec.kind, KIND_EVENT);
        let ev = SignedEvent::decode(&rec.payload).expect("decode");
        let feed = feeds.get_mut(ev.author()).expect("known author");
        feed.check_next_unsigned(&network, &ev)
            .expect("valid event");
        let k = feed.signing_key_for(&ev).expect("key");
        let id = ev.id();
        feed.advance(&ev, id);
        batch.push((ev, k));
        if batch.len() >= VERIFY_BATCH {
            flush(&mut batch);
        }
        n += 1;
        Ok(())
    })
    .expect("scan");
    flush(&mut batch);
    n
}

fn verification(cr: &mut Criterion) {
    let c = charter();
    let dir = scratch("verify");
    {
        let l = open(dir.path(), &c);
        let per_author = VERIFY_LOG_EVENTS / AUTHORS.len();
        let chunk = 500;
        let mut done = 0;
        while done < per_author {
            for who in AUTHORS {
                let a = author(who);
                let key = test_key(&a);
                let bodies: Vec<EventBody> = (done..done + chunk)
                    .map(|n| body(&a, n as u64 + 1))
                    .collect();
                l.append_own(&key, &a, bodies, T0).expect("fill");
            }
            done += chunk;
        }
        assert_eq!(l.event_count().expect("count"), VERIFY_LOG_EVENTS as u64);
    }
    let log_path = dir.path().join("events.log");
    eprintln!(
        "verification log: {} events, {} bytes",
        VERIFY_LOG_EVENTS,
        std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0)
    );
    let report = verify_log(&log_path, &c, u64::MAX, |_, _| {}).expect("verify");
    assert_eq!(report.failure(), None);
    assert_eq!(report.events, VERIFY_LOG_EVENTS as u64);

    let mut g = cr.benchmark_group("verify_store");
    g.sampling_mode(SamplingMode::Flat);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(VERIFY_LOG_EVENTS as u64));
    g.bench_function("check_next_one_by_one_20k", |b| {
        b.iter(|| verify_one_by_one(&log_path, &c))
    });
    // The store's own offline verification: strict, on every core.
    g.bench_function("verify_log_20k", |b| {
        b.iter(|| {
            let r = verify_log(&log_path, &c, u64::MAX, |_, _| {}).expect("verify");
            black_box(r.events)
        })
    });
    g.bench_function("batch_verify_256_reference_20k", |b| {
        b.iter(|| verify_batched_256(&log_path, &c))
    });
    g.finish();
}

// ---------------------------------------------------- 4. fdatasync baseline

fn fdatasync_baseline(cr: &mut Criterion) {
    let dir = scratch("fdatasync");
    let path = dir.path().join("baseline.log");
    let mut f: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open baseline file");
    let rec = [0x5au8; BASELINE_WRITE];
    let mut g = cr.benchmark_group("disk");
    g.throughput(Throughput::Elements(1));
    // Appending write (the file grows, as the log does) + fdatasync.
    g.bench_function("write_500B_fdatasync", |b| {
        b.iter(|| {
            f.write_all(&rec).expect("write");
            f.sync_data().expect("fdatasync");
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = crypto, fdatasync_baseline, appends, verification
}
// ------------------------------------------------ opt-in: growth of the store

/// `KPL_SCALING=N cargo bench -p ledger-core --bench ledger`: instead of the
/// criterion run, appends N events durably in `append_own` batches of 256
/// into one store and prints the rate per 10,240 events, to show how the
/// group-commit rate changes as the store (log and sled index) grows.
fn scaling() {
    let c = charter();
    let dir = scratch("scaling");
    let l = open(dir.path(), &c);
    let a = author("BW");
    let key = test_key(&a);
    let total: u64 = std::env::var("KPL_SCALING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut n = 0u64;
    let mut t = Instant::now();
    while n < total {
        let bodies: Vec<EventBody> = (0..GROUP as u64).map(|j| body(&a, n + j + 1)).collect();
        l.append_own(&key, &a, bodies, T0).expect("append");
        n += GROUP as u64;
        if n.is_multiple_of(GROUP as u64 * 40) {
            let dt = t.elapsed();
            eprintln!(
                "events {n:>7}: {:.0} events/s",
                (GROUP * 40) as f64 / dt.as_secs_f64()
            );
            t = Instant::now();
        }
    }
}

fn main() {
    if std::env::var_os("KPL_SCALING").is_some() {
        scaling();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
