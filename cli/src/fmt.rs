//! Output helpers: plain tables, amounts without floats, exit codes.

use std::fmt::Write as _;

/// Exit code: success.
pub const OK: i32 = 0;
/// Exit code: the answer is "something is wrong" (findings, a bad chain).
pub const FOUND: i32 = 1;
/// Exit code: usage or connection error.
pub const USAGE: i32 = 2;

/// An error that ends the command with a message and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn usage(m: impl Into<String>) -> Failure {
        Failure {
            code: USAGE,
            message: m.into(),
        }
    }
    pub fn found(m: impl Into<String>) -> Failure {
        Failure {
            code: FOUND,
            message: m.into(),
        }
    }
}

impl From<String> for Failure {
    fn from(m: String) -> Failure {
        Failure::usage(m)
    }
}

pub type CmdResult = Result<i32, Failure>;

/// A left-aligned text table with a header row.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                if i + 1 == n {
                    s.push_str(c);
                } else {
                    let _ = write!(s, "{:<width$}  ", c, width = w[i]);
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&self.header, &mut out);
        let rule: Vec<String> = w.iter().map(|n| "-".repeat(*n)).collect();
        line(&rule, &mut out);
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `123456` hundredths → `1,234.56 ct`.
pub fn carats(hundredths: u64) -> String {
    format!("{}.{:02} ct", group(hundredths / 100), hundredths % 100)
}

/// `1234567` cents → `US$ 12,345.67`.
pub fn usd(cents: u64) -> String {
    format!("US$ {}.{:02}", group(cents / 100), cents % 100)
}

/// A signed difference in hundredths or cents, e.g. `-12.34`.
pub fn signed_hundredths(v: i128) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:02}", group((a / 100) as u64), a % 100)
}

pub use kpl::import::parse_hundredths;

pub fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Warns on stderr that an answer was computed from partial data. `partial`
/// is the `partial` JSON of an answer (the node's, or an offline view's):
/// `unreadable_records`, `first_offset`, `unreadable` (offset, to, author,
/// seq, reason). `check` says how to list every damaged record.
pub fn warn_partial(partial: &serde_json::Value, check: &str) {
    let n = partial["unreadable_records"].as_u64().unwrap_or(0);
    let listed: Vec<&serde_json::Value> = partial["unreadable"]
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let mut offsets: Vec<String> = listed
        .iter()
        .take(10)
        .filter_map(|u| u["offset"].as_u64())
        .map(|o| o.to_string())
        .collect();
    if offsets.is_empty() {
        offsets.push(partial["first_offset"].to_string());
    }
    let more = if n as usize > offsets.len() {
        ", …"
    } else {
        ""
    };
    eprintln!(
        "kpl: WARNING: answer computed from partial data: {n} record(s) of the log unreadable at offset(s) {}{more}; what they held is missing from this answer. Run {check} to list every damaged record.",
        offsets.join(", ")
    );
    for u in listed.iter().take(10) {
        let place = match (u["author"].as_str(), u["seq"].as_u64()) {
            (Some(a), Some(s)) => format!("{a} seq {s}"),
            _ => "author and seq unreadable".into(),
        };
        eprintln!(
            "kpl:   offset {} ({place}): {}",
            u["offset"],
            u["reason"].as_str().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_hundredths("c", "1234.56").unwrap(), 123_456);
        assert_eq!(parse_hundredths("c", "1,234.5").unwrap(), 123_450);
        assert_eq!(parse_hundredths("c", "7").unwrap(), 700);
        assert!(parse_hundredths("c", "1.234").is_err());
        assert!(parse_hundredths("c", "-1").is_err());
        assert!(parse_hundredths("c", "1e5").is_err());
        assert!(parse_hundredths("c", "99999999999999999999").is_err());
        assert_eq!(carats(123_456), "1,234.56 ct");
        assert_eq!(usd(100_000_005), "US$ 1,000,000.05");
        assert_eq!(signed_hundredths(-1234), "-12.34");
    }

    #[test]
    fn table_aligns() {
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["xxx".into(), "y".into()]);
        assert_eq!(t.render(), "a    bb\n---  --\nxxx  y\n");
    }
}
