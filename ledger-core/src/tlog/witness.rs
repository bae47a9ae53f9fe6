//! The witness of c2sp.org/tlog-witness, as pure logic: what to answer to
//! an `add-checkpoint` request, given what the witness knows; and
//! [`SplitViewProof`], evidence that a log signed two inconsistent
//! checkpoints. No HTTP, no storage, no clock: the caller does those.
//!
//! **Request** (`POST <prefix>/add-checkpoint`), every line ending in `\n`:
//!
//! ```text
//! old <size>            decimal, no leading zeroes
//! <base64 hash>         0 to 63 consistency proof lines (32-byte hashes)
//!                       an empty line
//! <signed checkpoint>   a note (c2sp.org/tlog-checkpoint)
//! ```
//!
//! **Decision**, checks in this order ([`add_checkpoint`]):
//!
//! | check | answer |
//! | --- | --- |
//! | body malformed ([`AddCheckpointRequest::parse`]) | 400 |
//! | origin not a log the witness follows | 404 |
//! | no signature by the log's key verifies (or one by its key fails) | 403 |
//! | `old` > checkpoint size | 400 |
//! | `old` ≠ size of the latest checkpoint the witness cosigned (0 if none) | 409, `text/x.tlog.size`, body `<latest size>\n` |
//! | `old` = checkpoint size but the root differs from the latest | 409 (plain text) |
//! | the consistency proof from the latest checkpoint does not verify (it must be empty if `old` is 0 or equal to the size) | 422 |
//! | otherwise | 200, body: the cosignature line(s) |
//!
//! On 200 the caller persists the `new_state` of [`AddCheckpointOutcome::Cosigned`]
//! **before** answering, atomically with the check that the stored size is
//! still `old` (else two concurrent requests could roll the state back).
//! On a same-size root mismatch, and on a failing proof that nevertheless
//! leads to the new root (see [`super::merkle::consistency_roots`]), the
//! outcome carries a [`SplitViewProof`]: the log signed two checkpoints
//! that cannot both be honest.
//!
//! **Split-view proof**, canonical encoding (`crate::codec`, at most
//! [`MAX_SPLIT_VIEW_BYTES`]):
//!
//! ```text
//! version u8 (= 1) || first (string: a signed checkpoint note) || second (string) || path (Vec<[u8; 32]>)
//! ```
//!
//! Sides are ordered by (size, root bytes), first < second, and carry the
//! log's signatures (others are ignored). It proves a split view when both
//! sides are checkpoints of one origin verified by the log's key and either
//! (a) the sizes are equal, the roots differ and the path is empty, or (b)
//! `0 < first.size < second.size` and `path` is a consistency path from
//! `first.size` to `second.size` whose first hash is the node of the first
//! `first.size` leaves (put back when the RFC proof omits it, that is when
//! `first.size` is a power of two) such that [`super::merkle::consistency_roots`]
//! gives exactly `second.root` as the new root and anything but
//! `first.root` as the old root. Everything that goes into the old root also
//! goes into the new, so (b) shows the true first `first.size` leaves of
//! the second tree do not hash to the first root.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::checkpoint::{Checkpoint, CheckpointError};
use super::cosignature::Cosigner;
use super::merkle::{self, VerifyError};
use super::note::{
    Ed25519Verifier, Note, NoteError, NoteSignature, NoteVerifier, Verified, MAX_NOTE_BYTES,
    MAX_NOTE_SIGNATURES,
};
use super::{b64_decode_digest, b64_encode, parse_decimal};
use crate::bytes::Digest;
use crate::codec::{self, FORMAT_VERSION};
use crate::error::DecodeError;

/// Most consistency proof lines in a request.
pub const MAX_PROOF_LINES: usize = 63;
/// Largest request body: the old size line, 63 proof lines, the empty line
/// and the largest note.
pub const MAX_REQUEST_BYTES: usize = 32 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_BYTES;
/// Content type of the body of a 409 answer to a stale `old` size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// Largest encoded split-view proof.
pub const MAX_SPLIT_VIEW_BYTES: usize = 256 * 1024;

