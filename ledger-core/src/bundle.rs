//! Offline proof bundles: everything needed to check one certificate's
//! events, and its lineage back to the mines, without any node and without
//! trusting whoever handed the bundle over.
//!
//! A bundle (JSON, format `kp-ledger-bundle/1`, see `docs/FORMAT.md` §14)
//! carries the charter, the encoded events, for each event an RFC 6962
//! inclusion proof into a checkpoint of its feed, those checkpoints as signed
//! notes with their witnesses' cosignatures, and the key rotations needed to
//! know each key in force. The verifier supplies its own trust root (the
//! network id or the charter it already trusts) and the number of distinct
//! witnesses it requires; the bundle's charter is used only if it hashes to
//! that trust root.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::analysis::trace::{OriginShares, TraceNode};
use crate::analysis::LedgerView;
use crate::bytes::Digest;
use crate::charter::Charter;
use crate::error::StoreError;
use crate::event::SignedEvent;
use crate::feed::FeedState;
use crate::governance::{GovernanceLog, Timeline};
use crate::lifecycle::{corrected, Corrected};
use crate::model::{AuthorId, EventBody};
use crate::store::{CertificateRecord, Ledger, StoredEvent};
use crate::tlog::checkpoint::{feed_origin, witness_name, Checkpoint, WitnessId};
use crate::tlog::cosignature::CosignatureVerifier;
use crate::tlog::merkle::{event_leaf_hash, verify_inclusion};
use crate::tlog::note::{Ed25519Verifier, Note, NoteVerifier};

pub const BUNDLE_FORMAT: &str = "kp-ledger-bundle/1";
/// Largest bundle file accepted, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;
/// Most events in a bundle.
pub const MAX_BUNDLE_EVENTS: usize = 100_000;
/// How deep lineage is followed when building.
const MAX_LINEAGE_DEPTH: usize = 64;
/// Most certificates gathered when building.
const MAX_LINEAGE_CERTIFICATES: usize = 10_000;

/// One event with its inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEvent {
    /// The canonical encoded event, hex.
    pub event: String,
    /// Size of the checkpoint of its feed that the proof leads to.
    pub checkpoint_size: u64,
    /// RFC 9162 inclusion proof of leaf `seq - 1` in that tree.
    pub proof: Vec<Digest>,
}

/// A checkpoint of one feed, as a signed note with cosignatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleCheckpoint {
    pub author: AuthorId,
    pub note: String,
}

/// The bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    /// The certificate the bundle is about.
    pub certificate: String,
    pub network_id: Digest,
    pub charter: Charter,
    pub events: Vec<BundleEvent>,
    pub checkpoints: Vec<BundleCheckpoint>,
    /// Canonical encoded key-rotation events (hex), every rotation of every
    /// feed whose keys the verifier needs.
    pub key_evidence: Vec<String>,
}

/// What the verifier already trusts.
pub enum TrustRoot {
    NetworkId(Digest),
    Charter(Box<Charter>),
}

/// Why a bundle does not verify. Each says exactly what failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BundleError {
    #[error("bundle is {size} bytes, more than the {max} accepted")]
    TooLarge { size: usize, max: usize },
    #[error("not a bundle: {0}")]
    Json(String),
    #[error("unsupported bundle format `{0}` (expected {BUNDLE_FORMAT})")]
    Format(String),
    #[error("the bundle's charter is invalid: {0}")]
    Charter(String),
    #[error("the bundle is for network {found}, which is not the trusted network {trusted}")]
    UntrustedNetwork { trusted: Digest, found: Digest },
    #[error("key evidence #{index}: {reason}")]
    KeyEvidence { index: usize, reason: String },
    #[error("event #{index}: {reason}")]
    Event { index: usize, reason: String },
    #[error("checkpoint of {author}: {reason}")]
    Checkpoint { author: String, reason: String },
    #[error("checkpoint of {author} has {have} valid cosignature(s) from distinct witnesses; {need} required")]
    TooFewWitnesses {
        author: String,
        have: usize,
        need: usize,
    },
    #[error("the bundle holds no issue event of certificate {0}")]
    NoIssue(String),
    #[error("cannot build a bundle: {0}")]
    Build(String),
    /// A record the bundle needs could not be read from the replica
    /// (damaged, or the index and the log disagree): no bundle is built
    /// from what remains.
    #[error("cannot build a bundle: the replica could not be read ({0}); check the store with `kpl verify --data-dir`")]
    Unreadable(String),
}

