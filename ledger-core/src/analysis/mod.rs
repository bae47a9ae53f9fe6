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
//! arrival order) and its fork proofs. It is compact (a fixed record per
//! event; per issue only the facts the checks read; each certificate number
//! once), built from a store by streaming its log
//! ([`LedgerView::from_ledger`]), and kept up to date by applying the
//! events stored since ([`LedgerView::update`], [`LedgerView::apply`]):
//! each is inserted in event order and only the certificate it touches is
//! recomputed, so the answers are those of a view built at once. A
//! governance event (the membership timeline changes) or an event of a feed
//! with a key reported compromised needs a rebuild instead.
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

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};

use serde::{Deserialize, Serialize};

use crate::charter::Charter;
use crate::error::StoreError;
use crate::event::{EventId, SignedEvent};
use crate::fork::ForkProof;
use crate::governance::{GovernanceLog, Timeline};
use crate::model::{
    AuthorId, Certificate, Correction, CountryCode, Date, EventBody, HsCode, ImportConfirmation,
    Origin, VoidReason,
};
use crate::store::{EventScan, Ledger};

mod allocation;
pub mod audit;
pub mod format;
pub mod listing;
pub mod stats;
pub mod trace;

#[cfg(test)]
mod tests;

pub use audit::{
    AuditParams, Finding, FindingKind, Severity, DEFAULT_CONFIRMATION_GRACE_DAYS,
    DEFAULT_FUTURE_TOLERANCE_MS, DEFAULT_TOLERANCE_BP,
};
pub use format::{
    format_carats, format_carats_signed, format_usd, format_usd_signed, group_thousands,
};
pub use listing::{CertificateQuery, CertificateStatus, CertificateSummary, Direction};
pub use stats::{MirrorRow, ParticipantTrade, Period, StandingSpan, TradeFigures, TradeStats};
pub use trace::{
    OriginShare, OriginShares, TraceConfirmation, TraceNode, MAX_TRACE_DEPTH, MAX_TRACE_NODES,
};

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

/// Where an event sits, as an answer of the view shows it: like
/// [`EventRef`], borrowing the author from the view's table of authors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed<'a> {
    pub id: EventId,
    pub author: &'a AuthorId,
    pub seq: u64,
    pub timestamp_ms: u64,
}

impl Placed<'_> {
    /// The deterministic order of events: `(timestamp_ms, author, seq, id)`.
    pub fn order_key(&self) -> (u64, &AuthorId, u64, &EventId) {
        (self.timestamp_ms, self.author, self.seq, &self.id)
    }

    /// The participant that signed it.
    pub fn participant(&self) -> CountryCode {
        self.author.participant
    }
}

/// What the analysis reads of a certificate (the parties' names and
/// addresses and the printed authority are not kept: no check reads them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFacts<'a> {
    pub origin: &'a Origin,
    pub issued_on: Date,
    pub expires_on: Date,
    pub destination: CountryCode,
    pub carat_hundredths: u64,
    pub value_usd_cents: u64,
    pub parcels: u32,
    pub hs_codes: &'a [HsCode],
    /// The numbers of its sources, as listed.
    pub source_certificates: Vec<&'a str>,
}

/// One `CertificateIssued` event of a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueRecord<'a> {
    pub event: Placed<'a>,
    /// The certificate with every applicable correction applied in order.
    pub effective: CertificateFacts<'a>,
}

/// What an import confirmation says (its number is the one it is filed under).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfirmedFigures {
    pub exporter_participant: CountryCode,
    pub parcels: u32,
    pub carat_hundredths: u64,
    pub value_usd_cents: u64,
    pub received_on: Date,
}

/// One `ImportConfirmed` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationRecord<'a> {
    pub event: Placed<'a>,
    pub confirmation: &'a ConfirmedFigures,
    /// A later confirmation of the same certificate by the same participant
    /// replaces this one.
    pub superseded: bool,
}

/// One `CertificateVoided` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoidRecord<'a> {
    pub event: Placed<'a>,
    pub reason: VoidReason,
}

/// One `CertificateCorrected` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrectionRecord<'a> {
    pub event: Placed<'a>,
    /// Id of the issue event it corrects.
    pub original: EventId,
    /// The field it corrects (see [`Correction::field`]).
    pub field: &'static str,
    /// Whether `original` named an issue of this number (and so the
    /// correction was applied).
    pub applied: bool,
}

/// Everything the view knows about one certificate number, read out of the
/// view. Each list is in event order (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateState<'a> {
    pub number: &'a str,
    /// Issue events; the first is the primary one. Empty when nobody issued
    /// the number (a forged or unknown certificate).
    pub issues: Vec<IssueRecord<'a>>,
    pub confirmations: Vec<ConfirmationRecord<'a>>,
    pub voids: Vec<VoidRecord<'a>>,
    pub corrections: Vec<CorrectionRecord<'a>>,
}

