//! The tlog-witness `add-checkpoint` request body, parsed by the same
//! function the node's witness endpoint calls; an accepted body re-encodes
//! to its input.
#![no_main]
use ledger_core::tlog::witness::AddCheckpointRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = AddCheckpointRequest::parse(data) {
        assert_eq!(
            r.encode().as_bytes(),
            data,
            "accepted request does not re-encode"
        );
    }
});
