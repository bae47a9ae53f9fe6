//! Errors, each specific enough that a user knows what was wrong and where.

use thiserror::Error;

use crate::bytes::Digest;
use crate::model::{AuthorId, Role};

/// Bytes from outside that are not a valid encoding.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("too large: {size} bytes, the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion { found: u8, supported: u8 },
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("{extra} trailing bytes after the encoded value")]
    TrailingBytes { extra: usize },
    #[error("not the canonical encoding (decodes, but re-encodes to different bytes)")]
    NonCanonical,
    #[error("empty input")]
    Empty,
}

/// A certificate event whose body breaks a KPCS rule. Found without looking
/// at any other event.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BodyError {
    #[error("certificate number `{number}` must start with the issuer's code `{issuer}`")]
    CertificateNumberPrefix { number: String, issuer: String },
    #[error(
        "certificate number `{0}` is malformed: 4 to 64 characters of A-Z, 0-9, '-', '/' and '.'"
    )]
    CertificateNumberSyntax(String),
    #[error("expiry date {expires} is before the certificate was issued, on {issued}")]
    ExpiryBeforeIssue { issued: String, expires: String },
    #[error("{field}: zero is not allowed")]
    Zero { field: &'static str },
    #[error("{field}: {value} is more than the limit of {max} for one certificate")]
    AmountTooLarge {
        field: &'static str,
        value: u64,
        max: u64,
    },
    #[error("HS code {0} is outside heading 7102 (rough diamonds)")]
    HsCodeOutside7102(String),
    #[error("HS code {0} is not a KP code: expected 7102.10, 7102.21 or 7102.31")]
    HsCodeNotKp(String),
    #[error("hs_codes: at least one HS code is required, each at most once, in ascending order")]
    HsCodesList,
    #[error("{field}: must not be empty")]
    Empty { field: &'static str },
    #[error("{field}: {len} bytes is longer than the limit of {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field}: {len} entries is more than the limit of {max}")]
    TooMany {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field}: control characters are not allowed")]
    ControlCharacter { field: &'static str },
    #[error("origin: mixed-origin countries must be listed at most once each, in ascending order")]
    MixedOriginList,
    #[error("source_certificates: a certificate cannot be its own source, and each source is listed once, in ascending order")]
    SourceList,
    #[error("import confirmation of `{certificate}` names exporter {named}, but the certificate number belongs to {prefix}")]
    ConfirmationExporter {
        certificate: String,
        named: String,
        prefix: String,
    },
    #[error("a confirmation of an import into {0} must be signed by an authority of the importing participant")]
    SelfImport(String),
    #[error("{field}: {date} is outside the accepted range 2000-01-01 to 9999-12-31")]
    DateOutOfRange { field: &'static str, date: String },
    #[error("the new key is the same as the key it replaces")]
    RotationToSameKey,
    #[error("governance: {0}")]
    Governance(String),
}

/// Why an event was not accepted into a feed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EventError {
    #[error("cannot decode event: {0}")]
    Decode(#[from] DecodeError),
    #[error("event is for another network (network id {found}, this network is {expected})")]
    WrongNetwork { expected: Digest, found: Digest },
    #[error("author {0} is not an authority of any participant in the charter")]
    UnknownAuthor(AuthorId),
    #[error("author {author} lacks the `{role}` role needed for a {kind} event")]
    MissingRole {
        author: AuthorId,
        role: Role,
        kind: &'static str,
    },
    #[error("signature does not verify with {author}'s key in force at seq {seq}")]
    BadSignature { author: AuthorId, seq: u64 },
    #[error("sequence numbers start at 1, found 0")]
    SeqZero,
    #[error(
        "seq {seq} of {author} must link to the previous event {expected}, but links to {found}"
    )]
    BrokenLink {
        author: AuthorId,
        seq: u64,
        expected: String,
        found: String,
    },
    #[error("{author} seq {seq} arrived ahead of a gap: the feed's head is at {head}")]
    Gap {
        author: AuthorId,
        seq: u64,
        head: u64,
    },
    #[error("invalid {kind} body: {source}")]
    Body {
        kind: &'static str,
        source: BodyError,
    },
    #[error("key rotation does not match the pre-committed next key digest")]
    PreRotationMismatch,
    #[error("{author} may not sign events dated {date}: {reason}")]
    NotAMember {
        author: AuthorId,
        date: String,
        reason: String,
    },
}

/// Errors of the store.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("index database error: {0}")]
    Sled(#[from] sled::Error),
    #[error(
        "this store belongs to network {found}, not to network {expected} of the charter given"
    )]
    WrongNetwork { expected: Digest, found: Digest },
    #[error(
        "store format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedStoreVersion { found: u32, supported: u32 },
    #[error("the event log is corrupt at byte offset {offset}: {reason} (acknowledged data follows it, so it was not truncated; restore from a replica)")]
    CorruptLog { offset: u64, reason: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("store is locked by another process ({0}); is a node already running on this data directory?")]
    Locked(String),
    #[error("charter: {0}")]
    Charter(String),
    #[error("out of range: {0}")]
    OutOfRange(String),
    #[error("the store is shutting down after an earlier write failure: {0}")]
    Poisoned(String),
    #[error("{author}'s feed is at seq {store_head} in this store, but this store acknowledged seq {record_seq} of it before: its own last events were lost (a restored backup or a damaged log). Signing now would sign a place twice; let the node fetch its feed back from its peers first")]
    OwnFeedBehind {
        author: crate::model::AuthorId,
        store_head: u64,
        record_seq: u64,
    },
    #[error("the event log is damaged: {0}")]
    Damaged(Box<crate::store::DamageReport>),
    #[error("not stored: {0}; nothing of this write was kept, and the store keeps accepting writes (retrying is safe)")]
    NotStored(String),
    #[error(transparent)]
    Event(#[from] EventError),
}
