//! The book's entry points for gossip and the periodic tick, and the core
//! every checkpoint goes through: split-view checks against what is known,
//! then storage as pending, suspect or latest, then witnessing.

use ledger_core::tlog::checkpoint::{Checkpoint, CheckpointError};
use ledger_core::tlog::note::{Ed25519Signer, NoteError};
use ledger_core::tlog::witness::SplitViewError;
use ledger_core::{AuthorId, AuthorityKey};
use tracing::{debug, warn};

use super::{
    lock, merge_signatures, Actions, Checkpoints, CheckpointsError, Me, Signed, State, Verdict,
    MAX_SUSPECTS_PER_AUTHOR,
};

impl Checkpoints {
    /// Handles a message of the checkpoints topic. `key` is this node's
    /// identity key (for cosigning), `now` POSIX seconds.
    pub fn on_gossip_checkpoint(
        &self,
        bytes: &[u8],
        key: Option<&AuthorityKey>,
        now: u64,
    ) -> Result<(Verdict, Actions), CheckpointsError> {
        let mut out = Actions::default();
        let (author, c) = match self.open_gossip(bytes)? {
            Ok(x) => x,
            Err(v) => return Ok((v, out)),
        };
        let mut st = lock(&self.state);
        let changed = self.ingest(&mut st, &author, c, key, now, &mut out)?;
        Ok((
            if changed {
                Verdict::Accept
            } else {
                Verdict::Ignore
            },
            out,
        ))
    }

    /// Handles a message of the split-views topic.
    pub fn on_gossip_split_view(&self, bytes: &[u8]) -> Result<Verdict, CheckpointsError> {
        if bytes.len() > crate::net::gossip::MAX_SPLIT_VIEW_GOSSIP_BYTES {
            return Ok(Verdict::Reject);
        }
        let (author, proof, _) = match self.check_split_view(bytes, true) {
            Ok(x) => x,
            Err(SplitViewError::Checkpoint {
                source: CheckpointError::Note(NoteError::NoKnownSignature),
                ..
            }) => return Ok(Verdict::Ignore),
            Err(e) => {
                debug!(error = %e, "split-view proof refused");
                return Ok(Verdict::Reject);
            }
        };
        let mut st = lock(&self.state);
        // Forwarded by gossip itself on Accept: nothing to republish.
        let mut out = Actions::default();
        Ok(if self.found(&mut st, &author, proof, &mut out)? {
            Verdict::Accept
        } else {
            Verdict::Ignore
        })
    }

    /// The periodic work: signs this node's own checkpoint when its feed
    /// grew (with `key`, which must be the key in force), checks the
    /// checkpoints the replica has caught up with, and writes the latest
    /// checkpoints that changed.
    pub fn tick(&self, key: Option<&AuthorityKey>, now: u64) -> Result<Actions, CheckpointsError> {
        let mut out = Actions::default();
        let mut st = lock(&self.state);
        if let (Me::Authority(me), Some(k)) = (&self.me, key) {
            self.sign_own(&mut st, me, k, &mut out)?;
        }
        let ready: Vec<AuthorId> = st
            .authors
            .iter()
            .filter(|(_, a)| a.pending.is_some())
            .map(|(a, _)| a.clone())
            .collect();
        for author in ready {
            let replica = self.tree_size(&author)?;
            let p = st.authors.get_mut(&author).and_then(|a| {
                if a.pending.as_ref().is_some_and(|p| p.size() <= replica) {
                    a.pending.take()
                } else {
                    None
                }
            });
            if let Some(p) = p {
                self.ingest(&mut st, &author, p, key, now, &mut out)?;
            }
        }
        self.flush_locked(&mut st)?;
        Ok(out)
    }

    fn sign_own(
        &self,
        st: &mut State,
        me: &AuthorId,
        key: &AuthorityKey,
        out: &mut Actions,
    ) -> Result<(), CheckpointsError> {
        let Some(fs) = self.ledger.feed_state(me)? else {
            return Ok(());
        };
        let size = fs.head_seq;
        if size == 0
            || st
                .authors
                .get(me)
                .and_then(|a| a.latest.as_ref())
                .is_some_and(|l| l.size() >= size)
        {
            return Ok(());
        }
        if fs.epoch_at(size + 1).key != key.public() {
            debug!(size, "the key in force is not the key at hand (a rotation under way): checkpoint at the next tick");
            return Ok(());
        }
        let origin = self.origin(me)?;
        let root = self.tree_root(me, size)?;
        let cp = Checkpoint::new(&origin, size, root).map_err(CheckpointsError::OwnCheckpoint)?;
        let signer = Ed25519Signer::from_authority_key(&origin, key).map_err(|source| {
            CheckpointsError::Key {
                name: origin.clone(),
                source,
            }
        })?;
        let note = cp.sign(&signer).map_err(CheckpointsError::OwnCheckpoint)?;
        debug!(size, "own checkpoint signed");
        out.checkpoints.push(note.encode());
        let a = st.authors.entry(me.clone()).or_default();
        a.latest = Some(Signed {
            checkpoint: cp,
            note,
        });
        a.dirty = true;
        Ok(())
    }

