//! `kpl-bench`: measures KP Ledger at several ledger sizes, each figure
//! beside a baseline measured in the same run, prints them, and writes the
//! generated section of `BENCHMARKS.md` and its SVG plots.
//!
//! ```text
//! cargo run --release -p kpl-bench -- --sizes 10000,100000,1000000 --out BENCHMARKS.md
//! cargo run -p kpl-bench -- --smoke        # tiny sizes, written to a temp file
//! ```
//!
//! Every node it starts is a `kpl-node` process on loopback, every store is
//! under the temp dir (`--tmp`), and nothing it measures is asserted: it only
//! fails when something does not work (a node that does not start, an
//! answer that is not 200, a ledger that does not verify).

mod micro;
mod nodes;
mod plot;
mod report;
mod store;
mod sys;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use kpl_tests::{members, TestNet};

use report::{Figure, Row, Series};
use store::{Keys, FRESH_NUMBERS, GROUP, HUBS, PRODUCERS};

#[derive(Parser, Debug)]
#[command(
    name = "kpl-bench",
    about = "Measures KP Ledger at several ledger sizes against same-run baselines"
)]
struct Args {
    /// Ledger sizes (events), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<u64>,
    /// The Markdown file whose generated section is replaced.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// Where the SVG plots go (default: `docs/bench` beside `--out`).
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Tiny sizes (200 and 1,000 events), few requests, 2 and 4 nodes;
    /// writes to a temp file unless `--out` is given. For CI.
    #[arg(long)]
    smoke: bool,
    /// Requests per latency figure.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Measured writes per propagation figure.
    #[arg(long, default_value_t = 100)]
    writes: usize,
    /// Node counts of the propagation figure.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8,16")]
    nodes: Vec<usize>,
    /// Seconds of the load run of the resources figure.
    #[arg(long, default_value_t = 30.0)]
    load_secs: f64,
    /// Directory for every store and node (default: the system temp dir).
    #[arg(long)]
    tmp: Option<PathBuf>,
    /// The `kpl-node` binary (default: built with cargo beside this one).
    #[arg(long)]
    node_exe: Option<PathBuf>,
    /// Only these figures (comma-separated: single, hypercore, received,
    /// catchup, queries, resources, propagation), for profiling one of
    /// them; the baselines and the generated ledger are always measured.
    /// The report then lacks the others: write it elsewhere than
    /// BENCHMARKS.md (`--out`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

const FIGURES: [&str; 7] = [
    "single",
    "hypercore",
    "received",
    "catchup",
    "queries",
    "resources",
    "propagation",
];

impl Args {
    fn wants(&self, figure: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|f| f == figure)
    }
}

struct Run {
    start: Instant,
    figures: Vec<Figure>,
    notes: Vec<String>,
    series: Series,
}

impl Run {
    /// [`Run::figure`] when `wanted` (`--only`), else nothing.
    fn figure_if(
        &mut self,
        wanted: bool,
        group: &'static str,
        size: Option<u64>,
        f: impl FnOnce(&mut Run) -> Result<Vec<Row>, String>,
    ) -> Result<(), String> {
        if wanted {
            self.figure(group, size, f)
        } else {
            Ok(())
        }
    }

    /// Measures one figure, with the load average before and after.
    fn figure(
        &mut self,
        group: &'static str,
        size: Option<u64>,
        f: impl FnOnce(&mut Run) -> Result<Vec<Row>, String>,
    ) -> Result<(), String> {
        let what = size.map_or_else(|| group.to_owned(), |n| format!("{group} at {n} events"));
        sys::progress(
            self.start,
            &format!("{what}: start (load {:.2})", sys::load1()),
        );
        let load_before = sys::load1();
        let t = Instant::now();
        let rows = f(self).map_err(|e| format!("{what}: {e}"))?;
        let secs = t.elapsed().as_secs_f64();
        let load_after = sys::load1();
        for r in &rows {
            let ratio = r
                .baseline
                .as_ref()
                .map(|(w, v)| format!("  ({:.3} x {w})", r.value / v))
                .unwrap_or_default();
            println!("{what}: {}: {:.3} {}{ratio}", r.measure, r.value, r.unit);
        }
        sys::progress(
            self.start,
            &format!("{what}: done in {secs:.1} s (load {load_before:.2} -> {load_after:.2})"),
        );
        self.figures.push(Figure {
            group,
            size,
            load_before,
            load_after,
            secs,
            rows,
        });
        Ok(())
    }
}

