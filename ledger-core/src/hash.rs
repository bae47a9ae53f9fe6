//! SHA-256 helpers.

use sha2::{Digest as _, Sha256};

use crate::bytes::{Digest, FixedBytes};

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Digest {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    FixedBytes(h.finalize().into())
}
