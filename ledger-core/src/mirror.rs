//! A static mirror of a feed's c2sp.org/tlog-tiles files in a directory,
//! brought up to date incrementally (what `kpl mirror` drives for every
//! feed of a node).
//!
//! For one feed, under `<dir>/<participant>/<authority>/`:
//!
//! 1. the source's checkpoint is fetched and verified with the feed's key
//!    in force at its size (the key epoch with the largest `from_seq` ≤
//!    size + 1, as the node signs); it must not be smaller than the
//!    mirror's, and its origin must be the feed's;
//! 2. every tile and bundle of that size is gathered: one already in the
//!    mirror at its path (which names its width, so its bytes are final) is
//!    read from disk, never fetched again nor rewritten; the others are
//!    fetched (a partial tile that grew is a new path);
//! 3. everything is checked before anything is written: the hash tiles
//!    against the checkpoint's size and root ([`TileSet::verify`]), the
//!    mirror's previous checkpoint against the same tiles (its root must be
//!    the root of the new tree's first leaves), each fetched entry bundle
//!    against its level-0 tile and each fetched event bundle against the
//!    ids;
//! 4. each new file is written to a temporary name, synced and renamed (so
//!    a partial tile is replaced atomically), partial tiles of older
//!    widths are removed, and the checkpoint is written last: a mirror is
//!    never ahead of its tiles.

use std::path::{Path, PathBuf};

use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::merkle;
use crate::tlog::note::{Ed25519Verifier, NoteVerifier};
use crate::tlog::tiles::{
    bundles, check_entries, check_events, decode_entry_bundle, decode_event_bundle,
    decode_hash_tile, hash_tiles, Tile, TileKind, TileSet,
};

/// The largest checkpoint note accepted from a source.
pub const MAX_CHECKPOINT_BYTES: usize = 1 << 20;

/// What one feed's mirroring did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedReport {
    /// The mirror's checkpoint size before, if it had one.
    pub previous_size: Option<u64>,
    /// The checkpoint size mirrored now.
    pub size: u64,
    /// Full tiles and bundles fetched and written.
    pub full_written: u64,
    /// Partial tiles and bundles fetched and written.
    pub partial_written: u64,
    /// Tiles and bundles already in the mirror (kept, not fetched).
    pub kept: u64,
    /// Partial files of older widths removed.
    pub removed: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// A source of one feed's files: `get(path)` under the feed's prefix is the
/// file's bytes, `None` when it has none (404).
pub type Source<'a> = dyn Fn(&str) -> Result<Option<Vec<u8>>, String> + 'a;

fn io(p: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", p.display())
}

/// Reads a file, `None` when it does not exist.
fn read_opt(p: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(p, e)),
    }
}

