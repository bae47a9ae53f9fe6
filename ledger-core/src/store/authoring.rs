//! The authoring record: the highest place of each own feed that this store
//! ever acknowledged, kept outside the log.
//!
//! The log is the truth, but a log can lose its tail (a damaged last record
//! taken for a torn write, a restored copy, an operator's mistake). A node
//! that then signed "the next" event would sign a place it already signed:
//! a fork of its own feed. So every own-feed append writes, after the log's
//! `fdatasync` and before the caller is answered, this small record with its
//! own `fdatasync`; the store refuses to author below it.
//!
//! ```text
//! DIR/authoring/<hex of the author's key bytes>.rec
//! slot 0 at offset 0, slot 1 at offset 512; each slot:
//!   "KPLAUTH1" (8) || len u16 LE || payload (len) || crc32(magic..payload) u32 LE
//! payload = author key bytes (2 code bytes, 1 length byte, name) || seq u64 LE || id (32)
//! ```
//!
//! Writes alternate between the slots (by seq parity), so a torn write
//! leaves the other slot whole; the valid slot with the higher seq wins.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::bytes::FixedBytes;
use crate::error::StoreError;
use crate::event::EventId;
use crate::model::AuthorId;

use super::index::author_from_key;
use super::log::{io_err, sync_dir};

const MAGIC: &[u8; 8] = b"KPLAUTH1";
const SLOT: u64 = 512;

/// The highest place of an own feed this store acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthoringRecord {
    pub author: AuthorId,
    pub seq: u64,
    pub id: EventId,
}

/// Every authoring record of a store, and where they live.
pub(super) struct AuthoringRecords {
    dir: PathBuf,
    records: HashMap<AuthorId, (AuthoringRecord, File)>,
    /// Places acknowledged whose record could not be written yet (a full
    /// disk): the store authors nothing more in that feed until it is.
    unwritten: HashMap<AuthorId, AuthoringRecord>,
}

