//! The c2sp.org/tlog-tiles read API of every feed, read-only and without a
//! token, under `/tiles/<participant>/<authority>/` (`docs/FORMAT.md` §13,
//! "Tiles"): the latest signed checkpoint with the cosignatures held, hash
//! tiles, entry bundles and the KP Ledger event bundles, each served only
//! up to the size of that checkpoint, so a client can check everything it
//! fetches against it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ledger_core::tlog::tiles::{
    encode_entry_bundle, encode_event_bundle, encode_hash_tile, parse_path, width_at, Tile,
    TileKind, TilePath,
};
use ledger_core::AuthorId;

use crate::service::Node;

/// The prefix of every feed's tiles.
pub const TILES_PREFIX: &str = "/tiles";

/// `Cache-Control` of a full tile or bundle: it never changes.
pub const CACHE_FULL: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of a partial tile or bundle: replaced as the feed grows.
pub const CACHE_PARTIAL: &str = "public, max-age=5";
/// `Cache-Control` of the checkpoint.
pub const CACHE_CHECKPOINT: &str = "no-cache";
/// `Content-Type` of tiles and bundles.
pub const CONTENT_TILE: &str = "application/octet-stream";
/// `Content-Type` of the checkpoint.
pub const CONTENT_CHECKPOINT: &str = "text/plain; charset=utf-8";

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, CONTENT_CHECKPOINT),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

fn not_found(what: impl std::fmt::Display) -> Response {
    plain(StatusCode::NOT_FOUND, format!("{what}\n"))
}

/// `GET /tiles/{participant}/{authority}/{*path}`.
pub async fn serve(
    State(node): State<Arc<Node>>,
    Path((participant, authority, path)): Path<(String, String, String)>,
) -> Response {
    if participant.len() + authority.len() > 64 {
        return not_found("no such feed");
    }
    let Ok(author) = format!("{participant}/{authority}").parse::<AuthorId>() else {
        return not_found("no such feed");
    };
    if node.ledger.author_entry(&author).is_none() {
        return not_found(format_args!("{author} is not an author of this network"));
    }
    let Some(what) = parse_path(&path) else {
        return not_found("not a tile path (c2sp.org/tlog-tiles)");
    };
    let Some(latest) = node.checkpoints.latest(&author) else {
        return not_found(format_args!("no checkpoint of {author}'s feed yet"));
    };
    let tile = match what {
        TilePath::Checkpoint => {
            return (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, CONTENT_CHECKPOINT),
                    (header::CACHE_CONTROL, CACHE_CHECKPOINT),
                ],
                latest.note.encode(),
            )
                .into_response();
        }
        TilePath::Tile(t) => t,
    };
    let size = latest.checkpoint.size;
    // A full tile once the checkpoint covers it; a partial one of any width
    // up to what the checkpoint covers (its hashes never change either).
    let have = width_at(tile.kind, tile.index, size);
    if have == 0 || tile.width > have {
        return not_found(format_args!(
            "{} is beyond the latest checkpoint (size {size})",
            tile.path()
        ));
    }
    let ledger = node.ledger.clone();
    let a = author.clone();
    let body = tokio::task::spawn_blocking(move || tile_bytes(&ledger, &a, size, &tile)).await;
    match body {
        Ok(Ok(bytes)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, CONTENT_TILE),
                (
                    header::CACHE_CONTROL,
                    if tile.is_full() {
                        CACHE_FULL
                    } else {
                        CACHE_PARTIAL
                    },
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

/// The bytes of `tile` of `author`'s feed, from the store.
pub fn tile_bytes(
    ledger: &ledger_core::store::Ledger,
    author: &AuthorId,
    size: u64,
    tile: &Tile,
) -> Result<Vec<u8>, String> {
    let first = tile.first();
    let width = u64::from(tile.width);
    match tile.kind {
        TileKind::Hash(l) => ledger
            .tree_nodes(author, size, l * 8, first, width)
            .map(|h| encode_hash_tile(&h))
            .map_err(|e| e.to_string()),
        TileKind::Entries => {
            let ids = ledger
                .feed_ids(author, first + 1, tile.width.into())
                .map_err(|e| e.to_string())?;
            if ids.len() as u64 != width {
                return Err(format!("{} events held, not {width}", ids.len()));
            }
            Ok(encode_entry_bundle(&ids))
        }
        TileKind::Events => {
            let events = ledger
                .feed_range_raw(author, first + 1, tile.width.into())
                .map_err(|e| e.to_string())?;
            if events.len() as u64 != width {
                return Err(format!("{} events held, not {width}", events.len()));
            }
            Ok(encode_event_bundle(&events))
        }
    }
}
