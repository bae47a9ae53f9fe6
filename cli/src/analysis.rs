//! Auditors' commands: provenance, audit findings, KP statistics. They ask
//! a node, or with `--data-dir` read a stopped node's store directly.
//!
//! An answer computed from partial data (records of the log that could not
//! be read) is printed with a warning on stderr, carries `partial` in its
//! JSON, and the command exits 1; a store that does not open because its
//! log is damaged gives no answer (exit 1, naming the damage).

use std::path::PathBuf;

use clap::Args;
use ledger_core::analysis::{
    AuditParams, CertificateQuery, CertificateStatus, CertificateSummary, Finding, FindingKind,
    LedgerView, OriginShares, Severity, TraceNode, TradeStats,
};
use ledger_core::error::StoreError;
use ledger_core::store::{stored_charter, Ledger, StoreOptions};
use ledger_core::{CountryCode, Date};
use serde_json::{json, Value};

use crate::client::Client;
use crate::fmt::{
    amount, carats, csv_line, short, signed_hundredths, warn_partial, CmdResult, Failure, Table,
    FOUND, OK,
};
use crate::listing::plural;

#[derive(Args)]
pub struct Offline {
    /// Read a stopped node's data directory instead of asking a node.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub(crate) fn open_view(dir: &std::path::Path) -> Result<LedgerView, Failure> {
    let store = if dir.join("store").join("events.log").exists() {
        dir.join("store")
    } else {
        dir.to_owned()
    };
    let charter = stored_charter(&store).map_err(|e| Failure::usage(e.to_string()))?;
    let ledger = Ledger::open(&store, &charter, StoreOptions::default())
        .map_err(|e| store_failure(dir, e))?;
    LedgerView::from_ledger(&ledger).map_err(|e| store_failure(dir, e))
}

/// A store that cannot be read whole gives no answer: "something is wrong"
/// (exit 1) when its data is damaged, a usage error otherwise.
fn store_failure(dir: &std::path::Path, e: StoreError) -> Failure {
    match e {
        StoreError::Damaged(_) | StoreError::CorruptLog { .. } | StoreError::Corrupt(_) => {
            Failure::found(format!(
                "{e}\n  No answer is computed from a damaged store: `kpl verify --data-dir {}` lists every damaged record.",
                dir.display()
            ))
        }
        other => Failure::usage(other.to_string()),
    }
}

/// An offline view's partial-data mark, in the form the node's API gives
/// it (the node's own function, so the two cannot drift apart).
pub(crate) use kpl_node::api::partial_json;

/// How to list every damaged record behind a partial answer.
fn check_hint(offline: &Offline) -> String {
    match &offline.data_dir {
        Some(d) => format!("`kpl verify --data-dir {}`", d.display()),
        None => "`kpl verify --data-dir DIR` on the node's data directory (with the node stopped)"
            .into(),
    }
}

/// Ends a command: a partial answer is warned about and exits 1.
pub(crate) fn finish(partial: &Option<Value>, offline: &Offline, code: i32) -> CmdResult {
    match partial {
        Some(p) => {
            warn_partial(p, &check_hint(offline));
            Ok(FOUND)
        }
        None => Ok(code),
    }
}

/// Adds `partial` to a JSON answer when there is one.
pub(crate) fn with_partial(mut v: Value, partial: &Option<Value>) -> Value {
    if let (Some(p), Some(obj)) = (partial, v.as_object_mut()) {
        obj.insert("partial".into(), p.clone());
    }
    v
}

pub(crate) fn now_ms() -> u64 {
    crate::offline::now_ms()
}

// ------------------------------------------------------------------ trace

#[derive(Args)]
pub struct TraceArgs {
    /// The certificate to trace back to the mines.
    pub certificate: String,
    #[command(flatten)]
    pub offline: Offline,
}

fn count_findings(t: &TraceNode) -> usize {
    t.findings.len() + t.children.iter().map(count_findings).sum::<usize>()
}

fn unaccounted(t: &TraceNode) -> u64 {
    t.unaccounted_carat_hundredths + t.children.iter().map(unaccounted).sum::<u64>()
}

