//! Crash safety: child processes are killed with SIGKILL at random moments,
//! many times, and after each kill the parent reopens the store and checks
//! that every acknowledged event is there and that the store verifies.
//!
//! Three kinds of cycle, each ending in a SIGKILL:
//! - **write**: a child appends (three threads authoring their own feeds
//!   with `append_own`, one offering received events with `append_batch`)
//!   and reports each acknowledgement over a pipe; it is killed after 10 to
//!   200 ms (sometimes while it is still opening the store).
//! - **recovery**: the stopped store is made to need a long recovery (its
//!   index removed, so the whole log is replayed into a new one; or a torn
//!   tail of 1 to 4 MiB appended, which is cut and kept in a side file; or
//!   both), and a child opening it is killed at a random moment of that
//!   recovery. The tail must be cut and kept whole after the next open.
//! - **repair**: a copy of the store is damaged (one flipped bit in an
//!   acknowledged event's record, so it refuses to open), and a child runs
//!   `store::repair` on it, fetching the lost event from another copy, and
//!   is killed at a random moment of its run, or (every other cycle) just
//!   after one step of the swap that ends a repair shows in the directory
//!   (the swap takes a few ms, so a random moment would almost never fall
//!   in it). Afterwards either the old log or a
//!   repaired one is in place; the copy either opens with every
//!   acknowledged event, its index describing exactly its log, or refuses
//!   with `Damaged`, and then a second repair succeeds.
//!
//! In CI: 50 write cycles, 10 recovery cycles and 10 repair cycles (each
//! step of the swap aimed at once). `KPL_CRASH_SOAK=N` runs N write
//! cycles (and N/5 recovery and N/5 repair cycles).
//! The seed is printed; `KPL_CRASH_SEED` replays its schedule (the kill
//! moments are wall-clock times, so a replay is close, not exact).
//!
//! Runs without the libtest harness: the same binary is the parent (no
//! arguments) and the child (`--child DIR`, `--open DIR`, `--repair DIR PEER`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ledger_core::error::StoreError;
use ledger_core::store::{
    check_log, repair, AppendOutcome, Ledger, LogFile, LogItem, StoreOptions, HEADER_LEN,
    KIND_EVENT,
};
use ledger_core::testkit::{sample_certificate, test_charter, test_key, FeedWriter};
use ledger_core::{AuthorId, Charter, CountryCode, Digest, EventBody, EventId};

const AUTHORS: [&str; 4] = ["BW", "EU", "IN", "ZA"];
const WRITE_CYCLES: usize = 50;
const RECOVERY_EVERY: usize = 5;
const REPAIR_EVERY: usize = 5;
/// A safety net, not a budget: the CI run takes about a minute and a half.
const TIME_LIMIT: Duration = Duration::from_secs(600);

fn charter() -> Charter {
    test_charter(&AUTHORS)
}

fn author(code: &str) -> AuthorId {
    AuthorId::new(code, "mme").unwrap()
}

fn opts() -> StoreOptions {
    StoreOptions {
        cache_bytes: 8 << 20,
        // Small merges, often: crashes and failures meet them.
        lookup_memory_slots: 512,
    }
}

fn body(issuer: CountryCode, n: u64) -> EventBody {
    let dest = CountryCode::new(if issuer.as_str() == "EU" { "IN" } else { "EU" }).unwrap();
    EventBody::CertificateIssued(sample_certificate(issuer, dest, n))
}

// ---------------------------------------------------------------- children

