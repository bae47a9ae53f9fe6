//! Pure analysis of a ledger replica: the audit (`kpl audit`), trade
//! statistics with mirror checks (`kpl stats`) and provenance trees
//! (`kpl trace`). The CLI and the node's HTTP API both call this module.
//!
//! No I/O and no clock: "now" is always a parameter. No floats: carats are
//! integer hundredths of a carat, money integer US cents, tolerances basis
//! points (1 bp = 0.01 %).
//!
//! Everything starts from a [`LedgerView`], an in-memory index built from
//! the events of a replica (in any order: the result does not depend on
//! arrival order) and its fork proofs.
//!
//! **Partial data.** A view built from a store whose log holds records that
//! cannot be read (damaged bytes, a record that does not decode) says so:
//! [`LedgerView::partial`] is then `Some`, with how many records and where.
//! Every answer computed from such a view (audit, statistics, trace) is
//! computed from partial data, and whoever shows it must say so (the node's
//! API adds `"partial"` to its JSON; `kpl` warns and exits 1).
//!
//! # Conventions (part of the documented interface)
//!
//! - **Event order.** Where several events about one certificate must be
//!   ordered (corrections, voids, confirmations), they are ordered by
//!   `(timestamp_ms, author, seq, id)`: the same on every replica.
//! - **Duplicate numbers.** When one number was issued more than once, the
//!   earliest issue (in event order) is the *primary* one: confirmations are
//!   checked against it, statistics count it once. Every issue is kept.
//! - **Corrections** apply, in event order, to the issue event named by
//!   their `original` field. A correction whose `original` is not an issue of
//!   that number is not applied (and is reported as `unknown_certificate`).
//! - **Confirmations.** A participant's latest confirmation of a certificate
//!   supersedes its earlier ones (a re-sent or corrected confirmation); only
//!   the latest counts for mismatches, statistics and re-export balances.
//!   Every confirmation event still counts for `voided_then_confirmed`.
//! - **Voids.** A certificate with at least one void event is voided, from
//!   its earliest void.
//!
//! JSON field names of every output type are snake_case and stable.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::charter::Charter;
use crate::error::StoreError;
use crate::event::{EventId, SignedEvent};
use crate::fork::ForkProof;
use crate::governance::{GovernanceLog, Timeline};
use crate::model::{
    AuthorId, Certificate, Correction, CountryCode, Date, EventBody, ImportConfirmation, VoidReason,
};
use crate::store::Ledger;

pub mod audit;
pub mod format;
pub mod stats;
pub mod trace;

pub use audit::{
    AuditParams, Finding, FindingKind, Severity, DEFAULT_CONFIRMATION_GRACE_DAYS,
    DEFAULT_FUTURE_TOLERANCE_MS, DEFAULT_TOLERANCE_BP,
};
pub use format::{
    format_carats, format_carats_signed, format_usd, format_usd_signed, group_thousands,
};
pub use stats::{MirrorRow, ParticipantTrade, Period, StandingSpan, TradeFigures, TradeStats};
pub use trace::{TraceConfirmation, TraceNode, MAX_TRACE_DEPTH, MAX_TRACE_NODES};

/// Where an event sits: its id, author, place in the feed and timestamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub id: EventId,
    pub author: AuthorId,
    pub seq: u64,
    pub timestamp_ms: u64,
}

impl EventRef {
    pub(crate) fn new(id: EventId, ev: &SignedEvent) -> EventRef {
        EventRef {
            id,
            author: ev.content.author.clone(),
            seq: ev.content.seq,
            timestamp_ms: ev.content.timestamp_ms,
        }
    }

    /// The deterministic order of events: `(timestamp_ms, author, seq, id)`.
    pub fn order_key(&self) -> (u64, &AuthorId, u64, &EventId) {
        (self.timestamp_ms, &self.author, self.seq, &self.id)
    }

    /// The participant that signed it.
    pub fn participant(&self) -> CountryCode {
        self.author.participant
    }
}

