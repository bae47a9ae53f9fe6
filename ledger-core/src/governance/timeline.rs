//! The membership timeline: a pure function of the charter and the set of
//! governance events.
//!
//! Rules (docs/FORMAT.md §15 states them as the specification):
//!
//! 1. Start from the charter: its participants are members in good standing
//!    since the beginning of time, its Chair chairs.
//! 2. Fold the proposals in the order `(effective_on, proposal id)`. For
//!    each, let *S* be the membership the fold has reached (every adopted
//!    decision before it in that order applied).
//! 3. The proposal is **refused** unless its `effective_on` is after the
//!    day of the proposal event, and its author is an authority (not
//!    removed) of the participant that is Chair on that day, in the
//!    membership as of that day.
//! 4. The *eligible* voters are the participants in good standing in *S*
//!    (members, not suspended, not expelled). A participant approves by a
//!    `GovernanceApproved` event naming the proposal's id, signed *before*
//!    the effective date by an authority that may sign on the approval's
//!    day; the proposer's participant approves by proposing. (Every day
//!    before the effective date is already settled when the decision is
//!    judged, which is what makes the result independent of what any store
//!    refused or accepted before it knew a decision.) The decision is **adopted** when the number of eligible
//!    participants approving reaches the charter's quorum of the eligible
//!    count (rounded up, at least one); otherwise it is **pending**.
//! 5. An adopted decision is applied to *S*; it takes effect on
//!    `effective_on`. If it cannot apply (expel someone already expelled,
//!    reinstate someone not suspended...), it has **no effect**, with the
//!    reason.
//!
//! 6. Governance events whose author could not sign on their day (what a
//!    store refuses once it knows) are left out of the listing.
//!
//! Nothing here depends on the order in which events arrived: two replicas
//! holding the same events derive the same timeline, byte for byte; and two
//! replicas that differ only by events one of them refused as signed by a
//! non-member derive the same timeline too.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{member_name, Decision, Proposal};
use crate::analysis::EventRef;
use crate::bytes::PublicKeyBytes;
use crate::charter::{AuthorityEntry, Charter, NodeMember, ObserverEntry, Quorum};
use crate::event::{EventId, SignedEvent};
use crate::model::{AuthorId, AuthorityName, CountryCode, Date, EventBody, ObserverId};

/// A participant's standing.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "standing")]
pub enum Standing {
    /// In good standing: trades, votes.
    Member,
    /// Suspended: no vote; may export only rough diamonds mined in
    /// `exporting_zones` (none: no trade at all).
    Suspended { exporting_zones: Vec<String> },
    /// Expelled: not a participant; its authorities may not sign.
    Expelled,
}

/// One participant in a membership.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MemberRecord {
    pub code: CountryCode,
    pub name: String,
    #[serde(flatten)]
    pub standing: Standing,
    /// Current authorities (removed ones are gone).
    pub authorities: BTreeMap<AuthorityName, AuthorityEntry>,
    /// libp2p peer ids of its nodes.
    pub nodes: BTreeSet<String>,
    /// Day of its (latest) admission; `None` for a charter participant.
    pub admitted_on: Option<Date>,
}

impl MemberRecord {
    pub fn in_good_standing(&self) -> bool {
        self.standing == Standing::Member
    }
}

/// The membership in force on some day.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Membership {
    pub chair: CountryCode,
    /// Every participant ever admitted (expelled ones too, marked so).
    pub participants: BTreeMap<CountryCode, MemberRecord>,
    pub observers: BTreeMap<ObserverId, ObserverEntry>,
}

/// Why an author may not sign on some day.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MembershipError {
    NotAParticipant(CountryCode),
    Expelled(CountryCode),
    NotAnAuthority(AuthorId),
}

impl std::fmt::Display for MembershipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MembershipError::NotAParticipant(c) => write!(f, "{c} is not a KP participant then"),
            MembershipError::Expelled(c) => write!(f, "{c} is expelled then"),
            MembershipError::NotAnAuthority(a) => {
                write!(f, "{a} is not an authority of {} then", a.participant)
            }
        }
    }
}

