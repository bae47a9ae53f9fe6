//! Proof sizes and verification times for a certificate in a feed of
//! 1,000,000 events, beside the raw Ed25519 verification rate
//! measured in the same run.
//!
//! `cargo bench -p ledger-core --bench proofs` (set `KPL_PROOF_EVENTS` for
//! another feed size). Prints a table; nothing is asserted.

use std::time::Instant;

use ledger_core::bundle::{build, verify, TrustRoot};
use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::testkit::{matching_confirmation, sample_certificate, test_charter, test_key};
use ledger_core::tlog::checkpoint::{feed_origin, witness_name, Checkpoint, WitnessId};
use ledger_core::tlog::cosignature::Cosigner;
use ledger_core::tlog::merkle::{event_leaf_hash, verify_inclusion};
use ledger_core::tlog::note::Ed25519Signer;
use ledger_core::{AuthorId, CountryCode, EventBody};

fn a(s: &str) -> AuthorId {
    AuthorId::new(s, "mme").unwrap()
}

fn main() {
    let n: u64 = std::env::var("KPL_PROOF_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let c = test_charter(&["BW", "EU", "IN", "ZA"]);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let (bw, eu) = (a("BW"), a("EU"));
    let (bw_code, eu_code) = (
        CountryCode::new("BW").unwrap(),
        CountryCode::new("EU").unwrap(),
    );

    // A feed of n events; the certificate we prove sits in the middle.
    let started = Instant::now();
    let target = n / 2;
    let mut proved_cert = None;
    let mut seq = 0u64;
    while seq < n {
        let batch = 4096.min(n - seq);
        let bodies: Vec<EventBody> = (0..batch)
            .map(|k| {
                let mut cert = sample_certificate(bw_code, eu_code, seq + k);
                cert.number = format!("BW-2026-{:09}", seq + k);
                if seq + k == target {
                    proved_cert = Some(cert.clone());
                }
                EventBody::CertificateIssued(cert)
            })
            .collect();
        l.append_own(&test_key(&bw), &bw, bodies, 1_000).unwrap();
        seq += batch;
    }
    let cert = proved_cert.unwrap();
    l.append_own(
        &test_key(&eu),
        &eu,
        vec![EventBody::ImportConfirmed(matching_confirmation(&cert))],
        2_000,
    )
    .unwrap();
    let fill = started.elapsed();

    // Checkpoints of both feeds, cosigned by the three other participants.
    let note_of = |author: &AuthorId| -> String {
        let size = l.tree_size(author).unwrap();
        let origin = feed_origin(&c.network, &c.network_id(), author).unwrap();
        let cp = Checkpoint::new(&origin, size, l.tree_root(author, size).unwrap()).unwrap();
        let mut note = cp
            .sign(&Ed25519Signer::from_authority_key(&origin, &test_key(author)).unwrap())
            .unwrap();
        for w in ["BW", "EU", "IN", "ZA"] {
            if w == author.participant.as_str() {
                continue;
            }
            let name =
                witness_name(&c.network, &c.network_id(), WitnessId::Authority(&a(w))).unwrap();
            let cosigner = Cosigner::from_authority_key(&name, &test_key(&a(w))).unwrap();
            note.add_signature(cosigner.cosign(note.text(), 1_790_000_000).unwrap())
                .unwrap();
        }
        note.encode()
    };

    // One inclusion proof: size and verification time.
    let size = l.tree_size(&bw).unwrap();
    let root = l.tree_root(&bw, size).unwrap();
    let t = Instant::now();
    let proof = l.inclusion_proof(&bw, target + 1, size).unwrap();
    let prove_us = t.elapsed().as_secs_f64() * 1e6;
    let leaf = l.event_at(&bw, target + 1).unwrap().unwrap();
    let reps = 10_000;
    let t = Instant::now();
    for _ in 0..reps {
        verify_inclusion(&event_leaf_hash(&leaf.id), target, size, &proof, &root).unwrap();
    }
    let incl_us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;

    // The whole bundle.
    let t = Instant::now();
    let bundle = build(&l, &cert.number, &|author| Some(note_of(author))).unwrap();
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    let bytes = serde_json::to_vec(&bundle).unwrap();
    let reps = 50;
    let t = Instant::now();
    for _ in 0..reps {
        verify(&bytes, &TrustRoot::NetworkId(c.network_id()), 3).unwrap();
    }
    let bundle_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;

    // Baseline: raw strict Ed25519 verification of one event, same run.
    let key = test_key(&bw).verifying_key();
    let reps = 2_000;
    let t = Instant::now();
    for _ in 0..reps {
        assert!(leaf.event.verify_signature(&key));
    }
    let ed_us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;

    println!(
        "feed of {n} events filled in {:.1} s ({:.0} events/s, durable)",
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64()
    );
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| inclusion proof, hashes | {} ({} bytes) |",
        proof.len(),
        proof.len() * 32
    );
    println!("| inclusion proof, generation from stored nodes | {prove_us:.0} µs |");
    println!("| inclusion proof, verification | {incl_us:.2} µs |");
    println!("| raw Ed25519 strict verification (baseline) | {ed_us:.1} µs |");
    println!(
        "| inclusion verification / Ed25519 verification | {:.3} |",
        incl_us / ed_us
    );
    println!(
        "| bundle ({} events, {} checkpoints × 3 cosignatures), JSON size | {} bytes |",
        bundle.events.len(),
        bundle.checkpoints.len(),
        bytes.len()
    );
    println!("| bundle build | {build_ms:.1} ms |");
    println!("| bundle verification, offline | {bundle_ms:.2} ms |");
    println!(
        "| bundle verification / Ed25519 verification | {:.0} |",
        bundle_ms * 1e3 / ed_us
    );
}