/// One `CertificateIssued` event of a number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRecord {
    pub event: EventRef,
    /// The certificate as signed.
    pub issued: Certificate,
    /// The certificate with every applicable correction applied in order.
    pub effective: Certificate,
}

/// One `ImportConfirmed` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationRecord {
    pub event: EventRef,
    pub confirmation: ImportConfirmation,
    /// A later confirmation of the same certificate by the same participant
    /// replaces this one.
    pub superseded: bool,
}

/// One `CertificateVoided` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidRecord {
    pub event: EventRef,
    pub reason: VoidReason,
    pub note: String,
}

/// One `CertificateCorrected` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionRecord {
    pub event: EventRef,
    /// Id of the issue event it corrects.
    pub original: EventId,
    pub correction: Correction,
    pub note: String,
    /// Whether `original` named an issue of this number (and so the
    /// correction was applied).
    pub applied: bool,
}

/// Everything the view knows about one certificate number. Each list is in
/// event order (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateState {
    pub number: String,
    /// Issue events; the first is the primary one. Empty when nobody issued
    /// the number (a forged or unknown certificate).
    pub issues: Vec<IssueRecord>,
    pub confirmations: Vec<ConfirmationRecord>,
    pub voids: Vec<VoidRecord>,
    pub corrections: Vec<CorrectionRecord>,
}

impl CertificateState {
    fn new(number: &str) -> CertificateState {
        CertificateState {
            number: number.to_owned(),
            issues: Vec::new(),
            confirmations: Vec::new(),
            voids: Vec::new(),
            corrections: Vec::new(),
        }
    }

    /// The primary issue event, if the number was issued.
    pub fn primary(&self) -> Option<&IssueRecord> {
        self.issues.first()
    }

    /// The effective (corrected) certificate of the primary issue.
    pub fn effective(&self) -> Option<&Certificate> {
        self.primary().map(|i| &i.effective)
    }

    /// The participant that issued it (author of the primary issue).
    pub fn issuer(&self) -> Option<CountryCode> {
        self.primary().map(|i| i.event.participant())
    }

    /// The participant the number claims as issuer (its two-letter prefix).
    pub fn claimed_issuer(&self) -> Option<CountryCode> {
        crate::validate::certificate_issuer(&self.number)
    }

    /// The issuer if known, else the claimed issuer.
    pub fn issuer_or_claimed(&self) -> Option<CountryCode> {
        self.issuer().or_else(|| self.claimed_issuer())
    }

    /// The earliest void, if any.
    pub fn first_void(&self) -> Option<&VoidRecord> {
        self.voids.first()
    }

    pub fn is_voided(&self) -> bool {
        !self.voids.is_empty()
    }

    /// Confirmations that are not superseded: at most one per participant,
    /// in event order.
    pub fn current_confirmations(&self) -> impl Iterator<Item = &ConfirmationRecord> {
        self.confirmations.iter().filter(|c| !c.superseded)
    }

    /// The current confirmation by `participant`, if any.
    pub fn confirmation_by(&self, participant: CountryCode) -> Option<&ConfirmationRecord> {
        self.current_confirmations()
            .find(|c| c.event.participant() == participant)
    }
}

/// A compact record of every event, for the per-feed checks.
#[derive(Clone, Debug)]
struct EventSummary {
    event: EventRef,
    prev: Option<EventId>,
    certificate: Option<String>,
}

/// An event the membership timeline says its author could not sign (not yet
/// admitted, expelled, or a removed authority, on the event's date). The
/// store refuses such events once it knows the decision; one that arrived
/// before the decision is kept (nothing is deleted) but left out of the
/// view's certificates, statistics and traces, and reported by the audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedEvent {
    pub event: EventRef,
    pub kind: String,
    pub reason: String,
}

/// An event signed with a key that an adopted decision reported compromised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspectEvent {
    pub event: EventRef,
    pub kind: String,
    pub certificate: Option<String>,
    /// The `KeyCompromised` proposal that marks it.
    pub decision: EventId,
}

