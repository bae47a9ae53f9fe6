//! The KP Ledger HTTP API contract, defined once: the endpoint paths
//! ([`paths`]), the request and response bodies ([`types`]) and the error
//! body with its codes ([`error`]). The node serves these types, and clients
//! read them back.
//!
//! This crate never does I/O (no networking, no files, no clock) but in
//! `client`, the blocking HTTP client behind the cargo feature `client`. It depends
//! on `ledger-core` only to convert core types into their API form
//! (`From` conversions at this boundary), never on the node.
//!
//! JSON objects are written with their keys in alphabetical order, the order
//! the node has always answered in: the fields of every type here are
//! declared in that order.
#![forbid(unsafe_code)]

#[cfg(feature = "client")]
pub mod client;
pub mod endpoints;
pub mod error;
#[cfg(feature = "client")]
pub mod http1;
pub mod openapi;
pub mod paths;
pub mod types;

pub use error::{ErrorBody, ErrorDetail};
