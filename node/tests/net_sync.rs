//! Pull: an empty node catches up 5,000 events of several feeds from a
//! peer, in bounded batches, in order per feed.

mod net_common;

use std::collections::HashMap;
use std::time::Duration;

use kpl_node::net::{wire::MAX_RANGE_EVENTS, NetEvent, SyncSource};
use ledger_core::SignedEvent;
use net_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_node_fetches_all_feeds_in_batches_in_order() {
    let charter = charter(&[0, 1]);
    let network = charter.network_id();
    let sizes = [2_600u64, 1_500, 900];
    let mut all = Vec::new();
    for (p, n) in sizes.iter().enumerate() {
        all.extend(feed(network, p, *n));
    }
    assert_eq!(all.len(), 5_000);

    let b = start(1, &charter, MemSource::with(&all)).await;
    let mut a = start(0, &charter, MemSource::with(&[])).await;
    a.handle.dial(b.addr().await).await.unwrap();

    // The application of A: append each fetched batch, report it applied.
    let mut batches: HashMap<_, Vec<(u64, usize)>> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for _ in 0..10_000 {
        if a.source.total() == 5_000 {
            break;
        }
        let ev = tokio::time::timeout_at(deadline, a.events.recv())
            .await
            .expect("caught up within 90 s")
            .expect("network running");
        if let NetEvent::FetchedEvents {
            from,
            author,
            from_seq,
            events,
        } = ev
        {
            assert_eq!(from, b.peer);
            assert!(!events.is_empty() && events.len() <= MAX_RANGE_EVENTS);
            assert_eq!(
                from_seq,
                a.source.len(&author) as u64 + 1,
                "batches arrive in order"
            );
            for (i, bytes) in events.iter().enumerate() {
                let e = SignedEvent::decode(bytes).unwrap();
                assert_eq!(e.author(), &author);
                assert_eq!(e.seq(), from_seq + i as u64);
                a.source.append(bytes).unwrap();
            }
            batches
                .entry(author.clone())
                .or_default()
                .push((from_seq, events.len()));
            a.handle
                .fetch_applied(author, from_seq, true)
                .await
                .unwrap();
        }
    }
    assert_eq!(a.source.total(), 5_000, "every event fetched");
    for (p, n) in sizes.iter().enumerate() {
        let author = author(p);
        assert_eq!(a.source.feed(&author), b.source.feed(&author));
        let got = &batches[&author];
        let expected_batches = n.div_ceil(MAX_RANGE_EVENTS as u64) as usize;
        assert_eq!(got.len(), expected_batches, "{author}: {got:?}");
    }
    assert_eq!(a.source.heads(), b.source.heads());

    let st = a.handle.status().await.unwrap();
    assert_eq!(st.counters.fetched_events, 5_000);
    assert_eq!(st.counters.bad_ranges, 0);

    // A later round finds nothing to fetch.
    a.handle.sync_now().await.unwrap();
    let more = wait_for(&mut a.events, Duration::from_secs(3), |e| match e {
        NetEvent::FetchedEvents { .. } => Some(()),
        _ => None,
    })
    .await;
    assert!(more.is_none(), "nothing more to fetch");

    a.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}

/// A new event appended at B while connected reaches A at the next
/// periodic round (sync interval 2 s in tests), without gossip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_round_fetches_new_events() {
    let charter = charter(&[0, 1]);
    let network = charter.network_id();
    let events = feed(network, 2, 10);
    let b = start(1, &charter, MemSource::with(&events[..5])).await;
    let mut a = start(0, &charter, MemSource::with(&events[..3])).await;
    a.handle.dial(b.addr().await).await.unwrap();

    let mut fetched = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for _ in 0..1_000 {
        if a.source.total() == 10 {
            break;
        }
        if a.source.total() == 5 && b.source.total() == 5 {
            for e in &events[5..] {
                b.source.append(&e.encode()).unwrap();
            }
        }
        let Ok(Some(ev)) = tokio::time::timeout_at(deadline, a.events.recv()).await else {
            break;
        };
        if let NetEvent::FetchedEvents {
            author,
            from_seq,
            events,
            ..
        } = ev
        {
            fetched.push((from_seq, events.len()));
            for bytes in &events {
                a.source.append(bytes).unwrap();
            }
            a.handle
                .fetch_applied(author, from_seq, true)
                .await
                .unwrap();
        }
    }
    assert_eq!(a.source.total(), 10);
    assert_eq!(fetched, vec![(4, 2), (6, 5)]);
    a.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}

