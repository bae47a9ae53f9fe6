//! Split-view proofs (gossip, API): never panics; an accepted proof
//! re-encodes to its input and its verification does not panic.
#![no_main]
use ledger_core::tlog::witness::SplitViewProof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = SplitViewProof::decode(data) {
        assert_eq!(
            p.encode(),
            data,
            "accepted split-view proof does not re-encode"
        );
        let _ = p.verify(&[]);
    }
});