impl<'a> CertificateState<'a> {
    /// The primary issue event, if the number was issued.
    pub fn primary(&self) -> Option<&IssueRecord<'a>> {
        self.issues.first()
    }

    /// The effective (corrected) certificate of the primary issue.
    pub fn effective(&self) -> Option<&CertificateFacts<'a>> {
        self.primary().map(|i| &i.effective)
    }

    /// The participant that issued it (author of the primary issue).
    pub fn issuer(&self) -> Option<CountryCode> {
        self.primary().map(|i| i.event.participant())
    }

    /// The participant the number claims as issuer (its two-letter prefix).
    pub fn claimed_issuer(&self) -> Option<CountryCode> {
        crate::validate::certificate_issuer(self.number)
    }

    /// The issuer if known, else the claimed issuer.
    pub fn issuer_or_claimed(&self) -> Option<CountryCode> {
        self.issuer().or_else(|| self.claimed_issuer())
    }

    /// The earliest void, if any.
    pub fn first_void(&self) -> Option<&VoidRecord<'a>> {
        self.voids.first()
    }

    pub fn is_voided(&self) -> bool {
        !self.voids.is_empty()
    }

    /// Confirmations that are not superseded: at most one per participant,
    /// in event order.
    pub fn current_confirmations(&self) -> impl Iterator<Item = &ConfirmationRecord<'a>> {
        self.confirmations.iter().filter(|c| !c.superseded)
    }

    /// The current confirmation by `participant`, if any.
    pub fn confirmation_by(&self, participant: CountryCode) -> Option<&ConfirmationRecord<'a>> {
        self.current_confirmations()
            .find(|c| c.event.participant() == participant)
    }
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

/// "No index" in the view's `u32` index fields.
const NONE: u32 = u32::MAX;

/// What an event is to the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Not about a certificate, or refused.
    Other,
    Issue,
    /// A current confirmation.
    Confirmation,
    /// A confirmation a later one of the same participant supersedes.
    Superseded,
    Void,
    Correction,
}

/// One event, as kept for every event of the replica (64 bytes): the author is an index into the view's table of authors, the
/// certificate an index into its table of numbers, `rec` the index of the
/// kind's record (for a void: its reason).
#[derive(Clone, Copy, Debug)]
struct Ev {
    id: EventId,
    timestamp_ms: u64,
    seq: u64,
    author: u32,
    cert: u32,
    rec: u32,
    kind: Kind,
}

/// The analysed facts of one issue, interned: origin, HS codes and the list
/// of sources are indices into the view's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Facts {
    carat_hundredths: u64,
    value_usd_cents: u64,
    origin: u32,
    hs_codes: u32,
    /// Index into `source_lists`, or `NONE` for no sources.
    sources: u32,
    issued_on: Date,
    expires_on: Date,
    parcels: u32,
    destination: CountryCode,
}

/// A correction's new value, as far as the analysis reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Exporter,
    Importer,
    Carats(u64),
    Value(u64),
    Parcels(u32),
    ExpiresOn(Date),
    HsCodes(u32),
    Origin(u32),
    Destination(CountryCode),
}

impl Change {
    fn field(&self) -> &'static str {
        match self {
            Change::Exporter => "exporter",
            Change::Importer => "importer",
            Change::Carats(_) => "carat_hundredths",
            Change::Value(_) => "value_usd_cents",
            Change::Parcels(_) => "parcels",
            Change::ExpiresOn(_) => "expires_on",
            Change::HsCodes(_) => "hs_codes",
            Change::Origin(_) => "origin",
            Change::Destination(_) => "destination",
        }
    }
}

#[derive(Clone, Debug)]
struct CorrRec {
    original: EventId,
    change: Change,
    applied: bool,
}

/// A short list of event indices, inline up to four (most certificates
/// have one issue and one or two confirmations).
#[derive(Clone, Debug, Default)]
enum IdList {
    #[default]
    Empty,
    Inline(u8, [u32; 4]),
    Heap(Box<[u32]>),
}

impl IdList {
    fn as_slice(&self) -> &[u32] {
        match self {
            IdList::Empty => &[],
            IdList::Inline(n, a) => &a[..*n as usize],
            IdList::Heap(v) => v,
        }
    }

    fn insert(&mut self, pos: usize, id: u32) {
        let mut v: Vec<u32> = self.as_slice().to_vec();
        v.insert(pos, id);
        *self = if v.len() <= 4 {
            let mut a = [0u32; 4];
            a[..v.len()].copy_from_slice(&v);
            IdList::Inline(v.len() as u8, a)
        } else {
            IdList::Heap(v.into_boxed_slice())
        };
    }
}

/// Why a change of the replica cannot be applied to a view: it changes what
/// the view derives from the whole replica. Rebuild the view instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeedsRebuild {
    /// A governance event: the membership timeline changes, and with it
    /// which events are refused.
    Governance,
    /// An event of a feed whose key a decision reported compromised: which
    /// of its events are suspect is derived from the whole feed.
    SuspectFeed,
}

