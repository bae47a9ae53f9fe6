//! A certificate as it stands after its corrections: the issue's fields
//! with each correction of its issuer applied in the order they were
//! signed, and what each one changed.
//!
//! The same rule as the analysis: a correction applies to the issue event
//! it names (`original`), when its author is of the issuing participant;
//! corrections apply in the order `(timestamp, author, seq, id)`. A
//! correction naming another event, or signed by someone else, is listed as
//! not applied.

use serde::{Deserialize, Serialize};

use crate::event::EventId;
use crate::model::{AuthorId, Certificate, Correction};
use crate::store::{CertificateRecord, StoredEvent};
use crate::EventBody;

/// One correction applied: the field's value before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedCorrection {
    pub event: EventId,
    pub author: AuthorId,
    pub seq: u64,
    pub timestamp_ms: u64,
    /// The field's value before this correction, in the correction's form.
    pub from: Correction,
    pub to: Correction,
    pub note: String,
}

/// The primary issue with its corrections applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corrected {
    /// The primary issue event (the first signed).
    pub issue: EventId,
    /// The certificate as it stands.
    pub effective: Certificate,
    /// In the order they were applied.
    pub applied: Vec<AppliedCorrection>,
    /// Corrections of this number that do not apply to the primary issue
    /// (another issue event named, or not its issuer's).
    pub not_applied: Vec<EventId>,
}

/// The field of `c` that `like` corrects, as a correction.
fn current(c: &Certificate, like: &Correction) -> Correction {
    match like {
        Correction::Exporter(_) => Correction::Exporter(c.exporter.clone()),
        Correction::Importer(_) => Correction::Importer(c.importer.clone()),
        Correction::CaratHundredths(_) => Correction::CaratHundredths(c.carat_hundredths),
        Correction::ValueUsdCents(_) => Correction::ValueUsdCents(c.value_usd_cents),
        Correction::Parcels(_) => Correction::Parcels(c.parcels),
        Correction::ExpiresOn(_) => Correction::ExpiresOn(c.expires_on),
        Correction::HsCodes(_) => Correction::HsCodes(c.hs_codes.clone()),
        Correction::Origin(_) => Correction::Origin(c.origin.clone()),
        Correction::Destination(_) => Correction::Destination(c.destination),
    }
}

/// Applies a correction to a certificate.
pub fn apply(c: &mut Certificate, corr: &Correction) {
    match corr {
        Correction::Exporter(p) => c.exporter = p.clone(),
        Correction::Importer(p) => c.importer = p.clone(),
        Correction::CaratHundredths(v) => c.carat_hundredths = *v,
        Correction::ValueUsdCents(v) => c.value_usd_cents = *v,
        Correction::Parcels(v) => c.parcels = *v,
        Correction::ExpiresOn(d) => c.expires_on = *d,
        Correction::HsCodes(h) => c.hs_codes = h.clone(),
        Correction::Origin(o) => c.origin = o.clone(),
        Correction::Destination(d) => c.destination = *d,
    }
}

fn order_key(e: &StoredEvent) -> (u64, &AuthorId, u64, &EventId) {
    let c = &e.event.content;
    (c.timestamp_ms, &c.author, c.seq, &e.id)
}

/// The primary issue of `record` with its corrections applied; `None` for
/// a number never issued.
pub fn corrected(record: &CertificateRecord) -> Option<Corrected> {
    let primary = record
        .issued
        .iter()
        .min_by(|a, b| order_key(a).cmp(&order_key(b)))?;
    let EventBody::CertificateIssued(signed) = &primary.event.content.body else {
        return None;
    };
    let issuer = primary.event.content.author.participant;
    let mut corrections: Vec<&StoredEvent> = record.corrections.iter().collect();
    corrections.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    let mut effective = signed.clone();
    let mut applied = Vec::new();
    let mut not_applied = Vec::new();
    for e in corrections {
        let c = &e.event.content;
        let EventBody::CertificateCorrected {
            original,
            correction,
            note,
            ..
        } = &c.body
        else {
            continue;
        };
        if *original != primary.id || c.author.participant != issuer {
            not_applied.push(e.id);
            continue;
        }
        let from = current(&effective, correction);
        apply(&mut effective, correction);
        applied.push(AppliedCorrection {
            event: e.id,
            author: c.author.clone(),
            seq: c.seq,
            timestamp_ms: c.timestamp_ms,
            from,
            to: correction.clone(),
            note: note.clone(),
        });
    }
    Some(Corrected {
        issue: primary.id,
        effective,
        applied,
        not_applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{sample_certificate, test_charter, FeedWriter};
    use crate::CountryCode;

    #[test]
    fn corrections_apply_in_order_and_say_what_changed() {
        let charter = test_charter(&["BW", "EU", "ZA"]);
        let net = charter.network_id();
        let mut bw = FeedWriter::new(net, AuthorId::new("BW", "mme").unwrap());
        let mut za = FeedWriter::new(net, AuthorId::new("ZA", "mme").unwrap());
        let code = |s: &str| CountryCode::new(s).unwrap();
        let cert = sample_certificate(code("BW"), code("EU"), 1);
        let stored = |w: &mut FeedWriter, body: EventBody, ts: u64| {
            let event = w.next(body, ts);
            StoredEvent {
                id: event.id(),
                event,
            }
        };
        let issue = stored(&mut bw, EventBody::CertificateIssued(cert.clone()), 1_000);
        let corr = |c: Correction| EventBody::CertificateCorrected {
            certificate: cert.number.clone(),
            original: issue.id,
            correction: c,
            note: "typing error".into(),
        };
        let mut record = CertificateRecord::default();
        // Stored out of order: the later one first.
        record.corrections.push(stored(
            &mut bw,
            corr(Correction::CaratHundredths(cert.carat_hundredths + 200)),
            3_000,
        ));
        record.corrections.push(stored(
            &mut bw,
            corr(Correction::CaratHundredths(cert.carat_hundredths + 100)),
            2_000,
        ));
        record.corrections.push(stored(
            &mut bw,
            corr(Correction::Destination(code("ZA"))),
            4_000,
        ));
        // Not the issuer's: listed, not applied.
        let foreign = stored(&mut za, corr(Correction::Parcels(99)), 5_000);
        record.corrections.push(foreign.clone());
        record.issued.push(issue.clone());
        assert!(corrected(&CertificateRecord::default()).is_none());
        let c = corrected(&record).unwrap();
        assert_eq!(c.issue, issue.id);
        assert_eq!(c.effective.carat_hundredths, cert.carat_hundredths + 200);
        assert_eq!(c.effective.destination, code("ZA"));
        assert_eq!(c.effective.parcels, cert.parcels);
        assert_eq!(c.applied.len(), 3);
        assert_eq!(
            c.applied[0].from,
            Correction::CaratHundredths(cert.carat_hundredths)
        );
        assert_eq!(
            c.applied[1].from,
            Correction::CaratHundredths(cert.carat_hundredths + 100)
        );
        assert_eq!(c.applied[2].from, Correction::Destination(code("EU")));
        assert_eq!(c.not_applied, vec![foreign.id]);
    }
}
