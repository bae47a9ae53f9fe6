//! Shared helpers for the workspace-level and multi-process tests: a local
//! network of real `kpl-node` processes on loopback ([`TestNet`]), bounded
//! waits, HTTP JSON helpers, certificate builders, and an in-process
//! misbehaving member ([`Ghost`]) that speaks the network protocol with a
//! member's libp2p key and publishes whatever bytes a test crafts.
//!
//! Every wait is bounded in iterations and in time; every process started
//! is killed when its [`TestNet`] is dropped, also when a test fails (and
//! then the tail of each node's log is printed to help the diagnosis).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod netns;
pub mod webdriver;

use kpl_node::cluster::{self, Cluster, ClusterNode, Launcher, MemberSpec, Running};
use kpl_node::net::{
    FeedHeadWire, Keypair, MessageId, Multiaddr, NetConfig, NetError, NetEvent, Network,
    NetworkHandle, PeerId, SyncSource, Validation,
};
use ledger_core::codec::FORMAT_VERSION;
use ledger_core::keys::KeyFile;
use ledger_core::testkit;
use ledger_core::{
    AuthorId, AuthorityKey, Certificate, Charter, CountryCode, Date, Digest, EventBody,
    EventContent, EventId, SignedEvent,
};
use serde_json::Value;

pub use kpl_node::cluster::MemberSpec as Member;

/// How long a node may take to start and answer its API.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------ members

/// A participant member with authority `mme`.
pub fn participant(code: &str) -> MemberSpec {
    MemberSpec::participant(
        code,
        &format!("Participant {code}"),
        "mme",
        &format!("Diamond authority of {code}"),
    )
}

/// An observer member.
pub fn observer(id: &str) -> MemberSpec {
    MemberSpec::observer(id, &format!("Observer {id}"))
}

/// Participants `codes` then observers `observers`.
pub fn members(codes: &[&str], observers: &[&str]) -> Vec<MemberSpec> {
    codes
        .iter()
        .map(|c| participant(c))
        .chain(observers.iter().map(|o| observer(o)))
        .collect()
}

// ------------------------------------------------------------ waits

/// Polls `f` every `every` until it returns `Some`, for at most `within`
/// (and at most 100,000 polls). `what` names the condition in the error.
pub fn wait_until<T>(
    within: Duration,
    every: Duration,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + within;
    for _ in 0..100_000 {
        if let Some(t) = f() {
            return Ok(t);
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(every);
    }
    Err(format!("timed out after {within:?} waiting for {what}"))
}

// ------------------------------------------------------------ HTTP JSON

/// One HTTP exchange with a JSON body; the answer parsed as JSON (a body
/// that is not JSON comes back as a JSON string).
pub fn http_json(
    method: &str,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let text = body.map(|b| b.to_string());
    let (status, body) = cluster::http(method, base, path, token, text.as_deref())?;
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Ok((status, v))
}

/// GET expecting 2xx.
pub fn get_json(base: &str, path: &str) -> Result<Value, String> {
    match http_json("GET", base, path, None, None)? {
        (s, v) if (200..300).contains(&s) => Ok(v),
        (s, v) => Err(format!("GET {path}: {s} {v}")),
    }
}

/// A feed head as reported by `GET /v1/feeds`: (seq, id).
pub type Heads = BTreeMap<String, (u64, Option<String>)>;

/// Parses the `feeds` array of `GET /v1/feeds` (or `/v1/status`), as the
/// API's `FeedHead`s; panics on an answer of another shape.
pub fn parse_heads(v: &Value) -> Heads {
    let feeds: Vec<kpl_api::types::FeedHead> =
        serde_json::from_value(v["feeds"].clone()).expect("`feeds` is a list of feed heads");
    heads_of(feeds)
}

/// The feed heads, keyed by author.
pub fn heads_of(feeds: Vec<kpl_api::types::FeedHead>) -> Heads {
    feeds
        .into_iter()
        .map(|f| (f.author, (f.seq, f.id)))
        .collect()
}

/// Total events in `heads`.
pub fn total(heads: &Heads) -> u64 {
    heads.values().map(|(s, _)| s).sum()
}

/// The value of a Prometheus sample (`name` with its labels, e.g.
/// `kpl_verification_failures_total{reason="bad_signature"}`), 0 if absent.
pub fn metric_value(text: &str, sample: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(sample)?;
            let rest = rest.strip_prefix(' ')?;
            rest.trim().parse::<f64>().ok()
        })
        .map(|f| f as u64)
        .unwrap_or(0)
}