/// A verified event, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifiedEvent {
    pub author: String,
    pub seq: u64,
    pub id: Digest,
    pub kind: &'static str,
    pub certificate: Option<String>,
    pub checkpoint_size: u64,
}

/// A verified checkpoint, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifiedCheckpoint {
    pub author: String,
    pub size: u64,
    pub root: Digest,
    /// The key names of the distinct witnesses whose cosignature verified.
    pub witnesses: Vec<String>,
    /// The cosignature lines not counted, by witness and reason.
    pub refused: Vec<RefusedCosignature>,
}

/// Cosignature lines of one checkpoint not counted as a witness, grouped
/// by who they claim to be from and why they were refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedCosignature {
    /// The witness (`ZA/sadpmr`, `observer wdc`), or the line's key name
    /// when it is no witness of this network.
    pub witness: String,
    /// Why: [`REFUSED_BAD_SIGNATURE`], [`REFUSED_OTHER_KEY`],
    /// [`REFUSED_OWN_AUTHOR`] or [`REFUSED_UNKNOWN`].
    pub reason: &'static str,
    pub count: usize,
}

/// A witness's cosignature whose signature is not valid for the checkpoint.
pub const REFUSED_BAD_SIGNATURE: &str = "signature does not verify";
/// A line under a witness's name but with the key id of another key.
pub const REFUSED_OTHER_KEY: &str = "not signed with the witness's current key";
/// The feed's author cosigning its own checkpoint (it is no witness of it).
pub const REFUSED_OWN_AUTHOR: &str = "the feed's own author is not a witness of its checkpoint";
/// A key name that is no witness of the network.
pub const REFUSED_UNKNOWN: &str = "not a witness of this network";

/// What the bundle certifies, computed from its verified events alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Certified {
    /// The certificate as it stands: its primary issue with its issuer's
    /// corrections (those in the bundle) applied.
    pub certificate: Corrected,
    /// Its lineage back to the mines, as far as the bundle carries it: each
    /// certificate's corrected figures, origin, current confirmations and
    /// the earliest void; a source the bundle does not hold is
    /// `found: false`. Audit findings are left out (they need a whole
    /// replica, not a bundle).
    pub lineage: TraceNode,
    /// The certificate's carats by origin, through that lineage.
    pub by_origin: OriginShares,
}

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    pub certificate: String,
    pub network_id: Digest,
    pub network: String,
    pub min_witnesses: usize,
    pub events: Vec<VerifiedEvent>,
    pub checkpoints: Vec<VerifiedCheckpoint>,
    /// Cosignature lines refused over every checkpoint (each checkpoint's
    /// `refused` says whose and why).
    pub refused_cosignatures: usize,
    pub certified: Certified,
}

/// `node` and its descendants without audit findings.
fn without_findings(node: &mut TraceNode) {
    node.findings.clear();
    for c in &mut node.children {
        without_findings(c);
    }
}

/// Decodes lowercase hex (one spelling per byte string).
fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("hex digits must be lowercase".into());
    }
    hex::decode(s).map_err(|e| format!("not hex: {e}"))
}