/// Same-run baselines at one size.
#[derive(Clone, Copy)]
struct Base {
    sign1: f64,
    sign2: f64,
    verify1: f64,
    verify2: f64,
    fsync: f64,
}

fn node_exe(a: &Args) -> Result<PathBuf, String> {
    if let Some(p) = &a.node_exe {
        return Ok(p.clone());
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = me.parent().ok_or("no directory of this binary")?;
    let exe = dir.join("kpl-node");
    // Under `cargo run`, build the node with the same profile (a no-op when
    // it is up to date): cargo does not build a dependency's binaries.
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-p", "kpl-node", "--bin", "kpl-node"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let st = cmd
            .status()
            .map_err(|e| format!("cargo build kpl-node: {e}"))?;
        if !st.success() {
            return Err("cargo build -p kpl-node failed".into());
        }
    }
    if !exe.exists() {
        return Err(format!(
            "{} not found: build it (cargo build --release -p kpl-node) or pass --node-exe",
            exe.display()
        ));
    }
    Ok(exe)
}

fn date_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown date".into())
}

fn main() {
    let mut a = Args::parse();
    let mut smoke_dir = None;
    if a.smoke {
        let explicit = std::env::args().any(|x| x.starts_with("--out"));
        a.sizes = vec![200, 1000];
        a.requests = a.requests.min(100);
        a.writes = a.writes.min(10);
        a.nodes = vec![2, 4];
        a.load_secs = a.load_secs.min(3.0);
        if !explicit {
            let d = tempfile::Builder::new()
                .prefix("kpl-bench-smoke-")
                .tempdir()
                .expect("temp dir");
            a.out = d.path().join("BENCHMARKS.md");
            a.plots = Some(d.path().join("docs/bench"));
            smoke_dir = Some(d);
        }
    }
    match run(&a) {
        Ok(()) => {
            if let Some(d) = smoke_dir {
                let text = std::fs::read_to_string(&a.out).unwrap_or_default();
                let plots = std::fs::read_dir(d.path().join("docs/bench")).map_or(0, |r| r.count());
                println!(
                    "smoke run: {} bytes of report, {plots} plots written (removed with {})",
                    text.len(),
                    d.path().display()
                );
                if !text.contains(report::BEGIN) || !text.contains(report::END) || plots < 5 {
                    eprintln!("kpl-bench: the smoke run's report is incomplete");
                    std::process::exit(1);
                }
            }
        }
        Err(e) => {
            eprintln!("kpl-bench: {e}");
            std::process::exit(1);
        }
    }
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        "--release "
    };
    format!("cargo run {profile}-p kpl-bench -- {}", args.join(" "))
}

