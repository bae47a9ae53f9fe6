//! The one canonical binary encoding used for everything that is signed,
//! hashed, stored or sent: serde + bincode 2 with a single fixed configuration.
//!
//! Configuration (see `docs/FORMAT.md`): little-endian, fixed-width integers
//! (`u8` 1 byte, `u16` 2, `u32` 4, `u64` 8, `i32` 4), sequence and string lengths
//! as `u64`, enum variants as `u32` index, `Option` as a `0x00`/`0x01` tag, `bool`
//! as `0x00`/`0x01`, fixed-size byte arrays raw.
//!
//! Decoding is bounded (the input is size-checked before anything is decoded,
//! and bincode's allocation limit is set to the same bound), must consume every
//! input byte, and must re-encode to exactly the input: so every value has one
//! and only one accepted encoding, and no decoder panics on any input.

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::DecodeError;

/// Current version of every signed or stored structure's format.
pub const FORMAT_VERSION: u8 = 1;

/// Largest encoded event accepted from anywhere (network, disk, files), in bytes.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Largest encoded charter accepted.
pub const MAX_CHARTER_BYTES: usize = 1024 * 1024;
/// Largest encoded fork proof accepted (two events plus key evidence).
pub const MAX_FORK_PROOF_BYTES: usize = 2 * MAX_EVENT_BYTES + 64 * 1024;

/// bincode's own allocation limit: never above the largest structure we decode.
const LIMIT: usize = MAX_CHARTER_BYTES;

type Config = Configuration<LittleEndian, Fixint, Limit<LIMIT>>;
type EncodeConfig = Configuration<LittleEndian, Fixint>;

fn encode_config() -> EncodeConfig {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
}

fn config() -> Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<LIMIT>()
}

/// Canonical encoding of `value`.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Every type of this crate has a length-prefixed, serde-derived form, so
    // encoding into a vector has no failure path (no size limit on encode).
    bincode::serde::encode_to_vec(value, encode_config())
        .expect("types of this crate always encode")
}

/// Fallible canonical encoding, for values built from outside input.
pub fn try_encode<T: Serialize>(value: &T) -> Result<Vec<u8>, DecodeError> {
    bincode::serde::encode_to_vec(value, encode_config())
        .map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Decodes `bytes` as a `T`, refusing anything over `max` bytes before looking
/// inside, trailing bytes, and non-canonical encodings.
pub fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    let (value, used): (T, usize) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            extra: bytes.len() - used,
        });
    }
    let again = try_encode(&value)?;
    if again != bytes {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}
