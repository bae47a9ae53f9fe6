//! End-to-end tests of the real `kpl` binary.
//!
//! `offline_commands` needs no node: keys, charters, completions, usage and
//! connection errors. `devnet_end_to_end` brings up one devnet (11 real node
//! processes on loopback), checks every online command against the seed plan
//! the devnet wrote to `seed.json` (audit findings, statistics, provenance),
//! then writes (issue, confirm, void, correct, rotate-key, batches), governs
//! (the Chair proposes a partial suspension, the others approve until the
//! quorum adopts it, `gov list`/`show` and `members --at` follow), checks
//! proof bundles (what they certify, refused cosignatures), stops the devnet
//! from another directory (waiting for every node process, one frozen),
//! reads governance offline and verifies the stores offline, untouched and
//! tampered with. `readme_getting_started_compiles_once` checks the
//! README's first commands build once.
//!
//! Every process is bounded in time; a guard stops the devnet (and, as a
//! last resort, kills by pid any node process started under the test's
//! directory) even when an assertion fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KPL: &str = env!("CARGO_BIN_EXE_kpl");
const CMD_TIMEOUT: Duration = Duration::from_secs(90);

// ------------------------------------------------------------ harness

/// What one run of `kpl` did.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    what: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code and returns self.
    #[track_caller]
    fn code(self, want: i32) -> Out {
        assert_eq!(
            self.code,
            Some(want),
            "{}: exit code\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn out_has(self, needles: &[&str]) -> Out {
        for n in needles {
            assert!(
                self.stdout.contains(n),
                "{}: stdout lacks {n:?}:\n{}\nstderr:\n{}",
                self.what,
                self.stdout,
                self.stderr
            );
        }
        self
    }

    #[track_caller]
    fn err_has(self, needles: &[&str]) -> Out {
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "{}: stderr lacks {n:?}:\n{}\nstdout:\n{}",
                self.what,
                self.stderr,
                self.stdout
            );
        }
        self
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Where the `kpl` runs of this test process record devnets (never the
/// user's own `~/.local/state`).
fn state_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("kpl-e2e-state-{}", std::process::id()))
}

/// Runs `kpl args…` with a clean environment (no KPL_* variables), killing it
/// after `timeout`.
fn kpl_env(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Out {
    kpl_in(None, args, env, timeout)
}

/// [`kpl_env`] in the working directory `cwd`.
fn kpl_in(cwd: Option<&Path>, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Out {
    let what = format!("kpl {}", args.join(" "));
    let mut cmd = Command::new(KPL);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    cmd.args(args)
        .env("XDG_STATE_HOME", state_home())
        .env_remove("KPL_NODE")
        .env_remove("KPL_TOKEN")
        .env_remove("KPL_TOKEN_FILE")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what}: did not finish within {timeout:?}");
            }
        }
    };
    Out {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        what,
    }
}