pub fn trace(c: &Client, a: &TraceArgs, json_out: bool) -> CmdResult {
    let (tree, text, partial) = match &a.offline.data_dir {
        Some(d) => {
            let v = open_view(d)?;
            let partial = partial_json(&v);
            let t = v
                .trace_at(&a.certificate, &AuditParams::new(now_ms()))
                .ok_or_else(|| never_issued(&a.certificate, &partial, &a.offline))?;
            let text = t.render_tree();
            (t, text, partial)
        }
        None => {
            let v = c.call_opt(|n| n.trace(&a.certificate))?.ok_or_else(|| {
                Failure::found(format!(
                    "certificate {} was never issued in this ledger",
                    a.certificate
                ))
            })?;
            let partial = v
                .partial
                .as_ref()
                .and_then(|p| serde_json::to_value(p).ok());
            (v.answer.trace, v.answer.tree, partial)
        }
    };
    let findings = count_findings(&tree);
    let missing = unaccounted(&tree);
    let by_origin = tree.carats_by_origin();
    if json_out {
        println!(
            "{}",
            with_partial(
                json!({"trace": tree, "findings": findings, "unaccounted_carat_hundredths": missing, "by_origin": by_origin}),
                &partial
            )
        );
    } else {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
        println!();
        print_origins(&by_origin, tree.carat_hundredths.unwrap_or(0));
        if findings == 0 && missing == 0 {
            println!("every carat is accounted for back to the mines, with no findings on the way");
        } else {
            println!(
                "{findings} finding(s) on the way; {} not accounted for by source certificates",
                carats(missing)
            );
        }
    }
    let code = if findings > 0 || missing > 0 {
        FOUND
    } else {
        OK
    };
    finish(&partial, &a.offline, code)
}

/// The shipment's carats by origin, with each one's share.
pub fn print_origins(o: &OriginShares, total: u64) {
    if o.origins.is_empty() && o.unaccounted_carat_hundredths == 0 {
        return;
    }
    let pct = |v: u64| -> String {
        if total == 0 {
            return "-".into();
        }
        // Tenths of a percent, rounded half up, in integers.
        let t = (u128::from(v) * 2000 / u128::from(total)).div_ceil(2);
        format!("{}.{}%", t / 10, t % 10)
    };
    let mut t = Table::new(&["ORIGIN", "CARATS (ct)", "SHARE"]).right_align(&[1, 2]);
    for s in &o.origins {
        t.row(vec![
            s.origin.clone(),
            crate::fmt::amount(s.carat_hundredths),
            pct(s.carat_hundredths),
        ]);
    }
    if o.unaccounted_carat_hundredths > 0 {
        t.row(vec![
            "not accounted for".into(),
            crate::fmt::amount(o.unaccounted_carat_hundredths),
            pct(o.unaccounted_carat_hundredths),
        ]);
    }
    println!("By origin (carats split over each certificate's sources in proportion):");
    print!("{}", t.render());
    println!();
}

/// "Never issued", unless the view is partial: then the issue may be in a
/// record that could not be read.
fn never_issued(number: &str, partial: &Option<Value>, offline: &Offline) -> Failure {
    match partial {
        Some(p) => {
            warn_partial(p, &check_hint(offline));
            Failure::found(format!(
                "certificate {number} is not in what could be read of this ledger (it may be in an unreadable record)"
            ))
        }
        None => Failure::found(format!(
            "certificate {number} was never issued in this ledger"
        )),
    }
}

// ------------------------------------------------------------------ audit

#[derive(Args)]
pub struct AuditArgs {
    /// Only findings involving this participant.
    #[arg(long)]
    pub participant: Option<String>,
    /// Only findings dated from this day (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only findings dated up to this day (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Days after expiry an importer has to confirm.
    #[arg(long, default_value_t = 30)]
    pub grace_days: i32,
    /// Tolerance on confirmed carats and value, in basis points (100 = 1%).
    #[arg(long, default_value_t = 0)]
    pub tolerance_bp: u32,
    /// Only findings of these kinds (repeat, or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub kind: Vec<String>,
    /// Only findings at least this serious: high, medium or low.
    #[arg(long, value_parser = ["high", "medium", "low"])]
    pub severity: Option<String>,
    /// Order of the findings.
    #[arg(long, value_enum, default_value_t = AuditOrder::Severity)]
    pub sort: AuditOrder,
    /// CSV for spreadsheets (one line per finding, full event ids).
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub offline: Offline,
}

