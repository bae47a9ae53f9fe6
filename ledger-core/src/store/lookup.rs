//! The lookup table: where in the log to find an event by its id, and the
//! events and fork proofs that name a certificate number.
//!
//! One file of fixed-width slots, an open-addressing hash table with
//! linear probing (docs/FORMAT.md §12), holding a slot for each event's id
//! and one for each certificate number an event or fork proof names:
//!
//! ```text
//! header (48) = "KPLTAB01" (8) || capacity u64 LE || entries u64 LE
//!               || covered u64 LE || reserved (12 zero bytes)
//!               || crc32(the 44 bytes before) u32 LE
//! slot i (16) at 48 + 16·i
//!             = tag u32 LE || log offset u48 LE || record len u24 LE
//!               || crc32(i u64 LE || the 13 bytes before) & 0xFFFFFF, u24 LE
//! empty slot  = 16 zero bytes
//! ```
//!
//! A key's tag is the first four bytes of its hash, as a u32 LE (of the
//! event id itself; of SHA-256(`"KPL certificate number\0" || number`) for
//! a number); its home slot is `⌊tag · capacity / 2^32⌋`, and its slots
//! follow from there (wrapping at the end).
//! The table holds several slots per number (its issue, confirmation,
//! voids and corrections) and, rarely, slots of other keys with the same
//! tag: a slot only says where to look. Every answer is checked against
//! the record it names (the id recomputed, the number read), so the table
//! can send a reader to a wrong record but never make a wrong answer.
//!
//! Like the feed files, the table is derived data, written only on the
//! index-apply path and rebuilt from the log when damaged. Unlike them it
//! is written in bulk: a slot goes first to memory (the table's recent
//! slots, which every lookup reads besides the file), and the recent slots
//! are merged into the file once there are enough of them, in one
//! sequential pass (they are kept in tag order, which is home order), then
//! `fdatasync`ed, then the header's `covered` is advanced and synced. A
//! slot lands at a random place of the file, so writing each index batch's
//! few hundred slots and syncing them would write a page for nearly every
//! slot; merged in bulk, each page is written about once per merge.
//!
//! `covered` is the log offset up to which the file holds every record:
//! after a crash the recent slots are gone, and opening the store replays
//! the log from `covered` into the table (a cost bounded by the number of
//! recent slots, [`MEMORY_SLOTS`] by default). Slots past `covered` may be
//! in the file (a merge whose header was not written yet, a batch whose
//! sled half a crash lost); replaying a record already in the table finds
//! its identical slot and adds nothing. `entries` only sizes the table.
//! A table grows (by half) before it is three quarters full: the new file
//! is written beside the old, synced, and renamed over it.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use super::log::{io_err, sync_dir};
use crate::error::StoreError;

const MAGIC: &[u8; 8] = b"KPLTAB01";
pub(super) const HEADER: u64 = 48;
pub(super) const SLOT: u64 = 16;
/// The capacity of a new table.
const FIRST_CAPACITY: u64 = 4096;
/// Slots read with one `pread` while probing.
const WINDOW: u64 = 32;
/// Recent slots kept in memory before they are merged into the file (about
/// 40 bytes each), unless the store's options say otherwise.
pub const MEMORY_SLOTS: usize = 1 << 17;
/// Slots a merge reads ahead with one `pread`.
const MERGE_READ: u64 = 4096;
/// Slots a merge holds before writing back those it is past.
const MERGE_HOLD: u64 = 16_384;
/// Largest log offset a slot holds (u48).
const MAX_OFFSET: u64 = (1 << 48) - 1;
/// Largest record length a slot holds (u24).
const MAX_LEN: u32 = (1 << 24) - 1;
/// Largest capacity a table may claim (2^32 slots: every tag its own home).
const MAX_CAPACITY: u64 = 1 << 32;

/// Where one record is in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Location {
    pub(super) offset: u64,
    pub(super) len: u32,
}

/// A key as the table knows it: the first four bytes of its hash, LE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tag(pub(super) u32);