/// Key history of every author, from the charter (and the decisions that
/// admitted authors later) and rotation evidence.
fn key_states(
    charter: &Charter,
    timeline: &Timeline,
    evidence: &[String],
) -> Result<HashMap<AuthorId, FeedState>, BundleError> {
    let mut feeds: HashMap<AuthorId, FeedState> = timeline
        .authors()
        .map(|(a, e)| (a.clone(), FeedState::genesis(a.clone(), e)))
        .collect();
    let network = charter.network_id();
    let mut last: HashMap<AuthorId, u64> = HashMap::new();
    for (index, hexed) in evidence.iter().enumerate() {
        let bad = |reason: String| BundleError::KeyEvidence { index, reason };
        let bytes = unhex(hexed).map_err(bad)?;
        let ev = SignedEvent::decode(&bytes).map_err(|e| bad(e.to_string()))?;
        if ev.content.network != network {
            return Err(bad("a rotation of another network".into()));
        }
        if !matches!(ev.content.body, EventBody::AuthorityKeyRotated { .. }) {
            return Err(bad("not a key rotation".into()));
        }
        let author = ev.author().clone();
        let prev = last.get(&author).copied().unwrap_or(0);
        if ev.seq() <= prev {
            return Err(bad(
                "rotations of one author must be in increasing order".into()
            ));
        }
        let st = feeds.get_mut(&author).ok_or_else(|| {
            bad(format!(
                "{author} is neither in the charter nor admitted by a decision in the bundle"
            ))
        })?;
        st.check_signature(&ev).map_err(|e| bad(e.to_string()))?;
        st.apply_rotation(&ev);
        last.insert(author, ev.seq());
    }
    Ok(feeds)
}

fn current_key(st: &FeedState) -> Option<crate::PublicKeyBytes> {
    st.keys.last().map(|e| e.key)
}

