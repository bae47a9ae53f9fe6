//! The analysis module: every audit finding kind provoked on purpose (and
//! nothing else flagged), clean data with zero findings, statistics and
//! mirror tables, provenance traces with unaccounted shares, cycles and
//! bounds.

use std::collections::BTreeMap;

use ledger_core::analysis::{
    format_carats, format_usd, AuditParams, Finding, FindingKind, LedgerView, Period, Severity,
    TradeFigures, MAX_TRACE_DEPTH, MAX_TRACE_NODES,
};
use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::testkit::{matching_confirmation, sample_certificate, test_charter, FeedWriter};
use ledger_core::{
    AuthorId, Certificate, Charter, Correction, CountryCode, Date, EventBody, EventId, ForkProof,
    ImportConfirmation, Origin, SignedEvent, VoidReason,
};

const DAY_MS: u64 = 86_400_000;

fn code(s: &str) -> CountryCode {
    CountryCode::new(s).unwrap()
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

/// Noon UTC of a day, in Unix milliseconds.
fn noon(d: Date) -> u64 {
    d.days() as u64 * DAY_MS + DAY_MS / 2
}

/// A small network: every participant has one author `mme` that issues and
/// confirms. Events are timestamped at noon of their business date, or just
/// after their feed's previous event if that is later (feeds never go back
/// in time unless a test says so with `push_at`).
struct Net {
    charter: Charter,
    writers: BTreeMap<String, FeedWriter>,
    last_ts: BTreeMap<String, u64>,
    events: Vec<(EventId, SignedEvent)>,
    proofs: Vec<ForkProof>,
}

impl Net {
    fn new() -> Net {
        Net {
            charter: test_charter(&["AE", "BW", "EU", "IN", "ZA"]),
            writers: BTreeMap::new(),
            last_ts: BTreeMap::new(),
            events: Vec::new(),
            proofs: Vec::new(),
        }
    }

    fn writer(&mut self, who: &str) -> &mut FeedWriter {
        let network = self.charter.network_id();
        self.writers
            .entry(who.to_owned())
            .or_insert_with(|| FeedWriter::new(network, AuthorId::new(who, "mme").unwrap()))
    }

    fn push_at(&mut self, who: &str, body: EventBody, ts: u64) -> EventId {
        let ev = self.writer(who).next(body, ts);
        self.last_ts.insert(who.to_owned(), ts);
        let id = ev.id();
        self.events.push((id, ev));
        id
    }

    fn push(&mut self, who: &str, body: EventBody, day: Date) -> EventId {
        let ts = match self.last_ts.get(who) {
            Some(&last) => noon(day).max(last + 1),
            None => noon(day),
        };
        self.push_at(who, body, ts)
    }

    fn issue(&mut self, cert: &Certificate) -> EventId {
        let who = cert.number[..2].to_owned();
        self.push(
            &who,
            EventBody::CertificateIssued(cert.clone()),
            cert.issued_on,
        )
    }

    fn confirm_by(&mut self, who: &str, conf: ImportConfirmation) -> EventId {
        let day = conf.received_on;
        self.push(who, EventBody::ImportConfirmed(conf), day)
    }

    /// The destination confirms exactly what was certified, 3 days later.
    fn confirm(&mut self, cert: &Certificate) -> EventId {
        let who = cert.destination.to_string();
        self.confirm_by(&who, matching_confirmation(cert))
    }

    fn void(&mut self, number: &str, reason: VoidReason, day: Date) -> EventId {
        let who = number[..2].to_owned();
        self.push(
            &who,
            EventBody::CertificateVoided {
                certificate: number.to_owned(),
                reason,
                note: String::new(),
            },
            day,
        )
    }

    fn correct(&mut self, number: &str, original: EventId, c: Correction, day: Date) -> EventId {
        let who = number[..2].to_owned();
        self.push(
            &who,
            EventBody::CertificateCorrected {
                certificate: number.to_owned(),
                original,
                correction: c,
                note: "typing error".into(),
            },
            day,
        )
    }

    fn view(&self) -> LedgerView {
        LedgerView::build(
            &self.charter,
            self.events.clone().into_iter(),
            self.proofs.clone(),
        )
    }
}

fn cert(issuer: &str, dest: &str, n: u64) -> Certificate {
    sample_certificate(code(issuer), code(dest), n)
}

/// A re-export by `issuer` of mixed origin from `sources`.
fn reexport(
    issuer: &str,
    dest: &str,
    n: u64,
    sources: &[&Certificate],
    carats: u64,
) -> Certificate {
    let mut c = cert(issuer, dest, n);
    let mut numbers: Vec<String> = sources.iter().map(|s| s.number.clone()).collect();
    numbers.sort();
    c.source_certificates = numbers;
    c.carat_hundredths = carats;
    let mut origins: Vec<CountryCode> = sources
        .iter()
        .flat_map(|s| match &s.origin {
            Origin::Single { country, .. } => vec![*country],
            Origin::Mixed { countries } => countries.clone(),
        })
        .collect();
    origins.sort();
    origins.dedup();
    c.origin = Origin::Mixed { countries: origins };
    c
}

/// Audit as of the end of 2026, when every sample certificate of the clean
/// network has expired long ago.
fn end_of_year() -> AuditParams {
    AuditParams::new(noon(date("2026-12-31")))
}

struct Clean {
    net: Net,
    bw1: Certificate,
    bw2: Certificate,
    za3: Certificate,
    bw4: Certificate,
    eu5: Certificate,
    in6: Certificate,
}

/// Clean data: direct exports, a correction before confirmation, a voided
/// certificate never confirmed, and a two-hop re-export chain.
fn clean() -> Clean {
    let mut net = Net::new();
    // BW mine → EU, confirmed.
    let bw1 = cert("BW", "EU", 1);
    net.issue(&bw1);
    net.confirm(&bw1);
    // BW mine → IN, confirmed.
    let bw2 = cert("BW", "IN", 2);
    net.issue(&bw2);
    net.confirm(&bw2);
    // ZA → EU, carats corrected by the issuer, EU confirms the corrected figure.
    let mut za3 = cert("ZA", "EU", 3);
    let za3_id = net.issue(&za3);
    net.correct(
        &za3.number,
        za3_id,
        Correction::CaratHundredths(za3.carat_hundredths + 50),
        za3.issued_on.add_days(1),
    );
    za3.carat_hundredths += 50;
    net.confirm(&za3);
    // BW → AE, cancelled, never confirmed.
    let bw4 = cert("BW", "AE", 4);
    net.issue(&bw4);
    net.void(
        &bw4.number,
        VoidReason::Cancelled,
        bw4.issued_on.add_days(1),
    );
    // EU hub re-exports part of BW1 + ZA3 to IN.
    let eu5 = reexport(
        "EU",
        "IN",
        20,
        &[&bw1, &za3],
        bw1.carat_hundredths + za3.carat_hundredths - 1_000,
    );
    net.issue(&eu5);
    net.confirm(&eu5);
    // IN re-exports all of EU5 to AE.
    let in6 = reexport("IN", "AE", 30, &[&eu5], eu5.carat_hundredths);
    net.issue(&in6);
    net.confirm(&in6);
    Clean {
        net,
        bw1,
        bw2,
        za3,
        bw4,
        eu5,
        in6,
    }
}

fn kinds(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.kind.as_str()).collect()
}

