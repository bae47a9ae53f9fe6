//! Checkpoints (c2sp.org/tlog-checkpoint): a signed note whose text is a
//! log's tree head.
//!
//! ```text
//! <origin>\n            non-empty; the log's unique name
//! <tree size>\n         ASCII decimal, no leading zeroes ("0" for the empty tree)
//! <root hash>\n         standard padded base64 of the 32-byte RFC 6962 root
//! [<extension line>\n]* optional, each non-empty (not recommended)
//! ```
//!
//! The text is followed by the signatures of a [signed note](super::note).
//! The log's key name is its origin. Parsing accepts any non-empty origin
//! (other logs may name themselves as they like); this crate's own
//! checkpoints use [`feed_origin`].
//!
//! **Origin of a KP Ledger feed.** One log per feed (authority):
//!
//! ```text
//! kp-ledger.example/<network name>/<first 16 hex digits of the network id>/<participant code>/<authority name>
//! ```
//!
//! e.g. `kp-ledger.example/kpcs-main/0123456789abcdef/BW/mme`. The
//! network name is that of the charter (a-z, 0-9, `.`, `-`, `/`), the
//! network id prefix tells networks of one name apart, the code is two
//! capital letters and the authority name is a-z, 0-9, `-`: so an origin has
//! no spaces and no `+` and is a valid key name. `kp-ledger.example` is a
//! name, not an address (`.example` is reserved, RFC 2606): nothing is
//! served there. The leaves of a feed's tree are its event ids in sequence
//! order ([`super::merkle`]).

use thiserror::Error;

use super::merkle;
use super::note::{is_valid_key_name, Note, NoteError, NoteSigner, NoteVerifier, Verified};
use super::{b64_decode_digest, b64_encode, parse_decimal};
use crate::bytes::Digest;
use crate::model::{AuthorId, ObserverId};

/// The first component of every feed origin.
pub const ORIGIN_PREFIX: &str = "kp-ledger.example";

/// Why a checkpoint is not accepted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    #[error("checkpoint text must have at least three lines (origin, size, root)")]
    TooFewLines,
    #[error("checkpoint text must end with a newline")]
    NoFinalNewline,
    #[error("checkpoint origin must be non-empty")]
    EmptyOrigin,
    #[error("checkpoint origin `{0}` cannot be a key name (no spaces or '+')")]
    OriginNotKeyName(String),
    #[error("checkpoint tree size is not a decimal without leading zeroes")]
    Size,
    #[error("checkpoint root hash is not the base64 of 32 bytes")]
    Root,
    #[error("checkpoint extension lines must be non-empty")]
    EmptyExtension,
    #[error("a checkpoint of the empty tree must have the root SHA-256(\"\")")]
    EmptyTreeRoot,
    #[error("invalid feed origin: {0}")]
    FeedOrigin(String),
}

/// A log's tree head.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Digest,
    /// Extension lines, each non-empty, without their newline.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines, whose origin can also be the
    /// log's key name.
    pub fn new(origin: &str, size: u64, root: Digest) -> Result<Checkpoint, CheckpointError> {
        if !is_valid_key_name(origin) {
            return Err(CheckpointError::OriginNotKeyName(origin.to_owned()));
        }
        let c = Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        };
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if self.size == 0 && self.root != merkle::empty_root() {
            return Err(CheckpointError::EmptyTreeRoot);
        }
        if self.extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::EmptyExtension);
        }
        Ok(())
    }

    /// The note text of the checkpoint.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            b64_encode(self.root.as_bytes())
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint's note text (with its final newline).
    ///
    /// Beyond the c2sp rules, a checkpoint of size 0 must carry the root of
    /// the empty tree, as any RFC 6962 log's would.
    pub fn from_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        // The size bound and the character rules are those of notes.
        Note::new(text)?;
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::NoFinalNewline)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::TooFewLines);
        };
        let c = Checkpoint {
            origin: origin.to_owned(),
            size: parse_decimal(size).ok_or(CheckpointError::Size)?,
            root: b64_decode_digest(root).ok_or(CheckpointError::Root)?,
            extensions: lines.map(str::to_owned).collect(),
        };
        c.check()?;
        Ok(c)
    }

    /// A note with this checkpoint as text, signed by `signer` (whose name
    /// should be the origin).
    pub fn sign(&self, signer: &dyn NoteSigner) -> Result<Note, CheckpointError> {
        self.check()?;
        let mut note = Note::new(&self.to_text())?;
        note.sign(signer)?;
        Ok(note)
    }

    /// Parses a signed checkpoint and verifies it with `verifiers` (the
    /// log's keys, and any others the caller trusts).
    pub fn open(
        bytes: &[u8],
        verifiers: &[&dyn NoteVerifier],
    ) -> Result<(Checkpoint, Note, Verified), CheckpointError> {
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::from_text(note.text())?;
        let verified = note.verify(verifiers)?;
        Ok((checkpoint, note, verified))
    }
}

