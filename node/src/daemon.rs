//! The daemon: `init` and `run`, shared by the `kpl-node` binary and
//! `kpl node`. Opens the store, starts the network and the API, and stops
//! cleanly on SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use ledger_core::keys::KeyFile;
use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::Charter;
use tracing::{error, info, warn};

use crate::checkpoints::Checkpoints;
use crate::config::{self, LogFormat, NodeConfig};
use crate::net::{NetConfig, Network};
use crate::service::{Identity, Node, StoreSource};

/// `kpl-node` / `kpl node` subcommands.
#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Create a node: data directory, libp2p identity, API token, node.toml.
    Init(InitArgs),
    /// Run the node until SIGTERM or Ctrl-C.
    Run(RunArgs),
    /// List every damaged record of a stopped node's store (changes nothing).
    Check(crate::maintenance::CheckArgs),
    /// Repair a stopped node's damaged store: keep every valid record,
    /// quarantine the damaged bytes, fetch those events again from a member.
    Repair(crate::maintenance::RepairArgs),
}

/// Settings that `init` writes and `run` may override.
#[derive(Args, Debug, Clone, Default)]
pub struct Overrides {
    /// The network charter (JSON).
    #[arg(long)]
    pub charter: Option<PathBuf>,
    /// This node's key file: an authority key (participant node) or an observer key.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// libp2p listen multiaddr (repeatable), e.g. /ip4/0.0.0.0/tcp/7118.
    #[arg(long)]
    pub listen: Vec<String>,
    /// Peer to connect to (repeatable): a multiaddr ending in /p2p/<peer id>.
    #[arg(long)]
    pub bootstrap: Vec<String>,
    /// HTTP API address (default 127.0.0.1:7117; keep it on loopback or behind a proxy).
    #[arg(long)]
    pub api: Option<String>,
    /// sled cache size in MiB.
    #[arg(long)]
    pub cache_mb: Option<u64>,
    /// Seconds between anti-entropy rounds.
    #[arg(long)]
    pub sync_interval_secs: Option<u64>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Serve the read-only web explorer at /explorer (default true).
    #[arg(long)]
    pub explorer: Option<bool>,
}

impl Overrides {
    /// Paths given on the command line are relative to the working
    /// directory, not to the data directory.
    fn absolute(mut self) -> Overrides {
        let abs = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
        self.charter = self.charter.map(abs);
        self.key = self.key.map(abs);
        self
    }

    fn apply(&self, c: &mut NodeConfig) {
        if self.charter.is_some() {
            c.charter = self.charter.clone();
        }
        if self.key.is_some() {
            c.key = self.key.clone();
        }
        if !self.listen.is_empty() {
            c.listen = self.listen.clone();
        }
        if !self.bootstrap.is_empty() {
            c.bootstrap = self.bootstrap.clone();
        }
        if let Some(a) = &self.api {
            c.api = a.clone();
        }
        if let Some(m) = self.cache_mb {
            c.cache_mb = m;
        }
        if let Some(s) = self.sync_interval_secs {
            c.sync_interval_secs = s;
        }
        if let Some(f) = self.log_format {
            c.log_format = f;
        }
        if let Some(e) = self.explorer {
            c.explorer = e;
        }
    }
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Where the node keeps its store, identity, token and node.toml.
    #[arg(long, env = "KPL_DATA_DIR")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub settings: Overrides,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[arg(long, env = "KPL_DATA_DIR")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub settings: Overrides,
    /// For this start only: take the store's head of this node's own feed
    /// as current without waiting to hear from a member. Use it only when
    /// you know the store holds every event this node ever signed (never
    /// after restoring a backup): writing from a store that lost its last
    /// events forks the feed. It is deliberately not a node.toml setting,
    /// so that it cannot outlive the start it was meant for.
    #[arg(long)]
    pub trust_local_head: bool,
}

