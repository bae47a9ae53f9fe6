//! Fork proofs: two different, validly signed events for one place in one
//! feed. Self-contained: anyone holding the charter can check one offline.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::bytes::Digest;
use crate::charter::Charter;
use crate::codec::{self, FORMAT_VERSION, MAX_FORK_PROOF_BYTES};
use crate::error::{DecodeError, EventError};
use crate::event::{EventId, SignedEvent};
use crate::feed::FeedState;
use crate::model::{AuthorId, EventBody};

/// Most key rotations a fork proof may carry as evidence.
pub const MAX_KEY_EVIDENCE: usize = 64;

/// Proof that an author signed two different events for the same sequence
/// number. `first.id() < second.id()`, so one pair has one encoding.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ForkProof {
    pub version: u8,
    pub network: Digest,
    pub first: SignedEvent,
    pub second: SignedEvent,
    /// The author's key rotations before the fork's sequence number, in
    /// order, so the key that signed both sides can be traced from the
    /// charter's key.
    pub key_evidence: Vec<SignedEvent>,
}

/// Why a fork proof does not prove a fork.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ForkProofError {
    #[error("cannot decode fork proof: {0}")]
    Decode(#[from] DecodeError),
    #[error("fork proof is for network {found}, not {expected}")]
    WrongNetwork { expected: Digest, found: Digest },
    #[error("the two events are by different authors or for different sequence numbers")]
    NotSamePlace,
    #[error("the two events are the same event")]
    SameEvent,
    #[error("the two sides are not in canonical order (first id must be lower)")]
    Order,
    #[error("author {0} is not in the charter")]
    UnknownAuthor(AuthorId),
    #[error("key evidence is invalid: {0}")]
    KeyEvidence(String),
    #[error("side {side} does not verify: {source}")]
    Side {
        side: &'static str,
        source: EventError,
    },
}

impl ForkProof {
    /// Builds a proof from two sides in either order.
    pub fn new(
        network: Digest,
        a: SignedEvent,
        b: SignedEvent,
        key_evidence: Vec<SignedEvent>,
    ) -> ForkProof {
        let (first, second) = if a.id() <= b.id() { (a, b) } else { (b, a) };
        ForkProof {
            version: FORMAT_VERSION,
            network,
            first,
            second,
            key_evidence,
        }
    }

    pub fn author(&self) -> &AuthorId {
        &self.first.content.author
    }

    pub fn seq(&self) -> u64 {
        self.first.content.seq
    }

    pub fn ids(&self) -> (EventId, EventId) {
        (self.first.id(), self.second.id())
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a proof from untrusted bytes: size-checked first (like
    /// `SignedEvent::decode`), then the version byte, then canonical bincode.
    pub fn decode(bytes: &[u8]) -> Result<ForkProof, ForkProofError> {
        if bytes.len() > MAX_FORK_PROOF_BYTES {
            return Err(DecodeError::TooLarge {
                size: bytes.len(),
                max: MAX_FORK_PROOF_BYTES,
            }
            .into());
        }
        if let Some(&v) = bytes.first() {
            if v != FORMAT_VERSION {
                return Err(DecodeError::UnsupportedVersion {
                    found: v,
                    supported: FORMAT_VERSION,
                }
                .into());
            }
        }
        Ok(codec::decode(bytes, MAX_FORK_PROOF_BYTES)?)
    }

    /// Checks the proof with nothing but the charter.
    ///
    /// What it proves: the holder of a key that the author's feed had in
    /// force at that sequence number (the charter's key, or one reached
    /// through the signed rotations carried as evidence) signed two different
    /// events for the same place.
    pub fn verify(&self, charter: &Charter) -> Result<(), ForkProofError> {
        self.verify_with(charter, None)
    }

    /// Like [`ForkProof::verify`], for an author that is not in the charter
    /// but was admitted by a governance decision: `admitted` is the genesis
    /// entry of its feed (from [`crate::governance::Timeline::genesis_entry`]).
    pub fn verify_with(
        &self,
        charter: &Charter,
        admitted: Option<&crate::charter::AuthorityEntry>,
    ) -> Result<(), ForkProofError> {
        let network = charter.network_id();
        if self.network != network {
            return Err(ForkProofError::WrongNetwork {
                expected: network,
                found: self.network,
            });
        }
        let (a, b) = (&self.first.content, &self.second.content);
        if a.author != b.author || a.seq != b.seq {
            return Err(ForkProofError::NotSamePlace);
        }
        let (ida, idb) = self.ids();
        if ida == idb {
            return Err(ForkProofError::SameEvent);
        }
        if ida > idb {
            return Err(ForkProofError::Order);
        }
        let entry = charter
            .authority(&a.author)
            .or(admitted)
            .ok_or_else(|| ForkProofError::UnknownAuthor(a.author.clone()))?;
        let mut state = FeedState::genesis(a.author.clone(), entry);
        if self.key_evidence.len() > MAX_KEY_EVIDENCE {
            return Err(ForkProofError::KeyEvidence(format!(
                "{} rotations, at most {MAX_KEY_EVIDENCE}",
                self.key_evidence.len()
            )));
        }
        let mut last = 0;
        for r in &self.key_evidence {
            let c = &r.content;
            if c.author != a.author || c.network != network {
                return Err(ForkProofError::KeyEvidence(
                    "a rotation of another author or network".into(),
                ));
            }
            if c.seq <= last || c.seq >= a.seq {
                return Err(ForkProofError::KeyEvidence(
                    "rotations must be in increasing order and before the fork".into(),
                ));
            }
            if !matches!(c.body, EventBody::AuthorityKeyRotated { .. }) {
                return Err(ForkProofError::KeyEvidence(format!(
                    "seq {} is not a key rotation",
                    c.seq
                )));
            }
            state
                .check_signature(r)
                .map_err(|e| ForkProofError::KeyEvidence(e.to_string()))?;
            state.apply_rotation(r);
            last = c.seq;
        }
        for (side, ev) in [("first", &self.first), ("second", &self.second)] {
            if ev.content.network != network {
                return Err(ForkProofError::WrongNetwork {
                    expected: network,
                    found: ev.content.network,
                });
            }
            state
                .check_signature(ev)
                .map_err(|source| ForkProofError::Side { side, source })?;
        }
        Ok(())
    }
}
