//! Commands that talk to a node's HTTP API.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
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
fn certificates_from_file(path: &PathBuf) -> Result<Vec<Value>, Failure> {
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
        let r = c.post("/v1/certificates", &cert)?;
        print_written(
            &r,
            &format!("issued {}", cert["number"].as_str().unwrap_or("")),
            json_out,
        );
        return Ok(OK);
    };
    let certs = certificates_from_file(file)?;
    let bar = if json_out {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(certs.len() as u64);
        b.set_style(
            ProgressStyle::with_template("issuing {bar:40} {pos}/{len} ({per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    // Batches of up to 500 certificates: one request and one durable group commit each.
    for chunk in certs.chunks(500) {
        let r = c.post("/v1/certificates/batch", &Value::Array(chunk.to_vec()))?;
        for (cert, res) in chunk
            .iter()
            .zip(r["results"].as_array().cloned().unwrap_or_default())
        {
            let number = cert["number"].as_str().unwrap_or("").to_owned();
            if res.get("error").is_some() {
                refused.push(json!({"number": number, "error": res["error"]}));
            } else {
                accepted.push(json!({"number": number, "id": res["id"], "seq": res["seq"]}));
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if json_out {
        println!("{}", json!({"accepted": accepted, "refused": refused}));
    } else {
        println!("{} accepted, {} refused", accepted.len(), refused.len());
        if !refused.is_empty() {
            let mut t = Table::new(&["NUMBER", "FIELD", "WHY"]);
            for r in &refused {
                t.row(vec![
                    r["number"].as_str().unwrap_or("").into(),
                    r["error"]["field"].as_str().unwrap_or("-").into(),
                    r["error"]["message"].as_str().unwrap_or("").into(),
                ]);
            }
            print!("{}", t.render());
        }
    }
    Ok(if refused.is_empty() { OK } else { FOUND })
}

fn print_written(r: &Value, what: &str, json_out: bool) {
    if json_out {
        println!("{r}");
    } else {
        println!(
            "{what}: event {} at seq {} (durable)",
            r["id"].as_str().unwrap_or(""),
            r["seq"]
        );
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
}

pub fn confirm(c: &Client, a: &ConfirmArgs, json_out: bool) -> CmdResult {
    let body = json!({
        "certificate": a.certificate,
        "exporter_participant": a.certificate.get(..2).unwrap_or(""),
        "parcels": a.parcels,
        "carat_hundredths": parse_hundredths("--carats", &a.carats)?,
        "value_usd_cents": parse_hundredths("--value", &a.value)?,
        "received_on": a.received.clone().unwrap_or_else(today),
    });
    let r = c.post("/v1/confirmations", &body)?;
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
    /// cancelled, lost, stolen or seized.
    #[arg(long)]
    pub reason: String,
    #[arg(long, default_value = "")]
    pub note: String,
}

pub fn void(c: &Client, a: &VoidArgs, json_out: bool) -> CmdResult {
    let body = json!({"certificate": a.certificate, "reason": a.reason, "note": a.note});
    let r = c.post("/v1/voids", &body)?;
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
}

pub fn correct(c: &Client, a: &CorrectArgs, json_out: bool) -> CmdResult {
    let current = c
        .get_opt(&format!("/v1/certificates/{}", enc(&a.certificate)))?
        .ok_or_else(|| {
            Failure::usage(format!(
                "certificate {} is not in the ledger",
                a.certificate
            ))
        })?;
    let issued = current["issued"]
        .as_array()
        .and_then(|v| v.first())
        .ok_or_else(|| Failure::usage(format!("certificate {} was never issued", a.certificate)))?;
    let cert = &issued["body"]["certificate_issued"];
    let party = |who: &str, name: Option<&str>, addr: Option<&str>| {
        json!({
            "name": name.map(str::to_owned).unwrap_or_else(|| cert[who]["name"].as_str().unwrap_or("").to_owned()),
            "address": addr.map(str::to_owned).unwrap_or_else(|| cert[who]["address"].as_str().unwrap_or("").to_owned()),
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
        "exporter-name" => json!({"exporter": party("exporter", Some(&a.to), None)}),
        "exporter-address" => json!({"exporter": party("exporter", None, Some(&a.to))}),
        "importer-name" => json!({"importer": party("importer", Some(&a.to), None)}),
        "importer-address" => json!({"importer": party("importer", None, Some(&a.to))}),
        "hs" => json!({"hs_codes": a.to.split(',').map(str::trim).collect::<Vec<_>>()}),
        f => {
            return Err(Failure::usage(format!(
                "--field {f}: not a correctable field (see --help)"
            )))
        }
    };
    let body = json!({
        "certificate": a.certificate,
        "original": issued["id"],
        "correction": correction,
        "note": a.note,
    });
    let r = c.post("/v1/corrections", &body)?;
    print_written(
        &r,
        &format!("corrected {} of {}", a.field, a.certificate),
        json_out,
    );
    Ok(OK)
}

pub fn rotate_key(c: &Client, json_out: bool) -> CmdResult {
    let r = c.post("/v1/keys/rotate", &json!({}))?;
    if json_out {
        println!("{r}");
    } else {
        println!(
            "rotated to key {} (event {} at seq {}); next key committed: {}",
            r["new_public_key"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or(""),
            r["seq"],
            r["next_key_digest"].as_str().unwrap_or("")
        );
    }
    Ok(OK)
}

#[derive(Args)]
pub struct ShowArgs {
    pub certificate: String,
}

fn event_line(kind: &str, e: &Value) -> Vec<String> {
    let date = ledger_core::Date::from_unix_ms(e["timestamp_ms"].as_u64().unwrap_or(0)).to_string();
    let b = &e["body"];
    let detail = match kind {
        "issued" => {
            let c = &b["certificate_issued"];
            format!(
                "{} → {}, {}, {}, {} parcels",
                e["author"].as_str().unwrap_or("").get(..2).unwrap_or(""),
                c["destination"].as_str().unwrap_or(""),
                carats(c["carat_hundredths"].as_u64().unwrap_or(0)),
                usd(c["value_usd_cents"].as_u64().unwrap_or(0)),
                c["parcels"]
            )
        }
        "confirmed" => {
            let c = &b["import_confirmed"];
            format!(
                "received {}: {}, {}, {} parcels",
                c["received_on"].as_str().unwrap_or(""),
                carats(c["carat_hundredths"].as_u64().unwrap_or(0)),
                usd(c["value_usd_cents"].as_u64().unwrap_or(0)),
                c["parcels"]
            )
        }
        "voided" => format!(
            "{} {}",
            b["certificate_voided"]["reason"].as_str().unwrap_or(""),
            b["certificate_voided"]["note"].as_str().unwrap_or("")
        ),
        "corrected" => format!(
            "{} ({})",
            b["certificate_corrected"]["correction"],
            b["certificate_corrected"]["note"].as_str().unwrap_or("")
        ),
        _ => String::new(),
    };
    vec![
        date,
        kind.into(),
        e["author"].as_str().unwrap_or("").into(),
        format!("#{}", e["seq"]),
        short(e["id"].as_str().unwrap_or("")),
        detail,
    ]
}

pub fn show(c: &Client, a: &ShowArgs, json_out: bool) -> CmdResult {
    let Some(v) = c.get_opt(&format!("/v1/certificates/{}", enc(&a.certificate)))? else {
        return Err(Failure::found(format!(
            "certificate {} is not in the ledger: no issue, confirmation, void or correction names it",
            a.certificate
        )));
    };
    if json_out {
        println!("{v}");
        return Ok(OK);
    }
    if let Some(first) = v["issued"].as_array().and_then(|x| x.first()) {
        let cert = &first["body"]["certificate_issued"];
        println!("certificate {}", a.certificate);
        let origin = if let Some(s) = cert["origin"].get("single") {
            let zone = s["zone"]
                .as_str()
                .map(|z| format!(" ({z})"))
                .unwrap_or_default();
            format!("{}{zone}", s["country"].as_str().unwrap_or(""))
        } else {
            format!("mixed {}", cert["origin"]["mixed"]["countries"])
        };
        println!("  origin       {origin}");
        println!(
            "  issued       {} by {}",
            cert["issued_on"].as_str().unwrap_or(""),
            cert["issuing_authority"].as_str().unwrap_or("")
        );
        println!(
            "  expires      {}",
            cert["expires_on"].as_str().unwrap_or("")
        );
        println!(
            "  exporter     {}, {}",
            cert["exporter"]["name"].as_str().unwrap_or(""),
            cert["exporter"]["address"].as_str().unwrap_or("")
        );
        println!(
            "  importer     {}, {} ({})",
            cert["importer"]["name"].as_str().unwrap_or(""),
            cert["importer"]["address"].as_str().unwrap_or(""),
            cert["destination"].as_str().unwrap_or("")
        );
        println!(
            "  weight       {}",
            carats(cert["carat_hundredths"].as_u64().unwrap_or(0))
        );
        println!(
            "  value        {}",
            usd(cert["value_usd_cents"].as_u64().unwrap_or(0))
        );
        println!("  parcels      {}", cert["parcels"]);
        println!("  HS codes     {}", cert["hs_codes"]);
        if let Some(s) = cert["source_certificates"]
            .as_array()
            .filter(|s| !s.is_empty())
        {
            let list: Vec<&str> = s.iter().filter_map(Value::as_str).collect();
            println!("  sources      {}", list.join(", "));
        }
        println!("  status       {}", v["status"].as_str().unwrap_or(""));
    } else {
        println!(
            "certificate {}: NEVER ISSUED in this ledger (yet other events name it)",
            a.certificate
        );
    }
    println!();
    let mut t = Table::new(&["DATE", "EVENT", "AUTHOR", "SEQ", "ID", "DETAIL"]);
    for (kind, key) in [
        ("issued", "issued"),
        ("confirmed", "confirmations"),
        ("voided", "voids"),
        ("corrected", "corrections"),
    ] {
        for e in v[key].as_array().into_iter().flatten() {
            t.row(event_line(kind, e));
        }
    }
    print!("{}", t.render());
    let forks = v["fork_proofs"].as_array().map(Vec::len).unwrap_or(0);
    if forks > 0 {
        println!("\n{forks} FORK PROOF(S) touch this certificate: its author signed two different events for one place");
        return Ok(FOUND);
    }
    Ok(OK)
}

pub fn feeds(c: &Client, json_out: bool) -> CmdResult {
    let v = c.get("/v1/feeds")?;
    if json_out {
        println!("{v}");
    } else {
        let mut t = Table::new(&["AUTHOR", "SEQ", "HEAD"]);
        for f in v["feeds"].as_array().into_iter().flatten() {
            t.row(vec![
                f["author"].as_str().unwrap_or("").into(),
                f["seq"].to_string(),
                f["id"].as_str().map(short).unwrap_or_else(|| "-".into()),
            ]);
        }
        print!("{}", t.render());
        let forks = v["fork_proofs"].as_array().cloned().unwrap_or_default();
        if forks.is_empty() {
            println!("\nno forks");
        } else {
            println!("\nFORKS:");
            for f in &forks {
                println!(
                    "  {} seq {}: {} vs {}",
                    f["author"].as_str().unwrap_or(""),
                    f["seq"],
                    short(f["first"].as_str().unwrap_or("")),
                    short(f["second"].as_str().unwrap_or(""))
                );
            }
        }
    }
    let forked = v["fork_proofs"].as_array().is_some_and(|f| !f.is_empty());
    Ok(if forked { FOUND } else { OK })
}

pub fn status(c: &Client, json_out: bool) -> CmdResult {
    let v = c.get("/v1/status")?;
    if json_out {
        println!("{v}");
        return Ok(OK);
    }
    println!(
        "network     {} ({})",
        v["network"].as_str().unwrap_or(""),
        v["network_id"].as_str().unwrap_or("")
    );
    println!(
        "node        {} ({})",
        v["peer_id"].as_str().unwrap_or(""),
        v["identity"].as_str().unwrap_or("")
    );
    println!("events      {}", v["events"]);
    println!("fork proofs {}", v["fork_proofs"]);
    println!();
    let mut t = Table::new(&["PEER", "MEMBER", "BEHIND (events)"]);
    for p in v["peers"].as_array().into_iter().flatten() {
        t.row(vec![
            p["peer_id"].as_str().unwrap_or("").into(),
            p["member"].as_str().unwrap_or("").into(),
            p["events_behind"].to_string(),
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
    let v = c.get("/v1/charter")?;
    let served: Charter = serde_json::from_value(v["charter"].clone())
        .map_err(|e| Failure::usage(format!("the node's charter does not parse: {e}")))?;
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
    let bar = if json_out {
        ProgressBar::hidden()
    } else {
        eprintln!("verifying the node's replica locally against network {network}");
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "verifying {bar:40} {pos}/{len} events ({per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let mut source = NodeReplica { client: c };
    let report = verify_replica(&charter, &mut source, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
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
        let feeds = self.client.get("/v1/feeds")?;
        Ok(feeds["feeds"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| ledger_core::replica::AnnouncedHead {
                author: f["author"].as_str().unwrap_or("").to_owned(),
                seq: f["seq"].as_u64().unwrap_or(0),
                id: f["id"].as_str().map(str::to_owned),
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
        let forks = self.client.get("/v1/forks")?;
        Ok(hex_items(&forks, "fork_proofs", Some("proof_hex")))
    }
}
