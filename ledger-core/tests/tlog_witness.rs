//! The witness state machine (c2sp.org/tlog-witness `add-checkpoint`) and
//! split-view proofs, over the Merkle tree of a real (test) feed:
//!
//! - a witness follows a feed from size 0 through growing checkpoints and
//!   cosigns each; its cosignatures verify as note signatures;
//! - each refusal has its status code: 400, 403, 404, 409 (stale size with
//!   `text/x.tlog.size`, or same size and another root), 422;
//! - a forked feed is caught: same size → 409 with a split-view proof; a
//!   larger inconsistent tree whose proof was computed from its own nodes →
//!   422 with a split-view proof; both verify with the log's key alone and
//!   survive encoding;
//! - no parser panics on arbitrary bytes.

use proptest::prelude::*;

use ledger_core::testkit::{sample_certificate, test_charter, test_key, FeedWriter};
use ledger_core::tlog::checkpoint::{feed_origin, parse_feed_origin, Checkpoint};
use ledger_core::tlog::cosignature::{CosignatureVerifier, Cosigner, MAX_TIMESTAMP};
use ledger_core::tlog::merkle::{
    self, consistency_proof, full_consistency_path, root_at, MemoryTree,
};
use ledger_core::tlog::note::{open, Ed25519Signer, Note, NoteVerifier};
use ledger_core::tlog::witness::{
    add_checkpoint, parse_cosignature_lines, parse_size_response, AddCheckpointOutcome,
    AddCheckpointRequest, SplitViewError, SplitViewProof, TrustedLog, WitnessedCheckpoint,
    MAX_SPLIT_VIEW_BYTES, SIZE_CONTENT_TYPE,
};
use ledger_core::{AuthorId, CountryCode, Digest, EventBody};

const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

struct Fixture {
    origin: String,
    log: Ed25519Signer,
    trusted: TrustedLog,
    witness: Cosigner,
    honest: MemoryTree,
    forked: MemoryTree,
}

/// A feed of 40 events by BW/mme, and a fork of it that differs from the
/// event with seq 4 (leaf index 3) on.
fn fixture() -> Fixture {
    let charter = test_charter(&["BW", "EU"]);
    let network = charter.network_id();
    let author = AuthorId::new("BW", "mme").expect("author");
    let origin = feed_origin(&charter.network, &network, &author).expect("origin");
    assert_eq!(
        parse_feed_origin(&origin).map(|o| o.author),
        Some(author.clone())
    );

    let bw = CountryCode::new("BW").expect("BW");
    let eu = CountryCode::new("EU").expect("EU");
    let mut honest_writer = FeedWriter::new(network, author.clone());
    let mut forked_writer = FeedWriter::new(network, author.clone());
    let (mut honest, mut forked) = (MemoryTree::new(), MemoryTree::new());
    for n in 0..40u64 {
        let ev = honest_writer.next(
            EventBody::CertificateIssued(sample_certificate(bw, eu, n)),
            NOW * 1000 + n,
        );
        honest
            .push(merkle::event_leaf_hash(&ev.id()))
            .expect("push");
        let m = if n >= 3 { n + 1000 } else { n };
        let ev = forked_writer.next(
            EventBody::CertificateIssued(sample_certificate(bw, eu, m)),
            NOW * 1000 + n,
        );
        forked
            .push(merkle::event_leaf_hash(&ev.id()))
            .expect("push");
    }
    let log = Ed25519Signer::from_authority_key(&origin, &test_key(&author)).expect("log");
    let trusted = TrustedLog {
        origin: origin.clone(),
        keys: vec![log.verifier()],
    };
    let witness = Cosigner::from_seed("witness.example/w1", [0x77; 32]).expect("witness");
    Fixture {
        origin,
        log,
        trusted,
        witness,
        honest,
        forked,
    }
}

impl Fixture {
    fn note(&self, tree: &MemoryTree, size: u64) -> Note {
        let root = root_at(tree, size).expect("root");
        Checkpoint::new(&self.origin, size, root)
            .expect("checkpoint")
            .sign(&self.log)
            .expect("sign")
    }

    fn request(&self, tree: &MemoryTree, old: u64, new: u64) -> AddCheckpointRequest {
        let proof = consistency_proof(tree, old, new).expect("proof");
        // Through the wire format, as a witness would see it.
        let body = AddCheckpointRequest::new(old, proof, self.note(tree, new))
            .expect("request")
            .encode();
        AddCheckpointRequest::parse(body.as_bytes()).expect("parse")
    }