/// The checkpoint origin (and log key name) of the feed of `author` in the
/// network named `network_name` with id `network_id`.
pub fn feed_origin(
    network_name: &str,
    network_id: &Digest,
    author: &AuthorId,
) -> Result<String, CheckpointError> {
    Ok(format!(
        "{}/{}/{}",
        network_prefix(network_name, network_id)?,
        author.participant,
        author.authority
    ))
}

/// `kp-ledger.example/<network name>/<first 16 hex digits of the network id>`,
/// the start of every origin and witness name of a network.
fn network_prefix(network_name: &str, network_id: &Digest) -> Result<String, CheckpointError> {
    let ok = !network_name.is_empty()
        && network_name.len() <= 64
        && network_name.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-' || c == b'/'
        });
    if !ok {
        return Err(CheckpointError::FeedOrigin(format!(
            "network name `{network_name}`: 1 to 64 characters of a-z, 0-9, '.', '-' and '/'"
        )));
    }
    let hex = network_id.to_hex();
    Ok(format!("{ORIGIN_PREFIX}/{network_name}/{}", &hex[..16]))
}

/// A member of the network acting as a witness: a participant authority
/// or an observer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WitnessId<'a> {
    Authority(&'a AuthorId),
    Observer(&'a ObserverId),
}

/// The cosignature key name (c2sp.org/tlog-cosignature) of a network
/// member acting as a witness of the network's feeds:
///
/// ```text
/// kp-ledger.example/<network name>/<first 16 hex digits of the network id>/witness/<participant code>/<authority name>
/// kp-ledger.example/<network name>/<first 16 hex digits of the network id>/witness/observer/<observer id>
/// ```
///
/// e.g. `kp-ledger.example/kpcs-main/0123456789abcdef/witness/ZA/mme` or
/// `kp-ledger.example/kpcs-main/0123456789abcdef/witness/observer/wdc`.
/// The network part is that of [`feed_origin`] (same rules). A witness name
/// is never a feed origin (`witness` is not a participant code, which is two
/// capital letters, so [`parse_feed_origin`] refuses it), and the two forms
/// cannot collide (`observer` is lowercase). An authority cosigns with its
/// current authority key, an observer with its charter key; the name stays
/// the same across an authority's key rotations (the key id changes).
pub fn witness_name(
    network_name: &str,
    network_id: &Digest,
    who: WitnessId<'_>,
) -> Result<String, CheckpointError> {
    let base = network_prefix(network_name, network_id)?;
    Ok(match who {
        WitnessId::Authority(a) => format!("{base}/witness/{}/{}", a.participant, a.authority),
        WitnessId::Observer(o) => format!("{base}/witness/observer/{}", o.as_str()),
    })
}

/// The parts of a feed origin.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FeedOrigin {
    pub network_name: String,
    /// The first 16 hex digits of the network id.
    pub network_id_prefix: String,
    pub author: AuthorId,
}

impl FeedOrigin {
    /// Whether this origin belongs to the network with id `network_id`.
    pub fn is_of_network(&self, network_id: &Digest) -> bool {
        network_id.to_hex().starts_with(&self.network_id_prefix)
    }
}

