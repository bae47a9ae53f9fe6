//! Node catch-up and gossip latency, with real `kpl-node` processes on
//! loopback (a plain `main`, `harness = false`; prints its figures).
//!
//! ```text
//! cargo bench -p kpl-node --bench catchup                        # 100,000 events, 8-node latency
//! cargo bench -p kpl-node --bench catchup -- --events 1000000    # another catch-up size
//! cargo bench -p kpl-node --bench catchup -- --skip-latency --writes 300
//! ```
//!
//! (a) Catch-up: one participant's store is filled directly with
//! `Ledger::append_own` (signed certificates of its own feed), then its node
//! is started, then an empty observer node is started that bootstraps to it
//! alone; the figure is the time from spawning the observer's process until
//! its `/v1/status` counts every event (so it includes process start,
//! connection, anti-entropy and the observer's strict verification and
//! durable appends), in events per second. Beside it, the raw strict
//! (RFC 8032) single-core signature verification rate of the same events,
//! measured in the same run.
//!
//! (b) Gossip latency: 8 participant nodes, every pair connected; writes
//! (`POST /v1/certificates`) on one node, one after the other; for each
//! write, the time from sending the request until each other node serves
//! the event (`GET /v1/events/{id}` = 200, time taken when the answer is
//! read). Each other node has its own poller thread asking every 1 ms, so a
//! sample is late by up to one polling interval (printed).

use std::time::{Duration, Instant};

use kpl_tests::{certificate, certificate_json, members, wait_until, TestNet};
use ledger_core::event::verifying_key;
use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::EventBody;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");

/// Pause between two polls of one node (latency bench).
const POLL: Duration = Duration::from_millis(1);

struct Args {
    events: Vec<u64>,
    writes: usize,
    latency: bool,
    catchup: bool,
}

