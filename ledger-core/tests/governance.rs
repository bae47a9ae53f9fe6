//! Governance: membership decisions as events, the timeline derived from
//! them whatever the arrival order, and what follows from it (the store's
//! refusals, the audit, the statistics, keys reported compromised).

use std::collections::BTreeMap;
use std::path::Path;

use ledger_core::analysis::{AuditParams, FindingKind, LedgerView};
use ledger_core::charter::AuthorityEntry;
use ledger_core::error::EventError;
use ledger_core::event::AuthorityKey;
use ledger_core::governance::{Decision, DecisionStatus, Proposal, Standing};
use ledger_core::hash::sha256;
use ledger_core::store::{AppendOutcome, Ledger, StoreOptions};
use ledger_core::testkit::{
    all_roles, governed_charter, matching_confirmation, sample_certificate, test_participant,
    FeedWriter,
};
use ledger_core::{
    AuthorId, AuthorityName, Charter, CountryCode, Date, EventBody, EventId, Origin, SignedEvent,
};

fn code(s: &str) -> CountryCode {
    CountryCode::new(s).unwrap()
}

fn day(s: &str) -> Date {
    s.parse().unwrap()
}

/// Unix milliseconds of noon UTC on `s`.
fn ms(s: &str) -> u64 {
    day(s).days() as u64 * 86_400_000 + 43_200_000
}

fn open(dir: &Path, c: &Charter) -> Ledger {
    Ledger::open(dir, c, StoreOptions::default()).unwrap()
}

/// A network with one writer per participant.
struct Net {
    charter: Charter,
    writers: BTreeMap<String, FeedWriter>,
    /// Every event signed, in signing order.
    events: Vec<SignedEvent>,
}

impl Net {
    fn new(codes: &[&str]) -> Net {
        let charter = governed_charter(codes);
        let writers = codes
            .iter()
            .map(|c| {
                (
                    c.to_string(),
                    FeedWriter::new(charter.network_id(), AuthorId::new(c, "mme").unwrap()),
                )
            })
            .collect();
        Net {
            charter,
            writers,
            events: Vec::new(),
        }
    }

    fn writer(&mut self, who: &str) -> &mut FeedWriter {
        let network = self.charter.network_id();
        self.writers
            .entry(who.to_owned())
            .or_insert_with(|| FeedWriter::new(network, AuthorId::new(who, "mme").unwrap()))
    }

    fn sign(&mut self, who: &str, body: EventBody, at: &str) -> SignedEvent {
        let ev = self.writer(who).next(body, ms(at));
        self.events.push(ev.clone());
        ev
    }

    fn propose(&mut self, chair: &str, decision: Decision, effective: &str, at: &str) -> EventId {
        let body = EventBody::GovernanceProposed(Proposal {
            decision,
            effective_on: day(effective),
            reference: format!("test decision of {at}"),
        });
        self.sign(chair, body, at).id()
    }

    fn approve(&mut self, who: &[&str], proposal: EventId, at: &str) {
        for w in who {
            self.sign(
                w,
                EventBody::GovernanceApproved {
                    proposal,
                    note: String::new(),
                },
                at,
            );
        }
    }

    /// A certificate from `from` to `to` issued on `on`, with an origin.
    fn issue(&mut self, from: &str, to: &str, n: u64, on: &str, origin: Origin) -> SignedEvent {
        let mut cert = sample_certificate(code(from), code(to), n);
        cert.number = format!("{from}-{}-{n:06}", &on[..4]);
        cert.issued_on = day(on);
        cert.expires_on = day(on).add_days(60);
        cert.origin = origin;
        self.sign(from, EventBody::CertificateIssued(cert), on)
    }

    fn confirm(&mut self, importer: &str, issue: &SignedEvent, on: &str) {
        let EventBody::CertificateIssued(c) = &issue.content.body else {
            panic!("not an issue");
        };
        let conf = matching_confirmation(c);
        self.sign(importer, EventBody::ImportConfirmed(conf), on);
    }
}

