//! The network charter (genesis): who takes part, with which keys and nodes.
//! Its hash is the network id, bound into every signature.

use std::collections::BTreeSet;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::bytes::{Digest, PublicKeyBytes};
use crate::codec::{self, FORMAT_VERSION, MAX_CHARTER_BYTES};
use crate::error::DecodeError;
use crate::model::{AuthorId, AuthorityName, CountryCode, Date, ObserverId, Roles};

/// Domain separation for the network id: `SHA-256(CHARTER_CONTEXT || charter)`.
pub const CHARTER_CONTEXT: &[u8] = b"kp-ledger:charter\0";

/// Longest free-text name in a charter, in bytes.
const MAX_TITLE: usize = 256;
/// Longest libp2p peer id string (base58 of a multihash), in bytes.
const MAX_PEER_ID: usize = 128;

/// One signing authority of a participant.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityEntry {
    /// Short name, unique within the participant (`mme`, `customs`).
    pub name: AuthorityName,
    /// Full name as printed on certificates.
    pub title: String,
    /// The authority's Ed25519 key at genesis.
    pub key: PublicKeyBytes,
    pub roles: Roles,
    /// Pre-rotation commitment: SHA-256 of the next key, if committed.
    pub next_key_digest: Option<Digest>,
}

/// A KP participant (a country, or the EU).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantEntry {
    pub code: CountryCode,
    pub name: String,
    pub authorities: Vec<AuthorityEntry>,
    /// libp2p peer ids (base58) of this participant's nodes.
    pub nodes: Vec<String>,
}

/// An observer (industry, civil society): no vote, read-only node.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserverEntry {
    pub id: ObserverId,
    pub name: String,
    pub key: PublicKeyBytes,
    pub nodes: Vec<String>,
}

/// The network charter.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charter {
    /// Format version of the charter (currently 1).
    pub version: u8,
    /// Network name: 1-64 characters of a-z, 0-9, '.', '-' and '/' (it is used
    /// in checkpoint origins, which allow no spaces or '+').
    pub network: String,
    pub created_on: Date,
    /// The participant chairing the KP at genesis (later chairs are
    /// governance decisions).
    pub chair: CountryCode,
    /// The share of participants in good standing whose approval adopts a
    /// governance decision.
    pub quorum: Quorum,
    /// Sorted by code, each code once.
    pub participants: Vec<ParticipantEntry>,
    /// Sorted by id, each id once.
    pub observers: Vec<ObserverEntry>,
}

/// A quorum as a fraction of the participants in good standing: a decision
/// is adopted when `approvals * denominator >= numerator * eligible`.
/// Integers only (no floats in signed data).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quorum {
    pub numerator: u8,
    pub denominator: u8,
}

impl Quorum {
    /// Two-thirds, the KP's own rule for decisions by consensus failing.
    pub const TWO_THIRDS: Quorum = Quorum {
        numerator: 2,
        denominator: 3,
    };

    /// How many approvals out of `eligible` voters adopt a decision
    /// (rounded up, and at least one).
    pub fn needed(self, eligible: usize) -> usize {
        let n = self.numerator as usize * eligible;
        let d = self.denominator.max(1) as usize;
        n.div_ceil(d).max(1)
    }

    pub fn validate(self) -> Result<(), String> {
        if self.numerator == 0 || self.denominator == 0 || self.numerator > self.denominator {
            return Err(format!(
                "quorum {}/{}: expected a fraction with 0 < numerator <= denominator",
                self.numerator, self.denominator
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Quorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.numerator, self.denominator)
    }
}

/// Who a libp2p peer id belongs to.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeMember {
    Participant(CountryCode),
    Observer(ObserverId),
}

impl Charter {
    /// An empty charter to fill in.
    pub fn new(network: &str, created_on: Date, chair: CountryCode) -> Charter {
        Charter {
            version: FORMAT_VERSION,
            network: network.to_owned(),
            created_on,
            chair,
            quorum: Quorum::TWO_THIRDS,
            participants: Vec::new(),
            observers: Vec::new(),
        }
    }

    /// The canonical bytes of the charter.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes and validates canonical charter bytes.
    pub fn decode(bytes: &[u8]) -> Result<Charter, DecodeError> {
        let c: Charter = codec::decode(bytes, MAX_CHARTER_BYTES)?;
        c.validate().map_err(DecodeError::Malformed)?;
        Ok(c)
    }

