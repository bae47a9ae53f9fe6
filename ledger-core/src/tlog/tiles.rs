//! c2sp.org/tlog-tiles: a feed's tree and entries as static files.
//!
//! ```text
//! <prefix>/checkpoint                   the latest signed checkpoint (note)
//! <prefix>/tile/<L>/<N>[.p/<W>]         hash tile: tree level 8·L, nodes N·256 .. N·256+W−1
//! <prefix>/tile/entries/<N>[.p/<W>]     entry bundle: per leaf u16 BE length (= 32) || event id
//! <prefix>/events/<N>[.p/<W>]           KP Ledger extension: per leaf u32 BE length || encoded event
//! ```
//!
//! `<N>` is written in groups of three decimal digits, zero-padded, every
//! group but the last prefixed with `x` (`1234067` → `x001/x234/067`, `5` →
//! `005`); `.p/<W>` (W in 1..=255, decimal, no leading zero) marks a partial
//! tile of the W hashes (or entries) that exist at the tree size.
//!
//! A hash tile at level L holds the stored Merkle nodes `(8·L, N·256 + i)`
//! (level 0: leaf hashes), each 32 bytes, concatenated: only hashes of
//! complete subtrees, so a full tile (256 hashes) never changes. A partial
//! tile at level L of a tree of size s has width `(s >> 8L) mod 256`.
//!
//! The leaf data of a feed's tree is the 32-byte event id, so an entry
//! bundle is 256 (or W) times `00 20 || id`. The events themselves, which
//! a mirror also needs, are in the `events/` bundles beside the tiles (a KP
//! Ledger extension): each encoded event (`docs/FORMAT.md` §5, at most
//! 65 536 bytes, which does not fit the spec's u16) as a u32 BE length then
//! the bytes. A client checks an event by recomputing its id
//! (`SHA-256("kp-ledger:event\0" || the event without its last 64 bytes)`)
//! and finding it in the entry bundle.
//!
//! Everything here is pure: paths, encodings, and the check of a set of
//! tiles against a checkpoint's size and root ([`TileSet::verify`]).

use std::collections::BTreeMap;

use thiserror::Error;

use super::merkle::{self, event_leaf_hash, node_hash, NodeReader};
use crate::bytes::{Digest, FixedBytes};
use crate::codec::MAX_EVENT_BYTES;
use crate::event::{EventId, EVENT_CONTEXT};
use crate::hash::sha256;

/// Levels of the tree in one tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Bytes of one hash.
pub const HASH_SIZE: usize = 32;
/// The longest tile path accepted (a level, `x`-groups for a u64 index and
/// a width fit well below this).
pub const MAX_PATH_LEN: usize = 96;
/// Highest tile level: tree levels are below 64, so 8·L ≤ 63.
pub const MAX_LEVEL: u8 = 7;
/// Bytes of an Ed25519 signature at the end of an encoded event.
const SIGNATURE_LEN: usize = 64;

/// What a tile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TileKind {
    /// Merkle hashes of tree level `8 · level`.
    Hash(u8),
    /// The spec's entry bundle (event ids).
    Entries,
    /// The KP Ledger extension: the encoded events.
    Events,
}

/// One tile: what it holds, its index at its level, and its width
/// (1..=256; 256 is a full tile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tile {
    pub kind: TileKind,
    pub index: u64,
    pub width: u16,
}

/// A path under a feed's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    Checkpoint,
    Tile(Tile),
}

impl Tile {
    /// Whether the tile holds all 256 of its hashes (it never changes).
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The tree level of its hashes (entry and event bundles: 0).
    pub fn tree_level(&self) -> u8 {
        match self.kind {
            TileKind::Hash(l) => l * TILE_HEIGHT,
            _ => 0,
        }
    }

    /// Its path under the feed's prefix.
    pub fn path(&self) -> String {
        let dir = match self.kind {
            TileKind::Hash(l) => format!("tile/{l}/"),
            TileKind::Entries => "tile/entries/".to_owned(),
            TileKind::Events => "events/".to_owned(),
        };
        let mut p = dir + &encode_index(self.index);
        if !self.is_full() {
            p.push_str(&format!(".p/{}", self.width));
        }
        p
    }

    /// The first leaf (or stored node of its level) it holds.
    pub fn first(&self) -> u64 {
        self.index.saturating_mul(TILE_WIDTH)
    }
}

