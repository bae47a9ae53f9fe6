//! Governance: membership decisions as signed events, and the membership
//! timeline every node derives from them.
//!
//! A decision is a [`Proposal`] in the feed of the Chair's governance
//! authority (`GovernanceProposed`), approved by `GovernanceApproved` events
//! in the feeds of other participants' governance authorities. It takes
//! effect on its `effective_on` date once a quorum of the participants in
//! good standing (the charter's [`Quorum`](crate::charter::Quorum)) has
//! approved it.
//!
//! # Order independence
//!
//! The timeline is a pure function of the *set* of governance events a
//! replica holds ([`timeline::Timeline::build`]): proposals are folded in
//! the order `(effective_on, proposal id)`, and each decision is judged
//! only against the membership the fold has reached at that point. Arrival
//! order never enters, so an approval that arrives before its proposal, or
//! after a later decision, gives the same timeline on every node. See
//! docs/FORMAT.md §15 for the rules as a specification.

use serde::{Deserialize, Serialize};

use crate::bytes::PublicKeyBytes;
use crate::charter::{check_peer_id, AuthorityEntry, NodeMember, ObserverEntry, ParticipantEntry};
use crate::error::BodyError;
use crate::model::{AuthorId, CountryCode, Date, ObserverId};

pub mod timeline;

pub use timeline::{
    ApprovalRecord, DecisionRecord, DecisionStatus, GovernanceLog, MemberRecord, Membership,
    MembershipError, Standing, SuspectKey, Timeline,
};

/// Longest zone-of-origin name, in bytes.
pub const MAX_ZONE_LEN: usize = 128;
/// Most zones a partial suspension may allow.
pub const MAX_ZONES: usize = 64;
/// Longest free-text reference of a proposal (the plenary decision, the
/// administrative decision number), in bytes.
pub const MAX_REFERENCE_LEN: usize = 512;

/// A proposed membership decision.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Proposal {
    pub decision: Decision,
    /// The day from which the decision applies, once adopted. Not before the
    /// day of the proposal event itself.
    pub effective_on: Date,
    /// What the decision rests on (e.g. "Administrative Decision 2013/05").
    pub reference: String,
}

/// What a decision changes. New kinds are only ever appended (the variant
/// index is part of the signed bytes).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// 0: admit (or readmit after expulsion) a participant with its
    /// authorities, keys and nodes.
    AdmitParticipant(ParticipantEntry),
    /// 1: admit an observer (read-only node, no vote).
    AdmitObserver(ObserverEntry),
    /// 2: suspend a participant. With no zones it may not trade at all;
    /// with zones it may still export rough diamonds mined in those zones of
    /// origin (e.g. CAR's compliant zones). A later suspension of a
    /// suspended participant replaces its list of zones.
    Suspend {
        participant: CountryCode,
        /// Sorted, each once.
        exporting_zones: Vec<String>,
    },
    /// 3: lift a suspension.
    Reinstate { participant: CountryCode },
    /// 4: expel a participant: its nodes are cut off and events its
    /// authorities sign from the effective date are refused.
    Expel { participant: CountryCode },
    /// 5: add an authority to a participant (a new feed).
    AddAuthority {
        participant: CountryCode,
        authority: AuthorityEntry,
    },
    /// 6: remove an authority: events it signs from the effective date are
    /// refused (its feed is kept).
    RemoveAuthority { author: AuthorId },
    /// 7: add a node (libp2p peer id) of a participant or observer.
    AddNode { member: NodeMember, peer_id: String },
    /// 8: remove a node.
    RemoveNode { peer_id: String },
    /// 9: hand the Chair to another participant.
    ChangeChair { participant: CountryCode },
    /// 10: report an authority's key compromised: the events of `author`
    /// from `from_seq` on that were signed with `key` are suspect. Nothing is
    /// deleted; the audit lists them.
    KeyCompromised {
        author: AuthorId,
        key: PublicKeyBytes,
        from_seq: u64,
    },
    /// 11: remove an observer and its nodes.
    RemoveObserver { observer: ObserverId },
}

