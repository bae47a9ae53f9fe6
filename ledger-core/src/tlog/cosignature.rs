//! Witness cosignatures (c2sp.org/tlog-cosignature), `cosignature/v1` with
//! Ed25519 (signature type `0x04`).
//!
//! ```text
//! key id          = SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]
//! signed message  = "cosignature/v1\n" "time " <POSIX seconds, decimal, no leading zeroes> "\n" <checkpoint text>
//! signature bytes = timestamp (u64 big-endian) || Ed25519 signature (64)  (72 bytes; 76 with the key id)
//! line            = "— " name " " base64(key id || timestamp || signature) "\n"
//! ```
//!
//! The timestamp is at most 2^63 − 1. The checkpoint text is the whole note
//! text, extension lines included, without any signature line. A
//! cosignature states that, at that time, this checkpoint was the largest
//! consistent tree head the witness had seen for the origin. One public key
//! must serve one cosigner only (the message does not commit to the name).

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use thiserror::Error;

use super::note::{is_valid_key_name, key_id, NoteError, NoteSignature, NoteVerifier, VerifierKey};
use crate::bytes::{FixedBytes, PublicKeyBytes, SignatureBytes};
use crate::event::AuthorityKey;

/// Signature type byte of `cosignature/v1` Ed25519 cosignatures.
pub const SIG_TYPE_COSIGNATURE_V1: u8 = 0x04;
/// The first line of every signed message.
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1\n";
/// The largest timestamp a cosignature may carry.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;
/// Bytes of a cosignature after the key id.
pub const COSIGNATURE_LEN: usize = 8 + 64;

/// Why a cosignature cannot be made or is not valid.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CosignatureError {
    #[error("timestamp {0} is above 2^63 - 1")]
    Timestamp(u64),
    #[error("a cosignature is {COSIGNATURE_LEN} bytes after the key id, found {0}")]
    Length(usize),
    #[error("the signature line is by {found}, not by the cosigner {expected}")]
    WrongKey { expected: String, found: String },
    #[error("the cosignature does not verify")]
    BadSignature,
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// The key id of an Ed25519 `cosignature/v1` key.
pub fn cosignature_key_id(name: &str, public: &PublicKeyBytes) -> u32 {
    key_id(name, SIG_TYPE_COSIGNATURE_V1, public.as_bytes())
}

/// The message a cosigner signs for `checkpoint_text` at `timestamp`.
pub fn signed_message(checkpoint_text: &[u8], timestamp: u64) -> Vec<u8> {
    let header = format!("{COSIGNATURE_V1_HEADER}time {timestamp}\n");
    let mut m = Vec::with_capacity(header.len() + checkpoint_text.len());
    m.extend_from_slice(header.as_bytes());
    m.extend_from_slice(checkpoint_text);
    m
}

/// A decoded cosignature (what follows the key id in the signature line).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cosignature {
    /// POSIX seconds.
    pub timestamp: u64,
    pub signature: SignatureBytes,
}

impl Cosignature {
    pub fn to_bytes(&self) -> [u8; COSIGNATURE_LEN] {
        let mut b = [0u8; COSIGNATURE_LEN];
        b[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..].copy_from_slice(self.signature.as_bytes());
        b
    }

    /// Decodes the 72 bytes after the key id.
    pub fn from_bytes(bytes: &[u8]) -> Result<Cosignature, CosignatureError> {
        let b: &[u8; COSIGNATURE_LEN] = bytes
            .try_into()
            .map_err(|_| CosignatureError::Length(bytes.len()))?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        let timestamp = u64::from_be_bytes(ts);
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::Timestamp(timestamp));
        }
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&b[8..]);
        Ok(Cosignature {
            timestamp,
            signature: FixedBytes(sig),
        })
    }
}

/// A witness's cosigning key.
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cosigner({}+{:08x})", self.name, self.key_id)
    }
}