/// Why an `add-checkpoint` body is malformed (all answered with 400).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RequestError {
    #[error("request body too large: {size} bytes, the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the first line must be `old <size>` (decimal, no leading zeroes)")]
    OldLine,
    #[error("consistency proof line {0} is not the base64 of a 32-byte hash")]
    ProofLine(usize),
    #[error("more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines,
    #[error("no empty line before the checkpoint")]
    NoEmptyLine,
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// A parsed `add-checkpoint` request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AddCheckpointRequest {
    pub old_size: u64,
    pub proof: Vec<Digest>,
    /// The signed checkpoint as sent.
    pub note: Note,
    /// Its text, parsed.
    pub checkpoint: Checkpoint,
}

/// The next line of `rest` (without its `\n`) and what follows it.
fn next_line(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = rest.iter().position(|&b| b == b'\n')?;
    Some((&rest[..i], &rest[i + 1..]))
}

impl AddCheckpointRequest {
    /// A request from its parts (for a log asking a witness).
    pub fn new(
        old_size: u64,
        proof: Vec<Digest>,
        note: Note,
    ) -> Result<AddCheckpointRequest, RequestError> {
        if proof.len() > MAX_PROOF_LINES {
            return Err(RequestError::TooManyProofLines);
        }
        let checkpoint = Checkpoint::from_text(note.text())?;
        Ok(AddCheckpointRequest {
            old_size,
            proof,
            note,
            checkpoint,
        })
    }

    /// Parses a request body (bounded by [`MAX_REQUEST_BYTES`]).
    pub fn parse(body: &[u8]) -> Result<AddCheckpointRequest, RequestError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge {
                size: body.len(),
                max: MAX_REQUEST_BYTES,
            });
        }
        let (line, mut rest) = next_line(body).ok_or(RequestError::OldLine)?;
        let old_size = line
            .strip_prefix(b"old ")
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(parse_decimal)
            .ok_or(RequestError::OldLine)?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = next_line(rest).ok_or(RequestError::NoEmptyLine)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(RequestError::TooManyProofLines);
            }
            let hash = std::str::from_utf8(line)
                .ok()
                .and_then(b64_decode_digest)
                .ok_or(RequestError::ProofLine(proof.len() + 1))?;
            proof.push(hash);
        }
        let note = Note::parse(rest).map_err(CheckpointError::from)?;
        AddCheckpointRequest::new(old_size, proof, note)
    }

    /// The request body.
    pub fn encode(&self) -> String {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&b64_encode(h.as_bytes()));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note.encode());
        s
    }

    pub fn origin(&self) -> &str {
        &self.checkpoint.origin
    }
}

/// A log the witness follows: its origin and its note keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedLog {
    pub origin: String,
    pub keys: Vec<Ed25519Verifier>,
}

impl TrustedLog {
    pub fn verifiers(&self) -> Vec<&dyn NoteVerifier> {
        self.keys.iter().map(|k| k as &dyn NoteVerifier).collect()
    }
}

/// The latest checkpoint a witness cosigned for a log: what it persists per
/// origin. Its persistent form is the signed note ([`Self::encode`]),
/// carrying the log's verified signatures only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
}

impl WitnessedCheckpoint {
    fn from_verified(checkpoint: Checkpoint, mut note: Note, verified: &Verified) -> Self {
        note.retain_signatures(|s| verified.verified.contains(s));
        WitnessedCheckpoint { checkpoint, note }
    }

