//! `kpl-node check` and `kpl-node repair`: the operator's tools for a
//! stopped node whose store is damaged.

use std::path::PathBuf;

use clap::Args;
use ledger_core::store::{self, DamagedRecord, StoreOptions};
use ledger_core::{AuthorId, Charter, SignedEvent};

use crate::config;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The stopped node's data directory.
    #[arg(long, env = "KPL_DATA_DIR")]
    pub data_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct RepairArgs {
    /// The stopped node's data directory.
    #[arg(long, env = "KPL_DATA_DIR")]
    pub data_dir: PathBuf,
    /// A member's node API (http://HOST:PORT) to fetch the damaged events
    /// again from. Events are signed, so any member's copy is as good; the
    /// store checks every one as it would from gossip. Without it, repair
    /// keeps what is valid and the node's peers refill the rest by syncing.
    #[arg(long)]
    pub from_node: Option<String>,
}

fn place(d: &DamagedRecord) -> String {
    match (&d.author, d.seq) {
        (Some(a), Some(s)) => format!("{a} seq {s}"),
        _ => "author and seq unreadable".into(),
    }
}

/// Lists every damaged stretch of a stopped node's log. Exit 0: none;
/// 1: damage found; 2: the store could not be read.
pub fn check(a: &CheckArgs, json: bool) -> i32 {
    let dir = a.data_dir.join(config::STORE_DIR);
    match store::check_log(&dir) {
        Ok(damage) => {
            if json {
                let v: Vec<_> = damage
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "offset": d.offset, "to": d.to,
                            "author": d.author.as_ref().map(|a| a.to_string()),
                            "seq": d.seq, "reason": d.reason,
                        })
                    })
                    .collect();
                println!("{}", serde_json::json!({ "damaged": v }));
            } else if damage.is_empty() {
                println!(
                    "{}: every record is whole",
                    dir.join("events.log").display()
                );
            } else {
                println!("{:>12}  {:>12}  {:<24}  REASON", "OFFSET", "BYTES", "EVENT");
                for d in &damage {
                    println!(
                        "{:>12}  {:>12}  {:<24}  {}",
                        d.offset,
                        d.to - d.offset,
                        place(d),
                        d.reason
                    );
                }
                eprintln!(
                    "{} damaged stretch(es). Run `kpl-node repair --data-dir {} --from-node URL` to keep every valid record and fetch the damaged events again from a member.",
                    damage.len(),
                    a.data_dir.display()
                );
            }
            if damage.is_empty() {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("kpl-node check: {e}");
            2
        }
    }
}

/// One page of a feed from a member's node API.
fn fetch_page(base: &str, author: &AuthorId, from: u64) -> Result<Vec<SignedEvent>, String> {
    let author_q: String = author
        .to_string()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = crate::cluster::http_get(
        base,
        &format!("/v1/feed?author={author_q}&from={from}&limit=1000&encoding=hex"),
    )?;
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{base}: not JSON: {e}"))?;
    let mut out = Vec::new();
    for h in v["events_hex"].as_array().into_iter().flatten() {
        let bytes = hex::decode(h.as_str().unwrap_or_default())
            .map_err(|e| format!("{base}: an event is not hex: {e}"))?;
        out.push(SignedEvent::decode(&bytes).map_err(|e| format!("{base}: {e}"))?);
    }
    Ok(out)
}

/// Repairs a stopped node's store. Exit 0: repaired with nothing missing;
/// 1: repaired, but some events are still missing (the node's peers
/// refill them when it runs); 2: not repaired.
pub fn repair(a: &RepairArgs, json: bool) -> i32 {
    let run = || -> Result<store::RepairReport, String> {
        let cfg = config::NodeConfig::load(&a.data_dir)?;
        let charter_path = config::resolve(
            &a.data_dir,
            cfg.charter
                .as_ref()
                .ok_or("no charter configured in node.toml")?,
        );
        let charter = Charter::load(&charter_path)?;
        let dir = a.data_dir.join(config::STORE_DIR);
        let opts = StoreOptions {
            cache_bytes: cfg.cache_mb.max(4) * 1024 * 1024,
            ..StoreOptions::default()
        };
        let mut fetch = |author: &AuthorId, from: u64| match &a.from_node {
            Some(base) => fetch_page(base, author, from),
            None => Ok(Vec::new()),
        };
        store::repair(&dir, &charter, opts, &mut fetch).map_err(|e| e.to_string())
    };
    match run() {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "damaged": r.damaged.iter().map(|d| serde_json::json!({
                            "offset": d.offset, "to": d.to,
                            "author": d.author.as_ref().map(|a| a.to_string()),
                            "seq": d.seq, "reason": d.reason})).collect::<Vec<_>>(),
                        "quarantined_bytes": r.quarantined_bytes,
                        "kept_records": r.kept_records,
                        "refetched": r.refetched,
                        "set_aside": r.set_aside,
                        "set_aside_file": r.set_aside_file,
                        "still_missing": r.still_missing.iter().map(|(a, h, f)| serde_json::json!({
                            "author": a.to_string(), "head": h, "first_set_aside": f})).collect::<Vec<_>>(),
                        "old_log": r.old_log,
                        "fetch_errors": r.fetch_errors,
                    })
                );
            } else {
                for d in &r.damaged {
                    println!(
                        "quarantined bytes {}..{} ({}): {}",
                        d.offset,
                        d.to,
                        place(d),
                        d.reason
                    );
                }
                println!(
                    "kept {} valid record(s); fetched {} event(s) again{}",
                    r.kept_records,
                    r.refetched,
                    a.from_node
                        .as_ref()
                        .map(|u| format!(" from {u}"))
                        .unwrap_or_default()
                );
                if let Some(f) = &r.set_aside_file {
                    println!(
                        "{} valid event(s) wait for a missing earlier event of their feed; kept in {f}",
                        r.set_aside
                    );
                }
                for (author, head, first) in &r.still_missing {
                    println!("{author}: the store holds seq 1..={head}; seq {} onwards come back from the peers when the node runs (set aside from seq {first})", head + 1);
                }
                for e in &r.fetch_errors {
                    eprintln!("fetch failed: {e}");
                }
                if let Some(old) = &r.old_log {
                    println!("the old log is kept as {old} (delete it once `kpl verify --data-dir` passes)");
                }
            }
            if r.still_missing.is_empty() {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("kpl-node repair: {e}");
            2
        }
    }
}
