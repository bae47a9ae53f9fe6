//! The home page: search certificates by number (exact), by participant
//! (exporter or importer) and by period, listed as the analysis lists them
//! (`LedgerView::list_certificates`), each linking to its page.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use ledger_core::analysis::{
    CertificateQuery, CertificateStatus, CertificateSummary, Direction, Period,
};
use ledger_core::CountryCode;

use super::html::{self, cert_link, esc, pct, Params, Table};
use super::{analysed, partial_note, Page, PageError, MAX_NUMBER};
use crate::service::{today, Node};

/// Most rows one result page lists (the total is said).
pub const MAX_ROWS: usize = 500;
/// Rows the home page lists before any search: the latest issues.
pub const LATEST: usize = 50;

/// Why a number searched for is not listed.
enum Hint {
    /// It was issued, but the other fields exclude it.
    Filtered(String),
    /// Given in lowercase; the uppercase form is in the ledger.
    Uppercase(String),
    /// Events name it, but nobody issued it.
    NeverIssued(String),
}

/// What was asked.
struct Search {
    number: Option<String>,
    participant: Option<CountryCode>,
    direction: Option<Direction>,
    status: Option<CertificateStatus>,
    year: Option<i32>,
    quarter: Option<u8>,
}

fn parse(p: &Params) -> Result<Search, PageError> {
    let number = p.get("number").map(str::to_owned);
    if number.as_ref().is_some_and(|n| n.len() > MAX_NUMBER) {
        return Err(PageError::bad(format!(
            "certificate numbers are at most {MAX_NUMBER} characters"
        )));
    }
    let participant = p
        .get("participant")
        .map(|c| {
            CountryCode::new(&c.to_ascii_uppercase())
                .map_err(|e| PageError::bad(format!("participant: {e}")))
        })
        .transpose()?;
    let direction = match p.get("direction") {
        None | Some("any") => None,
        Some(d) => Some(d.parse::<Direction>().map_err(PageError::bad)?),
    };
    if direction.is_some() && participant.is_none() {
        return Err(PageError::bad(
            "a direction (exports or imports) needs a participant",
        ));
    }
    let status = p
        .get("status")
        .map(|s| s.parse::<CertificateStatus>().map_err(PageError::bad))
        .transpose()?;
    let year = p
        .get("year")
        .map(|y| {
            y.parse::<i32>()
                .ok()
                .filter(|y| (1..=9999).contains(y))
                .ok_or_else(|| PageError::bad(format!("year {y:?} is not a year (1 to 9999)")))
        })
        .transpose()?;
    let quarter = match p.get("quarter") {
        None | Some("all") => None,
        Some(q) => Some(
            q.parse::<u8>()
                .ok()
                .filter(|q| (1..=4).contains(q))
                .ok_or_else(|| PageError::bad("a quarter is 1, 2, 3 or 4"))?,
        ),
    };
    if quarter.is_some() && year.is_none() {
        return Err(PageError::bad("a quarter needs a year"));
    }
    Ok(Search {
        number,
        participant,
        direction,
        status,
        year,
        quarter,
    })
}

fn selected(cond: bool) -> &'static str {
    if cond {
        " selected"
    } else {
        ""
    }
}

fn form(s: &Search) -> String {
    let mut out = String::from("<form class=\"search\" method=\"get\" action=\"/explorer\">");
    let _ = write!(
        out,
        "<label>Certificate number <input name=\"number\" id=\"number\" maxlength=\"{MAX_NUMBER}\" placeholder=\"BW-2026-000123\" value=\"{}\"></label>",
        esc(s.number.as_deref().unwrap_or(""))
    );
    let _ = write!(
        out,
        "<label>Participant <input name=\"participant\" id=\"participant\" maxlength=\"2\" size=\"3\" placeholder=\"BW\" value=\"{}\"></label>",
        s.participant.map(|c| c.to_string()).unwrap_or_default()
    );
    let d = s.direction;
    let _ = write!(
        out,
        "<label>as <select name=\"direction\" id=\"direction\"><option value=\"any\">exporter or importer</option>\
         <option value=\"exports\"{}>exporter</option><option value=\"imports\"{}>importer</option></select></label>",
        selected(d == Some(Direction::Exports)),
        selected(d == Some(Direction::Imports)),
    );
    let _ = write!(
        out,
        "<label>Year <input name=\"year\" id=\"year\" inputmode=\"numeric\" maxlength=\"4\" size=\"5\" placeholder=\"2026\" value=\"{}\"></label>",
        s.year.map(|y| y.to_string()).unwrap_or_default()
    );
    out.push_str("<label>Quarter <select name=\"quarter\" id=\"quarter\"><option value=\"all\">whole year</option>");
    for q in 1..=4u8 {
        let _ = write!(
            out,
            "<option value=\"{q}\"{}>Q{q}</option>",
            selected(s.quarter == Some(q))
        );
    }
    out.push_str("</select></label>");
    out.push_str(
        "<label>Status <select name=\"status\" id=\"status\"><option value=\"\">any</option>",
    );
    for st in CertificateStatus::ALL {
        let _ = write!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            st.as_str(),
            selected(s.status == Some(st)),
            st.as_str().replace('_', " ")
        );
    }
    out.push_str("</select></label><button type=\"submit\" id=\"search\">Search</button></form>");
    out
}

