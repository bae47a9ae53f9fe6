//! The KP's own vocabulary: participants, authorities, roles, dates, and the
//! KP certificate with every KPCS Annex I minimum element.
//!
//! No floats anywhere: carat weights are integer hundredths of a carat and
//! values integer US cents.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes::Digest;

// ---------------------------------------------------------------------------
// Country codes
// ---------------------------------------------------------------------------

/// An ISO 3166-1 alpha-2 code (`BW`, `ZA`, ...) or `EU` for the European
/// Union. Two ASCII capital letters; participants and non-participants alike
/// (an origin or destination may be a non-participant, which the audit flags).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn new(code: &str) -> Result<Self, String> {
        let b = code.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(CountryCode([b[0], b[1]]))
        } else {
            Err(format!(
                "`{code}` is not a country code: expected two capital letters (ISO 3166-1 alpha-2, or EU)"
            ))
        }
    }

    fn from_bytes(b: [u8; 2]) -> Result<Self, String> {
        if b.iter().all(u8::is_ascii_uppercase) {
            Ok(CountryCode(b))
        } else {
            Err(format!(
                "country code bytes {:02x}{:02x} are not two capital letters",
                b[0], b[1]
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII capitals by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn as_bytes(&self) -> [u8; 2] {
        self.0
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CountryCode::new(s)
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(self.as_str())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            CountryCode::new(&s).map_err(serde::de::Error::custom)
        } else {
            let b = <[u8; 2]>::deserialize(d)?;
            CountryCode::from_bytes(b).map_err(serde::de::Error::custom)
        }
    }
}

// ---------------------------------------------------------------------------
// Short names
// ---------------------------------------------------------------------------

/// Longest authority or observer name, in bytes.
pub const MAX_NAME_LEN: usize = 32;

fn check_short_name(kind: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a valid {kind} name: 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and '-', not starting with '-'"
        ))
    }
}

/// An authority's short name within its participant (`mme`, `customs`, ...).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AuthorityName(String);

impl AuthorityName {
    pub fn new(s: &str) -> Result<Self, String> {
        check_short_name("authority", s)?;
        Ok(AuthorityName(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AuthorityName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        check_short_name("authority", &s)?;
        Ok(AuthorityName(s))
    }
}

impl From<AuthorityName> for String {
    fn from(a: AuthorityName) -> String {
        a.0
    }
}

impl fmt::Display for AuthorityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AuthorityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An observer's short id (`wdc`, `csc`, `adpa`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObserverId(String);

impl ObserverId {
    pub fn new(s: &str) -> Result<Self, String> {
        check_short_name("observer", s)?;
        Ok(ObserverId(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ObserverId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        check_short_name("observer", &s)?;
        Ok(ObserverId(s))
    }
}

impl From<ObserverId> for String {
    fn from(a: ObserverId) -> String {
        a.0
    }
}

impl fmt::Display for ObserverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObserverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The author of a feed: one authority of one participant. Each author has
/// exactly one feed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuthorId {
    pub participant: CountryCode,
    pub authority: AuthorityName,
}

impl AuthorId {
    pub fn new(participant: &str, authority: &str) -> Result<Self, String> {
        Ok(AuthorId {
            participant: CountryCode::new(participant)?,
            authority: AuthorityName::new(authority)?,
        })
    }

    /// Stable byte key used by the store: 2 code bytes, 1 length byte, name.
    pub fn key_bytes(&self) -> Vec<u8> {
        let name = self.authority.as_str().as_bytes();
        let mut k = Vec::with_capacity(3 + name.len());
        k.extend_from_slice(&self.participant.as_bytes());
        k.push(name.len() as u8);
        k.extend_from_slice(name);
        k
    }
}

impl fmt::Display for AuthorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.participant, self.authority)
    }
}

impl fmt::Debug for AuthorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.participant, self.authority)
    }
}

impl FromStr for AuthorId {
    type Err = String;
    /// Parses `BW/mme`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (p, a) = s.split_once('/').ok_or_else(|| {
            format!("`{s}` is not an author: expected PARTICIPANT/AUTHORITY, e.g. BW/mme")
        })?;
        AuthorId::new(p, a)
    }
}

// ---------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------