    /// The network id: `SHA-256("kp-ledger:charter\0" || canonical charter)`.
    pub fn network_id(&self) -> Digest {
        crate::hash::sha256(&[CHARTER_CONTEXT, &self.encode()])
    }

    /// Parses a charter from its JSON form (as written by `kpl charter`) and
    /// validates it.
    pub fn from_json(text: &str) -> Result<Charter, String> {
        if text.len() > 4 * MAX_CHARTER_BYTES {
            return Err(format!(
                "charter file is larger than {} bytes",
                4 * MAX_CHARTER_BYTES
            ));
        }
        let c: Charter = serde_json::from_str(text).map_err(|e| format!("charter JSON: {e}"))?;
        c.validate()?;
        Ok(c)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("charter serialises to JSON")
    }

    /// Reads and validates a charter JSON file, bounded in size.
    pub fn load(path: &Path) -> Result<Charter, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.len() > 4 * MAX_CHARTER_BYTES as u64 {
            return Err(format!(
                "{}: larger than {} bytes",
                path.display(),
                4 * MAX_CHARTER_BYTES
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Charter::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Checks every rule a charter must follow.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != FORMAT_VERSION {
            return Err(format!(
                "charter version {} is not supported (expected {FORMAT_VERSION})",
                self.version
            ));
        }
        let n = &self.network;
        if n.is_empty()
            || n.len() > 64
            || !n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-./".contains(&b))
        {
            return Err(format!(
                "network name `{n}`: 1 to 64 characters of a-z, 0-9, '.', '-' and '/'"
            ));
        }
        if self.participants.is_empty() {
            return Err("a charter needs at least one participant".into());
        }
        if !self.participants.windows(2).all(|w| w[0].code < w[1].code) {
            return Err("participants must be sorted by code, each code once".into());
        }
        if !self.observers.windows(2).all(|w| w[0].id < w[1].id) {
            return Err("observers must be sorted by id, each id once".into());
        }
        if self.participant(self.chair).is_none() {
            return Err(format!("the chair {} is not a participant", self.chair));
        }
        self.quorum.validate()?;
        let mut keys = BTreeSet::new();
        let mut nodes = BTreeSet::new();
        for p in &self.participants {
            p.validate()?;
            for a in &p.authorities {
                if !keys.insert(a.key) {
                    return Err(format!(
                        "key of {}/{} is used twice in the charter",
                        p.code, a.name
                    ));
                }
            }
            for node in &p.nodes {
                if !nodes.insert(node.clone()) {
                    return Err(format!("node {node} is listed twice in the charter"));
                }
            }
        }
        for o in &self.observers {
            o.validate()?;
            if !keys.insert(o.key) {
                return Err(format!(
                    "key of observer {} is used twice in the charter",
                    o.id
                ));
            }
            for node in &o.nodes {
                if !nodes.insert(node.clone()) {
                    return Err(format!("node {node} is listed twice in the charter"));
                }
            }
        }
        Ok(())
    }

    pub fn participant(&self, code: CountryCode) -> Option<&ParticipantEntry> {
        self.participants
            .binary_search_by(|p| p.code.cmp(&code))
            .ok()
            .map(|i| &self.participants[i])
    }

    pub fn is_participant(&self, code: CountryCode) -> bool {
        self.participant(code).is_some()
    }

    /// The genesis entry of an author.
    pub fn authority(&self, author: &AuthorId) -> Option<&AuthorityEntry> {
        self.participant(author.participant)?
            .authorities
            .iter()
            .find(|a| a.name == author.authority)
    }

    /// Every author of the network, in order.
    pub fn authors(&self) -> impl Iterator<Item = (AuthorId, &AuthorityEntry)> {
        self.participants.iter().flat_map(|p| {
            p.authorities.iter().map(move |a| {
                (
                    AuthorId {
                        participant: p.code,
                        authority: a.name.clone(),
                    },
                    a,
                )
            })
        })
    }

    pub fn observer(&self, id: &ObserverId) -> Option<&ObserverEntry> {
        self.observers.iter().find(|o| &o.id == id)
    }

    /// Who a libp2p peer id belongs to, if anyone.
    pub fn node_member(&self, peer_id: &str) -> Option<NodeMember> {
        for p in &self.participants {
            if p.nodes.iter().any(|n| n == peer_id) {
                return Some(NodeMember::Participant(p.code));
            }
        }
        for o in &self.observers {
            if o.nodes.iter().any(|n| n == peer_id) {
                return Some(NodeMember::Observer(o.id.clone()));
            }
        }
        None
    }

    /// Adds a participant, keeping the list sorted; refuses a duplicate.
    pub fn add_participant(&mut self, p: ParticipantEntry) -> Result<(), String> {
        match self.participants.binary_search_by(|x| x.code.cmp(&p.code)) {
            Ok(_) => Err(format!("participant {} is already in the charter", p.code)),
            Err(i) => {
                self.participants.insert(i, p);
                Ok(())
            }
        }
    }

    /// Adds an observer, keeping the list sorted; refuses a duplicate.
    pub fn add_observer(&mut self, o: ObserverEntry) -> Result<(), String> {
        match self.observers.binary_search_by(|x| x.id.cmp(&o.id)) {
            Ok(_) => Err(format!("observer {} is already in the charter", o.id)),
            Err(i) => {
                self.observers.insert(i, o);
                Ok(())
            }
        }
    }
}

impl ParticipantEntry {
    pub fn authority(&self, name: &AuthorityName) -> Option<&AuthorityEntry> {
        self.authorities.iter().find(|a| &a.name == name)
    }

    /// The rules of one participant entry on its own (charter and admission
    /// decisions alike).
    pub fn validate(&self) -> Result<(), String> {
        let p = self;
        check_title("participant name", &p.name)?;
        if p.authorities.is_empty() {
            return Err(format!("participant {} has no authority", p.code));
        }
        if p.authorities.len() > MAX_AUTHORITIES {
            return Err(format!(
                "participant {}: more than {MAX_AUTHORITIES} authorities",
                p.code
            ));
        }
        if !p.authorities.windows(2).all(|w| w[0].name < w[1].name) {
            return Err(format!(
                "participant {}: authorities must be sorted by name, each name once",
                p.code
            ));
        }
        for a in &p.authorities {
            a.validate(&format!("{}/{}", p.code, a.name))?;
        }
        check_nodes(&p.nodes)
    }
}

impl AuthorityEntry {
    /// The rules of one authority entry: title, a valid strong key, a role.
    pub fn validate(&self, who: &str) -> Result<(), String> {
        check_title("authority title", &self.title)?;
        check_key(who, &self.key)?;
        if self.roles == Roles::NONE {
            return Err(format!("authority {who} has no role"));
        }
        Ok(())
    }
}

impl ObserverEntry {
    pub fn validate(&self) -> Result<(), String> {
        check_title("observer name", &self.name)?;
        check_key(&format!("observer {}", self.id), &self.key)?;
        check_nodes(&self.nodes)
    }
}

/// Most authorities one participant may have.
pub const MAX_AUTHORITIES: usize = 32;
/// Most nodes one member may list.
pub const MAX_NODES: usize = 32;

fn check_nodes(nodes: &[String]) -> Result<(), String> {
    if nodes.len() > MAX_NODES {
        return Err(format!("more than {MAX_NODES} nodes listed"));
    }
    for n in nodes {
        check_peer_id(n)?;
    }
    let set: BTreeSet<&String> = nodes.iter().collect();
    if set.len() != nodes.len() {
        return Err("a node is listed twice".into());
    }
    Ok(())
}

fn check_title(field: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_TITLE || s.chars().any(char::is_control) {
        return Err(format!(
            "{field} `{s}`: 1 to {MAX_TITLE} bytes with no control characters"
        ));
    }
    Ok(())
}

fn check_key(who: &str, key: &PublicKeyBytes) -> Result<(), String> {
    match VerifyingKey::from_bytes(key.as_bytes()) {
        Ok(k) if !k.is_weak() => Ok(()),
        Ok(_) => Err(format!(
            "{who}: key {key} is a weak (small-order) Ed25519 key"
        )),
        Err(_) => Err(format!(
            "{who}: key {key} is not a valid Ed25519 public key"
        )),
    }
}

pub fn check_peer_id(s: &str) -> Result<(), String> {
    const B58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    if s.is_empty() || s.len() > MAX_PEER_ID || !s.bytes().all(|b| B58.contains(&b)) {
        return Err(format!(
            "`{s}` is not a libp2p peer id (base58, at most {MAX_PEER_ID} characters)"
        ));
    }
    Ok(())
}