/// Runs a node subcommand (`json`: print JSON); returns the process exit code.
pub fn main(cmd: NodeCommand, json: bool) -> i32 {
    match cmd {
        NodeCommand::Init(a) => {
            let mut c = NodeConfig::default();
            a.settings.clone().absolute().apply(&mut c);
            match config::init(&a.data_dir, &c) {
                Ok(r) => {
                    if json {
                        println!("{}", serde_json::to_string(&r).unwrap_or_default());
                    } else {
                        println!("created node in {}", r.data_dir.display());
                        println!("peer id:    {}", r.peer_id);
                        println!("api token:  {} (mode 0600)", r.token_file.display());
                        println!("config:     {}", r.config_file.display());
                        println!("Add the peer id to the charter (`kpl charter add-node`), or for a network already running have the Chair propose its admission (`kpl gov propose admit-participant`), then `kpl-node run --data-dir {}`.", r.data_dir.display());
                    }
                    0
                }
                Err(e) => {
                    eprintln!("kpl-node init: {e}");
                    2
                }
            }
        }
        NodeCommand::Check(a) => crate::maintenance::check(&a, json),
        NodeCommand::Repair(a) => crate::maintenance::repair(&a, json),
        NodeCommand::Run(a) => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("kpl-node: cannot start the runtime: {e}");
                    return 2;
                }
            };
            match rt.block_on(run(a)) {
                Ok(()) => 0,
                Err(e) => {
                    error!("{e}");
                    eprintln!("kpl-node: {e}");
                    2
                }
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KPL_LOG").unwrap_or_else(|_| {
        // gossipsub warns of its own routine events (a verdict after its
        // cache expired, a publish it had seen): the node counts them
        // instead (`late_verdicts`), so its own warnings stay readable.
        // request-response warns once per sync stream it drops at a
        // connection's stream limit, which a member can make happen
        // thousands of times a second: a log line per stream would let it
        // fill the disk.
        tracing_subscriber::EnvFilter::new(
            "info,libp2p_gossipsub=error,libp2p_swarm=warn,libp2p_request_response=error",
        )
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// Runs the node until a signal arrives.
pub async fn run(a: RunArgs) -> Result<(), String> {
    let mut cfg = NodeConfig::load(&a.data_dir)?;
    a.settings.clone().absolute().apply(&mut cfg);
    init_logging(cfg.log_format);
    let dir = &a.data_dir;
    let charter_path = config::resolve(
        dir,
        cfg.charter
            .as_ref()
            .ok_or("no charter configured: set `charter` in node.toml or pass --charter")?,
    );
    let charter = Charter::load(&charter_path)?;
    let key_path = config::resolve(
        dir,
        cfg.key
            .as_ref()
            .ok_or("no key configured: set `key` in node.toml or pass --key")?,
    );
    config::check_private(&key_path)?;
    let kf = KeyFile::load(&key_path)?;
    let identity = Identity::from_key_file(kf.clone(), key_path.clone())?;
    let keypair = config::load_p2p_key(dir)?;
    config::check_private(&dir.join(config::TOKEN_FILE))?;
    let token = config::load_token(dir)?;
    let peer_id = keypair.public().to_peer_id().to_string();

    let opts = StoreOptions {
        cache_bytes: cfg.cache_mb.max(4) * 1024 * 1024,
        ..StoreOptions::default()
    };
    let store_dir = dir.join(config::STORE_DIR);
    let ledger = {
        let c = charter.clone();
        tokio::task::spawn_blocking(move || Ledger::open(&store_dir, &c, opts))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let ledger = Arc::new(ledger);
    log_recovery(&ledger);
    // Membership is the charter plus the decisions this store holds. A key
    // that contradicts them is a misconfiguration and refused; a member
    // admitted by a decision this store does not hold yet (an empty store
    // after `init`) starts as a candidate and learns of its admission by
    // syncing from its bootstrap peers.
    if let Some(f) = std::env::var_os(crate::service::TEST_CLOCK_ENV) {
        if crate::service::TEST_CLOCK_COMPILED {
            warn!(file = %PathBuf::from(f).display(), now_ms = crate::service::now_ms(), "test clock: this node's clock is shifted by the offset in the file (for tests and drills only)");
        } else {
            warn!(file = %PathBuf::from(f).display(), "test clock ignored: a release build keeps the system clock");
        }
    }
    let day = crate::service::today();
    let timeline = ledger.timeline();
    let standing = check_identity(&ledger, &identity, &kf, day)?;
    let node_known = timeline.at(day).node_owner(&peer_id).is_some();
    if let Standing::Candidate = standing {
        warn!(
            identity = %identity.describe(),
            %peer_id,
            decisions = timeline.decisions().len(),
            "not (yet) a member of this network according to what this node holds (the charter and the governance decisions in its store): starting as a candidate. It will dial its bootstrap peers and sync; members accept its connections once a decision admitting this node's peer id is adopted and in effect on their side, and sync then brings the decision here. Until then API writes are refused (403 not_a_member)"
        );
    } else if !node_known {
        warn!(%peer_id, %day, "this node's peer id is not a member node today (neither in the charter nor added by a decision this store holds): members refuse its connections until a decision adding it is adopted and in effect on their side");
    }
    if (!node_known || matches!(standing, Standing::Candidate)) && cfg.bootstrap.is_empty() {
        warn!("no bootstrap peers configured (`bootstrap` in node.toml or --bootstrap): this node cannot reach the members to sync its admission");
    }
    info!(
        network = %charter.network,
        network_id = %charter.network_id(),
        identity = %identity.describe(),
        events = ledger.event_count().unwrap_or(0),
        "store open"
    );

    let net_cfg = NetConfig {
        listen: cfg.listen_addrs()?,
        bootstrap: cfg.bootstrap_addrs()?,
        sync_interval: Duration::from_secs(cfg.sync_interval_secs.max(1)),
        allowed: Some(crate::service::allowed_peers(&timeline, day)),
        ..NetConfig::default()
    };
    let (net, rx) = Network::spawn(
        net_cfg,
        keypair,
        &charter,
        Arc::new(StoreSource(ledger.clone())),
    )
    .await
    .map_err(|e| format!("network: {e}"))?;
    let status = net.status().await.map_err(|e| e.to_string())?;
    for addr in &status.listen_addrs {
        info!(%addr, peer_id = %status.local_peer_id, "listening (libp2p)");
    }

    let checkpoints = {
        let (d, l, me) = (dir.clone(), ledger.clone(), identity.me());
        tokio::task::spawn_blocking(move || Checkpoints::open(&d, l, me))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("checkpoints: {e}"))?
    };
    let checkpoints = Arc::new(checkpoints);
    let has_own_feed = matches!(identity, Identity::Authority { .. });
    if a.trust_local_head {
        if has_own_feed {
            warn!(identity = %identity.describe(), "--trust-local-head: the operator vouches that this store holds every event this node ever signed; its writes open without hearing from a member first. If the store was restored from a backup or lost its last events, the next write forks this node's feed. (A store behind its own authoring record, or a member announcing more of this feed, still refuses writes.)");
        } else {
            warn!("--trust-local-head has no effect on an observer node: it has no own feed");
        }
    }
    let node = Arc::new(Node {
        ledger: ledger.clone(),
        net: net.clone(),
        identity,
        metrics: Default::default(),
        token,
        started: Instant::now(),
        analysis: Default::default(),
        checkpoints: checkpoints.clone(),
        checkpoint_sync_ms: Default::default(),
        gate: Default::default(),
        own_feed: crate::service::OwnFeedGate::new(has_own_feed, a.trust_local_head),
    });
    node.refresh_gate(true).await;
    // Before the API answers (with --trust-local-head writes are open from
    // the first request; otherwise they wait for a member), and before
    // anything the network brought is appended.
    node.check_own_feed().await;
    let own_feed_task = tokio::spawn(node.clone().run_own_feed());
    let gate_task = tokio::spawn(node.clone().run_gate());
    let events_task = tokio::spawn(node.clone().run_network_events(rx));
    let checkpoint_task = tokio::spawn(node.clone().run_checkpoints());
    let seal_task = tokio::spawn(seal_when_idle(ledger.clone()));

    let api_addr = cfg.api_addr()?;
    let listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .map_err(|e| format!("API address {api_addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    info!(api = %format!("http://{local}"), "HTTP API listening");
    // The address actually bound (port 0 picks one), for tools and tests.
    let _ = std::fs::write(dir.join("api.addr"), format!("http://{local}\n"));
    let _ = std::fs::write(
        dir.join("p2p.addrs"),
        status
            .listen_addrs
            .iter()
            .map(|a| format!("{a}/p2p/{}\n", status.local_peer_id))
            .collect::<String>(),
    );

    let mut app = crate::api::router(node.clone());
    if cfg.explorer {
        app = app.merge(crate::explorer::router(node.clone()));
        info!(explorer = %format!("http://{local}/explorer"), "web explorer served");
    }
    // With each connection's address, for the per-client analysis limit.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal());
    if let Err(e) = server.await {
        error!(error = %e, "HTTP server failed");
    }
    info!("stopping: closing the network, flushing the store");
    let _ = net.shutdown().await;
    events_task.abort();
    seal_task.abort();
    checkpoint_task.abort();
    gate_task.abort();
    own_feed_task.abort();
    let c = checkpoints.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || c.flush()).await {
        warn!(error = %e, "latest checkpoints not written");
    }
    let l = ledger.clone();
    let _ = tokio::task::spawn_blocking(move || l.flush()).await;
    drop(node);
    let _ = std::fs::remove_file(dir.join("api.addr"));
    info!("stopped cleanly");
    Ok(())
}

/// Says at WARN what opening the store had to do: an index rebuilt from
/// the log, a torn tail cut (and where its bytes are kept).
fn log_recovery(ledger: &Ledger) {
    let r = ledger.recovery_report();
    if let Some(reason) = &r.index_rebuilt {
        warn!(reason = %reason, records = r.replayed_records, "index rebuilt from the log");
    }
    if let Some(t) = &r.torn_tail {
        warn!(
            offset = t.offset,
            bytes = t.bytes,
            kept_in = %t.kept_in,
            reason = %t.reason,
            "cut a torn tail from the log: the remains of a write that was never synced, so never acknowledged; every cut byte is kept"
        );
    }
}

/// Seals the store once a second when writes went quiet, so the durable
/// watermark outside the log covers every acknowledged event (see
/// `Ledger::seal`); a failure is logged, and the next round tries again.
async fn seal_when_idle(ledger: Arc<Ledger>) {
    let mut warned = false;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let l = ledger.clone();
        match tokio::task::spawn_blocking(move || l.seal()).await {
            Ok(Ok(())) => warned = false,
            Ok(Err(e)) if !warned => {
                warn!(error = %e, "cannot write the store's durable watermark");
                warned = true;
            }
            _ => {}
        }
    }
}

/// What the start-up check found about this node's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The charter or a decision this store holds knows its authority or
    /// observer, with this key.
    Known,
    /// Neither the charter nor any decision this store holds knows it yet:
    /// perhaps admitted by a decision this node has not synced.
    Candidate,
}