// ------------------------------------------------------------ certificates

/// A plausible certificate number `n` from `issuer` to `destination`.
pub fn certificate(issuer: &str, destination: &str, n: u64) -> Certificate {
    testkit::sample_certificate(
        CountryCode::new(issuer).expect("issuer code"),
        CountryCode::new(destination).expect("destination code"),
        n,
    )
}

/// The JSON body of `POST /v1/certificates`.
pub fn certificate_json(c: &Certificate) -> Value {
    serde_json::to_value(c).expect("a certificate serialises")
}

/// The JSON body of `POST /v1/confirmations` confirming `c` as issued.
pub fn confirmation_json(c: &Certificate) -> Value {
    serde_json::to_value(testkit::matching_confirmation(c)).expect("a confirmation serialises")
}

/// Signs an event of `author` with `key` at `seq` after `prev`, for `network`.
pub fn sign_event(
    key: &AuthorityKey,
    network: Digest,
    author: &AuthorId,
    seq: u64,
    prev: Option<EventId>,
    body: EventBody,
) -> SignedEvent {
    sign_event_at(key, network, author, seq, prev, body, now_ms())
}

/// [`sign_event`] dated `timestamp_ms`.
pub fn sign_event_at(
    key: &AuthorityKey,
    network: Digest,
    author: &AuthorId,
    seq: u64,
    prev: Option<EventId>,
    body: EventBody,
    timestamp_ms: u64,
) -> SignedEvent {
    key.sign(EventContent {
        version: FORMAT_VERSION,
        network,
        author: author.clone(),
        seq,
        prev,
        timestamp_ms,
        body,
    })
}

/// Decodes lowercase or uppercase hex.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd hex length {}", s.len()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| format!("bad hex at {i}"))
        })
        .collect()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ------------------------------------------------------------ the network

/// A local network of real node processes in its own temporary directory.
/// Dropping it kills every process it started.
pub struct TestNet {
    pub cluster: Cluster,
    pub launcher: Launcher,
    procs: BTreeMap<String, Running>,
    /// Running nodes whose `/v1/health` said `ok` since their start: a
    /// participant node refuses writes until a member has confirmed its own
    /// feed's head, so [`TestNet::write`] waits for it once per start.
    healthy: Mutex<std::collections::BTreeSet<String>>,
    dir: tempfile::TempDir,
}

impl TestNet {
    /// Creates keys, node directories and the charter of `members` (nothing
    /// is started). `exe` is the `kpl-node` binary.
    pub fn create(exe: impl Into<PathBuf>, network: &str, members: &[MemberSpec]) -> TestNet {
        let dir = tempfile::Builder::new()
            .prefix("kpl-cluster-")
            .tempdir()
            .expect("temp dir");
        let cluster =
            Cluster::create(&dir.path().join("net"), network, members).expect("cluster created");
        TestNet {
            cluster,
            launcher: Launcher {
                exe: exe.into(),
                prefix: Vec::new(),
            },
            procs: BTreeMap::new(),
            healthy: Mutex::default(),
            dir,
        }
    }

    /// Makes the nodes started from now on keep their clock by a test
    /// clock shared by this network (see [`kpl_node::service::TEST_CLOCK_ENV`]),
    /// at the system clock until [`TestNet::advance_clock_days`].
    pub fn use_test_clock(&mut self) {
        let file = self.clock_file();
        std::fs::write(&file, "0\n").expect("clock file");
        let exe = self.launcher.exe.clone();
        self.launcher = Launcher {
            exe: "/usr/bin/env".into(),
            prefix: vec![
                format!("{}={}", kpl_node::service::TEST_CLOCK_ENV, file.display()),
                exe.display().to_string(),
            ],
        };
    }

