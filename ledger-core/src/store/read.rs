//! Reads: events by place, id and certificate, heads, Merkle proofs.

use super::lookup::Tag;
use super::*;

impl Ledger {
    /// The membership timeline derived from every governance event written
    /// so far (see [`crate::governance`]).
    pub fn timeline(&self) -> Arc<Timeline> {
        lock(&self.state).fresh_timeline(&self.charter).clone()
    }

    /// The governance events this store holds (written, synced or not)
    /// and the membership timeline folded from exactly them.
    pub fn governance(&self) -> (GovernanceLog, Arc<Timeline>) {
        let mut st = lock(&self.state);
        let timeline = st.fresh_timeline(&self.charter).clone();
        (st.gov.clone(), timeline)
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

    /// What this store holds to judge `author`'s clock by
    /// ([`crate::clock::check`]): the network's genesis, the author's own last
    /// event and the latest event of every other feed (events written, whether
    /// or not indexed yet).
    pub fn clock_reference(&self, author: &AuthorId) -> crate::clock::ClockReference {
        let st = lock(&self.state);
        let mut own = None;
        let mut others: Option<u64> = None;
        for (a, f) in &st.feeds {
            if f.head_seq == 0 {
                continue;
            }
            if a == author {
                own = Some(f.last_timestamp_ms);
            } else {
                others = Some(others.map_or(f.last_timestamp_ms, |o| o.max(f.last_timestamp_ms)));
            }
        }
        crate::clock::ClockReference {
            genesis_ms: crate::clock::ClockReference::day_start_ms(self.charter.created_on),
            own_last_ms: own,
            others_latest_ms: others,
        }
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

    pub(super) fn event_at_unlocked(
        &self,
        st: &State,
        author: &AuthorId,
        seq: u64,
    ) -> Result<Option<StoredEvent>, StoreError> {
        if let Some((id, ev, _)) = st.unindexed.get(&(author.clone(), seq)) {
            return Ok(Some(StoredEvent {
                id: *id,
                event: ev.clone(),
            }));
        }
        // Not in memory: then the index holds it, if anything does.
        self.indexed_event_at(author, seq)
    }

    pub(super) fn read_event(&self, offset: u64, len: u32) -> Result<SignedEvent, StoreError> {
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
        self.index_current();
        self.indexed_event_at(author, seq)
    }

    /// The event at `seq` as the index holds it now (without waiting for
    /// batches still on their way to it).
    fn indexed_event_at(
        &self,
        author: &AuthorId,
        seq: u64,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let place = self
            .files()
            .place(&author.key_bytes(), seq)
            .map_err(|e| self.feed_file_failed(e))?;
        let Some(p) = place else {
            return Ok(None);
        };
        Ok(Some(StoredEvent {
            id: p.id,
            event: self.read_event(p.offset, p.len)?,
        }))
    }

    /// The event with this id.
    pub fn event_by_id(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        let files = self.read_files()?;
        let found = files
            .lookups()
            .and_then(|t| t.find(Tag::of_digest(id.as_bytes())))
            .map_err(|e| self.feed_file_failed(e))?;
        for at in found {
            // A slot names where to look; the record says whether it is.
            let (kind, payload) = read_record(&self.reader, &self.log_path, at.offset, at.len)?;
            if kind != KIND_EVENT {
                continue;
            }
            let event = SignedEvent::decode(&payload).map_err(|e| StoreError::CorruptLog {
                offset: at.offset,
                reason: format!("the event at a lookup slot does not decode ({e})"),
            })?;
            if event.id() == *id {
                return Ok(Some(StoredEvent { id: *id, event }));
            }
        }
        Ok(None)
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
        let places = self
            .read_files()?
            .places(&author.key_bytes(), from_seq, max)
            .map_err(|e| self.feed_file_failed(e))?;
        let mut out = Vec::with_capacity(places.len());
        for p in places {
            let (kind, payload) = read_record(&self.reader, &self.log_path, p.offset, p.len)?;
            if kind != KIND_EVENT {
                return Err(StoreError::CorruptLog {
                    offset: p.offset,
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
            let (seq, id) = match self.read_tree()?.get(key(P_HEAD, &[&author.key_bytes()]))? {
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
        match self.read_tree()?.get(key(P_HEAD, &[&author.key_bytes()]))? {
            Some(v) => Ok(Some(
                codec::decode(&v, MAX_CHARTER_BYTES)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
            None => Ok(self
                .author_entry(author)
                .map(|entry| FeedState::genesis(author.clone(), &entry))),
        }
    }

    /// The size of a feed's Merkle tree that can be proven: its durable head.
    pub fn tree_size(&self, author: &AuthorId) -> Result<u64, StoreError> {
        Ok(self.feed_state(author)?.map_or(0, |f| f.head_seq))
    }

    pub(super) fn feed_tree(
        &self,
        author: &AuthorId,
        size: u64,
    ) -> Result<feedfiles::FeedTree, StoreError> {
        let have = self.tree_size(author)?;
        if size > have {
            return Err(StoreError::OutOfRange(format!(
                "{author}'s feed holds {have} events here, not {size}"
            )));
        }
        self.read_files()?.tree(&author.key_bytes(), size)
    }

    /// The RFC 6962 root of the first `size` events of a feed (leaves are
    /// the event ids in sequence order), from O(log n) stored nodes.
    pub fn tree_root(&self, author: &AuthorId, size: u64) -> Result<Digest, StoreError> {
        merkle::root_at(&self.feed_tree(author, size)?, size).map_err(|e| self.feed_file_failed(e))
    }

    /// The ids of up to `max` events of a feed from `from_seq` on, in
    /// order, from the feed's place file (one `pread`).
    pub fn feed_ids(
        &self,
        author: &AuthorId,
        from_seq: u64,
        max: usize,
    ) -> Result<Vec<EventId>, StoreError> {
        Ok(self
            .read_files()?
            .places(&author.key_bytes(), from_seq, max)
            .map_err(|e| self.feed_file_failed(e))?
            .into_iter()
            .map(|p| p.id)
            .collect())
    }

    /// The stored Merkle nodes `(level, first .. first + count)` of a
    /// feed's tree of `size` leaves (each complete at `size`): the hashes
    /// of a c2sp.org/tlog-tiles hash tile.
    pub fn tree_nodes(
        &self,
        author: &AuthorId,
        size: u64,
        level: u8,
        first: u64,
        count: u64,
    ) -> Result<Vec<Digest>, StoreError> {
        if level == 0 {
            let ids = self.feed_ids(author, first.saturating_add(1), count as usize)?;
            if (ids.len() as u64) < count || first.saturating_add(count) > size {
                return Err(StoreError::OutOfRange(format!(
                    "{author}'s feed has no leaves {first}..{} at size {size}",
                    first.saturating_add(count)
                )));
            }
            return Ok(ids.iter().map(merkle::event_leaf_hash).collect());
        }
        let tree = self.feed_tree(author, size)?;
        (first..first.saturating_add(count))
            .map(|i| tree.node(level, i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.feed_file_failed(e))
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
        merkle::inclusion_proof(&self.feed_tree(author, size)?, seq - 1, size)
            .map_err(prove_err)
            .map_err(|e| self.feed_file_failed(e))
    }

    /// The consistency proof between two sizes of a feed's tree (RFC 9162).
    pub fn consistency_proof(
        &self,
        author: &AuthorId,
        old: u64,
        new: u64,
    ) -> Result<Vec<Digest>, StoreError> {
        merkle::consistency_proof(&self.feed_tree(author, new)?, old, new)
            .map_err(prove_err)
            .map_err(|e| self.feed_file_failed(e))
    }

    /// Total number of durable events.
    pub fn event_count(&self) -> Result<u64, StoreError> {
        Ok(self.heads()?.iter().map(|h| h.seq).sum())
    }

    /// Everything known about a certificate number.
    pub fn certificate(&self, number: &str) -> Result<CertificateRecord, StoreError> {
        let files = self.read_files()?;
        let mut found = files
            .lookups()
            .and_then(|t| t.find(Tag::of_number(number)))
            .map_err(|e| self.feed_file_failed(e))?;
        // An event's id slot may share the number's tag: each record once.
        found.sort_by_key(|l| l.offset);
        found.dedup();
        let mut rec = CertificateRecord::default();
        for at in found {
            // A slot names where to look; the record says whether it is.
            let (kind, payload) = read_record(&self.reader, &self.log_path, at.offset, at.len)?;
            let undecodable = |what: &str, e: String| StoreError::CorruptLog {
                offset: at.offset,
                reason: format!("the {what} at a lookup slot does not decode ({e})"),
            };
            if kind == KIND_FORK_PROOF {
                let proof = ForkProof::decode(&payload)
                    .map_err(|e| undecodable("fork proof", e.to_string()))?;
                let names = |e: &SignedEvent| e.content.body.certificate_number() == Some(number);
                if names(&proof.first) || names(&proof.second) {
                    rec.fork_proofs.push(proof);
                }
                continue;
            }
            if kind != KIND_EVENT {
                continue;
            }
            let event =
                SignedEvent::decode(&payload).map_err(|e| undecodable("event", e.to_string()))?;
            if event.content.body.certificate_number() != Some(number) {
                continue;
            }
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

    pub(super) fn read_fork(&self, offset: u64, len: u32) -> Result<ForkProof, StoreError> {
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
        for item in self.read_tree()?.scan_prefix([P_FORK]) {
            let (_, v) = item?;
            let (offset, len) = parse_loc(&v)?;
            out.push(self.read_fork(offset, len)?);
        }
        Ok(out)
    }

    /// Every durable event of the ledger in log (arrival) order, decoded,
    /// for audits and statistics over the whole replica. Nothing is dropped
    /// silently: the answer says how many events were read and lists every
    /// record that could not be (damaged bytes, or a record whose checksum
    /// holds but that does not decode), so a caller can refuse to answer
    /// or mark its answer partial.
    pub fn for_each_event(
        &self,
        f: impl FnMut(&EventId, &SignedEvent),
    ) -> Result<EventScan, StoreError> {
        Ok(self.for_each_event_between(0, None, f)?.0)
    }

    /// Like [`Ledger::for_each_event`], for the records that start at or
    /// after log offset `from` and before `to` (at most the durable end of
    /// the log; `None`: up to it). Also answers the offset it read up to:
    /// passed as `from` later, it visits exactly the events stored since
    /// (an incrementally maintained analysis view does so). `from` must be
    /// 0 (the log's start) or an offset this function answered.
    pub fn for_each_event_between(
        &self,
        from: u64,
        to: Option<u64>,
        mut f: impl FnMut(&EventId, &SignedEvent),
    ) -> Result<(EventScan, u64), StoreError> {
        let synced = lock(&self.commit).synced;
        let end = to.map_or(synced, |t| t.min(synced));
        let start = from.max(HEADER_LEN);
        let mut scan = EventScan::default();
        if start >= end {
            return Ok((scan, end.max(from)));
        }
        let log = LogFile::open_read_only(&self.log_path)?;
        if end - start < SCAN_THREAD_FROM_BYTES || crate::cores::cores() < 2 {
            let reader = log.reader()?;
            log.scan_all(start, |item| {
                if let Some((id, ev)) = visit_item(item, end, &reader, &mut scan) {
                    f(&id, &ev);
                }
                Ok(())
            })?;
            return Ok((scan, end));
        }
        // A long range: one thread reads, checks and decodes the records
        // (and computes each id) while this one visits them, in log order.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(EventId, SignedEvent)>>(4);
        let scan = std::thread::scope(|s| {
            let decoder = s.spawn(move || -> Result<EventScan, StoreError> {
                let reader = log.reader()?;
                let mut chunk = Vec::with_capacity(PIPELINE_CHUNK);
                log.scan_all(start, |item| {
                    if let Some(decoded) = visit_item(item, end, &reader, &mut scan) {
                        chunk.push(decoded);
                        if chunk.len() == PIPELINE_CHUNK {
                            let full =
                                std::mem::replace(&mut chunk, Vec::with_capacity(PIPELINE_CHUNK));
                            // The visitor is gone only when it panicked:
                            // stop reading (its panic is what the caller
                            // sees, not this error).
                            tx.send(full).map_err(|_| {
                                StoreError::Poisoned("a scan of the log lost its visitor".into())
                            })?;
                        }
                    }
                    Ok(())
                })?;
                if !chunk.is_empty() {
                    let _ = tx.send(chunk);
                }
                Ok(scan)
            });
            for chunk in rx {
                for (id, ev) in &chunk {
                    f(id, ev);
                }
            }
            decoder
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })?;
        Ok((scan, end))
    }

    /// The durable end of the log: what [`Ledger::for_each_event_between`]
    /// reads up to now.
    pub fn durable_log_end(&self) -> u64 {
        lock(&self.commit).synced
    }
}

/// Ranges of the log at least this long are read on a thread of their own
/// while the caller of [`Ledger::for_each_event_between`] visits their
/// events (for less, the thread costs more than it saves).
pub const SCAN_THREAD_FROM_BYTES: u64 = 4 << 20;
/// Events handed from the reading thread to the visitor at once.
const PIPELINE_CHUNK: usize = 1024;

/// One item of a log scan: the event a record holds, decoded, with its id;
/// or nothing (another kind of record, or one at or past `end`), with a
/// record that cannot be read listed in `scan`.
fn visit_item(
    item: LogItem,
    end: u64,
    reader: &File,
    scan: &mut EventScan,
) -> Option<(EventId, SignedEvent)> {
    match item {
        LogItem::Damage(d) => {
            if d.offset < end {
                let (author, seq) = recovery::read_place(reader, d.offset, d.to);
                scan.unreadable(DamagedRecord {
                    offset: d.offset,
                    to: d.to.min(end),
                    author,
                    seq,
                    reason: d.reason,
                });
            }
            None
        }
        LogItem::Record(rec) if rec.offset < end => {
            let to = rec.offset + 9 + rec.payload.len() as u64;
            let bad = match rec.kind {
                KIND_EVENT => match SignedEvent::decode(&rec.payload) {
                    Ok(ev) => {
                        scan.events += 1;
                        return Some((ev.id(), ev));
                    }
                    Err(e) => Some(format!("the event does not decode: {e}")),
                },
                KIND_FORK_PROOF => ForkProof::decode(&rec.payload)
                    .err()
                    .map(|e| format!("the fork proof does not decode: {e}")),
                _ => None,
            };
            if let Some(reason) = bad {
                let (author, seq) = recovery::place_at_fixed_offsets(&rec.payload);
                scan.unreadable(DamagedRecord {
                    offset: rec.offset,
                    to,
                    author,
                    seq,
                    reason: format!("the record's checksum holds but {reason}"),
                });
            }
            None
        }
        LogItem::Record(_) => None,
    }
}

/// What [`Ledger::for_each_event`] read: the events, and the records it
/// could not read. An answer computed from a scan with unreadable records
/// is partial.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventScan {
    /// Events read and visited.
    pub events: u64,
    /// The first [`MAX_UNREADABLE_LISTED`] unreadable records (a damaged
    /// stretch of the log counts once), in log order.
    pub unreadable: Vec<DamagedRecord>,
    /// Every unreadable record, counted.
    pub unreadable_count: u64,
}

/// Unreadable records listed in full by [`EventScan`].
pub const MAX_UNREADABLE_LISTED: usize = 1000;

impl EventScan {
    /// Whether every record was read.
    pub fn is_complete(&self) -> bool {
        self.unreadable_count == 0
    }

    fn unreadable(&mut self, d: DamagedRecord) {
        self.unreadable_count += 1;
        if self.unreadable.len() < MAX_UNREADABLE_LISTED {
            self.unreadable.push(d);
        }
    }
}

pub(super) fn prove_err(e: ProveError<StoreError>) -> StoreError {
    match e {
        ProveError::Read(e) => e,
        other => StoreError::OutOfRange(other.to_string()),
    }
}
