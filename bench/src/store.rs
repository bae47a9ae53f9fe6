//! Every call into `ledger_core`'s store is in this module (open, the
//! durable appends, reads of encoded events), so that a change of the
//! store's public API is adapted here alone.
//!
//! It also generates the benchmark ledger: a realistic mix of certificates
//! issued by producers to trading hubs, their import confirmations (some with
//! a mismatched weight), and re-exports that cite their source certificate
//! through a lineage of five hubs, each confirmed in turn.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ledger_core::testkit::{matching_confirmation, sample_certificate, FeedWriter};
use ledger_core::{
    AppendOutcome, AuthorId, AuthorityKey, Certificate, Charter, CountryCode, EventBody, Ledger,
    Origin, SignedEvent, StoreOptions,
};

/// Producers (mine exports) and trading hubs (imports, re-exports): the ten
/// feeds of the benchmark ledger.
pub const PRODUCERS: [&str; 5] = ["BW", "ZA", "CA", "RU", "AO"];
pub const HUBS: [&str; 5] = ["AE", "EU", "IN", "CN", "US"];
/// Bodies per `append_own` call while generating (group commit).
pub const GROUP: usize = 256;
/// Re-export lineages: every `CHAIN_EVERY`-th export starts one through
/// `CHAIN_HUBS` hubs.
const CHAIN_EVERY: u64 = 40;
pub const CHAIN_HUBS: usize = 5;
/// Every `MISMATCH_EVERY`-th confirmation states another weight.
const MISMATCH_EVERY: u64 = 50;
/// Certificate numbers from here on are never used by the generated ledger
/// (numbers have 7 digits; the ledger holds at most a few million).
pub const FRESH_NUMBERS: u64 = 8_000_000;

pub fn code(s: &str) -> CountryCode {
    CountryCode::new(s).expect("country code")
}

pub fn open(dir: &Path, charter: &Charter) -> Result<Ledger, String> {
    Ledger::open(dir, charter, StoreOptions::default()).map_err(|e| e.to_string())
}

/// The signing identities of the ten feeds (participant code → author, key).
pub type Keys = BTreeMap<String, (AuthorId, AuthorityKey)>;

/// What the queries are asked about, chosen while generating.
#[derive(Default, Clone)]
pub struct Samples {
    /// Numbers of mine exports (confirmed or not).
    pub certificates: Vec<String>,
    /// Numbers of the last re-export of a lineage through five hubs.
    pub reexports: Vec<String>,
    /// (event id hex, author) of events spread over the ledger.
    pub events: Vec<(String, String)>,
    /// Mismatched confirmations written.
    pub mismatches: u64,
    /// Lineages written.
    pub lineages: u64,
}

/// The durable group commits of a fill, in order: (events in the store
/// after the call, bodies in the call, time of the call).
pub struct Fill {
    pub commits: Vec<(u64, usize, Duration)>,
    pub samples: Samples,
    pub wall: Duration,
}

impl Fill {
    pub fn append_time(&self) -> Duration {
        self.commits.iter().map(|c| c.2).sum()
    }
}

/// A certificate `n` of `issuer` to `dest` as `testkit` writes it.
fn mine_export(issuer: &str, dest: &str, n: u64) -> Certificate {
    sample_certificate(code(issuer), code(dest), n)
}

struct Queues<'a> {
    ledger: &'a Ledger,
    keys: &'a Keys,
    queues: BTreeMap<String, Vec<EventBody>>,
    stored: u64,
    commits: Vec<(u64, usize, Duration)>,
    samples: Samples,
    sample_every: u64,
}