/// `<N>` of a tile path: groups of three digits, all but the last with `x`.
pub fn encode_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Parses a path under a feed's prefix (no leading `/`): `checkpoint`, or a
/// tile path in its one canonical form. `None` for anything else; never
/// panics, and looks at no more than [`MAX_PATH_LEN`] bytes.
pub fn parse_path(path: &str) -> Option<TilePath> {
    if path.len() > MAX_PATH_LEN || !path.is_ascii() {
        return None;
    }
    if path == "checkpoint" {
        return Some(TilePath::Checkpoint);
    }
    let mut parts = path.split('/');
    let (kind, rest): (TileKind, Vec<&str>) = match parts.next()? {
        "tile" => match parts.next()? {
            "entries" => (TileKind::Entries, parts.collect()),
            l => {
                if l.len() != 1 {
                    return None;
                }
                let level = l.as_bytes()[0].checked_sub(b'0')?;
                if level > MAX_LEVEL {
                    return None;
                }
                (TileKind::Hash(level), parts.collect())
            }
        },
        "events" => (TileKind::Events, parts.collect()),
        _ => return None,
    };
    let (index, width) = parse_index(&rest)?;
    let tile = Tile { kind, index, width };
    // Indexes beyond any u64 tree are refused: (index + 1) · 256^(L+1)
    // leaves must be countable.
    let span = u32::from(tile.tree_level()) + 8;
    if (span >= 64 && index > 0) || (span < 64 && index >= 1u64 << (64 - span)) {
        return None;
    }
    Some(TilePath::Tile(tile))
}

/// The `<N>[.p/<W>]` segments.
fn parse_index(segs: &[&str]) -> Option<(u64, u16)> {
    let (last, width) = match segs {
        [.., last, w] if last.ends_with(".p") => {
            let w = super::parse_decimal(w)?;
            if w == 0 || w >= TILE_WIDTH {
                return None;
            }
            (last.strip_suffix(".p")?, w as u16)
        }
        [.., last] => (*last, TILE_WIDTH as u16),
        [] => return None,
    };
    let groups = if u64::from(width) == TILE_WIDTH {
        segs
    } else {
        &segs[..segs.len() - 1]
    };
    // At most 7 groups: u64::MAX has 20 digits.
    if groups.is_empty() || groups.len() > 7 {
        return None;
    }
    let mut n: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let g = if i + 1 == groups.len() { last } else { g };
        let digits = if i + 1 < groups.len() {
            g.strip_prefix('x')?
        } else {
            g
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let d: u64 = digits.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(d)?;
    }
    // Canonical: no leading zero group.
    if encode_index(n).split('/').count() != groups.len() {
        return None;
    }
    Some((n, width))
}

/// The width of tile `index` of `kind` in a tree of `size` leaves: 0 when
/// it has no hash yet, else 1..=256.
pub fn width_at(kind: TileKind, index: u64, size: u64) -> u16 {
    let level = match kind {
        TileKind::Hash(l) if l > MAX_LEVEL => return 0,
        TileKind::Hash(l) => l * TILE_HEIGHT,
        _ => 0,
    };
    let count = size >> level;
    let first = index.saturating_mul(TILE_WIDTH);
    if index > u64::MAX / TILE_WIDTH || count <= first {
        return 0;
    }
    (count - first).min(TILE_WIDTH) as u16
}

/// The tile at `index` as it is at `size`, if it has anything.
pub fn tile_at(kind: TileKind, index: u64, size: u64) -> Option<Tile> {
    match width_at(kind, index, size) {
        0 => None,
        width => Some(Tile { kind, index, width }),
    }
}

/// Every hash tile of a tree of `size` leaves, level by level, left to
/// right (the last of each level may be partial).
pub fn hash_tiles(size: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    for l in 0..=MAX_LEVEL {
        let count = size >> (l * TILE_HEIGHT);
        if count == 0 {
            break;
        }
        for n in 0..count.div_ceil(TILE_WIDTH) {
            out.extend(tile_at(TileKind::Hash(l), n, size));
        }
    }
    out
}

/// Every entry bundle (or, with `TileKind::Events`, event bundle) of a
/// tree of `size` leaves.
pub fn bundles(kind: TileKind, size: u64) -> Vec<Tile> {
    (0..size.div_ceil(TILE_WIDTH))
        .filter_map(|n| tile_at(kind, n, size))
        .collect()
}

