//! The audit: cross-event checks that the store does not refuse (it only
//! checks each event on its own) but that a KP reviewer must see.
//!
//! Every finding names the events that prove it, so a reader can fetch them
//! and check the signatures. Kinds, severities and field names are a stable,
//! documented interface (JSON: snake_case).
//!
//! | kind | severity | what |
//! |---|---|---|
//! | `fork` | high | a stored fork proof: an author signed two events for one place |
//! | `unknown_certificate` | high | a confirmation, void or correction of a number nobody issued (a forged certificate shows up here); also a correction naming an issue event that is not an issue of that number |
//! | `duplicate_certificate_number` | high | two or more issue events with one number |
//! | `voided_then_confirmed` | high | a confirmation received (or signed) after the certificate's void |
//! | `source_overallocated` | high | re-exports of one participant that together draw more carats on its imports than it confirmed under them, though each alone fits its sources (see `allocation`): filed under the first over-drawn source, dated by the last of those re-exports, with the confirmations, the re-exports and the excess |
//! | `reexport_exceeds_imports` | high | a re-export whose carats exceed what its issuer confirmed importing under its sources, or with a source that is unknown or was not imported by the issuer |
//! | `non_participant_trade` | high | destination, single origin or issuer (number prefix or author) not a KP participant; a confirmation naming a non-participant exporter |
//! | `wrong_importer` | high | confirmed by a participant other than the certificate's destination |
//! | `double_confirmation` | medium | one participant confirmed a certificate more than once (only its latest confirmation counts) |
//! | `confirmation_mismatch` | medium | parcels, carats or value confirmed differ from the (corrected) certificate beyond tolerance |
//! | `unconfirmed_export` | medium | no confirmation at all (by anyone: a confirmation by another participant is `wrong_importer`) by expiry + grace; not for voided certificates nor for non-participant destinations (`non_participant_trade`) |
//! | `timestamp_backwards` | low | an event timestamped before its predecessor in its feed |
//! | `timestamp_future` | low | an event timestamped more than a tolerance after "now", or more than `clock::MAX_AHEAD_MS` (366 days) after the latest event of every other feed (from the ledger alone, without a clock) |
//! | `suspended_participant_trade` | high | a certificate issued by a participant suspended on its issue date or on the day it was signed (for a partial suspension: unless its single origin is the issuer itself, in a zone still allowed to export), or destined to a participant wholly suspended then |
//! | `origin_not_allowed` | high | a certificate (by any issuer) of rough diamonds whose origin is a suspended participant, outside the zones still allowed to export (mixed origins naming a suspended participant included) |
//! | `event_by_non_member` | high | an event signed when its author could not sign (not yet admitted, expelled, or a removed authority, on the event's day), kept because it arrived before the decision; it is left out of certificates, statistics and traces |
//! | `suspect_signature` | high | an event signed with a key that a decision reported compromised, from the reported seq on |
//!
//! Membership (participant or not, suspended or not) is that of the
//! governance timeline ([`crate::governance`]) on the date concerned, not
//! the charter's alone.
//!
//! Tolerance (`tolerance_bp`, default [`DEFAULT_TOLERANCE_BP`] = 0, i.e.
//! exact): a confirmed figure `c` matches a certified figure `x` when
//! `|c - x| * 10_000 <= tolerance_bp * x`. It applies to carats and value;
//! parcels are counted, so they must match exactly. The same tolerance
//! applies to re-export balances: a re-export of `r` carats against `i`
//! carats imported is flagged when `r * 10_000 > i * (10_000 + tolerance_bp)`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::format::{format_carats, format_usd, group_thousands};
use super::{void_reason, CertificateState, ConfirmationRecord, IssueRecord, LedgerView, NONE};
use crate::event::EventId;
use crate::governance::Standing;
use crate::model::{CountryCode, Date, Origin};

/// Default days after expiry before a missing confirmation is a finding.
pub const DEFAULT_CONFIRMATION_GRACE_DAYS: i32 = 30;
/// Default tolerance on confirmed carats and value: exact.
pub const DEFAULT_TOLERANCE_BP: u32 = 0;
/// Default slack for clocks: an event may be timestamped up to 10 minutes
/// after "now" before it is a finding.
pub const DEFAULT_FUTURE_TOLERANCE_MS: u64 = 10 * 60 * 1000;

