//! Fork proofs (gossip and store): never panics; an accepted proof
//! re-encodes to its input and its verification does not panic.
#![no_main]
use ledger_core::{testkit, ForkProof};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static CHARTER: OnceLock<ledger_core::Charter> = OnceLock::new();
    if let Ok(p) = ForkProof::decode(data) {
        assert_eq!(p.encode(), data, "accepted fork proof does not re-encode");
        let c = CHARTER.get_or_init(|| testkit::test_charter(&["BW", "EU", "ZA"]));
        let _ = p.verify(c);
    }
});