impl Tag {
    /// The tag of a key that is itself a hash (an event id).
    pub(super) fn of_digest(d: &[u8; 32]) -> Tag {
        Tag(u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
    }

    /// The tag of a certificate number.
    pub(super) fn of_number(number: &str) -> Tag {
        let d = crate::hash::sha256(&[b"KPL certificate number\0", number.as_bytes()]);
        Tag::of_digest(d.as_bytes())
    }

    /// Where the tag's probe starts in a table of `capacity` ≤ 2^32 slots.
    fn home(self, capacity: u64) -> u64 {
        (u64::from(self.0) * capacity) >> 32
    }
}

fn slot_crc(i: u64, b: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&i.to_le_bytes());
    h.update(b);
    h.finalize() & 0x00FF_FFFF
}

/// A slot's bytes.
pub(super) fn encode_slot(i: u64, tag: u32, loc: Location) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&tag.to_le_bytes());
    b[4..10].copy_from_slice(&loc.offset.to_le_bytes()[..6]);
    b[10..13].copy_from_slice(&loc.len.to_le_bytes()[..3]);
    let crc = slot_crc(i, &b[..13]);
    b[13..16].copy_from_slice(&crc.to_le_bytes()[..3]);
    b
}

/// What slot `i` holds: `Ok(None)` when empty, `Err` when damaged.
pub(super) fn decode_slot(i: u64, b: &[u8]) -> Result<Option<(u32, Location)>, ()> {
    let b: &[u8; 16] = b.get(..16).and_then(|s| s.try_into().ok()).ok_or(())?;
    if b.iter().all(|&x| x == 0) {
        return Ok(None);
    }
    let mut crc = [0u8; 4];
    crc[..3].copy_from_slice(&b[13..16]);
    if slot_crc(i, &b[..13]) != u32::from_le_bytes(crc) {
        return Err(());
    }
    let mut tag = [0u8; 4];
    tag.copy_from_slice(&b[..4]);
    let mut off = [0u8; 8];
    off[..6].copy_from_slice(&b[4..10]);
    let mut len = [0u8; 4];
    len[..3].copy_from_slice(&b[10..13]);
    Ok(Some((
        u32::from_le_bytes(tag),
        Location {
            offset: u64::from_le_bytes(off),
            len: u32::from_le_bytes(len),
        },
    )))
}

/// A table's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) capacity: u64,
    pub(super) entries: u64,
    pub(super) covered: u64,
}

