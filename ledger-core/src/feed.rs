//! Feed validation: the rules that link one author's events into a chain.
//! Pure: no storage, no clock, no network.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::bytes::{Digest, PublicKeyBytes};
use crate::charter::{AuthorityEntry, Charter};
use crate::codec::FORMAT_VERSION;
use crate::error::{DecodeError, EventError};
use crate::event::{verifying_key, EventId, SignedEvent};
use crate::hash::sha256;
use crate::model::{AuthorId, EventBody, Roles};
use crate::validate::validate_body;

/// A period of one signing key in a feed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct KeyEpoch {
    /// First sequence number signed with `key`.
    pub from_seq: u64,
    pub key: PublicKeyBytes,
    /// Pre-rotation commitment in force during this epoch: the next key's
    /// SHA-256, or `None`.
    pub next_key_digest: Option<Digest>,
}

/// The validation state of one author's feed: its head and key history.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FeedState {
    pub author: AuthorId,
    pub roles: Roles,
    /// Highest sequence number in the feed (0 for an empty feed).
    pub head_seq: u64,
    pub head_id: Option<EventId>,
    pub last_timestamp_ms: u64,
    /// Key epochs in order; the first is the charter's key from seq 1.
    pub keys: Vec<KeyEpoch>,
}

impl FeedState {
    /// The empty feed of an author, as the charter defines it.
    pub fn genesis(author: AuthorId, entry: &AuthorityEntry) -> FeedState {
        FeedState {
            author,
            roles: entry.roles,
            head_seq: 0,
            head_id: None,
            last_timestamp_ms: 0,
            keys: vec![KeyEpoch {
                from_seq: 1,
                key: entry.key,
                next_key_digest: entry.next_key_digest,
            }],
        }
    }

    /// The epoch in force for an event at `seq`.
    pub fn epoch_at(&self, seq: u64) -> &KeyEpoch {
        self.keys
            .iter()
            .rev()
            .find(|e| e.from_seq <= seq)
            .unwrap_or(&self.keys[0])
    }

    /// The key that must have signed `event`: the key in force at its
    /// sequence number, except that a key rotation made under a pre-rotation
    /// commitment is signed by the new, pre-committed key (as in KERI), so a
    /// thief of the current key cannot rotate the authority away.
    pub fn signing_key_for(&self, event: &SignedEvent) -> Result<VerifyingKey, EventError> {
        let epoch = self.epoch_at(event.content.seq);
        let bytes = match (&event.content.body, epoch.next_key_digest) {
            (EventBody::AuthorityKeyRotated { new_key, .. }, Some(commit)) => {
                if sha256(&[new_key.as_bytes()]) != commit {
                    return Err(EventError::PreRotationMismatch);
                }
                *new_key
            }
            _ => epoch.key,
        };
        verifying_key(&bytes).ok_or(EventError::BadSignature {
            author: self.author.clone(),
            seq: event.content.seq,
        })
    }

    /// Every check of `event` as the next event of this feed except the
    /// signature (so a caller can verify signatures in a batch).
    pub fn check_next_unsigned(
        &self,
        network: &Digest,
        event: &SignedEvent,
    ) -> Result<(), EventError> {
        let c = &event.content;
        if c.version != FORMAT_VERSION {
            return Err(EventError::Decode(DecodeError::UnsupportedVersion {
                found: c.version,
                supported: FORMAT_VERSION,
            }));
        }
        if &c.network != network {
            return Err(EventError::WrongNetwork {
                expected: *network,
                found: c.network,
            });
        }
        debug_assert_eq!(c.author, self.author);
        if c.seq == 0 {
            return Err(EventError::SeqZero);
        }
        if c.seq > self.head_seq + 1 {
            return Err(EventError::Gap {
                author: self.author.clone(),
                seq: c.seq,
                head: self.head_seq,
            });
        }
        if c.prev != self.head_id || c.seq != self.head_seq + 1 {
            return Err(EventError::BrokenLink {
                author: self.author.clone(),
                seq: c.seq,
                expected: self
                    .head_id
                    .map_or("nothing (first event)".into(), |d| d.to_hex()),
                found: c.prev.map_or("nothing".into(), |d| d.to_hex()),
            });
        }
        self.check_role_and_body(event)
    }