// ---------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------

/// Why tile bytes were refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TileError {
    #[error("{path}: {why}")]
    Malformed { path: String, why: String },
    #[error("{path} is missing")]
    Missing { path: String },
    #[error("{path}: hash {at} does not match the tiles below it")]
    Inconsistent { path: String, at: u64 },
    #[error("the tiles give the root {got}, the checkpoint says {want}")]
    RootMismatch { got: Digest, want: Digest },
    #[error("{path}: entry {at} does not match the level-0 tile")]
    EntryMismatch { path: String, at: u64 },
    #[error("{path}: event {at} does not hash to its entry's id")]
    EventMismatch { path: String, at: u64 },
}

fn malformed(tile: &Tile, why: impl Into<String>) -> TileError {
    TileError::Malformed {
        path: tile.path(),
        why: why.into(),
    }
}

/// A hash tile's bytes: its hashes concatenated.
pub fn encode_hash_tile(hashes: &[Digest]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * HASH_SIZE);
    for h in hashes {
        out.extend_from_slice(h.as_bytes());
    }
    out
}

/// The hashes of a hash tile: exactly `width` × 32 bytes.
pub fn decode_hash_tile(tile: &Tile, bytes: &[u8]) -> Result<Vec<Digest>, TileError> {
    if bytes.len() != usize::from(tile.width) * HASH_SIZE {
        return Err(malformed(
            tile,
            format!("{} bytes, not {} hashes", bytes.len(), tile.width),
        ));
    }
    Ok(bytes
        .chunks_exact(HASH_SIZE)
        .map(|c| FixedBytes(c.try_into().unwrap_or([0; 32])))
        .collect())
}

/// An entry bundle: each id as `u16 BE 32 || id`.
pub fn encode_entry_bundle(ids: &[EventId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * (2 + HASH_SIZE));
    for id in ids {
        out.extend_from_slice(&(HASH_SIZE as u16).to_be_bytes());
        out.extend_from_slice(id.as_bytes());
    }
    out
}

/// The ids of an entry bundle of `tile.width` entries, each of length 32.
pub fn decode_entry_bundle(tile: &Tile, bytes: &[u8]) -> Result<Vec<EventId>, TileError> {
    let each = 2 + HASH_SIZE;
    if bytes.len() != usize::from(tile.width) * each {
        return Err(malformed(
            tile,
            format!(
                "{} bytes, not {} entries of 32 bytes",
                bytes.len(),
                tile.width
            ),
        ));
    }
    bytes
        .chunks_exact(each)
        .map(|c| {
            if c[..2] != (HASH_SIZE as u16).to_be_bytes() {
                return Err(malformed(tile, "an entry is not 32 bytes long"));
            }
            Ok(FixedBytes(c[2..].try_into().unwrap_or([0; 32])))
        })
        .collect()
}

/// An event bundle: each encoded event as `u32 BE length || bytes`.
pub fn encode_event_bundle<T: AsRef<[u8]>>(events: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        let e = e.as_ref();
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// The encoded events of an event bundle of `tile.width` events, each 65
/// to 65 536 bytes, nothing after the last.
pub fn decode_event_bundle<'a>(tile: &Tile, bytes: &'a [u8]) -> Result<Vec<&'a [u8]>, TileError> {
    let mut out = Vec::with_capacity(usize::from(tile.width));
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() >= usize::from(tile.width) {
            return Err(malformed(tile, "more events than its width"));
        }
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(malformed(tile, "a length is cut short"));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if !(SIGNATURE_LEN < len && len <= MAX_EVENT_BYTES) || len > tail.len() {
            return Err(malformed(tile, format!("an event of {len} bytes")));
        }
        let (e, tail) = tail.split_at(len);
        out.push(e);
        rest = tail;
    }
    if out.len() != usize::from(tile.width) {
        return Err(malformed(
            tile,
            format!("{} events, not {}", out.len(), tile.width),
        ));
    }
    Ok(out)
}