/// A record of the replica's log that could not be read: where, and the
/// author and seq of the event it held when they can still be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableRecord {
    /// Log offset where the record (or damaged stretch) starts.
    pub offset: u64,
    /// Where the next readable record starts.
    pub to: u64,
    pub author: Option<AuthorId>,
    pub seq: Option<u64>,
    pub reason: String,
}

/// The mark of an answer computed from partial data (JSON `partial`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialData {
    /// Records of the log that could not be read (a damaged stretch
    /// counts once): events, or fork proofs, left out of the answer.
    pub unreadable_records: u64,
    /// Log offset of the first of them.
    pub first_offset: u64,
    /// The first of them (at most [`MAX_PARTIAL_LISTED`]), in log order.
    pub unreadable: Vec<UnreadableRecord>,
}

/// Unreadable records listed in a [`PartialData`].
pub const MAX_PARTIAL_LISTED: usize = 100;

/// An in-memory index of a replica, built once and then queried.
#[derive(Clone, Debug)]
pub struct LedgerView {
    /// Everyone who was a participant at some time (charter or admitted).
    participants: BTreeSet<CountryCode>,
    timeline: Timeline,
    refused: Vec<RefusedEvent>,
    suspect: Vec<SuspectEvent>,
    certificates: BTreeMap<String, CertificateState>,
    /// Every event, sorted by (author, seq, id).
    events: Vec<EventSummary>,
    fork_proofs: Vec<ForkProof>,
    /// Records of the replica that could not be read, if any.
    partial: Option<PartialData>,
}

impl LedgerView {
    /// Indexes `events` (any order; an id seen twice is kept once) and the
    /// stored fork proofs. The charter gives the set of KP participants.
    pub fn build(
        charter: &Charter,
        events: impl Iterator<Item = (EventId, SignedEvent)>,
        fork_proofs: Vec<ForkProof>,
    ) -> LedgerView {
        let mut seen: HashSet<EventId> = HashSet::new();
        let mut all: Vec<(EventId, SignedEvent)> = Vec::new();
        let mut gov = GovernanceLog::new();
        for (id, ev) in events {
            if seen.insert(id) {
                gov.insert(id, &ev);
                all.push((id, ev));
            }
        }
        let timeline = Timeline::build(charter, &gov);
        // Records are never dropped from a membership (an expelled
        // participant stays, marked so): the latest one lists everyone who
        // ever was a participant.
        let participants: BTreeSet<CountryCode> =
            timeline.latest().participants.keys().copied().collect();
        let suspect = suspect_events(&timeline, &all);
        let mut refused = Vec::new();
        let mut certificates: BTreeMap<String, CertificateState> = BTreeMap::new();
        let mut summaries = Vec::new();
        for (id, ev) in all {
            let event = EventRef::new(id, &ev);
            let date = Date::from_unix_ms(ev.content.timestamp_ms);
            if let Err(e) = timeline.check_author(&event.author, date) {
                refused.push(RefusedEvent {
                    event: event.clone(),
                    kind: ev.content.body.kind().to_owned(),
                    reason: e.to_string(),
                });
                summaries.push(EventSummary {
                    event,
                    prev: ev.content.prev,
                    certificate: None,
                });
                continue;
            }
            summaries.push(EventSummary {
                event: event.clone(),
                prev: ev.content.prev,
                certificate: ev.content.body.certificate_number().map(str::to_owned),
            });
            let Some(number) = ev.content.body.certificate_number() else {
                continue;
            };
            let state = certificates
                .entry(number.to_owned())
                .or_insert_with(|| CertificateState::new(number));
            match ev.content.body {
                EventBody::CertificateIssued(c) => state.issues.push(IssueRecord {
                    event,
                    effective: c.clone(),
                    issued: c,
                }),
                EventBody::ImportConfirmed(c) => state.confirmations.push(ConfirmationRecord {
                    event,
                    confirmation: c,
                    superseded: false,
                }),
                EventBody::CertificateVoided { reason, note, .. } => state.voids.push(VoidRecord {
                    event,
                    reason,
                    note,
                }),
                EventBody::CertificateCorrected {
                    original,
                    correction,
                    note,
                    ..
                } => state.corrections.push(CorrectionRecord {
                    event,
                    original,
                    correction,
                    note,
                    applied: false,
                }),
                EventBody::AuthorityKeyRotated { .. }
                | EventBody::GovernanceProposed(_)
                | EventBody::GovernanceApproved { .. } => {}
            }
        }
        for state in certificates.values_mut() {
            state
                .issues
                .sort_by(|a, b| a.event.order_key().cmp(&b.event.order_key()));
            state
                .confirmations
                .sort_by(|a, b| a.event.order_key().cmp(&b.event.order_key()));
            state
                .voids
                .sort_by(|a, b| a.event.order_key().cmp(&b.event.order_key()));
            state
                .corrections
                .sort_by(|a, b| a.event.order_key().cmp(&b.event.order_key()));
            // The latest confirmation per participant is the current one.
            let mut latest: BTreeSet<CountryCode> = BTreeSet::new();
            for c in state.confirmations.iter_mut().rev() {
                c.superseded = !latest.insert(c.event.participant());
            }
            for corr in &mut state.corrections {
                if let Some(issue) = state
                    .issues
                    .iter_mut()
                    .find(|i| i.event.id == corr.original)
                {
                    apply_correction(&mut issue.effective, &corr.correction);
                    corr.applied = true;
                }
            }
        }
        summaries.sort_by(|a, b| {
            (&a.event.author, a.event.seq, &a.event.id).cmp(&(
                &b.event.author,
                b.event.seq,
                &b.event.id,
            ))
        });
        let mut proofs = fork_proofs;
        proofs.sort_by(|a, b| (a.author(), a.seq(), a.ids()).cmp(&(b.author(), b.seq(), b.ids())));
        proofs.dedup_by(|a, b| a.ids() == b.ids());
        refused.sort_by(|a, b| a.event.order_key().cmp(&b.event.order_key()));
        LedgerView {
            participants,
            timeline,
            refused,
            suspect,
            certificates,
            events: summaries,
            fork_proofs: proofs,
            partial: None,
        }
    }