impl Cosigner {
    /// The cosigner named `name` whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Cosigner, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_owned()));
        }
        let key = SigningKey::from_bytes(&seed);
        let public = FixedBytes(key.verifying_key().to_bytes());
        Ok(Cosigner {
            name: name.to_owned(),
            key_id: cosignature_key_id(name, &public),
            key,
        })
    }

    /// A cosigner with an authority's or observer's key. Use a key for one
    /// purpose only: this one then signs nothing but cosignatures.
    pub fn from_authority_key(name: &str, key: &AuthorityKey) -> Result<Cosigner, NoteError> {
        Cosigner::from_seed(name, key.seed())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn public(&self) -> PublicKeyBytes {
        FixedBytes(self.key.verifying_key().to_bytes())
    }

    /// The signature line cosigning `checkpoint_text` at `timestamp`.
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::Timestamp(timestamp));
        }
        let sig = self
            .key
            .sign(&signed_message(checkpoint_text.as_bytes(), timestamp));
        let c = Cosignature {
            timestamp,
            signature: FixedBytes(sig.to_bytes()),
        };
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: c.to_bytes().to_vec(),
        })
    }

    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// `name+hex(key id)+base64(0x04 || public key)`.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_type: SIG_TYPE_COSIGNATURE_V1,
            public: self.public(),
        }
    }
}

