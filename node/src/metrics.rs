//! Prometheus metrics, written in the text exposition format by hand (a
//! handful of counters and gauges needs no library).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Append latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

#[derive(Default)]
pub struct Metrics {
    pub events_appended: AtomicU64,
    pub events_received_gossip: AtomicU64,
    pub events_received_sync: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub events_held: AtomicU64,
    pub forks_found: AtomicU64,
    pub api_writes: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// API writes refused, by reason
    /// (`own_feed_unconfirmed`, `store_degraded`).
    writes_refused: Mutex<BTreeMap<&'static str, u64>>,
    /// 0: no own feed (observer, or not evaluated yet); 1: writes refused
    /// by the own-feed gate; 2: own feed head confirmed.
    own_feed: AtomicU64,
    latency: Mutex<Histogram>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum_micros: u64,
}

impl Metrics {
    pub fn inc(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn rejected(&self, reason: &'static str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    /// Counts an API write answered 503.
    pub fn write_refused(&self, reason: &'static str) {
        *self
            .writes_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    /// Records the own-feed gate's verdict (participant nodes only).
    pub fn set_own_feed_confirmed(&self, confirmed: bool) {
        self.own_feed
            .store(if confirmed { 2 } else { 1 }, Ordering::Relaxed);
    }

    pub fn append_latency(&self, d: std::time::Duration) {
        let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum_micros += d.as_micros() as u64;
    }

    /// Renders every metric; `gauges` are (name, help, value) computed by the caller.
    pub fn render(&self, gauges: &[(&str, &str, u64)], lag: &[(String, u64)]) -> String {
        let mut o = String::new();
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            &mut o,
            "kpl_events_appended_total",
            "Events durably appended to this node's store.",
            l(&self.events_appended),
        );
        let _ = writeln!(o, "# HELP kpl_events_received_total Events received from the network, by path.\n# TYPE kpl_events_received_total counter");
        let _ = writeln!(
            o,
            "kpl_events_received_total{{path=\"gossip\"}} {}",
            l(&self.events_received_gossip)
        );
        let _ = writeln!(
            o,
            "kpl_events_received_total{{path=\"sync\"}} {}",
            l(&self.events_received_sync)
        );
        counter(
            &mut o,
            "kpl_events_duplicate_total",
            "Events received that were already stored.",
            l(&self.events_duplicate),
        );
        counter(
            &mut o,
            "kpl_events_held_total",
            "Events held back because they arrived ahead of a gap.",
            l(&self.events_held),
        );
        counter(
            &mut o,
            "kpl_forks_found_total",
            "Fork proofs stored (found here or received).",
            l(&self.forks_found),
        );
        counter(
            &mut o,
            "kpl_api_writes_total",
            "Events written through the HTTP API.",
            l(&self.api_writes),
        );
        let _ = writeln!(o, "# HELP kpl_verification_failures_total Events refused, by reason.\n# TYPE kpl_verification_failures_total counter");
        for (reason, n) in self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                o,
                "kpl_verification_failures_total{{reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(o, "# HELP kpl_writes_refused_total API writes answered 503, by reason (own_feed_unconfirmed: this node has not confirmed its own feed's head; store_degraded: the store could not keep the write after an I/O error).\n# TYPE kpl_writes_refused_total counter");
        for reason in ["own_feed_unconfirmed", "store_degraded"] {
            let n = self
                .writes_refused
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(reason)
                .copied()
                .unwrap_or(0);
            let _ = writeln!(o, "kpl_writes_refused_total{{reason=\"{reason}\"}} {n}");
        }
        match l(&self.own_feed) {
            0 => {}
            v => {
                let _ = writeln!(o, "# HELP kpl_own_feed_confirmed 1 when this participant node has confirmed its own feed's head since it started (its writes are open), 0 while it refuses writes for it.\n# TYPE kpl_own_feed_confirmed gauge\nkpl_own_feed_confirmed {}", v - 1);
            }
        }
        for (name, help, v) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(o, "# HELP kpl_sync_lag_events Events a connected peer holds that this node does not.\n# TYPE kpl_sync_lag_events gauge");
        for (peer, n) in lag {
            let _ = writeln!(o, "kpl_sync_lag_events{{peer=\"{peer}\"}} {n}");
        }
        let h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(o, "# HELP kpl_append_latency_seconds Time from receiving an event to its durable append.\n# TYPE kpl_append_latency_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "kpl_append_latency_seconds_bucket{{le=\"{b}\"}} {}",
                h.counts[i]
            );
        }
        let _ = writeln!(
            o,
            "kpl_append_latency_seconds_bucket{{le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            o,
            "kpl_append_latency_seconds_sum {}.{:06}",
            h.sum_micros / 1_000_000,
            h.sum_micros % 1_000_000
        );
        let _ = writeln!(o, "kpl_append_latency_seconds_count {}", h.count);
        o
    }
}
