//! The published test vectors under `docs/vectors/`, and the worked example
//! in `docs/FORMAT.md`, are regenerated here from the code on every test run,
//! so they cannot drift from what ledger-core actually signs and encodes.
//!
//! - `vectors_match_code` fails if any file differs (or is missing, or is
//!   stale); with `KPL_UPDATE_VECTORS=1` it rewrites the files instead:
//!   `KPL_UPDATE_VECTORS=1 cargo test -p ledger-core --test vectors`
//!   (then review the diff: a changed vector is a format change).
//! - `third_party_check` reads the files as an outside implementer would and
//!   checks them with nothing but SHA-256 and Ed25519.
//!
//! Every key here is a TEST key with an obviously fake seed (32 bytes of
//! 0x01, 0x02, ...). Never use them for anything else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use ledger_core::charter::{AuthorityEntry, ObserverEntry, ParticipantEntry, CHARTER_CONTEXT};
use ledger_core::event::EVENT_CONTEXT;
use ledger_core::feed::{verify_feed, FeedState};
use ledger_core::governance::{
    Decision, DecisionStatus, GovernanceLog, Proposal, Standing, Timeline,
};
use ledger_core::hash::sha256;
use ledger_core::{
    AuthorId, AuthorityKey, AuthorityName, Certificate, Charter, Correction, CountryCode, Date,
    Digest, EventBody, EventContent, ForkProof, HsCode, ImportConfirmation, ObserverId, Origin,
    Party, Role, Roles, SignedEvent, VoidReason,
};

const UPDATE_ENV: &str = "KPL_UPDATE_VECTORS";

// Test seeds. Each is 32 copies of one byte so nobody mistakes them for keys.
const SEED_BW_MME_1: [u8; 32] = [0x01; 32];
const SEED_EU_ANTWERP: [u8; 32] = [0x02; 32];
const SEED_BW_MME_2: [u8; 32] = [0x03; 32];
const SEED_BW_MME_3: [u8; 32] = [0x04; 32];
const SEED_WDC: [u8; 32] = [0x05; 32];
const SEED_CF_MINES: [u8; 32] = [0x06; 32];
const SEED_BW_KPC: [u8; 32] = [0x07; 32];
const SEED_EU_KPC: [u8; 32] = [0x08; 32];
const SEED_NODE_BW: [u8; 32] = [0x11; 32];
const SEED_NODE_EU: [u8; 32] = [0x12; 32];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors")
}

fn format_md() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FORMAT.md")
}

fn date(s: &str) -> Date {
    s.parse().expect("fixture date")
}

/// Unix milliseconds of `YYYY-MM-DD` at `hh:mm:ss` UTC.
fn ts(day: &str, h: u64, m: u64, s: u64) -> u64 {
    date(day).days() as u64 * 86_400_000 + ((h * 60 + m) * 60 + s) * 1000
}

fn cc(s: &str) -> CountryCode {
    CountryCode::new(s).expect("fixture country")
}

fn author(s: &str) -> AuthorId {
    s.parse().expect("fixture author")
}

fn party(name: &str, address: &str) -> Party {
    Party {
        name: name.into(),
        address: address.into(),
    }
}

