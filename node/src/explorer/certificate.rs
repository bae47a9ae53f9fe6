//! One certificate: as it stands with its issuer's corrections applied
//! (`ledger_core::lifecycle`) and what each correction changed, its
//! confirmations and voids with links to the raw events, the findings
//! about it, and its provenance tree back to the mines with carats by
//! origin (the analysis trace).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use ledger_core::analysis::AuditParams;
use ledger_core::{Certificate, Correction, EventBody, VoidReason};

use super::html::{self, carats, cert_link, esc, event_link, time_ms, usd, Nav, Table};
use super::{analysed, partial_note, tree, Page, PageError, MAX_NUMBER};
use crate::service::{now_ms, Node};

/// A corrected field's value for people.
fn correction_value(c: &Correction) -> String {
    match c {
        Correction::Exporter(p) | Correction::Importer(p) => format!("{}, {}", p.name, p.address),
        Correction::CaratHundredths(v) => ledger_core::analysis::format_carats(*v),
        Correction::ValueUsdCents(v) => ledger_core::analysis::format_usd(*v),
        Correction::Parcels(v) => v.to_string(),
        Correction::ExpiresOn(d) => d.to_string(),
        Correction::HsCodes(h) => h
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        Correction::Origin(o) => o.to_string(),
        Correction::Destination(d) => d.to_string(),
    }
}

fn void_reason(r: VoidReason) -> &'static str {
    match r {
        VoidReason::Cancelled => "cancelled",
        VoidReason::Lost => "lost",
        VoidReason::Stolen => "stolen",
        VoidReason::Seized => "seized",
    }
}

fn field_name(c: &Correction) -> &'static str {
    match c {
        Correction::Exporter(_) => "exporter",
        Correction::Importer(_) => "importer",
        Correction::CaratHundredths(_) => "carats",
        Correction::ValueUsdCents(_) => "value",
        Correction::Parcels(_) => "parcels",
        Correction::ExpiresOn(_) => "expiry date",
        Correction::HsCodes(_) => "HS codes",
        Correction::Origin(_) => "origin",
        Correction::Destination(_) => "destination",
    }
}