    fn submit(
        &self,
        req: &AddCheckpointRequest,
        latest: Option<&WitnessedCheckpoint>,
    ) -> AddCheckpointOutcome {
        add_checkpoint(req, Some(&self.trusted), latest, &self.witness, NOW)
    }

    fn log_keys(&self) -> Vec<&dyn NoteVerifier> {
        self.trusted.verifiers()
    }
}

fn cosigned(outcome: AddCheckpointOutcome) -> (String, WitnessedCheckpoint) {
    assert_eq!(outcome.status(), 200, "{outcome:?}: {}", outcome.body());
    let body = outcome.body();
    match outcome {
        AddCheckpointOutcome::Cosigned { new_state, .. } => (body, new_state),
        other => panic!("not cosigned: {other:?}"),
    }
}

#[test]
fn a_witness_follows_a_growing_feed() {
    let f = fixture();
    let wv = f.witness.verifier();
    let mut state: Option<WitnessedCheckpoint> = None;
    let mut size = 0;
    for next in [0u64, 1, 5, 8, 8, 13, 16, 40] {
        let req = f.request(&f.honest, size, next);
        let (body, new_state) = cosigned(f.submit(&req, state.as_ref()));

        // The answer is cosignature lines that verify on the checkpoint.
        let lines = parse_cosignature_lines(body.as_bytes()).expect("lines");
        assert_eq!(lines.len(), 1);
        assert_eq!(wv.verify_line(req.note.text(), &lines[0]), Ok(NOW));
        let mut note = req.note.clone();
        note.add_signature(lines[0].clone()).expect("add");
        let log_v = f.log.verifier();
        let (_, v) = open(note.encode().as_bytes(), &[&log_v, &wv]).expect("open");
        assert_eq!(v.verified.len(), 2);

        // The persisted state reloads to the same.
        let restored = WitnessedCheckpoint::restore(new_state.encode().as_bytes(), &f.trusted)
            .expect("restore");
        assert_eq!(restored, new_state);
        assert_eq!(new_state.checkpoint().size, next);
        state = Some(restored);
        size = next;
    }
    // The witness key string is a 0x04 verifier key.
    let vkey = f.witness.verifier_key().to_string();
    assert_eq!(CosignatureVerifier::parse(&vkey), Ok(wv));
}

#[test]
fn refusals_have_their_status_codes() {
    let f = fixture();
    let req = f.request(&f.honest, 0, 12);
    let (_, state) = cosigned(f.submit(&req, None));
    let state = Some(&state);

    // 409: stale old size, with the current size as text/x.tlog.size.
    let stale = f.request(&f.honest, 8, 20);
    let out = f.submit(&stale, state);
    assert_eq!(out, AddCheckpointOutcome::SizeMismatch { latest_size: 12 });
    assert_eq!((out.status(), out.content_type()), (409, SIZE_CONTENT_TYPE));
    assert_eq!(parse_size_response(out.body().as_bytes()), Some(12));
    // A fresh client starts with old 0 to learn the size.
    let out = f.submit(&f.request(&f.honest, 0, 20), state);
    assert_eq!(parse_size_response(out.body().as_bytes()), Some(12));
    // With no state, the witness's size is 0.
    assert_eq!(
        f.submit(&f.request(&f.honest, 3, 20), None),
        AddCheckpointOutcome::SizeMismatch { latest_size: 0 }
    );

    // 400: old larger than the checkpoint.
    let mut backwards = f.request(&f.honest, 12, 12);
    backwards.old_size = 13;
    assert_eq!(f.submit(&backwards, state).status(), 400);
    // 400: malformed body.
    let out: AddCheckpointOutcome = AddCheckpointRequest::parse(b"old 1\n\nnot a note")
        .expect_err("malformed")
        .into();
    assert_eq!(out.status(), 400);

    // 404: unknown origin.
    let req = f.request(&f.honest, 12, 20);
    assert_eq!(
        add_checkpoint(&req, None, state, &f.witness, NOW),
        AddCheckpointOutcome::UnknownOrigin
    );
    let other = TrustedLog {
        origin: "example.com/other".into(),
        keys: f.trusted.keys.clone(),
    };
    assert_eq!(
        add_checkpoint(&req, Some(&other), state, &f.witness, NOW).status(),
        404
    );

    // 403: signed by another key of the same name; or a bad signature.
    let impostor = Ed25519Signer::from_seed(&f.origin, [0x13; 32]).expect("impostor");
    let note = Checkpoint::new(&f.origin, 20, root_at(&f.honest, 20).expect("root"))
        .expect("checkpoint")
        .sign(&impostor)
        .expect("sign");
    let req20 = AddCheckpointRequest::new(12, req.proof.clone(), note).expect("request");
    assert_eq!(f.submit(&req20, state).status(), 403);
    let tampered = f
        .request(&f.honest, 12, 20)
        .encode()
        .replacen("\n20\n", "\n21\n", 1);
    let req21 = AddCheckpointRequest::parse(tampered.as_bytes()).expect("parse");
    assert_eq!(f.submit(&req21, state).status(), 403);

    // 422: a corrupted proof; a proof where none is due.
    let mut bad = f.request(&f.honest, 12, 20);
    bad.proof[0].0[0] ^= 1;
    let out = f.submit(&bad, state);
    assert_eq!(out.status(), 422);
    assert_eq!(out.split_view(), None);
    let mut extra = f.request(&f.honest, 0, 20);
    extra.proof.push(merkle::empty_root());
    assert_eq!(f.submit(&extra, None).status(), 422);
    let mut extra = f.request(&f.honest, 12, 12);
    extra.proof.push(merkle::empty_root());
    assert_eq!(f.submit(&extra, state).status(), 422);

    // 500: a clock past what a cosignature can carry.
    let req = f.request(&f.honest, 12, 20);
    let out = add_checkpoint(&req, Some(&f.trusted), state, &f.witness, MAX_TIMESTAMP + 1);
    assert_eq!(out.status(), 500);
}

