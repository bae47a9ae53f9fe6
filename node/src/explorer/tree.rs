//! A provenance tree drawn as inline SVG on the server: the certificate on
//! the left, its sources to the right of it, back to the certificates
//! without sources (the mines' exports). Each box shows the number, the
//! trade, the carats and the origin; a box with audit findings is drawn in
//! red, with the findings' kinds in it. Integer layout, no script.

use std::fmt::Write as _;

use ledger_core::analysis::TraceNode;

use super::html::{carats, esc, pct};

/// Most boxes drawn; a larger tree is cut (and says so).
pub const MAX_DRAWN: usize = 400;

const BOX_W: u32 = 300;
const BOX_H: u32 = 78;
const GAP_X: u32 = 56;
const GAP_Y: u32 = 14;
const PAD: u32 = 8;

struct Placed<'a> {
    node: &'a TraceNode,
    depth: u32,
    /// Top of the box, in rows of `BOX_H + GAP_Y`, times 2 (so a parent
    /// centred between two children stays on a whole number).
    row2: u32,
    parent: Option<usize>,
}

/// Places the nodes: leaves on successive rows in order, each parent
/// centred on its first and last child. Stops at [`MAX_DRAWN`] boxes.
fn place<'a>(
    n: &'a TraceNode,
    depth: u32,
    parent: Option<usize>,
    next_leaf: &mut u32,
    out: &mut Vec<Placed<'a>>,
    cut: &mut bool,
) -> Option<usize> {
    if out.len() >= MAX_DRAWN {
        *cut = true;
        return None;
    }
    let me = out.len();
    out.push(Placed {
        node: n,
        depth,
        row2: 0,
        parent,
    });
    let mut rows = Vec::new();
    for c in &n.children {
        if let Some(i) = place(c, depth + 1, Some(me), next_leaf, out, cut) {
            rows.push(out[i].row2);
        }
    }
    out[me].row2 = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) => (a + b) / 2,
        _ => {
            let r = *next_leaf * 2;
            *next_leaf += 1;
            r
        }
    };
    Some(me)
}

fn y_of(row2: u32) -> u32 {
    PAD + row2 * (BOX_H + GAP_Y) / 2
}

fn x_of(depth: u32) -> u32 {
    PAD + depth * (BOX_W + GAP_X)
}