/// A compact in-memory index of a replica: built once by streaming the
/// replica's events, then kept up to date by applying the events stored
/// since (see [`LedgerView::update`]), and queried.
///
/// Every event costs a fixed record (id, author index, seq, timestamp,
/// certificate index); an issue keeps its analysed facts (interned origin,
/// HS codes and sources); a confirmation its figures; each certificate
/// number is stored once.
#[derive(Debug)]
pub struct LedgerView {
    /// Everyone who was a participant at some time (charter or admitted).
    participants: BTreeSet<CountryCode>,
    timeline: Timeline,
    refused: Vec<RefusedEvent>,
    suspect: Vec<SuspectEvent>,
    /// Authors with a key reported compromised.
    suspect_authors: BTreeSet<AuthorId>,
    authors: Vec<AuthorId>,
    author_index: HashMap<AuthorId, u32>,
    events: Vec<Ev>,
    /// Per author: its events sorted by (seq, id).
    feeds: Vec<Vec<u32>>,
    /// Per author index: the latest timestamp of its events here (for the
    /// clock checks, without a pass over every event).
    latest_ms: Vec<u64>,
    /// Events whose predecessor (by `prev`) is not in the view yet.
    pending_prev: HashMap<EventId, Vec<u32>>,
    /// (predecessor, event) pairs of one feed where the event is
    /// timestamped before its predecessor.
    backwards: BTreeSet<(u32, u32)>,
    /// Per issue: its effective facts (with the applicable corrections
    /// applied).
    issues: Vec<Facts>,
    /// The facts as signed of the issues a correction changed, by index.
    originals: HashMap<u32, Facts>,
    confirmations: Vec<ConfirmedFigures>,
    corrections: Vec<CorrRec>,
    /// Every certificate number, concatenated; `name_ends[i]` ends number i.
    names: String,
    name_ends: Vec<u32>,
    /// Per number: its events (of every kind) in event order.
    cert_events: Vec<IdList>,
    cert_table: hashbrown::HashTable<u32>,
    hasher: RandomState,
    origins: Vec<Origin>,
    origin_index: HashMap<String, u32>,
    hs_lists: Vec<Box<[HsCode]>>,
    hs_index: HashMap<Box<[HsCode]>, u32>,
    source_lists: Vec<Box<[u32]>>,
    /// Per source number: the numbers whose issues list it as a source.
    cited_by: HashMap<u32, IdList>,
    fork_proofs: Vec<ForkProof>,
    /// Records of the replica that could not be read, if any.
    partial: Option<PartialData>,
    /// The log offset up to which the view has read the ledger.
    log_end: u64,
}

/// What the first pass over the events gathers: the governance events (for
/// the membership timeline) and how many of each kind there are, so that
/// the second pass fills tables of the right size at once (a table grown
/// by doubling would leave the memory of its earlier copies behind).
#[derive(Default)]
struct Tally {
    gov: GovernanceLog,
    events: usize,
    issues: usize,
    confirmations: usize,
    corrections: usize,
    number_bytes: usize,
    per_author: HashMap<AuthorId, usize>,
}

impl Tally {
    fn add(&mut self, id: &EventId, ev: &SignedEvent) {
        self.gov.insert(*id, ev);
        self.events += 1;
        match self.per_author.get_mut(&ev.content.author) {
            Some(n) => *n += 1,
            None => {
                self.per_author.insert(ev.content.author.clone(), 1);
            }
        }
        match &ev.content.body {
            EventBody::CertificateIssued(c) => {
                self.issues += 1;
                self.number_bytes += c.number.len();
            }
            EventBody::ImportConfirmed(_) => self.confirmations += 1,
            EventBody::CertificateCorrected { .. } => self.corrections += 1,
            _ => {}
        }
    }

    /// An empty view under the timeline of the governance events seen,
    /// its tables sized for the events counted.
    fn view(self, charter: &Charter) -> LedgerView {
        let timeline = Timeline::build(charter, &self.gov);
        self.view_under(timeline)
    }

    /// An empty view under `timeline`, its tables sized for the events
    /// counted (the counts of a kind not counted grow as needed).
    fn view_under(&self, timeline: Timeline) -> LedgerView {
        let mut v = LedgerView::empty(timeline);
        v.events.reserve_exact(self.events);
        for (author, n) in &self.per_author {
            let i = v.author_of(author);
            v.feeds[i as usize].reserve_exact(*n);
        }
        v.issues.reserve_exact(self.issues);
        v.confirmations.reserve_exact(self.confirmations);
        v.corrections.reserve_exact(self.corrections);
        v.names.reserve_exact(self.number_bytes);
        v.name_ends.reserve_exact(self.issues);
        v.cert_events.reserve_exact(self.issues);
        let (ends, names, hasher) = (&v.name_ends, &v.names, &v.hasher);
        v.cert_table.reserve(self.issues, |&i| {
            let end = ends[i as usize] as usize;
            let start = if i == 0 {
                0
            } else {
                ends[i as usize - 1] as usize
            };
            hasher.hash_one(&names[start..end])
        });
        v
    }
}

