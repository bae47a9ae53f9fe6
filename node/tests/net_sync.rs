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
