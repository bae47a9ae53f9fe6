//! Each feed's places and Merkle nodes, in two fixed-width files per feed
//! under `index/feeds/` (docs/FORMAT.md §12), so that looking an event up
//! by place, serving a range and proving inclusion or consistency are a
//! few `pread`s, with no B-tree per event.
//!
//! - `<hex of author key>.seq`: the record of seq `s` at `(s - 1) * 48`:
//!   offset u64 LE, record len u32 LE, event id (32), CRC-32 of
//!   `s` (u64 LE) and the 44 bytes before it.
//! - `<hex of author key>.nodes`: the feed's internal Merkle nodes (level
//!   ≥ 1) in in-order (flat-tree) order without the leaves: the node at
//!   (level `l`, index `j`), in-order position `j·2^(l+1) + 2^l − 1` (odd),
//!   is kept in slot `j·2^l + 2^(l−1) − 1` at `slot * 36`: hash (32), CRC-32
//!   of `slot` (u64 LE) and the hash. A leaf's hash is `SHA-256(0x00 ‖ id)`,
//!   from the seq file. The leaf of seq `s` completes the nodes in slots
//!   `s − 1 − 2^(l−1)` for `l = 1..=trailing_zeros(s)`.
//!
//! The files are derived data like the sled index: written only by the
//! index-apply path (the indexer thread, recovery's replay, a rebuild),
//! each batch's bytes `fdatasync`ed before the sled batch that advances the
//! feed's head. Bytes beyond the head are ignored (a batch whose sled half
//! was lost is rewritten by the replay); a checksum that fails, or a file
//! shorter than the head, means the index is rebuilt from the log.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileExt;

use super::lookup::{Location, LookupTable, Tag};
use super::*;

/// Width of a seq file record.
pub(super) const SEQ_WIDTH: u64 = 48;
/// Width of a node file slot.
pub(super) const NODE_WIDTH: u64 = 36;
/// The directory of the feed files, inside the index's.
pub(super) const FEEDS_DIR: &str = "feeds";
/// The lookup table's file, beside the feed files.
pub(super) const LOOKUP_FILE: &str = "lookup.table";
/// Records read at once when a whole file is checked.
const CHUNK: u64 = 4096;

/// Where the event at one place of a feed is, and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Place {
    pub(super) offset: u64,
    pub(super) len: u32,
    pub(super) id: EventId,
}

