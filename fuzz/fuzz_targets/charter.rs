//! The charter, binary (canonical, re-encodes to its input) and JSON.
#![no_main]
use ledger_core::Charter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Charter::decode(data) {
        assert_eq!(c.encode(), data, "accepted charter does not re-encode");
        let _ = c.network_id();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = Charter::from_json(text) {
            let again = Charter::decode(&c.encode()).expect("a JSON charter encodes canonically");
            assert_eq!(again, c);
        }
    }
});