    /// Builds the view of a whole store: its durable events and fork
    /// proofs. Records of the log that cannot be read are not skipped
    /// silently: the view is then partial ([`LedgerView::partial`]).
    pub fn from_ledger(ledger: &Ledger) -> Result<LedgerView, StoreError> {
        let mut events = Vec::new();
        let scan = ledger.for_each_event(|id, ev| events.push((*id, ev.clone())))?;
        let proofs = ledger.fork_proofs()?;
        let mut view = LedgerView::build(ledger.charter(), events.into_iter(), proofs);
        if let Some(first) = scan.unreadable.first() {
            view.partial = Some(PartialData {
                unreadable_records: scan.unreadable_count,
                first_offset: first.offset,
                unreadable: scan
                    .unreadable
                    .iter()
                    .take(MAX_PARTIAL_LISTED)
                    .map(|d| UnreadableRecord {
                        offset: d.offset,
                        to: d.to,
                        author: d.author.clone(),
                        seq: d.seq,
                        reason: d.reason.clone(),
                    })
                    .collect(),
            });
        }
        Ok(view)
    }

    /// `Some` when the view was built from a replica with records that
    /// could not be read: every answer from it is then partial.
    pub fn partial(&self) -> Option<&PartialData> {
        self.partial.as_ref()
    }

    /// Records of the replica that could not be read (0: the view is whole).
    pub fn unreadable_count(&self) -> u64 {
        self.partial.as_ref().map_or(0, |p| p.unreadable_records)
    }

    /// Whether `code` was a KP participant at some time (in the charter or
    /// admitted by a decision).
    pub fn is_participant(&self, code: CountryCode) -> bool {
        self.participants.contains(&code)
    }

