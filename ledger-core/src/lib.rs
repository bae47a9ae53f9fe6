//! # ledger-core
//!
//! The pure heart of KP Ledger: the KP certificate model, the canonical
//! encoding, hashing and signing of events, feed and fork validation, and the
//! crash-safe store. It has no networking and no clock of its own: callers
//! pass timestamps in.
//!
//! Map:
//! - [`model`]: participants, authorities, roles, dates, the KP certificate, event bodies.
//! - [`codec`]: the one canonical, bounded binary encoding (serde + bincode 2).
//! - [`charter`]: the network charter (genesis) and the network id.
//! - [`event`]: signed events, ids, signatures, batch verification, authority keys.
//! - [`validate`]: KPCS rules for event bodies.
//! - [`feed`]: chaining rules (sequence, links, key epochs, pre-rotation).
//! - [`clock`]: whether an author's clock is plausible, from the ledger's own data.
//! - [`fork`]: fork proofs, verifiable offline with the charter.
//! - [`governance`]: membership decisions and the membership timeline derived from them.
//! - [`replica`]: the one verifier of a replica's feeds (a store's log, a downloaded replica).
//! - [`store`]: the durable `Ledger` (append-only log + sled indexes, group commit).
#![forbid(unsafe_code)]

pub mod analysis;
pub mod bundle;
pub mod bytes;
pub mod charter;
pub mod clock;
pub mod codec;
mod cores;
pub mod error;
pub mod event;
pub mod feed;
pub mod fork;
pub mod governance;
pub mod hash;
pub mod keys;
pub mod lifecycle;
pub mod mirror;
pub mod model;
pub mod precheck;
pub mod replica;
pub mod store;
pub mod testkit;
pub mod tlog;
pub mod validate;

pub use bytes::{Digest, FixedBytes, PublicKeyBytes, SignatureBytes};
pub use charter::Charter;
pub use error::{BodyError, DecodeError, EventError};
pub use event::{AuthorityKey, EventContent, EventId, SignedEvent};
pub use fork::ForkProof;
pub use model::*;
pub use store::{AppendOutcome, Ledger, StoreOptions};
