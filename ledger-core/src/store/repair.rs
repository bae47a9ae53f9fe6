//! Checking a stopped store for damage, and repairing it: every valid
//! record is kept, damaged bytes are quarantined, and the events they held
//! are fetched again from a member (they are signed: any copy is as good).
//!
//! Repair never edits the damaged log. It builds a whole new store beside
//! it (`DIR/repair.tmp/`) by offering every valid record, in log order, to a
//! fresh [`Ledger`] (so the result is exactly what the store would have
//! accepted), fetches what is missing, then swaps the new log in:
//!
//! 1. damaged stretches are copied to `quarantine/damaged-<offset>.bin`, and
//!    valid events that still wait for a missing earlier event of their feed
//!    to `quarantine/set-aside-<unix ms>.log` (framed records, as in the log);
//! 2. the old log is kept, hard-linked as `quarantine/events.log.before-repair-<unix ms>`;
//! 3. the old index and `events.synced` are removed, the new log renamed
//!    over `events.log`, the new index and watermark moved in, `repair.tmp/`
//!    removed.
//!
//! A kill at any step leaves either the old log (repair can run again) or
//! the new one (with no index, or the new one); never a log whose index
//! describes another log.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::*;

/// One page of events fetched from elsewhere: `(author, from_seq)` → the
/// events of that feed from that seq on (empty when there are no more).
pub type Fetch<'a> = dyn FnMut(&AuthorId, u64) -> Result<Vec<SignedEvent>, String> + 'a;

/// What [`repair`] did.
#[derive(Clone, Debug, Default)]
pub struct RepairReport {
    /// Every damaged stretch found and quarantined.
    pub damaged: Vec<DamagedRecord>,
    pub quarantined_bytes: u64,
    /// Valid records of the old log kept in the new one.
    pub kept_records: u64,
    /// Events fetched again through `fetch` and stored.
    pub refetched: u64,
    /// Valid events still waiting for a missing earlier event of their
    /// feed, kept in `set_aside_file` (anti-entropy brings them back).
    pub set_aside: u64,
    pub set_aside_file: Option<String>,
    /// Feeds still behind what the damaged records held: (author, head
    /// now, seq of the first event set aside).
    pub still_missing: Vec<(AuthorId, u64, u64)>,
    /// Where the old log is kept.
    pub old_log: Option<String>,
    /// Fetch errors, if any (repair goes on without them).
    pub fetch_errors: Vec<String>,
}