    /// Reloads a persisted state, verifying it again with the log's keys.
    pub fn restore(bytes: &[u8], log: &TrustedLog) -> Result<WitnessedCheckpoint, CheckpointError> {
        let (checkpoint, note, verified) = Checkpoint::open(bytes, &log.verifiers())?;
        if checkpoint.origin != log.origin {
            return Err(CheckpointError::FeedOrigin(format!(
                "stored checkpoint is for `{}`, not `{}`",
                checkpoint.origin, log.origin
            )));
        }
        Ok(WitnessedCheckpoint::from_verified(
            checkpoint, note, &verified,
        ))
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub fn note(&self) -> &Note {
        &self.note
    }

    pub fn encode(&self) -> String {
        self.note.encode()
    }
}

/// The answer to an `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddCheckpointOutcome {
    /// 200: persist `new_state`, then answer with the cosignature lines.
    Cosigned {
        cosignatures: Vec<NoteSignature>,
        new_state: WitnessedCheckpoint,
    },
    /// 400.
    BadRequest(String),
    /// 403.
    Forbidden(String),
    /// 404.
    UnknownOrigin,
    /// 409 with `text/x.tlog.size`: `old` is not the latest cosigned size.
    SizeMismatch { latest_size: u64 },
    /// 409: same size as the latest cosigned checkpoint, different root.
    RootMismatch { split_view: Option<SplitViewProof> },
    /// 422: the consistency proof does not verify.
    BadProof {
        reason: String,
        split_view: Option<SplitViewProof>,
    },
    /// 500: the witness cannot cosign (its clock is past 2^63 − 1, or its
    /// stored state is for another origin).
    Internal(String),
}

impl AddCheckpointOutcome {
    pub fn status(&self) -> u16 {
        match self {
            AddCheckpointOutcome::Cosigned { .. } => 200,
            AddCheckpointOutcome::BadRequest(_) => 400,
            AddCheckpointOutcome::Forbidden(_) => 403,
            AddCheckpointOutcome::UnknownOrigin => 404,
            AddCheckpointOutcome::SizeMismatch { .. }
            | AddCheckpointOutcome::RootMismatch { .. } => 409,
            AddCheckpointOutcome::BadProof { .. } => 422,
            AddCheckpointOutcome::Internal(_) => 500,
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            AddCheckpointOutcome::SizeMismatch { .. } => SIZE_CONTENT_TYPE,
            _ => "text/plain; charset=utf-8",
        }
    }

    /// The response body.
    pub fn body(&self) -> String {
        match self {
            AddCheckpointOutcome::Cosigned { cosignatures, .. } => {
                cosignatures.iter().map(NoteSignature::to_line).collect()
            }
            AddCheckpointOutcome::BadRequest(m) => format!("malformed request: {m}\n"),
            AddCheckpointOutcome::Forbidden(m) => format!("no trusted signature: {m}\n"),
            AddCheckpointOutcome::UnknownOrigin => "unknown log origin\n".to_owned(),
            AddCheckpointOutcome::SizeMismatch { latest_size } => format!("{latest_size}\n"),
            AddCheckpointOutcome::RootMismatch { .. } => {
                "same tree size as the latest cosigned checkpoint, different root hash\n".to_owned()
            }
            AddCheckpointOutcome::BadProof { reason, .. } => {
                format!("consistency proof does not verify: {reason}\n")
            }
            AddCheckpointOutcome::Internal(m) => format!("witness error: {m}\n"),
        }
    }

    /// Evidence of log misbehaviour found while answering, if any.
    pub fn split_view(&self) -> Option<&SplitViewProof> {
        match self {
            AddCheckpointOutcome::RootMismatch { split_view }
            | AddCheckpointOutcome::BadProof { split_view, .. } => split_view.as_ref(),
            _ => None,
        }
    }
}

impl From<RequestError> for AddCheckpointOutcome {
    fn from(e: RequestError) -> Self {
        AddCheckpointOutcome::BadRequest(e.to_string())
    }
}

