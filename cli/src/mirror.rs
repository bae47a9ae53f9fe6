//! `kpl mirror DIR`: every feed's c2sp.org/tlog-tiles files, verified and
//! written incrementally (`ledger_core::mirror`); here only the fetching
//! from the node and the summary.

use std::path::PathBuf;

use clap::Args;
use kpl_api::types::FeedKeys;
use ledger_core::mirror::{mirror_feed, FeedReport};
use ledger_core::tlog::note::Ed25519Verifier;
use ledger_core::PublicKeyBytes;
use serde_json::{json, Value};

use crate::client::Client;
use crate::fmt::{CmdResult, Failure, Table};

#[derive(Args)]
pub struct MirrorArgs {
    /// The directory of the mirror (created if missing): one
    /// `<participant>/<authority>/` tree of static files per feed, ready for
    /// any web server, object store or CDN.
    pub dir: PathBuf,
}

/// The key epochs of a `/v1/keys` feed as note verifiers of its origin.
fn epochs(feed: &FeedKeys, origin: &str) -> Result<Vec<(u64, Ed25519Verifier)>, String> {
    let mut out = Vec::new();
    for e in &feed.key_epochs {
        let key = PublicKeyBytes::from_hex(&e.key)?;
        out.push((
            e.from_seq,
            Ed25519Verifier::new(origin, &key).map_err(|e| e.to_string())?,
        ));
    }
    if out.is_empty() {
        let key = PublicKeyBytes::from_hex(&feed.key)?;
        out.push((
            1,
            Ed25519Verifier::new(origin, &key).map_err(|e| e.to_string())?,
        ));
    }
    Ok(out)
}

pub fn mirror(c: &Client, a: &MirrorArgs, json_out: bool) -> CmdResult {
    let keys = c.call(|a| a.keys())?;
    std::fs::create_dir_all(&a.dir)
        .map_err(|e| Failure::usage(format!("{}: {e}", a.dir.display())))?;
    let mut rows: Vec<(String, Result<Option<FeedReport>, String>)> = Vec::new();
    for feed in &keys.feeds {
        let author = feed.author.clone();
        let origin = feed.origin.clone();
        let r = (|| {
            if author.split('/').count() != 2 || author.contains("..") {
                return Err(format!("{author:?} is not an author id"));
            }
            let epochs = epochs(feed, &origin)?;
            let prefix = format!("/tiles/{author}/");
            if c.get_bytes(&format!("{prefix}checkpoint"))?.is_none() {
                return Ok(None);
            }
            let source = |p: &str| c.get_bytes(&format!("{prefix}{p}"));
            mirror_feed(&a.dir.join(&author), &origin, &epochs, &source).map(Some)
        })();
        rows.push((author, r));
    }
    let failed = rows.iter().filter(|(_, r)| r.is_err()).count();
    if json_out {
        let feeds: Vec<Value> = rows
            .iter()
            .map(|(author, r)| match r {
                Ok(Some(f)) => json!({
                    "author": author, "previous_size": f.previous_size, "size": f.size,
                    "full_written": f.full_written, "partial_written": f.partial_written,
                    "kept": f.kept, "removed": f.removed, "bytes": f.bytes,
                }),
                Ok(None) => json!({"author": author, "size": null, "skipped": "no checkpoint yet"}),
                Err(e) => json!({"author": author, "error": e}),
            })
            .collect();
        println!(
            "{}",
            json!({"dir": a.dir.display().to_string(), "feeds": feeds})
        );
    } else {
        let mut t = Table::new(&[
            "FEED", "SIZE", "WAS", "FULL", "PARTIAL", "KEPT", "REMOVED", "BYTES",
        ])
        .right_align(&[1, 2, 3, 4, 5, 6, 7]);
        let mut notes = Vec::new();
        for (author, r) in &rows {
            match r {
                Ok(Some(f)) => t.row(vec![
                    author.clone(),
                    f.size.to_string(),
                    f.previous_size.map_or("-".into(), |s| s.to_string()),
                    f.full_written.to_string(),
                    f.partial_written.to_string(),
                    f.kept.to_string(),
                    f.removed.to_string(),
                    f.bytes.to_string(),
                ]),
                Ok(None) => notes.push(format!("{author}: no checkpoint yet, nothing to mirror")),
                Err(e) => notes.push(format!("{author}: NOT MIRRORED (nothing written): {e}")),
            }
        }
        if !t.is_empty() {
            print!("{}", t.render());
        }
        for n in &notes {
            println!("{n}");
        }
        println!(
            "\nmirror in {} (FULL, PARTIAL: files written; KEPT: already there)",
            a.dir.display()
        );
    }
    if failed > 0 {
        return Err(Failure::found(format!(
            "{failed} feed(s) could not be mirrored: nothing of them was written"
        )));
    }
    Ok(0)
}