fn zone(country: &str, z: Option<&str>) -> Origin {
    Origin::Single {
        country: code(country),
        zone: z.map(str::to_owned),
    }
}

fn suspend(p: &str, zones: &[&str]) -> Decision {
    Decision::Suspend {
        participant: code(p),
        exporting_zones: zones.iter().map(|z| z.to_string()).collect(),
    }
}

/// Appends every event, one at a time, in the order given; then offers the
/// refused ones again until nothing more is accepted (as anti-entropy would),
/// at most five rounds.
fn append_all(l: &Ledger, events: &[SignedEvent]) {
    let mut pending: Vec<SignedEvent> = events.to_vec();
    for _ in 0..5 {
        let mut again = Vec::new();
        let mut progressed = false;
        for ev in pending {
            match l.append(ev.clone()).unwrap() {
                AppendOutcome::Appended { .. } => progressed = true,
                AppendOutcome::Duplicate { .. } | AppendOutcome::Held { .. } => {}
                AppendOutcome::Rejected(EventError::UnknownAuthor(_))
                | AppendOutcome::Rejected(EventError::Gap { .. }) => again.push(ev),
                AppendOutcome::Rejected(EventError::NotAMember { .. }) => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        pending = again;
        if pending.is_empty() || !progressed {
            break;
        }
    }
}

fn audit_kinds(view: &LedgerView) -> Vec<(FindingKind, Option<String>)> {
    let mut params = AuditParams::new(ms("2030-01-01"));
    // Nothing here is about late confirmations.
    params.confirmation_grace_days = 100_000;
    view.audit(&params)
        .into_iter()
        .map(|f| (f.kind, f.certificate))
        .collect()
}

/// The Central African Republic: suspended on 2013-05-23, allowed to export
/// from one compliant zone from 2015-07-17, from a second one later.
#[test]
fn car_timeline_is_replayed_and_audited() {
    let mut net = Net::new(&["ZA", "AE", "BE", "BW", "CF", "CM"]);
    // Trade before the suspension: clean.
    let before = net.issue("CF", "BE", 1, "2012-11-02", zone("CF", Some("Berberati")));
    net.confirm("BE", &before, "2012-11-09");

    let s1 = net.propose("ZA", suspend("CF", &[]), "2013-05-23", "2013-05-20");
    net.approve(&["AE", "BE", "BW"], s1, "2013-05-21");

    // Wholly suspended: CAR exports, imports into CAR, and CAR-origin
    // diamonds exported by a neighbour are findings.
    net.issue("CF", "BE", 2, "2014-03-03", zone("CF", Some("Berberati")));
    net.issue("BW", "CF", 3, "2014-04-04", zone("BW", None));
    net.issue("CM", "AE", 4, "2014-05-05", zone("CF", None));

    let s2 = net.propose(
        "ZA",
        suspend("CF", &["Berberati"]),
        "2015-07-17",
        "2015-07-01",
    );
    net.approve(&["AE", "BE", "BW", "CM"], s2, "2015-07-02");

    // One compliant zone: exports from it are allowed, from elsewhere not.
    let ok = net.issue("CF", "AE", 5, "2016-02-01", zone("CF", Some("Berberati")));
    net.confirm("AE", &ok, "2016-02-05");
    net.issue("CF", "AE", 6, "2016-02-02", zone("CF", Some("Carnot")));
    net.issue("CF", "AE", 7, "2016-02-03", zone("CF", None));
    // Imports into a partially suspended participant are not a finding.
    let imp = net.issue("BW", "CF", 8, "2016-03-01", zone("BW", None));
    net.confirm("CF", &imp, "2016-03-06");

    let s3 = net.propose(
        "ZA",
        suspend("CF", &["Berberati", "Carnot"]),
        "2017-01-10",
        "2017-01-02",
    );
    net.approve(&["AE", "BE", "BW", "CM"], s3, "2017-01-03");
    let carnot = net.issue("CF", "BE", 9, "2017-03-01", zone("CF", Some("Carnot")));
    net.confirm("BE", &carnot, "2017-03-04");
    // A backdated issue date does not hide a certificate signed while
    // suspended: the day it was signed is checked too.
    let mut cert = sample_certificate(code("CF"), code("BE"), 10);
    cert.number = "CF-2013-000010".into();
    cert.issued_on = day("2013-01-15");
    cert.expires_on = day("2013-03-15");
    cert.origin = zone("CF", Some("Bangui"));
    net.sign("CF", EventBody::CertificateIssued(cert), "2017-04-01");

    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path(), &net.charter);
    append_all(&l, &net.events);
    assert_eq!(l.event_count().unwrap(), net.events.len() as u64);
    assert!(l.verify(|_, _| {}).unwrap().failure().is_none());

    let t = l.timeline();
    let adopted: Vec<_> = t
        .decisions()
        .iter()
        .map(|d| (d.effective_on, d.status.clone()))
        .collect();
    assert_eq!(
        adopted,
        vec![
            (day("2013-05-23"), DecisionStatus::Adopted),
            (day("2015-07-17"), DecisionStatus::Adopted),
            (day("2017-01-10"), DecisionStatus::Adopted),
        ]
    );
    let standing = |d: &str| {
        t.at(day(d))
            .participant(code("CF"))
            .unwrap()
            .standing
            .clone()
    };
    assert_eq!(standing("2013-05-22"), Standing::Member);
    assert_eq!(
        standing("2013-05-23"),
        Standing::Suspended {
            exporting_zones: vec![]
        }
    );
    assert_eq!(
        standing("2015-07-17"),
        Standing::Suspended {
            exporting_zones: vec!["Berberati".into()]
        }
    );
    assert_eq!(
        standing("2020-01-01"),
        Standing::Suspended {
            exporting_zones: vec!["Berberati".into(), "Carnot".into()]
        }
    );
    // A suspended participant does not vote: 5 eligible, 4 needed.
    assert_eq!(t.decisions()[1].eligible.len(), 5);
    assert_eq!(t.decisions()[1].needed, 4);

    let view = LedgerView::from_ledger(&l).unwrap();
    let mut got = audit_kinds(&view);
    got.sort();
    let mut want = vec![
        (
            FindingKind::SuspendedParticipantTrade,
            Some("CF-2014-000002".to_string()),
        ),
        (
            FindingKind::SuspendedParticipantTrade,
            Some("BW-2014-000003".into()),
        ),
        (FindingKind::OriginNotAllowed, Some("CM-2014-000004".into())),
        (
            FindingKind::SuspendedParticipantTrade,
            Some("CF-2016-000006".into()),
        ),
        (
            FindingKind::SuspendedParticipantTrade,
            Some("CF-2016-000007".into()),
        ),
        (
            FindingKind::SuspendedParticipantTrade,
            Some("CF-2013-000010".into()),
        ),
    ];
    // The suspended-period certificates were never confirmed; that is not
    // what this test is about, so unconfirmed exports are left out.
    got.retain(|(k, _)| *k != FindingKind::UnconfirmedExport);
    want.sort();
    assert_eq!(got, want);

    // Statistics: CAR is listed for 2014 as suspended all year.
    let stats = view.stats(2014, None);
    let cf = stats
        .participants
        .iter()
        .find(|p| p.participant == code("CF"))
        .unwrap();
    assert_eq!(cf.membership.len(), 1);
    assert_eq!(cf.membership[0].standing, "suspended");
    let s2013 = view.stats(2013, None);
    let cf = s2013
        .participants
        .iter()
        .find(|p| p.participant == code("CF"))
        .unwrap();
    let spans: Vec<_> = cf
        .membership
        .iter()
        .map(|s| (s.from, s.to, s.standing.as_str()))
        .collect();
    assert_eq!(
        spans,
        vec![
            (day("2013-01-01"), day("2013-05-22"), "member"),
            (day("2013-05-23"), day("2013-12-31"), "suspended"),
        ]
    );
}

/// Every order of arrival gives the same timeline and the same audit, even
/// when the store refused different events on the way.
#[test]
fn arrival_order_does_not_change_the_verdicts() {
    let mut net = Net::new(&["ZA", "AE", "BE", "BW", "VE"]);
    let ok = net.issue("VE", "BE", 1, "2008-01-10", zone("VE", None));
    net.confirm("BE", &ok, "2008-01-15");
    // Venezuela suspended 2008-11-01, reinstated 2016-11-15.
    let s = net.propose("ZA", suspend("VE", &[]), "2008-11-01", "2008-10-20");
    net.approve(&["AE", "BE", "BW"], s, "2008-10-21");
    net.issue("VE", "BE", 2, "2010-06-01", zone("VE", None));
    let r = net.propose(
        "ZA",
        Decision::Reinstate {
            participant: code("VE"),
        },
        "2016-11-15",
        "2016-11-01",
    );
    // An approval signed before the proposal exists is impossible (it names
    // the proposal's id), but it can arrive first: the shuffles below do that.
    net.approve(&["AE", "BE", "BW"], r, "2016-11-02");
    // Admit a new participant, then expel another.
    let admit = net.propose(
        "ZA",
        Decision::AdmitParticipant(test_participant("CG", all_roles())),
        "2017-01-01",
        "2016-12-01",
    );
    net.approve(&["AE", "BE", "BW", "VE"], admit, "2016-12-02");
    let cg = net.issue("CG", "BE", 3, "2017-02-01", zone("CG", None));
    net.confirm("BE", &cg, "2017-02-05");
    let expel = net.propose(
        "ZA",
        Decision::Expel {
            participant: code("BW"),
        },
        "2018-01-01",
        "2017-12-01",
    );
    // The approvals come from AE, BE, VE, CG: after the admission, 6
    // participants are in good standing and 4 approvals are needed.
    net.approve(&["AE", "BE", "VE", "CG"], expel, "2017-12-02");
    // BW signs after its expulsion: refused, or kept and reported.
    let late = net.issue("BW", "BE", 4, "2018-03-01", zone("BW", None));
    // A later decision with an earlier effective date than a pending one.
    let chair = net.propose(
        "ZA",
        Decision::ChangeChair {
            participant: code("BE"),
        },
        "2019-01-01",
        "2018-06-01",
    );
    net.approve(&["AE", "BE", "VE"], chair, "2018-06-02");
    // BW approves it too, after its own expulsion: a store that knows the
    // expulsion refuses that approval, one that does not yet keeps it, and
    // both must list and count the same.
    let bw_vote = net.sign(
        "BW",
        EventBody::GovernanceApproved {
            proposal: chair,
            note: String::new(),
        },
        "2018-06-03",
    );

    let reference = {
        let dir = tempfile::tempdir().unwrap();
        let l = open(dir.path(), &net.charter);
        append_all(&l, &net.events);
        summary(&l)
    };
    // The reference order knew the expulsion before BW's late event: refused.
    assert!(!reference.events.contains(&late.id()));
    assert!(!reference.events.contains(&bw_vote.id()));
    assert_eq!(reference.timeline.len(), 5);
    assert!(reference
        .timeline
        .iter()
        .all(|(_, status)| status == "adopted"));

    // Shuffles: deterministic, bounded.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..8 {
        let mut order = net.events.clone();
        if round == 0 {
            order.reverse();
        } else {
            for i in (1..order.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                order.swap(i, (seed % (i as u64 + 1)) as usize);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let l = open(dir.path(), &net.charter);
        append_all(&l, &order);
        let got = summary(&l);
        assert_eq!(got.timeline, reference.timeline, "round {round}");
        assert_eq!(got.full, reference.full, "round {round}");
        // A store that took BW's late event before it knew of the expulsion
        // reports it as `event_by_non_member` (checked below); every other
        // verdict is the same.
        let mut findings = got.findings.clone();
        findings.retain(|f| !f.starts_with("event_by_non_member"));
        assert_eq!(findings, reference.findings, "round {round}");
        assert_eq!(got.members, reference.members, "round {round}");
        assert!(l.verify(|_, _| {}).unwrap().failure().is_none());
        drop(l);
        // And the store reopens with the admitted feed and the timeline.
        let l = open(dir.path(), &net.charter);
        assert_eq!(summary(&l).timeline, reference.timeline);
    }

    // The store that took BW's late event before it knew of the expulsion
    // keeps it (nothing is deleted) and the audit reports it.
    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path(), &net.charter);
    let mut early = vec![late.clone()];
    early.extend(net.events.iter().filter(|e| e.id() != late.id()).cloned());
    // BW's feed must be complete up to the late event for it to apply.
    let bw: Vec<SignedEvent> = net
        .events
        .iter()
        .filter(|e| e.author().participant == code("BW"))
        .cloned()
        .collect();
    append_all(&l, &bw);
    append_all(&l, &early);
    let s = summary(&l);
    assert_eq!(s.full, reference.full);
    assert!(s.events.contains(&late.id()));
    assert!(s.events.contains(&bw_vote.id()));
    assert_eq!(s.timeline, reference.timeline);
    let extra: Vec<_> = s
        .findings
        .iter()
        .filter(|f| !reference.findings.contains(f))
        .collect();
    assert_eq!(extra.len(), 2);
    assert!(
        extra.iter().all(|f| f.starts_with("event_by_non_member")),
        "{extra:?}"
    );
    // And the late event is not in the figures.
    let view = LedgerView::from_ledger(&l).unwrap();
    assert!(view.certificate("BW-2018-000004").is_none());
}

struct Summary {
    timeline: Vec<(EventId, String)>,
    /// Every decision record (approvals, counts, reasons) and orphan, as JSON.
    full: String,
    findings: Vec<String>,
    members: String,
    events: Vec<EventId>,
}

fn summary(l: &Ledger) -> Summary {
    let t = l.timeline();
    let view = LedgerView::from_ledger(l).unwrap();
    let mut events = Vec::new();
    let scan = l.for_each_event(|id, _| events.push(*id)).unwrap();
    assert!(scan.is_complete(), "{:?}", scan.unreadable);
    let mut params = AuditParams::new(ms("2030-01-01"));
    params.confirmation_grace_days = 100_000;
    let mut findings: Vec<String> = view
        .audit(&params)
        .into_iter()
        .map(|f| format!("{} {:?} {:?}", f.kind, f.certificate, f.events))
        .collect();
    findings.sort();
    Summary {
        timeline: t
            .decisions()
            .iter()
            .map(|d| (d.proposal.id, d.status.word().to_owned()))
            .collect(),
        full: serde_json::to_string(&(t.decisions(), t.orphan_approvals())).unwrap(),
        findings,
        members: serde_json::to_string(t.at(day("2030-01-01"))).unwrap(),
        events,
    }
}

/// The Chair changes every year; a proposal by the old Chair after the
/// handover is refused, the new Chair's is adopted.
#[test]
fn the_chair_changes_every_year() {
    let mut net = Net::new(&["ZA", "AE", "BW", "EU", "IN"]);
    let to_eu = net.propose(
        "ZA",
        Decision::ChangeChair {
            participant: code("EU"),
        },
        "2027-01-01",
        "2026-11-20",
    );
    net.approve(&["AE", "BW", "EU"], to_eu, "2026-11-21");
    // The old Chair, after the handover.
    let stale = net.propose("ZA", suspend("IN", &[]), "2027-03-01", "2027-02-01");
    net.approve(&["AE", "BW", "EU", "IN"], stale, "2027-02-02");
    // The new Chair hands over to India for 2028.
    let to_in = net.propose(
        "EU",
        Decision::ChangeChair {
            participant: code("IN"),
        },
        "2028-01-01",
        "2027-11-15",
    );
    net.approve(&["AE", "BW", "IN"], to_in, "2027-11-16");
    // Proposals for the same day: a decision made by the 2027 Chair in
    // December, effective in 2028, stands.
    let by_eu = net.propose(
        "EU",
        Decision::AddNode {
            member: ledger_core::charter::NodeMember::Participant(code("AE")),
            peer_id: "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo".into(),
        },
        "2028-02-01",
        "2027-12-10",
    );
    net.approve(&["AE", "BW", "IN"], by_eu, "2027-12-11");

    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path(), &net.charter);
    append_all(&l, &net.events);
    let t = l.timeline();
    assert_eq!(t.at(day("2026-12-31")).chair, code("ZA"));
    assert_eq!(t.at(day("2027-06-01")).chair, code("EU"));
    assert_eq!(t.at(day("2028-06-01")).chair, code("IN"));
    let status = |id: &EventId| t.decision(id).unwrap().status.clone();
    assert_eq!(status(&to_eu), DecisionStatus::Adopted);
    assert!(
        matches!(status(&stale), DecisionStatus::Refused { reason } if reason.contains("Chair"))
    );
    assert_eq!(status(&to_in), DecisionStatus::Adopted);
    assert_eq!(status(&by_eu), DecisionStatus::Adopted);
    assert_eq!(
        t.at(day("2027-06-01"))
            .participant(code("IN"))
            .unwrap()
            .standing,
        Standing::Member
    );
    assert!(t
        .at(day("2028-03-01"))
        .node_owner("12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo")
        .is_some());
}

