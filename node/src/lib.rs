//! KP Ledger participant node (networking, API, daemon). Built in issue #3.
//!
//! - [`net`]: the network layer (libp2p gossip and anti-entropy), testable on
//!   its own without storage.
#![forbid(unsafe_code)]

pub mod net;
