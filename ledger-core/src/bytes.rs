//! Fixed-size byte strings (hashes, keys, signatures) with one serde form per
//! kind of format: raw bytes in the canonical binary encoding, lowercase hex
//! in human-readable formats (JSON charters, the HTTP API).

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `N` raw bytes. In bincode they are written as exactly `N` bytes with no
/// length prefix; in JSON as a lowercase hex string of `2N` characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FixedBytes<const N: usize>(pub [u8; N]);

impl<const N: usize> FixedBytes<N> {
    pub const ZERO: Self = FixedBytes([0u8; N]);

    pub fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly `2N` lowercase hex digits (one spelling per value).
    pub fn from_hex(s: &str) -> Result<Self, String> {
        if s.len() != 2 * N {
            return Err(format!("expected {} hex digits, found {}", 2 * N, s.len()));
        }
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("hex digits must be lowercase".into());
        }
        let mut out = [0u8; N];
        hex::decode_to_slice(s, &mut out).map_err(|e| format!("invalid hex: {e}"))?;
        Ok(FixedBytes(out))
    }
}

impl<const N: usize> fmt::Debug for FixedBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl<const N: usize> fmt::Display for FixedBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl<const N: usize> Serialize for FixedBytes<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            use serde::ser::SerializeTuple;
            let mut t = serializer.serialize_tuple(N)?;
            for b in &self.0 {
                t.serialize_element(b)?;
            }
            t.end()
        }
    }
}

struct FixedVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for FixedVisitor<N> {
    type Value = FixedBytes<N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N} bytes (or {} hex digits)", 2 * N)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        FixedBytes::from_hex(v).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        let arr: [u8; N] = v
            .try_into()
            .map_err(|_| E::invalid_length(v.len(), &self))?;
        Ok(FixedBytes(arr))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        Ok(FixedBytes(out))
    }
}

impl<'de, const N: usize> Deserialize<'de> for FixedBytes<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(FixedVisitor::<N>)
        } else {
            deserializer.deserialize_tuple(N, FixedVisitor::<N>)
        }
    }
}

/// A SHA-256 digest.
pub type Digest = FixedBytes<32>;
/// An Ed25519 public key (32 bytes, RFC 8032 encoding).
pub type PublicKeyBytes = FixedBytes<32>;
/// An Ed25519 signature (64 bytes, RFC 8032 encoding).
pub type SignatureBytes = FixedBytes<64>;
