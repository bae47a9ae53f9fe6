//! Persistence under `DATA_DIR/checkpoints/`: loading what the directory
//! holds (every signature checked again), and the atomic, durable writes of
//! the latest checkpoints, the witness state and split-view proofs, with the
//! last failed write kept for [`Checkpoints::degraded`].

use std::fs::File;
use std::path::Path;

use ledger_core::error::StoreError;
use ledger_core::hash::sha256;
use ledger_core::store::write_atomic;
use ledger_core::tlog::witness::{TrustedLog, WitnessedCheckpoint};
use ledger_core::AuthorId;
use tracing::warn;

use super::{author_file, lock, Checkpoints, CheckpointsError, State, StoredSplitView};

fn io(path: &Path, source: std::io::Error) -> CheckpointsError {
    CheckpointsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` (and its parents) and makes its entry durable.
pub(super) fn create_dir_durable(dir: &Path) -> Result<(), CheckpointsError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    if let Some(parent) = dir.parent() {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(parent, e))?;
    }
    Ok(())
}

impl Checkpoints {
    pub(super) fn load(&self) -> Result<(), CheckpointsError> {
        let mut st = lock(&self.state);
        // Charter authors and authors admitted by decisions the store holds.
        let authors: Vec<AuthorId> = self.ledger.authors();
        for author in &authors {
            let origin = self.origin(author)?;
            let keys = self.all_log_verifiers(author)?;
            let p = self.dir.join("witness").join(author_file(author));
            if p.exists() {
                let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
                let log = TrustedLog { origin, keys };
                let w = WitnessedCheckpoint::restore(&bytes, &log).map_err(|source| {
                    CheckpointsError::WitnessState {
                        path: p.clone(),
                        source,
                    }
                })?;
                st.authors.entry(author.clone()).or_default().witnessed = Some(w);
            }
            let p = self.dir.join("latest").join(author_file(author));
            if p.exists() {
                let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
                match self.open_note(author, &bytes) {
                    Ok(s) => {
                        let replica = self.tree_size(author)?;
                        let a = st.authors.entry(author.clone()).or_default();
                        if s.size() > replica {
                            a.pending = Some(s);
                        } else if self.tree_root(author, s.size())? == s.root() {
                            a.latest = Some(s);
                        } else {
                            warn!(%author, "stored checkpoint contradicts the replica");
                            a.suspects.push(s);
                        }
                    }
                    Err(e) => warn!(file = %p.display(), error = %e, "stored checkpoint skipped"),
                }
            }
        }
        let sv_dir = self.dir.join("split-views");
        let entries = std::fs::read_dir(&sv_dir).map_err(|e| io(&sv_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(&sv_dir, e))?;
            let p = entry.path();
            if p.extension().and_then(|e| e.to_str()) != Some("bin") {
                continue;
            }
            let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
            match self.check_split_view(&bytes, false) {
                Ok((author, proof, view)) => st.split_views.push(StoredSplitView {
                    author,
                    proof,
                    view,
                    hash: sha256(&[&bytes]),
                }),
                Err(e) => warn!(file = %p.display(), error = %e, "stored split-view proof skipped"),
            }
        }
        st.split_views.sort_by_key(|a| a.hash);
        Ok(())
    }

    pub(super) fn persist_witness(
        &self,
        author: &AuthorId,
        w: &WitnessedCheckpoint,
    ) -> Result<(), CheckpointsError> {
        let p = self.dir.join("witness").join(author_file(author));
        self.noted(write_atomic(&p, w.encode().as_bytes()), "witness state")
    }

    /// Remembers whether a state write failed, for [`Checkpoints::degraded`].
    pub(super) fn noted(
        &self,
        r: Result<(), StoreError>,
        what: &'static str,
    ) -> Result<(), CheckpointsError> {
        let mut e = self.write_error.lock().unwrap_or_else(|p| p.into_inner());
        match r {
            Ok(()) => {
                *e = None;
                Ok(())
            }
            Err(source) => {
                let err = CheckpointsError::Write { what, source };
                *e = Some(err.to_string());
                Err(err)
            }
        }
    }

    /// Why checkpoint or witness state cannot be written right now (no
    /// cosignature leaves the node until its state is durable), if so.
    pub fn degraded(&self) -> Option<String> {
        self.write_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Writes every latest checkpoint that changed.
    pub fn flush(&self) -> Result<(), CheckpointsError> {
        let mut st = lock(&self.state);
        self.flush_locked(&mut st)
    }

    pub(super) fn flush_locked(&self, st: &mut State) -> Result<(), CheckpointsError> {
        for (author, a) in st.authors.iter_mut() {
            if !a.dirty {
                continue;
            }
            if let Some(l) = &a.latest {
                let p = self.dir.join("latest").join(author_file(author));
                self.noted(
                    write_atomic(&p, l.note.encode().as_bytes()),
                    "the latest checkpoints",
                )?;
            }
            a.dirty = false;
        }
        Ok(())
    }
}