impl LedgerView {
    /// An empty view under the membership timeline `timeline`.
    fn empty(timeline: Timeline) -> LedgerView {
        // Records are never dropped from a membership (an expelled
        // participant stays, marked so): the latest one lists everyone who
        // ever was a participant.
        let participants: BTreeSet<CountryCode> =
            timeline.latest().participants.keys().copied().collect();
        let suspect_authors = timeline
            .suspect_keys()
            .iter()
            .map(|s| s.author.clone())
            .collect();
        LedgerView {
            participants,
            timeline,
            refused: Vec::new(),
            suspect: Vec::new(),
            suspect_authors,
            authors: Vec::new(),
            author_index: HashMap::new(),
            events: Vec::new(),
            feeds: Vec::new(),
            latest_ms: Vec::new(),
            pending_prev: HashMap::new(),
            backwards: BTreeSet::new(),
            issues: Vec::new(),
            originals: HashMap::new(),
            confirmations: Vec::new(),
            corrections: Vec::new(),
            names: String::new(),
            name_ends: Vec::new(),
            cert_events: Vec::new(),
            cert_table: hashbrown::HashTable::new(),
            hasher: RandomState::new(),
            origins: Vec::new(),
            origin_index: HashMap::new(),
            hs_lists: Vec::new(),
            hs_index: HashMap::new(),
            source_lists: Vec::new(),
            cited_by: HashMap::new(),
            fork_proofs: Vec::new(),
            partial: None,
            log_end: 0,
        }
    }

    /// Indexes `events` (any order; an id seen twice is kept once) and the
    /// stored fork proofs. The charter gives the set of KP participants.
    pub fn build(
        charter: &Charter,
        events: impl Iterator<Item = (EventId, SignedEvent)>,
        fork_proofs: Vec<ForkProof>,
    ) -> LedgerView {
        let all: Vec<(EventId, SignedEvent)> = events.collect();
        let mut tally = Tally::default();
        for (id, ev) in &all {
            tally.add(id, ev);
        }
        let mut view = tally.view(charter);
        for (id, ev) in &all {
            view.insert(*id, ev);
        }
        view.suspect = suspect_events(&view.timeline, &view.suspect_authors, &all);
        view.set_fork_proofs(fork_proofs);
        view
    }

    /// Gives back the spare capacity of the tables that grew while the
    /// view was built without their sizes known beforehand.
    fn shrink_to_fit(&mut self) {
        self.issues.shrink_to_fit();
        self.confirmations.shrink_to_fit();
        self.corrections.shrink_to_fit();
        self.names.shrink_to_fit();
        self.name_ends.shrink_to_fit();
        self.cert_events.shrink_to_fit();
        self.source_lists.shrink_to_fit();
    }

    /// Builds the view of a whole store, streaming its durable events (one
    /// pass over the log under the store's membership timeline, checked to
    /// be that of the governance events read; two passes when it is not),
    /// and its fork proofs. Records
    /// of the log that cannot be read are not skipped silently: the view is
    /// then partial ([`LedgerView::partial`]).
    pub fn from_ledger(ledger: &Ledger) -> Result<LedgerView, StoreError> {
        // One pass, under the timeline of the governance events the store
        // holds, when the pass finds exactly those (the usual case: a
        // governance event stored meanwhile, or one not yet synced, makes
        // the sets differ); else the two passes, whose timeline is that of
        // the events read.
        let (gov, timeline) = ledger.governance();
        let mut tally = Tally {
            gov,
            ..Tally::default()
        };
        for h in ledger.heads()? {
            tally.events += h.seq as usize;
            tally.per_author.insert(h.author, h.seq as usize);
        }
        let mut view = tally.view_under((*timeline).clone());
        let mut read = GovernanceLog::new();
        let mut suspect_feeds: Vec<(EventId, SignedEvent)> = Vec::new();
        let (scan, end) = ledger.for_each_event_between(0, None, |id, ev| {
            read.insert(*id, ev);
            view.insert(*id, ev);
            if view.suspect_authors.contains(&ev.content.author) {
                suspect_feeds.push((*id, ev.clone()));
            }
        })?;
        if !read.same_events(&tally.gov) {
            drop(view);
            return LedgerView::from_ledger_in_two_passes(ledger);
        }
        view.shrink_to_fit();
        view.suspect = suspect_events(&view.timeline, &view.suspect_authors, &suspect_feeds);
        view.set_fork_proofs(ledger.fork_proofs()?);
        view.add_unreadable(&scan);
        view.log_end = end;
        Ok(view)
    }

    /// [`LedgerView::from_ledger`] reading the log twice: the governance
    /// events first, for the timeline, then every event.
    fn from_ledger_in_two_passes(ledger: &Ledger) -> Result<LedgerView, StoreError> {
        let mut tally = Tally::default();
        let (_, end) = ledger.for_each_event_between(0, None, |id, ev| tally.add(id, ev))?;
        let mut view = tally.view(ledger.charter());
        let mut suspect_feeds: Vec<(EventId, SignedEvent)> = Vec::new();
        let (scan, end) = ledger.for_each_event_between(0, Some(end), |id, ev| {
            view.insert(*id, ev);
            if view.suspect_authors.contains(&ev.content.author) {
                suspect_feeds.push((*id, ev.clone()));
            }
        })?;
        view.suspect = suspect_events(&view.timeline, &view.suspect_authors, &suspect_feeds);
        view.set_fork_proofs(ledger.fork_proofs()?);
        view.add_unreadable(&scan);
        view.log_end = end;
        Ok(view)
    }

