//! A full disk, for real: a store on a small tmpfs under a steady write
//! load (three threads appending received events in batches, one authoring
//! its own feed) until the disk fills; then the disk gets its space back.
//!
//! The first test puts the whole store on one tmpfs, as a node's data
//! directory would be. The others give one write site a small tmpfs of its
//! own (the rest of the store stays on the ordinary disk, reached through a
//! symlink), so that the disk fills there and nowhere else: the log's
//! write, the sled index, the authoring record, `events.synced`. tmpfs never
//! fails `fdatasync`; a failing `fdatasync` (and `EIO` at every site) is
//! covered by the store's unit tests, which inject the failure
//! (`ledger-core/src/store/tests.rs`).
//!
//! What each test holds the store to, at every site:
//! - every event whose append returned `Ok` is there while the disk is
//!   full, after space returns and after a reopen;
//! - no event of an append that returned `Err` is visible (`event_by_id`,
//!   `heads`, `feed_range`), nor durable after a reopen (not in the log);
//!   the error is `StoreError::NotStored`;
//! - `degraded()` says why while writes fail;
//! - once the filler file is deleted, writes succeed again without
//!   reopening the store, and `degraded()` is `None`;
//! - `verify` passes throughout.
//!
//! A broken promise does not stop a test: it is noted, the test goes on
//! (so one failure does not hide the next), and the test fails at its end
//! listing every promise broken, with the store's own error text.
//!
//! Mounting needs root (CI runs as root). Where mounting is not permitted
//! the tests say so on stderr and skip; with `KPL_REQUIRE_ROOT_TESTS=1` a
//! skip is a failure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ledger_core::error::StoreError;
use ledger_core::store::{AppendOutcome, Ledger, StoreOptions};
use ledger_core::testkit::{sample_certificate, test_charter, test_key, FeedWriter};
use ledger_core::{AuthorId, Charter, CountryCode, Digest, EventBody, EventId, SignedEvent};

const BATCH_AUTHORS: [&str; 3] = ["BW", "EU", "IN"];
const OWN_AUTHOR: &str = "ZA";
/// 2026-01-01, the test charter's start.
const T0: u64 = 1_767_225_600_000;
/// The longest any one phase of a test may run.
const PHASE_LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- tmpfs

/// A mounted tmpfs, unmounted when dropped (lazily, so a file still open
/// in it cannot keep it mounted).
struct Tmpfs {
    at: PathBuf,
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = CString::new(self.at.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        if rc != 0 {
            eprintln!(
                "disk_full: could not unmount {}: {}",
                self.at.display(),
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Mounts a tmpfs of `kib` KiB at `at`; `None` (after saying so) where
/// mounting is not permitted.
fn mount_tmpfs(test: &str, at: &Path, kib: u64) -> Option<Tmpfs> {
    std::fs::create_dir_all(at).unwrap();
    let src = CString::new("tmpfs").unwrap();
    let target = CString::new(at.as_os_str().as_bytes()).unwrap();
    let data = CString::new(format!("size={kib}k,mode=0700")).unwrap();
    // SAFETY: valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            data.as_ptr() as *const libc::c_void,
        )
    };
    if rc == 0 {
        return Some(Tmpfs { at: at.to_owned() });
    }
    let e = std::io::Error::last_os_error();
    if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
        let why = format!("mounting a tmpfs is not permitted here ({e})");
        if std::env::var("KPL_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
            panic!("{test}: {why}, and KPL_REQUIRE_ROOT_TESTS=1 says this test must run");
        }
        // Straight to the process's stderr: the test harness keeps what a
        // passing test prints with `eprintln!` to itself.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: {why}; it needs root (set KPL_REQUIRE_ROOT_TESTS=1 to make a skip fail)"
        );
        return None;
    }
    panic!("{test}: mounting a tmpfs at {}: {e}", at.display());
}

/// Fills the filesystem holding `dir` with `dir/filler` until it is full,
/// then gives back `leave` bytes. Returns the filler's path.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let p = dir.join("filler");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .unwrap();
    let chunk = vec![0xa5u8; 16 << 10];
    let mut piece = chunk.len();
    // Bounded: a few hundred MiB at most, far more than any tmpfs here.
    for _ in 0..20_000 {
        match f.write(&chunk[..piece]) {
            Ok(n) if n > 0 => {}
            Ok(_) => break,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                if piece == 1 {
                    break;
                }
                piece = (piece / 2).max(1);
            }
            Err(e) => panic!("filling {}: {e}", p.display()),
        }
    }
    let len = f.metadata().unwrap().len();
    if leave > 0 {
        f.set_len(len.saturating_sub(leave)).unwrap();
    }
    p
}

fn free_bytes(dir: &Path) -> u64 {
    let p = CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: a zeroed statvfs is a valid out-parameter; the path is valid.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(p.as_ptr(), &mut s) };
    assert_eq!(rc, 0, "statvfs {}", dir.display());
    s.f_bavail * s.f_frsize
}

// ---------------------------------------------------------------- rigs

/// Where the disk fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Site {
    /// The whole store on one tmpfs.
    Whole,
    /// Only the log (and the store's small files) on the tmpfs.
    Log,
    /// Only the sled index (`DIR/index`).
    Index,
    /// Only the authoring records (`DIR/authoring`).
    Authoring,
    /// Only `DIR/events.synced`.
    Synced,
}

