//! `kpl prove` and `kpl verify-bundle`: offline proof bundles.

use std::path::PathBuf;

use clap::Args;
use ledger_core::bundle::{verify, BundleReport, TrustRoot, MAX_BUNDLE_BYTES};
use ledger_core::{Charter, Digest};
use serde_json::json;

use crate::analysis::print_origins;
use crate::client::{enc, Client};
use crate::fmt::{carats, short, usd, CmdResult, Failure, Table, FOUND, OK};
use crate::listing::plural;
use crate::online::print_certificate;

#[derive(Args)]
pub struct ProveArgs {
    /// The certificate to prove.
    pub certificate: String,
    /// Where to write the bundle (JSON).
    #[arg(long, short)]
    pub out: PathBuf,
}

pub fn prove(c: &Client, a: &ProveArgs, json_out: bool) -> CmdResult {
    let v = c
        .get_opt(&format!("/v1/bundle/{}", enc(&a.certificate)))?
        .ok_or_else(|| {
            Failure::found(format!(
                "certificate {} was never issued in this ledger",
                a.certificate
            ))
        })?;
    // The bundle is written as the node served it; read as a bundle first,
    // so a malformed answer is refused rather than written.
    let bundle: ledger_core::bundle::Bundle = serde_json::from_value(v.clone())
        .map_err(|e| Failure::usage(format!("unexpected answer from the node: {e}")))?;
    let text = serde_json::to_string_pretty(&v).map_err(|e| Failure::usage(e.to_string()))? + "\n";
    std::fs::write(&a.out, &text)
        .map_err(|e| Failure::usage(format!("{}: {e}", a.out.display())))?;
    let events = bundle.events.len();
    let checkpoints = bundle.checkpoints.len();
    if json_out {
        println!(
            "{}",
            json!({"file": a.out, "bytes": text.len(), "events": events, "checkpoints": checkpoints})
        );
    } else {
        println!(
            "wrote {} ({} bytes): {events} events with inclusion proofs into {checkpoints} cosigned checkpoints",
            a.out.display(),
            text.len()
        );
        println!(
            "check it anywhere, offline: kpl verify-bundle {} --network-id {}",
            a.out.display(),
            bundle.network_id
        );
    }
    Ok(OK)
}

#[derive(Args)]
pub struct VerifyBundleArgs {
    /// The bundle file.
    pub file: PathBuf,
    /// Cosignatures required from distinct witnesses on every checkpoint.
    #[arg(long, default_value_t = 1)]
    pub witnesses: usize,
    /// The network id you trust (64 hex digits).
    #[arg(long, conflicts_with = "charter", required_unless_present = "charter")]
    pub network_id: Option<String>,
    /// The charter you trust (JSON).
    #[arg(long)]
    pub charter: Option<PathBuf>,
}

/// What the bundle certifies: the certificate as it stands, its
/// confirmations, its lineage and its carats by origin.
fn print_certified(r: &BundleReport) {
    let c = &r.certified;
    let root = &c.lineage;
    let status = match (root.voided, root.confirmations.is_empty()) {
        (Some(v), _) => format!(
            "voided ({})",
            serde_json::to_value(v)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        (None, false) => "confirmed".to_owned(),
        (None, true) => "no import confirmation in this bundle".to_owned(),
    };
    println!("What it certifies (the certificate as it stands, corrections applied):\n");
    print_certificate(&c.certificate, &status);
    println!();
    if root.confirmations.is_empty() {
        println!("Confirmations: none in this bundle");
    } else {
        println!("Confirmations:");
        for k in &root.confirmations {
            println!(
                "  {}  received by {} ({}): {}, {}, {} {}",
                k.received_on,
                k.participant,
                k.author,
                carats(k.carat_hundredths),
                usd(k.value_usd_cents),
                k.parcels,
                plural(k.parcels as usize, "parcel", "parcels")
            );
        }
    }
    println!("\nLineage (from the bundle's events):");
    print!("{}", root.render_tree_absent("not in this bundle"));
    println!();
    print_origins(&c.by_origin, root.carat_hundredths.unwrap_or(0));
}

pub fn verify_bundle(a: &VerifyBundleArgs, json_out: bool) -> CmdResult {
    let trust = match (&a.network_id, &a.charter) {
        (Some(id), _) => TrustRoot::NetworkId(
            Digest::from_hex(id.trim())
                .map_err(|e| Failure::usage(format!("--network-id: {e}")))?,
        ),
        (_, Some(p)) => TrustRoot::Charter(Box::new(Charter::load(p).map_err(Failure::usage)?)),
        _ => {
            return Err(Failure::usage(
                "name the network you trust: --network-id HEX or --charter FILE",
            ))
        }
    };
    let meta = std::fs::metadata(&a.file)
        .map_err(|e| Failure::usage(format!("{}: {e}", a.file.display())))?;
    if meta.len() > MAX_BUNDLE_BYTES as u64 {
        return Err(Failure::found(format!(
            "{}: larger than a bundle can be",
            a.file.display()
        )));
    }
    let bytes =
        std::fs::read(&a.file).map_err(|e| Failure::usage(format!("{}: {e}", a.file.display())))?;
    match verify(&bytes, &trust, a.witnesses) {
        Ok(r) => {
            if json_out {
                println!("{}", json!({"ok": true, "report": r}));
            } else {
                println!(
                    "OK: certificate {} on network {} ({}), every event signed and included in a checkpoint cosigned by at least {} witness(es)\n",
                    r.certificate,
                    r.network,
                    short(&r.network_id.to_hex()),
                    r.min_witnesses
                );
                print_certified(&r);
                let mut t = Table::new(&[
                    "EVENT",
                    "CERTIFICATE",
                    "AUTHOR",
                    "SEQ",
                    "ID",
                    "IN CHECKPOINT",
                ]);
                for e in &r.events {
                    t.row(vec![
                        e.kind.to_owned(),
                        e.certificate.clone().unwrap_or_default(),
                        e.author.clone(),
                        e.seq.to_string(),
                        short(&e.id.to_hex()),
                        format!("size {}", e.checkpoint_size),
                    ]);
                }
                println!("The events that prove it:");
                print!("{}", t.render());
                println!();
                for cp in &r.checkpoints {
                    println!(
                        "checkpoint {} size {}: {} witness(es)",
                        cp.author,
                        cp.size,
                        cp.witnesses.len()
                    );
                    for x in &cp.refused {
                        println!(
                            "  {} cosignature(s) refused: {} ({})",
                            x.count, x.reason, x.witness
                        );
                    }
                }
                if r.refused_cosignatures > 0 {
                    println!(
                        "\nWARNING: {} cosignature(s) refused and not counted (above); the verdict rests on the others",
                        r.refused_cosignatures
                    );
                }
            }
            Ok(OK)
        }
        Err(e) => {
            if json_out {
                println!("{}", json!({"ok": false, "error": e.to_string()}));
            } else {
                println!("FAILED: {e}");
            }
            Ok(FOUND)
        }
    }
}
