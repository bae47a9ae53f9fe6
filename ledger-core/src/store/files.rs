//! Small durable-file helpers.

use super::*;

/// Writes a file atomically and durably: temp file, fsync, rename, fsync dir.
/// On failure (a full disk) the old file is untouched and the temp file is
/// removed, so a failed write leaves nothing behind to fill the disk further.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let written = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(|e| io_err(&tmp, e))
        .and_then(|_| std::fs::rename(&tmp, path).map_err(|e| io_err(path, e)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Takes the store's exclusive lock (`DIR/LOCK`): one process per store.
pub(super) fn lock_store(dir: &Path) -> Result<File, StoreError> {
    let lock_path = dir.join("LOCK");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_err(&lock_path, e))?;
    match lock_file.try_lock() {
        Ok(()) => Ok(lock_file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Locked(dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&lock_path, e)),
    }
}

/// Reads the charter a store was created with (for offline verification).
pub fn stored_charter(dir: &Path) -> Result<Charter, StoreError> {
    let p = dir.join("charter.bin");
    let meta = std::fs::metadata(&p).map_err(|e| io_err(&p, e))?;
    if meta.len() > MAX_CHARTER_BYTES as u64 {
        return Err(StoreError::Corrupt(format!(
            "{}: larger than a charter can be",
            p.display()
        )));
    }
    let bytes = std::fs::read(&p).map_err(|e| io_err(&p, e))?;
    Charter::decode(&bytes).map_err(|e| StoreError::Charter(format!("{}: {e}", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_atomic_write_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state");
        write_atomic(&p, b"old").unwrap();
        // A directory where the temp file would be renamed to: rename fails.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), b"").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert!(!dir.path().join("blocked.tmp").exists());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
    }
}