/// Appends forever, printing `ACK author seq id` after each durable append.
fn child_write(dir: &Path) {
    let c = charter();
    let ledger = Ledger::open(dir, &c, opts()).expect("child opens the store");
    let out = std::sync::Mutex::new(std::io::stdout());
    {
        let mut o = out.lock().unwrap();
        writeln!(o, "OPENED").unwrap();
        o.flush().unwrap();
    }
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

/// Opens the store (recovering it), says so with the time it took, and
/// waits to be killed (a minute at most).
fn child_open(dir: &Path) {
    let start = Instant::now();
    let ledger = Ledger::open(dir, &charter(), opts()).expect("child opens the store");
    println!("OPENED {}", start.elapsed().as_millis());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
    drop(ledger);
}

/// Repairs `dir`, fetching what it lost from the store in `peer`.
fn child_repair(dir: &Path, peer: &Path) {
    let c = charter();
    let peer = Ledger::open(peer, &c, opts()).expect("child opens the peer");
    let mut fetch =
        |a: &AuthorId, from: u64| peer.feed_range(a, from, 1000).map_err(|e| e.to_string());
    let start = Instant::now();
    let r = repair(dir, &c, opts(), &mut fetch).expect("the repair succeeds");
    println!(
        "REPAIRED {} {} {}",
        start.elapsed().as_millis(),
        r.kept_records,
        r.refetched
    );
    std::io::stdout().flush().unwrap();
}

// ---------------------------------------------------------------- parent

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

/// A child and the thread collecting the whole lines it printed.
struct Running {
    child: Child,
    /// Each line with when it arrived (ms after the spawn).
    lines: Arc<Mutex<Vec<(u64, String)>>>,
    reader: JoinHandle<()>,
}

fn spawn(args: &[&std::ffi::OsStr]) -> Running {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let started = Instant::now();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // A line cut by the kill has no newline: not a full report.
                Ok(_) if line.ends_with('\n') => sink.lock().unwrap().push((
                    started.elapsed().as_millis() as u64,
                    line.trim_end().to_owned(),
                )),
                Ok(_) => break,
            }
        }
    });
    Running {
        child,
        lines,
        reader,
    }
}

impl Running {
    /// Waits until the repair of `dir` reaches `SWAP_STEPS[step]` (true),
    /// or the child ends first (false).
    fn wait_for_step(&mut self, dir: &Path, step: usize, what: &str) -> bool {
        let tmp = dir.join("repair.tmp");
        let linked = || {
            std::fs::read_dir(dir.join("quarantine")).is_ok_and(|mut d| {
                d.any(|e| {
                    e.is_ok_and(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with("events.log.before-repair-")
                    })
                })
            })
        };
        // The new log and index exist in repair.tmp/ before they move.
        let (mut new_log, mut new_index) = (false, false);
        let until = Instant::now() + Duration::from_secs(120);
        while Instant::now() < until {
            new_log |= tmp.join("events.log").exists();
            new_index |= tmp.join("index").exists();
            let reached = match step {
                0 => linked(),
                1 => linked() && !dir.join("index").exists(),
                2 => linked() && !dir.join("events.synced").exists(),
                3 => new_log && !tmp.join("events.log").exists(),
                _ => new_index && !tmp.join("index").exists(),
            };
            if reached {
                return true;
            }
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        panic!(
            "{what}: the repair did not reach {} within two minutes",
            SWAP_STEPS[step]
        );
    }

    /// SIGKILLs the child after `delay` (unless it exited by itself, which
    /// only `may_finish` children may do). Returns its lines and whether it
    /// was killed.
    fn kill_after(
        mut self,
        delay: Duration,
        may_finish: bool,
        what: &str,
    ) -> (Vec<(u64, String)>, bool) {
        let until = Instant::now() + delay;
        let mut finished = None;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(1).min(until - Instant::now()));
        }
        let killed = finished.is_none();
        if killed {
            self.child.kill().unwrap(); // SIGKILL on Unix
        }
        self.child.wait().unwrap();
        if let Some(s) = finished {
            assert!(
                may_finish && s.success(),
                "{what}: the child ended by itself ({s})"
            );
        }
        self.reader.join().unwrap();
        let lines = std::mem::take(&mut *self.lines.lock().unwrap());
        (lines, killed)
    }
}

/// The steps of a repair's swap a kill is aimed at.
const SWAP_STEPS: [&str; 5] = [
    "the old log linked into quarantine/",
    "the old index removed",
    "events.synced removed",
    "the new log moved in",
    "the new index moved in",
];

type Acked = Vec<(AuthorId, u64, EventId)>;

fn parse_acks(lines: &[String], acked: &mut Acked) {
    for l in lines {
        if l.starts_with("OPENED") {
            continue;
        }
        let mut p = l.split(' ');
        assert_eq!(p.next(), Some("ACK"), "unexpected child output: {l}");
        let a: AuthorId = p.next().unwrap().parse().unwrap();
        let seq: u64 = p.next().unwrap().parse().unwrap();
        let id = Digest::from_hex(p.next().unwrap()).unwrap();
        acked.push((a, seq, id));
    }
}

/// Every acknowledged event is there (by place and by id), and the store
/// verifies. Returns the number of events stored.
fn check_acked(ledger: &Ledger, acked: &Acked, what: &str) -> u64 {
    for (a, seq, id) in acked {
        let got = ledger
            .event_at(a, *seq)
            .unwrap_or_else(|e| panic!("{what}: reading {a} seq {seq}: {e}"))
            .unwrap_or_else(|| panic!("{what}: acknowledged {a} seq {seq} is lost"));
        assert_eq!(got.id, *id, "{what}: {a} seq {seq} changed");
        assert_eq!(
            got.event.id(),
            *id,
            "{what}: {a} seq {seq} reads another event"
        );
    }
    let report = ledger.verify(|_, _| {}).unwrap();
    assert!(
        report.is_ok(),
        "{what}: store does not verify: {:?}",
        report.failures
    );
    report.events
}

