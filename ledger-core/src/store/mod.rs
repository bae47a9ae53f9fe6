//! The durable ledger store.
//!
//! Layout of a store directory:
//! ```text
//! DIR/LOCK        exclusive lock: one process per store
//! DIR/charter.bin the charter's canonical bytes (so a stopped store verifies offline)
//! DIR/events.log  append-only log of accepted events and fork proofs: the truth
//! DIR/index/      sled database: indexes derived from the log, rebuilt when lost
//! ```
//!
//! **Durability.** An append is acknowledged only after its log record is
//! on disk through `fdatasync`. sled 0.34's own `flush` ends in
//! `sync_file_range`, which is not a durability barrier for a power cut, so
//! sled holds only derived indexes: each index batch records the log offset it
//! covers, and on open the log past that offset is replayed into the index.
//! Concurrent appends are group-committed: whichever caller finds no sync in
//! progress becomes the leader, syncs everything written so far with one
//! `fdatasync`, indexes it in one sled batch and wakes every caller it covered.
//!
//! Readers see only durable events: the index is updated after the sync.

mod log;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::bytes::Digest;
use crate::charter::Charter;
use crate::codec::{self, MAX_CHARTER_BYTES};
use crate::error::{EventError, StoreError};
use crate::event::{verify_strict_many, AuthorityKey, EventContent, EventId, SignedEvent};
use crate::feed::FeedState;
use crate::fork::ForkProof;
use crate::governance::{GovernanceLog, Timeline};
use crate::model::{AuthorId, Date, EventBody};
use crate::tlog::merkle::{self, event_leaf_hash, Frontier, NodeReader, ProveError};

pub use log::{
    frame, LogFile, ScanEnd, HEADER_LEN, KIND_EVENT, KIND_FORK_PROOF, LOG_MAGIC, STORE_VERSION,
};
use log::{io_err, read_record, sync_dir};

/// Most events held back per author while they wait for a gap to fill.
pub const MAX_HELD_PER_AUTHOR: usize = 4096;
/// Most fork proofs stored per author (an equivocating author cannot fill the disk).
pub const MAX_FORK_PROOFS_PER_AUTHOR: usize = 1024;

// Index key prefixes (one sled tree, so every batch is atomic).
const P_EVENT: u8 = b'E'; // E author seq(BE)     -> offset(8) len(4) id(32)
const P_ID: u8 = b'I'; //    I id                 -> offset(8) len(4)
const P_CERT: u8 = b'C'; //  C n(1) number id     -> kind(1) offset(8) len(4)
const P_HEAD: u8 = b'H'; //  H author             -> FeedState (canonical)
const P_FORK: u8 = b'F'; //  F author seq id id   -> offset(8) len(4)
const P_TREE: u8 = b'T'; //  T author level index(BE) -> Merkle node hash (32)
const P_HELD: u8 = b'P'; //  P author seq id      -> encoded event
const P_GOV: u8 = b'G'; //   G id                 -> offset(8) len(4) of a governance event
const META_APPLIED: &[u8] = b"M:applied";
const META_NETWORK: &[u8] = b"M:network";

/// Store settings.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled's page cache, in bytes. sled's default (1 GiB) is far too large
    /// for a node; the index is small and the log is read with `pread`.
    pub cache_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What happened to one event offered to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Accepted and durable.
    Appended { id: EventId, seq: u64 },
    /// Already stored; stored once.
    Duplicate { id: EventId },
    /// Valid so far but ahead of a gap in its feed: held (not durable, not
    /// acknowledged) and applied once the gap is filled.
    Held { id: EventId, head: u64 },
    /// A different, validly signed event already holds this place: the two
    /// form a fork proof, now stored durably (`new` is false if it was
    /// already known). The first-seen side stays in the feed.
    Forked { proof: Box<ForkProof>, new: bool },
    /// Refused; nothing was stored.
    Rejected(EventError),
}

/// A feed's head as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedHead {
    pub author: AuthorId,
    pub seq: u64,
    pub id: Option<EventId>,
}

/// An event as stored, with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: EventId,
    pub event: SignedEvent,
}

/// Everything the ledger holds about one certificate number.
#[derive(Clone, Debug, Default)]
pub struct CertificateRecord {
    /// `CertificateIssued` events with this number (more than one is a
    /// duplicate-number finding).
    pub issued: Vec<StoredEvent>,
    pub confirmations: Vec<StoredEvent>,
    pub voids: Vec<StoredEvent>,
    pub corrections: Vec<StoredEvent>,
    pub fork_proofs: Vec<ForkProof>,
}

impl CertificateRecord {
    pub fn is_empty(&self) -> bool {
        self.issued.is_empty()
            && self.confirmations.is_empty()
            && self.voids.is_empty()
            && self.corrections.is_empty()
            && self.fork_proofs.is_empty()
    }
}

/// Counts from a full verification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub feeds: u64,
    pub fork_proofs: u64,
    pub log_bytes: u64,
    /// The first problem found, if any.
    pub failure: Option<VerifyFailure>,
}

/// The first bad thing `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyFailure {
    pub offset: u64,
    pub author: Option<AuthorId>,
    pub seq: Option<u64>,
    pub id: Option<EventId>,
    pub reason: String,
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "log offset {}", self.offset)?;
        if let (Some(a), Some(s)) = (&self.author, self.seq) {
            write!(f, ", {a} seq {s}")?;
        }
        if let Some(id) = &self.id {
            write!(f, ", event {id}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A record written to the log but not yet indexed.
// Events are the common case and live only until the next group commit, so
// they stay inline; the rarer fork proof is boxed.
#[allow(clippy::large_enum_variant)]
enum Pending {
    Event {
        offset: u64,
        len: u32,
        id: EventId,
        event: SignedEvent,
    },
    Fork {
        offset: u64,
        len: u32,
        proof: Box<ForkProof>,
    },
}

/// What the index covers: each feed's validation state and the right edge
/// of its Merkle tree.
#[derive(Default)]
struct Durable {
    feeds: HashMap<AuthorId, FeedState>,
    trees: HashMap<AuthorId, Frontier>,
}

/// Adds an event's leaf to its feed's Merkle tree and the new complete
/// nodes to the batch.
fn index_tree(
    batch: &mut sled::Batch,
    trees: &mut HashMap<AuthorId, Frontier>,
    author: &AuthorId,
    id: &EventId,
) {
    let t = trees.entry(author.clone()).or_default();
    if let Ok(nodes) = t.append(event_leaf_hash(id)) {
        let ak = author.key_bytes();
        for n in nodes {
            batch.insert(tree_key(&ak, n.level, n.index), n.hash.as_bytes().to_vec());
        }
    }
}

fn tree_key(author_key: &[u8], level: u8, index: u64) -> Vec<u8> {
    key(P_TREE, &[author_key, &[level], &index.to_be_bytes()])
}

/// A feed's stored Merkle tree, as a [`NodeReader`].
struct FeedTree<'a> {
    tree: &'a sled::Tree,
    author: Vec<u8>,
}

impl NodeReader for FeedTree<'_> {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError> {
        let v = self
            .tree
            .get(tree_key(&self.author, level, index))?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("Merkle node ({level}, {index}) is missing"))
            })?;
        let b: [u8; 32] = v
            .as_ref()
            .try_into()
            .map_err(|_| StoreError::Corrupt("Merkle node of the wrong length".into()))?;
        Ok(crate::bytes::FixedBytes(b))
    }
}

/// Records prepared under the writer's lock, written with one `write`.
struct Staging {
    /// Framed records.
    buf: Vec<u8>,
    /// (offset, record) of each, in order.
    staged: Vec<(u64, Pending)>,
    /// Feed states before this batch, to restore if the write fails.
    before: HashMap<AuthorId, FeedState>,
    /// Log offset where `buf` will start.
    base: u64,
}

impl Staging {
    fn new(base: u64) -> Staging {
        Staging {
            buf: Vec::new(),
            staged: Vec::new(),
            before: HashMap::new(),
            base,
        }
    }

