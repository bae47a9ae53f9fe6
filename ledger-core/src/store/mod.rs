//! The durable ledger store.
//!
//! Layout of a store directory:
//! ```text
//! DIR/LOCK        exclusive lock: one process per store
//! DIR/charter.bin the charter's canonical bytes (so a stopped store verifies offline)
//! DIR/events.log  append-only log of accepted events and fork proofs: the truth
//! DIR/index/      sled database: indexes derived from the log, rebuilt when lost
//! DIR/index/feeds/ each feed's places and Merkle nodes (`feedfiles.rs`), derived too
//! ```
//!
//! **Durability.** An append is acknowledged only after its log record is
//! on disk through `fdatasync`. sled 0.34's own `flush` ends in
//! `sync_file_range`, which is not a durability barrier for a power cut, so
//! sled holds only derived indexes: each index batch records the log offset it
//! covers, and on open the log past that offset is replayed into the index.
//! Concurrent appends are group-committed: whichever caller finds no sync in
//! progress becomes the leader, syncs everything written so far with one
//! `fdatasync` and wakes every caller it covered; the sync's records go to
//! the indexer thread, which applies them to sled in one batch behind the
//! answer (see `indexer.rs`).
//!
//! Readers see only durable events, and every acknowledged one: a read that
//! needs the index waits for the batches handed over before it.

mod authoring;
mod faults;
mod feedfiles;
mod files;
mod index;
mod indexer;
mod log;
mod lookup;
mod read;
mod rebuild;
mod recovery;
mod repair;
mod retry;
#[cfg(test)]
mod tests;
mod verify;
mod watermark;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::bytes::Digest;
use crate::charter::Charter;
use crate::codec::{self, MAX_CHARTER_BYTES};
use crate::error::{EventError, StoreError};
use crate::event::{AuthorityKey, EventContent, EventId, SignedEvent};
use crate::feed::FeedState;
use crate::fork::ForkProof;
use crate::governance::{GovernanceLog, Timeline};
use crate::model::{AuthorId, Date, EventBody};
use crate::tlog::merkle::{self, event_leaf_hash, Frontier, NodeReader, ProveError};

pub use log::{
    frame, frame_synced, synced_mark, Damage, LogFile, LogItem, ScanEnd, HEADER_LEN, KIND_EVENT,
    KIND_FORK_PROOF, KIND_SYNCED, LOG_MAGIC, STORE_VERSION,
};
use log::{io_err, read_record, sync_dir};

pub use authoring::AuthoringRecord;
use feedfiles::{FeedFiles, FileBatch, Place};
pub use files::{stored_charter, write_atomic};
use index::*;
pub use read::{EventScan, MAX_UNREADABLE_LISTED, SCAN_THREAD_FROM_BYTES};
pub use recovery::{DamageReport, DamagedRecord, RecoveryReport, TornTail};
pub use repair::{check_log, repair, Fetch, RepairReport};
pub use verify::verify_log;
pub use write::VerifiedBatch;

/// Most events held back per author while they wait for a gap to fill.
pub const MAX_HELD_PER_AUTHOR: usize = 4096;
/// Most fork proofs stored per author (an equivocating author cannot fill the disk).
pub const MAX_FORK_PROOFS_PER_AUTHOR: usize = 1024;

/// Store settings.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled's page cache, in bytes. sled's default (1 GiB) is far too large
    /// for a node; the index is small and the log is read with `pread`.
    pub cache_bytes: u64,
    /// Lookup-table slots held in memory before they are merged into its
    /// file (about 40 bytes each; a crash loses them, and opening the store
    /// replays that much of the log). Fewer means smaller merges, more
    /// often.
    pub lookup_memory_slots: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 64 * 1024 * 1024,
            lookup_memory_slots: lookup::MEMORY_SLOTS,
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

/// What a verification found: counts and every failure (see [`crate::replica`]).
pub use crate::replica::{BrokenFeed, VerifyFailure, VerifyReport};

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
    /// A held event that this write applied (or that its head passed):
    /// removed from the index with the commit, so that a commit that fails
    /// leaves it held.
    Unhold { key: Vec<u8> },
}

/// What the index covers: each feed's validation state and the right edge
/// of its Merkle tree.
#[derive(Default)]
struct Durable {
    feeds: HashMap<AuthorId, FeedState>,
    trees: HashMap<AuthorId, Frontier>,
}