fn args() -> Args {
    let mut a = Args {
        events: Vec::new(),
        writes: 200,
        latency: true,
        catchup: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--events" => a
                .events
                .push(it.next().and_then(|v| v.parse().ok()).expect("--events N")),
            "--writes" => a.writes = it.next().and_then(|v| v.parse().ok()).expect("--writes N"),
            "--skip-latency" => a.latency = false,
            "--skip-catchup" => a.catchup = false,
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    if a.events.is_empty() {
        a.events.push(100_000);
    }
    a
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn main() {
    let a = args();
    println!("machine: {}", machine());
    if a.catchup {
        for n in &a.events {
            catchup(*n);
        }
    }
    if a.latency {
        latency(8, a.writes);
    }
}

/// Fills BW's store with `n` events, starts BW, then an empty observer.
fn catchup(n: u64) {
    let mut net = TestNet::create(EXE, "kp-bench-catchup", &members(&["BW", "ZA"], &["wdc"]));
    let author = net.author("BW");
    let kf = net.key_file("BW");
    let key = kf.key();
    let vk = verifying_key(&kf.public_key).expect("verifying key");

    let t = Instant::now();
    let (sample, log_bytes) = {
        let ledger = Ledger::open(
            &net.node("BW").data_dir.join(kpl_node::config::STORE_DIR),
            &net.charter(),
            StoreOptions::default(),
        )
        .expect("store opens");
        let mut next = 1;
        while next <= n {
            let end = (next + 10_000).min(n + 1);
            let bodies = (next..end)
                .map(|i| EventBody::CertificateIssued(certificate("BW", "ZA", i)))
                .collect();
            ledger
                .append_own(&key, &author, bodies, kpl_tests::now_ms())
                .expect("append_own");
            next = end;
        }
        let sample = ledger
            .feed_range(&author, 1, 20_000.min(n as usize))
            .expect("read back");
        ledger.flush().expect("flush");
        let log = std::fs::metadata(
            net.node("BW")
                .data_dir
                .join(kpl_node::config::STORE_DIR)
                .join("events.log"),
        )
        .map(|m| m.len())
        .unwrap_or(0);
        (sample, log)
    };
    println!(
        "catch-up {n}: store filled in {:.1} s ({} bytes of log, {:.0} bytes/event)",
        t.elapsed().as_secs_f64(),
        log_bytes,
        log_bytes as f64 / n as f64
    );

    // Raw strict single-core verification of the same events.
    let t = Instant::now();
    let mut ok = 0usize;
    for ev in &sample {
        ok += usize::from(ev.verify_signature(&vk));
    }
    let verify_rate = sample.len() as f64 / t.elapsed().as_secs_f64();
    assert_eq!(ok, sample.len());
    println!(
        "  strict verification, 1 core: {verify_rate:.0} events/s ({} events)",
        sample.len()
    );

    net.start("BW");
    let t = Instant::now();
    net.start("wdc");
    let started = t.elapsed();
    let done = wait_until(
        Duration::from_secs(1800),
        Duration::from_millis(20),
        "the observer caught up",
        || (net.status("wdc")["events"].as_u64() == Some(n)).then(Instant::now),
    )
    .expect("catch-up");
    let secs = (done - t).as_secs_f64();
    let rate = n as f64 / secs;
    println!(
        "  observer catch-up: {secs:.2} s from process spawn (API up after {:.2} s): {rate:.0} events/s = {:.2} x single-core verification",
        started.as_secs_f64(),
        rate / verify_rate
    );
    let h = net.heads("wdc");
    assert_eq!(h, net.heads("BW"));
    if n <= 200_000 {
        let t = Instant::now();
        let v = net.assert_verified("wdc");
        println!(
            "  observer /v1/verify: ok, {} events in {:.2} s",
            v["events"],
            t.elapsed().as_secs_f64()
        );
    } else {
        // Longer than the harness's 60 s HTTP timeout: stop the observer
        // and verify its store in this process.
        assert!(net.stop("wdc"), "the observer stops cleanly");
        let t = Instant::now();
        let ledger = Ledger::open(
            &net.node("wdc").data_dir.join(kpl_node::config::STORE_DIR),
            &net.charter(),
            StoreOptions::default(),
        )
        .expect("observer store opens");
        let r = ledger.verify(|_, _| {}).expect("verify");
        assert!(r.failure().is_none(), "{:?}", r.failure());
        assert_eq!(r.events, n);
        println!(
            "  observer store verified offline (stopped, reopened): ok, {} events in {:.2} s",
            r.events,
            t.elapsed().as_secs_f64()
        );
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Writes on one node of an `n`-node network; times arrival on the others.
fn latency(n: usize, writes: usize) {
    let codes = ["BW", "ZA", "EU", "AE", "CA", "IN", "RU", "AO"];
    let codes = &codes[..n];
    let mut net = TestNet::create(EXE, "kp-bench-latency", &members(codes, &[]));
    net.start_all(codes, Duration::from_secs(60));
    let writer = codes[0];
    let others: Vec<(&str, String)> = codes[1..].iter().map(|l| (*l, net.api(l))).collect();
    let token = net.token(writer);
    let api = net.api(writer);
    // Let the gossip mesh form (heartbeat 1 s) and warm up.
    std::thread::sleep(Duration::from_secs(3));

    let mut per_node = Vec::new();
    let mut last_node = Vec::new();
    let mut api_ms = Vec::new();
    let mut rounds = Vec::new();
    for i in 0..(writes + 10) {
        let c = certificate("BW", "ZA", 1 + i as u64);
        let body = certificate_json(&c).to_string();
        let t0 = Instant::now();
        let (status, text) =
            kpl_node::cluster::http("POST", &api, "/v1/certificates", Some(&token), Some(&body))
                .expect("write");
        let written = t0.elapsed();
        assert_eq!(status, 200, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        let path = format!("/v1/events/{}", v["id"].as_str().expect("id"));
        // One poller per node, each asking every `POLL` until it has it.
        let arrivals: Vec<(Duration, f64)> = std::thread::scope(|s| {
            let handles: Vec<_> = others
                .iter()
                .map(|(_, base)| {
                    let path = &path;
                    s.spawn(move || {
                        let deadline = t0 + Duration::from_secs(30);
                        let mut last_poll = t0;
                        for _ in 0..1_000_000 {
                            let r0 = Instant::now();
                            if let Ok((200, _)) =
                                kpl_node::cluster::http("GET", base, path, None, None)
                            {
                                let gap = (r0 - last_poll).as_secs_f64() * 1e3;
                                return Some((t0.elapsed(), gap));
                            }
                            last_poll = r0;
                            if Instant::now() > deadline {
                                return None;
                            }
                            std::thread::sleep(POLL);
                        }
                        None
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .ok()
                        .flatten()
                        .expect("the write reached every node")
                })
                .collect()
        });
        rounds.extend(arrivals.iter().map(|(_, gap)| *gap));
        let arrivals: Vec<Duration> = arrivals.into_iter().map(|(d, _)| d).collect();
        if i >= 10 {
            api_ms.push(written.as_secs_f64() * 1e3);
            per_node.extend(arrivals.iter().map(|d| d.as_secs_f64() * 1e3));
            last_node.push(arrivals.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for v in [&mut per_node, &mut last_node, &mut api_ms, &mut rounds] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    println!("gossip latency, {n} nodes, {writes} writes on {writer} (after 10 warm-up writes):");
    println!(
        "  API write answered (durable on {writer}): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&api_ms, 50.0),
        percentile(&api_ms, 99.0)
    );
    println!(
        "  arrival per node ({} samples): p50 {:.1} ms, p99 {:.1} ms",
        per_node.len(),
        percentile(&per_node, 50.0),
        percentile(&per_node, 99.0)
    );
    println!(
        "  arrival on the last node: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&last_node, 50.0),
        percentile(&last_node, 99.0)
    );
    println!(
        "  time between a node's last two polls (resolution): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&rounds, 50.0),
        percentile(&rounds, 99.0)
    );
    let heads = net.wait_heads_equal(codes, (writes + 10) as u64, Duration::from_secs(60));
    assert_eq!(kpl_tests::total(&heads), (writes + 10) as u64);
}
