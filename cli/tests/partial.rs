//! `kpl` gives no answer from partial data without saying so: on a stopped
//! store whose log holds a record that cannot be read, `audit`, `stats` and
//! `trace` with `--data-dir` warn on stderr (how many records, where, and
//! what to run), carry `partial` in their JSON and exit 1; a store whose log
//! is damaged where acknowledged records lie gives no answer at all (exit 1,
//! naming the damage); `verify --data-dir` lists every damaged record.
//!
//! The stores are built with ledger-core directly: no node is needed.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ledger_core::store::{frame, Ledger, LogFile, LogItem, StoreOptions, HEADER_LEN, KIND_EVENT};
use ledger_core::testkit::{matching_confirmation, sample_certificate, test_charter, FeedWriter};
use ledger_core::{AuthorId, CountryCode, EventBody, SignedEvent};
use serde_json::Value;

const KPL: &str = env!("CARGO_BIN_EXE_kpl");

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    what: String,
}

impl Out {
    #[track_caller]
    fn code(self, want: i32) -> Out {
        assert_eq!(
            self.code,
            Some(want),
            "{}: exit code\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn err_has(self, needles: &[&str]) -> Out {
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "{}: stderr lacks {n:?}:\n{}\nstdout:\n{}",
                self.what,
                self.stderr,
                self.stdout
            );
        }
        self
    }

    #[track_caller]
    fn out_has(self, needles: &[&str]) -> Out {
        for n in needles {
            assert!(
                self.stdout.contains(n),
                "{}: stdout lacks {n:?}:\n{}\nstderr:\n{}",
                self.what,
                self.stdout,
                self.stderr
            );
        }
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }
}

/// Runs `kpl args…` (no KPL_* variables), killed after 60 s.
fn kpl(args: &[&str]) -> Out {
    let what = format!("kpl {}", args.join(" "));
    let mut child = Command::new(KPL)
        .args(args)
        .env_remove("KPL_NODE")
        .env_remove("KPL_TOKEN")
        .env_remove("KPL_TOKEN_FILE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let read = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(child.stdout.take().map(|r| Box::new(r) as _));
    let err = read(child.stderr.take().map(|r| Box::new(r) as _));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what}: did not finish in time");
            }
        }
    };
    Out {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        what,
    }
}

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!(
            "kpl-cli-partial-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn code(s: &str) -> CountryCode {
    CountryCode::new(s).unwrap()
}

/// A stopped store: BW and ZA each export 30 certificates to EU, which
/// confirms them all.
fn store(dir: &Path) {
    let c = test_charter(&["BW", "EU", "ZA"]);
    let l = Ledger::open(dir, &c, StoreOptions::default()).unwrap();
    let net = c.network_id();
    let mut eu = FeedWriter::new(net, AuthorId::new("EU", "mme").unwrap());
    for from in ["BW", "ZA"] {
        let mut w = FeedWriter::new(net, AuthorId::new(from, "mme").unwrap());
        let mut batch = Vec::new();
        for n in 1..=30u64 {
            let cert = sample_certificate(code(from), code("EU"), n);
            batch.push(w.next(
                EventBody::CertificateIssued(cert.clone()),
                1_767_225_600_000 + n,
            ));
            batch.push(eu.next(
                EventBody::ImportConfirmed(matching_confirmation(&cert)),
                1_767_225_700_000 + n,
            ));
            if batch.len() >= 20 {
                l.append_batch(std::mem::take(&mut batch)).unwrap();
            }
        }
        l.append_batch(batch).unwrap();
    }
}

/// (offset, body length, event) of every event record.
fn records(log: &Path) -> Vec<(u64, usize, SignedEvent)> {
    let f = LogFile::open_read_only(log).unwrap();
    let mut out = Vec::new();
    f.scan_all(HEADER_LEN, |item| {
        if let LogItem::Record(r) = item {
            if r.kind == KIND_EVENT {
                let ev = SignedEvent::decode(&r.payload).unwrap();
                out.push((r.offset, r.payload.len() + 1, ev));
            }
        }
        Ok(())
    })
    .unwrap();
    out
}

fn rw(log: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(log)
        .unwrap()
}

