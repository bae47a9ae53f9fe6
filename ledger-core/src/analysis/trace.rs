//! Provenance: the tree of certificates a shipment descends from, following
//! `source_certificates` back through trading hubs to mines' exports
//! (certificates with no sources).
//!
//! Each node carries the certificate's corrected figures, its current
//! import confirmations, the audit findings about it, and the share of its
//! carats that its sources cannot account for:
//! `unaccounted_carat_hundredths = carats - sum(carats of the sources found)`
//! (never below zero; zero for a certificate without sources).
//!
//! The walk is bounded: at most [`MAX_TRACE_DEPTH`] levels below the root and
//! [`MAX_TRACE_NODES`] nodes. A certificate that is its own ancestor is shown
//! once more with `cycle: true` and not expanded; a node whose sources were
//! not expanded because of a bound has `truncated: true`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::audit::{AuditParams, Checks, Finding};
use super::format::{format_carats, format_usd};
use super::{void_reason, LedgerView};
use crate::event::EventId;
use crate::model::{AuthorId, CountryCode, Date, Origin, VoidReason};

/// Deepest level expanded below the root.
pub const MAX_TRACE_DEPTH: usize = 64;
/// Most nodes in one trace.
pub const MAX_TRACE_NODES: usize = 10_000;

/// An import confirmation as shown in a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceConfirmation {
    /// The confirming participant.
    pub participant: CountryCode,
    pub author: AuthorId,
    pub event: EventId,
    pub parcels: u32,
    pub carat_hundredths: u64,
    pub value_usd_cents: u64,
    pub received_on: Date,
}

/// One certificate in a provenance tree. The certificate fields are `None`
/// when the number was never issued in this ledger (`found: false`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceNode {
    pub certificate: String,
    /// Whether the number was issued in this ledger.
    pub found: bool,
    /// The issuing participant; for a number never issued, the participant
    /// its prefix claims.
    pub issuer: Option<CountryCode>,
    pub issue_event: Option<EventId>,
    pub origin: Option<Origin>,
    pub destination: Option<CountryCode>,
    pub carat_hundredths: Option<u64>,
    pub value_usd_cents: Option<u64>,
    pub issued_on: Option<Date>,
    pub expires_on: Option<Date>,
    /// The reason of the earliest void, if voided.
    pub voided: Option<VoidReason>,
    /// Current confirmations (one per confirming participant).
    pub confirmations: Vec<TraceConfirmation>,
    /// Audit findings about this certificate number.
    pub findings: Vec<Finding>,
    /// The numbers of its sources, as listed on the certificate.
    pub source_certificates: Vec<String>,
    /// Sum of the carats of the sources that were found.
    pub source_carat_hundredths: u64,
    /// Carats its found sources do not account for.
    pub unaccounted_carat_hundredths: u64,
    /// This certificate is its own ancestor: not expanded again.
    pub cycle: bool,
    /// Some sources were not expanded because of the depth or node bound.
    pub truncated: bool,
    /// The source certificates, in the order listed.
    pub children: Vec<TraceNode>,
}

struct Walk<'a> {
    path: Vec<&'a str>,
    budget: usize,
    checks: Checks,
    /// The findings of each number met so far.
    findings: BTreeMap<&'a str, Vec<Finding>>,
}

impl LedgerView {
    /// The provenance tree of `number`, or `None` when no event mentions
    /// that number. Findings attached to nodes are those that need no clock
    /// (`unconfirmed_export` and `timestamp_future` need "now": use
    /// [`LedgerView::trace_at`]), with default tolerances.
    pub fn trace(&self, number: &str) -> Option<TraceNode> {
        self.trace_checked(number, Checks::timeless())
    }

    /// Like [`LedgerView::trace`], with every finding as of `params` (its
    /// clock and tolerances; its participant and date filters are ignored).
    pub fn trace_at(&self, number: &str, params: &AuditParams) -> Option<TraceNode> {
        self.trace_checked(number, Checks::from_params(params))
    }