    /// Brings a view built by [`LedgerView::from_ledger`] of `ledger` up to
    /// date: applies the events stored since it was built or last updated
    /// (recomputing only the certificates they touch) and the fork proofs.
    /// When one of them changes what the view derives from the whole
    /// replica (a governance event, an event of a feed with a key reported
    /// compromised), or the log is shorter than what the view read, the
    /// view is rebuilt instead. Answers whether anything changed.
    pub fn update(&mut self, ledger: &Ledger) -> Result<bool, StoreError> {
        let durable = ledger.durable_log_end();
        if durable < self.log_end {
            *self = LedgerView::from_ledger(ledger)?;
            return Ok(true);
        }
        let mut changed = false;
        if durable > self.log_end {
            let mut rebuild = false;
            let (scan, end) = ledger.for_each_event_between(self.log_end, None, |id, ev| {
                if !rebuild {
                    rebuild = self.apply(*id, ev).is_err();
                }
            })?;
            if rebuild {
                *self = LedgerView::from_ledger(ledger)?;
                return Ok(true);
            }
            self.add_unreadable(&scan);
            self.log_end = end;
            changed = true;
        }
        let proofs = ledger.fork_proofs()?;
        if proofs.len() != self.fork_proofs.len() {
            self.set_fork_proofs(proofs);
            changed = true;
        }
        Ok(changed)
    }

    /// Applies one more event to the view, as if it had been among those it
    /// was built from (the answers are then those of a view built at once
    /// from all of them, whatever the order they arrive in), or says the
    /// view must be rebuilt instead. An event already in the view is
    /// ignored.
    pub fn apply(&mut self, id: EventId, ev: &SignedEvent) -> Result<(), NeedsRebuild> {
        if matches!(
            ev.content.body,
            EventBody::GovernanceProposed(_) | EventBody::GovernanceApproved { .. }
        ) {
            return Err(NeedsRebuild::Governance);
        }
        if self.suspect_authors.contains(&ev.content.author) {
            return Err(NeedsRebuild::SuspectFeed);
        }
        self.insert(id, ev);
        Ok(())
    }

    /// The log offset up to which the view has read its ledger (0 for a
    /// view not built from a ledger).
    pub fn log_end(&self) -> u64 {
        self.log_end
    }

    fn set_fork_proofs(&mut self, mut proofs: Vec<ForkProof>) {
        proofs.sort_by(|a, b| (a.author(), a.seq(), a.ids()).cmp(&(b.author(), b.seq(), b.ids())));
        proofs.dedup_by(|a, b| a.ids() == b.ids());
        self.fork_proofs = proofs;
    }

    fn add_unreadable(&mut self, scan: &EventScan) {
        let Some(first) = scan.unreadable.first() else {
            return;
        };
        let p = self.partial.get_or_insert_with(|| PartialData {
            unreadable_records: 0,
            first_offset: first.offset,
            unreadable: Vec::new(),
        });
        p.unreadable_records += scan.unreadable_count;
        let room = MAX_PARTIAL_LISTED.saturating_sub(p.unreadable.len());
        p.unreadable
            .extend(scan.unreadable.iter().take(room).map(|d| UnreadableRecord {
                offset: d.offset,
                to: d.to,
                author: d.author.clone(),
                seq: d.seq,
                reason: d.reason.clone(),
            }));
    }

    fn author_of(&mut self, a: &AuthorId) -> u32 {
        if let Some(&i) = self.author_index.get(a) {
            return i;
        }
        let i = self.authors.len() as u32;
        self.authors.push(a.clone());
        self.author_index.insert(a.clone(), i);
        self.feeds.push(Vec::new());
        self.latest_ms.push(0);
        i
    }

    fn name(&self, c: u32) -> &str {
        let end = self.name_ends[c as usize] as usize;
        let start = match c {
            0 => 0,
            _ => self.name_ends[c as usize - 1] as usize,
        };
        &self.names[start..end]
    }

    fn find_cert(&self, number: &str) -> Option<u32> {
        let h = self.hasher.hash_one(number);
        self.cert_table
            .find(h, |&c| self.name(c) == number)
            .copied()
    }

    /// The index of a certificate number, added if new.
    fn cert_of(&mut self, number: &str) -> u32 {
        if let Some(c) = self.find_cert(number) {
            return c;
        }
        let c = self.name_ends.len() as u32;
        self.names.push_str(number);
        self.name_ends.push(self.names.len() as u32);
        self.cert_events.push(IdList::Empty);
        let h = self.hasher.hash_one(number);
        let (names, ends, hasher) = (&self.names, &self.name_ends, &self.hasher);
        self.cert_table.insert_unique(h, c, |&i| {
            let end = ends[i as usize] as usize;
            let start = if i == 0 {
                0
            } else {
                ends[i as usize - 1] as usize
            };
            hasher.hash_one(&names[start..end])
        });
        c
    }

    fn origin_of(&mut self, o: &Origin) -> u32 {
        let key = format!("{o:?}");
        if let Some(&i) = self.origin_index.get(&key) {
            return i;
        }
        let i = self.origins.len() as u32;
        self.origins.push(o.clone());
        self.origin_index.insert(key, i);
        i
    }

    fn hs_of(&mut self, h: &[HsCode]) -> u32 {
        if let Some(&i) = self.hs_index.get(h) {
            return i;
        }
        let i = self.hs_lists.len() as u32;
        self.hs_lists.push(h.into());
        self.hs_index.insert(h.into(), i);
        i
    }