    /// Frames a record; returns its offset.
    fn push(&mut self, kind: u8, payload: &[u8]) -> u64 {
        let offset = self.base + self.buf.len() as u64;
        frame(kind, payload, &mut self.buf);
        offset
    }
}

struct State {
    log: LogFile,
    /// Validation state of every feed, including written-but-unsynced events.
    feeds: HashMap<AuthorId, FeedState>,
    /// Written, not yet synced and indexed, in log order.
    queue: Vec<Pending>,
    /// Lookup of unindexed events by place, for duplicate and fork checks.
    unindexed: HashMap<(AuthorId, u64), (EventId, SignedEvent)>,
    /// Fork proof keys written but not yet indexed.
    unindexed_forks: std::collections::HashSet<Vec<u8>>,
    fork_counts: HashMap<AuthorId, usize>,
    /// Every governance event written (synced or not) and the membership
    /// timeline derived from them.
    gov: GovernanceLog,
    timeline: Arc<Timeline>,
    /// Governance events were added since `timeline` was built. The timeline
    /// is rebuilt once per write (not once per governance event: a catch-up
    /// of thousands of them would be quadratic), before an unknown author is
    /// looked up, and when read. Within one write, later events are checked
    /// against the timeline as of the write's start: a decision is then
    /// "not yet known" for them, as it may be on any store (FORMAT.md §15.6).
    timeline_dirty: bool,
}

impl State {
    /// Rebuilds the timeline if governance events were added.
    fn fresh_timeline(&mut self, charter: &Charter) -> &Arc<Timeline> {
        if self.timeline_dirty {
            self.timeline = Arc::new(Timeline::build(charter, &self.gov));
            self.timeline_dirty = false;
        }
        &self.timeline
    }
}

struct Commit {
    synced: u64,
    leader: bool,
    error: Option<String>,
}

/// The store of every feed of one network.
pub struct Ledger {
    dir: PathBuf,
    charter: Charter,
    network: Digest,
    db: sled::Db,
    tree: sled::Tree,
    log_path: PathBuf,
    reader: File,
    state: Mutex<State>,
    commit: Mutex<Commit>,
    committed: Condvar,
    /// Feed states and Merkle frontiers as of the last group commit
    /// (touched only by its leader).
    durable_feeds: Mutex<Durable>,
    _lock: File,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![prefix];
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn loc(offset: u64, len: u32) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..8].copy_from_slice(&offset.to_be_bytes());
    v[8..].copy_from_slice(&len.to_be_bytes());
    v
}

fn parse_loc(v: &[u8]) -> Result<(u64, u32), StoreError> {
    if v.len() < 12 {
        return Err(StoreError::Corrupt("index entry too short".into()));
    }
    let mut o = [0u8; 8];
    o.copy_from_slice(&v[..8]);
    let mut l = [0u8; 4];
    l.copy_from_slice(&v[8..12]);
    Ok((u64::from_be_bytes(o), u32::from_be_bytes(l)))
}

fn cert_key(number: &str, id: &Digest) -> Vec<u8> {
    let n = number.as_bytes();
    key(P_CERT, &[&[n.len() as u8], n, id.as_bytes()])
}

fn fork_key(proof: &ForkProof) -> Vec<u8> {
    let (a, b) = proof.ids();
    key(
        P_FORK,
        &[
            &proof.author().key_bytes(),
            &proof.seq().to_be_bytes(),
            a.as_bytes(),
            b.as_bytes(),
        ],
    )
}