fn kpl(args: &[&str]) -> Out {
    kpl_env(args, &[], CMD_TIMEOUT)
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p =
            std::env::temp_dir().join(format!("kpl-cli-e2e-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Stops the devnet in `dir` when dropped, then kills (by pid) any process
/// still running with that directory on its command line.
struct DevnetGuard(PathBuf);

impl Drop for DevnetGuard {
    fn drop(&mut self) {
        let dir = self.0.to_string_lossy().into_owned();
        let _ = std::panic::catch_unwind(|| {
            kpl_env(
                &["devnet", "down", "--dir", &dir],
                &[],
                Duration::from_secs(60),
            )
        });
        let me = std::process::id();
        for _ in 0..3 {
            let mut left = 0;
            for pid in pids_mentioning(&dir) {
                if pid != me {
                    left += 1;
                    // SAFETY: plain kill(2) of a process id we started.
                    unsafe {
                        libc::kill(pid as i32, libc::SIGKILL);
                    }
                }
            }
            if left == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Only `devnet up` and `down --purge` write the devnet records.
        let _ = std::fs::remove_dir_all(state_home());
    }
}

/// Process ids whose command line has an argument under `dir`.
fn pids_mentioning(dir: &str) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    c.split(|b| *b == 0)
                        .any(|a| String::from_utf8_lossy(a).starts_with(dir))
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Polls `f` every 200 ms until it holds, at most `timeout` and 600 times.
#[track_caller]
fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    for _ in 0..600 {
        if f() {
            return;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn is_hex64(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

// ------------------------------------------------------------ offline

#[test]
fn offline_commands() {
    let tmp = TempDir::new("offline");
    let d = |f: &str| s(&tmp.path().join(f));

    // keygen: table and JSON, mode 0600, never overwrites.
    let k1 = d("bw.key");
    let o = kpl(&["keygen", "--out", &k1, "--author", "BW/mme"])
        .code(0)
        .out_has(&["wrote", "(mode 0600)", "public key:", "next key digest:"]);
    let bw_pub = o
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("public key:"))
        .map(|k| k.trim().to_owned())
        .expect("public key line");
    assert!(is_hex64(&json!(bw_pub)), "{bw_pub}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&k1).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file mode");
    let k2 = d("wdc.key");
    let v = kpl(&["--json", "keygen", "--out", &k2, "--observer", "wdc"])
        .code(0)
        .json();
    assert!(
        is_hex64(&v["public_key"]) && is_hex64(&v["next_key_digest"]),
        "{v}"
    );
    assert_eq!(v["file"], json!(k2));
    assert_eq!(
        std::fs::metadata(&k2).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let k3 = d("za.key");
    let za = kpl(&["--json", "keygen", "--out", &k3]).code(0).json();
    kpl(&["keygen", "--out", &k1]).code(2).err_has(&["exists"]);
    kpl(&["keygen", "--out", &d("x.key"), "--author", "not an author"]).code(2);

    // charter: new, add-participant/authority/observer/node, show.
    let c = d("charter.json");
    kpl(&[
        "charter",
        "new",
        "--out",
        &c,
        "--network",
        "test-net",
        "--chair",
        "BW",
        "--created",
        "2026-01-01",
    ])
    .code(0)
    .out_has(&["wrote", "add-participant"]);
    kpl(&[
        "charter",
        "new",
        "--out",
        &c,
        "--network",
        "x",
        "--chair",
        "BW",
    ])
    .code(2)
    .err_has(&["not overwriting"]);
    kpl(&[
        "charter",
        "add-participant",
        "--charter",
        &c,
        "--code",
        "BW",
        "--name",
        "Botswana",
    ])
    .code(0)
    .out_has(&["added participant BW"]);
    let v = kpl(&[
        "--json",
        "charter",
        "add-participant",
        "--charter",
        &c,
        "--code",
        "ZA",
        "--name",
        "South Africa",
    ])
    .code(0)
    .json();
    assert!(is_hex64(&v["network_id"]), "{v}");
    assert!(v["message"].as_str().unwrap().contains("ZA"), "{v}");
    kpl(&[
        "charter",
        "add-authority",
        "--charter",
        &c,
        "--participant",
        "BW",
        "--name",
        "mme",
        "--title",
        "Ministry of Minerals and Energy",
        "--roles",
        "issue,confirm,governance",
        "--key",
        &k1,
    ])
    .code(0)
    .out_has(&["added authority BW/mme"]);
    // A public key in hex instead of a key file.
    let za_pub = za["public_key"].as_str().unwrap();
    kpl(&[
        "--json",
        "charter",
        "add-authority",
        "--charter",
        &c,
        "--participant",
        "ZA",
        "--name",
        "sadpmr",
        "--title",
        "SADPMR",
        "--roles",
        "issue,confirm",
        "--key",
        za_pub,
    ])
    .code(0)
    .json();
    kpl(&[
        "charter",
        "add-authority",
        "--charter",
        &c,
        "--participant",
        "BW",
        "--name",
        "mme",
        "--title",
        "again",
        "--roles",
        "issue",
        "--key",
        za_pub,
    ])
    .code(2)
    .err_has(&["already in the charter"]);
    kpl(&[
        "charter",
        "add-authority",
        "--charter",
        &c,
        "--participant",
        "NA",
        "--name",
        "mme",
        "--title",
        "x",
        "--roles",
        "issue",
        "--key",
        za_pub,
    ])
    .code(2)
    .err_has(&["not in the charter"]);
    kpl(&[
        "charter",
        "add-authority",
        "--charter",
        &c,
        "--participant",
        "ZA",
        "--name",
        "other",
        "--title",
        "x",
        "--roles",
        "issue",
        "--key",
        "zz-not-a-key",
    ])
    .code(2)
    .err_has(&["neither a key file nor a hex public key"]);
    kpl(&[
        "charter",
        "add-observer",
        "--charter",
        &c,
        "--id",
        "wdc",
        "--name",
        "World Diamond Council",
        "--key",
        &k2,
    ])
    .code(0)
    .out_has(&["added observer wdc"]);
    let peer1 = "12D3KooWLPVQ8Z16wv5rmgWcy98EeWufL8Hw6cCD6gR69YQtEZNB";
    let peer2 = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo";
    kpl(&[
        "charter",
        "add-node",
        "--charter",
        &c,
        "--participant",
        "BW",
        "--peer",
        peer1,
    ])
    .code(0)
    .out_has(&["added node", peer1]);
    let last = kpl(&[
        "--json",
        "charter",
        "add-node",
        "--charter",
        &c,
        "--observer",
        "wdc",
        "--peer",
        peer2,
    ])
    .code(0)
    .json();
    kpl(&["charter", "add-node", "--charter", &c, "--peer", peer2])
        .code(2)
        .err_has(&["--participant or --observer"]);
    kpl(&["charter", "show", "--charter", &c])
        .code(0)
        .out_has(&[
            "network    test-net",
            "chair      BW",
            "BW Botswana",
            "mme",
            "issue,confirm,governance",
            "ZA South Africa",
            "sadpmr",
            "observer wdc World Diamond Council",
            "read-only",
        ]);
    let shown = kpl(&["--json", "charter", "show", "--charter", &c])
        .code(0)
        .json();
    assert_eq!(shown["network_id"], last["network_id"], "{shown}");
    let ch = &shown["charter"];
    assert_eq!(ch["network"], "test-net");
    assert_eq!(ch["participants"].as_array().unwrap().len(), 2);
    assert_eq!(ch["participants"][0]["nodes"], json!([peer1]));
    assert_eq!(ch["observers"][0]["nodes"], json!([peer2]));
    assert_eq!(
        ch["participants"][0]["authorities"][0]["key"],
        json!(bw_pub)
    );
    assert_eq!(
        ch["participants"][1]["authorities"][0]["key"],
        json!(za_pub)
    );
    kpl(&["charter", "show", "--charter", &d("missing.json")]).code(2);

    // completions
    kpl(&["completions", "bash"])
        .code(0)
        .out_has(&["_kpl()", "complete", "audit", "devnet"]);
    kpl(&["completions", "no-such-shell"]).code(2);

    // Usage errors: exit 2.
    kpl(&["--bogus-flag", "status"])
        .code(2)
        .err_has(&["--bogus-flag"]);
    kpl(&["stats", "--year", "2026", "--quarter", "5"]).code(2);
    kpl(&["stats", "--year", "2147483647"])
        .code(2)
        .err_has(&["--year"]);
    kpl(&["issue", "--origin", "BW"])
        .code(2)
        .err_has(&["--number"]);
    kpl(&["no-such-command"]).code(2);
    // Governance arguments are checked before any node is asked.
    kpl(&["gov", "propose", "expel", "VE"])
        .code(2)
        .err_has(&["--reference"]);
    kpl(&["gov", "propose", "--reference", "x"])
        .code(2)
        .err_has(&["say what to propose", "--decision-file"]);
    kpl(&[
        "gov",
        "propose",
        "suspend",
        "Centrafrique",
        "--reference",
        "x",
    ])
    .code(2)
    .err_has(&["country code"]);
    kpl(&[
        "gov",
        "propose",
        "expel",
        "VE",
        "--effective",
        "2001-01-01",
        "--reference",
        "x",
    ])
    .code(2)
    .err_has(&["not after today"]);
    kpl(&[
        "gov",
        "propose",
        "key-compromised",
        "BW",
        "--key",
        "00",
        "--from-seq",
        "3",
        "--reference",
        "x",
    ])
    .code(2)
    .err_has(&["BW/mme"]);
    kpl(&["gov", "approve", "not-an-id"])
        .code(2)
        .err_has(&["not a proposal id", "kpl gov list"]);
    kpl(&["members", "--at", "2026-13-01"])
        .code(2)
        .err_has(&["--at"]);
    kpl(&["gov", "list", "--data-dir", &s(tmp.path())])
        .code(2)
        .err_has(&["no events.log"]);
    kpl(&["verify", "--data-dir", &s(tmp.path())])
        .code(2)
        .err_has(&["no events.log"]);
    kpl(&["devnet", "status", "--dir", &d("no-devnet")])
        .code(2)
        .err_has(&["holds no devnet", "kpl devnet up"]);
    // No devnet there: exit 2 saying which --dir to pass, never "stopped 0".
    kpl(&["--json", "devnet", "down", "--dir", &d("no-devnet")])
        .code(2)
        .err_has(&["holds no devnet", "--dir"]);

    // Nothing listens on port 1: exit 2 with what to do.
    let dead = "http://127.0.0.1:1";
    for args in [
        vec!["--node", dead, "status"],
        vec!["--node", dead, "--json", "audit"],
        vec!["--node", dead, "stats", "--year", "2026"],
        vec!["--node", dead, "show", "BW-2026-000001"],
        vec!["--node", dead, "verify"],
        vec!["--node", dead, "gov", "list"],
        vec!["--node", dead, "members", "--at", "2026-06-30"],
        vec![
            "--node",
            dead,
            "gov",
            "propose",
            "reinstate",
            "CF",
            "--reference",
            "AD 2016/01",
        ],
    ] {
        kpl(&args)
            .code(2)
            .err_has(&["cannot reach the node", "kpl devnet up", "--node"]);
    }
    // KPL_NODE is honoured like --node.
    kpl_env(&["feeds"], &[("KPL_NODE", dead)], CMD_TIMEOUT)
        .code(2)
        .err_has(&["cannot reach the node at http://127.0.0.1:1"]);
}

/// The README's getting started builds once: the devnet is started by the
/// binary the install step built (no `cargo run`, which would compile
/// again with other features), and that build makes `kpl`.
#[test]
fn readme_getting_started_compiles_once() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = |title: &str| -> String {
        let start = readme
            .find(title)
            .unwrap_or_else(|| panic!("README lacks {title}"));
        let rest = &readme[start + title.len()..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
    };
    let commands = |text: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut inside = false;
        for line in text.lines() {
            if line.starts_with("```") {
                inside = !inside;
            } else if inside && !line.trim_start().starts_with('#') {
                out.push(line.split(" #").next().unwrap_or("").trim().to_owned());
            }
        }
        out
    };
    let install = commands(&section("## Install"));
    let run = commands(&section("## Run it"));
    for c in install.iter().chain(&run) {
        assert!(!c.contains("cargo run"), "a second compile: {c}");
        assert!(!c.contains("cargo install"), "a second compile: {c}");
    }
    let build = install
        .iter()
        .find(|c| c.starts_with("cargo build"))
        .expect("the install builds");
    assert!(build.contains("--release"), "{build}");
    let words: Vec<&str> = build.split_whitespace().collect();
    let packages: Vec<&str> = words
        .windows(2)
        .filter(|w| w[0] == "-p" || w[0] == "--package")
        .map(|w| w[1])
        .collect();
    assert!(
        packages.is_empty() || packages.contains(&"kpl"),
        "the build makes kpl: {build}"
    );
    let up = run
        .iter()
        .find(|c| c.contains("devnet up"))
        .expect("Run it starts a devnet");
    assert!(
        up.starts_with("./target/release/kpl devnet up"),
        "the devnet runs the binary built above: {up}"
    );
}

/// `kpl … | head`: a closed stdout ends kpl quietly, without a panic.
#[test]
fn closed_stdout_is_not_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = Command::new(KPL)
        .args(["completions", "bash"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kpl");
    let err = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + CMD_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kpl completions did not finish");
            }
        }
    };
    let stderr = err.join().unwrap_or_default();
    assert!(!stderr.contains("panicked"), "kpl panicked: {stderr}");
    assert!(
        status.code() != Some(101) && (status.signal() == Some(libc::SIGPIPE) || status.success()),
        "status {status:?}, stderr {stderr}"
    );
}

// ------------------------------------------------------------ devnet

/// One node of the devnet, as `kpl --json devnet up` reports it.
#[derive(Clone, Debug)]
struct Node {
    api: String,
    token_file: String,
    data_dir: PathBuf,
    member: String,
}

/// One certificate of the devnet's seed plan (`seed.json`).
#[derive(Clone, Debug)]
struct SeedCert {
    number: String,
    issuer: String,
    destination: String,
    issued_on: String,
    carats: u64,
    cents: u64,
    sources: Vec<String>,
    /// (carats, cents, received_on) confirmed by the destination.
    confirmation: Option<(u64, u64, String)>,
}

fn seed_certs(seed: &Value) -> Vec<SeedCert> {
    seed["certificates"]
        .as_array()
        .expect("seed certificates")
        .iter()
        .map(|c| SeedCert {
            number: c["number"].as_str().unwrap().into(),
            issuer: c["issuer"].as_str().unwrap().into(),
            destination: c["destination"].as_str().unwrap().into(),
            issued_on: c["issued_on"].as_str().unwrap().into(),
            carats: c["carat_hundredths"].as_u64().unwrap(),
            cents: c["value_usd_cents"].as_u64().unwrap(),
            sources: c["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect(),
            confirmation: c["confirmation"].as_array().map(|a| {
                (
                    a[1].as_u64().unwrap(),
                    a[2].as_u64().unwrap(),
                    a[3].as_str().unwrap().to_owned(),
                )
            }),
        })
        .collect()
}

/// An import recorded by `importer` from `exporter`.
struct Import {
    importer: String,
    exporter: String,
    carats: u64,
    cents: u64,
    received_on: String,
}

fn in_period(date: &str, year: i32, quarter: Option<u8>) -> bool {
    let y: i32 = date[..4].parse().unwrap();
    let m: u8 = date[5..7].parse().unwrap();
    y == year && quarter.is_none_or(|q| (m - 1) / 3 + 1 == q)
}

fn figures(f: &[u64; 3]) -> Value {
    json!({"certificates": f[0], "carat_hundredths": f[1], "value_usd_cents": f[2]})
}

fn add(f: &mut [u64; 3], carats: u64, cents: u64) {
    f[0] += 1;
    f[1] += carats;
    f[2] += cents;
}

/// The statistics `ledger-core/src/analysis/stats.rs` documents, computed
/// from the seed plan: exports are the (non-voided) certificates by issuer and
/// issue date; imports the confirmations by confirming participant and date
/// of receipt, forged ones included; mirror rows pair them.
fn expected_stats(
    participants: &[String],
    certs: &[SeedCert],
    imports: &[Import],
    year: i32,
    quarter: Option<u8>,
) -> Value {
    let mut parts: BTreeMap<String, [[u64; 3]; 2]> = participants
        .iter()
        .map(|p| (p.clone(), [[0; 3]; 2]))
        .collect();
    let mut pairs: BTreeMap<(String, String), [[u64; 3]; 2]> = BTreeMap::new();
    for c in certs {
        if in_period(&c.issued_on, year, quarter) {
            add(
                &mut parts.entry(c.issuer.clone()).or_default()[0],
                c.carats,
                c.cents,
            );
            add(
                &mut pairs
                    .entry((c.issuer.clone(), c.destination.clone()))
                    .or_default()[0],
                c.carats,
                c.cents,
            );
        }
    }
    for i in imports {
        if in_period(&i.received_on, year, quarter) {
            add(
                &mut parts.entry(i.importer.clone()).or_default()[1],
                i.carats,
                i.cents,
            );
            add(
                &mut pairs
                    .entry((i.exporter.clone(), i.importer.clone()))
                    .or_default()[1],
                i.carats,
                i.cents,
            );
        }
    }
    let mut totals = [[0u64; 3]; 2];
    for f in parts.values() {
        for side in 0..2 {
            for k in 0..3 {
                totals[side][k] += f[side][k];
            }
        }
    }
    let d = |a: u64, b: u64| a as i64 - b as i64;
    // Every devnet participant is a member in good standing for the whole
    // period (the one governance decision the test adopts starts later).
    let (m1, m2) = match quarter {
        Some(q) => (3 * q as u32 - 2, 3 * q as u32),
        None => (1, 12),
    };
    let from = ledger_core::Date::from_ymd(year, m1, 1).unwrap();
    let to = if m2 == 12 {
        ledger_core::Date::from_ymd(year + 1, 1, 1).unwrap()
    } else {
        ledger_core::Date::from_ymd(year, m2 + 1, 1).unwrap()
    }
    .add_days(-1);
    let membership =
        json!([{"from": from.to_string(), "to": to.to_string(), "standing": "member"}]);
    json!({
        "participants": parts.iter().map(|(p, f)| json!({
            "participant": p, "exports": figures(&f[0]), "imports": figures(&f[1]),
            "membership": membership,
        })).collect::<Vec<_>>(),
        "mirror": pairs.iter().map(|((e, i), f)| json!({
            "exporter": e, "importer": i,
            "exports": figures(&f[0]), "imports": figures(&f[1]),
            "diff_certificates": d(f[0][0], f[1][0]),
            "diff_carat_hundredths": d(f[0][1], f[1][1]),
            "diff_value_usd_cents": d(f[0][2], f[1][2]),
        })).collect::<Vec<_>>(),
        "total_exports": figures(&totals[0]),
        "total_imports": figures(&totals[1]),
    })
}

#[track_caller]
fn assert_stats(got: &Value, want: &Value, what: &str) {
    for k in ["participants", "total_exports", "total_imports", "mirror"] {
        assert_eq!(
            got[k], want[k],
            "{what}: {k}\n got: {}\nwant: {}",
            got[k], want[k]
        );
    }
}

/// An audit finding the seed plan expects: kind, participants, date.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    certificate: String,
    kind: String,
    participants: BTreeSet<String>,
    date: String,
}

fn finding_keys(audit: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["certificate"].as_str().unwrap_or("").to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn expected_keys<'a>(e: impl Iterator<Item = &'a Expected>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = e.map(|x| (x.certificate.clone(), x.kind.clone())).collect();
    v.sort();
    v
}

/// Every certificate number in a trace tree, depth first.
fn tree_numbers(t: &Value, out: &mut Vec<String>) {
    out.push(t["certificate"].as_str().unwrap().to_owned());
    for c in t["children"].as_array().unwrap() {
        tree_numbers(c, out);
    }
}

fn tree_depth(t: &Value) -> usize {
    1 + t["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(tree_depth)
        .max()
        .unwrap_or(0)
}

/// The head (seq, id) of `author`'s feed on the node at `api`.
fn head(api: &str, author: &str) -> Option<(u64, String)> {
    let o = kpl(&["--node", api, "--json", "feeds"]);
    if o.code != Some(0) {
        return None;
    }
    let v = o.json();
    v["feeds"].as_array()?.iter().find_map(|f| {
        (f["author"] == author).then(|| {
            (
                f["seq"].as_u64().unwrap_or(0),
                f["id"].as_str().unwrap_or("").to_owned(),
            )
        })
    })
}

const CSV_HEADER: &str = "number,origin,zone,issued_on,expires_on,issuing_authority,exporter_name,exporter_address,importer_name,importer_address,destination,carats,value_usd,parcels,hs_codes,source_certificates";

#[test]
fn devnet_end_to_end() {
    let started = Instant::now();
    let tmp = TempDir::new("devnet");
    let dir = tmp.path().join("net");
    let dir_s = s(&dir);
    let _guard = DevnetGuard(dir.clone());

    // ---------------------------------------------------------- up
    let up = kpl_env(
        &["--json", "devnet", "up", "--dir", &dir_s],
        &[],
        Duration::from_secs(300),
    )
    .code(0)
    // Seeding says what it writes, month by month, on stderr.
    .err_has(&[
        "creating a devnet in ",
        "starting BW …",
        "waiting until the 11 nodes are connected and ready…",
        "seeding nine months of trade: ",
        " certificates, ",
        "seeded 2026-01: ",
        "seeded 2026-09: ",
        " certificates issued, ",
        " imports confirmed",
    ]);
    let up = up.json();
    let seeded = up["seeded"].as_u64().unwrap();
    assert!(seeded > 200, "{up}");
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for n in up["nodes"].as_array().unwrap() {
        nodes.insert(
            n["label"].as_str().unwrap().into(),
            Node {
                api: n["api"].as_str().unwrap().into(),
                token_file: n["token_file"].as_str().unwrap().into(),
                data_dir: PathBuf::from(n["data_dir"].as_str().unwrap()),
                member: n["member"].as_str().unwrap().into(),
            },
        );
    }
    assert_eq!(nodes.len(), 11, "{up}");
    let api = |l: &str| nodes[l].api.clone();
    let tok = |l: &str| nodes[l].token_file.clone();
    let participants: Vec<String> = nodes
        .iter()
        .filter(|(_, n)| n.member.starts_with("participant "))
        .map(|(l, _)| l.clone())
        .collect();
    assert_eq!(participants.len(), 10);
    assert!(nodes["wdc"].member.starts_with("observer"), "{up}");
    let (bw, eu, wdc) = (api("BW"), api("EU"), api("wdc"));

    let seed: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("seed.json")).unwrap()).unwrap();
    let certs = seed_certs(&seed);
    let by_number: BTreeMap<&str, &SeedCert> =
        certs.iter().map(|c| (c.number.as_str(), c)).collect();

    // Imports the seed recorded: every planned confirmation by its
    // destination, and the forged ones (their figures read back from the
    // ledger: the plan lists only the carats).
    let mut imports: Vec<Import> = certs
        .iter()
        .filter_map(|c| {
            let (carats, cents, received) = c.confirmation.clone()?;
            Some(Import {
                importer: c.destination.clone(),
                exporter: c.issuer.clone(),
                carats,
                cents,
                received_on: received,
            })
        })
        .collect();
    let mut forged_dates: BTreeMap<String, String> = BTreeMap::new();
    for f in seed["forged_confirmations"].as_array().unwrap() {
        let (by, number, exporter, carats) = (
            f[0].as_str().unwrap(),
            f[1].as_str().unwrap(),
            f[2].as_str().unwrap(),
            f[3].as_u64().unwrap(),
        );
        // A number never issued that a confirmation names: something is
        // wrong (exit 1).
        let shown = kpl(&["--node", &bw, "--json", "show", number])
            .code(1)
            .json();
        assert_eq!(shown["status"], "never_issued", "{shown}");
        assert_eq!(shown["issued"], json!([]));
        let confs = shown["confirmations"].as_array().unwrap();
        assert_eq!(confs.len(), 1, "{shown}");
        let c = &confs[0]["body"]["import_confirmed"];
        assert_eq!(c["carat_hundredths"], carats);
        assert_eq!(c["exporter_participant"], exporter);
        assert!(confs[0]["author"].as_str().unwrap().starts_with(by));
        let received = c["received_on"].as_str().unwrap().to_owned();
        forged_dates.insert(number.into(), received.clone());
        imports.push(Import {
            importer: by.into(),
            exporter: exporter.into(),
            carats,
            cents: c["value_usd_cents"].as_u64().unwrap(),
            received_on: received,
        });
        kpl(&["--node", &bw, "show", number])
            .code(1)
            .out_has(&["NEVER ISSUED", "confirmed"]);
    }

    // The anomalies the plan seeded, with whom they involve and their date.
    let forged_by: BTreeMap<&str, (&str, &str)> = seed["forged_confirmations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f[1].as_str().unwrap(),
                (f[0].as_str().unwrap(), f[2].as_str().unwrap()),
            )
        })
        .collect();
    let anomalies: Vec<Expected> = seed["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let number = a["certificate"].as_str().unwrap();
            let kind = a["kind"].as_str().unwrap().to_owned();
            let (participants, date) = match by_number.get(number) {
                Some(c) => (
                    BTreeSet::from([c.issuer.clone(), c.destination.clone()]),
                    c.issued_on.clone(),
                ),
                None => {
                    let (by, exporter) = forged_by[number];
                    (
                        BTreeSet::from([by.to_owned(), exporter.to_owned()]),
                        forged_dates[number].clone(),
                    )
                }
            };
            Expected {
                certificate: number.into(),
                kind,
                participants,
                date,
            }
        })
        .collect();
    let kinds: BTreeSet<&str> = anomalies.iter().map(|a| a.kind.as_str()).collect();
    for k in [
        "confirmation_mismatch",
        "unconfirmed_export",
        "non_participant_trade",
        "unknown_certificate",
    ] {
        assert!(kinds.contains(k), "the seed plan has no {k}: {seed}");
    }

    // ---------------------------------------------------------- audit
    for node in [&bw, &wdc] {
        let a = kpl(&["--node", node, "--json", "audit"]).code(1).json();
        assert_eq!(
            a["count"].as_u64().unwrap() as usize,
            anomalies.len(),
            "every seeded anomaly and nothing else: {a}"
        );
        assert_eq!(finding_keys(&a), expected_keys(anomalies.iter()), "{a}");
        for f in a["findings"].as_array().unwrap() {
            let e = anomalies
                .iter()
                .find(|e| f["certificate"] == e.certificate.as_str())
                .unwrap();
            let who: BTreeSet<String> = f["participants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(who, e.participants, "{f}");
            assert_eq!(f["date"], e.date.as_str(), "{f}");
            assert!(!f["events"].as_array().unwrap().is_empty(), "{f}");
            assert!(f["events"].as_array().unwrap().iter().all(is_hex64), "{f}");
            let sev = match e.kind.as_str() {
                "confirmation_mismatch" | "unconfirmed_export" => "medium",
                _ => "high",
            };
            assert_eq!(f["severity"], sev, "{f}");
            assert!(!f["explanation"].as_str().unwrap().is_empty());
        }
    }
    let mut table_needles: Vec<&str> = Vec::new();
    for a in &anomalies {
        table_needles.push(&a.kind);
        table_needles.push(&a.certificate);
    }
    let n_findings = format!("{} findings", anomalies.len());
    table_needles.push(&n_findings);
    table_needles.extend(["SEVERITY", "KIND", "CERTIFICATE", "EXPLANATION"]);
    kpl(&["--node", &bw, "audit"])
        .code(1)
        .out_has(&table_needles);
    // Fitted to the terminal's width by wrapping the explanations; whole
    // with --wide.
    let fitted = kpl_env(
        &["--node", &bw, "audit"],
        &[("COLUMNS", "120")],
        CMD_TIMEOUT,
    )
    .code(1);
    let longest = |t: &str| t.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(longest(&fitted.stdout) <= 120, "{}", fitted.stdout);
    let wide = kpl_env(
        &["--node", &bw, "--wide", "audit"],
        &[("COLUMNS", "120")],
        CMD_TIMEOUT,
    )
    .code(1);
    assert!(longest(&wide.stdout) > 120, "{}", wide.stdout);

    // --participant narrows to the findings involving that participant.
    for p in ["BW", "RU", "AE", "EU", "IL", "AO", "KE", "ZA", "CA"] {
        let want: Vec<&Expected> = anomalies
            .iter()
            .filter(|a| a.participants.contains(p))
            .collect();
        let o = kpl(&["--node", &wdc, "--json", "audit", "--participant", p]);
        let o = o.code(if want.is_empty() { 0 } else { 1 });
        assert_eq!(
            finding_keys(&o.json()),
            expected_keys(want.into_iter()),
            "--participant {p}: {}",
            o.stdout
        );
    }
    kpl(&["--node", &bw, "audit", "--participant", "ZA"])
        .code(0)
        .out_has(&["no findings"]);
    kpl(&["--node", &bw, "audit", "--participant", "not-a-code"]).code(2);
    // --from/--to narrow by the finding's date.
    for (from, to) in [
        (Some("2026-05-01"), Some("2026-06-30")),
        (Some("2026-03-13"), None),
        (None, Some("2026-03-12")),
        (Some("2026-03-01"), Some("2026-03-31")),
        (Some("2026-10-01"), Some("2026-12-31")),
    ] {
        let want: Vec<&Expected> = anomalies
            .iter()
            .filter(|a| from.is_none_or(|f| a.date.as_str() >= f))
            .filter(|a| to.is_none_or(|t| a.date.as_str() <= t))
            .collect();
        let mut args = vec!["--node", bw.as_str(), "--json", "audit"];
        if let Some(f) = from {
            args.extend(["--from", f]);
        }
        if let Some(t) = to {
            args.extend(["--to", t]);
        }
        let o = kpl(&args).code(if want.is_empty() { 0 } else { 1 });
        assert_eq!(
            finding_keys(&o.json()),
            expected_keys(want.into_iter()),
            "--from {from:?} --to {to:?}"
        );
    }
    kpl(&["--node", &bw, "audit", "--from", "2026-02-30"]).code(2);
    // A tolerance above the seeded carat difference clears the mismatch.
    let mismatch = anomalies
        .iter()
        .find(|a| a.kind == "confirmation_mismatch")
        .unwrap();
    let mc = by_number[mismatch.certificate.as_str()];
    let seeded_diff = mc.carats as i64 - mc.confirmation.as_ref().unwrap().0 as i64;
    assert!(seeded_diff != 0);
    let bp = (seeded_diff.unsigned_abs() * 10_000).div_ceil(mc.carats);
    let o = kpl(&[
        "--node",
        &bw,
        "--json",
        "audit",
        "--tolerance-bp",
        &bp.to_string(),
    ])
    .code(1)
    .json();
    assert_eq!(
        finding_keys(&o),
        expected_keys(
            anomalies
                .iter()
                .filter(|a| a.kind != "confirmation_mismatch")
        ),
        "--tolerance-bp {bp}"
    );

    // ---------------------------------------------------------- stats
    let year = expected_stats(&participants, &certs, &imports, 2026, None);
    let got = kpl(&["--node", &bw, "--json", "stats", "--year", "2026"])
        .code(0)
        .json();
    assert_stats(&got, &year, "stats 2026");
    assert_eq!(got["period"]["from"], "2026-01-01");
    assert_eq!(got["period"]["to"], "2026-12-31");
    for q in 1..=4u8 {
        let want = expected_stats(&participants, &certs, &imports, 2026, Some(q));
        let got = kpl(&[
            "--node",
            &eu,
            "--json",
            "stats",
            "--year",
            "2026",
            "--quarter",
            &q.to_string(),
        ])
        .code(0)
        .json();
        assert_stats(&got, &want, &format!("stats 2026 Q{q}"));
        assert_eq!(got["period"]["quarter"], q);
    }
    // The mirror row of the mismatched pair shows the seeded difference.
    let year_row = got_mirror_row(
        &kpl(&["--node", &wdc, "--json", "stats", "--year", "2026"])
            .code(0)
            .json(),
        &mc.issuer,
        &mc.destination,
    );
    assert_eq!(year_row["diff_carat_hundredths"], seeded_diff, "{year_row}");
    assert_eq!(year_row["diff_certificates"], 0, "{year_row}");
    // The forged import shows as an import without exports.
    for (number, (by, exporter)) in &forged_by {
        let r = got_mirror_row(&year, exporter, by);
        assert!(
            r["imports"]["carat_hundredths"].as_u64().unwrap() > 0,
            "{number}: {r}"
        );
    }
    let q = quarter_of(&mc.issued_on);
    kpl(&[
        "--node",
        &bw,
        "stats",
        "--year",
        "2026",
        "--quarter",
        &q.to_string(),
    ])
    .code(0)
    .out_has(&[
        &format!("KP trade statistics, 2026 Q{q}"),
        "PARTICIPANT",
        "TOTAL",
        "Mirror table",
        "DIFF = exported - confirmed: positive when less was confirmed",
        "EXPORTER",
        "DIFF (ct)",
        &format!("{}.{:02}", seeded_diff / 100, seeded_diff % 100),
    ]);
    // Units in the headers only; amounts right-aligned.
    let q_out = kpl(&[
        "--node",
        &bw,
        "stats",
        "--year",
        "2026",
        "--quarter",
        &q.to_string(),
    ])
    .code(0)
    .stdout;
    assert!(
        !q_out.contains(" ct ") && !q_out.contains("US$ "),
        "{q_out}"
    );
    let rows: Vec<&str> = q_out
        .lines()
        .skip_while(|l| !l.starts_with("PARTICIPANT"))
        .skip(2)
        .take_while(|l| !l.is_empty())
        .collect();
    // The last column is a number: right-aligned, every row ends in the
    // same column.
    let ends: BTreeSet<usize> = rows.iter().map(|l| l.chars().count()).collect();
    assert!(rows.len() > 1, "{q_out}");
    assert_eq!(ends.len(), 1, "{rows:?}");
    let csv = kpl(&["--node", &bw, "stats", "--year", "2026", "--csv"])
        .code(0)
        .stdout;
    let (pcsv, mcsv) = csv.split_once("\n\n").expect("two CSV tables");
    let mut lines = pcsv.lines();
    assert_eq!(
        lines.next(),
        Some(ledger_core::analysis::stats::PARTICIPANTS_CSV_HEADER)
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), year["participants"].as_array().unwrap().len());
    for (line, p) in rows.iter().zip(year["participants"].as_array().unwrap()) {
        let f = |s: &str, k: &str| p[s][k].as_u64().unwrap().to_string();
        let want = [
            p["participant"].as_str().unwrap().to_owned(),
            f("exports", "certificates"),
            f("exports", "carat_hundredths"),
            f("exports", "value_usd_cents"),
            f("imports", "certificates"),
            f("imports", "carat_hundredths"),
            f("imports", "value_usd_cents"),
        ]
        .join(",");
        assert_eq!(*line, want);
    }
    let mut mlines = mcsv.lines();
    assert_eq!(
        mlines.next(),
        Some(ledger_core::analysis::stats::MIRROR_CSV_HEADER)
    );
    let want_mirror = format!("{},{},", mc.issuer, mc.destination);
    let mline = mlines
        .find(|l| l.starts_with(&want_mirror))
        .expect("mirror CSV row of the mismatched pair");
    let cols: Vec<&str> = mline.split(',').collect();
    assert_eq!(cols.len(), 11, "{mline}");
    assert_eq!(cols[9], seeded_diff.to_string(), "{mline}");
    assert_eq!(
        mcsv.lines().count() - 1,
        year["mirror"].as_array().unwrap().len()
    );
    kpl(&["--node", &bw, "stats"]).code(2).err_has(&["--year"]);

    // ---------------------------------------------------------- trace
    // A hub's re-export citing another hub's re-export (IN citing EU).
    let root = certs
        .iter()
        .find(|c| {
            c.issuer == "IN"
                && c.sources.iter().any(|s| {
                    s.starts_with("EU-2026-")
                        && by_number
                            .get(s.as_str())
                            .is_some_and(|e| !e.sources.is_empty())
                })
        })
        .expect("an IN re-export citing an EU re-export");
    let t = kpl(&["--node", &wdc, "--json", "trace", &root.number]).json();
    let tree = &t["trace"];
    // The tree follows the plan's sources down to the mines.
    fn check_node(n: &Value, by_number: &BTreeMap<&str, &SeedCert>, depth: usize) {
        let number = n["certificate"].as_str().unwrap();
        let c = by_number[number];
        assert_eq!(n["found"], true, "{number}");
        assert_eq!(n["issuer"], c.issuer.as_str(), "{number}");
        assert_eq!(n["carat_hundredths"], c.carats, "{number}");
        assert_eq!(n["cycle"], false);
        assert_eq!(n["truncated"], false);
        let kids: Vec<&str> = n["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["certificate"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = c.sources.iter().map(String::as_str).collect();
        assert_eq!(kids, want, "children of {number}");
        if c.sources.is_empty() {
            // A mine's certificate: single origin, its issuer's country.
            assert_eq!(n["origin"]["single"]["country"], c.issuer.as_str(), "{n}");
        } else {
            assert!(
                n["origin"].get("mixed").is_some(),
                "{number}: {}",
                n["origin"]
            );
        }
        assert!(depth < 10);
        for k in n["children"].as_array().unwrap() {
            check_node(k, by_number, depth + 1);
        }
    }
    check_node(tree, &by_number, 0);
    assert!(tree_depth(tree) >= 3, "root, hub, mine: {tree}");
    let mut numbers = Vec::new();
    tree_numbers(tree, &mut numbers);
    let anomalous: BTreeSet<&str> = anomalies.iter().map(|a| a.certificate.as_str()).collect();
    let want_findings = numbers
        .iter()
        .filter(|n| anomalous.contains(n.as_str()))
        .count();
    assert_eq!(t["findings"], want_findings, "{t}");
    assert_eq!(t["unaccounted_carat_hundredths"], 0, "{t}");
    let want_code = if want_findings > 0 { 1 } else { 0 };
    let o = kpl(&["--node", &wdc, "--json", "trace", &root.number]).code(want_code);
    assert_eq!(o.json()["trace"], *tree);
    let text = kpl(&["--node", &bw, "trace", &root.number]).code(want_code);
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let text = text.out_has(&refs).out_has(&["└─"]);
    // Children are drawn indented below their parent.
    let pos = |n: &str| text.stdout.find(n).unwrap();
    for k in tree["children"].as_array().unwrap() {
        assert!(pos(k["certificate"].as_str().unwrap()) > pos(&root.number));
    }
    kpl(&["--node", &bw, "trace", "XX-2026-424242"])
        .code(1)
        .err_has(&["never issued"]);

    // ---------------------------------------------------------- bundles
    // Checkpoints are signed and cosigned a moment after the writes: a
    // bundle is refused (409, exit 2) until they cover every event.
    let bundle_path = format!("{dir_s}/bundle.json");
    let mut proved = false;
    for _ in 0..120 {
        if kpl(&["--node", &wdc, "prove", &root.number, "-o", &bundle_path]).code == Some(0) {
            proved = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(proved, "no bundle for {} within 60 s", root.number);
    let net_id = kpl(&["--node", &bw, "--json", "status"]).code(0).json()["network_id"]
        .as_str()
        .unwrap()
        .to_owned();
    kpl(&[
        "verify-bundle",
        &bundle_path,
        "--network-id",
        &net_id,
        "--witnesses",
        "3",
    ])
    .code(0)
    .out_has(&["OK:", &root.number]);
    // Beside the verdict, what it certifies: the certificate's fields in
    // people's units, its confirmations, its lineage with origins.
    let mut certified = vec![
        "What it certifies".to_owned(),
        format!("certificate {}", root.number),
        format!("  weight       {}", ct(root.carats)),
        format!("  value        {}", dollars(root.cents)),
        format!("  destination  {}", root.destination),
        "  HS codes     7102.".to_owned(),
        "  exporter     ".to_owned(),
        format!("  sources      {}", root.sources.join(", ")),
        "Lineage (from the bundle's events):".to_owned(),
        "└─ ".to_owned(),
        "ORIGIN".to_owned(),
    ];
    if let Some((carats, cents, received)) = &root.confirmation {
        certified.push("  status       confirmed".to_owned());
        certified.push(format!("  {received}  received by {} (", root.destination));
        certified.push(format!("{}, {}", ct(*carats), dollars(*cents)));
    }
    for n in &numbers {
        let c = by_number[n.as_str()];
        certified.push(format!(
            "{n}  {} → {}  {}",
            c.issuer,
            c.destination,
            ct(c.carats)
        ));
        if c.sources.is_empty() {
            certified.push(format!(
                "{}  {}  origin {}",
                ct(c.carats),
                dollars(c.cents),
                c.issuer
            ));
        }
    }
    let refs: Vec<&str> = certified.iter().map(String::as_str).collect();
    kpl(&["verify-bundle", &bundle_path, "--network-id", &net_id])
        .code(0)
        .out_has(&refs);
    let v = kpl(&[
        "--json",
        "verify-bundle",
        &bundle_path,
        "--network-id",
        &net_id,
    ])
    .code(0)
    .json();
    assert!(v["report"]["events"].as_array().unwrap().len() >= 2, "{v}");
    let cert = &v["report"]["certified"];
    assert_eq!(
        cert["certificate"]["effective"]["number"],
        root.number.as_str()
    );
    assert_eq!(
        cert["certificate"]["effective"]["carat_hundredths"],
        root.carats
    );
    assert_eq!(
        cert["certificate"]["effective"]["value_usd_cents"],
        root.cents
    );
    assert_eq!(cert["lineage"]["certificate"], root.number.as_str());
    check_node(&cert["lineage"], &by_number, 0);
    assert_eq!(cert["by_origin"], t["by_origin"], "{v}");
    assert_eq!(v["report"]["refused_cosignatures"], 0, "{v}");
    // A cosignature with a corrupted signature, and one with a corrupted
    // key id, are refused and counted, each with why; the others still
    // carry the verdict.
    let mut b: Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle_path).unwrap()).unwrap();
    let note = b["checkpoints"][0]["note"].as_str().unwrap().to_owned();
    let mut lines: Vec<String> = note.split('\n').map(str::to_owned).collect();
    let witness_lines: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("\u{2014} ") && lines[i].contains("/witness/"))
        .collect();
    assert!(witness_lines.len() >= 3, "{note}");
    let flip = |line: &mut String, from_end: usize| {
        let (head, sig) = line.rsplit_once(' ').unwrap();
        let mut sig = sig.as_bytes().to_vec();
        let i = sig.len() - from_end;
        sig[i] = if sig[i] == b'A' { b'B' } else { b'A' };
        *line = format!("{head} {}", String::from_utf8(sig).unwrap());
    };
    let who = |line: &str| -> String {
        let name = line.split(' ').nth(1).unwrap();
        name.split("/witness/")
            .nth(1)
            .unwrap()
            .replace("observer/", "observer ")
    };
    let (bad_sig, bad_key) = (witness_lines[0], witness_lines[1]);
    flip(&mut lines[bad_sig], 20);
    let key_at = lines[bad_key].rsplit_once(' ').unwrap().1.len() - 1;
    flip(&mut lines[bad_key], key_at);
    let (bad_sig_who, bad_key_who) = (who(&lines[bad_sig]), who(&lines[bad_key]));
    b["checkpoints"][0]["note"] = json!(lines.join("\n"));
    let tampered = format!("{dir_s}/bundle-cosigned.json");
    std::fs::write(&tampered, serde_json::to_string_pretty(&b).unwrap()).unwrap();
    kpl(&["verify-bundle", &tampered, "--network-id", &net_id])
        .code(0)
        .out_has(&[
            "OK:",
            &format!("1 cosignature(s) refused: signature does not verify ({bad_sig_who})"),
            &format!("1 cosignature(s) refused: not signed with the witness's current key ({bad_key_who})"),
            "WARNING: 2 cosignature(s) refused",
        ]);
    let v = kpl(&[
        "--json",
        "verify-bundle",
        &tampered,
        "--network-id",
        &net_id,
    ])
    .code(0)
    .json();
    assert_eq!(v["report"]["refused_cosignatures"], 2, "{v}");
    let refused = &v["report"]["checkpoints"][0]["refused"];
    assert!(
        refused.as_array().unwrap().contains(
            &json!({"witness": bad_sig_who, "reason": "signature does not verify", "count": 1})
        ),
        "{refused}"
    );
    let all_witnesses = witness_lines.len();
    kpl(&[
        "verify-bundle",
        &tampered,
        "--network-id",
        &net_id,
        "--witnesses",
        &all_witnesses.to_string(),
    ])
    .code(1)
    .out_has(&["FAILED", "required"]);
    kpl(&[
        "verify-bundle",
        &bundle_path,
        "--network-id",
        &net_id,
        "--witnesses",
        "50",
    ])
    .code(1)
    .out_has(&["FAILED", "required"]);
    kpl(&[
        "verify-bundle",
        &bundle_path,
        "--network-id",
        &"0".repeat(64),
    ])
    .code(1)
    .out_has(&["FAILED", "not the trusted network"]);
    // One changed hex digit inside an encoded event is caught.
    let text = std::fs::read_to_string(&bundle_path).unwrap();
    let i = text.find("\"event\": \"").unwrap() + 60;
    let mut bytes = text.into_bytes();
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    std::fs::write(&bundle_path, bytes).unwrap();
    kpl(&["verify-bundle", &bundle_path, "--network-id", &net_id])
        .code(1)
        .out_has(&["FAILED", "event #"]);

    // ---------------------------------------------------------- reads
    let first = &certs[0];
    let o = kpl(&["--node", &eu, "--json", "show", &first.number])
        .code(0)
        .json();
    assert_eq!(o["number"], first.number.as_str());
    assert_eq!(o["status"], "confirmed");
    let ci = &o["issued"][0]["body"]["certificate_issued"];
    assert_eq!(ci["carat_hundredths"], first.carats);
    assert_eq!(ci["value_usd_cents"], first.cents);
    assert_eq!(ci["destination"], first.destination.as_str());
    assert_eq!(o["confirmations"].as_array().unwrap().len(), 1);
    kpl(&["--node", &eu, "show", &first.number])
        .code(0)
        .out_has(&[
            &format!("certificate {}", first.number),
            "status       confirmed",
            "issued",
            "confirmed",
            "DATE",
        ]);
    kpl(&["--node", &eu, "show", "BW-2026-777777"])
        .code(1)
        .err_has(&["not in the ledger"]);
    let lower = first.number.to_ascii_lowercase();
    kpl(&["--node", &eu, "show", &lower]).code(1).err_has(&[
        "written in capitals",
        &format!("did you mean {}", first.number),
    ]);

    let st = kpl(&["--node", &bw, "--json", "status"]).code(0).json();
    assert_eq!(st["events"], seeded, "{st}");
    assert_eq!(st["network"], "kp-devnet");
    let peer_members: BTreeSet<&str> = st["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["member"].as_str().unwrap())
        .collect();
    let other_members: BTreeSet<&str> = nodes
        .iter()
        .filter(|(l, _)| l.as_str() != "BW")
        .map(|(_, n)| n.member.split('/').next().unwrap())
        .collect();
    assert_eq!(peer_members, other_members, "{st}");
    assert_eq!(st["fork_proofs"], 0);
    assert_eq!(st["read_only"], false);
    let wst = kpl(&["--node", &wdc, "--json", "status"]).code(0).json();
    assert_eq!(wst["read_only"], true);
    assert_eq!(wst["network_id"], st["network_id"]);
    kpl(&["--node", &bw, "status"]).code(0).out_has(&[
        "network     kp-devnet",
        "PEER",
        "MEMBER",
        "observer wdc",
    ]);

    let f = kpl(&["--node", &wdc, "--json", "feeds"]).code(0).json();
    let feeds = f["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), participants.len(), "{f}");
    assert_eq!(
        feeds
            .iter()
            .map(|x| x["seq"].as_u64().unwrap())
            .sum::<u64>(),
        seeded
    );
    assert_eq!(f["fork_proofs"], json!([]));
    kpl(&["--node", &wdc, "feeds"]).code(0).out_has(&[
        "AUTHOR",
        "BW/mme",
        "IL/diamond-controller",
        "no forks",
    ]);

    let v = kpl(&["--node", &wdc, "--json", "verify"]).code(0).json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["events"], seeded);
    assert_eq!(v["failure"], Value::Null);
    kpl(&["--node", &bw, "verify"])
        .code(0)
        .out_has(&["OK:", &format!("{seeded} events")]);

    kpl(&["devnet", "status", "--dir", &dir_s])
        .code(0)
        .out_has(&["NODE", "running", "wdc"]);
    let ds = kpl(&["--json", "devnet", "status", "--dir", &dir_s])
        .code(0)
        .json();
    assert_eq!(ds["nodes"].as_array().unwrap().len(), 11);
    assert!(
        ds["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["running"] == true),
        "{ds}"
    );
    // `up` again: reuses the running nodes and does not seed twice.
    let again = kpl_env(
        &["--json", "devnet", "up", "--dir", &dir_s],
        &[],
        Duration::from_secs(180),
    )
    .code(0)
    .json();
    assert_eq!(again["seeded"], 0, "{again}");
    for n in again["nodes"].as_array().unwrap() {
        assert_eq!(n["api"], nodes[n["label"].as_str().unwrap()].api.as_str());
    }
    // The commands `up` prints work pasted into a fresh shell, from any
    // directory, with `kpl` on no PATH.
    let text_up = kpl_env(
        &["devnet", "up", "--dir", &dir_s],
        &[],
        Duration::from_secs(180),
    )
    .code(0)
    .out_has(&["next, try:"]);
    let printed: Vec<&str> = text_up
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(" --node ") || l.contains(" devnet "))
        .collect();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let pasted = |line: &str| -> std::process::Output {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(line)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("XDG_STATE_HOME", state_home())
            .current_dir(&elsewhere)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for want in [" feeds", " devnet status --dir "] {
        let line = printed
            .iter()
            .find(|l| l.ends_with(want) || l.contains(want))
            .unwrap_or_else(|| panic!("no printed command with {want:?}:\n{}", text_up.stdout));
        let o = pasted(line);
        assert!(
            o.status.success(),
            "{line}: {:?}\n{}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("BW"),
            "{line}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }

    // The web explorer `up` points to shows the seeded trade: a re-export's
    // provenance drawn back through the hubs, and the anomalies found.
    let explorer = text_up
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("or open "))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no explorer address printed:\n{}", text_up.stdout))
        .to_owned();
    let base = explorer
        .strip_suffix("/explorer")
        .unwrap_or_else(|| panic!("{explorer}"));
    let (status, page) = kpl_node::cluster::http(
        "GET",
        base,
        "/explorer/certificates/IN-2026-000003",
        None,
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.matches("<g class=\"node").count() >= 3, "{page}");
    let (status, page) =
        kpl_node::cluster::http("GET", base, "/explorer/audit", None, None).unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("class=\"finding high\""), "{page}");

    // ---------------------------------------------------------- writes
    // Our own certificates: (number, destination, carats, cents), all BW's,
    // all issued in 2026 Q4; the voided ones are left out of the exports.
    let mut mine: Vec<(String, &str, u64, u64)> = Vec::new();
    let mut voided: BTreeSet<String> = BTreeSet::new();
    let bw_tok = tok("BW");
    let issue_flags = |number: &str, dest: &str, carats: &str, value: &str| -> Vec<String> {
        [
            "issue",
            "--number",
            number,
            "--origin",
            "BW",
            "--zone",
            "Orapa",
            "--issued",
            "2026-11-20",
            "--destination",
            dest,
            "--carats",
            carats,
            "--value",
            value,
            "--parcels",
            "2",
            "--hs",
            "7102.10,7102.31",
            "--exporter-name",
            "Debswana Diamond Company",
            "--exporter-address",
            "Gaborone",
            "--importer-name",
            "Antwerp Rough BV",
            "--importer-address",
            "Hoveniersstraat 2, Antwerp",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |prefix: &[&str], rest: &[String]| -> Out {
        let mut a: Vec<&str> = prefix.to_vec();
        a.extend(rest.iter().map(String::as_str));
        kpl(&a)
    };

    // No token: 401 with the hint; the observer: 403.
    run(
        &["--node", &bw],
        &issue_flags("BW-2026-100009", "EU", "10", "10"),
    )
    .code(2)
    .err_has(&["401", "--token-file", "KPL_TOKEN"]);
    kpl(&[
        "--node",
        &eu,
        "confirm",
        &first.number,
        "--parcels",
        "1",
        "--carats",
        "1",
        "--value",
        "1",
    ])
    .code(2)
    .err_has(&["401", "--token-file"]);
    kpl_env(
        &["--node", &bw, "void", &first.number, "--reason", "lost"],
        &[("KPL_TOKEN", "not-the-token")],
        CMD_TIMEOUT,
    )
    .code(2)
    .err_has(&["401"]);
    run(
        &["--node", &wdc, "--token-file", &tok("wdc")],
        &issue_flags("BW-2026-100009", "EU", "10", "10"),
    )
    .code(2)
    .err_has(&["403", "read-only"]);
    kpl(&["--node", &wdc, "--token-file", &tok("wdc"), "rotate-key"])
        .code(2)
        .err_has(&["403", "read-only"]);

    // issue from flags: table, then JSON.
    let o = run(
        &["--node", &bw, "--token-file", &bw_tok],
        &issue_flags("BW-2026-100001", "EU", "1000.50", "250000"),
    )
    .code(0)
    .out_has(&["issued BW-2026-100001: event ", "(durable)"]);
    assert!(o.stdout.contains(" at seq "), "{}", o.stdout);
    mine.push(("BW-2026-100001".into(), "EU", 99_950, 25_000_000)); // after the correction below
    let o = run(
        &["--node", &bw, "--token-file", &bw_tok, "--json"],
        &issue_flags("BW-2026-100002", "AE", "500", "80000.5"),
    )
    .code(0)
    .json();
    assert_eq!(o["durable"], true);
    assert!(is_hex64(&o["id"]), "{o}");
    let seq2 = o["seq"].as_u64().unwrap();
    assert_eq!(seq2, head(&bw, "BW/mme").unwrap().0);
    voided.insert("BW-2026-100002".into());
    // KPL_TOKEN_FILE works like --token-file.
    let mut args = vec!["--node", bw.as_str(), "--json"];
    let rest = issue_flags("BW-2026-100003", "IN", "300", "60000");
    args.extend(rest.iter().map(String::as_str));
    let o = kpl_env(&args, &[("KPL_TOKEN_FILE", &bw_tok)], CMD_TIMEOUT)
        .code(0)
        .json();
    assert_eq!(o["seq"], seq2 + 1);
    mine.push(("BW-2026-100003".into(), "IN", 30_000, 6_000_000));
    // Bad input: refused locally (2) or by the node (2, with its reason).
    let mut bad = issue_flags("BW-2026-100004", "EU", "1.234", "10");
    run(&["--node", &bw, "--token-file", &bw_tok], &bad)
        .code(2)
        .err_has(&["--carats", "1.234"]);
    bad = issue_flags("BW-2026-100004", "EU", "10", "10");
    let hs = bad.iter().position(|a| a == "--hs").unwrap();
    bad[hs + 1] = "8471.30".into();
    run(&["--node", &bw, "--token-file", &bw_tok], &bad)
        .code(2)
        .err_has(&["422", "8471.30"]);
    bad = issue_flags("ZA-2026-100004", "EU", "10", "10");
    run(&["--node", &bw, "--token-file", &bw_tok], &bad)
        .code(2)
        .err_has(&["422", "BW"]);

    // correct: carats (table), importer name (JSON); a bad field is refused.
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "correct",
        "BW-2026-100001",
        "--field",
        "carats",
        "--to",
        "999.50",
        "--note",
        "reweighed at the airport",
    ])
    .code(0)
    .out_has(&["corrected carats of BW-2026-100001: event", "(durable)"]);
    let o = kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "--json",
        "correct",
        "BW-2026-100001",
        "--field",
        "importer-name",
        "--to",
        "Antwerp Rough NV",
        "--note",
        "legal name",
    ])
    .code(0)
    .json();
    assert_eq!(o["durable"], true);
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "correct",
        "BW-2026-100001",
        "--field",
        "colour",
        "--to",
        "x",
        "--note",
        "n",
    ])
    .code(2)
    .err_has(&["not a correctable field"]);
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "correct",
        "BW-2026-123456",
        "--field",
        "carats",
        "--to",
        "1",
        "--note",
        "n",
    ])
    .code(2)
    .err_has(&["not in the ledger"]);

    // void (JSON); a reason outside the list is refused.
    let o = kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "--json",
        "void",
        "BW-2026-100002",
        "--reason",
        "cancelled",
        "--note",
        "buyer withdrew",
    ])
    .code(0)
    .json();
    assert_eq!(o["durable"], true);
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "void",
        "BW-2026-100003",
        "--reason",
        "misplaced",
    ])
    .code(2)
    .err_has(&["misplaced", "cancelled", "lost", "stolen", "seized"]);

    // confirm on the importer's node: table, then JSON (below, after the batch).
    let eu_tok = tok("EU");
    kpl(&[
        "--node",
        &eu,
        "--token-file",
        &eu_tok,
        "confirm",
        "BW-2026-100001",
        "--parcels",
        "2",
        "--carats",
        "999.50",
        "--value",
        "250000",
        "--received",
        "2026-11-25",
    ])
    .code(0)
    .out_has(&["confirmed import under BW-2026-100001: event", "(durable)"]);

    // issue --file: a CSV with bad rows.
    let csv_path = tmp.path().join("certs.csv");
    let row = |n: &str,
               origin: &str,
               issued: &str,
               expires: &str,
               dest: &str,
               ct: &str,
               hs: &str| {
        format!("{n},{origin},,{issued},{expires},,Debswana,Gaborone,Antwerp Rough BV,Antwerp,{dest},{ct},250000.00,2,{hs},\n")
    };
    let mut text = format!("{CSV_HEADER}\n");
    text += &row(
        "BW-2026-100010",
        "BW",
        "2026-11-21",
        "2027-01-20",
        "EU",
        "1234.56",
        "7102.10;7102.31",
    );
    text += &row(
        "ZA-2026-100012",
        "BW",
        "2026-11-21",
        "2027-01-20",
        "EU",
        "10",
        "7102.31",
    );
    text += &row(
        "BW-2026-100013",
        "BW",
        "2026-11-21",
        "2026-11-01",
        "EU",
        "10",
        "7102.31",
    );
    text += &row(
        "BW-2026-100014",
        "BW",
        "2026-11-21",
        "2027-01-20",
        "EU",
        "10",
        "8471.30",
    );
    text += &row(
        "BW-2026-100015",
        "BW",
        "2026-11-21",
        "2027-01-20",
        "EU",
        "0",
        "7102.31",
    );
    text += &row(
        "BW-2026-100011",
        "mixed:BW;ZA",
        "2026-11-22",
        "2027-01-21",
        "AE",
        "50.5",
        "7102.31",
    );
    text += &row(
        "BW-2026-100010",
        "BW",
        "2026-11-21",
        "2027-01-20",
        "IL",
        "5",
        "7102.31",
    );
    std::fs::write(&csv_path, &text).unwrap();
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "issue",
        "--file",
        &s(&csv_path),
    ])
    .code(1)
    .out_has(&[
        "2 accepted, 5 refused",
        "NUMBER",
        "FIELD",
        "WHY",
        "ZA-2026-100012",
        "BW-2026-100013",
        "expires_on",
        "BW-2026-100014",
        "hs_codes",
        "BW-2026-100015",
        "carat_hundredths",
        "appears twice",
    ]);
    mine.push(("BW-2026-100010".into(), "EU", 123_456, 25_000_000));
    mine.push(("BW-2026-100011".into(), "AE", 5_050, 25_000_000));
    // The same file again as JSON: the numbers now exist, which the node does
    // not refuse (the audit reports duplicates), so use fresh numbers.
    let json_path = tmp.path().join("certs.json");
    let cert = |n: &str, dest: &str, ct: u64, issued: &str| {
        json!({
            "number": n,
            "origin": {"single": {"country": "BW", "zone": null}},
            "issued_on": issued,
            "expires_on": "2027-01-25",
            "issuing_authority": "",
            "exporter": {"name": "Debswana", "address": "Gaborone"},
            "importer": {"name": "Gem Importers Pvt Ltd", "address": "Mumbai"},
            "destination": dest,
            "carat_hundredths": ct,
            "value_usd_cents": 1_000_000,
            "parcels": 1,
            "hs_codes": ["7102.31"],
            "source_certificates": [],
        })
    };
    let mut missing = cert("BW-2026-100021", "IN", 100, "2026-11-23");
    missing.as_object_mut().unwrap().remove("destination");
    let arr = json!([
        cert("BW-2026-100020", "IN", 20_000, "2026-11-23"),
        missing,
        cert("BW-2026-100022", "IN", 100, "2026-13-45"),
        cert("CA-2026-100023", "IN", 100, "2026-11-23"),
    ]);
    std::fs::write(&json_path, arr.to_string()).unwrap();
    let o = kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "--json",
        "issue",
        "--file",
        &s(&json_path),
    ])
    .code(1)
    .json();
    let acc = o["accepted"].as_array().unwrap();
    let refused = o["refused"].as_array().unwrap();
    assert_eq!(acc.len(), 1, "{o}");
    assert_eq!(acc[0]["number"], "BW-2026-100020");
    assert!(is_hex64(&acc[0]["id"]) && acc[0]["seq"].is_u64(), "{o}");
    let refused_numbers: Vec<&str> = refused
        .iter()
        .map(|r| r["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        refused_numbers,
        ["BW-2026-100021", "BW-2026-100022", "CA-2026-100023"],
        "{o}"
    );
    assert_eq!(refused[0]["error"]["field"], "destination", "{o}");
    assert_eq!(refused[2]["error"]["field"], "number", "{o}");
    for r in refused {
        assert!(!r["error"]["message"].as_str().unwrap().is_empty(), "{r}");
    }
    mine.push(("BW-2026-100020".into(), "IN", 20_000, 1_000_000));
    // A row that does not even parse is refused on its own, the others go
    // on; an empty expiry is 60 days after issue, as with the flags.
    let bad_csv = tmp.path().join("bad.csv");
    std::fs::write(
        &bad_csv,
        format!(
            "{CSV_HEADER}\n{}{}",
            row(
                "BW-2026-100029",
                "BW",
                "2026-11-21",
                "2027-01-20",
                "EU",
                "1.234",
                "7102.31"
            ),
            row(
                "BW-2026-100031",
                "BW",
                "2026-11-21",
                "",
                "EU",
                "12.5",
                "7102.31"
            )
        ),
    )
    .unwrap();
    let import = || {
        kpl(&[
            "--node",
            &bw,
            "--token-file",
            &bw_tok,
            "issue",
            "--file",
            &s(&bad_csv),
        ])
    };
    import().code(1).out_has(&[
        "1 accepted, 1 refused",
        "BW-2026-100029",
        "carats",
        "row 2",
        "1.234",
    ]);
    mine.push(("BW-2026-100031".into(), "EU", 1_250, 25_000_000));
    let shown = kpl(&["--node", &bw, "--json", "show", "BW-2026-100031"])
        .code(0)
        .json();
    assert_eq!(
        shown["issued"][0]["body"]["certificate_issued"]["expires_on"], "2027-01-20",
        "{shown}"
    );
    // Run again after the refusal: the row already signed is recognised,
    // not signed again (and the audit sees no duplicate).
    import()
        .code(1)
        .out_has(&["0 accepted, 1 refused; 1 already signed by an earlier run, not signed again"]);
    let shown = kpl(&["--node", &bw, "--json", "show", "BW-2026-100031"])
        .code(0)
        .json();
    assert_eq!(shown["issued"].as_array().unwrap().len(), 1, "{shown}");
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "issue",
        "--file",
        &s(&tmp.path().join("nope.csv")),
    ])
    .code(2);

    // void (table) and confirm (JSON).
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "void",
        "BW-2026-100011",
        "--reason",
        "lost",
    ])
    .code(0)
    .out_has(&["voided BW-2026-100011: event", "(durable)"]);
    voided.insert("BW-2026-100011".into());
    let o = kpl(&[
        "--node",
        &eu,
        "--token-file",
        &eu_tok,
        "--json",
        "confirm",
        "BW-2026-100010",
        "--parcels",
        "2",
        "--carats",
        "1234.56",
        "--value",
        "250000.00",
        "--received",
        "2026-11-26",
    ])
    .code(0)
    .json();
    assert_eq!(o["durable"], true);

    // rotate-key (table), then issue; rotate again (JSON), then issue a file.
    let o = kpl(&["--node", &bw, "--token-file", &bw_tok, "rotate-key"])
        .code(0)
        .out_has(&["rotated to key ", "next key committed: "]);
    let key1 = o.stdout.split_whitespace().nth(3).unwrap_or("").to_owned();
    assert!(is_hex64(&json!(key1)), "{}", o.stdout);
    run(
        &["--node", &bw, "--token-file", &bw_tok],
        &issue_flags("BW-2026-100040", "IN", "12.34", "5678.90"),
    )
    .code(0);
    mine.push(("BW-2026-100040".into(), "IN", 1_234, 567_890));
    let o = kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "--json",
        "rotate-key",
    ])
    .code(0)
    .json();
    assert!(
        is_hex64(&o["new_public_key"]) && is_hex64(&o["next_key_digest"]),
        "{o}"
    );
    assert_ne!(o["new_public_key"], key1.as_str());
    let good_csv = tmp.path().join("good.csv");
    std::fs::write(
        &good_csv,
        format!(
            "{CSV_HEADER}\n{}",
            row(
                "BW-2026-100030",
                "BW",
                "2026-12-01",
                "2027-01-30",
                "IL",
                "77.7",
                "7102.31"
            )
        ),
    )
    .unwrap();
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "issue",
        "--file",
        &s(&good_csv),
    ])
    .code(0)
    .out_has(&["1 accepted, 0 refused"]);
    mine.push(("BW-2026-100030".into(), "IL", 7_770, 25_000_000));

    // Everything reaches the observer, and its whole replica verifies.
    let want_bw = head(&bw, "BW/mme").unwrap();
    let want_eu = head(&eu, "EU/antwerp").unwrap();
    wait_until("the observer to catch up", Duration::from_secs(60), || {
        head(&wdc, "BW/mme").as_ref() == Some(&want_bw)
            && head(&wdc, "EU/antwerp").as_ref() == Some(&want_eu)
    });
    for node in [&wdc, &bw, &eu] {
        let v = kpl(&["--node", node, "--json", "verify"]).code(0).json();
        assert_eq!(v["ok"], true, "{v}");
    }
    let total_events = kpl(&["--node", &wdc, "--json", "status"]).code(0).json()["events"]
        .as_u64()
        .unwrap();

    let o = kpl(&["--node", &wdc, "--json", "show", "BW-2026-100001"])
        .code(0)
        .json();
    assert_eq!(o["status"], "confirmed", "{o}");
    assert_eq!(o["corrections"].as_array().unwrap().len(), 2, "{o}");
    assert_eq!(o["confirmations"].as_array().unwrap().len(), 1, "{o}");
    let ci = &o["issued"][0]["body"]["certificate_issued"];
    assert_eq!(ci["carat_hundredths"], 100_050);
    assert_eq!(ci["origin"]["single"]["zone"], "Orapa");
    assert_eq!(ci["hs_codes"], json!(["7102.10", "7102.31"]));
    assert_eq!(
        ci["issuing_authority"], "Ministry of Minerals and Energy, Diamond Hub",
        "the charter's title by default"
    );
    // Shown as it stands: the corrections applied, in people's units.
    let o = kpl(&["--node", &wdc, "show", "BW-2026-100001"])
        .code(0)
        .out_has(&[
            "corrected",
            "confirmed",
            "reweighed at the airport",
            "Orapa",
            "weight       999.50 ct   (corrected from 1,000.50 ct on",
            "Antwerp Rough NV",
            "HS codes     7102.10, 7102.31",
            "2 corrections applied:",
            "weight: 1,000.50 ct → 999.50 ct",
            "weight → 999.50 ct (reweighed at the airport)",
            "2026-11-20",
            "2 parcels",
        ]);
    assert!(!o.stdout.contains("carat_hundredths"), "{}", o.stdout);
    assert!(!o.stdout.contains("[\""), "{}", o.stdout);
    // Its bundle certifies it as it stands too, corrections applied.
    let corrected_bundle = format!("{dir_s}/bundle-corrected.json");
    wait_until(
        "a bundle of BW-2026-100001",
        Duration::from_secs(60),
        || {
            kpl(&[
                "--node",
                &wdc,
                "prove",
                "BW-2026-100001",
                "-o",
                &corrected_bundle,
            ])
            .code
                == Some(0)
        },
    );
    kpl(&["verify-bundle", &corrected_bundle, "--network-id", &net_id])
        .code(0)
        .out_has(&[
            "OK:",
            "certificate BW-2026-100001",
            "  origin       BW (Orapa)",
            "  weight       999.50 ct   (corrected from 1,000.50 ct on",
            "  importer     Antwerp Rough NV, Hoveniersstraat 2, Antwerp   (corrected from Antwerp Rough BV",
            "  value        US$ 250,000.00",
            "  HS codes     7102.10, 7102.31",
            "  issued       2026-11-20 by Ministry of Minerals and Energy, Diamond Hub",
            "  status       confirmed",
            "2 corrections applied:",
            "received by EU (EU/antwerp): 999.50 ct",
            "BW-2026-100001  BW → EU  999.50 ct  US$ 250,000.00  origin BW (Orapa)",
        ]);
    let o = kpl(&["--node", &wdc, "--json", "show", "BW-2026-100002"])
        .code(0)
        .json();
    assert_eq!(o["status"], "voided", "{o}");
    kpl(&["--node", &wdc, "show", "BW-2026-100002"])
        .code(0)
        .out_has(&["voided", "cancelled", "buyer withdrew"]);
    let o = kpl(&["--node", &wdc, "--json", "show", "BW-2026-100011"])
        .code(0)
        .json();
    assert_eq!(
        o["issued"][0]["body"]["certificate_issued"]["origin"]["mixed"]["countries"],
        json!(["BW", "ZA"])
    );

    // Q4 holds only our writes: exports without the voided certificates and
    // with the corrected carats; EU's imports are its two confirmations.
    let exported: Vec<SeedCert> = mine
        .iter()
        .filter(|m| !voided.contains(&m.0))
        .map(|(n, dest, ct, cents)| SeedCert {
            number: n.clone(),
            issuer: "BW".into(),
            destination: dest.to_string(),
            issued_on: if n == "BW-2026-100030" {
                "2026-12-01"
            } else {
                "2026-11-20"
            }
            .into(),
            carats: *ct,
            cents: *cents,
            sources: vec![],
            confirmation: None,
        })
        .collect();
    let q4_imports = vec![
        Import {
            importer: "EU".into(),
            exporter: "BW".into(),
            carats: 99_950,
            cents: 25_000_000,
            received_on: "2026-11-25".into(),
        },
        Import {
            importer: "EU".into(),
            exporter: "BW".into(),
            carats: 123_456,
            cents: 25_000_000,
            received_on: "2026-11-26".into(),
        },
    ];
    let want = expected_stats(&participants, &exported, &q4_imports, 2026, Some(4));
    let got = kpl(&[
        "--node",
        &wdc,
        "--json",
        "stats",
        "--year",
        "2026",
        "--quarter",
        "4",
    ])
    .code(0)
    .json();
    assert_stats(&got, &want, "stats 2026 Q4 after the writes");
    // Our writes raise no finding (the confirmations match the corrected
    // figures; a long grace keeps the unconfirmed ones out whatever today is),
    // and the seeded findings are unchanged.
    kpl(&[
        "--node",
        &wdc,
        "audit",
        "--from",
        "2026-10-01",
        "--grace-days",
        "3650",
    ])
    .code(0)
    .out_has(&["no findings"]);
    let a = kpl(&["--node", &wdc, "--json", "audit", "--to", "2026-09-30"])
        .code(1)
        .json();
    assert_eq!(finding_keys(&a), expected_keys(anomalies.iter()));

    // ---------------------------------------------------------- governance
    // The Chair (BW, the devnet's first participant) proposes to suspend AO
    // except for exports from two zones, effective well after every trade
    // the seed and the writes above recorded (so the audit is unchanged);
    // the other participants approve through their own nodes until the
    // quorum (2/3 of 10 in good standing: 7) adopts it.
    let today = ledger_core::Date::from_unix_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    );
    let effective = today.add_days(90);
    let eff = effective.to_string();
    let day_before = effective.add_days(-1).to_string();
    assert!(
        eff.as_str() > "2026-12-31",
        "the suspension must start after all recorded trade"
    );
    kpl(&["--node", &wdc, "gov", "list"]).code(0).out_has(&[
        "no governance proposals yet",
        "quorum 2/3",
        "chair BW",
    ]);
    let g = kpl(&["--node", &wdc, "--json", "gov", "list"])
        .code(0)
        .json();
    assert_eq!(g["decisions"], json!([]), "{g}");
    assert_eq!(g["chair"], "BW", "{g}");
    let m = kpl(&["--node", &wdc, "--json", "members"]).code(0).json();
    assert_eq!(m["chair"], "BW", "{m}");
    assert_eq!(m["at"], today.to_string().as_str(), "{m}");
    let ps = m["participants"].as_array().unwrap();
    assert_eq!(ps.len(), 10, "{m}");
    for p in ps {
        assert_eq!(p["standing"], "member", "{p}");
        for a in p["authorities"].as_object().unwrap().values() {
            assert_eq!(
                a["roles"],
                json!(["issue", "confirm", "governance"]),
                "devnet authorities may govern: {p}"
            );
        }
    }
    assert_eq!(m["observers"][0]["id"], "wdc", "{m}");
    kpl(&["--node", &wdc, "members"]).code(0).out_has(&[
        "chair BW",
        "AO    Angola",
        "member",
        "mirempet (issue,confirm,governance)",
        "10 participant(s): 10 in good standing, 0 suspended, 0 expelled",
        "World Diamond Council",
    ]);

    // Usage errors: no reference, a date in the past, no kind, an observer
    // node, no token.
    let propose = |node: &str, extra: &[&str]| {
        let mut args = vec!["--node", node, "--token-file"];
        let label = nodes
            .iter()
            .find(|(_, n)| n.api == node)
            .map(|(l, _)| l.clone())
            .unwrap();
        let t = tok(&label);
        args.push(&t);
        args.extend_from_slice(&["gov", "propose"]);
        args.extend_from_slice(extra);
        kpl(&args)
    };
    propose(&bw, &["expel", "RU", "--effective", &eff])
        .code(2)
        .err_has(&["--reference"]);
    propose(
        &bw,
        &[
            "expel",
            "RU",
            "--effective",
            "2020-01-01",
            "--reference",
            "x",
        ],
    )
    .code(2)
    .err_has(&["not after today"]);
    propose(&bw, &["--reference", "x"])
        .code(2)
        .err_has(&["say what to propose"]);
    propose(&wdc, &["expel", "RU", "--reference", "x"])
        .code(2)
        .err_has(&["read-only"]);
    kpl(&[
        "--node",
        &bw,
        "gov",
        "propose",
        "expel",
        "RU",
        "--reference",
        "x",
    ])
    .code(2)
    .err_has(&["--token-file"]);
    let bad = tmp.path().join("bad-decision.json");
    std::fs::write(&bad, r#"{"banish":{"participant":"RU"}}"#).unwrap();
    propose(&bw, &["--decision-file", &s(&bad), "--reference", "x"])
        .code(2)
        .err_has(&[
            "not a decision",
            "`banish` is not one of: admit_participant",
        ]);

    // A proposal (from a decision file) by a participant that does not
    // chair is refused before signing; signed anyway (--force), it is
    // recorded, and refused by the timeline.
    let za = api("ZA");
    let expel_il = tmp.path().join("expel-il.json");
    std::fs::write(&expel_il, r#"{"expel":{"participant":"IL"}}"#).unwrap();
    let not_chair = [
        "--decision-file",
        &s(&expel_il),
        "--effective",
        &eff,
        "--reference",
        "not the Chair",
    ];
    propose(&za, &not_chair)
        .code(2)
        .err_has(&["409", "only the Chair proposes", "--force"]);
    // A suspension of a non-participant could have no effect.
    propose(
        &bw,
        &["suspend", "KE", "--effective", &eff, "--reference", "x"],
    )
    .code(2)
    .err_has(&["409", "KE is not a participant"]);
    let mut forced = not_chair.to_vec();
    forced.push("--force");
    let o = propose(&za, &forced)
        .code(0)
        .out_has(&["proposed: expel IL", "kpl gov approve "]);
    let refused_id = o.stdout.split_whitespace().last().unwrap_or("").to_owned();
    assert!(is_hex64(&json!(refused_id)), "{}", o.stdout);

    // The Chair's proposal, from flags (zones in any order).
    let reference = "Administrative Decision 2026/11 (AO)";
    let p = kpl(&[
        "--node",
        &bw,
        "--token-file",
        &tok("BW"),
        "--json",
        "gov",
        "propose",
        "suspend",
        "AO",
        "--except-zone",
        "Lulo",
        "--except-zone",
        "Catoca",
        "--effective",
        &eff,
        "--reference",
        reference,
    ])
    .code(0)
    .json();
    assert_eq!(p["author"], "BW/mme", "{p}");
    assert!(is_hex64(&p["id"]), "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let prefix = id[..12].to_owned();
    wait_until("ZA's proposal to reach BW", Duration::from_secs(60), || {
        kpl(&["--node", &bw, "gov", "show", &refused_id]).code == Some(1)
    });

    let g = kpl(&["--node", &bw, "--json", "gov", "list"])
        .code(0)
        .json();
    let ds = g["decisions"].as_array().unwrap();
    assert_eq!(ds.len(), 2, "{g}");
    let d = ds
        .iter()
        .find(|d| d["proposal"]["id"] == id.as_str())
        .unwrap();
    assert_eq!(
        d["decision"],
        json!({"suspend": {"participant": "AO", "exporting_zones": ["Catoca", "Lulo"]}}),
        "{d}"
    );
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["needed"], 7, "{d}");
    assert_eq!(d["approved_by"], json!(["BW"]), "{d}");
    assert_eq!(d["effective_on"], eff.as_str(), "{d}");
    assert_eq!(d["reference"], reference, "{d}");
    let r = ds
        .iter()
        .find(|d| d["proposal"]["id"] == refused_id.as_str())
        .unwrap_or_else(|| panic!("ZA's proposal reached BW: {g}"));
    assert_eq!(r["status"], "refused", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("Chair"),
        "refused because ZA does not chair: {r}"
    );
    kpl(&["--node", &bw, "gov", "list"]).code(0).out_has(&[
        &prefix,
        &eff,
        "pending",
        "1/7",
        "suspend AO except exports from Catoca, Lulo",
        "refused",
        "2 proposal(s): 0 adopted, 1 pending, 1 refused",
    ]);
    kpl(&["--node", &bw, "gov", "show", &refused_id[..8]])
        .code(1)
        .out_has(&["REFUSED", "expel IL"]);

    // Approvals, each from the participant's own node: by full id and by
    // prefix (once the node holds the proposal), ZA twice.
    let approvers = ["ZA", "CA", "NA", "RU", "EU", "AE"];
    for (i, who) in approvers.iter().enumerate() {
        let node = api(who);
        wait_until(
            &format!("{who}'s node to receive the proposal"),
            Duration::from_secs(60),
            || kpl(&["--node", &node, "gov", "show", &id]).code == Some(0),
        );
        let target = if i % 2 == 0 {
            id.clone()
        } else {
            prefix.clone()
        };
        let o = kpl(&[
            "--node",
            &node,
            "--token-file",
            &tok(who),
            "--json",
            "gov",
            "approve",
            &target,
            "--note",
            "agreed at the intersessional",
        ])
        .code(0)
        .json();
        assert!(o["author"].as_str().unwrap().starts_with(who), "{o}");
        if *who == "ZA" {
            kpl(&[
                "--node",
                &node,
                "--token-file",
                &tok(who),
                "gov",
                "approve",
                &prefix,
            ])
            .code(0)
            .out_has(&["approved proposal", &id, "the proposal is now pending"]);
        }
        if *who == "EU" {
            // Six of seven: still pending, and `gov show` says who may still approve.
            wait_until(
                "five approvals to reach the observer",
                Duration::from_secs(60),
                || {
                    let o = kpl(&["--node", &wdc, "--json", "gov", "show", &id]);
                    o.code == Some(0) && o.json()["approved_by"].as_array().unwrap().len() == 6
                },
            );
            kpl(&["--node", &wdc, "gov", "show", &prefix])
                .code(0)
                .out_has(&["status     pending", "waiting    1 more approval(s)"]);
        }
    }
    kpl(&[
        "--node",
        &wdc,
        "--token-file",
        &tok("wdc"),
        "gov",
        "approve",
        &id,
    ])
    .code(2)
    .err_has(&["read-only"]);
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &tok("BW"),
        "gov",
        "approve",
        "nothex",
    ])
    .code(2)
    .err_has(&["not a proposal id"]);
    wait_until(
        "the observer to see the decision adopted",
        Duration::from_secs(60),
        || {
            let o = kpl(&["--node", &wdc, "--json", "gov", "show", &id]);
            o.code == Some(0)
                && o.json()["status"] == "adopted"
                && o.json()["approvals"].as_array().unwrap().len() == 7
        },
    );
    let d = kpl(&["--node", &wdc, "--json", "gov", "show", &id])
        .code(0)
        .json();
    assert_eq!(
        d["approved_by"],
        json!(["AE", "BW", "CA", "EU", "NA", "RU", "ZA"]),
        "{d}"
    );
    let counted = d["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["counted"] == true)
        .count();
    assert_eq!(counted, 6, "ZA's second approval does not count: {d}");
    let dup = d["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["counted"] == false)
        .unwrap();
    assert_eq!(dup["event"]["author"]["participant"], "ZA", "{d}");
    assert!(
        dup["reason"].as_str().unwrap().contains("already approved"),
        "{d}"
    );
    kpl(&["--node", &wdc, "gov", "show", &prefix])
        .code(0)
        .out_has(&[
            &id,
            "suspend AO except exports from Catoca, Lulo",
            reference,
            "status     adopted",
            "7 of 10 participants in good standing needed; 7 approved",
            "ZA already approved",
            "7 approval event(s), 6 counted",
        ]);
    kpl(&["--node", &wdc, "gov", "list"]).code(0).out_has(&[
        "adopted",
        "7/7",
        "1 adopted, 0 pending, 1 refused",
    ]);
    kpl(&["--node", &wdc, "gov", "show", "0123456789ab"])
        .code(1)
        .err_has(&["no proposal 0123456789ab", "kpl gov list"]);

    // The membership changes on the effective date, not before.
    let standing = |at: &str| {
        let m = kpl(&["--node", &wdc, "--json", "members", "--at", at])
            .code(0)
            .json();
        assert_eq!(m["at"], at, "{m}");
        m["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["code"] == "AO")
            .cloned()
            .unwrap()
    };
    assert_eq!(standing(&day_before)["standing"], "member");
    let ao = standing(&eff);
    assert_eq!(ao["standing"], "suspended", "{ao}");
    assert_eq!(ao["exporting_zones"], json!(["Catoca", "Lulo"]), "{ao}");
    kpl(&["--node", &wdc, "members", "--at", &eff])
        .code(0)
        .out_has(&[
            &format!("membership on {eff}; chair BW"),
            "suspended",
            "Catoca, Lulo",
            "10 participant(s): 9 in good standing, 1 suspended, 0 expelled",
        ]);
    kpl(&["--node", &wdc, "members", "--at", &day_before])
        .code(0)
        .out_has(&["10 in good standing, 0 suspended"]);
    kpl(&["--node", &wdc, "members", "--at", "2027-02-30"])
        .code(2)
        .err_has(&["--at"]);
    // Statistics for the year of the decision say how AO stood, day by day.
    let year = &eff[..4];
    let suspended = format!("suspended {eff} to {year}-12-31 (may export from Catoca, Lulo)");
    let ao_line = if eff.ends_with("-01-01") {
        format!("AO: {suspended}")
    } else {
        format!("AO: member {year}-01-01 to {day_before}; {suspended}")
    };
    kpl(&["--node", &wdc, "stats", "--year", year])
        .code(0)
        .out_has(&["Membership during the period", &ao_line]);
    let st = kpl(&["--node", &wdc, "--json", "stats", "--year", year])
        .code(0)
        .json();
    let ao_row = st["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["participant"] == "AO")
        .cloned()
        .unwrap();
    let last = ao_row["membership"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["standing"], "suspended", "{ao_row}");
    assert_eq!(last["from"], eff.as_str(), "{ao_row}");
    // The decision raises no audit finding: no trade after its date.
    kpl(&[
        "--node",
        &wdc,
        "audit",
        "--from",
        "2026-10-01",
        "--grace-days",
        "3650",
    ])
    .code(0)
    .out_has(&["no findings"]);

    let gov_online = kpl(&["--node", &wdc, "--json", "gov", "list"])
        .code(0)
        .json();

    // Every governance event has reached the observer: 2 proposals, 7 approvals.
    for (label, n) in &nodes {
        if let Some(author) = n.member.strip_prefix("participant ") {
            let want = head(&n.api, author);
            wait_until(
                &format!("the observer to hold {author}'s feed"),
                Duration::from_secs(60),
                || head(&wdc, author) == want,
            );
            assert!(want.is_some(), "{label}");
        }
    }
    let total_events_before_gov = total_events;
    let total_events = kpl(&["--node", &wdc, "--json", "status"]).code(0).json()["events"]
        .as_u64()
        .unwrap();
    assert_eq!(total_events, total_events_before_gov + 9);

    // ---------------------------------------------------------- one import drawn twice
    // EU confirmed 1,234.56 ct under BW-2026-100010; two re-exports of
    // 1,000 ct each citing it fit it one by one, not together.
    let eu_tok = tok("EU");
    for (number, dest) in [("EU-2026-700003", "IN"), ("EU-2026-700004", "AE")] {
        kpl(&[
            "--node",
            &eu,
            "--token-file",
            &eu_tok,
            "issue",
            "--number",
            number,
            "--origin",
            "BW",
            "--issued",
            "2026-11-27",
            "--destination",
            dest,
            "--carats",
            "1000",
            "--value",
            "1000",
            "--source",
            "BW-2026-100010",
            "--exporter-name",
            "Antwerp Rough BV",
            "--exporter-address",
            "Antwerp",
            "--importer-name",
            "Buyer",
            "--importer-address",
            "Elsewhere",
        ])
        .code(0);
    }
    wait_until("the re-exports reach the observer", CMD_TIMEOUT, || {
        ["EU-2026-700003", "EU-2026-700004"].iter().all(|n| {
            let o = kpl(&["--node", &wdc, "--json", "show", n]);
            o.code == Some(0)
                && serde_json::from_str::<Value>(o.stdout.trim())
                    .is_ok_and(|v| v["issued"].as_array().is_some_and(|a| !a.is_empty()))
        })
    });
    let a = kpl(&[
        "--node",
        &wdc,
        "--json",
        "audit",
        "--kind",
        "source_overallocated",
    ])
    .code(1)
    .json();
    assert_eq!(a["count"], 1, "{a}");
    let f = &a["findings"][0];
    assert_eq!(f["certificate"], "BW-2026-100010", "{f}");
    assert_eq!(f["severity"], "high", "{f}");
    assert_eq!(f["participants"], json!(["EU"]), "{f}");
    let why = f["explanation"].as_str().unwrap();
    assert!(why.contains("765.44 ct more than confirmed"), "{why}");
    assert!(
        why.contains("EU-2026-700003") && why.contains("EU-2026-700004"),
        "{why}"
    );
    // The trace of either re-export shows it on the way to the mine, and
    // where its carats come from.
    kpl(&["--node", &wdc, "trace", "EU-2026-700004"])
        .code(1)
        .out_has(&[
            "source_overallocated",
            "By origin",
            "ORIGIN",
            "CARATS (ct)",
            "BW ",
            "1,000.00",
            "100.0%",
        ]);
    // Filters, order and CSV.
    kpl(&[
        "--node",
        &wdc,
        "audit",
        "--severity",
        "high",
        "--kind",
        "source_overallocated",
        "--csv",
    ])
    .code(1)
    .out_has(&[
        "severity,kind,certificate,participants,date,events,explanation",
        "high,source_overallocated,BW-2026-100010,EU,2026-11-27,",
    ]);
    kpl(&["--node", &wdc, "audit", "--kind", "no_such_kind"])
        .code(2)
        .err_has(&["not a finding kind", "source_overallocated"]);
    let low = kpl(&["--node", &wdc, "--json", "audit", "--severity", "high"])
        .code(1)
        .json();
    assert!(
        low["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] == "high"),
        "{low}"
    );
    let dated = kpl(&["--node", &wdc, "--json", "audit", "--sort", "date"])
        .code(1)
        .json();
    let dates: Vec<&str> = dated["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["date"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    // Both re-exports are awaiting confirmation.
    let l = kpl(&[
        "--node",
        &wdc,
        "--json",
        "certificates",
        "--participant",
        "EU",
        "--direction",
        "exports",
        "--status",
        "awaiting_confirmation",
    ])
    .code(0)
    .json();
    let listed: Vec<&str> = l["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["certificate"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&"EU-2026-700003") && listed.contains(&"EU-2026-700004"),
        "{l}"
    );
    kpl(&[
        "--node",
        &wdc,
        "certificates",
        "--participant",
        "eu",
        "--direction",
        "exports",
        "--status",
        "awaiting_confirmation",
    ])
    .code(0)
    .out_has(&[
        "CERTIFICATE",
        "CARATS (ct)",
        "CONFIRM BY",
        "EU-2026-700004",
        "1,000.00",
        "awaiting confirmation",
    ]);
    kpl(&["--node", &wdc, "audit", "--participant", "EU"])
        .code(1)
        .out_has(&["awaiting confirmation, not overdue yet"]);

    // ---------------------------------------------------------- refused before signing
    let bw_run = |rest: &[String]| run(&["--node", &bw, "--token-file", &bw_tok], rest);
    // A retry of the same issue is answered with the original.
    bw_run(&issue_flags("BW-2026-100001", "EU", "1000.50", "250000"))
        .code(0)
        .out_has(&["already signed earlier", "nothing new was signed"]);
    // The same number with other content is refused, naming the fix.
    bw_run(&issue_flags("BW-2026-100001", "EU", "999", "250000"))
        .code(2)
        .err_has(&["409", "already issued", "kpl correct", "--force"]);
    // An export to oneself, or to a non-participant, is refused.
    bw_run(&issue_flags("BW-2026-100050", "BW", "10", "10"))
        .code(2)
        .err_has(&["422", "its own issuer"]);
    bw_run(&issue_flags("BW-2026-100051", "ZZ", "10", "10"))
        .code(2)
        .err_has(&["422", "ZZ is not a KP participant"]);
    let eu_confirm = |number: &str, extra: &[&str]| {
        let mut a = vec![
            "--node",
            &eu,
            "--token-file",
            &eu_tok,
            "confirm",
            number,
            "--parcels",
            "1",
            "--carats",
            "1",
            "--value",
            "1",
        ];
        a.extend_from_slice(extra);
        kpl(&a)
    };
    eu_confirm("BW-2026-999999", &[])
        .code(2)
        .err_has(&["422", "no participant issued it"]);
    eu_confirm("bw-2026-100001", &[])
        .code(2)
        .err_has(&["did you mean BW-2026-100001"]);
    eu_confirm("BW-2026-100002", &[])
        .code(2)
        .err_has(&["409", "addressed to AE, not EU"]);
    kpl(&[
        "--node",
        &bw,
        "--token-file",
        &bw_tok,
        "void",
        "BW-2026-999998",
        "--reason",
        "lost",
    ])
    .code(2)
    .err_has(&["422", "no participant issued it"]);
    // Signed anyway on request: warned, and the audit reports it.
    eu_confirm("BW-2026-100002", &["--force"])
        .code(0)
        .err_has(&["signed anyway", "addressed to AE"]);
    wait_until(
        "the forced confirmation reaches the observer",
        CMD_TIMEOUT,
        || {
            let a = kpl(&[
                "--node",
                &wdc,
                "--json",
                "audit",
                "--kind",
                "wrong_importer",
            ]);
            a.code == Some(1)
                && serde_json::from_str::<Value>(a.stdout.trim()).is_ok_and(|v| {
                    v["findings"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f["certificate"] == "BW-2026-100002"))
                })
        },
    );

    // The two re-exports and the forced confirmation are in the observer's
    // replica.
    let total_events = total_events + 3;

    // ---------------------------------------------------------- down, offline
    // `down` from another directory, without --dir, finds the devnet `up`
    // recorded, and returns only once every node process has exited, even
    // one that does not stop on SIGTERM (IL is frozen with SIGSTOP: it is
    // killed once --timeout has passed).
    let recorded: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("devnet.json")).unwrap()).unwrap();
    let pids: BTreeMap<String, u32> = recorded["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["label"].as_str().unwrap().to_owned(),
                n["pid"].as_u64().unwrap() as u32,
            )
        })
        .collect();
    kpl_in(
        Some(&elsewhere),
        &["devnet", "status"],
        &[],
        Duration::from_secs(60),
    )
    .code(0)
    .out_has(&["running", "wdc"])
    .err_has(&["using the devnet in"]);
    // SAFETY: plain kill(2) of a node process this test started.
    unsafe {
        libc::kill(pids["IL"] as i32, libc::SIGSTOP);
    }
    let o = kpl_in(
        Some(&elsewhere),
        &["--json", "devnet", "down", "--timeout", "2"],
        &[],
        Duration::from_secs(120),
    )
    .code(0)
    .err_has(&[
        "using the devnet in",
        "IL did not exit within 2s of SIGTERM",
    ]);
    let gone = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |st| {
            st.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    for (label, pid) in &pids {
        assert!(
            gone(*pid),
            "{label} (pid {pid}) is still running after `devnet down` returned"
        );
    }
    let o = o.json();
    assert_eq!(o["killed"], json!(["IL"]), "{o}");
    assert_eq!(o["dir"], json!(std::fs::canonicalize(&dir).unwrap()), "{o}");
    let stopped: BTreeSet<&str> = o["stopped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(stopped, nodes.keys().map(String::as_str).collect(), "{o}");
    let ds = kpl(&["--json", "devnet", "status", "--dir", &dir_s])
        .code(0)
        .json();
    assert!(
        ds["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["running"] == false),
        "{ds}"
    );
    kpl(&["devnet", "status", "--dir", &dir_s])
        .code(0)
        .out_has(&["stopped"]);
    kpl(&["--node", &bw, "status"])
        .code(2)
        .err_has(&["cannot reach the node"]);

    let wdc_dir = s(&nodes["wdc"].data_dir);
    kpl(&["verify", "--data-dir", &wdc_dir])
        .code(0)
        .out_has(&["OK:", &format!("{total_events} events")])
        // Piped: progress as lines on stderr, not a bar that vanishes.
        .err_has(&["kpl: verifying: ", "bytes of the log"]);
    let bw_dir = s(&nodes["BW"].data_dir);
    let v = kpl(&[
        "--json",
        "verify",
        "--data-dir",
        &bw_dir,
        "--charter",
        &s(&dir.join("charter.json")),
    ])
    .code(0)
    .json();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["events"].as_u64().unwrap() >= seeded, "{v}");
    // Against another network's charter.
    let other = tmp.path().join("other.json");
    let key = tmp.path().join("other.key");
    kpl(&["keygen", "--out", &s(&key), "--author", "BW/mme"]).code(0);
    kpl(&[
        "charter",
        "new",
        "--out",
        &s(&other),
        "--network",
        "other-net",
        "--chair",
        "BW",
    ])
    .code(0);
    kpl(&[
        "charter",
        "add-participant",
        "--charter",
        &s(&other),
        "--code",
        "BW",
        "--name",
        "Botswana",
    ])
    .code(0);
    kpl(&[
        "charter",
        "add-authority",
        "--charter",
        &s(&other),
        "--participant",
        "BW",
        "--name",
        "mme",
        "--title",
        "t",
        "--roles",
        "issue,confirm,governance",
        "--key",
        &s(&key),
    ])
    .code(0);
    kpl(&["verify", "--data-dir", &bw_dir, "--charter", &s(&other)])
        .code(1)
        .err_has(&["created for network"]);

    // Offline analysis of a stopped store agrees with the seed plan.
    let eu_dir = s(&nodes["EU"].data_dir);
    let a = kpl(&[
        "--json",
        "audit",
        "--data-dir",
        &eu_dir,
        "--to",
        "2026-09-30",
    ])
    .code(1)
    .json();
    assert_eq!(finding_keys(&a), expected_keys(anomalies.iter()));
    let got = kpl(&[
        "--json",
        "stats",
        "--year",
        "2026",
        "--quarter",
        "1",
        "--data-dir",
        &eu_dir,
    ])
    .code(0)
    .json();
    assert_stats(
        &got,
        &expected_stats(&participants, &certs, &imports, 2026, Some(1)),
        "offline stats Q1",
    );
    let t = kpl(&["--json", "trace", &root.number, "--data-dir", &eu_dir]).json();
    let mut offline_numbers = Vec::new();
    tree_numbers(&t["trace"], &mut offline_numbers);
    assert_eq!(offline_numbers, numbers);

    // Governance read offline from stopped stores agrees with the nodes.
    let g = kpl(&["--json", "gov", "list", "--data-dir", &wdc_dir])
        .code(0)
        .json();
    assert_eq!(g["decisions"], gov_online["decisions"]);
    assert_eq!(g["quorum"], "2/3");
    kpl(&["gov", "list", "--data-dir", &eu_dir])
        .code(0)
        .out_has(&[&prefix, "adopted", "7/7", "refused"]);
    kpl(&["gov", "show", &prefix, "--data-dir", &eu_dir])
        .code(0)
        .out_has(&["status     adopted", "ZA already approved"]);
    kpl(&["gov", "show", &refused_id, "--data-dir", &eu_dir]).code(1);
    let m = kpl(&["--json", "members", "--at", &eff, "--data-dir", &eu_dir])
        .code(0)
        .json();
    let ao = m["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "AO")
        .unwrap();
    assert_eq!(ao["standing"], "suspended", "{m}");
    assert_eq!(ao["exporting_zones"], json!(["Catoca", "Lulo"]), "{m}");
    kpl(&["members", "--at", &day_before, "--data-dir", &eu_dir])
        .code(0)
        .out_has(&["10 in good standing, 0 suspended"]);
    kpl(&["gov", "list", "--data-dir", &s(&tmp.path().join("nowhere"))])
        .code(2)
        .err_has(&["no KP Ledger store"]);

    // Tamper with one byte of an event record in a stopped node's log.
    let log = nodes["ZA"].data_dir.join("store").join("events.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let mut off = 48usize;
    let mut records = Vec::new();
    while off + 8 <= bytes.len() && records.len() < 10_000 {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        records.push((off, len));
        off += 8 + len;
    }
    assert_eq!(off, bytes.len(), "the log parses into whole records");
    // The seventh event record (the log also holds synced marks, kind 3).
    let (roff, rlen) = records
        .iter()
        .copied()
        .filter(|&(o, _)| bytes[o + 8] == 1)
        .nth(6)
        .expect("seven event records");
    let ev = ledger_core::SignedEvent::decode(&bytes[roff + 9..roff + 8 + rlen])
        .expect("the record decodes");
    let (author, seq) = (ev.author().to_string(), ev.seq());
    // A byte in the signature, near the record's end.
    bytes[roff + 8 + rlen - 10] ^= 0x20;
    std::fs::write(&log, &bytes).unwrap();
    let za_dir = s(&nodes["ZA"].data_dir);
    let v = kpl(&["--json", "verify", "--data-dir", &za_dir])
        .code(1)
        .json();
    assert_eq!(v["ok"], false, "{v}");
    // Verification goes on past the damage: one failure, in ZA's copy of
    // one feed, whose later events are left unverified.
    assert_eq!(v["failure_count"], 1, "{v}");
    let fl = &v["failure"];
    assert_eq!(fl["offset"], roff as u64, "{v}");
    assert_eq!(fl["author"], author.as_str(), "{v}");
    assert_eq!(fl["seq"], seq, "{v}");
    assert!(fl["reason"].as_str().unwrap().contains("checksum"), "{v}");
    kpl(&["verify", "--data-dir", &za_dir]).code(1).out_has(&[
        "FAILED: 1 problem(s) found",
        &format!("{author} seq {seq}"),
        &format!("offset: {roff}"),
        "reason: ",
    ]);

    eprintln!("devnet_end_to_end: {:?}", started.elapsed());
}

/// Hundredths with thousands separators: `1,234.56`.
fn grouped(h: u64) -> String {
    let whole = (h / 100).to_string();
    let mut out = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{out}.{:02}", h % 100)
}

/// Carats as `kpl` prints them: `1,234.56 ct`.
fn ct(h: u64) -> String {
    format!("{} ct", grouped(h))
}

/// US cents as `kpl` prints them: `US$ 250,000.00`.
fn dollars(c: u64) -> String {
    format!("US$ {}", grouped(c))
}

fn quarter_of(date: &str) -> u8 {
    let m: u8 = date[5..7].parse().unwrap();
    (m - 1) / 3 + 1
}

#[track_caller]
fn got_mirror_row(stats: &Value, exporter: &str, importer: &str) -> Value {
    stats["mirror"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["exporter"] == exporter && r["importer"] == importer)
        .cloned()
        .unwrap_or_else(|| panic!("no mirror row {exporter} → {importer}: {stats}"))
}