pub(super) fn encode_place(seq: u64, p: &Place) -> [u8; 48] {
    let mut b = [0u8; 48];
    b[..8].copy_from_slice(&p.offset.to_le_bytes());
    b[8..12].copy_from_slice(&p.len.to_le_bytes());
    b[12..44].copy_from_slice(p.id.as_bytes());
    let crc = checksum(seq, &b[..44]);
    b[44..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The place in a seq record, if its checksum holds for `seq`.
pub(super) fn decode_place(seq: u64, b: &[u8]) -> Option<Place> {
    let b: &[u8; 48] = b.get(..48)?.try_into().ok()?;
    let crc = u32::from_le_bytes(b[44..48].try_into().ok()?);
    if checksum(seq, &b[..44]) != crc {
        return None;
    }
    Some(Place {
        offset: u64::from_le_bytes(b[..8].try_into().ok()?),
        len: u32::from_le_bytes(b[8..12].try_into().ok()?),
        id: crate::bytes::FixedBytes(b[12..44].try_into().ok()?),
    })
}

pub(super) fn encode_node(slot: u64, h: &Digest) -> [u8; 36] {
    let mut b = [0u8; 36];
    b[..32].copy_from_slice(h.as_bytes());
    let crc = checksum(slot, &b[..32]);
    b[32..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The hash in a node slot, if its checksum holds for `slot`.
pub(super) fn decode_node(slot: u64, b: &[u8]) -> Option<Digest> {
    let b: &[u8; 36] = b.get(..36)?.try_into().ok()?;
    let crc = u32::from_le_bytes(b[32..36].try_into().ok()?);
    if checksum(slot, &b[..32]) != crc {
        return None;
    }
    Some(crate::bytes::FixedBytes(b[..32].try_into().ok()?))
}

fn checksum(pos: u64, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&pos.to_le_bytes());
    h.update(bytes);
    h.finalize()
}

/// The slot of the internal node at (`level` ≥ 1, `index`).
pub(super) fn node_slot(level: u8, index: u64) -> Option<u64> {
    if level == 0 || level >= 64 {
        return None;
    }
    let span = 1u64 << level;
    index.checked_mul(span)?.checked_add((span >> 1) - 1)
}

/// The (level, index) kept in a slot.
pub(super) fn slot_node(slot: u64) -> Option<(u8, u64)> {
    let s1 = slot.checked_add(1)?;
    let level = s1.trailing_zeros() + 1;
    Some((level as u8, s1.checked_shr(level).unwrap_or(0)))
}

/// Whether the node at (level, index) is complete in a tree of `size` leaves.
fn complete(level: u8, index: u64, size: u64) -> bool {
    index
        .checked_add(1)
        .filter(|n| level < 64 && n.leading_zeros() >= u32::from(level))
        .is_some_and(|n| n << level <= size)
}

fn byte_at(pos: u64, width: u64) -> Result<u64, StoreError> {
    pos.checked_mul(width)
        .ok_or_else(|| StoreError::Corrupt("a feed file position overflows".into()))
}

/// One feed's two files.
pub(super) struct FeedFile {
    seq: File,
    nodes: File,
    seq_path: PathBuf,
    nodes_path: PathBuf,
}

impl FeedFile {
    /// The place of `seq` (≥ 1), checksum-checked.
    pub(super) fn place(&self, seq: u64) -> Result<Place, StoreError> {
        Ok(self.places(seq, 1)?[0])
    }

    /// The places of `n` ≥ 1 seqs from `from` ≥ 1, with one `pread`.
    pub(super) fn places(&self, from: u64, n: u64) -> Result<Vec<Place>, StoreError> {
        let at = byte_at(from.saturating_sub(1), SEQ_WIDTH)?;
        let len = usize::try_from(byte_at(n, SEQ_WIDTH)?)
            .map_err(|_| StoreError::Corrupt("a feed range is too long".into()))?;
        let mut b = vec![0u8; len];
        self.seq.read_exact_at(&mut b, at).map_err(|e| {
            StoreError::Corrupt(format!(
                "{}: seqs {from}.. cannot be read ({e})",
                self.seq_path.display()
            ))
        })?;
        b.chunks_exact(SEQ_WIDTH as usize)
            .zip(from..)
            .map(|(r, seq)| {
                decode_place(seq, r).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "{}: the record of seq {seq} is damaged",
                        self.seq_path.display()
                    ))
                })
            })
            .collect()
    }

    fn node(&self, slot: u64) -> Result<Digest, StoreError> {
        let mut b = [0u8; NODE_WIDTH as usize];
        let bad = |why: String| {
            StoreError::Corrupt(format!(
                "{}: Merkle node slot {slot} {why}",
                self.nodes_path.display()
            ))
        };
        self.nodes
            .read_exact_at(&mut b, byte_at(slot, NODE_WIDTH)?)
            .map_err(|e| bad(format!("cannot be read ({e})")))?;
        decode_node(slot, &b).ok_or_else(|| bad("is damaged".into()))
    }

    /// Checks the file against a head of `size` events whose last id is
    /// `head_id`: every record and every complete node within it has a
    /// valid checksum, offsets increase and lie below `applied`. Answers
    /// the head's place.
    fn check(&self, size: u64, head_id: &EventId, applied: u64) -> Result<Place, String> {
        let mut last: Option<Place> = None;
        let mut from = 1u64;
        while from <= size {
            let n = (size - from + 1).min(CHUNK);
            for p in self.places(from, n).map_err(|e| e.to_string())? {
                if p.offset >= applied || last.is_some_and(|l| l.offset >= p.offset) {
                    return Err(format!(
                        "{}: a place names log offset {} out of order",
                        self.seq_path.display(),
                        p.offset
                    ));
                }
                last = Some(p);
            }
            from += n;
        }
        let head = last.ok_or_else(|| "an empty feed has a head".to_string())?;
        if head.id != *head_id {
            return Err(format!(
                "{}: the head's place names another event",
                self.seq_path.display()
            ));
        }
        // Slots below `size - 1` hold every internal node complete at `size`.
        let slots = size.saturating_sub(1);
        let file_len = self
            .nodes
            .metadata()
            .map_err(|e| format!("{}: {e}", self.nodes_path.display()))?
            .len();
        let mut s = 0u64;
        while s < slots {
            let n = (slots - s).min(CHUNK);
            let mut b = vec![0u8; (n * NODE_WIDTH) as usize];
            let at = byte_at(s, NODE_WIDTH).map_err(|e| e.to_string())?;
            // Slots past the end of the file read as zeros, which no
            // checksum accepts: missing if the node is complete.
            let have = usize::try_from(file_len.saturating_sub(at))
                .unwrap_or(usize::MAX)
                .min(b.len());
            self.nodes
                .read_exact_at(&mut b[..have], at)
                .map_err(|e| format!("{}: {e}", self.nodes_path.display()))?;
            for (k, r) in b.chunks_exact(NODE_WIDTH as usize).enumerate() {
                let slot = s + k as u64;
                let Some((level, index)) = slot_node(slot) else {
                    continue;
                };
                if complete(level, index, size) && decode_node(slot, r).is_none() {
                    return Err(format!(
                        "{}: Merkle node slot {slot} is missing or damaged",
                        self.nodes_path.display()
                    ));
                }
            }
            s += n;
        }
        Ok(head)
    }
}

