//! A network of real node processes on one machine (loopback only): keys,
//! node directories and a charter made in one go, then processes started,
//! stopped, killed and restarted. Used by `kpl devnet` and by the
//! multi-process tests.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ledger_core::charter::{AuthorityEntry, ObserverEntry, ParticipantEntry};
use ledger_core::governance::Decision;
use ledger_core::keys::{KeyFile, KeyOwner};
use ledger_core::{AuthorId, AuthorityName, Charter, CountryCode, Date, ObserverId, Role, Roles};
use serde::{Deserialize, Serialize};

use crate::config::{self, NodeConfig};

/// One member of a local network.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberSpec {
    Participant {
        code: String,
        name: String,
        authority: String,
        title: String,
    },
    Observer {
        id: String,
        name: String,
    },
}

impl MemberSpec {
    pub fn participant(code: &str, name: &str, authority: &str, title: &str) -> MemberSpec {
        MemberSpec::Participant {
            code: code.into(),
            name: name.into(),
            authority: authority.into(),
            title: title.into(),
        }
    }

    pub fn observer(id: &str, name: &str) -> MemberSpec {
        MemberSpec::Observer {
            id: id.into(),
            name: name.into(),
        }
    }

    /// Directory and display name: the participant code or observer id.
    pub fn label(&self) -> String {
        match self {
            MemberSpec::Participant { code, .. } => code.clone(),
            MemberSpec::Observer { id, .. } => id.clone(),
        }
    }
}

/// A node of the cluster, as created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterNode {
    pub label: String,
    pub member: MemberSpec,
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    pub peer_id: String,
    /// The author id (`BW/mme`) of a participant node.
    pub author: Option<String>,
}

/// A local network: its directory, charter and nodes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cluster {
    pub dir: PathBuf,
    pub charter_file: PathBuf,
    pub nodes: Vec<ClusterNode>,
}

/// How to start a node process: `exe [prefix...] run --data-dir ...`.
#[derive(Clone, Debug)]
pub struct Launcher {
    pub exe: PathBuf,
    pub prefix: Vec<String>,
}

/// A running node process.
pub struct Running {
    pub label: String,
    pub child: Child,
    pub api: String,
}

const MANIFEST: &str = "cluster.json";