fn only(view: &LedgerView, params: &AuditParams, kind: FindingKind) -> Vec<Finding> {
    let f = view.audit(params);
    assert!(
        f.iter().all(|x| x.kind == kind),
        "expected only {kind}, found {:#?}",
        f
    );
    assert!(!f.is_empty(), "expected a {kind} finding");
    f
}

// ---------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------

#[test]
fn clean_data_has_no_findings() {
    let c = clean();
    let view = c.net.view();
    assert_eq!(view.audit(&end_of_year()), vec![]);
    // The correction was applied; the void recorded.
    let za3 = view.certificate(&c.za3.number).unwrap();
    assert_eq!(
        za3.effective().unwrap().carat_hundredths,
        c.za3.carat_hundredths
    );
    assert!(za3.corrections[0].applied);
    assert!(view.certificate(&c.bw4.number).unwrap().is_voided());
    // Arrival order does not matter.
    let mut rev = c.net.events.clone();
    rev.reverse();
    let view2 = LedgerView::build(&c.net.charter, rev.into_iter(), vec![]);
    assert_eq!(view2.audit(&end_of_year()), vec![]);
    assert_eq!(view2.stats(2026, None), view.stats(2026, None));
}

#[test]
fn clean_data_through_the_store_has_no_findings() {
    let c = clean();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), &c.net.charter, StoreOptions::default()).unwrap();
    for (_, ev) in &c.net.events {
        ledger.append(ev.clone()).unwrap();
    }
    ledger.flush().unwrap();
    let view = LedgerView::from_ledger(&ledger).unwrap();
    assert_eq!(view.event_count(), c.net.events.len());
    assert_eq!(view.audit(&end_of_year()), vec![]);
    assert_eq!(view.stats(2026, None), c.net.view().stats(2026, None));
}

#[test]
fn unconfirmed_export_after_expiry_and_grace() {
    let mut c = clean();
    let late = cert("BW", "EU", 7);
    let id = c.net.issue(&late);
    let view = c.net.view();
    let deadline = late.expires_on.add_days(30);
    let mut p = AuditParams::new(noon(deadline));
    assert_eq!(view.audit(&p), vec![], "not before expiry + grace");
    p = AuditParams::new(noon(deadline.add_days(1)));
    let f = only(&view, &p, FindingKind::UnconfirmedExport);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].events, vec![id]);
    assert_eq!(f[0].certificate.as_deref(), Some(late.number.as_str()));
    assert_eq!(f[0].participants, vec![code("BW"), code("EU")]);
    assert_eq!(f[0].severity, Severity::Medium);
    // A shorter grace flags it earlier.
    let mut p = AuditParams::new(noon(deadline));
    p.confirmation_grace_days = 0;
    assert_eq!(kinds(&view.audit(&p)), vec!["unconfirmed_export"]);
}

#[test]
fn confirmation_mismatch_names_fields_and_figures() {
    let mut c = clean();
    let x = cert("BW", "EU", 7);
    let issue = c.net.issue(&x);
    let mut conf = matching_confirmation(&x);
    conf.carat_hundredths = x.carat_hundredths - 100; // 1.00 ct short
    conf.parcels = x.parcels + 1;
    let cid = c.net.confirm_by("EU", conf.clone());
    let view = c.net.view();
    let f = only(&view, &end_of_year(), FindingKind::ConfirmationMismatch);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].events, vec![issue, cid]);
    let e = &f[0].explanation;
    assert!(e.contains("parcels"), "{e}");
    assert!(e.contains(&format_carats(conf.carat_hundredths)), "{e}");
    assert!(e.contains(&format_carats(x.carat_hundredths)), "{e}");
    assert!(!e.contains("value"), "{e}");
    // A tolerance covers the carats but never the parcels.
    let mut p = end_of_year();
    p.tolerance_bp = 100;
    let f = only(&view, &p, FindingKind::ConfirmationMismatch);
    assert!(!f[0].explanation.contains("carats"), "{}", f[0].explanation);
    assert!(f[0].explanation.contains("parcels"));
}

#[test]
fn confirmation_is_checked_against_the_corrected_certificate() {
    let mut c = clean();
    let x = cert("ZA", "IN", 7);
    let issue = c.net.issue(&x);
    let corr = c.net.correct(
        &x.number,
        issue,
        Correction::ValueUsdCents(x.value_usd_cents * 2),
        x.issued_on.add_days(1),
    );
    // IN confirms the value as first printed.
    let cid = c.net.confirm(&x);
    let view = c.net.view();
    let f = only(&view, &end_of_year(), FindingKind::ConfirmationMismatch);
    assert_eq!(f[0].events, vec![issue, corr, cid]);
    assert!(f[0]
        .explanation
        .contains(&format_usd(x.value_usd_cents * 2)));
}

