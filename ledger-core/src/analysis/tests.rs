//! An incrementally maintained view answers exactly like one built at once
//! from the same events, whatever order they arrive in; through the store,
//! a view brought up to date answers like one built afresh.

use proptest::prelude::*;

use super::{AuditParams, LedgerView};
use crate::charter::Charter;
use crate::event::{EventId, SignedEvent};
use crate::model::{AuthorId, Correction, CountryCode, Date, EventBody, Origin, VoidReason};
use crate::testkit::{matching_confirmation, sample_certificate, test_charter, FeedWriter};

const DAY_MS: u64 = 86_400_000;
const CODES: [&str; 4] = ["BW", "EU", "IN", "ZA"];

#[derive(Clone, Debug)]
enum Op {
    /// `from` issues certificate `n` to `to`, re-exporting `sources` (indices
    /// into the certificates issued so far).
    Issue {
        from: usize,
        to: usize,
        n: u64,
        sources: Vec<usize>,
    },
    /// `by` confirms a certificate issued so far (or a number never issued),
    /// `off` hundredths of a carat off.
    Confirm {
        cert: usize,
        by: usize,
        off: u8,
    },
    Void {
        cert: usize,
    },
    /// A correction of one field, of the issue `issue` (of any number).
    Correct {
        cert: usize,
        issue: usize,
        field: u8,
    },
    /// `who`'s next event is timestamped before its last.
    Backwards {
        who: usize,
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..4usize, 0..12u64, prop::collection::vec(0..64usize, 0..3))
            .prop_map(|(from, to, n, sources)| Op::Issue { from, to, n, sources }),
        4 => (0..64usize, 0..4usize, prop_oneof![3 => Just(0u8), 1 => 1..3u8])
            .prop_map(|(cert, by, off)| Op::Confirm { cert, by, off }),
        1 => (0..64usize).prop_map(|cert| Op::Void { cert }),
        1 => (0..64usize, 0..64usize, 0..5u8)
            .prop_map(|(cert, issue, field)| Op::Correct { cert, issue, field }),
        1 => (0..4usize, 1..3 * DAY_MS).prop_map(|(who, ms)| Op::Backwards { who, ms }),
    ]
}

struct Net {
    charter: Charter,
    writers: Vec<FeedWriter>,
    ts: Vec<u64>,
    events: Vec<(EventId, SignedEvent)>,
}

impl Net {
    fn new() -> Net {
        let charter = test_charter(&CODES);
        let network = charter.network_id();
        let start = Date::from_ymd(2026, 1, 1).unwrap().days() as u64 * DAY_MS;
        Net {
            writers: CODES
                .iter()
                .map(|c| FeedWriter::new(network, AuthorId::new(c, "mme").unwrap()))
                .collect(),
            ts: vec![start; CODES.len()],
            charter,
            events: Vec::new(),
        }
    }

    fn push(&mut self, who: usize, body: EventBody) -> EventId {
        self.ts[who] += DAY_MS / 3;
        let ev = self.writers[who].next(body, self.ts[who]);
        let id = ev.id();
        self.events.push((id, ev));
        id
    }

    fn run(ops: &[Op]) -> Net {
        let mut net = Net::new();
        let code = |i: usize| CountryCode::new(CODES[i]).unwrap();
        // (number, issuer index, certificate, issue id)
        let mut issued: Vec<(String, usize, crate::model::Certificate, EventId)> = Vec::new();
        for op in ops {
            match op {
                Op::Issue {
                    from,
                    to,
                    n,
                    sources,
                } => {
                    let mut c = sample_certificate(code(*from), code(*to), *n);
                    if !sources.is_empty() && !issued.is_empty() {
                        c.source_certificates = sources
                            .iter()
                            .map(|s| issued[s % issued.len()].0.clone())
                            .collect();
                        c.origin = Origin::Mixed {
                            countries: vec![code(*to)],
                        };
                    }
                    let id = net.push(*from, EventBody::CertificateIssued(c.clone()));
                    issued.push((c.number.clone(), *from, c, id));
                }
                Op::Confirm { cert, by, off } => {
                    let mut conf = match issued.get(cert % issued.len().max(1)) {
                        Some((_, _, c, _)) => matching_confirmation(c),
                        None => matching_confirmation(&sample_certificate(
                            code(0),
                            code(*by),
                            900 + *cert as u64,
                        )),
                    };
                    conf.carat_hundredths += *off as u64;
                    net.push(*by, EventBody::ImportConfirmed(conf));
                }
                Op::Void { cert } => {
                    if let Some((number, who, _, _)) = issued.get(cert % issued.len().max(1)) {
                        let body = EventBody::CertificateVoided {
                            certificate: number.clone(),
                            reason: VoidReason::Lost,
                            note: String::new(),
                        };
                        let who = *who;
                        net.push(who, body);
                    }
                }
                Op::Correct { cert, issue, field } => {
                    if issued.is_empty() {
                        continue;
                    }
                    let (number, who, c, _) = issued[cert % issued.len()].clone();
                    let original = issued[issue % issued.len()].3;
                    let correction = match field {
                        0 => Correction::CaratHundredths(c.carat_hundredths + 7),
                        1 => Correction::Parcels(c.parcels + 1),
                        2 => Correction::Destination(code(3)),
                        3 => Correction::ExpiresOn(c.expires_on.add_days(400)),
                        _ => Correction::ValueUsdCents(c.value_usd_cents / 2),
                    };
                    net.push(
                        who,
                        EventBody::CertificateCorrected {
                            certificate: number,
                            original,
                            correction,
                            note: String::new(),
                        },
                    );
                }
                Op::Backwards { who, ms } => {
                    net.ts[*who] = net.ts[*who].saturating_sub(*ms);
                }
            }
        }
        net
    }
}

