//! Signed notes (c2sp.org/signed-note) with Ed25519 signatures.
//!
//! ```text
//! note           = text "\n" 1*signature-line
//! text           = one or more lines, each ending in "\n" (it includes its final newline)
//! signature-line = "— " key-name " " base64(key id (4 bytes, big-endian) || signature) "\n"
//! ```
//!
//! - The whole note is valid UTF-8 with no control character other than
//!   `\n`; the text is separated from the signatures by the *last* empty
//!   line. The dash is U+2014 (`E2 80 94`); base64 is standard and padded.
//! - Key names are non-empty, without Unicode spaces and without `+`.
//! - Ed25519 (signature type `0x01`): key id =
//!   `SHA-256(name || 0x0A || 0x01 || public key)[:4]`; the signature is
//!   RFC 8032 Ed25519 over the text (verified strictly, as every signature of
//!   KP Ledger).
//! - Verifier key: `name+hex(key id)+base64(type || public key)` (8 hex
//!   digits; type `0x01` for note signatures, `0x04` for witness cosigners,
//!   see [`super::cosignature`]).
//! - Bounds: a note is at most [`MAX_NOTE_BYTES`] and has at most
//!   [`MAX_NOTE_SIGNATURES`] signature lines; both are checked before
//!   anything is decoded.
//! - Verification: signatures by unknown keys (name and key id not both
//!   those of a known key) are ignored; a known key's signature must verify
//!   or the note is rejected; a note that no known key verified is rejected;
//!   two known keys with one name and key id are ambiguous if a signature
//!   names them. Any number of signatures up to the bound is accepted.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use thiserror::Error;

use super::{b64_decode, b64_encode};
use crate::bytes::{FixedBytes, PublicKeyBytes};
use crate::event::AuthorityKey;
use crate::hash::sha256;

/// Largest note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 1024 * 1024;
/// Most signature lines accepted in one note.
pub const MAX_NOTE_SIGNATURES: usize = 100;
/// Signature type byte of Ed25519 note signatures.
pub const SIG_TYPE_ED25519: u8 = 0x01;
/// The start of every signature line: U+2014 and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note, signature line or verifier key is not accepted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NoteError {
    #[error("note too large: {size} bytes, the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("note has more than {max} signatures")]
    TooManySignatures { max: usize },
    #[error("note is not valid UTF-8")]
    NotUtf8,
    #[error("note contains a control character other than newline")]
    ControlCharacter,
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("malformed signature line: {0}")]
    MalformedSignature(&'static str),
    #[error("invalid key name `{0}`: it must be non-empty, without spaces or '+'")]
    KeyName(String),
    #[error("malformed verifier key: {0}")]
    VerifierKey(&'static str),
    #[error("ambiguous key {name}+{key_id:08x}: more than one known key has this name and id")]
    AmbiguousKey { name: String, key_id: u32 },
    #[error("invalid signature by known key {name}+{key_id:08x}")]
    BadSignature { name: String, key_id: u32 },
    #[error("no signature by a known key")]
    NoKnownSignature,
}

/// Whether `name` may name a key: non-empty, no Unicode space, no `+` (and
/// no control character, which no note may contain anyway).
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// `SHA-256(name || 0x0A || sig_type || public_key)[:4]` as a big-endian u32.
pub fn key_id(name: &str, sig_type: u8, public_key: &[u8]) -> u32 {
    let d = sha256(&[name.as_bytes(), b"\n", &[sig_type], public_key]);
    let b = d.as_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Checks the character rules of a whole note (or of a text to sign).
fn check_chars(s: &str) -> Result<(), NoteError> {
    if s.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

/// One signature line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    /// The signature proper (what follows the 4-byte key id).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// `— <name> <base64(key id || signature)>\n`.
    pub fn to_line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + self.signature.len());
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, b64_encode(&blob))
    }

    /// Parses one signature line, without its final newline.
    pub fn parse_line(line: &str) -> Result<NoteSignature, NoteError> {
        if line.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: line.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        check_chars(line)?;
        if line.contains('\n') {
            return Err(NoteError::MalformedSignature("more than one line"));
        }
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::MalformedSignature("it must start with \"— \""))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::MalformedSignature("no space after the key name"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_owned()));
        }
        let blob =
            b64_decode(b64).ok_or(NoteError::MalformedSignature("signature is not base64"))?;
        if blob.len() < 5 {
            return Err(NoteError::MalformedSignature(
                "signature shorter than a key id and one byte",
            ));
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]),
            signature: blob[4..].to_vec(),
        })
    }
}

