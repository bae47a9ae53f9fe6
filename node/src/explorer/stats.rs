//! KP statistics of a period (`LedgerView::stats`): per participant its
//! exports and imports (certificates, carats, US$) and its standing over
//! the period, a bar chart of the carats drawn as inline SVG, and the
//! mirror table: each exporter's certified exports beside its importer's
//! confirmed imports, with what the difference means.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use ledger_core::analysis::{format_carats_signed, format_usd_signed, Period, TradeStats};

use super::html::{self, carats, esc, quarter_of, usd, Nav, Params, Table};
use super::{analysed, partial_note, Page, PageError};
use crate::service::{today, Node};

const BAR_MAX: u64 = 560;
const LABEL_W: u64 = 56;
const VALUE_W: u64 = 150;
const ROW_H: u64 = 34;

/// `v` of `max` as a bar length in pixels (integers only).
fn bar(v: u64, max: u64) -> u64 {
    if max == 0 {
        0
    } else {
        ((v as u128 * BAR_MAX as u128) / max as u128) as u64
    }
}

/// Exports and imports in carats per participant, as two bars each.
fn chart(s: &TradeStats) -> String {
    let rows: Vec<_> = s
        .participants
        .iter()
        .filter(|p| p.exports.carat_hundredths > 0 || p.imports.carat_hundredths > 0)
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let max = rows
        .iter()
        .map(|p| p.exports.carat_hundredths.max(p.imports.carat_hundredths))
        .max()
        .unwrap_or(0);
    let width = LABEL_W + BAR_MAX + VALUE_W;
    let height = 30 + ROW_H * rows.len() as u64;
    let mut out = format!(
        "<svg class=\"chart\" id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"carats exported and imported per participant\">\
         <rect x=\"{LABEL_W}\" y=\"6\" width=\"12\" height=\"10\" fill=\"#3b6ea8\"/><text x=\"{}\" y=\"15\">exports (certified)</text>\
         <rect x=\"{}\" y=\"6\" width=\"12\" height=\"10\" fill=\"#e0913b\"/><text x=\"{}\" y=\"15\">imports (confirmed)</text>",
        LABEL_W + 16,
        LABEL_W + 170,
        LABEL_W + 186
    );
    for (i, p) in rows.iter().enumerate() {
        let y = 26 + ROW_H * i as u64;
        let e = bar(p.exports.carat_hundredths, max);
        let m = bar(p.imports.carat_hundredths, max);
        let _ = write!(
            out,
            "<g class=\"bars\" data-participant=\"{code}\"><text x=\"4\" y=\"{ty}\" font-weight=\"bold\">{code}</text>\
             <rect class=\"exports\" x=\"{LABEL_W}\" y=\"{y}\" width=\"{e}\" height=\"13\" fill=\"#3b6ea8\"><title>{code} exports {ec}</title></rect>\
             <text x=\"{ex}\" y=\"{ey}\" font-size=\"11\">{ec}</text>\
             <rect class=\"imports\" x=\"{LABEL_W}\" y=\"{y2}\" width=\"{m}\" height=\"13\" fill=\"#e0913b\"><title>{code} imports {ic}</title></rect>\
             <text x=\"{ix}\" y=\"{iy}\" font-size=\"11\">{ic}</text></g>",
            code = p.participant,
            ty = y + 18,
            y2 = y + 15,
            ex = LABEL_W + e + 6,
            ey = y + 11,
            ix = LABEL_W + m + 6,
            iy = y + 26,
            ec = carats(p.exports.carat_hundredths),
            ic = carats(p.imports.carat_hundredths),
        );
    }
    out.push_str("</svg>");
    out
}

