//! Figures measured on real `kpl-node` processes on loopback, started with
//! the `kpl-tests` harness: an observer's catch-up, queries through the HTTP
//! API, a node's memory and start-up under load, and gossip propagation.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kpl_tests::{certificate, certificate_json, members, TestNet};

use crate::store::Samples;
use crate::sys::{self, get_json, p50_95_99, timed_get};

/// Read timeout for ordinary requests, and for whole-ledger ones.
const SHORT: Duration = Duration::from_secs(30);
const LONG: Duration = Duration::from_secs(3600);
/// At most this long per latency figure (fewer requests if need be; the
/// report gives the number made).
const LATENCY_BUDGET: Duration = Duration::from_secs(60);

/// The directory of a node's store.
pub fn store_dir(net: &TestNet, label: &str) -> std::path::PathBuf {
    net.node(label).data_dir.join(kpl_node::config::STORE_DIR)
}

/// Replaces a (stopped) node's store with a copy of `template`.
pub fn install_store(net: &TestNet, label: &str, template: &Path) -> Result<(), String> {
    let dir = store_dir(net, label);
    let _ = std::fs::remove_dir_all(&dir);
    sys::copy_dir(template, &dir).map_err(|e| format!("copy store to {label}: {e}"))
}

fn events_of(api: &str) -> Option<u64> {
    get_json(api, "/v1/status", SHORT).ok()?["events"].as_u64()
}