impl Membership {
    fn from_charter(charter: &Charter) -> Membership {
        let participants = charter
            .participants
            .iter()
            .map(|p| {
                (
                    p.code,
                    MemberRecord {
                        code: p.code,
                        name: p.name.clone(),
                        standing: Standing::Member,
                        authorities: p
                            .authorities
                            .iter()
                            .map(|a| (a.name.clone(), a.clone()))
                            .collect(),
                        nodes: p.nodes.iter().cloned().collect(),
                        admitted_on: None,
                    },
                )
            })
            .collect();
        let observers = charter
            .observers
            .iter()
            .map(|o| (o.id.clone(), o.clone()))
            .collect();
        Membership {
            chair: charter.chair,
            participants,
            observers,
        }
    }

    pub fn participant(&self, code: CountryCode) -> Option<&MemberRecord> {
        self.participants.get(&code)
    }

    /// A participant that is not expelled (in good standing or suspended).
    pub fn is_participant(&self, code: CountryCode) -> bool {
        self.participants
            .get(&code)
            .is_some_and(|p| p.standing != Standing::Expelled)
    }

    /// The participants in good standing, in code order.
    pub fn good_standing(&self) -> Vec<CountryCode> {
        self.participants
            .values()
            .filter(|p| p.in_good_standing())
            .map(|p| p.code)
            .collect()
    }

    /// Whether `author` may sign events under this membership.
    pub fn check_author(&self, author: &AuthorId) -> Result<(), MembershipError> {
        let p = self
            .participants
            .get(&author.participant)
            .ok_or(MembershipError::NotAParticipant(author.participant))?;
        if p.standing == Standing::Expelled {
            return Err(MembershipError::Expelled(author.participant));
        }
        if !p.authorities.contains_key(&author.authority) {
            return Err(MembershipError::NotAnAuthority(author.clone()));
        }
        Ok(())
    }

    /// Who runs a node, if it is a node of a participant that is not
    /// expelled or of an observer.
    pub fn node_owner(&self, peer_id: &str) -> Option<NodeMember> {
        for p in self.participants.values() {
            if p.standing != Standing::Expelled && p.nodes.contains(peer_id) {
                return Some(NodeMember::Participant(p.code));
            }
        }
        self.observers
            .values()
            .find(|o| o.nodes.iter().any(|n| n == peer_id))
            .map(|o| NodeMember::Observer(o.id.clone()))
    }

    /// Every node allowed on the network, with its owner.
    pub fn allowed_nodes(&self) -> BTreeMap<String, NodeMember> {
        let mut out = BTreeMap::new();
        for p in self.participants.values() {
            if p.standing != Standing::Expelled {
                for n in &p.nodes {
                    out.insert(n.clone(), NodeMember::Participant(p.code));
                }
            }
        }
        for o in self.observers.values() {
            for n in &o.nodes {
                out.insert(n.clone(), NodeMember::Observer(o.id.clone()));
            }
        }
        out
    }

    fn node_in_use(&self, peer_id: &str) -> bool {
        self.participants
            .values()
            .any(|p| p.nodes.contains(peer_id))
            || self
                .observers
                .values()
                .any(|o| o.nodes.iter().any(|n| n == peer_id))
    }

    /// Whether a current authority (of a participant not expelled) or an
    /// observer holds `key`; an expelled participant's keys may come back
    /// with its readmission.
    fn key_in_use(&self, key: &PublicKeyBytes) -> bool {
        self.participants
            .values()
            .filter(|p| p.standing != Standing::Expelled)
            .any(|p| p.authorities.values().any(|a| &a.key == key))
            || self.observers.values().any(|o| &o.key == key)
    }
}

/// One governance event as the log keeps it.
#[derive(Clone, Debug)]
enum GovEvent {
    Proposal { at: EventRef, proposal: Proposal },
    Approval { at: EventRef, proposal: EventId },
}

