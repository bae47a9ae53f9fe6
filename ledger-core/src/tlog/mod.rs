//! Transparency-log formats: verifiable without trusting any node.
//!
//! Each feed is also an RFC 6962 Merkle tree whose leaves are the feed's
//! event ids in sequence order, so the ecosystem of verifiable logs
//! (Certificate Transparency, Go's checksum database, Sigsum, Tessera) can
//! check a KP Ledger feed with its own tools:
//!
//! - [`merkle`]: RFC 6962 hashing; inclusion and consistency proofs (RFC 9162
//!   §2.1.3, §2.1.4), generated in O(log n) reads from a store of complete
//!   subtree hashes ([`merkle::NodeReader`]), which the incremental
//!   [`merkle::Frontier`] produces as events are appended.
//! - [`note`]: c2sp.org/signed-note with Ed25519 (verifier keys, signing,
//!   bounded parsing, verification).
//! - [`checkpoint`]: c2sp.org/tlog-checkpoint, and the origin of a feed
//!   ([`checkpoint::feed_origin`]).
//! - [`cosignature`]: c2sp.org/tlog-cosignature (`cosignature/v1`, Ed25519).
//! - [`witness`]: the pure state machine of c2sp.org/tlog-witness
//!   `add-checkpoint`, and [`witness::SplitViewProof`], self-contained
//!   evidence that a log signed two inconsistent checkpoints.
//! - [`tiles`]: c2sp.org/tlog-tiles paths and encodings (hash tiles, entry
//!   bundles, and the KP Ledger event bundles), and the check of a set of
//!   tiles against a checkpoint.
//!
//! Everything here is pure: no I/O, no clock (timestamps are parameters), no
//! panics on any input, and every parser is bounded in size before it looks
//! inside. The byte formats are summarised in `docs/FORMAT.md` §13.

pub mod checkpoint;
pub mod cosignature;
pub mod merkle;
pub mod note;
pub mod tiles;
pub mod witness;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::bytes::{Digest, FixedBytes};

/// Standard, padded base64 (RFC 4648 §4).
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Strict standard base64: padding required, no whitespace, and the unused
/// bits of the last symbol must be zero, so every byte string has exactly one
/// accepted text form.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// A 32-byte hash in strict base64 (exactly 44 characters).
pub(crate) fn b64_decode_digest(text: &str) -> Option<Digest> {
    if text.len() != 44 {
        return None;
    }
    let bytes = b64_decode(text)?;
    let arr: [u8; 32] = bytes.try_into().ok()?;
    Some(FixedBytes(arr))
}

/// An ASCII decimal `u64` with no sign and no leading zeroes (`0` itself is
/// the only form of zero).
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("10"), Some(10));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "18446744073709551616",
            "1e3",
            "0x10",
            "١",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(b64_decode("AAE=").as_deref(), Some(&[0u8, 1][..]));
        // Missing padding, non-zero unused bits, whitespace, URL alphabet.
        for bad in ["AAE", "AAF=", "AA E=", "AA-_", "AAE=\n"] {
            assert_eq!(b64_decode(bad), None, "{bad:?}");
        }
        let d = FixedBytes([7u8; 32]);
        assert_eq!(b64_decode_digest(&b64_encode(d.as_bytes())), Some(d));
        assert_eq!(b64_decode_digest(&b64_encode(&[7u8; 31])), None);
        assert_eq!(b64_decode_digest(&b64_encode(&[7u8; 33])), None);
    }
}
