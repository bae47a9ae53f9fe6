//! A witness's answers to `add-checkpoint`: a conflict's size, cosignature lines.
#![no_main]
use ledger_core::tlog::witness::{parse_cosignature_lines, parse_size_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_size_response(data);
    let _ = parse_cosignature_lines(data);
});
