//! Audit findings (`LedgerView::audit`) with filters: kind, least
//! severity, participant, dates. The same parameters as `GET /v1/audit`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use ledger_core::analysis::{AuditParams, Finding, FindingKind, Severity};
use ledger_core::{CountryCode, Date};

use super::html::{self, cert_link, esc, event_link, Nav, Params, Table};
use super::{analysed, partial_note, Page, PageError};
use crate::service::{now_ms, Node};

/// Most findings one page lists (the total is said).
pub const MAX_ROWS: usize = 1000;

/// Findings as a table, a row per finding marked by its severity.
pub fn findings_table(findings: &[Finding]) -> Table {
    let mut t = Table::new(
        "findings",
        &[
            "Severity",
            "Kind",
            "Certificate",
            "Participants",
            "Date",
            "Explanation",
            "Events",
        ],
    );
    for f in findings {
        t.row_class(
            &format!("finding {}", f.severity.as_str()),
            vec![
                format!("<span class=\"sev {0}\">{0}</span>", f.severity.as_str()),
                esc(f.kind.as_str()),
                f.certificate.as_deref().map(cert_link).unwrap_or_default(),
                f.participants
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                f.date.to_string(),
                esc(&f.explanation),
                f.events
                    .iter()
                    .map(event_link)
                    .collect::<Vec<_>>()
                    .join(" "),
            ],
        );
    }
    t
}

fn selected(c: bool) -> &'static str {
    if c {
        " selected"
    } else {
        ""
    }
}

fn date(p: &Params, name: &str) -> Result<Option<Date>, PageError> {
    p.get(name)
        .map(|s| {
            s.parse::<Date>()
                .map_err(|e| PageError::bad(format!("{name}: {e}")))
        })
        .transpose()
}

pub async fn page(node: &Arc<Node>, client: IpAddr, p: Params) -> Result<Page, PageError> {
    let mut params = AuditParams::new(now_ms());
    params.participant = p
        .get("participant")
        .map(|c| {
            CountryCode::new(&c.to_ascii_uppercase())
                .map_err(|e| PageError::bad(format!("participant: {e}")))
        })
        .transpose()?;
    let kind = match p.get("kind") {
        None | Some("all") => None,
        Some(k) => Some(
            FindingKind::from_name(k)
                .ok_or_else(|| PageError::bad(format!("{k:?} is not a kind of finding")))?,
        ),
    };
    params.kinds = kind.into_iter().collect();
    params.min_severity = match p.get("severity") {
        None | Some("all") => None,
        Some(s) => Some(s.parse::<Severity>().map_err(PageError::bad)?),
    };
    params.from = date(&p, "from")?;
    params.to = date(&p, "to")?;

    let mut body =
        String::from("<form class=\"search\" method=\"get\" action=\"/explorer/audit\">");
    body.push_str(
        "<label>Kind <select name=\"kind\" id=\"kind\"><option value=\"all\">every kind</option>",
    );
    for k in FindingKind::ALL {
        let _ = write!(
            body,
            "<option value=\"{0}\"{1}>{0}</option>",
            k.as_str(),
            selected(kind == Some(k))
        );
    }
    body.push_str("</select></label><label>Severity <select name=\"severity\" id=\"severity\"><option value=\"all\">any</option>");
    for (s, words) in [
        (Severity::High, "high"),
        (Severity::Medium, "medium and above"),
        (Severity::Low, "low and above"),
    ] {
        let _ = write!(
            body,
            "<option value=\"{}\"{}>{words}</option>",
            s.as_str(),
            selected(params.min_severity == Some(s))
        );
    }
    let _ = write!(
        body,
        "</select></label><label>Participant <input name=\"participant\" id=\"participant\" maxlength=\"2\" size=\"3\" value=\"{}\"></label>\
         <label>From <input type=\"date\" name=\"from\" id=\"from\" value=\"{}\"></label>\
         <label>To <input type=\"date\" name=\"to\" id=\"to\" value=\"{}\"></label>\
         <button type=\"submit\" id=\"filter\">Filter</button></form>",
        params.participant.map(|c| c.to_string()).unwrap_or_default(),
        params.from.map(|d| d.to_string()).unwrap_or_default(),
        params.to.map(|d| d.to_string()).unwrap_or_default(),
    );
    let (findings, partial) = analysed(node, client, move |_, v| {
        Ok((v.audit(&params), partial_note(v)))
    })
    .await?;
    body.push_str(&partial);
    let total = findings.len();
    let high = findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .count();
    let _ = write!(
        body,
        "<p class=\"count\" id=\"count\">{}</p>",
        match total {
            0 => "No finding matches.".to_owned(),
            1 => format!("1 finding ({high} high)."),
            n if n > MAX_ROWS => format!("{n} findings ({high} high); the first {MAX_ROWS} are listed: narrow the filters to see the others."),
            n => format!("{n} findings ({high} high), most serious first."),
        }
    );
    if total > 0 {
        body.push_str(&findings_table(&findings[..total.min(MAX_ROWS)]).render());
    }
    body.push_str(&html::note(
        "hint",
        "Each finding names the signed events that prove it (the links give their JSON). \
         What each kind means: <code>ledger-core/src/analysis/audit.rs</code>, or <a href=\"/v1/audit\">/v1/audit</a> for the same answer as JSON.",
    ));
    Ok(Page {
        nav: Nav::Audit,
        title: "Audit findings".into(),
        body,
    })
}
