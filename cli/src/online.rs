//! Commands that talk to a node's HTTP API.

use std::path::PathBuf;

use clap::Args;
use kpl_api::types::{BatchRefusal, BatchResponse, BatchResult, EventView, WriteReceipt};
use ledger_core::lifecycle::Corrected;
use ledger_core::Correction;
use ledger_core::EventBody;
use serde::Serialize;
use serde_json::{json, Value};

use crate::client::{enc, Client};
use kpl::import::origin_json;

use crate::fmt::{carats, parse_hundredths, short, usd, CmdResult, Failure, Table, FOUND, OK};

#[derive(Args)]
pub struct IssueArgs {
    /// Many certificates from a CSV file (columns as in the README) or a JSON array.
    #[arg(long, conflicts_with = "number")]
    pub file: Option<PathBuf>,
    /// Certificate number, starting with the issuer's code (e.g. BW-2026-000123).
    #[arg(long, required_unless_present = "file")]
    pub number: Option<String>,
    /// Country of origin (alpha-2), or `mixed`, or `mixed:BW,ZA`.
    #[arg(long, default_value = "")]
    pub origin: String,
    /// Zone of origin within the country, where relevant.
    #[arg(long)]
    pub zone: Option<String>,
    /// Date of issue, YYYY-MM-DD (default today).
    #[arg(long)]
    pub issued: Option<String>,
    /// Date of expiry, YYYY-MM-DD (default issue + 60 days).
    #[arg(long)]
    pub expires: Option<String>,
    /// Issuing authority as printed (default: the authority's title in the charter).
    #[arg(long)]
    pub issuing_authority: Option<String>,
    #[arg(long, default_value = "")]
    pub exporter_name: String,
    #[arg(long, default_value = "")]
    pub exporter_address: String,
    #[arg(long, default_value = "")]
    pub importer_name: String,
    #[arg(long, default_value = "")]
    pub importer_address: String,
    /// Importing participant (alpha-2 or EU).
    #[arg(long, default_value = "")]
    pub destination: String,
    /// Carat weight, e.g. 1234.56 (at most two decimals).
    #[arg(long, default_value = "0")]
    pub carats: String,
    /// Value in US dollars, e.g. 250000.00.
    #[arg(long, default_value = "0")]
    pub value: String,
    #[arg(long, default_value_t = 1)]
    pub parcels: u32,
    /// HS codes, comma-separated (7102.10, 7102.21, 7102.31).
    #[arg(long, value_delimiter = ',', default_value = "7102.31")]
    pub hs: Vec<String>,
    /// For a re-export: the certificates the stones were imported under (repeatable).
    #[arg(long)]
    pub source: Vec<String>,
    #[command(flatten)]
    pub force: ForceArg,
}

fn today() -> String {
    ledger_core::Date::from_unix_ms(crate::offline::now_ms()).to_string()
}

fn certificate_from_flags(a: &IssueArgs) -> Result<Value, Failure> {
    let issued = a.issued.clone().unwrap_or_else(today);
    let issued_date: ledger_core::Date = issued.parse()?;
    let expires = match &a.expires {
        Some(e) => e.clone(),
        None => issued_date.add_days(60).to_string(),
    };
    let mut sources = a.source.clone();
    sources.sort();
    sources.dedup();
    Ok(json!({
        "number": a.number.clone().unwrap_or_default(),
        "origin": origin_json(&a.origin, &a.zone)?,
        "issued_on": issued,
        "expires_on": expires,
        "issuing_authority": a.issuing_authority.clone().unwrap_or_default(),
        "exporter": {"name": a.exporter_name, "address": a.exporter_address},
        "importer": {"name": a.importer_name, "address": a.importer_address},
        "destination": a.destination,
        "carat_hundredths": parse_hundredths("--carats", &a.carats)?,
        "value_usd_cents": parse_hundredths("--value", &a.value)?,
        "parcels": a.parcels,
        "hs_codes": a.hs,
        "source_certificates": sources,
    }))
}