impl Cluster {
    /// Creates keys, node directories and the charter under `dir` (which
    /// must not hold a cluster yet). The first participant chairs.
    pub fn create(dir: &Path, network: &str, members: &[MemberSpec]) -> Result<Cluster, String> {
        if dir.join(MANIFEST).exists() {
            return Err(format!("{} already holds a network", dir.display()));
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let charter_file = dir.join("charter.json");
        let chair = members
            .iter()
            .find_map(|m| match m {
                MemberSpec::Participant { code, .. } => Some(code.clone()),
                _ => None,
            })
            .ok_or("a network needs at least one participant")?;
        let mut charter = Charter::new(
            network,
            Date::from_ymd(2026, 1, 1)?,
            CountryCode::new(&chair)?,
        );
        let mut nodes = Vec::new();
        for m in members {
            let (node, member) = make_member(&dir, &charter_file, m)?;
            match member {
                Member::Participant(p) => charter.add_participant(p)?,
                Member::Observer(o) => charter.add_observer(o)?,
            }
            nodes.push(node);
        }
        charter.validate()?;
        std::fs::write(&charter_file, charter.to_json() + "\n")
            .map_err(|e| format!("{}: {e}", charter_file.display()))?;
        let c = Cluster {
            dir: dir.clone(),
            charter_file,
            nodes,
        };
        let manifest = serde_json::to_string_pretty(&c).map_err(|e| e.to_string())?;
        std::fs::write(dir.join(MANIFEST), manifest).map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// Loads a cluster made by [`Cluster::create`].
    pub fn load(dir: &Path) -> Result<Cluster, String> {
        let p = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// Creates the keys and node directory of a member that is *not* in the
    /// charter (a candidate for admission by a governance decision) and adds
    /// it to the cluster's nodes, so it can be started like the others once
    /// its store holds the decision. Returns the decision that admits it,
    /// with its authority (all roles, governance included) and its node.
    pub fn add_candidate(&mut self, m: &MemberSpec) -> Result<Decision, String> {
        let label = m.label();
        if self.node(&label).is_some() || self.dir.join(&label).exists() {
            return Err(format!("{label} is already a node of this cluster"));
        }
        let (node, member) = make_member(&self.dir, &self.charter_file, m)?;
        let decision = match member {
            Member::Participant(p) => Decision::AdmitParticipant(p),
            Member::Observer(o) => Decision::AdmitObserver(o),
        };
        self.nodes.push(node);
        let manifest = serde_json::to_string_pretty(&self).map_err(|e| e.to_string())?;
        std::fs::write(self.dir.join(MANIFEST), manifest).map_err(|e| e.to_string())?;
        Ok(decision)
    }

    pub fn charter(&self) -> Result<Charter, String> {
        Charter::load(&self.charter_file)
    }

    pub fn node(&self, label: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.label == label)
    }

    /// The libp2p addresses of the nodes running now (from their
    /// `p2p.addrs` files), except `except`.
    pub fn live_addrs(&self, except: &str) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.nodes {
            if n.label == except || !n.data_dir.join("api.addr").exists() {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(n.data_dir.join("p2p.addrs")) {
                out.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
            }
        }
        out
    }

    /// Starts one node process, bootstrapping to every node running now;
    /// returns once its API answers (or fails after `timeout`). Output goes
    /// to `DATA_DIR/node.log`. The process gets its own process group, so it
    /// outlives the caller's terminal session.
    ///
    /// The API answers before the node may write: a participant node
    /// refuses writes until a member has confirmed its own feed's head (see
    /// [`wait_healthy`]).
    pub fn start(
        &self,
        label: &str,
        launcher: &Launcher,
        timeout: Duration,
    ) -> Result<Running, String> {
        self.start_with(label, launcher, timeout, &[])
    }

    /// [`Cluster::start`] with extra arguments to `run` (e.g.
    /// `--trust-local-head`).
    pub fn start_with(
        &self,
        label: &str,
        launcher: &Launcher,
        timeout: Duration,
        extra: &[&str],
    ) -> Result<Running, String> {
        let n = self.node(label).ok_or_else(|| format!("no node {label}"))?;
        let _ = std::fs::remove_file(n.data_dir.join("api.addr"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(n.data_dir.join("node.log"))
            .map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&launcher.exe);
        cmd.args(&launcher.prefix)
            .arg("run")
            .arg("--data-dir")
            .arg(&n.data_dir);
        for a in self.live_addrs(label) {
            cmd.arg("--bootstrap").arg(a);
        }
        cmd.args(extra);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .env(
                "KPL_LOG",
                std::env::var("KPL_LOG").unwrap_or_else(|_| {
                    "info,libp2p_gossipsub=warn,libp2p_swarm=warn,libp2p_request_response=error"
                        .into()
                }),
            )
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", launcher.exe.display()))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(api) = std::fs::read_to_string(n.data_dir.join("api.addr")) {
                let api = api.trim().to_owned();
                if http_get(&api, kpl_api::paths::HEALTH).is_ok() {
                    return Ok(Running {
                        label: label.to_owned(),
                        child,
                        api,
                    });
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "node {label} exited ({status}) while starting; see {}",
                    n.data_dir.join("node.log").display()
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("node {label} did not answer within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits until a node's `GET /v1/health` says `ok` (its store accepts
/// writes and, on a participant node, its own feed's head is confirmed by a
/// member heard since it started), for at most `timeout`. Returns the
/// health document; the error carries the last reasons the node gave.
pub fn wait_healthy(api: &str, timeout: Duration) -> Result<serde_json::Value, String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer");
    for _ in 0..1_000_000 {
        match http_get(api, kpl_api::paths::HEALTH) {
            Ok(body) => match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(v) if v["status"] == "ok" => return Ok(v),
                Ok(v) => last = v["reasons"].to_string(),
                Err(e) => last = format!("{e}: {body}"),
            },
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "the node at {api} did not become healthy within {timeout:?}: {last}"
    ))
}

/// A member's charter entry.
enum Member {
    Participant(ParticipantEntry),
    Observer(ObserverEntry),
}

/// Makes a member's node directory (identity, token, node.toml) and key
/// file under `dir`; returns the node and its charter entry.
fn make_member(
    dir: &Path,
    charter_file: &Path,
    m: &MemberSpec,
) -> Result<(ClusterNode, Member), String> {
    let label = m.label();
    let data_dir = dir.join(&label);
    let key_file = dir.join(format!("{label}.key"));
    let node_cfg = NodeConfig {
        charter: Some(charter_file.to_path_buf()),
        key: Some(key_file.clone()),
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        api: "127.0.0.1:0".into(),
        sync_interval_secs: 2,
        ..NodeConfig::default()
    };
    let report = config::init(&data_dir, &node_cfg)?;
    let (owner, author) = match m {
        MemberSpec::Participant {
            code, authority, ..
        } => {
            let a = AuthorId::new(code, authority)?;
            (KeyOwner::Authority(a.clone()), Some(a.to_string()))
        }
        MemberSpec::Observer { id, .. } => (KeyOwner::Observer(ObserverId::new(id)?), None),
    };
    let kf = KeyFile::generate(owner)?;
    kf.save(&key_file, false)?;
    let member = match m {
        MemberSpec::Participant {
            code,
            name,
            authority,
            title,
        } => Member::Participant(ParticipantEntry {
            code: CountryCode::new(code)?,
            name: name.clone(),
            authorities: vec![AuthorityEntry {
                name: AuthorityName::new(authority)?,
                title: title.clone(),
                key: kf.public_key,
                // Governance too: every participant's authority may
                // propose (as Chair) and approve membership decisions.
                roles: Roles::of(&[
                    Role::IssueCertificates,
                    Role::ConfirmImports,
                    Role::Governance,
                ]),
                next_key_digest: Some(kf.next_key_digest),
            }],
            nodes: vec![report.peer_id.clone()],
        }),
        MemberSpec::Observer { id, name } => Member::Observer(ObserverEntry {
            id: ObserverId::new(id)?,
            name: name.clone(),
            key: kf.public_key,
            nodes: vec![report.peer_id.clone()],
        }),
    };
    let node = ClusterNode {
        label,
        member: m.clone(),
        data_dir,
        key_file,
        peer_id: report.peer_id,
        author,
    };
    Ok((node, member))
}

/// Sends SIGTERM (or SIGKILL with `kill`) to a process id.
pub fn signal(pid: u32, kill: bool) -> bool {
    Command::new("kill")
        .arg(if kill { "-KILL" } else { "-TERM" })
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether a process id is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .map(|rest| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// A minimal HTTP/1.1 client for loopback (GET and POST with JSON),
/// bounded in size and time (60 s per read or write). Returns (status, body).
pub fn http(
    method: &str,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    http_within(method, base, path, token, body, Duration::from_secs(60))
}

/// [`http`] with `timeout` for the whole exchange, through the API's one
/// client (`kpl_api::client`); the answer is bounded to 256 MiB.
pub fn http_within(
    method: &str,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    use kpl_api::endpoints::Method;
    if !base.starts_with("http://") {
        return Err(format!("{base}: only http:// is supported"));
    }
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        other => return Err(format!("{other}: the API has GET and POST only")),
    };
    kpl_api::client::Client::new(base, token.map(str::to_owned), timeout)
        .exchange(method, path, body, kpl_api::client::MAX_ANSWER)
        .map_err(|e| format!("{base}: {e}"))
}

/// One exchange over a connected stream `s` (one opened in another network
/// namespace, which no URL reaches); `hostport` goes in the `Host` header.
/// [`kpl_api::http1::exchange`] with its default bounds, the method and the
/// errors in words as [`http_within`] has them.
pub fn http_over(
    s: TcpStream,
    hostport: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    use kpl_api::endpoints::Method;
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        other => return Err(format!("{other}: the API has GET and POST only")),
    };
    let limits = kpl_api::http1::Limits::default();
    kpl_api::http1::exchange(s, hostport, method, path, token, body, timeout, limits)
        .map(|r| (r.status, r.text()))
        .map_err(|e| format!("{hostport}: {e}"))
}

/// GET returning the body on 2xx.
pub fn http_get(base: &str, path: &str) -> Result<String, String> {
    match http("GET", base, path, None, None)? {
        (s, b) if (200..300).contains(&s) => Ok(b),
        (s, b) => Err(format!("{path}: {s} {b}")),
    }
}