/// Decides an `add-checkpoint` request.
///
/// `log` is the witness's configuration for the request's origin (`None`
/// if it follows no such log), `latest` the checkpoint it last cosigned for
/// that origin (`None` if never), `now` the time in POSIX seconds.
pub fn add_checkpoint(
    request: &AddCheckpointRequest,
    log: Option<&TrustedLog>,
    latest: Option<&WitnessedCheckpoint>,
    cosigner: &Cosigner,
    now: u64,
) -> AddCheckpointOutcome {
    use AddCheckpointOutcome as O;
    let new = &request.checkpoint;
    let Some(log) = log.filter(|l| l.origin == new.origin) else {
        return O::UnknownOrigin;
    };
    let keys = log.verifiers();
    let verified = match request.note.verify(&keys) {
        Ok(v) => v,
        Err(e) => return O::Forbidden(e.to_string()),
    };
    let old = request.old_size;
    if old > new.size {
        return O::BadRequest(format!(
            "old size {old} is larger than the checkpoint size {}",
            new.size
        ));
    }
    if let Some(l) = latest {
        if l.checkpoint.origin != new.origin {
            return O::Internal("the stored checkpoint is for another origin".to_owned());
        }
    }
    let latest_size = latest.map_or(0, |l| l.checkpoint.size);
    if old != latest_size {
        return O::SizeMismatch { latest_size };
    }
    let bad_proof = |reason: &str, split_view| O::BadProof {
        reason: reason.to_owned(),
        split_view,
    };
    match latest {
        Some(l) if old == new.size && l.checkpoint.root != new.root => {
            return O::RootMismatch {
                split_view: SplitViewProof::new(&l.note, &request.note, Vec::new(), &keys).ok(),
            };
        }
        _ if old == new.size || old == 0 => {
            if !request.proof.is_empty() {
                return bad_proof(
                    "the proof must be empty when the old size is 0 or the checkpoint size",
                    None,
                );
            }
        }
        Some(l) => {
            if let Err(e) = merkle::verify_consistency(
                old,
                new.size,
                &l.checkpoint.root,
                &new.root,
                &request.proof,
            ) {
                let split_view = match merkle::consistency_roots(old, new.size, &request.proof) {
                    Ok((fr, sr)) if sr == new.root && fr != l.checkpoint.root => {
                        SplitViewProof::new(&l.note, &request.note, request.proof.clone(), &keys)
                            .ok()
                    }
                    _ => None,
                };
                return bad_proof(&e.to_string(), split_view);
            }
        }
        // latest_size is 0 without a stored checkpoint, and old == 0 was
        // handled above.
        None => return O::Internal("no stored checkpoint for a non-zero old size".to_owned()),
    }
    let line = match cosigner.cosign(request.note.text(), now) {
        Ok(line) => line,
        Err(e) => return O::Internal(e.to_string()),
    };
    O::Cosigned {
        cosignatures: vec![line],
        new_state: WitnessedCheckpoint::from_verified(
            request.checkpoint.clone(),
            request.note.clone(),
            &verified,
        ),
    }
}

/// Parses the body of a 409 `text/x.tlog.size` answer.
pub fn parse_size_response(body: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(body.strip_suffix(b"\n")?).ok()?;
    parse_decimal(s)
}

/// Parses the body of a 200 answer: one or more signature lines.
pub fn parse_cosignature_lines(body: &[u8]) -> Result<Vec<NoteSignature>, NoteError> {
    if body.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            size: body.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    let s = std::str::from_utf8(body).map_err(|_| NoteError::NotUtf8)?;
    let s = s.strip_suffix('\n').ok_or(NoteError::Malformed(
        "the last line must end with a newline",
    ))?;
    let mut out = Vec::new();
    for line in s.split('\n') {
        if out.len() == MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_NOTE_SIGNATURES,
            });
        }
        out.push(NoteSignature::parse_line(line)?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Split-view proofs
// ---------------------------------------------------------------------------

/// Two checkpoints of one origin, both signed by the log, that cannot both
/// be views of one append-only log. Layout and rules: module documentation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SplitViewProof {
    pub version: u8,
    /// The signed checkpoint with the smaller (size, root).
    pub first: String,
    /// The other signed checkpoint.
    pub second: String,
    /// Empty for equal sizes; else a consistency path in the second tree
    /// from `first`'s size, first hash included.
    pub path: Vec<Digest>,
}

