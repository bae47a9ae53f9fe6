//! The event log: one append-only file, the store's source of truth.
//!
//! ```text
//! header  = "KPLEDGER" (8) || store version u32 LE (4) || network id (32) || crc32(previous 44 bytes) u32 LE
//! record  = len u32 LE || crc32(body) u32 LE || body
//! body    = kind u8 || payload           (len = 1 + payload length)
//! kind 1  = an accepted event (its canonical encoding)
//! kind 2  = a fork proof (its canonical encoding)
//! kind 3  = a synced mark: u64 LE offset; every byte before it was made
//!           durable by an `fdatasync` that returned before this record was written
//! ```
//!
//! Records are written with one `write` per group commit and made durable
//! with `fdatasync`; nothing is acknowledged before that returns. The synced
//! marks are the log's durable watermark: recovery may cut only what lies
//! past the highest mark (and past the last valid record), never damage
//! before it (docs/FORMAT.md §12).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::bytes::{Digest, FixedBytes};
use crate::codec::MAX_FORK_PROOF_BYTES;
use crate::error::StoreError;

pub const LOG_MAGIC: &[u8; 8] = b"KPLEDGER";
/// Version of the on-disk format (log and index layout). Version 1 logs
/// (without synced marks) are read, and upgraded in place on open.
pub const STORE_VERSION: u32 = 2;
pub const HEADER_LEN: u64 = 48;
/// Largest record body (kind byte + payload).
pub const MAX_RECORD_BODY: usize = MAX_FORK_PROOF_BYTES + 1;

pub const KIND_EVENT: u8 = 1;
pub const KIND_FORK_PROOF: u8 = 2;
pub const KIND_SYNCED: u8 = 3;

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Frames one record.
pub fn frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let len = (payload.len() + 1) as u32;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(payload);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
}

/// Frames a synced mark: everything before `synced` is durable.
pub fn frame_synced(synced: u64, out: &mut Vec<u8>) {
    frame(KIND_SYNCED, &synced.to_le_bytes(), out)
}

/// The offset a synced mark's payload names.
pub fn synced_mark(payload: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(payload.try_into().ok()?))
}

fn header(network: &Digest) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(LOG_MAGIC);
    h[8..12].copy_from_slice(&STORE_VERSION.to_le_bytes());
    h[12..44].copy_from_slice(network.as_bytes());
    let crc = crc32fast::hash(&h[..44]);
    h[44..48].copy_from_slice(&crc.to_le_bytes());
    h
}

/// fsyncs a directory so a newly created or renamed entry in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

/// The open log file.
pub struct LogFile {
    pub path: PathBuf,
    file: File,
    /// Offset just past the last complete record.
    pub end: u64,
}

/// A record read back from the log.
pub struct Record {
    pub offset: u64,
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// One thing [`LogFile::scan_all`] found.
pub enum LogItem {
    Record(Record),
    Damage(Damage),
}

/// Bytes of the log that are not a valid record: `offset..to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub offset: u64,
    /// Where the next valid record starts, or the file's length.
    pub to: u64,
    pub reason: String,
}

/// Reads the frame at `off`: `Ok(Ok((kind, payload)))` for a whole record
/// with a valid checksum and a known kind, `Ok(Err(reason))` otherwise.
fn read_frame_at(
    f: &File,
    path: &Path,
    off: u64,
    len: u64,
) -> Result<Result<(u8, Vec<u8>), String>, StoreError> {
    if len - off < 8 {
        return Ok(Err(
            "a record header is cut short by the end of the file".into()
        ));
    }
    let mut hdr = [0u8; 8];
    f.read_exact_at(&mut hdr, off)
        .map_err(|e| io_err(path, e))?;
    let body_len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as u64;
    let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    if body_len == 0 || body_len > MAX_RECORD_BODY as u64 {
        return Ok(Err(format!("record length {body_len} is impossible")));
    }
    if off + 8 + body_len > len {
        return Ok(Err("a record is cut short by the end of the file".into()));
    }
    let mut body = vec![0u8; body_len as usize];
    f.read_exact_at(&mut body, off + 8)
        .map_err(|e| io_err(path, e))?;
    if crc32fast::hash(&body) != crc {
        return Ok(Err("record checksum mismatch".into()));
    }
    let kind = body[0];
    if !(KIND_EVENT..=KIND_SYNCED).contains(&kind) {
        return Ok(Err(format!("unknown record kind {kind}")));
    }
    body.remove(0);
    Ok(Ok((kind, body)))
}