pub(super) fn encode_header(h: &Header) -> [u8; 48] {
    let mut b = [0u8; 48];
    b[..8].copy_from_slice(MAGIC);
    b[8..16].copy_from_slice(&h.capacity.to_le_bytes());
    b[16..24].copy_from_slice(&h.entries.to_le_bytes());
    b[24..32].copy_from_slice(&h.covered.to_le_bytes());
    let crc = crc32fast::hash(&b[..44]);
    b[44..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// A header, if it is whole and plausible.
pub(super) fn decode_header(b: &[u8]) -> Option<Header> {
    let b: &[u8; 48] = b.get(..48)?.try_into().ok()?;
    if &b[..8] != MAGIC
        || crc32fast::hash(&b[..44]).to_le_bytes() != b[44..48]
        || b[32..44].iter().any(|&x| x != 0)
    {
        return None;
    }
    let h = Header {
        capacity: u64::from_le_bytes(b[8..16].try_into().ok()?),
        entries: u64::from_le_bytes(b[16..24].try_into().ok()?),
        covered: u64::from_le_bytes(b[24..32].try_into().ok()?),
    };
    (h.capacity > 0 && h.capacity <= MAX_CAPACITY && h.entries < h.capacity).then_some(h)
}

struct Open {
    file: File,
    capacity: u64,
    /// Slots in the file.
    entries: u64,
    /// Every record of the log before this offset is in the file or among
    /// the recent slots.
    covered: u64,
    /// What the file's header says: every record before it is in the file,
    /// durably.
    durable: u64,
    /// Slots not yet in the file, as (tag, offset, len): in tag order,
    /// which is the order of their home slots.
    recent: BTreeSet<(u32, u64, u32)>,
}

/// One lookup table. Only the index-apply path writes to it (one thread at
/// a time); lookups run beside it.
pub(super) struct LookupTable {
    path: PathBuf,
    /// Recent slots held before a merge.
    memory_slots: usize,
    /// The file did not exist and was made empty when the table opened.
    created: bool,
    inner: RwLock<Open>,
}

/// The part of the file a merge holds: slots `start..start + buf/16`, and
/// the first and last it changed.
struct Window {
    start: u64,
    buf: Vec<u8>,
    dirty: Option<(u64, u64)>,
}

impl Window {
    fn end(&self) -> u64 {
        self.start + self.buf.len() as u64 / SLOT
    }
}

impl LookupTable {
    /// The table at `path`, created empty if missing. A damaged header or
    /// a file of the wrong length is an error: the index is rebuilt.
    pub(super) fn open(path: PathBuf, memory_slots: usize) -> Result<LookupTable, StoreError> {
        let grow = grow_path(&path);
        if grow.exists() {
            std::fs::remove_file(&grow).map_err(|e| io_err(&grow, e))?;
        }
        let exists = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let h = if exists {
            let mut h = [0u8; HEADER as usize];
            file.read_exact_at(&mut h, 0)
                .map_err(|e| bad(&path, format!("its header cannot be read ({e})")))?;
            let h = decode_header(&h).ok_or_else(|| bad(&path, "its header is damaged".into()))?;
            let len = file.metadata().map_err(|e| io_err(&path, e))?.len();
            if len != HEADER + h.capacity * SLOT {
                return Err(bad(
                    &path,
                    format!("it is {len} bytes long, not {}", HEADER + h.capacity * SLOT),
                ));
            }
            h
        } else {
            let h = Header {
                capacity: FIRST_CAPACITY,
                entries: 0,
                covered: 0,
            };
            write_empty(&file, &path, &h)?;
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
            h
        };
        Ok(LookupTable {
            path,
            memory_slots: memory_slots.max(1),
            created: !exists,
            inner: RwLock::new(Open {
                file,
                capacity: h.capacity,
                entries: h.entries,
                covered: h.covered,
                durable: h.covered,
                recent: BTreeSet::new(),
            }),
        })
    }

    /// The locations of every slot with this key's tag, in probe order.
    pub(super) fn find(&self, tag: Tag) -> Result<Vec<Location>, StoreError> {
        let t = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut i = tag.home(t.capacity);
        let mut seen = 0u64;
        while seen < t.capacity {
            let n = WINDOW.min(t.capacity - i);
            let buf = self.read_slots(&t, i, n)?;
            for (k, s) in buf.chunks_exact(SLOT as usize).enumerate() {
                let at = i + k as u64;
                match decode_slot(at, s) {
                    Ok(None) => {
                        seen = t.capacity;
                        break;
                    }
                    Ok(Some((tg, loc))) => {
                        if tg == tag.0 {
                            out.push(loc);
                        }
                    }
                    Err(()) => return Err(self.damaged(at)),
                }
            }
            seen = seen.saturating_add(n);
            i = (i + n) % t.capacity;
        }
        for &(_, offset, len) in t.recent.range((tag.0, 0, 0)..=(tag.0, u64::MAX, u32::MAX)) {
            let loc = Location { offset, len };
            if !out.contains(&loc) {
                out.push(loc);
            }
        }
        Ok(out)
    }

    /// Adds slots (to memory; see [`LookupTable::advance`]); a slot
    /// already present is not added again.
    pub(super) fn insert(&self, items: &[(Tag, Location)]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut t = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for (tag, loc) in items {
            if loc.offset > MAX_OFFSET || loc.len > MAX_LEN || loc.len == 0 {
                return Err(StoreError::Corrupt(format!(
                    "{}: a record at log offset {} of {} bytes cannot be kept in a lookup slot",
                    self.path.display(),
                    loc.offset,
                    loc.len
                )));
            }
            t.recent.insert((tag.0, loc.offset, loc.len));
        }
        // A long replay between two advances: memory stays bounded (the
        // slots go to the file, not yet synced nor covered).
        if t.recent.len() >= self.memory_slots.saturating_mul(4) {
            self.merge(&mut t)?;
        }
        Ok(())
    }

    /// Records that the table holds every record of the log before
    /// `covered`; once enough slots are recent, merges them into the file
    /// and makes that durable (see the module's comment).
    pub(super) fn advance(&self, covered: u64) -> Result<(), StoreError> {
        let due = {
            let mut t = self.inner.write().unwrap_or_else(|p| p.into_inner());
            t.covered = t.covered.max(covered);
            t.recent.len() >= self.memory_slots
        };
        if due {
            self.persist()?;
        }
        Ok(())
    }

    /// Merges every recent slot into the file and makes the file durable
    /// up to the covered offset (a clean close).
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        let due = {
            let t = self.inner.read().unwrap_or_else(|p| p.into_inner());
            !t.recent.is_empty() || t.durable < t.covered
        };
        if due {
            self.persist()?;
        }
        Ok(())
    }

    /// Merge, `fdatasync`, header, `fdatasync`: the header never covers a
    /// slot the disk may not hold.
    fn persist(&self) -> Result<(), StoreError> {
        let h = {
            let mut t = self.inner.write().unwrap_or_else(|p| p.into_inner());
            self.merge(&mut t)?;
            Header {
                capacity: t.capacity,
                entries: t.entries,
                covered: t.covered,
            }
        };
        // Lookups go on while the disk syncs (only the index-apply path
        // writes, and it is the one waiting here).
        {
            let t = self.inner.read().unwrap_or_else(|p| p.into_inner());
            t.file.sync_data().map_err(|e| io_err(&self.path, e))?;
            t.file
                .write_all_at(&encode_header(&h), 0)
                .map_err(|e| io_err(&self.path, e))?;
            t.file.sync_data().map_err(|e| io_err(&self.path, e))?;
        }
        let mut t = self.inner.write().unwrap_or_else(|p| p.into_inner());
        t.durable = t.durable.max(h.covered);
        Ok(())
    }

    /// Writes the recent slots into the file (no sync), growing it first
    /// if they would fill it past three quarters. On an error the slots
    /// stay recent (lookups still find them) and the index is rebuilt.
    fn merge(&self, t: &mut Open) -> Result<(), StoreError> {
        if t.recent.is_empty() {
            return Ok(());
        }
        let need = t.entries.saturating_add(t.recent.len() as u64);
        if need.saturating_mul(4) > t.capacity.saturating_mul(3) {
            self.grow(t, need)?;
        }
        let items = std::mem::take(&mut t.recent);
        match self.merge_slots(t, &items) {
            Ok(added) => {
                t.entries += added;
                Ok(())
            }
            Err(e) => {
                t.recent = items;
                Err(e)
            }
        }
    }

    /// One pass over the file in home order: each slot placed by linear
    /// probing in the part of the file held in memory, which is written
    /// back once the pass is past it. Slots whose probe runs past the last
    /// slot are placed afterwards, one by one. How many were added.
    fn merge_slots(&self, t: &Open, items: &BTreeSet<(u32, u64, u32)>) -> Result<u64, StoreError> {
        let cap = t.capacity;
        let mut win = Window {
            start: 0,
            buf: Vec::new(),
            dirty: None,
        };
        let mut wrapped = Vec::new();
        let mut added = 0u64;
        for &(tag, offset, len) in items {
            let loc = Location { offset, len };
            let home = Tag(tag).home(cap);
            if win.buf.is_empty() || home > win.end() {
                self.write_window(t, &mut win, u64::MAX)?;
                win.start = home;
            } else if home - win.start >= MERGE_HOLD {
                self.write_window(t, &mut win, home)?;
            }
            let mut i = home;
            loop {
                if i >= cap {
                    wrapped.push((Tag(tag), loc));
                    break;
                }
                if i >= win.end() {
                    let more = self.read_slots(t, win.end(), MERGE_READ.min(cap - win.end()))?;
                    win.buf.extend_from_slice(&more);
                }
                let k = ((i - win.start) * SLOT) as usize;
                match decode_slot(i, &win.buf[k..k + SLOT as usize]) {
                    Ok(None) => {
                        win.buf[k..k + SLOT as usize].copy_from_slice(&encode_slot(i, tag, loc));
                        win.dirty =
                            Some(win.dirty.map_or((i, i), |(lo, hi)| (lo.min(i), hi.max(i))));
                        added += 1;
                        break;
                    }
                    Ok(Some((tg, l))) if tg == tag && l == loc => break,
                    Ok(Some(_)) => i += 1,
                    Err(()) => return Err(self.damaged(i)),
                }
            }
        }
        self.write_window(t, &mut win, u64::MAX)?;
        for (tag, loc) in wrapped {
            if self.place(t, tag, loc)? {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Writes the changed slots of the window before slot `before` and
    /// drops them from it.
    fn write_window(&self, t: &Open, win: &mut Window, before: u64) -> Result<(), StoreError> {
        let cut = before.clamp(win.start, win.end());
        if let Some((lo, hi)) = win.dirty {
            if lo < cut {
                let last = hi.min(cut - 1);
                let a = ((lo - win.start) * SLOT) as usize;
                let b = ((last + 1 - win.start) * SLOT) as usize;
                t.file
                    .write_all_at(&win.buf[a..b], HEADER + lo * SLOT)
                    .map_err(|e| io_err(&self.path, e))?;
                win.dirty = (hi >= cut).then_some((cut, hi));
            }
        }
        win.buf.drain(..((cut - win.start) * SLOT) as usize);
        win.start = cut;
        Ok(())
    }

    /// Checks every slot: whole, and naming a place before `log_end` (slots
    /// past the index's applied offset are those of a batch whose sled
    /// half a crash lost; the replay finds them again). Why the index must
    /// be rebuilt, if it must.
    pub(super) fn check(&self, log_end: u64) -> Result<(), String> {
        let t = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut from = 0u64;
        while from < t.capacity {
            let n = 4096.min(t.capacity - from);
            let buf = self.read_slots(&t, from, n).map_err(|e| e.to_string())?;
            for (k, s) in buf.chunks_exact(SLOT as usize).enumerate() {
                let at = from + k as u64;
                match decode_slot(at, s) {
                    Ok(None) => {}
                    Ok(Some((_, loc))) if loc.offset < log_end => {}
                    Ok(Some((_, loc))) => {
                        return Err(format!(
                            "lookup table {}: slot {at} names log offset {}, past the log's {log_end} bytes",
                            self.path.display(),
                            loc.offset
                        ))
                    }
                    Err(()) => return Err(self.damaged(at).to_string()),
                }
            }
            from += n;
        }
        Ok(())
    }

    /// The log offset before which the table holds every record.
    pub(super) fn covered(&self) -> u64 {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).covered
    }

    /// The file did not exist when the table opened (made empty then).
    pub(super) fn created(&self) -> bool {
        self.created
    }

    /// The log offset before which the file holds every record, durably.
    #[cfg(test)]
    pub(super) fn durable(&self) -> u64 {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).durable
    }

    /// Slots in the table.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .capacity
    }

    /// Puts one slot in place; false when an identical slot was there.
    fn place(&self, t: &Open, tag: Tag, loc: Location) -> Result<bool, StoreError> {
        let mut i = tag.home(t.capacity);
        let mut seen = 0u64;
        while seen < t.capacity {
            let n = WINDOW.min(t.capacity - i);
            let buf = self.read_slots(t, i, n)?;
            for (k, s) in buf.chunks_exact(SLOT as usize).enumerate() {
                let at = i + k as u64;
                match decode_slot(at, s) {
                    Ok(None) => {
                        t.file
                            .write_all_at(&encode_slot(at, tag.0, loc), HEADER + at * SLOT)
                            .map_err(|e| io_err(&self.path, e))?;
                        return Ok(true);
                    }
                    Ok(Some((tg, l))) if tg == tag.0 && l == loc => return Ok(false),
                    Ok(Some(_)) => {}
                    Err(()) => return Err(self.damaged(at)),
                }
            }
            seen += n;
            i = (i + n) % t.capacity;
        }
        Err(StoreError::Corrupt(format!(
            "{}: the lookup table is full",
            self.path.display()
        )))
    }

    fn read_slots(&self, t: &Open, from: u64, n: u64) -> Result<Vec<u8>, StoreError> {
        let mut buf = vec![0u8; (n * SLOT) as usize];
        t.file
            .read_exact_at(&mut buf, HEADER + from * SLOT)
            .map_err(|e| bad(&self.path, format!("slots {from}.. cannot be read ({e})")))?;
        Ok(buf)
    }

    fn damaged(&self, slot: u64) -> StoreError {
        bad(&self.path, format!("slot {slot} is damaged"))
    }

    /// Replaces the table by one of at least half as many slots again,
    /// room for `need` entries under three quarters.
    fn grow(&self, t: &mut Open, need: u64) -> Result<(), StoreError> {
        let mut capacity = t.capacity.max(FIRST_CAPACITY);
        while need.saturating_mul(4) > capacity.saturating_mul(3) {
            capacity = capacity.saturating_add(capacity / 2);
        }
        if capacity > MAX_CAPACITY {
            return Err(bad(&self.path, "it would outgrow its largest size".into()));
        }
        // Every slot of the old table, re-placed in memory (16 bytes a slot).
        let mut slots = vec![0u8; (capacity * SLOT) as usize];
        let mut entries = 0u64;
        let mut from = 0u64;
        while from < t.capacity {
            let n = 4096.min(t.capacity - from);
            let buf = self.read_slots(t, from, n)?;
            for (k, s) in buf.chunks_exact(SLOT as usize).enumerate() {
                let at = from + k as u64;
                let Some((tag, loc)) = decode_slot(at, s).map_err(|()| self.damaged(at))? else {
                    continue;
                };
                let mut i = Tag(tag).home(capacity);
                loop {
                    let pos = (i * SLOT) as usize;
                    if slots[pos..pos + SLOT as usize].iter().all(|&x| x == 0) {
                        slots[pos..pos + SLOT as usize].copy_from_slice(&encode_slot(i, tag, loc));
                        break;
                    }
                    i = (i + 1) % capacity;
                }
                entries += 1;
            }
            from += n;
        }
        let grow = grow_path(&self.path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&grow)
            .map_err(|e| io_err(&grow, e))?;
        let h = Header {
            capacity,
            entries,
            covered: t.durable,
        };
        file.write_all_at(&encode_header(&h), 0)
            .map_err(|e| io_err(&grow, e))?;
        file.write_all_at(&slots, HEADER)
            .map_err(|e| io_err(&grow, e))?;
        file.sync_data().map_err(|e| io_err(&grow, e))?;
        std::fs::rename(&grow, &self.path).map_err(|e| io_err(&self.path, e))?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        t.file = file;
        t.capacity = capacity;
        t.entries = entries;
        Ok(())
    }
}

fn grow_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".grow");
    PathBuf::from(p)
}

