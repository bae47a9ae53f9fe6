//! Properties of the canonical codec on untrusted input:
//!
//! - decoding any bytes (random, or a valid encoding mutated) never panics,
//!   and whatever decodes re-encodes to exactly the input (one encoding per
//!   value);
//! - a single flipped bit of a signed event is never a silently accepted
//!   different event;
//! - oversized input is refused as `TooLarge` before any decoding;
//! - length prefixes claiming absurd sizes fail without allocating them;
//! - every generated valid value round-trips.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use proptest::sample::Index;

use ledger_core::charter::{AuthorityEntry, ObserverEntry, ParticipantEntry};
use ledger_core::codec::{MAX_CHARTER_BYTES, MAX_EVENT_BYTES, MAX_FORK_PROOF_BYTES};
use ledger_core::fork::ForkProofError;
use ledger_core::{
    AuthorId, AuthorityKey, AuthorityName, Certificate, Charter, Correction, CountryCode, Date,
    DecodeError, EventBody, EventContent, FixedBytes, ForkProof, HsCode, ImportConfirmation,
    ObserverId, Origin, Party, Role, Roles, SignedEvent, VoidReason,
};

// ---------------------------------------------------------------------------
// Largest single allocation, per thread, to prove "no allocation of the
// claimed size" rather than merely "did not crash".
// ---------------------------------------------------------------------------

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| {
        if size > l.get() {
            l.set(size)
        }
    });
}

// SAFETY: forwards every call unchanged to the system allocator; only
// records the requested sizes in a const-initialised thread-local Cell
// (which itself never allocates).
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(|l| l.get()))
}

// ---------------------------------------------------------------------------
// Strategies for the model
// ---------------------------------------------------------------------------

fn country() -> impl Strategy<Value = CountryCode> {
    "[A-Z]{2}".prop_map(|s| CountryCode::new(&s).unwrap())
}

fn authority_name() -> impl Strategy<Value = AuthorityName> {
    "[a-z0-9][a-z0-9-]{0,31}".prop_map(|s| AuthorityName::new(&s).unwrap())
}

fn author() -> impl Strategy<Value = AuthorId> {
    (country(), authority_name()).prop_map(|(participant, authority)| AuthorId {
        participant,
        authority,
    })
}

/// Any date the binary form can hold (every `i32`).
fn any_date() -> impl Strategy<Value = Date> {
    any::<i32>().prop_map(Date::from_days)
}

/// Dates whose JSON form round-trips (years 1 to 9999).
fn json_date() -> impl Strategy<Value = Date> {
    (-719_162i32..=2_932_896).prop_map(Date::from_days)
}

fn hs_code() -> impl Strategy<Value = HsCode> {
    prop_oneof![
        3 => prop::sample::select(HsCode::ALLOWED.to_vec()),
        1 => (0u32..1_000_000).prop_map(HsCode),
    ]
}

/// Free text: any Unicode, including control characters (the codec does not
/// care; body validation does).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,24}", "[A-Za-z0-9 ,.()-]{1,40}", Just(String::new())]
}

fn bytes32() -> impl Strategy<Value = FixedBytes<32>> {
    any::<[u8; 32]>().prop_map(FixedBytes)
}

fn party() -> impl Strategy<Value = Party> {
    (text(), text()).prop_map(|(name, address)| Party { name, address })
}

fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![
        (country(), prop::option::of(text()))
            .prop_map(|(country, zone)| Origin::Single { country, zone }),
        prop::collection::vec(country(), 0..5).prop_map(|countries| Origin::Mixed { countries }),
    ]
}

fn certificate(date: fn() -> BoxedStrategy<Date>) -> BoxedStrategy<Certificate> {
    (
        (
            "[A-Z]{2}-[0-9]{4}-[0-9]{6}",
            origin(),
            date(),
            date(),
            text(),
        ),
        (party(), party(), country()),
        (any::<u64>(), any::<u64>(), any::<u32>()),
        prop::collection::vec(hs_code(), 0..4),
        prop::collection::vec("[A-Z]{2}-[0-9]{4}-[0-9]{6}", 0..3),
    )
        .prop_map(
            |(
                (number, origin, issued_on, expires_on, issuing_authority),
                (exporter, importer, destination),
                (carat_hundredths, value_usd_cents, parcels),
                hs_codes,
                source_certificates,
            )| Certificate {
                number,
                origin,
                issued_on,
                expires_on,
                issuing_authority,
                exporter,
                importer,
                destination,
                carat_hundredths,
                value_usd_cents,
                parcels,
                hs_codes,
                source_certificates,
            },
        )
        .boxed()
}

