//! Trade statistics as the KP reports them (quarterly: carats, US$ and
//! certificate counts per participant) and the **mirror table**, the check
//! the KP statistics were designed for: what A recorded exporting to B
//! beside what B confirmed importing from A.
//!
//! Rules (documented interface):
//! - **Exports** of a participant: the certificates it issued (author of the
//!   primary issue) whose issue date falls in the period, with their
//!   corrected carats and value. **Voided certificates are excluded**: a
//!   voided certificate did not cover a shipment (cancelled) or the
//!   shipment was lost, stolen or seized. A number issued twice counts once.
//! - **Imports** of a participant: its current confirmations (see the module
//!   documentation of [`crate::analysis`]) whose received date falls in the
//!   period, whatever the state of the certificate (a confirmation of an
//!   unknown or voided certificate is still something the importer
//!   recorded; the audit flags it). `certificates` counts confirmations.
//! - **Mirror** rows pair exports by destination (the corrected
//!   destination) with imports by the exporter the confirmation names.
//!   Differences are `exports - imports`, signed. Because exports are dated
//!   by issue and imports by receipt, a shipment crossing the end of a
//!   period shows as a difference in both periods.
//! - **Membership.** A participant is listed for a period when it was a
//!   participant (in good standing or suspended) on at least one day of it,
//!   per the governance timeline; its `membership` spans say how it stood
//!   on each day of the period. Events signed when their author could not
//!   sign (before admission, after expulsion) are not in the view at all
//!   (see [`super::RefusedEvent`]), so a participant's figures only cover
//!   the days it was a participant.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{Kind, LedgerView};
use crate::governance::Standing;
use crate::model::{CountryCode, Date};

/// A calendar year or one quarter of it, as inclusive dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub year: i32,
    /// 1 to 4, or `None` for the whole year.
    pub quarter: Option<u8>,
    /// First day, inclusive.
    pub from: Date,
    /// Last day, inclusive.
    pub to: Date,
}

impl Period {
    /// The year `year` (1..=9999), or its quarter `quarter` (1..=4).
    pub fn new(year: i32, quarter: Option<u8>) -> Result<Period, String> {
        let (m1, m2) = match quarter {
            None => (1, 12),
            Some(q @ 1..=4) => (3 * q as u32 - 2, 3 * q as u32),
            Some(q) => return Err(format!("quarter {q} is not 1, 2, 3 or 4")),
        };
        let from = Date::from_ymd(year, m1, 1)?;
        let last = if m2 == 12 {
            Date::from_ymd(year, 12, 31)?
        } else {
            Date::from_ymd(year, m2 + 1, 1)?.add_days(-1)
        };
        Ok(Period {
            year,
            quarter,
            from,
            to: last,
        })
    }

    pub fn contains(&self, d: Date) -> bool {
        self.from <= d && d <= self.to
    }
}

/// Carats, value and certificate count.
///
/// Sums are exact: a sum that would not fit in a `u64` sets `overflow`
/// (and the figure stays at `u64::MAX`), so an answer is never silently
/// wrong. Each certificate is bounded (`validate::MAX_CARAT_HUNDREDTHS`,
/// `validate::MAX_VALUE_USD_CENTS`), so only a ledger of at least 184,467
/// certificates at the maximum value can overflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeFigures {
    pub certificates: u64,
    pub carat_hundredths: u64,
    pub value_usd_cents: u64,
    /// A sum did not fit in a `u64`: these figures are not exact.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overflow: bool,
}

fn sum(total: &mut u64, v: u64, overflow: &mut bool) {
    match total.checked_add(v) {
        Some(t) => *total = t,
        None => {
            *total = u64::MAX;
            *overflow = true;
        }
    }
}

impl TradeFigures {
    fn add(&mut self, carats: u64, cents: u64) {
        sum(&mut self.certificates, 1, &mut self.overflow);
        sum(&mut self.carat_hundredths, carats, &mut self.overflow);
        sum(&mut self.value_usd_cents, cents, &mut self.overflow);
    }

    fn add_all(&mut self, o: &TradeFigures) {
        self.overflow |= o.overflow;
        sum(&mut self.certificates, o.certificates, &mut self.overflow);
        sum(
            &mut self.carat_hundredths,
            o.carat_hundredths,
            &mut self.overflow,
        );
        sum(
            &mut self.value_usd_cents,
            o.value_usd_cents,
            &mut self.overflow,
        );
    }

    fn csv(&self, out: &mut String) {
        let _ = write!(
            out,
            "{},{},{}",
            self.certificates, self.carat_hundredths, self.value_usd_cents
        );
    }
}

/// How a participant stood for a run of days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingSpan {
    /// First day, inclusive.
    pub from: Date,
    /// Last day, inclusive.
    pub to: Date,
    /// `member`, `suspended`, `expelled` or `not_admitted`.
    pub standing: String,
    /// For a partial suspension: the zones still allowed to export.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exporting_zones: Vec<String>,
}