impl Queues<'_> {
    fn push(&mut self, who: &str, body: EventBody) -> Result<(), String> {
        let q = self.queues.entry(who.to_owned()).or_default();
        q.push(body);
        if q.len() >= GROUP {
            self.commit(who)?;
        }
        Ok(())
    }

    fn commit(&mut self, who: &str) -> Result<(), String> {
        let bodies = std::mem::take(self.queues.entry(who.to_owned()).or_default());
        if bodies.is_empty() {
            return Ok(());
        }
        let (author, key) = &self.keys[who];
        let n = bodies.len();
        let t = Instant::now();
        let out = self
            .ledger
            .append_own(key, author, bodies, kpl_tests::now_ms())
            .map_err(|e| format!("append_own {author}: {e}"))?;
        let dt = t.elapsed();
        if out.len() != n {
            return Err(format!(
                "append_own {author}: {} of {n} answered",
                out.len()
            ));
        }
        for (id, seq) in &out {
            if (self.stored + seq).is_multiple_of(self.sample_every) {
                self.samples.events.push((id.to_hex(), author.to_string()));
            }
        }
        self.stored += n as u64;
        self.commits.push((self.stored, n, dt));
        Ok(())
    }
}

/// Generates a ledger of exactly `n` events into `ledger` (which must be
/// empty), with durable group commits of [`GROUP`] bodies per feed.
/// `progress` is told the events stored so far, now and then.
pub fn fill(
    ledger: &Ledger,
    keys: &Keys,
    n: u64,
    mut progress: impl FnMut(u64),
) -> Result<Fill, String> {
    let t0 = Instant::now();
    let mut q = Queues {
        ledger,
        keys,
        queues: BTreeMap::new(),
        stored: 0,
        commits: Vec::new(),
        samples: Samples::default(),
        sample_every: (n / 200).max(1),
    };
    let mut numbers: BTreeMap<&str, u64> = BTreeMap::new();
    let mut next = |who: &'static str| {
        let c = numbers.entry(who).or_insert(0);
        *c += 1;
        *c
    };
    let mut queued = 0u64;
    // About n / 2.25 exports and n / 90 lineages: keep some 400 of each,
    // spread over the whole ledger.
    let sample_every = (n / 900).max(1);
    let lineage_every = (n / (90 * 400)).max(1);
    let mut last_report = Instant::now();
    let mut unit = 0u64;
    while queued < n {
        let producer = PRODUCERS[(unit % 5) as usize];
        let h0 = ((unit / 5) % 5) as usize;
        let hub = HUBS[h0];
        let cert = mine_export(producer, hub, next(producer));
        if unit.is_multiple_of(sample_every) && q.samples.certificates.len() < 400 {
            q.samples.certificates.push(cert.number.clone());
        }
        let mut conf = matching_confirmation(&cert);
        if unit % MISMATCH_EVERY == 7 {
            conf.carat_hundredths += 500;
            q.samples.mismatches += 1;
        }
        q.push(producer, EventBody::CertificateIssued(cert.clone()))?;
        queued += 1;
        if queued < n {
            q.push(hub, EventBody::ImportConfirmed(conf))?;
            queued += 1;
        }
        // A lineage: the hub re-exports what it imported to the next hub,
        // which confirms and re-exports in turn, through five hubs.
        if unit % CHAIN_EVERY == 3 && queued + 2 * CHAIN_HUBS as u64 <= n {
            let mut source = cert;
            let mut holder = h0;
            for k in 1..=CHAIN_HUBS {
                let to = (h0 + k) % HUBS.len();
                let from = HUBS[holder];
                let mut r = mine_export(from, HUBS[to], next(HUBS[holder]));
                r.origin = Origin::Mixed {
                    countries: vec![code(producer)],
                };
                r.issued_on = source.issued_on.add_days(4);
                r.expires_on = r.issued_on.add_days(60);
                r.carat_hundredths = source.carat_hundredths - (k as u64) * 10;
                r.value_usd_cents = source.value_usd_cents + (k as u64) * 10_000;
                r.source_certificates = vec![source.number.clone()];
                let c = matching_confirmation(&r);
                q.push(from, EventBody::CertificateIssued(r.clone()))?;
                q.push(HUBS[to], EventBody::ImportConfirmed(c))?;
                queued += 2;
                source = r;
                holder = to;
            }
            if q.samples.lineages.is_multiple_of(lineage_every) && q.samples.reexports.len() < 400 {
                q.samples.reexports.push(source.number.clone());
            }
            q.samples.lineages += 1;
        }
        unit += 1;
        if last_report.elapsed() > Duration::from_secs(5) {
            progress(q.stored);
            last_report = Instant::now();
        }
    }
    let who: Vec<String> = q.queues.keys().cloned().collect();
    for w in who {
        q.commit(&w)?;
    }
    let count = ledger.event_count().map_err(|e| e.to_string())?;
    if count != n {
        return Err(format!(
            "the generated ledger holds {count} events, not {n}"
        ));
    }
    ledger.flush().map_err(|e| e.to_string())?;
    Ok(Fill {
        commits: q.commits,
        samples: q.samples,
        wall: t0.elapsed(),
    })
}