#[test]
fn same_size_other_root_is_a_split_view() {
    let f = fixture();
    let (_, state) = cosigned(f.submit(&f.request(&f.honest, 0, 10), None));
    let out = f.submit(&f.request(&f.forked, 10, 10), Some(&state));
    assert_eq!(out.status(), 409);
    assert_ne!(out.content_type(), SIZE_CONTENT_TYPE);
    let proof = out.split_view().expect("split view").clone();
    let keys = f.log_keys();
    let sv = proof.verify(&keys).expect("verifies");
    assert_eq!(sv.origin, f.origin);
    assert_eq!(sv.first.size, 10);
    assert_ne!(sv.first.root, sv.second.root);
    check_evidence(&f, &proof);
}

#[test]
fn a_larger_inconsistent_tree_is_a_split_view() {
    let f = fixture();
    // Old size 6 (not a power of two): the fork's own proof leads to its new
    // root but not to the witnessed old one.
    let (_, state) = cosigned(f.submit(&f.request(&f.honest, 0, 6), None));
    let out = f.submit(&f.request(&f.forked, 6, 30), Some(&state));
    assert_eq!(out.status(), 422);
    let proof = out.split_view().expect("split view").clone();
    let sv = proof.verify(&f.log_keys()).expect("verifies");
    assert_eq!((sv.first.size, sv.second.size), (6, 30));
    check_evidence(&f, &proof);

    // Old size 4 (a power of two): the RFC proof omits the old tree's node,
    // so the request alone proves nothing...
    let (_, state) = cosigned(f.submit(&f.request(&f.honest, 0, 4), None));
    let out = f.submit(&f.request(&f.forked, 4, 30), Some(&state));
    assert_eq!(out.status(), 422);
    assert_eq!(out.split_view(), None);
    // ...but anyone holding the fork's nodes can prove it.
    let path = full_consistency_path(&f.forked, 4, 30).expect("path");
    let keys = f.log_keys();
    let proof =
        SplitViewProof::new(state.note(), &f.note(&f.forked, 30), path, &keys).expect("evidence");
    check_evidence(&f, &proof);
}

