//! A write without the token is refused before its body is read: a stranger
//! who announces a 16 MB batch and sends one byte of it gets `401` at once,
//! instead of holding the node to parse what it sends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kpl_api::paths;
use kpl_tests::{members, TestNet};

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(30);

/// Sends the head of a POST announcing `length` bytes of body and one byte
/// of it; returns the status line of the answer (or the read error).
fn announce(base: &str, path: &str, auth: Option<&str>, length: usize) -> Result<String, String> {
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {length}\r\n\r\n["
    );
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).map_err(|e| format!("no answer: {e}"))?;
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    Ok(text.lines().next().unwrap_or("").to_owned())
}

#[test]
fn writes_without_the_token_are_refused_before_the_body_is_read() {
    let mut net = TestNet::create(EXE, "kp-token-first", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], WITHIN);
    let api = net.api("BW");
    for path in [
        paths::CERTIFICATES_BATCH,
        paths::CERTIFICATES,
        paths::CONFIRMATIONS,
    ] {
        let length = if path.ends_with("batch") {
            16_000_000
        } else {
            60_000
        };
        for auth in [None, Some("not-the-token")] {
            let status = announce(&api, path, auth, length);
            assert!(
                matches!(&status, Ok(s) if s.contains(" 401 ")),
                "{path} with {auth:?}: {status:?}"
            );
        }
    }
    // With the token, the node waits for the body as it should.
    let token = net.token("BW");
    let status = announce(&api, paths::CERTIFICATES_BATCH, Some(&token), 16_000_000);
    assert!(
        matches!(&status, Err(e) if e.starts_with("no answer")),
        "the body is awaited once the token is right: {status:?}"
    );
}