/// Cuts `s` to at most `max` characters (with an ellipsis).
fn cut_text(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The tree as an `<svg>` element, and how many boxes it draws.
pub fn svg(root: &TraceNode) -> (String, usize) {
    let mut placed = Vec::new();
    let mut next_leaf = 0;
    let mut cut = false;
    place(root, 0, None, &mut next_leaf, &mut placed, &mut cut);
    let depth = placed.iter().map(|p| p.depth).max().unwrap_or(0);
    let rows2 = placed.iter().map(|p| p.row2).max().unwrap_or(0);
    let width = x_of(depth) + BOX_W + PAD;
    let height = y_of(rows2) + BOX_H + PAD;
    let mut out = format!(
        "<svg class=\"tree\" id=\"provenance\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"provenance tree\">"
    );
    // Connectors first, under the boxes.
    for p in &placed {
        let Some(parent) = p.parent.map(|i| &placed[i]) else {
            continue;
        };
        let x1 = x_of(parent.depth) + BOX_W;
        let y1 = y_of(parent.row2) + BOX_H / 2;
        let x2 = x_of(p.depth);
        let y2 = y_of(p.row2) + BOX_H / 2;
        let mid = x1 + GAP_X / 2;
        let _ = write!(
            out,
            "<path class=\"edge\" d=\"M{x1} {y1} H{mid} V{y2} H{x2}\" fill=\"none\" stroke=\"#8a94a6\" stroke-width=\"1.5\"/>"
        );
    }
    for p in &placed {
        let n = p.node;
        let x = x_of(p.depth);
        let y = y_of(p.row2);
        let flagged = !n.findings.is_empty() || !n.found || n.cycle;
        let class = if flagged { "node finding" } else { "node" };
        let (fill, stroke) = if flagged {
            ("#fdecec", "#c62828")
        } else {
            ("#f4f7fb", "#4a6a94")
        };
        let trade = match (n.issuer, n.destination, n.carat_hundredths) {
            (Some(i), Some(d), Some(ct)) if n.found => format!("{i} → {d} · {}", carats(ct)),
            _ => "never issued in this ledger".to_owned(),
        };
        let mut third = match &n.origin {
            Some(o) => format!("origin {o}"),
            None => String::new(),
        };
        if n.voided.is_some() {
            third.push_str(" · voided");
        }
        if n.cycle {
            third.push_str(" · cycle");
        }
        if n.truncated {
            third.push_str(" · truncated");
        }
        let confirmed = n
            .confirmations
            .iter()
            .map(|c| format!("{} confirmed {}", c.participant, carats(c.carat_hundredths)))
            .collect::<Vec<_>>()
            .join("; ");
        let mut kinds: Vec<&str> = n.findings.iter().map(|f| f.kind.as_str()).collect();
        kinds.dedup();
        let fourth = if kinds.is_empty() {
            if confirmed.is_empty() && n.found && n.voided.is_none() {
                "not confirmed".to_owned()
            } else {
                confirmed
            }
        } else {
            format!("⚠ {}", kinds.join(", "))
        };
        let title = {
            let mut t = n.certificate.clone();
            for f in &n.findings {
                t.push_str(&format!(
                    "\n{} {}: {}",
                    f.severity.as_str(),
                    f.kind,
                    f.explanation
                ));
            }
            t
        };
        let _ = write!(
            out,
            "<a href=\"/explorer/certificates/{href}\"><g class=\"{class}\" data-certificate=\"{num}\">\
             <title>{title}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"/>\
             <text x=\"{tx}\" y=\"{y1}\" class=\"num\" font-weight=\"bold\" fill=\"{stroke}\">{num_short}</text>\
             <text x=\"{tx}\" y=\"{y2}\">{trade}</text>\
             <text x=\"{tx}\" y=\"{y3}\" fill=\"#555\">{third}</text>\
             <text x=\"{tx}\" y=\"{y4}\" fill=\"{f4}\">{fourth}</text></g></a>",
            href = pct(&n.certificate),
            num = esc(&n.certificate),
            num_short = esc(&cut_text(&n.certificate, 34)),
            title = esc(&title),
            sw = if flagged { 2 } else { 1 },
            tx = x + 10,
            y1 = y + 18,
            y2 = y + 35,
            y3 = y + 52,
            y4 = y + 69,
            trade = esc(&cut_text(&trade, 44)),
            third = esc(&cut_text(&third, 44)),
            fourth = esc(&cut_text(&fourth, 41)),
            f4 = if kinds.is_empty() { "#555" } else { "#c62828" },
        );
    }
    out.push_str("</svg>");
    if cut {
        out.push_str(&format!(
            "<p class=\"note hint\">The tree has more than {MAX_DRAWN} certificates: only the first {MAX_DRAWN} are drawn (the whole tree: <a href=\"/v1/trace/{}\">/v1/trace</a>).</p>",
            pct(&root.certificate)
        ));
    }
    (out, placed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(number: &str, children: Vec<TraceNode>) -> TraceNode {
        TraceNode {
            certificate: number.to_owned(),
            found: true,
            issuer: Some(ledger_core::CountryCode::new(&number[..2]).expect("code")),
            issue_event: None,
            origin: None,
            destination: Some(ledger_core::CountryCode::new("AE").expect("code")),
            carat_hundredths: Some(12_345),
            value_usd_cents: Some(1),
            issued_on: None,
            expires_on: None,
            voided: None,
            confirmations: Vec::new(),
            findings: Vec::new(),
            source_certificates: children.iter().map(|c| c.certificate.clone()).collect(),
            source_carat_hundredths: 0,
            unaccounted_carat_hundredths: 0,
            cycle: false,
            truncated: false,
            children,
        }
    }

    #[test]
    fn draws_every_node_once_with_hostile_numbers_escaped() {
        let t = node(
            "IN-1",
            vec![
                node(
                    "EU-1",
                    vec![node("BW-1", vec![]), node("ZA-<script>x</script>", vec![])],
                ),
                node("CA-1", vec![]),
            ],
        );
        let (s, n) = svg(&t);
        assert_eq!(n, 5);
        assert_eq!(s.matches("<g class=\"node").count(), 5);
        assert_eq!(s.matches("class=\"edge\"").count(), 4);
        assert!(!s.contains("<script>"), "{s}");
        assert!(s.contains("ZA-&lt;script&gt;"), "{s}");
        assert!(s.contains("123.45 ct"), "{s}");
    }

    #[test]
    fn a_huge_tree_is_cut() {
        let wide = node(
            "IN-1",
            (0..MAX_DRAWN + 50)
                .map(|i| node(&format!("BW-{i}"), vec![]))
                .collect(),
        );
        let (s, n) = svg(&wide);
        assert_eq!(n, MAX_DRAWN);
        assert!(s.contains("only the first"), "cut said");
    }
}
