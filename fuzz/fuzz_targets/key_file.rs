//! Key files: the text `KeyFile::load` reads, parsed and checked.
#![no_main]
use ledger_core::keys::KeyFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(kf) = KeyFile::from_json(text) {
        let _ = kf.key();
        let _ = kf.next_key();
    }
});