/// Bitcoin-alphabet base58, for the libp2p peer ids of the test charter.
fn base58(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut digits: Vec<u8> = Vec::new(); // little-endian base-58 digits
    for &b in bytes {
        let mut carry = b as u32;
        for d in digits.iter_mut() {
            carry += (*d as u32) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    std::iter::repeat_n(b'1', zeros)
        .chain(digits.iter().rev().map(|d| ALPHABET[*d as usize]))
        .map(char::from)
        .collect()
}

/// The libp2p peer id of an Ed25519 node key: base58 of the identity
/// multihash of the protobuf-encoded public key (`12D3KooW...`).
fn peer_id(seed: [u8; 32]) -> String {
    let public = AuthorityKey::from_seed(seed).public();
    let mut mh = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    mh.extend_from_slice(public.as_bytes());
    base58(&mh)
}

/// One published event vector.
struct EventCase {
    file: &'static str,
    description: &'static str,
    seed: [u8; 32],
    event: SignedEvent,
}

struct Fixture {
    charter: Charter,
    events: Vec<EventCase>,
    bw_feed: Vec<SignedEvent>,
    eu_feed: Vec<SignedEvent>,
    /// The governance feeds: BW/kpc (the Chair's) and EU/kpc.
    gov_feeds: Vec<Vec<SignedEvent>>,
    fork: ForkProof,
}

fn fixture() -> Fixture {
    let bw_key_1 = AuthorityKey::from_seed(SEED_BW_MME_1);
    let bw_key_2 = AuthorityKey::from_seed(SEED_BW_MME_2);
    let bw_key_3 = AuthorityKey::from_seed(SEED_BW_MME_3);
    let eu_key = AuthorityKey::from_seed(SEED_EU_ANTWERP);
    let wdc_key = AuthorityKey::from_seed(SEED_WDC);
    let cf_key = AuthorityKey::from_seed(SEED_CF_MINES);
    let bw_kpc_key = AuthorityKey::from_seed(SEED_BW_KPC);
    let eu_kpc_key = AuthorityKey::from_seed(SEED_EU_KPC);

    let mut charter = Charter::new("kp-ledger-test-vectors", date("2026-01-01"), cc("BW"));
    charter
        .add_participant(ParticipantEntry {
            code: cc("BW"),
            name: "Botswana".into(),
            authorities: vec![
                // BW chairs the test network; its governance authority proposes.
                AuthorityEntry {
                    name: AuthorityName::new("kpc").unwrap(),
                    title: "Kimberley Process Chair, Botswana".into(),
                    key: bw_kpc_key.public(),
                    roles: Roles::of(&[Role::Governance]),
                    next_key_digest: None,
                },
                AuthorityEntry {
                    name: AuthorityName::new("mme").unwrap(),
                    title: "Ministry of Minerals and Energy, Botswana".into(),
                    key: bw_key_1.public(),
                    roles: Roles::of(&[Role::IssueCertificates]),
                    // Pre-rotation: BW/mme commits to its second key at genesis.
                    next_key_digest: Some(sha256(&[bw_key_2.public().as_bytes()])),
                },
            ],
            nodes: vec![peer_id(SEED_NODE_BW)],
        })
        .unwrap();
    charter
        .add_participant(ParticipantEntry {
            code: cc("CF"),
            name: "Central African Republic".into(),
            authorities: vec![AuthorityEntry {
                name: AuthorityName::new("mines").unwrap(),
                title: "Ministry of Mines and Geology, Central African Republic".into(),
                key: cf_key.public(),
                roles: Roles::of(&[Role::IssueCertificates, Role::ConfirmImports]),
                next_key_digest: None,
            }],
            nodes: vec![],
        })
        .unwrap();
    charter
        .add_participant(ParticipantEntry {
            code: cc("EU"),
            name: "European Union".into(),
            authorities: vec![
                AuthorityEntry {
                    name: AuthorityName::new("antwerp").unwrap(),
                    title: "Diamond Office Antwerp, for the European Union".into(),
                    key: eu_key.public(),
                    roles: Roles::of(&[Role::IssueCertificates, Role::ConfirmImports]),
                    next_key_digest: None,
                },
                AuthorityEntry {
                    name: AuthorityName::new("kpc").unwrap(),
                    title: "European Commission, Kimberley Process focal point".into(),
                    key: eu_kpc_key.public(),
                    roles: Roles::of(&[Role::Governance]),
                    next_key_digest: None,
                },
            ],
            nodes: vec![peer_id(SEED_NODE_EU)],
        })
        .unwrap();
    charter
        .add_observer(ObserverEntry {
            id: ObserverId::new("wdc").unwrap(),
            name: "World Diamond Council".into(),
            key: wdc_key.public(),
            nodes: vec![],
        })
        .unwrap();
    charter.validate().expect("fixture charter is valid");
    let network = charter.network_id();

    let content = |author: &AuthorId, seq: u64, prev: Option<Digest>, t: u64, body| EventContent {
        version: 1,
        network,
        author: author.clone(),
        seq,
        prev,
        timestamp_ms: t,
        body,
    };

    let bw = author("BW/mme");
    let eu = author("EU/antwerp");

    let certificate = Certificate {
        number: "BW-2026-000001".into(),
        origin: Origin::Single {
            country: cc("BW"),
            zone: None,
        },
        issued_on: date("2026-03-02"),
        expires_on: date("2026-05-01"),
        issuing_authority: "Ministry of Minerals and Energy, Botswana".into(),
        exporter: party(
            "Kalahari Rough Trading (Pty) Ltd",
            "Plot 1234, Diamond Technology Park, Gaborone, Botswana",
        ),
        importer: party(
            "Scheldt Rough NV",
            "Hoveniersstraat 1, 2018 Antwerpen, Belgium",
        ),
        destination: cc("EU"),
        carat_hundredths: 1_234_567,
        value_usd_cents: 234_567_890,
        parcels: 12,
        hs_codes: vec![HsCode::INDUSTRIAL, HsCode::NON_INDUSTRIAL],
        source_certificates: vec![],
    };

    let issued = bw_key_1.sign(content(
        &bw,
        1,
        None,
        ts("2026-03-02", 8, 15, 0),
        EventBody::CertificateIssued(certificate.clone()),
    ));
    let corrected = bw_key_1.sign(content(
        &bw,
        2,
        Some(issued.id()),
        ts("2026-03-03", 10, 0, 0),
        EventBody::CertificateCorrected {
            certificate: "BW-2026-000001".into(),
            original: issued.id(),
            correction: Correction::CaratHundredths(1_234_576),
            note: "Carat weight transposed on issue: the declared weight is 12345.76 ct".into(),
        },
    ));
    let voided = bw_key_1.sign(content(
        &bw,
        3,
        Some(corrected.id()),
        ts("2026-03-04", 9, 30, 0),
        EventBody::CertificateVoided {
            certificate: "BW-2026-000002".into(),
            reason: VoidReason::Lost,
            note: "Paper original lost in transit; shipment re-certified as BW-2026-000003".into(),
        },
    ));
    // Made while the charter's commitment to key 2 is in force: so it reveals
    // key 2, is signed by key 2, and commits to key 3 in turn.
    let rotated = bw_key_2.sign(content(
        &bw,
        4,
        Some(voided.id()),
        ts("2026-03-06", 12, 0, 0),
        EventBody::AuthorityKeyRotated {
            new_key: bw_key_2.public(),
            next_key_digest: Some(sha256(&[bw_key_3.public().as_bytes()])),
        },
    ));
    let confirmed = eu_key.sign(content(
        &eu,
        1,
        None,
        ts("2026-03-05", 14, 20, 0),
        EventBody::ImportConfirmed(ImportConfirmation {
            certificate: "BW-2026-000001".into(),
            exporter_participant: cc("BW"),
            parcels: 12,
            carat_hundredths: 1_234_576,
            value_usd_cents: 234_567_890,
            received_on: date("2026-03-05"),
        }),
    ));

    // The fork: key 2 signs two different seq-5 events (the same certificate
    // number sent to two destinations). The rotation at seq 4 is the key
    // evidence tracing key 2 back to the charter.
    let fork_certificate = |destination: &str, importer: Party, value: u64| Certificate {
        number: "BW-2026-000004".into(),
        origin: Origin::Mixed {
            countries: vec![cc("BW"), cc("NA"), cc("ZA")],
        },
        issued_on: date("2026-03-09"),
        expires_on: date("2026-05-08"),
        issuing_authority: "Ministry of Minerals and Energy, Botswana".into(),
        exporter: party(
            "Kalahari Rough Trading (Pty) Ltd",
            "Plot 1234, Diamond Technology Park, Gaborone, Botswana",
        ),
        importer,
        destination: cc(destination),
        carat_hundredths: 50_000,
        value_usd_cents: value,
        parcels: 2,
        hs_codes: vec![HsCode::UNSORTED],
        source_certificates: vec!["NA-2026-000017".into(), "ZA-2026-004211".into()],
    };
    let side_a = bw_key_2.sign(content(
        &bw,
        5,
        Some(rotated.id()),
        ts("2026-03-09", 7, 0, 0),
        EventBody::CertificateIssued(fork_certificate(
            "EU",
            party(
                "Scheldt Rough NV",
                "Hoveniersstraat 1, 2018 Antwerpen, Belgium",
            ),
            12_500_000,
        )),
    ));
    let side_b = bw_key_2.sign(content(
        &bw,
        5,
        Some(rotated.id()),
        ts("2026-03-09", 7, 0, 1),
        EventBody::CertificateIssued(fork_certificate(
            "AE",
            party(
                "Creek Rough Trading FZE",
                "Almas Tower, Jumeirah Lakes Towers, Dubai, United Arab Emirates",
            ),
            9_900_000,
        )),
    ));
    let fork = ForkProof::new(network, side_a, side_b, vec![rotated.clone()]);

    // Governance: the Chair (BW) proposes to suspend CF except for exports
    // mined in the Berberati zone; EU approves. Eligible: BW, CF, EU; the
    // quorum 2/3 needs 2; BW (by proposing) and EU make 2: adopted.
    let bw_kpc = author("BW/kpc");
    let eu_kpc = author("EU/kpc");
    let proposed = bw_kpc_key.sign(content(
        &bw_kpc,
        1,
        None,
        ts("2026-03-10", 9, 0, 0),
        EventBody::GovernanceProposed(Proposal {
            decision: Decision::Suspend {
                participant: cc("CF"),
                exporting_zones: vec!["Berberati".into()],
            },
            effective_on: date("2026-03-16"),
            reference: "Administrative Decision 2026/01 (test vector)".into(),
        }),
    ));
    let approved = eu_kpc_key.sign(content(
        &eu_kpc,
        1,
        None,
        ts("2026-03-11", 16, 45, 0),
        EventBody::GovernanceApproved {
            proposal: proposed.id(),
            note: "Approved by written procedure".into(),
        },
    ));

    let events = vec![
        EventCase {
            file: "certificate_issued.json",
            description:
                "BW/mme (feed seq 1, so prev is null) issues KP certificate BW-2026-000001: \
                12345.67 ct, 12 parcels, USD 2345678.90, HS 7102.21 and 7102.31, unmixed \
                Botswana origin, to Scheldt Rough NV in Antwerp (destination EU). Signed by \
                the charter key of BW/mme (seed 32 x 0x01).",
            seed: SEED_BW_MME_1,
            event: issued.clone(),
        },
        EventCase {
            file: "certificate_corrected.json",
            description: "BW/mme seq 2 (prev = id of seq 1) endorses a correction of \
                BW-2026-000001: carat_hundredths becomes 1234576. `original` is the id of the \
                certificate_issued event. Signed by the charter key of BW/mme (seed 32 x 0x01).",
            seed: SEED_BW_MME_1,
            event: corrected.clone(),
        },
        EventCase {
            file: "certificate_voided.json",
            description: "BW/mme seq 3 voids certificate BW-2026-000002 (reason lost). \
                Signed by the charter key of BW/mme (seed 32 x 0x01).",
            seed: SEED_BW_MME_1,
            event: voided.clone(),
        },
        EventCase {
            file: "authority_key_rotated.json",
            description: "BW/mme seq 4 rotates its key under pre-rotation: the charter commits \
                BW/mme to next_key_digest = SHA-256(key 2), so this rotation must reveal key 2 \
                (seed 32 x 0x03) and is signed by key 2, not by the old key. It commits in turn \
                to key 3 (seed 32 x 0x04). Key 2 signs seq 5 onwards.",
            seed: SEED_BW_MME_2,
            event: rotated.clone(),
        },
        EventCase {
            file: "import_confirmed.json",
            description: "EU/antwerp (feed seq 1, so prev is null) confirms receipt of the \
                shipment of BW-2026-000001 (exporter BW) on 2026-03-05: 12 parcels, 12345.76 \
                ct, USD 2345678.90. Signed by the charter key of EU/antwerp (seed 32 x 0x02). \
                This is the worked example of docs/FORMAT.md.",
            seed: SEED_EU_ANTWERP,
            event: confirmed.clone(),
        },
        EventCase {
            file: "governance_proposed.json",
            description: "BW/kpc, the governance authority of the Chair BW (feed seq 1, so \
                prev is null), proposes to suspend CF from 2026-03-16 except for exports of \
                rough diamonds mined in the zone Berberati (Suspend, decision variant 2). \
                Signed by the charter key of BW/kpc (seed 32 x 0x07).",
            seed: SEED_BW_KPC,
            event: proposed.clone(),
        },
        EventCase {
            file: "governance_approved.json",
            description: "EU/kpc, the governance authority of EU (feed seq 1, so prev is \
                null), approves the proposal of governance_proposed.json (`proposal` is its \
                event id). With the proposer's BW this is 2 of the 3 participants in good \
                standing, the charter's quorum 2/3: the suspension is adopted. Signed by the \
                charter key of EU/kpc (seed 32 x 0x08).",
            seed: SEED_EU_KPC,
            event: approved.clone(),
        },
    ];

    Fixture {
        charter,
        events,
        bw_feed: vec![issued, corrected, voided, rotated],
        eu_feed: vec![confirmed],
        gov_feeds: vec![vec![proposed], vec![approved]],
        fork,
    }
}

#[derive(Serialize)]
struct TestKey {
    owner: &'static str,
    seed: String,
    public_key: String,
}

#[derive(Serialize)]
struct CharterVector<'a> {
    description: &'static str,
    canonical_bytes: String,
    network_id: String,
    test_keys: Vec<TestKey>,
    json: &'a Charter,
}

#[derive(Serialize)]
struct EventVector<'a> {
    description: &'static str,
    seed: String,
    public_key: String,
    network_id: String,
    signed_bytes: String,
    signature: String,
    encoded_event: String,
    event_id: String,
    json: &'a SignedEvent,
}

