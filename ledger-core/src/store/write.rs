//! Validation and group commit: the only code that writes the log.

use super::*;

/// Received events with their ids computed and their signatures verified,
/// by [`Ledger::verify_received`] only (its fields are private, so a batch
/// cannot claim a verification that did not happen), for
/// [`Ledger::append_verified`].
pub struct VerifiedBatch {
    events: Vec<SignedEvent>,
    checked: Vec<Checked>,
}

impl VerifiedBatch {
    /// The events, in the order given.
    pub fn events(&self) -> &[SignedEvent] {
        &self.events
    }

    /// Each event's id, in order.
    pub fn ids(&self) -> impl Iterator<Item = EventId> + '_ {
        self.checked.iter().map(|c| c.id)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl std::fmt::Debug for VerifiedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verified = self.checked.iter().filter(|c| c.key.is_some()).count();
        write!(
            f,
            "VerifiedBatch({} events, {verified} signatures verified)",
            self.events.len()
        )
    }
}

/// What was found about a received event before the writer's lock: its id,
/// and the key its signature verified with (`None`: not verified yet).
#[derive(Clone, Copy)]
pub(super) struct Checked {
    pub(super) id: EventId,
    pub(super) key: Option<ed25519_dalek::VerifyingKey>,
}

/// A write's place in the commit order: its end offset and epoch.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticket {
    pub(super) target: u64,
    pub(super) epoch: u64,
}

/// Records prepared under the writer's lock, written with one `write`.
pub(super) struct Staging {
    /// Framed records.
    buf: Vec<u8>,
    /// (offset, record) of each, in order.
    staged: Vec<(u64, Pending)>,
    /// Feed states before this batch, to restore if the write fails.
    before: HashMap<AuthorId, FeedState>,
    /// Log offset where `buf` will start.
    base: u64,
    /// The synced mark `buf` opens with, if any.
    mark: Option<u64>,
    /// Written even if it holds nothing but its mark ([`Ledger::seal`]).
    seal: bool,
    /// Index keys of held events this write applies or passes, removed
    /// with its commit.
    unhold: Vec<Vec<u8>>,
}

impl Staging {
    pub(super) fn new(base: u64) -> Staging {
        Staging {
            buf: Vec::new(),
            staged: Vec::new(),
            before: HashMap::new(),
            base,
            mark: None,
            seal: false,
            unhold: Vec::new(),
        }
    }

    /// Frames a record; returns its offset.
    pub(super) fn push(&mut self, kind: u8, payload: &[u8]) -> u64 {
        let offset = self.base + self.buf.len() as u64;
        frame(kind, payload, &mut self.buf);
        offset
    }
}

impl Ledger {
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
    /// The same as [`Ledger::append_verified`] of [`Ledger::verify_received`].
    pub fn append_batch(&self, events: Vec<SignedEvent>) -> Result<Vec<AppendOutcome>, StoreError> {
        self.append_verified(self.verify_received(events))
    }

    /// The expensive half of [`Ledger::append_batch`], without any lock the
    /// writers need: computes each event's id and verifies its signature
    /// strictly (RFC 8032) on every core, with the key its feed requires at
    /// the event's place as far as this store knows now (rotations earlier
    /// in `events` included). Nothing is stored and nothing can fail here: a
    /// bad signature is refused by [`Ledger::append_verified`].
    ///
    /// To keep the disk and both cores busy, a caller that receives ranges
    /// of feeds may verify the next range while the previous one is being
    /// appended: events verified before earlier ones were appended are
    /// accepted all the same (a signature is checked against a key, not
    /// against a place), and one whose feed rotated its key meanwhile is
    /// simply verified again under the writer's lock.
    pub fn verify_received(&self, events: Vec<SignedEvent>) -> VerifiedBatch {
        let checked = self.preverify(&events);
        VerifiedBatch { events, checked }
    }

