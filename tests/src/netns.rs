//! A network of real `kpl-node` processes, each in its own Linux network
//! namespace, joined by veth pairs to a bridge that lives in a namespace of
//! its own (nothing touches the host's network), with iptables rules inside
//! each node's namespace to cut, flap or thin its links ([`Lab`]).
//!
//! Node `i` listens for libp2p on `10.200.0.(i+1):4001` and serves its API
//! on the loopback of its namespace (`127.0.0.1:8080`), which no rule
//! touches: the test process reaches it from a thread that entered the
//! namespace (`setns`), so a partition never cuts the test off a node.
//!
//! Needs root, `ip` and `iptables`. [`Lab::create`] returns `None` (after
//! saying why) when one is missing, unless `KPL_REQUIRE_ROOT_TESTS=1`, where
//! it panics. Dropping the lab kills every process it started and deletes
//! every namespace it made, also when the test panics.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kpl_api::endpoints::Method;
use kpl_api::http1;
use kpl_node::cluster::{Cluster, MemberSpec};
use serde_json::Value;

use crate::{certificate, certificate_json, parse_heads, total, wait_until, Heads};

/// The libp2p port of every node (in its own namespace).
pub const P2P_PORT: u16 = 4001;
/// The port of every node's delaying proxy ([`Lab::delay_links`]).
pub const PROXY_PORT: u16 = 5001;
/// The API port of every node (on its namespace's loopback).
pub const API_PORT: u16 = 8080;
/// Environment variable that makes a missing facility fail the test.
pub const REQUIRE_ENV: &str = "KPL_REQUIRE_ROOT_TESTS";

/// One lab at a time: six debug nodes each are enough for two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

type ConnectRequest = (SocketAddr, mpsc::Sender<std::io::Result<TcpStream>>);

/// Opens TCP connections from inside a network namespace: a thread that
/// entered it with `setns` and serves connect requests.
struct Connector {
    tx: mpsc::Sender<ConnectRequest>,
}

impl Connector {
    fn spawn(ns: &str) -> Result<Connector, String> {
        let f = File::open(format!("/run/netns/{ns}")).map_err(|e| format!("netns {ns}: {e}"))?;
        let (tx, rx) = mpsc::channel::<ConnectRequest>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let r = nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET);
            let ok = r.is_ok();
            let _ = ready_tx.send(r.map_err(|e| e.to_string()));
            if !ok {
                return;
            }
            // Ends when the lab drops its sender.
            while let Ok((addr, reply)) = rx.recv() {
                let _ = reply.send(TcpStream::connect_timeout(&addr, Duration::from_secs(2)));
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|e| format!("setns thread: {e}"))?
            .map_err(|e| format!("setns {ns}: {e}"))?;
        Ok(Connector { tx })
    }

    fn connect(&self, addr: SocketAddr) -> Result<TcpStream, String> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send((addr, tx))
            .map_err(|_| "connector gone".to_owned())?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|e| format!("connector: {e}"))?
            .map_err(|e| format!("connect {addr}: {e}"))
    }
}

/// One node of the lab.
pub struct LabNode {
    pub label: String,
    pub ns: String,
    pub ip: Ipv4Addr,
    pub peer_id: String,
    pub data_dir: PathBuf,
    /// The participant code (`None`: the observer).
    pub code: Option<String>,
    connector: Connector,
    child: Option<Child>,
}

/// The namespaces, processes and cluster directory of one test.
pub struct Lab {
    pub nodes: Vec<LabNode>,
    bridge_ns: String,
    namespaces: Vec<String>,
    exe: PathBuf,
    cluster: Cluster,
    /// Set by [`Lab::delay_links`]: nodes dial each other's delaying proxy.
    delayed: bool,
    proxies_stop: Arc<AtomicBool>,
    proxies: Vec<JoinHandle<()>>,
    _dir: tempfile::TempDir,
    _one: MutexGuard<'static, ()>,
}

