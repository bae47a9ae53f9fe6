//! Replacing a broken index while the store stays open.
//!
//! sled 0.34 keeps the first I/O error of a database until it is reopened
//! (every later read and write fails with it), and a batch that fails part
//! way stays half-applied in memory. Either way the running index can no
//! longer be trusted, so it is rebuilt from the log, which a failed group
//! commit has already cut back to its last durable byte: the broken
//! database is closed and removed, a new one is opened in its place, the whole log
//! up to the durable offset is replayed into it, and it replaces the old
//! one. Until that succeeds every write is answered "not stored", reads that need the
//! index fail with the reason, and [`Ledger::degraded`] says why. (The
//! attempts back off from one second to five.) Events
//! held ahead of a gap lived only in the old index and are lost with it
//! (anti-entropy brings them again).

use std::time::{Duration, Instant};

use super::recovery::Replay;
use super::*;
use crate::replica::{ReplicaVerifier, Signatures};

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(5);

impl Ledger {
    /// The running index cannot be trusted any more: rebuild it before the
    /// next write.
    pub(super) fn mark_index_broken(&self, reason: String) {
        let mut b = lock(&self.index_broken);
        if b.is_none() {
            *b = Some(BrokenIndex {
                reason,
                next_try: Instant::now(),
                backoff: FIRST_RETRY,
            });
        }
    }

    /// The index for a read: refused while the index is broken, since a
    /// failed batch may have left entries that name no record.
    pub(super) fn read_tree(&self) -> Result<sled::Tree, StoreError> {
        self.index_current();
        if let Some(r) = self.index_broken_reason() {
            return Err(StoreError::Corrupt(format!(
                "the index is being rebuilt after an I/O error, reads resume when it is ({r})"
            )));
        }
        Ok(self.tree())
    }

    /// The feed files for a read: refused while the index is broken.
    pub(super) fn read_files(&self) -> Result<Arc<FeedFiles>, StoreError> {
        self.read_tree()?;
        Ok(self.files())
    }

    /// A feed file that fails its checksum or is short: the index cannot
    /// be trusted, so it is rebuilt from the log before the next write
    /// (the read that found it fails with the reason).
    pub(super) fn feed_file_failed(&self, e: StoreError) -> StoreError {
        if let StoreError::Corrupt(why) = &e {
            self.mark_index_broken(format!("a feed index file is damaged: {why}"));
        }
        e
    }

    /// Why the index is being rebuilt, if it is.
    pub(super) fn index_broken_reason(&self) -> Option<String> {
        self.index_failure_seen();
        lock(&self.index_broken).as_ref().map(|b| b.reason.clone())
    }

    /// Waits until every batch handed to the indexer so far is applied, so
    /// that the index holds every acknowledged event (a batch that failed
    /// marks the index broken instead).
    pub(super) fn index_current(&self) {
        if let Some(reason) = self.indexer.wait_applied() {
            self.mark_index_broken(reason);
        }
    }

    /// A batch the indexer failed to apply marks the index broken.
    fn index_failure_seen(&self) {
        if let Some(reason) = self.indexer.failure() {
            self.mark_index_broken(reason);
        }
    }

    /// Rebuilds a broken index if one is due; `Err(NotStored)` while the
    /// index is broken and cannot be rebuilt yet.
    pub(super) fn heal_index(&self) -> Result<(), StoreError> {
        self.index_failure_seen();
        {
            let b = lock(&self.index_broken);
            match &*b {
                None => return Ok(()),
                Some(b) if Instant::now() < b.next_try => {
                    return Err(StoreError::NotStored(format!(
                        "the index is being rebuilt after an I/O error ({})",
                        b.reason
                    )))
                }
                Some(_) => {}
            }
        }
        // Exclusive: no group commit runs while the index is replaced.
        {
            let mut c = lock(&self.commit);
            for _ in 0..1_000_000 {
                if !c.leader {
                    break;
                }
                c = self.committed.wait(c).unwrap_or_else(|p| p.into_inner());
            }
            c.leader = true;
        }
        let res = self.rebuild_index();
        {
            let mut c = lock(&self.commit);
            c.leader = false;
            if res.is_ok() {
                c.error = None;
            }
            self.committed.notify_all();
        }
        let mut b = lock(&self.index_broken);
        match res {
            Ok(()) => {
                *b = None;
                lock(&self.recovery).index_rebuilt = Some(
                    "a write to the index failed (disk full or I/O error); rebuilt while running"
                        .into(),
                );
                Ok(())
            }
            Err(e) => {
                if let Some(b) = b.as_mut() {
                    b.backoff = (b.backoff * 2).min(LAST_RETRY);
                    b.next_try = Instant::now() + b.backoff;
                    let first = b
                        .reason
                        .split("; rebuilding it failed")
                        .next()
                        .unwrap_or("");
                    b.reason = format!("{first}; rebuilding it failed too: {e}");
                }
                Err(StoreError::NotStored(format!(
                    "the index is being rebuilt after an I/O error, and could not be yet ({e})"
                )))
            }
        }
    }