/// Appends `count` fresh certificates of `who`, one body per
/// `append_own` call (each acknowledged after its own `fdatasync`); returns
/// the time of each call.
pub fn append_own_one_by_one(
    ledger: &Ledger,
    keys: &Keys,
    who: &str,
    first_number: u64,
    count: u64,
) -> Result<Vec<Duration>, String> {
    let (author, key) = &keys[who];
    let mut times = Vec::with_capacity(count as usize);
    for i in 0..count {
        let body = EventBody::CertificateIssued(mine_export(who, "EU", first_number + i));
        let t = Instant::now();
        let out = ledger
            .append_own(key, author, vec![body], kpl_tests::now_ms())
            .map_err(|e| e.to_string())?;
        times.push(t.elapsed());
        if out.len() != 1 {
            return Err("append_own answered no event".into());
        }
    }
    Ok(times)
}

/// `batches` × [`GROUP`] events of `who`'s feed, continuing the feed that
/// `ledger` holds, signed here (as another node would have signed them).
pub fn presign_continuation(
    ledger: &Ledger,
    keys: &Keys,
    who: &str,
    first_number: u64,
    batches: usize,
) -> Result<Vec<Vec<SignedEvent>>, String> {
    let (author, key) = &keys[who];
    let head = ledger
        .heads()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|h| &h.author == author);
    let mut w = FeedWriter::new(ledger.network_id(), author.clone());
    w.key = AuthorityKey::from_seed(key.seed());
    if let Some(h) = head {
        w.seq = h.seq;
        w.prev = h.id;
    }
    let now = kpl_tests::now_ms();
    let mut n = first_number;
    Ok((0..batches)
        .map(|_| {
            (0..GROUP)
                .map(|_| {
                    n += 1;
                    let body = EventBody::CertificateIssued(mine_export(who, "EU", n));
                    w.next(body, now)
                })
                .collect()
        })
        .collect())
}

/// Appends received batches with `append_batch` (strict verification on
/// every core, one durable commit per batch); returns the time of each.
pub fn append_received(
    ledger: &Ledger,
    batches: Vec<Vec<SignedEvent>>,
) -> Result<Vec<Duration>, String> {
    let mut times = Vec::with_capacity(batches.len());
    for b in batches {
        let n = b.len();
        let t = Instant::now();
        let out = ledger.append_batch(b).map_err(|e| e.to_string())?;
        times.push(t.elapsed());
        let ok = out
            .iter()
            .filter(|o| matches!(o, AppendOutcome::Appended { .. }))
            .count();
        if ok != n {
            return Err(format!("append_batch appended {ok} of {n}"));
        }
    }
    Ok(times)
}

/// Every stored event's encoding (each feed in order), as peers are served.
pub fn encoded_events(ledger: &Ledger) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for h in ledger.heads().map_err(|e| e.to_string())? {
        let mut from = 1;
        while from <= h.seq {
            let chunk = ledger
                .feed_range_raw(&h.author, from, 4096)
                .map_err(|e| e.to_string())?;
            if chunk.is_empty() {
                return Err(format!("{} ends early at {from}", h.author));
            }
            from += chunk.len() as u64;
            out.extend(chunk);
        }
    }
    Ok(out)
}

/// Flushes and closes the store.
pub fn close(ledger: Ledger) -> Result<(), String> {
    ledger.flush().map_err(|e| e.to_string())
}
