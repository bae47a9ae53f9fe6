//! Commands that need no node: keys, charters, offline verification.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ledger_core::charter::{AuthorityEntry, ObserverEntry, ParticipantEntry};
use ledger_core::keys::{KeyFile, KeyOwner};
use ledger_core::store::{stored_charter, verify_log};
use ledger_core::{
    AuthorId, AuthorityName, Charter, CountryCode, Date, Digest, ObserverId, Role, Roles,
};
use serde_json::json;

use crate::fmt::{CmdResult, Failure, Table, FOUND, OK};

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the key file (refuses to overwrite).
    #[arg(long, short)]
    pub out: PathBuf,
    /// The authority this key is for, e.g. BW/mme.
    #[arg(long, conflicts_with = "observer")]
    pub author: Option<String>,
    /// The observer this key is for, e.g. wdc.
    #[arg(long)]
    pub observer: Option<String>,
}

pub fn keygen(a: &KeygenArgs, json: bool) -> CmdResult {
    let owner = match (&a.author, &a.observer) {
        (Some(x), _) => KeyOwner::Authority(x.parse()?),
        (_, Some(o)) => KeyOwner::Observer(ObserverId::new(o)?),
        _ => KeyOwner::Unassigned,
    };
    let kf = KeyFile::generate(owner)?;
    kf.save(&a.out, false)?;
    if json {
        println!(
            "{}",
            json!({"file": a.out, "public_key": kf.public_key, "next_key_digest": kf.next_key_digest})
        );
    } else {
        println!("wrote {} (mode 0600)", a.out.display());
        println!("public key:      {}", kf.public_key);
        println!("next key digest: {}", kf.next_key_digest);
    }
    Ok(OK)
}

#[derive(Subcommand)]
pub enum CharterCmd {
    /// Start a new charter file.
    New {
        #[arg(long)]
        out: PathBuf,
        /// Network name (a-z, 0-9, '.', '-', '/').
        #[arg(long)]
        network: String,
        /// The participant that chairs the KP.
        #[arg(long)]
        chair: String,
        /// Date of the charter (default today).
        #[arg(long)]
        created: Option<String>,
    },
    /// Add a participant (then its authorities with add-authority).
    AddParticipant {
        #[arg(long)]
        charter: PathBuf,
        /// ISO 3166-1 alpha-2 code, or EU.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// libp2p peer id of one of its nodes (repeatable).
        #[arg(long = "peer")]
        peers: Vec<String>,
    },
    /// Add an authority with its key and roles to a participant.
    AddAuthority {
        #[arg(long)]
        charter: PathBuf,
        #[arg(long)]
        participant: String,
        /// Short name, e.g. mme, customs.
        #[arg(long)]
        name: String,
        /// Full name as printed on certificates.
        #[arg(long)]
        title: String,
        /// Comma-separated: issue, confirm, governance.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// A key file (its public key and next-key commitment are used) or a public key in hex.
        #[arg(long)]
        key: String,
    },
    /// Add an observer with its key.
    AddObserver {
        #[arg(long)]
        charter: PathBuf,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// A key file or a public key in hex.
        #[arg(long)]
        key: String,
        /// libp2p peer id of one of its nodes (repeatable).
        #[arg(long = "peer")]
        peers: Vec<String>,
    },
    /// Add a node's libp2p peer id to a participant or observer.
    AddNode {
        #[arg(long)]
        charter: PathBuf,
        #[arg(long, conflicts_with = "observer")]
        participant: Option<String>,
        #[arg(long)]
        observer: Option<String>,
        /// The peer id (printed by `kpl node init`).
        #[arg(long)]
        peer: String,
    },
    /// Print a charter and its network id.
    Show {
        #[arg(long)]
        charter: PathBuf,
    },
}

fn load_charter(path: &Path) -> Result<Charter, Failure> {
    Charter::load(path).map_err(Failure::usage)
}

/// Loads a charter that may still be incomplete (no participant yet).
fn load_draft(path: &Path) -> Result<Charter, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn save_charter(path: &Path, c: &Charter) -> Result<(), Failure> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, c.to_json() + "\n")
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

pub(crate) fn key_arg(s: &str) -> Result<(ledger_core::PublicKeyBytes, Option<Digest>), Failure> {
    if Path::new(s).exists() {
        let kf = KeyFile::load(Path::new(s)).map_err(Failure::usage)?;
        return Ok((kf.public_key, Some(kf.next_key_digest)));
    }
    let k = ledger_core::PublicKeyBytes::from_hex(s).map_err(|e| {
        Failure::usage(format!(
            "--key `{s}` is neither a key file nor a hex public key: {e}"
        ))
    })?;
    Ok((k, None))
}

