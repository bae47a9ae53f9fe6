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
//! on a blocking thread); [`Actions`] say what to publish.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ledger_core::hash::sha256;
use ledger_core::store::{write_atomic, Ledger};
use ledger_core::tlog::checkpoint::CheckpointError;
use ledger_core::tlog::checkpoint::{
    feed_origin, parse_feed_origin, witness_name, Checkpoint, WitnessId,
};
use ledger_core::tlog::cosignature::{Cosignature, CosignatureVerifier, Cosigner};
use ledger_core::tlog::note::{Ed25519Signer, Ed25519Verifier, Note, NoteError, NoteVerifier};
use ledger_core::tlog::witness::{
    add_checkpoint, AddCheckpointOutcome, AddCheckpointRequest, SplitView, SplitViewError,
    SplitViewProof, TrustedLog, WitnessedCheckpoint,
};
use ledger_core::{AuthorId, AuthorityKey, Digest, ObserverId};
use tracing::{debug, info, warn};

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

fn io(path: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

/// Creates `dir` (and its parents) and makes its entry durable.
fn create_dir_durable(dir: &Path) -> Result<(), String> {
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
    pub fn open(data_dir: &Path, ledger: Arc<Ledger>, me: Me) -> Result<Checkpoints, String> {
        let charter = ledger.charter();
        let network_name = charter.network.clone();
        let network_id = ledger.network_id();
        let my_witness_name = match &me {
            Me::Authority(a) => witness_name(&network_name, &network_id, WitnessId::Authority(a)),
            Me::Observer(o) => witness_name(&network_name, &network_id, WitnessId::Observer(o)),
        }
        .map_err(|e| e.to_string())?;
        let dir = data_dir.join(CHECKPOINTS_DIR);
        create_dir_durable(&dir)?;
        for sub in ["latest", "witness", "split-views"] {
            create_dir_durable(&dir.join(sub))?;
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

    fn load(&self) -> Result<(), String> {
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
                let w = WitnessedCheckpoint::restore(&bytes, &log).map_err(|e| {
                    format!(
                        "{}: the witness state does not verify ({e}); it is what keeps this node from cosigning a rolled-back feed, so it is not discarded silently: move it away only if you know why",
                        p.display()
                    )
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

    // ------------------------------------------------------------ names and keys

    /// The origin of `author`'s feed in this network.
    pub fn origin(&self, author: &AuthorId) -> Result<String, String> {
        feed_origin(&self.network_name, &self.network_id, author).map_err(|e| e.to_string())
    }

    /// This node's cosignature key name.
    pub fn my_witness_name(&self) -> &str {
        &self.my_witness_name
    }

    /// Who this node is.
    pub fn me(&self) -> &Me {
        &self.me
    }

    /// The author of a feed origin of this network (`None` for any other
    /// origin).
    pub fn author_of(&self, origin: &str) -> Option<AuthorId> {
        let p = parse_feed_origin(origin)?;
        (p.network_name == self.network_name
            && p.is_of_network(&self.network_id)
            && self.ledger.author_entry(&p.author).is_some())
        .then_some(p.author)
    }

    fn is_me(&self, author: &AuthorId) -> bool {
        matches!(&self.me, Me::Authority(a) if a == author)
    }

    fn tree_size(&self, author: &AuthorId) -> Result<u64, String> {
        self.ledger.tree_size(author).map_err(|e| e.to_string())
    }

    fn tree_root(&self, author: &AuthorId, size: u64) -> Result<Digest, String> {
        self.ledger
            .tree_root(author, size)
            .map_err(|e| e.to_string())
    }

    /// The consistency path from `old` to `new` in the replica's tree, the
    /// hash of the old tree always first (`merkle::full_consistency_path`).
    fn full_path(&self, author: &AuthorId, old: u64, new: u64) -> Result<Vec<Digest>, String> {
        let mut p = self
            .ledger
            .consistency_proof(author, old, new)
            .map_err(|e| e.to_string())?;
        if old > 0 && old < new && old.is_power_of_two() {
            p.insert(0, self.tree_root(author, old)?);
        }
        Ok(p)
    }

    /// The note key of `author`'s feed in force after `size` events, as the
    /// replica knows it (its latest key when the replica holds fewer).
    fn log_verifier(
        &self,
        author: &AuthorId,
        size: u64,
    ) -> Result<Option<Ed25519Verifier>, String> {
        let Some(fs) = self.ledger.feed_state(author).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let key = fs.epoch_at(size.saturating_add(1)).key;
        Ok(Ed25519Verifier::new(&self.origin(author)?, &key).ok())
    }

    /// Every key `author`'s feed has had, as note keys of its origin.
    fn all_log_verifiers(&self, author: &AuthorId) -> Result<Vec<Ed25519Verifier>, String> {
        let origin = self.origin(author)?;
        let Some(fs) = self.ledger.feed_state(author).map_err(|e| e.to_string())? else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Ed25519Verifier> = Vec::new();
        for e in &fs.keys {
            if let Ok(v) = Ed25519Verifier::new(&origin, &e.key) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    /// The cosignature keys of every member: each authority's current key
    /// (as the replica knows its feed; charter authorities and those
    /// admitted by decisions) and each observer's key (charter observers and
    /// those admitted by decisions).
    fn witness_verifiers(&self) -> Result<Vec<(Option<AuthorId>, CosignatureVerifier)>, String> {
        let charter = self.ledger.charter();
        let mut out = Vec::new();
        for author in self.ledger.authors() {
            let name = witness_name(
                &self.network_name,
                &self.network_id,
                WitnessId::Authority(&author),
            )
            .map_err(|e| e.to_string())?;
            if let Some(fs) = self.ledger.feed_state(&author).map_err(|e| e.to_string())? {
                let key = fs.epoch_at(fs.head_seq.saturating_add(1)).key;
                if let Ok(v) = CosignatureVerifier::new(&name, &key) {
                    out.push((Some(author.clone()), v));
                }
            }
        }
        let timeline = self.ledger.timeline();
        let mut observers: std::collections::BTreeMap<_, _> = charter
            .observers
            .iter()
            .map(|o| (o.id.clone(), o.key))
            .collect();
        for (id, o) in &timeline.latest().observers {
            observers.entry(id.clone()).or_insert(o.key);
        }
        for (id, key) in &observers {
            let name = witness_name(
                &self.network_name,
                &self.network_id,
                WitnessId::Observer(id),
            )
            .map_err(|e| e.to_string())?;
            if let Ok(v) = CosignatureVerifier::new(&name, key) {
                out.push((None, v));
            }
        }
        Ok(out)
    }

    fn cosigner(&self, key: &AuthorityKey) -> Result<Cosigner, String> {
        Cosigner::from_authority_key(&self.my_witness_name, key).map_err(|e| e.to_string())
    }

    // ------------------------------------------------------------ reading notes

    /// Parses a signed checkpoint of `author`'s feed from storage: the log's
    /// signature must verify with a key of the feed's history; cosignatures
    /// are kept when they verify against a member's current key.
    fn open_note(&self, author: &AuthorId, bytes: &[u8]) -> Result<Signed, String> {
        let note = Note::parse(bytes).map_err(|e| e.to_string())?;
        let cp = Checkpoint::from_text(note.text()).map_err(|e| e.to_string())?;
        if self.author_of(&cp.origin).as_ref() != Some(author) {
            return Err(format!("checkpoint of `{}`", cp.origin));
        }
        let keys = self.all_log_verifiers(author)?;
        match self.keep_valid(author, cp, &note, &keys)? {
            Ok(s) => Ok(s),
            Err(v) => Err(format!("signatures do not verify ({v:?})")),
        }
    }

    /// The note reduced to the log's verified signatures and the
    /// cosignatures that verify against members' keys (the author's own
    /// dropped). `Err(verdict)` when the log's signature is missing or bad,
    /// or a known witness key's line does not verify.
    fn keep_valid(
        &self,
        author: &AuthorId,
        cp: Checkpoint,
        note: &Note,
        log_keys: &[Ed25519Verifier],
    ) -> Result<Result<Signed, Verdict>, String> {
        let refs: Vec<&dyn NoteVerifier> =
            log_keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        let verified = match note.verify(&refs) {
            Ok(v) => v,
            // A key this replica does not know yet (a rotation it has not
            // seen): not checkable now.
            Err(NoteError::NoKnownSignature) => return Ok(Err(Verdict::Ignore)),
            Err(_) => return Ok(Err(Verdict::Reject)),
        };
        let mut kept = Note::new(note.text()).map_err(|e| e.to_string())?;
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
    fn open_gossip(&self, bytes: &[u8]) -> Result<Result<(AuthorId, Signed), Verdict>, String> {
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
    fn check_split_view(
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

    // ------------------------------------------------------------ split views

    /// The split-view proof two signed checkpoints of `author` make, if
    /// they make one: equal sizes with different roots; or different sizes
    /// where the larger matches the replica and the replica's path shows the
    /// smaller is not its prefix.
    fn build_split(&self, author: &AuthorId, x: &Signed, y: &Signed) -> Option<SplitViewProof> {
        let keys = self.all_log_verifiers(author).ok()?;
        let refs: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        if x.size() == y.size() {
            if x.root() == y.root() {
                return None;
            }
            return SplitViewProof::new(&x.note, &y.note, Vec::new(), &refs).ok();
        }
        let (small, big) = if x.size() < y.size() { (x, y) } else { (y, x) };
        if small.size() == 0 || big.size() > self.tree_size(author).ok()? {
            return None;
        }
        if self.tree_root(author, big.size()).ok()? != big.root() {
            return None;
        }
        let path = self.full_path(author, small.size(), big.size()).ok()?;
        SplitViewProof::new(&small.note, &big.note, path, &refs).ok()
    }

    /// Stores a new split-view proof durably; whether it was new.
    fn found(
        &self,
        st: &mut State,
        author: &AuthorId,
        proof: SplitViewProof,
        out: &mut Actions,
    ) -> Result<bool, String> {
        let bytes = proof.encode();
        let hash = sha256(&[&bytes]);
        if st.split_views.iter().any(|s| s.hash == hash) {
            return Ok(false);
        }
        if st
            .split_views
            .iter()
            .filter(|s| &s.author == author)
            .count()
            >= MAX_SPLIT_VIEWS_PER_AUTHOR
        {
            return Ok(false);
        }
        let keys = self.all_log_verifiers(author)?;
        let refs: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        let view = proof.verify(&refs).map_err(|e| e.to_string())?;
        let p = self
            .dir
            .join("split-views")
            .join(format!("{}.bin", hash.to_hex()));
        self.noted(write_atomic(&p, &bytes), "a split-view proof")?;
        warn!(
            %author,
            first_size = view.first.size,
            second_size = view.second.size,
            "split view: the author signed two inconsistent checkpoints; proof stored"
        );
        if bytes.len() <= crate::net::gossip::MAX_SPLIT_VIEW_GOSSIP_BYTES {
            out.split_views.push(bytes);
        }
        st.split_views.push(StoredSplitView {
            author: author.clone(),
            proof,
            view,
            hash,
        });
        st.split_views.sort_by_key(|a| a.hash);
        Ok(true)
    }

    fn try_split(
        &self,
        st: &mut State,
        author: &AuthorId,
        x: &Signed,
        y: &Signed,
        out: &mut Actions,
    ) -> Result<bool, String> {
        match self.build_split(author, x, y) {
            Some(p) => self.found(st, author, p, out),
            None => Ok(false),
        }
    }

    // ------------------------------------------------------------ the core

    /// Takes in a verified checkpoint of `author` (log signature and
    /// cosignatures checked): split-view checks, storage, witnessing.
    /// Whether anything new was learnt.
    fn ingest(
        &self,
        st: &mut State,
        author: &AuthorId,
        c: Signed,
        key: Option<&AuthorityKey>,
        now: u64,
        out: &mut Actions,
    ) -> Result<bool, String> {
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
    fn ingest_good(
        &self,
        st: &mut State,
        author: &AuthorId,
        c: Signed,
        key: Option<&AuthorityKey>,
        now: u64,
        out: &mut Actions,
        mut changed: bool,
    ) -> Result<bool, String> {
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

    /// Cosigns `c` (which matches the replica) if it is newer than the last
    /// checkpoint cosigned for `author` and consistent with it.
    fn witness(
        &self,
        st: &mut State,
        author: &AuthorId,
        c: &Signed,
        key: Option<&AuthorityKey>,
        now: u64,
        out: &mut Actions,
    ) -> Result<bool, String> {
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
        let proof = self
            .ledger
            .consistency_proof(author, w_size, c.size())
            .map_err(|e| e.to_string())?;
        let request =
            AddCheckpointRequest::new(w_size, proof, c.note.clone()).map_err(|e| e.to_string())?;
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

    fn persist_witness(&self, author: &AuthorId, w: &WitnessedCheckpoint) -> Result<(), String> {
        let p = self.dir.join("witness").join(author_file(author));
        self.noted(write_atomic(&p, w.encode().as_bytes()), "witness state")
    }

    /// Remembers whether a state write failed, for [`Checkpoints::degraded`].
    fn noted(
        &self,
        r: Result<(), ledger_core::error::StoreError>,
        what: &str,
    ) -> Result<(), String> {
        let mut e = self.write_error.lock().unwrap_or_else(|p| p.into_inner());
        match r {
            Ok(()) => {
                *e = None;
                Ok(())
            }
            Err(err) => {
                let msg = format!("cannot write {what}: {err}");
                *e = Some(msg.clone());
                Err(msg)
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

    // ------------------------------------------------------------ entry points

    /// Handles a message of the checkpoints topic. `key` is this node's
    /// identity key (for cosigning), `now` POSIX seconds.
    pub fn on_gossip_checkpoint(
        &self,
        bytes: &[u8],
        key: Option<&AuthorityKey>,
        now: u64,
    ) -> Result<(Verdict, Actions), String> {
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
    pub fn on_gossip_split_view(&self, bytes: &[u8]) -> Result<Verdict, String> {
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
    pub fn tick(&self, key: Option<&AuthorityKey>, now: u64) -> Result<Actions, String> {
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
    ) -> Result<(), String> {
        let Some(fs) = self.ledger.feed_state(me).map_err(|e| e.to_string())? else {
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
        let cp = Checkpoint::new(&origin, size, root).map_err(|e| e.to_string())?;
        let signer = Ed25519Signer::from_authority_key(&origin, key).map_err(|e| e.to_string())?;
        let note = cp.sign(&signer).map_err(|e| e.to_string())?;
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

    /// Writes every latest checkpoint that changed.
    pub fn flush(&self) -> Result<(), String> {
        let mut st = lock(&self.state);
        self.flush_locked(&mut st)
    }

    fn flush_locked(&self, st: &mut State) -> Result<(), String> {
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
    ) -> Result<(WitnessAnswer, Actions), String> {
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
            return Ok((
                WitnessAnswer {
                    status: 409,
                    content_type: "text/plain; charset=utf-8",
                    body: "the checkpoint contradicts this witness's replica of the feed\n".into(),
                },
                out,
            ));
        }
        if let Err(e) = self.persist_witness(&author, &new_state) {
            return Ok((
                WitnessAnswer {
                    status: 500,
                    content_type: "text/plain; charset=utf-8",
                    body: format!("witness error: cannot persist the state: {e}\n"),
                },
                out,
            ));
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
                content_type: "text/plain; charset=utf-8",
                body,
            },
            out,
        ))
    }

    // ------------------------------------------------------------ queries

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

/// POSIX seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