/// What a verified split-view proof shows.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SplitView {
    pub origin: String,
    pub first: Checkpoint,
    pub second: Checkpoint,
}

/// Why a split-view proof does not prove a split view.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SplitViewError {
    #[error("cannot decode split-view proof: {0}")]
    Decode(#[from] DecodeError),
    #[error("{side} checkpoint: {source}")]
    Checkpoint {
        side: &'static str,
        source: CheckpointError,
    },
    #[error("the checkpoints are for different origins")]
    DifferentOrigins,
    #[error("the checkpoints are not in canonical order (smaller size, then smaller root, first)")]
    Order,
    #[error("the two checkpoints are the same tree head")]
    SameTreeHead,
    #[error("checkpoints of equal size need an empty path")]
    PathNotEmpty,
    #[error("every tree is consistent with the empty tree")]
    EmptyFirstTree,
    #[error("consistency path: {0}")]
    Path(VerifyError),
    #[error("the path does not lead to the second checkpoint's root, so it proves nothing")]
    NotInSecondTree,
    #[error("the path shows the checkpoints consistent")]
    Consistent,
    #[error("split-view proof too large: {size} bytes, the limit is {max}")]
    TooLarge { size: usize, max: usize },
}

fn open_side(
    side: &'static str,
    text: &str,
    keys: &[&dyn NoteVerifier],
) -> Result<(Checkpoint, Note, Verified), SplitViewError> {
    Checkpoint::open(text.as_bytes(), keys)
        .map_err(|source| SplitViewError::Checkpoint { side, source })
}