/// What an authority may sign.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Role {
    /// Issue, void and correct KP certificates (the exporting authority).
    IssueCertificates,
    /// Confirm the receipt of imports (the importing authority).
    ConfirmImports,
    /// Propose and approve governance decisions.
    Governance,
}

impl Role {
    const ALL: [Role; 3] = [
        Role::IssueCertificates,
        Role::ConfirmImports,
        Role::Governance,
    ];

    fn bit(self) -> u8 {
        match self {
            Role::IssueCertificates => 1,
            Role::ConfirmImports => 2,
            Role::Governance => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::IssueCertificates => "issue",
            Role::ConfirmImports => "confirm",
            Role::Governance => "governance",
        }
    }

    pub fn from_name(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown role `{s}`: expected issue, confirm or governance"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of roles: one byte on the wire (bit 0 issue, bit 1 confirm, bit 2
/// governance; other bits must be zero); a list of names in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Roles(u8);

impl Roles {
    pub const NONE: Roles = Roles(0);

    pub fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |acc, r| acc | r.bit()))
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    fn from_bits(b: u8) -> Result<Roles, String> {
        if b & !0b111 != 0 {
            Err(format!("role bits {b:#04x} name an unknown role"))
        } else {
            Ok(Roles(b))
        }
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(Role::name)).finish()
    }
}

impl Serialize for Roles {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let names: Vec<&str> = self.iter().map(Role::name).collect();
            names.serialize(s)
        } else {
            s.serialize_u8(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Roles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let names = Vec::<String>::deserialize(d)?;
            let mut roles = Vec::new();
            for n in &names {
                roles.push(Role::from_name(n).map_err(serde::de::Error::custom)?);
            }
            Ok(Roles::of(&roles))
        } else {
            Roles::from_bits(u8::deserialize(d)?).map_err(serde::de::Error::custom)
        }
    }
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

/// A calendar date (proleptic Gregorian, UTC), stored as the number of days
/// since 1970-01-01 (`i32`); written `YYYY-MM-DD` in JSON. Every `i32` is a date,
/// so the binary form has no invalid values.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl Date {
    pub fn from_days(days: i32) -> Date {
        Date(days)
    }

    pub fn days(self) -> i32 {
        self.0
    }

    pub fn from_ymd(y: i32, m: u32, d: u32) -> Result<Date, String> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return Err(format!("{y:04}-{m:02}-{d:02} is not a calendar date"));
        }
        if !(1..=9999).contains(&y) {
            return Err(format!("year {y} is out of range 1..=9999"));
        }
        Ok(Date(days_from_civil(y, m, d)))
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// The date of a Unix timestamp in milliseconds.
    pub fn from_unix_ms(ms: u64) -> Date {
        Date((ms / 86_400_000) as i32)
    }

    pub fn add_days(self, n: i32) -> Date {
        Date(self.0.saturating_add(n))
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's civil-from-days algorithms.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp as i32 + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z as i64 + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (y as i32, m, d)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Date, String> {
        let bad = || format!("`{s}` is not a date: expected YYYY-MM-DD");
        let mut it = s.splitn(3, '-');
        let (y, m, d) = (
            it.next().ok_or_else(bad)?,
            it.next().ok_or_else(bad)?,
            it.next().ok_or_else(bad)?,
        );
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let y: i32 = y.parse().map_err(|_| bad())?;
        let m: u32 = m.parse().map_err(|_| bad())?;
        let d: u32 = d.parse().map_err(|_| bad())?;
        Date::from_ymd(y, m, d)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            s.serialize_i32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            Ok(Date(i32::deserialize(d)?))
        }
    }
}

// ---------------------------------------------------------------------------
// The certificate
// ---------------------------------------------------------------------------

/// A Harmonized System code of chapter 7102 (rough diamonds), as six digits:
/// `710210` unsorted, `710221` industrial, `710231` non-industrial. Written
/// `7102.10` in JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HsCode(pub u32);

impl HsCode {
    pub const UNSORTED: HsCode = HsCode(710_210);
    pub const INDUSTRIAL: HsCode = HsCode(710_221);
    pub const NON_INDUSTRIAL: HsCode = HsCode(710_231);
    pub const ALLOWED: [HsCode; 3] = [HsCode::UNSORTED, HsCode::INDUSTRIAL, HsCode::NON_INDUSTRIAL];
}