/// A feed's stored Merkle tree of `size` leaves, as a [`NodeReader`].
pub(super) struct FeedTree {
    pub(super) file: Option<Arc<FeedFile>>,
    pub(super) size: u64,
}

impl NodeReader for FeedTree {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError> {
        let missing = || StoreError::Corrupt(format!("Merkle node ({level}, {index}) is missing"));
        if !complete(level, index, self.size) {
            return Err(missing());
        }
        let file = self.file.as_ref().ok_or_else(missing)?;
        if level == 0 {
            return Ok(event_leaf_hash(&file.place(index + 1)?.id));
        }
        file.node(node_slot(level, index).ok_or_else(missing)?)
    }
}

/// The lookup table of an index, or why it is not there.
enum Lookups {
    /// A stand-in index (while one is replaced): nothing to look up.
    None,
    Open(Arc<LookupTable>),
    /// It did not open (damaged): the index is rebuilt.
    Failed(String),
}

/// The feed files of one index and its lookup table, and the head each
/// feed's files are complete to (as of the last index batch applied).
pub(super) struct FeedFiles {
    /// `None`: a stand-in that holds nothing (while an index is replaced).
    dir: Option<PathBuf>,
    files: Mutex<HashMap<Vec<u8>, Arc<FeedFile>>>,
    heads: Mutex<HashMap<Vec<u8>, u64>>,
    lookups: Mutex<Lookups>,
    /// The lookup table's recent slots held in memory before a merge.
    memory_slots: usize,
}

fn open_lookups(dir: &Path, memory_slots: usize) -> Lookups {
    match LookupTable::open(dir.join(LOOKUP_FILE), memory_slots) {
        Ok(t) => Lookups::Open(Arc::new(t)),
        Err(e) => Lookups::Failed(e.to_string()),
    }
}

impl FeedFiles {
    /// The feed files in `dir` (created if missing).
    pub(super) fn open(dir: PathBuf, memory_slots: usize) -> Result<Arc<FeedFiles>, StoreError> {
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let lookups = open_lookups(&dir, memory_slots);
        Ok(Arc::new(FeedFiles {
            dir: Some(dir),
            files: Mutex::new(HashMap::new()),
            heads: Mutex::new(HashMap::new()),
            lookups: Mutex::new(lookups),
            memory_slots,
        }))
    }

    /// A stand-in holding nothing.
    pub(super) fn none() -> Arc<FeedFiles> {
        Arc::new(FeedFiles {
            dir: None,
            files: Mutex::new(HashMap::new()),
            heads: Mutex::new(HashMap::new()),
            lookups: Mutex::new(Lookups::None),
            memory_slots: super::lookup::MEMORY_SLOTS,
        })
    }