fn correction(date: fn() -> BoxedStrategy<Date>) -> impl Strategy<Value = Correction> {
    prop_oneof![
        party().prop_map(Correction::Exporter),
        party().prop_map(Correction::Importer),
        any::<u64>().prop_map(Correction::CaratHundredths),
        any::<u64>().prop_map(Correction::ValueUsdCents),
        any::<u32>().prop_map(Correction::Parcels),
        date().prop_map(Correction::ExpiresOn),
        prop::collection::vec(hs_code(), 0..4).prop_map(Correction::HsCodes),
        origin().prop_map(Correction::Origin),
        country().prop_map(Correction::Destination),
    ]
}

fn void_reason() -> impl Strategy<Value = VoidReason> {
    prop::sample::select(vec![
        VoidReason::Cancelled,
        VoidReason::Lost,
        VoidReason::Stolen,
        VoidReason::Seized,
    ])
}

fn body(date: fn() -> BoxedStrategy<Date>) -> BoxedStrategy<EventBody> {
    // Boxed: the nested value trees of unboxed strategies overflow the
    // test thread's stack in debug builds.
    prop_oneof![
        certificate(date).prop_map(EventBody::CertificateIssued),
        (
            "[A-Z]{2}-[0-9]{4}-[0-9]{6}",
            country(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            date()
        )
            .prop_map(
                |(
                    certificate,
                    exporter_participant,
                    parcels,
                    carat_hundredths,
                    value_usd_cents,
                    received_on,
                )| {
                    EventBody::ImportConfirmed(ImportConfirmation {
                        certificate,
                        exporter_participant,
                        parcels,
                        carat_hundredths,
                        value_usd_cents,
                        received_on,
                    })
                }
            ),
        (text(), void_reason(), text()).prop_map(|(certificate, reason, note)| {
            EventBody::CertificateVoided {
                certificate,
                reason,
                note,
            }
        }),
        (text(), bytes32(), correction(date), text()).prop_map(
            |(certificate, original, correction, note)| EventBody::CertificateCorrected {
                certificate,
                original,
                correction,
                note,
            }
        ),
        (bytes32(), prop::option::of(bytes32())).prop_map(|(new_key, next_key_digest)| {
            EventBody::AuthorityKeyRotated {
                new_key,
                next_key_digest,
            }
        }),
    ]
    .boxed()
}

fn any_date_boxed() -> BoxedStrategy<Date> {
    any_date().boxed()
}

fn json_date_boxed() -> BoxedStrategy<Date> {
    json_date().boxed()
}

fn content_with(date: fn() -> BoxedStrategy<Date>) -> impl Strategy<Value = EventContent> {
    (
        bytes32(),
        author(),
        any::<u64>(),
        prop::option::of(bytes32()),
        any::<u64>(),
        body(date),
    )
        .prop_map(
            |(network, author, seq, prev, timestamp_ms, body)| EventContent {
                version: 1,
                network,
                author,
                seq,
                prev,
                timestamp_ms,
                body,
            },
        )
}

/// A validly signed event (by a key drawn from a few test seeds) and its key.
fn signed_event_with(
    date: fn() -> BoxedStrategy<Date>,
) -> BoxedStrategy<(SignedEvent, AuthorityKey)> {
    (content_with(date), 1u8..=8)
        .prop_map(|(content, s)| {
            let key = AuthorityKey::from_seed([s; 32]);
            (key.sign(content), key)
        })
        .boxed()
}

fn signed_event() -> BoxedStrategy<(SignedEvent, AuthorityKey)> {
    signed_event_with(any_date_boxed)
}

/// A fork proof (structurally: decoding does not check the semantics).
fn fork_proof() -> impl Strategy<Value = ForkProof> {
    (
        bytes32(),
        signed_event(),
        signed_event(),
        prop::collection::vec(signed_event(), 0..3),
    )
        .prop_map(|(network, (a, _), (b, _), evidence)| {
            ForkProof::new(
                network,
                a,
                b,
                evidence.into_iter().map(|(e, _)| e).collect(),
            )
        })
}

fn peer_id() -> impl Strategy<Value = String> {
    "12D3KooW[1-9A-HJ-NP-Za-km-z]{4,44}"
}

/// A valid charter (Charter::decode validates, so only valid ones decode).
fn charter() -> impl Strategy<Value = Charter> {
    let authority = (
        authority_name(),
        "[A-Za-z][A-Za-z ,.()-]{0,40}",
        1u8..=7,
        prop::option::of(bytes32()),
    );
    let participant = (
        "[A-Za-z][A-Za-z ,.()-]{0,30}",
        prop::collection::btree_map(authority_name(), authority, 1..3),
        prop::collection::vec(peer_id(), 0..3),
    );
    let observer = (
        "[A-Za-z][A-Za-z ,.()-]{0,30}",
        prop::collection::vec(peer_id(), 0..2),
    );
    (
        "[a-z0-9./-]{1,64}",
        json_date(),
        prop::collection::btree_map(country(), participant, 1..4),
        prop::collection::btree_map("[a-z][a-z0-9-]{0,8}", observer, 0..3),
        any::<Index>(),
    )
        .prop_map(|(network, created_on, participants, observers, chair)| {
            // Distinct, valid keys: test seeds from a counter.
            let mut seed = 0u8;
            let mut next_key = || {
                seed += 1;
                AuthorityKey::from_seed([seed; 32]).public()
            };
            let mut seen_nodes = std::collections::BTreeSet::new();
            let mut unique = |nodes: Vec<String>| -> Vec<String> {
                nodes
                    .into_iter()
                    .filter(|n| seen_nodes.insert(n.clone()))
                    .collect()
            };
            let codes: Vec<CountryCode> = participants.keys().copied().collect();
            let chair = codes[chair.index(codes.len())];
            let mut c = Charter::new(&network, created_on, chair);
            for (code, (name, authorities, nodes)) in participants {
                let authorities = authorities
                    .into_iter()
                    .map(
                        |(name, (_, title, roles, next_key_digest))| AuthorityEntry {
                            name,
                            title,
                            key: next_key(),
                            roles: Roles::of(
                                &[
                                    Role::IssueCertificates,
                                    Role::ConfirmImports,
                                    Role::Governance,
                                ]
                                .into_iter()
                                .enumerate()
                                .filter(|(i, _)| roles & (1 << i) != 0)
                                .map(|(_, r)| r)
                                .collect::<Vec<_>>(),
                            ),
                            next_key_digest,
                        },
                    )
                    .collect();
                c.add_participant(ParticipantEntry {
                    code,
                    name,
                    authorities,
                    nodes: unique(nodes),
                })
                .unwrap();
            }
            for (id, (name, nodes)) in observers {
                c.add_observer(ObserverEntry {
                    id: ObserverId::new(&id).unwrap(),
                    name,
                    key: next_key(),
                    nodes: unique(nodes),
                })
                .unwrap();
            }
            c
        })
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Set(Index, u8),
    FlipBit(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
    /// Overwrites 8 bytes with a little-endian u64 (hits length prefixes).
    SetU64(Index, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
        (
            any::<Index>(),
            prop_oneof![any::<u64>(), 0u64..300, Just(u64::MAX), Just(1 << 60)]
        )
            .prop_map(|(i, v)| Mutation::SetU64(i, v)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        let n = bytes.len();
        match m {
            Mutation::Set(i, b) if n > 0 => bytes[i.index(n)] = *b,
            Mutation::FlipBit(i, b) if n > 0 => bytes[i.index(n)] ^= 1 << b,
            Mutation::Insert(i, b) => bytes.insert(i.index(n + 1), *b),
            Mutation::Remove(i) if n > 0 => {
                bytes.remove(i.index(n));
            }
            Mutation::Truncate(i) => bytes.truncate(i.index(n + 1)),
            Mutation::SetU64(i, v) if n >= 8 => {
                let at = i.index(n - 7);
                bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            _ => {}
        }
    }
}

/// Decodes `bytes` with every decoder; none may panic, and whatever decodes
/// must re-encode to exactly `bytes`.
fn check_all_decoders(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(e) = SignedEvent::decode(bytes) {
        prop_assert_eq!(e.encode(), bytes, "SignedEvent decoded non-canonical bytes");
    }
    if let Ok(c) = Charter::decode(bytes) {
        prop_assert_eq!(c.encode(), bytes, "Charter decoded non-canonical bytes");
    }
    if let Ok(p) = ForkProof::decode(bytes) {
        prop_assert_eq!(p.encode(), bytes, "ForkProof decoded non-canonical bytes");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn random_bytes_never_panic(
        mut bytes in prop::collection::vec(any::<u8>(), 0..1024),
        version_one in any::<bool>(),
    ) {
        // Half the time past the version check, so the decoder gets to work.
        if version_one && !bytes.is_empty() {
            bytes[0] = 1;
        }
        check_all_decoders(&bytes)?;
    }

    #[test]
    fn mutated_events_never_panic(
        (event, _) in signed_event(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = event.encode();
        mutate(&mut bytes, &mutations);
        check_all_decoders(&bytes)?;
    }

    #[test]
    fn mutated_fork_proofs_never_panic(
        proof in fork_proof(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = proof.encode();
        mutate(&mut bytes, &mutations);
        check_all_decoders(&bytes)?;
    }

    #[test]
    fn mutated_charters_never_panic(
        charter in charter(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = charter.encode();
        mutate(&mut bytes, &mutations);
        check_all_decoders(&bytes)?;
    }

    /// A flipped bit either makes the event undecodable, or gives an event
    /// whose signature no longer verifies with the author's key: never a
    /// different event that is silently accepted.
    #[test]
    fn single_bit_flip_is_never_accepted(
        (event, key) in signed_event(),
        at in any::<Index>(),
        bit in 0u8..8,
    ) {
        let mut bytes = event.encode();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(flipped) = SignedEvent::decode(&bytes) {
            prop_assert_ne!(&flipped, &event);
            prop_assert!(
                !flipped.verify_signature(&key.verifying_key()),
                "bit {} of byte {} flipped, and the signature still verifies", bit, i
            );
            // Either the id changed (content changed) or only the signature did.
            prop_assert!(
                flipped.id() != event.id() || flipped.signature != event.signature
            );
        }
    }

    #[test]
    fn events_round_trip((event, key) in signed_event()) {
        let bytes = event.encode();
        prop_assert!(bytes.len() <= MAX_EVENT_BYTES);
        let back = SignedEvent::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &event);
        prop_assert_eq!(back.encode(), bytes.clone());
        prop_assert_eq!(back.id(), event.id());
        prop_assert!(back.verify_signature(&key.verifying_key()));
        // The encoding is the signed bytes without their context, then the signature.
        let signed = event.content.signed_bytes();
        prop_assert_eq!(&bytes[..bytes.len() - 64], &signed[16..]);
        prop_assert_eq!(&bytes[bytes.len() - 64..], &event.signature.0[..]);
    }

    /// The JSON form round-trips too, for dates of years 1..=9999.
    #[test]
    fn events_json_round_trip((event, _) in signed_event_with(json_date_boxed)) {
        let json = serde_json::to_string(&event).unwrap();
        let back: SignedEvent = serde_json::from_str(&json)
            .map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(back, event);
    }

    #[test]
    fn fork_proofs_round_trip(proof in fork_proof()) {
        let bytes = proof.encode();
        let back = ForkProof::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(back.first.id() <= back.second.id());
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back, proof);
    }

    #[test]
    fn charters_round_trip(charter in charter()) {
        charter.validate().map_err(TestCaseError::fail)?;
        let bytes = charter.encode();
        let back = Charter::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back.network_id(), charter.network_id());
        prop_assert_eq!(&back, &charter);
        let json = Charter::from_json(&charter.to_json()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(json, charter);
    }

    /// An event whose encoding exceeds the limit is refused by size alone.
    #[test]
    fn oversized_events_are_refused((event, key) in signed_event(), extra in 0usize..4096) {
        let mut content = event.content;
        content.body = EventBody::CertificateVoided {
            certificate: "BW-2026-000001".into(),
            reason: VoidReason::Cancelled,
            note: "x".repeat(MAX_EVENT_BYTES + extra),
        };
        let bytes = key.sign(content).encode();
        let err = SignedEvent::decode(&bytes).unwrap_err();
        prop_assert_eq!(err, DecodeError::TooLarge { size: bytes.len(), max: MAX_EVENT_BYTES });
    }
}

/// Bytes over each limit are refused as `TooLarge`, whatever they hold, and
/// without decoding (so without allocating anything near their size).
#[test]
fn oversized_inputs_are_too_large() {
    for first in [0u8, 1, 2, 0xff] {
        for (limit, extra) in [
            (MAX_EVENT_BYTES, 1),
            (MAX_FORK_PROOF_BYTES, 1),
            (MAX_CHARTER_BYTES, 1),
            (MAX_CHARTER_BYTES, 4096),
        ] {
            let mut bytes = vec![first; limit + extra];
            bytes[1..9].copy_from_slice(&(1u64 << 60).to_le_bytes());
            if bytes.len() > MAX_EVENT_BYTES {
                let (r, largest) = largest_allocation(|| SignedEvent::decode(&bytes));
                assert_eq!(
                    r.unwrap_err(),
                    DecodeError::TooLarge {
                        size: bytes.len(),
                        max: MAX_EVENT_BYTES
                    },
                    "SignedEvent, first byte {first}"
                );
                assert!(
                    largest < 4096,
                    "SignedEvent::decode allocated {largest} bytes"
                );
            }
            if bytes.len() > MAX_FORK_PROOF_BYTES {
                let (r, largest) = largest_allocation(|| ForkProof::decode(&bytes));
                assert_eq!(
                    r.unwrap_err(),
                    ForkProofError::Decode(DecodeError::TooLarge {
                        size: bytes.len(),
                        max: MAX_FORK_PROOF_BYTES
                    }),
                    "ForkProof, first byte {first}"
                );
                assert!(
                    largest < 4096,
                    "ForkProof::decode allocated {largest} bytes"
                );
            }
            if bytes.len() > MAX_CHARTER_BYTES {
                let (r, largest) = largest_allocation(|| Charter::decode(&bytes));
                assert_eq!(
                    r.unwrap_err(),
                    DecodeError::TooLarge {
                        size: bytes.len(),
                        max: MAX_CHARTER_BYTES
                    },
                    "Charter, first byte {first}"
                );
                assert!(largest < 4096, "Charter::decode allocated {largest} bytes");
            }
        }
    }
    // Exactly at the limit is not "too large" (it fails for another reason).
    let at_limit = vec![1u8; MAX_EVENT_BYTES];
    assert!(!matches!(
        SignedEvent::decode(&at_limit),
        Err(DecodeError::TooLarge { .. })
    ));
}

// ---------------------------------------------------------------------------
// Absurd length prefixes
// ---------------------------------------------------------------------------

/// The largest single allocation any decoder may make: bincode's own limit
/// (1 MiB) plus slack; far below what any absurd prefix claims.
const ALLOCATION_CEILING: usize = 2 * 1024 * 1024;

fn sample_event() -> (SignedEvent, AuthorityKey) {
    let key = AuthorityKey::from_seed([0x01; 32]);
    let content = EventContent {
        version: 1,
        network: FixedBytes([7; 32]),
        author: "BW/mme".parse().unwrap(),
        seq: 1,
        prev: None,
        timestamp_ms: 1_772_439_300_000,
        body: EventBody::CertificateIssued(Certificate {
            number: "BW-2026-000001".into(),
            origin: Origin::Mixed {
                countries: vec![CountryCode::new("BW").unwrap()],
            },
            issued_on: "2026-03-02".parse().unwrap(),
            expires_on: "2026-05-01".parse().unwrap(),
            issuing_authority: "Ministry of Minerals and Energy, Botswana".into(),
            exporter: Party {
                name: "Kalahari Rough Trading (Pty) Ltd".into(),
                address: "Gaborone".into(),
            },
            importer: Party {
                name: "Scheldt Rough NV".into(),
                address: "Antwerpen".into(),
            },
            destination: CountryCode::new("EU").unwrap(),
            carat_hundredths: 1_234_567,
            value_usd_cents: 234_567_890,
            parcels: 12,
            hs_codes: vec![HsCode::INDUSTRIAL],
            source_certificates: vec![],
        }),
    };
    (key.sign(content), key)
}

/// Offset of the u64 length prefix that precedes `needle` in `bytes`.
fn prefix_before(bytes: &[u8], needle: &[u8]) -> usize {
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in encoding");
    at - 8
}

fn with_length(bytes: &[u8], at: usize, len: u64) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at..at + 8].copy_from_slice(&len.to_le_bytes());
    b
}

#[test]
fn huge_length_prefixes_error_without_allocating() {
    let (event, _) = sample_event();
    let bytes = event.encode();
    let hs = HsCode::INDUSTRIAL.0.to_le_bytes();
    let prefixes = [
        ("hs_codes (Vec<u32>)", prefix_before(&bytes, &hs)),
        (
            "origin countries (Vec<[u8; 2]>)",
            // number (8 + 14 bytes), then the origin's variant index (4).
            prefix_before(&bytes, b"BW-2026-000001") + 8 + 14 + 4,
        ),
        (
            "certificate number (String)",
            prefix_before(&bytes, b"BW-2026-000001"),
        ),
        (
            "importer name (String)",
            prefix_before(&bytes, b"Scheldt Rough NV"),
        ),
        ("authority (String)", prefix_before(&bytes, b"mme")),
    ];
    for (what, at) in prefixes {
        for claim in [
            1u64 << 60,
            u64::MAX,
            (1 << 32) + 1,
            MAX_CHARTER_BYTES as u64 + 1,
        ] {
            let evil = with_length(&bytes, at, claim);
            let (r, largest) = largest_allocation(|| SignedEvent::decode(&evil));
            assert!(r.is_err(), "{what}: a length of {claim} decoded");
            assert!(
                largest <= ALLOCATION_CEILING,
                "{what}: claiming {claim} elements made a {largest}-byte allocation"
            );
        }
    }

    // Vec<SignedEvent> (a fork proof's key evidence): the prefix is just
    // before the evidence, at the end of the two sides.
    let (other, _) = {
        let (mut e, k) = sample_event();
        e.content.timestamp_ms += 1;
        let e = k.sign(e.content);
        (e, k)
    };
    let proof = ForkProof::new(FixedBytes([7; 32]), event.clone(), other, vec![]);
    let pb = proof.encode();
    let at = 1 + 32 + proof.first.encode().len() + proof.second.encode().len();
    assert_eq!(pb[at..], [0u8; 8], "empty key evidence ends the proof");
    for claim in [1u64 << 60, u64::MAX, 1 << 20] {
        let evil = with_length(&pb, at, claim);
        let (r, largest) = largest_allocation(|| ForkProof::decode(&evil));
        assert!(r.is_err(), "key_evidence: a length of {claim} decoded");
        assert!(
            largest <= ALLOCATION_CEILING,
            "key_evidence: claiming {claim} events made a {largest}-byte allocation"
        );
    }

    // Vec<ParticipantEntry> of a charter: after version (1), network name
    // (8 + len), created_on (4), chair (2) and quorum (2).
    let mut charter = Charter::new(
        "kp",
        Date::from_days(20_454),
        CountryCode::new("BW").unwrap(),
    );
    charter
        .add_participant(ParticipantEntry {
            code: CountryCode::new("BW").unwrap(),
            name: "Botswana".into(),
            authorities: vec![AuthorityEntry {
                name: AuthorityName::new("mme").unwrap(),
                title: "Ministry".into(),
                key: AuthorityKey::from_seed([1; 32]).public(),
                roles: Roles::of(&[Role::IssueCertificates]),
                next_key_digest: None,
            }],
            nodes: vec![],
        })
        .unwrap();
    let cb = charter.encode();
    let at = 1 + 8 + 2 + 4 + 2 + 2;
    assert_eq!(cb[at..at + 8], 1u64.to_le_bytes());
    for claim in [1u64 << 60, u64::MAX] {
        let evil = with_length(&cb, at, claim);
        let (r, largest) = largest_allocation(|| Charter::decode(&evil));
        assert!(r.is_err(), "participants: a length of {claim} decoded");
        assert!(
            largest <= ALLOCATION_CEILING,
            "participants: claiming {claim} made a {largest}-byte allocation"
        );
    }
}

/// Every single-bit flip of one real event, exhaustively.
#[test]
fn every_bit_flip_of_a_real_event_is_rejected() {
    let (event, key) = sample_event();
    let vk = key.verifying_key();
    let bytes = event.encode();
    let mut decodable = 0;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            if let Ok(flipped) = SignedEvent::decode(&b) {
                decodable += 1;
                assert!(
                    !flipped.verify_signature(&vk),
                    "flipping bit {bit} of byte {i} gives a different event that verifies"
                );
            }
        }
    }
    // Most flips land in free text, numbers, hashes or the signature and so
    // still decode: the signature is what catches them.
    assert!(
        decodable > bytes.len() * 4,
        "only {decodable} flips decoded"
    );
}
