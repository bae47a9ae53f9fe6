//! Offline proof bundles: built from a store with witnessed checkpoints,
//! verified against a trust root the verifier supplies; a changed byte
//! anywhere, too few cosignatures, or another network's trust root is caught.

use ledger_core::bundle::{build, verify, BundleError, TrustRoot};
use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::testkit::{matching_confirmation, sample_certificate, test_charter, test_key};
use ledger_core::tlog::checkpoint::{feed_origin, witness_name, Checkpoint, WitnessId};
use ledger_core::tlog::cosignature::Cosigner;
use ledger_core::tlog::note::Ed25519Signer;
use ledger_core::{AuthorId, Charter, CountryCode, EventBody};

fn a(s: &str) -> AuthorId {
    AuthorId::new(s, "mme").unwrap()
}

/// The latest checkpoint of `author`, signed by it and cosigned by `witnesses`.
fn checkpoint(l: &Ledger, c: &Charter, author: &AuthorId, witnesses: &[&str]) -> String {
    let size = l.tree_size(author).unwrap();
    let origin = feed_origin(&c.network, &c.network_id(), author).unwrap();
    let cp = Checkpoint::new(&origin, size, l.tree_root(author, size).unwrap()).unwrap();
    let signer = Ed25519Signer::from_authority_key(&origin, &test_key(author)).unwrap();
    let mut note = cp.sign(&signer).unwrap();
    for w in witnesses {
        let name = witness_name(&c.network, &c.network_id(), WitnessId::Authority(&a(w))).unwrap();
        let cosigner = Cosigner::from_authority_key(&name, &test_key(&a(w))).unwrap();
        note.add_signature(cosigner.cosign(note.text(), 1_790_000_000).unwrap())
            .unwrap();
    }
    note.encode()
}

fn setup() -> (tempfile::TempDir, Charter, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let c = test_charter(&["BW", "EU", "IN", "ZA"]);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let code = |s| CountryCode::new(s).unwrap();
    // BW exports to EU; EU re-exports to IN citing it; IN confirms.
    let mut bw_cert = sample_certificate(code("BW"), code("EU"), 1);
    bw_cert.number = "BW-2026-000001".into();
    for n in 2..6 {
        l.append_own(
            &test_key(&a("BW")),
            &a("BW"),
            vec![EventBody::CertificateIssued(sample_certificate(
                code("BW"),
                code("EU"),
                n,
            ))],
            5,
        )
        .unwrap();
    }
    l.append_own(
        &test_key(&a("BW")),
        &a("BW"),
        vec![EventBody::CertificateIssued(bw_cert.clone())],
        10,
    )
    .unwrap();
    l.append_own(
        &test_key(&a("EU")),
        &a("EU"),
        vec![EventBody::ImportConfirmed(matching_confirmation(&bw_cert))],
        11,
    )
    .unwrap();
    let mut eu_cert = sample_certificate(code("EU"), code("IN"), 2);
    eu_cert.number = "EU-2026-000002".into();
    eu_cert.carat_hundredths = bw_cert.carat_hundredths / 2;
    eu_cert.source_certificates = vec![bw_cert.number.clone()];
    l.append_own(
        &test_key(&a("EU")),
        &a("EU"),
        vec![EventBody::CertificateIssued(eu_cert.clone())],
        12,
    )
    .unwrap();
    l.append_own(
        &test_key(&a("IN")),
        &a("IN"),
        vec![EventBody::ImportConfirmed(matching_confirmation(&eu_cert))],
        13,
    )
    .unwrap();
    (dir, c, l)
}

