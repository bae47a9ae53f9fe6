//! Opening a store: replaying the log past the index's watermark.

use super::*;

impl Ledger {
    /// Replays the log from `applied` into the index, cutting a torn tail.
    pub(super) fn recover(&self, applied: u64) -> Result<(), StoreError> {
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

    /// Recomputes a feed's Merkle nodes from its indexed event ids (for an
    /// index written before the tree existed, or a damaged one).
    pub(super) fn rebuild_tree(
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
}