/// Without enough approvals a decision stays pending and changes nothing;
/// approvals from a non-eligible participant do not count.
#[test]
fn quorum_is_two_thirds_of_participants_in_good_standing() {
    let mut net = Net::new(&["ZA", "AE", "BW", "EU", "IN", "VE"]);
    let s = net.propose("ZA", suspend("VE", &[]), "2027-01-01", "2026-12-01");
    // 6 eligible, 4 needed: ZA (proposer) + AE + BW = 3, plus VE's own
    // approval counts (it is in good standing when judged): 4.
    net.approve(&["AE", "BW"], s, "2026-12-02");
    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path(), &net.charter);
    append_all(&l, &net.events);
    let t = l.timeline();
    let d = t.decision(&s).unwrap();
    assert_eq!((d.approved_by.len(), d.needed), (3, 4));
    assert_eq!(d.status, DecisionStatus::Pending);
    assert_eq!(
        t.at(day("2027-06-01"))
            .participant(code("VE"))
            .unwrap()
            .standing,
        Standing::Member
    );
    // An approval signed after the effective date does not count: the
    // decision cannot take effect in the past.
    let late = net.sign(
        "EU",
        EventBody::GovernanceApproved {
            proposal: s,
            note: "too late".into(),
        },
        "2027-03-01",
    );
    assert!(matches!(
        l.append(late).unwrap(),
        AppendOutcome::Appended { .. }
    ));
    let t = l.timeline();
    let d = t.decision(&s).unwrap();
    assert_eq!(d.status, DecisionStatus::Pending);
    assert!(d.approvals.iter().any(|a| !a.counted
        && a.reason
            .as_deref()
            .unwrap_or("")
            .contains("not before the effective date")));
    // One signed in time, arriving later: adopted, from the stated date.
    let more = net.sign(
        "IN",
        EventBody::GovernanceApproved {
            proposal: s,
            note: "in time, delivered late".into(),
        },
        "2026-12-20",
    );
    assert!(matches!(
        l.append(more).unwrap(),
        AppendOutcome::Appended { .. }
    ));
    let t = l.timeline();
    assert_eq!(t.decision(&s).unwrap().status, DecisionStatus::Adopted);
    assert!(matches!(
        t.at(day("2027-01-01"))
            .participant(code("VE"))
            .unwrap()
            .standing,
        Standing::Suspended { .. }
    ));
}