/// One participant's trade in the period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantTrade {
    pub participant: CountryCode,
    pub exports: TradeFigures,
    pub imports: TradeFigures,
    /// How it stood over the period, day by day in runs.
    pub membership: Vec<StandingSpan>,
}

/// One ordered pair: `exporter`'s recorded exports to `importer` beside
/// `importer`'s confirmed imports from `exporter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorRow {
    pub exporter: CountryCode,
    pub importer: CountryCode,
    pub exports: TradeFigures,
    pub imports: TradeFigures,
    /// `exports.certificates - imports.certificates`.
    pub diff_certificates: i64,
    /// `exports.carat_hundredths - imports.carat_hundredths`.
    pub diff_carat_hundredths: i64,
    /// `exports.value_usd_cents - imports.value_usd_cents`.
    pub diff_value_usd_cents: i64,
    /// A figure or a difference did not fit: this row is not exact.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overflow: bool,
}

/// Statistics of one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeStats {
    pub period: Period,
    /// Every charter participant (zeros included) and anyone else with
    /// trade in the period, by code.
    pub participants: Vec<ParticipantTrade>,
    /// Every pair with trade on either side, by (exporter, importer).
    pub mirror: Vec<MirrorRow>,
    /// Sums over `participants`.
    pub total_exports: TradeFigures,
    pub total_imports: TradeFigures,
}

/// Column names of [`TradeStats::participants_to_csv`].
pub const PARTICIPANTS_CSV_HEADER: &str = "participant,export_certificates,export_carat_hundredths,export_value_usd_cents,import_certificates,import_carat_hundredths,import_value_usd_cents";

/// Column names of [`TradeStats::mirror_to_csv`].
pub const MIRROR_CSV_HEADER: &str = "exporter,importer,export_certificates,export_carat_hundredths,export_value_usd_cents,import_certificates,import_carat_hundredths,import_value_usd_cents,diff_certificates,diff_carat_hundredths,diff_value_usd_cents";

/// `a - b`, and whether it had to be clamped to fit in an `i64`.
fn diff(a: u64, b: u64) -> (i64, bool) {
    let d = a as i128 - b as i128;
    match i64::try_from(d) {
        Ok(d) => (d, false),
        Err(_) => (if d < 0 { i64::MIN } else { i64::MAX }, true),
    }
}

impl TradeStats {
    /// The per-participant table as CSV (header [`PARTICIPANTS_CSV_HEADER`],
    /// integer hundredths of a carat and US cents, `\n` line ends).
    pub fn participants_to_csv(&self) -> String {
        let mut out = String::from(PARTICIPANTS_CSV_HEADER);
        out.push('\n');
        for p in &self.participants {
            let _ = write!(out, "{},", p.participant);
            p.exports.csv(&mut out);
            out.push(',');
            p.imports.csv(&mut out);
            out.push('\n');
        }
        out
    }

    /// The mirror table as CSV (header [`MIRROR_CSV_HEADER`]).
    pub fn mirror_to_csv(&self) -> String {
        let mut out = String::from(MIRROR_CSV_HEADER);
        out.push('\n');
        for r in &self.mirror {
            let _ = write!(out, "{},{},", r.exporter, r.importer);
            r.exports.csv(&mut out);
            out.push(',');
            r.imports.csv(&mut out);
            let _ = writeln!(
                out,
                ",{},{},{}",
                r.diff_certificates, r.diff_carat_hundredths, r.diff_value_usd_cents
            );
        }
        out
    }
}

impl LedgerView {
    /// Statistics for `year`, or one quarter (1..=4) of it. An invalid year
    /// or quarter gives empty tables for a period with no days (`from` after
    /// `to`); use [`Period::new`] to validate input first.
    pub fn stats(&self, year: i32, quarter: Option<u8>) -> TradeStats {
        let period = Period::new(year, quarter).unwrap_or(Period {
            year,
            quarter,
            from: Date::from_days(1),
            to: Date::from_days(0),
        });
        self.stats_for(period)
    }

    /// How `code` stood on each day of `period`, in runs of equal standing.
    pub fn standing_spans(&self, code: CountryCode, period: Period) -> Vec<StandingSpan> {
        let mut out: Vec<StandingSpan> = Vec::new();
        if period.from > period.to {
            return out;
        }
        let periods: Vec<(Option<Date>, &crate::governance::Membership)> =
            self.timeline.periods().collect();
        for (i, (start, m)) in periods.iter().enumerate() {
            let from = start.map_or(period.from, |d| d.max(period.from));
            let to = periods
                .get(i + 1)
                .and_then(|(next, _)| *next)
                .map_or(period.to, |d| d.add_days(-1).min(period.to));
            if from > to {
                continue;
            }
            let (standing, zones) = match m.participant(code).map(|r| &r.standing) {
                None => ("not_admitted", Vec::new()),
                Some(Standing::Member) => ("member", Vec::new()),
                Some(Standing::Suspended { exporting_zones }) => {
                    ("suspended", exporting_zones.clone())
                }
                Some(Standing::Expelled) => ("expelled", Vec::new()),
            };
            match out.last_mut() {
                Some(last)
                    if last.standing == standing
                        && last.exporting_zones == zones
                        && last.to.add_days(1) == from =>
                {
                    last.to = to
                }
                _ => out.push(StandingSpan {
                    from,
                    to,
                    standing: standing.to_owned(),
                    exporting_zones: zones,
                }),
            }
        }
        out
    }

