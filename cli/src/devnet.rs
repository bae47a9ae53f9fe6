//! `kpl devnet`: a local network of real node processes on loopback, seeded
//! with months of realistic trade and a few anomalies of each kind that
//! `kpl audit` must find. Every participant's authority also holds the
//! governance role (the cluster's charter grants it) and BW, the first
//! participant, chairs, so `kpl gov` works on a devnet.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use kpl_node::cluster::{alive, http, http_get, signal, Cluster, Launcher, MemberSpec};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::fmt::{CmdResult, Failure, Table, OK};

#[derive(Subcommand)]
pub enum DevnetCmd {
    /// Create (first time), start and seed a local network; prints where each node's API is.
    Up {
        /// The devnet's directory.
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// List the nodes: member, API, process id, running or not.
    Status(DirArgs),
    /// Stop every node process this devnet started and wait until each has
    /// exited (keeps the data unless --purge).
    Down {
        #[command(flatten)]
        dir: DirArgs,
        /// Also delete the devnet directory.
        #[arg(long)]
        purge: bool,
        /// Seconds to wait for the nodes to stop after SIGTERM before
        /// killing the rest with SIGKILL.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

#[derive(Args)]
pub struct DirArgs {
    /// The devnet's directory (default: ./kpl-devnet, or else the devnet
    /// `kpl devnet up` last recorded, from wherever it was run).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Where `kpl devnet up` puts a devnet unless told otherwise.
pub const DEFAULT_DIR: &str = "kpl-devnet";

/// The embedded default membership: producers and trading hubs drawn from
/// the real trade, and one observer.
pub fn default_members() -> Vec<MemberSpec> {
    vec![
        MemberSpec::participant(
            "BW",
            "Botswana",
            "mme",
            "Ministry of Minerals and Energy, Diamond Hub",
        ),
        MemberSpec::participant(
            "ZA",
            "South Africa",
            "sadpmr",
            "South African Diamond and Precious Metals Regulator",
        ),
        MemberSpec::participant("CA", "Canada", "nrcan", "Natural Resources Canada"),
        MemberSpec::participant(
            "AO",
            "Angola",
            "mirempet",
            "Ministry of Mineral Resources, Petroleum and Gas",
        ),
        MemberSpec::participant(
            "NA",
            "Namibia",
            "mme",
            "Ministry of Mines and Energy, Diamond Commission",
        ),
        MemberSpec::participant("RU", "Russian Federation", "gokhran", "Gokhran of Russia"),
        MemberSpec::participant(
            "EU",
            "European Union",
            "antwerp",
            "European Commission / Antwerp Diamond Office",
        ),
        MemberSpec::participant(
            "AE",
            "United Arab Emirates",
            "dmcc",
            "UAE Kimberley Process Office, DMCC",
        ),
        MemberSpec::participant(
            "IN",
            "India",
            "gjepc",
            "Gem and Jewellery Export Promotion Council",
        ),
        MemberSpec::participant(
            "IL",
            "Israel",
            "diamond-controller",
            "Office of the Diamond Controller",
        ),
        MemberSpec::observer("wdc", "World Diamond Council"),
    ]
}

/// What `devnet.json` records of each node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevnetNode {
    pub label: String,
    pub member: String,
    pub api: String,
    pub pid: u32,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub token_file: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevnetState {
    pub dir: PathBuf,
    pub charter: PathBuf,
    pub nodes: Vec<DevnetNode>,
}

const STATE: &str = "devnet.json";

fn load_state(dir: &Path) -> Option<DevnetState> {
    let text = std::fs::read_to_string(dir.join(STATE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn member_name(m: &MemberSpec) -> String {
    match m {
        MemberSpec::Participant {
            code, authority, ..
        } => format!("participant {code}/{authority}"),
        MemberSpec::Observer { id, .. } => format!("observer {id}"),
    }
}

pub fn run(cmd: &DevnetCmd, json_out: bool) -> CmdResult {
    match cmd {
        DevnetCmd::Up { dir } => up(dir, json_out),
        DevnetCmd::Status(a) => status(&resolve(&a.dir)?, json_out),
        DevnetCmd::Down {
            dir,
            purge,
            timeout,
        } => down(
            &resolve(&dir.dir)?,
            *purge,
            Duration::from_secs(*timeout),
            json_out,
        ),
    }
}

/// The per-user file where `kpl devnet up` records each devnet's directory,
/// so that `status` and `down` find it from any directory:
/// `$XDG_STATE_HOME/kpl/devnets`, or `~/.local/state/kpl/devnets`.
fn registry() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?)
            .join(".local")
            .join("state"),
    };
    Some(base.join("kpl").join("devnets"))
}

/// The devnets recorded, that still hold a devnet, one directory a line.
fn recorded() -> Vec<PathBuf> {
    let Some(file) = registry() else {
        return Vec::new();
    };
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(PathBuf::from)
        .filter(|d| d.join(STATE).exists())
        .collect()
}

/// Records (`keep`) or forgets a devnet's directory in the registry.
/// Best effort: a devnet works without it, from its own directory.
fn record(dir: &Path, keep: bool) {
    let Some(file) = registry() else {
        return;
    };
    let mut dirs: Vec<PathBuf> = recorded().into_iter().filter(|d| d != dir).collect();
    if keep {
        dirs.push(dir.to_path_buf());
    }
    let text: String = dirs.iter().map(|d| format!("{}\n", d.display())).collect();
    if let Some(parent) = file.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let tmp = file.with_extension(format!("tmp.{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, &file);
    }
}

/// The devnet `status` and `down` act on: `--dir` when given; else
/// ./kpl-devnet when it holds one; else the one devnet recorded by `up`.
fn resolve(dir: &Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(d) = dir {
        return Ok(d.clone());
    }
    let here = PathBuf::from(DEFAULT_DIR);
    if here.join(STATE).exists() {
        return Ok(here);
    }
    let known = recorded();
    let where_ = registry().map_or_else(
        || "(no HOME to record devnets in)".to_owned(),
        |r| r.display().to_string(),
    );
    match known.as_slice() {
        [one] => {
            eprintln!("kpl: using the devnet in {}", one.display());
            Ok(one.clone())
        }
        [] => Err(Failure::usage(format!(
            "there is no devnet in ./{DEFAULT_DIR} and none recorded in {where_}: run this in the directory where you ran `kpl devnet up`, or pass --dir DIR"
        ))),
        many => Err(Failure::usage(format!(
            "there is no devnet in ./{DEFAULT_DIR}, and several elsewhere: pass --dir with one of {}",
            many.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `s` as one shell word (quoted when it needs to be).
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,=@%".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether a node process is still there: alive, and not a zombie whose
/// threads are all gone (a leader that exited while other threads still
/// finish, e.g. an `fdatasync`, still holds its files).
fn running(pid: u32) -> bool {
    if alive(pid) {
        return true;
    }
    std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|d| d.count() > 1)
}

/// Whether `pid` is still the node process the devnet started (its
/// command line names the node's data directory), so that a process id
/// reused by another program is never signalled.
fn is_node(n: &DevnetNode) -> bool {
    let dir = n.data_dir.to_string_lossy();
    running(n.pid)
        && std::fs::read(format!("/proc/{}/cmdline", n.pid)).is_ok_and(|c| {
            c.split(|b| *b == 0)
                .any(|a| String::from_utf8_lossy(a) == dir)
        })
}

fn up(dir: &Path, json_out: bool) -> CmdResult {
    let cluster = match Cluster::load(dir) {
        Ok(c) => c,
        Err(_) => {
            eprintln!(
                "creating a devnet in {} (keys, node directories, charter)…",
                dir.display()
            );
            Cluster::create(dir, "kp-devnet", &default_members()).map_err(Failure::usage)?
        }
    };
    let exe = std::env::current_exe().map_err(|e| Failure::usage(e.to_string()))?;
    let launcher = Launcher {
        exe: exe.clone(),
        prefix: vec!["node".into()],
    };
    let previous = load_state(&cluster.dir);
    // Recorded after every start (with the previous record of the nodes not
    // visited yet), so that `devnet down` stops every node already running
    // even when a later one fails to start.
    let save = |nodes: &Vec<DevnetNode>| -> Result<DevnetState, Failure> {
        let mut all = nodes.clone();
        for p in previous.iter().flat_map(|s| &s.nodes) {
            if !all.iter().any(|n| n.label == p.label) {
                all.push(p.clone());
            }
        }
        let state = DevnetState {
            dir: cluster.dir.clone(),
            charter: cluster.charter_file.clone(),
            nodes: all,
        };
        std::fs::write(
            cluster.dir.join(STATE),
            serde_json::to_string_pretty(&state).unwrap_or_default(),
        )
        .map_err(|e| Failure::usage(e.to_string()))?;
        Ok(state)
    };
    let mut nodes = Vec::new();
    for n in &cluster.nodes {
        let running = previous
            .as_ref()
            .and_then(|s| s.nodes.iter().find(|x| x.label == n.label))
            .filter(|x| alive(x.pid) && http_get(&x.api, kpl_api::paths::HEALTH).is_ok())
            .cloned();
        let node = match running {
            Some(x) => x,
            None => {
                eprintln!("starting {} …", n.label);
                let r = cluster
                    .start(&n.label, &launcher, Duration::from_secs(60))
                    .map_err(Failure::usage)?;
                let pid = r.child.id();
                // The node runs on in its own process group after we exit.
                std::mem::forget(r.child);
                DevnetNode {
                    label: n.label.clone(),
                    member: member_name(&n.member),
                    api: r.api,
                    pid,
                    data_dir: n.data_dir.clone(),
                    log: n.data_dir.join("node.log"),
                    token_file: n.data_dir.join(kpl_node::config::TOKEN_FILE),
                }
            }
        };
        nodes.push(node);
        save(&nodes)?;
    }
    let state = save(&nodes)?;
    record(&state.dir, true);

    // Progress goes to stderr, so stdout stays JSON with --json.
    eprintln!(
        "waiting until the {} nodes are connected and ready…",
        state.nodes.len()
    );
    wait_connected(&state, Duration::from_secs(60))?;
    wait_healthy(&state, Duration::from_secs(60))?;
    let seeded = seed_if_empty(&state)?;
    wait_converged(&state, Duration::from_secs(120))?;

    if json_out {
        println!(
            "{}",
            json!({"dir": state.dir, "charter": state.charter, "seeded": seeded, "nodes": state.nodes})
        );
        return Ok(OK);
    }
    print_nodes(&state);
    let bw = state
        .nodes
        .iter()
        .find(|n| n.label == "BW")
        .map(|n| n.api.clone())
        .unwrap_or_default();
    let eu = state
        .nodes
        .iter()
        .find(|n| n.label == "EU")
        .map(|n| n.api.clone())
        .unwrap_or_default();
    println!();
    if seeded > 0 {
        println!("seeded {seeded} events: nine months of trade from mines to hubs and on, with anomalies to find");
    }
    // Commands that work pasted into any shell: this very `kpl` by its
    // absolute path (it need not be on the PATH), absolute files.
    let kpl = shell_word(&exe.to_string_lossy());
    let bw_token = shell_word(
        &state
            .dir
            .join("BW")
            .join(kpl_node::config::TOKEN_FILE)
            .to_string_lossy(),
    );
    let devnet_dir = shell_word(&state.dir.to_string_lossy());
    println!("next, try:");
    println!("  {kpl} --node {bw} feeds");
    println!("  {kpl} --node {bw} audit");
    println!("  {kpl} --node {bw} stats --year 2026 --quarter 1");
    println!("  {kpl} --node {bw} trace IN-2026-000003");
    println!("  {kpl} --node {eu} show BW-2026-000001");
    println!("  {kpl} --node {bw} members");
    println!(
        "  {kpl} --node {bw} --token-file {bw_token} gov propose suspend RU --except-zone Mirny --reference 'Administrative Decision'"
    );
    println!(
        "  {kpl} --node {bw} --token-file {bw_token} issue --number BW-2026-100001 --origin BW --destination EU --carats 1000 --value 250000 \\\n      --exporter-name Debswana --exporter-address Gaborone --importer-name 'Antwerp Rough BV' --importer-address Antwerp"
    );
    println!("  {kpl} devnet status --dir {devnet_dir}");
    println!("  {kpl} devnet down --dir {devnet_dir}");
    println!("or open {bw}/explorer in a browser: BW's node's web explorer");
    Ok(OK)
}

fn print_nodes(state: &DevnetState) {
    let mut t = Table::new(&["NODE", "MEMBER", "API", "PID", "STATE"]);
    for n in &state.nodes {
        let up = alive(n.pid) && http_get(&n.api, kpl_api::paths::HEALTH).is_ok();
        t.row(vec![
            n.label.clone(),
            n.member.clone(),
            n.api.clone(),
            n.pid.to_string(),
            if up {
                "running".into()
            } else {
                "stopped".into()
            },
        ]);
    }
    print!("{}", t.render());
}

fn wait_connected(state: &DevnetState, timeout: Duration) -> Result<(), Failure> {
    let want = state.nodes.len().saturating_sub(1);
    let deadline = Instant::now() + timeout;
    loop {
        let mut all = true;
        for n in &state.nodes {
            let peers = api(&n.api).status().map_or(0, |s| s.peers.len());
            if peers < want {
                all = false;
                break;
            }
        }
        if all {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Failure::usage(format!(
                "the nodes did not all connect within {timeout:?}; see the node.log files under {}",
                state.dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until every node is healthy: each participant node writes only
/// once a member has confirmed its own feed's head since it started.
fn wait_healthy(state: &DevnetState, timeout: Duration) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    for n in &state.nodes {
        let left = deadline.saturating_duration_since(Instant::now());
        kpl_node::cluster::wait_healthy(&n.api, left).map_err(|e| {
            Failure::usage(format!(
                "node {} is not ready to write: {e}; see {}",
                n.label,
                n.log.display()
            ))
        })?;
    }
    Ok(())
}

/// The typed API client of the node at `base`, for the devnet's own checks.
fn api(base: &str) -> kpl_api::client::Client {
    kpl_api::client::Client::new(base, None, Duration::from_secs(30))
}

fn heads(base: &str) -> Option<Vec<kpl_api::types::FeedHead>> {
    api(base).feeds().ok().map(|f| f.feeds)
}

fn wait_converged(state: &DevnetState, timeout: Duration) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    loop {
        let all: Vec<Option<Vec<kpl_api::types::FeedHead>>> =
            state.nodes.iter().map(|n| heads(&n.api)).collect();
        if all.iter().all(|h| h.is_some() && *h == all[0]) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Failure::usage(format!(
                "the nodes did not agree on every feed's head within {timeout:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn token(n: &DevnetNode) -> Result<String, Failure> {
    std::fs::read_to_string(&n.token_file)
        .map(|t| t.trim().to_owned())
        .map_err(|e| Failure::usage(format!("{}: {e}", n.token_file.display())))
}

fn post(n: &DevnetNode, path: &str, body: &Value) -> Result<Value, Failure> {
    let (status, text) = http(
        "POST",
        &n.api,
        path,
        Some(&token(n)?),
        Some(&body.to_string()),
    )
    .map_err(Failure::usage)?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !(200..300).contains(&status) {
        return Err(Failure::usage(format!(
            "seeding: {} {path} answered {status}: {v}",
            n.label
        )));
    }
    Ok(v)
}

/// One certificate of the seed plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedCertificate {
    pub number: String,
    pub issuer: String,
    pub destination: String,
    pub issued_on: String,
    pub carat_hundredths: u64,
    pub value_usd_cents: u64,
    pub parcels: u32,
    pub sources: Vec<String>,
    /// Confirmed by the destination as (parcels, carats, cents, received_on).
    pub confirmation: Option<(u32, u64, u64, String)>,
}

/// The anomalies seeded on purpose, by finding kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedAnomaly {
    pub kind: String,
    pub certificate: String,
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedPlan {
    pub certificates: Vec<SeedCertificate>,
    /// Confirmations of numbers nobody issued: (confirming participant, number, exporter prefix, carats).
    pub forged_confirmations: Vec<(String, String, String, u64)>,
    pub anomalies: Vec<SeedAnomaly>,
}

fn day(month: u32, d: u32) -> String {
    format!("2026-{month:02}-{d:02}")
}

fn add_days(date: &str, n: i32) -> String {
    date.parse::<ledger_core::Date>()
        .map(|d| d.add_days(n).to_string())
        .unwrap_or_else(|_| date.to_owned())
}

/// The deterministic seed plan: January to September 2026.
pub fn seed_plan() -> SeedPlan {
    let producers = ["BW", "ZA", "CA", "AO", "NA", "RU"];
    let hubs = ["EU", "AE", "IN", "IL"];
    let mut counters: std::collections::BTreeMap<&str, u32> = Default::default();
    let mut next = |cc: &'static str| {
        let c = counters.entry(cc).or_insert(0);
        *c += 1;
        format!("{cc}-2026-{:06}", *c)
    };
    let mut certs: Vec<SeedCertificate> = Vec::new();
    let mut anomalies = Vec::new();
    // Mines' exports: each producer ships twice a month to a hub.
    for month in 1..=9u32 {
        for (pi, p) in producers.iter().enumerate() {
            for k in 0..2u32 {
                let hub = hubs[(pi + month as usize + k as usize) % hubs.len()];
                let issued = day(month, 3 + 9 * k + pi as u32);
                let carats = 150_000
                    + ((month * 7_919 + pi as u32 * 3_301 + k * 1_231) % 90_000) as u64 * 10;
                // Typical rough prices in US$ per carat for each producer.
                let usd_per_ct = [145u64, 120, 210, 160, 480, 105][pi];
                let cents = carats * usd_per_ct;
                let parcels = 1 + (month + k + pi as u32) % 6;
                let received = add_days(&issued, 4 + (k as i32));
                certs.push(SeedCertificate {
                    number: next(p),
                    issuer: p.to_string(),
                    destination: hub.to_string(),
                    issued_on: issued,
                    carat_hundredths: carats,
                    value_usd_cents: cents,
                    parcels,
                    sources: vec![],
                    confirmation: Some((parcels, carats, cents, received)),
                });
            }
        }
    }
    // Anomaly: a carat mismatch (EU confirms less than BW certified).
    if let Some(c) = certs
        .iter_mut()
        .find(|c| c.issuer == "BW" && c.destination == "EU")
    {
        if let Some(conf) = c.confirmation.as_mut() {
            conf.1 -= 2_500;
        }
        anomalies.push(SeedAnomaly {
            kind: "confirmation_mismatch".into(),
            certificate: c.number.clone(),
            note: "EU confirmed 25.00 ct less than BW certified".into(),
        });
    }
    // Anomaly: an export never confirmed (RU → AE in March).
    if let Some(c) = certs.iter_mut().find(|c| {
        c.issuer == "RU"
            && c.destination == "AE"
            && c.issued_on.starts_with("2026-03")
            && c.sources.is_empty()
    }) {
        c.confirmation = None;
        anomalies.push(SeedAnomaly {
            kind: "unconfirmed_export".into(),
            certificate: c.number.clone(),
            note: "RU's export to AE was never confirmed".into(),
        });
    }
    // Hubs re-export mixed parcels: each month EU → IN and AE → IL, and IN → AE,
    // each citing two of its own confirmed imports and shipping 80% of them.
    for month in 1..=9u32 {
        for (hub, dest) in [("EU", "IN"), ("AE", "IL"), ("IN", "AE")] {
            let mut imported: Vec<&SeedCertificate> = certs
                .iter()
                .filter(|c| {
                    c.destination == hub
                        && c.issued_on.starts_with(&format!("2026-{month:02}"))
                        && c.confirmation.is_some()
                })
                .collect();
            // Prefer citing another hub's re-export, so lineage runs hub to hub.
            imported.sort_by_key(|c| c.sources.is_empty());
            imported.truncate(2);
            if imported.is_empty() {
                continue;
            }
            let carats: u64 = imported.iter().map(|c| c.carat_hundredths).sum::<u64>() * 8 / 10;
            let cents: u64 = imported.iter().map(|c| c.value_usd_cents).sum::<u64>() * 9 / 10;
            let mut sources: Vec<String> = imported.iter().map(|c| c.number.clone()).collect();
            sources.sort();
            let issued = day(month, 26);
            let hub_static: &'static str = match hub {
                "EU" => "EU",
                "AE" => "AE",
                _ => "IN",
            };
            certs.push(SeedCertificate {
                number: next(hub_static),
                issuer: hub.to_string(),
                destination: dest.to_string(),
                issued_on: issued.clone(),
                carat_hundredths: carats,
                value_usd_cents: cents,
                parcels: 2,
                sources,
                confirmation: Some((2, carats, cents, add_days(&issued, 2))),
            });
        }
    }
    // Anomaly: trade with a non-participant (AO ships to KE).
    let ke = next("AO");
    certs.push(SeedCertificate {
        number: ke.clone(),
        issuer: "AO".into(),
        destination: "KE".into(),
        issued_on: day(5, 20),
        carat_hundredths: 48_000,
        value_usd_cents: 48_000 * 160,
        parcels: 1,
        sources: vec![],
        confirmation: None,
    });
    anomalies.push(SeedAnomaly {
        kind: "non_participant_trade".into(),
        certificate: ke,
        note: "AO exported to Kenya, which is not a KP participant".into(),
    });
    // Anomaly: a forged certificate: IL confirms an import under a BW number BW never issued.
    anomalies.push(SeedAnomaly {
        kind: "unknown_certificate".into(),
        certificate: "BW-2026-900013".into(),
        note: "IL confirmed an import under a BW certificate number BW never issued (forged)"
            .into(),
    });
    SeedPlan {
        certificates: certs,
        forged_confirmations: vec![("IL".into(), "BW-2026-900013".into(), "BW".into(), 77_700)],
        anomalies,
    }
}

fn certificate_json(c: &SeedCertificate, i: usize) -> Value {
    let origin = if c.sources.is_empty() {
        json!({"single": {"country": c.issuer, "zone": null}})
    } else {
        json!({"mixed": {"countries": []}})
    };
    json!({
        "number": c.number,
        "origin": origin,
        "issued_on": c.issued_on,
        "expires_on": add_days(&c.issued_on, 60),
        "issuing_authority": "",
        "exporter": {"name": format!("{} Exporter {} Ltd", c.issuer, i % 5 + 1), "address": format!("{} Diamond Park {}, {}", i % 90 + 1, i % 3 + 1, c.issuer)},
        "importer": {"name": format!("{} Importer {} Ltd", c.destination, i % 4 + 1), "address": format!("{} Bourse Street, {}", i % 70 + 1, c.destination)},
        "destination": c.destination,
        "carat_hundredths": c.carat_hundredths,
        "value_usd_cents": c.value_usd_cents,
        "parcels": c.parcels,
        "hs_codes": if i.is_multiple_of(4) { vec!["7102.10", "7102.31"] } else { vec!["7102.31"] },
        "source_certificates": c.sources,
    })
}

/// Seeds the plan through the nodes' APIs unless the ledger already holds
/// events, saying on stderr what it writes, month by month.
fn seed_if_empty(state: &DevnetState) -> Result<u64, Failure> {
    let first = &state.nodes[0];
    let status = api(&first.api)
        .status()
        .map_err(|e| Failure::usage(format!("{}: {e}", first.api)))?;
    if status.events > 0 {
        return Ok(0);
    }
    let plan = seed_plan();
    // Progress on stderr (stdout may be JSON): a line per month of trade.
    let confirmations = plan
        .certificates
        .iter()
        .filter(|c| c.confirmation.is_some())
        .count();
    eprintln!(
        "seeding nine months of trade: {} certificates, {} import confirmations, {} forged confirmation(s)…",
        plan.certificates.len(),
        confirmations,
        plan.forged_confirmations.len()
    );
    std::fs::write(
        state.dir.join("seed.json"),
        serde_json::to_string_pretty(&plan).unwrap_or_default(),
    )
    .map_err(|e| Failure::usage(e.to_string()))?;
    let node = |cc: &str| state.nodes.iter().find(|n| n.label == cc);
    // The plan writes its anomalies on purpose (forged confirmations, trade
    // with non-participants), and confirms each import right after its
    // issue, before the issue has reached the importer's node: every seed
    // write is signed past the nodes' check before signing.
    let (issue, confirm) = (
        format!("{}?force=true", kpl_api::paths::CERTIFICATES),
        format!("{}?force=true", kpl_api::paths::CONFIRMATIONS),
    );
    let mut events = 0u64;
    // Issue in date order so re-exports come after the imports they cite.
    let mut order: Vec<usize> = (0..plan.certificates.len()).collect();
    order.sort_by(|a, b| {
        let (x, y) = (&plan.certificates[*a], &plan.certificates[*b]);
        (x.issued_on.as_str(), x.number.as_str()).cmp(&(y.issued_on.as_str(), y.number.as_str()))
    });
    let (mut issued, mut confirmed) = (0usize, 0usize);
    let mut month = String::new();
    let progress = |month: &str, issued: usize, confirmed: usize| {
        eprintln!(
            "  seeded {month}: {issued} of {} certificates issued, {confirmed} of {confirmations} imports confirmed",
            plan.certificates.len()
        );
    };
    for i in order {
        let c = &plan.certificates[i];
        let m = c.issued_on.get(..7).unwrap_or("").to_owned();
        if m != month {
            if !month.is_empty() {
                progress(&month, issued, confirmed);
            }
            month = m;
        }
        let issuer =
            node(&c.issuer).ok_or_else(|| Failure::usage(format!("no node {}", c.issuer)))?;
        post(issuer, &issue, &certificate_json(c, i))?;
        events += 1;
        issued += 1;
        if let (Some((parcels, carats, cents, received)), Some(importer)) =
            (&c.confirmation, node(&c.destination))
        {
            post(
                importer,
                &confirm,
                &json!({
                    "certificate": c.number,
                    "exporter_participant": c.issuer,
                    "parcels": parcels,
                    "carat_hundredths": carats,
                    "value_usd_cents": cents,
                    "received_on": received,
                }),
            )?;
            events += 1;
            confirmed += 1;
        }
    }
    if !month.is_empty() {
        progress(&month, issued, confirmed);
    }
    for (by, number, exporter, carats) in &plan.forged_confirmations {
        let n = node(by).ok_or_else(|| Failure::usage(format!("no node {by}")))?;
        post(
            n,
            &confirm,
            &json!({
                "certificate": number,
                "exporter_participant": exporter,
                "parcels": 1,
                "carat_hundredths": carats,
                "value_usd_cents": carats * 150,
                "received_on": "2026-06-11",
            }),
        )?;
        events += 1;
    }
    eprintln!("  seeded {events} events; waiting until every node holds them all…");
    Ok(events)
}

fn status(dir: &Path, json_out: bool) -> CmdResult {
    let state = load_state(dir).ok_or_else(|| {
        Failure::usage(format!(
            "{} holds no devnet; start one with `kpl devnet up --dir {}`",
            dir.display(),
            dir.display()
        ))
    })?;
    if json_out {
        let nodes: Vec<Value> = state
            .nodes
            .iter()
            .map(|n| {
                let running = alive(n.pid) && http_get(&n.api, kpl_api::paths::HEALTH).is_ok();
                json!({"node": n.label, "member": n.member, "api": n.api, "pid": n.pid, "running": running, "data_dir": n.data_dir, "token_file": n.token_file})
            })
            .collect();
        println!(
            "{}",
            json!({"dir": state.dir, "charter": state.charter, "nodes": nodes})
        );
    } else {
        print_nodes(&state);
    }
    Ok(OK)
}

fn down(dir: &Path, purge: bool, grace: Duration, json_out: bool) -> CmdResult {
    let state = load_state(dir).ok_or_else(|| {
        Failure::usage(format!(
            "{} holds no devnet (no {STATE}): pass the --dir that `kpl devnet up` was given, or run this where it ran",
            dir.display()
        ))
    })?;
    let mut stopped = Vec::new();
    for n in &state.nodes {
        if is_node(n) && signal(n.pid, false) {
            stopped.push(n.clone());
        }
    }
    if !stopped.is_empty() && !json_out {
        eprintln!(
            "stopping {} node(s) (SIGTERM), waiting for each to exit…",
            stopped.len()
        );
    }
    let wait = |within: Duration| {
        let deadline = Instant::now() + within;
        while stopped.iter().any(|n| running(n.pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait(grace);
    let mut killed = Vec::new();
    for n in &stopped {
        if is_node(n) && signal(n.pid, true) {
            killed.push(n.label.clone());
        }
    }
    if !killed.is_empty() {
        eprintln!(
            "kpl: {} did not exit within {grace:?} of SIGTERM: killed with SIGKILL",
            killed.join(", ")
        );
        wait(Duration::from_secs(10));
    }
    let left: Vec<String> = stopped
        .iter()
        .filter(|n| running(n.pid))
        .map(|n| format!("{} (pid {})", n.label, n.pid))
        .collect();
    if !left.is_empty() {
        return Err(Failure::found(format!(
            "still running after SIGTERM, {grace:?} and SIGKILL: {}; the data directory is left as it is",
            left.join(", ")
        )));
    }
    if purge {
        if dir.join("cluster.json").exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
        }
        record(&state.dir, false);
    }
    if json_out {
        println!(
            "{}",
            json!({"dir": state.dir, "stopped": stopped.iter().map(|n| &n.label).collect::<Vec<_>>(), "killed": killed, "purged": purge})
        );
    } else {
        println!(
            "stopped {} node(s) of the devnet in {}{}; every node process has exited",
            stopped.len(),
            state.dir.display(),
            if purge {
                "; removed the devnet directory"
            } else {
                ""
            }
        );
    }
    Ok(OK)
}