/// How `kpl audit` orders its findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditOrder {
    /// Most serious first, then by kind and certificate.
    Severity,
    /// Oldest first.
    Date,
    /// By certificate number.
    Certificate,
    /// By kind, then certificate.
    Kind,
}

fn sort_findings(findings: &mut [Finding], order: AuditOrder) {
    match order {
        // The order the analysis gives.
        AuditOrder::Severity => {}
        AuditOrder::Date => findings.sort_by_key(|f| f.date),
        AuditOrder::Certificate => findings.sort_by(|a, b| a.certificate.cmp(&b.certificate)),
        AuditOrder::Kind => findings.sort_by(|a, b| {
            (a.kind.as_str(), &a.certificate).cmp(&(b.kind.as_str(), &b.certificate))
        }),
    }
}

fn finding_kinds(names: &[String]) -> Result<Vec<FindingKind>, Failure> {
    names
        .iter()
        .filter(|k| !k.is_empty())
        .map(|k| {
            FindingKind::from_name(k).ok_or_else(|| {
                let all: Vec<&str> = FindingKind::ALL.iter().map(|k| k.as_str()).collect();
                Failure::usage(format!(
                    "--kind: {k:?} is not a finding kind; one of: {}",
                    all.join(", ")
                ))
            })
        })
        .collect()
}

pub fn audit(c: &Client, a: &AuditArgs, json_out: bool) -> CmdResult {
    let participant = a.participant.as_deref().map(CountryCode::new).transpose()?;
    let from = a.from.as_deref().map(str::parse::<Date>).transpose()?;
    let to = a.to.as_deref().map(str::parse::<Date>).transpose()?;
    let kinds = finding_kinds(&a.kind)?;
    let severity = a
        .severity
        .as_deref()
        .map(str::parse::<Severity>)
        .transpose()?;
    type Answer = (Vec<Finding>, Vec<CertificateSummary>, Option<Value>);
    let (mut findings, awaiting, partial): Answer = match &a.offline.data_dir {
        Some(d) => {
            let v = open_view(d)?;
            let mut p = AuditParams::new(now_ms());
            p.participant = participant;
            p.from = from;
            p.to = to;
            p.confirmation_grace_days = a.grace_days;
            p.tolerance_bp = a.tolerance_bp;
            p.kinds = kinds;
            p.min_severity = severity;
            let mut w = CertificateQuery::new(p.now);
            w.participant = participant;
            w.from = from;
            w.to = to;
            w.grace_days = a.grace_days;
            w.status = Some(CertificateStatus::AwaitingConfirmation);
            (v.audit(&p), v.list_certificates(&w), partial_json(&v))
        }
        None => {
            let mut q = format!(
                "grace_days={}&tolerance_bp={}",
                a.grace_days, a.tolerance_bp
            );
            if !kinds.is_empty() {
                let k: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                q.push_str(&format!("&kind={}", k.join(",")));
            }
            if let Some(s) = severity {
                q.push_str(&format!("&severity={s}"));
            }
            if let Some(p) = participant {
                q.push_str(&format!("&participant={p}"));
            }
            if let Some(d) = from {
                q.push_str(&format!("&from={d}"));
            }
            if let Some(d) = to {
                q.push_str(&format!("&to={d}"));
            }
            let r = c.call(|n| n.audit(&q))?;
            (
                r.answer.findings,
                r.answer.awaiting_confirmation,
                r.partial.map(|p| json!(p)),
            )
        }
    };
    sort_findings(&mut findings, a.sort);
    if json_out {
        println!(
            "{}",
            with_partial(
                json!({"findings": findings, "count": findings.len(), "awaiting_confirmation": awaiting}),
                &partial
            )
        );
    } else if a.csv {
        let mut out = csv_line(
            &[
                "severity",
                "kind",
                "certificate",
                "participants",
                "date",
                "events",
                "explanation",
            ]
            .map(str::to_owned),
        );
        for f in &findings {
            out.push_str(&csv_line(&[
                f.severity.as_str().to_owned(),
                f.kind.as_str().to_owned(),
                f.certificate.clone().unwrap_or_default(),
                f.participants
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                f.date.to_string(),
                f.events
                    .iter()
                    .map(|e| e.to_hex())
                    .collect::<Vec<_>>()
                    .join(" "),
                f.explanation.clone(),
            ]));
        }
        print!("{out}");
    } else if findings.is_empty() {
        println!("no findings");
    } else {
        let mut t = Table::new(&[
            "SEVERITY",
            "KIND",
            "CERTIFICATE",
            "WHO",
            "DATE",
            "EVENTS",
            "EXPLANATION",
        ]);
        for f in &findings {
            t.row(vec![
                f.severity.as_str().to_owned(),
                f.kind.as_str().to_owned(),
                f.certificate.clone().unwrap_or_else(|| "-".into()),
                f.participants
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                f.date.to_string(),
                match f.events.split_first() {
                    Some((first, [])) => short(&first.to_hex()),
                    Some((first, rest)) => format!("{} +{}", short(&first.to_hex()), rest.len()),
                    None => "-".into(),
                },
                f.explanation.clone(),
            ]);
        }
        print!("{}", t.render());
        println!(
            "\n{} {}; `kpl --json audit` lists the full event ids",
            findings.len(),
            plural(findings.len(), "finding", "findings")
        );
    }
    if !json_out && !a.csv {
        print_awaiting(&awaiting);
    }
    finish(
        &partial,
        &a.offline,
        if findings.is_empty() { OK } else { FOUND },
    )
}

