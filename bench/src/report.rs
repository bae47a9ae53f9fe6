//! The figures of a run and the generated section of `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::path::Path;

use crate::sys::Machine;

/// Marker comments around the generated section.
pub const BEGIN: &str = "<!-- kpl-bench: generated section, begin (do not edit by hand) -->";
pub const END: &str = "<!-- kpl-bench: generated section, end -->";

/// One measured figure beside its baseline of the same run.
pub struct Row {
    pub measure: String,
    pub value: f64,
    pub unit: &'static str,
    /// (what, value in the same unit as `value` is compared with)
    pub baseline: Option<(String, f64)>,
    pub target: Option<String>,
}

impl Row {
    pub fn plain(measure: impl Into<String>, value: f64, unit: &'static str) -> Row {
        Row {
            measure: measure.into(),
            value,
            unit,
            baseline: None,
            target: None,
        }
    }

    pub fn vs(mut self, what: impl Into<String>, value: f64) -> Row {
        self.baseline = Some((what.into(), value));
        self
    }

    pub fn target(mut self, t: impl Into<String>) -> Row {
        self.target = Some(t.into());
        self
    }
}

/// One figure measured at one size (or once, for `size: None`).
pub struct Figure {
    pub group: &'static str,
    pub size: Option<u64>,
    pub load_before: f64,
    pub load_after: f64,
    pub secs: f64,
    pub rows: Vec<Row>,
}

/// (seconds since the load started, VmRSS MB, VmHWM MB)
pub type RssSample = (f64, f64, f64);