    /// Offers events verified by [`Ledger::verify_received`]: each is
    /// validated against its feed as it stands now (the only signature
    /// check skipped is one made, with the very key the feed now requires,
    /// by `verify_received`), the accepted ones are written with one log
    /// write and made durable with one group commit.
    ///
    /// **When it returns `Ok`**, every event whose outcome is
    /// [`AppendOutcome::Appended`] or [`AppendOutcome::Forked`] is on disk
    /// (the log was `fdatasync`ed past it; the index is applied behind, and
    /// every read sees the event); `Duplicate` was already stored; `Held`
    /// is kept ahead of a gap, not durable; `Rejected` stored nothing.
    /// **`Err(StoreError::NotStored)`**: nothing of this batch is stored or
    /// visible (a failed sync was cut from the log), the store keeps
    /// running, and offering the same events again is safe. Batches of one
    /// feed must be offered in feed order: one offered before the batch it
    /// follows is held, not appended.
    pub fn append_verified(&self, batch: VerifiedBatch) -> Result<Vec<AppendOutcome>, StoreError> {
        self.heal_index()?;
        let VerifiedBatch {
            events,
            checked: pre,
        } = batch;
        let mut outcomes = Vec::with_capacity(events.len());
        let target;
        {
            let mut st = lock(&self.state);
            st.fresh_timeline(&self.charter);
            let mut stage = self.new_stage(&mut st);
            for (ev, pre) in events.into_iter().zip(pre) {
                match self.offer(&mut st, ev, Some(pre), &mut stage, true) {
                    Ok(o) => outcomes.push(o),
                    Err(e) => {
                        // Nothing of this batch is written: undo its staging.
                        self.rollback(&mut st, &stage.staged, stage.before);
                        return Err(self.index_failure(e));
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
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        self.heal_index()?;
        // A body the feed already holds is a retry: answered with the
        // original event, never signed again.
        self.recent_bodies(author)
            .map_err(|e| self.index_failure(e))?;
        let digests: Vec<Digest> = bodies.iter().map(retry::body_digest).collect();
        let mut answer: Vec<Option<(EventId, u64)>> = {
            let recent = lock(&self.recent);
            let r = recent.get(author);
            digests.iter().map(|d| r.and_then(|r| r.get(d))).collect()
        };
        // Within one call, a body repeated is one act too.
        let mut first_in_call: HashMap<Digest, usize> = HashMap::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        let mut fresh: Vec<(usize, EventBody)> = Vec::new();
        for (i, (body, d)) in bodies.into_iter().zip(&digests).enumerate() {
            if answer[i].is_some() {
                continue;
            }
            match first_in_call.get(d) {
                Some(&j) => repeats.push((i, j)),
                None => {
                    first_in_call.insert(*d, i);
                    fresh.push((i, body));
                }
            }
        }
        if fresh.is_empty() {
            for (i, j) in repeats {
                answer[i] = answer[j];
            }
            return Ok(answer.into_iter().flatten().collect());
        }
        let (places, bodies): (Vec<usize>, Vec<EventBody>) = fresh.into_iter().unzip();
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
            {
                let mut auth = lock(&self.authoring);
                auth.settle(author).map_err(|e| {
                    StoreError::NotStored(format!(
                        "the record of this feed's last acknowledged place could not be written ({e})"
                    ))
                })?;
            }
            if let Some(rec) = lock(&self.authoring).get(author) {
                if feed.head_seq < rec.seq {
                    return Err(StoreError::OwnFeedBehind {
                        author: author.clone(),
                        store_head: feed.head_seq,
                        record_seq: rec.seq,
                    });
                }
            }
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
                // The signed bytes are encoded once: the id, the signature
                // and the stored encoding all come from them.
                let bytes = unsigned.content.signed_bytes();
                let id = crate::hash::sha256(&[&bytes]);
                shadow.advance(&unsigned, id);
                contents.push((unsigned.content, bytes, id));
            }
            let signed = sign_parallel(key, contents)?;
            let mut stage = self.new_stage(&mut st);
            stage.before.insert(author.clone(), feed);
            for (ev, encoded, id) in signed {
                result.push((id, ev.content.seq));
                // Visible to duplicate and fork checks until indexed.
                self.stage_encoded(&mut st, ev, encoded, id, &mut stage);
            }
            target = self.write_staged(&mut st, stage)?;
        }
        self.wait_durable(target)?;
        // Before the caller is answered: this place of the own feed is taken.
        // If the record cannot be written, the events are stored all the
        // same (so the answer says so); the store is degraded and authors
        // nothing more in this feed until the record is written.
        if let Some(&(id, seq)) = result.last() {
            if let Err(e) = lock(&self.authoring).record(author, seq, id) {
                lock(&self.commit).error = Some(format!(
                    "the authoring record could not be written ({e}); own writes are refused until it is"
                ));
            }
        }
        {
            let mut recent = lock(&self.recent);
            let r = recent.entry(author.clone()).or_default();
            for (&i, &(id, seq)) in places.iter().zip(&result) {
                r.push(digests[i], id, seq);
            }
        }
        for (&i, &out) in places.iter().zip(&result) {
            answer[i] = Some(out);
        }
        for (i, j) in repeats {
            answer[i] = answer[j];
        }
        Ok(answer.into_iter().flatten().collect())
    }

    /// Makes the durable watermark cover everything acknowledged so far:
    /// writes a synced mark for the log's durable length and syncs it. Marks
    /// otherwise ride on the next write, so call this when the store goes
    /// idle and before closing (dropping the store does it), so that a
    /// damaged last record is never mistaken for a torn write.
    pub fn seal(&self) -> Result<(), StoreError> {
        self.heal_index()?;
        self.seal_once()
    }

    fn seal_once(&self) -> Result<(), StoreError> {
        let ticket = {
            let mut st = lock(&self.state);
            if !st.queue.is_empty() {
                None
            } else {
                let mut stage = self.new_stage(&mut st);
                if stage.mark.is_none() {
                    None
                } else {
                    stage.seal = true;
                    Some(self.write_staged(&mut st, stage)?)
                }
            }
        };
        if let Some(t) = ticket {
            if t.target > 0 {
                self.wait_durable(t)?;
            }
        }
        let synced = lock(&self.commit).synced;
        let mut last = lock(&self.watermark_written);
        if synced > *last {
            // A failure here is the watermark file's alone (a failed mark
            // is a failed commit, reported as one).
            if let Err(e) = watermark::write(&self.dir, synced) {
                *lock(&self.seal_error) = Some(e.to_string());
                return Err(e);
            }
            *last = synced;
        }
        *lock(&self.seal_error) = None;
        Ok(())
    }

    /// The authoring record of every own feed: the highest place this store
    /// acknowledged in an own-feed append ([`Ledger::append_own`]).
    pub fn authoring_records(&self) -> Vec<AuthoringRecord> {
        lock(&self.authoring).all()
    }

    /// Why the store refuses writes right now (after an I/O error such as a
    /// full disk, until a write succeeds again), or `None` when it accepts them.
    pub fn degraded(&self) -> Option<String> {
        let mut reasons = Vec::new();
        if let Some(r) = self.index_broken_reason() {
            reasons.push(format!(
                "the index is being rebuilt after an I/O error: {r}"
            ));
        }
        if let Some(r) = lock(&self.commit).error.clone() {
            reasons.push(r);
        }
        if let Some(r) = lock(&self.authoring).unwritten_reason() {
            reasons.push(r);
        }
        if let Some(r) = lock(&self.seal_error).clone() {
            reasons.push(format!("the durable watermark cannot be written: {r}"));
        }
        reasons.dedup();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// A sled error met while validating or staging a write: the index is
    /// not to be trusted until rebuilt, and nothing of the write was kept.
    /// (So is a read refused because an index batch applied behind an
    /// earlier write failed meanwhile.)
    fn index_failure(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Sled(err) => {
                let reason = format!("index database error: {err}");
                self.mark_index_broken(reason.clone());
                StoreError::NotStored(reason)
            }
            StoreError::Corrupt(_) => match self.index_broken_reason() {
                Some(reason) => StoreError::NotStored(format!(
                    "the index is being rebuilt after an I/O error ({reason})"
                )),
                None => e,
            },
            e => e,
        }
    }

    /// The authoring record of one own feed.
    pub fn authoring_record(&self, author: &AuthorId) -> Option<AuthoringRecord> {
        lock(&self.authoring).get(author).cloned()
    }

    /// Computes the id of every event and verifies, on every core and
    /// without the writer's lock, the signatures of events of known feeds
    /// with the key each feed would require at the event's place (keys
    /// rotated earlier in `events` included). A key chosen here is only a
    /// guess at what the feed will require when the event is staged: the
    /// writer checks that the feed requires that very key before it skips
    /// its own check, so a guess that turns out wrong (a rotation written
    /// meanwhile) costs a second check, never a wrongly accepted event.
    pub(super) fn preverify(&self, events: &[SignedEvent]) -> Vec<Checked> {
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
        let keys: Vec<Option<ed25519_dalek::VerifyingKey>> = events
            .iter()
            .map(|ev| {
                let f = shadow.get_mut(ev.author())?;
                if ev.content.seq <= f.head_seq {
                    // A duplicate or a fork: checked by the writer.
                    return None;
                }
                let k = f.signing_key_for(ev).ok();
                f.head_seq = ev.content.seq;
                let later = f.keys.last().is_none_or(|e| e.from_seq <= ev.content.seq);
                if later {
                    f.apply_rotation(ev);
                }
                k
            })
            .collect();
        let check = |part: &[SignedEvent], keys: &[Option<ed25519_dalek::VerifyingKey>]| {
            part.iter()
                .zip(keys)
                .map(|(ev, k)| {
                    let bytes = ev.content.signed_bytes();
                    let id = crate::hash::sha256(&[&bytes]);
                    let sig = ed25519_dalek::Signature::from_bytes(ev.signature.as_bytes());
                    let key = k.filter(|k| k.verify_strict(&bytes, &sig).is_ok());
                    Checked { id, key }
                })
                .collect::<Vec<Checked>>()
        };
        let threads = crate::cores::cores();
        if threads < 2 || events.len() < 32 {
            return check(events, &keys);
        }
        let chunk = events.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = events
                .chunks(chunk)
                .zip(keys.chunks(chunk))
                .map(|(part, keys)| (part, s.spawn(move || check(part, keys))))
                .collect();
            let mut out = Vec::with_capacity(events.len());
            for (part, h) in handles {
                match h.join() {
                    Ok(v) => out.extend(v),
                    // Nothing verified here: the writer checks each itself.
                    Err(_) => out.extend(part.iter().map(|ev| Checked {
                        id: ev.id(),
                        key: None,
                    })),
                }
            }
            out
        })
    }