/// Checks this node's key against what the charter and the governance
/// decisions this store holds say. Refuses only what is certainly a
/// misconfiguration: a key file whose key is not the key of its authority
/// (genesis or rotated, or the pre-committed next key of a rotation this
/// store may not hold yet), or not the key of its observer. An authority or
/// observer that nothing here knows yet is a [`Standing::Candidate`].
pub fn check_identity(
    ledger: &Ledger,
    identity: &Identity,
    kf: &KeyFile,
    day: ledger_core::Date,
) -> Result<Standing, String> {
    let timeline = ledger.timeline();
    match identity {
        Identity::Authority { author, .. } => {
            if ledger.author_entry(author).is_none() {
                return Ok(Standing::Candidate);
            }
            let state = ledger
                .feed_state(author)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{author}: no feed state in the store"))?;
            let current = state.epoch_at(state.head_seq + 1);
            if kf.public_key != current.key {
                let committed = current
                    .next_key_digest
                    .is_some_and(|d| d == ledger_core::keys::key_digest(&kf.public_key));
                if !committed {
                    let stale = state.keys.iter().any(|e| e.key == kf.public_key);
                    return Err(if stale {
                        format!(
                            "the key file is an old key of {author}: its feed (seq {}) has rotated to {} since. Configure the current key file (`key` in node.toml or --key).",
                            state.head_seq, current.key
                        )
                    } else {
                        format!(
                            "the key file's public key {} is not the key of {author} ({} by the charter, the governance decisions and the feed this store holds): wrong key file? Configure the key whose public key was sent to the Chair (`key` in node.toml or --key).",
                            kf.public_key, current.key
                        )
                    });
                }
                // The key file rotated past what this store holds (e.g. a
                // restored store): sync brings the rotation.
                warn!(%author, "the key file holds the pre-committed next key: this store does not hold the rotation yet; writes are refused until it is synced");
            }
            if let Err(e) = timeline.check_author(author, day) {
                warn!(%author, %day, reason = %e, "this authority may not sign today: its writes will be refused");
            }
        }
        Identity::Observer { id, key } => {
            let entry = timeline
                .latest()
                .observers
                .get(id)
                .or_else(|| timeline.at(day).observers.get(id))
                .cloned()
                .or_else(|| ledger.charter().observer(id).cloned());
            let Some(entry) = entry else {
                return Ok(Standing::Candidate);
            };
            if entry.key != key.public() {
                return Err(format!(
                    "the key file's public key {} is not the key of observer {id} ({} by the charter and the governance decisions this store holds): wrong key file? Configure the key whose public key was sent to the Chair (`key` in node.toml or --key).",
                    kf.public_key, entry.key
                ));
            }
        }
    }
    Ok(Standing::Known)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("signal received");
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::keys::KeyOwner;
    use ledger_core::testkit::{test_charter, test_key};
    use ledger_core::{AuthorId, AuthorityKey, ObserverId};

    fn check(owner: KeyOwner, key: &AuthorityKey) -> Result<Standing, String> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kpl-daemon-{}-{n}", std::process::id()));
        let charter = test_charter(&["BW", "ZA"]);
        let ledger = Ledger::open(&dir, &charter, StoreOptions::default()).expect("store");
        let kf = KeyFile::from_keys(owner, key, &AuthorityKey::generate().expect("key"));
        let identity = Identity::from_key_file(kf.clone(), dir.join("k")).expect("identity");
        let r = check_identity(&ledger, &identity, &kf, crate::service::today());
        drop(ledger);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn a_member_with_its_key_is_known() {
        let bw = AuthorId::new("BW", "mme").unwrap();
        let r = check(KeyOwner::Authority(bw.clone()), &test_key(&bw));
        assert_eq!(r, Ok(Standing::Known));
    }

    #[test]
    fn a_member_with_another_key_is_refused() {
        let bw = AuthorId::new("BW", "mme").unwrap();
        let other = AuthorityKey::generate().unwrap();
        let e = check(KeyOwner::Authority(bw), &other).unwrap_err();
        assert!(e.contains("is not the key of BW/mme"), "{e}");
        assert!(e.contains("wrong key file"), "{e}");
    }

    #[test]
    fn an_authority_or_observer_nothing_here_knows_is_a_candidate() {
        let na = AuthorId::new("NA", "mme").unwrap();
        let r = check(KeyOwner::Authority(na.clone()), &test_key(&na));
        assert_eq!(r, Ok(Standing::Candidate));
        // A new authority of a charter participant, added by a decision
        // this store does not hold yet.
        let bw = AuthorId::new("BW", "customs").unwrap();
        let r = check(KeyOwner::Authority(bw.clone()), &test_key(&bw));
        assert_eq!(r, Ok(Standing::Candidate));
        let wdc = ObserverId::new("wdc").unwrap();
        let r = check(KeyOwner::Observer(wdc), &AuthorityKey::generate().unwrap());
        assert_eq!(r, Ok(Standing::Candidate));
    }
}