#[test]
fn a_later_confirmation_supersedes_an_earlier_one() {
    let mut c = clean();
    let x = cert("BW", "EU", 7);
    c.net.issue(&x);
    let mut wrong = matching_confirmation(&x);
    wrong.carat_hundredths -= 1;
    c.net.confirm_by("EU", wrong);
    c.net.confirm(&x); // re-sent with the right figures
    let view = c.net.view();
    // The wrong figures are not a mismatch any more; the repeat is on record.
    only(&view, &end_of_year(), FindingKind::DoubleConfirmation);
    let st = view.certificate(&x.number).unwrap();
    assert_eq!(st.confirmations.len(), 2);
    assert!(st.confirmations[0].superseded && !st.confirmations[1].superseded);
    let s = view.stats(2026, None);
    let eu = s
        .participants
        .iter()
        .find(|p| p.participant == code("EU"))
        .unwrap();
    assert_eq!(eu.imports, figures(&[&c.bw1, &c.za3, &x]));
}

#[test]
fn wrong_importer() {
    let mut c = clean();
    let x = cert("BW", "EU", 7);
    c.net.issue(&x);
    let cid = c.net.confirm_by("IN", matching_confirmation(&x));
    let view = c.net.view();
    let f = only(&view, &end_of_year(), FindingKind::WrongImporter);
    assert_eq!(f.len(), 1);
    assert_eq!(*f[0].events.last().unwrap(), cid);
    assert_eq!(f[0].participants, vec![code("BW"), code("EU"), code("IN")]);
}

#[test]
fn unknown_certificate_catches_a_forged_number() {
    let mut c = clean();
    // Claims to be from Botswana, but Botswana never issued it.
    let forged = cert("BW", "AE", 999);
    let cid = c.net.confirm_by("AE", matching_confirmation(&forged));
    let view = c.net.view();
    let f = only(&view, &end_of_year(), FindingKind::UnknownCertificate);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].events, vec![cid]);
    assert_eq!(f[0].participants, vec![code("AE"), code("BW")]);
    assert_eq!(f[0].severity, Severity::High);
    assert_eq!(f[0].date, forged.issued_on.add_days(3), "dated by receipt");
    // A forged Kenyan certificate: unknown, and trade with a non-participant.
    let kenyan = cert("KE", "AE", 1);
    c.net.confirm_by("AE", matching_confirmation(&kenyan));
    let f = c.net.view().audit(&end_of_year());
    assert_eq!(
        kinds(&f),
        vec![
            "non_participant_trade",
            "unknown_certificate",
            "unknown_certificate"
        ]
    );
    // A void of a number nobody issued.
    let mut c = clean();
    let v = c
        .net
        .void("ZA-2026-0000777", VoidReason::Lost, date("2026-02-01"));
    let f = only(
        &c.net.view(),
        &end_of_year(),
        FindingKind::UnknownCertificate,
    );
    assert_eq!(f[0].events, vec![v]);
    assert_eq!(f[0].date, date("2026-02-01"));
}

#[test]
fn correction_of_an_event_that_is_not_the_issue() {
    let mut c = clean();
    let bogus = c.net.events[0].0; // BW1's issue, not ZA3's
    let corr = c.net.correct(
        &c.za3.number,
        bogus,
        Correction::Parcels(99),
        date("2026-06-01"),
    );
    let view = c.net.view();
    let f = only(&view, &end_of_year(), FindingKind::UnknownCertificate);
    assert_eq!(f[0].events, vec![corr]);
    assert_eq!(
        view.certificate(&c.za3.number)
            .unwrap()
            .effective()
            .unwrap()
            .parcels,
        c.za3.parcels,
        "not applied"
    );
}

#[test]
fn duplicate_certificate_number() {
    let mut c = clean();
    let x = cert("BW", "EU", 7);
    let a = c.net.issue(&x);
    let mut again = x.clone();
    again.value_usd_cents += 1;
    let b = c.net.issue(&again);
    c.net.confirm(&x);
    let view = c.net.view();
    let f = only(
        &view,
        &end_of_year(),
        FindingKind::DuplicateCertificateNumber,
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].events, vec![a, b]);
    // The first issue is the primary one: the confirmation matches it.
    assert_eq!(
        view.certificate(&x.number)
            .unwrap()
            .primary()
            .unwrap()
            .event
            .id,
        a
    );
}

#[test]
fn voided_then_confirmed() {
    let mut c = clean();
    let x = cert("BW", "EU", 7);
    c.net.issue(&x);
    let v = c
        .net
        .void(&x.number, VoidReason::Stolen, x.issued_on.add_days(1));
    let cid = c.net.confirm(&x); // received 3 days after issue
    let view = c.net.view();
    let f = only(&view, &end_of_year(), FindingKind::VoidedThenConfirmed);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].events, vec![v, cid]);
    assert!(f[0].explanation.contains("stolen"));

    // Received before the void but signed after it: still flagged.
    let mut c = clean();
    let x = cert("BW", "EU", 7);
    c.net.issue(&x);
    c.net
        .void(&x.number, VoidReason::Lost, x.issued_on.add_days(5));
    let mut conf = matching_confirmation(&x);
    conf.received_on = x.issued_on.add_days(2);
    c.net.push(
        "EU",
        EventBody::ImportConfirmed(conf),
        x.issued_on.add_days(6),
    );
    only(
        &c.net.view(),
        &end_of_year(),
        FindingKind::VoidedThenConfirmed,
    );

    // Received and signed before the void: not flagged.
    let mut c = clean();
    let x = cert("BW", "EU", 7);
    c.net.issue(&x);
    c.net.confirm(&x);
    c.net
        .void(&x.number, VoidReason::Seized, x.issued_on.add_days(40));
    assert_eq!(c.net.view().audit(&end_of_year()), vec![]);
}

#[test]
fn reexport_exceeding_imports() {
    let mut c = clean();
    // EU re-exports more than it imported under BW1.
    let over = reexport("EU", "IN", 40, &[&c.bw1], c.bw1.carat_hundredths + 1);
    let id = c.net.issue(&over);
    c.net.confirm(&over);
    let view = c.net.view();
    // EU5 draws on BW1 too: together they over-allocate it as well.
    let all = view.audit(&end_of_year());
    assert_eq!(
        kinds(&all),
        vec!["reexport_exceeds_imports", "source_overallocated"],
        "{all:#?}"
    );
    let f: Vec<Finding> = all
        .into_iter()
        .filter(|f| f.kind == FindingKind::ReexportExceedsImports)
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].events[0], id);
    assert_eq!(f[0].participants, vec![code("EU")]);
    assert!(f[0]
        .explanation
        .contains(&format_carats(c.bw1.carat_hundredths)));
    // Exactly what was imported is fine.
    let mut c2 = clean();
    // (BW1 is drawn on by EU5 already: IN's import BW2 is drawn on by
    // nothing else.)
    let exact = reexport("IN", "AE", 40, &[&c2.bw2], c2.bw2.carat_hundredths);
    c2.net.issue(&exact);
    c2.net.confirm(&exact);
    assert_eq!(c2.net.view().audit(&end_of_year()), vec![]);
}

