//! Body validation: the KPCS rules an event must follow on its own, without
//! looking at any other event (so every node reaches the same verdict
//! whatever order events arrive in). Cross-event checks (a confirmation of an
//! unknown certificate, carats that differ) are audit findings, not refusals.

use crate::error::BodyError;
use crate::model::{
    AuthorId, Certificate, Correction, CountryCode, Date, EventBody, HsCode, ImportConfirmation,
    Origin, Party,
};

/// Longest free-text field (names, addresses, notes), in bytes.
pub const MAX_TEXT: usize = 512;
/// Most source certificates a re-export may name.
pub const MAX_SOURCES: usize = 1024;
/// Most countries in a mixed origin.
pub const MAX_ORIGINS: usize = 300;
/// Largest weight of one certificate or confirmation, in hundredths of a
/// carat: 10^9 carats, far above any real shipment (a year's world
/// production is about 1.2 * 10^8 carats).
pub const MAX_CARAT_HUNDREDTHS: u64 = 100_000_000_000;
/// Largest value of one certificate or confirmation, in US cents: USD 10^12.
pub const MAX_VALUE_USD_CENTS: u64 = 100_000_000_000_000;

/// Validates an event body for its author.
pub fn validate_body(author: &AuthorId, body: &EventBody) -> Result<(), BodyError> {
    match body {
        EventBody::CertificateIssued(c) => validate_certificate(author, c),
        EventBody::ImportConfirmed(c) => validate_confirmation(author, c),
        EventBody::CertificateVoided {
            certificate, note, ..
        } => {
            own_certificate_number(author, certificate)?;
            text("note", note, true)
        }
        EventBody::CertificateCorrected {
            certificate,
            correction,
            note,
            ..
        } => {
            own_certificate_number(author, certificate)?;
            text("note", note, false)?;
            validate_correction(correction)
        }
        EventBody::AuthorityKeyRotated { .. } => Ok(()),
        EventBody::GovernanceProposed(p) => crate::governance::validate_proposal(p),
        EventBody::GovernanceApproved { note, .. } => {
            crate::governance::validate_approval_note(note)
        }
    }
}

fn validate_certificate(author: &AuthorId, c: &Certificate) -> Result<(), BodyError> {
    own_certificate_number(author, &c.number)?;
    validate_origin(&c.origin)?;
    date("issued_on", c.issued_on)?;
    date("expires_on", c.expires_on)?;
    if c.expires_on < c.issued_on {
        return Err(BodyError::ExpiryBeforeIssue {
            issued: c.issued_on.to_string(),
            expires: c.expires_on.to_string(),
        });
    }
    text("issuing_authority", &c.issuing_authority, false)?;
    party("exporter", &c.exporter)?;
    party("importer", &c.importer)?;
    carats(c.carat_hundredths)?;
    value(c.value_usd_cents)?;
    nonzero("parcels", c.parcels as u64)?;
    hs_codes(&c.hs_codes)?;
    if c.source_certificates.len() > MAX_SOURCES {
        return Err(BodyError::TooMany {
            field: "source_certificates",
            len: c.source_certificates.len(),
            max: MAX_SOURCES,
        });
    }
    for s in &c.source_certificates {
        certificate_number_syntax(s)?;
    }
    if !c.source_certificates.windows(2).all(|w| w[0] < w[1])
        || c.source_certificates.contains(&c.number)
    {
        return Err(BodyError::SourceList);
    }
    Ok(())
}

fn validate_confirmation(author: &AuthorId, c: &ImportConfirmation) -> Result<(), BodyError> {
    certificate_number_syntax(&c.certificate)?;
    let prefix = &c.certificate[..2];
    if prefix != c.exporter_participant.as_str() {
        return Err(BodyError::ConfirmationExporter {
            certificate: c.certificate.clone(),
            named: c.exporter_participant.to_string(),
            prefix: prefix.to_owned(),
        });
    }
    if c.exporter_participant == author.participant {
        return Err(BodyError::SelfImport(author.participant.to_string()));
    }
    nonzero("parcels", c.parcels as u64)?;
    carats(c.carat_hundredths)?;
    at_most("value_usd_cents", c.value_usd_cents, MAX_VALUE_USD_CENTS)?;
    date("received_on", c.received_on)
}

