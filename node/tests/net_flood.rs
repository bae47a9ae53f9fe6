//! Handshake flood: while the test process holds about 200 raw TCP
//! connections to a node's libp2p port (from 50 other loopback addresses,
//! never saying a word, reopened as soon as the node closes them), a member
//! node restarted in the meantime still connects to it and syncs within a
//! few seconds.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kpl_node::net::Multiaddr;
use kpl_tests::{members, TestNet};
use libp2p::multiaddr::Protocol;
use socket2::{Domain, Socket, Type};

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");

/// Connections held open at once.
const FLOOD: usize = 200;
/// Loopback source addresses they come from (127.0.0.2 onwards).
const SOURCES: usize = 50;
/// The longest a flood runs, whatever the test does.
const FLOOD_MAX: Duration = Duration::from_secs(90);
/// How soon the restarted member must hold the flooded node's events.
const REJOIN: Duration = Duration::from_secs(8);

/// Holds [`FLOOD`] silent TCP connections to `target`, reopening each as
/// soon as it is closed; stops when dropped (or after [`FLOOD_MAX`]).
struct Flood {
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Flood {
    fn start(target: SocketAddr) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicU64::new(0));
        let (s, o) = (stop.clone(), opened.clone());
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut socks: Vec<Option<Socket>> = (0..FLOOD).map(|_| None).collect();
            // Bounded: at most FLOOD_MAX, 10 ms a pass.
            while !s.load(Ordering::Relaxed) && started.elapsed() < FLOOD_MAX {
                for (i, slot) in socks.iter_mut().enumerate() {
                    let closed = match slot {
                        None => true,
                        Some(sock) => {
                            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
                            match sock.recv(&mut buf) {
                                Ok(_) => true, // closed (0) or spoken to: reopen
                                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                            }
                        }
                    };
                    if closed {
                        *slot = open(i, target);
                        if slot.is_some() {
                            o.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Flood {
            stop,
            opened,
            thread: Some(thread),
        }
    }

    fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens connection `i` from its loopback source address; nonblocking once
/// connected.
fn open(i: usize, target: SocketAddr) -> Option<Socket> {
    let src = Ipv4Addr::new(127, 0, 0, 2 + (i % SOURCES) as u8);
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    sock.bind(&SocketAddr::new(IpAddr::V4(src), 0).into())
        .ok()?;
    sock.connect_timeout(&target.into(), Duration::from_millis(500))
        .ok()?;
    sock.set_nonblocking(true).ok()?;
    Some(sock)
}

fn tcp_target(addrs: &[Multiaddr]) -> SocketAddr {
    for a in addrs {
        let mut ip = None;
        let mut port = None;
        for p in a.iter() {
            match p {
                Protocol::Ip4(v) => ip = Some(IpAddr::V4(v)),
                Protocol::Tcp(v) => port = Some(v),
                _ => {}
            }
        }
        if let (Some(ip), Some(port)) = (ip, port) {
            return SocketAddr::new(ip, port);
        }
    }
    panic!("no TCP address in {addrs:?}");
}

#[test]
fn restarted_member_rejoins_through_a_handshake_flood() {
    let mut net = TestNet::create(EXE, "kp-flood", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], Duration::from_secs(30));
    net.issue("BW", "ZA", 1);
    net.wait_heads_equal(&["BW", "ZA"], 1, Duration::from_secs(30));

    // ZA goes away; BW writes on; then the flood begins on BW's p2p port.
    net.stop("ZA");
    for n in 2..=4 {
        net.issue("BW", "ZA", n);
    }
    let target = tcp_target(&net.p2p_addrs("BW"));
    let flood = Flood::start(target);
    // Let it fill every slot the node has for handshakes.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        flood.opened() >= FLOOD as u64,
        "the flood holds its connections"
    );

    let t0 = Instant::now();
    net.start("ZA");
    let want = net.heads("BW");
    let got = kpl_tests::wait_until(
        Duration::from_secs(60),
        Duration::from_millis(50),
        "ZA holding BW's events",
        || (net.heads("ZA") == want).then(|| t0.elapsed()),
    );
    let opened = flood.opened();
    drop(flood);
    let took = got.unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "[flood] member rejoined and synced in {:.2} s under {FLOOD} held handshakes \
         ({opened} connections opened by the flood)",
        took.as_secs_f64()
    );
    assert!(
        took <= REJOIN,
        "the member took {took:?} (more than {REJOIN:?}) to rejoin through the flood"
    );
}