fn write_empty(file: &File, path: &Path, h: &Header) -> Result<(), StoreError> {
    file.set_len(0).map_err(|e| io_err(path, e))?;
    file.write_all_at(&encode_header(h), 0)
        .map_err(|e| io_err(path, e))?;
    file.set_len(HEADER + h.capacity * SLOT)
        .map_err(|e| io_err(path, e))?;
    file.sync_data().map_err(|e| io_err(path, e))
}

fn bad(path: &Path, why: String) -> StoreError {
    StoreError::Corrupt(format!("lookup table {}: {why}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> Location {
        Location {
            offset,
            len: (offset % 700 + 1) as u32,
        }
    }

    fn tag(i: u64) -> Tag {
        Tag::of_digest(crate::hash::sha256(&[&i.to_le_bytes()]).as_bytes())
    }

    #[test]
    fn slots_round_trip_and_check_their_position() {
        let loc = Location {
            offset: MAX_OFFSET,
            len: MAX_LEN,
        };
        let b = encode_slot(7, 0xDEAD_BEEF, loc);
        assert_eq!(decode_slot(7, &b), Ok(Some((0xDEAD_BEEF, loc))));
        // The same bytes at another slot, or any byte changed, fail.
        assert_eq!(decode_slot(8, &b), Err(()));
        for i in 0..16 {
            let mut d = b;
            d[i] ^= 1;
            assert_eq!(decode_slot(7, &d), Err(()), "byte {i}");
        }
        assert_eq!(decode_slot(3, &[0u8; 16]), Ok(None));
        assert_eq!(decode_slot(3, &[0u8; 15]), Err(()));
    }

    #[test]
    fn headers_round_trip_and_refuse_damage() {
        let h = Header {
            capacity: 6144,
            entries: 77,
            covered: 1 << 40,
        };
        let b = encode_header(&h);
        assert_eq!(decode_header(&b), Some(h));
        for i in 0..48 {
            let mut d = b;
            d[i] ^= 0x40;
            assert_eq!(decode_header(&d), None, "byte {i}");
        }
        let full = Header {
            capacity: 10,
            entries: 10,
            covered: 0,
        };
        assert_eq!(decode_header(&encode_header(&full)), None);
        let huge = Header {
            capacity: MAX_CAPACITY + 1,
            entries: 0,
            covered: 0,
        };
        assert_eq!(decode_header(&encode_header(&huge)), None);
    }

    /// 20,000 keys (the table grows several times from 4,096 slots, merged
    /// in bulk every 1,000 slots), each found where it was put, before and
    /// after the merges; a key with several slots finds them all; a slot
    /// put again is not added twice; all of it survives reopening.
    #[test]
    fn keys_are_found_through_growth_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let t = LookupTable::open(path.clone(), 1000).unwrap();
        assert_eq!(t.capacity(), FIRST_CAPACITY);
        let n = 20_000u64;
        for (k, chunk) in (0..n).collect::<Vec<_>>().chunks(997).enumerate() {
            let items: Vec<_> = chunk.iter().map(|&i| (tag(i), at(1000 + i))).collect();
            t.insert(&items).unwrap();
            // Found at once, in memory or in the file.
            assert!(t
                .find(tag(chunk[0]))
                .unwrap()
                .contains(&at(1000 + chunk[0])));
            t.advance(k as u64).unwrap();
        }
        // Three places for one key, and one of them again.
        let many = Tag(0x0102_0304);
        t.insert(&[(many, at(5)), (many, at(6)), (many, at(7)), (many, at(6))])
            .unwrap();
        t.insert(&[(tag(0), at(1000))]).unwrap();
        t.advance(123_456).unwrap();
        assert!(t.capacity() > FIRST_CAPACITY);
        let check = |t: &LookupTable| {
            for i in 0..n {
                let found = t.find(tag(i)).unwrap();
                assert!(found.contains(&at(1000 + i)), "key {i}");
            }
            assert_eq!(t.find(tag(0)).unwrap().len(), 1);
            let mut m = t.find(many).unwrap();
            m.sort_by_key(|l| l.offset);
            assert_eq!(m, vec![at(5), at(6), at(7)]);
            assert!(t.find(tag(n + 1)).unwrap().is_empty());
            assert_eq!(t.covered(), 123_456);
            t.check(1_000_000).unwrap();
            assert!(t.check(1000 + n / 2).is_err());
        };
        check(&t);
        t.flush().unwrap();
        check(&t);
        assert_eq!(t.durable(), 123_456);
        let cap = t.capacity();
        drop(t);
        let t = LookupTable::open(path.clone(), 1000).unwrap();
        assert_eq!(t.capacity(), cap);
        check(&t);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER + cap * SLOT);
        assert!(!grow_path(&path).exists());
        // Merged again, nothing is added twice.
        let before = std::fs::read(&path).unwrap();
        t.insert(&[(tag(7), at(1007)), (many, at(6))]).unwrap();
        t.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    /// The header covers only what the file durably holds: recent slots a
    /// crash loses (the table dropped without a flush) leave `covered` at
    /// the last merge, so the store replays the log from there.
    #[test]
    fn covered_says_only_what_the_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let t = LookupTable::open(path.clone(), 4).unwrap();
        t.insert(&[(tag(1), at(100)), (tag(2), at(200)), (tag(3), at(300))])
            .unwrap();
        t.advance(400).unwrap();
        assert_eq!(t.covered(), 400);
        assert_eq!(t.durable(), 0, "three slots are fewer than a merge");
        t.insert(&[(tag(4), at(400)), (tag(5), at(500))]).unwrap();
        t.advance(600).unwrap();
        assert_eq!(t.durable(), 600, "five slots are a merge");
        t.insert(&[(tag(6), at(600))]).unwrap();
        t.advance(700).unwrap();
        assert_eq!(t.find(tag(6)).unwrap(), vec![at(600)]);
        drop(t);
        let t = LookupTable::open(path, 4).unwrap();
        assert!(!t.created());
        assert_eq!(t.covered(), 600);
        for i in 1..=5 {
            assert_eq!(t.find(tag(i)).unwrap(), vec![at(i * 100)], "key {i}");
        }
        assert!(t.find(tag(6)).unwrap().is_empty());
    }

    /// Keys whose probe runs past the last slot wrap to the first, in a
    /// merge as in a lookup.
    #[test]
    fn a_merge_wraps_past_the_last_slot() {
        let dir = tempfile::tempdir().unwrap();
        let t = LookupTable::open(dir.path().join("t"), 1 << 20).unwrap();
        // 40 keys whose home is the last slot.
        let last: Vec<_> = (0..40u64).map(|i| (Tag(u32::MAX), at(10 + i))).collect();
        t.insert(&last).unwrap();
        t.insert(&[(Tag(0), at(5))]).unwrap();
        t.flush().unwrap();
        let mut found = t.find(Tag(u32::MAX)).unwrap();
        found.sort_by_key(|l| l.offset);
        assert_eq!(found, last.iter().map(|x| x.1).collect::<Vec<_>>());
        assert_eq!(t.find(Tag(0)).unwrap(), vec![at(5)]);
        t.check(1000).unwrap();
    }

    #[test]
    fn a_damaged_table_is_an_error_not_an_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let t = LookupTable::open(path.clone(), 16).unwrap();
        t.insert(&[(tag(1), at(100))]).unwrap();
        t.advance(200).unwrap();
        t.flush().unwrap();
        drop(t);
        let mut b = std::fs::read(&path).unwrap();
        let slot = b[HEADER as usize..]
            .chunks_exact(16)
            .position(|s| s.iter().any(|&x| x != 0))
            .unwrap();
        b[HEADER as usize + slot * 16 + 4] ^= 1;
        std::fs::write(&path, &b).unwrap();
        let t = LookupTable::open(path.clone(), 16).unwrap();
        assert!(t.find(tag(1)).unwrap_err().to_string().contains("damaged"));
        t.insert(&[(tag(1), at(100))]).unwrap();
        assert!(t.flush().is_err());
        // The slot stays found in memory; the index is rebuilt anyway.
        assert!(t.check(1000).unwrap_err().contains("damaged"));
        drop(t);
        b[9] ^= 1;
        std::fs::write(&path, &b).unwrap();
        assert!(LookupTable::open(path.clone(), 16).is_err());
        std::fs::write(&path, &b[..40]).unwrap();
        assert!(LookupTable::open(path, 16).is_err());
    }

    #[test]
    fn locations_a_slot_cannot_hold_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let t = LookupTable::open(dir.path().join("t"), 16).unwrap();
        for loc in [
            Location {
                offset: MAX_OFFSET + 1,
                len: 1,
            },
            Location {
                offset: 1,
                len: MAX_LEN + 1,
            },
            Location { offset: 1, len: 0 },
        ] {
            assert!(t.insert(&[(tag(1), loc)]).is_err(), "{loc:?}");
        }
        assert!(t.find(tag(1)).unwrap().is_empty());
    }
}