/// The id of an encoded event: `SHA-256(EVENT_CONTEXT || event[..len − 64])`
/// (`docs/FORMAT.md` §5), without decoding it.
pub fn encoded_event_id(event: &[u8]) -> Option<EventId> {
    let content = event.get(..event.len().checked_sub(SIGNATURE_LEN)?)?;
    Some(sha256(&[EVENT_CONTEXT, content]))
}

// ---------------------------------------------------------------------------
// Checking tiles
// ---------------------------------------------------------------------------

/// The hash tiles of one tree size, by (level, index), as a [`NodeReader`]
/// (a node of a level between two tile levels is folded from the tile
/// below it).
#[derive(Clone, Debug, Default)]
pub struct TileSet {
    tiles: BTreeMap<(u8, u64), Vec<Digest>>,
}

impl TileSet {
    pub fn new() -> TileSet {
        TileSet::default()
    }

    /// Adds the hashes of a hash tile (decoded, so of its width).
    pub fn insert(&mut self, level: u8, index: u64, hashes: Vec<Digest>) {
        self.tiles.insert((level, index), hashes);
    }

    /// The hashes held of tile (level, index).
    pub fn get(&self, level: u8, index: u64) -> Option<&[Digest]> {
        self.tiles.get(&(level, index)).map(Vec::as_slice)
    }

    /// Checks that these tiles are exactly those of a tree of `size`
    /// leaves with root `root`: every tile present with its width at
    /// `size`, every hash of a level ≥ 1 the root of the 256 hashes of the
    /// full tile below it, and the root recomputed from them `root`. Then
    /// every hash served is bound to the root.
    pub fn verify(&self, size: u64, root: &Digest) -> Result<(), TileError> {
        for t in hash_tiles(size) {
            let TileKind::Hash(level) = t.kind else {
                continue;
            };
            let Some(h) = self.get(level, t.index) else {
                return Err(TileError::Missing { path: t.path() });
            };
            if h.len() != usize::from(t.width) {
                return Err(malformed(
                    &t,
                    format!("{} hashes, not {}", h.len(), t.width),
                ));
            }
            if level == 0 {
                continue;
            }
            for (i, hash) in h.iter().enumerate() {
                let child = t.first() + i as u64;
                let below = self
                    .get(level - 1, child)
                    .filter(|b| b.len() as u64 == TILE_WIDTH)
                    .ok_or_else(|| TileError::Missing {
                        path: Tile {
                            kind: TileKind::Hash(level - 1),
                            index: child,
                            width: TILE_WIDTH as u16,
                        }
                        .path(),
                    })?;
                if fold(below) != *hash {
                    return Err(TileError::Inconsistent {
                        path: t.path(),
                        at: i as u64,
                    });
                }
            }
        }
        let got = merkle::root_at(self, size)?;
        if got != *root {
            return Err(TileError::RootMismatch { got, want: *root });
        }
        Ok(())
    }
}

/// The root of a power-of-two run of hashes of one level.
fn fold(hashes: &[Digest]) -> Digest {
    let mut level: Vec<Digest> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => node_hash(l, r),
                [one] => *one,
                _ => merkle::empty_root(),
            })
            .collect();
    }
    level.first().copied().unwrap_or_else(merkle::empty_root)
}

impl NodeReader for TileSet {
    type Error = TileError;
    fn node(&self, level: u8, index: u64) -> Result<Digest, TileError> {
        let tl = level / TILE_HEIGHT;
        let sub = u32::from(level % TILE_HEIGHT);
        let first = index
            .checked_shl(sub)
            .filter(|v| v >> sub == index)
            .unwrap_or(u64::MAX);
        let tile = first / TILE_WIDTH;
        let at = (first % TILE_WIDTH) as usize;
        let missing = || TileError::Missing {
            path: Tile {
                kind: TileKind::Hash(tl),
                index: tile,
                width: TILE_WIDTH as u16,
            }
            .path(),
        };
        let h = self.get(tl, tile).ok_or_else(missing)?;
        let run = h.get(at..at + (1usize << sub)).ok_or_else(missing)?;
        Ok(fold(run))
    }
}

/// Checks an entry bundle against the level-0 tile of the same index: each
/// id's leaf hash is the tile's hash at its place.
pub fn check_entries(tile: &Tile, ids: &[EventId], leaves: &[Digest]) -> Result<(), TileError> {
    if ids.len() != leaves.len() {
        return Err(malformed(tile, "not as many entries as leaf hashes"));
    }
    for (i, (id, leaf)) in ids.iter().zip(leaves).enumerate() {
        if event_leaf_hash(id) != *leaf {
            return Err(TileError::EntryMismatch {
                path: tile.path(),
                at: i as u64,
            });
        }
    }
    Ok(())
}