/// What can sign a note.
pub trait NoteSigner {
    fn name(&self) -> &str;
    fn key_id(&self) -> u32;
    /// The signature of `text` (the note text, with its final newline).
    fn sign(&self, text: &[u8]) -> Vec<u8>;
}

/// What can verify a note signature.
pub trait NoteVerifier {
    fn name(&self) -> &str;
    fn key_id(&self) -> u32;
    /// Whether `signature` (without the key id) is a valid signature of `text`.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

/// The outcome of a successful verification.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Verified {
    /// Signatures by known keys, all verified (repeats dropped).
    pub verified: Vec<NoteSignature>,
    /// Signatures by keys the verifier does not know (repeats dropped).
    pub unknown: Vec<NoteSignature>,
}

/// A signed note: its text and its signature lines.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// A note with `text` and no signatures yet. The text must be non-empty,
    /// end in a newline, follow the character rules and leave room in
    /// [`MAX_NOTE_BYTES`].
    pub fn new(text: &str) -> Result<Note, NoteError> {
        if text.len() >= MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: text.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        check_chars(text)?;
        if text.is_empty() || !text.ends_with('\n') {
            return Err(NoteError::Malformed("text must end with a newline"));
        }
        Ok(Note {
            text: text.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note (syntax only; see [`Note::verify`]).
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: bytes.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        check_chars(s)?;
        let split = s
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no empty line before the signatures"))?;
        let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::Malformed("no signatures"));
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::Malformed(
                "the last signature line must end with a newline",
            ));
        };
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_NOTE_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_NOTE_SIGNATURES,
                });
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The text (with its final newline): what the signatures sign.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line (replacing an earlier one by the same name and
    /// key id). Fails when the note would exceed its bounds.
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        if !is_valid_key_name(&sig.name) {
            return Err(NoteError::KeyName(sig.name));
        }
        if sig.signature.is_empty() {
            return Err(NoteError::MalformedSignature("empty signature"));
        }
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        if self.signatures.len() == MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_NOTE_SIGNATURES,
            });
        }
        let size = self.encoded_len() + sig.to_line().len();
        if size > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size,
                max: MAX_NOTE_BYTES,
            });
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// Signs the text with `signer` and adds the signature line.
    pub fn sign(&mut self, signer: &dyn NoteSigner) -> Result<(), NoteError> {
        let signature = signer.sign(self.text.as_bytes());
        self.add_signature(NoteSignature {
            name: signer.name().to_owned(),
            key_id: signer.key_id(),
            signature,
        })
    }

    /// Keeps only the signatures for which `keep` is true.
    pub fn retain_signatures(&mut self, keep: impl FnMut(&NoteSignature) -> bool) {
        self.signatures.retain(keep);
    }

    fn encoded_len(&self) -> usize {
        self.text.len()
            + 1
            + self
                .signatures
                .iter()
                .map(|s| s.to_line().len())
                .sum::<usize>()
    }

    /// The note as text: the text, an empty line, the signature lines.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out
    }

    /// Verifies the note against the known keys `verifiers` (rules in the
    /// module documentation).
    pub fn verify(&self, verifiers: &[&dyn NoteVerifier]) -> Result<Verified, NoteError> {
        let mut verified: Vec<NoteSignature> = Vec::new();
        let mut unknown: Vec<NoteSignature> = Vec::new();
        for sig in &self.signatures {
            let mut known = verifiers
                .iter()
                .filter(|v| v.name() == sig.name && v.key_id() == sig.key_id);
            match (known.next(), known.next()) {
                (None, _) => {
                    if !unknown.contains(sig) {
                        unknown.push(sig.clone());
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(NoteError::AmbiguousKey {
                        name: sig.name.clone(),
                        key_id: sig.key_id,
                    })
                }
                (Some(v), None) => {
                    if !v.verify(self.text.as_bytes(), &sig.signature) {
                        return Err(NoteError::BadSignature {
                            name: sig.name.clone(),
                            key_id: sig.key_id,
                        });
                    }
                    if !verified
                        .iter()
                        .any(|s| s.name == sig.name && s.key_id == sig.key_id)
                    {
                        verified.push(sig.clone());
                    }
                }
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(Verified { verified, unknown })
    }
}

/// Parses and verifies a signed note in one go.
pub fn open(bytes: &[u8], verifiers: &[&dyn NoteVerifier]) -> Result<(Note, Verified), NoteError> {
    let note = Note::parse(bytes)?;
    let verified = note.verify(verifiers)?;
    Ok((note, verified))
}

// ---------------------------------------------------------------------------
// Verifier keys
// ---------------------------------------------------------------------------

/// A verifier key `name+hex(key id)+base64(type || public key)` of an
/// Ed25519-based signature type (`0x01` note signer, `0x04` cosigner).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifierKey {
    pub name: String,
    pub key_type: u8,
    pub public: PublicKeyBytes,
}

/// Longest verifier key string accepted, in bytes.
pub const MAX_VERIFIER_KEY_LEN: usize = 4096;

impl VerifierKey {
    pub fn new(name: &str, key_type: u8, public: PublicKeyBytes) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_owned()));
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            key_type,
            public,
        })
    }

    pub fn key_id(&self) -> u32 {
        key_id(&self.name, self.key_type, self.public.as_bytes())
    }

    /// Parses `name+hex(key id)+base64(type || public key)`: the key id must
    /// match, the key must be 32 bytes and a valid Ed25519 point.
    pub fn parse(s: &str) -> Result<VerifierKey, NoteError> {
        if s.len() > MAX_VERIFIER_KEY_LEN {
            return Err(NoteError::VerifierKey("too long"));
        }
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::VerifierKey("expected name+keyid+key"));
        };
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_owned()));
        }
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NoteError::VerifierKey("key id must be 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16)
            .map_err(|_| NoteError::VerifierKey("key id must be 8 hex digits"))?;
        let key = b64_decode(key_b64).ok_or(NoteError::VerifierKey("key is not base64"))?;
        let Some((&key_type, public)) = key.split_first() else {
            return Err(NoteError::VerifierKey("empty key"));
        };
        if id != key_id(name, key_type, public) {
            return Err(NoteError::VerifierKey("key id does not match the key"));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::VerifierKey("not a 32-byte Ed25519 key"))?;
        if VerifyingKey::from_bytes(&public).is_err() {
            return Err(NoteError::VerifierKey("not a valid Ed25519 public key"));
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            key_type,
            public: FixedBytes(public),
        })
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(self.key_type);
        key.extend_from_slice(self.public.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id(),
            b64_encode(&key)
        )
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, NoteError> {
        VerifierKey::parse(s)
    }
}

