//! Limits on incoming connections still in their handshake (TCP accepted,
//! Noise and Yamux not yet done), so that unauthenticated connections that
//! never finish cannot keep members out.
//!
//! * At most [`PendingLimits::per_ip`] handshakes from one IP address.
//! * At most [`PendingLimits::general`] handshakes in all from addresses no
//!   member has connected from.
//! * [`PendingLimits::reserved`] more for addresses a member has connected
//!   from (inbound or outbound) since the node started, taken only when the
//!   general pool is full: a member restarted during a flood from other
//!   addresses still gets in at its first attempt.
//!
//! Together with the transport's handshake deadline
//! ([`super::NetLimits::handshake_timeout`]), this bounds how long and how
//! many slots a silent client holds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::{ConnectionEstablished, ListenFailure};
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// Most member addresses remembered (oldest forgotten first).
const MAX_MEMBER_ADDRS: usize = 1024;

/// The limits; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingLimits {
    pub per_ip: u32,
    pub general: u32,
    pub reserved: u32,
}

/// Why a pending connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingRefused {
    /// This address already has `per_ip` handshakes under way.
    PerAddress(u32),
    /// Every slot its address may take is in use.
    Full,
}

impl fmt::Display for PendingRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PendingRefused::PerAddress(n) => {
                write!(f, "{n} handshakes from this address are under way already")
            }
            PendingRefused::Full => write!(f, "no handshake slot left for this address"),
        }
    }
}

impl std::error::Error for PendingRefused {}

#[derive(Clone, Copy)]
struct Slot {
    ip: Option<IpAddr>,
    reserved: bool,
}

/// The behaviour enforcing [`PendingLimits`].
pub struct Behaviour {
    limits: PendingLimits,
    pending: HashMap<ConnectionId, Slot>,
    per_ip: HashMap<IpAddr, u32>,
    general: u32,
    reserved: u32,
    members: HashSet<IpAddr>,
    members_order: VecDeque<IpAddr>,
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(a) => Some(IpAddr::V4(a)),
        Protocol::Ip6(a) => Some(IpAddr::V6(a)),
        _ => None,
    })
}

impl Behaviour {
    pub fn new(limits: PendingLimits) -> Behaviour {
        Behaviour {
            limits,
            pending: HashMap::new(),
            per_ip: HashMap::new(),
            general: 0,
            reserved: 0,
            members: HashSet::new(),
            members_order: VecDeque::new(),
        }
    }

    /// Handshakes under way now.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Remembers that a member connected from `ip`.
    pub fn note_member_address(&mut self, ip: IpAddr) {
        if self.members.insert(ip) {
            self.members_order.push_back(ip);
            while self.members_order.len() > MAX_MEMBER_ADDRS {
                if let Some(old) = self.members_order.pop_front() {
                    self.members.remove(&old);
                }
            }
        }
    }

    /// Admits or refuses a new incoming connection from `remote`.
    fn admit(&mut self, id: ConnectionId, remote: &Multiaddr) -> Result<(), PendingRefused> {
        let ip = ip_of(remote);
        if let Some(ip) = ip {
            let n = self.per_ip.get(&ip).copied().unwrap_or(0);
            if n >= self.limits.per_ip {
                return Err(PendingRefused::PerAddress(self.limits.per_ip));
            }
        }
        let reserved = if self.general < self.limits.general {
            false
        } else if ip.is_some_and(|ip| self.members.contains(&ip))
            && self.reserved < self.limits.reserved
        {
            true
        } else {
            return Err(PendingRefused::Full);
        };
        if reserved {
            self.reserved += 1;
        } else {
            self.general += 1;
        }
        if let Some(ip) = ip {
            *self.per_ip.entry(ip).or_insert(0) += 1;
        }
        self.pending.insert(id, Slot { ip, reserved });
        Ok(())
    }

