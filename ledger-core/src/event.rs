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

    /// The canonical encoding of the event with these signed bytes and this
    /// signature: the encoding is the content's encoding (the signed bytes
    /// after [`EVENT_CONTEXT`]) followed by the 64 signature bytes.
    pub(crate) fn encode_from_signed_bytes(
        signed_bytes: &[u8],
        signature: &SignatureBytes,
    ) -> Vec<u8> {
        let content = signed_bytes.get(EVENT_CONTEXT.len()..).unwrap_or_default();
        let mut out = Vec::with_capacity(content.len() + 64);
        out.extend_from_slice(content);
        out.extend_from_slice(signature.as_bytes());
        out
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
    let threads = crate::cores::cores();
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

    /// Signs an event content whose [`EventContent::signed_bytes`] the
    /// caller already holds (it computed the id from them), and returns the
    /// event with its canonical encoding, without encoding the content again.
    pub fn sign_encoded(
        &self,
        content: EventContent,
        signed_bytes: &[u8],
    ) -> (SignedEvent, Vec<u8>) {
        let signature = self.sign_raw(signed_bytes);
        let encoded = SignedEvent::encode_from_signed_bytes(signed_bytes, &signature);
        (SignedEvent { content, signature }, encoded)
    }
}

/// Turns charter/feed key bytes into a verifying key.
///
/// Decompressing a key costs about a fifth of a signature check, and every
/// event of a feed needs the same key (a feed changes it only by rotation),
/// so the last few keys decompressed on each thread are kept: feed
/// validation, replay and replica verification ask for a key per event.
pub fn verifying_key(bytes: &PublicKeyBytes) -> Option<VerifyingKey> {
    KEY_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, k)) = cache.slots.iter().flatten().find(|(b, _)| b == bytes) {
            return Some(*k);
        }
        let k = VerifyingKey::from_bytes(bytes.as_bytes()).ok()?;
        let at = cache.next;
        cache.slots[at] = Some((*bytes, k));
        cache.next = (at + 1) % KEY_CACHE_SLOTS;
        Some(k)
    })
}

/// Keys kept per thread by [`verifying_key`] (a linear search: a store's
/// writer meets few feeds' keys at a time).
const KEY_CACHE_SLOTS: usize = 16;

struct KeyCache {
    slots: [Option<(PublicKeyBytes, VerifyingKey)>; KEY_CACHE_SLOTS],
    /// The slot to replace next (oldest first).
    next: usize,
}

thread_local! {
    static KEY_CACHE: std::cell::RefCell<KeyCache> = const {
        std::cell::RefCell::new(KeyCache {
            slots: [const { None }; KEY_CACHE_SLOTS],
            next: 0,
        })
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{test_charter, FeedWriter};

    #[test]
    fn an_event_signed_from_its_signed_bytes_encodes_as_the_canonical_encoding() {
        let c = test_charter(&["BW"]);
        let author = AuthorId::new("BW", "mme").unwrap();
        let mut w = FeedWriter::new(c.network_id(), author);
        for n in 0..3u64 {
            let cert = crate::testkit::sample_certificate(
                crate::model::CountryCode::new("BW").unwrap(),
                crate::model::CountryCode::new("EU").unwrap(),
                n,
            );
            let ev = w.next(EventBody::CertificateIssued(cert), 1_767_225_600_000 + n);
            let key = AuthorityKey::from_seed([n as u8 + 1; 32]);
            let bytes = ev.content.signed_bytes();
            let (signed, encoded) = key.sign_encoded(ev.content.clone(), &bytes);
            assert_eq!(encoded, signed.encode());
            assert_eq!(SignedEvent::decode(&encoded).unwrap(), signed);
            assert_eq!(signed, key.sign(ev.content.clone()));
        }
    }

    #[test]
    fn the_key_cache_answers_as_decompression_does() {
        // More keys than the cache holds, each asked for twice, and bytes
        // that are no key at all.
        for round in 0..2 {
            for n in 0..(3 * KEY_CACHE_SLOTS as u8) {
                let k = AuthorityKey::from_seed([n; 32]);
                let got = verifying_key(&k.public());
                assert_eq!(got, Some(k.verifying_key()), "round {round} key {n}");
            }
        }
        let mut not_a_point = None;
        for b in 0..=255u8 {
            let bytes = FixedBytes([b; 32]);
            if VerifyingKey::from_bytes(bytes.as_bytes()).is_err() {
                not_a_point = Some(bytes);
                break;
            }
        }
        let bad = not_a_point.expect("some repeated byte is no curve point");
        assert_eq!(verifying_key(&bad), None);
        assert_eq!(verifying_key(&bad), None);
    }
}
