//! Membership gate: a peer that is not in the charter cannot stay
//! connected, and nothing it publishes reaches the application, even when a
//! (misconfigured) member relays it; the allowed set changes at run time.

mod net_common;

use std::collections::HashSet;
use std::time::Duration;

use kpl_node::net::{charter_peers, NetEvent, Validation};
use net_common::*;

/// Node 9 is not in the charter.
const OUTSIDER: u8 = 9;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_member_is_refused_and_unheard() {
    let charter = charter(&[0, 1]);
    let network = charter.network_id();
    let mut a = start(0, &charter, MemSource::with(&[])).await;
    // The outsider runs the same software with the same charter and holds
    // events; its own gate lets it talk to the members.
    let m = start(OUTSIDER, &charter, MemSource::with(&feed(network, 1, 20))).await;

    // Outsider dials the member: refused.
    m.handle.dial(a.addr().await).await.unwrap();
    // Member dials the outsider by peer id: refused before connecting.
    let dial_out = a.handle.dial(m.addr().await).await;
    assert!(dial_out.is_err(), "dialing a non-member is refused");

    // Whatever the outsider does for a while, no connection survives and
    // the application hears nothing from it.
    let ev = feed(network, 0, 1).remove(0).encode();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let mut denied_seen = false;
    for _ in 0..200 {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        let _ = m.handle.publish(ev.clone()).await;
        let _ = m.handle.dial(a.addr().await).await;
        let sa = a.handle.status().await.unwrap();
        assert!(
            !sa.connected.contains(&m.peer),
            "A keeps no connection to the outsider"
        );
        denied_seen |= sa.counters.denied_connections > 0;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(denied_seen, "A counted denied connections");
    let sm = m.handle.status().await.unwrap();
    assert!(
        !sm.connected.contains(&a.peer),
        "the connection did not survive"
    );

    let heard = wait_for(&mut a.events, Duration::from_secs(1), |e| match e {
        NetEvent::GossipEvent { .. }
        | NetEvent::FetchedEvents { .. }
        | NetEvent::ForkProof { .. } => Some(format!("{e:?}")),
        NetEvent::PeerConnected { peer } if peer == m.peer => Some(format!("{peer} connected")),
        _ => None,
    })
    .await;
    assert!(heard.is_none(), "A heard from the outsider: {heard:?}");
    assert_eq!(a.source.total(), 0);

    a.handle.shutdown().await.unwrap();
    m.handle.shutdown().await.unwrap();
}

/// B wrongly lets the outsider in and relays what it publishes; A still
/// refuses the message because its (signed) source is not a member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_message_from_non_member_is_rejected() {
    let charter = charter(&[0, 1]);
    let network = charter.network_id();
    let mut a = start(0, &charter, MemSource::with(&[])).await;
    let mut b = start(1, &charter, MemSource::with(&[])).await;
    let m = start(OUTSIDER, &charter, MemSource::with(&[])).await;

    let mut b_allowed: HashSet<_> = charter_peers(&charter);
    b_allowed.insert(m.peer);
    b.handle.set_allowed_peers(b_allowed).await.unwrap();

    b.handle.dial(a.addr().await).await.unwrap();
    m.handle.dial(b.addr().await).await.unwrap();
    let t = Duration::from_secs(10);
    assert!(wait_connected(&b, a.peer, t).await);
    assert!(wait_connected(&b, m.peer, t).await);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let ev = feed(network, 2, 1).remove(0).encode();
    publish_retry(&m, ev.clone()).await;
    let (from, msg_id) = wait_for(&mut b.events, Duration::from_secs(15), |e| match e {
        NetEvent::GossipEvent { from, msg_id, .. } => Some((from, msg_id)),
        _ => None,
    })
    .await
    .expect("B (which allows the outsider) receives it");
    assert_eq!(from, m.peer);
    b.handle
        .report_validation(msg_id, from, Validation::Accept)
        .await
        .unwrap();

    let heard = wait_for(&mut a.events, Duration::from_secs(5), |e| match e {
        NetEvent::GossipEvent { .. } => Some(()),
        _ => None,
    })
    .await;
    assert!(heard.is_none(), "A must not deliver an outsider's message");
    let sa = a.handle.status().await.unwrap();
    assert!(sa.counters.non_member_messages >= 1, "{:?}", sa.counters);

    for n in [&a, &b, &m] {
        n.handle.shutdown().await.unwrap();
    }
}

/// Removing a member at run time disconnects it and keeps it out; adding it
/// back lets it in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_set_changes_at_run_time() {
    let charter = charter(&[0, 1]);
    let mut a = start(0, &charter, MemSource::with(&[])).await;
    let b = start(1, &charter, MemSource::with(&[])).await;
    b.handle.dial(a.addr().await).await.unwrap();
    let t = Duration::from_secs(10);
    assert!(wait_connected(&a, b.peer, t).await);

    let mut without_b = charter_peers(&charter);
    without_b.remove(&b.peer);
    a.handle.set_allowed_peers(without_b).await.unwrap();
    let gone = wait_for(&mut a.events, t, |e| match e {
        NetEvent::PeerDisconnected { peer } if peer == b.peer => Some(()),
        _ => None,
    })
    .await;
    assert!(gone.is_some(), "B is disconnected");
    // B may not have noticed the close yet; either way A keeps it out.
    for _ in 0..5 {
        let _ = b.handle.dial(a.addr().await).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!a.handle.status().await.unwrap().connected.contains(&b.peer));
    }

    a.handle
        .set_allowed_peers(charter_peers(&charter))
        .await
        .unwrap();
    let mut back = false;
    for _ in 0..20 {
        let _ = b.handle.dial(a.addr().await).await;
        if wait_connected(&a, b.peer, Duration::from_millis(500)).await {
            back = true;
            break;
        }
    }
    assert!(back, "B is let in again");

    a.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}