/// The set of governance events a replica holds (proposals and approvals),
/// keyed by event id. Insertion order does not matter.
#[derive(Clone, Debug, Default)]
pub struct GovernanceLog {
    events: BTreeMap<EventId, GovEvent>,
}

impl GovernanceLog {
    pub fn new() -> GovernanceLog {
        GovernanceLog::default()
    }

    /// Adds `event` if it is a governance event; returns whether it was a
    /// new one.
    pub fn insert(&mut self, id: EventId, event: &SignedEvent) -> bool {
        let g = match &event.content.body {
            EventBody::GovernanceProposed(p) => GovEvent::Proposal {
                at: EventRef::new(id, event),
                proposal: p.clone(),
            },
            EventBody::GovernanceApproved { proposal, .. } => GovEvent::Approval {
                at: EventRef::new(id, event),
                proposal: *proposal,
            },
            _ => return false,
        };
        self.events.insert(id, g).is_none()
    }

    /// Removes an event (used when a staged write is rolled back).
    pub fn remove(&mut self, id: &EventId) {
        self.events.remove(id);
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether both hold exactly the same governance events.
    pub fn same_events(&self, other: &GovernanceLog) -> bool {
        self.events.len() == other.events.len() && self.events.keys().eq(other.events.keys())
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// One approval of a proposal.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub event: EventRef,
    /// Whether it counted towards the quorum (and if not, why).
    pub counted: bool,
    pub reason: Option<String>,
}

/// What became of a proposal.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum DecisionStatus {
    /// Quorum reached; in effect from `effective_on`.
    Adopted,
    /// Waiting for approvals.
    Pending,
    /// Not a valid proposal (not the Chair, effective before proposed).
    Refused { reason: String },
    /// Adopted but could not apply to the membership of the time.
    NoEffect { reason: String },
}

impl DecisionStatus {
    pub fn word(&self) -> &'static str {
        match self {
            DecisionStatus::Adopted => "adopted",
            DecisionStatus::Pending => "pending",
            DecisionStatus::Refused { .. } => "refused",
            DecisionStatus::NoEffect { .. } => "no_effect",
        }
    }
}

/// A proposal with its approvals and verdict.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub proposal: EventRef,
    pub decision: Decision,
    pub summary: String,
    pub effective_on: Date,
    pub reference: String,
    /// Participants in good standing when it was judged.
    pub eligible: Vec<CountryCode>,
    /// Approvals needed for the quorum.
    pub needed: usize,
    /// Eligible participants that approved (the proposer's included).
    pub approved_by: Vec<CountryCode>,
    pub approvals: Vec<ApprovalRecord>,
    #[serde(flatten)]
    pub status: DecisionStatus,
}

/// A key reported compromised by an adopted decision.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SuspectKey {
    pub author: AuthorId,
    pub key: PublicKeyBytes,
    pub from_seq: u64,
    /// The proposal that reported it.
    pub decision: EventId,
    pub effective_on: Date,
}

/// The membership of the network over time.
#[derive(Clone, Debug)]
pub struct Timeline {
    quorum: Quorum,
    /// `(from, membership)` in date order; the first is the charter's, from
    /// the beginning of time (`None`).
    snapshots: Vec<(Option<Date>, Membership)>,
    decisions: Vec<DecisionRecord>,
    /// Approvals of proposals this replica does not hold.
    orphans: Vec<(EventId, EventRef)>,
    /// The first entry of every author ever admitted: the genesis of its feed.
    authors: BTreeMap<AuthorId, AuthorityEntry>,
    suspect_keys: Vec<SuspectKey>,
}

impl Timeline {
    /// The timeline of a network with no governance events yet.
    pub fn genesis(charter: &Charter) -> Timeline {
        Timeline::build(charter, &GovernanceLog::new())
    }

