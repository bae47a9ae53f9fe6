//! `kpl certificates`: certificates by participant, direction, status,
//! period and origin, with where each one stands.

use clap::Args;
use ledger_core::analysis::{
    CertificateQuery, CertificateStatus, CertificateSummary, Direction, LedgerView,
};
use ledger_core::{CountryCode, Date};
use serde_json::{json, Value};

use crate::analysis::{finish, now_ms, open_view, partial_json, with_partial, Offline};
use crate::client::{enc, Client};
use crate::fmt::{amount, csv_line, CmdResult, Failure, Table, OK};

#[derive(Args)]
pub struct CertificatesArgs {
    /// Only certificates this participant issued or is the destination of.
    #[arg(long)]
    pub participant: Option<String>,
    /// With --participant: `exports` (it issued them) or `imports` (destined to it).
    #[arg(long, requires = "participant", value_parser = ["exports", "imports"])]
    pub direction: Option<String>,
    /// awaiting_confirmation, overdue, confirmed or voided.
    #[arg(long, value_parser = ["awaiting_confirmation", "overdue", "confirmed", "voided"])]
    pub status: Option<String>,
    /// Issued on or after this day (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Issued on or before this day (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Of rough diamonds from this participant (single or among mixed origins).
    #[arg(long)]
    pub origin: Option<String>,
    /// Days after expiry an importer has to confirm.
    #[arg(long, default_value_t = 30)]
    pub grace_days: i32,
    /// At most this many (1 to 10000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// CSV for spreadsheets, amounts in plain decimals.
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub offline: Offline,
}

fn code(field: &str, v: &Option<String>) -> Result<Option<CountryCode>, Failure> {
    v.as_deref()
        .map(|s| {
            CountryCode::new(&s.to_ascii_uppercase())
                .map_err(|e| Failure::usage(format!("--{field}: {e}")))
        })
        .transpose()
}

fn day(field: &str, v: &Option<String>) -> Result<Option<Date>, Failure> {
    v.as_deref()
        .map(|s| {
            s.parse::<Date>()
                .map_err(|e| Failure::usage(format!("--{field}: {e} (a day is YYYY-MM-DD)")))
        })
        .transpose()
}

/// Where a certificate stands, in words.
pub fn status_text(s: CertificateStatus) -> &'static str {
    match s {
        CertificateStatus::AwaitingConfirmation => "awaiting confirmation",
        CertificateStatus::Overdue => "overdue",
        CertificateStatus::Confirmed => "confirmed",
        CertificateStatus::Voided => "voided",
    }
}

pub fn certificates(c: &Client, a: &CertificatesArgs, json_out: bool) -> CmdResult {
    let mut q = CertificateQuery::new(Date::from_unix_ms(now_ms()));
    q.participant = code("participant", &a.participant)?;
    q.origin = code("origin", &a.origin)?;
    q.direction = a
        .direction
        .as_deref()
        .map(str::parse::<Direction>)
        .transpose()?;
    q.status = a
        .status
        .as_deref()
        .map(str::parse::<CertificateStatus>)
        .transpose()?;
    q.from = day("from", &a.from)?;
    q.to = day("to", &a.to)?;
    q.grace_days = a.grace_days;
    let limit = a.limit as usize;
    let (list, total, partial): (Vec<CertificateSummary>, usize, Option<Value>) =
        match &a.offline.data_dir {
            Some(d) => {
                let v: LedgerView = open_view(d)?;
                let mut all = v.list_certificates(&q);
                let total = all.len();
                all.truncate(limit);
                (all, total, partial_json(&v))
            }
            None => {
                let mut query = format!("grace_days={}&limit={limit}", a.grace_days);
                let mut add = |k: &str, v: Option<String>| {
                    if let Some(v) = v {
                        query.push_str(&format!("&{k}={}", enc(&v)));
                    }
                };
                add("participant", q.participant.map(|p| p.to_string()));
                add("direction", a.direction.clone());
                add("status", a.status.clone());
                add("from", q.from.map(|d| d.to_string()));
                add("to", q.to.map(|d| d.to_string()));
                add("origin", q.origin.map(|p| p.to_string()));
                let r = c.call(|n| n.certificates(&query))?;
                (
                    r.answer.certificates,
                    r.answer.total as usize,
                    r.partial.map(|p| json!(p)),
                )
            }
        };
    if json_out {
        println!(
            "{}",
            with_partial(
                json!({"certificates": list, "total": total, "listed": list.len()}),
                &partial
            )
        );
        return finish(&partial, &a.offline, OK);
    }
    let header = [
        "CERTIFICATE",
        "FROM",
        "TO",
        "ORIGIN",
        "CARATS (ct)",
        "VALUE (US$)",
        "ISSUED",
        "CONFIRM BY",
        "STATUS",
    ];
    let cells = |s: &CertificateSummary| -> Vec<String> {
        vec![
            s.certificate.clone(),
            s.issuer.to_string(),
            s.destination.to_string(),
            s.origin.to_string(),
            amount(s.carat_hundredths),
            amount(s.value_usd_cents),
            s.issued_on.to_string(),
            s.confirm_by.to_string(),
            status_text(s.status).to_owned(),
        ]
    };
    if a.csv {
        let mut out = csv_line(&header.map(|h| h.to_owned()));
        for s in &list {
            let mut row = cells(s);
            // Plain decimals for spreadsheets.
            row[4] = plain(s.carat_hundredths);
            row[5] = plain(s.value_usd_cents);
            out.push_str(&csv_line(&row));
        }
        print!("{out}");
    } else if list.is_empty() {
        println!("no certificates match");
    } else {
        let mut t = Table::new(&header).right_align(&[4, 5]);
        for s in &list {
            t.row(cells(s));
        }
        print!("{}", t.render());
        if total > list.len() {
            println!(
                "\n{} of {total} certificates shown; narrow the filters or raise --limit",
                list.len()
            );
        } else {
            println!("\n{total} {}", plural(total, "certificate", "certificates"));
        }
    }
    finish(&partial, &a.offline, OK)
}

fn plain(hundredths: u64) -> String {
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// `1 certificate`, `2 certificates`.
pub fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_plurals_as_people_write_them() {
        assert_eq!(plain(1_234_567), "12345.67");
        assert_eq!(plural(1, "a", "b"), "a");
    }
}
