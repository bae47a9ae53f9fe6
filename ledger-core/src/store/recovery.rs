//! Opening a store: replaying the log past the index's watermark, telling
//! a torn tail (cut, kept aside) from damage (the store refuses to open).

use super::*;
use crate::replica::{ReplicaVerifier, Signatures, Verdict};

/// Lookup slots a replay into the table gathers before handing them over
/// (the table bounds what it holds itself).
const REPLAY_SLOTS_HELD: usize = 65_536;

/// What opening the store had to do, for the operator's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Why the index was rebuilt from the whole log, if it was.
    pub index_rebuilt: Option<String>,
    /// Records replayed from the log into the index.
    pub replayed_records: u64,
    /// Records before the index's offset replayed into the lookup table
    /// only (its recent slots, which a crash lost).
    pub lookup_records: u64,
    /// The durable watermark found: every byte before it was synced.
    pub watermark: u64,
    /// A torn tail that was cut.
    pub torn_tail: Option<TornTail>,
}

/// The remains of an unacknowledged write, cut from the end of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub offset: u64,
    pub bytes: u64,
    /// The side file holding every cut byte.
    pub kept_in: String,
    pub reason: String,
}

/// One damaged stretch of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedRecord {
    pub offset: u64,
    /// Where the next valid record starts (or the end of the file).
    pub to: u64,
    pub author: Option<AuthorId>,
    pub seq: Option<u64>,
    pub reason: String,
}

impl std::fmt::Display for DamagedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bytes {}..{}", self.offset, self.to)?;
        match (&self.author, self.seq) {
            (Some(a), Some(s)) => write!(f, " ({a} seq {s})")?,
            _ => write!(f, " (author and seq unreadable)")?,
        }
        write!(f, ": {}", self.reason)
    }
}

/// Why a store does not open: its log is damaged where acknowledged
/// records lie, so cutting it would lose them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamageReport {
    pub log: String,
    /// The first damaged stretches (at most 64).
    pub damaged: Vec<DamagedRecord>,
    /// How many damaged stretches there are in all.
    pub stretches: u64,
    /// Valid records found after the first damage.
    pub valid_after: u64,
    pub watermark: u64,
}

impl std::fmt::Display for DamageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} damaged stretch(es) where acknowledged records lie (durable up to byte {}; {} valid record(s) follow the first damage), so nothing was cut: ",
            self.log, self.stretches, self.watermark, self.valid_after
        )?;
        for (i, d) in self.damaged.iter().take(5).enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{d}")?;
        }
        if self.stretches > 5 {
            write!(f, "; and {} more", self.stretches - 5)?;
        }
        write!(
            f,
            ". Stop nothing else: run `kpl-node repair --data-dir DIR --from-node URL` (keeps every valid record, moves the damaged bytes to store/quarantine/, and fetches the damaged events again from a member's node), or `kpl-node check --data-dir DIR` to list every damaged record first"
        )
    }
}

