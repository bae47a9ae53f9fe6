//! The TCP transport, with dead links found by the kernel.
//!
//! A connection whose path goes silent (a cut cable, a partition, a peer
//! behind a link that drops most packets) looks open to both ends: TCP
//! retransmits its unacknowledged segments with an exponential backoff,
//! and after a cut of two minutes the next retransmit comes minutes later.
//! libp2p counts the peer as connected meanwhile, so the node neither
//! redials it nor syncs with it, and closing the connection from above does
//! not help (the close itself waits on the dead link).
//!
//! So every socket, dialled or accepted, gets two kernel options before
//! the Noise handshake: `TCP_USER_TIMEOUT` (data unacknowledged for
//! [`NetLimits::dead_link_timeout`] aborts the connection) and keepalive
//! probes after half that time of silence (an idle connection has no data
//! in flight for the user timeout to see). The abort closes the libp2p
//! connection at once; the next sync round redials the peer over a fresh
//! socket whose retransmission timer starts small again.
//!
//! [`NetLimits::dead_link_timeout`]: super::NetLimits::dead_link_timeout

use std::time::Duration;

use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade;
use libp2p::{noise, tcp, yamux, PeerId, Transport};
use socket2::{SockRef, TcpKeepalive};
use tracing::debug;

use super::Keypair;

/// TCP (no delay, dead-link options), Noise, Yamux.
pub(super) fn build(
    keypair: &Keypair,
    dead_link_timeout: Duration,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, noise::Error> {
    let noise = noise::Config::new(keypair)?;
    Ok(
        tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
            .map(move |stream, _| {
                set_dead_link_options(&stream.0, dead_link_timeout);
                stream
            })
            .upgrade(upgrade::Version::V1Lazy)
            .authenticate(noise)
            .multiplex(yamux::Config::default())
            .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
            .boxed(),
    )
}

/// Sets `TCP_USER_TIMEOUT` to `timeout` and keepalive probes after
/// `timeout / 2` of silence, every `timeout / 4`. A zero `timeout` leaves
/// the system's defaults. A socket that refuses an option keeps working
/// with the defaults (logged at debug level).
pub(super) fn set_dead_link_options(stream: &tokio::net::TcpStream, timeout: Duration) {
    if timeout.is_zero() {
        return;
    }
    let sock = SockRef::from(stream);
    let keepalive = TcpKeepalive::new()
        .with_time((timeout / 2).max(Duration::from_secs(1)))
        .with_interval((timeout / 4).max(Duration::from_secs(1)))
        .with_retries(4);
    if let Err(e) = sock.set_tcp_keepalive(&keepalive) {
        debug!(%e, "TCP keepalive not set");
    }
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    if let Err(e) = sock.set_tcp_user_timeout(Some(timeout)) {
        debug!(%e, "TCP_USER_TIMEOUT not set");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_options_reach_the_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialled, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (dialled, (accepted, _)) = (dialled.unwrap(), accepted.unwrap());
        set_dead_link_options(&dialled, Duration::from_secs(30));
        let sock = SockRef::from(&dialled);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(15));
        assert_eq!(
            sock.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(7)
        );
        #[cfg(target_os = "linux")]
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(30))
        );
        // Zero leaves the defaults.
        set_dead_link_options(&accepted, Duration::ZERO);
        let sock = SockRef::from(&accepted);
        assert!(!sock.keepalive().unwrap());
        #[cfg(target_os = "linux")]
        assert_eq!(sock.tcp_user_timeout().unwrap(), None);
    }
}
