//! Checkpoints, witnessing and split views: the node half of the
//! transparency-log formats of `ledger_core::tlog`.
//!
//! - **Checkpoints.** A participant node signs, at most once per
//!   [`CHECKPOINT_INTERVAL`] and only when its feed grew, a c2sp.org
//!   checkpoint of its own feed (origin [`feed_origin`], size = durable tree
//!   size, root = the store's tree root) as a signed note with its
//!   authority's current key (key name = origin), and gossips it on the
//!   checkpoints topic.
//! - **Witnessing.** Every node (participant or observer) cosigns the
//!   checkpoints of the *other* feeds, and only after checking them against
//!   its own replica: it must hold the feed up to the checkpoint's size, its
//!   own tree root at that size must be the checkpoint's root, and the tree
//!   must be consistent with the last checkpoint it cosigned for that feed
//!   (`tlog::witness::add_checkpoint` with a consistency proof from the
//!   replica). The new witness state is written atomically and durably
//!   (`write_atomic`: temp file, fsync, rename, fsync of the directory)
//!   before the cosignature leaves the node. A checkpoint the replica cannot
//!   check yet is kept (the largest one per feed) and checked again as the
//!   feed grows. Cosignature key: the node's identity key; key name:
//!   [`witness_name`].
//! - **Merging.** Every node keeps, per feed, the latest checkpoint that
//!   matches its replica together with every cosignature line it has seen
//!   that verifies against a charter member's key (an authority's current
//!   key, as the replica knows its feed, or an observer's charter key).
//! - **Split views.** Two validly signed checkpoints of one feed that
//!   cannot both be honest (same size and different roots; or one whose
//!   root differs from the replica's tree at its size, given a signed
//!   checkpoint of the replica's tree at that size or larger, with the full
//!   consistency path from the replica) become a
//!   [`SplitViewProof`], stored durably and gossiped.
//! - **`add-checkpoint`** (c2sp.org/tlog-witness) for HTTP clients, on the
//!   same witness state.
//!
//! Layout under `DATA_DIR/checkpoints/`:
//!
//! ```text
//! latest/<CC>.<authority>.note     latest checkpoint of the feed with every known cosignature
//!                                  (written at most once per tick; lost lines come back by gossip)
//! witness/<CC>.<authority>.note    the checkpoint this node last cosigned for the feed (the
//!                                  tlog-witness state; written before any cosignature is published)
//! split-views/<sha256 hex>.bin     split-view proofs (canonical encoding)
//! ```
//!
//! Nothing here touches the event log. Everything is synchronous (call it
//! on a blocking thread); [`Actions`] say what to publish, and a failure of
//! the node itself (its replica, its files, its keys) is a
//! [`CheckpointsError`].
//!
//! The parts: `book` (gossip, the tick and the core every checkpoint goes
//! through), `witness` (cosigning, `add-checkpoint`), `notes` (reading
//! signed checkpoints and proofs), `split` (split-view proofs), `keys`
//! (names and keys), `store` (the files above).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ledger_core::store::Ledger;
use ledger_core::tlog::checkpoint::{witness_name, Checkpoint, WitnessId};
use ledger_core::tlog::cosignature::Cosignature;
use ledger_core::tlog::note::Note;
use ledger_core::tlog::witness::{SplitView, SplitViewProof, WitnessedCheckpoint};
use ledger_core::{AuthorId, Digest, ObserverId};

mod book;
mod error;
mod keys;
mod notes;
mod split;
mod store;
mod witness;

pub use error::CheckpointsError;

/// Shortest time between two checkpoints of this node's own feed.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);
/// The directory under the data directory.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// Largest signed checkpoint taken from gossip (the checkpoints topic's bound).
pub const MAX_GOSSIP_NOTE_BYTES: usize = crate::net::gossip::MAX_CHECKPOINT_NOTE_BYTES;
/// Most split-view proofs kept per feed (a misbehaving author cannot fill the disk).
pub const MAX_SPLIT_VIEWS_PER_AUTHOR: usize = 64;
/// Most checkpoints per feed kept while they contradict the replica and no
/// signed checkpoint of the replica's tree proves it yet.
const MAX_SUSPECTS_PER_AUTHOR: usize = 4;

/// Who this node is, as a witness (and, for an authority, as a log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Me {
    Authority(AuthorId),
    Observer(ObserverId),
}

/// A signed checkpoint: the parsed text and the note (the log's signature
/// and the cosignatures kept with it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub checkpoint: Checkpoint,
    pub note: Note,
}

impl Signed {
    fn size(&self) -> u64 {
        self.checkpoint.size
    }
    fn root(&self) -> Digest {
        self.checkpoint.root
    }
    fn from_witnessed(w: &WitnessedCheckpoint) -> Signed {
        Signed {
            checkpoint: w.checkpoint().clone(),
            note: w.note().clone(),
        }
    }
}

/// What to publish after a call.
#[derive(Default, Debug)]
pub struct Actions {
    /// Signed checkpoint notes for the checkpoints topic.
    pub checkpoints: Vec<String>,
    /// Encoded split-view proofs for the split-views topic.
    pub split_views: Vec<Vec<u8>>,
    /// The replica is behind a checkpoint: an anti-entropy round now helps.
    pub sync: bool,
}