fn run(a: &Args) -> Result<(), String> {
    if let Some(f) = a.only.iter().find(|f| !FIGURES.contains(&f.as_str())) {
        return Err(format!(
            "--only: no figure {f:?} (figures: {})",
            FIGURES.join(", ")
        ));
    }
    if !a.only.is_empty() && a.out == Path::new("BENCHMARKS.md") && !a.smoke {
        return Err("--only makes an incomplete report: write it elsewhere (--out)".into());
    }
    let tmp = a.tmp.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    // TestNet puts its nodes under the temp dir too.
    std::env::set_var("TMPDIR", &tmp);
    let machine = sys::Machine::probe(&tmp);
    let mut r = Run {
        start: Instant::now(),
        figures: Vec::new(),
        notes: Vec::new(),
        series: Series::default(),
    };
    let exe = node_exe(a)?;
    sys::progress(
        r.start,
        &format!(
            "kpl-node: {}; stores under {} ({})",
            exe.display(),
            tmp.display(),
            machine.tmp_fs
        ),
    );
    for &n in &a.sizes {
        size_run(&mut r, a, &exe, &tmp, n)?;
    }
    for &n in a.nodes.iter().filter(|_| a.wants("propagation")) {
        if n < 2 || n > nodes::PROPAGATION_CODES.len() {
            return Err(format!(
                "--nodes: {n} is not between 2 and {}",
                nodes::PROPAGATION_CODES.len()
            ));
        }
        let writes = a.writes;
        r.figure("propagation", None, |_| {
            let p = nodes::propagation(&exe, n, writes)?;
            let pct = |what: &str, v: [f64; 3]| {
                Row::plain(
                    format!(
                        "{n} nodes: {what} p50 (p95 {:.1} ms, p99 {:.1} ms)",
                        v[1], v[2]
                    ),
                    v[0],
                    "ms",
                )
            };
            let mut rows = vec![
                pct("write answered (durable on the writer)", p.api_ms),
                pct(
                    &format!("arrival per node ({} samples)", p.writes * (n - 1)),
                    p.arrival_ms,
                ),
                Row::plain(
                    format!("{n} nodes: arrival per node p99"),
                    p.arrival_ms[2],
                    "ms",
                ),
                pct("arrival on the last node", p.last_ms),
                pct(
                    "time between a node's last two polls (resolution)",
                    p.poll_ms,
                ),
            ];
            match p.bytes_per_event_node {
                Some(b) => rows.push(Row::plain(
                    format!("{n} nodes: bytes sent per event per node (libp2p sockets)"),
                    b,
                    "B",
                )),
                None => rows.push(Row::plain(
                    format!(
                        "{n} nodes: bytes sent per event per node: `ss` gave no socket counters"
                    ),
                    f64::NAN,
                    "B",
                )),
            }
            Ok(rows)
        })?;
    }
    let plots_dir = a.plots.clone().unwrap_or_else(|| {
        a.out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("docs/bench")
    });
    let plots = plot::draw_all(&plots_dir, &r.series)?;
    let out_dir = a
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let rel = relative(&plots_dir, out_dir);
    let section = report::render(
        &machine,
        &date_utc(),
        &command_line(),
        r.start.elapsed().as_secs_f64(),
        &r.figures,
        &r.notes,
        &plots,
        &rel,
    );
    report::write_section(&a.out, &section)?;
    sys::progress(
        r.start,
        &format!(
            "wrote {} and {} plots in {}",
            a.out.display(),
            plots.len(),
            plots_dir.display()
        ),
    );
    Ok(())
}

/// `to` relative to `from` when it lies under it, else absolute.
fn relative(to: &Path, from: &Path) -> String {
    let to_abs = std::fs::canonicalize(to).unwrap_or_else(|_| to.to_path_buf());
    let from_abs = std::fs::canonicalize(from).unwrap_or_else(|_| from.to_path_buf());
    to_abs
        .strip_prefix(&from_abs)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| to_abs.display().to_string())
}

fn labels() -> Vec<&'static str> {
    PRODUCERS.iter().chain(HUBS.iter()).copied().collect()
}

fn keys_of(net: &TestNet) -> Keys {
    labels()
        .into_iter()
        .map(|l| (l.to_owned(), (net.author(l), net.key_file(l).key())))
        .collect()
}

