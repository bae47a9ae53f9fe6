//! The node's HTTP JSON request bodies (the first byte picks the endpoint),
//! decoded into the types its handlers take and checked by the same rules.
#![no_main]
use kpl_node::api::{check_peer_ids, ApprovalBody, CorrectionRequest, VoidRequest};
use ledger_core::governance::Proposal;
use ledger_core::{AuthorId, Certificate, EventBody, ImportConfirmation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let author = AuthorId::new("BW", "mme").unwrap();
    let check = |b: EventBody| {
        let _ = ledger_core::validate::validate_body(&author, &b);
    };
    match which % 7 {
        0 => {
            if let Ok(c) = serde_json::from_slice::<Certificate>(body) {
                check(EventBody::CertificateIssued(c));
            }
        }
        1 => {
            if let Ok(items) = serde_json::from_slice::<Vec<serde_json::Value>>(body) {
                for v in items {
                    if let Ok(c) = serde_json::from_value::<Certificate>(v) {
                        check(EventBody::CertificateIssued(c));
                    }
                }
            }
        }
        2 => {
            if let Ok(c) = serde_json::from_slice::<ImportConfirmation>(body) {
                check(EventBody::ImportConfirmed(c));
            }
        }
        3 => {
            let _ = serde_json::from_slice::<VoidRequest>(body);
        }
        4 => {
            let _ = serde_json::from_slice::<CorrectionRequest>(body);
        }
        5 => {
            if let Ok(p) = serde_json::from_slice::<Proposal>(body) {
                let _ = check_peer_ids(&p.decision);
                check(EventBody::GovernanceProposed(p));
            }
        }
        _ => {
            if let Ok(a) = serde_json::from_slice::<ApprovalBody>(body) {
                let _ = ledger_core::Digest::from_hex(&a.proposal);
            }
        }
    }
});
