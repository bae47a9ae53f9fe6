//! An import whose node goes away midway: the real `kpl` binary against a
//! loopback HTTP server that answers the first batch and then stops
//! listening. The rows already accepted are listed, and the message says
//! how to go on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KPL: &str = env!("CARGO_BIN_EXE_kpl");

const HEADER: &str = "number,origin,zone,issued_on,expires_on,issuing_authority,exporter_name,exporter_address,importer_name,importer_address,destination,carats,value_usd,parcels,hs_codes,source_certificates";

/// Answers one HTTP request with every row of its batch accepted, then
/// closes the connection and the listener.
fn one_batch_then_gone(listener: TcpListener) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        drop(listener);
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("header") == 0 {
                break;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).expect("body");
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("a JSON array");
        let results: Vec<serde_json::Value> = (0..rows.len())
            .map(|i| serde_json::json!({"id": format!("{:064x}", i + 1), "seq": i + 1, "durable": true}))
            .collect();
        let answer = serde_json::json!({ "results": results }).to_string();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .expect("answer");
        rows.len()
    })
}

#[test]
fn an_interrupted_import_lists_what_was_signed_and_how_to_go_on() {
    let dir = std::env::temp_dir().join(format!("kpl-import-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("certs.csv");
    let mut text = format!("{HEADER}\n");
    // 501 rows: a first batch of 500, then one more the node is gone for.
    for i in 0..501 {
        text += &format!(
            "BW-2026-{:06},BW,,2026-11-21,,,Debswana,Gaborone,Antwerp Rough BV,Antwerp,EU,10,1000.00,1,7102.31,\n",
            200_000 + i
        );
    }
    std::fs::write(&csv, text).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = one_batch_then_gone(listener);

    let mut child = Command::new(KPL)
        .args([
            "--node",
            &format!("http://{addr}"),
            "--json",
            "issue",
            "--file",
            csv.to_str().unwrap(),
        ])
        .env("KPL_TOKEN", "t")
        .env_remove("KPL_NODE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kpl did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(server.join().unwrap(), 500, "the first batch");
    assert_eq!(status.code(), Some(2), "stdout:\n{out}\nstderr:\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON on stdout");
    assert_eq!(v["accepted"].as_array().unwrap().len(), 500, "{v}");
    assert_eq!(v["accepted"][0]["number"], "BW-2026-200000");
    assert_eq!(v["interrupted"]["after_rows"], 500, "{v}");
    assert_eq!(v["interrupted"]["of"], 501, "{v}");
    assert!(
        err.contains("stopped after 500 of 501 rows") && err.contains("Run the same command again"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