/// Lists every damaged stretch of a store's log, without opening the store
/// (it may be damaged) and without changing anything.
pub fn check_log(dir: &Path) -> Result<Vec<DamagedRecord>, StoreError> {
    let log_path = dir.join("events.log");
    let log = LogFile::open_read_only(&log_path)?;
    let reader = log.reader()?;
    let mut out = Vec::new();
    log.scan_all(HEADER_LEN, |item| {
        match item {
            LogItem::Damage(d) => {
                let (author, seq) = recovery::read_place(&reader, d.offset, d.to);
                out.push(DamagedRecord {
                    offset: d.offset,
                    to: d.to,
                    author,
                    seq,
                    reason: d.reason,
                });
            }
            LogItem::Record(rec) => {
                let bad = match rec.kind {
                    KIND_EVENT => SignedEvent::decode(&rec.payload)
                        .err()
                        .map(|e| e.to_string()),
                    KIND_FORK_PROOF => ForkProof::decode(&rec.payload).err().map(|e| e.to_string()),
                    _ => None,
                };
                if let Some(reason) = bad {
                    let to = rec.offset + 9 + rec.payload.len() as u64;
                    let (author, seq) = recovery::place_at_fixed_offsets(&rec.payload);
                    out.push(DamagedRecord {
                        offset: rec.offset,
                        to,
                        author,
                        seq,
                        reason: format!(
                            "the record's checksum holds but it does not decode: {reason}"
                        ),
                    });
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Repairs the store in `dir` (stopped: the store's lock is taken). See the
/// module's documentation. `fetch` is asked for every feed's events past
/// the head the valid records reach, until it has no more.
pub fn repair(
    dir: &Path,
    charter: &Charter,
    opts: StoreOptions,
    fetch: &mut Fetch<'_>,
) -> Result<RepairReport, StoreError> {
    charter.validate().map_err(StoreError::Charter)?;
    let lock_file = files::lock_store(dir)?;
    let log_path = dir.join("events.log");
    let (log, found) = LogFile::open(&log_path)?;
    if found != charter.network_id() {
        return Err(StoreError::WrongNetwork {
            expected: charter.network_id(),
            found,
        });
    }
    let reader = log.reader()?;
    let stamp = now_ms();
    let quarantine = dir.join("quarantine");
    std::fs::create_dir_all(&quarantine).map_err(|e| io_err(&quarantine, e))?;
    let tmp = dir.join("repair.tmp");
    if tmp.exists() {
        // Left by a repair that was interrupted: it never replaced anything.
        std::fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    let mut report = RepairReport::default();
    let fresh = Ledger::open(&tmp, charter, opts)?;

    // 1. Every valid record, in log order, offered to the fresh store.
    let mut events: Vec<SignedEvent> = Vec::new();
    let mut proofs: Vec<ForkProof> = Vec::new();
    let mut quarantine_err: Option<StoreError> = None;
    let flush = |events: &mut Vec<SignedEvent>| -> Result<(), StoreError> {
        if !events.is_empty() {
            fresh.append_batch(std::mem::take(events))?;
        }
        Ok(())
    };
    let mut first_err: Option<StoreError> = None;
    log.scan_all(HEADER_LEN, |item| {
        match item {
            LogItem::Damage(d) => {
                let (author, seq) = recovery::read_place(&reader, d.offset, d.to);
                let bytes = d.to - d.offset;
                let p = quarantine.join(format!("damaged-{}.bin", d.offset));
                let copy = copy_range(&reader, &log_path, d.offset, bytes, &p);
                if let Err(e) = copy {
                    quarantine_err.get_or_insert(e);
                }
                report.quarantined_bytes += bytes;
                report.damaged.push(DamagedRecord {
                    offset: d.offset,
                    to: d.to,
                    author,
                    seq,
                    reason: d.reason,
                });
            }
            LogItem::Record(rec) => match rec.kind {
                KIND_EVENT => match SignedEvent::decode(&rec.payload) {
                    Ok(ev) => {
                        events.push(ev);
                        report.kept_records += 1;
                        if events.len() >= 1024 {
                            if let Err(e) = flush(&mut events) {
                                first_err.get_or_insert(e);
                            }
                        }
                    }
                    Err(e) => {
                        let (author, seq) = recovery::place_at_fixed_offsets(&rec.payload);
                        let to = rec.offset + 9 + rec.payload.len() as u64;
                        let p = quarantine.join(format!("damaged-{}.bin", rec.offset));
                        if let Err(e) = write_atomic(&p, &rec.payload) {
                            quarantine_err.get_or_insert(e);
                        }
                        report.quarantined_bytes += to - rec.offset;
                        report.damaged.push(DamagedRecord {
                            offset: rec.offset,
                            to,
                            author,
                            seq,
                            reason: format!("does not decode: {e}"),
                        });
                    }
                },
                KIND_FORK_PROOF => {
                    if let Ok(p) = ForkProof::decode(&rec.payload) {
                        proofs.push(p);
                        report.kept_records += 1;
                    }
                }
                _ => {}
            },
        }
        Ok(())
    })?;
    if let Some(e) = quarantine_err.or(first_err) {
        return Err(e);
    }
    flush(&mut events)?;
    for p in proofs {
        // Verified against the charter again; a proof that no longer
        // verifies was damaged in a way its checksum did not catch.
        let _ = fresh.add_fork_proof(p);
    }

    // 2. Fetch every feed's events past the head the valid records reach
    // (bounded: at most 1,000,000 pages in all).
    let mut pages = 0u32;
    for author in fresh.authors() {
        loop {
            if pages >= 1_000_000 {
                break;
            }
            pages += 1;
            let from = fresh.tree_size(&author)? + 1;
            let page = match fetch(&author, from) {
                Ok(p) => p,
                Err(e) => {
                    report
                        .fetch_errors
                        .push(format!("{author} from seq {from}: {e}"));
                    break;
                }
            };
            if page.is_empty() {
                break;
            }
            let before = fresh.tree_size(&author)?;
            let outcomes = fresh.append_batch(page)?;
            report.refetched += outcomes
                .iter()
                .filter(|o| matches!(o, AppendOutcome::Appended { .. }))
                .count() as u64;
            if fresh.tree_size(&author)? == before {
                break;
            }
        }
    }

    // 3. Events still waiting for a gap: kept aside, whole.
    let held = fresh.held_events()?;
    if !held.is_empty() {
        let p = quarantine.join(format!("set-aside-{stamp}.log"));
        let mut buf = Vec::new();
        let mut first_held: BTreeMap<AuthorId, u64> = BTreeMap::new();
        for ev in &held {
            frame(KIND_EVENT, &ev.encode(), &mut buf);
            let e = first_held.entry(ev.author().clone()).or_insert(ev.seq());
            *e = (*e).min(ev.seq());
        }
        write_atomic(&p, &buf)?;
        report.set_aside = held.len() as u64;
        report.set_aside_file = Some(p.display().to_string());
        for (a, first) in first_held {
            report
                .still_missing
                .push((a.clone(), fresh.tree_size(&a)?, first));
        }
    }
    drop(fresh);

    // 4. Swap: keep the old log, drop the old index, move the new log in.
    let old = quarantine.join(format!("events.log.before-repair-{stamp}"));
    std::fs::hard_link(&log_path, &old).map_err(|e| io_err(&old, e))?;
    sync_dir(&quarantine)?;
    report.old_log = Some(old.display().to_string());
    drop(reader);
    drop(log);
    let index = dir.join("index");
    if index.exists() {
        std::fs::remove_dir_all(&index).map_err(|e| io_err(&index, e))?;
        sync_dir(dir)?;
    }
    // The old log's watermark file describes the old log: gone before the
    // new log is moved in, then the new store's own.
    let synced_file = dir.join(watermark::FILE);
    if synced_file.exists() {
        std::fs::remove_file(&synced_file).map_err(|e| io_err(&synced_file, e))?;
        sync_dir(dir)?;
    }
    std::fs::rename(tmp.join("events.log"), &log_path).map_err(|e| io_err(&log_path, e))?;
    sync_dir(dir)?;
    if tmp.join(watermark::FILE).exists() {
        std::fs::rename(tmp.join(watermark::FILE), &synced_file)
            .map_err(|e| io_err(&synced_file, e))?;
    }
    std::fs::rename(tmp.join("index"), &index).map_err(|e| io_err(&index, e))?;
    sync_dir(dir)?;
    std::fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    sync_dir(dir)?;
    drop(lock_file);
    Ok(report)
}

/// Copies `len` bytes of `src` from `offset` into a new file, durably.
fn copy_range(
    src: &File,
    src_path: &Path,
    offset: u64,
    len: u64,
    to: &Path,
) -> Result<(), StoreError> {
    let mut f = src.try_clone().map_err(|e| io_err(src_path, e))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| io_err(src_path, e))?;
    let mut out = File::create(to).map_err(|e| io_err(to, e))?;
    let n = std::io::copy(&mut f.take(len), &mut out).map_err(|e| io_err(to, e))?;
    if n != len {
        return Err(io_err(
            to,
            std::io::Error::other(format!("copied {n} of {len} bytes")),
        ));
    }
    out.sync_all().map_err(|e| io_err(to, e))?;
    if let Some(d) = to.parent() {
        sync_dir(d)?;
    }
    Ok(())
}

impl Ledger {
    /// Events held back ahead of a gap in their feed (not durable, not
    /// acknowledged; see [`AppendOutcome::Held`]), in key order.
    pub fn held_events(&self) -> Result<Vec<SignedEvent>, StoreError> {
        let mut out = Vec::new();
        self.index_current();
        for item in self.tree().scan_prefix([P_HELD]) {
            let (_, v) = item?;
            if let Ok(ev) = SignedEvent::decode(&v) {
                out.push(ev);
            }
        }
        Ok(out)
    }
}