    fn clock_file(&self) -> PathBuf {
        self.dir.path().join("clock.offset")
    }

    /// Moves the test clock of every node on by `days` (nodes see it within
    /// a second).
    pub fn advance_clock_days(&self, days: i64) {
        let s = self.clock_offset_secs() + days * 86_400;
        std::fs::write(self.clock_file(), format!("{s}\n")).expect("clock file");
    }

    fn clock_offset_secs(&self) -> i64 {
        std::fs::read_to_string(self.clock_file())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Now by the nodes' test clock (ms since the epoch).
    pub fn clock_ms(&self) -> u64 {
        now_ms().saturating_add_signed(self.clock_offset_secs() * 1000)
    }

    /// Today by the nodes' test clock.
    pub fn clock_today(&self) -> Date {
        Date::from_unix_ms(self.clock_ms())
    }

    /// The temporary directory holding the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn node(&self, label: &str) -> &ClusterNode {
        self.cluster
            .node(label)
            .unwrap_or_else(|| panic!("no node {label}"))
    }

    pub fn charter(&self) -> Charter {
        self.cluster.charter().expect("charter loads")
    }

    pub fn network_id(&self) -> Digest {
        self.charter().network_id()
    }

    /// The author id of a participant node.
    pub fn author(&self, label: &str) -> AuthorId {
        self.node(label)
            .author
            .as_deref()
            .unwrap_or_else(|| panic!("{label} is not a participant"))
            .parse()
            .expect("author id")
    }

    /// The key file of a member (authority or observer key).
    pub fn key_file(&self, label: &str) -> KeyFile {
        KeyFile::load(&self.node(label).key_file).expect("key file")
    }

    /// The libp2p identity of a member's node.
    pub fn p2p_key(&self, label: &str) -> Keypair {
        kpl_node::config::load_p2p_key(&self.node(label).data_dir).expect("p2p key")
    }

    pub fn peer_id(&self, label: &str) -> String {
        self.node(label).peer_id.clone()
    }

    /// The API token of a node.
    pub fn token(&self, label: &str) -> String {
        kpl_node::config::load_token(&self.node(label).data_dir).expect("api token")
    }

    /// Starts a node process (bootstrapping to every running node); panics
    /// with its log when it does not come up.
    ///
    /// Its API answers, but a participant node writes only once a member
    /// has confirmed its own feed's head: [`TestNet::write`] waits for that,
    /// [`TestNet::post`] does not (to see the 503 it answers until then).
    pub fn start(&mut self, label: &str) {
        self.start_with(label, &[]);
    }

    /// [`TestNet::start`] with extra arguments to `kpl-node run` (e.g.
    /// `--trust-local-head`).
    pub fn start_with(&mut self, label: &str, extra: &[&str]) {
        assert!(!self.procs.contains_key(label), "{label} already runs");
        self.healthy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(label);
        match self
            .cluster
            .start_with(label, &self.launcher, START_TIMEOUT, extra)
        {
            Ok(r) => {
                assert!(
                    r.api.starts_with("http://127."),
                    "API off loopback: {}",
                    r.api
                );
                self.procs.insert(label.to_owned(), r);
            }
            Err(e) => panic!("{e}\n{}", self.log_tail(label, 40)),
        }
    }

    /// Starts `labels` one after the other, then waits until each is
    /// connected to every other running node and healthy (its own feed's
    /// head confirmed by a member: ready to write).
    pub fn start_all(&mut self, labels: &[&str], within: Duration) {
        for l in labels {
            self.start(l);
        }
        let running: Vec<String> = self.procs.keys().cloned().collect();
        let running: Vec<&str> = running.iter().map(String::as_str).collect();
        self.wait_connected(&running, within);
        for l in labels {
            self.wait_healthy(l, within);
        }
    }

