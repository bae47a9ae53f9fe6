//! The membership timeline from the governance decisions
//! (`ledger_core::governance::Timeline`): from each day the membership
//! changed, who chaired, who was in good standing, suspended (with the
//! zones of origin still allowed to export) or expelled; the membership on
//! a chosen day, by name; and every decision with its verdict.

use std::fmt::Write as _;
use std::sync::Arc;

use ledger_core::governance::{Membership, Standing};
use ledger_core::Date;

use super::html::{esc, event_link, Nav, Params, Table};
use super::{Page, PageError};
use crate::service::{today, Node};

fn codes(m: &Membership, want: impl Fn(&Standing) -> bool) -> String {
    let v: Vec<String> = m
        .participants
        .values()
        .filter(|r| want(&r.standing))
        .map(|r| match &r.standing {
            Standing::Suspended { exporting_zones } if !exporting_zones.is_empty() => format!(
                "{} <span class=\"sub\">(may export from {})</span>",
                r.code,
                esc(&exporting_zones.join(", "))
            ),
            Standing::Suspended { .. } => format!("{} <span class=\"sub\">(wholly)</span>", r.code),
            _ => r.code.to_string(),
        })
        .collect();
    if v.is_empty() {
        "—".into()
    } else {
        v.join(", ")
    }
}

pub fn page(node: &Arc<Node>, p: Params) -> Result<Page, PageError> {
    let at = match p.get("at") {
        None => today(),
        Some(s) => s
            .parse::<Date>()
            .map_err(|e| PageError::bad(format!("at: {e}")))?,
    };
    let t = node.ledger.timeline();
    let mut body = String::new();
    let _ = write!(
        body,
        "<p class=\"lead\">Quorum for a decision: {} of the participants in good standing. \
         Every node derives this timeline from the same governance events, whatever order they arrived in.</p>",
        esc(&t.quorum().to_string())
    );
    body.push_str("<section><h2>Timeline</h2>");
    let mut tl = Table::new(
        "timeline",
        &[
            "From",
            "Chair",
            "In good standing",
            "Suspended",
            "Expelled",
            "Observers",
        ],
    );
    let mut last_chair = None;
    for (from, m) in t.periods() {
        let chair = if last_chair.is_some() && last_chair != Some(m.chair) {
            format!(
                "<strong>{}</strong> <span class=\"sub\">(new Chair)</span>",
                m.chair
            )
        } else {
            m.chair.to_string()
        };
        last_chair = Some(m.chair);
        let observers: Vec<String> = m.observers.keys().map(|o| esc(o.as_str())).collect();
        tl.row(vec![
            from.map(|d| d.to_string())
                .unwrap_or_else(|| "the charter".into()),
            chair,
            codes(m, |s| *s == Standing::Member),
            codes(m, |s| matches!(s, Standing::Suspended { .. })),
            codes(m, |s| *s == Standing::Expelled),
            if observers.is_empty() {
                "—".into()
            } else {
                observers.join(", ")
            },
        ]);
    }
    body.push_str(&tl.render());
    body.push_str("</section>");

    let m = t.at(at);
    let _ = write!(
        body,
        "<section><h2>Membership on {at}</h2><form class=\"search\" method=\"get\" action=\"/explorer/members\">\
         <label>On <input type=\"date\" name=\"at\" id=\"at\" value=\"{at}\"></label><button type=\"submit\">Show</button></form>\
         <p>Chair: <strong>{}</strong></p>",
        m.chair
    );
    let mut mt = Table::new(
        "members",
        &["Participant", "Name", "Standing", "Admitted", "Authorities"],
    );
    for r in m.participants.values() {
        let (standing, class) = match &r.standing {
            Standing::Member => ("member".to_owned(), ""),
            Standing::Suspended { exporting_zones } if exporting_zones.is_empty() => {
                ("suspended (no trade)".to_owned(), "suspended")
            }
            Standing::Suspended { exporting_zones } => (
                format!("suspended, may export from {}", exporting_zones.join(", ")),
                "suspended",
            ),
            Standing::Expelled => ("expelled".to_owned(), "expelled"),
        };
        mt.row_class(
            class,
            vec![
                r.code.to_string(),
                esc(&r.name),
                esc(&standing),
                r.admitted_on
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "charter".into()),
                esc(&r
                    .authorities
                    .keys()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")),
            ],
        );
    }
    body.push_str(&mt.render());
    body.push_str("</section><section><h2>Decisions</h2>");
    let mut dt = Table::new(
        "decisions",
        &[
            "Effective on",
            "Decision",
            "Reference",
            "Status",
            "Approved by",
            "Proposal",
        ],
    );
    for d in t.decisions() {
        let status = match &d.status {
            ledger_core::governance::DecisionStatus::Refused { reason }
            | ledger_core::governance::DecisionStatus::NoEffect { reason } => {
                format!("{}: {}", d.status.word().replace('_', " "), esc(reason))
            }
            s => s.word().to_owned(),
        };
        dt.row_class(
            d.status.word(),
            vec![
                d.effective_on.to_string(),
                esc(&d.summary),
                esc(&d.reference),
                status,
                format!(
                    "{} <span class=\"sub\">({} of {} needed)</span>",
                    d.approved_by
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    d.approved_by.len(),
                    d.needed
                ),
                event_link(&d.proposal.id),
            ],
        );
    }
    if dt.is_empty() {
        body.push_str("<p>No governance decision yet: the charter's membership holds.</p>");
    } else {
        body.push_str(&dt.render());
    }
    body.push_str("</section>");
    Ok(Page {
        nav: Nav::Members,
        title: "Membership".into(),
        body,
    })
}