pub fn charter(cmd: &CharterCmd, json: bool) -> CmdResult {
    match cmd {
        CharterCmd::New {
            out,
            network,
            chair,
            created,
        } => {
            if out.exists() {
                return Err(Failure::usage(format!(
                    "{} exists; not overwriting",
                    out.display()
                )));
            }
            let created = match created {
                Some(d) => d.parse::<Date>()?,
                None => Date::from_unix_ms(now_ms()),
            };
            let c = Charter::new(network, created, CountryCode::new(chair)?);
            save_charter(out, &c)?;
            edited(
                out,
                &c,
                format!(
                    "wrote {}; add participants with `kpl charter add-participant`",
                    out.display()
                ),
                json,
            );
        }
        CharterCmd::AddParticipant {
            charter,
            code,
            name,
            peers,
        } => {
            let mut c = load_draft(charter)?;
            c.add_participant(ParticipantEntry {
                code: CountryCode::new(code)?,
                name: name.clone(),
                authorities: Vec::new(),
                nodes: peers.clone(),
            })?;
            save_charter(charter, &c)?;
            edited(
                charter,
                &c,
                format!(
                    "added participant {code}; add its authorities with `kpl charter add-authority`"
                ),
                json,
            );
        }
        CharterCmd::AddAuthority {
            charter,
            participant,
            name,
            title,
            roles,
            key,
        } => {
            let mut c = load_draft(charter)?;
            let code = CountryCode::new(participant)?;
            let (key, next) = key_arg(key)?;
            let mut rs = Vec::new();
            for r in roles {
                rs.push(Role::from_name(r.trim())?);
            }
            let p = c
                .participants
                .iter_mut()
                .find(|p| p.code == code)
                .ok_or_else(|| {
                    Failure::usage(format!("participant {code} is not in the charter"))
                })?;
            let name = AuthorityName::new(name)?;
            if p.authority(&name).is_some() {
                return Err(Failure::usage(format!(
                    "{code}/{name} is already in the charter"
                )));
            }
            p.authorities.push(AuthorityEntry {
                name: name.clone(),
                title: title.clone(),
                key,
                roles: Roles::of(&rs),
                next_key_digest: next,
            });
            p.authorities.sort_by(|a, b| a.name.cmp(&b.name));
            save_charter(charter, &c)?;
            edited(charter, &c, format!("added authority {code}/{name}"), json);
        }
        CharterCmd::AddObserver {
            charter,
            id,
            name,
            key,
            peers,
        } => {
            let mut c = load_draft(charter)?;
            let (key, _) = key_arg(key)?;
            c.add_observer(ObserverEntry {
                id: ObserverId::new(id)?,
                name: name.clone(),
                key,
                nodes: peers.clone(),
            })?;
            save_charter(charter, &c)?;
            edited(charter, &c, format!("added observer {id}"), json);
        }
        CharterCmd::AddNode {
            charter,
            participant,
            observer,
            peer,
        } => {
            let mut c = load_draft(charter)?;
            let nodes = match (participant, observer) {
                (Some(p), _) => {
                    let code = CountryCode::new(p)?;
                    &mut c
                        .participants
                        .iter_mut()
                        .find(|x| x.code == code)
                        .ok_or_else(|| {
                            Failure::usage(format!("participant {code} is not in the charter"))
                        })?
                        .nodes
                }
                (_, Some(o)) => {
                    let id = ObserverId::new(o)?;
                    &mut c
                        .observers
                        .iter_mut()
                        .find(|x| x.id == id)
                        .ok_or_else(|| {
                            Failure::usage(format!("observer {id} is not in the charter"))
                        })?
                        .nodes
                }
                _ => return Err(Failure::usage("name --participant or --observer")),
            };
            nodes.push(peer.clone());
            save_charter(charter, &c)?;
            edited(charter, &c, format!("added node {peer}"), json);
        }
        CharterCmd::Show { charter } => {
            let c = load_charter(charter)?;
            show_charter(&c, json);
        }
    }
    Ok(OK)
}

/// Reports a charter edit: the message, or with `--json` the file, the
/// (draft) charter's network id and the message.
fn edited(path: &Path, c: &Charter, message: String, json: bool) {
    if json {
        println!(
            "{}",
            json!({"file": path, "network_id": c.network_id(), "message": message})
        );
    } else {
        println!("{message}");
    }
}

fn show_charter(c: &Charter, json: bool) {
    if json {
        println!(
            "{}",
            json!({"network_id": c.network_id(), "charter": serde_json::to_value(c).unwrap_or_default()})
        );
        return;
    }
    println!("network    {}", c.network);
    println!("network id {}", c.network_id());
    println!("created    {}", c.created_on);
    println!("chair      {}", c.chair);
    println!();
    let mut t = Table::new(&["MEMBER", "AUTHORITY", "ROLES", "KEY", "NODES"]);
    for p in &c.participants {
        for a in &p.authorities {
            let roles: Vec<&str> = a.roles.iter().map(Role::name).collect();
            t.row(vec![
                format!("{} {}", p.code, p.name),
                a.name.to_string(),
                roles.join(","),
                crate::fmt::short(&a.key.to_hex()),
                p.nodes.len().to_string(),
            ]);
        }
    }
    for o in &c.observers {
        t.row(vec![
            format!("observer {} {}", o.id, o.name),
            "-".into(),
            "read-only".into(),
            crate::fmt::short(&o.key.to_hex()),
            o.nodes.len().to_string(),
        ]);
    }
    print!("{}", t.render());
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Verify a stopped node's store offline, without any node.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The charter to check against (default: the one the store was created with).
    #[arg(long)]
    pub charter: Option<PathBuf>,
}