    /// Waits (bounded) until a node's `/v1/health` says `ok`; panics with
    /// the reasons it gave and its log otherwise. Remembered until the
    /// node's next start.
    pub fn wait_healthy(&self, label: &str, within: Duration) {
        if self
            .healthy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(label)
        {
            return;
        }
        if let Err(e) = cluster::wait_healthy(&self.api(label), within) {
            panic!("{label}: {e}\n{}", self.log_tail(label, 30));
        }
        self.healthy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(label.to_owned());
    }

    /// Labels of the nodes running now.
    pub fn running(&self) -> Vec<String> {
        self.procs.keys().cloned().collect()
    }

    pub fn pid(&self, label: &str) -> u32 {
        self.procs[label].child.id()
    }

    /// Copies a directory tree (files and directories only), e.g. a
    /// stopped node's data directory as a backup.
    pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let ty = entry.file_type()?;
            let dest = to.join(entry.file_name());
            if ty.is_dir() {
                Self::copy_dir(&entry.path(), &dest)?;
            } else if ty.is_file() {
                std::fs::copy(entry.path(), &dest)?;
            }
        }
        Ok(())
    }

    /// SIGKILLs a node and reaps it.
    pub fn kill(&mut self, label: &str) {
        if let Some(mut r) = self.procs.remove(label) {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }

    /// SIGTERMs a node and waits (bounded) for a clean exit; kills it if it
    /// does not stop in time. Returns whether it exited cleanly (status 0).
    pub fn stop(&mut self, label: &str) -> bool {
        let Some(mut r) = self.procs.remove(label) else {
            return false;
        };
        cluster::signal(r.child.id(), false);
        let status = wait_until(
            Duration::from_secs(15),
            Duration::from_millis(50),
            "a clean exit",
            || r.child.try_wait().ok().flatten(),
        );
        match status {
            Ok(s) => s.success(),
            Err(_) => {
                let _ = r.child.kill();
                let _ = r.child.wait();
                false
            }
        }
    }

    /// The API base URL of a running node.
    pub fn api(&self, label: &str) -> String {
        self.procs
            .get(label)
            .unwrap_or_else(|| panic!("{label} is not running"))
            .api
            .clone()
    }

    /// The libp2p addresses (with `/p2p/`) a running node listens on.
    pub fn p2p_addrs(&self, label: &str) -> Vec<Multiaddr> {
        let text = std::fs::read_to_string(self.node(label).data_dir.join("p2p.addrs"))
            .expect("p2p.addrs");
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.parse().expect("multiaddr"))
            .collect()
    }

    /// The API's typed client for a running node, with its token.
    pub fn client(&self, label: &str) -> kpl_api::client::Client {
        kpl_api::client::Client::new(
            &self.api(label),
            kpl_node::config::load_token(&self.node(label).data_dir).ok(),
            Duration::from_secs(60),
        )
    }

    /// GET expecting 2xx; panics otherwise.
    pub fn get(&self, label: &str, path: &str) -> Value {
        get_json(&self.api(label), path).unwrap_or_else(|e| panic!("{label}: {e}"))
    }

    /// GET returning the status and the JSON body.
    pub fn get_status(&self, label: &str, path: &str) -> (u16, Value) {
        http_json("GET", &self.api(label), path, None, None)
            .unwrap_or_else(|e| panic!("{label}: {e}"))
    }

    /// POST with an optional bearer token; returns the status and JSON body.
    pub fn post(&self, label: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        http_json("POST", &self.api(label), path, token, Some(body))
            .unwrap_or_else(|e| panic!("{label}: {e}"))
    }

    /// POST with the node's own token, expecting 200; returns the body.
    /// Waits first, once per start of the node, until it is healthy (ready
    /// to write).
    pub fn write(&self, label: &str, path: &str, body: &Value) -> Value {
        self.wait_healthy(label, START_TIMEOUT);
        let token = self.token(label);
        match self.post(label, path, Some(&token), body) {
            (200, v) => v,
            (s, v) => panic!("{label} POST {path}: {s} {v}"),
        }
    }

    /// Issues certificate `n` from `label` to participant `destination`.
    pub fn issue(&self, label: &str, destination: &str, n: u64) -> Certificate {
        let code = self.author(label).participant.to_string();
        let c = certificate(&code, destination, n);
        // The fixture's dates are fixed (early 2026), whatever the
        // membership was then: signed past the node's check before signing.
        self.write(
            label,
            &format!("{}?force=true", kpl_api::paths::CERTIFICATES),
            &certificate_json(&c),
        );
        c
    }

    /// Confirms the import of `c` on `label` (the importer's node), whether
    /// or not the issue has reached that node yet (signed past the node's
    /// check before signing, which refuses a confirmation of a certificate
    /// it does not hold).
    pub fn confirm(&self, label: &str, c: &Certificate) -> Value {
        self.write(
            label,
            &format!("{}?force=true", kpl_api::paths::CONFIRMATIONS),
            &confirmation_json(c),
        )
    }

    /// The feed heads a node holds.
    pub fn heads(&self, label: &str) -> Heads {
        let feeds = self
            .client(label)
            .feeds()
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        heads_of(feeds.feeds)
    }

    /// The status document of a node.
    pub fn status(&self, label: &str) -> Value {
        self.get(label, kpl_api::paths::STATUS)
    }

    /// Peer ids a node lists as connected in `/v1/status`.
    pub fn peers(&self, label: &str) -> Vec<String> {
        let status = self
            .client(label)
            .status()
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        status.peers.into_iter().map(|p| p.peer_id).collect()
    }

    /// One sample of a node's `/metrics`.
    pub fn metric(&self, label: &str, sample: &str) -> u64 {
        let (status, body) =
            cluster::http("GET", &self.api(label), kpl_api::paths::METRICS, None, None)
                .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(status, 200, "{label} /metrics");
        metric_value(&body, sample)
    }

    /// `kpl_verification_failures_total{reason="..."}` of a node.
    pub fn failures(&self, label: &str, reason: &str) -> u64 {
        self.metric(
            label,
            &format!("kpl_verification_failures_total{{reason=\"{reason}\"}}"),
        )
    }

    /// Asserts `GET /v1/verify` is ok on a node; returns its report.
    pub fn assert_verified(&self, label: &str) -> Value {
        let v = self.get(label, kpl_api::paths::VERIFY);
        assert_eq!(v["ok"], Value::Bool(true), "{label} /v1/verify: {v}");
        v
    }

    /// Waits until every node of `labels` lists every other as a connected peer.
    pub fn wait_connected(&self, labels: &[&str], within: Duration) {
        let want: Vec<(String, String)> = labels
            .iter()
            .map(|l| (l.to_string(), self.peer_id(l)))
            .collect();
        let r = wait_until(
            within,
            Duration::from_millis(100),
            "every pair of nodes connected",
            || {
                labels
                    .iter()
                    .all(|l| {
                        let peers = self.peers(l);
                        want.iter()
                            .filter(|(o, _)| o != l)
                            .all(|(_, p)| peers.contains(p))
                    })
                    .then_some(())
            },
        );
        if let Err(e) = r {
            let seen: Vec<String> = labels
                .iter()
                .map(|l| format!("{l}: {:?}", self.peers(l)))
                .collect();
            panic!("{e}; peers: {seen:?}; ids: {want:?}");
        }
    }

    /// Waits until every node of `labels` holds the same heads with at
    /// least `min_events` events in all; returns them.
    pub fn wait_heads_equal(&self, labels: &[&str], min_events: u64, within: Duration) -> Heads {
        let mut last = Vec::new();
        let r = wait_until(within, Duration::from_millis(100), "equal heads", || {
            last = labels.iter().map(|l| self.heads(l)).collect::<Vec<_>>();
            let first = &last[0];
            (total(first) >= min_events && last.iter().all(|h| h == first)).then(|| first.clone())
        });
        r.unwrap_or_else(|e| {
            let per: Vec<String> = labels
                .iter()
                .zip(&last)
                .map(|(l, h)| format!("{l}: {h:?}"))
                .collect();
            panic!("{e} (at least {min_events} events):\n{}", per.join("\n"))
        })
    }

    /// Waits until every node of `labels` holds exactly `target`.
    pub fn wait_heads(&self, labels: &[&str], target: &Heads, within: Duration) {
        self.wait_heads_equal(labels, total(target), within);
        for l in labels {
            assert_eq!(&self.heads(l), target, "{l} holds other heads");
        }
    }

    /// POST with the node's own token, expecting 201 (governance writes);
    /// returns the body.
    pub fn write_created(&self, label: &str, path: &str, body: &Value) -> Value {
        self.wait_healthy(label, START_TIMEOUT);
        let token = self.token(label);
        match self.post(label, path, Some(&token), body) {
            (201, v) => v,
            (s, v) => panic!("{label} POST {path}: {s} {v}"),
        }
    }

    /// The last lines of a node's log.
    pub fn log_tail(&self, label: &str, lines: usize) -> String {
        let text =
            std::fs::read_to_string(self.node(label).data_dir.join("node.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        format!("--- {label} node.log ---\n{}", all[from..].join("\n"))
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let labels: Vec<String> = self.procs.keys().cloned().collect();
        for l in &labels {
            self.kill(l);
        }
        if std::thread::panicking() {
            for n in &self.cluster.nodes {
                if n.data_dir.join("node.log").exists() {
                    eprintln!("{}", self.log_tail(&n.label, 30));
                }
            }
        }
    }
}

// ------------------------------------------------------------ memory

/// Peak resident memory of a process so far (VmHWM), in KiB; 0 when it
/// cannot be read.
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The peak RSS of some nodes of a [`TestNet`] at one moment, to compare
/// with later (VmHWM only grows, so the difference is what happened since).
pub struct PeakRss {
    labels: Vec<String>,
    before: Vec<u64>,
}

impl PeakRss {
    /// Reads the peak RSS of every node of `labels` now.
    pub fn now(net: &TestNet, labels: &[&str]) -> PeakRss {
        PeakRss {
            labels: labels.iter().map(|l| l.to_string()).collect(),
            before: labels.iter().map(|l| peak_rss_kib(net.pid(l))).collect(),
        }
    }

    /// Prints each node's peak RSS before and now under `attack`, and
    /// panics if one grew by `bound_kib` or more (or cannot be read).
    pub fn check(&self, net: &TestNet, attack: &str, bound_kib: u64) {
        for (l, before) in self.labels.iter().zip(&self.before) {
            let after = peak_rss_kib(net.pid(l));
            let grew = after.saturating_sub(*before);
            eprintln!(
                "rss: {attack}: {l}: peak {before} KiB before, {after} KiB after (+{grew} KiB)"
            );
            assert!(*before > 0 && after > 0, "{l}: VmHWM unreadable");
            assert!(
                grew < bound_kib,
                "{attack}: {l}: peak RSS grew by {grew} KiB (bound {bound_kib} KiB)"
            );
        }
    }
}

// ------------------------------------------------------------ a misbehaving member

/// Serves a fixed list of events (of any feeds) to anti-entropy.
#[derive(Default)]
pub struct FixedSource {
    feeds: Mutex<BTreeMap<AuthorId, Vec<SignedEvent>>>,
}

impl FixedSource {
    /// Serves `events` (each feed's events in order, from seq 1).
    pub fn new(events: &[SignedEvent]) -> Arc<FixedSource> {
        let mut feeds: BTreeMap<AuthorId, Vec<SignedEvent>> = BTreeMap::new();
        for e in events {
            feeds.entry(e.author().clone()).or_default().push(e.clone());
        }
        Arc::new(FixedSource {
            feeds: Mutex::new(feeds),
        })
    }
}

impl SyncSource for FixedSource {
    fn heads(&self) -> Vec<FeedHeadWire> {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds
            .iter()
            .filter_map(|(a, f)| {
                let last = f.last()?;
                Some(FeedHeadWire {
                    author: a.clone(),
                    seq: last.seq(),
                    id: last.id(),
                })
            })
            .collect()
    }

    fn range(&self, author: &AuthorId, from_seq: u64, max: usize) -> Vec<Vec<u8>> {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds
            .get(author)
            .map(|f| {
                f.iter()
                    .filter(|e| e.seq() >= from_seq)
                    .take(max)
                    .map(SignedEvent::encode)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A network-layer instance in the test process (its own tokio runtime)
/// that speaks the node protocol with any libp2p key — a member's (to play
/// a misbehaving member whose process is not started) or a fresh one (an
/// outsider). It accepts nothing it receives and publishes what it is told.
pub struct Ghost {
    rt: Option<tokio::runtime::Runtime>,
    pub handle: NetworkHandle,
    pub peer: PeerId,
}

impl Ghost {
    /// Starts listening on loopback and dials `dial`; serves `serve` to
    /// anti-entropy.
    pub fn spawn(
        keypair: Keypair,
        charter: &Charter,
        dial: Vec<Multiaddr>,
        serve: &[SignedEvent],
    ) -> Ghost {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let peer = keypair.public().to_peer_id();
        let config = NetConfig {
            bootstrap: dial,
            sync_interval: Duration::from_secs(2),
            ..NetConfig::default()
        };
        let source = FixedSource::new(serve);
        let (handle, mut rx) = rt
            .block_on(Network::spawn(config, keypair, charter, source))
            .expect("network layer starts");
        let h = handle.clone();
        rt.spawn(async move {
            // Drain (bounded queue): accept nothing, apply nothing.
            while let Some(ev) = rx.recv().await {
                match ev {
                    NetEvent::GossipEvent { from, msg_id, .. }
                    | NetEvent::ForkProof { from, msg_id, .. } => {
                        let _ = h.report_validation(msg_id, from, Validation::Ignore).await;
                    }
                    NetEvent::FetchedEvents {
                        author, from_seq, ..
                    } => {
                        let _ = h.fetch_applied(author, from_seq, false).await;
                    }
                    _ => {}
                }
            }
        });
        Ghost {
            rt: Some(rt),
            handle,
            peer,
        }
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("runtime")
    }

    /// Peers connected now.
    pub fn connected(&self) -> Vec<PeerId> {
        self.rt()
            .block_on(self.handle.status())
            .map(|s| s.connected)
            .unwrap_or_default()
    }

    /// Waits until connected to every peer of `peers` (base58 ids).
    pub fn wait_connected(&self, peers: &[String], within: Duration) -> Result<(), String> {
        wait_until(
            within,
            Duration::from_millis(50),
            "the ghost connected",
            || {
                let c: Vec<String> = self.connected().iter().map(|p| p.to_string()).collect();
                peers.iter().all(|p| c.contains(p)).then_some(())
            },
        )
    }

    /// Publishes on the events topic, retrying while no peer has
    /// subscribed yet (bounded by `within`).
    pub fn publish(&self, bytes: Vec<u8>, within: Duration) -> Result<MessageId, String> {
        self.publish_on(false, bytes, within)
    }

    /// Publishes on the fork-proof topic, like [`Ghost::publish`].
    pub fn publish_fork_proof(
        &self,
        bytes: Vec<u8>,
        within: Duration,
    ) -> Result<MessageId, String> {
        self.publish_on(true, bytes, within)
    }

    fn publish_on(
        &self,
        forks: bool,
        bytes: Vec<u8>,
        within: Duration,
    ) -> Result<MessageId, String> {
        wait_until(
            within,
            Duration::from_millis(100),
            "a subscribed peer",
            || {
                let r = self.rt().block_on(async {
                    if forks {
                        self.handle.publish_fork_proof(bytes.clone()).await
                    } else {
                        self.handle.publish(bytes.clone()).await
                    }
                });
                match r {
                    Ok(id) => Some(Ok(id)),
                    Err(NetError::NoPeers) => None,
                    Err(e) => Some(Err(e.to_string())),
                }
            },
        )?
    }

    /// Dials an address.
    pub fn dial(&self, addr: Multiaddr) -> Result<(), String> {
        self.rt()
            .block_on(self.handle.dial(addr))
            .map_err(|e| e.to_string())
    }
}

impl Drop for Ghost {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            let h = self.handle.clone();
            let _ = rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), h.shutdown()).await
            });
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