    /// Removes every feed file and the lookup table (the index is rebuilt
    /// from the log).
    pub(super) fn reset(&self) -> Result<(), StoreError> {
        lock(&self.files).clear();
        lock(&self.heads).clear();
        let mut lookups = lock(&self.lookups);
        *lookups = Lookups::None;
        if let Some(dir) = &self.dir {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| io_err(dir, e))?;
            }
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
            *lookups = Lookups::Open(Arc::new(LookupTable::open(
                dir.join(LOOKUP_FILE),
                self.memory_slots,
            )?));
        }
        Ok(())
    }

    /// The lookup table.
    pub(super) fn lookups(&self) -> Result<Arc<LookupTable>, StoreError> {
        match &*lock(&self.lookups) {
            Lookups::Open(t) => Ok(Arc::clone(t)),
            Lookups::None => Err(StoreError::Corrupt("the index is being replaced".into())),
            Lookups::Failed(why) => Err(StoreError::Corrupt(why.clone())),
        }
    }

    /// A feed's files; `create`: made if missing, else `None` then.
    pub(super) fn get(
        &self,
        author_key: &[u8],
        create: bool,
    ) -> Result<Option<Arc<FeedFile>>, StoreError> {
        let mut files = lock(&self.files);
        if let Some(f) = files.get(author_key) {
            return Ok(Some(Arc::clone(f)));
        }
        let Some(dir) = &self.dir else {
            return if create {
                Err(StoreError::Corrupt("the index is being replaced".into()))
            } else {
                Ok(None)
            };
        };
        let name = hex::encode(author_key);
        let seq_path = dir.join(format!("{name}.seq"));
        let nodes_path = dir.join(format!("{name}.nodes"));
        if !create && !seq_path.exists() {
            return Ok(None);
        }
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .open(p)
                .map_err(|e| io_err(p, e))
        };
        let new = create && !seq_path.exists();
        let f = Arc::new(FeedFile {
            seq: open(&seq_path)?,
            nodes: open(&nodes_path)?,
            seq_path,
            nodes_path,
        });
        if new {
            sync_dir(dir)?;
        }
        files.insert(author_key.to_vec(), Arc::clone(&f));
        Ok(Some(f))
    }

    /// The head a feed's files are complete to.
    pub(super) fn head(&self, author_key: &[u8]) -> u64 {
        lock(&self.heads).get(author_key).copied().unwrap_or(0)
    }

    pub(super) fn set_head(&self, author_key: &[u8], seq: u64) {
        lock(&self.heads).insert(author_key.to_vec(), seq);
    }

    /// The place of `seq` in a feed, if its files hold it.
    pub(super) fn place(&self, author_key: &[u8], seq: u64) -> Result<Option<Place>, StoreError> {
        if seq == 0 || seq > self.head(author_key) {
            return Ok(None);
        }
        match self.get(author_key, false)? {
            Some(f) => f.place(seq).map(Some),
            None => Err(self.missing(author_key)),
        }
    }

    /// Up to `max` places of a feed from `from` on.
    pub(super) fn places(
        &self,
        author_key: &[u8],
        from: u64,
        max: usize,
    ) -> Result<Vec<Place>, StoreError> {
        let from = from.max(1);
        let head = self.head(author_key);
        if from > head || max == 0 {
            return Ok(Vec::new());
        }
        let n = (head - from + 1).min(max as u64);
        match self.get(author_key, false)? {
            Some(f) => f.places(from, n),
            None => Err(self.missing(author_key)),
        }
    }

    /// A feed's tree of `size` leaves (`size` at most its head).
    pub(super) fn tree(&self, author_key: &[u8], size: u64) -> Result<FeedTree, StoreError> {
        Ok(FeedTree {
            file: self.get(author_key, false)?,
            size,
        })
    }

    fn missing(&self, author_key: &[u8]) -> StoreError {
        StoreError::Corrupt(format!(
            "the feed files of author key {} are missing",
            hex::encode(author_key)
        ))
    }

    /// Checks every feed's files against the heads the sled index holds
    /// and the log: why the index must be rebuilt, if it must.
    pub(super) fn check_all(
        &self,
        heads: &HashMap<AuthorId, FeedState>,
        reader: &File,
        log_path: &Path,
        applied: u64,
        log_end: u64,
    ) -> Result<(), String> {
        let lookups = self.lookups().map_err(|e| e.to_string())?;
        lookups.check(log_end)?;
        // A table behind the index is caught up from the log when the
        // store opens (it is synced in bulk); a missing one, or one ahead of
        // the log, is another store's or lost.
        if lookups.created() && heads.values().any(|f| f.head_seq > 0) {
            return Err("the lookup table is missing".into());
        }
        if lookups.covered() > log_end {
            return Err(format!(
                "the lookup table covers the log to offset {}, past its end at {log_end} (a replaced file)",
                lookups.covered()
            ));
        }
        for (author, f) in heads {
            if f.head_seq == 0 {
                continue;
            }
            let key = author.key_bytes();
            let file = self
                .get(&key, false)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("the feed files of {author} are missing"))?;
            let head_id = f
                .head_id
                .ok_or_else(|| format!("the head of {author} has no id"))?;
            let p = file
                .check(f.head_seq, &head_id, applied)
                .map_err(|e| format!("{author}: {e}"))?;
            let event = read_record(reader, log_path, p.offset, p.len)
                .ok()
                .filter(|(kind, _)| *kind == KIND_EVENT)
                .and_then(|(_, payload)| SignedEvent::decode(&payload).ok());
            if event.map(|e| e.id()) != Some(head_id) {
                return Err(format!(
                    "{author}: the head's place does not hold the head's event in the log"
                ));
            }
            self.set_head(&key, f.head_seq);
        }
        Ok(())
    }
}