/// A verified proof: canonical in either order, survives encoding, and
/// fails with another key or when altered.
fn check_evidence(f: &Fixture, proof: &SplitViewProof) {
    let keys = f.log_keys();
    let first = Note::parse(proof.first.as_bytes()).expect("first");
    let second = Note::parse(proof.second.as_bytes()).expect("second");
    let swapped =
        SplitViewProof::new(&second, &first, proof.path.clone(), &keys).expect("either order");
    assert_eq!(&swapped, proof);

    let bytes = proof.encode();
    assert!(bytes.len() <= MAX_SPLIT_VIEW_BYTES);
    let decoded = SplitViewProof::decode(&bytes).expect("decode");
    assert_eq!(&decoded, proof);
    assert!(decoded.verify(&keys).is_ok());

    let other = Ed25519Signer::from_seed(&f.origin, [0x99; 32]).expect("other");
    let other_v = other.verifier();
    assert!(proof.verify(&[&other_v]).is_err());

    let mut swapped_order = proof.clone();
    std::mem::swap(&mut swapped_order.first, &mut swapped_order.second);
    assert!(swapped_order.verify(&keys).is_err());

    let mut same = proof.clone();
    same.second = same.first.clone();
    assert_eq!(same.verify(&keys), Err(SplitViewError::SameTreeHead));

    if let Some(h) = proof.path.last() {
        let mut p = proof.clone();
        p.path.push(*h);
        assert!(p.verify(&keys).is_err());
        for i in 0..proof.path.len() {
            let mut p = proof.clone();
            p.path[i].0[5] ^= 0x20;
            assert!(p.verify(&keys).is_err(), "altered path hash {i}");
        }
    } else {
        let mut p = proof.clone();
        p.path.push(merkle::empty_root());
        assert_eq!(p.verify(&keys), Err(SplitViewError::PathNotEmpty));
    }

    // Flipping any single byte of the encoding never yields another valid
    // proof of a different pair.
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        if let Ok(p) = SplitViewProof::decode(&b) {
            if p.verify(&keys).is_ok() {
                // Only the signature-free parts can change without breaking
                // a signature, and those are bound by the signatures.
                assert_eq!(p.path, proof.path);
            }
        }
    }
}

#[test]
fn honest_checkpoints_are_no_evidence() {
    let f = fixture();
    let keys = f.log_keys();
    let (a, b) = (f.note(&f.honest, 6), f.note(&f.honest, 30));
    let path = full_consistency_path(&f.honest, 6, 30).expect("path");
    assert_eq!(
        SplitViewProof::new(&a, &b, path, &keys),
        Err(SplitViewError::Consistent)
    );
    assert_eq!(
        SplitViewProof::new(&a, &a, Vec::new(), &keys),
        Err(SplitViewError::SameTreeHead)
    );
    // A path from the honest tree cannot frame the fork.
    let forked30 = f.note(&f.forked, 30);
    let path = full_consistency_path(&f.honest, 6, 30).expect("path");
    assert_eq!(
        SplitViewProof::new(&a, &forked30, path, &keys),
        Err(SplitViewError::NotInSecondTree)
    );
    // The empty tree is consistent with everything.
    let empty = f.note(&f.forked, 0);
    assert_eq!(
        SplitViewProof::new(&empty, &forked30, vec![merkle::empty_root()], &keys),
        Err(SplitViewError::EmptyFirstTree)
    );
    // Different origins.
    let other = Ed25519Signer::from_seed("example.com/log", [1; 32]).expect("other");
    let other_note = Checkpoint::new(
        "example.com/log",
        6,
        Digest::from_hex(&"00".repeat(32)).expect("hex"),
    )
    .expect("checkpoint")
    .sign(&other)
    .expect("sign");
    let ov = other.verifier();
    let both: Vec<&dyn NoteVerifier> = vec![keys[0], &ov];
    assert_eq!(
        SplitViewProof::new(&a, &other_note, Vec::new(), &both),
        Err(SplitViewError::DifferentOrigins)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), cut in any::<usize>()) {
        let _ = SplitViewProof::decode(&bytes);
        let _ = AddCheckpointRequest::parse(&bytes);
        let _ = Note::parse(&bytes);
        let _ = parse_cosignature_lines(&bytes);
        let _ = parse_size_response(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = Checkpoint::from_text(s);
            let _ = ledger_core::tlog::note::VerifierKey::parse(s);
        }
        // Truncations and mutations of a valid request.
        let f = fixture_light();
        let body = f.into_bytes();
        let cut = cut % (body.len() + 1);
        let _ = AddCheckpointRequest::parse(&body[..cut]);
        let mut m = body.clone();
        if !m.is_empty() {
            let i = cut % m.len();
            m[i] = bytes.first().copied().unwrap_or(0);
            let _ = AddCheckpointRequest::parse(&m);
        }
    }
}

/// A small valid request body, cheap to build.
fn fixture_light() -> String {
    let log = Ed25519Signer::from_seed("example.com/log", [5; 32]).expect("log");
    let leaves: Vec<Digest> = (0u8..9).map(|i| merkle::leaf_hash(&[i])).collect();
    let tree = MemoryTree::from_leaf_hashes(&leaves).expect("tree");
    let note = Checkpoint::new("example.com/log", 9, tree.root())
        .expect("checkpoint")
        .sign(&log)
        .expect("sign");
    AddCheckpointRequest::new(5, consistency_proof(&tree, 5, 9).expect("proof"), note)
        .expect("request")
        .encode()
}