/// One import drawn on by two re-exports that each fit it alone: 50 ct
/// confirmed by the EU, then 40 ct and 40 ct re-exported citing it.
#[test]
fn one_import_drawn_twice_is_over_allocated() {
    let mut net = Net::new();
    let mut src = cert("BW", "EU", 300_001);
    src.carat_hundredths = 5_000;
    net.issue(&src);
    let conf = net.confirm(&src);
    let a = reexport("EU", "IN", 700_003, &[&src], 4_000);
    let b = reexport("EU", "AE", 700_004, &[&src], 4_000);
    let ia = net.issue(&a);
    let ib = net.issue(&b);
    net.confirm(&a);
    net.confirm(&b);
    let view = net.view();
    let f = only(&view, &end_of_year(), FindingKind::SourceOverallocated);
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = &f[0];
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.certificate.as_deref(), Some(src.number.as_str()));
    assert_eq!(f.events, vec![conf, ia, ib]);
    assert_eq!(f.participants, vec![code("EU")]);
    assert_eq!(f.date, b.issued_on.max(a.issued_on));
    assert!(f.explanation.contains("30.00 ct more"), "{}", f.explanation);
    assert!(f.explanation.contains(&a.number), "{}", f.explanation);
    assert!(f.explanation.contains(&b.number), "{}", f.explanation);

    // The trace of either re-export shows it on the way to the mine.
    let t = view.trace_at(&b.number, &end_of_year()).unwrap();
    let kinds: Vec<FindingKind> = t
        .nodes()
        .iter()
        .flat_map(|n| n.findings.iter().map(|f| f.kind))
        .collect();
    assert_eq!(kinds, vec![FindingKind::SourceOverallocated]);
    assert!(!t.headline().is_empty());

    // Voiding one of them settles it.
    let mut net2 = Net::new();
    net2.issue(&src);
    net2.confirm(&src);
    net2.issue(&a);
    net2.issue(&b);
    net2.void(&b.number, VoidReason::Cancelled, b.issued_on.add_days(1));
    net2.confirm(&a);
    assert_eq!(net2.view().audit(&end_of_year()), vec![]);
}

/// Shared sources that fit only when split between the re-exports are
/// not over-allocated; one carat more is.
#[test]
fn shared_sources_fit_when_split() {
    let build = |extra: u64| {
        let mut net = Net::new();
        let mut s1 = cert("BW", "EU", 1);
        s1.carat_hundredths = 4_000;
        let mut s2 = cert("ZA", "EU", 2);
        s2.carat_hundredths = 2_000;
        for s in [&s1, &s2] {
            net.issue(s);
            net.confirm(s);
        }
        // A draws on both, B only on s1: 30 + 30 fits (A takes 20 of s2).
        let a = reexport("EU", "IN", 10, &[&s1, &s2], 3_000 + extra);
        let b = reexport("EU", "AE", 11, &[&s1], 3_000);
        for x in [&a, &b] {
            net.issue(x);
            net.confirm(x);
        }
        net.view().audit(&end_of_year())
    };
    assert_eq!(build(0), vec![]);
    let f = build(1);
    assert_eq!(kinds(&f), vec!["source_overallocated"], "{f:#?}");
    assert!(
        f[0].explanation.contains("0.01 ct more"),
        "{}",
        f[0].explanation
    );
    // Both sources are exhausted: filed under the first of them.
    assert_eq!(f[0].certificate, Some(cert("BW", "EU", 1).number));
}

/// A participant confirming one certificate twice.
#[test]
fn double_confirmation() {
    let mut c = clean();
    let x = cert("BW", "EU", 77);
    c.net.issue(&x);
    let first = c.net.confirm(&x);
    let mut again = matching_confirmation(&x);
    again.carat_hundredths -= 100;
    again.received_on = x.issued_on.add_days(4);
    let second = c.net.confirm_by("EU", again);
    let view = c.net.view();
    // The second confirmation supersedes the first, which now mismatches
    // nothing; the repeat itself is the finding.
    let f: Vec<Finding> = view
        .audit(&end_of_year())
        .into_iter()
        .filter(|f| f.kind == FindingKind::DoubleConfirmation)
        .collect();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Medium);
    assert_eq!(f[0].events, vec![first, second]);
    assert_eq!(f[0].certificate.as_deref(), Some(x.number.as_str()));
    assert!(f[0].explanation.contains("2 times"), "{}", f[0].explanation);
}

#[test]
fn reexport_with_unknown_or_foreign_sources() {
    let mut c = clean();
    // BW2 went to IN, not the EU; the other source was never issued.
    let ghost = cert("ZA", "EU", 555);
    let mut x = reexport("EU", "AE", 40, &[&c.bw2, &ghost], 100);
    x.origin = Origin::Mixed { countries: vec![] };
    c.net.issue(&x);
    c.net.confirm(&x);
    let f = only(
        &c.net.view(),
        &end_of_year(),
        FindingKind::ReexportExceedsImports,
    );
    assert!(
        f[0].explanation.contains(&ghost.number),
        "{}",
        f[0].explanation
    );
    assert!(
        f[0].explanation.contains(&c.bw2.number),
        "{}",
        f[0].explanation
    );
}