/// Checks an event bundle against the ids of its entry bundle.
pub fn check_events(tile: &Tile, events: &[&[u8]], ids: &[EventId]) -> Result<(), TileError> {
    if events.len() != ids.len() {
        return Err(malformed(tile, "not as many events as entries"));
    }
    for (i, (e, id)) in events.iter().zip(ids).enumerate() {
        if encoded_event_id(e).as_ref() != Some(id) {
            return Err(TileError::EventMismatch {
                path: tile.path(),
                at: i as u64,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::{root_from_leaf_hashes, MemoryTree};

    fn h(i: u64) -> Digest {
        event_leaf_hash(&sha256(&[&i.to_be_bytes()]))
    }

    #[test]
    fn index_paths_are_the_specs() {
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(5), "005");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        let t = Tile {
            kind: TileKind::Hash(1),
            index: 1234067,
            width: 7,
        };
        assert_eq!(t.path(), "tile/1/x001/x234/067.p/7");
        let e = Tile {
            kind: TileKind::Entries,
            index: 5,
            width: 256,
        };
        assert_eq!(e.path(), "tile/entries/005");
        let v = Tile {
            kind: TileKind::Events,
            ..e
        };
        assert_eq!(v.path(), "events/005");
        for t in [t, e, v] {
            assert_eq!(parse_path(&t.path()), Some(TilePath::Tile(t)));
        }
        assert_eq!(parse_path("checkpoint"), Some(TilePath::Checkpoint));
    }

    #[test]
    fn only_canonical_paths_parse() {
        for bad in [
            "",
            "tile",
            "tile/0",
            "tile/0/",
            "tile/0/5",
            "tile/0/05",
            "tile/0/0005",
            "tile/0/x000/005",
            "tile/0/001/005",
            "tile/0/x001/x005",
            "tile/0/005.p/0",
            "tile/0/005.p/256",
            "tile/0/005.p/07",
            "tile/0/005.p/",
            "tile/0/005.p",
            "tile/8/000",
            "tile/10/000",
            "tile/a/000",
            "tile/entries/005/",
            "tile/entries",
            "events/x1/000",
            "/tile/0/000",
            "checkpoint/",
            "tile/0/x019/x446/x744/x073/x709/x551/615",
            "tile/0/x001/x002/x003/x004/x005/x006/x007/008",
            "tile/7/001",
        ] {
            assert_eq!(parse_path(bad), None, "{bad:?}");
        }
        assert_eq!(parse_path("tile/0/x018/x446/x744/x073/x709/x551/615"), None);
        assert!(parse_path("tile/0/x072/x057/x594/x037/x927/935").is_some());
        assert!(parse_path("tile/7/000").is_some());
    }

    proptest::proptest! {
        #[test]
        fn any_path_parses_without_panic_and_accepted_ones_reencode(
            s in "(tile|events|checkpoint|x|[0-9]|/|\\.p|entries|[a-z]){0,24}"
        ) {
            if let Some(TilePath::Tile(t)) = parse_path(&s) {
                proptest::prop_assert_eq!(t.path(), s);
            }
        }

        #[test]
        fn every_tile_path_round_trips(level in 0u8..=7, raw: u64, width in 1u16..=256) {
            let span = u32::from(level) * 8 + 8;
            let hash_index = if span >= 64 { 0 } else { raw >> span };
            for (kind, index) in [
                (TileKind::Hash(level), hash_index),
                (TileKind::Entries, raw >> 8),
                (TileKind::Events, raw >> 8),
            ] {
                let t = Tile { kind, index, width };
                proptest::prop_assert_eq!(parse_path(&t.path()), Some(TilePath::Tile(t)));
            }
        }
    }

    #[test]
    fn widths_follow_the_tree_size() {
        assert_eq!(width_at(TileKind::Hash(0), 0, 0), 0);
        assert_eq!(width_at(TileKind::Hash(0), 0, 300), 256);
        assert_eq!(width_at(TileKind::Hash(0), 1, 300), 44);
        assert_eq!(width_at(TileKind::Hash(1), 0, 300), 1);
        assert_eq!(width_at(TileKind::Hash(1), 0, 255), 0);
        assert_eq!(width_at(TileKind::Hash(2), 0, 300), 0);
        assert_eq!(width_at(TileKind::Hash(1), 0, 65536), 256);
        assert_eq!(width_at(TileKind::Hash(2), 0, 65536), 1);
        let paths: Vec<String> = hash_tiles(513).iter().map(Tile::path).collect();
        assert_eq!(
            paths,
            [
                "tile/0/000",
                "tile/0/001",
                "tile/0/002.p/1",
                "tile/1/000.p/2"
            ]
        );
        assert!(hash_tiles(0).is_empty());
    }

    fn tiles_of(tree: &MemoryTree, size: u64) -> TileSet {
        let mut set = TileSet::new();
        for t in hash_tiles(size) {
            let TileKind::Hash(l) = t.kind else { continue };
            let hashes = (0..u64::from(t.width))
                .map(|i| tree.node(l * 8, t.first() + i).unwrap())
                .collect();
            set.insert(l, t.index, hashes);
        }
        set
    }

    #[test]
    fn tiles_verify_against_the_root_and_tampering_fails() {
        let leaves: Vec<Digest> = (0..700).map(h).collect();
        let tree = MemoryTree::from_leaf_hashes(&leaves).unwrap();
        for size in [1u64, 2, 255, 256, 257, 511, 512, 513, 700] {
            let root = root_from_leaf_hashes(&leaves[..size as usize]);
            let set = tiles_of(&tree, size);
            set.verify(size, &root).unwrap();
            assert_eq!(merkle::root_at(&set, size).unwrap(), root);
            // Inclusion proofs from the tiles alone.
            for m in [0, size / 2, size - 1] {
                let p = merkle::inclusion_proof(&set, m, size).unwrap();
                merkle::verify_inclusion(&leaves[m as usize], m, size, &p, &root).unwrap();
            }
            // One flipped hash in any tile is caught.
            for t in hash_tiles(size) {
                let TileKind::Hash(l) = t.kind else { continue };
                let mut bad = set.clone();
                let mut hs = bad.get(l, t.index).unwrap().to_vec();
                hs[0] = h(9999);
                bad.insert(l, t.index, hs);
                assert!(bad.verify(size, &root).is_err(), "{size} {}", t.path());
            }
        }
    }

    #[test]
    fn bundles_round_trip_and_are_checked() {
        let ids: Vec<EventId> = (0..3).map(|i| sha256(&[&[i]])).collect();
        let t = Tile {
            kind: TileKind::Entries,
            index: 0,
            width: 3,
        };
        let b = encode_entry_bundle(&ids);
        assert_eq!(b.len(), 3 * 34);
        assert_eq!(&b[..2], &[0, 32]);
        assert_eq!(decode_entry_bundle(&t, &b).unwrap(), ids);
        assert!(decode_entry_bundle(&t, &b[..b.len() - 1]).is_err());
        let leaves: Vec<Digest> = ids.iter().map(event_leaf_hash).collect();
        check_entries(&t, &ids, &leaves).unwrap();
        assert!(check_entries(&t, &ids[..2], &leaves).is_err());

        let events: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 100]).collect();
        let ev = Tile {
            kind: TileKind::Events,
            ..t
        };
        let eb = encode_event_bundle(&events);
        let back = decode_event_bundle(&ev, &eb).unwrap();
        assert_eq!(back, events.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert!(decode_event_bundle(&ev, &eb[..eb.len() - 1]).is_err());
        let mut more = eb.clone();
        more.extend_from_slice(&encode_event_bundle(&[vec![0u8; 100]]));
        assert!(decode_event_bundle(&ev, &more).is_err());
        let ids: Vec<EventId> = events
            .iter()
            .map(|e| encoded_event_id(e).unwrap())
            .collect();
        check_events(&ev, &back, &ids).unwrap();
        let mut swapped = back.clone();
        swapped.swap(0, 1);
        assert!(check_events(&ev, &swapped, &ids).is_err());
        assert_eq!(
            encoded_event_id(&[1u8; 64 + 5]).unwrap(),
            sha256(&[EVENT_CONTEXT, &[1u8; 5]])
        );
    }
}