#[test]
fn bundle_verifies_offline_and_every_changed_byte_is_caught() {
    let (_dir, c, l) = setup();
    let witnesses = |author: &AuthorId| -> Vec<&'static str> {
        ["BW", "EU", "IN", "ZA"]
            .into_iter()
            .filter(|w| *w != author.participant.as_str())
            .collect()
    };
    let b = build(&l, "EU-2026-000002", &|author| {
        Some(checkpoint(&l, &c, author, &witnesses(author)))
    })
    .unwrap();
    // Issue and confirmation of EU-…-2, and of its source BW-…-1.
    assert_eq!(b.events.len(), 4);
    let bytes = serde_json::to_vec_pretty(&b).unwrap();
    let trust = TrustRoot::NetworkId(c.network_id());
    let report = verify(&bytes, &trust, 3).unwrap();
    assert_eq!(report.events.len(), 4);
    assert!(report.checkpoints.iter().all(|cp| cp.witnesses.len() == 3));
    // Also with the charter as trust root.
    verify(&bytes, &TrustRoot::Charter(Box::new(c.clone())), 2).unwrap();

    // Too few cosignatures for the verifier's threshold.
    match verify(&bytes, &trust, 4) {
        Err(BundleError::TooFewWitnesses {
            have: 3, need: 4, ..
        }) => {}
        r => panic!("{r:?}"),
    }
    // Another network's trust root.
    let other = test_charter(&["BW", "EU"]);
    assert!(matches!(
        verify(&bytes, &TrustRoot::NetworkId(other.network_id()), 1),
        Err(BundleError::UntrustedNetwork { .. })
    ));
    // Every byte changed, one at a time (a different bit per byte), is caught
    // or leaves the meaning unchanged (JSON whitespace).
    let mut caught = 0;
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 1 << (i % 7);
        match verify(&bad, &trust, 3) {
            Err(_) => caught += 1,
            Ok(r) => {
                let reparsed: serde_json::Value = serde_json::from_slice(&bad).unwrap();
                let original: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(
                    reparsed,
                    original,
                    "byte {i} ({:?} -> {:?}) changed the bundle's meaning and still verified: {r:?}",
                    String::from_utf8_lossy(&bytes[i.saturating_sub(20)..(i + 20).min(bytes.len())]),
                    String::from_utf8_lossy(&bad[i.saturating_sub(20)..(i + 20).min(bytes.len())]),
                );
            }
        }
    }
    assert!(caught > bytes.len() / 2);
}

/// What the bundle certifies is in the report: the certificate as it
/// stands and its lineage; a cosignature that does not verify, or names a
/// key that is not the witness's, is refused and counted with why, never
/// dropped without a word, and the others still carry the verdict.
#[test]
fn the_report_says_what_is_certified_and_counts_refused_cosignatures() {
    use ledger_core::bundle::{REFUSED_BAD_SIGNATURE, REFUSED_UNKNOWN};
    let (_dir, c, l) = setup();
    let witnesses = |author: &AuthorId| -> Vec<&'static str> {
        ["BW", "EU", "IN", "ZA"]
            .into_iter()
            .filter(|w| *w != author.participant.as_str())
            .collect()
    };
    let mut b = build(&l, "EU-2026-000002", &|author| {
        Some(checkpoint(&l, &c, author, &witnesses(author)))
    })
    .unwrap();
    let trust = TrustRoot::NetworkId(c.network_id());
    let r = verify(&serde_json::to_vec(&b).unwrap(), &trust, 3).unwrap();
    assert_eq!(r.certified.certificate.effective.number, "EU-2026-000002");
    assert_eq!(r.certified.lineage.children.len(), 1);
    assert_eq!(
        r.certified.lineage.children[0].certificate,
        "BW-2026-000001"
    );
    assert!(r.certified.lineage.children[0].found);
    assert_eq!(r.refused_cosignatures, 0);
    // Corrupt one cosignature's signature, and rename another's key.
    let note = b.checkpoints[0].note.clone();
    let mut lines: Vec<String> = note.split('\n').map(str::to_owned).collect();
    let w: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("/witness/"))
        .collect();
    let (head, sig) = lines[w[0]].rsplit_once(' ').unwrap();
    let mut sig = sig.as_bytes().to_vec();
    let i = sig.len() - 20;
    sig[i] = if sig[i] == b'A' { b'B' } else { b'A' };
    lines[w[0]] = format!("{head} {}", String::from_utf8(sig).unwrap());
    lines[w[1]] = lines[w[1]].replace("/witness/", "/stranger/");
    b.checkpoints[0].note = lines.join("\n");
    let bytes = serde_json::to_vec(&b).unwrap();
    let r = verify(&bytes, &trust, 1).unwrap();
    assert_eq!(r.refused_cosignatures, 2);
    let cp = &r.checkpoints[0];
    assert_eq!(cp.witnesses.len(), 1, "{cp:?}");
    let reasons: Vec<&str> = cp.refused.iter().map(|x| x.reason).collect();
    assert!(reasons.contains(&REFUSED_BAD_SIGNATURE), "{cp:?}");
    assert!(reasons.contains(&REFUSED_UNKNOWN), "{cp:?}");
    assert!(matches!(
        verify(&bytes, &trust, 2),
        Err(BundleError::TooFewWitnesses {
            have: 1,
            need: 2,
            ..
        })
    ));
}