    /// Derives the timeline from the charter and a set of governance events.
    pub fn build(charter: &Charter, log: &GovernanceLog) -> Timeline {
        let mut authors: BTreeMap<AuthorId, AuthorityEntry> =
            charter.authors().map(|(a, e)| (a, e.clone())).collect();
        let mut proposals: Vec<(&EventRef, &Proposal)> = Vec::new();
        let mut approvals: BTreeMap<EventId, Vec<&EventRef>> = BTreeMap::new();
        for g in log.events.values() {
            match g {
                GovEvent::Proposal { at, proposal } => proposals.push((at, proposal)),
                GovEvent::Approval { at, proposal } => {
                    approvals.entry(*proposal).or_default().push(at)
                }
            }
        }
        proposals.sort_by(|a, b| (a.1.effective_on, &a.0.id).cmp(&(b.1.effective_on, &b.0.id)));
        let orphans = approvals
            .iter()
            .filter(|(p, _)| !log.events.contains_key(*p))
            .flat_map(|(p, v)| v.iter().map(|a| (*p, (*a).clone())))
            .collect();

        let mut t = Timeline {
            quorum: charter.quorum,
            snapshots: vec![(None, Membership::from_charter(charter))],
            decisions: Vec::new(),
            orphans,
            authors: BTreeMap::new(),
            suspect_keys: Vec::new(),
        };
        for (at, proposal) in proposals {
            let mut approvals_of: Vec<&EventRef> =
                approvals.get(&at.id).cloned().unwrap_or_default();
            approvals_of.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
            let record = t.judge(at, proposal, &approvals_of, &mut authors);
            t.decisions.push(record);
        }
        t.authors = authors;
        // Governance events whose author could not sign on their day are
        // what a store refuses once it knows; one that a store took before
        // it knew is left out here too, so that every store lists the same
        // decisions and approvals. (None of them counted in the fold: an
        // approval counts only if dated before the decision's effective
        // date, and the membership of such a day is final when the decision
        // is judged.)
        let may_sign = |t: &Timeline, e: &EventRef| {
            t.at(Date::from_unix_ms(e.timestamp_ms))
                .check_author(&e.author)
                .is_ok()
        };
        let mut decisions = std::mem::take(&mut t.decisions);
        decisions.retain(|d| may_sign(&t, &d.proposal));
        for d in &mut decisions {
            d.approvals.retain(|a| may_sign(&t, &a.event));
        }
        t.decisions = decisions;
        let mut orphans = std::mem::take(&mut t.orphans);
        orphans.retain(|(_, e)| may_sign(&t, e));
        t.orphans = orphans;
        t
    }

