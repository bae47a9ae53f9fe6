//! The index behind the log.
//!
//! A group commit answers its writers once the log's `fdatasync` returned:
//! the sled index is derived data, so updating it is not part of making a
//! write durable. The commit's leader hands what it made durable to one
//! indexer thread, which applies it to sled in log order while the writers
//! are already answered and the next commit is being written and synced.
//!
//! - **Reads see every acknowledged event.** A read that needs the index
//!   first waits until every batch handed over before it was applied
//!   ([`Ledger::index_current`]); duplicate and fork checks, which run under
//!   the writer's lock, find events not yet applied in memory (each stays
//!   there until the batch holding it was applied).
//! - **Bounded.** At most [`MAX_QUEUED`] batches wait for the indexer: a
//!   commit that would queue another first waits for one to be applied, so
//!   the index never falls behind the log by more than a few commits.
//! - **Crash.** Each batch records the log offset it covers (`META_APPLIED`),
//!   so after a crash opening the store re-indexes the log past it, as it
//!   always did. A batch's places and Merkle nodes go to the feed files
//!   first and are `fdatasync`ed there (on this thread, off the writers'
//!   path) before its sled batch, which advances the heads, is applied.
//! - **A failed batch** (a full disk under the index, an I/O error) cannot
//!   make an acknowledged write look failed: its events are in the synced
//!   log. The index is marked broken, later batches are not applied to it,
//!   reads that need it fail with the reason, and the next write rebuilds it
//!   from the log (see `rebuild.rs`), acknowledged events included.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use super::*;

/// Most batches waiting for the indexer (besides the one being applied).
pub(super) const MAX_QUEUED: usize = 2;

/// What one group commit made durable, for the index.
pub(super) struct IndexJob {
    /// The log offset the batch covers (written as `META_APPLIED`).
    pub(super) end: u64,
    /// The index to apply it to (the one in use when the commit ran).
    pub(super) tree: sled::Tree,
    /// That index's feed files.
    pub(super) files: Arc<FeedFiles>,
    /// The records, in log order.
    pub(super) pending: Vec<Pending>,
    /// The state of each feed the batch touched, as of `end`.
    pub(super) heads: Vec<(AuthorId, FeedState)>,
    /// The Merkle nodes each event of the batch completes (one entry per
    /// event of `pending`, in order; see [`tree_nodes`]).
    pub(super) nodes: Vec<Vec<Digest>>,
    /// An injected failure (the store's own tests), reported as the apply's.
    pub(super) fault: Option<String>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<IndexJob>,
    /// The end of the last batch handed over.
    sent: u64,
    /// The end of the last batch the indexer is done with (applied, or
    /// skipped after a failure).
    applied: u64,
    /// Why a batch failed, until the index is rebuilt.
    failed: Option<String>,
    stop: bool,
}

/// The queue between group commits and the indexer thread.
pub(super) struct Indexer {
    q: Mutex<Queue>,
    /// Wakes the indexer thread.
    work: Condvar,
    /// Wakes whoever waits for batches to be applied (or for room).
    done: Condvar,
}

impl Indexer {
    pub(super) fn new() -> Arc<Indexer> {
        Arc::new(Indexer {
            q: Mutex::new(Queue::default()),
            work: Condvar::new(),
            done: Condvar::new(),
        })
    }

    /// Starts the indexer thread.
    pub(super) fn spawn(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("kpl-index".into())
            .spawn(move || me.run())
    }

    fn run(&self) {
        let mut q = lock(&self.q);
        loop {
            let Some(job) = q.jobs.pop_front() else {
                if q.stop {
                    return;
                }
                q = self.work.wait(q).unwrap_or_else(|p| p.into_inner());
                continue;
            };
            // Room for another batch.
            self.done.notify_all();
            let skip = q.failed.is_some();
            drop(q);
            let end = job.end;
            let res = if skip {
                Ok(())
            } else {
                // A panic in sled must not leave readers waiting for a
                // batch that will never be applied: it fails the batch.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(job)))
                    .unwrap_or_else(|_| Err("the index batch failed (a panic in sled)".into()))
            };
            q = lock(&self.q);
            if let Err(e) = res {
                q.failed.get_or_insert(e);
            }
            q.applied = q.applied.max(end);
            self.done.notify_all();
        }
    }

    /// Hands a durable batch to the indexer, first waiting for room.
    pub(super) fn submit(&self, job: IndexJob) {
        let mut q = lock(&self.q);
        while q.jobs.len() >= MAX_QUEUED && !q.stop {
            q = self.done.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        q.sent = q.sent.max(job.end);
        q.jobs.push_back(job);
        self.work.notify_one();
    }

    /// Waits until every batch handed over so far was applied (or skipped);
    /// returns why a batch failed, if one did.
    pub(super) fn wait_applied(&self) -> Option<String> {
        let mut q = lock(&self.q);
        let target = q.sent;
        while q.applied < target && !q.stop {
            q = self.done.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        q.failed.clone()
    }

    /// The log offset up to which batches were applied, unless one failed.
    pub(super) fn applied(&self) -> Option<u64> {
        let q = lock(&self.q);
        q.failed.is_none().then_some(q.applied)
    }

    /// Why a batch failed, if one did (without waiting).
    pub(super) fn failure(&self) -> Option<String> {
        lock(&self.q).failed.clone()
    }

    /// The index was rebuilt from the log: later batches apply to it again.
    pub(super) fn rebuilt(&self) {
        lock(&self.q).failed = None;
    }

    /// Lets the thread finish the batches it holds and end.
    pub(super) fn stop(&self) {
        lock(&self.q).stop = true;
        self.work.notify_all();
        self.done.notify_all();
    }
}

/// Applies one batch to the index: the feed files written and synced, then
/// one sled batch (atomic) that advances the heads over them.
fn apply(job: IndexJob) -> Result<(), String> {
    if let Some(f) = job.fault {
        return Err(f);
    }
    let mut batch = sled::Batch::default();
    let mut files = FileBatch::default();
    let mut nodes = job.nodes.iter();
    for p in &job.pending {
        match p {
            Pending::Event {
                offset,
                len,
                id,
                event,
            } => {
                let n = nodes.next().map_or(&[][..], |n| &n[..]);
                index_event(&mut batch, &mut files, *offset, *len, id, event, n)
            }
            Pending::Fork { offset, len, proof } => {
                index_fork(&mut batch, &mut files, *offset, *len, proof)
            }
            Pending::Unhold { key } => batch.remove(key.as_slice()),
        }
    }
    files
        .write_and_sync(&job.files, job.end)
        .map_err(|e| format!("feed index files: {e}"))?;
    for (a, f) in &job.heads {
        batch.insert(key(P_HEAD, &[&a.key_bytes()]), codec::encode(f));
    }
    batch.insert(META_APPLIED, &job.end.to_be_bytes());
    job.tree
        .apply_batch(batch)
        .map_err(|e| format!("index database error: {e}"))?;
    for (a, f) in &job.heads {
        job.files.set_head(&a.key_bytes(), f.head_seq);
    }
    Ok(())
}