    fn facts_of(&mut self, c: &Certificate) -> Facts {
        let sources = if c.source_certificates.is_empty() {
            NONE
        } else {
            let list: Box<[u32]> = c
                .source_certificates
                .iter()
                .map(|s| self.cert_of(s))
                .collect();
            self.source_lists.push(list);
            self.source_lists.len() as u32 - 1
        };
        Facts {
            carat_hundredths: c.carat_hundredths,
            value_usd_cents: c.value_usd_cents,
            origin: self.origin_of(&c.origin),
            hs_codes: self.hs_of(&c.hs_codes),
            sources,
            issued_on: c.issued_on,
            expires_on: c.expires_on,
            parcels: c.parcels,
            destination: c.destination,
        }
    }

    fn change_of(&mut self, c: &Correction) -> Change {
        match c {
            Correction::Exporter(_) => Change::Exporter,
            Correction::Importer(_) => Change::Importer,
            Correction::CaratHundredths(v) => Change::Carats(*v),
            Correction::ValueUsdCents(v) => Change::Value(*v),
            Correction::Parcels(v) => Change::Parcels(*v),
            Correction::ExpiresOn(d) => Change::ExpiresOn(*d),
            Correction::HsCodes(h) => Change::HsCodes(self.hs_of(h)),
            Correction::Origin(o) => Change::Origin(self.origin_of(o)),
            Correction::Destination(d) => Change::Destination(*d),
        }
    }

    /// The order of two events: `(timestamp_ms, author, seq, id)`.
    fn order(&self, a: u32, b: u32) -> Ordering {
        let (x, y) = (&self.events[a as usize], &self.events[b as usize]);
        (
            x.timestamp_ms,
            &self.authors[x.author as usize],
            x.seq,
            &x.id,
        )
            .cmp(&(
                y.timestamp_ms,
                &self.authors[y.author as usize],
                y.seq,
                &y.id,
            ))
    }

    /// Adds one event (any order; an id already in the view is ignored)
    /// under the view's timeline, and recomputes the certificate it touches.
    fn insert(&mut self, id: EventId, ev: &SignedEvent) {
        let c = &ev.content;
        let author = self.author_of(&c.author);
        let key = (c.seq, id);
        let pos = match self.feeds[author as usize].binary_search_by(|&i| {
            let e = &self.events[i as usize];
            (e.seq, e.id).cmp(&key)
        }) {
            Ok(_) => return,
            Err(p) => p,
        };
        let idx = self.events.len() as u32;
        self.events.push(Ev {
            id,
            timestamp_ms: c.timestamp_ms,
            seq: c.seq,
            author,
            cert: NONE,
            rec: NONE,
            kind: Kind::Other,
        });
        self.feeds[author as usize].insert(pos, idx);
        let latest = &mut self.latest_ms[author as usize];
        *latest = (*latest).max(c.timestamp_ms);
        self.link(idx, c.prev);
        if let Err(e) = self
            .timeline
            .check_author(&c.author, Date::from_unix_ms(c.timestamp_ms))
        {
            let r = RefusedEvent {
                event: EventRef::new(id, ev),
                kind: c.body.kind().to_owned(),
                reason: e.to_string(),
            };
            let at = self
                .refused
                .partition_point(|x| x.event.order_key() < r.event.order_key());
            self.refused.insert(at, r);
            return;
        }
        let Some(number) = c.body.certificate_number() else {
            return;
        };
        let cert = self.cert_of(number);
        let (kind, rec) = match &c.body {
            EventBody::CertificateIssued(x) => {
                let facts = self.facts_of(x);
                self.note_citations(cert, facts.sources);
                self.issues.push(facts);
                (Kind::Issue, self.issues.len() as u32 - 1)
            }
            EventBody::ImportConfirmed(x) => {
                self.confirmations.push(figures_of(x));
                (Kind::Confirmation, self.confirmations.len() as u32 - 1)
            }
            EventBody::CertificateVoided { reason, .. } => (Kind::Void, void_code(*reason)),
            EventBody::CertificateCorrected {
                original,
                correction,
                ..
            } => {
                let change = self.change_of(correction);
                self.corrections.push(CorrRec {
                    original: *original,
                    change,
                    applied: false,
                });
                (Kind::Correction, self.corrections.len() as u32 - 1)
            }
            _ => return,
        };
        let e = &mut self.events[idx as usize];
        e.cert = cert;
        e.kind = kind;
        e.rec = rec;
        let at = self.cert_events[cert as usize]
            .as_slice()
            .partition_point(|&j| self.order(j, idx) == Ordering::Less);
        self.cert_events[cert as usize].insert(at, idx);
        self.recompute(cert);
    }

    /// Notes that certificate `cert` lists the sources `sources` (an index
    /// into `source_lists`).
    fn note_citations(&mut self, cert: u32, sources: u32) {
        if sources == NONE {
            return;
        }
        for &s in self.source_lists[sources as usize].iter() {
            let list = self.cited_by.entry(s).or_default();
            let at = list.as_slice().partition_point(|&c| c < cert);
            if list.as_slice().get(at) != Some(&cert) {
                list.insert(at, cert);
            }
        }
    }

    /// The certificates whose issues list `source` as a source, in the
    /// view's order.
    fn citing(&self, source: u32) -> &[u32] {
        self.cited_by.get(&source).map_or(&[], IdList::as_slice)
    }

