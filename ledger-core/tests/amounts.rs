//! Amounts are bounded per certificate, and sums over them are exact.

use ledger_core::model::Correction;
use ledger_core::testkit::{matching_confirmation, sample_certificate};
use ledger_core::validate::{validate_body, MAX_CARAT_HUNDREDTHS, MAX_VALUE_USD_CENTS};
use ledger_core::{AuthorId, BodyError, CountryCode, Digest, EventBody};

fn bw() -> AuthorId {
    AuthorId::new("BW", "mme").unwrap()
}

fn za() -> AuthorId {
    AuthorId::new("ZA", "mme").unwrap()
}

fn code(c: &str) -> CountryCode {
    CountryCode::new(c).unwrap()
}

fn field_of(r: Result<(), BodyError>) -> &'static str {
    match r {
        Err(BodyError::AmountTooLarge { field, .. }) => field,
        other => panic!("expected an amount over the limit, got {other:?}"),
    }
}

#[test]
fn certificate_amounts_over_the_limit_are_refused() {
    let mut c = sample_certificate(code("BW"), code("ZA"), 1);
    c.carat_hundredths = MAX_CARAT_HUNDREDTHS;
    c.value_usd_cents = MAX_VALUE_USD_CENTS;
    validate_body(&bw(), &EventBody::CertificateIssued(c.clone())).unwrap();

    let mut over = c.clone();
    over.carat_hundredths = u64::MAX;
    let r = validate_body(&bw(), &EventBody::CertificateIssued(over.clone()));
    assert_eq!(field_of(r), "carat_hundredths");
    over.carat_hundredths = MAX_CARAT_HUNDREDTHS + 1;
    let r = validate_body(&bw(), &EventBody::CertificateIssued(over));
    assert_eq!(field_of(r), "carat_hundredths");

    let mut over = c.clone();
    over.value_usd_cents = u64::MAX;
    let r = validate_body(&bw(), &EventBody::CertificateIssued(over));
    assert_eq!(field_of(r), "value_usd_cents");
}

#[test]
fn confirmation_and_correction_amounts_over_the_limit_are_refused() {
    let c = sample_certificate(code("BW"), code("ZA"), 1);
    let mut conf = matching_confirmation(&c);
    conf.carat_hundredths = u64::MAX;
    let r = validate_body(&za(), &EventBody::ImportConfirmed(conf));
    assert_eq!(field_of(r), "carat_hundredths");
    let mut conf = matching_confirmation(&c);
    conf.value_usd_cents = u64::MAX;
    let r = validate_body(&za(), &EventBody::ImportConfirmed(conf));
    assert_eq!(field_of(r), "value_usd_cents");

    for (correction, field) in [
        (Correction::CaratHundredths(u64::MAX), "carat_hundredths"),
        (Correction::ValueUsdCents(u64::MAX), "value_usd_cents"),
    ] {
        let body = EventBody::CertificateCorrected {
            certificate: c.number.clone(),
            original: Digest::ZERO,
            correction,
            note: "typo".into(),
        };
        assert_eq!(field_of(validate_body(&bw(), &body)), field);
    }
}