#[test]
fn building_refuses_what_a_checkpoint_does_not_cover() {
    let (_dir, c, l) = setup();
    // A checkpoint older than the last event of a feed.
    let stale = |author: &AuthorId| -> Option<String> {
        let size = l.tree_size(author).unwrap();
        let origin = feed_origin(&c.network, &c.network_id(), author).unwrap();
        let cp =
            Checkpoint::new(&origin, size - 1, l.tree_root(author, size - 1).unwrap()).unwrap();
        let signer = Ed25519Signer::from_authority_key(&origin, &test_key(author)).unwrap();
        Some(cp.sign(&signer).unwrap().encode())
    };
    assert!(matches!(
        build(&l, "EU-2026-000002", &stale),
        Err(BundleError::Build(_))
    ));
    assert!(matches!(
        build(&l, "XX-NOPE", &|_| None),
        Err(BundleError::NoIssue(_))
    ));
}

/// The published bundle test vector (`docs/vectors/bundle.json`): rebuilt
/// from the deterministic test network and compared byte for byte, so the
/// documented format cannot drift. `KPL_UPDATE_VECTORS=1` rewrites it.
#[test]
fn bundle_test_vector() {
    let (_dir, c, l) = setup();
    let witnesses = |author: &AuthorId| -> Vec<&'static str> {
        ["BW", "EU", "IN", "ZA"]
            .into_iter()
            .filter(|w| *w != author.participant.as_str())
            .collect()
    };
    let b = build(&l, "EU-2026-000002", &|author| {
        Some(checkpoint(&l, &c, author, &witnesses(author)))
    })
    .unwrap();
    let text = serde_json::to_string_pretty(&b).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/bundle.json");
    if std::env::var("KPL_UPDATE_VECTORS").as_deref() == Ok("1") {
        std::fs::write(&path, &text).unwrap();
    }
    let published = std::fs::read_to_string(&path)
        .expect("docs/vectors/bundle.json exists (KPL_UPDATE_VECTORS=1 makes it)");
    assert_eq!(
        published, text,
        "docs/vectors/bundle.json drifted from the code"
    );
    let report = verify(
        published.as_bytes(),
        &TrustRoot::NetworkId(c.network_id()),
        3,
    )
    .unwrap();
    assert_eq!(report.events.len(), 4);
    // The format's text names the network id the vector verifies against.
    let format = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FORMAT.md"),
    )
    .unwrap();
    let id = c.network_id().to_hex();
    let section = format
        .split("The test vector `docs/vectors/bundle.json`")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("FORMAT.md describes docs/vectors/bundle.json");
    assert!(
        section.contains(&id),
        "FORMAT.md's paragraph on docs/vectors/bundle.json must name network id {id}"
    );
}