impl fmt::Display for HsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for HsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for HsCode {
    type Err = String;
    /// Accepts `7102.10` or `710210`.
    fn from_str(s: &str) -> Result<HsCode, String> {
        let digits: String = s.chars().filter(|c| *c != '.').collect();
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "`{s}` is not an HS code: expected six digits such as 7102.31"
            ));
        }
        Ok(HsCode(
            digits
                .parse()
                .map_err(|_| format!("`{s}` is not an HS code"))?,
        ))
    }
}

impl Serialize for HsCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            s.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for HsCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            Ok(HsCode(u32::deserialize(d)?))
        }
    }
}

/// An exporter or importer as named on the certificate.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub name: String,
    pub address: String,
}

/// Where the stones of a shipment were mined.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Origin {
    /// Unmixed origin: one country, and optionally the sub-national zone of
    /// origin (needed where a suspension is partial, e.g. CAR's compliant zones).
    Single {
        country: CountryCode,
        zone: Option<String>,
    },
    /// Mixed origin, with the list of countries of origin when known (may be
    /// empty when the issuer does not know it).
    Mixed { countries: Vec<CountryCode> },
}

/// An origin as people write it: `BW`, `CD (Kasai)`, `mixed (BW, ZA)`,
/// `mixed`.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Single {
                country,
                zone: Some(z),
            } => write!(f, "{country} ({z})"),
            Origin::Single { country, .. } => write!(f, "{country}"),
            Origin::Mixed { countries } if countries.is_empty() => f.write_str("mixed"),
            Origin::Mixed { countries } => {
                let c: Vec<&str> = countries.iter().map(CountryCode::as_str).collect();
                write!(f, "mixed ({})", c.join(", "))
            }
        }
    }
}

/// A KP certificate: the KPCS Annex I minimum elements. The issuing
/// participant and authority are the event's author; the authority's
/// signature is the "validation by the exporting authority" (element 12).
///
/// Its JSON form refuses unknown fields (a misspelt `carats` is an error,
/// not a field silently dropped before signing).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// Unique number carrying the issuer's alpha-2 code as its prefix, e.g.
    /// `BW-2026-000123` (element 3).
    pub number: String,
    /// Country of origin, or mixed origin (element 2).
    pub origin: Origin,
    /// Date of issuance (element 4).
    pub issued_on: Date,
    /// Date of expiry (element 5).
    pub expires_on: Date,
    /// The issuing authority's name as printed (element 6).
    pub issuing_authority: String,
    /// Exporter (element 7).
    pub exporter: Party,
    /// Importer (element 7).
    pub importer: Party,
    /// The importing participant, who must confirm receipt.
    pub destination: CountryCode,
    /// Carat weight in hundredths of a carat (element 8).
    pub carat_hundredths: u64,
    /// Value in US cents (element 9).
    pub value_usd_cents: u64,
    /// Number of parcels in the shipment (element 10).
    pub parcels: u32,
    /// HS codes of the shipment (element 11).
    pub hs_codes: Vec<HsCode>,
    /// For a re-export: the numbers of the certificates under which the stones
    /// were imported (lineage across trading hubs). Empty for a mine's export.
    pub source_certificates: Vec<String>,
}

/// Why a certificate was voided.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidReason {
    Cancelled,
    Lost,
    Stolen,
    Seized,
}

/// One endorsed correction of one field of a certificate.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    Exporter(Party),
    Importer(Party),
    CaratHundredths(u64),
    ValueUsdCents(u64),
    Parcels(u32),
    ExpiresOn(Date),
    HsCodes(Vec<HsCode>),
    Origin(Origin),
    Destination(CountryCode),
}

impl Correction {
    pub fn field(&self) -> &'static str {
        match self {
            Correction::Exporter(_) => "exporter",
            Correction::Importer(_) => "importer",
            Correction::CaratHundredths(_) => "carat_hundredths",
            Correction::ValueUsdCents(_) => "value_usd_cents",
            Correction::Parcels(_) => "parcels",
            Correction::ExpiresOn(_) => "expires_on",
            Correction::HsCodes(_) => "hs_codes",
            Correction::Origin(_) => "origin",
            Correction::Destination(_) => "destination",
        }
    }
}