/// Flips one byte in the middle of a record's body.
fn flip(log: &Path, off: u64, body_len: usize) {
    let f = rw(log);
    let at = off + 8 + body_len as u64 / 2;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x20], at).unwrap();
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn answers_from_a_store_with_an_unreadable_record_say_they_are_partial() {
    let tmp = TempDir::new("undecodable");
    let dir = &tmp.0;
    store(dir);
    let d = s(dir);
    // Whole: no warning, exit 0.
    kpl(&["stats", "--year", "2026", "--data-dir", &d]).code(0);

    // A record whose checksum holds but that does not decode (its format
    // version byte changed, the checksum made to match): the store opens,
    // the record cannot be read.
    let log = dir.join("events.log");
    let recs = records(&log);
    let (off, body_len, ev) = recs[recs.len() / 2].clone();
    let f = rw(&log);
    let mut body = vec![0u8; body_len];
    f.read_exact_at(&mut body, off + 8).unwrap();
    body[1] = 0x7f;
    let mut framed = Vec::new();
    frame(KIND_EVENT, &body[1..], &mut framed);
    f.write_all_at(&framed, off).unwrap();
    drop(f);

    let warning = [
        "answer computed from partial data",
        "1 record(s) of the log unreadable",
        &off.to_string(),
        "kpl verify --data-dir",
    ];
    kpl(&["stats", "--year", "2026", "--data-dir", &d])
        .code(1)
        .err_has(&warning)
        .out_has(&["KP trade statistics"]);
    kpl(&["stats", "--year", "2026", "--csv", "--data-dir", &d])
        .code(1)
        .err_has(&warning);
    kpl(&["audit", "--data-dir", &d]).code(1).err_has(&warning);
    kpl(&["trace", "BW-2026-0000001", "--data-dir", &d])
        .code(1)
        .err_has(&warning);

    let v = kpl(&["--json", "stats", "--year", "2026", "--data-dir", &d])
        .code(1)
        .json();
    assert_eq!(v["partial"]["unreadable_records"], 1, "{v}");
    assert_eq!(v["partial"]["first_offset"], off, "{v}");
    let u = &v["partial"]["unreadable"][0];
    assert_eq!(u["author"], ev.author().to_string(), "{v}");
    assert_eq!(u["seq"], ev.seq(), "{v}");
    let v = kpl(&["--json", "audit", "--data-dir", &d]).code(1).json();
    assert_eq!(v["partial"]["first_offset"], off, "{v}");

    // verify names it.
    let v = kpl(&["--json", "verify", "--data-dir", &d]).code(1).json();
    assert_eq!(v["failure_count"], 1, "{v}");
    assert_eq!(v["failures"][0]["offset"], off, "{v}");
}

#[test]
fn a_damaged_store_gives_no_answer_and_verify_lists_every_damage() {
    let tmp = TempDir::new("damaged");
    let dir = &tmp.0;
    store(dir);
    let d = s(dir);
    let log = dir.join("events.log");
    let recs = records(&log);
    let pick = |who: &str, seq: u64| {
        recs.iter()
            .find(|(_, _, e)| e.author().participant.as_str() == who && e.seq() == seq)
            .cloned()
            .unwrap()
    };
    let (bw_off, bw_len, _) = pick("BW", 10);
    let (za_off, za_len, _) = pick("ZA", 20);
    flip(&log, bw_off, bw_len);
    flip(&log, za_off, za_len);

    // The store does not open: no answer, exit 1, the damage named.
    for args in [
        vec!["audit", "--data-dir", &d],
        vec!["stats", "--year", "2026", "--data-dir", &d],
        vec!["trace", "BW-2026-0000001", "--data-dir", &d],
    ] {
        let o =
            kpl(&args)
                .code(1)
                .err_has(&["damaged", &bw_off.to_string(), "kpl verify --data-dir"]);
        assert!(o.stdout.is_empty(), "{}: {}", o.what, o.stdout);
    }

    // verify lists both damaged records, in two feeds, and goes on.
    let v = kpl(&["--json", "verify", "--data-dir", &d]).code(1).json();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["failure_count"], 2, "{v}");
    let f = v["failures"].as_array().unwrap();
    assert_eq!(
        (
            f[0]["offset"].as_u64(),
            f[0]["author"].as_str(),
            f[0]["seq"].as_u64()
        ),
        (Some(bw_off), Some("BW/mme"), Some(10)),
        "{v}"
    );
    assert_eq!(
        (
            f[1]["offset"].as_u64(),
            f[1]["author"].as_str(),
            f[1]["seq"].as_u64()
        ),
        (Some(za_off), Some("ZA/mme"), Some(20)),
        "{v}"
    );
    assert_eq!(v["failure"], f[0], "{v}");
    // EU's feed is whole; BW to 9 and ZA to 19.
    assert_eq!(v["events"], 60 + 9 + 19, "{v}");
    assert_eq!(v["unverified"], (30 - 10) + (30 - 20), "{v}");
    kpl(&["verify", "--data-dir", &d]).code(1).out_has(&[
        "FAILED: 2 problem(s)",
        "1. event:  BW/mme seq 10",
        &format!("offset: {bw_off}"),
        "2. event:  ZA/mme seq 20",
        &format!("offset: {za_off}"),
        "checksum",
        "BW/mme from seq 10 (20 later event(s) unverified)",
    ]);
}