impl Decision {
    /// A stable snake_case word for the kind of decision.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::AdmitParticipant(_) => "admit_participant",
            Decision::AdmitObserver(_) => "admit_observer",
            Decision::Suspend { .. } => "suspend",
            Decision::Reinstate { .. } => "reinstate",
            Decision::Expel { .. } => "expel",
            Decision::AddAuthority { .. } => "add_authority",
            Decision::RemoveAuthority { .. } => "remove_authority",
            Decision::AddNode { .. } => "add_node",
            Decision::RemoveNode { .. } => "remove_node",
            Decision::ChangeChair { .. } => "change_chair",
            Decision::KeyCompromised { .. } => "key_compromised",
            Decision::RemoveObserver { .. } => "remove_observer",
        }
    }

    /// One line saying what the decision does, for people.
    pub fn summary(&self) -> String {
        match self {
            Decision::AdmitParticipant(p) => format!(
                "admit participant {} ({}) with {} authorities and {} nodes",
                p.code,
                p.name,
                p.authorities.len(),
                p.nodes.len()
            ),
            Decision::AdmitObserver(o) => format!("admit observer {} ({})", o.id, o.name),
            Decision::Suspend {
                participant,
                exporting_zones,
            } if exporting_zones.is_empty() => format!("suspend {participant} wholly"),
            Decision::Suspend {
                participant,
                exporting_zones,
            } => format!(
                "suspend {participant} except exports from {}",
                exporting_zones.join(", ")
            ),
            Decision::Reinstate { participant } => format!("reinstate {participant}"),
            Decision::Expel { participant } => format!("expel {participant}"),
            Decision::AddAuthority {
                participant,
                authority,
            } => format!("add authority {participant}/{}", authority.name),
            Decision::RemoveAuthority { author } => format!("remove authority {author}"),
            Decision::AddNode { member, peer_id } => {
                format!("add node {peer_id} of {}", member_name(member))
            }
            Decision::RemoveNode { peer_id } => format!("remove node {peer_id}"),
            Decision::ChangeChair { participant } => format!("hand the Chair to {participant}"),
            Decision::KeyCompromised {
                author,
                key,
                from_seq,
            } => format!("key {key} of {author} compromised from seq {from_seq}"),
            Decision::RemoveObserver { observer } => format!("remove observer {observer}"),
        }
    }
}

pub(crate) fn member_name(m: &NodeMember) -> String {
    match m {
        NodeMember::Participant(c) => c.to_string(),
        NodeMember::Observer(o) => format!("observer {o}"),
    }
}

fn bad(msg: impl Into<String>) -> BodyError {
    BodyError::Governance(msg.into())
}

/// The body rules of a proposal, on its own (no other event consulted).
pub fn validate_proposal(p: &Proposal) -> Result<(), BodyError> {
    if p.reference.is_empty() {
        return Err(BodyError::Empty { field: "reference" });
    }
    if p.reference.len() > MAX_REFERENCE_LEN {
        return Err(BodyError::TooLong {
            field: "reference",
            len: p.reference.len(),
            max: MAX_REFERENCE_LEN,
        });
    }
    if p.reference.chars().any(char::is_control) {
        return Err(BodyError::ControlCharacter { field: "reference" });
    }
    let lo = Date::from_ymd(2000, 1, 1).map_err(bad)?;
    if p.effective_on < lo {
        return Err(BodyError::DateOutOfRange {
            field: "effective_on",
            date: p.effective_on.to_string(),
        });
    }
    match &p.decision {
        Decision::AdmitParticipant(entry) => entry.validate().map_err(bad),
        Decision::AdmitObserver(entry) => entry.validate().map_err(bad),
        Decision::Suspend {
            exporting_zones, ..
        } => {
            if exporting_zones.len() > MAX_ZONES {
                return Err(BodyError::TooMany {
                    field: "exporting_zones",
                    len: exporting_zones.len(),
                    max: MAX_ZONES,
                });
            }
            for z in exporting_zones {
                if z.is_empty() || z.len() > MAX_ZONE_LEN || z.chars().any(char::is_control) {
                    return Err(bad(format!(
                        "zone `{z}`: 1 to {MAX_ZONE_LEN} bytes with no control characters"
                    )));
                }
            }
            if !exporting_zones.windows(2).all(|w| w[0] < w[1]) {
                return Err(bad("exporting_zones must be sorted, each zone once"));
            }
            Ok(())
        }
        Decision::AddAuthority {
            participant,
            authority,
        } => authority
            .validate(&format!("{participant}/{}", authority.name))
            .map_err(bad),
        Decision::AddNode { peer_id, .. } | Decision::RemoveNode { peer_id } => {
            check_peer_id(peer_id).map_err(bad)
        }
        Decision::KeyCompromised { from_seq, .. } => {
            if *from_seq == 0 {
                Err(BodyError::Zero { field: "from_seq" })
            } else {
                Ok(())
            }
        }
        Decision::Reinstate { .. }
        | Decision::Expel { .. }
        | Decision::RemoveAuthority { .. }
        | Decision::ChangeChair { .. }
        | Decision::RemoveObserver { .. } => Ok(()),
    }
}

/// The body rules of an approval's note.
pub fn validate_approval_note(note: &str) -> Result<(), BodyError> {
    if note.len() > MAX_REFERENCE_LEN {
        return Err(BodyError::TooLong {
            field: "note",
            len: note.len(),
            max: MAX_REFERENCE_LEN,
        });
    }
    if note.chars().any(char::is_control) {
        return Err(BodyError::ControlCharacter { field: "note" });
    }
    Ok(())
}