/// What the plots are drawn from.
#[derive(Default)]
pub struct Series {
    /// Per size: (events in the store after the commit, events/s of that stretch).
    pub append_curve: Vec<(u64, Vec<(f64, f64)>)>,
    /// Per size: (N, events/s from 1 peer, seconds, events/s from 3 peers, seconds).
    pub catchup: Vec<(u64, f64, f64, f64, f64)>,
    /// Per size: (N, query, [p50, p95, p99] ms).
    pub latency: Vec<(u64, &'static str, [f64; 3])>,
    /// Per size: (N, [(s, VmRSS MB, VmHWM MB)]).
    pub rss: Vec<(u64, Vec<RssSample>)>,
}

/// The groups in report order, with their headings and what they measure.
pub const GROUPS: [(&str, &str, &str); 7] = [
    ("baselines", "Baselines", "Raw rates on this machine, measured at each size right before the ledger's figures: ed25519-dalek `sign` and `verify_strict` of a certificate event's signed bytes on 1 and 2 threads, and appending 400 bytes to a file + `fdatasync` on the filesystem of the stores."),
    ("appends", "1. Own durable appends", "`Ledger::append_own` while generating the ledger (256 bodies per call, one feed at a time, signed on every core, acknowledged after `fdatasync`), then 1 body per call into a copy of the ledger of that size. Hypercore 0.14 (`append_batch` of 256 of the same encoded events, then `append` one at a time) with an `fdatasync` of its four files after every call, which the bench adds: its disk storage does not sync."),
    ("received", "2. Received batches", "`Ledger::append_batch` of 256 events of another authority signed beforehand (strict verification on every core, one durable commit per batch), continuing that feed in a copy of the ledger of that size."),
    ("catchup", "3. Observer catch-up over the network", "A fresh observer node replicating the whole ledger (ten feeds) from one peer, then another fresh observer from three peers each holding it; real `kpl-node` processes on loopback. Seconds from spawning the observer's process until its `/v1/status` counts every event."),
    ("queries", "4. Queries through the HTTP API", "One node holding the ledger, asked on loopback, one request at a time (connect, request, whole answer): `GET /v1/certificates/{n}` (show), `/v1/trace/{n}` of the last re-export of a lineage through five hubs, `/v1/proofs/inclusion`; `/v1/audit` and `/v1/stats` (first call, which builds the view, and the median of 3 more); `/v1/verify` of the whole replica."),
    ("resources", "5. Resources", "The node restarted on the ledger (start-up: process spawn until `/v1/health` answers, polled every 50 ms), then for the load run a steady write load (`POST /v1/certificates/batch` of 64 every 100 ms), 4 clients calling `/v1/audit` in a loop and one calling `/v1/health` every 20 ms; memory from `/proc/PID/status` every 200 ms. Disk: the store directory (log and index) over the sum of the events' encoded sizes."),
    ("propagation", "6. Propagation", "N participant nodes with fresh stores, every pair connected; certificates written one after the other on the first (20 ms apart, after 10 warm-up writes); time from sending the request until each other node serves the event (one poller per node every 1 ms, so late by up to one polling interval). Bytes: the kernel's per-socket `bytes_sent` counters (`ss -tinp`) of every node process's TCP sockets except its HTTP API port, read before and after the measured writes, over writes × nodes (gossip and anti-entropy, including their idle traffic over that time)."),
];

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", v);
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn size_label(s: Option<u64>) -> String {
    s.map_or_else(|| "–".into(), |n| fmt_num(n as f64))
}

/// The generated section, markers included.
#[allow(clippy::too_many_arguments)]
pub fn render(
    machine: &Machine,
    date: &str,
    command: &str,
    total_secs: f64,
    figures: &[Figure],
    notes: &[String],
    plots: &[(String, String)],
    plots_rel: &str,
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{BEGIN}");
    let _ = writeln!(o, "## Generated run ({date})\n");
    let _ = writeln!(
        o,
        "Written by `kpl-bench`; every ratio is to a baseline measured **in the same run**.\n"
    );
    let _ = writeln!(o, "```sh\n{command}\n```\n");
    let _ = writeln!(o, "| machine | |\n| --- | --- |");
    let _ = writeln!(o, "| `nproc` | {} |", machine.nproc);
    let _ = writeln!(o, "| CPU | {} |", machine.cpu);
    let _ = writeln!(o, "| memory | {} |", machine.memory);
    let _ = writeln!(o, "| filesystem of the temp dir | {} |", machine.tmp_fs);
    let _ = writeln!(o, "| kernel | {} |", machine.kernel);
    let _ = writeln!(o, "| rustc | {} |", machine.rustc);
    let _ = writeln!(
        o,
        "| profile | {} |",
        if cfg!(debug_assertions) {
            "debug (dependencies at opt-level 3)"
        } else {
            "release"
        }
    );
    let _ = writeln!(o, "| whole run | {} s |\n", fmt_num(total_secs));
    let _ = writeln!(
        o,
        "The 1-minute load average (`/proc/loadavg`) is sampled before and after each figure; a figure taken while it was well above 0 shares the cores with something else.\n"
    );
    for (group, heading, what) in GROUPS {
        let figs: Vec<&Figure> = figures.iter().filter(|f| f.group == group).collect();
        if figs.is_empty() {
            continue;
        }
        let _ = writeln!(o, "### {heading}\n");
        if !what.is_empty() {
            let _ = writeln!(o, "{what}\n");
        }
        let _ = writeln!(
            o,
            "| events | measure | value | baseline (same run) | ratio | target | load before → after | figure took |"
        );
        let _ = writeln!(o, "| ---: | --- | ---: | --- | ---: | --- | --- | ---: |");
        for f in figs {
            for (i, r) in f.rows.iter().enumerate() {
                let (b, ratio) = match &r.baseline {
                    Some((what, v)) => (
                        format!("{what}: {} {}", fmt_num(*v), r.unit),
                        format!("{} ×", fmt_num(r.value / v)),
                    ),
                    None => (String::new(), String::new()),
                };
                let (load, took) = if i == 0 {
                    (
                        format!("{:.2} → {:.2}", f.load_before, f.load_after),
                        format!("{} s", fmt_num(f.secs)),
                    )
                } else {
                    (String::new(), String::new())
                };
                let _ = writeln!(
                    o,
                    "| {} | {} | {} {} | {} | {} | {} | {} | {} |",
                    size_label(f.size),
                    r.measure,
                    fmt_num(r.value),
                    r.unit,
                    b,
                    ratio,
                    r.target.as_deref().unwrap_or(""),
                    load,
                    took
                );
            }
        }
        let _ = writeln!(o);
    }
    if !notes.is_empty() {
        let _ = writeln!(o, "### Notes of this run\n");
        for n in notes {
            let _ = writeln!(o, "- {n}");
        }
        let _ = writeln!(o);
    }
    if !plots.is_empty() {
        let _ = writeln!(o, "### Plots\n");
        for (file, caption) in plots {
            let _ = writeln!(o, "![{caption}]({plots_rel}/{file})\n");
        }
    }
    let _ = writeln!(o, "{END}");
    o
}

/// Writes `section` into `out`: replaces the text between the markers if
/// they are there (keeping everything else), else appends it.
pub fn write_section(out: &Path, section: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(out).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => {
            let tail = &old[e + END.len()..];
            let tail = tail.strip_prefix('\n').unwrap_or(tail);
            format!("{}{}{}", &old[..b], section, tail)
        }
        _ if old.is_empty() => format!("# Benchmarks\n\n{section}"),
        _ => format!(
            "{}\n{section}",
            old.trim_end_matches('\n').to_owned() + "\n"
        ),
    };
    let tmp = out.with_extension("md.tmp");
    std::fs::write(&tmp, new).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(body: &str) -> String {
        format!("{BEGIN}\n{body}\n{END}\n")
    }