/// A fresh observer `observer` replicating `n` events from `peers` (running
/// already, each holding the whole ledger): seconds from spawning its
/// process until its `/v1/status` counts every event.
pub fn catch_up(
    net: &mut TestNet,
    peers: &[&str],
    observer: &str,
    n: u64,
    limit: Duration,
) -> Result<f64, String> {
    for p in peers {
        net.start(p);
    }
    let t = Instant::now();
    net.start(observer);
    let api = net.api(observer);
    let deadline = t + limit;
    loop {
        if events_of(&api) == Some(n) {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{observer} did not catch up within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = t.elapsed().as_secs_f64();
    if net.heads(observer) != net.heads(peers[0]) {
        return Err(format!("{observer} holds other heads than {}", peers[0]));
    }
    net.kill(observer);
    let _ = std::fs::remove_dir_all(store_dir(net, observer));
    Ok(secs)
}

/// Latency percentiles (ms) of one query.
pub struct Latency {
    pub name: &'static str,
    pub first_ms: f64,
    pub pct_ms: [f64; 3],
    pub requests: usize,
}

/// Whole-ledger answers (seconds).
pub struct Queries {
    pub latencies: Vec<Latency>,
    pub audit_first: f64,
    pub audit_warm: f64,
    pub audit_findings: usize,
    pub stats_first: f64,
    pub stats_warm: f64,
    pub verify_secs: f64,
    pub verify_events: u64,
}

fn time_get(api: &str, path: &str) -> Result<f64, String> {
    timed_get(api, path, LONG).map(|d| d.as_secs_f64())
}

fn latency(
    api: &str,
    name: &'static str,
    paths: &[String],
    requests: usize,
) -> Result<Latency, String> {
    if paths.is_empty() {
        return Err(format!("no {name} to ask for"));
    }
    let first_ms = timed_get(api, &paths[0], LONG)?.as_secs_f64() * 1e3;
    let mut ms = Vec::with_capacity(requests);
    let t = Instant::now();
    for i in 0..requests {
        if t.elapsed() > LATENCY_BUDGET {
            break;
        }
        let d = timed_get(api, &paths[i % paths.len()], SHORT)?;
        ms.push(d.as_secs_f64() * 1e3);
    }
    Ok(Latency {
        name,
        first_ms,
        requests: ms.len(),
        pct_ms: p50_95_99(&mut ms),
    })
}

/// Queries through the HTTP API of `label` (running, holding the ledger).
pub fn queries(
    net: &TestNet,
    label: &str,
    samples: &Samples,
    requests: usize,
) -> Result<Queries, String> {
    let api = net.api(label);
    let feeds = get_json(&api, "/v1/feeds", SHORT)?;
    let heads = kpl_tests::parse_heads(&feeds);
    let show: Vec<String> = samples
        .certificates
        .iter()
        .map(|n| format!("/v1/certificates/{n}"))
        .collect();
    let trace: Vec<String> = samples
        .reexports
        .iter()
        .map(|n| format!("/v1/trace/{n}"))
        .collect();
    let proofs: Vec<String> = samples
        .events
        .iter()
        .filter_map(|(id, author)| {
            let size = heads.get(author)?.0;
            Some(format!("/v1/proofs/inclusion?id={id}&size={size}"))
        })
        .collect();
    // The whole-ledger views first (the first call builds the view).
    let audit_first = time_get(&api, "/v1/audit")?;
    let audit = get_json(&api, "/v1/audit", LONG)?;
    let audit_findings = audit["findings"].as_array().map_or(0, |a| a.len());
    let mut warm = Vec::new();
    for _ in 0..3 {
        warm.push(time_get(&api, "/v1/audit")?);
    }
    let audit_warm = p50_95_99(&mut warm)[0];
    let stats_path = "/v1/stats?year=2026&quarter=1";
    let stats_first = time_get(&api, stats_path)?;
    let mut warm = Vec::new();
    for _ in 0..3 {
        warm.push(time_get(&api, stats_path)?);
    }
    let stats_warm = p50_95_99(&mut warm)[0];
    let latencies = vec![
        latency(&api, "show", &show, requests)?,
        latency(&api, "trace", &trace, requests)?,
        latency(&api, "inclusion proof", &proofs, requests)?,
    ];
    let t = Instant::now();
    let v = get_json(&api, "/v1/verify", LONG)?;
    let verify_secs = t.elapsed().as_secs_f64();
    if v["ok"] != serde_json::Value::Bool(true) {
        return Err(format!("/v1/verify is not ok: {v}"));
    }
    Ok(Queries {
        latencies,
        audit_first,
        audit_warm,
        audit_findings,
        stats_first,
        stats_warm,
        verify_secs,
        verify_events: v["events"].as_u64().unwrap_or(0),
    })
}

/// A node's memory, start-up and health latency under load.
pub struct Resources {
    pub startup_secs: f64,
    pub peak_rss_mb: f64,
    /// (seconds since the load started, VmRSS MB, VmHWM MB)
    pub rss: Vec<(f64, f64, f64)>,
    /// RssAnon and RssFile (MB) at the largest VmRSS sampled: the heap
    /// against mapped files.
    pub anon_file_mb: (f64, f64),
    /// VmRSS (MB) once started, and after one audit built the view.
    pub started_mb: f64,
    pub view_built_mb: f64,
    pub health_ms: [f64; 3],
    pub health_requests: usize,
    pub events_written: u64,
    pub audits: u64,
    pub secs: f64,
}

/// Restarts `label` (stopped, holding the ledger) and times its start-up,
/// then runs a steady write load (batches of 64 certificates every 100 ms)
/// with 4 clients calling `/v1/audit` in a loop and one calling
/// `/v1/health` every 20 ms, for `secs`, sampling the process's memory
/// every 200 ms.
pub fn resources(
    net: &mut TestNet,
    label: &str,
    first_number: u64,
    secs: f64,
) -> Result<Resources, String> {
    let t = Instant::now();
    net.start_with(label, &["--trust-local-head"]);
    let startup_secs = t.elapsed().as_secs_f64();
    let api = net.api(label);
    kpl_node::cluster::wait_healthy(&api, Duration::from_secs(60))?;
    let token = net.token(label);
    let code = net.author(label).participant.to_string();
    let pid = net.pid(label);
    let mb = |field: &str| sys::proc_status_kb(pid, field).unwrap_or(0) as f64 / 1024.0;
    let started_mb = mb("VmRSS");
    // One audit before the load: the view is built, and the memory it
    // adds is told apart from what the load adds.
    timed_get(&api, "/v1/audit", LONG)?;
    let view_built_mb = mb("VmRSS");
    let stop = AtomicBool::new(false);
    let written = AtomicU64::new(0);
    let audits = AtomicU64::new(0);
    let health = Mutex::new(Vec::new());
    let rss = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::<String>::new());
    let dur = Duration::from_secs_f64(secs);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        // Memory sampler.
        s.spawn(|| {
            for _ in 0..100_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let cur = sys::proc_status_kb(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0;
                let hwm = sys::proc_status_kb(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0;
                let anon = sys::proc_status_kb(pid, "RssAnon").unwrap_or(0) as f64 / 1024.0;
                let file = sys::proc_status_kb(pid, "RssFile").unwrap_or(0) as f64 / 1024.0;
                rss.lock().unwrap_or_else(|p| p.into_inner()).push((
                    t0.elapsed().as_secs_f64(),
                    cur,
                    hwm,
                    anon,
                    file,
                ));
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let mut load = Vec::new();
        // Writer.
        load.push(s.spawn(|| {
            let mut n = first_number;
            while t0.elapsed() < dur {
                let batch: Vec<serde_json::Value> = (0..64)
                    .map(|_| {
                        n += 1;
                        certificate_json(&certificate(&code, "EU", n))
                    })
                    .collect();
                let body = serde_json::Value::Array(batch).to_string();
                match sys::http(
                    "POST",
                    &api,
                    "/v1/certificates/batch",
                    Some(&token),
                    Some(&body),
                    SHORT,
                ) {
                    Ok((200, _)) => {
                        written.fetch_add(64, Ordering::Relaxed);
                    }
                    Ok((st, b)) => errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!(
                            "batch write: {st} {}",
                            b.chars().take(200).collect::<String>()
                        )),
                    Err(e) => errors.lock().unwrap_or_else(|p| p.into_inner()).push(e),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
        // Auditors.
        for _ in 0..4 {
            load.push(s.spawn(|| {
                while t0.elapsed() < dur {
                    match timed_get(&api, "/v1/audit", LONG) {
                        Ok(_) => {
                            audits.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                            break;
                        }
                    }
                }
            }));
        }
        // Health.
        load.push(s.spawn(|| {
            while t0.elapsed() < dur {
                if let Ok(d) = timed_get(&api, "/v1/health", SHORT) {
                    health
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(d.as_secs_f64() * 1e3);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
        // Each load thread stops by the deadline (an audit under way is
        // let finish); then the sampler.
        for h in load {
            let _ = h.join();
        }
        stop.store(true, Ordering::Relaxed);
    });
    let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = errors.first() {
        return Err(format!("load run: {} errors, first: {e}", errors.len()));
    }
    let peak = sys::proc_status_kb(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0;
    let mut h = health.into_inner().unwrap_or_else(|p| p.into_inner());
    let health_requests = h.len();
    let samples: Vec<(f64, f64, f64, f64, f64)> =
        rss.into_inner().unwrap_or_else(|p| p.into_inner());
    let anon_file_mb = samples
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or((f64::NAN, f64::NAN), |s| (s.3, s.4));
    Ok(Resources {
        startup_secs,
        peak_rss_mb: peak,
        anon_file_mb,
        started_mb,
        view_built_mb,
        rss: samples.iter().map(|s| (s.0, s.1, s.2)).collect(),
        health_ms: p50_95_99(&mut h),
        health_requests,
        events_written: written.load(Ordering::Relaxed),
        audits: audits.load(Ordering::Relaxed),
        secs: t0.elapsed().as_secs_f64(),
    })
}

/// Append-to-arrival on `n` nodes.
pub struct Propagation {
    pub writes: usize,
    pub api_ms: [f64; 3],
    pub arrival_ms: [f64; 3],
    pub last_ms: [f64; 3],
    pub poll_ms: [f64; 3],
    /// Bytes sent on libp2p sockets per event per node, if `ss` could say.
    pub bytes_per_event_node: Option<f64>,
}

pub const PROPAGATION_CODES: [&str; 16] = [
    "BW", "ZA", "EU", "AE", "CA", "IN", "RU", "AO", "CN", "US", "NA", "LS", "SL", "GN", "TZ", "AU",
];

/// `n` participant nodes, every pair connected, fresh stores; `writes`
/// certificates written on the first, one after the other, 20 ms apart
/// (after 10 warm-up writes); for each, the time from sending the request
/// until each other node serves the event (`GET /v1/events/{id}` = 200,
/// one poller per node asking every 1 ms).
pub fn propagation(exe: &Path, n: usize, writes: usize) -> Result<Propagation, String> {
    let codes = &PROPAGATION_CODES[..n];
    let mut net = TestNet::create(exe, "kp-bench-propagation", &members(codes, &[]));
    net.start_all(codes, Duration::from_secs(120));
    let writer = codes[0];
    let others: Vec<String> = codes[1..].iter().map(|l| net.api(l)).collect();
    let token = net.token(writer);
    let api = net.api(writer);
    std::thread::sleep(Duration::from_secs(3));
    let pids: Vec<(u32, u16)> = codes
        .iter()
        .map(|l| (net.pid(l), sys::port_of(&net.api(l)).unwrap_or(0)))
        .collect();
    let sent = |pids: &[(u32, u16)]| -> Option<u64> {
        let mut t = 0;
        for (pid, port) in pids {
            t += sys::tcp_bytes_sent(*pid, &[*port])?;
        }
        Some(t)
    };
    let mut per_node = Vec::new();
    let mut last_node = Vec::new();
    let mut api_ms = Vec::new();
    let mut polls = Vec::new();
    let mut before = None;
    for i in 0..(writes + 10) {
        if i == 10 {
            before = sent(&pids);
        }
        let c = certificate(writer, "ZA", 1 + i as u64);
        let body = certificate_json(&c).to_string();
        let t0 = Instant::now();
        let (status, text) = sys::http(
            "POST",
            &api,
            "/v1/certificates",
            Some(&token),
            Some(&body),
            SHORT,
        )?;
        let written = t0.elapsed();
        if status != 200 {
            return Err(format!("write: {status} {text}"));
        }
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let path = format!("/v1/events/{}", v["id"].as_str().unwrap_or(""));
        let arrivals: Vec<Option<(Duration, f64)>> = std::thread::scope(|s| {
            let hs: Vec<_> = others
                .iter()
                .map(|base| {
                    let path = &path;
                    s.spawn(move || {
                        let deadline = t0 + Duration::from_secs(30);
                        let mut last_poll = t0;
                        for _ in 0..1_000_000 {
                            let r0 = Instant::now();
                            if let Ok((200, _)) = sys::http("GET", base, path, None, None, SHORT) {
                                return Some((t0.elapsed(), (r0 - last_poll).as_secs_f64() * 1e3));
                            }
                            last_poll = r0;
                            if Instant::now() > deadline {
                                return None;
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        None
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().ok().flatten()).collect()
        });
        let mut got = Vec::new();
        for a in arrivals {
            let (d, gap) = a.ok_or("a write did not reach every node within 30 s")?;
            got.push(d.as_secs_f64() * 1e3);
            polls.push(gap);
        }
        if i >= 10 {
            api_ms.push(written.as_secs_f64() * 1e3);
            last_node.push(got.iter().cloned().fold(0.0, f64::max));
            per_node.extend(got);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = sent(&pids);
    let bytes_per_event_node = match (before, after) {
        (Some(b), Some(a)) if writes > 0 => Some(a.saturating_sub(b) as f64 / (writes * n) as f64),
        _ => None,
    };
    Ok(Propagation {
        writes,
        api_ms: p50_95_99(&mut api_ms),
        arrival_ms: p50_95_99(&mut per_node),
        last_ms: p50_95_99(&mut last_node),
        poll_ms: p50_95_99(&mut polls),
        bytes_per_event_node,
    })
}