fn standing_text(p: &ledger_core::analysis::ParticipantTrade) -> String {
    p.membership
        .iter()
        .map(|s| {
            let zones = if s.exporting_zones.is_empty() {
                String::new()
            } else {
                format!(" (may export from {})", s.exporting_zones.join(", "))
            };
            let when = if s.from == s.to {
                s.from.to_string()
            } else {
                format!("{} to {}", s.from, s.to)
            };
            format!("{}{zones}: {when}", s.standing.replace('_', " "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the sign of a mirror difference means.
fn reading(diff_ct: i64, diff_certs: i64) -> &'static str {
    match (diff_ct.signum(), diff_certs.signum()) {
        (0, 0) => "match",
        (1, _) | (0, 1) => "more certified than confirmed",
        _ => "more confirmed than certified",
    }
}

pub async fn page(node: &Arc<Node>, client: IpAddr, p: Params) -> Result<Page, PageError> {
    let now = today();
    let year = match p.get("year") {
        None => now.ymd().0,
        Some(y) => y
            .parse::<i32>()
            .ok()
            .filter(|y| (1..=9999).contains(y))
            .ok_or_else(|| PageError::bad(format!("year {y:?} is not a year (1 to 9999)")))?,
    };
    let quarter = match p.get("quarter") {
        None if p.get("year").is_none() => Some(quarter_of(now)),
        None | Some("all") => None,
        Some(q) => Some(
            q.parse::<u8>()
                .ok()
                .filter(|q| (1..=4).contains(q))
                .ok_or_else(|| PageError::bad("a quarter is 1, 2, 3 or 4"))?,
        ),
    };
    let period = Period::new(year, quarter).map_err(PageError::bad)?;
    let mut body = format!(
        "<form class=\"search\" method=\"get\" action=\"/explorer/stats\">\
         <label>Year <input name=\"year\" id=\"year\" inputmode=\"numeric\" maxlength=\"4\" size=\"5\" value=\"{year}\"></label>\
         <label>Quarter <select name=\"quarter\" id=\"quarter\"><option value=\"all\">whole year</option>"
    );
    for q in 1..=4u8 {
        let _ = write!(
            body,
            "<option value=\"{q}\"{}>Q{q}</option>",
            if quarter == Some(q) { " selected" } else { "" }
        );
    }
    body.push_str("</select></label><button type=\"submit\" id=\"show\">Show</button></form>");
    let (stats, partial) = analysed(node, client, move |_, v| {
        Ok((v.stats(year, quarter), partial_note(v)))
    })
    .await?;
    body.push_str(&partial);
    let _ = write!(
        body,
        "<p class=\"lead\" id=\"period\">{} {}: {} to {}. Exports are the certificates issued in the period \
         (as corrected; voided ones left out), imports the confirmations received in it.</p>",
        period.year,
        quarter.map(|q| format!("Q{q}")).unwrap_or_else(|| "whole year".into()),
        period.from,
        period.to
    );
    if stats.total_exports.overflow || stats.total_imports.overflow {
        body.push_str(&html::note(
            "error",
            "A sum did not fit in 64 bits: the totals are not exact.",
        ));
    }
    let chart = chart(&stats);
    if !chart.is_empty() {
        body.push_str("<section><h2>Carats by participant</h2><div class=\"scroll\">");
        body.push_str(&chart);
        body.push_str("</div></section>");
    }
    body.push_str("<section><h2>Per participant</h2>");
    let mut t = Table::new(
        "participants",
        &[
            "Participant",
            "Export certificates",
            "Exported carats",
            "Exported value",
            "Import certificates",
            "Imported carats",
            "Imported value",
            "Standing in the period",
        ],
    )
    .numeric(&[1, 2, 3, 4, 5, 6]);
    for p in &stats.participants {
        t.row(vec![
            format!(
                "<a href=\"/explorer?participant={0}\">{0}</a>",
                p.participant
            ),
            p.exports.certificates.to_string(),
            carats(p.exports.carat_hundredths),
            usd(p.exports.value_usd_cents),
            p.imports.certificates.to_string(),
            carats(p.imports.carat_hundredths),
            usd(p.imports.value_usd_cents),
            esc(&standing_text(p)),
        ]);
    }
    t.row_class(
        "total",
        vec![
            "<strong>Total</strong>".into(),
            stats.total_exports.certificates.to_string(),
            carats(stats.total_exports.carat_hundredths),
            usd(stats.total_exports.value_usd_cents),
            stats.total_imports.certificates.to_string(),
            carats(stats.total_imports.carat_hundredths),
            usd(stats.total_imports.value_usd_cents),
            String::new(),
        ],
    );
    body.push_str(&t.render());
    body.push_str("</section><section><h2>Mirror table</h2>");
    body.push_str(
        "<p class=\"sub\">Each pair: what the exporter certified beside what the importer confirmed. \
         The difference is exporter minus importer. <strong>Positive</strong>: more was certified than confirmed (a shipment \
         not yet confirmed, lost, or under-declared on arrival). <strong>Negative</strong>: more was confirmed than certified \
         (over-declared on arrival, or a shipment certified in an earlier period, since exports are dated by issue and imports \
         by receipt). Zero: the two agree.</p>",
    );
    let mut m = Table::new(
        "mirror",
        &[
            "Exporter",
            "Importer",
            "Certified",
            "Certified carats",
            "Certified value",
            "Confirmed",
            "Confirmed carats",
            "Confirmed value",
            "Difference (carats)",
            "Difference (value)",
            "Reading",
        ],
    )
    .numeric(&[2, 3, 4, 5, 6, 7, 8, 9]);
    for r in &stats.mirror {
        let class = if r.diff_carat_hundredths == 0
            && r.diff_certificates == 0
            && r.diff_value_usd_cents == 0
        {
            "match"
        } else {
            "mismatch"
        };
        m.row_class(
            class,
            vec![
                r.exporter.to_string(),
                r.importer.to_string(),
                r.exports.certificates.to_string(),
                carats(r.exports.carat_hundredths),
                usd(r.exports.value_usd_cents),
                r.imports.certificates.to_string(),
                carats(r.imports.carat_hundredths),
                usd(r.imports.value_usd_cents),
                esc(&format_carats_signed(r.diff_carat_hundredths)),
                esc(&format_usd_signed(r.diff_value_usd_cents)),
                esc(reading(r.diff_carat_hundredths, r.diff_certificates)),
            ],
        );
    }
    if m.is_empty() {
        body.push_str(&html::note("hint", "No trade in this period."));
    } else {
        body.push_str(&m.render());
    }
    body.push_str("</section>");
    Ok(Page {
        nav: Nav::Stats,
        title: "KP statistics".into(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_integer_and_bounded() {
        assert_eq!(bar(0, 0), 0);
        assert_eq!(bar(5, 10), BAR_MAX / 2);
        assert_eq!(bar(u64::MAX, u64::MAX), BAR_MAX);
        assert_eq!(reading(0, 0), "match");
        assert_eq!(reading(1, 0), "more certified than confirmed");
        assert_eq!(reading(0, 1), "more certified than confirmed");
        assert_eq!(reading(-1, -1), "more confirmed than certified");
    }
}