/// [`read_frame_at`] for a reader positioned at `off`; on a damaged frame
/// the reader's position is unspecified (the caller seeks).
fn read_frame_seq(
    r: &mut BufReader<File>,
    path: &Path,
    off: u64,
    len: u64,
) -> Result<Result<(u8, Vec<u8>), String>, StoreError> {
    if len - off < 8 {
        return Ok(Err(
            "a record header is cut short by the end of the file".into()
        ));
    }
    let mut hdr = [0u8; 8];
    r.read_exact(&mut hdr).map_err(|e| io_err(path, e))?;
    let body_len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as u64;
    let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    if body_len == 0 || body_len > MAX_RECORD_BODY as u64 {
        return Ok(Err(format!("record length {body_len} is impossible")));
    }
    if off + 8 + body_len > len {
        return Ok(Err("a record is cut short by the end of the file".into()));
    }
    let mut body = vec![0u8; body_len as usize];
    r.read_exact(&mut body).map_err(|e| io_err(path, e))?;
    if crc32fast::hash(&body) != crc {
        return Ok(Err("record checksum mismatch".into()));
    }
    let kind = body[0];
    if !(KIND_EVENT..=KIND_SYNCED).contains(&kind) {
        return Ok(Err(format!("unknown record kind {kind}")));
    }
    body.remove(0);
    Ok(Ok((kind, body)))
}

/// The first offset at or after `from` where a whole, checksummed record
/// of a known kind starts (or `len`). Reads the log in windows; a candidate
/// needs a plausible length before its body is read and checked.
fn resync(f: &mut File, path: &Path, from: u64, len: u64) -> Result<u64, StoreError> {
    const WINDOW: u64 = 1 << 16;
    let mut start = from;
    while start + 8 <= len {
        let n = (len - start).min(WINDOW + 8);
        let mut buf = vec![0u8; n as usize];
        f.read_exact_at(&mut buf, start)
            .map_err(|e| io_err(path, e))?;
        let last = (n - 8).min(WINDOW - 1);
        for i in 0..=last as usize {
            let body_len = u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]) as u64;
            if body_len == 0 || body_len > MAX_RECORD_BODY as u64 {
                continue;
            }
            let off = start + i as u64;
            if off + 8 + body_len > len {
                continue;
            }
            let kind_ok = match buf.get(i + 8) {
                Some(k) => (KIND_EVENT..=KIND_SYNCED).contains(k),
                None => true,
            };
            if !kind_ok {
                continue;
            }
            if read_frame_at(f, path, off, len)?.is_ok() {
                return Ok(off);
            }
        }
        start += last + 1;
    }
    Ok(len)
}

/// What a scan of the log found at its end.
pub enum ScanEnd {
    /// The log ends cleanly at this offset.
    Clean(u64),
    /// An incomplete or damaged record starts at `offset` and reaches the end
    /// of the file: the remains of a write that was never acknowledged.
    TornTail { offset: u64, reason: String },
}

