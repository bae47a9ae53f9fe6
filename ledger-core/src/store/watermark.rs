//! The log's durable watermark, kept beside it: `DIR/events.synced`.
//!
//! Synced marks inside the log (record kind 3) ride on the next write, so
//! the last one written before damage may itself be destroyed by damage to
//! the end of the log. This file repeats the watermark outside the log. It
//! is written by [`Ledger::seal`] (when the node goes idle, and on close),
//! never on the acknowledgement path, so it may lag but never leads:
//!
//! ```text
//! "KPLSYNC1" (8) || synced length u64 LE (8) || crc32(previous 16 bytes) u32 LE
//! ```
//!
//! One 20-byte write at offset 0 (within one sector). A file that does not
//! check is ignored (the in-log marks still hold); one whose length is past
//! the end of the log means acknowledged bytes were lost from it, and the
//! store refuses to open.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::log::io_err;
use crate::error::StoreError;

const MAGIC: &[u8; 8] = b"KPLSYNC1";

pub(super) const FILE: &str = "events.synced";

/// Reads the watermark; `None` when the file is missing or does not check.
pub(super) fn read(dir: &Path) -> Option<u64> {
    let b = std::fs::read(dir.join(FILE)).ok()?;
    if b.len() != 20 || &b[..8] != MAGIC {
        return None;
    }
    if crc32fast::hash(&b[..16]).to_le_bytes() != b[16..20] {
        return None;
    }
    Some(u64::from_le_bytes(b[8..16].try_into().ok()?))
}

/// Durably records that the log is synced up to `synced`.
pub(super) fn write(dir: &Path, synced: u64) -> Result<(), StoreError> {
    let path = dir.join(FILE);
    let existed = path.exists();
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_err(&path, e))?;
    let mut b = Vec::with_capacity(20);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&synced.to_le_bytes());
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    f.write_all_at(&b, 0)
        .and_then(|_| f.sync_data())
        .map_err(|e| io_err(&path, e))?;
    if !existed {
        super::log::sync_dir(dir)?;
    }
    Ok(())
}
