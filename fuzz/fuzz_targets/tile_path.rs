//! Tile paths (c2sp.org/tlog-tiles, and the KP Ledger event bundles) as the
//! node's `/tiles/` route parses them: never panics; an accepted path is
//! in its one canonical form (it re-encodes to its input); and the tile
//! decoders never panic on any bytes for it.
#![no_main]
use ledger_core::tlog::tiles::{
    decode_entry_bundle, decode_event_bundle, decode_hash_tile, parse_path, width_at, TileKind,
    TilePath,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (path, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(path) else {
        return;
    };
    match parse_path(text) {
        Some(TilePath::Checkpoint) => assert_eq!(text, "checkpoint"),
        Some(TilePath::Tile(t)) => {
            assert_eq!(t.path(), text, "accepted tile path does not re-encode");
            assert!((1..=256).contains(&t.width));
            let _ = width_at(t.kind, t.index, u64::MAX);
            match t.kind {
                TileKind::Hash(_) => {
                    let _ = decode_hash_tile(&t, rest);
                }
                TileKind::Entries => {
                    let _ = decode_entry_bundle(&t, rest);
                }
                TileKind::Events => {
                    let _ = decode_event_bundle(&t, rest);
                }
            }
        }
        None => {}
    }
});