/// The index describes exactly this store's log: every event in the log is
/// found, by id and by place, as that very event, and the heads count them all.
fn check_index_matches_log(ledger: &Ledger, what: &str) {
    let mut in_log = Vec::new();
    ledger
        .for_each_event(|id, ev| in_log.push((*id, ev.author().clone(), ev.seq())))
        .unwrap();
    for (id, a, seq) in &in_log {
        let by_id = ledger
            .event_by_id(id)
            .unwrap_or_else(|e| panic!("{what}: reading {id}: {e}"))
            .unwrap_or_else(|| panic!("{what}: {a} seq {seq} of the log is not in the index"));
        assert_eq!(
            by_id.event.id(),
            *id,
            "{what}: the index names another record for {id}"
        );
        let at = ledger.event_at(a, *seq).unwrap().unwrap();
        assert_eq!(
            at.id, *id,
            "{what}: {a} seq {seq}: the index holds another event"
        );
    }
    assert_eq!(
        ledger.event_count().unwrap(),
        in_log.len() as u64,
        "{what}: the index's heads do not count the log's events"
    );
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

fn open_store(dir: &Path, c: &Charter, what: &str) -> Ledger {
    Ledger::open(dir, c, opts())
        .unwrap_or_else(|e| panic!("{what}: the store does not reopen: {e}"))
}

struct Parent {
    c: Charter,
    rng: Rng,
    acked: Acked,
    tmp: tempfile::TempDir,
    /// Expected length of a recovery, by kind (ms), learnt as the test goes.
    recovery_ms: [u64; 3],
    /// How long a repair child runs before its swap (ms; 0 until timed).
    run_ms: u64,
    /// The swap step the first aimed repair kill waits for.
    swap_offset: usize,
    counts: BTreeMap<&'static str, u64>,
}

impl Parent {
    fn dir(&self) -> std::path::PathBuf {
        self.tmp.path().join("store")
    }

    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }

    /// A writer killed at a random moment.
    fn write_cycle(&mut self, i: usize) {
        let what = format!("write cycle {i}");
        let dir = self.dir();
        let run = spawn(&["--child".as_ref(), dir.as_os_str()]);
        let delay = Duration::from_millis(10 + self.rng.below(190));
        let (lines, _) = run.kill_after(delay, false, &what);
        let lines: Vec<String> = lines.into_iter().map(|l| l.1).collect();
        if !lines.iter().any(|l| l.starts_with("OPENED")) {
            self.count("write kills while the child was still opening");
        }
        self.count("write kills");
        parse_acks(&lines, &mut self.acked);
        let ledger = open_store(&dir, &self.c, &what);
        let events = check_acked(&ledger, &self.acked, &what);
        println!(
            "{what}: killed after {} ms; {} acknowledged so far, {events} events stored, verified",
            delay.as_millis(),
            self.acked.len(),
        );
    }

    /// A child killed while it recovers the store: a removed index, a big
    /// torn tail, or both.
    fn recovery_cycle(&mut self, i: usize) {
        let what = format!("recovery cycle {i}");
        let dir = self.dir();
        let kind = self.rng.below(3) as usize;
        let (no_index, torn) = match kind {
            0 => (true, false),
            1 => (false, true),
            _ => (true, true),
        };
        let log = dir.join("events.log");
        let clean_len = std::fs::metadata(&log).unwrap().len();
        let mut tail = Vec::new();
        if torn {
            // A record cut short (its header claims more than follows),
            // then zeros: what a torn write of a large batch can leave.
            tail.extend_from_slice(&600u32.to_le_bytes());
            tail.extend_from_slice(&(self.rng.next() as u32).to_le_bytes());
            tail.push(KIND_EVENT);
            tail.extend((0..40).map(|_| self.rng.next() as u8));
            let zeros = (1 << 20) + self.rng.below(3 << 20) as usize;
            tail.resize(tail.len() + zeros, 0);
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            f.write_all(&tail).unwrap();
        }
        if no_index {
            std::fs::remove_dir_all(dir.join("index")).unwrap();
        }
        let expect = self.recovery_ms[kind];
        let delay = Duration::from_millis(self.rng.below(expect * 6 / 5 + 1));
        let run = spawn(&["--open".as_ref(), dir.as_os_str()]);
        let (lines, _) = run.kill_after(delay, false, &what);
        let lines: Vec<String> = lines.into_iter().map(|l| l.1).collect();
        let opened = lines.iter().find_map(|l| l.strip_prefix("OPENED "));
        match opened {
            Some(ms) => self.recovery_ms[kind] = ms.parse::<u64>().unwrap().max(1),
            None => self.count("recovery kills during the recovery"),
        }
        self.count("recovery kills");
        let start = Instant::now();
        let ledger = open_store(&dir, &self.c, &what);
        if opened.is_none() {
            // The parent did the recovery the child was killed in.
            let ms = start.elapsed().as_millis() as u64;
            self.recovery_ms[kind] = (self.recovery_ms[kind] + ms).div_ceil(2).max(1);
        }
        let events = check_acked(&ledger, &self.acked, &what);
        drop(ledger);
        if torn {
            assert_eq!(
                std::fs::metadata(&log).unwrap().len(),
                clean_len,
                "{what}: the torn tail was not cut"
            );
            let side = dir.join(format!("events.torn-tail-{clean_len}"));
            let kept = std::fs::read(&side)
                .unwrap_or_else(|e| panic!("{what}: the cut tail was not kept: {e}"));
            assert!(
                kept == tail,
                "{what}: the kept tail differs from the cut one"
            );
            std::fs::remove_file(&side).unwrap();
        }
        println!(
            "{what}: {}{}; killed after {} ms ({}); {events} events, verified",
            if no_index { "index removed" } else { "" },
            match (no_index, torn) {
                (true, true) => format!(", torn tail of {} bytes", tail.len()),
                (false, true) => format!("torn tail of {} bytes", tail.len()),
                _ => String::new(),
            },
            delay.as_millis(),
            if opened.is_some() {
                "after it had opened"
            } else {
                "while it recovered"
            },
        );
    }

    /// A child killed while it repairs a damaged copy of the store.
    fn repair_cycle(&mut self, i: usize) {
        let what = format!("repair cycle {i}");
        let dir = self.dir();
        let base = self.tmp.path().join(format!("repair-{i}"));
        let peer = base.join("peer");
        let damaged = base.join("damaged");
        copy_dir(&dir, &peer);
        copy_dir(&dir, &damaged);
        let want = {
            let l = open_store(&peer, &self.c, &what);
            l.heads().unwrap()
        };
        // One flipped bit in a random event record.
        let log = damaged.join("events.log");
        let mut events = Vec::new();
        LogFile::open_read_only(&log)
            .unwrap()
            .scan_all(HEADER_LEN, |item| {
                if let LogItem::Record(r) = item {
                    if r.kind == KIND_EVENT {
                        events.push((r.offset, r.payload.len() as u64));
                    }
                }
                Ok(())
            })
            .unwrap();
        let (off, len) = events[self.rng.below(events.len() as u64) as usize];
        let mut bytes = std::fs::read(&log).unwrap();
        let at = (off + 9 + self.rng.below(len)) as usize;
        bytes[at] ^= 1 << self.rng.below(8);
        std::fs::write(&log, &bytes).unwrap();
        match Ledger::open(&damaged, &self.c, opts()) {
            Err(StoreError::Damaged(_)) => {}
            Err(e) => panic!("{what}: the damaged copy does not open with: {e}"),
            Ok(_) => panic!("{what}: the damaged copy opened"),
        }
        // Half the kills fall anywhere in the child's run; the others in
        // the swap (a few ms at the very end): the parent watches the
        // copy's directory and kills the child 0 to 3 ms after one step of
        // the swap shows (the old log linked into quarantine/, the old
        // index gone, events.synced gone, the new log moved in, the new
        // index moved in).
        let aimed = i % 2 == 1 || self.run_ms == 0;
        let start = Instant::now();
        let mut run = spawn(&["--repair".as_ref(), damaged.as_os_str(), peer.as_os_str()]);
        let (delay, step) = if aimed {
            // Each step in turn, from a random one.
            let step = (self.swap_offset + i / 2) % SWAP_STEPS.len();
            let seen = run.wait_for_step(&damaged, step, &what);
            self.run_ms = start.elapsed().as_millis() as u64;
            let extra = Duration::from_millis(self.rng.below(4));
            (
                if seen { extra } else { Duration::ZERO },
                Some(SWAP_STEPS[step]),
            )
        } else {
            (
                Duration::from_millis(self.rng.below(self.run_ms * 6 / 5 + 1)),
                None,
            )
        };
        let (lines, killed) = run.kill_after(delay, true, &what);
        if !killed {
            assert!(
                lines.iter().any(|l| l.1.starts_with("REPAIRED")),
                "{what}: the repair child ended without repairing"
            );
        } else {
            self.count("repair kills");
        }
        // Either the old log or a repaired one is in place.
        let now = std::fs::read(&log).unwrap();
        let state = if now == bytes {
            "the old log"
        } else {
            let damage = check_log(&damaged).unwrap();
            assert!(
                damage.is_empty(),
                "{what}: the log in place is neither the old one nor a repaired one: {damage:?}"
            );
            "a repaired log"
        };
        if killed && state == "a repaired log" {
            self.count("repair kills leaving the repaired log");
        }
        let ledger = match Ledger::open(&damaged, &self.c, opts()) {
            Ok(l) => l,
            Err(StoreError::Damaged(_)) => {
                assert_eq!(
                    state, "the old log",
                    "{what}: a repaired log refused to open"
                );
                self.count("repair kills leaving the old log (repaired again)");
                let p = open_store(&peer, &self.c, &what);
                let mut fetch = |a: &AuthorId, from: u64| {
                    p.feed_range(a, from, 1000).map_err(|e| e.to_string())
                };
                repair(&damaged, &self.c, opts(), &mut fetch)
                    .unwrap_or_else(|e| panic!("{what}: the second repair fails: {e}"));
                drop(p);
                open_store(&damaged, &self.c, &what)
            }
            Err(e) => {
                panic!("{what}: after the kill ({state} in place) the copy does not open: {e}")
            }
        };
        check_acked(&ledger, &self.acked, &what);
        check_index_matches_log(&ledger, &what);
        assert_eq!(
            ledger.heads().unwrap(),
            want,
            "{what}: the repaired copy does not hold every event of the original"
        );
        drop(ledger);
        std::fs::remove_dir_all(&base).unwrap();
        println!(
            "{what}: bit flipped at byte {at}; {} after {} ms{} ({state} in place); repaired, every event there, index matches the log",
            if killed { "killed" } else { "finished" },
            delay.as_millis(),
            step.map_or(String::new(), |s| format!(", once {s}")),
        );
    }
}