/// A store whose `site` lies on a small tmpfs.
struct Rig {
    // Field order is drop order: unmount before the temp dir goes.
    _fs: Tmpfs,
    /// The filesystem to fill.
    full: PathBuf,
    store: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Rig {
    fn new(test: &str, site: Site, kib: u64) -> Option<Rig> {
        let tmp = tempfile::tempdir().unwrap();
        let fs_dir = tmp.path().join("fs");
        let fs = mount_tmpfs(test, &fs_dir, kib)?;
        let side = tmp.path().join("side");
        std::fs::create_dir_all(&side).unwrap();
        let on_fs = matches!(site, Site::Whole | Site::Log);
        let store = if on_fs {
            fs_dir.join("store")
        } else {
            tmp.path().join("store")
        };
        std::fs::create_dir_all(&store).unwrap();
        // `target` is where `DIR/name` really lives.
        let link = |name: &str, target: &Path| {
            std::fs::create_dir_all(target).unwrap();
            std::os::unix::fs::symlink(target, store.join(name)).unwrap();
        };
        match site {
            Site::Whole => {}
            Site::Log => {
                link("index", &side.join("index"));
                link("authoring", &side.join("authoring"));
            }
            Site::Index => link("index", &fs_dir.join("index")),
            Site::Authoring => link("authoring", &fs_dir.join("authoring")),
            Site::Synced => {
                // A file, created through the link when first written.
                std::os::unix::fs::symlink(
                    fs_dir.join("events.synced"),
                    store.join("events.synced"),
                )
                .unwrap();
            }
        }
        Some(Rig {
            _fs: fs,
            full: fs_dir,
            store,
            _tmp: tmp,
        })
    }
}

fn charter() -> Charter {
    let mut codes: Vec<&str> = BATCH_AUTHORS.to_vec();
    codes.push(OWN_AUTHOR);
    test_charter(&codes)
}

fn author(code: &str) -> AuthorId {
    AuthorId::new(code, "mme").unwrap()
}

fn opts() -> StoreOptions {
    StoreOptions {
        cache_bytes: 4 << 20,
        // Small merges, often: crashes and failures meet them.
        lookup_memory_slots: 512,
    }
}

fn body(issuer: CountryCode, n: u64) -> EventBody {
    let dest = CountryCode::new(if issuer.as_str() == "EU" { "IN" } else { "EU" }).unwrap();
    EventBody::CertificateIssued(sample_certificate(issuer, dest, n))
}

/// Whether the store rebuilt its index while running: a full disk under
/// the index breaks it, and a rebuild that finds room in the space the old
/// files leave refuses nothing, so the disk may then take long to fill
/// again.
fn rebuilt_its_index(l: &Ledger) -> bool {
    l.recovery_report().index_rebuilt.is_some()
}

fn open(dir: &Path, c: &Charter) -> Ledger {
    Ledger::open(dir, c, opts()).unwrap_or_else(|e| panic!("the store does not open: {e}"))
}

// ---------------------------------------------------------------- promises

/// Promises broken so far: promise → (times, first occurrence). While
/// `index_down` is set (the disk holding the index is full), a read that
/// needs the index may fail with the index's error: sled keeps an I/O error
/// until its database is reopened, and the store can rebuild it only once
/// there is room again (docs/OPERATIONS.md). Once writes succeed again the
/// tests clear it, and every read must work.
struct Broken(
    Mutex<BTreeMap<String, (u64, String)>>,
    std::sync::atomic::AtomicBool,
);

impl Default for Broken {
    fn default() -> Self {
        Broken(Mutex::new(BTreeMap::new()), true.into())
    }
}

/// Space is back: as the node does once a second, seal the store until a
/// broken index is rebuilt (bounded), then every read must work.
fn settle(l: &Ledger, b: &Broken) {
    let start = Instant::now();
    while l.degraded().is_some() && start.elapsed() < Duration::from_secs(20) {
        let _ = l.seal();
        std::thread::sleep(Duration::from_millis(200));
    }
    b.1.store(false, Ordering::Relaxed);
}

fn index_error(e: &StoreError) -> bool {
    matches!(e, StoreError::Sled(_))
        || e.to_string().contains("index database error")
        || e.to_string().contains("the index is being rebuilt")
}

impl Broken {
    /// Notes `promise` as broken unless `kept`; returns `kept`.
    fn check(&self, kept: bool, promise: &str, detail: impl FnOnce() -> String) -> bool {
        if !kept {
            let mut m = self.0.lock().unwrap();
            let e = m.entry(promise.to_owned()).or_insert_with(|| (0, detail()));
            e.0 += 1;
        }
        kept
    }

    /// A read that must work (the disk being full is no reason to fail one).
    fn read<T>(&self, what: &str, r: Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) if index_error(&e) && self.1.load(Ordering::Relaxed) => None,
            Err(e) => {
                self.check(false, "reads work whatever the disk's state", || {
                    format!("{what}: {e}")
                });
                None
            }
        }
    }

    fn assert_none(&self, test: &str) {
        let m = self.0.lock().unwrap();
        if m.is_empty() {
            return;
        }
        let mut s = format!("{test}: {} promise(s) broken:\n", m.len());
        for (p, (n, first)) in m.iter() {
            s.push_str(&format!("  - {p} (broken {n} time(s)); first: {first}\n"));
        }
        panic!("{s}");
    }
}

// ---------------------------------------------------------------- load

/// What the writers were told.
#[derive(Default)]
struct Tally {
    /// Acknowledged: (author, seq, id).
    acked: Vec<(AuthorId, u64, EventId)>,
    /// Ids of events offered in an append that returned `Err` (never
    /// offered again: certificate numbers are never reused).
    refused: Vec<EventId>,
    /// Own appends that returned `Err` (their ids are not known).
    refused_own: u64,
    /// Each distinct error text, with how often it came.
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn error(&mut self, e: &StoreError) {
        *self.errors.entry(e.to_string()).or_default() += 1;
    }
}

#[derive(Clone, Copy)]
enum Until {
    /// Each writer stops after this many failed appends (the disk is full),
    /// or once the store [`rebuilt_its_index`].
    Failures(u64),
    /// Each writer makes exactly this many appends, and every one must
    /// succeed (space is back).
    Writes(u64),
}

struct Load<'a> {
    ledger: &'a Ledger,
    network: Digest,
    tally: &'a Mutex<Tally>,
    broken: &'a Broken,
    /// Certificate numbers: unique across the whole test.
    n: &'a AtomicU64,
    /// Which writers write.
    batch: bool,
    own: bool,
}

/// How a writer did: (appends made, appends failed).
type Done = (u64, u64);