/// What to audit and as of when.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditParams {
    /// Only findings involving this participant.
    pub participant: Option<CountryCode>,
    /// Only findings dated on or after this day (see [`Finding::date`]).
    pub from: Option<Date>,
    /// Only findings dated on or before this day.
    pub to: Option<Date>,
    /// Today, for `unconfirmed_export`.
    pub now: Date,
    /// Now in Unix milliseconds, for `timestamp_future`.
    pub now_ms: u64,
    /// Days after expiry an importer has to confirm.
    pub confirmation_grace_days: i32,
    /// Tolerance on confirmed carats and value, in basis points.
    pub tolerance_bp: u32,
    /// How far in the future an event timestamp may be, in milliseconds.
    pub future_tolerance_ms: u64,
    /// Only findings of these kinds (all kinds when empty).
    pub kinds: Vec<FindingKind>,
    /// Only findings at least this serious (`medium`: high and medium).
    pub min_severity: Option<Severity>,
}

impl AuditParams {
    /// Defaults as of `now_ms` (Unix milliseconds): no filter, 30 days of
    /// grace, exact figures, 10 minutes of clock slack; `now` is the UTC date
    /// of `now_ms`.
    pub fn new(now_ms: u64) -> AuditParams {
        AuditParams {
            participant: None,
            from: None,
            to: None,
            now: Date::from_unix_ms(now_ms),
            now_ms,
            confirmation_grace_days: DEFAULT_CONFIRMATION_GRACE_DAYS,
            tolerance_bp: DEFAULT_TOLERANCE_BP,
            future_tolerance_ms: DEFAULT_FUTURE_TOLERANCE_MS,
            kinds: Vec::new(),
            min_severity: None,
        }
    }

    /// Whether the filters select `f`.
    pub fn selects(&self, f: &Finding) -> bool {
        self.participant.is_none_or(|p| f.participants.contains(&p))
            && self.from.is_none_or(|d| f.date >= d)
            && self.to.is_none_or(|d| f.date <= d)
            && (self.kinds.is_empty() || self.kinds.contains(&f.kind))
            && self.min_severity.is_none_or(|s| f.severity <= s)
    }
}

/// How serious a finding is. Sorted high first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        match s {
            "high" => Ok(Severity::High),
            "medium" => Ok(Severity::Medium),
            "low" => Ok(Severity::Low),
            _ => Err(format!(
                "{s:?} is not a severity; one of: high, medium, low"
            )),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of finding; the snake_case names are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    UnconfirmedExport,
    ConfirmationMismatch,
    WrongImporter,
    UnknownCertificate,
    DuplicateCertificateNumber,
    VoidedThenConfirmed,
    ReexportExceedsImports,
    SourceOverallocated,
    DoubleConfirmation,
    NonParticipantTrade,
    Fork,
    TimestampBackwards,
    TimestampFuture,
    SuspendedParticipantTrade,
    OriginNotAllowed,
    EventByNonMember,
    SuspectSignature,
}

