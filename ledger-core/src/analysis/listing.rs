//! Lists of certificates: by participant, direction, status, period and
//! origin, with each one's corrected figures and where it stands (awaiting
//! confirmation, overdue, confirmed, voided).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{CertificateState, LedgerView};
use crate::event::EventId;
use crate::model::{CountryCode, Date, Origin};

/// Where a certificate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// Not voided, not confirmed by its destination, and its confirmation
    /// deadline (expiry plus the grace days) has not passed.
    AwaitingConfirmation,
    /// Not voided, not confirmed by its destination, and the deadline has
    /// passed (an `unconfirmed_export` finding when no one confirmed it).
    Overdue,
    /// Confirmed by its destination.
    Confirmed,
    /// Voided by its issuer.
    Voided,
}

impl CertificateStatus {
    pub const ALL: [CertificateStatus; 4] = [
        CertificateStatus::AwaitingConfirmation,
        CertificateStatus::Overdue,
        CertificateStatus::Confirmed,
        CertificateStatus::Voided,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::AwaitingConfirmation => "awaiting_confirmation",
            CertificateStatus::Overdue => "overdue",
            CertificateStatus::Confirmed => "confirmed",
            CertificateStatus::Voided => "voided",
        }
    }
}

impl fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertificateStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CertificateStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = CertificateStatus::ALL.iter().map(|k| k.as_str()).collect();
                format!("{s:?} is not a status; one of: {}", names.join(", "))
            })
    }
}

/// Which side of a trade the participant filter selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Certificates the participant issued.
    Exports,
    /// Certificates destined to the participant.
    Imports,
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "exports" => Ok(Direction::Exports),
            "imports" => Ok(Direction::Imports),
            _ => Err(format!(
                "{s:?} is not a direction; one of: exports, imports"
            )),
        }
    }
}

/// What to list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateQuery {
    /// Only certificates this participant issued or is the destination of.
    pub participant: Option<CountryCode>,
    /// With `participant`: only its exports, or only its imports.
    pub direction: Option<Direction>,
    pub status: Option<CertificateStatus>,
    /// Issued on or after this day.
    pub from: Option<Date>,
    /// Issued on or before this day.
    pub to: Option<Date>,
    /// Of rough diamonds from this participant (single origin, or named
    /// among mixed origins).
    pub origin: Option<CountryCode>,
    /// Today, for the confirmation deadline.
    pub now: Date,
    /// Days after expiry an importer has to confirm.
    pub grace_days: i32,
}

impl CertificateQuery {
    /// Everything, as of `now`, with the audit's default grace.
    pub fn new(now: Date) -> CertificateQuery {
        CertificateQuery {
            participant: None,
            direction: None,
            status: None,
            from: None,
            to: None,
            origin: None,
            now,
            grace_days: super::DEFAULT_CONFIRMATION_GRACE_DAYS,
        }
    }
}

/// One certificate in a list: its corrected figures and its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSummary {
    pub certificate: String,
    pub issuer: CountryCode,
    pub destination: CountryCode,
    pub origin: Origin,
    pub parcels: u32,
    pub carat_hundredths: u64,
    pub value_usd_cents: u64,
    pub issued_on: Date,
    pub expires_on: Date,
    /// The last day the destination may confirm before it is overdue.
    pub confirm_by: Date,
    pub status: CertificateStatus,
    /// The carats its destination confirmed, if it did.
    pub confirmed_carat_hundredths: Option<u64>,
    pub issue_event: EventId,
    /// Number of re-exported sources it lists (0 for a mine's export).
    pub sources: usize,
}

fn origin_names(o: &Origin, c: CountryCode) -> bool {
    match o {
        Origin::Single { country, .. } => *country == c,
        Origin::Mixed { countries } => countries.contains(&c),
    }
}

impl LedgerView {
    /// One certificate's summary as of `now` with `grace_days`; `None` for
    /// a number never issued.
    pub fn summary(
        &self,
        st: &CertificateState,
        now: Date,
        grace_days: i32,
    ) -> Option<CertificateSummary> {
        let primary = st.primary()?;
        let cert = &primary.effective;
        let confirmed = st.confirmation_by(cert.destination);
        let confirm_by = cert.expires_on.add_days(grace_days);
        let status = if st.is_voided() {
            CertificateStatus::Voided
        } else if confirmed.is_some() {
            CertificateStatus::Confirmed
        } else if now > confirm_by {
            CertificateStatus::Overdue
        } else {
            CertificateStatus::AwaitingConfirmation
        };
        Some(CertificateSummary {
            certificate: st.number.to_owned(),
            issuer: primary.event.participant(),
            destination: cert.destination,
            origin: cert.origin.clone(),
            parcels: cert.parcels,
            carat_hundredths: cert.carat_hundredths,
            value_usd_cents: cert.value_usd_cents,
            issued_on: cert.issued_on,
            expires_on: cert.expires_on,
            confirm_by,
            status,
            confirmed_carat_hundredths: confirmed.map(|c| c.confirmation.carat_hundredths),
            issue_event: primary.event.id,
            sources: cert.source_certificates.len(),
        })
    }

    /// The issued certificates the query selects, by issue date then
    /// number.
    pub fn list_certificates(&self, q: &CertificateQuery) -> Vec<CertificateSummary> {
        let mut out: Vec<CertificateSummary> = self
            .known_certs()
            .filter_map(|c| {
                // Cheap filters first, on the primary issue's facts.
                let (author, f) = self.primary_facts(c)?;
                let issuer = self.authors[author as usize].participant;
                let on = f.issued_on;
                if q.from.is_some_and(|d| on < d) || q.to.is_some_and(|d| on > d) {
                    return None;
                }
                if let Some(p) = q.participant {
                    let keep = match q.direction {
                        Some(Direction::Exports) => issuer == p,
                        Some(Direction::Imports) => f.destination == p,
                        None => issuer == p || f.destination == p,
                    };
                    if !keep {
                        return None;
                    }
                }
                let s = self.summary(&self.state(c), q.now, q.grace_days)?;
                if q.status.is_some_and(|w| s.status != w) {
                    return None;
                }
                if q.origin.is_some_and(|o| !origin_names(&s.origin, o)) {
                    return None;
                }
                Some(s)
            })
            .collect();
        out.sort_by(|a, b| (a.issued_on, &a.certificate).cmp(&(b.issued_on, &b.certificate)));
        out
    }
}