#[test]
fn non_participant_trade() {
    let mut c = clean();
    let x = cert("BW", "KE", 7);
    c.net.issue(&x);
    let mut y = cert("ZA", "EU", 8);
    y.origin = Origin::Single {
        country: code("CM"),
        zone: None,
    };
    c.net.issue(&y);
    c.net.confirm(&y);
    let view = c.net.view();
    // Before x's confirmation deadline: only the non-participant trade.
    let mut p = end_of_year();
    p.now = x.issued_on.add_days(5);
    let f = only(&view, &p, FindingKind::NonParticipantTrade);
    assert_eq!(f.len(), 2);
    assert!(f[0].explanation.contains("destination KE"));
    assert!(f[1].explanation.contains("origin CM"));
    assert!(f[0].participants.contains(&code("KE")));
    // A non-participant cannot confirm: no `unconfirmed_export` on top.
    assert_eq!(
        only(&view, &end_of_year(), FindingKind::NonParticipantTrade),
        f
    );
    // EU is a participant: trade with the EU is fine (clean data covers it).
}

#[test]
fn fork_proofs_are_findings() {
    let mut c = clean();
    let network = c.net.charter.network_id();
    let x = cert("IN", "EU", 7);
    let (seq, prev) = {
        let w = c.net.writer("IN");
        (w.seq, w.prev)
    };
    let a = c.net.issue(&x);
    let mut w2 = FeedWriter::new(network, AuthorId::new("IN", "mme").unwrap());
    w2.seq = seq;
    w2.prev = prev;
    let other = w2.next(
        EventBody::CertificateVoided {
            certificate: x.number.clone(),
            reason: VoidReason::Lost,
            note: String::new(),
        },
        noon(x.issued_on) + 1,
    );
    let side_a = c.net.events.last().unwrap().1.clone();
    let proof = ForkProof::new(network, side_a, other.clone(), vec![]);
    proof.verify(&c.net.charter).unwrap();
    c.net.proofs.push(proof.clone());
    c.net.proofs.push(proof); // stored twice: one finding
    c.net.confirm(&x);
    let view = c.net.view();
    let f = only(&view, &end_of_year(), FindingKind::Fork);
    assert_eq!(f.len(), 1);
    let mut ids = vec![a, other.id()];
    ids.sort();
    assert_eq!(f[0].events, ids);
    assert_eq!(f[0].participants, vec![code("IN")]);
    assert_eq!(f[0].certificate.as_deref(), Some(x.number.as_str()));
}

#[test]
fn timestamp_backwards() {
    let mut c = clean();
    let x = cert("ZA", "EU", 7);
    let (prev_id, prev_ts) = c
        .net
        .events
        .iter()
        .rev()
        .find(|(_, e)| e.content.author.participant == code("ZA"))
        .map(|(id, e)| (*id, e.content.timestamp_ms))
        .unwrap();
    let id = c.net.push_at(
        "ZA",
        EventBody::CertificateIssued(x.clone()),
        prev_ts - 5_000,
    );
    c.net.confirm(&x);
    let f = only(
        &c.net.view(),
        &end_of_year(),
        FindingKind::TimestampBackwards,
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].events, vec![prev_id, id]);
    assert!(
        f[0].explanation.contains("5,000 ms"),
        "{}",
        f[0].explanation
    );
    assert_eq!(f[0].severity, Severity::Low);
}

#[test]
fn timestamp_future() {
    let mut c = clean();
    let now = end_of_year();
    let x = cert("BW", "EU", 7);
    let id = c.net.push_at(
        "BW",
        EventBody::CertificateIssued(x.clone()),
        now.now_ms + 11 * 60 * 1000,
    );
    c.net.confirm(&x);
    let view = c.net.view();
    let f = only(&view, &now, FindingKind::TimestampFuture);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].events, vec![id]);
    // Nine minutes of skew is tolerated.
    let mut later = now.clone();
    later.now_ms += 2 * 60 * 1000;
    assert_eq!(view.audit(&later), vec![]);
}

#[test]
fn timestamp_future_from_the_ledger_alone() {
    // An event ten years after every other feed's latest is flagged even
    // when the auditor's "now" is later still (a clock that jumped): the
    // ledger's own data shows it.
    let mut c = clean();
    let x = cert("BW", "EU", 7);
    let ten_years = 10 * 365 * 86_400_000u64;
    let mut params = end_of_year();
    let id = c.net.push_at(
        "BW",
        EventBody::CertificateIssued(x.clone()),
        params.now_ms + ten_years,
    );
    c.net.confirm(&x);
    params.now_ms += 2 * ten_years;
    let view = c.net.view();
    let f = only(&view, &params, FindingKind::TimestampFuture);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].events, vec![id]);
    assert!(
        f[0].explanation.contains("every other feed"),
        "{}",
        f[0].explanation
    );
}

#[test]
fn filters_sorting_and_json() {
    let mut c = clean();
    // A medium finding for BW → EU in January, a high one for IN in June.
    let x = cert("BW", "EU", 7); // issued 2026-01-08
    c.net.issue(&x);
    let mut conf = matching_confirmation(&x);
    conf.value_usd_cents += 1;
    c.net.confirm_by("EU", conf);
    let forged = cert("BW", "IN", 160); // "issued" 2026-06-10, never really
    let mut fconf = matching_confirmation(&forged);
    fconf.received_on = date("2026-06-12");
    c.net.confirm_by("IN", fconf);
    let view = c.net.view();
    let all = view.audit(&end_of_year());
    assert_eq!(
        kinds(&all),
        vec!["unknown_certificate", "confirmation_mismatch"]
    );
    assert!(all.windows(2).all(|w| w[0].severity <= w[1].severity));

    let mut p = end_of_year();
    p.participant = Some(code("IN"));
    assert_eq!(kinds(&view.audit(&p)), vec!["unknown_certificate"]);
    p.participant = Some(code("ZA"));
    assert_eq!(view.audit(&p), vec![]);
    p.participant = Some(code("BW"));
    assert_eq!(view.audit(&p).len(), 2);

    let mut p = end_of_year();
    p.from = Some(date("2026-01-01"));
    p.to = Some(date("2026-03-31"));
    assert_eq!(kinds(&view.audit(&p)), vec!["confirmation_mismatch"]);
    p.from = Some(date("2026-06-01"));
    p.to = None;
    assert_eq!(kinds(&view.audit(&p)), vec!["unknown_certificate"]);

    let json = serde_json::to_value(&all[1]).unwrap();
    let obj = json.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "certificate",
            "date",
            "events",
            "explanation",
            "kind",
            "participants",
            "severity"
        ]
    );
    assert_eq!(json["kind"], "confirmation_mismatch");
    assert_eq!(json["severity"], "medium");
    assert_eq!(json["participants"], serde_json::json!(["BW", "EU"]));
    assert_eq!(json["date"], x.issued_on.to_string());
    let back: Finding = serde_json::from_value(json).unwrap();
    assert_eq!(back, all[1]);
    for k in FindingKind::ALL {
        assert_eq!(
            serde_json::to_value(k).unwrap(),
            serde_json::json!(k.as_str())
        );
        assert_eq!(FindingKind::from_name(k.as_str()), Some(k));
    }
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

