//! Reading signed checkpoints (from storage and from gossip) and split-view
//! proofs: what verifies is kept, with the cosignatures of members only.

use ledger_core::tlog::checkpoint::{Checkpoint, CheckpointError};
use ledger_core::tlog::note::{Ed25519Verifier, Note, NoteError, NoteVerifier};
use ledger_core::tlog::witness::{SplitView, SplitViewError, SplitViewProof};
use ledger_core::AuthorId;

use super::{Checkpoints, CheckpointsError, Signed, Verdict, MAX_GOSSIP_NOTE_BYTES};

impl Checkpoints {
    /// Parses a signed checkpoint of `author`'s feed from storage: the log's
    /// signature must verify with a key of the feed's history; cosignatures
    /// are kept when they verify against a member's current key.
    pub(super) fn open_note(
        &self,
        author: &AuthorId,
        bytes: &[u8],
    ) -> Result<Signed, CheckpointsError> {
        let note = Note::parse(bytes).map_err(CheckpointsError::MalformedNote)?;
        let cp =
            Checkpoint::from_text(note.text()).map_err(CheckpointsError::MalformedCheckpoint)?;
        if self.author_of(&cp.origin).as_ref() != Some(author) {
            return Err(CheckpointsError::UnknownOrigin(cp.origin));
        }
        let keys = self.all_log_verifiers(author)?;
        self.keep_valid(author, cp, &note, &keys)?
            .map_err(CheckpointsError::BadSignature)
    }

    /// The note reduced to the log's verified signatures and the
    /// cosignatures that verify against members' keys (the author's own
    /// dropped). `Err(verdict)` when the log's signature is missing or bad,
    /// or a known witness key's line does not verify.
    pub(super) fn keep_valid(
        &self,
        author: &AuthorId,
        cp: Checkpoint,
        note: &Note,
        log_keys: &[Ed25519Verifier],
    ) -> Result<Result<Signed, Verdict>, CheckpointsError> {
        let refs: Vec<&dyn NoteVerifier> =
            log_keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        let verified = match note.verify(&refs) {
            Ok(v) => v,
            // A key this replica does not know yet (a rotation it has not
            // seen): not checkable now.
            Err(NoteError::NoKnownSignature) => return Ok(Err(Verdict::Ignore)),
            Err(_) => return Ok(Err(Verdict::Reject)),
        };
        let mut kept = Note::new(note.text()).map_err(CheckpointsError::MalformedNote)?;
        for s in verified.verified {
            let _ = kept.add_signature(s);
        }
        let witnesses = self.witness_verifiers()?;
        for s in &verified.unknown {
            let Some((who, v)) = witnesses
                .iter()
                .find(|(_, v)| v.name() == s.name && v.key_id() == s.key_id)
            else {
                continue;
            };
            if v.verify_line(note.text(), s).is_err() {
                return Ok(Err(Verdict::Reject));
            }
            if who.as_ref() == Some(author) {
                continue;
            }
            if kept.add_signature(s.clone()).is_err() {
                break;
            }
        }
        Ok(Ok(Signed {
            checkpoint: cp,
            note: kept,
        }))
    }

    /// Opens a checkpoint from gossip: `(author, checkpoint)` or a verdict.
    pub(super) fn open_gossip(
        &self,
        bytes: &[u8],
    ) -> Result<Result<(AuthorId, Signed), Verdict>, CheckpointsError> {
        if bytes.len() > MAX_GOSSIP_NOTE_BYTES {
            return Ok(Err(Verdict::Reject));
        }
        let Ok(note) = Note::parse(bytes) else {
            return Ok(Err(Verdict::Reject));
        };
        let Ok(cp) = Checkpoint::from_text(note.text()) else {
            return Ok(Err(Verdict::Reject));
        };
        let Some(author) = self.author_of(&cp.origin) else {
            return Ok(Err(Verdict::Reject));
        };
        if cp.size == 0 {
            return Ok(Err(Verdict::Ignore));
        }
        let Some(key) = self.log_verifier(&author, cp.size)? else {
            return Ok(Err(Verdict::Ignore));
        };
        Ok(self
            .keep_valid(&author, cp, &note, &[key])?
            .map(|s| (author, s)))
    }

    /// Decodes and checks a split-view proof with the keys of its feed.
    /// `in_force`: each side must also be signed by the key in force after
    /// its size (for proofs from the network; a stored proof was checked so
    /// when it was stored).
    pub(super) fn check_split_view(
        &self,
        bytes: &[u8],
        in_force: bool,
    ) -> Result<(AuthorId, SplitViewProof, SplitView), SplitViewError> {
        let proof = SplitViewProof::decode(bytes)?;
        // The origin, to find the keys (the proof is checked after).
        let first = Note::parse(proof.first.as_bytes())
            .map_err(CheckpointError::from)
            .and_then(|n| Checkpoint::from_text(n.text()))
            .map_err(|source| SplitViewError::Checkpoint {
                side: "first",
                source,
            })?;
        let author = self
            .author_of(&first.origin)
            .ok_or(SplitViewError::Checkpoint {
                side: "first",
                source: CheckpointError::FeedOrigin(format!(
                    "`{}` is not a feed of this network",
                    first.origin
                )),
            })?;
        let keys = self.all_log_verifiers(&author).unwrap_or_default();
        let refs: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        let view = proof.verify(&refs)?;
        if in_force {
            for (side, text, size) in [
                ("first", &proof.first, view.first.size),
                ("second", &proof.second, view.second.size),
            ] {
                let key = self.log_verifier(&author, size).ok().flatten();
                let ok = key.is_some_and(|k| Checkpoint::open(text.as_bytes(), &[&k]).is_ok());
                if !ok {
                    return Err(SplitViewError::Checkpoint {
                        side,
                        source: CheckpointError::Note(NoteError::NoKnownSignature),
                    });
                }
            }
        }
        Ok((author, proof, view))
    }
}
