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

/// What a trace says of a number never issued.
const NEVER_ISSUED: &str = "never issued in this ledger";

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

/// The carats of one origin in a shipment's provenance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginShare {
    /// The origin as printed: a participant code, with its zone if any
    /// (`CD (Kasai)`), or `mixed (…)` for a mixed lot without sources.
    pub origin: String,
    pub carat_hundredths: u64,
}

/// Where a shipment's carats come from (see [`TraceNode::carats_by_origin`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginShares {
    /// Largest first, then by origin.
    pub origins: Vec<OriginShare>,
    /// Carats no mine's export accounts for: sources that carry less than
    /// the certificate, numbers never issued here, cycles and truncated
    /// branches.
    pub unaccounted_carat_hundredths: u64,
}

/// Splits `amount` over `weights` in proportion, in whole units, the
/// leftover units going to the largest remainders (the earliest first on a
/// tie): the parts always add up to `amount`.
fn split(amount: u64, weights: &[u64]) -> Vec<u64> {
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let a = u128::from(amount);
    let mut parts: Vec<u64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let x = a * u128::from(w);
        parts.push(u64::try_from(x / total).unwrap_or(u64::MAX));
        rems.push((x % total, i));
    }
    let given: u128 = parts.iter().map(|&p| u128::from(p)).sum();
    let mut left = a.saturating_sub(given);
    rems.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    for (_, i) in rems {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

impl TraceNode {
    /// Where this certificate's carats come from, by origin: each
    /// certificate's carats are split over its sources in proportion to the
    /// carats the sources carry (a certificate drawing on sources that
    /// carry more takes the same share of each), down to the certificates
    /// without sources, whose origin they are. What its sources do not
    /// carry, and what lies behind a source never issued, a cycle or a
    /// truncated branch, is unaccounted. Integer arithmetic: the parts add
    /// up to the certificate's carats exactly.
    pub fn carats_by_origin(&self) -> OriginShares {
        let mut by: BTreeMap<String, u64> = BTreeMap::new();
        let mut unaccounted = 0u64;
        let mut stack: Vec<(&TraceNode, u64)> = vec![(self, self.carat_hundredths.unwrap_or(0))];
        while let Some((n, amount)) = stack.pop() {
            if amount == 0 {
                continue;
            }
            let Some(carats) = n.carat_hundredths.filter(|_| n.found) else {
                unaccounted = unaccounted.saturating_add(amount);
                continue;
            };
            if n.source_certificates.is_empty() {
                let label = n
                    .origin
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), Origin::to_string);
                let e = by.entry(label).or_insert(0);
                *e = e.saturating_add(amount);
                continue;
            }
            if n.cycle || n.children.is_empty() {
                unaccounted = unaccounted.saturating_add(amount);
                continue;
            }
            let mut weights: Vec<u64> = n
                .children
                .iter()
                .map(|c| c.carat_hundredths.filter(|_| c.found).unwrap_or(0))
                .collect();
            let carried: u64 = weights.iter().fold(0u64, |a, &w| a.saturating_add(w));
            // The part the sources do not carry, as one more weight.
            weights.push(carats.saturating_sub(carried));
            let parts = split(amount, &weights);
            for (c, &p) in n.children.iter().zip(&parts) {
                stack.push((c, p));
            }
            // Unlisted children (a truncated node) carry nothing here.
            unaccounted = unaccounted.saturating_add(parts[parts.len() - 1]);
        }
        let mut origins: Vec<OriginShare> = by
            .into_iter()
            .map(|(origin, carat_hundredths)| OriginShare {
                origin,
                carat_hundredths,
            })
            .collect();
        origins.sort_by(|a, b| {
            b.carat_hundredths
                .cmp(&a.carat_hundredths)
                .then(a.origin.cmp(&b.origin))
        });
        OriginShares {
            origins,
            unaccounted_carat_hundredths: unaccounted,
        }
    }

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
        self.headline_absent(NEVER_ISSUED)
    }

    /// [`TraceNode::headline`], saying `absent` of a number not found.
    fn headline_absent(&self, absent: &str) -> String {
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
                    s.push_str(&format!("  origin {o}"));
                }
                if let Some(d) = self.issued_on {
                    s.push_str(&format!("  issued {d}"));
                }
            }
            _ => s.push_str(&format!("  ({absent})")),
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
        self.render_tree_absent(NEVER_ISSUED)
    }

    /// [`TraceNode::render_tree`] of a tree drawn from something other than
    /// a whole ledger (a proof bundle): a number not found is shown with
    /// `absent` (e.g. "not in this bundle").
    pub fn render_tree_absent(&self, absent: &str) -> String {
        let mut out = String::new();
        self.render(&mut out, "", "", absent);
        out
    }

    fn render(&self, out: &mut String, head: &str, body: &str, absent: &str) {
        out.push_str(head);
        out.push_str(&self.headline_absent(absent));
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
            child.render(out, &format!("{body}{h}"), &format!("{body}{b}"), absent);
        }
    }
}