#[derive(Serialize)]
struct ForkVector<'a> {
    description: &'static str,
    network_id: String,
    seed: String,
    public_key: String,
    first_id: String,
    second_id: String,
    key_evidence_ids: Vec<String>,
    encoded_fork_proof: String,
    json: &'a ForkProof,
}

fn pretty<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("vectors serialise");
    s.push('\n');
    s
}

fn test_key(owner: &'static str, seed: [u8; 32]) -> TestKey {
    TestKey {
        owner,
        seed: hex::encode(seed),
        public_key: AuthorityKey::from_seed(seed).public().to_hex(),
    }
}

/// Every vector file, by name, as the code produces it now.
fn generate(f: &Fixture) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    let network = f.charter.network_id();
    out.insert(
        "charter.json",
        pretty(&CharterVector {
            description:
                "The test network's charter: participants BW (the Chair; authorities kpc for \
                governance and mme, pre-committed to its next key), CF (authority mines) and EU \
                (authorities antwerp and kpc for governance), observer wdc, quorum 2/3. \
                network_id = \
                SHA-256(\"kp-ledger:charter\\0\" || canonical_bytes). test_keys lists every \
                test seed used by the vectors (TEST KEYS ONLY).",
            canonical_bytes: hex::encode(f.charter.encode()),
            network_id: network.to_hex(),
            test_keys: vec![
                test_key("BW/mme key 1 (charter key)", SEED_BW_MME_1),
                test_key("EU/antwerp (charter key)", SEED_EU_ANTWERP),
                test_key("BW/mme key 2 (pre-committed in the charter)", SEED_BW_MME_2),
                test_key("BW/mme key 3 (committed by the rotation)", SEED_BW_MME_3),
                test_key("observer wdc", SEED_WDC),
                test_key("CF/mines (charter key)", SEED_CF_MINES),
                test_key("BW/kpc (charter key)", SEED_BW_KPC),
                test_key("EU/kpc (charter key)", SEED_EU_KPC),
                test_key("libp2p node key of BW", SEED_NODE_BW),
                test_key("libp2p node key of EU", SEED_NODE_EU),
            ],
            json: &f.charter,
        }),
    );
    for case in &f.events {
        let key = AuthorityKey::from_seed(case.seed);
        out.insert(
            case.file,
            pretty(&EventVector {
                description: case.description,
                seed: hex::encode(case.seed),
                public_key: key.public().to_hex(),
                network_id: network.to_hex(),
                signed_bytes: hex::encode(case.event.content.signed_bytes()),
                signature: case.event.signature.to_hex(),
                encoded_event: hex::encode(case.event.encode()),
                event_id: case.event.id().to_hex(),
                json: &case.event,
            }),
        );
    }
    let key = AuthorityKey::from_seed(SEED_BW_MME_2);
    let (first_id, second_id) = f.fork.ids();
    out.insert(
        "fork_proof.json",
        pretty(&ForkVector {
            description:
                "BW/mme equivocates at seq 5: key 2 signs two different certificate_issued \
                events for BW-2026-000004 (one to the EU, one to AE), both linking to the seq-4 \
                rotation. The sides are ordered by id (first_id < second_id); key_evidence holds \
                the seq-4 rotation that traces key 2 back to the charter's commitment.",
            network_id: network.to_hex(),
            seed: hex::encode(SEED_BW_MME_2),
            public_key: key.public().to_hex(),
            first_id: first_id.to_hex(),
            second_id: second_id.to_hex(),
            key_evidence_ids: f
                .fork
                .key_evidence
                .iter()
                .map(|e| e.id().to_hex())
                .collect(),
            encoded_fork_proof: hex::encode(f.fork.encode()),
            json: &f.fork,
        }),
    );
    out
}

