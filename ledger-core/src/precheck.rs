//! Checks an authority's own write against its replica before it is
//! signed: what would only become a permanent audit finding once signed
//! (a number issued twice, a confirmation of a certificate addressed to
//! someone else, a void of a certificate never issued, a proposal the
//! membership timeline would refuse) is refused instead, naming the rule.
//!
//! A retry of a write already signed (the same body by the same author)
//! is recognised and answered with the original event, so clients can
//! retry safely. This is advice to the authoring node only: validation of
//! received events does not change (it stays order-independent), and a
//! write signed anyway (`force`) is still reported by the audit.

use std::fmt;

use crate::event::EventId;
use crate::governance::Timeline;
use crate::model::{AuthorId, CountryCode, Date};
use crate::store::{CertificateRecord, StoredEvent};
use crate::{Correction, EventBody};

/// What to do with a write that passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precheck {
    /// Sign it.
    Sign,
    /// The same body was already signed by this author: answer with it.
    AlreadySigned { id: EventId, seq: u64 },
}

/// Whether a refusal is a conflict with what the ledger holds (HTTP 409)
/// or a write that can never be right (422).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    Conflict,
    Invalid,
}

/// Why a write is refused before signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    /// The rule's stable snake_case name.
    pub rule: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.rule)
    }
}

fn conflict(rule: &'static str, message: String) -> Refusal {
    Refusal {
        kind: RefusalKind::Conflict,
        rule,
        message,
    }
}

fn invalid(rule: &'static str, message: String) -> Refusal {
    Refusal {
        kind: RefusalKind::Invalid,
        rule,
        message,
    }
}

const FORCE: &str =
    "if this is meant, sign it anyway with --force (API: ?force=true); the audit will report it";

fn place(e: &StoredEvent) -> String {
    format!(
        "{} seq {} (event {})",
        e.event.content.author,
        e.event.content.seq,
        short(&e.id)
    )
}

fn short(id: &EventId) -> String {
    id.to_hex().chars().take(12).collect()
}

fn same_body(author: &AuthorId, body: &EventBody, e: &StoredEvent) -> bool {
    e.event.content.author == *author && e.event.content.body == *body
}

fn signed(e: &StoredEvent) -> Precheck {
    Precheck::AlreadySigned {
        id: e.id,
        seq: e.event.content.seq,
    }
}

/// The destination of the issue `issue` with the destination corrections
/// of its issuer applied in the order they were signed.
fn destination_of(record: &CertificateRecord, issue: &StoredEvent) -> Option<CountryCode> {
    let EventBody::CertificateIssued(c) = &issue.event.content.body else {
        return None;
    };
    let mut corrections: Vec<&StoredEvent> = record
        .corrections
        .iter()
        .filter(|e| e.event.content.author.participant == issue.event.content.author.participant)
        .collect();
    corrections.sort_by_key(|e| (e.event.content.timestamp_ms, e.event.content.seq));
    let mut dest = c.destination;
    for e in corrections {
        if let EventBody::CertificateCorrected {
            original,
            correction: Correction::Destination(d),
            ..
        } = &e.event.content.body
        {
            if *original == issue.id {
                dest = *d;
            }
        }
    }
    Some(dest)
}

fn unknown(number: &str) -> Refusal {
    let upper = number.to_ascii_uppercase();
    let case = if upper != number {
        format!(" (numbers are written in capitals: did you mean {upper}?)")
    } else {
        String::new()
    };
    invalid(
        "unknown_certificate",
        format!(
            "{number} is not in this node's replica: no participant issued it{case}. Check the number; if it was issued moments ago, wait until it arrives here; {FORCE}"
        ),
    )
}

fn issue_of<'a>(record: &'a CertificateRecord, number: &str) -> Result<&'a StoredEvent, Refusal> {
    record.issued.first().ok_or_else(|| unknown(number))
}

