//! Crash safety: a child process appends (through both the authoring path
//! and the network path) and reports each acknowledgement over a pipe; the
//! parent kills it with SIGKILL at random moments, many times, and after each
//! kill reopens the store and checks that every acknowledged event is there
//! and that every feed verifies.
//!
//! Runs without the libtest harness: the same binary is the parent (no
//! arguments) and the child (`--child DIR`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ledger_core::store::{AppendOutcome, Ledger, StoreOptions};
use ledger_core::testkit::{sample_certificate, test_charter, test_key, FeedWriter};
use ledger_core::{AuthorId, Charter, CountryCode, Digest, EventBody};

const AUTHORS: [&str; 4] = ["BW", "EU", "IN", "ZA"];
const ITERATIONS: usize = 30;
const TIME_LIMIT: Duration = Duration::from_secs(120);

fn charter() -> Charter {
    test_charter(&AUTHORS)
}

fn author(code: &str) -> AuthorId {
    AuthorId::new(code, "mme").unwrap()
}

fn body(issuer: CountryCode, n: u64) -> EventBody {
    let dest = CountryCode::new(if issuer.as_str() == "EU" { "IN" } else { "EU" }).unwrap();
    EventBody::CertificateIssued(sample_certificate(issuer, dest, n))
}

/// Appends forever, printing `ACK author seq id` after each durable append.
fn child(dir: &Path) {
    let c = charter();
    let ledger = Ledger::open(dir, &c, StoreOptions::default()).expect("child opens the store");
    let out = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for (i, code) in AUTHORS.iter().enumerate() {
            let ledger = &ledger;
            let out = &out;
            let c = &c;
            s.spawn(move || {
                let a = author(code);
                let key = test_key(&a);
                let mut n = ledger.feed_state(&a).unwrap().unwrap().head_seq;
                loop {
                    let batch = 1 + (n % 7) as usize;
                    let acks: Vec<(u64, Digest)> = if i == 3 {
                        // The network path: events built elsewhere, offered in a batch.
                        let st = ledger.feed_state(&a).unwrap().unwrap();
                        let mut w = FeedWriter::new(c.network_id(), a.clone());
                        w.seq = st.head_seq;
                        w.prev = st.head_id;
                        let evs: Vec<_> = (0..batch)
                            .map(|k| w.next(body(a.participant, n + k as u64), 1_000 + n))
                            .collect();
                        ledger
                            .append_batch(evs)
                            .unwrap()
                            .into_iter()
                            .map(|o| match o {
                                AppendOutcome::Appended { id, seq } => (seq, id),
                                o => panic!("child append refused: {o:?}"),
                            })
                            .collect()
                    } else {
                        let bodies = (0..batch)
                            .map(|k| body(a.participant, n + k as u64))
                            .collect();
                        ledger
                            .append_own(&key, &a, bodies, 1_000 + n)
                            .unwrap()
                            .into_iter()
                            .map(|(id, seq)| (seq, id))
                            .collect()
                    };
                    n += batch as u64;
                    let mut o = out.lock().unwrap();
                    for (seq, id) in acks {
                        writeln!(o, "ACK {a} {seq} {id}").unwrap();
                    }
                    o.flush().unwrap();
                }
            });
        }
    });
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let seed = std::env::var("KPL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash test: seed {seed} (set KPL_CRASH_SEED to replay)");
    let mut rng = Rng(seed);
    let c = charter();
    let start = Instant::now();
    let mut acked: Vec<(AuthorId, u64, Digest)> = Vec::new();
    let mut iterations = 0;
    while iterations < ITERATIONS && start.elapsed() < TIME_LIMIT {
        iterations += 1;
        let mut child = Command::new(&exe)
            .arg("--child")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    // A line cut by the kill has no newline: not a full acknowledgement.
                    Ok(_) if line.ends_with('\n') => lines.push(line.trim_end().to_owned()),
                    Ok(_) => break,
                }
            }
            lines
        });
        // Let it run between 20 and 400 ms (opening included), then kill -9.
        std::thread::sleep(Duration::from_millis(20 + rng.next() % 380));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        for l in &lines {
            let mut p = l.split(' ');
            assert_eq!(p.next(), Some("ACK"), "unexpected child output: {l}");
            let a: AuthorId = p.next().unwrap().parse().unwrap();
            let seq: u64 = p.next().unwrap().parse().unwrap();
            let id = Digest::from_hex(p.next().unwrap()).unwrap();
            acked.push((a, seq, id));
        }

        let ledger = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap_or_else(|e| {
            panic!("iteration {iterations}: store does not reopen after SIGKILL: {e}")
        });
        for (a, seq, id) in &acked {
            let got = ledger.event_at(a, *seq).unwrap().unwrap_or_else(|| {
                panic!("iteration {iterations}: acknowledged {a} seq {seq} is lost")
            });
            assert_eq!(got.id, *id, "iteration {iterations}: {a} seq {seq} changed");
        }
        let report = ledger.verify(|_, _| {}).unwrap();
        assert_eq!(
            report.failure(),
            None,
            "iteration {iterations}: store does not verify"
        );
        println!(
            "iteration {iterations}: {} acknowledged so far, {} events stored, verified",
            acked.len(),
            report.events
        );
    }
    assert!(
        iterations >= 10,
        "too few iterations ran within the time limit"
    );
    assert!(!acked.is_empty(), "the child never acknowledged an append");
    println!("1 passed, 0 failed");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]));
        return;
    }
    // `cargo test -- --list` and filters: nothing to list or filter here.
    if args.iter().any(|a| a == "--list") {
        println!("crash_kill_reopen: test");
        return;
    }
    parent();
}
