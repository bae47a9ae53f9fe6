//! How much memory the analysis view takes: writes a store of N events
//! (half issues, half confirmations; one issue in ten a re-export citing two
//! earlier certificates), then builds the view by streaming the store and
//! reports the view's heap estimate and the process's resident memory
//! (`VmRSS`, peak `VmHWM` from `/proc/self/status`) before and after; then
//! appends 1 % more events and brings the view up to date.
//!
//! ```text
//! cargo run -p ledger-core --example view_memory -- 100000 /tmp/kpl-view-100k
//! ```
//!
//! The first run writes the store into the directory (created; it must
//! not hold a store of another network) and stops; the second measures the
//! view in a fresh process, whose memory holds only the open store
//! before the view is built.
//!
//! With `SCAN_FIRST=1` the log is read twice before the view is built, to
//! tell the memory that reading alone leaves behind (allocator and store)
//! from the view's.

use std::time::Instant;

use ledger_core::analysis::{AuditParams, LedgerView};
use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::testkit::{matching_confirmation, sample_certificate, test_charter, FeedWriter};
use ledger_core::{AuthorId, CountryCode, Date, EventBody, Origin, SignedEvent};

const CODES: [&str; 6] = ["AE", "BE", "BW", "IN", "US", "ZA"];
const DAY_MS: u64 = 86_400_000;

fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

struct Writer {
    feeds: Vec<FeedWriter>,
    ts: Vec<u64>,
    n: u64,
}

impl Writer {
    /// The next `count` events: an issue then its confirmation, in turn.
    fn events(&mut self, count: u64) -> Vec<SignedEvent> {
        let mut out = Vec::with_capacity(count as usize);
        let code = |i: usize| CountryCode::new(CODES[i]).expect("code");
        while (out.len() as u64) < count {
            let n = self.n;
            self.n += 1;
            let from = (n % CODES.len() as u64) as usize;
            let to = ((n / 7 + 1 + n % 5) % CODES.len() as u64) as usize;
            let to = if to == from {
                (to + 1) % CODES.len()
            } else {
                to
            };
            let mut cert = sample_certificate(code(from), code(to), n);
            if n % 10 == 9 && n > 100 {
                cert.source_certificates = vec![
                    format!("{}-2026-{:07}", CODES[(from + 1) % CODES.len()], n - 13),
                    format!("{}-2026-{:07}", CODES[(from + 2) % CODES.len()], n - 29),
                ];
                cert.origin = Origin::Mixed {
                    countries: vec![code(to)],
                };
            }
            let conf = matching_confirmation(&cert);
            for (who, body) in [
                (from, EventBody::CertificateIssued(cert)),
                (to, EventBody::ImportConfirmed(conf)),
            ] {
                self.ts[who] += 1_000;
                out.push(self.feeds[who].next(body, self.ts[who]));
            }
        }
        out
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = args
        .next()
        .unwrap_or_else(|| format!("/tmp/kpl-view-memory-{n}"));
    let charter = test_charter(&CODES);
    let start = Date::from_ymd(2026, 1, 1).expect("date").days() as u64 * DAY_MS;
    let mut w = Writer {
        feeds: CODES
            .iter()
            .map(|c| FeedWriter::new(charter.network_id(), AuthorId::new(c, "mme").expect("id")))
            .collect(),
        ts: vec![start; CODES.len()],
        n: 0,
    };
    let opts = StoreOptions::default();
    let ledger = Ledger::open(std::path::Path::new(&dir), &charter, opts).expect("open store");
    let have = ledger.event_count().expect("count");
    if have == 0 {
        let t = Instant::now();
        let mut left = n;
        while left > 0 {
            let batch = left.min(10_000);
            ledger.append_batch(w.events(batch)).expect("append");
            left -= batch;
        }
        ledger.flush().expect("flush");
        println!(
            "wrote {n} events to {dir} in {:.1} s; run again to measure the view in a fresh process",
            t.elapsed().as_secs_f64()
        );
        return;
    }
    let events = ledger.event_count().expect("count");
    if std::env::var_os("SCAN_FIRST").is_some() {
        let a = status("RssAnon:");
        ledger.for_each_event(|_, _| {}).expect("scan");
        ledger.fork_proofs().expect("fork proofs");
        let mut tally = 0usize;
        ledger
            .for_each_event(|_, ev| {
                let v = format!("{:?}", ev.content.body);
                tally += v.len();
            })
            .expect("scan");
        println!(
            "a bare scan of the log: anonymous RSS {} -> {}",
            mib(a),
            mib(status("RssAnon:"))
        );
    }
    let (rss0, hwm0) = (status("VmRSS:"), status("VmHWM:"));
    let (anon0, file0) = (status("RssAnon:"), status("RssFile:"));
    let t = Instant::now();
    let mut view = LedgerView::from_ledger(&ledger).expect("view");
    let built = t.elapsed();
    let (rss1, hwm1) = (status("VmRSS:"), status("VmHWM:"));
    let heap = view.heap_bytes();
    println!("events: {events}");
    println!(
        "view entries: {:.1} MiB ({:.0} bytes per event)",
        heap as f64 / (1024.0 * 1024.0),
        heap as f64 / events.max(1) as f64
    );
    println!(
        "RSS with the store open: {}, with the view: {} (+{}, {:.0} bytes per event); peak before: {}, after: {}",
        mib(rss0),
        mib(rss1),
        mib(rss1.saturating_sub(rss0)),
        rss1.saturating_sub(rss0) as f64 * 1024.0 / events.max(1) as f64,
        mib(hwm0),
        mib(hwm1)
    );
    println!(
        "of which anonymous (heap): {} -> {} (+{}), file-backed: {} -> {}",
        mib(anon0),
        mib(status("RssAnon:")),
        mib(status("RssAnon:").saturating_sub(anon0)),
        mib(file0),
        mib(status("RssFile:"))
    );
    println!("built in {:.2} s (noisy)", built.as_secs_f64());
    // Resume the writers where the stored feeds end.
    drop(w.events(have));
    let more = (events / 100).max(2);
    ledger.append_batch(w.events(more)).expect("append more");
    ledger.flush().expect("flush");
    let t = Instant::now();
    view.update(&ledger).expect("update");
    println!(
        "update with {more} more events: {:.3} s (noisy); RSS {}, peak {}",
        t.elapsed().as_secs_f64(),
        mib(status("VmRSS:")),
        mib(status("VmHWM:"))
    );
    let now = start + 400 * DAY_MS;
    let t = Instant::now();
    let findings = view.audit(&AuditParams::new(now));
    println!(
        "audit: {} findings in {:.2} s (noisy); peak RSS {}",
        findings.len(),
        t.elapsed().as_secs_f64(),
        mib(status("VmHWM:"))
    );
}