fn first_difference(old: &str, new: &str) -> String {
    for (i, (a, b)) in old.lines().zip(new.lines()).enumerate() {
        if a != b {
            return format!(
                "line {}:\n    file: {}\n    code: {}",
                i + 1,
                a.trim(),
                b.trim()
            );
        }
    }
    format!(
        "the file has {} lines, the code produces {}",
        old.lines().count(),
        new.lines().count()
    )
}

#[test]
fn vectors_match_code() {
    let f = fixture();
    let files = generate(&f);
    let dir = vectors_dir();
    let update = std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1");
    if update {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &files {
            // Write then rename, so a concurrent reader never sees half a file.
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, dir.join(name)).unwrap();
        }
        eprintln!(
            "{UPDATE_ENV}=1: rewrote {} files in {}",
            files.len(),
            dir.display()
        );
        return;
    }
    let mut problems = Vec::new();
    for (name, text) in &files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(old) if &old == text => {}
            Ok(old) => problems.push(format!(
                "docs/vectors/{name} differs from what the code produces, first at {}",
                first_difference(&old, text)
            )),
            Err(e) => problems.push(format!("docs/vectors/{name} cannot be read: {e}")),
        }
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // bundle.json is produced and checked by tests/bundle.rs,
            // store_log.json by tests/store_vectors.rs, tiles.json by
            // tests/tiles_vectors.rs.
            if !name.starts_with('.')
                && name != "bundle.json"
                && name != "store_log.json"
                && name != "tiles.json"
                && !files.contains_key(name.as_str())
            {
                problems.push(format!(
                    "docs/vectors/{name} is not produced by the code (stale?)"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the published test vectors no longer match the code:\n  {}\n\
         If this format change is intended, regenerate them with\n  \
         {UPDATE_ENV}=1 cargo test -p ledger-core --test vectors\n\
         and review the diff: every change is a change to the wire format.",
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// The vectors as a third party sees them: only JSON, hex, SHA-256, Ed25519.
// ---------------------------------------------------------------------------

fn read_vector(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hex_field(v: &Value, file: &str, field: &str) -> Vec<u8> {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{file}: field `{field}` is missing or not a string"));
    hex::decode(s).unwrap_or_else(|e| panic!("{file}: field `{field}` is not hex: {e}"))
}

fn array<const N: usize>(bytes: &[u8], file: &str, field: &str) -> [u8; N] {
    bytes
        .try_into()
        .unwrap_or_else(|_| panic!("{file}: `{field}` has {} bytes, expected {N}", bytes.len()))
}

const EVENT_FILES: [&str; 7] = [
    "certificate_issued.json",
    "import_confirmed.json",
    "certificate_voided.json",
    "certificate_corrected.json",
    "authority_key_rotated.json",
    "governance_proposed.json",
    "governance_approved.json",
];

#[test]
fn third_party_check() {
    let charter = read_vector("charter.json");
    let canonical = hex_field(&charter, "charter.json", "canonical_bytes");
    let network_id = hex_field(&charter, "charter.json", "network_id");
    let computed: [u8; 32] = Sha256::new()
        .chain_update(b"kp-ledger:charter\0")
        .chain_update(&canonical)
        .finalize()
        .into();
    assert_eq!(
        computed[..],
        network_id[..],
        "charter.json: network_id != SHA-256(\"kp-ledger:charter\\0\" || canonical_bytes)"
    );
    let decoded = Charter::decode(&canonical).expect("charter.json: canonical_bytes decode");
    let from_json: Charter = serde_json::from_value(charter["json"].clone())
        .expect("charter.json: `json` parses as a charter");
    assert_eq!(decoded, from_json, "charter.json: bytes and JSON disagree");
    assert_eq!(
        decoded.encode(),
        canonical,
        "charter.json: re-encoding differs"
    );
    for k in charter["test_keys"].as_array().expect("test_keys") {
        let seed = array::<32>(
            &hex_field(k, "charter.json", "seed"),
            "charter.json",
            "seed",
        );
        let public = hex_field(k, "charter.json", "public_key");
        assert_eq!(
            SigningKey::from_bytes(&seed).verifying_key().to_bytes()[..],
            public[..],
            "charter.json: test key {} does not derive from its seed",
            k["owner"]
        );
    }

    for file in EVENT_FILES {
        let v = read_vector(file);
        let seed = array::<32>(&hex_field(&v, file, "seed"), file, "seed");
        let public = array::<32>(&hex_field(&v, file, "public_key"), file, "public_key");
        let signed = hex_field(&v, file, "signed_bytes");
        let signature = array::<64>(&hex_field(&v, file, "signature"), file, "signature");
        let encoded = hex_field(&v, file, "encoded_event");
        let event_id = hex_field(&v, file, "event_id");
        assert_eq!(
            hex_field(&v, file, "network_id"),
            network_id,
            "{file}: network_id"
        );

        // The key.
        assert_eq!(
            SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
            public,
            "{file}: public_key is not the key of seed"
        );
        // The signed bytes: context, version 1, network id.
        assert_eq!(&signed[..16], b"kp-ledger:event\0", "{file}: context");
        assert_eq!(signed[16], 1, "{file}: version byte");
        assert_eq!(
            signed[17..49],
            network_id[..],
            "{file}: network id in the event"
        );
        // The id.
        let id: [u8; 32] = Sha256::digest(&signed).into();
        assert_eq!(
            id[..],
            event_id[..],
            "{file}: event_id != SHA-256(signed_bytes)"
        );
        // The signature, strictly (RFC 8032, canonical S, no weak keys).
        let vk = VerifyingKey::from_bytes(&public).expect("public key decodes");
        vk.verify_strict(&signed, &Signature::from_bytes(&signature))
            .unwrap_or_else(|e| panic!("{file}: signature does not verify: {e}"));
        // Ed25519 is deterministic: signing again gives the same signature.
        use ed25519_dalek::Signer as _;
        assert_eq!(
            SigningKey::from_bytes(&seed).sign(&signed).to_bytes(),
            signature,
            "{file}: signing signed_bytes with seed gives another signature"
        );
        // The encoding: the signed bytes without the context, then the signature.
        let mut expected = signed[EVENT_CONTEXT.len()..].to_vec();
        expected.extend_from_slice(&signature);
        assert_eq!(
            encoded, expected,
            "{file}: encoded_event != signed_bytes[16..] || signature"
        );
        // And ledger-core agrees, both ways, and with the JSON form.
        let ev = SignedEvent::decode(&encoded)
            .unwrap_or_else(|e| panic!("{file}: encoded_event does not decode: {e}"));
        assert_eq!(ev.encode(), encoded, "{file}: re-encoding differs");
        assert_eq!(ev.id().as_bytes()[..], event_id[..], "{file}: id");
        assert_eq!(ev.content.signed_bytes(), signed, "{file}: signed bytes");
        assert!(ev.verify_signature(&vk), "{file}: verify_signature");
        let from_json: SignedEvent = serde_json::from_value(v["json"].clone())
            .unwrap_or_else(|e| panic!("{file}: `json` does not parse as an event: {e}"));
        assert_eq!(from_json, ev, "{file}: JSON and bytes disagree");
        let kind = file.trim_end_matches(".json");
        assert_eq!(ev.content.body.kind(), kind, "{file}: event kind");
        assert!(
            v["json"]["content"]["body"].get(kind).is_some(),
            "{file}: JSON body is not tagged `{kind}`"
        );
    }

    let file = "fork_proof.json";
    let v = read_vector(file);
    let encoded = hex_field(&v, file, "encoded_fork_proof");
    let first_id = hex_field(&v, file, "first_id");
    let second_id = hex_field(&v, file, "second_id");
    assert_eq!(encoded[0], 1, "{file}: version byte");
    assert_eq!(encoded[1..33], network_id[..], "{file}: network id");
    assert!(
        first_id < second_id,
        "{file}: first_id must be below second_id"
    );
    let proof = ForkProof::decode(&encoded)
        .unwrap_or_else(|e| panic!("{file}: encoded_fork_proof does not decode: {e}"));
    assert_eq!(proof.encode(), encoded, "{file}: re-encoding differs");
    let (a, b) = proof.ids();
    assert_eq!(a.as_bytes()[..], first_id[..], "{file}: first_id");
    assert_eq!(b.as_bytes()[..], second_id[..], "{file}: second_id");
    // The first side starts right after version and network id.
    let first_len = proof.first.encode().len();
    assert_eq!(encoded[33..33 + first_len], proof.first.encode()[..]);
    let public = array::<32>(&hex_field(&v, file, "public_key"), file, "public_key");
    let vk = VerifyingKey::from_bytes(&public).unwrap();
    assert!(proof.first.verify_signature(&vk) && proof.second.verify_signature(&vk));
    let from_json: ForkProof = serde_json::from_value(v["json"].clone()).expect("fork JSON");
    assert_eq!(from_json, proof, "{file}: JSON and bytes disagree");
    proof
        .verify(&decoded)
        .unwrap_or_else(|e| panic!("{file}: the proof does not verify with charter.json: {e}"));
}

/// The vectors are not only well-formed but valid: each feed verifies from
/// the charter, and the fork proof proves a fork.
#[test]
fn vector_feeds_are_valid() {
    let f = fixture();
    let network = f.charter.network_id();
    for feed in [&f.bw_feed, &f.eu_feed].into_iter().chain(&f.gov_feeds) {
        let author = feed[0].author().clone();
        let entry = f.charter.authority(&author).expect("author in charter");
        let state = verify_feed(
            &network,
            FeedState::genesis(author.clone(), entry),
            feed.iter(),
        )
        .unwrap_or_else(|(seq, e)| panic!("{author} seq {seq}: {e}"));
        assert_eq!(state.head_seq, feed.len() as u64);
    }
    f.fork.verify(&f.charter).expect("fork proof verifies");
    // The fork's sides each extend the valid BW feed at seq 5.
    let entry = f.charter.authority(&author("BW/mme")).unwrap();
    let state = verify_feed(
        &network,
        FeedState::genesis(author("BW/mme"), entry),
        f.bw_feed.iter(),
    )
    .unwrap();
    state.check_next(&network, &f.fork.first).unwrap();
    state.check_next(&network, &f.fork.second).unwrap();
    // The rotation must not verify with the old key (pre-rotation).
    let rotation = &f.bw_feed[3];
    assert!(!rotation.verify_signature(&AuthorityKey::from_seed(SEED_BW_MME_1).verifying_key()));
    assert_eq!(CHARTER_CONTEXT, b"kp-ledger:charter\0");

    // The governance vectors: the approval names the proposal, and the
    // timeline of §15 adopts the suspension from its effective date.
    let mut log = GovernanceLog::new();
    for ev in f.gov_feeds.iter().flatten() {
        assert!(log.insert(ev.id(), ev));
    }
    let timeline = Timeline::build(&f.charter, &log);
    let [decision] = timeline.decisions() else {
        panic!("one decision expected");
    };
    assert_eq!(decision.status, DecisionStatus::Adopted, "{decision:?}");
    assert_eq!(decision.needed, 2);
    assert_eq!(decision.approved_by, vec![cc("BW"), cc("EU")]);
    let standing = |d: &str| {
        timeline
            .at(date(d))
            .participant(cc("CF"))
            .unwrap()
            .standing
            .clone()
    };
    assert_eq!(standing("2026-03-15"), Standing::Member);
    assert_eq!(
        standing("2026-03-16"),
        Standing::Suspended {
            exporting_zones: vec!["Berberati".into()]
        }
    );
}

/// The annotated worked example in docs/FORMAT.md is the signed bytes of
/// import_confirmed.json: the first token of each line of the block after
/// the `worked-example` marker, concatenated.
#[test]
fn format_md_worked_example_matches() {
    if std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1") {
        return;
    }
    let f = fixture();
    let event = &f
        .events
        .iter()
        .find(|c| c.file == "import_confirmed.json")
        .unwrap()
        .event;
    let text = std::fs::read_to_string(format_md()).expect("docs/FORMAT.md");
    let fenced = |marker: &str| -> &str {
        let start = text
            .find(marker)
            .unwrap_or_else(|| panic!("docs/FORMAT.md: marker `{marker}` is missing"));
        let block = &text[start..];
        let open = block.find("```").expect("a fenced block after the marker");
        let block = &block[open + 3..];
        let block = &block[block.find('\n').unwrap() + 1..];
        &block[..block.find("```").expect("the block is closed")]
    };
    let json: Value = serde_json::from_str(fenced("<!-- worked-example:json -->"))
        .expect("docs/FORMAT.md: the worked example's JSON parses");
    assert_eq!(
        json,
        serde_json::to_value(event).unwrap(),
        "docs/FORMAT.md: the worked example's JSON is not that of import_confirmed.json"
    );
    let extract = |marker: &str| -> String {
        fenced(marker)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect()
    };
    let signed = extract("<!-- worked-example:signed_bytes -->");
    assert_eq!(
        signed,
        hex::encode(event.content.signed_bytes()),
        "docs/FORMAT.md: the annotated signed bytes are not those of import_confirmed.json"
    );
    let rest = extract("<!-- worked-example:results -->");
    let expected = format!("{}{}", event.id().to_hex(), event.signature.to_hex());
    assert_eq!(
        rest, expected,
        "docs/FORMAT.md: the worked example's id and signature are not those of import_confirmed.json"
    );
}