/// The exports whose destination may still confirm (not findings yet).
fn print_awaiting(awaiting: &[CertificateSummary]) {
    if awaiting.is_empty() {
        return;
    }
    let next = awaiting.iter().map(|s| s.confirm_by).min();
    println!(
        "\n{} {} awaiting confirmation, not overdue yet{}; `kpl certificates --status awaiting_confirmation` lists {}",
        awaiting.len(),
        plural(awaiting.len(), "certificate", "certificates"),
        next.map_or(String::new(), |d| format!(" (the first is due by {d})")),
        plural(awaiting.len(), "it", "them"),
    );
}

// ------------------------------------------------------------------ stats

#[derive(Args)]
pub struct StatsArgs {
    /// 1 to 9999.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=9999))]
    pub year: i32,
    /// 1 to 4; the whole year when absent.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub quarter: Option<u8>,
    /// CSV for spreadsheets (both tables, separated by a blank line).
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub offline: Offline,
}

pub fn stats(c: &Client, a: &StatsArgs, json_out: bool) -> CmdResult {
    let (s, partial): (TradeStats, Option<Value>) = match &a.offline.data_dir {
        Some(d) => {
            let v = open_view(d)?;
            (v.stats(a.year, a.quarter), partial_json(&v))
        }
        None => {
            let mut q = format!("/v1/stats?year={}", a.year);
            if let Some(qt) = a.quarter {
                q.push_str(&format!("&quarter={qt}"));
            }
            let v: Value = c.get(&q)?;
            let partial = v.get("partial").cloned().filter(|p| !p.is_null());
            let s = serde_json::from_value(v)
                .map_err(|e| Failure::usage(format!("unexpected answer from the node: {e}")))?;
            (s, partial)
        }
    };
    let inexact = s.total_exports.overflow
        || s.total_imports.overflow
        || s.participants
            .iter()
            .any(|p| p.exports.overflow || p.imports.overflow)
        || s.mirror.iter().any(|r| r.overflow);
    if inexact {
        eprintln!(
            "warning: some sums do not fit in 64 bits and are not exact (`overflow: true` in --json)"
        );
    }
    if json_out {
        let v = serde_json::to_value(&s).unwrap_or_default();
        println!("{}", with_partial(v, &partial));
        return finish(&partial, &a.offline, OK);
    }
    if a.csv {
        print!("{}", s.participants_to_csv());
        println!();
        print!("{}", s.mirror_to_csv());
        return finish(&partial, &a.offline, OK);
    }
    let period = match s.period.quarter {
        Some(q) => format!("{} Q{q}", s.period.year),
        None => s.period.year.to_string(),
    };
    println!(
        "KP trade statistics, {period} ({} to {})\n",
        s.period.from, s.period.to
    );
    let t = Table::new(&[
        "PARTICIPANT",
        "EXPORT CERTS",
        "EXPORTS (ct)",
        "EXPORTS (US$)",
        "IMPORT CERTS",
        "IMPORTS (ct)",
        "IMPORTS (US$)",
    ]);
    let mut t = t.right_align(&[1, 2, 3, 4, 5, 6]);
    for p in &s.participants {
        t.row(vec![
            p.participant.to_string(),
            p.exports.certificates.to_string(),
            amount(p.exports.carat_hundredths),
            amount(p.exports.value_usd_cents),
            p.imports.certificates.to_string(),
            amount(p.imports.carat_hundredths),
            amount(p.imports.value_usd_cents),
        ]);
    }
    t.row(vec![
        "TOTAL".into(),
        s.total_exports.certificates.to_string(),
        amount(s.total_exports.carat_hundredths),
        amount(s.total_exports.value_usd_cents),
        s.total_imports.certificates.to_string(),
        amount(s.total_imports.carat_hundredths),
        amount(s.total_imports.value_usd_cents),
    ]);
    print!("{}", t.render());
    // Participants that were not in good standing for the whole period:
    // their figures cover only the days they were participants.
    let full = |p: &ledger_core::analysis::ParticipantTrade| {
        matches!(p.membership.as_slice(), [only] if only.standing == "member"
            && only.from == s.period.from && only.to == s.period.to)
    };
    let part_time: Vec<_> = s.participants.iter().filter(|p| !full(p)).collect();
    if !part_time.is_empty() {
        println!("\nMembership during the period (figures cover only the days as a participant):");
        for p in part_time {
            let spans: Vec<String> = p
                .membership
                .iter()
                .map(|m| {
                    let zones = if m.exporting_zones.is_empty() {
                        String::new()
                    } else {
                        format!(" (may export from {})", m.exporting_zones.join(", "))
                    };
                    format!(
                        "{} {} to {}{zones}",
                        m.standing.replace('_', " "),
                        m.from,
                        m.to
                    )
                })
                .collect();
            println!("  {}: {}", p.participant, spans.join("; "));
        }
    }
    println!("\nMirror table: A's recorded exports to B beside B's confirmed imports from A.");
    println!("DIFF = exported - confirmed: positive when less was confirmed than exported (not yet confirmed, or lost on the way), negative when more was confirmed than was exported.\n");
    let m = Table::new(&[
        "EXPORTER",
        "IMPORTER",
        "EXPORTED (ct)",
        "CONFIRMED (ct)",
        "DIFF (ct)",
        "EXPORTED (US$)",
        "CONFIRMED (US$)",
        "DIFF (US$)",
    ]);
    let mut m = m.right_align(&[2, 3, 4, 5, 6, 7]);
    for r in &s.mirror {
        m.row(vec![
            r.exporter.to_string(),
            r.importer.to_string(),
            amount(r.exports.carat_hundredths),
            amount(r.imports.carat_hundredths),
            signed_hundredths(r.diff_carat_hundredths as i128),
            amount(r.exports.value_usd_cents),
            amount(r.imports.value_usd_cents),
            signed_hundredths(r.diff_value_usd_cents as i128),
        ]);
    }
    if m.is_empty() {
        println!("no trade in this period");
    } else {
        print!("{}", m.render());
    }
    finish(&partial, &a.offline, OK)
}