fn validate_correction(c: &Correction) -> Result<(), BodyError> {
    match c {
        Correction::Exporter(p) => party("exporter", p),
        Correction::Importer(p) => party("importer", p),
        Correction::CaratHundredths(v) => carats(*v),
        Correction::ValueUsdCents(v) => value(*v),
        Correction::Parcels(v) => nonzero("parcels", *v as u64),
        Correction::ExpiresOn(d) => date("expires_on", *d),
        Correction::HsCodes(codes) => hs_codes(codes),
        Correction::Origin(o) => validate_origin(o),
        Correction::Destination(_) => Ok(()),
    }
}

fn validate_origin(o: &Origin) -> Result<(), BodyError> {
    match o {
        Origin::Single { zone, .. } => match zone {
            Some(z) => text("origin.zone", z, false),
            None => Ok(()),
        },
        Origin::Mixed { countries } => {
            if countries.len() > MAX_ORIGINS {
                return Err(BodyError::TooMany {
                    field: "origin.countries",
                    len: countries.len(),
                    max: MAX_ORIGINS,
                });
            }
            if !countries.windows(2).all(|w| w[0] < w[1]) {
                return Err(BodyError::MixedOriginList);
            }
            Ok(())
        }
    }
}

/// A certificate number: 4-64 characters of `A-Z 0-9 - / .`, starting with
/// the issuer's two-letter code.
pub fn certificate_number_syntax(n: &str) -> Result<(), BodyError> {
    let ok = (4..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-/.".contains(&b))
        && n.as_bytes()[..2].iter().all(u8::is_ascii_uppercase);
    if ok {
        Ok(())
    } else {
        Err(BodyError::CertificateNumberSyntax(n.to_owned()))
    }
}

/// The participant code a certificate number claims (its first two letters).
pub fn certificate_issuer(n: &str) -> Option<CountryCode> {
    n.get(..2).and_then(|p| CountryCode::new(p).ok())
}

fn own_certificate_number(author: &AuthorId, n: &str) -> Result<(), BodyError> {
    certificate_number_syntax(n)?;
    if &n[..2] != author.participant.as_str() {
        return Err(BodyError::CertificateNumberPrefix {
            number: n.to_owned(),
            issuer: author.participant.to_string(),
        });
    }
    Ok(())
}

fn date(field: &'static str, d: Date) -> Result<(), BodyError> {
    let lo = Date::from_ymd(2000, 1, 1).map_err(|_| BodyError::Empty { field })?;
    let hi = Date::from_ymd(9999, 12, 31).map_err(|_| BodyError::Empty { field })?;
    if d < lo || d > hi {
        return Err(BodyError::DateOutOfRange {
            field,
            date: d.to_string(),
        });
    }
    Ok(())
}

fn carats(v: u64) -> Result<(), BodyError> {
    nonzero("carat_hundredths", v)?;
    at_most("carat_hundredths", v, MAX_CARAT_HUNDREDTHS)
}

fn value(v: u64) -> Result<(), BodyError> {
    nonzero("value_usd_cents", v)?;
    at_most("value_usd_cents", v, MAX_VALUE_USD_CENTS)
}

fn at_most(field: &'static str, value: u64, max: u64) -> Result<(), BodyError> {
    if value > max {
        Err(BodyError::AmountTooLarge { field, value, max })
    } else {
        Ok(())
    }
}

fn nonzero(field: &'static str, v: u64) -> Result<(), BodyError> {
    if v == 0 {
        Err(BodyError::Zero { field })
    } else {
        Ok(())
    }
}

fn text(field: &'static str, s: &str, may_be_empty: bool) -> Result<(), BodyError> {
    if s.is_empty() && !may_be_empty {
        return Err(BodyError::Empty { field });
    }
    if s.len() > MAX_TEXT {
        return Err(BodyError::TooLong {
            field,
            len: s.len(),
            max: MAX_TEXT,
        });
    }
    if s.chars().any(char::is_control) {
        return Err(BodyError::ControlCharacter { field });
    }
    Ok(())
}

fn party(field: &'static str, p: &Party) -> Result<(), BodyError> {
    let (name, address) = match field {
        "exporter" => ("exporter.name", "exporter.address"),
        _ => ("importer.name", "importer.address"),
    };
    text(name, &p.name, false)?;
    text(address, &p.address, false)
}

fn hs_codes(codes: &[HsCode]) -> Result<(), BodyError> {
    for c in codes {
        if c.0 / 100 != 7102 {
            return Err(BodyError::HsCodeOutside7102(c.to_string()));
        }
        if !HsCode::ALLOWED.contains(c) {
            return Err(BodyError::HsCodeNotKp(c.to_string()));
        }
    }
    if codes.is_empty() || !codes.windows(2).all(|w| w[0] < w[1]) {
        return Err(BodyError::HsCodesList);
    }
    Ok(())
}