/// The certificate's fields as a two-column table.
fn fields(c: &Certificate, issuer: &str) -> String {
    let mut t = Table::new("fields", &["Field", "As it stands"]);
    let rows: Vec<(&str, String)> = vec![
        ("Number", esc(&c.number)),
        ("Issuer", esc(issuer)),
        ("Issuing authority", esc(&c.issuing_authority)),
        ("Origin", esc(&c.origin.to_string())),
        (
            "Exporter",
            format!(
                "{}<br><span class=\"sub\">{}</span>",
                esc(&c.exporter.name),
                esc(&c.exporter.address)
            ),
        ),
        (
            "Importer",
            format!(
                "{}<br><span class=\"sub\">{}</span>",
                esc(&c.importer.name),
                esc(&c.importer.address)
            ),
        ),
        ("Destination", c.destination.to_string()),
        ("Carats", carats(c.carat_hundredths)),
        ("Value", usd(c.value_usd_cents)),
        ("Parcels", c.parcels.to_string()),
        (
            "HS codes",
            esc(&c
                .hs_codes
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(", ")),
        ),
        ("Issued on", c.issued_on.to_string()),
        ("Expires on", c.expires_on.to_string()),
        (
            "Sources",
            if c.source_certificates.is_empty() {
                "none (a mine's export)".to_owned()
            } else {
                c.source_certificates
                    .iter()
                    .map(|s| cert_link(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
    ];
    for (k, v) in rows {
        t.row(vec![esc(k), v]);
    }
    t.render()
}

pub async fn page(node: &Arc<Node>, client: IpAddr, number: String) -> Result<Page, PageError> {
    if number.len() > MAX_NUMBER {
        return Err(PageError::bad(format!(
            "certificate numbers are at most {MAX_NUMBER} characters"
        )));
    }
    let now = now_ms();
    let n = number.clone();
    let (record, trace, partial) = analysed(node, client, move |node, v| {
        let record = node
            .ledger
            .certificate(&n)
            .map_err(|e| PageError::internal(e.to_string()))?;
        let trace = v.trace_at(&n, &AuditParams::new(now));
        Ok((record, trace, partial_note(v)))
    })
    .await?;
    if record.is_empty() {
        let upper = number.to_ascii_uppercase();
        let hint = if upper != number {
            format!(
                " Numbers are written in capitals: try <a href=\"/explorer/certificates/{}\">{}</a>.",
                html::pct(&upper),
                esc(&upper)
            )
        } else {
            String::new()
        };
        return Err(PageError {
            status: StatusCode::NOT_FOUND,
            title: "No such certificate".into(),
            message: format!(
                "No event of this replica names certificate {}.{hint}",
                esc(&number)
            ),
        });
    }
    let mut body = partial;
    let corrected = ledger_core::lifecycle::corrected(&record);
    let status = if !record.fork_proofs.is_empty() {
        "forked"
    } else if record.issued.is_empty() {
        "never issued"
    } else if !record.voids.is_empty() {
        "voided"
    } else if !record.confirmations.is_empty() {
        "confirmed"
    } else {
        "not confirmed"
    };
    let _ = write!(
        body,
        "<p class=\"lead\">Status: <span class=\"badge {}\" id=\"status\">{status}</span></p>",
        status.replace(' ', "_")
    );

    // As it stands.
    body.push_str("<section><h2>The certificate as it stands</h2>");
    match &corrected {
        Some(c) => {
            let issuer = record
                .issued
                .iter()
                .find(|e| e.id == c.issue)
                .map(|e| e.event.content.author.to_string())
                .unwrap_or_default();
            body.push_str(&fields(&c.effective, &issuer));
        }
        None => body.push_str(&html::note(
            "error",
            "No issue of this number is in the ledger: every event below names a certificate nobody issued.",
        )),
    }
    body.push_str("</section>");

    // The lifecycle: every event, in the order signed.
    body.push_str("<section><h2>Lifecycle</h2>");
    let mut t = Table::new("lifecycle", &["Signed", "Event", "By", "What"]);
    let mut events: Vec<&ledger_core::store::StoredEvent> = record
        .issued
        .iter()
        .chain(&record.corrections)
        .chain(&record.confirmations)
        .chain(&record.voids)
        .collect();
    events.sort_by_key(|e| (e.event.content.timestamp_ms, e.event.content.seq));
    let applied: std::collections::BTreeMap<_, _> = corrected
        .iter()
        .flat_map(|c| c.applied.iter().map(|a| (a.event, a)))
        .collect();
    for e in events {
        let c = &e.event.content;
        let what = match &c.body {
            EventBody::CertificateIssued(cert) => {
                let primary = corrected.as_ref().is_some_and(|k| k.issue == e.id);
                format!(
                    "<strong>issued</strong>{}: {} → {}, {}, {}",
                    if primary { "" } else { " (a second issue of this number)" },
                    esc(&c.author.participant.to_string()),
                    cert.destination,
                    carats(cert.carat_hundredths),
                    usd(cert.value_usd_cents)
                )
            }
            EventBody::CertificateCorrected { correction, note, .. } => match applied.get(&e.id) {
                Some(a) => format!(
                    "<strong>corrected</strong> {}: <del>{}</del> → <ins>{}</ins> <span class=\"sub\">“{}”</span>",
                    field_name(&a.to),
                    esc(&correction_value(&a.from)),
                    esc(&correction_value(&a.to)),
                    esc(&a.note)
                ),
                None => format!(
                    "<strong>correction not applied</strong> (it names another issue, or is not the issuer's): {} to {} <span class=\"sub\">“{}”</span>",
                    field_name(correction),
                    esc(&correction_value(correction)),
                    esc(note)
                ),
            },
            EventBody::ImportConfirmed(k) => format!(
                "<strong>import confirmed</strong> by {}: received on {}, {} parcel(s), {}, {}",
                c.author.participant,
                k.received_on,
                k.parcels,
                carats(k.carat_hundredths),
                usd(k.value_usd_cents)
            ),
            EventBody::CertificateVoided { reason, note, .. } => format!(
                "<strong>voided</strong>: {} <span class=\"sub\">“{}”</span>",
                void_reason(*reason),
                esc(note)
            ),
            other => esc(other.kind()),
        };
        let class = match &c.body {
            EventBody::CertificateCorrected { .. } => "correction",
            EventBody::ImportConfirmed(_) => "confirmation",
            EventBody::CertificateVoided { .. } => "void",
            _ => "issue",
        };
        t.row_class(
            class,
            vec![
                esc(&time_ms(c.timestamp_ms)),
                event_link(&e.id),
                esc(&format!("{} #{}", c.author, c.seq)),
                what,
            ],
        );
    }
    body.push_str(&t.render());
    if !record.fork_proofs.is_empty() {
        body.push_str(&html::note(
            "error",
            &format!(
                "{} fork proof(s) concern this certificate: see <a href=\"/explorer/proofs\">Fork proofs</a>.",
                record.fork_proofs.len()
            ),
        ));
    }
    body.push_str("</section>");

    // Findings and provenance.
    if let Some(t) = &trace {
        if !t.findings.is_empty() {
            body.push_str("<section><h2>Audit findings about it</h2>");
            body.push_str(&super::audit::findings_table(&t.findings).render());
            body.push_str("</section>");
        }
        body.push_str("<section><h2>Provenance</h2><p class=\"sub\">Back through the re-exports to the mines; a certificate with findings is drawn in red. Each box links to its certificate.</p>");
        let (svg, drawn) = tree::svg(t);
        let _ = write!(
            body,
            "<div class=\"scroll treebox\" data-nodes=\"{drawn}\">{svg}</div>"
        );
        let shares = t.carats_by_origin();
        let mut o = Table::new("origins", &["Origin", "Carats"]).numeric(&[1]);
        for s in &shares.origins {
            o.row(vec![esc(&s.origin), carats(s.carat_hundredths)]);
        }
        if shares.unaccounted_carat_hundredths > 0 {
            o.row_class(
                "finding",
                vec![
                    "unaccounted (not carried by sources that were issued and imported)".into(),
                    carats(shares.unaccounted_carat_hundredths),
                ],
            );
        }
        body.push_str("<h3>Carats by origin</h3>");
        body.push_str(&o.render());
        body.push_str("</section>");
    }
    Ok(Page {
        nav: Nav::Certificate,
        title: format!("Certificate {number}"),
        body,
    })
}