#[cfg(test)]
mod damaged_files {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Whatever bytes the file holds (a valid header over random
        /// slots, or random bytes), opening, looking up, checking and
        /// inserting answer or fail; none panics or loops.
        #[test]
        fn any_file_is_read_without_a_panic(
            slots in proptest::collection::vec(any::<u8>(), 0..2048),
            capacity in 1u64..160,
            raw in any::<bool>(),
            tags in proptest::collection::vec(any::<u32>(), 1..8),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t");
            let mut bytes = if raw {
                Vec::new()
            } else {
                encode_header(&Header { capacity, entries: capacity / 2, covered: 99 }).to_vec()
            };
            bytes.extend_from_slice(&slots);
            if !raw {
                bytes.resize((HEADER + capacity * SLOT) as usize, 0);
            }
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(t) = LookupTable::open(path, 2) {
                for &tg in &tags {
                    let _ = t.find(Tag(tg));
                }
                let _ = t.check(1 << 20);
                let items: Vec<_> = tags
                    .iter()
                    .map(|&tg| (Tag(tg), Location { offset: 7, len: 9 }))
                    .collect();
                let _ = t.insert(&items);
                let _ = t.advance(1 << 20);
                let _ = t.flush();
                for &tg in &tags {
                    let _ = t.find(Tag(tg));
                }
            }
        }
    }
}
