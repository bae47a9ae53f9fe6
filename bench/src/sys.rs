//! What the machine is, what it is doing, and small measuring tools: load
//! average, a process's memory from `/proc`, bytes a process sent on its TCP
//! sockets, the loopback HTTP client with a chosen timeout, percentiles.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The 1-minute load average, as `/proc/loadavg` says it.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The machine as the report describes it.
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub memory: String,
    pub tmp_fs: String,
    pub kernel: String,
    pub rustc: String,
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The mount (device and filesystem type) holding `dir`, from
/// `/proc/self/mounts` (the longest mount point that is a prefix of it).
pub fn filesystem_of(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        if dir.starts_with(f[1]) && best.as_ref().is_none_or(|(n, _)| f[1].len() > *n) {
            best = Some((f[1].len(), format!("{} {} on {}", f[0], f[2], f[1])));
        }
    }
    best.map(|(_, s)| s).unwrap_or_else(|| "unknown".into())
}

impl Machine {
    pub fn probe(tmp: &Path) -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map(|kb| format!("{:.1} GiB", kb / (1024.0 * 1024.0)))
            .unwrap_or_else(|| "unknown".into());
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            memory,
            tmp_fs: filesystem_of(tmp),
            kernel: first_line("uname", &["-sr"]),
            rustc: first_line(&rustc, &["--version"]),
        }
    }
}

/// A field of `/proc/PID/status` in kB (`VmHWM`, `VmRSS`), if readable.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    t.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Bytes sent on the TCP sockets that process `pid` holds now, from the
/// kernel's per-socket `bytes_sent` counters (`ss -tinp`), leaving out the
/// sockets whose local port is one of `skip_ports` (its HTTP API).
/// Sockets closed since an earlier reading are not counted; the libp2p
/// connections between nodes stay open for the whole run.
pub fn tcp_bytes_sent(pid: u32, skip_ports: &[u16]) -> Option<u64> {
    let out = Command::new("ss").args(["-tinpH"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut total = 0u64;
    let mut current: Option<bool> = None; // Some(true): a socket of pid
    let needle = format!("pid={pid},");
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            // A socket line: State Recv-Q Send-Q Local Peer Process
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f
                .get(3)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok());
            let ours = line.contains(&needle);
            let skipped = local_port.is_some_and(|p| skip_ports.contains(&p));
            current = Some(ours && !skipped);
            // Some versions print the details on the same line.
            if current == Some(true) {
                total += bytes_sent_field(line);
            }
        } else if current == Some(true) {
            total += bytes_sent_field(line);
        }
    }
    Some(total)
}

fn bytes_sent_field(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("bytes_sent:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The port of an `http://host:port` base URL.
pub fn port_of(base: &str) -> Option<u16> {
    base.trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
}

/// One HTTP/1.1 exchange on loopback with `Connection: close`, bounded in
/// time (`timeout` for each read and write) and size (the node's cluster
/// client). Returns (status, body). Only `http://127.*` is accepted: the
/// bench never reaches beyond the machine.
pub fn http(
    method: &str,
    base: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let hostport = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base}: only http:// is supported"))?;
    if !hostport.starts_with("127.") {
        return Err(format!("{base}: not a loopback address"));
    }
    kpl_node::cluster::http_within(method, base, path, token, body, timeout)
}

/// GET expecting 200, parsed as JSON.
pub fn get_json(base: &str, path: &str, timeout: Duration) -> Result<serde_json::Value, String> {
    match http("GET", base, path, None, None, timeout)? {
        (200, b) => serde_json::from_str(&b).map_err(|e| format!("GET {path}: {e}")),
        (s, b) => Err(format!(
            "GET {path}: {s} {}",
            b.chars().take(300).collect::<String>()
        )),
    }
}

/// Times one GET (connect, request, whole answer); errors unless 200.
pub fn timed_get(base: &str, path: &str, timeout: Duration) -> Result<Duration, String> {
    let t = Instant::now();
    match http("GET", base, path, None, None, timeout)? {
        (200, _) => Ok(t.elapsed()),
        (s, b) => Err(format!(
            "GET {path}: {s} {}",
            b.chars().take(300).collect::<String>()
        )),
    }
}

/// Nearest-rank percentile `p` (0..=100) of `sorted` (ascending).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// p50, p95, p99 of `samples` (sorted here).
pub fn p50_95_99(samples: &mut [f64]) -> [f64; 3] {
    samples.sort_by(|a, b| a.total_cmp(b));
    [
        percentile(samples, 50.0),
        percentile(samples, 95.0),
        percentile(samples, 99.0),
    ]
}

/// Bytes of the regular files under `dir` (apparent sizes).
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in rd.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => total += dir_bytes(&e.path()),
            Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
            _ => {}
        }
    }
    total
}

/// Copies a directory tree (files and directories only).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else if ty.is_file() {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// Progress on stderr, with the time since the run started.
pub fn progress(start: Instant, msg: &str) {
    eprintln!("[{:>7.1} s] {msg}", start.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(p50_95_99(&mut v), [51.0, 95.0, 99.0]);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
    }

    #[test]
    fn only_loopback_is_asked() {
        let e = http(
            "GET",
            "http://10.0.0.1:80",
            "/",
            None,
            None,
            Duration::from_secs(1),
        );
        assert!(e.unwrap_err().contains("not a loopback"));
        assert_eq!(port_of("http://127.0.0.1:8080"), Some(8080));
    }

    #[test]
    fn bytes_sent_are_read_from_socket_details() {
        assert_eq!(
            bytes_sent_field("\t cubic wscale:7,7 bytes_sent:1234 bytes_acked:1234"),
            1234
        );
        assert_eq!(bytes_sent_field("no counters"), 0);
    }
}