/// Writes to the feed files gathered for one index batch: written at their
/// fixed places in as few `pwrite`s as runs of adjacent records, then
/// `fdatasync`ed before the sled batch that covers them.
#[derive(Default)]
pub(super) struct FileBatch {
    seqs: BTreeMap<Vec<u8>, Vec<(u64, [u8; 48])>>,
    nodes: BTreeMap<Vec<u8>, Vec<(u64, [u8; 36])>>,
    lookups: Vec<(Tag, Location)>,
    /// Feeds written since the last sync.
    touched: BTreeSet<Vec<u8>>,
    /// The lookup table was written since the last sync.
    lookups_touched: bool,
    held: usize,
}

impl FileBatch {
    /// The place of event `seq` of a feed and the internal nodes its leaf
    /// completes (levels 1, 2, ..., see [`tree_nodes`]).
    pub(super) fn event(&mut self, author_key: &[u8], seq: u64, place: &Place, nodes: &[Digest]) {
        let Some(pos) = seq.checked_sub(1) else {
            return;
        };
        self.seqs
            .entry(author_key.to_vec())
            .or_default()
            .push((pos, encode_place(seq, place)));
        let slots = self.nodes.entry(author_key.to_vec()).or_default();
        for (l, h) in nodes.iter().enumerate() {
            let half = 1u64.checked_shl(l as u32).unwrap_or(0);
            if let Some(slot) = pos.checked_sub(half).filter(|_| half > 0) {
                slots.push((slot, encode_node(slot, h)));
            }
        }
        self.held += 1;
    }

    /// A slot of the lookup table: where the record of an event (for its
    /// id) or of an event or fork proof naming a number is.
    pub(super) fn lookup(&mut self, tag: Tag, loc: Location) {
        self.lookups.push((tag, loc));
    }

    /// Events gathered and not yet written.
    pub(super) fn len(&self) -> usize {
        self.held
    }

    /// Lookup slots gathered and not yet written.
    pub(super) fn lookups_len(&self) -> usize {
        self.lookups.len()
    }