/// Writes `bytes` at `p` through a synced temporary file and a rename.
pub fn write_atomic(p: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let dir = p
        .parent()
        .ok_or_else(|| format!("{}: no parent", p.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: no file name", p.display()))?;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, p).map_err(|e| io(p, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Opens a checkpoint note with the key of `epochs` (first seq, verifier)
/// in force at its size.
pub fn open_checkpoint(
    bytes: &[u8],
    origin: &str,
    epochs: &[(u64, Ed25519Verifier)],
) -> Result<Checkpoint, String> {
    if bytes.len() > MAX_CHECKPOINT_BYTES {
        return Err("the checkpoint is too large".into());
    }
    let note = crate::tlog::note::Note::parse(bytes).map_err(|e| e.to_string())?;
    let cp = Checkpoint::from_text(note.text()).map_err(|e| e.to_string())?;
    if cp.origin != origin {
        return Err(format!(
            "the checkpoint's origin is {}, not {origin}",
            cp.origin
        ));
    }
    let key = epochs
        .iter()
        .rev()
        .find(|(from, _)| *from <= cp.size.saturating_add(1))
        .or(epochs.first())
        .ok_or("no key is known for this feed")?;
    let v: &dyn NoteVerifier = &key.1;
    note.verify(&[v])
        .map_err(|e| format!("the checkpoint of size {}: {e}", cp.size))?;
    Ok(cp)
}

/// Brings the mirror of one feed in `feed_dir` up to the source's latest
/// checkpoint. Nothing is written unless everything checks.
pub fn mirror_feed(
    feed_dir: &Path,
    origin: &str,
    epochs: &[(u64, Ed25519Verifier)],
    source: &Source<'_>,
) -> Result<FeedReport, String> {
    let mut report = FeedReport::default();
    let cp_path = feed_dir.join("checkpoint");
    let previous = match read_opt(&cp_path)? {
        Some(b) => Some(
            open_checkpoint(&b, origin, epochs)
                .map_err(|e| format!("the mirror's own checkpoint: {e}"))?,
        ),
        None => None,
    };
    report.previous_size = previous.as_ref().map(|c| c.size);
    let Some(cp_bytes) = source("checkpoint")? else {
        return Err("the source has no checkpoint of this feed yet".into());
    };
    let cp = open_checkpoint(&cp_bytes, origin, epochs)?;
    report.size = cp.size;
    if let Some(p) = &previous {
        if p.size > cp.size {
            return Err(format!(
                "the source's checkpoint (size {}) is behind the mirror's (size {})",
                cp.size, p.size
            ));
        }
    }
    // Gather every file of this size: kept (full, on disk) or fetched.
    let mut writes: Vec<(PathBuf, Vec<u8>, bool)> = Vec::new();
    let mut gathered = |t: &Tile| -> Result<Vec<u8>, String> {
        let p = feed_dir.join(t.path());
        // A path names its width: a file there has its final bytes.
        if let Some(b) = read_opt(&p)? {
            report.kept += 1;
            return Ok(b);
        }
        let b = source(&t.path())?.ok_or_else(|| format!("the source has no {}", t.path()))?;
        writes.push((p, b.clone(), t.is_full()));
        Ok(b)
    };
    let mut set = TileSet::new();
    let mut fetched_leaves: Vec<Tile> = Vec::new();
    for t in hash_tiles(cp.size) {
        let TileKind::Hash(l) = t.kind else { continue };
        let b = gathered(&t)?;
        set.insert(
            l,
            t.index,
            decode_hash_tile(&t, &b).map_err(|e| e.to_string())?,
        );
    }
    set.verify(cp.size, &cp.root).map_err(|e| e.to_string())?;
    if let Some(p) = &previous {
        let old = merkle::root_at(&set, p.size).map_err(|e| e.to_string())?;
        if old != p.root {
            return Err(format!(
                "the source's tree is not consistent with the mirror's checkpoint of size {}",
                p.size
            ));
        }
    }
    for t in bundles(TileKind::Entries, cp.size) {
        let ev = Tile {
            kind: TileKind::Events,
            ..t
        };
        let on_disk = feed_dir.join(t.path()).exists() && feed_dir.join(ev.path()).exists();
        if on_disk {
            report.kept += 2;
            continue;
        }
        fetched_leaves.push(t);
    }
    for t in &fetched_leaves {
        let b = source(&t.path())?.ok_or_else(|| format!("the source has no {}", t.path()))?;
        let ids = decode_entry_bundle(t, &b).map_err(|e| e.to_string())?;
        let leaves = set
            .get(0, t.index)
            .ok_or_else(|| format!("no level-0 tile {}", t.index))?;
        check_entries(t, &ids, leaves).map_err(|e| e.to_string())?;
        let ev = Tile {
            kind: TileKind::Events,
            ..*t
        };
        let eb = source(&ev.path())?.ok_or_else(|| format!("the source has no {}", ev.path()))?;
        let events = decode_event_bundle(&ev, &eb).map_err(|e| e.to_string())?;
        check_events(&ev, &events, &ids).map_err(|e| e.to_string())?;
        writes.push((feed_dir.join(t.path()), b, t.is_full()));
        writes.push((feed_dir.join(ev.path()), eb, ev.is_full()));
    }
    // Everything checked: write, then drop stale partials, checkpoint last.
    for (p, b, full) in &writes {
        write_atomic(p, b)?;
        report.bytes += b.len() as u64;
        if *full {
            report.full_written += 1;
        } else {
            report.partial_written += 1;
        }
    }
    report.removed = remove_stale_partials(feed_dir, cp.size)?;
    write_atomic(&cp_path, &cp_bytes)?;
    report.bytes += cp_bytes.len() as u64;
    Ok(report)
}

/// Removes every partial file that is not of the tree at `size` (older
/// widths, and partials of tiles now full).
fn remove_stale_partials(feed_dir: &Path, size: u64) -> Result<u64, String> {
    let mut current: std::collections::BTreeSet<PathBuf> = hash_tiles(size)
        .into_iter()
        .chain(bundles(TileKind::Entries, size))
        .chain(bundles(TileKind::Events, size))
        .filter(|t| !t.is_full())
        .map(|t| feed_dir.join(t.path()))
        .collect();
    let mut removed = 0;
    let mut stack = vec![feed_dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            let in_partial = d.extension().is_some_and(|x| x == "p");
            if is_dir {
                stack.push(p);
            } else if in_partial && !current.remove(&p) {
                std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