/// Verifies a witness's `cosignature/v1` signatures; usable as a
/// [`NoteVerifier`] on a cosigned checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    pub fn new(name: &str, public: &PublicKeyBytes) -> Result<CosignatureVerifier, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_owned()));
        }
        let key = VerifyingKey::from_bytes(public.as_bytes())
            .map_err(|_| NoteError::VerifierKey("not a valid Ed25519 public key"))?;
        Ok(CosignatureVerifier {
            name: name.to_owned(),
            key_id: cosignature_key_id(name, public),
            key,
        })
    }

    /// The verifier of a verifier key of type `0x04`.
    pub fn from_key(key: &VerifierKey) -> Result<CosignatureVerifier, NoteError> {
        if key.key_type != SIG_TYPE_COSIGNATURE_V1 {
            return Err(NoteError::VerifierKey(
                "not a cosignature/v1 key (type 0x04)",
            ));
        }
        CosignatureVerifier::new(&key.name, &key.public)
    }

    pub fn parse(s: &str) -> Result<CosignatureVerifier, NoteError> {
        CosignatureVerifier::from_key(&VerifierKey::parse(s)?)
    }

    pub fn public(&self) -> PublicKeyBytes {
        FixedBytes(self.key.to_bytes())
    }

    /// `name+hex(key id)+base64(0x04 || public key)`, as the signer's.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_type: SIG_TYPE_COSIGNATURE_V1,
            public: self.public(),
        }
    }

    /// Checks a signature line on `checkpoint_text` and returns its
    /// timestamp.
    pub fn verify_line(
        &self,
        checkpoint_text: &str,
        line: &NoteSignature,
    ) -> Result<u64, CosignatureError> {
        if line.name != self.name || line.key_id != self.key_id {
            return Err(CosignatureError::WrongKey {
                expected: format!("{}+{:08x}", self.name, self.key_id),
                found: format!("{}+{:08x}", line.name, line.key_id),
            });
        }
        let c = Cosignature::from_bytes(&line.signature)?;
        let sig = Signature::from_bytes(c.signature.as_bytes());
        self.key
            .verify_strict(
                &signed_message(checkpoint_text.as_bytes(), c.timestamp),
                &sig,
            )
            .map_err(|_| CosignatureError::BadSignature)?;
        Ok(c.timestamp)
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(c) = Cosignature::from_bytes(signature) else {
            return false;
        };
        let sig = Signature::from_bytes(c.signature.as_bytes());
        self.key
            .verify_strict(&signed_message(text, c.timestamp), &sig)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::b64_decode;
    use crate::tlog::checkpoint::Checkpoint;
    use crate::tlog::note::{open, Ed25519Signer, NoteSigner};

    const CHECKPOINT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn message_layout() {
        // The example of c2sp.org/tlog-cosignature.
        assert_eq!(
            signed_message(CHECKPOINT.as_bytes(), 1679315147),
            b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n".to_vec()
        );
        assert!(signed_message(b"x\n", 0).starts_with(b"cosignature/v1\ntime 0\n"));
    }

    #[test]
    fn published_cosignature_timestamp() {
        // transparency-dev/formats note_cosigv1_test.go: key id 646846b9,
        // timestamp 1727964367.
        let blob = b64_decode(
            "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==",
        )
        .expect("b64");
        assert_eq!(blob.len(), 4 + COSIGNATURE_LEN);
        let c = Cosignature::from_bytes(&blob[4..]).expect("cosignature");
        assert_eq!(c.timestamp, 1727964367);
        // A plain Ed25519 note signature (68 bytes) is not a cosignature.
        let plain = b64_decode(
            "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=",
        )
        .expect("b64");
        assert!(Cosignature::from_bytes(&plain[4..]).is_err());
    }

    #[test]
    fn cosign_and_verify() {
        let log = Ed25519Signer::from_seed("example.com/behind-the-sofa", [3; 32]).expect("log");
        let witness = Cosigner::from_seed("witness.example/w1", [4; 32]).expect("witness");
        let cp = Checkpoint::from_text(CHECKPOINT).expect("checkpoint");
        let mut note = cp.sign(&log).expect("sign");
        let line = witness.cosign(note.text(), 1679315147).expect("cosign");
        assert_eq!(line.signature.len(), COSIGNATURE_LEN);
        assert_eq!(
            witness.verifier().verify_line(note.text(), &line),
            Ok(1679315147)
        );
        note.add_signature(line.clone()).expect("add");
        let encoded = note.encode();
        assert!(encoded.ends_with(&line.to_line()));

        // As a note verifier, alone or with the log's key.
        let wv = witness.verifier();
        let (_, v) = open(encoded.as_bytes(), &[&wv]).expect("witness only");
        assert_eq!(v.verified, vec![line.clone()]);
        let lv = log.verifier();
        let (_, v) = open(encoded.as_bytes(), &[&lv, &wv]).expect("both");
        assert_eq!(v.verified.len(), 2);

        // The vkey round trip, and type separation.
        let vkey = witness.verifier_key().to_string();
        assert_eq!(CosignatureVerifier::parse(&vkey), Ok(wv.clone()));
        assert_eq!(wv.verifier_key().to_string(), vkey);
        assert!(crate::tlog::note::Ed25519Verifier::parse(&vkey).is_err());
        assert_ne!(
            witness.key_id(),
            crate::tlog::note::key_id(witness.name(), 0x01, witness.public().as_bytes())
        );

        // Wrong text, wrong time, too-large time, wrong key.
        assert!(wv.verify_line("other\n1\nx\n", &line).is_err());
        let mut later = line.clone();
        later.signature[7] ^= 1;
        assert_eq!(
            wv.verify_line(note.text(), &later),
            Err(CosignatureError::BadSignature)
        );
        assert!(witness.cosign(note.text(), MAX_TIMESTAMP + 1).is_err());
        let mut big = line.clone();
        big.signature[0] = 0x80;
        assert!(matches!(
            Cosignature::from_bytes(&big.signature),
            Err(CosignatureError::Timestamp(_))
        ));
        let mut renamed = line.clone();
        renamed.name = "witness.example/w2".into();
        assert!(matches!(
            wv.verify_line(note.text(), &renamed),
            Err(CosignatureError::WrongKey { .. })
        ));
        // A plain note signature by the same key is not a cosignature.
        let plain = Ed25519Signer::from_seed("witness.example/w1", [4; 32]).expect("plain");
        let sig = plain.sign(note.text().as_bytes());
        assert!(!wv.verify(note.text().as_bytes(), &sig));
    }
}
