//! Offline proof bundles, verified against a charter and a network id:
//! never panics, whatever the bytes.
#![no_main]
use ledger_core::bundle::{verify, TrustRoot};
use ledger_core::testkit;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static CHARTER: OnceLock<ledger_core::Charter> = OnceLock::new();
    let c = CHARTER.get_or_init(|| testkit::test_charter(&["BW", "EU", "ZA"]));
    let _ = verify(data, &TrustRoot::Charter(Box::new(c.clone())), 1);
    let _ = verify(data, &TrustRoot::NetworkId(c.network_id()), 0);
});