    #[test]
    fn the_generated_section_is_replaced_and_the_rest_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("BENCHMARKS.md");
        let old = format!(
            "# Benchmarks\n\n## How to run\n\nhand\n\n{}\n## Proofs\n\nhand too\n",
            section("old run")
        );
        std::fs::write(&out, &old).expect("write");
        write_section(&out, &section("new run")).expect("replace");
        let new = std::fs::read_to_string(&out).expect("read");
        assert!(new.contains("new run"));
        assert!(!new.contains("old run"));
        assert!(new.starts_with("# Benchmarks\n\n## How to run\n\nhand\n\n"));
        assert!(new.ends_with("\n## Proofs\n\nhand too\n"));
        assert_eq!(new.matches(BEGIN).count(), 1);
        assert_eq!(new.matches(END).count(), 1);
        // Twice gives the same file.
        write_section(&out, &section("new run")).expect("replace again");
        assert_eq!(std::fs::read_to_string(&out).expect("read"), new);
    }

    #[test]
    fn without_markers_the_section_is_appended_or_starts_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("B.md");
        std::fs::write(&out, "# Benchmarks\n\nhand").expect("write");
        write_section(&out, &section("run")).expect("append");
        let t = std::fs::read_to_string(&out).expect("read");
        assert!(t.starts_with("# Benchmarks\n\nhand\n\n"), "{t}");
        assert!(t.ends_with(&section("run")));
        let fresh = dir.path().join("new.md");
        write_section(&fresh, &section("run")).expect("create");
        assert!(std::fs::read_to_string(&fresh)
            .expect("read")
            .contains("run"));
    }

    #[test]
    fn numbers_are_written_for_people() {
        assert_eq!(fmt_num(1_234_567.0), "1,234,567");
        assert_eq!(fmt_num(-12_345.4), "-12,345");
        assert_eq!(fmt_num(123.4), "123");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(1.234), "1.23");
        assert_eq!(fmt_num(0.01234), "0.012");
        assert_eq!(fmt_num(f64::NAN), "–");
    }

    #[test]
    fn ratios_are_to_the_baseline_of_the_row() {
        let f = Figure {
            group: "received",
            size: Some(10_000),
            load_before: 0.5,
            load_after: 0.75,
            secs: 2.0,
            rows: vec![Row::plain("append_batch", 7_000.0, "events/s")
                .vs("2-thread verify_strict", 10_000.0)
                .target("≥ 0.7 ×")],
        };
        let m = Machine {
            nproc: 2,
            cpu: "cpu".into(),
            memory: "1 GiB".into(),
            tmp_fs: "fs".into(),
            kernel: "k".into(),
            rustc: "r".into(),
        };
        let s = render(&m, "today", "cmd", 1.0, &[f], &[], &[], "docs/bench");
        assert!(s.starts_with(BEGIN) && s.trim_end().ends_with(END));
        assert!(s.contains("| 10,000 | append_batch | 7,000 events/s | 2-thread verify_strict: 10,000 events/s | 0.700 × | ≥ 0.7 × | 0.50 → 0.75 | 2.00 s |"), "{s}");
    }
}