impl FindingKind {
    pub const ALL: [FindingKind; 17] = [
        FindingKind::UnconfirmedExport,
        FindingKind::ConfirmationMismatch,
        FindingKind::WrongImporter,
        FindingKind::UnknownCertificate,
        FindingKind::DuplicateCertificateNumber,
        FindingKind::VoidedThenConfirmed,
        FindingKind::ReexportExceedsImports,
        FindingKind::SourceOverallocated,
        FindingKind::DoubleConfirmation,
        FindingKind::NonParticipantTrade,
        FindingKind::Fork,
        FindingKind::TimestampBackwards,
        FindingKind::TimestampFuture,
        FindingKind::SuspendedParticipantTrade,
        FindingKind::OriginNotAllowed,
        FindingKind::EventByNonMember,
        FindingKind::SuspectSignature,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::UnconfirmedExport => "unconfirmed_export",
            FindingKind::ConfirmationMismatch => "confirmation_mismatch",
            FindingKind::WrongImporter => "wrong_importer",
            FindingKind::UnknownCertificate => "unknown_certificate",
            FindingKind::DuplicateCertificateNumber => "duplicate_certificate_number",
            FindingKind::VoidedThenConfirmed => "voided_then_confirmed",
            FindingKind::ReexportExceedsImports => "reexport_exceeds_imports",
            FindingKind::SourceOverallocated => "source_overallocated",
            FindingKind::DoubleConfirmation => "double_confirmation",
            FindingKind::NonParticipantTrade => "non_participant_trade",
            FindingKind::Fork => "fork",
            FindingKind::TimestampBackwards => "timestamp_backwards",
            FindingKind::TimestampFuture => "timestamp_future",
            FindingKind::SuspendedParticipantTrade => "suspended_participant_trade",
            FindingKind::OriginNotAllowed => "origin_not_allowed",
            FindingKind::EventByNonMember => "event_by_non_member",
            FindingKind::SuspectSignature => "suspect_signature",
        }
    }

    /// Parses a stable name.
    pub fn from_name(s: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn severity(self) -> Severity {
        match self {
            FindingKind::Fork
            | FindingKind::UnknownCertificate
            | FindingKind::DuplicateCertificateNumber
            | FindingKind::VoidedThenConfirmed
            | FindingKind::ReexportExceedsImports
            | FindingKind::SourceOverallocated
            | FindingKind::NonParticipantTrade
            | FindingKind::WrongImporter
            | FindingKind::SuspendedParticipantTrade
            | FindingKind::OriginNotAllowed
            | FindingKind::EventByNonMember
            | FindingKind::SuspectSignature => Severity::High,
            FindingKind::ConfirmationMismatch
            | FindingKind::UnconfirmedExport
            | FindingKind::DoubleConfirmation => Severity::Medium,
            FindingKind::TimestampBackwards | FindingKind::TimestampFuture => Severity::Low,
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// The events that prove it, most telling order first (e.g. the issue,
    /// then the confirmation that contradicts it).
    pub events: Vec<EventId>,
    /// The certificate number concerned, if any.
    pub certificate: Option<String>,
    /// The participants involved, sorted.
    pub participants: Vec<CountryCode>,
    /// The date used by the period filter: the certificate's issue date when
    /// the certificate was issued; for a number never issued, the earliest
    /// receipt date of its confirmations or (UTC) day its voids or
    /// corrections were signed; otherwise the (UTC) day of the earliest
    /// event concerned.
    pub date: Date,
    /// One line for people.
    pub explanation: String,
}

impl Finding {
    fn sort_key(&self) -> (Severity, &'static str, &Option<String>, &[EventId]) {
        (
            self.severity,
            self.kind.as_str(),
            &self.certificate,
            &self.events,
        )
    }
}

/// The settings of one run of the checks. `clock` is `None` when there is no
/// "now" (then the time-dependent kinds are not checked).
pub(crate) struct Checks {
    pub tolerance_bp: u32,
    pub grace_days: i32,
    pub clock: Option<Clock>,
}

pub(crate) struct Clock {
    pub now: Date,
    pub now_ms: u64,
    pub future_tolerance_ms: u64,
}

impl Checks {
    pub fn from_params(p: &AuditParams) -> Checks {
        Checks {
            tolerance_bp: p.tolerance_bp,
            grace_days: p.confirmation_grace_days,
            clock: Some(Clock {
                now: p.now,
                now_ms: p.now_ms,
                future_tolerance_ms: p.future_tolerance_ms,
            }),
        }
    }

    /// Default tolerances and no clock.
    pub fn timeless() -> Checks {
        Checks {
            tolerance_bp: DEFAULT_TOLERANCE_BP,
            grace_days: DEFAULT_CONFIRMATION_GRACE_DAYS,
            clock: None,
        }
    }
}

pub(super) fn finding(
    kind: FindingKind,
    certificate: Option<&str>,
    events: Vec<EventId>,
    participants: Vec<CountryCode>,
    date: Date,
    explanation: String,
) -> Finding {
    let mut ev = Vec::with_capacity(events.len());
    for e in events {
        if !ev.contains(&e) {
            ev.push(e);
        }
    }
    let mut participants = participants;
    participants.sort();
    participants.dedup();
    Finding {
        kind,
        severity: kind.severity(),
        events: ev,
        certificate: certificate.map(str::to_owned),
        participants,
        date,
        explanation,
    }
}

/// `|confirmed - certified| * 10_000 <= bp * certified`.
fn within(certified: u64, confirmed: u64, bp: u32) -> bool {
    let diff = certified.abs_diff(confirmed) as u128;
    diff * 10_000 <= bp as u128 * certified as u128
}

fn day_of(ms: u64) -> Date {
    Date::from_unix_ms(ms)
}

/// Ids of the corrections applied to `issue` that touch one of `fields`.
pub(super) fn corrections_of(
    st: &CertificateState,
    issue: &IssueRecord,
    fields: &[&str],
) -> Vec<EventId> {
    st.corrections
        .iter()
        .filter(|c| c.applied && c.original == issue.event.id)
        .filter(|c| fields.contains(&c.field))
        .map(|c| c.event.id)
        .collect()
}

impl LedgerView {
    /// Runs every check as of `params.now` / `params.now_ms`, keeps the
    /// findings the filters select, sorted by (severity, kind, certificate,
    /// event ids).
    pub fn audit(&self, params: &AuditParams) -> Vec<Finding> {
        let mut all = self.findings(&Checks::from_params(params));
        all.retain(|f| params.selects(f));
        all
    }

    /// Every finding, sorted.
    pub(crate) fn findings(&self, ck: &Checks) -> Vec<Finding> {
        let mut out = Vec::new();
        for c in self.known_certs() {
            self.certificate_findings(&self.state(c), ck, &mut out);
        }
        self.allocation_findings(ck, &mut out);
        for &(p, e) in &self.backwards {
            self.backwards_finding(p, e, &mut out);
        }
        let top = self.latest_two();
        for i in 0..self.events.len() as u32 {
            self.future_finding(i, ck.clock.as_ref(), &top, &mut out);
        }
        self.fork_findings(&mut out);
        self.membership_findings(&mut out);
        out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        out
    }

    /// The findings about one certificate number (those [`Self::findings`]
    /// gives with that number), sorted; `None` when no event is about it.
    pub(crate) fn findings_about(&self, number: &str, ck: &Checks) -> Option<Vec<Finding>> {
        let c = self.find_cert(number)?;
        let events = self.cert_events[c as usize].as_slice();
        if events.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        self.certificate_findings(&self.state(c), ck, &mut out);
        self.allocation_findings_about(c, ck, &mut out);
        for &(p, e) in &self.backwards {
            if self.events[e as usize].cert == c {
                self.backwards_finding(p, e, &mut out);
            }
        }
        let top = self.latest_two();
        for &i in events {
            self.future_finding(i, ck.clock.as_ref(), &top, &mut out);
        }
        let mut all = Vec::new();
        self.fork_findings(&mut all);
        self.membership_findings(&mut all);
        out.extend(
            all.into_iter()
                .filter(|f| f.certificate.as_deref() == Some(number)),
        );
        out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Some(out)
    }

    /// The date a finding about `certificate` is filed under.
    fn finding_date(&self, certificate: Option<&str>, fallback: Date) -> Date {
        certificate
            .and_then(|n| self.find_cert(n))
            .and_then(|c| self.primary_facts(c))
            .map_or(fallback, |(_, f)| f.issued_on)
    }

    /// The number event `i` is about, if any (none for a refused event).
    fn number_of_event(&self, i: u32) -> Option<&str> {
        match self.events[i as usize].cert {
            NONE => None,
            c => Some(self.name(c)),
        }
    }

    fn certificate_findings(&self, st: &CertificateState, ck: &Checks, out: &mut Vec<Finding>) {
        let Some(primary) = st.primary() else {
            self.unknown_findings(st, out);
            return;
        };
        let n = st.number;
        let cert = &primary.effective;
        let issuer = primary.event.participant();
        let date = cert.issued_on;

        if st.issues.len() > 1 {
            let who: Vec<String> = st
                .issues
                .iter()
                .map(|i| format!("{} seq {}", i.event.author, i.event.seq))
                .collect();
            out.push(finding(
                FindingKind::DuplicateCertificateNumber,
                Some(n),
                st.issues.iter().map(|i| i.event.id).collect(),
                st.issues.iter().map(|i| i.event.participant()).collect(),
                date,
                format!(
                    "{n} was issued {} times ({})",
                    st.issues.len(),
                    who.join(", ")
                ),
            ));
        }

        for corr in st.corrections.iter().filter(|c| !c.applied) {
            out.push(finding(
                FindingKind::UnknownCertificate,
                Some(n),
                vec![corr.event.id],
                vec![corr.event.participant(), issuer],
                date,
                format!(
                    "{} corrects {} of {n} in an issue event {} that is not an issue of this number",
                    corr.event.author,
                    corr.field,
                    corr.original
                ),
            ));
        }

        for issue in &st.issues {
            self.non_participant_issue(st, issue, out);
            self.suspension_findings(st, issue, out);
        }

        for c in st.current_confirmations() {
            let by = c.event.participant();
            if by != cert.destination {
                let mut events = vec![primary.event.id];
                events.extend(corrections_of(st, primary, &["destination"]));
                events.push(c.event.id);
                out.push(finding(
                    FindingKind::WrongImporter,
                    Some(n),
                    events,
                    vec![issuer, cert.destination, by],
                    date,
                    format!(
                        "{n} names destination {} but was confirmed by {by}",
                        cert.destination
                    ),
                ));
            }
            self.mismatch(st, primary, c, ck.tolerance_bp, out);
        }

        self.double_confirmations(st, issuer, date, out);

        if let Some(void) = st.first_void() {
            let void_day = day_of(void.event.timestamp_ms);
            for c in &st.confirmations {
                let late_receipt = c.confirmation.received_on > void_day;
                let late_signature = c.event.timestamp_ms > void.event.timestamp_ms;
                if late_receipt || late_signature {
                    let why = if late_receipt {
                        format!("with receipt on {}", c.confirmation.received_on)
                    } else {
                        format!(
                            "in an event signed {} ms after the void",
                            group_thousands(c.event.timestamp_ms - void.event.timestamp_ms)
                        )
                    };
                    out.push(finding(
                        FindingKind::VoidedThenConfirmed,
                        Some(n),
                        vec![void.event.id, c.event.id],
                        vec![issuer, c.event.participant()],
                        date,
                        format!(
                            "{n} was voided ({}) on {void_day} but {} confirmed it {why}",
                            void_reason(void.reason),
                            c.event.participant()
                        ),
                    ));
                }
            }
        }

        if let Some(clock) = &ck.clock {
            let deadline = cert.expires_on.add_days(ck.grace_days);
            // A non-participant destination cannot confirm: that certificate
            // is a `non_participant_trade` finding instead.
            if !st.is_voided()
                && st.confirmations.is_empty()
                && self.is_participant_on(cert.destination, cert.issued_on)
                && clock.now > deadline
            {
                let mut events = vec![primary.event.id];
                events.extend(corrections_of(st, primary, &["expires_on"]));
                out.push(finding(
                    FindingKind::UnconfirmedExport,
                    Some(n),
                    events,
                    vec![issuer, cert.destination],
                    date,
                    format!(
                        "{n} ({issuer} to {}, {}) expired on {} and {} has not confirmed it {} days later (as of {})",
                        cert.destination,
                        format_carats(cert.carat_hundredths),
                        cert.expires_on,
                        cert.destination,
                        ck.grace_days,
                        clock.now
                    ),
                ));
            }
        }

        if !cert.source_certificates.is_empty() && !st.is_voided() {
            self.reexport_balance(st, primary, ck.tolerance_bp, out);
        }
    }

    /// A participant that confirmed one certificate more than once: only
    /// its latest confirmation counts, and the figures may have changed.
    fn double_confirmations(
        &self,
        st: &CertificateState,
        issuer: CountryCode,
        date: Date,
        out: &mut Vec<Finding>,
    ) {
        let n = st.number;
        let mut by: Vec<CountryCode> = st
            .confirmations
            .iter()
            .map(|c| c.event.participant())
            .collect();
        by.sort();
        by.dedup();
        for p in by {
            let all: Vec<&ConfirmationRecord> = st
                .confirmations
                .iter()
                .filter(|c| c.event.participant() == p)
                .collect();
            if all.len() < 2 {
                continue;
            }
            let each: Vec<String> = all
                .iter()
                .map(|c| {
                    format!(
                        "seq {}: {} received {}",
                        c.event.seq,
                        format_carats(c.confirmation.carat_hundredths),
                        c.confirmation.received_on
                    )
                })
                .collect();
            out.push(finding(
                FindingKind::DoubleConfirmation,
                Some(n),
                all.iter().map(|c| c.event.id).collect(),
                vec![issuer, p],
                date,
                format!(
                    "{p} confirmed {n} {} times ({}); only the latest counts",
                    all.len(),
                    each.join("; ")
                ),
            ));
        }
    }

    /// A number referred to by confirmations, voids or corrections but
    /// never issued.
    fn unknown_findings(&self, st: &CertificateState, out: &mut Vec<Finding>) {
        let n = st.number;
        let mut refs = Vec::new();
        let mut events = Vec::new();
        let mut participants: Vec<CountryCode> = st.claimed_issuer().into_iter().collect();
        // Dated by the earliest receipt date of a confirmation, or the
        // earliest day a void or correction was signed.
        let mut first: Option<Date> = None;
        let mut earliest = |d: Date| first = Some(first.map_or(d, |f| f.min(d)));
        for c in &st.confirmations {
            refs.push(format!(
                "confirmation by {} (received {})",
                c.event.participant(),
                c.confirmation.received_on
            ));
            events.push(c.event.id);
            participants.push(c.event.participant());
            earliest(c.confirmation.received_on);
        }
        for v in &st.voids {
            refs.push(format!("void by {}", v.event.author));
            events.push(v.event.id);
            participants.push(v.event.participant());
            earliest(day_of(v.event.timestamp_ms));
        }
        for c in &st.corrections {
            refs.push(format!("correction by {}", c.event.author));
            events.push(c.event.id);
            participants.push(c.event.participant());
            earliest(day_of(c.event.timestamp_ms));
        }
        let Some(date) = first else {
            return;
        };
        out.push(finding(
            FindingKind::UnknownCertificate,
            Some(n),
            events,
            participants,
            date,
            format!(
                "{n} was never issued in this ledger, yet it is referred to by {}",
                refs.join(", ")
            ),
        ));
        // A confirmation naming an exporter outside the KP (e.g. a forged
        // certificate of a non-participant).
        let outside: Vec<&ConfirmationRecord> = st
            .confirmations
            .iter()
            .filter(|c| {
                !self.is_participant_on(
                    c.confirmation.exporter_participant,
                    c.confirmation.received_on,
                )
            })
            .collect();
        if let Some(first) = outside.first() {
            let exporter = first.confirmation.exporter_participant;
            let mut participants = vec![exporter];
            participants.extend(outside.iter().map(|c| c.event.participant()));
            out.push(finding(
                FindingKind::NonParticipantTrade,
                Some(n),
                outside.iter().map(|c| c.event.id).collect(),
                participants,
                date,
                format!(
                    "{} confirmed an import under {n} from {exporter}, which is not a KP participant",
                    first.event.participant()
                ),
            ));
        }
    }

    fn non_participant_issue(
        &self,
        st: &CertificateState,
        issue: &IssueRecord,
        out: &mut Vec<Finding>,
    ) {
        let cert = &issue.effective;
        let author = issue.event.participant();
        let mut problems = Vec::new();
        let mut participants = vec![author, cert.destination];
        let mut fields = Vec::new();
        if let Some(prefix) = st.claimed_issuer() {
            if !self.is_participant_on(prefix, cert.issued_on) {
                problems.push(format!("issuer prefix {prefix}"));
                participants.push(prefix);
            }
        }
        if !self.is_participant_on(author, cert.issued_on) {
            problems.push(format!("issuing author {}", issue.event.author));
        }
        if !self.is_participant_on(cert.destination, cert.issued_on) {
            problems.push(format!("destination {}", cert.destination));
            fields.push("destination");
        }
        if let Origin::Single { country, .. } = &cert.origin {
            if !self.is_participant_on(*country, cert.issued_on) {
                problems.push(format!("origin {country}"));
                participants.push(*country);
                fields.push("origin");
            }
        }
        if problems.is_empty() {
            return;
        }
        let mut events = vec![issue.event.id];
        events.extend(corrections_of(st, issue, &fields));
        out.push(finding(
            FindingKind::NonParticipantTrade,
            Some(st.number),
            events,
            participants,
            cert.issued_on,
            format!(
                "{}: {} not a KP participant",
                st.number,
                if problems.len() == 1 {
                    format!("{} is", problems[0])
                } else {
                    format!("{} are", problems.join(", "))
                }
            ),
        ));
    }

    fn mismatch(
        &self,
        st: &CertificateState,
        primary: &IssueRecord,
        c: &ConfirmationRecord,
        bp: u32,
        out: &mut Vec<Finding>,
    ) {
        let cert = &primary.effective;
        let conf = &c.confirmation;
        let mut diffs = Vec::new();
        let mut fields = Vec::new();
        if conf.parcels != cert.parcels {
            diffs.push(format!(
                "parcels {} confirmed vs {} certified",
                conf.parcels, cert.parcels
            ));
            fields.push("parcels");
        }
        if !within(cert.carat_hundredths, conf.carat_hundredths, bp) {
            diffs.push(format!(
                "carats {} confirmed vs {} certified",
                format_carats(conf.carat_hundredths),
                format_carats(cert.carat_hundredths)
            ));
            fields.push("carat_hundredths");
        }
        if !within(cert.value_usd_cents, conf.value_usd_cents, bp) {
            diffs.push(format!(
                "value {} confirmed vs {} certified",
                format_usd(conf.value_usd_cents),
                format_usd(cert.value_usd_cents)
            ));
            fields.push("value_usd_cents");
        }
        if diffs.is_empty() {
            return;
        }
        let mut events = vec![primary.event.id];
        events.extend(corrections_of(st, primary, &fields));
        events.push(c.event.id);
        let by = c.event.participant();
        out.push(finding(
            FindingKind::ConfirmationMismatch,
            Some(st.number),
            events,
            vec![primary.event.participant(), by],
            cert.issued_on,
            format!(
                "{by}'s confirmation of {} differs from the certificate: {} (tolerance {bp} bp)",
                st.number,
                diffs.join("; ")
            ),
        ));
    }

    fn reexport_balance(
        &self,
        st: &CertificateState,
        primary: &IssueRecord,
        bp: u32,
        out: &mut Vec<Finding>,
    ) {
        let cert = &primary.effective;
        let issuer = primary.event.participant();
        let mut imported: u128 = 0;
        let mut events = vec![primary.event.id];
        events.extend(corrections_of(st, primary, &["carat_hundredths"]));
        let mut unknown = Vec::new();
        let mut not_imported = Vec::new();
        for &s in &cert.source_certificates {
            match self.certificate(s) {
                Some(src) if !src.issues.is_empty() => match src.confirmation_by(issuer) {
                    Some(c) => {
                        imported += u128::from(c.confirmation.carat_hundredths);
                        events.push(c.event.id);
                    }
                    None => not_imported.push(s),
                },
                _ => unknown.push(s),
            }
        }
        let exceeds = cert.carat_hundredths as u128 * 10_000 > imported * (10_000 + bp as u128);
        if !exceeds && unknown.is_empty() && not_imported.is_empty() {
            return;
        }
        let mut parts = Vec::new();
        if exceeds {
            parts.push(format!(
                "re-export {} carries {} but {issuer} confirmed {} imported under its {} source(s)",
                st.number,
                format_carats(cert.carat_hundredths),
                format_carats(u64::try_from(imported).unwrap_or(u64::MAX)),
                cert.source_certificates.len()
            ));
        } else {
            parts.push(format!("re-export {}", st.number));
        }
        if !unknown.is_empty() {
            parts.push(format!("source(s) never issued: {}", unknown.join(", ")));
        }
        if !not_imported.is_empty() {
            parts.push(format!(
                "source(s) not confirmed as imported by {issuer}: {}",
                not_imported.join(", ")
            ));
        }
        out.push(finding(
            FindingKind::ReexportExceedsImports,
            Some(st.number),
            events,
            vec![issuer],
            cert.issued_on,
            parts.join("; "),
        ));
    }

    /// Event `e` timestamped before its predecessor `p` in its feed.
    fn backwards_finding(&self, p: u32, e: u32, out: &mut Vec<Finding>) {
        let (p, ev) = (self.placed(p), self.placed(e));
        let cert = self.number_of_event(e);
        out.push(finding(
            FindingKind::TimestampBackwards,
            cert,
            vec![p.id, ev.id],
            vec![ev.participant()],
            self.finding_date(cert, day_of(ev.timestamp_ms)),
            format!(
                "{} seq {} is timestamped {} ms before its predecessor seq {} ({} < {})",
                ev.author,
                ev.seq,
                group_thousands(p.timestamp_ms - ev.timestamp_ms),
                p.seq,
                ev.timestamp_ms,
                p.timestamp_ms
            ),
        ));
    }

    /// The latest timestamps of the two authors with the latest events,
    /// as (timestamp, author index); `u32::MAX` for no author.
    fn latest_two(&self) -> [(u64, u32); 2] {
        let mut top = [(0u64, u32::MAX); 2];
        for (a, &t) in self.latest_ms.iter().enumerate() {
            if self.feeds[a].is_empty() {
                continue;
            }
            let a = a as u32;
            if top[0].1 == u32::MAX || t > top[0].0 {
                top[1] = top[0];
                top[0] = (t, a);
            } else if top[1].1 == u32::MAX || t > top[1].0 {
                top[1] = (t, a);
            }
        }
        top
    }

    /// Event `i`, if it is timestamped too far after "now", or (from the
    /// ledger alone) too far after the latest event of every other feed.
    fn future_finding(
        &self,
        i: u32,
        clock: Option<&Clock>,
        top: &[(u64, u32); 2],
        out: &mut Vec<Finding>,
    ) {
        let e = &self.events[i as usize];
        let others = top
            .iter()
            .find(|(_, a)| *a != e.author && *a != u32::MAX)
            .map(|(t, _)| *t);
        let message = match (clock, others) {
            (Some(c), _) if e.timestamp_ms > c.now_ms.saturating_add(c.future_tolerance_ms) => {
                let ev = self.placed(i);
                format!(
                    "{} seq {} is timestamped {} ms after now ({} > {}; tolerance {} ms)",
                    ev.author,
                    ev.seq,
                    group_thousands(ev.timestamp_ms - c.now_ms),
                    ev.timestamp_ms,
                    c.now_ms,
                    group_thousands(c.future_tolerance_ms)
                )
            }
            (_, Some(o)) if e.timestamp_ms > o.saturating_add(crate::clock::MAX_AHEAD_MS) => {
                let ev = self.placed(i);
                format!(
                    "{} seq {} is timestamped {} days after the latest event of every other feed ({} > {}): its author's clock was far ahead",
                    ev.author,
                    ev.seq,
                    group_thousands((ev.timestamp_ms - o) / 86_400_000),
                    ev.timestamp_ms,
                    o
                )
            }
            _ => return,
        };
        let ev = self.placed(i);
        let cert = self.number_of_event(i);
        out.push(finding(
            FindingKind::TimestampFuture,
            cert,
            vec![ev.id],
            vec![ev.participant()],
            self.finding_date(cert, day_of(ev.timestamp_ms)),
            message,
        ));
    }

    /// Trade with a participant suspended on the certificate's issue date or
    /// on the day its issue event was signed (both are checked, so
    /// backdating one of them does not hide it).
    fn suspension_findings(
        &self,
        st: &CertificateState,
        issue: &IssueRecord,
        out: &mut Vec<Finding>,
    ) {
        let cert = &issue.effective;
        let issuer = issue.event.participant();
        let mut days = vec![cert.issued_on, day_of(issue.event.timestamp_ms)];
        days.dedup();
        let mut trade = Vec::new();
        let mut origin = Vec::new();
        let mut origin_parts = Vec::new();
        for d in days {
            let m = self.timeline.at(d);
            let zones_of = |c: CountryCode| match m.participant(c).map(|r| &r.standing) {
                Some(Standing::Suspended { exporting_zones }) => Some(exporting_zones),
                _ => None,
            };
            let from_allowed_zone = |c: CountryCode, zones: &Vec<String>| {
                matches!(&cert.origin, Origin::Single { country, zone: Some(z) }
                    if *country == c && zones.contains(z))
            };
            if let Some(zones) = zones_of(issuer) {
                if !from_allowed_zone(issuer, zones) {
                    trade.push(if zones.is_empty() {
                        format!("issuer {issuer} is suspended on {d}")
                    } else {
                        format!(
                            "issuer {issuer} is suspended on {d} except for exports mined in {}",
                            zones.join(", ")
                        )
                    });
                }
            }
            if let Some(zones) = zones_of(cert.destination) {
                if zones.is_empty() {
                    trade.push(format!(
                        "destination {} is suspended on {d}",
                        cert.destination
                    ));
                }
            }
            let countries: Vec<CountryCode> = match &cert.origin {
                Origin::Single { country, .. } => vec![*country],
                Origin::Mixed { countries } => countries.clone(),
            };
            for c in countries {
                if c == issuer {
                    continue; // covered by the issuer's own suspension above
                }
                if let Some(zones) = zones_of(c) {
                    if !from_allowed_zone(c, zones) {
                        origin.push(format!(
                            "origin {c} is suspended on {d}{}",
                            if zones.is_empty() {
                                String::new()
                            } else {
                                format!(" (only {} may export)", zones.join(", "))
                            }
                        ));
                        origin_parts.push(c);
                    }
                }
            }
        }
        trade.dedup();
        origin.dedup();
        if !trade.is_empty() {
            out.push(finding(
                FindingKind::SuspendedParticipantTrade,
                Some(st.number),
                vec![issue.event.id],
                vec![issuer, cert.destination],
                cert.issued_on,
                format!("{}: {}", st.number, trade.join("; ")),
            ));
        }
        if !origin.is_empty() {
            let mut parts = vec![issuer];
            parts.extend(origin_parts);
            out.push(finding(
                FindingKind::OriginNotAllowed,
                Some(st.number),
                vec![issue.event.id],
                parts,
                cert.issued_on,
                format!("{}: {}", st.number, origin.join("; ")),
            ));
        }
    }

    /// Events signed when their author could not sign, and events signed
    /// with a key reported compromised.
    fn membership_findings(&self, out: &mut Vec<Finding>) {
        for r in &self.refused {
            out.push(finding(
                FindingKind::EventByNonMember,
                None,
                vec![r.event.id],
                vec![r.event.participant()],
                day_of(r.event.timestamp_ms),
                format!(
                    "{} seq {} ({}) was signed on {} but {}; it is kept and left out of the figures",
                    r.event.author,
                    r.event.seq,
                    r.kind,
                    day_of(r.event.timestamp_ms),
                    r.reason
                ),
            ));
        }
        for s in &self.suspect {
            let cert = s.certificate.as_deref();
            out.push(finding(
                FindingKind::SuspectSignature,
                cert,
                vec![s.event.id, s.decision],
                vec![s.event.participant()],
                self.finding_date(cert, day_of(s.event.timestamp_ms)),
                format!(
                    "{} seq {} ({}) is signed with a key reported compromised by decision {}",
                    s.event.author,
                    s.event.seq,
                    s.kind,
                    &s.decision.to_hex()[..16]
                ),
            ));
        }
    }

    fn fork_findings(&self, out: &mut Vec<Finding>) {
        for p in &self.fork_proofs {
            let (a, b) = (&p.first.content, &p.second.content);
            let cert = a
                .body
                .certificate_number()
                .or_else(|| b.body.certificate_number());
            let (ida, idb) = p.ids();
            out.push(finding(
                FindingKind::Fork,
                cert,
                vec![ida, idb],
                vec![p.author().participant],
                self.finding_date(cert, day_of(a.timestamp_ms.min(b.timestamp_ms))),
                format!(
                    "{} signed two different events at seq {}: {} and {}",
                    p.author(),
                    p.seq(),
                    a.body.kind(),
                    b.body.kind()
                ),
            ));
        }
    }
}