pub fn verify(a: &VerifyArgs, json: bool) -> CmdResult {
    let dir = a.data_dir.as_ref().expect("offline verify has a data dir");
    let store = if dir.join("store").join("events.log").exists() {
        dir.join("store")
    } else {
        dir.clone()
    };
    let log = store.join("events.log");
    if !log.exists() {
        return Err(Failure::usage(format!(
            "{} holds no KP Ledger store (no events.log)",
            dir.display()
        )));
    }
    let stored = stored_charter(&store).map_err(|e| Failure::usage(e.to_string()))?;
    let charter = match &a.charter {
        Some(p) => {
            let c = load_charter(p)?;
            if c.network_id() != stored.network_id() {
                return Err(Failure::found(format!(
                    "the store was created for network {}, not for {} of {}",
                    stored.network_id(),
                    c.network_id(),
                    p.display()
                )));
            }
            c
        }
        None => stored,
    };
    let mut bar = crate::fmt::Progress::new("verifying", "bytes of the log", json);
    let started = std::time::Instant::now();
    let report = verify_log(&log, &charter, u64::MAX, |done, total| bar.set(done, total))
        .map_err(|e| Failure::usage(e.to_string()))?;
    bar.finish();
    let ms = started.elapsed().as_millis();
    print_verify(&report_json(&report, ms), json);
    Ok(if report.is_ok() { OK } else { FOUND })
}

/// The JSON form of a verification report (`kpl --json verify`, online
/// and offline): counts, every failure listed (the first 1000; all
/// counted), the broken feeds, and `failure`, the first, for readers that
/// want one.
pub fn report_json(r: &ledger_core::store::VerifyReport, ms: u128) -> serde_json::Value {
    let failure = |f: &ledger_core::store::VerifyFailure| {
        json!({
            "offset": f.offset,
            "author": f.author.as_ref().map(AuthorId::to_string),
            "seq": f.seq,
            "event_id": f.id,
            "reason": f.reason,
        })
    };
    json!({
        "ok": r.is_ok(),
        "events": r.events,
        "unverified": r.unverified,
        "feeds": r.feeds,
        "fork_proofs": r.fork_proofs,
        "log_bytes": r.log_bytes,
        "elapsed_ms": ms,
        "failure_count": r.failure_count,
        "failures": r.failures.iter().map(failure).collect::<Vec<_>>(),
        "broken_feeds": r.broken_feeds.iter().map(|b| json!({
            "author": b.author.to_string(),
            "from_seq": b.from_seq,
            "unverified": b.unverified,
        })).collect::<Vec<_>>(),
        "failure": r.failure().map(failure),
    })
}

/// Prints a verification report made by [`report_json`].
pub fn print_verify(v: &serde_json::Value, json: bool) {
    if json {
        println!("{v}");
        return;
    }
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    if v["ok"].as_bool() == Some(true) {
        println!(
            "OK: {} events in {} feeds and {} fork proofs verified ({} ms): every signature, link and fork proof holds",
            n("events"),
            n("feeds"),
            n("fork_proofs"),
            n("elapsed_ms")
        );
        return;
    }
    println!(
        "FAILED: {} problem(s) found; {} events verified, {} not verifiable (later events of a broken feed), {} fork proofs verified",
        n("failure_count"),
        n("events"),
        n("unverified"),
        n("fork_proofs")
    );
    let listed = v["failures"].as_array().cloned().unwrap_or_default();
    for (i, f) in listed.iter().enumerate() {
        match (f["author"].as_str(), f["seq"].as_u64()) {
            (Some(a), Some(s)) => println!("  {}. event:  {a} seq {s}", i + 1),
            (Some(a), None) => println!("  {}. author: {a}", i + 1),
            _ => println!("  {}. event:  (author and seq unreadable)", i + 1),
        }
        if let Some(id) = f["event_id"].as_str() {
            println!("     id:     {id}");
        }
        if let Some(o) = f["offset"].as_u64() {
            println!("     offset: {o}");
        }
        println!("     reason: {}", f["reason"].as_str().unwrap_or(""));
    }
    let more = n("failure_count").saturating_sub(listed.len() as u64);
    if more > 0 {
        println!("  ... and {more} more problem(s), counted but not listed");
    }
    let broken = v["broken_feeds"].as_array().cloned().unwrap_or_default();
    if !broken.is_empty() {
        println!("Broken feeds (nothing after the first failure could be verified):");
        for b in &broken {
            println!(
                "  {} from seq {} ({} later event(s) unverified)",
                b["author"].as_str().unwrap_or(""),
                b["from_seq"],
                b["unverified"]
            );
        }
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