/// Skips (returns `None`) or, under `KPL_REQUIRE_ROOT_TESTS=1`, fails.
fn missing<T>(what: &str) -> Option<T> {
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("{REQUIRE_ENV}=1 but {what}");
    }
    eprintln!("SKIPPED: network-namespace test: {what}");
    None
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn is_root() -> bool {
    run("id", &["-u"]).map(|s| s.trim() == "0").unwrap_or(false)
}

impl Lab {
    /// Creates the cluster of `members` (each node in its own namespace,
    /// none started), or `None` when this machine cannot (see the module).
    pub fn create(exe: impl Into<PathBuf>, network: &str, members: &[MemberSpec]) -> Option<Lab> {
        if !is_root() {
            return missing("not running as root");
        }
        for tool in ["ip", "iptables"] {
            if run("sh", &["-c", &format!("command -v {tool}")]).is_err() {
                return missing(&format!("`{tool}` is not installed"));
            }
        }
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let tag = format!(
            "kpl{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("kpl-netns-")
            .tempdir()
            .expect("temp dir");
        let cluster =
            Cluster::create(&dir.path().join("net"), network, members).expect("cluster created");
        let mut lab = Lab {
            nodes: Vec::new(),
            bridge_ns: format!("{tag}-br"),
            namespaces: Vec::new(),
            exe: exe.into(),
            cluster,
            delayed: false,
            proxies_stop: Arc::new(AtomicBool::new(false)),
            proxies: Vec::new(),
            _dir: dir,
            _one: one,
        };
        if let Err(e) = lab.build() {
            drop(lab);
            return missing(&format!("cannot build the namespaces: {e}"));
        }
        Some(lab)
    }

    fn add_ns(&mut self, ns: &str) -> Result<(), String> {
        run("ip", &["netns", "add", ns])?;
        self.namespaces.push(ns.to_owned());
        run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    fn build(&mut self) -> Result<(), String> {
        let br = self.bridge_ns.clone();
        self.add_ns(&br)?;
        run("ip", &["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        run("ip", &["-n", &br, "link", "set", "br0", "up"])?;
        let tag = br.trim_end_matches("-br").to_owned();
        for (i, n) in self.cluster.nodes.clone().iter().enumerate() {
            let ns = format!("{tag}-{i}");
            self.add_ns(&ns)?;
            let ip = Ipv4Addr::new(10, 200, 0, 1 + i as u8);
            let peer = format!("v{i}");
            run(
                "ip",
                &[
                    "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &peer,
                    "netns", &br,
                ],
            )?;
            run("ip", &["-n", &br, "link", "set", &peer, "master", "br0"])?;
            run("ip", &["-n", &br, "link", "set", &peer, "up"])?;
            run(
                "ip",
                &["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
            )?;
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
            // Fail here, not in the scenario, when iptables cannot work.
            self.iptables_in(&ns, &["-S"])?;
            // Listen on the namespace's own address, API on its loopback.
            let toml = n.data_dir.join("node.toml");
            let text = std::fs::read_to_string(&toml).map_err(|e| e.to_string())?;
            let text = text
                .replace(
                    "listen = [\"/ip4/127.0.0.1/tcp/0\"]",
                    &format!("listen = [\"/ip4/{ip}/tcp/{P2P_PORT}\"]"),
                )
                .replace(
                    "api = \"127.0.0.1:0\"",
                    &format!("api = \"127.0.0.1:{API_PORT}\""),
                );
            std::fs::write(&toml, text).map_err(|e| e.to_string())?;
            let connector = Connector::spawn(&ns)?;
            let code = match &n.member {
                MemberSpec::Participant { code, .. } => Some(code.clone()),
                MemberSpec::Observer { .. } => None,
            };
            self.nodes.push(LabNode {
                label: n.label.clone(),
                ns,
                ip,
                peer_id: n.peer_id.clone(),
                data_dir: n.data_dir.clone(),
                code,
                connector,
                child: None,
            });
        }
        Ok(())
    }

    fn iptables_in(&self, ns: &str, args: &[&str]) -> Result<String, String> {
        let mut a = vec!["netns", "exec", ns, "iptables", "-w"];
        a.extend_from_slice(args);
        run("ip", &a)
    }

    pub fn index(&self, label: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.label == label)
            .unwrap_or_else(|| panic!("no node {label}"))
    }

    pub fn labels(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.label.clone()).collect()
    }

    pub fn participants(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.code.is_some())
            .map(|n| n.label.clone())
            .collect()
    }

    /// Starts node `label` in its namespace, bootstrapping to every other
    /// node (running or not: it redials them every sync round); waits until
    /// its API answers.
    pub fn start(&mut self, label: &str) {
        let i = self.index(label);
        let boot: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.label != label)
            .map(|n| {
                let port = if self.delayed { PROXY_PORT } else { P2P_PORT };
                format!("/ip4/{}/tcp/{port}/p2p/{}", n.ip, n.peer_id)
            })
            .collect();
        let n = &self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(n.data_dir.join("node.log"))
            .expect("node.log");
        let log2 = log.try_clone().expect("node.log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &n.ns])
            .arg(&self.exe)
            .arg("run")
            .arg("--data-dir")
            .arg(&n.data_dir);
        for b in &boot {
            cmd.arg("--bootstrap").arg(b);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .env(
                "KPL_LOG",
                std::env::var("KPL_LOG").unwrap_or_else(|_| {
                    "info,libp2p_gossipsub=warn,libp2p_swarm=warn,libp2p_request_response=error"
                        .into()
                }),
            );
        let child = cmd.spawn().expect("ip netns exec kpl-node");
        self.nodes[i].child = Some(child);
        let r = wait_until(
            Duration::from_secs(30),
            Duration::from_millis(100),
            "the API",
            || {
                self.http("GET", label, kpl_api::paths::HEALTH, None, None)
                    .ok()
            },
        );
        if let Err(e) = r {
            panic!("{label}: {e}\n{}", self.log_tail(label, 30));
        }
    }

    /// Starts every node, then waits until each participant is healthy
    /// (connected and ready to write) and every node sees every other.
    pub fn start_all(&mut self, within: Duration) {
        for l in self.labels() {
            self.start(&l);
        }
        for l in self.participants() {
            let api = format!("http://127.0.0.1:{API_PORT}");
            let r = wait_until(within, Duration::from_millis(200), "healthy", || {
                let (_, v) = self
                    .http("GET", &l, kpl_api::paths::HEALTH, None, None)
                    .ok()?;
                (v["status"] == "ok").then_some(())
            });
            if let Err(e) = r {
                panic!("{l} at {api}: {e}\n{}", self.log_tail(&l, 30));
            }
        }
        let want = self.nodes.len() - 1;
        for l in self.labels() {
            let r = wait_until(within, Duration::from_millis(200), "every peer", || {
                (self.peers(&l) >= want).then_some(())
            });
            if let Err(e) = r {
                panic!("{l}: {e}\n{}", self.log_tail(&l, 30));
            }
        }
    }

    /// SIGKILLs a node.
    pub fn kill(&mut self, label: &str) {
        let i = self.index(label);
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// One HTTP exchange with a node's API, from inside its namespace.
    pub fn http(
        &self,
        method: &str,
        label: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let n = &self.nodes[self.index(label)];
        let addr = SocketAddr::from(([127, 0, 0, 1], API_PORT));
        let s = n.connector.connect(addr)?;
        let text = body.map(|b| b.to_string());
        let method = match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            other => return Err(format!("{other}: the API has GET and POST only")),
        };
        let r = http1::exchange(
            s,
            &addr.to_string(),
            method,
            path,
            token,
            text.as_deref(),
            Duration::from_secs(30),
            http1::Limits::default(),
        )
        .map_err(|e| format!("{addr}: {e}"))?;
        let body = r.text();
        let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
        Ok((r.status, v))
    }

    pub fn token(&self, label: &str) -> String {
        kpl_node::config::load_token(&self.nodes[self.index(label)].data_dir).expect("api token")
    }

    /// The feed heads a node holds.
    pub fn heads(&self, label: &str) -> Heads {
        match self.http("GET", label, kpl_api::paths::FEEDS, None, None) {
            Ok((200, v)) => parse_heads(&v),
            other => panic!("{label} GET /v1/feeds: {other:?}"),
        }
    }

    /// How many peers a node lists as connected.
    pub fn peers(&self, label: &str) -> usize {
        self.http("GET", label, kpl_api::paths::STATUS, None, None)
            .ok()
            .and_then(|(_, v)| v["peers"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    /// Issues certificate `n` from participant `label` to `destination`;
    /// returns the event id once acknowledged, `None` when the node refused
    /// or did not answer (the test counts only acknowledged events).
    pub fn issue(&self, label: &str, destination: &str, n: u64) -> Option<String> {
        let code = self.nodes[self.index(label)].code.clone()?;
        let c = certificate(&code, destination, n);
        let token = self.token(label);
        match self.http(
            "POST",
            label,
            kpl_api::paths::CERTIFICATES,
            Some(&token),
            Some(&certificate_json(&c)),
        ) {
            Ok((200, v)) => v["id"].as_str().map(str::to_owned),
            _ => None,
        }
    }

    /// Waits until every node holds the same heads with at least
    /// `min_events` events; returns them and how long it took.
    pub fn wait_converged(&self, min_events: u64, within: Duration) -> (Heads, Duration) {
        let t0 = Instant::now();
        let labels = self.labels();
        let mut last = Vec::new();
        let r = wait_until(within, Duration::from_millis(100), "equal heads", || {
            last = labels.iter().map(|l| self.heads(l)).collect::<Vec<_>>();
            let first = &last[0];
            (total(first) >= min_events && last.iter().all(|h| h == first)).then(|| first.clone())
        });
        match r {
            Ok(h) => (h, t0.elapsed()),
            Err(e) => {
                let per: Vec<String> = labels
                    .iter()
                    .zip(&last)
                    .map(|(l, h)| format!("{l}: {h:?}"))
                    .collect();
                panic!("{e} (at least {min_events} events):\n{}", per.join("\n"))
            }
        }
    }

    /// Asserts every node holds every event of `ids`.
    pub fn assert_all_hold(&self, ids: &[String]) {
        for l in self.labels() {
            for id in ids {
                let (s, v) = self
                    .http("GET", &l, &kpl_api::paths::event(id), None, None)
                    .unwrap_or_else(|e| panic!("{l}: {e}"));
                assert_eq!(s, 200, "{l} lost acknowledged event {id}: {v}");
            }
        }
    }

    // ------------------------------------------------ link rules

    /// Drops every packet between nodes `a` and `b`, both ways.
    pub fn cut(&self, a: &str, b: &str) {
        self.drop_between(a, b, None);
        self.drop_between(b, a, None);
    }

    /// Cuts every link between a node of `left` and one of `right`.
    pub fn partition(&self, left: &[&str], right: &[&str]) {
        for a in left {
            for b in right {
                self.cut(a, b);
            }
        }
    }

    /// Cuts `label` off every other node.
    pub fn isolate(&self, label: &str) {
        for o in self.labels() {
            if o != label {
                self.cut(label, &o);
            }
        }
    }

    /// Drops packets arriving at `at` from `from` with `probability` (all
    /// of them when `None`): one direction of the link only.
    pub fn drop_between(&self, at: &str, from: &str, probability: Option<f64>) {
        let ns = &self.nodes[self.index(at)].ns;
        let src = self.nodes[self.index(from)].ip.to_string();
        let mut args = vec!["-A".to_owned(), "INPUT".into(), "-s".into(), src];
        if let Some(p) = probability {
            args.extend(
                [
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &format!("{p}"),
                ]
                .map(str::to_owned),
            );
        }
        args.extend(["-j", "DROP"].map(str::to_owned));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.iptables_in(ns, &args).expect("iptables rule");
    }

    /// Drops packets arriving at every node from the bridge (its `eth0`)
    /// with `probability`: loss on every link, both directions (not on a
    /// namespace's loopback, where a delaying proxy talks to its node).
    pub fn lossy_everywhere(&self, probability: f64) {
        for n in &self.nodes {
            self.iptables_in(
                &n.ns,
                &[
                    "-A",
                    "INPUT",
                    "-i",
                    "eth0",
                    "-s",
                    "10.200.0.0/24",
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &format!("{probability}"),
                    "-j",
                    "DROP",
                ],
            )
            .expect("iptables rule");
        }
    }

    /// Removes every rule: every link is whole again.
    pub fn heal(&self) {
        for n in &self.nodes {
            self.iptables_in(&n.ns, &["-F"]).expect("iptables -F");
        }
        if self.delayed {
            self.only_through_proxies();
        }
    }

    /// Makes every link hold its bytes for `delay` each way: a proxy in each
    /// node's namespace listens on [`PROXY_PORT`] and forwards to the node
    /// after `delay`, both directions; nodes bootstrap to the proxies, and
    /// the node's own port is closed to the other namespaces (so addresses
    /// learnt from identify cannot bypass the delay). Call before starting
    /// the nodes.
    pub fn delay_links(&mut self, delay: Duration) {
        for n in &self.nodes {
            let listen = SocketAddr::from((n.ip, PROXY_PORT));
            let target = SocketAddr::from((n.ip, P2P_PORT));
            let h = spawn_proxy(&n.ns, listen, target, delay, self.proxies_stop.clone())
                .expect("delaying proxy");
            self.proxies.push(h);
        }
        self.delayed = true;
        self.only_through_proxies();
    }

    /// New connections to a node's own port from other namespaces are
    /// refused (`--syn` only: a node dials from its listening port, and the
    /// answers to its dials must come in).
    fn only_through_proxies(&self) {
        let port = P2P_PORT.to_string();
        for n in &self.nodes {
            self.iptables_in(
                &n.ns,
                &[
                    "-A", "INPUT", "-i", "eth0", "-p", "tcp", "--dport", &port, "--syn", "-j",
                    "DROP",
                ],
            )
            .expect("iptables rule");
        }
    }

    /// The last lines of a node's log.
    pub fn log_tail(&self, label: &str, lines: usize) -> String {
        let dir: &Path = &self.nodes[self.index(label)].data_dir;
        let text = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        format!("--- {label} node.log ---\n{}", all[from..].join("\n"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.proxies_stop.store(true, Ordering::Relaxed);
        for h in self.proxies.drain(..) {
            let _ = h.join();
        }
        if std::thread::panicking() {
            for n in &self.nodes {
                eprintln!("{}", self.log_tail(&n.label, 25));
            }
        }
        // The node namespaces first (their veths go with them), the bridge's last.
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = run("ip", &["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// A TCP proxy in namespace `ns`: accepts on `listen`, connects to
/// `target`, and passes each direction's bytes on `delay` after they
/// arrived (in order). Stops accepting when `stop` is set; each pump ends
/// at its connection's end or, after `stop`, within its read timeout.
fn spawn_proxy(
    ns: &str,
    listen: SocketAddr,
    target: SocketAddr,
    delay: Duration,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    let f = File::open(format!("/run/netns/{ns}")).map_err(|e| format!("netns {ns}: {e}"))?;
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let h = std::thread::spawn(move || {
        let listener = nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| e.to_string())
            .and_then(|()| std::net::TcpListener::bind(listen).map_err(|e| e.to_string()))
            .and_then(|l| {
                l.set_nonblocking(true)
                    .map(|()| l)
                    .map_err(|e| e.to_string())
            });
        let listener = match listener {
            Ok(l) => {
                let _ = ready_tx.send(Ok(()));
                l
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((a, _)) => {
                    // Threads started here are in this namespace too.
                    let Ok(b) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
                        continue;
                    };
                    let _ = a.set_nonblocking(false);
                    for (from, to) in [(&a, &b), (&b, &a)] {
                        if let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) {
                            pump(from, to, delay, stop.clone());
                        }
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|e| format!("proxy thread: {e}"))??;
    Ok(h)
}

/// Copies `from` to `to`, each chunk `delay` after it was read.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration, stop: Arc<AtomicBool>) {
    let (tx, rx) = mpsc::sync_channel::<(Instant, Vec<u8>)>(256);
    let _ = from.set_read_timeout(Some(Duration::from_millis(200)));
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        while !stop.load(Ordering::Relaxed) {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = from.shutdown(std::net::Shutdown::Read);
    });
    std::thread::spawn(move || {
        while let Ok((due, bytes)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