    /// Whether `code` is a KP participant (suspended or not, but not
    /// expelled and not before its admission) on `date`.
    pub fn is_participant_on(&self, code: CountryCode, date: Date) -> bool {
        self.timeline.at(date).is_participant(code)
    }

    /// The membership timeline derived from the view's governance events.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Events whose author could not sign them (see [`RefusedEvent`]).
    pub fn refused_events(&self) -> &[RefusedEvent] {
        &self.refused
    }

    /// Events signed with a key reported compromised.
    pub fn suspect_events(&self) -> &[SuspectEvent] {
        &self.suspect
    }

    /// Everyone who was a KP participant at some time, in order.
    pub fn participants(&self) -> impl Iterator<Item = CountryCode> + '_ {
        self.participants.iter().copied()
    }

    /// Everything known about a certificate number (issued or only referred to).
    pub fn certificate(&self, number: &str) -> Option<&CertificateState> {
        self.certificates.get(number)
    }

    /// Every certificate number the view knows, in number order.
    pub fn certificates(&self) -> impl Iterator<Item = &CertificateState> {
        self.certificates.values()
    }

    /// Number of distinct events indexed.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The fork proofs, sorted by (author, seq).
    pub fn fork_proofs(&self) -> &[ForkProof] {
        &self.fork_proofs
    }
}

/// The events signed with a key reported compromised, at or after the
/// reported seq. The key that signed an event is the key in force at its
/// seq (the charter's or admission's key, then each rotation's), except that
/// a rotation made under a pre-rotation commitment is signed by the new key.
fn suspect_events(timeline: &Timeline, all: &[(EventId, SignedEvent)]) -> Vec<SuspectEvent> {
    let suspects = timeline.suspect_keys();
    if suspects.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for s in suspects {
        let Some(entry) = timeline.genesis_entry(&s.author) else {
            continue;
        };
        let mut feed: Vec<&(EventId, SignedEvent)> = all
            .iter()
            .filter(|(_, e)| e.content.author == s.author)
            .collect();
        feed.sort_by_key(|(id, e)| (e.content.seq, *id));
        let mut state = crate::feed::FeedState::genesis(s.author.clone(), entry);
        for (id, ev) in feed {
            let signer = match state.signing_key_for(ev) {
                Ok(k) => crate::bytes::FixedBytes(k.to_bytes()),
                Err(_) => state.epoch_at(ev.content.seq).key,
            };
            if ev.content.seq >= s.from_seq && signer == s.key {
                out.push(SuspectEvent {
                    event: EventRef::new(*id, ev),
                    kind: ev.content.body.kind().to_owned(),
                    certificate: ev.content.body.certificate_number().map(str::to_owned),
                    decision: s.decision,
                });
            }
            state.apply_rotation(ev);
        }
    }
    out.sort_by(|a, b| a.event.order_key().cmp(&b.event.order_key()));
    out.dedup_by(|a, b| a.event.id == b.event.id);
    out
}

fn apply_correction(cert: &mut Certificate, correction: &Correction) {
    match correction {
        Correction::Exporter(p) => cert.exporter = p.clone(),
        Correction::Importer(p) => cert.importer = p.clone(),
        Correction::CaratHundredths(v) => cert.carat_hundredths = *v,
        Correction::ValueUsdCents(v) => cert.value_usd_cents = *v,
        Correction::Parcels(v) => cert.parcels = *v,
        Correction::ExpiresOn(d) => cert.expires_on = *d,
        Correction::HsCodes(h) => cert.hs_codes = h.clone(),
        Correction::Origin(o) => cert.origin = o.clone(),
        Correction::Destination(d) => cert.destination = *d,
    }
}

/// The stable snake_case name of a void reason.
pub(crate) fn void_reason(r: VoidReason) -> &'static str {
    match r {
        VoidReason::Cancelled => "cancelled",
        VoidReason::Lost => "lost",
        VoidReason::Stolen => "stolen",
        VoidReason::Seized => "seized",
    }
}
