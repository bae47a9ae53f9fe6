//! The canonical event decoding: never panics; an accepted event re-encodes
//! to exactly its input, and its id and signature check do not panic.
#![no_main]
use ledger_core::SignedEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = SignedEvent::decode(data) {
        assert_eq!(ev.encode(), data, "accepted event does not re-encode");
        let _ = ev.id();
        let _ = ledger_core::validate::validate_body(ev.author(), &ev.content.body);
    }
});