fn figures(certs: &[&Certificate]) -> TradeFigures {
    TradeFigures {
        certificates: certs.len() as u64,
        carat_hundredths: certs.iter().map(|c| c.carat_hundredths).sum(),
        value_usd_cents: certs.iter().map(|c| c.value_usd_cents).sum(),
        overflow: false,
    }
}

#[test]
fn stats_totals_are_the_sums_of_the_certificates() {
    let c = clean();
    let view = c.net.view();
    let s = view.stats(2026, None);
    assert_eq!(s.period, Period::new(2026, None).unwrap());
    let row = |p: &str| {
        s.participants
            .iter()
            .find(|r| r.participant == code(p))
            .unwrap()
            .clone()
    };
    // BW4 is voided: not an export.
    assert_eq!(row("BW").exports, figures(&[&c.bw1, &c.bw2]));
    assert_eq!(row("ZA").exports, figures(&[&c.za3]));
    assert_eq!(row("EU").exports, figures(&[&c.eu5]));
    assert_eq!(row("IN").exports, figures(&[&c.in6]));
    assert_eq!(row("AE").exports, TradeFigures::default());
    assert_eq!(row("EU").imports, figures(&[&c.bw1, &c.za3]));
    assert_eq!(row("IN").imports, figures(&[&c.bw2, &c.eu5]));
    assert_eq!(row("AE").imports, figures(&[&c.in6]));
    let all = [&c.bw1, &c.bw2, &c.za3, &c.eu5, &c.in6];
    assert_eq!(s.total_exports, figures(&all));
    assert_eq!(s.total_imports, figures(&all));
    // Clean data mirrors perfectly.
    assert_eq!(s.mirror.len(), 5);
    for r in &s.mirror {
        assert_eq!(r.exports, r.imports, "{r:?}");
        assert_eq!(
            (
                r.diff_certificates,
                r.diff_carat_hundredths,
                r.diff_value_usd_cents
            ),
            (0, 0, 0)
        );
    }
    // Another year is empty.
    let empty = view.stats(2025, None);
    assert_eq!(empty.total_exports, TradeFigures::default());
    assert!(empty.mirror.is_empty());
    assert_eq!(empty.participants.len(), 5);
}

#[test]
fn mirror_differences_and_quarters() {
    let mut c = clean();
    // BW → EU: 2.50 ct and US$ 10.00 less received than certified.
    let x = cert("BW", "EU", 7);
    c.net.issue(&x);
    let mut conf = matching_confirmation(&x);
    conf.carat_hundredths -= 250;
    conf.value_usd_cents -= 1_000;
    c.net.confirm_by("EU", conf);
    // BW → ZA issued in March, received in April: crosses a quarter.
    let mut y = cert("BW", "ZA", 8);
    y.issued_on = date("2026-03-30");
    y.expires_on = date("2026-05-30");
    c.net.issue(&y);
    c.net.confirm(&y); // received 2026-04-02
    let view = c.net.view();

    let s = view.stats(2026, None);
    let pair = |a: &str, b: &str| {
        s.mirror
            .iter()
            .find(|r| r.exporter == code(a) && r.importer == code(b))
            .unwrap()
            .clone()
    };
    let bw_eu = pair("BW", "EU");
    assert_eq!(bw_eu.exports, figures(&[&c.bw1, &x]));
    assert_eq!(bw_eu.diff_certificates, 0);
    assert_eq!(bw_eu.diff_carat_hundredths, 250);
    assert_eq!(bw_eu.diff_value_usd_cents, 1_000);
    assert_eq!(pair("BW", "ZA").diff_carat_hundredths, 0);

    let q1 = view.stats(2026, Some(1));
    assert_eq!(q1.period.from, date("2026-01-01"));
    assert_eq!(q1.period.to, date("2026-03-31"));
    let q1_bw_za = q1
        .mirror
        .iter()
        .find(|r| r.exporter == code("BW") && r.importer == code("ZA"))
        .unwrap();
    assert_eq!(q1_bw_za.exports, figures(&[&y]));
    assert_eq!(q1_bw_za.imports, TradeFigures::default());
    assert_eq!(q1_bw_za.diff_carat_hundredths, y.carat_hundredths as i64);
    let q2 = view.stats(2026, Some(2));
    let q2_bw_za = q2
        .mirror
        .iter()
        .find(|r| r.exporter == code("BW") && r.importer == code("ZA"))
        .unwrap();
    assert_eq!(q2_bw_za.diff_carat_hundredths, -(y.carat_hundredths as i64));
    assert!(Period::new(2026, Some(5)).is_err());
    assert!(view.stats(2026, Some(5)).mirror.is_empty());

    // CSV: stable headers, one line per row, integer figures.
    let csv = s.mirror_to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "exporter,importer,export_certificates,export_carat_hundredths,export_value_usd_cents,import_certificates,import_carat_hundredths,import_value_usd_cents,diff_certificates,diff_carat_hundredths,diff_value_usd_cents"
    );
    assert_eq!(lines.len(), s.mirror.len() + 1);
    let bw_eu_line = lines.iter().find(|l| l.starts_with("BW,EU,")).unwrap();
    assert!(bw_eu_line.ends_with(",0,250,1000"), "{bw_eu_line}");
    let csv = s.participants_to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "participant,export_certificates,export_carat_hundredths,export_value_usd_cents,import_certificates,import_carat_hundredths,import_value_usd_cents"
    );
    assert_eq!(lines.len(), 6);
    assert!(lines[1].starts_with("AE,0,0,0,1,"));
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["mirror"][0]["diff_carat_hundredths"].is_i64());
    assert_eq!(json["period"]["from"], "2026-01-01");
}

