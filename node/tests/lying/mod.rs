//! What the tests of a misbehaving member share: three honest node
//! processes (BW, ZA and the observer wdc) of a network whose charter also
//! lists EU, the member the test plays.

use std::time::Duration;

use kpl_node::net::Multiaddr;
use kpl_tests::{members, TestNet};

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