/// A thief of the current key cannot rotate the authority away (pre-rotation);
/// the owner rotates with the pre-committed key; a decision marks what the
/// thief signed as suspect; nothing is deleted.
#[test]
fn stolen_key_cannot_rotate_and_its_events_are_marked_suspect() {
    let owner = AuthorId::new("BW", "customs").unwrap();
    let current = AuthorityKey::from_seed([7u8; 32]);
    let next = AuthorityKey::from_seed([8u8; 32]);
    let after = AuthorityKey::from_seed([9u8; 32]);
    let mut charter = governed_charter(&["ZA", "AE", "BW", "EU"]);
    let entry = AuthorityEntry {
        name: AuthorityName::new("customs").unwrap(),
        title: "Botswana customs".into(),
        key: current.public(),
        roles: ledger_core::Roles::of(&[ledger_core::Role::IssueCertificates]),
        next_key_digest: Some(sha256(&[next.public().as_bytes()])),
    };
    let bw = charter
        .participants
        .iter_mut()
        .find(|p| p.code == code("BW"))
        .unwrap();
    bw.authorities.push(entry);
    bw.authorities.sort_by(|a, b| a.name.cmp(&b.name));
    charter.validate().unwrap();
    let network = charter.network_id();
    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path(), &charter);

    let mut w = FeedWriter::new(network, owner.clone());
    w.key = AuthorityKey::from_seed([7u8; 32]);
    let mut cert = sample_certificate(code("BW"), code("EU"), 1);
    cert.number = "BW-C-000001".into();
    let first = w.next(EventBody::CertificateIssued(cert.clone()), ms("2026-05-01"));
    assert!(matches!(
        l.append(first.clone()).unwrap(),
        AppendOutcome::Appended { .. }
    ));
    // The thief, holding only the current key, signs a certificate...
    cert.number = "BW-C-000002".into();
    let forged = w.next(EventBody::CertificateIssued(cert.clone()), ms("2026-05-02"));
    assert!(matches!(
        l.append(forged.clone()).unwrap(),
        AppendOutcome::Appended { .. }
    ));
    // ...and tries to rotate to a key of its own: refused.
    let thief = AuthorityKey::from_seed([66u8; 32]);
    let mut tw = FeedWriter {
        author: owner.clone(),
        key: AuthorityKey::from_seed([7u8; 32]),
        network,
        seq: w.seq,
        prev: w.prev,
    };
    let grab = tw.next(
        EventBody::AuthorityKeyRotated {
            new_key: thief.public(),
            next_key_digest: None,
        },
        ms("2026-05-03"),
    );
    match l.append(grab).unwrap() {
        AppendOutcome::Rejected(EventError::PreRotationMismatch) => {}
        other => panic!("the thief's rotation was not refused: {other:?}"),
    }
    // Even signing the rotation with the current key to the committed key
    // does not work: the rotation must be signed by the revealed next key.
    let mut tw2 = FeedWriter {
        author: owner.clone(),
        key: AuthorityKey::from_seed([7u8; 32]),
        network,
        seq: w.seq,
        prev: w.prev,
    };
    let half = tw2.next(
        EventBody::AuthorityKeyRotated {
            new_key: next.public(),
            next_key_digest: None,
        },
        ms("2026-05-03"),
    );
    assert!(matches!(
        l.append(half).unwrap(),
        AppendOutcome::Rejected(EventError::BadSignature { .. })
    ));
    // The owner rotates with the pre-committed key, committing to the next.
    w.key = AuthorityKey::from_seed([8u8; 32]);
    let rotation = w.next(
        EventBody::AuthorityKeyRotated {
            new_key: next.public(),
            next_key_digest: Some(sha256(&[after.public().as_bytes()])),
        },
        ms("2026-05-04"),
    );
    assert!(matches!(
        l.append(rotation.clone()).unwrap(),
        AppendOutcome::Appended { .. }
    ));
    cert.number = "BW-C-000003".into();
    let good = w.next(EventBody::CertificateIssued(cert), ms("2026-05-05"));
    assert!(matches!(
        l.append(good.clone()).unwrap(),
        AppendOutcome::Appended { .. }
    ));

    // The decision: the old key is compromised from seq 2.
    let mut net = Net {
        charter: charter.clone(),
        writers: BTreeMap::new(),
        events: Vec::new(),
    };
    let d = net.propose(
        "ZA",
        Decision::KeyCompromised {
            author: owner.clone(),
            key: current.public(),
            from_seq: 2,
        },
        "2026-05-07",
        "2026-05-06",
    );
    net.approve(&["AE", "BW"], d, "2026-05-06");
    append_all(&l, &net.events);
    let t = l.timeline();
    assert_eq!(t.decision(&d).unwrap().status, DecisionStatus::Adopted);

    let view = LedgerView::from_ledger(&l).unwrap();
    let suspect: Vec<EventId> = view.suspect_events().iter().map(|s| s.event.id).collect();
    assert_eq!(suspect, vec![forged.id()]);
    let findings = view.audit(&AuditParams::new(ms("2026-05-07")));
    let f: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::SuspectSignature)
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].certificate.as_deref(), Some("BW-C-000002"));
    assert_eq!(f[0].events, vec![forged.id(), d]);
    // Nothing deleted: every event of the feed is still there and verifies.
    for ev in [&first, &forged, &rotation, &good] {
        assert!(l.event_by_id(&ev.id()).unwrap().is_some());
    }
    assert!(l.verify(|_, _| {}).unwrap().failure().is_none());
}

