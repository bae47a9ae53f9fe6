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

/// Reads certificates from a CSV (header row with the column names below)
/// or a JSON array of certificates in the API's form.
pub fn certificates_from_text(text: &str) -> Result<Vec<Value>, String> {
    if text.len() as u64 > MAX_IMPORT_BYTES {
        return Err("larger than 256 MiB".into());
    }
    if text.trim_start().starts_with('[') {
        let v: Vec<Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        return Ok(v);
    }
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| format!("row {}: {e}", i + 2))?;
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
        let cert = (|| -> Result<Value, String> {
            Ok(json!({
                "number": get("number"),
                "origin": origin_json(&get("origin").replace(';', ","), &zone)?,
                "issued_on": get("issued_on"),
                "expires_on": get("expires_on"),
                "issuing_authority": get("issuing_authority"),
                "exporter": {"name": get("exporter_name"), "address": get("exporter_address")},
                "importer": {"name": get("importer_name"), "address": get("importer_address")},
                "destination": get("destination"),
                "carat_hundredths": parse_hundredths("carats", &get("carats"))?,
                "value_usd_cents": parse_hundredths("value_usd", &get("value_usd"))?,
                "parcels": get("parcels").parse::<u32>().map_err(|_| "parcels: not a whole number".to_owned())?,
                "hs_codes": list("hs_codes"),
                "source_certificates": list("source_certificates"),
            }))
        })()
        .map_err(|e| format!("row {row}: {e}"))?;
        out.push(cert);
    }
    Ok(out)
}