/// Everything measured on a ledger of `n` events.
fn size_run(r: &mut Run, a: &Args, exe: &Path, tmp: &Path, n: u64) -> Result<(), String> {
    let work = tempfile::Builder::new()
        .prefix(&format!("kpl-bench-{n}-"))
        .tempdir_in(tmp)
        .map_err(|e| e.to_string())?;
    let mut net = TestNet::create(exe, "kp-bench", &members(&labels(), &["wdc", "wdc2"]));
    let charter = net.charter();
    let keys = keys_of(&net);
    let template = work.path().join("template");
    let copy = work.path().join("copy");
    let quick = a.smoke;
    let budget = Duration::from_millis(if quick { 300 } else { 1500 });

    // Baselines of this size.
    let sample_msg = {
        let c = kpl_tests::certificate("BW", "AE", 1);
        let (author, key) = &keys["BW"];
        let ev = kpl_tests::sign_event(
            key,
            charter.network_id(),
            author,
            1,
            None,
            ledger_core::EventBody::CertificateIssued(c),
        );
        (ev.content.signed_bytes(), key.seed(), ev.encode().len())
    };
    let mut base = Base {
        sign1: 0.0,
        sign2: 0.0,
        verify1: 0.0,
        verify2: 0.0,
        fsync: 0.0,
    };
    r.figure("baselines", Some(n), |_| {
        let (msg, seed, _) = &sample_msg;
        base.sign1 = micro::sign_rate(*seed, msg, 1, budget);
        base.sign2 = micro::sign_rate(*seed, msg, 2, budget);
        base.verify1 = micro::verify_strict_rate(*seed, msg, 1, budget);
        base.verify2 = micro::verify_strict_rate(*seed, msg, 2, budget);
        base.fsync = micro::fdatasync_rate(work.path(), 400, budget * 2, 20_000)?;
        Ok(vec![
            Row::plain("Ed25519 sign, 1 thread", base.sign1, "/s"),
            Row::plain("Ed25519 sign, 2 threads", base.sign2, "/s").vs("1 thread", base.sign1),
            Row::plain("Ed25519 verify_strict, 1 thread", base.verify1, "/s"),
            Row::plain("Ed25519 verify_strict, 2 threads", base.verify2, "/s")
                .vs("1 thread", base.verify1),
            Row::plain("append 400 B + fdatasync", base.fsync, "/s"),
        ])
    })?;
    let b = base;

    // 1. Generating the ledger is the group-commit figure.
    let mut fill = None;
    r.figure("appends", Some(n), |run| {
        let ledger = store::open(&template, &charter)?;
        let start = run.start;
        let f = store::fill(&ledger, &keys, n, |k| sys::progress(start, &format!("  generating: {k} of {n} events")))?;
        store::close(ledger)?;
        let rate = n as f64 / f.append_time().as_secs_f64();
        // The rate per tenth of the fill, against the events stored.
        let mut curve = Vec::new();
        let step = (f.commits.len() / 10).max(1);
        for chunk in f.commits.chunks(step) {
            let ev: usize = chunk.iter().map(|c| c.1).sum();
            let t: f64 = chunk.iter().map(|c| c.2.as_secs_f64()).sum();
            if let Some(last) = chunk.last() {
                curve.push((last.0 as f64, ev as f64 / t));
            }
        }
        let first = curve.first().map_or(f64::NAN, |c| c.1);
        let last = curve.last().map_or(f64::NAN, |c| c.1);
        run.series.append_curve.push((n, curve));
        let rows = vec![
            Row::plain("append_own, 256 per call (time inside the calls)", rate, "events/s")
                .vs("2-thread signing", b.sign2)
                .target("≥ 0.4 ×"),
            Row::plain("append_own, 256 per call", rate, "events/s").vs("1-thread signing", b.sign1),
            Row::plain("append_own, 256 per call: last tenth of the ledger", last, "events/s")
                .vs("first tenth", first)
                .target("≈ 1 × (flat)"),
            Row::plain("whole generation (bodies, calls), wall", f.wall.as_secs_f64(), "s"),
        ];
        run.notes.push(format!(
            "Ledger of {n} events: {} certificates sampled for `show`, {} lineages through {} hubs ({} traced), {} mismatched confirmations.",
            f.samples.certificates.len(),
            f.samples.lineages,
            store::CHAIN_HUBS,
            f.samples.reexports.len(),
            f.samples.mismatches
        ));
        fill = Some(f);
        Ok(rows)
    })?;
    let fill = fill.ok_or("no fill")?;
    let disk_bytes = sys::dir_bytes(&template);

    // 1 (one per call) and 2, on a copy of the ledger; hypercore on the
    // same encoded events.
    let singles = (n / 10).clamp(100, 2000);
    let received_batches = ((n / 2560) as usize).clamp(4, 100);
    let mut one_rate = 0.0;
    let mut encoded: Vec<Vec<u8>> = Vec::new();
    if !a.wants("single") {
        sys::copy_dir(&template, &copy).map_err(|e| e.to_string())?;
        let ledger = store::open(&copy, &charter)?;
        encoded = store::encoded_events(&ledger)?;
        store::close(ledger)?;
    }
    r.figure_if(a.wants("single"), "appends", Some(n), |_| {
        sys::copy_dir(&template, &copy).map_err(|e| e.to_string())?;
        let ledger = store::open(&copy, &charter)?;
        // The ledger's own encoding of its n events, before any is added.
        encoded = store::encoded_events(&ledger)?;
        let times = store::append_own_one_by_one(&ledger, &keys, "BW", FRESH_NUMBERS, singles)?;
        one_rate = singles as f64 / times.iter().sum::<Duration>().as_secs_f64();
        let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let p = sys::p50_95_99(&mut ms);
        store::close(ledger)?;
        Ok(vec![
            Row::plain(
                format!("append_own, 1 per call ({singles} calls)"),
                one_rate,
                "events/s",
            )
            .vs("append 400 B + fdatasync", b.fsync)
            .target("≥ 0.8 ×"),
            Row::plain(
                "append_own, 1 per call: p50 / p95 / p99 latency",
                p[0],
                "ms",
            )
            .target(format!("p95 {:.2}, p99 {:.2} ms", p[1], p[2])),
        ])
    })?;
    let group_rate = n as f64 / fill.append_time().as_secs_f64();
    let encoded_bytes: u64 = encoded.iter().map(|e| e.len() as u64).sum();
    r.figure_if(a.wants("hypercore"), "appends", Some(n), |_| {
        // Hypercore appends far slower than the ledger: each part stops
        // after a time budget and its rate is over the entries it took.
        let hc_budget = Duration::from_secs(if quick { 3 } else { 45 });
        let h = micro::hypercore(
            work.path(),
            &encoded[..(n as usize).min(encoded.len())],
            GROUP,
            singles,
            hc_budget,
        )?;
        let _ = std::fs::remove_dir_all(work.path().join("hypercore"));
        Ok(vec![
            Row::plain(
                format!(
                    "hypercore append_batch of 256, + fdatasync (the first {} of the {n} events)",
                    h.entries
                ),
                h.batch_rate,
                "events/s",
            ),
            Row::plain("append_own, 256 per call", group_rate, "events/s")
                .vs("hypercore, 256 per call", h.batch_rate)
                .target("≥ 15 ×"),
            Row::plain(
                format!(
                    "hypercore append, 1 per call, + fdatasync ({} entries)",
                    h.singles
                ),
                h.single_rate,
                "events/s",
            ),
            Row::plain("append_own, 1 per call", one_rate, "events/s")
                .vs("hypercore, 1 per call", h.single_rate),
            Row::plain(
                "hypercore on disk / encoded events",
                h.bytes_on_disk as f64 / encoded_bytes.max(1) as f64,
                "×",
            ),
        ])
    })?;
    drop(encoded);

    // 2. Received batches, on the copy.
    r.figure_if(a.wants("received"), "received", Some(n), |_| {
        let ledger = store::open(&copy, &charter)?;
        let batches =
            store::presign_continuation(&ledger, &keys, "ZA", FRESH_NUMBERS, received_batches)?;
        let events = (batches.len() * GROUP) as f64;
        let times = store::append_received(&ledger, batches)?;
        store::close(ledger)?;
        let rate = events / times.iter().sum::<Duration>().as_secs_f64();
        Ok(vec![
            Row::plain(
                format!(
                    "append_batch of 256 received ({} batches)",
                    received_batches
                ),
                rate,
                "events/s",
            )
            .vs("2-thread verify_strict", b.verify2)
            .target("≥ 0.7 ×"),
            Row::plain("append_batch of 256 received", rate, "events/s")
                .vs("1-thread verify_strict", b.verify1),
        ])
    })?;
    let _ = std::fs::remove_dir_all(&copy);

    // 3. Catch-up over the network.
    let limit = Duration::from_secs(3600);
    if !a.wants("catchup") {
        nodes::install_store(&net, "BW", &template)?;
    }
    r.figure_if(a.wants("catchup"), "catchup", Some(n), |run| {
        nodes::install_store(&net, "BW", &template)?;
        let one = nodes::catch_up(&mut net, &["BW"], "wdc", n, limit)?;
        for p in ["ZA", "EU"] {
            nodes::install_store(&net, p, &template)?;
        }
        let three = nodes::catch_up(&mut net, &["ZA", "EU"], "wdc2", n, limit)?;
        for p in ["BW", "ZA", "EU"] {
            net.kill(p);
        }
        for p in ["ZA", "EU"] {
            let _ = std::fs::remove_dir_all(nodes::store_dir(&net, p));
        }
        let (r1, r3) = (n as f64 / one, n as f64 / three);
        run.series.catchup.push((n, r1, one, r3, three));
        Ok(vec![
            Row::plain("catch-up from 1 peer", r1, "events/s")
                .vs("2-thread verify_strict", b.verify2),
            Row::plain("catch-up from 1 peer: total", one, "s").target(if n >= 1_000_000 {
                "< 30 s at 10^6"
            } else {
                ""
            }),
            Row::plain("catch-up from 3 peers (ten feeds)", r3, "events/s")
                .vs("2-thread verify_strict", b.verify2),
            Row::plain("catch-up from 3 peers: total", three, "s").target(if n >= 1_000_000 {
                "< 30 s at 10^6"
            } else {
                ""
            }),
        ])
    })?;

    // 4. Queries, on BW's copy of the ledger.
    let requests = a.requests;
    r.figure_if(a.wants("queries"), "queries", Some(n), |run| {
        net.start("BW");
        let q = nodes::queries(&net, "BW", &fill.samples, requests)?;
        net.kill("BW");
        let mut rows = Vec::new();
        for l in &q.latencies {
            run.series.latency.push((n, l.name, l.pct_ms));
            rows.push(Row::plain(
                format!("{} p50 ({} requests)", l.name, l.requests),
                l.pct_ms[0],
                "ms",
            ));
            rows.push(Row::plain(format!("{} p95", l.name), l.pct_ms[1], "ms"));
            rows.push(Row::plain(format!("{} p99", l.name), l.pct_ms[2], "ms").target("< 2 ms"));
            rows.push(Row::plain(
                format!("{} first request", l.name),
                l.first_ms,
                "ms",
            ));
        }
        rows.push(
            Row::plain(
                format!("audit, first call ({} findings)", q.audit_findings),
                q.audit_first,
                "s",
            )
            .target("< 5 s"),
        );
        rows.push(Row::plain("audit, median of 3 more", q.audit_warm, "s").target("< 5 s"));
        rows.push(Row::plain("stats of a quarter, first call", q.stats_first, "s").target("< 2 s"));
        rows.push(
            Row::plain("stats of a quarter, median of 3 more", q.stats_warm, "s").target("< 2 s"),
        );
        let vr = q.verify_events as f64 / q.verify_secs;
        rows.push(
            Row::plain(
                format!(
                    "/v1/verify of {} events ({:.1} s)",
                    q.verify_events, q.verify_secs
                ),
                vr,
                "events/s",
            )
            .vs("2-thread verify_strict", b.verify2),
        );
        Ok(rows)
    })?;

    // 5. Resources, BW restarted on the same store.
    let load_secs = a.load_secs;
    r.figure_if(a.wants("resources"), "resources", Some(n), |run| {
        let res = nodes::resources(&mut net, "BW", FRESH_NUMBERS + 500_000, load_secs)?;
        net.kill("BW");
        run.series.rss.push((n, res.rss.clone()));
        let max_rss = res.rss.iter().map(|s| s.1).fold(0.0, f64::max);
        Ok(vec![
            Row::plain(
                "start-up with the ledger stored (spawn → /v1/health answers)",
                res.startup_secs,
                "s",
            )
            .target("< 3 s"),
            Row::plain(
                format!(
                    "peak RSS, VmHWM ({:.0} s of load, {} events written, {} audits)",
                    res.secs, res.events_written, res.audits
                ),
                res.peak_rss_mb,
                "MB",
            )
            .target("< 250 MB at 10^6"),
            Row::plain("VmRSS once started (store open)", res.started_mb, "MB"),
            Row::plain(
                "VmRSS after one audit (the analysis view built), before the load",
                res.view_built_mb,
                "MB",
            ),
            Row::plain("largest VmRSS sampled", max_rss, "MB"),
            Row::plain(
                format!(
                    "largest VmRSS sampled: of which heap (RssAnon; the rest, RssFile, is mapped files: {:.0} MB)",
                    res.anon_file_mb.1
                ),
                res.anon_file_mb.0,
                "MB",
            ),
            Row::plain(
                format!(
                    "/v1/health p50 while audits run ({} requests)",
                    res.health_requests
                ),
                res.health_ms[0],
                "ms",
            ),
            Row::plain("/v1/health p99 while audits run", res.health_ms[2], "ms").target("< 10 ms"),
            Row::plain(
                format!("disk: store directory, {} bytes", disk_bytes),
                disk_bytes as f64,
                "B",
            )
            .vs("encoded events", encoded_bytes as f64)
            .target("< 1.6 ×"),
            Row::plain(
                "encoded size per event",
                encoded_bytes as f64 / n as f64,
                "B",
            ),
        ])
    })?;
    drop(net);
    drop(work);
    Ok(())
}