impl SplitViewProof {
    /// Builds the proof from two signed checkpoints in either order (each
    /// keeps only the signatures of `log_keys`) and a path (empty for equal
    /// sizes; else from the smaller size, in the larger tree, first hash
    /// included: [`merkle::full_consistency_path`]). Checks it before
    /// returning it.
    pub fn new(
        a: &Note,
        b: &Note,
        path: Vec<Digest>,
        log_keys: &[&dyn NoteVerifier],
    ) -> Result<SplitViewProof, SplitViewError> {
        let strip = |side, n: &Note| -> Result<(Checkpoint, String), SplitViewError> {
            let (c, mut note, v) = open_side(side, &n.encode(), log_keys)?;
            note.retain_signatures(|s| v.verified.contains(s));
            Ok((c, note.encode()))
        };
        let (ca, ta) = strip("first", a)?;
        let (cb, tb) = strip("second", b)?;
        let (first, second) = if (ca.size, ca.root) <= (cb.size, cb.root) {
            (ta, tb)
        } else {
            (tb, ta)
        };
        let proof = SplitViewProof {
            version: FORMAT_VERSION,
            first,
            second,
            path,
        };
        let size = proof.encode().len();
        if size > MAX_SPLIT_VIEW_BYTES {
            return Err(SplitViewError::TooLarge {
                size,
                max: MAX_SPLIT_VIEW_BYTES,
            });
        }
        proof.verify(log_keys)?;
        Ok(proof)
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes untrusted bytes: size first, then the version, then the
    /// canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<SplitViewProof, SplitViewError> {
        if bytes.len() > MAX_SPLIT_VIEW_BYTES {
            return Err(SplitViewError::TooLarge {
                size: bytes.len(),
                max: MAX_SPLIT_VIEW_BYTES,
            });
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
        Ok(codec::decode(bytes, MAX_SPLIT_VIEW_BYTES)?)
    }

    /// Checks the proof with nothing but the log's keys.
    pub fn verify(&self, log_keys: &[&dyn NoteVerifier]) -> Result<SplitView, SplitViewError> {
        if self.version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: self.version,
                supported: FORMAT_VERSION,
            }
            .into());
        }
        let (first, _, _) = open_side("first", &self.first, log_keys)?;
        let (second, _, _) = open_side("second", &self.second, log_keys)?;
        if first.origin != second.origin {
            return Err(SplitViewError::DifferentOrigins);
        }
        if (first.size, first.root) == (second.size, second.root) {
            return Err(SplitViewError::SameTreeHead);
        }
        if (first.size, first.root) > (second.size, second.root) {
            return Err(SplitViewError::Order);
        }
        if first.size == second.size {
            if !self.path.is_empty() {
                return Err(SplitViewError::PathNotEmpty);
            }
        } else {
            if first.size == 0 {
                return Err(SplitViewError::EmptyFirstTree);
            }
            let (old_root, new_root) =
                merkle::consistency_roots(first.size, second.size, &self.path)
                    .map_err(SplitViewError::Path)?;
            if new_root != second.root {
                return Err(SplitViewError::NotInSecondTree);
            }
            if old_root == first.root {
                return Err(SplitViewError::Consistent);
            }
        }
        Ok(SplitView {
            origin: first.origin.clone(),
            first,
            second,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_BODY: &str = "old 20852014\n\
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
\n\
example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

    #[test]
    fn the_c2sp_example_request() {
        let r = AddCheckpointRequest::parse(EXAMPLE_BODY.as_bytes()).expect("parse");
        assert_eq!(r.old_size, 20852014);
        assert_eq!(r.proof.len(), 4);
        assert_eq!(r.origin(), "example.com/behind-the-sofa");
        assert_eq!(r.checkpoint.size, 20852163);
        assert_eq!(r.note.signatures().len(), 2);
        assert_eq!(r.encode(), EXAMPLE_BODY);
    }

    #[test]
    fn malformed_requests() {
        let note = "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— o AAAAAAE=\n";
        assert!(AddCheckpointRequest::parse(format!("old 0\n\n{note}").as_bytes()).is_ok());
        let h = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            format!("old 00\n\n{note}"),
            format!("old -1\n\n{note}"),
            format!("Old 1\n\n{note}"),
            format!("old  1\n\n{note}"),
            format!("old 1\n{note}"),
            format!("old 1\n{h}\n{note}"),
            format!("old 1\n{h}x\n\n{note}"),
            format!("old 1\n{}\n\n{note}", &h[..43]),
            format!("old 1\n\n{}", &note[..note.len() - 1]),
            format!("old 1\n{}\n{note}", format!("{h}\n").repeat(64)),
            "old 1".to_owned(),
            String::new(),
        ] {
            assert!(
                AddCheckpointRequest::parse(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        let ok63 = format!("old 1\n{}\n{note}", format!("{h}\n").repeat(63));
        assert!(AddCheckpointRequest::parse(ok63.as_bytes()).is_ok());
        assert!(matches!(
            AddCheckpointRequest::parse(&vec![b'a'; MAX_REQUEST_BYTES + 1]),
            Err(RequestError::TooLarge { .. })
        ));
    }

    #[test]
    fn responses() {
        assert_eq!(parse_size_response(b"50\n"), Some(50));
        assert_eq!(parse_size_response(b"0\n"), Some(0));
        for bad in [&b"50"[..], b"050\n", b"", b"\n", b"5 0\n"] {
            assert_eq!(parse_size_response(bad), None);
        }
        let w = Cosigner::from_seed("w", [1; 32]).expect("w");
        let line = w
            .cosign("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", 5)
            .expect("cosign");
        let body = line.to_line().repeat(2);
        assert_eq!(
            parse_cosignature_lines(body.as_bytes()),
            Ok(vec![line.clone(), line])
        );
        assert!(parse_cosignature_lines(b"").is_err());
        assert!(parse_cosignature_lines(b"x\n").is_err());
    }
}