/// A certificate issued by a participant admitted after genesis: the bundle
/// carries the governance events that admitted it, and the verifier takes
/// the new author's key from those signed, included decisions alone; a
/// bundle whose admission lacks approvals does not verify.
#[test]
fn bundle_of_an_admitted_participant_carries_its_admission() {
    use ledger_core::governance::{Decision, Proposal};
    use ledger_core::testkit::{all_roles, governed_charter, test_participant};
    let dir = tempfile::tempdir().unwrap();
    let c = governed_charter(&["BW", "EU", "IN", "ZA"]);
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let code = |s| CountryCode::new(s).unwrap();
    let day = |s: &str| s.parse::<ledger_core::Date>().unwrap();
    let ms = |s: &str| day(s).days() as u64 * 86_400_000 + 43_200_000;
    let admit = l
        .append_own(
            &test_key(&a("BW")),
            &a("BW"),
            vec![EventBody::GovernanceProposed(Proposal {
                decision: Decision::AdmitParticipant(test_participant("NA", all_roles())),
                effective_on: day("2026-03-01"),
                reference: "admission of Namibia".into(),
            })],
            ms("2026-02-01"),
        )
        .unwrap()[0]
        .0;
    for w in ["EU", "IN"] {
        l.append_own(
            &test_key(&a(w)),
            &a(w),
            vec![EventBody::GovernanceApproved {
                proposal: admit,
                note: String::new(),
            }],
            ms("2026-02-02"),
        )
        .unwrap();
    }
    let mut cert = sample_certificate(code("NA"), code("EU"), 1);
    cert.number = "NA-2026-000001".into();
    l.append_own(
        &test_key(&a("NA")),
        &a("NA"),
        vec![EventBody::CertificateIssued(cert)],
        ms("2026-03-05"),
    )
    .unwrap();
    let b = build(&l, "NA-2026-000001", &|author| {
        let w: Vec<&str> = ["BW", "EU", "IN", "ZA"]
            .into_iter()
            .filter(|w| *w != author.participant.as_str())
            .collect();
        Some(checkpoint(&l, &c, author, &w))
    })
    .unwrap();
    // The issue, the proposal and its two approvals.
    assert_eq!(b.events.len(), 4);
    let bytes = serde_json::to_vec(&b).unwrap();
    let trust = TrustRoot::NetworkId(c.network_id());
    let report = verify(&bytes, &trust, 2).unwrap();
    assert!(report
        .events
        .iter()
        .any(|e| e.author == "NA/mme" && e.kind == "certificate_issued"));
    // Without one approval the admission is pending: NA's key is unknown.
    let mut cut = b.clone();
    cut.events.retain(|e| {
        let ev = ledger_core::SignedEvent::decode(&hex::decode(&e.event).unwrap()).unwrap();
        !(ev.author() == &a("IN") && ev.content.body.is_governance())
    });
    match verify(&serde_json::to_vec(&cut).unwrap(), &trust, 2) {
        Err(BundleError::Checkpoint { author, .. })
        | Err(BundleError::Event { reason: author, .. })
            if author.contains("NA") => {}
        r => panic!("{r:?}"),
    }
}

/// A checkpoint's size is untrusted input: the largest one is refused with
/// an error, never an arithmetic overflow.
#[test]
fn a_checkpoint_of_the_largest_size_is_refused_not_overflowed() {
    let (_dir, c, l) = setup();
    let witnesses = |author: &AuthorId| -> Vec<&'static str> {
        ["BW", "EU", "IN", "ZA"]
            .into_iter()
            .filter(|w| *w != author.participant.as_str())
            .collect()
    };
    let mut b = build(&l, "EU-2026-000002", &|author| {
        Some(checkpoint(&l, &c, author, &witnesses(author)))
    })
    .unwrap();
    let cp = &mut b.checkpoints[0];
    let mut lines: Vec<String> = cp.note.split('\n').map(str::to_owned).collect();
    lines[1] = u64::MAX.to_string();
    cp.note = lines.join("\n");
    let bytes = serde_json::to_vec(&b).unwrap();
    let trust = TrustRoot::NetworkId(c.network_id());
    assert!(verify(&bytes, &trust, 1).is_err());
}
