//! `kpl issue --file`: CSV and JSON certificate imports, and every
//! certificate they yield through the API's decoder and the body rules.
#![no_main]
use ledger_core::{AuthorId, Certificate, EventBody};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(certs) = kpl::import::certificates_from_text(text) {
        let author = AuthorId::new("BW", "mme").unwrap();
        for v in certs.into_iter().flatten() {
            if let Ok(c) = serde_json::from_value::<Certificate>(v) {
                let _ =
                    ledger_core::validate::validate_body(&author, &EventBody::CertificateIssued(c));
            }
        }
    }
});
