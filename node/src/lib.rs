//! KP Ledger participant node: networking, storage glue, HTTP API, daemon.
//!
//! - [`net`]: the network layer (libp2p gossip and anti-entropy), testable on
//!   its own without storage.
//! - [`service`]: the node proper, gluing the store to the network: whatever
//!   arrives is appended through the store's validation; only what the store
//!   accepted is forwarded.
//! - [`api`]: the HTTP API (JSON) and `/metrics`.
//! - [`config`]: `node.toml`, `init`, key and token files.
//! - [`daemon`]: `init` / `run`, signals, clean shutdown.
//! - [`cluster`]: a network of real node processes on loopback (devnet, tests).
#![forbid(unsafe_code)]

pub mod api;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod metrics;
pub mod net;
pub mod service;