/// The gossip verdict on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: forward it.
    Accept,
    /// Nothing new, or not checkable yet: drop without penalty.
    Ignore,
    /// Certainly invalid: drop and penalise the forwarder.
    Reject,
}

/// A stored split-view proof.
#[derive(Clone, Debug)]
pub struct StoredSplitView {
    pub author: AuthorId,
    pub proof: SplitViewProof,
    pub view: SplitView,
    /// SHA-256 of the canonical encoding (its file name).
    pub hash: Digest,
}

/// The answer to `POST /witness/add-checkpoint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessAnswer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

#[derive(Default)]
struct AuthorState {
    /// The latest checkpoint that matches the replica, with cosignatures.
    latest: Option<Signed>,
    /// `latest` changed since it was last written.
    dirty: bool,
    /// The largest checkpoint beyond the replica, waiting for the feed.
    pending: Option<Signed>,
    /// Checkpoints that contradict the replica, waiting for an anchor.
    suspects: Vec<Signed>,
    /// The checkpoint this node last cosigned (the tlog-witness state).
    witnessed: Option<WitnessedCheckpoint>,
}

#[derive(Default)]
struct State {
    authors: BTreeMap<AuthorId, AuthorState>,
    split_views: Vec<StoredSplitView>,
}

/// Checkpoints, witness state and split views of one node.
pub struct Checkpoints {
    dir: PathBuf,
    ledger: Arc<Ledger>,
    network_name: String,
    network_id: Digest,
    me: Me,
    my_witness_name: String,
    state: Mutex<State>,
    /// The last failed write of checkpoint or witness state (a full disk),
    /// until a write succeeds: the node reports itself degraded meanwhile.
    write_error: Mutex<Option<String>>,
}

/// The file name of a feed's files: `<CC>.<authority>.note`.
fn author_file(author: &AuthorId) -> String {
    format!("{}.{}.note", author.participant, author.authority)
}

/// Adds to `into` every signature of `from` it lacks; whether any was added.
fn merge_signatures(into: &mut Note, from: &Note) -> bool {
    let mut added = false;
    for s in from.signatures() {
        if !into.signatures().contains(s) && into.add_signature(s.clone()).is_ok() {
            added = true;
        }
    }
    added
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Checkpoints {
    /// Opens (creating) `DATA_DIR/checkpoints` and loads what it holds,
    /// checking every signature again with the keys the replica knows.
    pub fn open(
        data_dir: &Path,
        ledger: Arc<Ledger>,
        me: Me,
    ) -> Result<Checkpoints, CheckpointsError> {
        let charter = ledger.charter();
        let network_name = charter.network.clone();
        let network_id = ledger.network_id();
        let my_witness_name = match &me {
            Me::Authority(a) => witness_name(&network_name, &network_id, WitnessId::Authority(a)),
            Me::Observer(o) => witness_name(&network_name, &network_id, WitnessId::Observer(o)),
        }
        .map_err(CheckpointsError::Name)?;
        let dir = data_dir.join(CHECKPOINTS_DIR);
        store::create_dir_durable(&dir)?;
        for sub in ["latest", "witness", "split-views"] {
            store::create_dir_durable(&dir.join(sub))?;
        }
        let c = Checkpoints {
            dir,
            ledger,
            network_name,
            network_id,
            me,
            my_witness_name,
            state: Mutex::new(State::default()),
            write_error: Mutex::new(None),
        };
        c.load()?;
        Ok(c)
    }

    /// The latest checkpoint of `author`'s feed this node holds (it matches
    /// the replica), with every known cosignature.
    pub fn latest(&self, author: &AuthorId) -> Option<Signed> {
        lock(&self.state)
            .authors
            .get(author)
            .and_then(|a| a.latest.clone())
    }

    /// The latest checkpoint of every feed that has one, in author order.
    pub fn all_latest(&self) -> Vec<(AuthorId, Signed)> {
        lock(&self.state)
            .authors
            .iter()
            .filter_map(|(a, s)| s.latest.clone().map(|l| (a.clone(), l)))
            .collect()
    }

    /// The checkpoint this node last cosigned for `author`.
    pub fn witnessed(&self, author: &AuthorId) -> Option<WitnessedCheckpoint> {
        lock(&self.state)
            .authors
            .get(author)
            .and_then(|a| a.witnessed.clone())
    }

    /// Every split-view proof held, by hash.
    pub fn split_views(&self) -> Vec<StoredSplitView> {
        lock(&self.state).split_views.clone()
    }

    pub fn split_view_count(&self) -> usize {
        lock(&self.state).split_views.len()
    }
}

/// The witnesses (key names) and timestamps of the cosignature lines of a
/// note (lines that do not decode as cosignatures are skipped).
pub fn cosignatures(note: &Note, origin: &str) -> Vec<(String, u64)> {
    note.signatures()
        .iter()
        .filter(|s| s.name != origin)
        .filter_map(|s| {
            Cosignature::from_bytes(&s.signature)
                .ok()
                .map(|c| (s.name.clone(), c.timestamp))
        })
        .collect()
}

/// POSIX seconds now, by the node's clock ([`crate::service::now_ms`]: the
/// system clock, shifted by the test clock where one is set), so that
/// cosignature timestamps agree with the timestamps of the node's events.
pub fn now_secs() -> u64 {
    crate::service::now_ms() / 1000
}