    /// Links an event to its predecessor in its feed (by `prev`), in
    /// whichever order the two arrive, noting a timestamp that goes back.
    fn link(&mut self, idx: u32, prev: Option<EventId>) {
        let e = self.events[idx as usize];
        if let Some(prev) = prev {
            match self.find_in_feed(e.author, e.seq.wrapping_sub(1), &prev) {
                Some(p) => self.check_backwards(p, idx),
                None => self.pending_prev.entry(prev).or_default().push(idx),
            }
        }
        if let Some(waiting) = self.pending_prev.remove(&e.id) {
            let mut rest = Vec::new();
            for w in waiting {
                if self.events[w as usize].author == e.author {
                    self.check_backwards(idx, w);
                } else {
                    rest.push(w);
                }
            }
            if !rest.is_empty() {
                self.pending_prev.insert(e.id, rest);
            }
        }
    }

    /// The event `id` of `author`'s feed, looked for at `seq` first (where
    /// a chained predecessor is), then anywhere in the feed.
    fn find_in_feed(&self, author: u32, seq: u64, id: &EventId) -> Option<u32> {
        let feed = &self.feeds[author as usize];
        let start = feed.partition_point(|&i| self.events[i as usize].seq < seq);
        for &i in &feed[start..] {
            let e = &self.events[i as usize];
            if e.seq != seq {
                break;
            }
            if e.id == *id {
                return Some(i);
            }
        }
        feed.iter()
            .copied()
            .find(|&i| self.events[i as usize].id == *id)
    }

    fn check_backwards(&mut self, p: u32, e: u32) {
        if self.events[e as usize].timestamp_ms < self.events[p as usize].timestamp_ms {
            self.backwards.insert((p, e));
        }
    }

    /// Recomputes what depends on the order of a certificate's events:
    /// which confirmations are superseded, and the corrections applied.
    fn recompute(&mut self, cert: u32) {
        let list: Vec<u32> = self.cert_events[cert as usize].as_slice().to_vec();
        let mut latest: BTreeSet<CountryCode> = BTreeSet::new();
        for &i in list.iter().rev() {
            let e = &mut self.events[i as usize];
            if matches!(e.kind, Kind::Confirmation | Kind::Superseded) {
                let p = self.authors[e.author as usize].participant;
                e.kind = if latest.insert(p) {
                    Kind::Confirmation
                } else {
                    Kind::Superseded
                };
            }
        }
        for &i in &list {
            let e = self.events[i as usize];
            if e.kind == Kind::Issue {
                if let Some(orig) = self.originals.remove(&e.rec) {
                    self.issues[e.rec as usize] = orig;
                }
            }
        }
        for &i in &list {
            let e = self.events[i as usize];
            if e.kind != Kind::Correction {
                continue;
            }
            let corr = self.corrections[e.rec as usize].clone();
            let issue = list.iter().copied().find(|&j| {
                let x = &self.events[j as usize];
                x.kind == Kind::Issue && x.id == corr.original
            });
            if let Some(j) = issue {
                let rec = self.events[j as usize].rec;
                let signed = self.issues[rec as usize];
                self.originals.entry(rec).or_insert(signed);
                apply_change(&mut self.issues[rec as usize], corr.change);
            }
            self.corrections[e.rec as usize].applied = issue.is_some();
        }
    }