    fn judge(
        &mut self,
        at: &EventRef,
        p: &Proposal,
        approvals: &[&EventRef],
        authors: &mut BTreeMap<AuthorId, AuthorityEntry>,
    ) -> DecisionRecord {
        let proposed_on = Date::from_unix_ms(at.timestamp_ms);
        let eligible = self.current().good_standing();
        let needed = self.quorum.needed(eligible.len());
        let mut record = DecisionRecord {
            proposal: at.clone(),
            decision: p.decision.clone(),
            summary: p.decision.summary(),
            effective_on: p.effective_on,
            reference: p.reference.clone(),
            eligible: eligible.clone(),
            needed,
            approved_by: Vec::new(),
            approvals: Vec::new(),
            status: DecisionStatus::Pending,
        };
        let then = self.at(proposed_on);
        let refusal = if p.effective_on <= proposed_on {
            Some(format!(
                "effective on {} is not after the day of the proposal, {proposed_on}",
                p.effective_on
            ))
        } else if at.author.participant != then.chair {
            Some(format!(
                "proposed by {} but the Chair on {proposed_on} is {}",
                at.author.participant, then.chair
            ))
        } else if let Err(e) = then.check_author(&at.author) {
            Some(format!("the proposer may not sign: {e}"))
        } else {
            None
        };
        // Approvals are recorded whatever the verdict, so they can be shown.
        let mut approved: BTreeSet<CountryCode> = BTreeSet::new();
        if refusal.is_none() && eligible.contains(&at.author.participant) {
            approved.insert(at.author.participant);
        }
        for a in approvals {
            let who = a.author.participant;
            let signed_on = Date::from_unix_ms(a.timestamp_ms);
            let reason = if signed_on >= p.effective_on {
                Some(format!(
                    "signed on {signed_on}, not before the effective date {}",
                    p.effective_on
                ))
            } else if let Err(e) = self.at(signed_on).check_author(&a.author) {
                Some(format!("{} may not sign on {signed_on}: {e}", a.author))
            } else if !eligible.contains(&who) {
                Some(format!("{who} is not a participant in good standing"))
            } else if !approved.insert(who) {
                Some(format!("{who} already approved"))
            } else {
                None
            };
            record.approvals.push(ApprovalRecord {
                event: (*a).clone(),
                counted: reason.is_none(),
                reason,
            });
        }
        if let Some(reason) = refusal {
            record.status = DecisionStatus::Refused { reason };
            return record;
        }
        record.approved_by = approved.iter().copied().collect();
        if approved.len() < needed {
            return record;
        }
        // Copied only for a decision to apply (refused and pending proposals,
        // however many, cost no copy of the membership).
        let mut next = self.current().clone();
        match apply(
            &mut next,
            &p.decision,
            p.effective_on,
            authors,
            &mut self.suspect_keys,
            at.id,
        ) {
            Ok(()) => {
                match self.snapshots.last_mut() {
                    Some((Some(d), m)) if *d == p.effective_on => *m = next,
                    _ => self.snapshots.push((Some(p.effective_on), next)),
                }
                record.status = DecisionStatus::Adopted;
            }
            Err(reason) => record.status = DecisionStatus::NoEffect { reason },
        }
        record
    }

    /// What the timeline would make of `proposal` signed by `proposer` on
    /// `proposed_on` and adopted: `Err` with the reason when it would be
    /// refused (effective too early, not the Chair, a proposer that may not
    /// sign) or could have no effect on the current membership (suspending
    /// a non-participant, admitting one twice). Nothing is changed.
    pub fn preview_proposal(
        &self,
        proposer: &AuthorId,
        proposal: &Proposal,
        proposed_on: Date,
    ) -> Result<(), String> {
        if proposal.effective_on <= proposed_on {
            return Err(format!(
                "effective on {} is not after the day of the proposal, {proposed_on}",
                proposal.effective_on
            ));
        }
        let then = self.at(proposed_on);
        if proposer.participant != then.chair {
            return Err(format!(
                "only the Chair proposes, and the Chair on {proposed_on} is {}, not {}",
                then.chair, proposer.participant
            ));
        }
        then.check_author(proposer)
            .map_err(|e| format!("the proposer may not sign: {e}"))?;
        let mut next = self.current().clone();
        let mut authors = self.authors.clone();
        let mut suspects = self.suspect_keys.clone();
        apply(
            &mut next,
            &proposal.decision,
            proposal.effective_on,
            &mut authors,
            &mut suspects,
            EventId::ZERO,
        )
        .map_err(|reason| format!("it could have no effect: {reason}"))
    }

    fn current(&self) -> &Membership {
        &self.snapshots[self.snapshots.len() - 1].1
    }

    /// The membership in force on `date`.
    pub fn at(&self, date: Date) -> &Membership {
        let i = self
            .snapshots
            .partition_point(|(from, _)| from.is_none_or(|d| d <= date));
        &self.snapshots[i.max(1) - 1].1
    }

    /// The membership after every adopted decision, whatever its date.
    pub fn latest(&self) -> &Membership {
        self.current()
    }

    /// The days on which the membership changed, with the membership from
    /// that day (the first entry, `None`, is the charter's).
    pub fn periods(&self) -> impl Iterator<Item = (Option<Date>, &Membership)> {
        self.snapshots.iter().map(|(d, m)| (*d, m))
    }

    /// Every proposal with its verdict, in the fold's order.
    pub fn decisions(&self) -> &[DecisionRecord] {
        &self.decisions
    }