impl LogFile {
    /// Creates a new log with its header, durably.
    pub fn create(path: &Path, network: &Digest) -> Result<LogFile, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        file.write_all(&header(network))
            .map_err(|e| io_err(path, e))?;
        file.sync_all().map_err(|e| io_err(path, e))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(LogFile {
            path: path.to_owned(),
            file,
            end: HEADER_LEN,
        })
    }

    /// Opens an existing log, checking its header. `end` is set to the file
    /// length; call [`LogFile::scan`] and [`LogFile::truncate`] to recover.
    pub fn open(path: &Path) -> Result<(LogFile, Digest), StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let mut h = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut h).map_err(|e| {
            StoreError::Corrupt(format!(
                "{}: the log header is missing or short ({e})",
                path.display()
            ))
        })?;
        if &h[..8] != LOG_MAGIC {
            return Err(StoreError::Corrupt(format!(
                "{}: not a KP Ledger event log",
                path.display()
            )));
        }
        if crc32fast::hash(&h[..44]).to_le_bytes() != h[44..48] {
            return Err(StoreError::Corrupt(format!(
                "{}: the log header checksum is wrong",
                path.display()
            )));
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != STORE_VERSION && version != 1 {
            return Err(StoreError::UnsupportedStoreVersion {
                found: version,
                supported: STORE_VERSION,
            });
        }
        let mut net = [0u8; 32];
        net.copy_from_slice(&h[12..44]);
        let end = file.seek(SeekFrom::End(0)).map_err(|e| io_err(path, e))?;
        if version == 1 {
            // Version 2 only adds synced marks; readers of version 1 would
            // take them for damage, so the header says so before any is written.
            file.write_all_at(&header(&FixedBytes(net)), 0)
                .and_then(|_| file.sync_data())
                .map_err(|e| io_err(path, e))?;
        }
        Ok((
            LogFile {
                path: path.to_owned(),
                file,
                end,
            },
            FixedBytes(net),
        ))
    }

    /// Opens an existing log for reading only (a check of a stopped store):
    /// the header is checked, nothing is written, not even an upgrade.
    pub fn open_read_only(path: &Path) -> Result<LogFile, StoreError> {
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        let mut h = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut h, 0).map_err(|e| {
            StoreError::Corrupt(format!(
                "{}: the log header is missing or short ({e})",
                path.display()
            ))
        })?;
        if &h[..8] != LOG_MAGIC || crc32fast::hash(&h[..44]).to_le_bytes() != h[44..48] {
            return Err(StoreError::Corrupt(format!(
                "{}: the log header is damaged or this is not a KP Ledger event log",
                path.display()
            )));
        }
        let end = file.metadata().map_err(|e| io_err(path, e))?.len();
        Ok(LogFile {
            path: path.to_owned(),
            file,
            end,
        })
    }

    /// A second handle on the same file, for reads and syncs that must not
    /// wait for the writer.
    pub fn reader(&self) -> Result<File, StoreError> {
        self.file.try_clone().map_err(|e| io_err(&self.path, e))
    }

    /// Appends framed records (not yet durable). On a failed or short write
    /// the file is cut back to where it was, so no partial record remains.
    pub fn append(&mut self, bytes: &[u8]) -> Result<u64, StoreError> {
        let start = self.end;
        // An earlier failed write whose cut failed too may have left bytes
        // past `end`; the file is opened for appending, so cut them first.
        let len = self.file_len()?;
        if len != start {
            self.file
                .set_len(start)
                .map_err(|e| io_err(&self.path, e))?;
        }
        if let Err(e) = self.file.write_all(bytes) {
            let _ = self.file.set_len(start);
            return Err(io_err(&self.path, e));
        }
        self.end = start + bytes.len() as u64;
        Ok(start)
    }

    /// Visits every complete, checksummed record from `from` on. Stops at the
    /// first record that is incomplete or damaged and says where.
    pub fn scan(
        &self,
        from: u64,
        mut visit: impl FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<ScanEnd, StoreError> {
        let len = self
            .file
            .metadata()
            .map_err(|e| io_err(&self.path, e))?
            .len();
        let mut f = self.reader()?;
        f.seek(SeekFrom::Start(from))
            .map_err(|e| io_err(&self.path, e))?;
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut off = from;
        loop {
            if off == len {
                return Ok(ScanEnd::Clean(off));
            }
            if len - off < 8 {
                return Ok(ScanEnd::TornTail {
                    offset: off,
                    reason: "a record header is cut short".into(),
                });
            }
            let mut hdr = [0u8; 8];
            r.read_exact(&mut hdr).map_err(|e| io_err(&self.path, e))?;
            let body_len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as u64;
            let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
            if body_len == 0 || body_len > MAX_RECORD_BODY as u64 {
                return Ok(ScanEnd::TornTail {
                    offset: off,
                    reason: format!("record length {body_len} is impossible"),
                });
            }
            if off + 8 + body_len > len {
                return Ok(ScanEnd::TornTail {
                    offset: off,
                    reason: "a record is cut short by the end of the file".into(),
                });
            }
            let mut body = vec![0u8; body_len as usize];
            r.read_exact(&mut body).map_err(|e| io_err(&self.path, e))?;
            if crc32fast::hash(&body) != crc {
                return Ok(ScanEnd::TornTail {
                    offset: off,
                    reason: "record checksum mismatch".into(),
                });
            }
            let kind = body[0];
            body.remove(0);
            if kind != KIND_SYNCED {
                visit(Record {
                    offset: off,
                    kind,
                    payload: body,
                })?;
            }
            off += 8 + body_len;
        }
    }

    /// Visits every record from `from` on, synced marks included, and does
    /// not stop at damage: a record that is short, has an impossible length
    /// or kind, or fails its checksum is reported as [`LogItem::Damage`] and
    /// the scan resynchronises at the next offset where a whole record with
    /// a valid checksum starts (so every valid record after damage is
    /// found). Damage that reaches the end of the file has `to == len`.
    pub fn scan_all(
        &self,
        from: u64,
        mut visit: impl FnMut(LogItem) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let len = self
            .file
            .metadata()
            .map_err(|e| io_err(&self.path, e))?
            .len();
        let mut f = self.reader()?;
        let mut seq = BufReader::with_capacity(1 << 20, self.reader()?);
        seq.seek(SeekFrom::Start(from))
            .map_err(|e| io_err(&self.path, e))?;
        let mut off = from;
        while off < len {
            match read_frame_seq(&mut seq, &self.path, off, len)? {
                Ok((kind, payload)) => {
                    let next = off + 9 + payload.len() as u64;
                    visit(LogItem::Record(Record {
                        offset: off,
                        kind,
                        payload,
                    }))?;
                    off = next;
                }
                Err(reason) => {
                    let to = resync(&mut f, &self.path, off + 1, len)?;
                    visit(LogItem::Damage(Damage {
                        offset: off,
                        to,
                        reason,
                    }))?;
                    off = to;
                    seq.seek(SeekFrom::Start(off))
                        .map_err(|e| io_err(&self.path, e))?;
                }
            }
        }
        Ok(())
    }

    /// Cuts the log at `offset`, keeping every byte that is cut in a side
    /// file (`events.torn-tail-<offset>`, synced before the cut) so that
    /// nothing is destroyed, then syncs. Returns the number of bytes cut.
    pub fn truncate(&mut self, offset: u64) -> Result<u64, StoreError> {
        let len = self
            .file
            .metadata()
            .map_err(|e| io_err(&self.path, e))?
            .len();
        let cut = len.saturating_sub(offset);
        if cut > 0 {
            let side = self.path.with_extension(format!("torn-tail-{offset}"));
            let mut out = File::create(&side).map_err(|e| io_err(&side, e))?;
            let mut src = self.reader()?;
            src.seek(SeekFrom::Start(offset))
                .map_err(|e| io_err(&self.path, e))?;
            let copied =
                std::io::copy(&mut (&mut src).take(cut), &mut out).map_err(|e| io_err(&side, e))?;
            if copied != cut {
                return Err(io_err(
                    &side,
                    std::io::Error::other(format!("copied {copied} of {cut} bytes")),
                ));
            }
            out.sync_all().map_err(|e| io_err(&side, e))?;
            if let Some(dir) = side.parent() {
                sync_dir(dir)?;
            }
            self.file
                .set_len(offset)
                .map_err(|e| io_err(&self.path, e))?;
            self.file.sync_all().map_err(|e| io_err(&self.path, e))?;
        }
        self.end = offset;
        Ok(cut)
    }

    /// Cuts the log back to `offset` after a failed write or sync: the
    /// bytes past it were never acknowledged, so nothing is kept.
    pub fn roll_back(&mut self, offset: u64) -> Result<(), StoreError> {
        self.file
            .set_len(offset)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| io_err(&self.path, e))?;
        self.end = offset;
        Ok(())
    }

    /// The log file's length on disk.
    pub fn file_len(&self) -> Result<u64, StoreError> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| io_err(&self.path, e))?
            .len())
    }
}

/// Reads one record at `offset` whose body is `body_len` bytes, checking its
/// checksum.
pub fn read_record(
    file: &File,
    path: &Path,
    offset: u64,
    body_len: u32,
) -> Result<(u8, Vec<u8>), StoreError> {
    if body_len == 0 || body_len as usize > MAX_RECORD_BODY {
        return Err(StoreError::Corrupt(format!(
            "index names an impossible record length {body_len}"
        )));
    }
    let mut buf = vec![0u8; 8 + body_len as usize];
    file.read_exact_at(&mut buf, offset)
        .map_err(|e| io_err(path, e))?;
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len != body_len {
        return Err(StoreError::CorruptLog {
            offset,
            reason: format!("record length {len} differs from the index ({body_len})"),
        });
    }
    if crc32fast::hash(&buf[8..]) != crc {
        return Err(StoreError::CorruptLog {
            offset,
            reason: "record checksum mismatch: the stored bytes were changed".into(),
        });
    }
    let kind = buf[8];
    buf.drain(..9);
    Ok((kind, buf))
}
