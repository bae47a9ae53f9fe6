//! Cosignatures, signature lines and verifier keys: never panics; accepted
//! values re-encode to their input.
#![no_main]
use ledger_core::tlog::cosignature::{Cosignature, CosignatureVerifier};
use ledger_core::tlog::note::{NoteSignature, VerifierKey};
use ledger_core::tlog::witness::parse_cosignature_lines;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Cosignature::from_bytes(data) {
        assert_eq!(c.to_bytes()[..], data[..], "cosignature does not re-encode");
    }
    let _ = parse_cosignature_lines(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = NoteSignature::parse_line(text) {
        // `to_line` ends the line; the parser takes it with or without.
        let line = text.strip_suffix('\n').unwrap_or(text);
        assert_eq!(
            s.to_line(),
            format!("{line}\n"),
            "signature line does not re-encode"
        );
    }
    let _ = VerifierKey::parse(text);
    let _ = CosignatureVerifier::parse(text);
});
