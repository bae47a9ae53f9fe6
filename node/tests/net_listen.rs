//! Listening fails loudly: a port another node (or any program) holds is
//! refused with the reason, never reported as listening.

mod net_common;

use kpl_node::net::{NetConfig, Network};
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use net_common::*;

fn port_of(a: &Multiaddr) -> u16 {
    a.iter()
        .find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("a tcp address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_refused_with_its_reason() {
    let charter = charter(&[0, 1]);
    let a = start(0, &charter, MemSource::with(&[])).await;
    let port = port_of(&a.addr().await);
    let taken: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let config = NetConfig {
        listen: vec![taken.clone()],
        ..test_config()
    };
    let second = Network::spawn(config, node_key(1), &charter, MemSource::with(&[])).await;
    let err = match second {
        Ok((h, _)) => {
            let st = h.status().await.unwrap();
            panic!("a second node listens on {taken}: {:?}", st.listen_addrs);
        }
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&port.to_string()), "{err}");
    assert!(
        err.to_lowercase().contains("in use"),
        "the reason is given: {err}"
    );

    // A port held by another program, not a node: the same.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    let config = NetConfig {
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()],
        ..test_config()
    };
    let err = match Network::spawn(config, node_key(1), &charter, MemSource::with(&[])).await {
        Ok(_) => panic!("listens on a port another program holds"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.to_lowercase().contains("in use"),
        "the reason is given: {err}"
    );
    a.handle.shutdown().await.unwrap();
}