fn encode_slot(r: &AuthoringRecord) -> Vec<u8> {
    let mut payload = r.author.key_bytes();
    payload.extend_from_slice(&r.seq.to_le_bytes());
    payload.extend_from_slice(r.id.as_bytes());
    let mut out = Vec::with_capacity(8 + 2 + payload.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes one slot; `None` when it is empty, torn or damaged.
fn decode_slot(b: &[u8]) -> Option<AuthoringRecord> {
    if b.len() < 14 || &b[..8] != MAGIC {
        return None;
    }
    let len = u16::from_le_bytes([b[8], b[9]]) as usize;
    let end = 10usize.checked_add(len)?;
    let crc_bytes = b.get(end..end + 4)?;
    if crc32fast::hash(&b[..end]).to_le_bytes() != crc_bytes {
        return None;
    }
    let payload = &b[10..end];
    if payload.len() < 3 + 40 {
        return None;
    }
    let key_len = 3 + payload[2] as usize;
    if payload.len() != key_len + 40 {
        return None;
    }
    let author = author_from_key(&payload[..key_len])?;
    let seq = u64::from_le_bytes(payload[key_len..key_len + 8].try_into().ok()?);
    let id: [u8; 32] = payload[key_len + 8..].try_into().ok()?;
    Some(AuthoringRecord {
        author,
        seq,
        id: FixedBytes(id),
    })
}

/// Reads a record file: the valid slot with the higher seq.
fn read_file(path: &Path) -> Result<Option<AuthoringRecord>, StoreError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    if meta.len() > 2 * SLOT {
        return Err(StoreError::Corrupt(format!(
            "{}: larger than an authoring record can be",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    let a = decode_slot(&bytes);
    let b = bytes.get(SLOT as usize..).and_then(decode_slot);
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(if b.seq > a.seq { b } else { a }),
        (a, b) => a.or(b),
    })
}

impl AuthoringRecords {
    /// Loads every record in `store_dir/authoring/`, creating the folder.
    /// A record file that holds no valid slot is an error: the store cannot
    /// know how far its own feed went.
    pub(super) fn load(store_dir: &Path) -> Result<AuthoringRecords, StoreError> {
        let dir = store_dir.join("authoring");
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
            sync_dir(store_dir)?;
        }
        let mut records = HashMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| io_err(&dir, e))?;
        for entry in entries.take(4096) {
            let entry = entry.map_err(|e| io_err(&dir, e))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("rec") {
                continue;
            }
            let Some(rec) = read_file(&path)? else {
                return Err(StoreError::Corrupt(format!(
                    "{}: neither slot of this authoring record is readable, so this store \
                     cannot tell how far its own feed went; restore the file or remove it \
                     only if the node's peers will be asked for its feed's head",
                    path.display()
                )));
            };
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| io_err(&path, e))?;
            records.insert(rec.author.clone(), (rec, file));
        }
        Ok(AuthoringRecords {
            dir,
            records,
            unwritten: HashMap::new(),
        })
    }

    /// Why own writes are refused: an acknowledged place whose record is
    /// still to be written.
    pub(super) fn unwritten_reason(&self) -> Option<String> {
        let mut v: Vec<_> = self.unwritten.values().collect();
        v.sort_by(|a, b| a.author.cmp(&b.author));
        v.first().map(|r| {
            format!(
                "the authoring record of {} (seq {}) could not be written; own writes are refused until it is",
                r.author, r.seq
            )
        })
    }

    pub(super) fn get(&self, author: &AuthorId) -> Option<&AuthoringRecord> {
        self.records.get(author).map(|(r, _)| r)
    }

    pub(super) fn all(&self) -> Vec<AuthoringRecord> {
        let mut v: Vec<AuthoringRecord> = self.records.values().map(|(r, _)| r.clone()).collect();
        v.sort_by(|a, b| a.author.cmp(&b.author));
        v
    }

    /// Writes a record that an earlier [`AuthoringRecords::record`] could
    /// not write. Until this succeeds, the feed's record is behind its
    /// acknowledged head and nothing more may be authored in it.
    pub(super) fn settle(&mut self, author: &AuthorId) -> Result<(), StoreError> {
        if let Some(r) = self.unwritten.get(author).cloned() {
            self.write(author, r.seq, r.id)?;
            self.unwritten.remove(author);
        }
        Ok(())
    }

    /// Durably records that `author`'s feed reached `seq` with `id`. Never
    /// moves a record back. On failure the place is remembered, to be
    /// written by [`AuthoringRecords::settle`] before the next own append.
    pub(super) fn record(
        &mut self,
        author: &AuthorId,
        seq: u64,
        id: EventId,
    ) -> Result<(), StoreError> {
        match self.write(author, seq, id) {
            Ok(()) => {
                self.unwritten.remove(author);
                Ok(())
            }
            Err(e) => {
                self.unwritten.insert(
                    author.clone(),
                    AuthoringRecord {
                        author: author.clone(),
                        seq,
                        id,
                    },
                );
                Err(e)
            }
        }
    }

    fn write(&mut self, author: &AuthorId, seq: u64, id: EventId) -> Result<(), StoreError> {
        let rec = AuthoringRecord {
            author: author.clone(),
            seq,
            id,
        };
        let bytes = encode_slot(&rec);
        super::faults::check(super::faults::Site::Authoring)
            .map_err(|e| io_err(&self.dir.join(file_name(author)), e))?;
        match self.records.get_mut(author) {
            Some((old, file)) => {
                if old.seq >= seq {
                    return Ok(());
                }
                let path = self.dir.join(file_name(author));
                file.write_all_at(&bytes, (seq % 2) * SLOT)
                    .and_then(|_| file.sync_data())
                    .map_err(|e| io_err(&path, e))?;
                *old = rec;
            }
            None => {
                let path = self.dir.join(file_name(author));
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(|e| io_err(&path, e))?;
                file.write_all_at(&bytes, (seq % 2) * SLOT)
                    .and_then(|_| file.sync_data())
                    .map_err(|e| io_err(&path, e))?;
                sync_dir(&self.dir)?;
                self.records.insert(author.clone(), (rec, file));
            }
        }
        Ok(())
    }
}

fn file_name(author: &AuthorId) -> String {
    format!("{}.rec", hex::encode(author.key_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64) -> AuthoringRecord {
        AuthoringRecord {
            author: AuthorId::new("BW", "mme").unwrap(),
            seq,
            id: FixedBytes([seq as u8; 32]),
        }
    }

    #[test]
    fn a_slot_round_trips_and_any_damage_is_refused() {
        let b = encode_slot(&rec(7));
        assert_eq!(decode_slot(&b), Some(rec(7)));
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x40;
            assert_eq!(decode_slot(&d), None, "byte {i}");
        }
        for n in 0..b.len() {
            assert_eq!(decode_slot(&b[..n]), None, "cut at {n}");
        }
    }

    #[test]
    fn the_higher_valid_slot_wins_and_a_torn_slot_leaves_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = AuthoringRecords::load(dir.path()).unwrap();
        let a = rec(1).author;
        for s in 1..=5 {
            r.record(&a, s, rec(s).id).unwrap();
        }
        r.record(&a, 3, rec(3).id).unwrap(); // never moves back
        let r = AuthoringRecords::load(dir.path()).unwrap();
        assert_eq!(r.get(&a), Some(&rec(5)));
        // Tear slot 1 (seq 5): slot 0 (seq 4) remains.
        let path = dir.path().join("authoring").join(file_name(&a));
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0u8; 16], SLOT + 4).unwrap();
        let r = AuthoringRecords::load(dir.path()).unwrap();
        assert_eq!(r.get(&a), Some(&rec(4)));
        // Both slots gone: refused, not taken as "no record".
        f.write_all_at(&[0u8; 16], 4).unwrap();
        assert!(AuthoringRecords::load(dir.path()).is_err());
    }
}