struct State {
    log: LogFile,
    /// Validation state of every feed, including written-but-unsynced events.
    feeds: HashMap<AuthorId, FeedState>,
    /// Written, not yet synced and indexed, in log order.
    queue: Vec<Pending>,
    /// The highest offset a synced mark written to the log names.
    last_mark: u64,
    /// The commit epoch this state's unsynced writes belong to.
    epoch: u64,
    /// Lookup of unindexed events by place, for duplicate and fork checks:
    /// (id, event, log offset), kept until the index batch holding the
    /// event was applied.
    unindexed: HashMap<(AuthorId, u64), (EventId, SignedEvent, u64)>,
    /// Fork proof keys written but not yet indexed, with their log offsets.
    unindexed_forks: HashMap<Vec<u8>, u64>,
    fork_counts: HashMap<AuthorId, usize>,
    /// Authors with events held ahead of a gap in the index (perhaps no
    /// longer: checked when one of their events is appended).
    held_authors: std::collections::HashSet<AuthorId>,
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
    /// Log offset up to which everything is durable and indexed.
    synced: u64,
    leader: bool,
    /// (epoch, `synced` when it ended) of the last epochs that a rollback ended.
    ended: Vec<(u64, u64)>,
    /// Bumped when a failed group commit rolls the log back to `synced`:
    /// a writer that staged under an older epoch and is not covered by
    /// `synced` was rolled back.
    epoch: u64,
    /// Why the last group commit (or authoring record) failed, until one
    /// succeeds: the store is degraded but keeps trying.
    error: Option<String>,
}

/// The store of every feed of one network.
pub struct Ledger {
    dir: PathBuf,
    charter: Charter,
    network: Digest,
    /// The sled index; replaced whole when a failed batch or a sled I/O
    /// error (which sled keeps until reopened) made it unreliable.
    index: std::sync::RwLock<Index>,
    /// Why the last seal failed, until one succeeds.
    seal_error: Mutex<Option<String>>,
    /// The settings the store was opened with (the index is reopened with them).
    opts: StoreOptions,
    /// Why the index is being rebuilt, and when to try next.
    index_broken: Mutex<Option<BrokenIndex>>,
    log_path: PathBuf,
    reader: File,
    state: Mutex<State>,
    commit: Mutex<Commit>,
    committed: Condvar,
    /// Feed states and Merkle frontiers as of the last group commit's sync
    /// (touched only by its leader).
    durable_feeds: Mutex<Durable>,
    /// Applies what group commits made durable to the index, behind them.
    indexer: Arc<indexer::Indexer>,
    indexer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// What opening had to do.
    recovery: Mutex<RecoveryReport>,
    /// Bodies of each own feed's latest events, for retry safety.
    recent: Mutex<HashMap<AuthorId, retry::RecentBodies>>,
    /// The watermark last written to `events.synced`.
    watermark_written: Mutex<u64>,
    /// Set once recovery succeeded: a store that failed to open writes
    /// nothing, not even a synced mark, when it is dropped.
    opened: std::sync::atomic::AtomicBool,
    /// `Commit::synced`, readable without the commit lock (for synced marks).
    synced: std::sync::atomic::AtomicU64,
    /// The highest acknowledged place of each own feed (see `authoring`).
    authoring: Mutex<authoring::AuthoringRecords>,
    _lock: File,
}

/// The open sled database, its one tree, and the feed files beside it.
struct Index {
    db: sled::Db,
    tree: sled::Tree,
    files: Arc<FeedFiles>,
}

