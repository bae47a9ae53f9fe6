//! Why a call on the checkpoints failed. A checkpoint that is merely
//! invalid is not an error here: gossip gets a [`super::Verdict`] and an
//! `add-checkpoint` client its c2sp.org/tlog-witness answer. These are the
//! failures of this node itself (its replica, its files, its names and keys)
//! and of what it reads back from its own storage.

use std::path::PathBuf;

use ledger_core::error::StoreError;
use ledger_core::tlog::checkpoint::CheckpointError;
use ledger_core::tlog::note::NoteError;
use ledger_core::tlog::witness::{RequestError, SplitViewError};
use thiserror::Error;

use super::Verdict;

#[derive(Debug, Error)]
pub enum CheckpointsError {
    /// A file or directory under `checkpoints/` could not be read or made.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A write of checkpoint or witness state failed (a full disk): the
    /// node cosigns nothing until one succeeds.
    #[error("cannot write {what}: {source}")]
    Write {
        what: &'static str,
        #[source]
        source: StoreError,
    },
    /// The stored witness state does not verify: refusing to start is what
    /// keeps the node from cosigning a rolled-back feed.
    #[error("{}: the witness state does not verify ({source}); it is what keeps this node from cosigning a rolled-back feed, so it is not discarded silently: move it away only if you know why", path.display())]
    WitnessState {
        path: PathBuf,
        #[source]
        source: CheckpointError,
    },
    /// The replica could not answer (a feed's size, root, keys or a
    /// consistency proof).
    #[error(transparent)]
    Replica(#[from] StoreError),
    /// A feed origin or a witness key name cannot be made from the
    /// network's name and id.
    #[error("{0}")]
    Name(#[source] CheckpointError),
    /// This node's key cannot sign or cosign under its name.
    #[error("cannot sign as `{name}`: {source}")]
    Key {
        name: String,
        #[source]
        source: NoteError,
    },
    /// This node's own checkpoint cannot be made or signed.
    #[error("own checkpoint: {0}")]
    OwnCheckpoint(#[source] CheckpointError),
    /// A stored note does not parse.
    #[error("malformed note: {0}")]
    MalformedNote(#[source] NoteError),
    /// A stored note is not a checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(#[source] CheckpointError),
    /// A stored checkpoint of an origin other than its feed's.
    #[error("checkpoint of `{0}`, not of this feed")]
    UnknownOrigin(String),
    /// The log's signature is missing or does not verify, or a known
    /// witness's line does not.
    #[error("signatures do not verify ({0:?})")]
    BadSignature(Verdict),
    /// A split-view proof that does not verify with its feed's keys.
    #[error("{0}")]
    SplitView(#[source] SplitViewError),
    /// The consistency proof from the replica makes no `add-checkpoint`
    /// request (more proof lines than the request may carry).
    #[error("{0}")]
    WitnessRequest(#[source] RequestError),
}

/// The message, for callers that report errors as text.
impl From<CheckpointsError> for String {
    fn from(e: CheckpointsError) -> String {
        e.to_string()
    }
}
