//! The explorer's HTML pieces: escaping, the page layout with its nav bar,
//! tables, amounts and times for people, and the bounded parser of query
//! strings. Every text that comes from the ledger (certificate numbers,
//! names, addresses, notes, references) was signed by some other party and
//! is treated as hostile: it reaches the page only through [`esc`] (text
//! and attribute values) or [`pct`] (inside a link's path).

use std::fmt::Write as _;

use ledger_core::analysis::{format_carats, format_usd, CertificateStatus};
use ledger_core::Date;

/// `s` as HTML text or a double- or single-quoted attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` as one path segment or query value of a URL: every byte but the
/// unreserved ones percent-encoded (so a number with `/`, `?` or `"` in it
/// stays one segment, and is safe inside an attribute).
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The pages of the nav bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Search,
    Certificate,
    Audit,
    Stats,
    Feeds,
    Members,
    Proofs,
}

const NAV: [(Nav, &str, &str); 6] = [
    (Nav::Search, "/explorer", "Certificates"),
    (Nav::Audit, "/explorer/audit", "Audit findings"),
    (Nav::Stats, "/explorer/stats", "Statistics"),
    (Nav::Feeds, "/explorer/feeds", "Feeds"),
    (Nav::Members, "/explorer/members", "Membership"),
    (Nav::Proofs, "/explorer/proofs", "Fork proofs"),
];

/// A whole page: `title` (text) and `body` (HTML already escaped).
pub fn layout(network: &str, active: Nav, title: &str, body: &str) -> String {
    let mut nav = String::new();
    for (which, href, label) in NAV {
        let current = if which == active {
            " aria-current=\"page\" class=\"current\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{href}\"{current}>{label}</a>");
    }
    let network = if network.is_empty() {
        String::new()
    } else {
        format!("<span class=\"network\">{}</span>", esc(network))
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · KP Ledger explorer</title>\
         <link rel=\"stylesheet\" href=\"/explorer/style.css\"></head>\
         <body><header><nav><span class=\"brand\">KP Ledger</span>{network}{nav}</nav></header>\
         <main><h1>{t}</h1>\n{body}\n</main>\
         <footer>Read-only view of this node's replica. Every figure is computed from signed events; \
         the JSON API under <a href=\"/v1/status\">/v1</a> gives the same answers.</footer>\
         </body></html>\n",
        t = esc(title),
    )
}

/// A table: `head` are column titles (text); each row's cells are HTML.
/// Columns in `numeric` are right-aligned.
pub struct Table {
    id: String,
    head: Vec<String>,
    numeric: Vec<usize>,
    rows: Vec<(String, Vec<String>)>,
}

