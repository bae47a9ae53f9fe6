//! C2SP signed notes: never panics; an accepted note re-encodes to its input.
#![no_main]
use ledger_core::tlog::note::Note;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Note::parse(data) {
        assert_eq!(
            n.encode().as_bytes(),
            data,
            "accepted note does not re-encode"
        );
        let _ = n.verify(&[]);
    }
});
