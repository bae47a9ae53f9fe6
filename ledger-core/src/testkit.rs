//! Deterministic test networks, keys and certificates for tests, benchmarks
//! and fuzzing. The keys are derived from public strings: **never** use them
//! for a real network.

use crate::bytes::Digest;
use crate::charter::{AuthorityEntry, Charter, ParticipantEntry};
use crate::event::{AuthorityKey, EventContent, EventId, SignedEvent};
use crate::hash::sha256;
use crate::model::{
    AuthorId, AuthorityName, Certificate, CountryCode, Date, EventBody, HsCode, ImportConfirmation,
    Origin, Party, Role, Roles,
};

/// The insecure, publicly derivable test key of an author.
pub fn test_key(author: &AuthorId) -> AuthorityKey {
    let seed = sha256(&[
        b"kp-ledger insecure test key\0",
        author.to_string().as_bytes(),
    ]);
    AuthorityKey::from_seed(*seed.as_bytes())
}

/// A charter for `codes`, each participant with one authority `mme` that
/// may issue and confirm, keyed with [`test_key`].
pub fn test_charter(codes: &[&str]) -> Charter {
    charter_with_roles(
        codes,
        Roles::of(&[Role::IssueCertificates, Role::ConfirmImports]),
    )
}

/// A charter for `codes` (the first chairs), each participant as
/// [`test_participant`] with `roles`.
fn charter_with_roles(codes: &[&str], roles: Roles) -> Charter {
    let mut c = Charter::new(
        "kp-ledger-test",
        Date::from_ymd(2026, 1, 1).unwrap_or(Date::from_days(0)),
        CountryCode::new(codes[0]).expect("code"),
    );
    for code in codes {
        c.add_participant(test_participant(code, roles))
            .expect("distinct codes");
    }
    c
}

/// Writes one author's feed offline: keeps seq and prev.
pub struct FeedWriter {
    pub author: AuthorId,
    pub key: AuthorityKey,
    pub network: Digest,
    pub seq: u64,
    pub prev: Option<EventId>,
}

impl FeedWriter {
    pub fn new(network: Digest, author: AuthorId) -> FeedWriter {
        FeedWriter {
            key: test_key(&author),
            author,
            network,
            seq: 0,
            prev: None,
        }
    }

    /// The content of the next event, unsigned.
    pub fn content(&self, body: EventBody, timestamp_ms: u64) -> EventContent {
        EventContent {
            version: crate::codec::FORMAT_VERSION,
            network: self.network,
            author: self.author.clone(),
            seq: self.seq + 1,
            prev: self.prev,
            timestamp_ms,
            body,
        }
    }

    /// Signs the next event and moves on.
    pub fn next(&mut self, body: EventBody, timestamp_ms: u64) -> SignedEvent {
        let ev = self.key.sign(self.content(body, timestamp_ms));
        self.seq += 1;
        self.prev = Some(ev.id());
        ev
    }
}

/// A plausible certificate `n` from `issuer` to `destination`.
pub fn sample_certificate(issuer: CountryCode, destination: CountryCode, n: u64) -> Certificate {
    let issued = Date::from_ymd(2026, 1, 1)
        .unwrap_or(Date::from_days(0))
        .add_days((n % 300) as i32);
    Certificate {
        number: format!("{issuer}-2026-{n:07}"),
        origin: Origin::Single {
            country: issuer,
            zone: None,
        },
        issued_on: issued,
        expires_on: issued.add_days(60),
        issuing_authority: format!("Diamond authority of {issuer}"),
        exporter: Party {
            name: format!("Exporter {n} Ltd"),
            address: format!("{n} Mine Road, {issuer}"),
        },
        importer: Party {
            name: format!("Importer {n} BV"),
            address: format!("{n} Hoveniersstraat, {destination}"),
        },
        destination,
        carat_hundredths: 100_000 + (n % 977) * 1_013,
        value_usd_cents: 25_000_000 + (n % 991) * 100_003,
        parcels: 1 + (n % 7) as u32,
        hs_codes: vec![HsCode::NON_INDUSTRIAL],
        source_certificates: Vec::new(),
    }
}

/// The confirmation of `cert` exactly as issued.
pub fn matching_confirmation(cert: &Certificate) -> ImportConfirmation {
    let issuer = CountryCode::new(&cert.number[..2]).expect("issuer prefix");
    ImportConfirmation {
        certificate: cert.number.clone(),
        exporter_participant: issuer,
        parcels: cert.parcels,
        carat_hundredths: cert.carat_hundredths,
        value_usd_cents: cert.value_usd_cents,
        received_on: cert.issued_on.add_days(3),
    }
}

/// The participant entry of `code` as [`test_charter`] writes it, its one
/// authority `mme` holding `roles`.
pub fn test_participant(code: &str, roles: Roles) -> ParticipantEntry {
    let author = AuthorId::new(code, "mme").expect("author");
    ParticipantEntry {
        code: author.participant,
        name: format!("Participant {code}"),
        authorities: vec![AuthorityEntry {
            name: AuthorityName::new("mme").expect("name"),
            title: format!("Diamond authority of {code}"),
            key: test_key(&author).public(),
            roles,
            next_key_digest: None,
        }],
        nodes: Vec::new(),
    }
}

/// Every role: issue, confirm and governance.
pub fn all_roles() -> Roles {
    Roles::of(&[
        Role::IssueCertificates,
        Role::ConfirmImports,
        Role::Governance,
    ])
}

/// Like [`test_charter`], but every authority also holds the governance
/// role, so that the Chair (the first code) can propose and others approve.
pub fn governed_charter(codes: &[&str]) -> Charter {
    charter_with_roles(codes, all_roles())
}