impl Ledger {
    /// Opens the store in `dir`, creating it if it does not exist. Refuses a
    /// store of another network or format version, and a store that another
    /// process holds open.
    pub fn open(dir: &Path, charter: &Charter, opts: StoreOptions) -> Result<Ledger, StoreError> {
        charter.validate().map_err(StoreError::Charter)?;
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(dir.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path, e)),
        }
        let network = charter.network_id();
        let log_path = dir.join("events.log");
        let charter_path = dir.join("charter.bin");
        let log = if log_path.exists() {
            let (log, found) = LogFile::open(&log_path)?;
            if found != network {
                return Err(StoreError::WrongNetwork {
                    expected: network,
                    found,
                });
            }
            log
        } else {
            write_atomic(&charter_path, &charter.encode())?;
            LogFile::create(&log_path, &network)?
        };
        if !charter_path.exists() {
            write_atomic(&charter_path, &charter.encode())?;
        }

        let index_path = dir.join("index");
        let db = match open_sled(&index_path, &opts) {
            Ok(db) => db,
            Err(_) => {
                // The index is derived data: rebuild it from the log.
                let _ = std::fs::remove_dir_all(&index_path);
                open_sled(&index_path, &opts)?
            }
        };
        let tree = db.open_tree("ledger")?;
        let mut applied = read_applied(&tree)?;
        let consistent = match tree.get(META_NETWORK)? {
            Some(n) => n.as_ref() == network.as_bytes() && applied <= log.end,
            None => applied == 0,
        };
        if !consistent {
            tree.clear()?;
            applied = 0;
        }
        if applied == 0 {
            tree.insert(META_NETWORK, network.as_bytes())?;
            applied = HEADER_LEN;
        }

        // Feed states: from the index (charter authors and admitted ones),
        // else genesis.
        let mut feeds = HashMap::new();
        for item in tree.scan_prefix([P_HEAD]) {
            let (k, v) = item?;
            let author = author_from_key(&k[1..])
                .ok_or_else(|| StoreError::Corrupt("feed head key does not decode".into()))?;
            let st = codec::decode::<FeedState>(&v, MAX_CHARTER_BYTES)
                .map_err(|e| StoreError::Corrupt(format!("feed head of {author}: {e}")))?;
            feeds.insert(author, st);
        }
        for (author, entry) in charter.authors() {
            feeds
                .entry(author.clone())
                .or_insert_with(|| FeedState::genesis(author, entry));
        }
        let reader = log.reader()?;
        // Governance events as of the index; the replay adds later ones.
        let mut gov = GovernanceLog::new();
        for item in tree.scan_prefix([P_GOV]) {
            let (k, v) = item?;
            let (offset, len) = parse_loc(&v)?;
            let (kind, payload) = read_record(&reader, &log_path, offset, len)?;
            if kind != KIND_EVENT {
                return Err(StoreError::Corrupt(
                    "governance index points at a non-event record".into(),
                ));
            }
            let ev = SignedEvent::decode(&payload)
                .map_err(|e| StoreError::Corrupt(format!("governance event: {e}")))?;
            let id = ev.id();
            if k[1..] != *id.as_bytes() {
                return Err(StoreError::Corrupt(
                    "governance index entry names another event".into(),
                ));
            }
            gov.insert(id, &ev);
        }
        let timeline = Arc::new(Timeline::build(charter, &gov));
        let mut fork_counts: HashMap<AuthorId, usize> = HashMap::new();
        for item in tree.scan_prefix([P_FORK]) {
            let (k, _) = item?;
            if let Some(author) = author_from_key(&k[1..]) {
                *fork_counts.entry(author).or_default() += 1;
            }
        }

        let ledger_state = State {
            log,
            feeds,
            queue: Vec::new(),
            unindexed: HashMap::new(),
            unindexed_forks: Default::default(),
            fork_counts,
            gov,
            timeline,
            timeline_dirty: false,
        };
        let ledger = Ledger {
            dir: dir.to_owned(),
            charter: charter.clone(),
            network,
            db,
            tree,
            log_path,
            reader,
            state: Mutex::new(ledger_state),
            commit: Mutex::new(Commit {
                synced: applied,
                leader: false,
                error: None,
            }),
            committed: Condvar::new(),
            durable_feeds: Mutex::new(Durable::default()),
            _lock: lock_file,
        };
        ledger.recover(applied)?;
        Ok(ledger)
    }

    /// Replays the log from `applied` into the index, cutting a torn tail.
    fn recover(&self, applied: u64) -> Result<(), StoreError> {
        let mut st = lock(&self.state);
        let mut batch = sled::Batch::default();
        // Merkle frontiers as of the index; rebuilt from the indexed ids if
        // missing (e.g. after an index rebuild that was interrupted).
        let mut trees: HashMap<AuthorId, Frontier> = HashMap::new();
        for (author, f) in st.feeds.iter() {
            let reader = FeedTree {
                tree: &self.tree,
                author: author.key_bytes(),
            };
            let frontier = match Frontier::load(&reader, f.head_seq) {
                Ok(fr) => fr,
                Err(_) => self.rebuild_tree(author, f.head_seq, &mut batch)?,
            };
            trees.insert(author.clone(), frontier);
        }
        let mut touched: Vec<AuthorId> = Vec::new();
        let mut records = 0u64;
        let end = {
            let State {
                log,
                feeds,
                gov,
                timeline,
                timeline_dirty,
                ..
            } = &mut *st;
            log.scan(applied, |rec| {
                records += 1;
                let corrupt = |reason: String| StoreError::CorruptLog {
                    offset: rec.offset,
                    reason,
                };
                match rec.kind {
                    KIND_EVENT => {
                        let ev = SignedEvent::decode(&rec.payload)
                            .map_err(|e| corrupt(format!("event record does not decode: {e}")))?;
                        let id = ev.id();
                        if !feeds.contains_key(ev.author()) {
                            if *timeline_dirty {
                                *timeline = Arc::new(Timeline::build(&self.charter, gov));
                                *timeline_dirty = false;
                            }
                            let entry = timeline.genesis_entry(ev.author()).ok_or_else(|| {
                                corrupt(format!("event of unknown author {}", ev.author()))
                            })?;
                            feeds.insert(
                                ev.author().clone(),
                                FeedState::genesis(ev.author().clone(), entry),
                            );
                        }
                        let feed = feeds.get_mut(ev.author()).ok_or_else(|| {
                            corrupt(format!("event of unknown author {}", ev.author()))
                        })?;
                        feed.check_next_unsigned(&self.network, &ev)
                            .map_err(|e| corrupt(format!("logged event does not chain: {e}")))?;
                        feed.advance(&ev, id);
                        if gov.insert(id, &ev) {
                            *timeline_dirty = true;
                        }
                        index_tree(&mut batch, &mut trees, ev.author(), &id);
                        index_event(
                            &mut batch,
                            rec.offset,
                            rec.payload.len() as u32 + 1,
                            &id,
                            &ev,
                        );
                        touched.push(ev.author().clone());
                    }
                    KIND_FORK_PROOF => {
                        let proof = ForkProof::decode(&rec.payload).map_err(|e| {
                            corrupt(format!("fork proof record does not decode: {e}"))
                        })?;
                        index_fork(&mut batch, rec.offset, rec.payload.len() as u32 + 1, &proof);
                    }
                    k => {
                        return Err(corrupt(format!("unknown record kind {k}")));
                    }
                }
                Ok(())
            })?
        };
        let end = match end {
            ScanEnd::Clean(end) => end,
            ScanEnd::TornTail { offset, reason } => {
                // Past the index's watermark only writes that may never have
                // been synced can be damaged; the cut bytes are kept aside.
                st.log.truncate(offset)?;
                let _ = reason;
                offset
            }
        };
        st.log.end = end;
        st.fresh_timeline(&self.charter);
        touched.sort();
        touched.dedup();
        for a in &touched {
            batch.insert(key(P_HEAD, &[&a.key_bytes()]), codec::encode(&st.feeds[a]));
        }
        if records > 0 {
            batch.insert(META_APPLIED, &end.to_be_bytes());
        }
        self.tree.apply_batch(batch)?;
        {
            let mut d = lock(&self.durable_feeds);
            d.feeds = st.feeds.clone();
            d.trees = trees;
        }
        drop(st);
        lock(&self.commit).synced = end;
        Ok(())
    }

    pub fn charter(&self) -> &Charter {
        &self.charter
    }

    pub fn network_id(&self) -> Digest {
        self.network
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Offers one event. See [`Ledger::append_batch`].
    pub fn append(&self, event: SignedEvent) -> Result<AppendOutcome, StoreError> {
        Ok(self.append_batch(vec![event])?.remove(0))
    }

    /// Decodes untrusted bytes and offers the event.
    pub fn append_bytes(&self, bytes: &[u8]) -> Result<AppendOutcome, StoreError> {
        match SignedEvent::decode(bytes) {
            Ok(ev) => self.append(ev),
            Err(e) => Ok(AppendOutcome::Rejected(EventError::Decode(e))),
        }
    }

    /// Offers many events: each is validated, the accepted ones are written
    /// with one log write and made durable with one group commit. Returns
    /// one outcome per event, in order, after everything accepted is durable.
    pub fn append_batch(&self, events: Vec<SignedEvent>) -> Result<Vec<AppendOutcome>, StoreError> {
        self.check_poisoned()?;
        let mut outcomes = Vec::with_capacity(events.len());
        // Check signatures on every core before taking the writer's lock.
        let pre = self.preverify(&events);
        let target;
        {
            let mut st = lock(&self.state);
            st.fresh_timeline(&self.charter);
            let mut stage = Staging::new(st.log.end);
            for (ev, pre) in events.into_iter().zip(pre) {
                match self.offer(&mut st, ev, pre, &mut stage, true) {
                    Ok(o) => outcomes.push(o),
                    Err(e) => {
                        // Nothing of this batch is written: undo its staging.
                        self.rollback(&mut st, &stage.staged, stage.before);
                        return Err(e);
                    }
                }
            }
            target = self.write_staged(&mut st, stage)?;
        }
        self.wait_durable(target)?;
        Ok(outcomes)
    }

    /// Signs `bodies` as the next events of `author`'s feed with `key` and
    /// appends them durably. The ids of the whole run are computed before any
    /// signature (ids do not cover signatures), so large runs are signed on
    /// every core. Returns (id, seq) of each, in order.
    pub fn append_own(
        &self,
        key: &AuthorityKey,
        author: &AuthorId,
        bodies: Vec<EventBody>,
        timestamp_ms: u64,
    ) -> Result<Vec<(EventId, u64)>, StoreError> {
        self.check_poisoned()?;
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let target;
        let mut result = Vec::with_capacity(bodies.len());
        {
            let mut st = lock(&self.state);
            st.fresh_timeline(&self.charter);
            self.ensure_feed(&mut st, author);
            let feed = st
                .feeds
                .get(author)
                .ok_or_else(|| EventError::UnknownAuthor(author.clone()))?
                .clone();
            let mut contents = Vec::with_capacity(bodies.len());
            let mut shadow = feed.clone();
            for body in bodies {
                let c = EventContent {
                    version: crate::codec::FORMAT_VERSION,
                    network: self.network,
                    author: author.clone(),
                    seq: shadow.head_seq + 1,
                    prev: shadow.head_id,
                    timestamp_ms: timestamp_ms.max(shadow.last_timestamp_ms),
                    body,
                };
                let unsigned = SignedEvent {
                    content: c,
                    signature: crate::bytes::FixedBytes([0u8; 64]),
                };
                shadow.check_next_unsigned(&self.network, &unsigned)?;
                member_check(&st.timeline, &unsigned)?;
                let expected = shadow.signing_key_for(&unsigned)?;
                if expected != key.verifying_key() {
                    return Err(EventError::BadSignature {
                        author: author.clone(),
                        seq: unsigned.content.seq,
                    }
                    .into());
                }
                let id = unsigned.id();
                shadow.advance(&unsigned, id);
                contents.push(unsigned.content);
            }
            let signed = sign_parallel(key, contents);
            let mut stage = Staging::new(st.log.end);
            stage.before.insert(author.clone(), feed);
            for ev in signed {
                let id = ev.id();
                result.push((id, ev.content.seq));
                // Visible to duplicate and fork checks until indexed.
                self.stage_event(&mut st, ev, id, &mut stage);
            }
            target = self.write_staged(&mut st, stage)?;
        }
        self.wait_durable(target)?;
        Ok(result)
    }

    /// Verifies, in parallel and without the writer's lock, the signatures
    /// of events that extend their feeds as things stand. Returns, per event,
    /// the key its signature verified with (or `None`: not checked here).
    fn preverify(&self, events: &[SignedEvent]) -> Vec<Option<ed25519_dalek::VerifyingKey>> {
        let mut out = vec![None; events.len()];
        if events.len() < 32 {
            return out;
        }
        let mut shadow: HashMap<AuthorId, FeedState> = {
            let st = lock(&self.state);
            let mut m = HashMap::new();
            for ev in events {
                if !m.contains_key(ev.author()) {
                    if let Some(f) = st.feeds.get(ev.author()) {
                        m.insert(ev.author().clone(), f.clone());
                    }
                }
            }
            m
        };
        let mut items = Vec::new();
        let mut idx = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            let Some(f) = shadow.get_mut(ev.author()) else {
                continue;
            };
            if ev.content.seq == f.head_seq + 1 && ev.content.prev == f.head_id {
                if let Ok(k) = f.signing_key_for(ev) {
                    items.push((ev, k));
                    idx.push(i);
                }
                f.advance(ev, ev.id());
            }
        }
        let verdicts = verify_strict_many(&items);
        for ((i, ok), (_, k)) in idx.into_iter().zip(verdicts).zip(items) {
            if ok {
                out[i] = Some(k);
            }
        }
        out
    }

    /// Makes sure `author` has a feed: charter authors always do; an author
    /// admitted by an adopted governance decision gets its genesis state on
    /// first use. Returns false for an author nobody admitted.
    fn ensure_feed(&self, st: &mut State, author: &AuthorId) -> bool {
        if st.feeds.contains_key(author) {
            return true;
        }
        let Some(entry) = st.fresh_timeline(&self.charter).genesis_entry(author) else {
            return false;
        };
        let genesis = FeedState::genesis(author.clone(), entry);
        lock(&self.durable_feeds)
            .feeds
            .entry(author.clone())
            .or_insert_with(|| genesis.clone());
        st.feeds.insert(author.clone(), genesis);
        true
    }

    /// The membership timeline derived from every governance event written
    /// so far (see [`crate::governance`]).
    pub fn timeline(&self) -> Arc<Timeline> {
        lock(&self.state).fresh_timeline(&self.charter).clone()
    }

    /// Every author with a feed here or admitted to have one, in order.
    pub fn authors(&self) -> Vec<AuthorId> {
        let mut st = lock(&self.state);
        let timeline = st.fresh_timeline(&self.charter).clone();
        let mut v: Vec<AuthorId> = st
            .feeds
            .keys()
            .cloned()
            .chain(timeline.authors().map(|(a, _)| a.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The genesis entry of an author's feed: from the charter, or from the
    /// governance decision that admitted it.
    pub fn author_entry(&self, author: &AuthorId) -> Option<crate::charter::AuthorityEntry> {
        if let Some(e) = self.charter.authority(author) {
            return Some(e.clone());
        }
        lock(&self.state)
            .fresh_timeline(&self.charter)
            .genesis_entry(author)
            .cloned()
    }

    fn check_poisoned(&self) -> Result<(), StoreError> {
        match &lock(&self.commit).error {
            Some(e) => Err(StoreError::Poisoned(e.clone())),
            None => Ok(()),
        }
    }

    /// Validates one event against the in-memory state and stages its record.
    fn offer(
        &self,
        st: &mut State,
        ev: SignedEvent,
        pre: Option<ed25519_dalek::VerifyingKey>,
        stage: &mut Staging,
        release: bool,
    ) -> Result<AppendOutcome, StoreError> {
        let c = &ev.content;
        let seq = c.seq;
        if c.version != crate::codec::FORMAT_VERSION {
            return Ok(AppendOutcome::Rejected(EventError::Decode(
                crate::error::DecodeError::UnsupportedVersion {
                    found: c.version,
                    supported: crate::codec::FORMAT_VERSION,
                },
            )));
        }
        if c.network != self.network {
            return Ok(AppendOutcome::Rejected(EventError::WrongNetwork {
                expected: self.network,
                found: c.network,
            }));
        }
        let author = c.author.clone();
        if !self.ensure_feed(st, &author) {
            return Ok(AppendOutcome::Rejected(EventError::UnknownAuthor(author)));
        }
        let Some(feed) = st.feeds.get(&author) else {
            return Ok(AppendOutcome::Rejected(EventError::UnknownAuthor(author)));
        };
        let id = ev.id();
        if c.seq == 0 {
            return Ok(AppendOutcome::Rejected(EventError::SeqZero));
        }
        if c.seq <= feed.head_seq {
            // Already have this place: the same event, or a fork.
            let existing = self.event_at_unlocked(st, &author, c.seq)?;
            let Some(existing) = existing else {
                return Err(StoreError::Corrupt(format!(
                    "{author} seq {} is missing below the head",
                    c.seq
                )));
            };
            if existing.id == id {
                return Ok(AppendOutcome::Duplicate { id });
            }
            if let Err(e) = feed.check_signature(&ev) {
                return Ok(AppendOutcome::Rejected(e));
            }
            let evidence = self.key_evidence(st, &author, c.seq)?;
            let proof = ForkProof::new(self.network, existing.event, ev, evidence);
            let new = self.stage_fork(st, &proof, stage);
            return Ok(AppendOutcome::Forked {
                proof: Box::new(proof),
                new,
            });
        }
        if c.seq > feed.head_seq + 1 {
            return self.hold(&author, c.seq, &id, &ev, feed.head_seq);
        }
        let checked = match pre {
            // Signature already verified (strictly) with the key this feed requires.
            Some(k) if feed.signing_key_for(&ev).ok() == Some(k) => {
                feed.check_next_unsigned(&self.network, &ev)
            }
            _ => feed.check_next(&self.network, &ev),
        };
        if let Err(e) = checked {
            return Ok(AppendOutcome::Rejected(e));
        }
        if let Err(e) = member_check(&st.timeline, &ev) {
            return Ok(AppendOutcome::Rejected(e));
        }
        stage
            .before
            .entry(author.clone())
            .or_insert_with(|| feed.clone());
        self.stage_event(st, ev, id, stage);
        if release {
            // Apply events that were waiting for this one.
            self.release_held(st, &author, stage)?;
        }
        Ok(AppendOutcome::Appended { id, seq })
    }

    fn stage_event(&self, st: &mut State, ev: SignedEvent, id: EventId, stage: &mut Staging) {
        let payload = ev.encode();
        let offset = stage.push(KIND_EVENT, &payload);
        if let Some(f) = st.feeds.get_mut(ev.author()) {
            f.advance(&ev, id);
        }
        if st.gov.insert(id, &ev) {
            st.timeline_dirty = true;
        }
        st.unindexed
            .insert((ev.author().clone(), ev.content.seq), (id, ev.clone()));
        stage.staged.push((
            offset,
            Pending::Event {
                offset,
                len: payload.len() as u32 + 1,
                id,
                event: ev,
            },
        ));
    }

    fn stage_fork(&self, st: &mut State, proof: &ForkProof, stage: &mut Staging) -> bool {
        let k = fork_key(proof);
        let count = st.fork_counts.get(proof.author()).copied().unwrap_or(0);
        if st.unindexed_forks.contains(&k)
            || self.tree.contains_key(&k).unwrap_or(false)
            || count >= MAX_FORK_PROOFS_PER_AUTHOR
        {
            return false;
        }
        let payload = proof.encode();
        let offset = stage.push(KIND_FORK_PROOF, &payload);
        st.unindexed_forks.insert(k);
        *st.fork_counts.entry(proof.author().clone()).or_default() += 1;
        stage.staged.push((
            offset,
            Pending::Fork {
                offset,
                len: payload.len() as u32 + 1,
                proof: Box::new(proof.clone()),
            },
        ));
        true
    }

    fn hold(
        &self,
        author: &AuthorId,
        seq: u64,
        id: &EventId,
        ev: &SignedEvent,
        head: u64,
    ) -> Result<AppendOutcome, StoreError> {
        let prefix = key(P_HELD, &[&author.key_bytes()]);
        let held = self
            .tree
            .scan_prefix(&prefix)
            .take(MAX_HELD_PER_AUTHOR)
            .count();
        if held >= MAX_HELD_PER_AUTHOR {
            return Ok(AppendOutcome::Rejected(EventError::Gap {
                author: author.clone(),
                seq,
                head,
            }));
        }
        self.tree.insert(
            key(
                P_HELD,
                &[&author.key_bytes(), &seq.to_be_bytes(), id.as_bytes()],
            ),
            ev.encode(),
        )?;
        Ok(AppendOutcome::Held { id: *id, head })
    }

    /// Moves held events that now fit onto the feed.
    fn release_held(
        &self,
        st: &mut State,
        author: &AuthorId,
        stage: &mut Staging,
    ) -> Result<(), StoreError> {
        loop {
            let next = st.feeds[author].head_seq + 1;
            let prefix = key(P_HELD, &[&author.key_bytes(), &next.to_be_bytes()]);
            let mut candidates = Vec::new();
            for item in self.tree.scan_prefix(&prefix) {
                let (k, v) = item?;
                self.tree.remove(&k)?;
                if let Ok(ev) = SignedEvent::decode(&v) {
                    candidates.push(ev);
                }
            }
            // Drop held events that the head has passed.
            let old = key(P_HELD, &[&author.key_bytes()]);
            for item in self.tree.range(old.clone()..prefix.clone()) {
                let (k, _) = item?;
                self.tree.remove(&k)?;
            }
            if candidates.is_empty() {
                return Ok(());
            }
            let mut progressed = false;
            for ev in candidates {
                let o = self.offer(st, ev, None, stage, false)?;
                if matches!(o, AppendOutcome::Appended { .. }) {
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    /// The rotations of `author` before `seq`, for a fork proof.
    fn key_evidence(
        &self,
        st: &State,
        author: &AuthorId,
        seq: u64,
    ) -> Result<Vec<SignedEvent>, StoreError> {
        let feed = &st.feeds[author];
        let mut out = Vec::new();
        for epoch in feed.keys.iter().skip(1) {
            let rot_seq = epoch.from_seq - 1;
            if rot_seq >= seq {
                break;
            }
            if let Some(e) = self.event_at_unlocked(st, author, rot_seq)? {
                out.push(e.event);
            }
        }
        Ok(out)
    }

    /// Writes staged records to the log; on failure restores the feed states.
    fn write_staged(&self, st: &mut State, stage: Staging) -> Result<u64, StoreError> {
        let Staging {
            buf,
            staged,
            before,
            ..
        } = stage;
        if buf.is_empty() {
            return Ok(0);
        }
        if let Err(e) = st.log.append(&buf) {
            self.rollback(st, &staged, before);
            return Err(e);
        }
        st.queue.extend(staged.into_iter().map(|(_, p)| p));
        Ok(st.log.end)
    }

    /// Undoes what staging did to the in-memory state (feed heads, unindexed
    /// lookups, fork counts) when the staged records will not be written.
    fn rollback(
        &self,
        st: &mut State,
        staged: &[(u64, Pending)],
        before: HashMap<AuthorId, FeedState>,
    ) {
        for (a, f) in before {
            st.feeds.insert(a, f);
        }
        let mut gov_changed = false;
        for (_, p) in staged {
            match p {
                Pending::Event { event, id, .. } => {
                    st.unindexed
                        .remove(&(event.author().clone(), event.content.seq));
                    if event.content.body.is_governance() {
                        st.gov.remove(id);
                        gov_changed = true;
                    }
                }
                Pending::Fork { proof, .. } => {
                    st.unindexed_forks.remove(&fork_key(proof));
                    if let Some(c) = st.fork_counts.get_mut(proof.author()) {
                        *c = c.saturating_sub(1);
                    }
                }
            }
        }
        if gov_changed {
            st.timeline_dirty = true;
        }
    }

    /// Blocks until everything up to log offset `target` is durable and
    /// indexed, leading a group commit if no one else is.
    fn wait_durable(&self, target: u64) -> Result<(), StoreError> {
        let mut c = lock(&self.commit);
        loop {
            if let Some(e) = &c.error {
                return Err(StoreError::Poisoned(e.clone()));
            }
            if c.synced >= target {
                return Ok(());
            }
            if !c.leader {
                c.leader = true;
                drop(c);
                let res = self.commit_once();
                c = lock(&self.commit);
                c.leader = false;
                match res {
                    Ok(end) => c.synced = c.synced.max(end),
                    Err(e) => c.error = Some(e.to_string()),
                }
                self.committed.notify_all();
            } else {
                c = self.committed.wait(c).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    /// One group commit: fdatasync the log, then index what it covered.
    fn commit_once(&self) -> Result<u64, StoreError> {
        let (end, queue) = {
            let mut st = lock(&self.state);
            (st.log.end, std::mem::take(&mut st.queue))
        };
        self.reader
            .sync_data()
            .map_err(|e| io_err(&self.log_path, e))?;
        let mut batch = sled::Batch::default();
        let mut heads: BTreeMap<AuthorId, ()> = BTreeMap::new();
        for p in &queue {
            match p {
                Pending::Event {
                    offset,
                    len,
                    id,
                    event,
                } => {
                    index_event(&mut batch, *offset, *len, id, event);
                    heads.insert(event.author().clone(), ());
                }
                Pending::Fork { offset, len, proof } => {
                    index_fork(&mut batch, *offset, *len, proof)
                }
            }
        }
        {
            // Heads exactly as of `end` (the live state may be further on).
            let mut guard = lock(&self.durable_feeds);
            let durable = &mut *guard;
            for p in &queue {
                if let Pending::Event { event, id, .. } = p {
                    if let Some(f) = durable.feeds.get_mut(event.author()) {
                        f.advance(event, *id);
                    }
                    index_tree(&mut batch, &mut durable.trees, event.author(), id);
                }
            }
            for a in heads.keys() {
                if let Some(f) = durable.feeds.get(a) {
                    batch.insert(key(P_HEAD, &[&a.key_bytes()]), codec::encode(f));
                }
            }
        }
        batch.insert(META_APPLIED, &end.to_be_bytes());
        self.tree.apply_batch(batch)?;
        let mut st = lock(&self.state);
        for p in &queue {
            match p {
                Pending::Event { event, .. } => {
                    st.unindexed
                        .remove(&(event.author().clone(), event.content.seq));
                }
                Pending::Fork { proof, .. } => {
                    st.unindexed_forks.remove(&fork_key(proof));
                }
            }
        }
        Ok(end)
    }

    /// Makes sled write its own files out (not needed for durability of
    /// events, which the log provides; shortens replay after a crash).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    // ----------------------------------------------------------------- reads

    fn event_at_unlocked(
        &self,
        st: &State,
        author: &AuthorId,
        seq: u64,
    ) -> Result<Option<StoredEvent>, StoreError> {
        if let Some((id, ev)) = st.unindexed.get(&(author.clone(), seq)) {
            return Ok(Some(StoredEvent {
                id: *id,
                event: ev.clone(),
            }));
        }
        self.event_at(author, seq)
    }

    fn read_event(&self, offset: u64, len: u32) -> Result<SignedEvent, StoreError> {
        let (kind, payload) = read_record(&self.reader, &self.log_path, offset, len)?;
        if kind != KIND_EVENT {
            return Err(StoreError::CorruptLog {
                offset,
                reason: format!("index points at a record of kind {kind}, not an event"),
            });
        }
        SignedEvent::decode(&payload).map_err(|e| StoreError::CorruptLog {
            offset,
            reason: e.to_string(),
        })
    }

    /// The event at `seq` of `author`'s feed.
    pub fn event_at(&self, author: &AuthorId, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        let Some(v) = self
            .tree
            .get(key(P_EVENT, &[&author.key_bytes(), &seq.to_be_bytes()]))?
        else {
            return Ok(None);
        };
        let (offset, len) = parse_loc(&v)?;
        let event = self.read_event(offset, len)?;
        let mut id = [0u8; 32];
        id.copy_from_slice(
            v.get(12..44)
                .ok_or_else(|| StoreError::Corrupt("short event index".into()))?,
        );
        Ok(Some(StoredEvent {
            id: crate::bytes::FixedBytes(id),
            event,
        }))
    }

    /// The event with this id.
    pub fn event_by_id(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        let Some(v) = self.tree.get(key(P_ID, &[id.as_bytes()]))? else {
            return Ok(None);
        };
        let (offset, len) = parse_loc(&v)?;
        Ok(Some(StoredEvent {
            id: *id,
            event: self.read_event(offset, len)?,
        }))
    }

    /// Up to `max` events of `author` from `from_seq` on, in order.
    pub fn feed_range(
        &self,
        author: &AuthorId,
        from_seq: u64,
        max: usize,
    ) -> Result<Vec<SignedEvent>, StoreError> {
        Ok(self
            .feed_range_raw(author, from_seq, max)?
            .into_iter()
            .filter_map(|b| SignedEvent::decode(&b).ok())
            .collect())
    }

    /// Up to `max` encoded events of `author` from `from_seq` on, in order,
    /// checksum-checked, without decoding (for serving peers).
    pub fn feed_range_raw(
        &self,
        author: &AuthorId,
        from_seq: u64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let ak = author.key_bytes();
        let start = key(P_EVENT, &[&ak, &from_seq.max(1).to_be_bytes()]);
        let end = key(P_EVENT, &[&ak, &u64::MAX.to_be_bytes()]);
        let mut out = Vec::new();
        for item in self.tree.range(start..=end).take(max) {
            let (_, v) = item?;
            let (offset, len) = parse_loc(&v)?;
            let (kind, payload) = read_record(&self.reader, &self.log_path, offset, len)?;
            if kind != KIND_EVENT {
                return Err(StoreError::CorruptLog {
                    offset,
                    reason: "index points at a non-event record".into(),
                });
            }
            out.push(payload);
        }
        Ok(out)
    }

    /// Every feed's durable head, in author order (empty feeds at seq 0).
    pub fn heads(&self) -> Result<Vec<FeedHead>, StoreError> {
        let mut out = Vec::new();
        for author in self.authors() {
            let (seq, id) = match self.tree.get(key(P_HEAD, &[&author.key_bytes()]))? {
                Some(v) => {
                    let f: FeedState = codec::decode(&v, MAX_CHARTER_BYTES)
                        .map_err(|e| StoreError::Corrupt(format!("feed head of {author}: {e}")))?;
                    (f.head_seq, f.head_id)
                }
                None => (0, None),
            };
            out.push(FeedHead { author, seq, id });
        }
        Ok(out)
    }

    /// The validation state of one feed as durably stored.
    pub fn feed_state(&self, author: &AuthorId) -> Result<Option<FeedState>, StoreError> {
        match self.tree.get(key(P_HEAD, &[&author.key_bytes()]))? {
            Some(v) => Ok(Some(
                codec::decode(&v, MAX_CHARTER_BYTES)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
            None => Ok(self
                .author_entry(author)
                .map(|entry| FeedState::genesis(author.clone(), &entry))),
        }
    }

    /// Recomputes a feed's Merkle nodes from its indexed event ids (for an
    /// index written before the tree existed, or a damaged one).
    fn rebuild_tree(
        &self,
        author: &AuthorId,
        size: u64,
        batch: &mut sled::Batch,
    ) -> Result<Frontier, StoreError> {
        let mut trees = HashMap::new();
        let ak = author.key_bytes();
        let start = key(P_EVENT, &[&ak, &1u64.to_be_bytes()]);
        let end = key(P_EVENT, &[&ak, &size.to_be_bytes()]);
        let mut n = 0u64;
        for item in self.tree.range(start..=end) {
            let (_, v) = item?;
            let id: [u8; 32] = v
                .get(12..44)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("short event index".into()))?;
            index_tree(batch, &mut trees, author, &crate::bytes::FixedBytes(id));
            n += 1;
        }
        if n != size {
            return Err(StoreError::Corrupt(format!(
                "{author}: the index holds {n} events but the head is at {size}"
            )));
        }
        Ok(trees.remove(author).unwrap_or_default())
    }

    /// The size of a feed's Merkle tree that can be proven: its durable head.
    pub fn tree_size(&self, author: &AuthorId) -> Result<u64, StoreError> {
        Ok(self.feed_state(author)?.map_or(0, |f| f.head_seq))
    }

    fn feed_tree(&self, author: &AuthorId, size: u64) -> Result<FeedTree<'_>, StoreError> {
        let have = self.tree_size(author)?;
        if size > have {
            return Err(StoreError::OutOfRange(format!(
                "{author}'s feed holds {have} events here, not {size}"
            )));
        }
        Ok(FeedTree {
            tree: &self.tree,
            author: author.key_bytes(),
        })
    }

    /// The RFC 6962 root of the first `size` events of a feed (leaves are
    /// the event ids in sequence order), from O(log n) stored nodes.
    pub fn tree_root(&self, author: &AuthorId, size: u64) -> Result<Digest, StoreError> {
        merkle::root_at(&self.feed_tree(author, size)?, size)
    }

    /// The inclusion proof of the event at `seq` (leaf `seq - 1`) in the
    /// tree of the first `size` events of its feed.
    pub fn inclusion_proof(
        &self,
        author: &AuthorId,
        seq: u64,
        size: u64,
    ) -> Result<Vec<Digest>, StoreError> {
        if seq == 0 {
            return Err(StoreError::OutOfRange("sequence numbers start at 1".into()));
        }
        merkle::inclusion_proof(&self.feed_tree(author, size)?, seq - 1, size).map_err(prove_err)
    }

    /// The consistency proof between two sizes of a feed's tree (RFC 9162).
    pub fn consistency_proof(
        &self,
        author: &AuthorId,
        old: u64,
        new: u64,
    ) -> Result<Vec<Digest>, StoreError> {
        merkle::consistency_proof(&self.feed_tree(author, new)?, old, new).map_err(prove_err)
    }

    /// Total number of durable events.
    pub fn event_count(&self) -> Result<u64, StoreError> {
        Ok(self.heads()?.iter().map(|h| h.seq).sum())
    }

    /// Everything known about a certificate number.
    pub fn certificate(&self, number: &str) -> Result<CertificateRecord, StoreError> {
        let n = number.as_bytes();
        if n.len() > 255 {
            return Ok(CertificateRecord::default());
        }
        let prefix = key(P_CERT, &[&[n.len() as u8], n]);
        let mut rec = CertificateRecord::default();
        for item in self.tree.scan_prefix(prefix) {
            let (_, v) = item?;
            let kind = v.first().copied().unwrap_or(0);
            let (offset, len) = parse_loc(&v[1..])?;
            if kind == KIND_FORK_PROOF {
                rec.fork_proofs.push(self.read_fork(offset, len)?);
                continue;
            }
            let event = self.read_event(offset, len)?;
            let stored = StoredEvent {
                id: event.id(),
                event,
            };
            match &stored.event.content.body {
                EventBody::CertificateIssued(_) => rec.issued.push(stored),
                EventBody::ImportConfirmed(_) => rec.confirmations.push(stored),
                EventBody::CertificateVoided { .. } => rec.voids.push(stored),
                EventBody::CertificateCorrected { .. } => rec.corrections.push(stored),
                _ => {}
            }
        }
        let by_time = |a: &StoredEvent, b: &StoredEvent| {
            (a.event.content.timestamp_ms, a.id).cmp(&(b.event.content.timestamp_ms, b.id))
        };
        rec.issued.sort_by(by_time);
        rec.confirmations.sort_by(by_time);
        rec.voids.sort_by(by_time);
        rec.corrections.sort_by(by_time);
        Ok(rec)
    }

    fn read_fork(&self, offset: u64, len: u32) -> Result<ForkProof, StoreError> {
        let (kind, payload) = read_record(&self.reader, &self.log_path, offset, len)?;
        if kind != KIND_FORK_PROOF {
            return Err(StoreError::CorruptLog {
                offset,
                reason: "index points at a non-fork record".into(),
            });
        }
        ForkProof::decode(&payload).map_err(|e| StoreError::CorruptLog {
            offset,
            reason: e.to_string(),
        })
    }

    /// Every stored fork proof.
    pub fn fork_proofs(&self) -> Result<Vec<ForkProof>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix([P_FORK]) {
            let (_, v) = item?;
            let (offset, len) = parse_loc(&v)?;
            out.push(self.read_fork(offset, len)?);
        }
        Ok(out)
    }

    /// Stores a fork proof received from elsewhere after verifying it
    /// against the charter. Returns whether it was new.
    pub fn add_fork_proof(&self, proof: ForkProof) -> Result<bool, StoreError> {
        let admitted = self.author_entry(proof.author());
        proof
            .verify_with(&self.charter, admitted.as_ref())
            .map_err(|e| {
                StoreError::Event(EventError::Decode(crate::error::DecodeError::Malformed(
                    e.to_string(),
                )))
            })?;
        self.check_poisoned()?;
        let (new, target) = {
            let mut st = lock(&self.state);
            let mut stage = Staging::new(st.log.end);
            let new = self.stage_fork(&mut st, &proof, &mut stage);
            (new, self.write_staged(&mut st, stage)?)
        };
        self.wait_durable(target)?;
        Ok(new)
    }

    /// Every event of the ledger in log (arrival) order, decoded. For audits
    /// and statistics over the whole replica.
    pub fn for_each_event(
        &self,
        mut f: impl FnMut(&EventId, &SignedEvent),
    ) -> Result<(), StoreError> {
        let synced = lock(&self.commit).synced;
        let log = LogFile::open(&self.log_path)?.0;
        log.scan(HEADER_LEN, |rec| {
            if rec.offset >= synced {
                return Ok(());
            }
            if rec.kind == KIND_EVENT {
                if let Ok(ev) = SignedEvent::decode(&rec.payload) {
                    f(&ev.id(), &ev);
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Re-checks the whole store from the log, the source of truth: every
    /// record's checksum, every event's encoding, chain link and signature
    /// (in batches), every fork proof; then that the index agrees with the
    /// log. `progress(done_bytes, total_bytes)` is called as it goes.
    pub fn verify(&self, progress: impl FnMut(u64, u64)) -> Result<VerifyReport, StoreError> {
        // Read the durable offset and the index's heads together, with no
        // group commit in progress (a commit indexes before it advances
        // `synced`) and none able to start (that takes the commit lock): so
        // the heads are exactly those of the log up to `synced`, whatever is
        // appended while the log is being checked.
        let (synced, heads) = {
            let mut c = lock(&self.commit);
            for _ in 0..1_000_000 {
                if !c.leader {
                    break;
                }
                c = self.committed.wait(c).unwrap_or_else(|p| p.into_inner());
            }
            (c.synced, self.heads()?)
        };
        let report = verify_log(&self.log_path, &self.charter, synced, progress)?;
        if report.failure.is_some() {
            return Ok(report);
        }
        let mut report = report;
        // The index must agree with the log.
        let total: u64 = heads.iter().map(|h| h.seq).sum();
        if total != report.events {
            report.failure = Some(VerifyFailure {
                offset: 0,
                author: None,
                seq: None,
                id: None,
                reason: format!(
                    "the index counts {total} events but the log holds {}; remove DIR/index to rebuild it",
                    report.events
                ),
            });
        }
        Ok(report)
    }
}

/// Refuses an event whose author may not sign on the event's date (not yet
/// admitted, expelled, or a removed authority), per the timeline.
fn member_check(timeline: &Timeline, ev: &SignedEvent) -> Result<(), EventError> {
    let date = Date::from_unix_ms(ev.content.timestamp_ms);
    timeline
        .check_author(ev.author(), date)
        .map_err(|e| EventError::NotAMember {
            author: ev.author().clone(),
            date: date.to_string(),
            reason: e.to_string(),
        })
}

/// Verifies a store's log offline, reading nothing but the log and the
/// charter. `upto`: verify records before this offset only (`u64::MAX`: all).
pub fn verify_log(
    log_path: &Path,
    charter: &Charter,
    upto: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let network = charter.network_id();
    let (log, found) = LogFile::open(log_path)?;
    if found != network {
        return Err(StoreError::WrongNetwork {
            expected: network,
            found,
        });
    }
    let total = log.end.min(upto);
    let mut feeds: HashMap<AuthorId, FeedState> = crate::feed::genesis_feeds(charter)
        .into_iter()
        .map(|f| (f.author.clone(), f))
        .collect();
    let mut gov = GovernanceLog::new();
    let mut timeline = Timeline::genesis(charter);
    let mut timeline_dirty = false;
    let mut report = VerifyReport {
        feeds: feeds.len() as u64,
        log_bytes: total,
        ..Default::default()
    };
    // Signatures are checked strictly, many at a time on every core; a
    // batch holds (offset, event, key).
    let mut batch: Vec<(u64, SignedEvent, ed25519_dalek::VerifyingKey)> = Vec::new();
    let mut failure: Option<VerifyFailure> = None;
    const BATCH: usize = 1024;

    fn flush_batch(
        batch: &mut Vec<(u64, SignedEvent, ed25519_dalek::VerifyingKey)>,
        failure: &mut Option<VerifyFailure>,
    ) {
        if batch.is_empty() || failure.is_some() {
            batch.clear();
            return;
        }
        let items: Vec<(&SignedEvent, ed25519_dalek::VerifyingKey)> =
            batch.iter().map(|(_, e, k)| (e, *k)).collect();
        let verdicts = verify_strict_many(&items);
        if verdicts.iter().any(|ok| !ok) {
            for ((off, e, _), ok) in batch.iter().zip(verdicts) {
                if !ok {
                    *failure = Some(VerifyFailure {
                        offset: *off,
                        author: Some(e.author().clone()),
                        seq: Some(e.seq()),
                        id: Some(e.id()),
                        reason: "signature does not verify with the author's key".into(),
                    });
                    break;
                }
            }
        }
        batch.clear();
    }

    let mut last_report = 0u64;
    let end = log.scan(HEADER_LEN, |rec| {
        if failure.is_some() || rec.offset >= total {
            return Ok(());
        }
        if rec.offset - last_report > (4 << 20) {
            progress(rec.offset, total);
            last_report = rec.offset;
        }
        match rec.kind {
            KIND_EVENT => {
                let ev = match SignedEvent::decode(&rec.payload) {
                    Ok(ev) => ev,
                    Err(e) => {
                        failure = Some(VerifyFailure {
                            offset: rec.offset,
                            author: None,
                            seq: None,
                            id: None,
                            reason: format!("event does not decode: {e}"),
                        });
                        return Ok(());
                    }
                };
                let id = ev.id();
                let fail = |reason: String| VerifyFailure {
                    offset: rec.offset,
                    author: Some(ev.author().clone()),
                    seq: Some(ev.seq()),
                    id: Some(id),
                    reason,
                };
                if !feeds.contains_key(ev.author()) {
                    if timeline_dirty {
                        timeline = Timeline::build(charter, &gov);
                        timeline_dirty = false;
                    }
                    match timeline.genesis_entry(ev.author()) {
                        Some(entry) => {
                            feeds.insert(
                                ev.author().clone(),
                                FeedState::genesis(ev.author().clone(), entry),
                            );
                            report.feeds += 1;
                        }
                        None => {
                            failure = Some(fail(
                                "author is neither in the charter nor admitted by a decision \
                                 earlier in the log"
                                    .into(),
                            ));
                            return Ok(());
                        }
                    }
                }
                let Some(feed) = feeds.get_mut(ev.author()) else {
                    return Ok(());
                };
                if let Err(e) = feed.check_next_unsigned(&network, &ev) {
                    failure = Some(fail(e.to_string()));
                    return Ok(());
                }
                match feed.signing_key_for(&ev) {
                    Ok(k) => batch.push((rec.offset, ev.clone(), k)),
                    Err(e) => {
                        failure = Some(fail(e.to_string()));
                        return Ok(());
                    }
                }
                feed.advance(&ev, id);
                if gov.insert(id, &ev) {
                    timeline_dirty = true;
                }
                report.events += 1;
                if batch.len() >= BATCH {
                    flush_batch(&mut batch, &mut failure);
                }
            }
            KIND_FORK_PROOF => match ForkProof::decode(&rec.payload) {
                Ok(p) => {
                    if timeline_dirty {
                        timeline = Timeline::build(charter, &gov);
                        timeline_dirty = false;
                    }
                    if let Err(e) = p.verify_with(charter, timeline.genesis_entry(p.author())) {
                        failure = Some(VerifyFailure {
                            offset: rec.offset,
                            author: Some(p.author().clone()),
                            seq: Some(p.seq()),
                            id: None,
                            reason: format!("fork proof does not verify: {e}"),
                        });
                    }
                    report.fork_proofs += 1;
                }
                Err(e) => {
                    failure = Some(VerifyFailure {
                        offset: rec.offset,
                        author: None,
                        seq: None,
                        id: None,
                        reason: format!("fork proof does not decode: {e}"),
                    })
                }
            },
            k => {
                failure = Some(VerifyFailure {
                    offset: rec.offset,
                    author: None,
                    seq: None,
                    id: None,
                    reason: format!("unknown record kind {k}"),
                })
            }
        }
        Ok(())
    })?;
    flush_batch(&mut batch, &mut failure);
    if failure.is_none() {
        if let ScanEnd::TornTail { offset, reason } = end {
            if offset < total {
                // Try to name the event whose bytes were damaged.
                failure = Some(describe_damage(log_path, offset, reason));
            }
        }
    }
    progress(total, total);
    report.failure = failure;
    Ok(report)
}

fn describe_damage(log_path: &Path, offset: u64, reason: String) -> VerifyFailure {
    let mut f = VerifyFailure {
        offset,
        author: None,
        seq: None,
        id: None,
        reason: format!("{reason}: the stored bytes were changed"),
    };
    if let Ok(bytes) = std::fs::read(log_path) {
        let start = offset as usize + 9;
        if let Some(len) = bytes
            .get(offset as usize..offset as usize + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        {
            if let Some(payload) =
                bytes.get(start..(start + len.saturating_sub(1)).min(bytes.len()))
            {
                if let Ok(ev) = SignedEvent::decode(payload) {
                    f.author = Some(ev.author().clone());
                    f.seq = Some(ev.seq());
                } else if payload.len() > 60 {
                    // The author and seq sit at fixed places in the encoding
                    // (after version and network id); report them when the
                    // damage is elsewhere.
                    let code = &payload[33..35];
                    if code.iter().all(u8::is_ascii_uppercase) {
                        let n = payload[35] as usize;
                        let name_end = 43 + n;
                        if let (Some(name), Some(seq)) = (
                            payload.get(43..name_end),
                            payload.get(name_end..name_end + 8),
                        ) {
                            if let (Ok(name), Ok(p)) =
                                (std::str::from_utf8(name), std::str::from_utf8(code))
                            {
                                if let Ok(a) = AuthorId::new(p, name) {
                                    f.author = Some(a);
                                    let mut s = [0u8; 8];
                                    s.copy_from_slice(seq);
                                    f.seq = Some(u64::from_le_bytes(s));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    f
}

fn prove_err(e: ProveError<StoreError>) -> StoreError {
    match e {
        ProveError::Read(e) => e,
        other => StoreError::OutOfRange(other.to_string()),
    }
}

fn index_event(batch: &mut sled::Batch, offset: u64, len: u32, id: &EventId, ev: &SignedEvent) {
    let ak = ev.author().key_bytes();
    let mut v = loc(offset, len).to_vec();
    v.extend_from_slice(id.as_bytes());
    batch.insert(key(P_EVENT, &[&ak, &ev.content.seq.to_be_bytes()]), v);
    batch.insert(key(P_ID, &[id.as_bytes()]), &loc(offset, len)[..]);
    if ev.content.body.is_governance() {
        batch.insert(key(P_GOV, &[id.as_bytes()]), &loc(offset, len)[..]);
    }
    if let Some(n) = ev.content.body.certificate_number() {
        if n.len() <= 255 {
            let mut v = vec![KIND_EVENT];
            v.extend_from_slice(&loc(offset, len));
            batch.insert(cert_key(n, id), v);
        }
    }
}

fn index_fork(batch: &mut sled::Batch, offset: u64, len: u32, proof: &ForkProof) {
    batch.insert(fork_key(proof), &loc(offset, len)[..]);
    let tag = crate::hash::sha256(&[&fork_key(proof)]);
    for side in [&proof.first, &proof.second] {
        if let Some(n) = side.content.body.certificate_number() {
            if n.len() <= 255 {
                let mut v = vec![KIND_FORK_PROOF];
                v.extend_from_slice(&loc(offset, len));
                batch.insert(cert_key(n, &tag), v);
            }
        }
    }
}

fn author_from_key(k: &[u8]) -> Option<AuthorId> {
    let code = std::str::from_utf8(k.get(..2)?).ok()?;
    let n = *k.get(2)? as usize;
    let name = std::str::from_utf8(k.get(3..3 + n)?).ok()?;
    AuthorId::new(code, name).ok()
}

fn read_applied(tree: &sled::Tree) -> Result<u64, StoreError> {
    Ok(match tree.get(META_APPLIED)? {
        Some(v) if v.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v);
            u64::from_be_bytes(b)
        }
        _ => 0,
    })
}

fn open_sled(path: &Path, opts: &StoreOptions) -> Result<sled::Db, StoreError> {
    Ok(sled::Config::new()
        .path(path)
        .cache_capacity(opts.cache_bytes)
        .flush_every_ms(Some(1000))
        .open()?)
}

/// Writes a file atomically and durably: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Reads the charter a store was created with (for offline verification).
pub fn stored_charter(dir: &Path) -> Result<Charter, StoreError> {
    let p = dir.join("charter.bin");
    let meta = std::fs::metadata(&p).map_err(|e| io_err(&p, e))?;
    if meta.len() > MAX_CHARTER_BYTES as u64 {
        return Err(StoreError::Corrupt(format!(
            "{}: larger than a charter can be",
            p.display()
        )));
    }
    let bytes = std::fs::read(&p).map_err(|e| io_err(&p, e))?;
    Charter::decode(&bytes).map_err(|e| StoreError::Charter(format!("{}: {e}", p.display())))
}

/// Signs contents on every core (ids are already fixed, so order is free).
fn sign_parallel(key: &AuthorityKey, contents: Vec<EventContent>) -> Vec<SignedEvent> {
    let n = contents.len();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if n < 64 || threads < 2 {
        return contents.into_iter().map(|c| key.sign(c)).collect();
    }
    let chunk = n.div_ceil(threads);
    let seed = key.seed();
    let mut parts: Vec<Vec<EventContent>> = Vec::new();
    let mut it = contents.into_iter();
    loop {
        let part: Vec<EventContent> = it.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    let k = AuthorityKey::from_seed(seed);
                    part.into_iter().map(|c| k.sign(c)).collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}