// ---------------------------------------------------------------------------
// Ed25519 signer and verifier
// ---------------------------------------------------------------------------

/// An Ed25519 note signer (type `0x01`).
pub struct Ed25519Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519Signer({}+{:08x})", self.name, self.key_id)
    }
}

impl Ed25519Signer {
    /// The signer named `name` whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Ed25519Signer, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_owned()));
        }
        let key = SigningKey::from_bytes(&seed);
        Ok(Ed25519Signer {
            name: name.to_owned(),
            key_id: key_id(name, SIG_TYPE_ED25519, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// A signer with an authority's key (for a feed's checkpoints).
    pub fn from_authority_key(name: &str, key: &AuthorityKey) -> Result<Ed25519Signer, NoteError> {
        Ed25519Signer::from_seed(name, key.seed())
    }

    pub fn public(&self) -> PublicKeyBytes {
        FixedBytes(self.key.verifying_key().to_bytes())
    }

    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_type: SIG_TYPE_ED25519,
            public: self.public(),
        }
    }
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn sign(&self, text: &[u8]) -> Vec<u8> {
        self.key.sign(text).to_bytes().to_vec()
    }
}

/// An Ed25519 note verifier (type `0x01`), strict RFC 8032.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    pub fn new(name: &str, public: &PublicKeyBytes) -> Result<Ed25519Verifier, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(name.to_owned()));
        }
        let key = VerifyingKey::from_bytes(public.as_bytes())
            .map_err(|_| NoteError::VerifierKey("not a valid Ed25519 public key"))?;
        Ok(Ed25519Verifier {
            name: name.to_owned(),
            key_id: key_id(name, SIG_TYPE_ED25519, public.as_bytes()),
            key,
        })
    }

    /// The verifier of a `0x01` verifier key.
    pub fn from_key(key: &VerifierKey) -> Result<Ed25519Verifier, NoteError> {
        if key.key_type != SIG_TYPE_ED25519 {
            return Err(NoteError::VerifierKey(
                "not an Ed25519 note key (type 0x01)",
            ));
        }
        Ed25519Verifier::new(&key.name, &key.public)
    }

    /// Parses a `0x01` verifier key string.
    pub fn parse(s: &str) -> Result<Ed25519Verifier, NoteError> {
        Ed25519Verifier::from_key(&VerifierKey::parse(s)?)
    }

    pub fn public(&self) -> PublicKeyBytes {
        FixedBytes(self.key.to_bytes())
    }

    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_type: SIG_TYPE_ED25519,
            public: self.public(),
        }
    }
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        match Signature::from_slice(signature) {
            Ok(sig) => self.key.verify_strict(text, &sig).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reference example of golang.org/x/mod/sumdb/note (note_test.go).
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter_signer() -> Ed25519Signer {
        let sk = b64_decode(PETER_SKEY_B64).expect("b64");
        assert_eq!(sk[0], SIG_TYPE_ED25519);
        let seed: [u8; 32] = sk[1..].try_into().expect("32 bytes");
        Ed25519Signer::from_seed("PeterNeumann", seed).expect("signer")
    }

    #[test]
    fn go_reference_signature_byte_for_byte() {
        let signer = peter_signer();
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier_key().to_string(), PETER_VKEY);
        let mut note = Note::new(TEXT).expect("note");
        note.sign(&signer).expect("sign");
        assert_eq!(note.encode(), format!("{TEXT}\n{PETER_SIG}"));
        // Signing again replaces, not duplicates.
        note.sign(&signer).expect("sign");
        assert_eq!(note.signatures().len(), 1);
    }

    #[test]
    fn go_reference_open() {
        let peter = Ed25519Verifier::parse(PETER_VKEY).expect("peter");
        let enoch = Ed25519Verifier::parse(ENOCH_VKEY).expect("enoch");
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");

        let (n, v) = open(msg.as_bytes(), &[&peter]).expect("one known");
        assert_eq!(n.text(), TEXT);
        assert_eq!(v.verified.len(), 1);
        assert_eq!(v.verified[0].name, "PeterNeumann");
        assert_eq!(v.unknown.len(), 1);
        assert_eq!(v.unknown[0].key_id, 0xaf0cfe78);

        let (_, v) = open(msg.as_bytes(), &[&peter, &enoch]).expect("both");
        assert_eq!(v.verified.len(), 2);
        assert!(v.unknown.is_empty());

        assert_eq!(
            open(msg.as_bytes(), &[]).map(|_| ()),
            Err(NoteError::NoKnownSignature)
        );

        // Duplicated verifier, used / unused.
        let one = format!("{TEXT}\n{ENOCH_SIG}");
        assert!(matches!(
            open(one.as_bytes(), &[&enoch, &peter, &enoch]),
            Err(NoteError::AmbiguousKey { .. })
        ));
        let one = format!("{TEXT}\n{PETER_SIG}");
        assert!(open(one.as_bytes(), &[&enoch, &peter, &enoch]).is_ok());

        // 101 signatures is too many, known key or not.
        let many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
        assert!(matches!(
            open(many.as_bytes(), &[&peter]),
            Err(NoteError::TooManySignatures { .. })
        ));
        assert!(matches!(
            open(many.as_bytes(), &[]),
            Err(NoteError::TooManySignatures { .. })
        ));

        // A known key's bad signature rejects the note.
        let (head, tail) = PETER_SIG.split_at(60);
        let bad = format!("{TEXT}\n{head}ABCD{tail}");
        assert!(matches!(
            open(bad.as_bytes(), &[&peter]),
            Err(NoteError::BadSignature { .. })
        ));

        // Repeats are dropped.
        let rep = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}");
        let (_, v) = open(rep.as_bytes(), &[&peter]).expect("repeats");
        assert_eq!((v.verified.len(), v.unknown.len()), (1, 1));

        // A tampered text.
        let tampered = msg.replace("cryptography", "cryptographY");
        assert!(matches!(
            open(tampered.as_bytes(), &[&peter]),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn go_reference_malformed_notes() {
        let peter = Ed25519Verifier::parse(PETER_VKEY).expect("peter");
        let bad_msgs = [
            TEXT.to_owned(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        ];
        for m in &bad_msgs {
            assert!(open(m.as_bytes(), &[&peter]).is_err(), "{m:?}");
        }
        let mut invalid = format!("{TEXT}\n{PETER_SIG}").into_bytes();
        invalid.insert(0, 0xff);
        assert_eq!(Note::parse(&invalid), Err(NoteError::NotUtf8));
        let huge = format!("{}\n\n{PETER_SIG}", "a".repeat(MAX_NOTE_BYTES));
        assert!(matches!(
            Note::parse(huge.as_bytes()),
            Err(NoteError::TooLarge { .. })
        ));
    }

    #[test]
    fn go_reference_verifier_key_manglings() {
        let k = VerifierKey::parse(PETER_VKEY).expect("parse");
        assert_eq!(k.to_string(), PETER_VKEY);
        assert_eq!(k.key_id(), 0xc74f20a3);
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i != 0 || j != b.len() {
                    if let Ok(s) = std::str::from_utf8(&b[i..j]) {
                        assert!(VerifierKey::parse(s).is_err(), "{s:?}");
                    }
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&m) {
                assert!(VerifierKey::parse(s).is_err(), "{s:?}");
            }
        }
        // Wrong length key, unknown algorithm: each with an adjusted key id.
        assert!(VerifierKey::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
        .is_err());
        assert!(Ed25519Verifier::parse(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_err());
    }

    #[test]
    fn key_ids_of_published_keys() {
        // transparency-dev/formats note tests: a 0x01 key and a 0x04 key.
        let k = VerifierKey::parse("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
            .expect("0x01 key");
        assert_eq!(k.key_type, SIG_TYPE_ED25519);
        let k = VerifierKey::parse(
            "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
        )
        .expect("0x04 key");
        assert_eq!(k.key_type, 0x04);
        assert!(Ed25519Verifier::from_key(&k).is_err());
    }

    #[test]
    fn names_and_text_rules() {
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\u{2003}b", "a\u{1}b"] {
            assert!(!is_valid_key_name(bad), "{bad:?}");
        }
        assert!(is_valid_key_name("kp-ledger.example/x/BW/mme"));
        assert!(Note::new("no newline").is_err());
        assert!(Note::new("").is_err());
        assert!(Note::new("tab\there\n").is_err());
        assert!(Ed25519Signer::from_seed("bad name", [1; 32]).is_err());
        // Text may contain empty lines: the last one separates.
        let signer = peter_signer();
        let mut n = Note::new("a\n\nb\n").expect("note");
        n.sign(&signer).expect("sign");
        let parsed = Note::parse(n.encode().as_bytes()).expect("parse");
        assert_eq!(parsed, n);
        assert!(parsed.verify(&[&signer.verifier()]).is_ok());
    }

    #[test]
    fn sixteen_and_more_signatures_are_accepted() {
        let signers: Vec<Ed25519Signer> = (0..20u8)
            .map(|i| Ed25519Signer::from_seed(&format!("k{i}"), [i; 32]).expect("signer"))
            .collect();
        let mut n = Note::new("hello\n").expect("note");
        for s in &signers {
            n.sign(s).expect("sign");
        }
        let verifiers: Vec<Ed25519Verifier> = signers.iter().map(|s| s.verifier()).collect();
        let refs: Vec<&dyn NoteVerifier> = verifiers.iter().map(|v| v as _).collect();
        let (_, v) = open(n.encode().as_bytes(), &refs).expect("open");
        assert_eq!(v.verified.len(), 20);
        // Only the last one known: the other 19 are ignored.
        let (_, v) = open(n.encode().as_bytes(), &refs[19..]).expect("open");
        assert_eq!((v.verified.len(), v.unknown.len()), (1, 19));
    }
}
