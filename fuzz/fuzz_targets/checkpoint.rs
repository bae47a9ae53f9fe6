//! Checkpoint texts and feed origins: never panics; an accepted checkpoint
//! re-encodes to its input.
#![no_main]
use ledger_core::tlog::checkpoint::{parse_feed_origin, Checkpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cp) = Checkpoint::from_text(text) {
        assert_eq!(cp.to_text(), text, "accepted checkpoint does not re-encode");
        let _ = parse_feed_origin(&cp.origin);
    }
    let _ = parse_feed_origin(text);
});