    /// Makes sure `author` has a feed: charter authors always do; an author
    /// admitted by an adopted governance decision gets its genesis state on
    /// first use. Returns false for an author nobody admitted.
    pub(super) fn ensure_feed(&self, st: &mut State, author: &AuthorId) -> bool {
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

    /// Validates one event against the in-memory state and stages its record.
    pub(super) fn offer(
        &self,
        st: &mut State,
        ev: SignedEvent,
        pre: Option<Checked>,
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
        let (id, pre) = match pre {
            Some(p) => (p.id, p.key),
            None => (ev.id(), None),
        };
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
            let head = feed.head_seq;
            let out = self.hold(&author, c.seq, &id, &ev, head)?;
            if matches!(out, AppendOutcome::Held { .. }) {
                st.held_authors.insert(author);
            }
            return Ok(out);
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

    pub(super) fn stage_event(
        &self,
        st: &mut State,
        ev: SignedEvent,
        id: EventId,
        stage: &mut Staging,
    ) {
        let payload = ev.encode();
        self.stage_encoded(st, ev, payload, id, stage)
    }

    /// Stages an event whose canonical encoding is `payload`.
    pub(super) fn stage_encoded(
        &self,
        st: &mut State,
        ev: SignedEvent,
        payload: Vec<u8>,
        id: EventId,
        stage: &mut Staging,
    ) {
        let offset = stage.push(KIND_EVENT, &payload);
        if let Some(f) = st.feeds.get_mut(ev.author()) {
            f.advance(&ev, id);
        }
        if st.gov.insert(id, &ev) {
            st.timeline_dirty = true;
        }
        st.unindexed.insert(
            (ev.author().clone(), ev.content.seq),
            (id, ev.clone(), offset),
        );
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

    pub(super) fn stage_fork(
        &self,
        st: &mut State,
        proof: &ForkProof,
        stage: &mut Staging,
    ) -> bool {
        let k = fork_key(proof);
        let count = st.fork_counts.get(proof.author()).copied().unwrap_or(0);
        if st.unindexed_forks.contains_key(&k)
            || self.tree().contains_key(&k).unwrap_or(false)
            || count >= MAX_FORK_PROOFS_PER_AUTHOR
        {
            return false;
        }
        let payload = proof.encode();
        let offset = stage.push(KIND_FORK_PROOF, &payload);
        st.unindexed_forks.insert(k, offset);
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

    pub(super) fn hold(
        &self,
        author: &AuthorId,
        seq: u64,
        id: &EventId,
        ev: &SignedEvent,
        head: u64,
    ) -> Result<AppendOutcome, StoreError> {
        let prefix = key(P_HELD, &[&author.key_bytes()]);
        let held = self
            .tree()
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
        self.tree().insert(
            key(
                P_HELD,
                &[&author.key_bytes(), &seq.to_be_bytes(), id.as_bytes()],
            ),
            ev.encode(),
        )?;
        Ok(AppendOutcome::Held { id: *id, head })
    }

    /// Moves held events that now fit onto the feed.
    pub(super) fn release_held(
        &self,
        st: &mut State,
        author: &AuthorId,
        stage: &mut Staging,
    ) -> Result<(), StoreError> {
        // Most feeds hold nothing: no index scan per appended event.
        if !st.held_authors.contains(author) {
            return Ok(());
        }
        let all = key(P_HELD, &[&author.key_bytes()]);
        if self.tree().scan_prefix(&all).next().is_none() {
            st.held_authors.remove(author);
            return Ok(());
        }
        loop {
            let next = st.feeds[author].head_seq + 1;
            let prefix = key(P_HELD, &[&author.key_bytes(), &next.to_be_bytes()]);
            let mut candidates = Vec::new();
            for item in self.tree().scan_prefix(&prefix) {
                let (k, v) = item?;
                stage.unhold.push(k.to_vec());
                if let Ok(ev) = SignedEvent::decode(&v) {
                    candidates.push(ev);
                }
            }
            // Drop held events that the head has passed.
            let old = key(P_HELD, &[&author.key_bytes()]);
            for item in self.tree().range(old.clone()..prefix.clone()) {
                let (k, _) = item?;
                stage.unhold.push(k.to_vec());
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
    pub(super) fn key_evidence(
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
    pub(super) fn write_staged(
        &self,
        st: &mut State,
        stage: Staging,
    ) -> Result<Ticket, StoreError> {
        let Staging {
            buf,
            staged,
            before,
            mark,
            seal,
            unhold,
            ..
        } = stage;
        if staged.is_empty() && !(seal && mark.is_some()) {
            return Ok(Ticket {
                target: 0,
                epoch: st.epoch,
            });
        }
        if let Err(e) = st.log.append(&buf) {
            self.rollback(st, &staged, before);
            let reason = e.to_string();
            lock(&self.commit).error = Some(reason.clone());
            return Err(StoreError::NotStored(reason));
        }
        if let Some(m) = mark {
            st.last_mark = m;
        }
        st.queue.extend(staged.into_iter().map(|(_, p)| p));
        st.queue
            .extend(unhold.into_iter().map(|key| Pending::Unhold { key }));
        Ok(Ticket {
            target: st.log.end,
            epoch: st.epoch,
        })
    }

    /// A staging buffer for the next write, opened with a synced mark when
    /// more of the log has become durable since the last mark.
    pub(super) fn new_stage(&self, st: &mut State) -> Staging {
        let synced = self.synced.load(std::sync::atomic::Ordering::Acquire);
        let mut stage = Staging::new(st.log.end);
        if synced > st.last_mark && synced <= st.log.end {
            frame_synced(synced, &mut stage.buf);
            stage.mark = Some(synced);
        }
        stage
    }

    /// Undoes what staging did to the in-memory state (feed heads, unindexed
    /// lookups, fork counts) when the staged records will not be written.
    pub(super) fn rollback(
        &self,
        st: &mut State,
        staged: &[(u64, Pending)],
        before: HashMap<AuthorId, FeedState>,
    ) {
        for (a, f) in before {
            st.feeds.insert(a, f);
        }
        forget_pending(st, staged.iter().map(|(_, p)| p));
    }

    /// Blocks until everything up to log offset `ticket.target` is durable
    /// and indexed, leading a group commit if no one else is. Fails, with
    /// nothing of the write left in the log, the index or memory, when the
    /// group commit that covered it failed and was rolled back.
    pub(super) fn wait_durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut c = lock(&self.commit);
        loop {
            if c.epoch != ticket.epoch {
                // A rollback ended the write's epoch: it is durable only if
                // it was synced before that rollback.
                let end = c
                    .ended
                    .iter()
                    .find(|(e, _)| *e == ticket.epoch)
                    .map(|(_, synced)| *synced);
                return match end {
                    Some(synced) if synced >= ticket.target => Ok(()),
                    _ => Err(StoreError::NotStored(
                        c.error
                            .clone()
                            .unwrap_or_else(|| "a group commit failed".into()),
                    )),
                };
            }
            if c.synced >= ticket.target {
                return Ok(());
            }
            if !c.leader {
                c.leader = true;
                drop(c);
                let res = self.commit_once();
                match res {
                    Ok(end) => {
                        c = lock(&self.commit);
                        c.leader = false;
                        c.synced = c.synced.max(end);
                        c.error = None;
                        self.synced
                            .store(c.synced, std::sync::atomic::Ordering::Release);
                    }
                    Err((e, queue)) => {
                        self.roll_back_commit(queue, &e);
                        c = lock(&self.commit);
                    }
                }
                self.committed.notify_all();
            } else {
                c = self.committed.wait(c).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    /// After a failed group commit: cuts the log back to the last durable
    /// offset and puts the in-memory state back to what the index holds, so
    /// that nothing of the failed writes is visible or durable; ends the
    /// epoch so their writers learn they failed. The store stays open and
    /// the next write tries again.
    fn roll_back_commit(&self, failed: Vec<Pending>, e: &StoreError) {
        let mut st = lock(&self.state);
        let synced = lock(&self.commit).synced;
        let pending: Vec<Pending> = failed
            .into_iter()
            .chain(std::mem::take(&mut st.queue))
            .collect();
        forget_pending(&mut st, pending.iter());
        {
            let d = lock(&self.durable_feeds);
            for (a, f) in d.feeds.iter() {
                st.feeds.insert(a.clone(), f.clone());
            }
        }
        let mut reason = e.to_string();
        if let Err(cut) = st.log.roll_back(synced) {
            // `end` still moves back: the next append cuts the file first.
            st.log.end = synced;
            reason = format!("{reason}; cutting the log back also failed ({cut}), so the failed write may reappear after a restart (retrying it is safe)");
        }
        st.last_mark = st.last_mark.min(synced);
        st.epoch += 1;
        let mut c = lock(&self.commit);
        let ended = c.epoch;
        c.ended.push((ended, synced));
        if c.ended.len() > 64 {
            c.ended.remove(0);
        }
        c.epoch = st.epoch;
        c.leader = false;
        c.error = Some(reason);
    }

    /// One group commit: fdatasync the log, then hand what it covered to
    /// the indexer (its writers are answered without waiting for the index).
    /// On failure of the sync, hands back what it took from the queue.
    #[allow(clippy::result_large_err)]
    pub(super) fn commit_once(&self) -> Result<u64, (StoreError, Vec<Pending>)> {
        let (end, queue) = {
            let mut st = lock(&self.state);
            forget_indexed(&mut st, self.indexer.applied());
            (st.log.end, std::mem::take(&mut st.queue))
        };
        if let Err(e) = crate::store::faults::check(crate::store::faults::Site::LogSync)
            .and_then(|_| self.reader.sync_data())
        {
            return Err((io_err(&self.log_path, e), queue));
        }
        // Durable: heads and frontiers move to exactly `end` (the live state
        // may be further on).
        let mut heads: std::collections::HashSet<AuthorId> = Default::default();
        let mut nodes = Vec::new();
        let heads = {
            let mut guard = lock(&self.durable_feeds);
            let d = &mut *guard;
            for p in &queue {
                if let Pending::Event { event, id, .. } = p {
                    let a = event.author();
                    if let Some(f) = d.feeds.get_mut(a) {
                        f.advance(event, *id);
                    }
                    if !heads.contains(a) {
                        heads.insert(a.clone());
                    }
                    nodes.push(tree_nodes(&mut d.trees, a, id));
                }
            }
            heads
                .into_iter()
                .filter_map(|a| d.feeds.get(&a).cloned().map(|f| (a, f)))
                .collect()
        };
        // An injected failure of the index batch (the store's own tests) is
        // met here, on the committing thread, and reported as the batch's.
        let fault = crate::store::faults::check(crate::store::faults::Site::Index)
            .err()
            .map(|e| io_err(&self.dir.join("index"), e).to_string());
        self.indexer.submit(indexer::IndexJob {
            end,
            tree: self.tree(),
            files: self.files(),
            pending: queue,
            heads,
            nodes,
            fault,
        });
        Ok(end)
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
        self.heal_index()?;
        let (new, target) = {
            let mut st = lock(&self.state);
            let mut stage = self.new_stage(&mut st);
            let new = self.stage_fork(&mut st, &proof, &mut stage);
            (new, self.write_staged(&mut st, stage)?)
        };
        self.wait_durable(target)?;
        Ok(new)
    }
}

/// Refuses an event whose author may not sign on the event's date (not yet
/// admitted, expelled, or a removed authority), per the timeline.
pub(super) fn member_check(timeline: &Timeline, ev: &SignedEvent) -> Result<(), EventError> {
    let date = Date::from_unix_ms(ev.content.timestamp_ms);
    timeline
        .check_author(ev.author(), date)
        .map_err(|e| EventError::NotAMember {
            author: ev.author().clone(),
            date: date.to_string(),
            reason: e.to_string(),
        })
}

/// One event to sign: its content, the content's signed bytes and its id.
pub(super) type ToSign = (EventContent, Vec<u8>, EventId);

/// Signs contents on every core (ids are already fixed, so order is free).
/// Returns each event with its canonical encoding and its id.
pub(super) fn sign_parallel(
    key: &AuthorityKey,
    contents: Vec<ToSign>,
) -> Result<Vec<(SignedEvent, Vec<u8>, EventId)>, StoreError> {
    let sign = |k: &AuthorityKey, (c, bytes, id): ToSign| {
        let (ev, encoded) = k.sign_encoded(c, &bytes);
        (ev, encoded, id)
    };
    let n = contents.len();
    let threads = crate::cores::cores();
    if n < 64 || threads < 2 {
        return Ok(contents.into_iter().map(|c| sign(key, c)).collect());
    }
    let chunk = n.div_ceil(threads);
    let seed = key.seed();
    let mut parts: Vec<Vec<ToSign>> = Vec::new();
    let mut it = contents.into_iter();
    loop {
        let part: Vec<ToSign> = it.by_ref().take(chunk).collect();
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
                    part.into_iter().map(|c| sign(&k, c)).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            // A signing thread that panicked signed nothing usable: the
            // whole run is refused rather than written with a hole in it.
            let part = h.join().map_err(|_| {
                StoreError::NotStored("a signing thread failed; nothing was signed".into())
            })?;
            out.extend(part);
        }
        if out.len() != n {
            return Err(StoreError::NotStored(format!(
                "signed {} of {n} events; nothing was written",
                out.len()
            )));
        }
        Ok(out)
    })
}

/// Forgets the in-memory copies of events and fork proofs that the index
/// now holds: those below `applied` (nothing while the index is broken:
/// until it is rebuilt, memory is where they are found).
fn forget_indexed(st: &mut State, applied: Option<u64>) {
    let Some(applied) = applied else {
        return;
    };
    st.unindexed.retain(|_, (_, _, offset)| *offset >= applied);
    st.unindexed_forks.retain(|_, offset| *offset >= applied);
}

/// Forgets what staging recorded in memory for records that will not be
/// (or no longer are) in the log: unindexed lookups, governance events,
/// fork counts.
fn forget_pending<'a>(st: &mut State, pending: impl Iterator<Item = &'a Pending>) {
    let mut gov_changed = false;
    for p in pending {
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
            Pending::Unhold { .. } => {}
        }
    }
    if gov_changed {
        st.timeline_dirty = true;
    }
}