impl Load<'_> {
    /// Runs the writers until `until`; returns how each did, batch writers
    /// first and the own writer last.
    fn run(&self, until: Until, label: &str) -> Vec<Done> {
        std::thread::scope(|s| {
            let mut hs = Vec::new();
            if self.batch {
                for code in BATCH_AUTHORS {
                    hs.push(s.spawn(move || self.batch_writer(code, until, label)));
                }
            }
            if self.own {
                hs.push(s.spawn(move || self.own_writer(until, label)));
            }
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    fn next_n(&self) -> u64 {
        self.n.fetch_add(1, Ordering::Relaxed)
    }

    fn stop(&self, until: Until, writes: u64, fails: u64, start: Instant) -> bool {
        let done = match until {
            Until::Failures(n) => fails >= n || rebuilt_its_index(self.ledger),
            Until::Writes(n) => writes >= n,
        };
        done || start.elapsed() > PHASE_LIMIT
    }

    fn durable_head(&self, a: &AuthorId) -> Option<(u64, Option<EventId>)> {
        self.broken
            .read("feed_state", self.ledger.feed_state(a))
            .flatten()
            .map(|f| (f.head_seq, f.head_id))
    }

    fn failed(&self, e: &StoreError, label: &str, until: Until) {
        self.tally.lock().unwrap().error(e);
        self.broken.check(
            matches!(e, StoreError::NotStored(_)),
            "a failed append returns StoreError::NotStored",
            || format!("{label}: {e:?}"),
        );
        // Once space is back, a write fails only while a broken index waits
        // for its rebuild (retried within seconds); anything else is broken.
        if let Until::Writes(_) = until {
            self.broken.check(
                e.to_string().contains("index"),
                "once space returns, writes succeed without reopening the store",
                || format!("{label}: {e}"),
            );
        }
    }

    /// Offers received events in batches of 1 to 4 (the network path).
    fn batch_writer(&self, code: &str, until: Until, label: &str) -> Done {
        let a = author(code);
        let mut w = FeedWriter::new(self.network, a.clone());
        let resync = |w: &mut FeedWriter| {
            if let Some((seq, id)) = self.durable_head(&a) {
                w.seq = seq;
                w.prev = id;
            } else {
                // The head cannot be read while the index is down: go on
                // from the last place acknowledged to this writer.
                let t = self.tally.lock().unwrap();
                if let Some((_, seq, id)) = t
                    .acked
                    .iter()
                    .filter(|(x, _, _)| *x == a)
                    .max_by_key(|(_, s, _)| *s)
                {
                    w.seq = *seq;
                    w.prev = Some(*id);
                }
            }
        };
        resync(&mut w);
        let (mut writes, mut fails) = (0, 0);
        let start = Instant::now();
        while !self.stop(until, writes, fails, start) {
            writes += 1;
            let before = w.seq;
            let before_prev = w.prev;
            let k = 1 + self.n.load(Ordering::Relaxed) % 4;
            let evs: Vec<SignedEvent> = (0..k)
                .map(|_| {
                    let n = self.next_n();
                    w.next(body(a.participant, n), T0 + n)
                })
                .collect();
            let ids: Vec<EventId> = evs.iter().map(|e| e.id()).collect();
            match self.ledger.append_batch(evs) {
                Ok(outs) => {
                    let mut t = self.tally.lock().unwrap();
                    for (i, o) in outs.into_iter().enumerate() {
                        let seq = before + 1 + i as u64;
                        let want = AppendOutcome::Appended { id: ids[i], seq };
                        self.broken.check(
                            o == want,
                            "an append of the next events is Appended",
                            || format!("{label}: {a} seq {seq}: {o:?}"),
                        );
                        if matches!(o, AppendOutcome::Appended { .. }) {
                            t.acked.push((a.clone(), seq, ids[i]));
                        }
                    }
                }
                Err(e) => {
                    fails += 1;
                    // A refused batch leaves the feed where it was: go on
                    // from there (the store's head may be unreadable while
                    // its index is rebuilt).
                    (w.seq, w.prev) = (before, before_prev);
                    self.tally.lock().unwrap().refused.extend(ids);
                    self.failed(&e, label, until);
                    // Nothing of the batch is visible: the feed is where it was.
                    let head = self.durable_head(&a).map(|h| h.0);
                    self.broken.check(
                        head == Some(before)
                            || (head.is_none() && self.broken.1.load(Ordering::Relaxed)),
                        "nothing of a failed append is visible",
                        || format!("{label}: {a} is at {head:?} after a refused batch on {before}"),
                    );
                    resync(&mut w);
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        (writes, fails)
    }

    /// Authors the own feed in runs of 1 to 3 events (the API path).
    fn own_writer(&self, until: Until, label: &str) -> Done {
        let a = author(OWN_AUTHOR);
        let key = test_key(&a);
        // The head as stored; while the index is down and it cannot be
        // read, the last place acknowledged to this writer.
        let mut last = self.durable_head(&a).map(|h| h.0).unwrap_or_else(|| {
            let t = self.tally.lock().unwrap();
            t.acked
                .iter()
                .filter(|(x, _, _)| *x == a)
                .map(|(_, s, _)| *s)
                .max()
                .unwrap_or(0)
        });
        let (mut writes, mut fails) = (0, 0);
        let start = Instant::now();
        while !self.stop(until, writes, fails, start) {
            writes += 1;
            let k = 1 + self.n.load(Ordering::Relaxed) % 3;
            let mut ts = T0;
            let bodies = (0..k)
                .map(|_| {
                    let n = self.next_n();
                    ts = T0 + n;
                    body(a.participant, n)
                })
                .collect();
            match self.ledger.append_own(&key, &a, bodies, ts) {
                Ok(placed) => {
                    let mut t = self.tally.lock().unwrap();
                    let seqs: Vec<u64> = placed.iter().map(|p| p.1).collect();
                    let want: Vec<u64> = (last + 1..=last + k).collect();
                    self.broken
                        .check(seqs == want, "own events take the next places", || {
                            format!("{label}: {seqs:?}, expected {want:?}")
                        });
                    for (id, seq) in placed {
                        t.acked.push((a.clone(), seq, id));
                        last = last.max(seq);
                    }
                }
                Err(e) => {
                    fails += 1;
                    self.tally.lock().unwrap().refused_own += 1;
                    self.failed(&e, label, until);
                    let head = self.durable_head(&a).map(|h| h.0);
                    self.broken.check(
                        head == Some(last)
                            || (head.is_none() && self.broken.1.load(Ordering::Relaxed)),
                        "nothing of a failed append is visible",
                        || format!("{label}: own feed at {head:?} after a refused run on {last}"),
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        (writes, fails)
    }
}

// ---------------------------------------------------------------- checks

/// Every acknowledged event is there, in its place; nothing refused is
/// visible; the heads are the last acknowledged events; `verify` passes.
fn check_store(l: &Ledger, t: &Tally, b: &Broken, when: &str) {
    let mut by_author: BTreeMap<AuthorId, Vec<(u64, EventId)>> = BTreeMap::new();
    for (a, seq, id) in &t.acked {
        by_author.entry(a.clone()).or_default().push((*seq, *id));
    }
    for v in by_author.values_mut() {
        v.sort();
    }
    if let Some(heads) = b.read("heads", l.heads()) {
        for h in heads {
            let want = by_author.get(&h.author).cloned().unwrap_or_default();
            b.check(
                h.seq == want.len() as u64 && h.id == want.last().map(|w| w.1),
                "each head is the last acknowledged event of its feed",
                || {
                    format!(
                        "{when}: {} head at {} ({:?}), {} acknowledged",
                        h.author,
                        h.seq,
                        h.id,
                        want.len()
                    )
                },
            );
            let Some(got) = b.read("feed_range", l.feed_range(&h.author, 1, usize::MAX)) else {
                continue;
            };
            let got: Vec<EventId> = got.iter().map(|e| e.id()).collect();
            let want: Vec<EventId> = want.iter().map(|w| w.1).collect();
            b.check(
                got == want,
                "a feed holds every acknowledged event, and nothing else",
                || {
                    format!(
                        "{when}: {} holds {} events, {} acknowledged",
                        h.author,
                        got.len(),
                        want.len()
                    )
                },
            );
        }
    }
    let lenient = b.1.load(Ordering::Relaxed);
    for (a, seq, id) in &t.acked {
        let by_id = l.event_by_id(id);
        if lenient && (matches!(&by_id, Err(e) if index_error(e))) {
            // The index's disk is full: reads wait for its rebuild.
            continue;
        }
        b.check(
            matches!(&by_id, Ok(Some(e)) if e.event.id() == *id),
            "every acknowledged event is found by its id",
            || format!("{when}: {a} seq {seq}: {}", describe(&by_id)),
        );
        let at = l.event_at(a, *seq);
        if lenient && (matches!(&at, Err(e) if index_error(e))) {
            // sled may fail on its own (its background flush) before the
            // store has seen the error: the same wait for the rebuild.
            continue;
        }
        b.check(
            matches!(&at, Ok(Some(e)) if e.id == *id && e.event.id() == *id),
            "every acknowledged event is in its place",
            || format!("{when}: {a} seq {seq}: {}", describe(&at)),
        );
    }
    for id in &t.refused {
        let got = b.read("event_by_id", l.event_by_id(id)).flatten();
        b.check(
            got.is_none(),
            "no event of a failed append is visible",
            || format!("{when}: {id}"),
        );
    }
    if let Some(v) = b.read("verify", l.verify(|_, _| {})) {
        b.check(v.is_ok(), "verify passes", || {
            format!("{when}: {:?}", v.failure())
        });
        b.check(
            v.events == t.acked.len() as u64,
            "the log holds exactly the acknowledged events",
            || {
                format!(
                    "{when}: {} events, {} acknowledged",
                    v.events,
                    t.acked.len()
                )
            },
        );
    }
}

fn describe(r: &Result<Option<ledger_core::store::StoredEvent>, StoreError>) -> String {
    match r {
        Ok(Some(e)) => format!(
            "found {} seq {} ({})",
            e.event.author(),
            e.event.seq(),
            e.event.id()
        ),
        Ok(None) => "not found".into(),
        Err(e) => format!("the read failed: {e}"),
    }
}

/// After a reopen: each acknowledged event is in the log exactly once and
/// no refused one is there at all.
fn check_log(l: &Ledger, t: &Tally, b: &Broken, when: &str) {
    let mut count: HashMap<EventId, u64> = HashMap::new();
    let scanned = b.read(
        "for_each_event",
        l.for_each_event(|id, _| *count.entry(*id).or_default() += 1),
    );
    if scanned.is_none() {
        return;
    }
    for (a, seq, id) in &t.acked {
        let n = count.get(id).copied().unwrap_or(0);
        b.check(n == 1, "an acknowledged event is in the log once", || {
            format!("{when}: {a} seq {seq} is there {n} times")
        });
    }
    let refused: HashSet<&EventId> = t.refused.iter().collect();
    let durable = refused.iter().filter(|id| count.contains_key(**id)).count();
    b.check(
        durable == 0,
        "no event of a failed append is durable",
        || format!("{when}: {durable} refused events are in the log"),
    );
}

fn report(test: &str, t: &Tally, phases: &[(&str, Vec<Done>)], started: Instant) {
    let mut s = format!(
        "{test}: {} events acknowledged, {} refused, {} own runs refused, in {:.1} s\n",
        t.acked.len(),
        t.refused.len(),
        t.refused_own,
        started.elapsed().as_secs_f64()
    );
    for (p, done) in phases {
        s.push_str(&format!("  {p}: (appends, failed) per writer {done:?}\n"));
    }
    for (e, n) in &t.errors {
        s.push_str(&format!("  error x{n}: {e}\n"));
    }
    eprint!("{s}");
}

// ---------------------------------------------------------------- the tests

/// What a test's writers share.
struct Ctx {
    network: Digest,
    tally: Mutex<Tally>,
    broken: Broken,
    n: AtomicU64,
}

impl Ctx {
    fn new(c: &Charter) -> Ctx {
        Ctx {
            network: c.network_id(),
            tally: Mutex::new(Tally::default()),
            broken: Broken::default(),
            n: AtomicU64::new(1),
        }
    }

    /// Every writer on `l`.
    fn load<'a>(&'a self, l: &'a Ledger) -> Load<'a> {
        self.some(l, true, true)
    }

    /// The batch writers, the own writer, or both.
    fn some<'a>(&'a self, l: &'a Ledger, batch: bool, own: bool) -> Load<'a> {
        Load {
            ledger: l,
            network: self.network,
            tally: &self.tally,
            broken: &self.broken,
            n: &self.n,
            batch,
            own,
        }
    }
}

/// Fills the disk at `site` under the full load, then frees it.
fn fill_under_load(test: &str, site: Site, kib: u64, leave: u64) {
    let started = Instant::now();
    let Some(rig) = Rig::new(test, site, kib) else {
        return;
    };
    let c = charter();
    let ctx = Ctx::new(&c);
    let (broken, tally, n) = (&ctx.broken, &ctx.tally, &ctx.n);
    let mut phases = Vec::new();
    let l = open(&rig.store, &c);
    // Room to spare: every write succeeds.
    phases.push((
        "before the fill",
        ctx.load(&l).run(Until::Writes(4), "before the fill"),
    ));
    broken.assert_none(&format!("{test} (before the disk was filled)"));

    let filler = fill(&rig.full, leave);
    eprintln!(
        "{test}: {} bytes free on the tmpfs after the fill",
        free_bytes(&rig.full)
    );
    assert!(
        !rebuilt_its_index(&l),
        "{test}: the index was rebuilt before the disk was filled"
    );
    let done = ctx.load(&l).run(Until::Failures(3), "while the disk fills");
    let failed_writers = done.iter().filter(|d| d.1 > 0).count();
    phases.push(("while the disk fills", done));
    // The disk filled: a write failed, or the index broke on it and was
    // rebuilt.
    let rebuilt = l.recovery_report().index_rebuilt;
    assert!(
        failed_writers > 0 || rebuilt.is_some(),
        "{test}: no write failed and the index was not rebuilt: the disk never filled"
    );
    if let Some(why) = &rebuilt {
        eprintln!("{test}: the index was rebuilt on the full disk: {why}");
    }
    // Still full: a write fails, and the store says why.
    let mut w = FeedWriter::new(c.network_id(), author("BW"));
    if let Some(f) = broken.read("feed_state", l.feed_state(&w.author)).flatten() {
        w.seq = f.head_seq;
        w.prev = f.head_id;
    }
    let probe: Vec<SignedEvent> = (0..64)
        .map(|_| {
            let k = n.fetch_add(1, Ordering::Relaxed);
            w.next(body(w.author.participant, k), T0 + k)
        })
        .collect();
    let probe_ids: Vec<EventId> = probe.iter().map(|e| e.id()).collect();
    let probe_failed = match l.append_batch(probe) {
        // Rebuilding the index can free room (sled preallocates): stored.
        Ok(out) => {
            let mut t = tally.lock().unwrap();
            for (o, id) in out.iter().zip(&probe_ids) {
                if let AppendOutcome::Appended { seq, .. } = o {
                    t.acked.push((w.author.clone(), *seq, *id));
                }
            }
            false
        }
        Err(e) => {
            let mut t = tally.lock().unwrap();
            t.error(&e);
            t.refused.extend(probe_ids);
            true
        }
    };
    broken.check(
        !probe_failed || l.degraded().is_some(),
        "degraded() says why while writes fail",
        || format!("{test}: degraded() is None on a full disk"),
    );
    check_store(&l, &tally.lock().unwrap(), broken, "while the disk is full");

    // Space is back: writes succeed again without reopening.
    std::fs::remove_file(&filler).unwrap();
    phases.push((
        "after space returned",
        ctx.load(&l).run(Until::Writes(5), "after space returned"),
    ));
    settle(&l, broken);
    broken.check(
        l.degraded().is_none(),
        "degraded() is None once writes succeed again",
        || format!("{test}: {:?}", l.degraded()),
    );
    check_store(&l, &tally.lock().unwrap(), broken, "after space returned");
    drop(l);

    let l = open(&rig.store, &c);
    check_store(&l, &tally.lock().unwrap(), broken, "after reopening");
    check_log(&l, &tally.lock().unwrap(), broken, "after reopening");
    // And after a reopen the store writes, whatever happened before it.
    let after_reopen = ctx.load(&l).run(Until::Writes(2), "after reopening");
    phases.push(("after reopening", after_reopen));
    check_store(
        &l,
        &tally.lock().unwrap(),
        broken,
        "after reopening and writing",
    );
    drop(l);
    report(test, &tally.lock().unwrap(), &phases, started);
    broken.assert_none(test);
}

/// The log and the index race for the last of the space, so this meets
/// both `a_full_disk_at_the_log_write` and `a_full_disk_at_the_index`, and
/// holds that reads of acknowledged events keep working while the index
/// database carries its I/O error.
#[test]
fn a_full_disk_under_load_keeps_every_acknowledged_event_and_nothing_refused() {
    // The whole store on 3 MiB, a quarter MiB left free: the log and the
    // index race for the last of it.
    fill_under_load(
        "a_full_disk_under_load_keeps_every_acknowledged_event_and_nothing_refused",
        Site::Whole,
        3 << 10,
        256 << 10,
    );
}

/// A log write that fails for a full disk is answered with
/// `StoreError::NotStored` and sets `degraded()` (not only a failed sync or
/// index batch does). Nothing refused is kept and writes succeed again once
/// space returns.
#[test]
fn a_full_disk_at_the_log_write() {
    fill_under_load(
        "a_full_disk_at_the_log_write",
        Site::Log,
        1 << 10,
        128 << 10,
    );
}

/// sled 0.34 keeps the first I/O error of a `Db` (its `global_error`,
/// cleared only when a `Db` is opened) and returns it from every later
/// write of that `Db`. The store must not refuse every write with "index
/// database error: IO error: Os { code: 28, kind: StorageFull, ... }" until
/// it is reopened: once space is back it rebuilds the index and
/// `degraded()` clears. After a reopen everything acknowledged is there and
/// writes succeed.
#[test]
fn a_full_disk_at_the_index() {
    fill_under_load("a_full_disk_at_the_index", Site::Index, 2 << 10, 96 << 10);
}

/// The authoring record needs space only when it is created (a feed's
/// first own append; later writes overwrite the same two slots), so the
/// own feed is first authored with the disk already full.
///
/// While own appends are refused because the record cannot be written,
/// the refusal sets `degraded()`, and no other successful group commit
/// clears it.
#[test]
fn a_full_disk_at_the_authoring_record() {
    let test = "a_full_disk_at_the_authoring_record";
    let started = Instant::now();
    let Some(rig) = Rig::new(test, Site::Authoring, 256) else {
        return;
    };
    let c = charter();
    let ctx = Ctx::new(&c);
    let (broken, tally, n) = (&ctx.broken, &ctx.tally, &ctx.n);
    let l = open(&rig.store, &c);
    let filler = fill(&rig.full, 0);
    let mut phases = Vec::new();
    let a = author(OWN_AUTHOR);
    let key = test_key(&a);
    let own = |l: &Ledger, k: u64| {
        l.append_own(&key, &a, vec![body(a.participant, 1_000_000 + k)], T0 + k)
    };
    // The first own append: stored (so it says so), but its record could
    // not be written, and the store says why.
    match own(&l, 1) {
        Ok(placed) => tally
            .lock()
            .unwrap()
            .acked
            .push((a.clone(), placed[0].1, placed[0].0)),
        Err(e) => panic!("{test}: the own append whose record fails was refused: {e}"),
    }
    broken.check(
        l.authoring_record(&a).is_none(),
        "the test filled the authoring record's disk",
        || "the record was written".into(),
    );
    broken.check(
        l.degraded().is_some(),
        "degraded() says why while the authoring record cannot be written",
        || "None after the record failed".into(),
    );
    // Under load: received events are stored; own appends are refused
    // until the record is written.
    let done = ctx
        .some(&l, true, false)
        .run(Until::Writes(6), "received, record unwritten");
    phases.push(("received events", done));
    let done = ctx
        .some(&l, false, true)
        .run(Until::Failures(3), "own, record unwritten");
    broken.check(
        done[0].1 == done[0].0,
        "own appends are refused while the record is unwritten",
        || format!("{done:?}"),
    );
    phases.push(("own appends", done));
    // A received event stored since, while own writes still fail: the
    // store still says why they fail.
    ctx.some(&l, true, false)
        .run(Until::Writes(1), "received after an own refusal");
    broken.check(
        own(&l, 2).is_err(),
        "own appends are refused while the record is unwritten",
        || "an own append succeeded".into(),
    );
    let mut w = FeedWriter::new(c.network_id(), author("BW"));
    let f = l.feed_state(&w.author).unwrap().unwrap();
    w.seq = f.head_seq;
    w.prev = f.head_id;
    let k = n.fetch_add(1, Ordering::Relaxed);
    let ev = w.next(body(w.author.participant, k), T0 + k);
    let id = ev.id();
    l.append(ev).unwrap();
    tally
        .lock()
        .unwrap()
        .acked
        .push((w.author.clone(), w.seq, id));
    broken.check(
        l.degraded().is_some(),
        "degraded() says why while own writes fail, even when other writes succeed",
        || format!("{test}: degraded() is None after a received event was stored, with own appends still refused"),
    );
    check_store(&l, &tally.lock().unwrap(), broken, "record unwritten");

    std::fs::remove_file(&filler).unwrap();
    let done = ctx
        .some(&l, true, true)
        .run(Until::Writes(5), "after space returned");
    phases.push(("after space returned", done));
    settle(&l, broken);
    broken.check(
        l.degraded().is_none(),
        "degraded() is None once writes succeed again",
        || format!("{:?}", l.degraded()),
    );
    let head = l.feed_state(&a).unwrap().unwrap().head_seq;
    broken.check(
        l.authoring_record(&a).map(|r| r.seq) == Some(head),
        "the authoring record reaches the own feed's head",
        || format!("record {:?}, head {head}", l.authoring_record(&a)),
    );
    check_store(&l, &tally.lock().unwrap(), broken, "after space returned");
    drop(l);
    let l = open(&rig.store, &c);
    check_store(&l, &tally.lock().unwrap(), broken, "after reopening");
    check_log(&l, &tally.lock().unwrap(), broken, "after reopening");
    broken.check(
        l.authoring_record(&a).map(|r| r.seq) == Some(head),
        "the authoring record survives a reopen",
        || format!("{:?}", l.authoring_record(&a)),
    );
    drop(l);
    report(test, &tally.lock().unwrap(), &phases, started);
    broken.assert_none(test);
}

/// `events.synced` is written by `seal` (idle, close), never on the
/// acknowledgement path: it needs space when first created.
///
/// A seal that fails to write `events.synced` returns the error and sets
/// `degraded()`.
#[test]
fn a_full_disk_at_events_synced() {
    let test = "a_full_disk_at_events_synced";
    let started = Instant::now();
    let Some(rig) = Rig::new(test, Site::Synced, 64) else {
        return;
    };
    let c = charter();
    let ctx = Ctx::new(&c);
    let (broken, tally) = (&ctx.broken, &ctx.tally);
    let filler = fill(&rig.full, 0);
    let l = open(&rig.store, &c);
    let mut phases = Vec::new();
    // Writers and a sealer (as a node seals when it goes idle) at once.
    let seal_errors = Mutex::new(BTreeMap::<String, u64>::new());
    std::thread::scope(|s| {
        let sealer = s.spawn(|| {
            let start = Instant::now();
            let mut fails = 0;
            for _ in 0..10 {
                if let Err(e) = l.seal() {
                    fails += 1;
                    *seal_errors
                        .lock()
                        .unwrap()
                        .entry(e.to_string())
                        .or_default() += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
                if start.elapsed() > PHASE_LIMIT {
                    break;
                }
            }
            fails
        });
        phases.push((
            "writers, sealing",
            ctx.load(&l).run(Until::Writes(6), "sealing"),
        ));
        let fails = sealer.join().unwrap();
        assert!(fails > 0, "{test}: no seal failed: the disk never filled");
    });
    let e = l.seal().expect_err("a seal on a full disk");
    broken.check(
        e.to_string().contains("events.synced"),
        "a failed seal names the file",
        || e.to_string(),
    );
    broken.check(
        l.degraded().is_some(),
        "degraded() says why while events.synced cannot be written",
        || format!("{test}: degraded() is None while seal fails with: {e}"),
    );
    check_store(
        &l,
        &tally.lock().unwrap(),
        broken,
        "events.synced unwritten",
    );

    std::fs::remove_file(&filler).unwrap();
    phases.push((
        "after space returned",
        ctx.load(&l).run(Until::Writes(3), "after space returned"),
    ));
    settle(&l, broken);
    phases.push((
        "after space returned (reads)",
        ctx.load(&l).run(Until::Writes(1), "after space returned"),
    ));
    let sealed = l.seal();
    broken.check(sealed.is_ok(), "seal succeeds once space returns", || {
        format!("{sealed:?}")
    });
    broken.check(
        l.degraded().is_none(),
        "degraded() is None once writes succeed again",
        || format!("{:?}", l.degraded()),
    );
    check_store(&l, &tally.lock().unwrap(), broken, "after space returned");
    drop(l);
    // Closing seals: the watermark then covers the whole log.
    let log_len = std::fs::metadata(rig.store.join("events.log"))
        .unwrap()
        .len();
    let l = open(&rig.store, &c);
    let wm = l.recovery_report().watermark;
    broken.check(
        wm == log_len,
        "after a clean close the watermark covers the whole log",
        || format!("watermark {wm}, log {log_len} bytes"),
    );
    check_store(&l, &tally.lock().unwrap(), broken, "after reopening");
    check_log(&l, &tally.lock().unwrap(), broken, "after reopening");
    drop(l);
    for (e, k) in seal_errors.lock().unwrap().iter() {
        eprintln!("{test}: seal error x{k}: {e}");
    }
    report(test, &tally.lock().unwrap(), &phases, started);
    broken.assert_none(test);
}

/// A write refused for a full disk, offered again once space is back, is
/// stored exactly once: without reopening, and offered once more after a
/// reopen. At the log (the refusal is immediate) and at the index (sled
/// fails a while after its disk filled).
fn retry_once(test: &str, site: Site, kib: u64) {
    let Some(rig) = Rig::new(test, site, kib) else {
        return;
    };
    let c = charter();
    let broken = Broken::default();
    let l = open(&rig.store, &c);
    let mut w = FeedWriter::new(c.network_id(), author("BW"));
    let mut acked: Vec<EventId> = Vec::new();
    for k in 0..4 {
        let ev = w.next(body(w.author.participant, k), T0 + k);
        acked.push(ev.id());
        l.append(ev).unwrap();
    }
    let filler = fill(&rig.full, 0);
    // Batches of 8 until one is refused.
    let start = Instant::now();
    let mut k = 100;
    let refused = loop {
        // The index is applied behind the answer: a full disk under it
        // refuses no write when the store rebuilt it.
        if site == Site::Index && rebuilt_its_index(&l) {
            break Vec::new();
        }
        assert!(
            start.elapsed() < PHASE_LIMIT,
            "{test}: no write failed: the disk never filled"
        );
        let (seq, prev) = (w.seq, w.prev);
        let batch: Vec<SignedEvent> = (0..8)
            .map(|_| {
                k += 1;
                w.next(body(w.author.participant, k), T0 + k)
            })
            .collect();
        match l.append_batch(batch.clone()) {
            Ok(_) => acked.extend(batch.iter().map(|e| e.id())),
            Err(e) => {
                eprintln!("{test}: refused with: {e}");
                broken.check(
                    matches!(e, StoreError::NotStored(_)),
                    "a failed append returns StoreError::NotStored",
                    || format!("{e:?}"),
                );
                w.seq = seq;
                w.prev = prev;
                break batch;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ids: Vec<EventId> = refused.iter().map(|e| e.id()).collect();
    for id in &ids {
        broken.check(
            l.event_by_id(id).ok().flatten().is_none(),
            "no event of a failed append is visible",
            || format!("{id}"),
        );
    }
    std::fs::remove_file(&filler).unwrap();
    let appended = |outs: &[AppendOutcome]| {
        outs.iter()
            .all(|o| matches!(o, AppendOutcome::Appended { .. }))
    };
    let duplicate = |outs: &[AppendOutcome]| {
        outs.iter()
            .all(|o| matches!(o, AppendOutcome::Duplicate { .. }))
    };
    // Retried without reopening: stored now; once more: a duplicate.
    let mut stored = false;
    match l.append_batch(refused.clone()) {
        Ok(outs) => {
            stored = broken.check(appended(&outs), "the retry is Appended", || {
                format!("{outs:?}")
            });
            let again = l.append_batch(refused.clone()).unwrap();
            broken.check(duplicate(&again), "a second retry is Duplicate", || {
                format!("{again:?}")
            });
        }
        Err(e) => {
            broken.check(
                false,
                "once space returns, writes succeed without reopening the store",
                || format!("the retry: {e}"),
            );
        }
    }
    drop(l);
    // After a reopen: offered once more, stored once in all.
    let l = open(&rig.store, &c);
    let outs = l.append_batch(refused.clone()).unwrap();
    if stored {
        broken.check(
            duplicate(&outs),
            "a retry after a reopen is Duplicate",
            || format!("{outs:?}"),
        );
    } else {
        broken.check(
            appended(&outs),
            "a retry after a reopen is Appended",
            || format!("{outs:?}"),
        );
    }
    acked.extend(ids.iter().copied());
    let mut count: HashMap<EventId, u64> = HashMap::new();
    l.for_each_event(|id, _| *count.entry(*id).or_default() += 1)
        .unwrap();
    for id in &acked {
        let n = count.get(id).copied().unwrap_or(0);
        broken.check(n == 1, "a retried event is stored exactly once", || {
            format!("{id} is in the log {n} times")
        });
    }
    let head = l.feed_state(&w.author).unwrap().unwrap().head_seq;
    broken.check(
        head == acked.len() as u64,
        "the feed holds each event once",
        || format!("head {head}, {} events", acked.len()),
    );
    let v = l.verify(|_, _| {}).unwrap();
    broken.check(v.is_ok(), "verify passes", || format!("{:?}", v.failure()));
    drop(l);
    broken.assert_none(test);
}

/// The refusal is `StoreError::NotStored`, as in
/// `a_full_disk_at_the_log_write`, and the retry is stored once.
#[test]
fn a_write_refused_at_the_log_and_retried_is_stored_once() {
    retry_once(
        "a_write_refused_at_the_log_and_retried_is_stored_once",
        Site::Log,
        256,
    );
}

/// A write refused while the index's disk is full (its rebuild found no
/// room) is stored once when retried. The index is applied behind the
/// answer, so the write whose index batch failed is not refused: when the
/// rebuild succeeds at once, nothing is refused at all.
#[test]
fn a_write_refused_at_the_index_and_retried_is_stored_once() {
    retry_once(
        "a_write_refused_at_the_index_and_retried_is_stored_once",
        Site::Index,
        2 << 10,
    );
}

/// sled's `apply_batch` inserts the batch's keys one by one into its
/// in-memory tree and can fail part-way: the keys already inserted stay in
/// the running `Db`, so a failed index batch marks the index broken and it
/// is rebuilt from the log. Such a batch belongs to acknowledged writes (the
/// index is applied behind the answer); a write refused meanwhile must
/// leave nothing in the index. Large batches make the failure land inside
/// a batch on the first try.
#[test]
fn a_failed_index_batch_leaves_nothing_of_it_in_the_index() {
    let test = "a_failed_index_batch_leaves_nothing_of_it_in_the_index";
    let Some(rig) = Rig::new(test, Site::Index, 2 << 10) else {
        return;
    };
    let c = charter();
    let broken = Broken::default();
    let l = open(&rig.store, &c);
    let mut w = FeedWriter::new(c.network_id(), author("BW"));
    let mut acked: Vec<EventId> = Vec::new();
    let mut refused: Vec<EventId> = Vec::new();
    let filler = fill(&rig.full, 96 << 10);
    let mut k = 0;
    let mut failures = 0;
    for _ in 0..40 {
        let (before, prev) = (w.seq, w.prev);
        let batch: Vec<SignedEvent> = (0..200)
            .map(|_| {
                k += 1;
                w.next(body(w.author.participant, k), T0 + k)
            })
            .collect();
        let ids: Vec<EventId> = batch.iter().map(|e| e.id()).collect();
        match l.append_batch(batch) {
            Ok(_) => acked.extend(ids),
            Err(e) => {
                failures += 1;
                // Ok(None) is the only right answer for a refused event.
                let (mut found, mut past_end, mut other) = (0, 0, Vec::new());
                for id in &ids {
                    match l.event_by_id(id) {
                        Ok(None) => {}
                        Ok(Some(_)) => found += 1,
                        Err(StoreError::Io { source, .. })
                            if source.kind() == std::io::ErrorKind::UnexpectedEof =>
                        {
                            past_end += 1
                        }
                        // sled keeps its I/O error until the index is rebuilt.
                        Err(e) if index_error(&e) => {}
                        Err(e) => other.push(e.to_string()),
                    }
                }
                broken.check(
                    found == 0 && past_end == 0,
                    "the index knows no event of a failed append",
                    || {
                        format!(
                            "of the 200 events of a batch refused with \"{e}\": {found} found by id, \
                             {past_end} named by the index at offsets past the end of the log \
                             (the read hits EOF)"
                        )
                    },
                );
                broken.check(
                    other.is_empty(),
                    "reads work whatever the disk's state",
                    || format!("event_by_id of a refused event: {}", other[0]),
                );
                let range = l.feed_range(&w.author, 1, usize::MAX);
                broken.check(
                    matches!(&range, Ok(v) if v.len() == acked.len())
                        || matches!(&range, Err(e) if index_error(e)),
                    "a feed's range holds the acknowledged events, and reads it",
                    || match &range {
                        Ok(v) => format!("{} events, {} acknowledged", v.len(), acked.len()),
                        Err(e) => format!("feed_range fails: {e:?}"),
                    },
                );
                refused.extend(ids);
                (w.seq, w.prev) = (before, prev);
                if failures >= 3 {
                    break;
                }
            }
        }
    }
    // The index is applied behind the answer: a full disk under it refuses
    // no write when the rebuild of the broken index (in the space its old
    // files leave) succeeds.
    assert!(
        failures > 0 || l.recovery_report().index_rebuilt.is_some(),
        "{test}: no write failed and the index never broke: the disk never filled"
    );
    std::fs::remove_file(&filler).unwrap();
    drop(l);
    let l = open(&rig.store, &c);
    let mut count: HashMap<EventId, u64> = HashMap::new();
    l.for_each_event(|id, _| *count.entry(*id).or_default() += 1)
        .unwrap();
    broken.check(
        acked.iter().all(|id| count.get(id) == Some(&1)),
        "after a reopen every acknowledged event is in the log once",
        String::new,
    );
    broken.check(
        refused.iter().all(|id| !count.contains_key(id)),
        "no event of a failed append is durable",
        String::new,
    );
    broken.check(
        refused
            .iter()
            .all(|id| matches!(l.event_by_id(id), Ok(None))),
        "after a reopen no refused event is found by its id",
        String::new,
    );
    let v = l.verify(|_, _| {}).unwrap();
    broken.check(
        v.is_ok() && v.events == acked.len() as u64,
        "verify passes",
        || {
            format!(
                "{:?}, {} events, {} acknowledged",
                v.failure(),
                v.events,
                acked.len()
            )
        },
    );
    drop(l);
    broken.assert_none(test);
}
