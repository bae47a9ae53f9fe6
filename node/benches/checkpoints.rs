//! What checkpoints cost the node: a benchmark harness
//! (`harness = false`; it prints its figures, speed is never asserted):
//!
//! ```text
//! cargo bench -p kpl-node --bench checkpoints
//! ```
//!
//! In one process and one store, a writer appends its own events durably
//! (`Ledger::append_own`: sign, fdatasync, index) as fast as it can for a
//! few seconds, in turn (interleaved, three times) with no checkpoint task, with
//! the node's checkpoint task (`Checkpoints::tick` every 500 ms: sign a
//! checkpoint when the feed grew, write it atomically), and with a task that
//! checkpoints continuously (a tick right after the previous one: the worst
//! case, one checkpoint per group commit). Then the cost of one signing tick
//! and of one witness cosignature (verify, consistency proof from the store,
//! durable witness state, cosign) on their own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kpl_node::checkpoints::{Checkpoints, Me, CHECKPOINT_INTERVAL};
use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::testkit::{sample_certificate, test_charter, test_key};
use ledger_core::{AuthorId, AuthorityKey, CountryCode, EventBody, ObserverId};

const PHASE: Duration = Duration::from_secs(3);
const ROUNDS: u32 = 3;

#[derive(Clone, Copy, Debug)]
enum Task {
    None,
    Every(Duration),
    Continuous,
}

struct Run {
    events_per_s: f64,
    checkpoints: u64,
    mean_tick_us: f64,
}

fn phase(
    ledger: &Arc<Ledger>,
    book: &Arc<Checkpoints>,
    author: &AuthorId,
    key: &AuthorityKey,
    batch: usize,
    task: Task,
    counter: &AtomicU64,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let signed = Arc::new(AtomicU64::new(0));
    let tick_ns = Arc::new(AtomicU64::new(0));
    let ticker = match task {
        Task::None => None,
        Task::Every(_) | Task::Continuous => {
            let (stop, signed, tick_ns, book) =
                (stop.clone(), signed.clone(), tick_ns.clone(), book.clone());
            let key = AuthorityKey::from_seed(key.seed());
            Some(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Task::Every(d) = task {
                        std::thread::sleep(d);
                    }
                    let t = Instant::now();
                    let a = book.tick(Some(&key), 1_800_000_000).expect("tick");
                    if !a.checkpoints.is_empty() {
                        signed.fetch_add(1, Ordering::Relaxed);
                        tick_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    }
                }
            }))
        }
    };
    let eu = CountryCode::new("EU").unwrap();
    let start = Instant::now();
    let mut events = 0u64;
    while start.elapsed() < PHASE {
        let bodies = (0..batch)
            .map(|_| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                EventBody::CertificateIssued(sample_certificate(author.participant, eu, n))
            })
            .collect();
        ledger
            .append_own(key, author, bodies, 1_800_000_000_000)
            .expect("append");
        events += batch as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = ticker {
        t.join().expect("ticker");
    }
    let n = signed.load(Ordering::Relaxed);
    Run {
        events_per_s: events as f64 / secs,
        checkpoints: n,
        mean_tick_us: if n == 0 {
            0.0
        } else {
            tick_ns.load(Ordering::Relaxed) as f64 / n as f64 / 1000.0
        },
    }
}

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("kpl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let dir = TempDir::new("cp-bench");
    let charter = test_charter(&["BW", "EU"]);
    let author = AuthorId::new("BW", "mme").unwrap();
    let key = test_key(&author);
    let ledger = Arc::new(
        Ledger::open(&dir.path().join("store"), &charter, StoreOptions::default()).unwrap(),
    );
    let book = Arc::new(
        Checkpoints::open(dir.path(), ledger.clone(), Me::Authority(author.clone())).unwrap(),
    );
    let counter = AtomicU64::new(0);

    println!("\nappends with and without the checkpoint task ({PHASE:?} per phase, interleaved, {ROUNDS} rounds)");
    println!(
        "{:>6} {:<22} {:>12} {:>12} {:>14} {:>10} {:>11}",
        "batch",
        "checkpoint task",
        "events/s",
        "checkpoints",
        "µs/checkpoint",
        "vs none",
        "task time"
    );
    for batch in [1usize, 100] {
        let tasks = [
            ("none", Task::None),
            ("every 500 ms (node)", Task::Every(CHECKPOINT_INTERVAL)),
            ("continuous", Task::Continuous),
        ];
        let mut sums = vec![(0.0f64, 0u64, 0.0f64); tasks.len()];
        for _round in 0..ROUNDS {
            for (i, (_, t)) in tasks.iter().enumerate() {
                let r = phase(&ledger, &book, &author, &key, batch, *t, &counter);
                sums[i].0 += r.events_per_s / ROUNDS as f64;
                sums[i].1 += r.checkpoints;
                sums[i].2 += r.mean_tick_us * r.checkpoints as f64;
            }
        }
        let base = sums[0].0;
        for ((name, _), (eps, n, total_us)) in tasks.iter().zip(&sums) {
            let mean = if *n == 0 { 0.0 } else { total_us / *n as f64 };
            // Share of the wall time the task spent signing checkpoints.
            let share = total_us / (PHASE.as_secs_f64() * 1e6 * ROUNDS as f64) * 100.0;
            println!(
                "{batch:>6} {name:<22} {eps:>12.0} {n:>12} {mean:>14.0} {:>9.1}% {share:>10.2}%",
                (eps / base - 1.0) * 100.0
            );
        }
    }

    // One witness cosignature on its own: an observer's book over the same
    // store (so it holds the feed) cosigns each new checkpoint of the author.
    let wdir = TempDir::new("cp-bench-witness");
    let witness = Checkpoints::open(
        wdir.path(),
        ledger.clone(),
        Me::Observer(ObserverId::new("bench").unwrap()),
    )
    .unwrap();
    let wkey = AuthorityKey::from_seed([9; 32]);
    let eu = CountryCode::new("EU").unwrap();
    let (mut sign_ns, mut cosign_ns, mut n) = (0u128, 0u128, 0u32);
    for _ in 0..200 {
        let k = counter.fetch_add(1, Ordering::Relaxed);
        ledger
            .append_own(
                &key,
                &author,
                vec![EventBody::CertificateIssued(sample_certificate(
                    author.participant,
                    eu,
                    k,
                ))],
                1_800_000_000_000,
            )
            .unwrap();
        let t = Instant::now();
        let a = book.tick(Some(&key), 1_800_000_000).unwrap();
        sign_ns += t.elapsed().as_nanos();
        let note = a.checkpoints.first().expect("a checkpoint").clone();
        let t = Instant::now();
        let (_, out) = witness
            .on_gossip_checkpoint(note.as_bytes(), Some(&wkey), 1_800_000_000)
            .unwrap();
        cosign_ns += t.elapsed().as_nanos();
        assert_eq!(out.checkpoints.len(), 1, "cosigned");
        n += 1;
    }
    let size = ledger.tree_size(&author).unwrap();
    println!(
        "\nfeed of {size} events: signing tick (root, sign, durable write) {:.0} µs; witness cosignature (verify, consistency proof, durable state, cosign) {:.0} µs",
        sign_ns as f64 / f64::from(n) / 1000.0,
        cosign_ns as f64 / f64::from(n) / 1000.0
    );
}
