//! The event log: one append-only file, the store's source of truth.
//!
//! ```text
//! header  = "KPLEDGER" (8) || store version u32 LE (4) || network id (32) || crc32(previous 44 bytes) u32 LE
//! record  = len u32 LE || crc32(body) u32 LE || body
//! body    = kind u8 || payload           (len = 1 + payload length)
//! kind 1  = an accepted event (its canonical encoding)
//! kind 2  = a fork proof (its canonical encoding)
//! ```
//!
//! Records are written with one `write` per group commit and made durable
//! with `fdatasync`; nothing is acknowledged before that returns.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::bytes::{Digest, FixedBytes};
use crate::codec::MAX_FORK_PROOF_BYTES;
use crate::error::StoreError;

pub const LOG_MAGIC: &[u8; 8] = b"KPLEDGER";
/// Version of the on-disk format (log and index layout).
pub const STORE_VERSION: u32 = 1;
pub const HEADER_LEN: u64 = 48;
/// Largest record body (kind byte + payload).
pub const MAX_RECORD_BODY: usize = MAX_FORK_PROOF_BYTES + 1;

pub const KIND_EVENT: u8 = 1;
pub const KIND_FORK_PROOF: u8 = 2;

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
        if version != STORE_VERSION {
            return Err(StoreError::UnsupportedStoreVersion {
                found: version,
                supported: STORE_VERSION,
            });
        }
        let mut net = [0u8; 32];
        net.copy_from_slice(&h[12..44]);
        let end = file.seek(SeekFrom::End(0)).map_err(|e| io_err(path, e))?;
        Ok((
            LogFile {
                path: path.to_owned(),
                file,
                end,
            },
            FixedBytes(net),
        ))
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
            visit(Record {
                offset: off,
                kind,
                payload: body,
            })?;
            off += 8 + body_len;
        }
    }

    /// Cuts the log at `offset`, keeping what is cut in a side file so that
    /// nothing is destroyed, then syncs.
    pub fn truncate(&mut self, offset: u64) -> Result<(), StoreError> {
        let len = self
            .file
            .metadata()
            .map_err(|e| io_err(&self.path, e))?
            .len();
        if offset < len {
            let mut tail = vec![0u8; (len - offset).min(64 << 20) as usize];
            self.file
                .read_exact_at(&mut tail, offset)
                .map_err(|e| io_err(&self.path, e))?;
            let side = self.path.with_extension(format!("torn-tail-{offset}"));
            std::fs::write(&side, &tail).map_err(|e| io_err(&side, e))?;
            self.file
                .set_len(offset)
                .map_err(|e| io_err(&self.path, e))?;
            self.file.sync_all().map_err(|e| io_err(&self.path, e))?;
        }
        self.end = offset;
        Ok(())
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
