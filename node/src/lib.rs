//! KP Ledger participant node: networking, storage glue, HTTP API, daemon.
//!
//! - [`net`]: the network layer (libp2p gossip and anti-entropy), testable on
//!   its own without storage.
//! - [`service`]: the node proper, gluing the store to the network: whatever
//!   arrives is appended through the store's validation; only what the store
//!   accepted is forwarded.
//! - [`checkpoints`]: signed checkpoints of the node's own feed, witness
//!   cosignatures of the others' (checked against the replica), split-view
//!   proofs, and the c2sp.org/tlog-witness `add-checkpoint` logic.
//! - [`api`]: the HTTP API (JSON) and `/metrics`.
//! - [`explorer`]: the read-only web explorer (HTML) at `/explorer`.
//! - [`config`]: `node.toml`, `init`, key and token files.
//! - [`daemon`]: `init` / `run`, signals, clean shutdown.
//! - [`maintenance`]: `check` and `repair` of a stopped node's damaged store.
//! - [`cluster`]: a network of real node processes on loopback (devnet, tests).
//! - [`background`]: the lowered-priority threads analysis answers run on.
//! - [`os`]: a thread's CPU priority and glibc's heap bounds.
//!
//! No `unsafe` but in [`os`]: calls on plain integers that Rust's standard
//! library does not offer (setpriority, mallopt).
#![deny(unsafe_code)]

pub mod api;
pub mod background;
pub mod checkpoints;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod explorer;
pub mod maintenance;
pub mod metrics;
pub mod net;
pub mod os;
pub mod service;
pub mod tiles;
