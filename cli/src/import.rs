//! Certificate imports (`kpl issue --file`): a CSV with a header row, or a
//! JSON array in the API's form, turned into the API's JSON bodies. Pure
//! functions of the file's text, so the fuzz targets run the code `kpl` runs.

use serde_json::{json, Value};

/// Largest import file read, in bytes.
pub const MAX_IMPORT_BYTES: u64 = 256 * 1024 * 1024;

/// Parses a decimal with at most two fraction digits (`1234.5`, `1,234.56`)
/// into hundredths, with no floating point.
pub fn parse_hundredths(field: &str, s: &str) -> Result<u64, String> {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    let bad =
        || format!("{field}: `{s}` is not an amount with at most two decimals (e.g. 1234.56)");
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t.as_str(), ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let i: u64 = int.parse().map_err(|_| bad())?;
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().map_err(|_| bad())?
    };
    i.checked_mul(100)
        .and_then(|v| v.checked_add(f))
        .ok_or_else(bad)
}

/// The API's JSON form of an origin given as `BW`, `mixed` or `mixed:BW,ZA`.
pub fn origin_json(origin: &str, zone: &Option<String>) -> Result<Value, String> {
    let o = origin.trim();
    if o.is_empty() {
        return Err("--origin is required (a country code, or mixed)".into());
    }
    if let Some(rest) = o.strip_prefix("mixed") {
        let list: Vec<String> = rest
            .trim_start_matches(':')
            .split([',', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut sorted = list.clone();
        sorted.sort();
        sorted.dedup();
        return Ok(json!({"mixed": {"countries": sorted}}));
    }
    Ok(json!({"single": {"country": o, "zone": zone}}))
}

/// One row of an import that cannot be a certificate: its number (when
/// it has one), the field at fault, and why (naming the row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub number: String,
    pub field: String,
    pub message: String,
}

/// One row of an import file: the certificate's JSON, or why the row
/// cannot be one. A bad row never sinks the others.
pub type Row = Result<Value, RowError>;

/// Reads certificates from a CSV (header row with the column names below)
/// or a JSON array of certificates in the API's form, row by row: a row
/// that does not parse is a [`RowError`], the others go on. An empty
/// `expires_on` is 60 days after `issued_on`, as with the flags. `Err` only
/// for a file that is not an import at all (too large, not a JSON array,
/// no CSV header).
pub fn certificates_from_text(text: &str) -> Result<Vec<Row>, String> {
    if text.len() as u64 > MAX_IMPORT_BYTES {
        return Err("larger than 256 MiB".into());
    }
    if text.trim_start().starts_with('[') {
        let v: Vec<Value> = serde_json::from_str(text)
            .map_err(|e| format!("not a JSON array of certificates: {e}"))?;
        return Ok(v.into_iter().map(Ok).collect());
    }
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                out.push(Err(RowError {
                    number: String::new(),
                    field: String::new(),
                    message: format!("row {}: not a CSV row: {e}", i + 2),
                }));
                continue;
            }
        };
        let get = |k: &str| {
            headers
                .iter()
                .position(|h| h.trim() == k)
                .and_then(|p| rec.get(p))
                .unwrap_or("")
                .trim()
                .to_owned()
        };
        let list = |k: &str| -> Vec<String> {
            let mut v: Vec<String> = get(k)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let zone = Some(get("zone")).filter(|z| !z.is_empty());
        let row = i + 2;
        let number = get("number");
        let expires = match get("expires_on") {
            e if e.is_empty() => get("issued_on")
                .parse::<ledger_core::Date>()
                .map(|d| d.add_days(60).to_string())
                .unwrap_or_default(),
            e => e,
        };
        fn at(field: &'static str) -> impl Fn(String) -> (String, String) {
            move |m| (field.to_owned(), m)
        }
        let cert = (|| -> Result<Value, (String, String)> {
            Ok(json!({
                "number": number,
                "origin": origin_json(&get("origin").replace(';', ","), &zone).map_err(at("origin"))?,
                "issued_on": get("issued_on"),
                "expires_on": expires,
                "issuing_authority": get("issuing_authority"),
                "exporter": {"name": get("exporter_name"), "address": get("exporter_address")},
                "importer": {"name": get("importer_name"), "address": get("importer_address")},
                "destination": get("destination"),
                "carat_hundredths": parse_hundredths("carats", &get("carats")).map_err(at("carats"))?,
                "value_usd_cents": parse_hundredths("value_usd", &get("value_usd")).map_err(at("value_usd"))?,
                "parcels": get("parcels").parse::<u32>().map_err(|_| ("parcels".to_owned(), format!("parcels: `{}` is not a whole number", get("parcels"))))?,
                "hs_codes": list("hs_codes"),
                "source_certificates": list("source_certificates"),
            }))
        })();
        out.push(cert.map_err(|(field, m)| RowError {
            number: number.clone(),
            field,
            message: format!("row {row}: {m}"),
        }));
    }
    Ok(out)
}
