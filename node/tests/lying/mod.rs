//! What the tests of a misbehaving member share: three honest node
//! processes (BW, ZA and the observer wdc) of a network whose charter also
//! lists EU, the member the test plays.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use kpl_node::net::{Multiaddr, PeerId};
use kpl_tests::{members, TestNet};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::Swarm;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");

pub const WITHIN: Duration = Duration::from_secs(30);

/// The honest nodes of every scenario; EU misbehaves.
pub const HONEST: [&str; 3] = ["BW", "ZA", "wdc"];

/// What one single attack may add to an honest node's peak RSS, in KiB.
pub const SINGLE_ATTACK_RSS_KIB: u64 = 16 * 1024;

pub fn network(name: &str) -> TestNet {
    let mut net = TestNet::create(EXE, name, &members(&["BW", "ZA", "EU"], &["wdc"]));
    net.start_all(&HONEST, WITHIN);
    net
}

pub fn honest_ids(net: &TestNet) -> Vec<String> {
    HONEST.iter().map(|l| net.peer_id(l)).collect()
}

pub fn honest_addrs(net: &TestNet) -> Vec<Multiaddr> {
    HONEST.iter().flat_map(|l| net.p2p_addrs(l)).collect()
}

/// Dials `addrs` and drives `swarm` until `ready` has named every peer of
/// `ids` (`ready` says which peer, if any, an event shows ready: connected,
/// subscribed), within [`WITHIN`]; else an error saying `what` was seen.
pub async fn dial_and_await<B: NetworkBehaviour>(
    swarm: &mut Swarm<B>,
    addrs: Vec<Multiaddr>,
    ids: &[String],
    what: &str,
    mut ready: impl FnMut(&SwarmEvent<B::ToSwarm>) -> Option<PeerId>,
) -> Result<(), String> {
    for a in addrs {
        swarm.dial(a).map_err(|e| e.to_string())?;
    }
    let deadline = tokio::time::Instant::now() + WITHIN;
    let mut seen = HashSet::new();
    for _ in 0..10_000 {
        if ids.iter().all(|i| seen.contains(i)) {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(ev) => {
                if let Some(p) = ready(&ev) {
                    seen.insert(p.to_string());
                }
            }
            Err(_) => break,
        }
    }
    Err(format!("{what}: {seen:?} only"))
}
