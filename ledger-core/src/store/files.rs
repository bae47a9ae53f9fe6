//! Small durable-file helpers.

use super::*;

/// Writes a file atomically and durably: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
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