    /// Statistics for a period.
    pub fn stats_for(&self, period: Period) -> TradeStats {
        let mut parts: BTreeMap<CountryCode, ParticipantTrade> = self
            .participants
            .iter()
            .filter_map(|&p| {
                let membership = self.standing_spans(p, period);
                let listed = membership
                    .iter()
                    .any(|s| s.standing == "member" || s.standing == "suspended");
                listed.then(|| {
                    (
                        p,
                        ParticipantTrade {
                            participant: p,
                            exports: TradeFigures::default(),
                            imports: TradeFigures::default(),
                            membership,
                        },
                    )
                })
            })
            .collect();
        let mut pairs: BTreeMap<(CountryCode, CountryCode), (TradeFigures, TradeFigures)> =
            BTreeMap::new();
        let entry = |parts: &mut BTreeMap<CountryCode, ParticipantTrade>, p: CountryCode| {
            parts.entry(p).or_insert_with(|| ParticipantTrade {
                participant: p,
                exports: TradeFigures::default(),
                imports: TradeFigures::default(),
                membership: self.standing_spans(p, period),
            });
        };
        for cert in self.known_certs() {
            let list = self.cert_events[cert as usize].as_slice();
            let voided = list
                .iter()
                .any(|&i| self.events[i as usize].kind == Kind::Void);
            if let Some((author, c)) = self.primary_facts(cert) {
                if !voided && period.contains(c.issued_on) {
                    let issuer = self.authors[author as usize].participant;
                    entry(&mut parts, issuer);
                    if let Some(p) = parts.get_mut(&issuer) {
                        p.exports.add(c.carat_hundredths, c.value_usd_cents);
                    }
                    pairs
                        .entry((issuer, c.destination))
                        .or_default()
                        .0
                        .add(c.carat_hundredths, c.value_usd_cents);
                }
            }
            for &i in list {
                let e = &self.events[i as usize];
                // Only current confirmations (not superseded) count.
                if e.kind != Kind::Confirmation {
                    continue;
                }
                let c = &self.confirmations[e.rec as usize];
                if !period.contains(c.received_on) {
                    continue;
                }
                let importer = self.authors[e.author as usize].participant;
                entry(&mut parts, importer);
                if let Some(p) = parts.get_mut(&importer) {
                    p.imports.add(c.carat_hundredths, c.value_usd_cents);
                }
                pairs
                    .entry((c.exporter_participant, importer))
                    .or_default()
                    .1
                    .add(c.carat_hundredths, c.value_usd_cents);
            }
        }
        let participants: Vec<ParticipantTrade> = parts.into_values().collect();
        let mut total_exports = TradeFigures::default();
        let mut total_imports = TradeFigures::default();
        for p in &participants {
            total_exports.add_all(&p.exports);
            total_imports.add_all(&p.imports);
        }
        let mirror = pairs
            .into_iter()
            .map(
                |((exporter, importer), (exports, imports)): (_, (TradeFigures, TradeFigures))| {
                    let c = diff(exports.certificates, imports.certificates);
                    let k = diff(exports.carat_hundredths, imports.carat_hundredths);
                    let v = diff(exports.value_usd_cents, imports.value_usd_cents);
                    let overflow = exports.overflow || imports.overflow || c.1 || k.1 || v.1;
                    MirrorRow {
                        exporter,
                        importer,
                        diff_certificates: c.0,
                        diff_carat_hundredths: k.0,
                        diff_value_usd_cents: v.0,
                        exports,
                        imports,
                        overflow,
                    }
                },
            )
            .collect();
        TradeStats {
            period,
            participants,
            mirror,
            total_exports,
            total_imports,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_that_do_not_fit_are_flagged_not_saturated_silently() {
        let mut f = TradeFigures::default();
        f.add(u64::MAX - 1, 1);
        assert!(!f.overflow);
        f.add(2, 1);
        assert!(f.overflow, "carats beyond u64 must be flagged");
        let mut total = TradeFigures::default();
        total.add_all(&f);
        assert!(total.overflow, "a total of an inexact figure is inexact");

        let mut g = TradeFigures::default();
        g.add(1, u64::MAX);
        g.add(1, 1);
        assert!(g.overflow, "value beyond u64 must be flagged");
        assert_eq!(diff(u64::MAX, 0), (i64::MAX, true));
        assert_eq!(diff(0, u64::MAX), (i64::MIN, true));
        assert_eq!(diff(5, 7), (-2, false));
    }
}