/// Every answer of the view, for comparison.
fn answers(v: &LedgerView) -> String {
    let mut out = String::new();
    let now = (Date::from_ymd(2026, 9, 1).unwrap().days() as u64) * DAY_MS;
    let findings = v.audit(&AuditParams::new(now));
    out.push_str(&serde_json::to_string(&findings).unwrap());
    for q in [None, Some(1), Some(2), Some(3), Some(4)] {
        out.push_str(&serde_json::to_string(&v.stats(2026, q)).unwrap());
    }
    for st in v.certificates() {
        out.push_str(&format!("{st:?}"));
        let t = v.trace_at(st.number, &AuditParams::new(now));
        out.push_str(&serde_json::to_string(&t).unwrap());
    }
    out.push_str(&format!("{}", v.event_count()));
    out
}

/// Shuffles deterministically from `seed`.
fn shuffled<T: Clone>(v: &[T], mut seed: u64) -> Vec<T> {
    let mut out = v.to_vec();
    for i in (1..out.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.swap(i, (seed >> 33) as usize % (i + 1));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn incremental_view_answers_like_one_built_at_once(
        ops in prop::collection::vec(op(), 1..40),
        seed in any::<u64>(),
        split in any::<usize>(),
    ) {
        let net = Net::run(&ops);
        let whole = LedgerView::build(&net.charter, net.events.clone().into_iter(), vec![]);
        let order = shuffled(&net.events, seed);
        let k = split % (order.len() + 1);
        let mut inc = LedgerView::build(&net.charter, order[..k].iter().cloned(), vec![]);
        for (id, ev) in &order[k..] {
            prop_assert!(inc.apply(*id, ev).is_ok());
        }
        // Events seen twice are kept once.
        for (id, ev) in order.iter().take(3) {
            prop_assert!(inc.apply(*id, ev).is_ok());
        }
        prop_assert_eq!(answers(&inc), answers(&whole));
    }
}

/// Through the store: a view built, then brought up to date after more
/// events, answers like
/// one built afresh.
#[test]
fn updated_view_answers_like_a_fresh_one() {
    use crate::store::{Ledger, StoreOptions};
    let ops: Vec<Op> = (0..30u64)
        .map(|i| match i % 3 {
            0 => Op::Issue {
                from: (i % 4) as usize,
                to: ((i + 1) % 4) as usize,
                n: i,
                sources: if i % 9 == 0 { vec![1] } else { vec![] },
            },
            1 => Op::Confirm {
                cert: (i / 3) as usize,
                by: ((i / 3 + 1) % 4) as usize,
                off: (i % 2) as u8,
            },
            _ => Op::Backwards { who: 1, ms: 1 },
        })
        .collect();
    let net = Net::run(&ops);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), &net.charter, StoreOptions::default()).unwrap();
    let (first, rest) = net.events.split_at(net.events.len() / 2);
    for (_, ev) in first {
        ledger.append(ev.clone()).unwrap();
    }
    ledger.flush().unwrap();
    let mut view = LedgerView::from_ledger(&ledger).unwrap();
    assert_eq!(view.event_count(), first.len());
    assert!(!view.update(&ledger).unwrap(), "nothing new");
    for (_, ev) in rest {
        ledger.append(ev.clone()).unwrap();
    }
    ledger.flush().unwrap();
    assert!(view.update(&ledger).unwrap());
    assert_eq!(view.event_count(), net.events.len());
    let fresh = LedgerView::from_ledger(&ledger).unwrap();
    assert_eq!(answers(&view), answers(&fresh));
    let two_passes = LedgerView::from_ledger_in_two_passes(&ledger).unwrap();
    assert_eq!(answers(&fresh), answers(&two_passes));
    assert_eq!(fresh.heap_bytes(), two_passes.heap_bytes());
    assert_eq!(
        answers(&view),
        answers(&LedgerView::build(
            &net.charter,
            net.events.clone().into_iter(),
            vec![]
        ))
    );
}
