//! Events: what an author signs, how it is encoded, identified and verified.
//!
//! ```text
//! signed bytes = EVENT_CONTEXT || canonical(EventContent)
//! event id     = SHA-256(signed bytes)
//! signature    = Ed25519(author key, signed bytes)
//! encoded      = canonical(SignedEvent) = canonical(EventContent) || signature
//! ```
//!
//! The id does **not** cover the signature. So an author can compute the ids
//! (and thus the `prev` links) of a whole run of events before signing any of
//! them and sign the run in parallel on every core; a signature cannot be
//! malleated into a second id for the same event; and a fork is exactly "two
//! different contents for one (author, seq)", never "two signatures of one
//! content". Ed25519 is deterministic, so an honest author produces one
//! signature per content anyway.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::bytes::{Digest, FixedBytes, PublicKeyBytes, SignatureBytes};
use crate::codec::{self, FORMAT_VERSION, MAX_EVENT_BYTES};
use crate::error::DecodeError;
use crate::hash::sha256;
use crate::model::{AuthorId, EventBody};

/// Domain separation for event signatures and ids.
pub const EVENT_CONTEXT: &[u8] = b"kp-ledger:event\0";

/// Identifier of an event: SHA-256 of its signed bytes.
pub type EventId = Digest;

/// Everything an author signs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct EventContent {
    /// Format version; the first byte of every encoded event.
    pub version: u8,
    /// The network id (hash of the charter) this event belongs to.
    pub network: Digest,
    pub author: AuthorId,
    /// Position in the author's feed, from 1.
    pub seq: u64,
    /// Id of the event at `seq - 1`; `None` exactly when `seq == 1`.
    pub prev: Option<EventId>,
    /// When the author signed it: milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: u64,
    pub body: EventBody,
}

/// An event with its author's signature: the unit that is stored and sent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEvent {
    pub content: EventContent,
    pub signature: SignatureBytes,
}

impl fmt::Debug for SignedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignedEvent({} #{} {} {})",
            self.content.author,
            self.content.seq,
            self.content.body.kind(),
            self.id()
        )
    }
}

impl EventContent {
    /// The bytes that are signed and hashed.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let body = codec::encode(self);
        let mut out = Vec::with_capacity(EVENT_CONTEXT.len() + body.len());
        out.extend_from_slice(EVENT_CONTEXT);
        out.extend_from_slice(&body);
        out
    }

    /// The event id.
    pub fn id(&self) -> EventId {
        sha256(&[&self.signed_bytes()])
    }
}

impl SignedEvent {
    pub fn id(&self) -> EventId {
        self.content.id()
    }

    pub fn author(&self) -> &AuthorId {
        &self.content.author
    }

    pub fn seq(&self) -> u64 {
        self.content.seq
    }

    /// Canonical encoding (what is stored and sent).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes an event from untrusted bytes: size-checked first, then the
    /// version byte, then canonical bincode. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<SignedEvent, DecodeError> {
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(DecodeError::TooLarge {
                size: bytes.len(),
                max: MAX_EVENT_BYTES,
            });
        }
        match bytes.first() {
            None => return Err(DecodeError::Empty),
            Some(&v) if v != FORMAT_VERSION => {
                return Err(DecodeError::UnsupportedVersion {
                    found: v,
                    supported: FORMAT_VERSION,
                })
            }
            Some(_) => {}
        }
        codec::decode(bytes, MAX_EVENT_BYTES)
    }

    /// Checks the signature against `key`. Strict verification (RFC 8032
    /// with canonical `S` and no small-order keys), so signatures are not
    /// malleable.
    pub fn verify_signature(&self, key: &VerifyingKey) -> bool {
        let sig = Signature::from_bytes(self.signature.as_bytes());
        key.verify_strict(&self.content.signed_bytes(), &sig)
            .is_ok()
    }
}

/// Verifies many (event, key) pairs at once with ed25519-dalek's batch
/// verification; `true` only if every signature is valid.
///
/// **Not the acceptance rule.** Batch verification uses the cofactored
/// equation and so accepts some signatures (an `R` with a small-order
/// component) that [`SignedEvent::verify_signature`]'s strict RFC 8032 check
/// refuses. KP Ledger accepts an event only under the strict rule (see
/// `docs/FORMAT.md`); this function is kept for measurement and as a fast
/// negative test. Use [`verify_strict_many`] to check many events.
pub fn verify_batch(items: &[(&SignedEvent, VerifyingKey)]) -> bool {
    if items.is_empty() {
        return true;
    }
    let messages: Vec<Vec<u8>> = items
        .iter()
        .map(|(e, _)| e.content.signed_bytes())
        .collect();
    let msg_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let sigs: Vec<Signature> = items
        .iter()
        .map(|(e, _)| Signature::from_bytes(e.signature.as_bytes()))
        .collect();
    let keys: Vec<VerifyingKey> = items.iter().map(|(_, k)| *k).collect();
    ed25519_dalek::verify_batch(&msg_refs, &sigs, &keys).is_ok()
}

/// Strictly verifies many (event, key) pairs, spread over every core.
/// Returns one verdict per pair, in order. Same rule as
/// [`SignedEvent::verify_signature`], so every node and every auditor reaches
/// the same verdict however events are grouped.
pub fn verify_strict_many(items: &[(&SignedEvent, VerifyingKey)]) -> Vec<bool> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < 32 || threads < 2 {
        return items.iter().map(|(e, k)| e.verify_signature(k)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(e, k)| e.verify_signature(k))
                        .collect::<Vec<bool>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// An authority's signing key.
pub struct AuthorityKey {
    key: SigningKey,
}

impl fmt::Debug for AuthorityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorityKey(public {})", self.public())
    }
}

impl AuthorityKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<AuthorityKey, String> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
        Ok(AuthorityKey::from_seed(seed))
    }

    /// The key whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> AuthorityKey {
        AuthorityKey {
            key: SigningKey::from_bytes(&seed),
        }
    }

    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn public(&self) -> PublicKeyBytes {
        FixedBytes(self.key.verifying_key().to_bytes())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs arbitrary bytes (used by checkpoints and notes, which carry
    /// their own domain separation).
    pub fn sign_raw(&self, msg: &[u8]) -> SignatureBytes {
        FixedBytes(self.key.sign(msg).to_bytes())
    }

    /// Signs an event content.
    pub fn sign(&self, content: EventContent) -> SignedEvent {
        let signature = self.sign_raw(&content.signed_bytes());
        SignedEvent { content, signature }
    }
}

/// Turns charter/feed key bytes into a verifying key.
pub fn verifying_key(bytes: &PublicKeyBytes) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(bytes.as_bytes()).ok()
}