impl Table {
    pub fn new(id: &str, head: &[&str]) -> Table {
        Table {
            id: id.to_owned(),
            head: head.iter().map(|h| (*h).to_owned()).collect(),
            numeric: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn numeric(mut self, cols: &[usize]) -> Table {
        self.numeric = cols.to_vec();
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push((String::new(), cells));
    }

    /// A row with a class (e.g. `finding`).
    pub fn row_class(&mut self, class: &str, cells: Vec<String>) {
        self.rows.push((class.to_owned(), cells));
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "<div class=\"scroll\"><table id=\"{}\"><thead><tr>",
            esc(&self.id)
        );
        for (i, h) in self.head.iter().enumerate() {
            let class = if self.numeric.contains(&i) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(out, "<th{class}>{}</th>", esc(h));
        }
        out.push_str("</tr></thead><tbody>");
        for (class, cells) in &self.rows {
            if class.is_empty() {
                out.push_str("<tr>");
            } else {
                let _ = write!(out, "<tr class=\"{}\">", esc(class));
            }
            for (i, c) in cells.iter().enumerate() {
                if self.numeric.contains(&i) {
                    let _ = write!(out, "<td class=\"num\">{c}</td>");
                } else {
                    let _ = write!(out, "<td>{c}</td>");
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
        out
    }
}

/// A link to the explorer's page of certificate `number`.
pub fn cert_link(number: &str) -> String {
    format!(
        "<a class=\"cert\" href=\"/explorer/certificates/{}\">{}</a>",
        pct(number),
        esc(number)
    )
}

/// A short event id (first 12 hex digits) linking to its raw JSON.
pub fn event_link(id: &impl std::fmt::Display) -> String {
    let hex = id.to_string();
    let short: String = hex.chars().take(12).collect();
    format!(
        "<a class=\"event\" href=\"/v1/events/{}\" title=\"{}\"><code>{}…</code></a>",
        pct(&hex),
        esc(&hex),
        esc(&short)
    )
}

/// Carats for a table: `1,234.56 ct`.
pub fn carats(hundredths: u64) -> String {
    esc(&format_carats(hundredths))
}

/// Money for a table: `US$ 12,345.67`.
pub fn usd(cents: u64) -> String {
    esc(&format_usd(cents))
}

/// Where a certificate stands, as a badge.
pub fn status_badge(s: CertificateStatus) -> String {
    let words = match s {
        CertificateStatus::AwaitingConfirmation => "awaiting confirmation",
        CertificateStatus::Overdue => "overdue",
        CertificateStatus::Confirmed => "confirmed",
        CertificateStatus::Voided => "voided",
    };
    format!("<span class=\"badge {}\">{words}</span>", s.as_str())
}

/// Unix milliseconds as `2026-11-28 14:03:07 UTC`.
pub fn time_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let day = secs % 86_400;
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        Date::from_unix_ms(ms),
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}

/// The quarter (1 to 4) of a date.
pub fn quarter_of(d: Date) -> u8 {
    let (_, m, _) = d.ymd();
    (m.clamp(1, 12) as u8 - 1) / 3 + 1
}

/// A note in a box (`class`: `partial`, `error`, `hint`); `html` is
/// already escaped.
pub fn note(class: &str, html: &str) -> String {
    format!("<div class=\"note {class}\">{html}</div>")
}

// ------------------------------------------------------------ queries

/// Longest query string a page reads.
pub const MAX_QUERY: usize = 2048;
/// Most `name=value` pairs read from one query string.
pub const MAX_PAIRS: usize = 32;

/// A parsed query string: `name=value` pairs, percent- and `+`-decoded.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a raw query string: at most [`MAX_QUERY`] bytes and
    /// [`MAX_PAIRS`] pairs, each name and value valid UTF-8 after decoding.
    pub fn parse(raw: Option<&str>) -> Result<Params, String> {
        let Some(raw) = raw else {
            return Ok(Params::default());
        };
        if raw.len() > MAX_QUERY {
            return Err(format!(
                "the query string is {} bytes long; at most {MAX_QUERY} are read",
                raw.len()
            ));
        }
        let mut pairs = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            if pairs.len() == MAX_PAIRS {
                return Err(format!("more than {MAX_PAIRS} parameters"));
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(Params { pairs })
    }

    /// The first non-empty value of `name`, trimmed (a form sends its
    /// empty fields as `name=`, meaning "not given").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .find(|v| !v.is_empty())
    }
}

/// Percent- and `+`-decoding of one query component.
fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        "a `%` in the query string is not followed by two hex digits".to_owned()
                    })?;
                out.push(hex);
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "the query string is not UTF-8 once decoded".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(
            pct("BW-2026/1?a=\"b\" <"),
            "BW-2026%2F1%3Fa%3D%22b%22%20%3C"
        );
        let link = cert_link("<img src=x onerror=alert(1)>");
        assert!(!link.contains("<img"), "{link}");
        assert!(link.contains("&lt;img"), "{link}");
    }

    #[test]
    fn queries_are_bounded_and_never_panic() {
        let p = Params::parse(Some(
            "number=bw-2026%2D1&participant=&participant=ZA&x=%E2%82%AC+1",
        ))
        .expect("parses");
        assert_eq!(p.get("number"), Some("bw-2026-1"));
        assert_eq!(p.get("participant"), Some("ZA"));
        assert_eq!(p.get("x"), Some("€ 1"));
        assert_eq!(p.get("missing"), None);
        for bad in ["a=%", "a=%4", "a=%zz", "a=%ff%fe", "%C3"] {
            assert!(Params::parse(Some(bad)).is_err(), "{bad}");
        }
        let long = "a=".to_owned() + &"b".repeat(MAX_QUERY);
        assert!(Params::parse(Some(&long)).is_err());
        let many = vec!["a=1"; MAX_PAIRS + 1].join("&");
        assert!(Params::parse(Some(&many)).is_err());
        assert!(Params::parse(Some(&vec!["a=1"; MAX_PAIRS].join("&"))).is_ok());
        // Arbitrary bytes: an answer either way, never a panic.
        for i in 0..2000u32 {
            let s: String = (0..(i % 17))
                .map(|k| char::from_u32(((i * 31 + k * 7) % 128).max(1)).unwrap_or('%'))
                .collect();
            let _ = Params::parse(Some(&s));
        }
    }

    #[test]
    fn times_and_quarters() {
        assert_eq!(time_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(time_ms(1_795_860_394_863), "2026-11-28 10:06:34 UTC");
        let d = Date::from_ymd(2026, 11, 28).expect("date");
        assert_eq!(quarter_of(d), 4);
        assert_eq!(quarter_of(Date::from_ymd(2026, 3, 31).expect("date")), 1);
    }
}
