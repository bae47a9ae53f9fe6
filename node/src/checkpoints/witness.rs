//! Witnessing: cosigning the checkpoints of the other feeds once they are
//! checked against the replica, from gossip and for `POST
//! /witness/add-checkpoint` (c2sp.org/tlog-witness). The new witness state
//! is durable before any cosignature leaves the node.

use ledger_core::tlog::witness::{
    add_checkpoint, AddCheckpointOutcome, AddCheckpointRequest, TrustedLog,
};
use ledger_core::{AuthorId, AuthorityKey};
use tracing::{debug, info};

use super::{lock, Actions, Checkpoints, CheckpointsError, Signed, State, WitnessAnswer};

/// The content type of every plain-text witness answer.
const TEXT: &str = "text/plain; charset=utf-8";

/// Why this witness refuses a checkpoint that c2sp.org/tlog-witness alone
/// would have it cosign.
#[derive(Debug)]
enum Refusal {
    /// It contradicts this witness's replica of the feed: 409 Conflict,
    /// beyond the spec (it is a split view, or proven one later).
    ContradictsReplica,
    /// The new witness state could not be made durable: 500, and no
    /// cosignature is given.
    CannotPersist(CheckpointsError),
}

impl Refusal {
    fn answer(&self) -> WitnessAnswer {
        let (status, body) = match self {
            Refusal::ContradictsReplica => (
                409,
                "the checkpoint contradicts this witness's replica of the feed\n".to_owned(),
            ),
            Refusal::CannotPersist(e) => (
                500,
                format!("witness error: cannot persist the state: {e}\n"),
            ),
        };
        WitnessAnswer {
            status,
            content_type: TEXT,
            body,
        }
    }
}

impl Checkpoints {
    /// Cosigns `c` (which matches the replica) if it is newer than the last
    /// checkpoint cosigned for `author` and consistent with it.
    pub(super) fn witness(
        &self,
        st: &mut State,
        author: &AuthorId,
        c: &Signed,
        key: Option<&AuthorityKey>,
        now: u64,
        out: &mut Actions,
    ) -> Result<bool, CheckpointsError> {
        let w = st.authors.get(author).and_then(|a| a.witnessed.clone());
        if let Some(w) = &w {
            let ws = Signed::from_witnessed(w);
            let replica = self.tree_size(author)?;
            if ws.size() <= replica && self.tree_root(author, ws.size())? != ws.root() {
                // Cosigned earlier (through HTTP) and contradicted by the
                // replica now: evidence, and no more cosigning on top of it.
                return self.try_split(st, author, &ws, c, out);
            }
        }
        let w_size = w.as_ref().map_or(0, |w| w.checkpoint().size);
        if c.size() <= w_size {
            return Ok(false);
        }
        let Some(key) = key else {
            return Ok(false);
        };
        let origin = self.origin(author)?;
        let Some(log_key) = self.log_verifier(author, c.size())? else {
            return Ok(false);
        };
        let log = TrustedLog {
            origin,
            keys: vec![log_key],
        };
        let proof = self.ledger.consistency_proof(author, w_size, c.size())?;
        let request = AddCheckpointRequest::new(w_size, proof, c.note.clone())
            .map_err(CheckpointsError::WitnessRequest)?;
        let cosigner = self.cosigner(key)?;
        match add_checkpoint(&request, Some(&log), w.as_ref(), &cosigner, now) {
            AddCheckpointOutcome::Cosigned {
                cosignatures,
                new_state,
            } => {
                self.persist_witness(author, &new_state)?;
                let mut note = new_state.note().clone();
                let a = st.authors.entry(author.clone()).or_default();
                a.witnessed = Some(new_state);
                for line in cosignatures {
                    let _ = note.add_signature(line.clone());
                    if let Some(l) = a.latest.as_mut().filter(|l| l.note.text() == c.note.text()) {
                        if l.note.add_signature(line).is_ok() {
                            a.dirty = true;
                        }
                    }
                }
                debug!(%author, size = c.size(), "checkpoint cosigned");
                out.checkpoints.push(note.encode());
                Ok(true)
            }
            other => {
                if let Some(sv) = other.split_view() {
                    return self.found(st, author, sv.clone(), out);
                }
                debug!(%author, status = other.status(), answer = %other.body().trim_end(), "checkpoint not cosigned");
                Ok(false)
            }
        }
    }

    /// `POST <prefix>/add-checkpoint` (c2sp.org/tlog-witness): the trusted
    /// logs are the network's feeds but this node's own (origin → the key in
    /// force). Beyond the spec, a checkpoint that contradicts this witness's
    /// replica is refused with 409 (and proven a split view when it can
    /// be). The new state is written durably before the answer.
    pub fn add_checkpoint_http(
        &self,
        body: &[u8],
        key: &AuthorityKey,
        now: u64,
    ) -> Result<(WitnessAnswer, Actions), CheckpointsError> {
        let mut out = Actions::default();
        let answer = |o: &AddCheckpointOutcome| WitnessAnswer {
            status: o.status(),
            content_type: o.content_type(),
            body: o.body(),
        };
        let request = match AddCheckpointRequest::parse(body) {
            Ok(r) => r,
            Err(e) => return Ok((answer(&AddCheckpointOutcome::from(e)), out)),
        };
        let author = self.author_of(request.origin()).filter(|a| !self.is_me(a));
        let log = match &author {
            Some(a) => self
                .log_verifier(a, request.checkpoint.size)?
                .map(|k| TrustedLog {
                    origin: request.origin().to_owned(),
                    keys: vec![k],
                }),
            None => None,
        };
        let mut st = lock(&self.state);
        let latest = author
            .as_ref()
            .and_then(|a| st.authors.get(a))
            .and_then(|a| a.witnessed.clone());
        let cosigner = self.cosigner(key)?;
        let outcome = add_checkpoint(&request, log.as_ref(), latest.as_ref(), &cosigner, now);
        let Some(author) = author else {
            return Ok((answer(&outcome), out));
        };
        if let Some(sv) = outcome.split_view() {
            self.found(&mut st, &author, sv.clone(), &mut out)?;
        }
        let AddCheckpointOutcome::Cosigned {
            cosignatures,
            new_state,
        } = outcome
        else {
            return Ok((answer(&outcome), out));
        };
        let c = Signed::from_witnessed(&new_state);
        if c.size() <= self.tree_size(&author)? && self.tree_root(&author, c.size())? != c.root() {
            // Proven a split view now if a checkpoint of the replica's tree
            // anchors it, else kept until one does.
            self.ingest(&mut st, &author, c, Some(key), now, &mut out)?;
            return Ok((Refusal::ContradictsReplica.answer(), out));
        }
        if let Err(e) = self.persist_witness(&author, &new_state) {
            return Ok((Refusal::CannotPersist(e).answer(), out));
        }
        st.authors.entry(author.clone()).or_default().witnessed = Some(new_state);
        info!(%author, size = c.size(), "checkpoint cosigned for an add-checkpoint request");
        // What the gossip side learns from it.
        let mut note = c.note.clone();
        for line in &cosignatures {
            let _ = note.add_signature(line.clone());
        }
        out.checkpoints.push(note.encode());
        let signed = Signed {
            checkpoint: c.checkpoint,
            note,
        };
        self.ingest(&mut st, &author, signed, Some(key), now, &mut out)?;
        let body = cosignatures.iter().map(|l| l.to_line()).collect();
        Ok((
            WitnessAnswer {
                status: 200,
                content_type: TEXT,
                body,
            },
            out,
        ))
    }
}
