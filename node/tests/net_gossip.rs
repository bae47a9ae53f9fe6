//! Push: an event published by one member reaches the others (through a
//! validating middle node), with message id = event id, once.

mod net_common;

use std::time::Duration;

use kpl_node::net::{MessageId, NetEvent, Validation};
use net_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_event_reaches_members_with_event_id() {
    let charter = charter(&[0, 1, 2]);
    let network = charter.network_id();
    let a = start(0, &charter, MemSource::with(&[])).await;
    let mut b = start(1, &charter, MemSource::with(&[])).await;
    let mut c = start(2, &charter, MemSource::with(&[])).await;

    // A line: A - B - C, so C only gets the event if B validates and forwards it.
    b.handle.dial(a.addr().await).await.unwrap();
    c.handle.dial(b.addr().await).await.unwrap();
    let t = Duration::from_secs(10);
    assert!(wait_connected(&b, a.peer, t).await, "B connects to A");
    assert!(wait_connected(&c, b.peer, t).await, "C connects to B");
    // Let subscriptions propagate and the meshes form (heartbeat: 1 s).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let ev = feed(network, 0, 1).remove(0);
    let bytes = ev.encode();
    let want = MessageId::new(ev.id().as_bytes());
    let id = publish_retry(&a, bytes.clone()).await;
    assert_eq!(id, want, "message id is the event id");

    // B receives, validates, accepts (so gossipsub forwards it to C).
    let got_b = wait_for(&mut b.events, Duration::from_secs(15), |e| match e {
        NetEvent::GossipEvent {
            bytes,
            from,
            msg_id,
        } => Some((bytes, from, msg_id)),
        _ => None,
    })
    .await
    .expect("B receives the event");
    assert_eq!(got_b.0, bytes);
    assert_eq!(got_b.1, a.peer);
    assert_eq!(got_b.2, want);
    b.handle
        .report_validation(got_b.2.clone(), got_b.1, Validation::Accept)
        .await
        .unwrap();

    let got_c = wait_for(&mut c.events, Duration::from_secs(15), |e| match e {
        NetEvent::GossipEvent {
            bytes,
            from,
            msg_id,
        } => Some((bytes, from, msg_id)),
        _ => None,
    })
    .await
    .expect("C receives the event through B");
    assert_eq!(got_c.0, bytes);
    assert_eq!(got_c.1, b.peer);
    assert_eq!(got_c.2, want);
    c.handle
        .report_validation(got_c.2, got_c.1, Validation::Accept)
        .await
        .unwrap();

    // Re-publishing the same event (from the author's node or from another
    // node) is one message: accepted locally, delivered nowhere again.
    assert_eq!(a.handle.publish(bytes.clone()).await.unwrap(), want);
    assert_eq!(c.handle.publish(bytes.clone()).await.unwrap(), want);
    let again = wait_for(&mut b.events, Duration::from_secs(3), |e| match e {
        NetEvent::GossipEvent { .. } => Some(()),
        _ => None,
    })
    .await;
    assert!(again.is_none(), "a duplicate is not delivered again");

    // Oversized data is refused before it reaches gossipsub.
    let huge = vec![1u8; ledger_core::codec::MAX_EVENT_BYTES + 1];
    assert!(matches!(
        a.handle.publish(huge).await,
        Err(kpl_node::net::NetError::TooLarge { .. })
    ));

    for n in [&a, &b, &c] {
        n.handle.shutdown().await.unwrap();
    }
    assert!(a.handle.status().await.is_err(), "stopped");
}
