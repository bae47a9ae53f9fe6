//! Membership on real node processes: a peer that is not in the
//! charter cannot stay connected, and nothing it offers — by gossip or by
//! anti-entropy — is stored, although the event itself is valid (a member
//! publishing the very same bytes gets it stored everywhere).

use std::time::{Duration, Instant};

use kpl_api::paths;
use kpl_node::net::Keypair;
use kpl_tests::{certificate, members, sign_event, wait_until, Ghost, TestNet};
use ledger_core::EventBody;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");

const WITHIN: Duration = Duration::from_secs(30);

/// `denied_connections` from the `network_counters` of `/v1/status`.
fn denied_connections(net: &TestNet, label: &str) -> u64 {
    net.status(label)["network_counters"]["denied_connections"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn non_member_cannot_stay_connected_and_is_not_heard() {
    // EU is a member whose node is not started: its authority signs the
    // event the outsider offers, so the event itself is valid.
    let mut net = TestNet::create(
        EXE,
        "kp-cluster-outsider",
        &members(&["BW", "ZA", "EU"], &["wdc"]),
    );
    let honest = ["BW", "ZA", "wdc"];
    net.start_all(&honest, WITHIN);
    let charter = net.charter();
    let eu = net.author("EU");
    let ev = sign_event(
        &net.key_file("EU").key(),
        net.network_id(),
        &eu,
        1,
        None,
        EventBody::CertificateIssued(certificate("EU", "BW", 1)),
    );
    let id = ev.id().to_hex();

    // A fresh libp2p identity, not in the charter, running the same
    // software with the same charter; it offers the event by gossip and
    // serves it to anti-entropy, and dials every member.
    let addrs: Vec<_> = honest.iter().flat_map(|l| net.p2p_addrs(l)).collect();
    let outsider = Ghost::spawn(
        Keypair::generate_ed25519(),
        &charter,
        addrs.clone(),
        std::slice::from_ref(&ev),
    );
    let outsider_id = outsider.peer.to_string();
    assert!(charter.node_member(&outsider_id).is_none());

    // For a few seconds (several sync rounds) it keeps trying.
    let until = Instant::now() + Duration::from_secs(5);
    for _ in 0..100 {
        if Instant::now() >= until {
            break;
        }
        let _ = outsider.publish(ev.encode(), Duration::from_millis(200));
        for a in &addrs {
            let _ = outsider.dial(a.clone());
        }
        for l in honest {
            assert!(
                !net.peers(l).contains(&outsider_id),
                "{l} lists the outsider as a peer"
            );
            let (status, v) = net.get_status(l, &paths::event(&id));
            assert_eq!(status, 404, "{l} stored the outsider's event: {v}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for l in honest {
        assert!(
            denied_connections(&net, l) > 0,
            "{l} counted no denied connection: {}",
            net.status(l)["network_counters"]
        );
        assert_eq!(net.heads(l)[&eu.to_string()].0, 0, "{l}");
        assert!(!net.peers(l).contains(&outsider_id));
    }
    assert!(
        outsider.connected().is_empty(),
        "a connection survived: {:?}",
        outsider.connected()
    );
    drop(outsider);

    // Control: the very same bytes from EU's own node identity are stored
    // by every member.
    let member = Ghost::spawn(
        net.p2p_key("EU"),
        &charter,
        addrs,
        std::slice::from_ref(&ev),
    );
    member
        .wait_connected(
            &honest.iter().map(|l| net.peer_id(l)).collect::<Vec<_>>(),
            WITHIN,
        )
        .unwrap();
    member.publish(ev.encode(), WITHIN).unwrap();
    wait_until(
        WITHIN,
        Duration::from_millis(100),
        "the member's event everywhere",
        || {
            honest
                .iter()
                .all(|l| net.get_status(l, &paths::event(&id)).0 == 200)
                .then_some(())
        },
    )
    .unwrap();
}
