//! The sled index: key layout and the entries derived from log records.
//! Each feed's places and Merkle nodes are not in sled but in its feed
//! files (`feedfiles.rs`), written in the same apply.

use super::lookup::{Location, Tag};
use super::*;

// Index key prefixes (one sled tree, so every batch is atomic).
pub(super) const P_HEAD: u8 = b'H'; //  H author             -> FeedState (canonical)
pub(super) const P_FORK: u8 = b'F'; //  F author seq id id   -> offset(8) len(4)
pub(super) const P_HELD: u8 = b'P'; //  P author seq id      -> encoded event
pub(super) const P_GOV: u8 = b'G'; //   G id                 -> offset(8) len(4) of a governance event
pub(super) const META_APPLIED: &[u8] = b"M:applied";
pub(super) const META_NETWORK: &[u8] = b"M:network";
/// The index's key layout: an index of another layout is rebuilt from the
/// log on open. Layout 4 keeps the by-id and by-number lookups in the
/// lookup table (layout 3 had an `I` entry per event and a `C` entry per
/// number in sled); layout 3 put places and Merkle nodes in the feed files
/// (layout 2 had an `E` entry per event holding its nodes, layout 1 a `T`
/// entry per node).
pub(super) const META_LAYOUT: &[u8] = b"M:layout";
pub(super) const INDEX_LAYOUT: u8 = 4;

/// Adds an event's leaf to its feed's Merkle tree; returns the hashes of
/// the nodes above the leaf that it completes, lowest first: the node at
/// level `l` for each `l` in `1..=trailing_zeros(seq)`. They are stored in
/// the event's `E` entry; the leaf's own hash is recomputed from the id.
pub(super) fn tree_nodes(
    trees: &mut HashMap<AuthorId, Frontier>,
    author: &AuthorId,
    id: &EventId,
) -> Vec<Digest> {
    let t = trees.entry(author.clone()).or_default();
    match t.append(event_leaf_hash(id)) {
        Ok(nodes) => nodes
            .into_iter()
            .filter(|n| n.level > 0)
            .map(|n| n.hash)
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub(super) fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![prefix];
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

pub(super) fn loc(offset: u64, len: u32) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..8].copy_from_slice(&offset.to_be_bytes());
    v[8..].copy_from_slice(&len.to_be_bytes());
    v
}

pub(super) fn parse_loc(v: &[u8]) -> Result<(u64, u32), StoreError> {
    if v.len() < 12 {
        return Err(StoreError::Corrupt("index entry too short".into()));
    }
    let mut o = [0u8; 8];
    o.copy_from_slice(&v[..8]);
    let mut l = [0u8; 4];
    l.copy_from_slice(&v[8..12]);
    Ok((u64::from_be_bytes(o), u32::from_be_bytes(l)))
}

pub(super) fn fork_key(proof: &ForkProof) -> Vec<u8> {
    let (a, b) = proof.ids();
    key(
        P_FORK,
        &[
            &proof.author().key_bytes(),
            &proof.seq().to_be_bytes(),
            a.as_bytes(),
            b.as_bytes(),
        ],
    )
}

/// The index entries of an event: its place and the Merkle nodes it
/// completes (see [`tree_nodes`]) in its feed files, its id and number in
/// the lookup table, a governance event's location in sled.
pub(super) fn index_event(
    batch: &mut sled::Batch,
    files: &mut FileBatch,
    offset: u64,
    len: u32,
    id: &EventId,
    ev: &SignedEvent,
    nodes: &[Digest],
) {
    let place = Place {
        offset,
        len,
        id: *id,
    };
    files.event(&ev.author().key_bytes(), ev.content.seq, &place, nodes);
    event_lookups(files, id, ev, Location { offset, len });
    if ev.content.body.is_governance() {
        batch.insert(key(P_GOV, &[id.as_bytes()]), &loc(offset, len)[..]);
    }
}

/// An event's lookup slots: its id, and the certificate number it names.
fn event_lookups(files: &mut FileBatch, id: &EventId, ev: &SignedEvent, at: Location) {
    files.lookup(Tag::of_digest(id.as_bytes()), at);
    if let Some(n) = ev.content.body.certificate_number() {
        files.lookup(Tag::of_number(n), at);
    }
}

/// A fork proof's lookup slots: the certificate numbers its two sides
/// name, each once.
fn fork_lookups(files: &mut FileBatch, proof: &ForkProof, at: Location) {
    let mut named: Vec<&str> = [&proof.first, &proof.second]
        .into_iter()
        .filter_map(|side| side.content.body.certificate_number())
        .collect();
    named.dedup();
    for n in named {
        files.lookup(Tag::of_number(n), at);
    }
}

/// The lookup slots of one logged record (an event's id and number, the
/// numbers a fork proof names), for a table behind the index; whether the
/// record has any.
pub(super) fn lookup_slots(
    files: &mut FileBatch,
    offset: u64,
    kind: u8,
    payload: &[u8],
) -> Result<bool, String> {
    let at = Location {
        offset,
        len: payload.len() as u32 + 1,
    };
    match kind {
        KIND_EVENT => {
            let ev = SignedEvent::decode(payload)
                .map_err(|e| format!("event record does not decode: {e}"))?;
            event_lookups(files, &ev.id(), &ev, at);
            Ok(true)
        }
        KIND_FORK_PROOF => {
            let proof = ForkProof::decode(payload)
                .map_err(|e| format!("fork proof record does not decode: {e}"))?;
            fork_lookups(files, &proof, at);
            Ok(true)
        }
        _ => Ok(false),
    }
}

pub(super) fn index_fork(
    batch: &mut sled::Batch,
    files: &mut FileBatch,
    offset: u64,
    len: u32,
    proof: &ForkProof,
) {
    batch.insert(fork_key(proof), &loc(offset, len)[..]);
    fork_lookups(files, proof, Location { offset, len });
}

pub(super) fn author_from_key(k: &[u8]) -> Option<AuthorId> {
    let code = std::str::from_utf8(k.get(..2)?).ok()?;
    let n = *k.get(2)? as usize;
    let name = std::str::from_utf8(k.get(3..3 + n)?).ok()?;
    AuthorId::new(code, name).ok()
}

pub(super) fn read_applied(tree: &sled::Tree) -> Result<u64, StoreError> {
    Ok(match tree.get(META_APPLIED)? {
        Some(v) if v.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v);
            u64::from_be_bytes(b)
        }
        _ => 0,
    })
}

pub(super) fn open_sled(path: &Path, opts: &StoreOptions) -> Result<sled::Db, StoreError> {
    Ok(sled::Config::new()
        .path(path)
        .cache_capacity(opts.cache_bytes)
        .flush_every_ms(Some(1000))
        .open()?)
}