/// A broken index waiting to be rebuilt.
struct BrokenIndex {
    reason: String,
    next_try: std::time::Instant,
    backoff: std::time::Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ledger {
    /// Opens the store in `dir`, creating it if it does not exist. Refuses a
    /// store of another network or format version, and a store that another
    /// process holds open.
    pub fn open(dir: &Path, charter: &Charter, opts: StoreOptions) -> Result<Ledger, StoreError> {
        charter.validate().map_err(StoreError::Charter)?;
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let lock_file = files::lock_store(dir)?;
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
        let mut index_rebuilt = None;
        let db = match open_sled(&index_path, &opts) {
            Ok(db) => db,
            Err(e) => {
                // The index is derived data: rebuild it from the log (the
                // log's watermark keeps that rebuild from taking damage for
                // a torn tail).
                index_rebuilt = Some(format!("the index did not open ({e})"));
                let _ = std::fs::remove_dir_all(&index_path);
                open_sled(&index_path, &opts)?
            }
        };
        let tree = db.open_tree("ledger")?;
        let files = FeedFiles::open(
            index_path.join(feedfiles::FEEDS_DIR),
            opts.lookup_memory_slots,
        )?;
        let reader = log.reader()?;
        let mut applied = read_applied(&tree)?;
        let layout = tree.get(META_LAYOUT)?;
        let old_layout = layout.as_deref() != Some(&[INDEX_LAYOUT][..]);
        let consistent = match tree.get(META_NETWORK)? {
            Some(n) => n.as_ref() == network.as_bytes() && applied <= log.end && !old_layout,
            None => applied == 0,
        };
        // The feed files must hold every place and node up to each head the
        // sled index names, and agree with the log there.
        let files_bad = if consistent && applied > 0 {
            files
                .check_all(&read_heads(&tree)?, &reader, &log_path, applied, log.end)
                .err()
        } else {
            None
        };
        if let Some(why) = &files_bad {
            index_rebuilt.get_or_insert_with(|| {
                format!("the feed index files are damaged or behind ({why})")
            });
        }
        if !consistent || files_bad.is_some() {
            files.reset()?;
            index_rebuilt.get_or_insert_with(|| {
                if old_layout {
                    "the index was written in an older layout".into()
                } else if applied > log.end {
                    format!(
                        "the index covers {applied} bytes of log but the log holds {} (an older log was restored, or its tail was lost)",
                        log.end
                    )
                } else {
                    "the index belongs to another network".into()
                }
            });
            tree.clear()?;
            applied = 0;
        }
        if applied == 0 {
            if log.end > HEADER_LEN {
                index_rebuilt.get_or_insert_with(|| "the index is empty or missing".into());
            }
            // An empty index: no feed file left from another may count.
            files.reset()?;
            tree.insert(META_NETWORK, network.as_bytes())?;
            tree.insert(META_LAYOUT, &[INDEX_LAYOUT])?;
            applied = HEADER_LEN;
        }

        // Feed states: from the index (charter authors and admitted ones),
        // else genesis.
        let mut feeds = read_heads(&tree)?;
        for (author, entry) in charter.authors() {
            feeds
                .entry(author.clone())
                .or_insert_with(|| FeedState::genesis(author, entry));
        }
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

        let mut held_authors = std::collections::HashSet::new();
        for item in tree.scan_prefix([P_HELD]) {
            let (k, _) = item?;
            if let Some(author) = author_from_key(&k[1..]) {
                held_authors.insert(author);
            }
        }
        let ledger_state = State {
            held_authors,
            log,
            feeds,
            queue: Vec::new(),
            last_mark: 0,
            epoch: 0,
            unindexed: HashMap::new(),
            unindexed_forks: Default::default(),
            fork_counts,
            gov,
            timeline,
            timeline_dirty: false,
        };
        let indexer = indexer::Indexer::new();
        let indexer_thread = indexer.spawn().map_err(|e| io_err(dir, e))?;
        let ledger = Ledger {
            indexer,
            indexer_thread: Mutex::new(Some(indexer_thread)),
            dir: dir.to_owned(),
            charter: charter.clone(),
            network,
            index: std::sync::RwLock::new(Index { db, tree, files }),
            index_broken: Mutex::new(None),
            opts: opts.clone(),
            seal_error: Mutex::new(None),
            log_path,
            reader,
            state: Mutex::new(ledger_state),
            commit: Mutex::new(Commit {
                synced: applied,
                leader: false,
                epoch: 0,
                ended: Vec::new(),
                error: None,
            }),
            committed: Condvar::new(),
            durable_feeds: Mutex::new(Durable::default()),
            synced: std::sync::atomic::AtomicU64::new(applied),
            opened: std::sync::atomic::AtomicBool::new(false),
            recent: Mutex::new(HashMap::new()),
            watermark_written: Mutex::new(watermark::read(dir).unwrap_or(0)),
            recovery: Mutex::new(RecoveryReport {
                index_rebuilt,
                ..Default::default()
            }),
            authoring: Mutex::new(authoring::AuthoringRecords::load(dir)?),
            _lock: lock_file,
        };
        ledger.recover(applied)?;
        ledger
            .opened
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(ledger)
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

    /// The index tree (a cheap handle).
    fn tree(&self) -> sled::Tree {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .tree
            .clone()
    }

    /// The feed files of the index in use (a cheap handle).
    fn files(&self) -> Arc<FeedFiles> {
        Arc::clone(&self.index.read().unwrap_or_else(|p| p.into_inner()).files)
    }

    /// What opening the store had to do (index rebuilt, records replayed,
    /// a torn tail cut): for the node to log at WARN.
    pub fn recovery_report(&self) -> RecoveryReport {
        lock(&self.recovery).clone()
    }

    /// Makes sled write its own files out and merges the lookup table's
    /// recent slots into its file (not needed for durability of events,
    /// which the log provides; shortens replay after a crash).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.index_current();
        let (db, files) = {
            let index = self.index.read().unwrap_or_else(|p| p.into_inner());
            (index.db.clone(), Arc::clone(&index.files))
        };
        db.flush()?;
        files.lookups()?.flush()?;
        Ok(())
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        // A clean close leaves the watermark at the end of the log.
        if self.opened.load(std::sync::atomic::Ordering::Acquire) {
            let _ = self.seal();
        }
        // The indexer finishes the batches it holds (a batch it cannot
        // apply is re-indexed from the log when the store next opens).
        self.indexer.stop();
        if let Some(t) = lock(&self.indexer_thread).take() {
            let _ = t.join();
        }
        // And the lookup table's recent slots go to its file, so that the
        // next open has nothing to replay into it.
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        if let Ok(t) = index.files.lookups() {
            let _ = t.flush();
        }
    }
}

/// Every feed's state as the sled index holds it (its `H` entries).
fn read_heads(tree: &sled::Tree) -> Result<HashMap<AuthorId, FeedState>, StoreError> {
    let mut feeds = HashMap::new();
    for item in tree.scan_prefix([P_HEAD]) {
        let (k, v) = item?;
        let author = author_from_key(&k[1..])
            .ok_or_else(|| StoreError::Corrupt("feed head key does not decode".into()))?;
        let st = codec::decode::<FeedState>(&v, MAX_CHARTER_BYTES)
            .map_err(|e| StoreError::Corrupt(format!("feed head of {author}: {e}")))?;
        feeds.insert(author, st);
    }
    Ok(feeds)
}