/// Reads certificates from a CSV (header row with the column names below)
/// or a JSON array of certificates in the API's form.
/// `--force`: sign a write the node's check before signing refuses.
#[derive(Args, Clone, Copy, Default)]
pub struct ForceArg {
    /// Sign even though the node refuses this write as a likely mistake (a
    /// number already issued, a confirmation of a certificate addressed
    /// elsewhere, …); the audit still reports it.
    #[arg(long, global = true)]
    pub force: bool,
}

impl ForceArg {
    /// `path` with `?force=true` when asked.
    pub fn path(self, path: &str) -> String {
        if self.force {
            format!("{path}?force=true")
        } else {
            path.to_owned()
        }
    }
}

fn certificates_from_file(path: &PathBuf) -> Result<Vec<kpl::import::Row>, Failure> {
    let meta =
        std::fs::metadata(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    if meta.len() > kpl::import::MAX_IMPORT_BYTES {
        return Err(Failure::usage(format!(
            "{}: larger than 256 MiB",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    kpl::import::certificates_from_text(&text)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

pub fn issue(c: &Client, a: &IssueArgs, json_out: bool) -> CmdResult {
    let Some(file) = &a.file else {
        let cert = certificate_from_flags(a)?;
        let r: WriteReceipt = c.post_as(&a.force.path(kpl_api::paths::CERTIFICATES), &cert)?;
        print_written(
            &r,
            &format!("issued {}", cert["number"].as_str().unwrap_or("")),
            json_out,
        );
        return Ok(OK);
    };
    let rows = certificates_from_file(file)?;
    let mut bar = crate::fmt::Progress::new("issuing", "rows", json_out);
    let mut accepted: Vec<Placed> = Vec::new();
    let mut already: Vec<Placed> = Vec::new();
    let mut refused: Vec<Refused> = Vec::new();
    let mut good: Vec<Value> = Vec::new();
    for r in rows {
        match r {
            Ok(v) => good.push(v),
            Err(e) => refused.push(Refused {
                number: e.number,
                error: BatchRefusal {
                    code: None,
                    field: Some(e.field),
                    message: e.message,
                },
            }),
        }
    }
    let total = good.len() + refused.len();
    let mut failed: Option<Failure> = None;
    // Batches of up to 500 certificates: one request and one durable group commit each.
    let mut sent = 0u64;
    for chunk in good.chunks(500) {
        let r: BatchResponse = match c.post_as(
            &a.force.path(kpl_api::paths::CERTIFICATES_BATCH),
            &Value::Array(chunk.to_vec()),
        ) {
            Ok(r) => r,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        for (cert, res) in chunk.iter().zip(r.results) {
            // The number as the row gave it (a request body, not an answer).
            let number = cert["number"].as_str().unwrap_or("").to_owned();
            match res {
                BatchResult::Refused { error } => refused.push(Refused { number, error }),
                BatchResult::Written(w) => {
                    let placed = Placed {
                        number,
                        id: w.id,
                        seq: w.seq,
                    };
                    if w.already_signed.is_some() {
                        already.push(placed);
                    } else {
                        accepted.push(placed);
                    }
                }
            }
        }
        sent += chunk.len() as u64;
        bar.set(sent, good.len() as u64);
    }
    bar.finish();
    let done = accepted.len() + already.len() + refused.len();
    if json_out {
        let mut v = json!({"accepted": accepted, "already_signed": already, "refused": refused});
        if let Some(e) = &failed {
            v["interrupted"] = json!({"after_rows": done, "of": total, "error": e.message});
        }
        println!("{v}");
    } else {
        let again = match already.len() {
            0 => String::new(),
            n => format!("; {n} already signed by an earlier run, not signed again"),
        };
        println!(
            "{} accepted, {} refused{again}",
            accepted.len(),
            refused.len()
        );
        if !refused.is_empty() {
            let mut t = Table::new(&["NUMBER", "FIELD", "WHY"]);
            for r in &refused {
                let field = r
                    .error
                    .field
                    .as_deref()
                    .filter(|f| !f.is_empty())
                    .or(r.error.code.as_deref())
                    .unwrap_or("-");
                t.row(vec![
                    r.number.clone(),
                    field.into(),
                    r.error.message.clone(),
                ]);
            }
            print!("{}", t.render());
        }
    }
    if let Some(e) = failed {
        return Err(Failure::usage(format!(
            "{}\n  The import stopped after {done} of {total} rows: the {} accepted above are signed and durable. Run the same command again when the node is reachable: rows already signed are recognised and not signed again.",
            e.message,
            accepted.len() + already.len()
        )));
    }
    Ok(if refused.is_empty() { OK } else { FOUND })
}

/// One certificate of an import that was signed: its number, event id and seq.
#[derive(Serialize)]
struct Placed {
    number: String,
    id: String,
    seq: u64,
}

/// One certificate of an import that was refused, and why.
#[derive(Serialize)]
struct Refused {
    number: String,
    error: BatchRefusal,
}

fn print_written(r: &WriteReceipt, what: &str, json_out: bool) {
    if let Some(why) = &r.signed_despite {
        eprintln!(
            "kpl: WARNING: signed anyway (--force) although: {}",
            why.message
        );
    }
    if json_out {
        println!("{}", json!(r));
    } else if r.already_signed.is_some() {
        println!(
            "already signed earlier: event {} at seq {}; nothing new was signed",
            r.id, r.seq
        );
    } else {
        println!("{what}: event {} at seq {} (durable)", r.id, r.seq);
    }
}

#[derive(Args)]
pub struct ConfirmArgs {
    /// The certificate number the shipment travelled under.
    pub certificate: String,
    #[arg(long)]
    pub parcels: u32,
    /// Carats received, e.g. 1234.56.
    #[arg(long)]
    pub carats: String,
    /// Value received in US dollars.
    #[arg(long)]
    pub value: String,
    /// Date of receipt (default today).
    #[arg(long)]
    pub received: Option<String>,
    #[command(flatten)]
    pub force: ForceArg,
}

/// Certificate numbers are written in capitals: a number in lowercase is
/// refused with the number it probably means.
fn capitals(number: &str) -> Result<(), Failure> {
    let upper = number.to_ascii_uppercase();
    if upper != number {
        return Err(Failure::usage(format!(
            "{number}: certificate numbers are written in capitals: did you mean {upper}?"
        )));
    }
    Ok(())
}

pub fn confirm(c: &Client, a: &ConfirmArgs, json_out: bool) -> CmdResult {
    capitals(&a.certificate)?;
    let body = json!({
        "certificate": a.certificate,
        "exporter_participant": a.certificate.get(..2).unwrap_or(""),
        "parcels": a.parcels,
        "carat_hundredths": parse_hundredths("--carats", &a.carats)?,
        "value_usd_cents": parse_hundredths("--value", &a.value)?,
        "received_on": a.received.clone().unwrap_or_else(today),
    });
    let r: WriteReceipt = c.post_as(&a.force.path(kpl_api::paths::CONFIRMATIONS), &body)?;
    print_written(
        &r,
        &format!("confirmed import under {}", a.certificate),
        json_out,
    );
    Ok(OK)
}

#[derive(Args)]
pub struct VoidArgs {
    pub certificate: String,
    /// Why the certificate no longer stands.
    #[arg(long, value_parser = ["cancelled", "lost", "stolen", "seized"])]
    pub reason: String,
    #[arg(long, default_value = "")]
    pub note: String,
    #[command(flatten)]
    pub force: ForceArg,
}

pub fn void(c: &Client, a: &VoidArgs, json_out: bool) -> CmdResult {
    capitals(&a.certificate)?;
    let body = json!({"certificate": a.certificate, "reason": a.reason, "note": a.note});
    let r: WriteReceipt = c.post_as(&a.force.path(kpl_api::paths::VOIDS), &body)?;
    print_written(&r, &format!("voided {}", a.certificate), json_out);
    Ok(OK)
}

#[derive(Args)]
pub struct CorrectArgs {
    pub certificate: String,
    /// The field: carats, value, parcels, expires, destination, exporter-name,
    /// exporter-address, importer-name, importer-address, hs.
    #[arg(long)]
    pub field: String,
    /// The corrected value.
    #[arg(long = "to")]
    pub to: String,
    /// Why (the endorsement note).
    #[arg(long)]
    pub note: String,
    #[command(flatten)]
    pub force: ForceArg,
}

pub fn correct(c: &Client, a: &CorrectArgs, json_out: bool) -> CmdResult {
    capitals(&a.certificate)?;
    let current = c
        .call_opt(|n| n.certificate(&a.certificate))?
        .ok_or_else(|| {
            Failure::usage(format!(
                "certificate {} is not in the ledger",
                a.certificate
            ))
        })?;
    let issued = current
        .issued
        .first()
        .ok_or_else(|| Failure::usage(format!("certificate {} was never issued", a.certificate)))?;
    let EventBody::CertificateIssued(cert) = &issued.body else {
        return Err(Failure::usage(format!(
            "the node lists event {} as the issue of {}, but it is a {}",
            issued.id,
            a.certificate,
            issued.body.kind()
        )));
    };
    let party = |who: &ledger_core::Party, name: Option<&str>, addr: Option<&str>| {
        json!({
            "name": name.unwrap_or(&who.name),
            "address": addr.unwrap_or(&who.address),
        })
    };
    let correction = match a.field.as_str() {
        "carats" => json!({"carat_hundredths": parse_hundredths("--to", &a.to)?}),
        "value" => json!({"value_usd_cents": parse_hundredths("--to", &a.to)?}),
        "parcels" => {
            json!({"parcels": a.to.parse::<u32>().map_err(|_| Failure::usage("--to: not a whole number"))?})
        }
        "expires" => json!({"expires_on": a.to}),
        "destination" => json!({"destination": a.to}),
        "exporter-name" => json!({"exporter": party(&cert.exporter, Some(&a.to), None)}),
        "exporter-address" => json!({"exporter": party(&cert.exporter, None, Some(&a.to))}),
        "importer-name" => json!({"importer": party(&cert.importer, Some(&a.to), None)}),
        "importer-address" => json!({"importer": party(&cert.importer, None, Some(&a.to))}),
        "hs" => json!({"hs_codes": a.to.split(',').map(str::trim).collect::<Vec<_>>()}),
        f => {
            return Err(Failure::usage(format!(
                "--field {f}: not a correctable field (see --help)"
            )))
        }
    };
    let body = json!({
        "certificate": a.certificate,
        "original": issued.id,
        "correction": correction,
        "note": a.note,
    });
    let r: WriteReceipt = c.post_as(&a.force.path(kpl_api::paths::CORRECTIONS), &body)?;
    print_written(
        &r,
        &format!("corrected {} of {}", a.field, a.certificate),
        json_out,
    );
    Ok(OK)
}

pub fn rotate_key(c: &Client, json_out: bool) -> CmdResult {
    let r = c.call(|a| a.rotate_key())?;
    if json_out {
        println!(
            "{}",
            serde_json::to_string(&r).map_err(|e| Failure::usage(e.to_string()))?
        );
    } else {
        println!(
            "rotated to key {} (event {} at seq {}); next key committed: {}",
            r.new_public_key, r.id, r.seq, r.next_key_digest
        );
    }
    Ok(OK)
}

#[derive(Args)]
pub struct ShowArgs {
    pub certificate: String,
}

/// A correction's field and value as people write them.
fn correction_text(c: &Correction) -> (&'static str, String) {
    match c {
        Correction::Exporter(p) => ("exporter", format!("{}, {}", p.name, p.address)),
        Correction::Importer(p) => ("importer", format!("{}, {}", p.name, p.address)),
        Correction::CaratHundredths(v) => ("weight", carats(*v)),
        Correction::ValueUsdCents(v) => ("value", usd(*v)),
        Correction::Parcels(v) => ("parcels", parcels(*v)),
        Correction::ExpiresOn(d) => ("expires", d.to_string()),
        Correction::HsCodes(h) => ("HS codes", hs_text(h)),
        Correction::Origin(o) => ("origin", o.to_string()),
        Correction::Destination(d) => ("destination", d.to_string()),
    }
}

fn hs_text(h: &[ledger_core::HsCode]) -> String {
    h.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 parcel`, `3 parcels`.
fn parcels(n: u32) -> String {
    format!(
        "{n} {}",
        crate::listing::plural(n as usize, "parcel", "parcels")
    )
}

/// A certificate's lifecycle event in one row: the business date (issue,
/// receipt; the signing day for voids and corrections), the signing day,
/// what happened, and what the event says in people's units.
fn event_line(e: &EventView) -> Vec<String> {
    let signed = ledger_core::Date::from_unix_ms(e.timestamp_ms).to_string();
    let (kind, date, detail) = match &e.body {
        EventBody::CertificateIssued(c) => (
            "issued",
            c.issued_on.to_string(),
            format!(
                "{} → {}, {}, {}, {}",
                e.author.get(..2).unwrap_or(""),
                c.destination,
                carats(c.carat_hundredths),
                usd(c.value_usd_cents),
                parcels(c.parcels)
            ),
        ),
        EventBody::ImportConfirmed(c) => (
            "confirmed",
            c.received_on.to_string(),
            format!(
                "received: {}, {}, {}",
                carats(c.carat_hundredths),
                usd(c.value_usd_cents),
                parcels(c.parcels)
            ),
        ),
        EventBody::CertificateVoided { reason, note, .. } => (
            "voided",
            signed.clone(),
            format!("{} {note}", json!(reason).as_str().unwrap_or(""))
                .trim_end()
                .to_owned(),
        ),
        EventBody::CertificateCorrected {
            correction, note, ..
        } => {
            let (field, value) = correction_text(correction);
            (
                "corrected",
                signed.clone(),
                format!("{field} → {value} ({note})"),
            )
        }
        other => (other.kind(), signed.clone(), String::new()),
    };
    vec![
        date,
        signed,
        kind.into(),
        e.author.clone(),
        format!("#{}", e.seq),
        short(&e.id),
        detail,
    ]
}

/// "not in the ledger", with a hint when the number is not in capitals.
fn not_in_ledger(number: &str) -> Failure {
    let upper = number.to_ascii_uppercase();
    let hint = if upper != number {
        format!("; certificate numbers are written in capitals: did you mean {upper}?")
    } else {
        String::new()
    };
    Failure::found(format!(
        "certificate {number} is not in the ledger: no issue, confirmation, void or correction names it{hint}"
    ))
}

/// A certificate as it stands (corrections applied) in people's units,
/// field by field, marking what each correction changed, with `status`.
pub fn print_certificate(k: &Corrected, status: &str) {
    let cert = &k.effective;
    // The latest correction of each field, to mark what changed.
    let changed = |field: &str| -> String {
        k.applied
            .iter()
            .rev()
            .find(|a| correction_text(&a.to).0 == field)
            .map(|a| {
                let first = k
                    .applied
                    .iter()
                    .find(|x| correction_text(&x.to).0 == field)
                    .unwrap_or(a);
                format!(
                    "   (corrected from {} on {})",
                    correction_text(&first.from).1,
                    ledger_core::Date::from_unix_ms(a.timestamp_ms)
                )
            })
            .unwrap_or_default()
    };
    println!("certificate {}", cert.number);
    println!("  origin       {}{}", cert.origin, changed("origin"));
    println!(
        "  issued       {} by {}",
        cert.issued_on, cert.issuing_authority
    );
    println!("  expires      {}{}", cert.expires_on, changed("expires"));
    println!(
        "  exporter     {}, {}{}",
        cert.exporter.name,
        cert.exporter.address,
        changed("exporter")
    );
    println!(
        "  importer     {}, {}{}",
        cert.importer.name,
        cert.importer.address,
        changed("importer")
    );
    println!(
        "  destination  {}{}",
        cert.destination,
        changed("destination")
    );
    println!(
        "  weight       {}{}",
        carats(cert.carat_hundredths),
        changed("weight")
    );
    println!(
        "  value        {}{}",
        usd(cert.value_usd_cents),
        changed("value")
    );
    println!("  parcels      {}{}", cert.parcels, changed("parcels"));
    println!(
        "  HS codes     {}{}",
        hs_text(&cert.hs_codes),
        changed("HS codes")
    );
    if !cert.source_certificates.is_empty() {
        println!("  sources      {}", cert.source_certificates.join(", "));
    }
    println!("  status       {status}");
    if !k.applied.is_empty() {
        println!(
            "\n{} {} applied:",
            k.applied.len(),
            crate::listing::plural(k.applied.len(), "correction", "corrections")
        );
        for a in &k.applied {
            let (field, from) = correction_text(&a.from);
            let (_, to) = correction_text(&a.to);
            println!(
                "  {}  {} #{}  {field}: {from} → {to}  ({})",
                ledger_core::Date::from_unix_ms(a.timestamp_ms),
                a.author,
                a.seq,
                a.note
            );
        }
    }
    if !k.not_applied.is_empty() {
        println!(
            "\n{} correction(s) name another issue event or are not the issuer's: not applied",
            k.not_applied.len()
        );
    }
}

pub fn show(c: &Client, a: &ShowArgs, json_out: bool) -> CmdResult {
    let Some(v) = c.call_opt(|n| n.certificate(&a.certificate))? else {
        return Err(not_in_ledger(&a.certificate));
    };
    let forks = v.fork_proofs.len();
    // A number never issued that other events name is "something wrong".
    let code = if forks > 0 || v.issued.is_empty() {
        FOUND
    } else {
        OK
    };
    if json_out {
        println!("{}", json!(v));
        return Ok(code);
    }
    if let Some(k) = &v.corrected {
        print_certificate(k, &v.status);
    } else {
        println!(
            "certificate {}: NEVER ISSUED in this ledger (yet other events name it)",
            a.certificate
        );
    }
    println!();
    let mut t = Table::new(&["DATE", "SIGNED", "EVENT", "AUTHOR", "SEQ", "ID", "DETAIL"]);
    for list in [&v.issued, &v.confirmations, &v.voids, &v.corrections] {
        for e in list {
            t.row(event_line(e));
        }
    }
    print!("{}", t.render());
    println!(
        "(DATE: the issue date, the date of receipt, or for voids and corrections the day signed)"
    );
    if forks > 0 {
        println!("\n{forks} FORK PROOF(S) touch this certificate: its author signed two different events for one place");
    }
    Ok(code)
}

pub fn feeds(c: &Client, json_out: bool) -> CmdResult {
    let v = c.call(|a| a.feeds())?;
    if json_out {
        println!(
            "{}",
            serde_json::to_string(&v).map_err(|e| Failure::usage(e.to_string()))?
        );
    } else {
        let mut t = Table::new(&["AUTHOR", "SEQ", "HEAD"]);
        for f in &v.feeds {
            t.row(vec![
                f.author.clone(),
                f.seq.to_string(),
                f.id.as_deref().map(short).unwrap_or_else(|| "-".into()),
            ]);
        }
        print!("{}", t.render());
        if v.fork_proofs.is_empty() {
            println!("\nno forks");
        } else {
            println!("\nFORKS:");
            for f in &v.fork_proofs {
                println!(
                    "  {} seq {}: {} vs {}",
                    f.author,
                    f.seq,
                    short(&f.first),
                    short(&f.second)
                );
            }
        }
    }
    let forked = !v.fork_proofs.is_empty();
    Ok(if forked { FOUND } else { OK })
}

pub fn status(c: &Client, json_out: bool) -> CmdResult {
    let v = c.call(|a| a.status())?;
    if json_out {
        println!(
            "{}",
            serde_json::to_string(&v).map_err(|e| Failure::usage(e.to_string()))?
        );
        return Ok(OK);
    }
    println!("network     {} ({})", v.network, v.network_id);
    println!("node        {} ({})", v.peer_id, v.identity);
    println!("events      {}", v.events);
    println!("fork proofs {}", v.fork_proofs);
    println!();
    let mut t = Table::new(&["PEER", "MEMBER", "BEHIND (events)"]);
    for p in &v.peers {
        t.row(vec![
            p.peer_id.clone(),
            p.member.clone(),
            p.events_behind.map_or("null".to_owned(), |n| n.to_string()),
        ]);
    }
    if t.is_empty() {
        println!("no peers connected");
    } else {
        print!("{}", t.render());
    }
    Ok(OK)
}

/// Re-checks the node's whole replica *here*, trusting nothing the node
/// says: every feed is downloaded as canonical bytes and fed to
/// ledger-core's replica verifier (`ledger_core::replica::verify_replica`),
/// which checks every link, signature, body rule and fork proof against the
/// charter (the one given with `--charter`, or the node's, whose network id
/// is printed so it can be compared) and lists every failure.
pub fn verify(c: &Client, trusted: Option<&std::path::Path>, json_out: bool) -> CmdResult {
    use ledger_core::replica::verify_replica;
    use ledger_core::Charter;

    let started = std::time::Instant::now();
    let served: Charter = c.call(|a| a.charter())?.charter;
    served
        .validate()
        .map_err(|e| Failure::found(format!("the node's charter is invalid: {e}")))?;
    let charter = match trusted {
        Some(p) => {
            let t = Charter::load(p).map_err(Failure::usage)?;
            if t.network_id() != served.network_id() {
                return Err(Failure::found(format!(
                    "the node serves network {}, not {} of {}",
                    served.network_id(),
                    t.network_id(),
                    p.display()
                )));
            }
            t
        }
        None => served,
    };
    let network = charter.network_id();
    if !json_out {
        eprintln!("verifying the node's replica locally against network {network}");
    }
    let mut bar = crate::fmt::Progress::new("verifying", "events", json_out);
    let mut source = NodeReplica { client: c };
    let report = verify_replica(&charter, &mut source, |done, total| bar.set(done, total))?;
    bar.finish();
    let mut out = crate::offline::report_json(&report, started.elapsed().as_millis());
    out["network_id"] = json!(network);
    crate::offline::print_verify(&out, json_out);
    Ok(if report.is_ok() { OK } else { FOUND })
}

/// A node's replica as the verifier reads it: heads, feed pages and fork
/// proofs from the HTTP API, hex-decoded, nothing else.
struct NodeReplica<'a> {
    client: &'a Client,
}

fn hex_items(v: &Value, list: &str, field: Option<&str>) -> Vec<Result<Vec<u8>, String>> {
    v[list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let h = match field {
                Some(f) => &item[f],
                None => item,
            };
            h.as_str()
                .ok_or_else(|| "not a hex string".to_owned())
                .and_then(|h| hex::decode(h).map_err(|e| format!("not hex: {e}")))
        })
        .collect()
}

impl ledger_core::replica::ReplicaSource for NodeReplica<'_> {
    type Error = Failure;

    fn heads(&mut self) -> Result<Vec<ledger_core::replica::AnnouncedHead>, Failure> {
        let feeds = self.client.call(|a| a.feeds())?;
        Ok(feeds
            .feeds
            .into_iter()
            .map(|f| ledger_core::replica::AnnouncedHead {
                author: f.author,
                seq: f.seq,
                id: f.id,
            })
            .collect())
    }

    fn feed_page(
        &mut self,
        author: &ledger_core::AuthorId,
        from_seq: u64,
    ) -> Result<Vec<Result<Vec<u8>, String>>, Failure> {
        let page = self.client.get(&format!(
            "/v1/feed?author={}&from={from_seq}&limit=1000&encoding=hex",
            enc(&author.to_string()),
        ));
        match page {
            Ok(page) => Ok(hex_items(&page, "events_hex", None)),
            // The node answered but cannot serve the page (e.g. its log is
            // damaged there): a failure of that feed, not of the connection.
            Err(f) if f.message.starts_with("the node answered") => Ok(vec![Err(format!(
                "the node cannot serve its feed from here: {}",
                f.message
            ))]),
            Err(f) => Err(f),
        }
    }

    fn fork_proofs(&mut self) -> Result<Vec<Result<Vec<u8>, String>>, Failure> {
        let forks = self.client.get(kpl_api::paths::FORKS)?;
        Ok(hex_items(&forks, "fork_proofs", Some("proof_hex")))
    }
}