// ---------------------------------------------------------------------------
// Provenance
// ---------------------------------------------------------------------------

#[test]
fn three_level_trace_with_an_unaccounted_share() {
    let mut net = Net::new();
    // BW mine → EU hub.
    let bw = cert("BW", "EU", 1);
    net.issue(&bw);
    net.confirm(&bw);
    // EU hub → IN, 800 ct of BW's.
    let eu = reexport("EU", "IN", 20, &[&bw], 80_000);
    net.issue(&eu);
    net.confirm(&eu);
    // IN re-exports EU's 800 ct plus 400 ct under a source nobody issued.
    let ghost = cert("ZA", "IN", 999);
    let in_ = reexport("IN", "AE", 30, &[&eu, &ghost], 120_000);
    net.issue(&in_);
    net.confirm(&in_);
    let view = net.view();

    let t = view.trace(&in_.number).unwrap();
    assert!(t.found);
    assert_eq!(t.issuer, Some(code("IN")));
    assert_eq!(t.carat_hundredths, Some(120_000));
    assert_eq!(t.source_carat_hundredths, 80_000);
    assert_eq!(t.unaccounted_carat_hundredths, 40_000);
    assert_eq!(t.confirmations.len(), 1);
    assert_eq!(t.confirmations[0].participant, code("AE"));
    assert_eq!(t.confirmations[0].carat_hundredths, 120_000);
    assert_eq!(
        t.findings.iter().map(|f| f.kind).collect::<Vec<_>>(),
        vec![FindingKind::ReexportExceedsImports]
    );
    assert_eq!(t.children.len(), 2);
    let (eu_node, ghost_node) = (&t.children[0], &t.children[1]);
    assert_eq!(eu_node.certificate, eu.number);
    assert_eq!(eu_node.unaccounted_carat_hundredths, 0);
    assert!(eu_node.findings.is_empty());
    assert_eq!(eu_node.children.len(), 1);
    let bw_node = &eu_node.children[0];
    assert_eq!(bw_node.certificate, bw.number);
    assert!(bw_node.children.is_empty());
    assert_eq!(
        bw_node.origin,
        Some(Origin::Single {
            country: code("BW"),
            zone: None
        })
    );
    assert_eq!(bw_node.confirmations[0].participant, code("EU"));
    assert_eq!(ghost_node.certificate, ghost.number);
    assert!(!ghost_node.found);
    assert_eq!(ghost_node.issuer, Some(code("ZA")));
    assert!(!t.cycle && !t.truncated);
    assert_eq!(t.nodes().len(), 4);

    let text = t.render_tree();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with(&in_.number), "{text}");
    assert!(lines[0].contains("1,200.00 ct"), "{text}");
    assert!(lines[0].contains("US$ "), "{text}");
    assert!(text.contains("unaccounted: 400.00 ct"), "{text}");
    assert!(text.contains(&format!("├─ {}", eu.number)), "{text}");
    assert!(text.contains(&format!("│  └─ {}", bw.number)), "{text}");
    assert!(
        text.contains(&format!(
            "└─ {}  (never issued in this ledger)",
            ghost.number
        )),
        "{text}"
    );
    assert!(text.contains("reexport_exceeds_imports"), "{text}");

    // JSON names are stable.
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["unaccounted_carat_hundredths"], 40_000);
    assert_eq!(json["children"][1]["found"], false);
    assert_eq!(json["cycle"], false);

    // Unknown numbers have no trace; a mine's export is a leaf.
    assert!(view.trace("XX-0000").is_none());
    let leaf = view.trace(&bw.number).unwrap();
    assert!(leaf.children.is_empty());
    assert_eq!(leaf.unaccounted_carat_hundredths, 0);
    // With a clock, time-dependent findings appear too.
    let mut late = net;
    let stale = cert("BW", "EU", 2);
    late.issue(&stale);
    let v = late.view();
    assert!(v.trace(&stale.number).unwrap().findings.is_empty());
    assert_eq!(
        v.trace_at(&stale.number, &end_of_year()).unwrap().findings[0].kind,
        FindingKind::UnconfirmedExport
    );
}

#[test]
fn traces_survive_cycles() {
    let mut net = Net::new();
    let mut a = cert("EU", "IN", 100);
    let mut b = cert("IN", "EU", 200);
    a.source_certificates = vec![b.number.clone()];
    b.source_certificates = vec![a.number.clone()];
    net.issue(&a);
    net.issue(&b);
    let view = net.view();
    let t = view.trace(&a.number).unwrap();
    assert!(!t.cycle);
    let child = &t.children[0];
    assert_eq!(child.certificate, b.number);
    let again = &child.children[0];
    assert_eq!(again.certificate, a.number);
    assert!(again.cycle);
    assert!(again.children.is_empty());
    assert_eq!(t.nodes().len(), 3);
    assert!(t.render_tree().contains("[cycle]"));
}

#[test]
fn traces_are_bounded_in_depth_and_size() {
    // A chain longer than the depth bound.
    let mut net = Net::new();
    let mut prev: Option<Certificate> = None;
    for i in 0..(MAX_TRACE_DEPTH as u64 + 6) {
        let who = if i % 2 == 0 { "EU" } else { "IN" };
        let dest = if i % 2 == 0 { "IN" } else { "EU" };
        let mut c = cert(who, dest, 1_000 + i);
        c.issued_on = date("2026-01-01");
        c.expires_on = date("2026-03-01");
        if let Some(p) = &prev {
            c.source_certificates = vec![p.number.clone()];
        }
        net.issue(&c);
        prev = Some(c);
    }
    let view = net.view();
    let t = view.trace(&prev.unwrap().number).unwrap();
    let mut depth = 0;
    let mut n = &t;
    while let Some(c) = n.children.first() {
        n = c;
        depth += 1;
    }
    assert_eq!(depth, MAX_TRACE_DEPTH);
    assert!(n.truncated);
    assert!(!n.cycle);

    // A lattice with 2^24 paths: every level's two certificates cite both of
    // the level below.
    let mut net = Net::new();
    let mut below: Vec<Certificate> = Vec::new();
    for level in 0..24u64 {
        let mut this = Vec::new();
        for j in 0..2u64 {
            let mut c = cert("EU", "IN", 10_000 + level * 2 + j);
            let mut sources: Vec<String> = below.iter().map(|b| b.number.clone()).collect();
            sources.sort();
            c.source_certificates = sources;
            net.issue(&c);
            this.push(c);
        }
        below = this;
    }
    let view = net.view();
    let t = view.trace(&below[0].number).unwrap();
    let nodes = t.nodes();
    assert!(nodes.len() <= MAX_TRACE_NODES, "{}", nodes.len());
    assert!(nodes.iter().any(|n| n.truncated));
}

