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

/// A text table with a header row; columns are left-aligned unless
/// marked right-aligned (numbers).
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            right: vec![false; header.len()],
        }
    }

    /// Right-aligns the columns at `cols` (numbers, so their digits line up).
    pub fn right_align(mut self, cols: &[usize]) -> Table {
        for &c in cols {
            if let Some(r) = self.right.get_mut(c) {
                *r = true;
            }
        }
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table for the terminal: fitted to its width (see [`set_width`])
    /// by wrapping the last column.
    pub fn render(&self) -> String {
        self.render_fit(width())
    }

    /// The table fitted to `width` columns: when it is wider, the last
    /// column (a text: explanation, detail) is wrapped at spaces onto
    /// continuation lines under itself; `None` or a width too small for the
    /// other columns leaves it whole.
    pub fn render_fit(&self, width: Option<usize>) -> String {
        let n = self.header.len();
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let lead: usize = w.iter().take(n.saturating_sub(1)).map(|x| x + 2).sum();
        let room = width
            .filter(|_| n > 0 && !self.right[n - 1])
            .and_then(|t| t.checked_sub(lead))
            .filter(|&r| r >= 20 && r < w[n - 1]);
        if let Some(room) = room {
            let mut fitted = Table {
                header: self.header.clone(),
                rows: Vec::new(),
                right: self.right.clone(),
            };
            for r in &self.rows {
                let last = r.get(n - 1).cloned().unwrap_or_default();
                for (k, piece) in wrap(&last, room).into_iter().enumerate() {
                    let mut row: Vec<String> = if k == 0 {
                        r.iter().take(n - 1).cloned().collect()
                    } else {
                        vec![String::new(); n - 1]
                    };
                    row.push(piece);
                    fitted.rows.push(row);
                }
            }
            return fitted.render_fit(None);
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                if self.right[i] {
                    let _ = write!(s, "{:>width$}", c, width = w[i]);
                    if i + 1 < n {
                        s.push_str("  ");
                    }
                } else if i + 1 == n {
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

/// Splits `text` into lines of at most `room` characters at spaces (a word
/// longer than `room` is cut).
fn wrap(text: &str, room: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_owned();
        while word.chars().count() > room {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(room).collect();
            word = word.chars().skip(room).collect();
            lines.push(head);
        }
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Progress of a long command on stderr: a bar on a terminal; when stderr
/// is piped or a file, a line now and then (every 10 % or 5 s), so a log
/// still shows the command is alive; nothing with `quiet` (JSON output).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    unit: &'static str,
    lines: bool,
    last: std::time::Instant,
    last_tenth: u64,
}

impl Progress {
    pub fn new(what: &'static str, unit: &'static str, quiet: bool) -> Progress {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = (!quiet && terminal).then(|| {
            let b = indicatif::ProgressBar::new(0);
            let template = format!("{what} {{bar:40}} {{pos}}/{{len}} {unit} ({{eta}})");
            b.set_style(
                indicatif::ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        Progress {
            bar,
            what,
            unit,
            lines: !quiet && !terminal,
            last: std::time::Instant::now(),
            last_tenth: 0,
        }
    }

    pub fn set(&mut self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done);
            return;
        }
        if !self.lines || total == 0 {
            return;
        }
        let tenth = done.saturating_mul(10) / total;
        if tenth > self.last_tenth || self.last.elapsed() >= std::time::Duration::from_secs(5) {
            self.last_tenth = tenth;
            self.last = std::time::Instant::now();
            eprintln!(
                "kpl: {}: {} of {} {}",
                self.what,
                group(done),
                group(total),
                self.unit
            );
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

static WIDTH: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();

/// Sets the width tables are fitted to: none with `--wide`; else `COLUMNS`
/// when set, else the terminal's when standard output is one (piped output
/// is never wrapped).
pub fn set_width(wide: bool) {
    let w = if wide {
        None
    } else if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
    {
        Some(c)
    } else {
        terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0))
    };
    let _ = WIDTH.set(w);
}

fn width() -> Option<usize> {
    WIDTH.get().copied().flatten()
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

/// `123456` hundredths → `1,234.56` (the unit goes in the header).
pub fn amount(hundredths: u64) -> String {
    format!("{}.{:02}", group(hundredths / 100), hundredths % 100)
}

/// One CSV line (RFC 4180 quoting where needed).
pub fn csv_line(cells: &[String]) -> String {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
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
        let mut t = Table::new(&["N", "CARATS (ct)"]).right_align(&[1]);
        t.row(vec!["a".into(), "1.00".into()]);
        t.row(vec!["b".into(), "1,234.56".into()]);
        assert_eq!(
            t.render(),
            "N  CARATS (ct)\n-  -----------\na         1.00\nb     1,234.56\n"
        );
    }

    #[test]
    fn tables_fit_the_width_by_wrapping_the_last_column() {
        let mut t = Table::new(&["KIND", "WHY"]);
        t.row(vec![
            "fork".into(),
            "an author signed two different events for one place in its feed".into(),
        ]);
        let wide = t.render_fit(None);
        assert_eq!(wide.lines().count(), 3);
        let fitted = t.render_fit(Some(30));
        for line in fitted.lines() {
            assert!(line.chars().count() <= 30, "{line:?} in\n{fitted}");
        }
        assert!(fitted.lines().count() > 3, "{fitted}");
        // Every word is still there, in order.
        let words: Vec<&str> = fitted
            .lines()
            .skip(2)
            .flat_map(|l| l.split_whitespace())
            .collect();
        assert_eq!(words[0], "fork");
        assert_eq!(
            words[1..].join(" "),
            "an author signed two different events for one place in its feed"
        );
        // Too narrow for the other columns: left whole.
        assert_eq!(t.render_fit(Some(10)), wide);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn csv_quotes_only_where_needed() {
        assert_eq!(
            csv_line(&["a".into(), "b,c".into(), "say \"x\"".into()]),
            "a,\"b,c\",\"say \"\"x\"\"\"\n"
        );
    }
}
