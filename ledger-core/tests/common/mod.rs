//! Helpers shared by the tile tests.

use std::collections::BTreeMap;

use ledger_core::tlog::merkle::{event_leaf_hash, MemoryTree, NodeReader};
use ledger_core::tlog::tiles::{
    bundles, encode_entry_bundle, encode_event_bundle, encode_hash_tile, encoded_event_id,
    hash_tiles, Tile, TileKind,
};
use ledger_core::Digest;

/// Every hash tile, entry bundle and event bundle of a feed of `events`
/// (encoded, in sequence order), by path under the feed's prefix, built
/// from an in-memory tree; and that tree's root.
pub fn tile_files(events: &[Vec<u8>]) -> (BTreeMap<String, Vec<u8>>, Digest) {
    let size = events.len() as u64;
    let ids: Vec<_> = events
        .iter()
        .map(|e| encoded_event_id(e).unwrap())
        .collect();
    let leaves: Vec<_> = ids.iter().map(event_leaf_hash).collect();
    let tree = MemoryTree::from_leaf_hashes(&leaves).unwrap();
    let mut out = BTreeMap::new();
    for t in hash_tiles(size) {
        let TileKind::Hash(l) = t.kind else { continue };
        let h: Vec<_> = (0..u64::from(t.width))
            .map(|i| tree.node(l * 8, t.first() + i).unwrap())
            .collect();
        out.insert(t.path(), encode_hash_tile(&h));
    }
    for t in bundles(TileKind::Entries, size) {
        let r = t.first() as usize..(t.first() + u64::from(t.width)) as usize;
        out.insert(t.path(), encode_entry_bundle(&ids[r.clone()]));
        let e = Tile {
            kind: TileKind::Events,
            ..t
        };
        out.insert(e.path(), encode_event_bundle(&events[r]));
    }
    (out, tree.root())
}