    /// Takes in a verified checkpoint of `author` (log signature and
    /// cosignatures checked): split-view checks, storage, witnessing.
    /// Whether anything new was learnt.
    pub(super) fn ingest(
        &self,
        st: &mut State,
        author: &AuthorId,
        c: Signed,
        key: Option<&AuthorityKey>,
        now: u64,
        out: &mut Actions,
    ) -> Result<bool, CheckpointsError> {
        let mut changed = false;
        let replica = self.tree_size(author)?;
        // Same size, another root: whatever the replica says.
        let known: Vec<Signed> = {
            let a = st.authors.entry(author.clone()).or_default();
            a.latest
                .iter()
                .chain(a.pending.iter())
                .chain(a.suspects.iter())
                .cloned()
                .chain(a.witnessed.as_ref().map(Signed::from_witnessed))
                .collect()
        };
        for k in &known {
            if k.size() == c.size() && k.root() != c.root() {
                changed |= self.try_split(st, author, k, &c, out)?;
            }
        }
        if c.size() > replica {
            let a = st.authors.entry(author.clone()).or_default();
            match &mut a.pending {
                Some(p) if p.note.text() == c.note.text() => {
                    changed |= merge_signatures(&mut p.note, &c.note);
                }
                Some(p) if p.size() >= c.size() => {}
                _ => {
                    debug!(%author, size = c.size(), replica, "checkpoint ahead of the replica: kept until the feed catches up");
                    a.pending = Some(c);
                    out.sync = true;
                    changed = true;
                }
            }
            return Ok(changed);
        }
        if self.tree_root(author, c.size())? != c.root() {
            let anchor = st
                .authors
                .get(author)
                .and_then(|a| a.latest.clone())
                .filter(|l| l.size() >= c.size());
            let proven = match anchor {
                Some(l) => self.try_split(st, author, &c, &l, out)?,
                None => false,
            };
            if !proven {
                let a = st.authors.entry(author.clone()).or_default();
                if !a.suspects.iter().any(|s| s.note.text() == c.note.text())
                    && a.suspects.len() < MAX_SUSPECTS_PER_AUTHOR
                {
                    warn!(%author, size = c.size(), "checkpoint contradicts the replica; kept until a checkpoint of the replica's tree proves it");
                    a.suspects.push(c);
                    changed = true;
                }
            }
            return Ok(changed || proven);
        }
        // The checkpoint is the replica's tree at its size.
        let (suspects, c) = {
            let a = st.authors.entry(author.clone()).or_default();
            let mut c = c;
            if a.pending
                .as_ref()
                .is_some_and(|p| p.note.text() == c.note.text())
            {
                if let Some(p) = a.pending.take() {
                    merge_signatures(&mut c.note, &p.note);
                }
            }
            (std::mem::take(&mut a.suspects), c)
        };
        let mut keep = Vec::new();
        for s in suspects {
            if s.size() <= c.size() && self.try_split(st, author, &s, &c, out)? {
                changed = true;
            } else {
                keep.push(s);
            }
        }
        st.authors.entry(author.clone()).or_default().suspects = keep;
        self.ingest_good(st, author, c, key, now, out, changed)
    }

    /// Stores (or merges) a checkpoint that matches the replica, then
    /// witnesses it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ingest_good(
        &self,
        st: &mut State,
        author: &AuthorId,
        c: Signed,
        key: Option<&AuthorityKey>,
        now: u64,
        out: &mut Actions,
        mut changed: bool,
    ) -> Result<bool, CheckpointsError> {
        {
            let a = st.authors.entry(author.clone()).or_default();
            match &mut a.latest {
                Some(l) if l.note.text() == c.note.text() => {
                    if merge_signatures(&mut l.note, &c.note) {
                        a.dirty = true;
                        changed = true;
                    }
                }
                Some(l) if l.size() >= c.size() => {}
                _ => {
                    a.latest = Some(c.clone());
                    a.dirty = true;
                    changed = true;
                }
            }
        }
        if !self.is_me(author) {
            changed |= self.witness(st, author, &c, key, now, out)?;
        }
        Ok(changed)
    }
}