/// Several ranges of one feed are asked for ahead of the application, so
/// the peer's reads and the transfer overlap the application's writes: with
/// nothing reported applied, the first `ranges_ahead` ranges still arrive,
/// in order, and no more until one is reported applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_are_fetched_ahead_of_the_application_and_bounded() {
    let charter = charter(&[0, 1]);
    let network = charter.network_id();
    let n = 5 * MAX_RANGE_EVENTS as u64 + 10;
    let events = feed(network, 0, n);
    let b = start(1, &charter, MemSource::with(&events)).await;
    let mut a = start(0, &charter, MemSource::with(&[])).await;
    let ahead = kpl_node::net::NetLimits::default().ranges_ahead;
    assert!(ahead >= 2, "ranges are fetched ahead");
    a.handle.dial(b.addr().await).await.unwrap();

    let author = author(0);
    let mut handed: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
    for _ in 0..ahead {
        let got = wait_for(&mut a.events, Duration::from_secs(30), |e| match e {
            NetEvent::FetchedEvents {
                from_seq, events, ..
            } => Some((from_seq, events)),
            _ => None,
        })
        .await
        .expect("a range ahead of the application arrives");
        handed.push(got);
    }
    let starts: Vec<u64> = handed.iter().map(|(s, _)| *s).collect();
    let expected: Vec<u64> = (0..ahead as u64)
        .map(|i| 1 + i * MAX_RANGE_EVENTS as u64)
        .collect();
    assert_eq!(starts, expected, "in order, each range once");
    // The window is full: nothing more until one is reported applied.
    let more = wait_for(&mut a.events, Duration::from_secs(3), |e| match e {
        NetEvent::FetchedEvents { from_seq, .. } => Some(from_seq),
        _ => None,
    })
    .await;
    assert_eq!(more, None, "at most {ahead} ranges ahead");

    // Apply them in order; the rest of the feed follows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut next = 1u64;
    for _ in 0..1_000 {
        for (from_seq, evs) in handed.drain(..) {
            assert_eq!(from_seq, next, "ranges arrive in order");
            for bytes in &evs {
                a.source.append(bytes).unwrap();
            }
            next += evs.len() as u64;
            a.handle
                .fetch_applied(author.clone(), from_seq, true)
                .await
                .unwrap();
        }
        if a.source.total() as u64 == n {
            break;
        }
        let Ok(Some(ev)) = tokio::time::timeout_at(deadline, a.events.recv()).await else {
            break;
        };
        if let NetEvent::FetchedEvents {
            from_seq, events, ..
        } = ev
        {
            handed.push((from_seq, events));
        }
    }
    assert_eq!(a.source.total() as u64, n, "the whole feed within 60 s");
    assert_eq!(a.source.feed(&author), b.source.feed(&author));
    let st = a.handle.status().await.unwrap();
    assert_eq!(st.counters.fetched_events, n, "every event fetched once");
    assert_eq!(st.counters.bad_ranges, 0);
    a.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}

/// Drives `a`'s application until it holds `n` events or `within` passes:
/// appends each fetched range (checking that it starts where the feed ends)
/// and reports it applied, except the ranges `refuse` picks, which are
/// reported not applied (once each) and not appended.
async fn apply_until(
    a: &mut TestNode,
    n: usize,
    within: Duration,
    mut refuse: impl FnMut(u64) -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    let mut refusing = false;
    for _ in 0..100_000 {
        if a.source.total() == n {
            return;
        }
        let Ok(Some(ev)) = tokio::time::timeout_at(deadline, a.events.recv()).await else {
            return;
        };
        let NetEvent::FetchedEvents {
            author,
            from_seq,
            events,
            ..
        } = ev
        else {
            continue;
        };
        if refusing {
            // Ranges handed over after a refused one were asked for ahead:
            // the application drops them until the next round starts again
            // from its head.
            if from_seq != a.source.len(&author) as u64 + 1 {
                continue;
            }
            refusing = false;
        }
        if refuse(from_seq) {
            refusing = true;
            a.handle
                .fetch_applied(author, from_seq, false)
                .await
                .unwrap();
            continue;
        }
        assert_eq!(
            from_seq,
            a.source.len(&author) as u64 + 1,
            "ranges arrive in order"
        );
        for bytes in &events {
            a.source.append(bytes).unwrap();
        }
        a.handle
            .fetch_applied(author, from_seq, true)
            .await
            .unwrap();
    }
}

/// A peer that answers with fewer events than asked (as it does at the size
/// limit) makes the ranges asked beyond its answer useless for this round;
/// the feed still arrives whole, in order, and no answer counts as bad.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_answers_still_bring_the_whole_feed() {
    let charter = charter(&[0, 1]);
    let network = charter.network_id();
    let events = feed(network, 1, 3_000);
    let source = MemSource::with(&events);
    source.cap_ranges(700);
    let b = start(1, &charter, source).await;
    let mut a = start(0, &charter, MemSource::with(&[])).await;
    a.handle.dial(b.addr().await).await.unwrap();
    apply_until(&mut a, 3_000, Duration::from_secs(90), |_| false).await;
    assert_eq!(a.source.total(), 3_000, "the whole feed within 90 s");
    assert_eq!(a.source.feed(&author(1)), b.source.feed(&author(1)));
    let st = a.handle.status().await.unwrap();
    assert_eq!(st.counters.bad_ranges, 0);
    a.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}

/// When the application refuses a range, the ranges fetched ahead of it are
/// dropped and the next round starts again from what the application holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_range_restarts_from_the_application_head() {
    let charter = charter(&[0, 1]);
    let network = charter.network_id();
    let n = 4 * MAX_RANGE_EVENTS;
    let events = feed(network, 0, n as u64);
    let b = start(1, &charter, MemSource::with(&events)).await;
    let mut a = start(0, &charter, MemSource::with(&[])).await;
    a.handle.dial(b.addr().await).await.unwrap();
    let second = 1 + MAX_RANGE_EVENTS as u64;
    let mut refused = false;
    apply_until(&mut a, n, Duration::from_secs(90), |from_seq| {
        let refuse = !refused && from_seq == second;
        refused |= refuse;
        refuse
    })
    .await;
    assert!(refused, "the second range was refused once");
    assert_eq!(a.source.total(), n, "the whole feed after the refusal");
    assert_eq!(a.source.feed(&author(0)), b.source.feed(&author(0)));
    a.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}