    fn rebuild_index(&self) -> Result<(), StoreError> {
        // No batch may reach the old index (or the new one) meanwhile: the
        // rebuild covers everything synced.
        self.indexer.wait_applied();
        let mut st = lock(&self.state);
        let synced = lock(&self.commit).synced;
        if !st.queue.is_empty() || st.log.end != synced {
            return Err(StoreError::Corrupt(
                "writes are pending while the index is rebuilt".into(),
            ));
        }
        let index_path = self.dir.join("index");
        // The broken database is closed and removed first: on a full disk
        // its space is what the new one needs. A small temporary database
        // stands in meanwhile (nothing reads it: reads wait for the rebuild).
        let stand_in = sled::Config::new().temporary(true).open()?;
        let stand_in_tree = stand_in.open_tree("ledger")?;
        drop(std::mem::replace(
            &mut *self.index.write().unwrap_or_else(|p| p.into_inner()),
            Index {
                db: stand_in,
                tree: stand_in_tree,
                files: FeedFiles::none(),
            },
        ));
        if index_path.exists() {
            std::fs::remove_dir_all(&index_path).map_err(|e| io_err(&index_path, e))?;
        }
        let built = (|| -> Result<_, StoreError> {
            let db = open_sled(&index_path, &self.opts)?;
            let tree = db.open_tree("ledger")?;
            let files = FeedFiles::open(
                index_path.join(feedfiles::FEEDS_DIR),
                self.opts.lookup_memory_slots,
            )?;
            let mut file_batch = FileBatch::default();
            tree.insert(META_NETWORK, self.network.as_bytes())?;
            tree.insert(META_LAYOUT, &[INDEX_LAYOUT])?;
            let mut verifier = ReplicaVerifier::new(&self.charter, Signatures::Unchecked);
            let mut trees: HashMap<AuthorId, Frontier> = HashMap::new();
            let mut batch = sled::Batch::default();
            let mut n = 0u64;
            let mut failure: Option<StoreError> = None;
            st.log.scan_all(HEADER_LEN, |item| {
                if failure.is_some() {
                    return Ok(());
                }
                let rec = match item {
                    LogItem::Record(r) => r,
                    LogItem::Damage(d) => {
                        if d.offset < synced {
                            failure = Some(StoreError::CorruptLog {
                                offset: d.offset,
                                reason: d.reason,
                            });
                        }
                        return Ok(());
                    }
                };
                if rec.offset >= synced || rec.kind == KIND_SYNCED {
                    return Ok(());
                }
                let mut replay = Replay {
                    verifier: &mut verifier,
                    trees: &mut trees,
                    files: &mut file_batch,
                };
                if let Err(reason) = replay.record(&mut batch, rec.offset, rec.kind, &rec.payload) {
                    failure = Some(StoreError::CorruptLog {
                        offset: rec.offset,
                        reason,
                    });
                    return Ok(());
                }
                n += 1;
                if n.is_multiple_of(4096) {
                    // No head moves yet: the feed files are synced once,
                    // before the last batch.
                    file_batch.write(&files)?;
                    tree.apply_batch(std::mem::take(&mut batch))?;
                }
                Ok(())
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
            let (feeds, gov, _) = verifier.into_parts();
            for (a, f) in &feeds {
                batch.insert(key(P_HEAD, &[&a.key_bytes()]), codec::encode(f));
            }
            batch.insert(META_APPLIED, &synced.to_be_bytes());
            file_batch.write_and_sync(&files, synced)?;
            tree.apply_batch(batch)?;
            for (a, f) in &feeds {
                files.set_head(&a.key_bytes(), f.head_seq);
            }
            let mut fork_counts: HashMap<AuthorId, usize> = HashMap::new();
            for item in tree.scan_prefix([P_FORK]) {
                let (k, _) = item?;
                if let Some(author) = author_from_key(&k[1..]) {
                    *fork_counts.entry(author).or_default() += 1;
                }
            }
            Ok((db, tree, files, feeds, gov, trees, fork_counts))
        })();
        let (db, tree, files, feeds, gov, trees, fork_counts) = match built {
            Ok(b) => b,
            Err(e) => {
                // The next try starts over (and a restart rebuilds it).
                let _ = std::fs::remove_dir_all(&index_path);
                return Err(e);
            }
        };
        st.timeline = Arc::new(Timeline::build(&self.charter, &gov));
        st.timeline_dirty = false;
        st.gov = gov;
        st.feeds = feeds.clone();
        st.unindexed.clear();
        st.unindexed_forks.clear();
        st.fork_counts = fork_counts;
        st.held_authors.clear();
        {
            let mut d = lock(&self.durable_feeds);
            d.feeds = feeds;
            d.trees = trees;
        }
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Index { db, tree, files };
        self.indexer.rebuilt();
        Ok(())
    }
}