/// Checks `body`, to be signed by `author` today, against the `record` of
/// its certificate number (empty when the ledger holds nothing about it)
/// and the membership `timeline`.
pub fn check_write(
    author: &AuthorId,
    body: &EventBody,
    record: &CertificateRecord,
    timeline: &Timeline,
    today: Date,
) -> Result<Precheck, Refusal> {
    let me = author.participant;
    match body {
        EventBody::CertificateIssued(c) => {
            let n = &c.number;
            if let Some(e) = record.issued.iter().find(|e| same_body(author, body, e)) {
                return Ok(signed(e));
            }
            if let Some(e) = record.issued.first() {
                let by = e.event.content.author.participant;
                return Err(conflict(
                    "already_issued",
                    if by == me {
                        format!(
                            "{n} was already issued with other content by {}; a new certificate needs a new number (a retry of the same request returns the original); to change the certificate, correct it (`kpl correct`); {FORCE}",
                            place(e)
                        )
                    } else {
                        format!("{n} was already issued by {}; {FORCE}", place(e))
                    },
                ));
            }
            if c.destination == me {
                return Err(invalid(
                    "export_to_self",
                    format!("{n} names {me}, its own issuer, as the destination: an export goes to another participant"),
                ));
            }
            if !timeline.at(c.issued_on).is_participant(c.destination) {
                return Err(invalid(
                    "destination_not_participant",
                    format!(
                        "the destination {} is not a KP participant on the issue date {}: rough diamonds may not be exported to it (`kpl members --at {}`); {FORCE}",
                        c.destination, c.issued_on, c.issued_on
                    ),
                ));
            }
            Ok(Precheck::Sign)
        }
        EventBody::ImportConfirmed(x) => {
            let n = &x.certificate;
            if let Some(e) = record
                .confirmations
                .iter()
                .find(|e| same_body(author, body, e))
            {
                return Ok(signed(e));
            }
            let issue = issue_of(record, n)?;
            let dest = destination_of(record, issue).unwrap_or(me);
            if dest != me {
                return Err(conflict(
                    "not_addressed_to_you",
                    format!("{n} is addressed to {dest}, not {me}: only its destination confirms its import; {FORCE}"),
                ));
            }
            if let Some(v) = record.voids.first() {
                return Err(conflict(
                    "voided",
                    format!(
                        "{n} was voided by {}: a voided certificate is not imported; {FORCE}",
                        place(v)
                    ),
                ));
            }
            if let Some(e) = record
                .confirmations
                .iter()
                .find(|e| e.event.content.author.participant == me)
            {
                return Err(conflict(
                    "already_confirmed",
                    format!(
                        "{me} already confirmed {n} with other figures in {}; a second confirmation replaces the first and the audit reports it; {FORCE}",
                        place(e)
                    ),
                ));
            }
            Ok(Precheck::Sign)
        }
        EventBody::CertificateVoided { certificate: n, .. } => {
            if let Some(e) = record.voids.iter().find(|e| same_body(author, body, e)) {
                return Ok(signed(e));
            }
            let issue = issue_of(record, n)?;
            let issuer = issue.event.content.author.participant;
            if issuer != me {
                return Err(conflict(
                    "not_your_certificate",
                    format!("{n} was issued by {issuer}: only its issuer voids it; {FORCE}"),
                ));
            }
            if let Some(v) = record
                .voids
                .iter()
                .find(|e| e.event.content.author.participant == me)
            {
                return Err(conflict(
                    "already_voided",
                    format!("{n} was already voided in {}; {FORCE}", place(v)),
                ));
            }
            Ok(Precheck::Sign)
        }
        EventBody::CertificateCorrected {
            certificate: n,
            original,
            correction,
            ..
        } => {
            if let Some(e) = record
                .corrections
                .iter()
                .find(|e| same_body(author, body, e))
            {
                return Ok(signed(e));
            }
            let issue = issue_of(record, n)?;
            let issuer = issue.event.content.author.participant;
            if issuer != me {
                return Err(conflict(
                    "not_your_certificate",
                    format!("{n} was issued by {issuer}: only its issuer corrects it; {FORCE}"),
                ));
            }
            let Some(orig) = record.issued.iter().find(|e| e.id == *original) else {
                return Err(invalid(
                    "not_the_issue",
                    format!(
                        "event {} is not an issue of {n}; its issue event is {} (`kpl show {n}`)",
                        short(original),
                        issue.id.to_hex()
                    ),
                ));
            };
            if let Correction::Destination(d) = correction {
                if *d == me {
                    return Err(invalid(
                        "export_to_self",
                        format!("{n} cannot be corrected to name {me}, its own issuer, as the destination"),
                    ));
                }
                let on = match &orig.event.content.body {
                    EventBody::CertificateIssued(c) => c.issued_on,
                    _ => today,
                };
                if !timeline.at(on).is_participant(*d) {
                    return Err(invalid(
                        "destination_not_participant",
                        format!(
                            "{d} is not a KP participant on the issue date {on}: {n} cannot be corrected to go there; {FORCE}"
                        ),
                    ));
                }
            }
            Ok(Precheck::Sign)
        }
        EventBody::GovernanceProposed(p) => match timeline.preview_proposal(author, p, today) {
            Ok(()) => Ok(Precheck::Sign),
            Err(why) => Err(conflict(
                "proposal_refused",
                format!("the membership timeline would refuse this proposal: {why}; {FORCE}"),
            )),
        },
        _ => Ok(Precheck::Sign),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::{Decision, Proposal};
    use crate::testkit::{matching_confirmation, sample_certificate, test_charter, FeedWriter};
    use crate::{Charter, VoidReason};

    struct World {
        charter: Charter,
        bw: FeedWriter,
        eu: FeedWriter,
        record: CertificateRecord,
    }

    fn code(s: &str) -> CountryCode {
        CountryCode::new(s).unwrap()
    }

    fn world() -> World {
        let charter = test_charter(&["BW", "EU", "ZA"]);
        let net = charter.network_id();
        World {
            bw: FeedWriter::new(net, AuthorId::new("BW", "mme").unwrap()),
            eu: FeedWriter::new(net, AuthorId::new("EU", "mme").unwrap()),
            charter,
            record: CertificateRecord::default(),
        }
    }

    fn stored(w: &mut FeedWriter, body: EventBody) -> StoredEvent {
        let event = w.next(body, 1_800_000_000_000 + w.seq);
        StoredEvent {
            id: event.id(),
            event,
        }
    }

    fn check(w: &World, who: &AuthorId, body: &EventBody) -> Result<Precheck, Refusal> {
        let t = Timeline::genesis(&w.charter);
        check_write(
            who,
            body,
            &w.record,
            &t,
            Date::from_ymd(2026, 6, 1).unwrap(),
        )
    }

    fn rule(r: Result<Precheck, Refusal>) -> &'static str {
        r.expect_err("refused").rule
    }

    #[test]
    fn issues_are_refused_or_answered_with_the_original() {
        let mut w = world();
        let cert = sample_certificate(code("BW"), code("EU"), 1);
        let body = EventBody::CertificateIssued(cert.clone());
        let bw = w.bw.author.clone();
        assert_eq!(check(&w, &bw, &body), Ok(Precheck::Sign));
        let e = stored(&mut w.bw, body.clone());
        w.record.issued.push(e.clone());
        // The same body again: the original.
        assert_eq!(
            check(&w, &bw, &body),
            Ok(Precheck::AlreadySigned {
                id: e.id,
                seq: e.event.content.seq
            })
        );
        // The same number, other content.
        let mut other = cert.clone();
        other.carat_hundredths += 1;
        let r = check(&w, &bw, &EventBody::CertificateIssued(other));
        assert_eq!(r.as_ref().unwrap_err().kind, RefusalKind::Conflict);
        assert_eq!(rule(r), "already_issued");
        // A destination that is not a participant, or the issuer itself.
        let w2 = world();
        let own = sample_certificate(code("BW"), code("BW"), 3);
        assert_eq!(
            rule(check(&w2, &bw, &EventBody::CertificateIssued(own))),
            "export_to_self"
        );
        let ke = sample_certificate(code("BW"), code("KE"), 2);
        let r = check(&w2, &bw, &EventBody::CertificateIssued(ke));
        assert_eq!(r.as_ref().unwrap_err().kind, RefusalKind::Invalid);
        assert_eq!(rule(r), "destination_not_participant");
    }

    #[test]
    fn confirmations_voids_and_corrections_need_the_right_certificate() {
        let mut w = world();
        let (bw, eu) = (w.bw.author.clone(), w.eu.author.clone());
        let za_author = AuthorId::new("ZA", "mme").unwrap();
        let cert = sample_certificate(code("BW"), code("EU"), 1);
        let conf = EventBody::ImportConfirmed(matching_confirmation(&cert));
        let void = EventBody::CertificateVoided {
            certificate: cert.number.clone(),
            reason: VoidReason::Lost,
            note: String::new(),
        };
        // Nothing issued yet.
        assert_eq!(rule(check(&w, &eu, &conf)), "unknown_certificate");
        assert_eq!(rule(check(&w, &bw, &void)), "unknown_certificate");
        let issue = stored(&mut w.bw, EventBody::CertificateIssued(cert.clone()));
        w.record.issued.push(issue.clone());
        // Addressed to EU: ZA may not confirm it, nor EU void it.
        assert_eq!(rule(check(&w, &za_author, &conf)), "not_addressed_to_you");
        assert_eq!(rule(check(&w, &eu, &void)), "not_your_certificate");
        assert_eq!(check(&w, &eu, &conf), Ok(Precheck::Sign));
        let c = stored(&mut w.eu, conf.clone());
        w.record.confirmations.push(c.clone());
        assert!(matches!(
            check(&w, &eu, &conf),
            Ok(Precheck::AlreadySigned { id, .. }) if id == c.id
        ));
        let mut other = matching_confirmation(&cert);
        other.carat_hundredths -= 1;
        assert_eq!(
            rule(check(&w, &eu, &EventBody::ImportConfirmed(other))),
            "already_confirmed"
        );
        // A correction of the destination to the issuer itself, or of an
        // event that is not the issue.
        let correct = |original: EventId, to: &str| EventBody::CertificateCorrected {
            certificate: cert.number.clone(),
            original,
            correction: Correction::Destination(code(to)),
            note: "typo".into(),
        };
        assert_eq!(
            rule(check(&w, &bw, &correct(issue.id, "BW"))),
            "export_to_self"
        );
        assert_eq!(rule(check(&w, &bw, &correct(c.id, "ZA"))), "not_the_issue");
        assert_eq!(
            rule(check(&w, &bw, &correct(issue.id, "KE"))),
            "destination_not_participant"
        );
        // Corrected to ZA: now ZA confirms, EU may not.
        let moved = stored(&mut w.bw, correct(issue.id, "ZA"));
        w.record.corrections.push(moved);
        w.record.confirmations.clear();
        assert_eq!(rule(check(&w, &eu, &conf)), "not_addressed_to_you");
        let za_conf = EventBody::ImportConfirmed(matching_confirmation(&cert));
        assert_eq!(check(&w, &za_author, &za_conf), Ok(Precheck::Sign));
        // Voided: no more confirmations, and one void is enough.
        let v = stored(&mut w.bw, void.clone());
        w.record.voids.push(v);
        assert_eq!(rule(check(&w, &za_author, &za_conf)), "voided");
        let mut again = void.clone();
        if let EventBody::CertificateVoided { reason, .. } = &mut again {
            *reason = VoidReason::Stolen;
        }
        assert_eq!(rule(check(&w, &bw, &again)), "already_voided");
        assert!(matches!(
            check(&w, &bw, &void),
            Ok(Precheck::AlreadySigned { .. })
        ));
    }

    #[test]
    fn proposals_the_timeline_would_refuse() {
        let w = world();
        let (bw, eu) = (w.bw.author.clone(), w.eu.author.clone());
        let p = |decision: Decision| {
            EventBody::GovernanceProposed(Proposal {
                decision,
                effective_on: Date::from_ymd(2026, 7, 1).unwrap(),
                reference: "x".into(),
            })
        };
        let suspend = |c: &str| {
            p(Decision::Suspend {
                participant: code(c),
                exporting_zones: vec![],
            })
        };
        // BW chairs the test charter.
        assert_eq!(check(&w, &bw, &suspend("ZA")), Ok(Precheck::Sign));
        let r = check(&w, &eu, &suspend("ZA"));
        assert_eq!(rule(r.clone()), "proposal_refused");
        assert!(r.unwrap_err().message.contains("only the Chair"));
        let r = check(&w, &bw, &suspend("KE"));
        assert!(r.unwrap_err().message.contains("KE is not a participant"));
    }
}