    /// Role and body rules (no chain position).
    pub fn check_role_and_body(&self, event: &SignedEvent) -> Result<(), EventError> {
        let body = &event.content.body;
        if let Some(role) = body.required_role() {
            if !self.roles.contains(role) {
                return Err(EventError::MissingRole {
                    author: self.author.clone(),
                    role,
                    kind: body.kind(),
                });
            }
        }
        if let EventBody::AuthorityKeyRotated { new_key, .. } = body {
            let epoch = self.epoch_at(event.content.seq);
            if *new_key == epoch.key {
                return Err(EventError::Body {
                    kind: body.kind(),
                    source: crate::error::BodyError::RotationToSameKey,
                });
            }
            if verifying_key(new_key).is_none_or(|k| k.is_weak()) {
                return Err(EventError::BadSignature {
                    author: self.author.clone(),
                    seq: event.content.seq,
                });
            }
        }
        validate_body(&self.author, body).map_err(|source| EventError::Body {
            kind: body.kind(),
            source,
        })
    }

    /// Verifies the event's signature with the key this feed requires.
    pub fn check_signature(&self, event: &SignedEvent) -> Result<(), EventError> {
        let key = self.signing_key_for(event)?;
        if event.verify_signature(&key) {
            Ok(())
        } else {
            Err(EventError::BadSignature {
                author: self.author.clone(),
                seq: event.content.seq,
            })
        }
    }

    /// Full check of `event` as the next event of this feed.
    pub fn check_next(&self, network: &Digest, event: &SignedEvent) -> Result<(), EventError> {
        self.check_next_unsigned(network, event)?;
        self.check_signature(event)
    }

    /// Moves the head to `event` (which passed `check_next`).
    pub fn advance(&mut self, event: &SignedEvent, id: EventId) {
        let c = &event.content;
        self.head_seq = c.seq;
        self.head_id = Some(id);
        self.last_timestamp_ms = self.last_timestamp_ms.max(c.timestamp_ms);
        if let EventBody::AuthorityKeyRotated {
            new_key,
            next_key_digest,
        } = &c.body
        {
            self.keys.push(KeyEpoch {
                from_seq: c.seq + 1,
                key: *new_key,
                next_key_digest: *next_key_digest,
            });
        }
    }

    /// Applies a key rotation seen at `event` without moving the head (used
    /// when replaying the key evidence of a fork proof).
    pub fn apply_rotation(&mut self, event: &SignedEvent) {
        if let EventBody::AuthorityKeyRotated {
            new_key,
            next_key_digest,
        } = &event.content.body
        {
            self.keys.push(KeyEpoch {
                from_seq: event.content.seq + 1,
                key: *new_key,
                next_key_digest: *next_key_digest,
            });
        }
    }
}

/// Builds the genesis state of every author of a charter.
pub fn genesis_feeds(charter: &Charter) -> Vec<FeedState> {
    charter
        .authors()
        .map(|(author, entry)| FeedState::genesis(author, entry))
        .collect()
}

/// Validates a whole feed from its first event, in order. Returns the final
/// state, or the first event that fails with its reason.
pub fn verify_feed<'a>(
    network: &Digest,
    mut state: FeedState,
    events: impl IntoIterator<Item = &'a SignedEvent>,
) -> Result<FeedState, (u64, EventError)> {
    for e in events {
        state
            .check_next(network, e)
            .map_err(|err| (e.content.seq, err))?;
        let id = e.id();
        state.advance(e, id);
    }
    Ok(state)
}