/// Splits a feed origin made by [`feed_origin`]; `None` for any other origin.
pub fn parse_feed_origin(origin: &str) -> Option<FeedOrigin> {
    let rest = origin.strip_prefix(ORIGIN_PREFIX)?.strip_prefix('/')?;
    let (rest, authority) = rest.rsplit_once('/')?;
    let (rest, code) = rest.rsplit_once('/')?;
    let (network, prefix) = rest.rsplit_once('/')?;
    let author = AuthorId::new(code, authority).ok()?;
    if prefix.len() != 16
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let parsed = FeedOrigin {
        network_name: network.to_owned(),
        network_id_prefix: prefix.to_owned(),
        author,
    };
    // Only what `feed_origin` itself would produce.
    let mut id = [0u8; 32];
    hex::decode_to_slice(prefix, &mut id[..8]).ok()?;
    let again = feed_origin(network, &crate::bytes::FixedBytes(id), &parsed.author).ok()?;
    (again == origin).then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::FixedBytes;
    use crate::tlog::note::Ed25519Signer;

    const EXAMPLE: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn the_c2sp_example_text() {
        let c = Checkpoint::from_text(EXAMPLE).expect("parse");
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20852163);
        assert!(c.extensions.is_empty());
        assert_eq!(c.to_text(), EXAMPLE);
        let ext = format!("{EXAMPLE}extension one\nextension two\n");
        let c = Checkpoint::from_text(&ext).expect("extensions");
        assert_eq!(c.extensions, vec!["extension one", "extension two"]);
        assert_eq!(c.to_text(), ext);
    }

    #[test]
    fn parse_rules() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let bad = [
            format!("o\n1\n{root}"),                      // no final newline
            "o\n1\n".to_owned(),                          // no root
            format!("\n1\n{root}\n"),                     // empty origin
            format!("o\n01\n{root}\n"),                   // leading zero
            format!("o\n+1\n{root}\n"),                   // sign
            format!("o\n-1\n{root}\n"),                   // sign
            format!("o\n 1\n{root}\n"),                   // space
            format!("o\n18446744073709551616\n{root}\n"), // overflow
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_owned(), // no padding
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n".to_owned(), // 31 bytes
            "o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n".to_owned(), // URL alphabet
            format!("o\n1\n{root}\n\nx\n"),               // empty extension line
            format!("o\n1\n{root}\n\n"),                  // empty extension line
            format!("o\n1\n{root}\r\n"),                  // control character
            format!("o\n0\n{root}\n"),                    // empty tree, wrong root
        ];
        for b in &bad {
            assert!(Checkpoint::from_text(b).is_err(), "{b:?}");
        }
        let empty = Checkpoint::new("o", 0, merkle::empty_root()).expect("empty tree");
        assert_eq!(Checkpoint::from_text(&empty.to_text()), Ok(empty));
        assert!(Checkpoint::new("a b", 1, FixedBytes([0; 32])).is_err());
        assert!(Checkpoint::new("a+b", 1, FixedBytes([0; 32])).is_err());
    }

    #[test]
    fn sign_and_open() {
        let author = AuthorId::new("BW", "mme").expect("author");
        let origin =
            feed_origin("kp-ledger-test", &FixedBytes([0xab; 32]), &author).expect("origin");
        assert_eq!(
            origin,
            "kp-ledger.example/kp-ledger-test/abababababababab/BW/mme"
        );
        let signer = Ed25519Signer::from_seed(&origin, [9; 32]).expect("signer");
        let c = Checkpoint::new(&origin, 5, FixedBytes([1; 32])).expect("checkpoint");
        let note = c.sign(&signer).expect("sign");
        let (parsed, _, v) =
            Checkpoint::open(note.encode().as_bytes(), &[&signer.verifier()]).expect("open");
        assert_eq!(parsed, c);
        assert_eq!(v.verified.len(), 1);
        let other = Ed25519Signer::from_seed(&origin, [8; 32]).expect("signer");
        assert!(Checkpoint::open(note.encode().as_bytes(), &[&other.verifier()]).is_err());
    }

    #[test]
    fn witness_names() {
        let id = FixedBytes([0xab; 32]);
        let a = AuthorId::new("ZA", "mme").expect("author");
        let o = ObserverId::new("wdc").expect("observer");
        let wa = witness_name("kp-test", &id, WitnessId::Authority(&a)).expect("authority");
        assert_eq!(
            wa,
            "kp-ledger.example/kp-test/abababababababab/witness/ZA/mme"
        );
        let wo = witness_name("kp-test", &id, WitnessId::Observer(&o)).expect("observer");
        assert_eq!(
            wo,
            "kp-ledger.example/kp-test/abababababababab/witness/observer/wdc"
        );
        assert!(is_valid_key_name(&wa) && is_valid_key_name(&wo));
        assert_eq!(parse_feed_origin(&wa), None);
        assert_ne!(wa, feed_origin("kp-test", &id, &a).expect("origin"));
        assert!(witness_name("Bad Name", &id, WitnessId::Observer(&o)).is_err());
    }

    #[test]
    fn feed_origins_round_trip() {
        let author = AuthorId::new("AE", "customs-2").expect("author");
        let id = crate::hash::sha256(&[b"network"]);
        let o = feed_origin("kp/test.net-1", &id, &author).expect("origin");
        assert!(is_valid_key_name(&o));
        let p = parse_feed_origin(&o).expect("parse");
        assert_eq!(p.network_name, "kp/test.net-1");
        assert_eq!(p.author, author);
        assert!(p.is_of_network(&id));
        assert!(!p.is_of_network(&FixedBytes([0; 32])));
        for bad in ["", "Net", "a b", "a+b", &"x".repeat(65)] {
            assert!(feed_origin(bad, &id, &author).is_err(), "{bad:?}");
        }
        for bad in [
            "example.com/log",
            "kp-ledger.example/n/ABABABABABABABAB/BW/mme",
            "kp-ledger.example/n/abab/BW/mme",
            "kp-ledger.example/n/abababababababab/bw/mme",
            "kp-ledger.example//abababababababab/BW/mme",
            "kp-ledger.example/abababababababab/BW/mme",
        ] {
            assert_eq!(parse_feed_origin(bad), None, "{bad:?}");
        }
    }
}