    /// The handshake of `id` ended (established or failed).
    fn release(&mut self, id: ConnectionId) {
        let Some(slot) = self.pending.remove(&id) else {
            return;
        };
        if slot.reserved {
            self.reserved = self.reserved.saturating_sub(1);
        } else {
            self.general = self.general.saturating_sub(1);
        }
        if let Some(ip) = slot.ip {
            if let Some(n) = self.per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.admit(connection_id, remote)
            .map_err(ConnectionDenied::new)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.release(connection_id);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                connection_id,
                endpoint,
                ..
            }) => {
                // Established only once the membership gate allowed the peer.
                self.release(connection_id);
                if let Some(ip) = ip_of(endpoint.get_remote_address()) {
                    self.note_member_address(ip);
                }
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release(connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PendingLimits = PendingLimits {
        per_ip: 2,
        general: 3,
        reserved: 2,
    };

    fn addr(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/4000").parse().expect("multiaddr")
    }

    fn id(n: usize) -> ConnectionId {
        ConnectionId::new_unchecked(n)
    }

    #[test]
    fn one_address_holds_at_most_per_ip() {
        let mut b = Behaviour::new(LIMITS);
        assert!(b.admit(id(1), &addr("10.0.0.1")).is_ok());
        assert!(b.admit(id(2), &addr("10.0.0.1")).is_ok());
        assert_eq!(
            b.admit(id(3), &addr("10.0.0.1")),
            Err(PendingRefused::PerAddress(2))
        );
        // Another address still gets in.
        assert!(b.admit(id(4), &addr("10.0.0.2")).is_ok());
        // A slot freed is taken again.
        b.release(id(1));
        assert!(b.admit(id(5), &addr("10.0.0.1")).is_ok());
        assert_eq!(b.pending(), 3);
    }

    #[test]
    fn a_full_general_pool_leaves_room_for_member_addresses_only() {
        let mut b = Behaviour::new(LIMITS);
        b.note_member_address("10.0.0.9".parse().expect("ip"));
        for (n, ip) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            assert!(b.admit(id(n), &addr(ip)).is_ok());
        }
        assert_eq!(
            b.admit(id(10), &addr("10.0.0.4")),
            Err(PendingRefused::Full)
        );
        assert!(b.admit(id(11), &addr("10.0.0.9")).is_ok());
        assert!(b.admit(id(12), &addr("10.0.0.9")).is_ok());
        // The reserve is bounded too (and so is the member address).
        assert!(b.admit(id(13), &addr("10.0.0.9")).is_err());
        // Releasing a reserved slot frees the reserve, not the general pool.
        b.release(id(11));
        assert_eq!(
            b.admit(id(14), &addr("10.0.0.4")),
            Err(PendingRefused::Full)
        );
        assert!(b.admit(id(15), &addr("10.0.0.9")).is_ok());
        // Releasing a general slot lets anyone in again.
        b.release(id(0));
        assert!(b.admit(id(16), &addr("10.0.0.4")).is_ok());
    }

    #[test]
    fn releasing_unknown_or_twice_changes_nothing() {
        let mut b = Behaviour::new(LIMITS);
        assert!(b.admit(id(1), &addr("10.0.0.1")).is_ok());
        b.release(id(1));
        b.release(id(1));
        b.release(id(99));
        assert_eq!(b.pending(), 0);
        for n in 0..3 {
            assert!(b.admit(id(n + 10), &addr(&format!("10.0.1.{n}"))).is_ok());
        }
        assert!(b.admit(id(20), &addr("10.0.2.1")).is_err());
    }

    #[test]
    fn member_addresses_are_bounded() {
        let mut b = Behaviour::new(LIMITS);
        for n in 0..(MAX_MEMBER_ADDRS as u32 + 10) {
            b.note_member_address(IpAddr::V4(n.into()));
        }
        assert_eq!(b.members.len(), MAX_MEMBER_ADDRS);
        assert_eq!(b.members_order.len(), MAX_MEMBER_ADDRS);
        assert!(!b.members.contains(&IpAddr::V4(0u32.into())));
    }
}