/// The carats of a shipment split back to the mines' origins: a hub that
/// mixes two mines' exports passes on their shares, and what no source
/// carries is unaccounted; the parts add up to the shipment exactly.
#[test]
fn trace_sums_carats_by_origin() {
    let mut net = Net::new();
    let mut bw = cert("BW", "EU", 1);
    bw.carat_hundredths = 30_000;
    let mut za = cert("ZA", "EU", 2);
    za.carat_hundredths = 10_000;
    for c in [&bw, &za] {
        net.issue(c);
        net.confirm(c);
    }
    // EU mixes all 400 ct; IN takes 100 ct of it plus 1 ct from nowhere.
    let eu = reexport("EU", "IN", 20, &[&bw, &za], 40_000);
    net.issue(&eu);
    net.confirm(&eu);
    let ghost = cert("AE", "IN", 999);
    let in_ = reexport("IN", "AE", 30, &[&eu, &ghost], 10_100);
    net.issue(&in_);
    let view = net.view();

    let whole = view.trace(&eu.number).unwrap().carats_by_origin();
    let shares: Vec<(&str, u64)> = whole
        .origins
        .iter()
        .map(|o| (o.origin.as_str(), o.carat_hundredths))
        .collect();
    assert_eq!(shares, vec![("BW", 30_000), ("ZA", 10_000)]);
    assert_eq!(whole.unaccounted_carat_hundredths, 0);

    let part = view.trace(&in_.number).unwrap().carats_by_origin();
    let shares: Vec<(&str, u64)> = part
        .origins
        .iter()
        .map(|o| (o.origin.as_str(), o.carat_hundredths))
        .collect();
    // 10,100 over EU (40,000) and the ghost (never issued): all of it is
    // drawn on EU, whose 3:1 mix gives 7,575 and 2,525.
    assert_eq!(shares, vec![("BW", 7_575), ("ZA", 2_525)]);
    assert_eq!(part.unaccounted_carat_hundredths, 0);
    let total: u64 = part.origins.iter().map(|o| o.carat_hundredths).sum::<u64>()
        + part.unaccounted_carat_hundredths;
    assert_eq!(total, in_.carat_hundredths);
}

/// Sources carrying less than the certificate leave the rest unaccounted.
#[test]
fn trace_by_origin_names_what_no_source_carries() {
    let mut net = Net::new();
    let mut bw = cert("BW", "EU", 1);
    bw.carat_hundredths = 1_001;
    net.issue(&bw);
    net.confirm(&bw);
    let eu = reexport("EU", "IN", 20, &[&bw], 3_000);
    net.issue(&eu);
    let s = net.view().trace(&eu.number).unwrap().carats_by_origin();
    assert_eq!(s.origins.len(), 1);
    assert_eq!(s.origins[0].origin, "BW");
    assert_eq!(s.origins[0].carat_hundredths, 1_001);
    assert_eq!(s.unaccounted_carat_hundredths, 1_999);
}

/// Certificates listed by participant, direction, status, period and
/// origin, with the confirmation deadline.
#[test]
fn certificates_are_listed_with_their_status() {
    use ledger_core::analysis::{CertificateQuery, CertificateStatus, Direction};
    let c = clean();
    let view = c.net.view();
    let now = date("2026-12-31");
    let all = view.list_certificates(&CertificateQuery::new(now));
    let numbers: Vec<&str> = all.iter().map(|s| s.certificate.as_str()).collect();
    assert_eq!(all.len(), 6, "{numbers:?}");
    let bw4 = all.iter().find(|s| s.certificate == c.bw4.number).unwrap();
    assert_eq!(bw4.status, CertificateStatus::Voided);
    let za3 = all.iter().find(|s| s.certificate == c.za3.number).unwrap();
    assert_eq!(za3.status, CertificateStatus::Confirmed);
    // The corrected figure.
    assert_eq!(za3.carat_hundredths, c.za3.carat_hundredths);
    assert_eq!(za3.confirmed_carat_hundredths, Some(c.za3.carat_hundredths));

    let mut q = CertificateQuery::new(now);
    q.participant = Some(code("BW"));
    q.direction = Some(Direction::Exports);
    let bw: Vec<String> = view
        .list_certificates(&q)
        .into_iter()
        .map(|s| s.certificate)
        .collect();
    assert_eq!(
        bw,
        vec![
            c.bw1.number.clone(),
            c.bw2.number.clone(),
            c.bw4.number.clone()
        ]
    );
    q.direction = Some(Direction::Imports);
    assert!(view.list_certificates(&q).is_empty());

    let mut q = CertificateQuery::new(now);
    q.origin = Some(code("ZA"));
    let za: Vec<String> = view
        .list_certificates(&q)
        .into_iter()
        .map(|s| s.certificate)
        .collect();
    // ZA3 itself, and the re-exports whose mixed origin names ZA.
    assert!(
        za.contains(&c.za3.number) && za.contains(&c.eu5.number),
        "{za:?}"
    );
    assert!(!za.contains(&c.bw1.number));

    // A new export, not yet confirmed: awaiting until expiry + grace, then
    // overdue.
    let mut c2 = clean();
    let x = cert("BW", "EU", 90);
    c2.net.issue(&x);
    let view = c2.net.view();
    let mut q = CertificateQuery::new(x.issued_on.add_days(1));
    q.status = Some(CertificateStatus::AwaitingConfirmation);
    let waiting = view.list_certificates(&q);
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].certificate, x.number);
    assert_eq!(waiting[0].confirm_by, x.expires_on.add_days(30));
    q.now = x.expires_on.add_days(31);
    assert!(view.list_certificates(&q).is_empty());
    q.status = Some(CertificateStatus::Overdue);
    assert_eq!(view.list_certificates(&q).len(), 1);
}