    fn placed(&self, i: u32) -> Placed<'_> {
        let e = &self.events[i as usize];
        Placed {
            id: e.id,
            author: &self.authors[e.author as usize],
            seq: e.seq,
            timestamp_ms: e.timestamp_ms,
        }
    }

    fn facts(&self, f: &Facts) -> CertificateFacts<'_> {
        CertificateFacts {
            origin: &self.origins[f.origin as usize],
            issued_on: f.issued_on,
            expires_on: f.expires_on,
            destination: f.destination,
            carat_hundredths: f.carat_hundredths,
            value_usd_cents: f.value_usd_cents,
            parcels: f.parcels,
            hs_codes: &self.hs_lists[f.hs_codes as usize],
            source_certificates: match f.sources {
                NONE => Vec::new(),
                s => self.source_lists[s as usize]
                    .iter()
                    .map(|&c| self.name(c))
                    .collect(),
            },
        }
    }

    /// The primary issue's effective facts of certificate `c`, without
    /// reading out the rest of it.
    fn primary_facts(&self, c: u32) -> Option<(u32, &Facts)> {
        self.cert_events[c as usize]
            .as_slice()
            .iter()
            .map(|&i| &self.events[i as usize])
            .find(|e| e.kind == Kind::Issue)
            .map(|e| (e.author, &self.issues[e.rec as usize]))
    }

    /// Everything about certificate `c`, read out of the view.
    fn state(&self, c: u32) -> CertificateState<'_> {
        let mut st = CertificateState {
            number: self.name(c),
            issues: Vec::new(),
            confirmations: Vec::new(),
            voids: Vec::new(),
            corrections: Vec::new(),
        };
        for &i in self.cert_events[c as usize].as_slice() {
            let e = &self.events[i as usize];
            let event = self.placed(i);
            match e.kind {
                Kind::Issue => st.issues.push(IssueRecord {
                    event,
                    effective: self.facts(&self.issues[e.rec as usize]),
                }),
                Kind::Confirmation | Kind::Superseded => {
                    st.confirmations.push(ConfirmationRecord {
                        event,
                        confirmation: &self.confirmations[e.rec as usize],
                        superseded: e.kind == Kind::Superseded,
                    })
                }
                Kind::Void => st.voids.push(VoidRecord {
                    event,
                    reason: void_of(e.rec),
                }),
                Kind::Correction => {
                    let r = &self.corrections[e.rec as usize];
                    st.corrections.push(CorrectionRecord {
                        event,
                        original: r.original,
                        field: r.change.field(),
                        applied: r.applied,
                    })
                }
                Kind::Other => {}
            }
        }
        st
    }

    /// Indices of the numbers some event is about (not those only listed
    /// as sources), in the view's own order.
    fn known_certs(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.cert_events.len() as u32)
            .filter(|&c| !self.cert_events[c as usize].as_slice().is_empty())
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

    /// Everything known about a certificate number (issued or only
    /// referred to by a confirmation, void or correction).
    pub fn certificate(&self, number: &str) -> Option<CertificateState<'_>> {
        let c = self.find_cert(number)?;
        (!self.cert_events[c as usize].as_slice().is_empty()).then(|| self.state(c))
    }

    /// Every certificate number the view knows, in number order.
    pub fn certificates(&self) -> impl Iterator<Item = CertificateState<'_>> {
        let mut order: Vec<u32> = self.known_certs().collect();
        order.sort_by(|&a, &b| self.name(a).cmp(self.name(b)));
        order.into_iter().map(|c| self.state(c))
    }

    /// About how many bytes of the heap the view's entries fill: those of
    /// its per-event, per-issue, per-confirmation and per-number tables
    /// (the spare capacity of a growing table, the small tables of authors,
    /// origins and HS codes, and the timeline are left out).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let feeds: usize = self.feeds.iter().map(|f| f.len() * size_of::<u32>()).sum();
        let lists: usize = self
            .cert_events
            .iter()
            .map(|l| match l {
                IdList::Heap(v) => v.len() * size_of::<u32>(),
                _ => 0,
            })
            .sum();
        let sources: usize = self
            .source_lists
            .iter()
            .map(|l| l.len() * size_of::<u32>())
            .sum();
        self.events.len() * size_of::<Ev>()
            + feeds
            + self.issues.len() * size_of::<Facts>()
            + self.originals.len() * (size_of::<u32>() + size_of::<Facts>())
            + self.confirmations.len() * size_of::<ConfirmedFigures>()
            + self.corrections.len() * size_of::<CorrRec>()
            + self.names.len()
            + self.name_ends.len() * size_of::<u32>()
            + self.cert_events.len() * size_of::<IdList>()
            + lists
            + self.cert_table.len() * (size_of::<u32>() + 1)
            + self.source_lists.len() * size_of::<Box<[u32]>>()
            + sources
            + self.cited_by.len() * (size_of::<u32>() + size_of::<IdList>())
            + self.backwards.len() * 2 * size_of::<u32>()
            + self.pending_prev.len() * (size_of::<EventId>() + size_of::<Vec<u32>>())
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

fn figures_of(c: &ImportConfirmation) -> ConfirmedFigures {
    ConfirmedFigures {
        exporter_participant: c.exporter_participant,
        parcels: c.parcels,
        carat_hundredths: c.carat_hundredths,
        value_usd_cents: c.value_usd_cents,
        received_on: c.received_on,
    }
}

fn void_code(r: VoidReason) -> u32 {
    match r {
        VoidReason::Cancelled => 0,
        VoidReason::Lost => 1,
        VoidReason::Stolen => 2,
        VoidReason::Seized => 3,
    }
}

fn void_of(code: u32) -> VoidReason {
    match code {
        0 => VoidReason::Cancelled,
        1 => VoidReason::Lost,
        2 => VoidReason::Stolen,
        _ => VoidReason::Seized,
    }
}

/// The events signed with a key reported compromised, at or after the
/// reported seq. The key that signed an event is the key in force at its
/// seq (the charter's or admission's key, then each rotation's), except that
/// a rotation made under a pre-rotation commitment is signed by the new key.
/// `all` holds at least every event of the suspect authors (others are
/// ignored); an id seen twice counts once.
fn suspect_events(
    timeline: &Timeline,
    suspect_authors: &BTreeSet<AuthorId>,
    all: &[(EventId, SignedEvent)],
) -> Vec<SuspectEvent> {
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
            .filter(|(_, e)| e.content.author == s.author && suspect_authors.contains(&s.author))
            .collect();
        feed.sort_by_key(|(id, e)| (e.content.seq, *id));
        feed.dedup_by_key(|(id, _)| *id);
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

fn apply_change(f: &mut Facts, c: Change) {
    match c {
        Change::Exporter | Change::Importer => {}
        Change::Carats(v) => f.carat_hundredths = v,
        Change::Value(v) => f.value_usd_cents = v,
        Change::Parcels(v) => f.parcels = v,
        Change::ExpiresOn(d) => f.expires_on = d,
        Change::HsCodes(h) => f.hs_codes = h,
        Change::Origin(o) => f.origin = o,
        Change::Destination(d) => f.destination = d,
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