/// Verifies a bundle fully offline.
pub fn verify(
    bytes: &[u8],
    trust: &TrustRoot,
    min_witnesses: usize,
) -> Result<BundleReport, BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            size: bytes.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    let b: Bundle = serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
    if b.format != BUNDLE_FORMAT {
        return Err(BundleError::Format(b.format));
    }
    if b.events.len() > MAX_BUNDLE_EVENTS {
        return Err(BundleError::Json(format!(
            "more than {MAX_BUNDLE_EVENTS} events"
        )));
    }
    // 1. The charter, only if it is the one the verifier trusts.
    b.charter.validate().map_err(BundleError::Charter)?;
    let network = b.charter.network_id();
    let trusted = match trust {
        TrustRoot::NetworkId(id) => *id,
        TrustRoot::Charter(c) => c.network_id(),
    };
    if network != trusted || b.network_id != trusted {
        return Err(BundleError::UntrustedNetwork {
            trusted,
            found: if network != trusted {
                network
            } else {
                b.network_id
            },
        });
    }
    let charter = &b.charter;

    // 2. Authors admitted after genesis: the governance events the bundle
    //    carries give their genesis keys. Every one of those events is then
    //    verified like any other (signature, inclusion in a cosigned
    //    checkpoint) in step 4, so the keys rest on signed decisions alone.
    //    Every event is decoded (and its id computed) here, once.
    let mut gov = GovernanceLog::new();
    let mut decoded = Vec::with_capacity(b.events.len());
    for (index, be) in b.events.iter().enumerate() {
        let bad = |reason: String| BundleError::Event { index, reason };
        let bytes = unhex(&be.event).map_err(bad)?;
        let ev = SignedEvent::decode(&bytes).map_err(|e| bad(e.to_string()))?;
        if ev.content.network != network {
            return Err(bad("event of another network".into()));
        }
        let id = ev.id();
        gov.insert(id, &ev);
        decoded.push((id, ev));
    }
    let timeline = Timeline::build(charter, &gov);

    // 3. Every authority's keys, from the charter, decisions and signed
    //    rotations.
    let keys = key_states(charter, &timeline, &b.key_evidence)?;

    // 4. Checkpoints: the author's signature and enough distinct witnesses.
    let mut witness_verifiers: Vec<(String, CosignatureVerifier)> = Vec::new();
    for (a, st) in &keys {
        let Ok(name) = witness_name(&charter.network, &network, WitnessId::Authority(a)) else {
            continue;
        };
        if let Some(k) = current_key(st) {
            if let Ok(v) = CosignatureVerifier::new(&name, &k) {
                witness_verifiers.push((a.to_string(), v));
            }
        }
    }
    let mut observers: BTreeMap<&crate::model::ObserverId, &crate::PublicKeyBytes> =
        charter.observers.iter().map(|o| (&o.id, &o.key)).collect();
    for (_, m) in timeline.periods() {
        for o in m.observers.values() {
            observers.entry(&o.id).or_insert(&o.key);
        }
    }
    for (id, key) in observers {
        let Ok(name) = witness_name(&charter.network, &network, WitnessId::Observer(id)) else {
            continue;
        };
        if let Ok(v) = CosignatureVerifier::new(&name, key) {
            witness_verifiers.push((format!("observer {id}"), v));
        }
    }
    let mut roots: BTreeMap<(AuthorId, u64), Digest> = BTreeMap::new();
    let mut checkpoints = Vec::new();
    for cp in &b.checkpoints {
        let bad = |reason: String| BundleError::Checkpoint {
            author: cp.author.to_string(),
            reason,
        };
        let st = keys.get(&cp.author).ok_or_else(|| {
            bad(
                "the author is neither in the charter nor admitted by a decision in the bundle"
                    .into(),
            )
        })?;
        let note = Note::parse(cp.note.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let c = Checkpoint::from_text(note.text()).map_err(|e| bad(e.to_string()))?;
        let origin =
            feed_origin(&charter.network, &network, &cp.author).map_err(|e| bad(e.to_string()))?;
        if c.origin != origin {
            return Err(bad(format!(
                "origin `{}` is not this feed's origin `{origin}`",
                c.origin
            )));
        }
        // The key in force after the checkpoint's last event (at seq
        // `size`) signs it; `size` is untrusted and may be the largest u64.
        let after_last = c
            .size
            .checked_add(1)
            .ok_or_else(|| bad(format!("size {} is out of range", c.size)))?;
        let signer_key = st.epoch_at(after_last).key;
        let log_verifier =
            Ed25519Verifier::new(&origin, &signer_key).map_err(|e| bad(e.to_string()))?;
        // The author's signature must verify; every other line is a
        // witness's cosignature, counted only if it verifies, and otherwise
        // refused with its reason (never dropped without a word).
        note.verify(&[&log_verifier as &dyn NoteVerifier])
            .map_err(|e| bad(format!("signature check failed: {e}")))?;
        let author_name = cp.author.to_string();
        let mut witnesses: BTreeSet<String> = BTreeSet::new();
        let mut refused: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
        for sig in note.signatures() {
            if sig.name == origin {
                if sig.key_id != log_verifier.key_id() {
                    *refused
                        .entry((author_name.clone(), REFUSED_OTHER_KEY))
                        .or_insert(0) += 1;
                }
                continue;
            }
            let known = witness_verifiers.iter().find(|(_, v)| v.name() == sig.name);
            let (who, reason) = match known {
                None => (sig.name.clone(), Some(REFUSED_UNKNOWN)),
                Some((who, _)) if *who == author_name => (who.clone(), Some(REFUSED_OWN_AUTHOR)),
                Some((who, v)) if v.key_id() != sig.key_id => {
                    (who.clone(), Some(REFUSED_OTHER_KEY))
                }
                Some((who, v)) if !v.verify(note.text().as_bytes(), &sig.signature) => {
                    (who.clone(), Some(REFUSED_BAD_SIGNATURE))
                }
                Some(_) => (sig.name.clone(), None),
            };
            match reason {
                Some(r) => *refused.entry((who, r)).or_insert(0) += 1,
                None => {
                    witnesses.insert(who);
                }
            }
        }
        let refused: Vec<RefusedCosignature> = refused
            .into_iter()
            .map(|((witness, reason), count)| RefusedCosignature {
                witness,
                reason,
                count,
            })
            .collect();
        if witnesses.len() < min_witnesses {
            return Err(BundleError::TooFewWitnesses {
                author: cp.author.to_string(),
                have: witnesses.len(),
                need: min_witnesses,
            });
        }
        if let Some(prev) = roots.insert((cp.author.clone(), c.size), c.root) {
            if prev != c.root {
                return Err(bad(format!(
                    "two checkpoints of size {} with different roots: the author showed two views",
                    c.size
                )));
            }
        }
        checkpoints.push(VerifiedCheckpoint {
            author: cp.author.to_string(),
            size: c.size,
            root: c.root,
            witnesses: witnesses.into_iter().collect(),
            refused,
        });
    }

    // 5. Events: signature with the key in force, inclusion in a checkpoint.
    let mut events = Vec::new();
    let mut seen = BTreeSet::new();
    let mut record = CertificateRecord::default();
    for (index, (be, (id, ev))) in b.events.iter().zip(&decoded).enumerate() {
        let bad = |reason: String| BundleError::Event { index, reason };
        let id = *id;
        let c = &ev.content;
        let st = keys
            .get(&c.author)
            .ok_or_else(|| {
                bad(format!(
                    "{} is neither an authority in the charter nor admitted by a decision in the bundle",
                    c.author
                ))
            })?;
        st.check_role_and_body(ev)
            .map_err(|e| bad(format!("{} seq {}: {e}", c.author, c.seq)))?;
        st.check_signature(ev)
            .map_err(|e| bad(format!("{} seq {}: {e}", c.author, c.seq)))?;
        let root = roots
            .get(&(c.author.clone(), be.checkpoint_size))
            .ok_or_else(|| {
                bad(format!(
                    "no verified checkpoint of {} at size {} in the bundle",
                    c.author, be.checkpoint_size
                ))
            })?;
        if c.seq == 0 || c.seq > be.checkpoint_size {
            return Err(bad(format!(
                "seq {} is not in a tree of size {}",
                c.seq, be.checkpoint_size
            )));
        }
        verify_inclusion(
            &event_leaf_hash(&id),
            c.seq - 1,
            be.checkpoint_size,
            &be.proof,
            root,
        )
        .map_err(|e| bad(format!("{} seq {}: inclusion proof: {e}", c.author, c.seq)))?;
        if seen.insert(id) {
            if c.body.certificate_number() == Some(b.certificate.as_str()) {
                let stored = StoredEvent {
                    id,
                    event: ev.clone(),
                };
                match &c.body {
                    EventBody::CertificateIssued(_) => record.issued.push(stored),
                    EventBody::ImportConfirmed(_) => record.confirmations.push(stored),
                    EventBody::CertificateVoided { .. } => record.voids.push(stored),
                    EventBody::CertificateCorrected { .. } => record.corrections.push(stored),
                    _ => {}
                }
            }
            events.push(VerifiedEvent {
                author: c.author.to_string(),
                seq: c.seq,
                id,
                kind: c.body.kind(),
                certificate: c.body.certificate_number().map(str::to_owned),
                checkpoint_size: be.checkpoint_size,
            });
        }
    }
    let certificate =
        corrected(&record).ok_or_else(|| BundleError::NoIssue(b.certificate.clone()))?;

    // 6. What it certifies: the lineage from the verified events alone.
    let view = LedgerView::build(
        charter,
        decoded
            .iter()
            .filter(|(id, _)| seen.contains(id))
            .map(|(id, ev)| (*id, ev.clone())),
        Vec::new(),
    );
    let mut lineage = view
        .trace(&b.certificate)
        .ok_or_else(|| BundleError::NoIssue(b.certificate.clone()))?;
    without_findings(&mut lineage);
    let by_origin = lineage.carats_by_origin();
    let refused_cosignatures = checkpoints
        .iter()
        .flat_map(|c| &c.refused)
        .map(|r| r.count)
        .sum();
    Ok(BundleReport {
        certificate: b.certificate,
        network_id: network,
        network: charter.network.clone(),
        min_witnesses,
        events,
        checkpoints,
        refused_cosignatures,
        certified: Certified {
            certificate,
            lineage,
            by_origin,
        },
    })
}