    /// Writes what was gathered (no sync).
    pub(super) fn write(&mut self, files: &FeedFiles) -> Result<(), StoreError> {
        for (key, recs) in std::mem::take(&mut self.seqs) {
            let f = files.get(&key, true)?.ok_or_else(|| files.missing(&key))?;
            write_runs(&f.seq, &f.seq_path, recs)?;
            self.touched.insert(key);
        }
        for (key, recs) in std::mem::take(&mut self.nodes) {
            let f = files.get(&key, true)?.ok_or_else(|| files.missing(&key))?;
            write_runs(&f.nodes, &f.nodes_path, recs)?;
            self.touched.insert(key);
        }
        if !self.lookups.is_empty() {
            files.lookups()?.insert(&self.lookups)?;
            self.lookups.clear();
            self.lookups_touched = true;
        }
        self.held = 0;
        Ok(())
    }

    /// Writes what was gathered and makes every feed file written since
    /// the last sync durable; the lookup table then holds every record of
    /// the log before `covered` (in memory or in its file: it is synced in
    /// bulk, see lookup.rs).
    pub(super) fn write_and_sync(
        &mut self,
        files: &FeedFiles,
        covered: u64,
    ) -> Result<(), StoreError> {
        self.write(files)?;
        for key in std::mem::take(&mut self.touched) {
            let f = files.get(&key, true)?.ok_or_else(|| files.missing(&key))?;
            f.seq.sync_data().map_err(|e| io_err(&f.seq_path, e))?;
            f.nodes.sync_data().map_err(|e| io_err(&f.nodes_path, e))?;
        }
        if std::mem::take(&mut self.lookups_touched) {
            files.lookups()?.advance(covered)?;
        }
        Ok(())
    }
}

/// Writes fixed-width records at their positions, one `pwrite` per run of
/// adjacent positions (a later record at the same position wins).
fn write_runs<const W: usize>(
    f: &File,
    path: &Path,
    mut recs: Vec<(u64, [u8; W])>,
) -> Result<(), StoreError> {
    recs.sort_by_key(|r| r.0);
    let mut run: Option<(u64, Vec<u8>)> = None;
    for (pos, b) in recs {
        if let Some((start, buf)) = &mut run {
            let next = *start + (buf.len() / W) as u64;
            if pos + 1 == next {
                let at = buf.len() - W;
                buf[at..].copy_from_slice(&b);
                continue;
            }
            if pos == next {
                buf.extend_from_slice(&b);
                continue;
            }
            f.write_all_at(buf, byte_at(*start, W as u64)?)
                .map_err(|e| io_err(path, e))?;
        }
        run = Some((pos, b.to_vec()));
    }
    if let Some((start, buf)) = run {
        f.write_all_at(&buf, byte_at(start, W as u64)?)
            .map_err(|e| io_err(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_a_bijection_of_internal_nodes() {
        for slot in 0..10_000u64 {
            let (l, j) = slot_node(slot).unwrap();
            assert!(l >= 1);
            assert_eq!(node_slot(l, j), Some(slot));
        }
        // The leaf of seq s completes the nodes in slots s - 1 - 2^(l-1).
        for seq in 1..2_000u64 {
            for l in 1..=seq.trailing_zeros() as u8 {
                let index = (seq >> l) - 1;
                assert_eq!(node_slot(l, index), Some(seq - 1 - (1 << (l - 1))));
            }
        }
        assert_eq!(node_slot(0, 0), None);
        assert_eq!(node_slot(64, 0), None);
        assert_eq!(node_slot(40, u64::MAX), None);
    }

    #[test]
    fn records_check_their_position_and_bytes() {
        let p = Place {
            offset: 48,
            len: 300,
            id: crate::bytes::FixedBytes([7; 32]),
        };
        let b = encode_place(5, &p);
        assert_eq!(decode_place(5, &b), Some(p));
        assert_eq!(decode_place(6, &b), None);
        assert_eq!(decode_place(5, &[0u8; 48]), None);
        assert_eq!(decode_place(5, &b[..47]), None);
        let mut d = b;
        d[20] ^= 1;
        assert_eq!(decode_place(5, &d), None);
        let n = encode_node(9, &p.id);
        assert_eq!(decode_node(9, &n), Some(p.id));
        assert_eq!(decode_node(8, &n), None);
        assert_eq!(decode_node(9, &[0u8; 36]), None);
    }
}