/// What an event says. New kinds are only ever appended (the variant index
/// is part of the signed bytes).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventBody {
    /// 0: the author issued a KP certificate for an export.
    CertificateIssued(Certificate),
    /// 1: the author (an importing authority) confirms receipt of a shipment.
    ImportConfirmed(ImportConfirmation),
    /// 2: the issuer voids one of its certificates.
    CertificateVoided {
        certificate: String,
        reason: VoidReason,
        note: String,
    },
    /// 3: the issuer endorses a correction of one field of its certificate.
    CertificateCorrected {
        certificate: String,
        /// Id of the `CertificateIssued` event being corrected.
        original: Digest,
        correction: Correction,
        note: String,
    },
    /// 4: the authority's signing key changes. Signed by the key in force
    /// before the rotation; `new_key` signs every later event of this feed.
    AuthorityKeyRotated {
        new_key: crate::bytes::PublicKeyBytes,
        /// Commitment to the key after this one: SHA-256 of its 32 bytes
        /// (pre-rotation); `None` when the authority makes no commitment.
        next_key_digest: Option<Digest>,
    },
    /// 5: the Chair's governance authority proposes a membership decision.
    GovernanceProposed(crate::governance::Proposal),
    /// 6: a participant's governance authority approves a proposal.
    GovernanceApproved {
        /// Id of the `GovernanceProposed` event approved.
        proposal: Digest,
        note: String,
    },
}

/// The import confirmation: what the importing authority received. Its
/// JSON form refuses unknown fields.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportConfirmation {
    /// Number of the certificate the shipment travelled under.
    pub certificate: String,
    /// The exporting participant named by the certificate.
    pub exporter_participant: CountryCode,
    pub parcels: u32,
    pub carat_hundredths: u64,
    pub value_usd_cents: u64,
    pub received_on: Date,
}

impl EventBody {
    /// The kind of event, as a stable snake_case word.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::CertificateIssued(_) => "certificate_issued",
            EventBody::ImportConfirmed(_) => "import_confirmed",
            EventBody::CertificateVoided { .. } => "certificate_voided",
            EventBody::CertificateCorrected { .. } => "certificate_corrected",
            EventBody::AuthorityKeyRotated { .. } => "authority_key_rotated",
            EventBody::GovernanceProposed(_) => "governance_proposed",
            EventBody::GovernanceApproved { .. } => "governance_approved",
        }
    }

    /// The certificate number this event is about, if any.
    pub fn certificate_number(&self) -> Option<&str> {
        match self {
            EventBody::CertificateIssued(c) => Some(&c.number),
            EventBody::ImportConfirmed(c) => Some(&c.certificate),
            EventBody::CertificateVoided { certificate, .. } => Some(certificate),
            EventBody::CertificateCorrected { certificate, .. } => Some(certificate),
            EventBody::AuthorityKeyRotated { .. }
            | EventBody::GovernanceProposed(_)
            | EventBody::GovernanceApproved { .. } => None,
        }
    }

    /// Whether this is a governance event (a proposal or an approval).
    pub fn is_governance(&self) -> bool {
        matches!(
            self,
            EventBody::GovernanceProposed(_) | EventBody::GovernanceApproved { .. }
        )
    }

    /// The role its author must hold.
    pub fn required_role(&self) -> Option<Role> {
        match self {
            EventBody::CertificateIssued(_)
            | EventBody::CertificateVoided { .. }
            | EventBody::CertificateCorrected { .. } => Some(Role::IssueCertificates),
            EventBody::ImportConfirmed(_) => Some(Role::ConfirmImports),
            EventBody::GovernanceProposed(_) | EventBody::GovernanceApproved { .. } => {
                Some(Role::Governance)
            }
            EventBody::AuthorityKeyRotated { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_as_people_write_them() {
        let bw = CountryCode::new("BW").unwrap();
        let za = CountryCode::new("ZA").unwrap();
        let single = |zone: Option<&str>| Origin::Single {
            country: bw,
            zone: zone.map(str::to_owned),
        };
        assert_eq!(single(None).to_string(), "BW");
        assert_eq!(single(Some("Orapa")).to_string(), "BW (Orapa)");
        let mixed = |countries| Origin::Mixed { countries };
        assert_eq!(mixed(vec![bw, za]).to_string(), "mixed (BW, ZA)");
        assert_eq!(mixed(vec![]).to_string(), "mixed");
    }
}