/// Builds the bundle of `number` from a store. `checkpoint(author)` returns
/// the latest signed checkpoint note (with cosignatures) of a feed. Every
/// record the bundle needs must be read whole: a damaged or missing one
/// fails the build ([`BundleError::Unreadable`]), never leaves it out.
pub fn build(
    ledger: &Ledger,
    number: &str,
    checkpoint: &dyn Fn(&AuthorId) -> Option<String>,
) -> Result<Bundle, BundleError> {
    let store = |e: StoreError| BundleError::Unreadable(e.to_string());
    let charter = ledger.charter();
    let network = ledger.network_id();
    // The certificate and its lineage, breadth first.
    let mut todo = vec![(number.to_owned(), 0usize)];
    let mut done = BTreeSet::new();
    let mut events: Vec<(crate::event::EventId, SignedEvent)> = Vec::new();
    while let Some((n, depth)) = todo.pop() {
        if !done.insert(n.clone()) || done.len() > MAX_LINEAGE_CERTIFICATES {
            continue;
        }
        let rec = ledger.certificate(&n).map_err(store)?;
        if n == number && rec.issued.is_empty() {
            return Err(BundleError::NoIssue(n));
        }
        for s in rec
            .issued
            .iter()
            .chain(&rec.confirmations)
            .chain(&rec.voids)
            .chain(&rec.corrections)
        {
            events.push((s.id, s.event.clone()));
            if let EventBody::CertificateIssued(c) = &s.event.content.body {
                if depth < MAX_LINEAGE_DEPTH {
                    for src in &c.source_certificates {
                        todo.push((src.clone(), depth + 1));
                    }
                }
            }
        }
    }
    // An author admitted after genesis: the verifier needs the governance
    // events that admitted it, so the bundle carries every governance event
    // of the replica (they are few), each with its inclusion proof.
    if events
        .iter()
        .any(|(_, e)| charter.authority(e.author()).is_none())
    {
        let t = ledger.timeline();
        let mut ids: Vec<crate::event::EventId> = Vec::new();
        for d in t.decisions() {
            ids.push(d.proposal.id);
            ids.extend(d.approvals.iter().map(|a| a.event.id));
        }
        for id in ids {
            let s = ledger.event_by_id(&id).map_err(store)?.ok_or_else(|| {
                BundleError::Unreadable(format!(
                    "governance event {id} is in the timeline but not in the store"
                ))
            })?;
            events.push((s.id, s.event));
        }
    }
    // One checkpoint per feed involved.
    let mut cps: BTreeMap<AuthorId, (u64, String)> = BTreeMap::new();
    for (_, e) in &events {
        let a = e.author().clone();
        if cps.contains_key(&a) {
            continue;
        }
        let note = checkpoint(&a).ok_or_else(|| {
            BundleError::Build(format!(
                "no checkpoint of {a} yet; try again once its author has signed one"
            ))
        })?;
        let parsed = Note::parse(note.as_bytes())
            .map_err(|e| BundleError::Build(format!("checkpoint of {a}: {e}")))?;
        let c = Checkpoint::from_text(parsed.text())
            .map_err(|e| BundleError::Build(format!("checkpoint of {a}: {e}")))?;
        let ours = ledger.tree_root(&a, c.size).map_err(store)?;
        if ours != c.root {
            return Err(BundleError::Build(format!(
                "{a}'s checkpoint of size {} does not match this replica's tree (a split view?)",
                c.size
            )));
        }
        cps.insert(a, (c.size, note));
    }
    let mut out = Vec::new();
    for (_, e) in &events {
        let (size, _) = &cps[e.author()];
        if e.seq() > *size {
            return Err(BundleError::Build(format!(
                "{} seq {} is newer than {}'s latest checkpoint (size {size}); try again after the next checkpoint",
                e.author(),
                e.seq(),
                e.author()
            )));
        }
        let proof = ledger
            .inclusion_proof(e.author(), e.seq(), *size)
            .map_err(store)?;
        out.push(BundleEvent {
            event: hex::encode(e.encode()),
            checkpoint_size: *size,
            proof,
        });
    }
    // Every rotation of every feed (authors and witnesses alike).
    let mut key_evidence = Vec::new();
    for author in ledger.authors() {
        if let Some(st) = ledger.feed_state(&author).map_err(store)? {
            for epoch in st.keys.iter().skip(1) {
                let seq = epoch.from_seq.saturating_sub(1);
                let ev = ledger
                    .event_at(&author, seq)
                    .map_err(store)?
                    .ok_or_else(|| {
                        BundleError::Unreadable(format!(
                            "{author}'s key rotation at seq {seq} is not in the store"
                        ))
                    })?;
                key_evidence.push(hex::encode(ev.event.encode()));
            }
        }
    }
    Ok(Bundle {
        format: BUNDLE_FORMAT.into(),
        certificate: number.to_owned(),
        network_id: network,
        charter: charter.clone(),
        events: out,
        checkpoints: cps
            .into_iter()
            .map(|(author, (_, note))| BundleCheckpoint { author, note })
            .collect(),
        key_evidence,
    })
}