    /// Only the certificates of the tree are checked: the findings of a
    /// number are those the whole audit gives with that number.
    fn trace_checked(&self, number: &str, checks: Checks) -> Option<TraceNode> {
        let st = self.certificate(number)?;
        let mut walk = Walk {
            path: Vec::new(),
            budget: MAX_TRACE_NODES,
            checks,
            findings: BTreeMap::new(),
        };
        Some(self.trace_node(st.number, 0, &mut walk))
    }

    fn trace_node<'a>(&'a self, number: &'a str, depth: usize, walk: &mut Walk<'a>) -> TraceNode {
        walk.budget = walk.budget.saturating_sub(1);
        let st = self.certificate(number);
        let primary = st.as_ref().and_then(|s| s.primary());
        let cert = primary.map(|p| &p.effective);
        let sources: Vec<&'a str> = match &st {
            Some(s) => s
                .effective()
                .map_or_else(Vec::new, |c| c.source_certificates.clone()),
            None => Vec::new(),
        };
        let source_carats = sources
            .iter()
            .filter_map(|s| self.find_cert(s).and_then(|c| self.primary_facts(c)))
            .map(|(_, c)| u128::from(c.carat_hundredths))
            .sum::<u128>();
        let unaccounted = match cert {
            // At most the certificate's own carats, so it fits.
            Some(c) if !sources.is_empty() => {
                u64::try_from(u128::from(c.carat_hundredths).saturating_sub(source_carats))
                    .unwrap_or(u64::MAX)
            }
            _ => 0,
        };
        if !walk.findings.contains_key(number) {
            let found = self
                .findings_about(number, &walk.checks)
                .unwrap_or_default();
            walk.findings.insert(number, found);
        }
        let mut node = TraceNode {
            certificate: number.to_owned(),
            found: cert.is_some(),
            issuer: match &st {
                Some(s) => s.issuer_or_claimed(),
                None => crate::validate::certificate_issuer(number),
            },
            issue_event: primary.map(|p| p.event.id),
            origin: cert.map(|c| c.origin.clone()),
            destination: cert.map(|c| c.destination),
            carat_hundredths: cert.map(|c| c.carat_hundredths),
            value_usd_cents: cert.map(|c| c.value_usd_cents),
            issued_on: cert.map(|c| c.issued_on),
            expires_on: cert.map(|c| c.expires_on),
            voided: st.as_ref().and_then(|s| s.first_void()).map(|v| v.reason),
            confirmations: st
                .as_ref()
                .map(|s| {
                    s.current_confirmations()
                        .map(|c| TraceConfirmation {
                            participant: c.event.participant(),
                            author: c.event.author.clone(),
                            event: c.event.id,
                            parcels: c.confirmation.parcels,
                            carat_hundredths: c.confirmation.carat_hundredths,
                            value_usd_cents: c.confirmation.value_usd_cents,
                            received_on: c.confirmation.received_on,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            findings: walk.findings.get(number).cloned().unwrap_or_default(),
            source_certificates: sources.iter().map(|s| (*s).to_owned()).collect(),
            // At most MAX_SOURCES bounded amounts: it fits.
            source_carat_hundredths: u64::try_from(source_carats).unwrap_or(u64::MAX),
            unaccounted_carat_hundredths: unaccounted,
            cycle: false,
            truncated: false,
            children: Vec::new(),
        };
        if walk.path.contains(&number) {
            node.cycle = true;
        } else if !sources.is_empty() {
            if depth >= MAX_TRACE_DEPTH {
                node.truncated = true;
            } else {
                walk.path.push(number);
                for s in sources {
                    if walk.budget == 0 {
                        node.truncated = true;
                        break;
                    }
                    node.children.push(self.trace_node(s, depth + 1, walk));
                }
                walk.path.pop();
            }
        }
        node
    }
}

fn origin_text(o: &Origin) -> String {
    match o {
        Origin::Single {
            country,
            zone: Some(z),
        } => format!("{country} ({z})"),
        Origin::Single {
            country,
            zone: None,
        } => country.to_string(),
        Origin::Mixed { countries } if countries.is_empty() => "mixed".to_owned(),
        Origin::Mixed { countries } => {
            let c: Vec<&str> = countries.iter().map(CountryCode::as_str).collect();
            format!("mixed ({})", c.join(", "))
        }
    }
}

impl TraceNode {
    /// Every node of the tree, breadth first, root first.
    pub fn nodes(&self) -> Vec<&TraceNode> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            let n = out[i];
            out.extend(n.children.iter());
            i += 1;
        }
        out
    }

    /// The one-line summary of this node.
    pub fn headline(&self) -> String {
        let mut s = self.certificate.clone();
        match (
            self.destination,
            self.carat_hundredths,
            self.value_usd_cents,
        ) {
            (Some(dest), Some(ct), Some(usd)) if self.found => {
                let issuer = self.issuer.map_or("??".to_owned(), |c| c.to_string());
                s.push_str(&format!(
                    "  {issuer} → {dest}  {}  {}",
                    format_carats(ct),
                    format_usd(usd)
                ));
                if let Some(o) = &self.origin {
                    s.push_str(&format!("  origin {}", origin_text(o)));
                }
                if let Some(d) = self.issued_on {
                    s.push_str(&format!("  issued {d}"));
                }
            }
            _ => s.push_str("  (never issued in this ledger)"),
        }
        if let Some(r) = self.voided {
            s.push_str(&format!("  [voided: {}]", void_reason(r)));
        }
        if self.cycle {
            s.push_str("  [cycle]");
        }
        if self.truncated {
            s.push_str("  [truncated]");
        }
        s
    }

    fn detail_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for c in &self.confirmations {
            lines.push(format!(
                "confirmed by {} on {}: {}, {} parcel(s)",
                c.participant,
                c.received_on,
                format_carats(c.carat_hundredths),
                c.parcels
            ));
        }
        if self.found && self.confirmations.is_empty() && self.voided.is_none() {
            lines.push("no import confirmation".to_owned());
        }
        if self.unaccounted_carat_hundredths > 0 {
            lines.push(format!(
                "unaccounted: {} of {} (sources found: {})",
                format_carats(self.unaccounted_carat_hundredths),
                format_carats(self.carat_hundredths.unwrap_or(0)),
                format_carats(self.source_carat_hundredths)
            ));
        }
        for f in &self.findings {
            lines.push(format!("! {} {}: {}", f.severity, f.kind, f.explanation));
        }
        lines
    }

    /// The tree as text for a terminal, with box-drawing branches:
    ///
    /// ```text
    /// IN-2026-0000003  IN → AE  1,200.00 ct  US$ 30,000.00  origin mixed  issued 2026-03-01
    /// │  confirmed by AE on 2026-03-04: 1,200.00 ct, 2 parcel(s)
    /// │  unaccounted: 400.00 ct of 1,200.00 ct (sources found: 800.00 ct)
    /// ├─ EU-2026-0000002  EU → IN  800.00 ct  ...
    /// │  └─ BW-2026-0000001  BW → EU  1,000.00 ct  ...
    /// └─ ZA-2026-0009999  (never issued in this ledger)
    /// ```
    pub fn render_tree(&self) -> String {
        let mut out = String::new();
        self.render(&mut out, "", "");
        out
    }

    fn render(&self, out: &mut String, head: &str, body: &str) {
        out.push_str(head);
        out.push_str(&self.headline());
        out.push('\n');
        let detail = if self.children.is_empty() {
            format!("{body}   ")
        } else {
            format!("{body}│  ")
        };
        for line in self.detail_lines() {
            out.push_str(&detail);
            out.push_str(&line);
            out.push('\n');
        }
        let n = self.children.len();
        for (i, child) in self.children.iter().enumerate() {
            let last = i + 1 == n;
            let (h, b) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            child.render(out, &format!("{body}{h}"), &format!("{body}{b}"));
        }
    }
}