/// The certificate listing as a table.
pub fn listing(rows: &[CertificateSummary]) -> Table {
    let mut t = Table::new(
        "certificates",
        &[
            "Certificate",
            "Exporter",
            "Importer",
            "Origin",
            "Carats",
            "Value",
            "Status",
            "Issued on",
        ],
    )
    .numeric(&[4, 5]);
    for r in rows {
        t.row(vec![
            cert_link(&r.certificate),
            r.issuer.to_string(),
            r.destination.to_string(),
            esc(&r.origin.to_string()),
            html::carats(r.carat_hundredths),
            html::usd(r.value_usd_cents),
            html::status_badge(r.status),
            r.issued_on.to_string(),
        ]);
    }
    t
}

pub async fn page(node: &Arc<Node>, client: IpAddr, p: Params) -> Result<Page, PageError> {
    let s = parse(&p)?;
    let mut body = form(&s);
    let period = match s.year {
        Some(y) => Some(Period::new(y, s.quarter).map_err(PageError::bad)?),
        None => None,
    };
    let mut query = CertificateQuery::new(today());
    query.participant = s.participant;
    query.direction = s.direction;
    query.status = s.status;
    query.from = period.map(|p| p.from);
    query.to = period.map(|p| p.to);
    let number = s.number.clone();
    let found = analysed(node, client, move |_, v| {
        let mut rows = v.list_certificates(&query);
        let mut hint = None;
        if let Some(n) = &number {
            rows.retain(|r| &r.certificate == n);
            let issued = |m: &str| v.certificate(m).is_some_and(|st| st.primary().is_some());
            let upper = n.to_ascii_uppercase();
            if rows.is_empty() {
                hint = if issued(n) {
                    Some(Hint::Filtered(n.clone()))
                } else if upper != *n && v.certificate(&upper).is_some() {
                    Some(Hint::Uppercase(upper))
                } else if v.certificate(n).is_some() {
                    Some(Hint::NeverIssued(n.clone()))
                } else {
                    None
                };
            }
        }
        Ok((rows, hint, partial_note(v)))
    })
    .await?;
    let (rows, hint, partial) = found;
    body.push_str(&partial);
    let total = rows.len();
    let asked =
        s.number.is_some() || s.participant.is_some() || s.year.is_some() || s.status.is_some();
    let n = s.number.as_deref().unwrap_or("");
    if let Some(h) = hint {
        let msg = match h {
            Hint::Filtered(m) => format!(
                "Certificate {} does not match the other fields of this search.",
                cert_link(&m)
            ),
            // Named by events, but never issued (a forged number): its
            // page shows what names it.
            Hint::NeverIssued(m) => format!(
                "No certificate {} was issued, but events name it: {}.",
                esc(n),
                cert_link(&m)
            ),
            Hint::Uppercase(m) => format!(
                "No certificate {} was issued. Did you mean <a id=\"suggestion\" href=\"/explorer?number={}\">{}</a>?",
                esc(n),
                pct(&m),
                esc(&m)
            ),
        };
        body.push_str(&html::note("hint", &msg));
    } else if total == 0 && asked {
        body.push_str(&html::note("hint", "No certificate matches this search."));
    }
    if total > 0 && !asked {
        // No search yet: the latest issues, newest first.
        let latest: Vec<CertificateSummary> = rows.iter().rev().take(LATEST).cloned().collect();
        let _ = write!(
            body,
            "<p class=\"count\" id=\"count\">The {} most recently issued of {total} certificates, newest first; search to see the others.</p>",
            latest.len()
        );
        body.push_str(&listing(&latest).render());
    } else if total > 0 {
        let shown = &rows[..total.min(MAX_ROWS)];
        let _ = write!(
            body,
            "<p class=\"count\" id=\"count\">{}</p>",
            if total > MAX_ROWS {
                format!("{total} certificates match; the first {MAX_ROWS} (by issue date) are listed: narrow the search to see the others.")
            } else if total == 1 {
                "1 certificate matches.".to_owned()
            } else {
                format!("{total} certificates match, by issue date.")
            }
        );
        body.push_str(&listing(shown).render());
    }
    Ok(Page {
        nav: super::html::Nav::Search,
        title: "Certificates".into(),
        body,
    })
}