fn parent() {
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
    let write_cycles = std::env::var("KPL_CRASH_SOAK")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(WRITE_CYCLES);
    println!(
        "crash test: seed {seed} (set KPL_CRASH_SEED to replay), {write_cycles} write cycles (KPL_CRASH_SOAK=N for more)"
    );
    let mut p = Parent {
        c: charter(),
        rng: Rng(seed),
        acked: Vec::new(),
        tmp: tempfile::tempdir().unwrap(),
        recovery_ms: [300; 3],
        run_ms: 0,
        swap_offset: (seed % SWAP_STEPS.len() as u64) as usize,
        counts: BTreeMap::new(),
    };
    let start = Instant::now();
    for i in 1..=write_cycles {
        assert!(
            start.elapsed() < TIME_LIMIT,
            "the crash test ran out of time after {} write cycles (seed {seed})",
            i - 1
        );
        p.write_cycle(i);
        if i % RECOVERY_EVERY == 0 {
            p.recovery_cycle(i / RECOVERY_EVERY);
        }
        if i % REPAIR_EVERY == 0 {
            p.repair_cycle(i / REPAIR_EVERY);
        }
    }
    assert!(
        !p.acked.is_empty(),
        "the child never acknowledged an append"
    );
    let kills: u64 = ["write kills", "recovery kills", "repair kills"]
        .iter()
        .map(|k| p.counts.get(k).copied().unwrap_or(0))
        .sum();
    println!(
        "crash test: {kills} SIGKILLs in {:.0} s, {} events acknowledged, all kept (seed {seed})",
        start.elapsed().as_secs_f64(),
        p.acked.len()
    );
    for (k, n) in &p.counts {
        println!("  {k}: {n}");
    }
    println!("1 passed, 0 failed");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| Path::new(&args[i]).to_owned();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child_write(&arg(i + 1));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--open") {
        child_open(&arg(i + 1));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--repair") {
        child_repair(&arg(i + 1), &arg(i + 2));
        return;
    }
    // `cargo test -- --list` and filters: nothing to list or filter here.
    if args.iter().any(|a| a == "--list") {
        println!("crash_kill_reopen: test");
        return;
    }
    parent();
}