/// An expelled participant's events dated from the expulsion are refused;
/// a proposal by someone who is not the Chair, or effective before it was
/// made, changes nothing.
#[test]
fn expulsion_refuses_later_events_and_bad_proposals_are_refused() {
    let mut net = Net::new(&["ZA", "AE", "BW", "CG"]);
    let before = net.issue("CG", "AE", 1, "2004-05-01", zone("CG", None));
    let e = net.propose(
        "ZA",
        Decision::Expel {
            participant: code("CG"),
        },
        "2004-07-09",
        "2004-07-01",
    );
    net.approve(&["AE", "BW"], e, "2004-07-02");
    let not_chair = net.propose("BW", suspend("AE", &[]), "2005-01-01", "2004-08-01");
    let backdated = net.propose("ZA", suspend("AE", &[]), "2004-01-01", "2004-08-01");
    net.approve(&["AE", "BW"], not_chair, "2004-08-02");
    net.approve(&["AE", "BW"], backdated, "2004-08-02");
    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path(), &net.charter);
    append_all(&l, &net.events);
    let after = net.issue("CG", "AE", 2, "2004-08-01", zone("CG", None));
    match l.append(after).unwrap() {
        AppendOutcome::Rejected(EventError::NotAMember { author, reason, .. }) => {
            assert_eq!(author.participant, code("CG"));
            assert!(reason.contains("expelled"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(l.event_by_id(&before.id()).unwrap().is_some());
    let t = l.timeline();
    assert!(matches!(
        t.decision(&not_chair).unwrap().status,
        DecisionStatus::Refused { .. }
    ));
    assert!(matches!(
        t.decision(&backdated).unwrap().status,
        DecisionStatus::Refused { .. }
    ));
    assert!(t.at(day("2004-07-08")).is_participant(code("CG")));
    assert!(!t.at(day("2004-07-09")).is_participant(code("CG")));
    // Readmission (Congo, 2007): it may sign again from the effective date.
    let mut entry = test_participant("CG", all_roles());
    entry.name = "Republic of the Congo".into();
    let back = net.propose(
        "ZA",
        Decision::AdmitParticipant(entry),
        "2007-11-08",
        "2007-11-01",
    );
    net.approve(&["AE", "BW"], back, "2007-11-02");
    // The feed's next seq follows the last event CG really stored (seq 1);
    // the refused one was never stored, so CG signs seq 2 again.
    let w = net.writer("CG");
    w.seq = 1;
    w.prev = Some(before.id());
    let again = net.issue("CG", "AE", 3, "2008-01-01", zone("CG", None));
    append_all(&l, &net.events);
    assert!(l.event_by_id(&again.id()).unwrap().is_some());
    assert!(l.verify(|_, _| {}).unwrap().failure().is_none());
}