impl Ledger {
    /// Replays the log from `applied` into the index, cutting a torn tail.
    pub(super) fn recover(&self, applied: u64) -> Result<(), StoreError> {
        let mut st = lock(&self.state);
        let mut batch = sled::Batch::default();
        let files = self.files();
        let mut file_batch = FileBatch::default();
        // Merkle frontiers as of the index, from the feed files (checked
        // against the heads when the store opened).
        let mut trees: HashMap<AuthorId, Frontier> = HashMap::new();
        for (author, f) in st.feeds.iter() {
            let frontier =
                Frontier::load(&files.tree(&author.key_bytes(), f.head_seq)?, f.head_seq)?;
            trees.insert(author.clone(), frontier);
        }
        let mut touched: Vec<AuthorId> = Vec::new();
        let mut records = 0u64;
        // The durable watermark: the index's offset (it is written only
        // after the log was synced that far) and every synced mark.
        let mut watermark = applied;
        let beside = watermark::read(&self.dir).unwrap_or(0);
        let file_len = st.log.file_len()?;
        if beside > file_len {
            return Err(StoreError::Damaged(Box::new(DamageReport {
                log: self.log_path.display().to_string(),
                damaged: vec![DamagedRecord {
                    offset: file_len,
                    to: beside,
                    author: None,
                    seq: None,
                    reason: format!(
                        "the log holds {file_len} bytes but {} says {beside} were synced: acknowledged records are missing from its end (an older copy of the log restored, or a lost tail)",
                        watermark::FILE
                    ),
                }],
                stretches: 1,
                valid_after: 0,
                watermark: beside,
            })));
        }
        watermark = watermark.max(beside);
        let mut damage: Vec<Damage> = Vec::new();
        let mut valid_after_damage = 0u64;
        let mut indexed_end = applied;
        // The lookup table may be behind the index (it is synced in bulk):
        // the records between are replayed into it alone.
        let lookup_from = files.lookups()?.covered();
        let mut lookup_records = 0u64;
        {
            // The one replica verifier, without signatures (every event was
            // verified strictly when it was accepted), resumed from the
            // state the index holds.
            let mut verifier = ReplicaVerifier::resume(
                &self.charter,
                Signatures::Unchecked,
                std::mem::take(&mut st.feeds),
                std::mem::take(&mut st.gov),
            );
            let log = &st.log;
            // From the header: the part the index covers is only checked
            // (checksums, synced marks), so that damage anywhere is found
            // before the store opens, not by a reader later.
            log.scan_all(HEADER_LEN, |item| {
                let rec = match item {
                    LogItem::Damage(d) => {
                        damage.push(d);
                        return Ok(());
                    }
                    LogItem::Record(rec) => rec,
                };
                let rec_end = rec.offset + 9 + rec.payload.len() as u64;
                if rec.offset < applied {
                    if rec.kind == KIND_SYNCED {
                        if let Some(m) = synced_mark(&rec.payload).filter(|m| *m <= rec.offset) {
                            watermark = watermark.max(m);
                        }
                    } else if !damage.is_empty() {
                        valid_after_damage += 1;
                    } else if rec.offset >= lookup_from {
                        match lookup_slots(&mut file_batch, rec.offset, rec.kind, &rec.payload) {
                            Ok(true) => lookup_records += 1,
                            Ok(false) => {}
                            Err(reason) => damage.push(Damage {
                                offset: rec.offset,
                                to: rec_end,
                                reason,
                            }),
                        }
                        if file_batch.lookups_len() >= REPLAY_SLOTS_HELD {
                            file_batch.write(&files)?;
                        }
                    }
                    return Ok(());
                }
                if rec.kind == KIND_SYNCED {
                    match synced_mark(&rec.payload) {
                        Some(m) if m <= rec.offset => watermark = watermark.max(m),
                        _ => damage.push(Damage {
                            offset: rec.offset,
                            to: rec_end,
                            reason: "a synced mark names an offset past itself".into(),
                        }),
                    }
                    if damage.is_empty() {
                        indexed_end = rec_end;
                    }
                    return Ok(());
                }
                if !damage.is_empty() {
                    // Past damage nothing is indexed; the scan only learns
                    // whether valid records (and marks) follow it.
                    valid_after_damage += 1;
                    return Ok(());
                }
                let mut replay = Replay {
                    verifier: &mut verifier,
                    trees: &mut trees,
                    files: &mut file_batch,
                };
                match replay.record(&mut batch, rec.offset, rec.kind, &rec.payload) {
                    Ok(Some(author)) => touched.push(author),
                    Ok(None) => {}
                    Err(reason) => {
                        damage.push(Damage {
                            offset: rec.offset,
                            to: rec_end,
                            reason,
                        });
                        return Ok(());
                    }
                }
                records += 1;
                indexed_end = rec_end;
                if file_batch.len() >= 4096 {
                    // Written as it goes; synced once, before the heads.
                    file_batch.write(&files)?;
                }
                Ok(())
            })?;
            let (feeds, gov, timeline) = verifier.into_parts();
            st.feeds = feeds;
            st.gov = gov;
            st.timeline = Arc::new(timeline);
            st.timeline_dirty = false;
        }
        let end = if let Some(first) = damage.first() {
            // A torn tail is only the remains of a write that was never
            // synced: one damaged stretch that reaches the end of the file,
            // with no valid record after it, past every byte known durable.
            let torn = damage.len() == 1
                && first.to == file_len
                && valid_after_damage == 0
                && first.offset >= watermark;
            if !torn {
                let places = damage
                    .iter()
                    .take(64)
                    .map(|d| self.describe_damage(d))
                    .collect::<Vec<_>>();
                return Err(StoreError::Damaged(Box::new(DamageReport {
                    log: self.log_path.display().to_string(),
                    damaged: places,
                    stretches: damage.len() as u64,
                    valid_after: valid_after_damage,
                    watermark,
                })));
            }
            let cut = st.log.truncate(first.offset)?;
            self.recovery
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .torn_tail = Some(TornTail {
                offset: first.offset,
                bytes: cut,
                kept_in: st
                    .log
                    .path
                    .with_extension(format!("torn-tail-{}", first.offset))
                    .display()
                    .to_string(),
                reason: first.reason.clone(),
            });
            first.offset
        } else {
            indexed_end
        };
        {
            let mut r = self.recovery.lock().unwrap_or_else(|p| p.into_inner());
            r.replayed_records = records;
            r.lookup_records = lookup_records;
            r.watermark = watermark;
        }
        st.log.end = end;
        st.fresh_timeline(&self.charter);
        touched.sort();
        touched.dedup();
        for a in &touched {
            batch.insert(key(P_HEAD, &[&a.key_bytes()]), codec::encode(&st.feeds[a]));
        }
        if end != applied {
            batch.insert(META_APPLIED, &end.to_be_bytes());
        }
        // The feed files' bytes are durable before the heads that cover them.
        file_batch.write_and_sync(&files, end)?;
        self.tree().apply_batch(batch)?;
        for (a, f) in st.feeds.iter() {
            files.set_head(&a.key_bytes(), f.head_seq);
        }
        {
            let mut d = lock(&self.durable_feeds);
            d.feeds = st.feeds.clone();
            d.trees = trees;
        }
        st.last_mark = watermark;
        drop(st);
        lock(&self.commit).synced = end;
        self.synced.store(end, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Names a damaged stretch: where, and the author and seq of the
    /// event whose record starts there when they can still be read.
    pub(super) fn describe_damage(&self, d: &Damage) -> DamagedRecord {
        let (author, seq) = read_place(&self.reader, d.offset, d.to);
        DamagedRecord {
            offset: d.offset,
            to: d.to,
            author,
            seq,
            reason: d.reason.clone(),
        }
    }
}

/// The author and seq of the event whose (damaged) record starts at
/// `offset`, read from their fixed places in the encoding when the record
/// no longer decodes: after the record header (8 bytes), the kind (1), the
/// format version (1) and the network id (32) come the participant code
/// (2), the authority name's length (1) and the name, padded to 8 bytes of
/// length prefix as the canonical encoding writes it, then seq u64 LE.
pub(super) fn read_place(f: &File, offset: u64, to: u64) -> (Option<AuthorId>, Option<u64>) {
    use std::os::unix::fs::FileExt;
    let n = (to.saturating_sub(offset)).min(8 + 1 + 1 + 32 + 2 + 8 + 255 + 8) as usize;
    let mut b = vec![0u8; n];
    if f.read_exact_at(&mut b, offset).is_err() {
        return (None, None);
    }
    if b.len() < 9 + 1 + 32 + 2 + 8 || b[8] != KIND_EVENT {
        return (None, None);
    }
    let p = &b[9..];
    if let Ok(ev) = SignedEvent::decode(p) {
        return (Some(ev.author().clone()), Some(ev.seq()));
    }
    place_at_fixed_offsets(p)
}

/// See [`read_place`]: the layout is version (1) network (32) code (2)
/// name length (u64 LE, 8) name seq (u64 LE).
pub(super) fn place_at_fixed_offsets(p: &[u8]) -> (Option<AuthorId>, Option<u64>) {
    let Some(code) = p.get(33..35) else {
        return (None, None);
    };
    let Some(len) = p.get(35..43) else {
        return (None, None);
    };
    let n = u64::from_le_bytes(len.try_into().unwrap_or([0xff; 8]));
    if n == 0 || n > 64 {
        return (None, None);
    }
    let name_end = 43 + n as usize;
    let (Some(name), Some(seq)) = (p.get(43..name_end), p.get(name_end..name_end + 8)) else {
        return (None, None);
    };
    let (Ok(code), Ok(name)) = (std::str::from_utf8(code), std::str::from_utf8(name)) else {
        return (None, None);
    };
    match AuthorId::new(code, name) {
        Ok(a) => (
            Some(a),
            Some(u64::from_le_bytes(seq.try_into().unwrap_or([0; 8]))),
        ),
        Err(_) => (None, None),
    }
}

/// Applies logged records to derived state and an index batch: the one
/// replay shared by recovery (past the index's offset) and the rebuild of
/// a broken index (the whole log). The chain rules are the replica
/// verifier's (without signatures: each event was verified strictly when
/// the store accepted it); this adds the index entries.
pub(super) struct Replay<'a> {
    pub(super) verifier: &'a mut ReplicaVerifier,
    pub(super) trees: &'a mut HashMap<AuthorId, Frontier>,
    pub(super) files: &'a mut FileBatch,
}

impl Replay<'_> {
    /// Replays one record (not a synced mark); returns the author whose
    /// feed it extended, or why the record cannot be what the log holds.
    pub(super) fn record(
        &mut self,
        batch: &mut sled::Batch,
        offset: u64,
        kind: u8,
        payload: &[u8],
    ) -> Result<Option<AuthorId>, String> {
        let len = payload.len() as u32 + 1;
        match kind {
            KIND_EVENT => {
                let ev = SignedEvent::decode(payload)
                    .map_err(|e| format!("event record does not decode: {e}"))?;
                match self.verifier.event(Some(offset), &ev) {
                    Verdict::Chained(id) => {
                        let nodes = tree_nodes(self.trees, ev.author(), &id);
                        index_event(batch, self.files, offset, len, &id, &ev, &nodes);
                        Ok(Some(ev.author().clone()))
                    }
                    _ => Err(self
                        .verifier
                        .last_failure()
                        .map(|f| format!("logged event does not chain: {}", f.reason))
                        .unwrap_or_else(|| "logged event does not chain".into())),
                }
            }
            KIND_FORK_PROOF => {
                let proof = ForkProof::decode(payload)
                    .map_err(|e| format!("fork proof record does not decode: {e}"))?;
                index_fork(batch, self.files, offset, len, &proof);
                Ok(None)
            }
            k => Err(format!("unknown record kind {k}")),
        }
    }
}