    /// A proposal by id.
    pub fn decision(&self, id: &EventId) -> Option<&DecisionRecord> {
        self.decisions.iter().find(|d| &d.proposal.id == id)
    }

    /// Approvals naming a proposal this replica does not hold (yet).
    pub fn orphan_approvals(&self) -> &[(EventId, EventRef)] {
        &self.orphans
    }

    /// The genesis entry of `author`'s feed, if it was ever admitted.
    pub fn genesis_entry(&self, author: &AuthorId) -> Option<&AuthorityEntry> {
        self.authors.get(author)
    }

    /// Every author ever admitted, in order, with its genesis entry.
    pub fn authors(&self) -> impl Iterator<Item = (&AuthorId, &AuthorityEntry)> {
        self.authors.iter()
    }

    /// Keys reported compromised.
    pub fn suspect_keys(&self) -> &[SuspectKey] {
        &self.suspect_keys
    }

    /// Whether `author` may sign an event dated `date`.
    pub fn check_author(&self, author: &AuthorId, date: Date) -> Result<(), MembershipError> {
        self.at(date).check_author(author)
    }

    pub fn quorum(&self) -> Quorum {
        self.quorum
    }
}

/// Applies an adopted decision to a membership.
fn apply(
    m: &mut Membership,
    d: &Decision,
    on: Date,
    authors: &mut BTreeMap<AuthorId, AuthorityEntry>,
    suspects: &mut Vec<SuspectKey>,
    id: EventId,
) -> Result<(), String> {
    let participant_mut = |m: &mut Membership, c: CountryCode| -> Result<_, String> {
        match m.participants.get(&c) {
            None => Err(format!("{c} is not a participant")),
            Some(p) if p.standing == Standing::Expelled => Err(format!("{c} is expelled")),
            Some(_) => Ok(()),
        }
    };
    match d {
        Decision::AdmitParticipant(e) => {
            if m.is_participant(e.code) {
                return Err(format!("{} is already a participant", e.code));
            }
            for a in &e.authorities {
                if m.key_in_use(&a.key) {
                    return Err(format!(
                        "the key of {}/{} is already in use",
                        e.code, a.name
                    ));
                }
            }
            for n in &e.nodes {
                if m.node_in_use(n) {
                    return Err(format!("node {n} already belongs to a member"));
                }
            }
            for a in &e.authorities {
                authors
                    .entry(AuthorId {
                        participant: e.code,
                        authority: a.name.clone(),
                    })
                    .or_insert_with(|| a.clone());
            }
            m.participants.insert(
                e.code,
                MemberRecord {
                    code: e.code,
                    name: e.name.clone(),
                    standing: Standing::Member,
                    authorities: e
                        .authorities
                        .iter()
                        .map(|a| (a.name.clone(), a.clone()))
                        .collect(),
                    nodes: e.nodes.iter().cloned().collect(),
                    admitted_on: Some(on),
                },
            );
        }
        Decision::AdmitObserver(o) => {
            if m.observers.contains_key(&o.id) {
                return Err(format!("observer {} is already admitted", o.id));
            }
            if m.key_in_use(&o.key) {
                return Err(format!("the key of observer {} is already in use", o.id));
            }
            for n in &o.nodes {
                if m.node_in_use(n) {
                    return Err(format!("node {n} already belongs to a member"));
                }
            }
            m.observers.insert(o.id.clone(), o.clone());
        }
        Decision::Suspend {
            participant,
            exporting_zones,
        } => {
            participant_mut(m, *participant)?;
            if *participant == m.chair {
                return Err(format!("{participant} holds the Chair"));
            }
            if let Some(p) = m.participants.get_mut(participant) {
                p.standing = Standing::Suspended {
                    exporting_zones: exporting_zones.clone(),
                };
            }
        }
        Decision::Reinstate { participant } => {
            participant_mut(m, *participant)?;
            if let Some(p) = m.participants.get_mut(participant) {
                if p.standing == Standing::Member {
                    return Err(format!("{participant} is not suspended"));
                }
                p.standing = Standing::Member;
            }
        }
        Decision::Expel { participant } => {
            participant_mut(m, *participant)?;
            if *participant == m.chair {
                return Err(format!("{participant} holds the Chair"));
            }
            if let Some(p) = m.participants.get_mut(participant) {
                p.standing = Standing::Expelled;
                p.nodes.clear();
            }
        }
        Decision::AddAuthority {
            participant,
            authority,
        } => {
            participant_mut(m, *participant)?;
            let author = AuthorId {
                participant: *participant,
                authority: authority.name.clone(),
            };
            if authors.contains_key(&author) {
                return Err(format!(
                    "{author} already has a feed (authority names are never reused)"
                ));
            }
            if m.key_in_use(&authority.key) {
                return Err(format!("the key of {author} is already in use"));
            }
            if let Some(p) = m.participants.get_mut(participant) {
                if p.authorities.len() >= crate::charter::MAX_AUTHORITIES {
                    return Err(format!("{participant} has too many authorities"));
                }
                p.authorities
                    .insert(authority.name.clone(), authority.clone());
            }
            authors.insert(author, authority.clone());
        }
        Decision::RemoveAuthority { author } => {
            participant_mut(m, author.participant)?;
            if let Some(p) = m.participants.get_mut(&author.participant) {
                if !p.authorities.contains_key(&author.authority) {
                    return Err(format!("{author} is not a current authority"));
                }
                if p.authorities.len() == 1 {
                    return Err(format!("{author} is the last authority of {}", p.code));
                }
                p.authorities.remove(&author.authority);
            }
        }
        Decision::AddNode { member, peer_id } => {
            if m.node_in_use(peer_id) {
                return Err(format!("node {peer_id} already belongs to a member"));
            }
            match member {
                NodeMember::Participant(c) => {
                    participant_mut(m, *c)?;
                    if let Some(p) = m.participants.get_mut(c) {
                        if p.nodes.len() >= crate::charter::MAX_NODES {
                            return Err(format!("{c} has too many nodes"));
                        }
                        p.nodes.insert(peer_id.clone());
                    }
                }
                NodeMember::Observer(o) => {
                    let obs = m
                        .observers
                        .get_mut(o)
                        .ok_or_else(|| format!("{} is not admitted", member_name(member)))?;
                    if obs.nodes.len() >= crate::charter::MAX_NODES {
                        return Err(format!("observer {o} has too many nodes"));
                    }
                    obs.nodes.push(peer_id.clone());
                    obs.nodes.sort();
                }
            }
        }
        Decision::RemoveNode { peer_id } => {
            let mut found = false;
            for p in m.participants.values_mut() {
                found |= p.nodes.remove(peer_id);
            }
            for o in m.observers.values_mut() {
                let before = o.nodes.len();
                o.nodes.retain(|n| n != peer_id);
                found |= o.nodes.len() != before;
            }
            if !found {
                return Err(format!("node {peer_id} is not listed"));
            }
        }
        Decision::ChangeChair { participant } => {
            match m.participants.get(participant) {
                Some(p) if p.in_good_standing() => {}
                _ => {
                    return Err(format!(
                        "{participant} is not a participant in good standing"
                    ))
                }
            }
            if *participant == m.chair {
                return Err(format!("{participant} already holds the Chair"));
            }
            m.chair = *participant;
        }
        Decision::KeyCompromised {
            author,
            key,
            from_seq,
        } => {
            if !authors.contains_key(author) {
                return Err(format!("{author} has no feed"));
            }
            suspects.push(SuspectKey {
                author: author.clone(),
                key: *key,
                from_seq: *from_seq,
                decision: id,
                effective_on: on,
            });
        }
        Decision::RemoveObserver { observer } => {
            if m.observers.remove(observer).is_none() {
                return Err(format!("observer {observer} is not admitted"));
            }
        }
    }
    Ok(())
}
