//! One HTTP/1.1 exchange over a stream the caller connected (cargo feature
//! `client`): for a node reached through a socket opened in another network
//! namespace, which no URL reaches and so [`crate::client::Client`] cannot
//! dial. The request says `Connection: close`; the answer is read bounded
//! in every part (status line, header lines and their count, the body,
//! chunk-size lines), and a malformed answer is an error, never a panic.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::endpoints::Method;

/// The bounds on an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest body, after chunked decoding.
    pub body: usize,
    /// Longest status or header line (and chunk-size or trailer line).
    pub line: usize,
    /// Most header lines (and trailer lines).
    pub headers: usize,
}

impl Default for Limits {
    /// The client's bounds: a body of [`crate::client::MAX_ANSWER`], lines
    /// of 8 KiB, 200 header lines.
    fn default() -> Limits {
        Limits {
            body: crate::client::MAX_ANSWER as usize,
            line: 8 * 1024,
            headers: 200,
        }
    }
}

/// An answer: its status, header lines (names lowercased) and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why an exchange gave no answer.
#[derive(Debug)]
pub enum Http1Error {
    /// The stream failed or timed out.
    Io(std::io::Error),
    /// The stream ended before the answer did.
    Truncated(&'static str),
    /// A status, header, chunk-size or trailer line over [`Limits::line`].
    LineTooLong(&'static str),
    /// More header (or trailer) lines than [`Limits::headers`].
    TooManyHeaders,
    /// A body over [`Limits::body`].
    BodyTooLarge(usize),
    /// The answer is not HTTP/1.x as written.
    Malformed(String),
}

impl std::fmt::Display for Http1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Http1Error::Io(e) => write!(f, "{e}"),
            Http1Error::Truncated(what) => write!(f, "the answer ends inside its {what}"),
            Http1Error::LineTooLong(what) => write!(f, "{what} line too long"),
            Http1Error::TooManyHeaders => write!(f, "too many header lines"),
            Http1Error::BodyTooLarge(limit) => {
                write!(f, "answer body larger than {limit} bytes")
            }
            Http1Error::Malformed(e) => write!(f, "bad HTTP answer: {e}"),
        }
    }
}

impl std::error::Error for Http1Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Http1Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Http1Error {
    fn from(e: std::io::Error) -> Http1Error {
        Http1Error::Io(e)
    }
}

/// One exchange over the connected `stream`: `host` goes in the `Host`
/// header, `token` (if any) as `Authorization: Bearer`, `body` as JSON;
/// `timeout` bounds each read and write.
#[allow(clippy::too_many_arguments)]
pub fn exchange(
    stream: TcpStream,
    host: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    timeout: Duration,
    limits: Limits,
) -> Result<Response, Http1Error> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let _ = stream.set_nodelay(true);
    let mut stream = stream;
    write_request(&mut stream, host, method, path, token, body)?;
    read_response(BufReader::new(stream), limits)
}

/// Writes a request with `Connection: close` and its `Content-Length`.
pub fn write_request(
    w: &mut impl Write,
    host: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<(), Http1Error> {
    for (what, v) in [
        ("host", host),
        ("path", path),
        ("token", token.unwrap_or("")),
    ] {
        if v.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(Http1Error::Malformed(format!(
                "the request's {what} has a space or a control character"
            )));
        }
    }
    let body = body.unwrap_or("");
    let mut req = format!(
        "{} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n",
        method.as_str()
    );
    if method == Method::Post || !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    w.write_all(req.as_bytes())?;
    w.flush()?;
    Ok(())
}

/// Reads an answer (to a GET or a POST: not to a HEAD) from `r`.
pub fn read_response(mut r: impl BufRead, limits: Limits) -> Result<Response, Http1Error> {
    let line =
        read_line(&mut r, limits.line, "status")?.ok_or(Http1Error::Truncated("status line"))?;
    let status = parse_status(&line)?;
    let mut headers = Vec::new();
    loop {
        let h = read_line(&mut r, limits.line, "header")?.ok_or(Http1Error::Truncated("header"))?;
        if h.is_empty() {
            break;
        }
        if headers.len() == limits.headers {
            return Err(Http1Error::TooManyHeaders);
        }
        let (name, value) = h
            .split_once(':')
            .filter(|(n, _)| !n.is_empty() && !n.contains([' ', '\t']))
            .ok_or_else(|| Http1Error::Malformed(format!("header line `{h}`")))?;
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let chunked = values(&headers, "transfer-encoding").any(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("chunked"))
    });
    let lengths: Vec<&str> = values(&headers, "content-length").collect();
    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
    let body = if no_body {
        Vec::new()
    } else if chunked {
        read_chunked(&mut r, limits)?
    } else if let Some(first) = lengths.first() {
        if lengths.iter().any(|l| l != first) {
            return Err(Http1Error::Malformed("conflicting Content-Length".into()));
        }
        let n = parse_length(first)?;
        if n > limits.body as u64 {
            return Err(Http1Error::BodyTooLarge(limits.body));
        }
        let mut body = Vec::new();
        (&mut r).take(n).read_to_end(&mut body)?;
        if (body.len() as u64) < n {
            return Err(Http1Error::Truncated("body"));
        }
        body
    } else {
        // Delimited by the end of the connection.
        let mut body = Vec::new();
        (&mut r)
            .take(limits.body as u64 + 1)
            .read_to_end(&mut body)?;
        if body.len() > limits.body {
            return Err(Http1Error::BodyTooLarge(limits.body));
        }
        body
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The values of the header lines named `name` (lowercase).
fn values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `HTTP/1.x NNN reason`.
fn parse_status(line: &str) -> Result<u16, Http1Error> {
    let bad = || Http1Error::Malformed(format!("status line `{line}`"));
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().ok_or_else(bad)?;
    if !version.starts_with("HTTP/1.") {
        return Err(bad());
    }
    let code = parts.next().ok_or_else(bad)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let status: u16 = code.parse().map_err(|_| bad())?;
    if !(100..=599).contains(&status) {
        return Err(bad());
    }
    Ok(status)
}

/// A decimal `Content-Length`.
fn parse_length(v: &str) -> Result<u64, Http1Error> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Http1Error::Malformed(format!("Content-Length `{v}`")));
    }
    v.parse()
        .map_err(|_| Http1Error::Malformed(format!("Content-Length `{v}`")))
}

/// One line without its `\r\n` (or bare `\n`), at most `max` bytes;
/// `None` at the end of the stream before any byte.
fn read_line(
    r: &mut impl BufRead,
    max: usize,
    what: &'static str,
) -> Result<Option<String>, Http1Error> {
    let mut buf = Vec::new();
    r.take(max as u64 + 2).read_until(b'\n', &mut buf)?;
    if buf.is_empty() {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if buf.len() > max {
            Http1Error::LineTooLong(what)
        } else {
            Http1Error::Truncated(what)
        });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    if buf.len() > max {
        return Err(Http1Error::LineTooLong(what));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| Http1Error::Malformed(format!("{what} line is not UTF-8")))
}

/// A chunked body: sizes in hex (extensions after `;` ignored), each chunk
/// followed by `\r\n`, the last of size 0, then trailer lines (skipped)
/// up to an empty line. The total is bounded by [`Limits::body`] before
/// anything is allocated for it.
fn read_chunked(r: &mut impl BufRead, limits: Limits) -> Result<Vec<u8>, Http1Error> {
    let mut out = Vec::new();
    loop {
        let line = read_line(r, limits.line, "chunk-size")?
            .ok_or(Http1Error::Truncated("chunked body"))?;
        let hex = line.split(';').next().unwrap_or("").trim();
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Http1Error::Malformed(format!("chunk size `{line}`")));
        }
        let size = u64::from_str_radix(hex, 16)
            .map_err(|_| Http1Error::Malformed(format!("chunk size `{line}`")))?;
        if size == 0 {
            break;
        }
        let room = (limits.body - out.len()) as u64;
        if size > room {
            return Err(Http1Error::BodyTooLarge(limits.body));
        }
        let before = out.len();
        r.take(size).read_to_end(&mut out)?;
        if ((out.len() - before) as u64) < size {
            return Err(Http1Error::Truncated("chunked body"));
        }
        match read_line(r, limits.line, "chunk end")? {
            Some(l) if l.is_empty() => {}
            Some(_) => return Err(Http1Error::Malformed("a chunk longer than its size".into())),
            None => return Err(Http1Error::Truncated("chunked body")),
        }
    }
    for _ in 0..=limits.headers {
        match read_line(r, limits.line, "trailer")? {
            Some(l) if l.is_empty() => return Ok(out),
            Some(_) => {}
            // Some servers close right after the last chunk.
            None => return Ok(out),
        }
    }
    Err(Http1Error::TooManyHeaders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &[u8]) -> Result<Response, Http1Error> {
        read_response(raw, Limits::default())
    }

    fn small(body: usize) -> Limits {
        Limits {
            body,
            line: 64,
            headers: 4,
        }
    }

    #[test]
    fn a_content_length_body() {
        let r = read(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloEXTRA").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
        assert_eq!(r.header("x-a"), Some("b"));
        assert_eq!(r.header("content-length"), Some("5"));
    }

    #[test]
    fn a_body_to_the_end_of_the_connection() {
        let r = read(b"HTTP/1.0 404 Not Found\r\n\r\nno such").unwrap();
        assert_eq!((r.status, r.text().as_str()), (404, "no such"));
    }

    #[test]
    fn a_chunked_body() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
        let r = read(raw).unwrap();
        assert_eq!(r.text(), "hello 0123456789");
        // The last chunk and nothing after it.
        let r =
            read(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n2\r\nok\r\n0\r\n")
                .unwrap();
        assert_eq!(r.text(), "ok");
    }

    #[test]
    fn an_answer_without_a_body() {
        let r = read(b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
    }

    #[test]
    fn malformed_answers_are_errors() {
        for raw in [
            &b""[..],
            b"HTTP/1.1",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab",
        ] {
            let r = read(raw);
            assert!(r.is_err(), "{:?} gave {r:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn every_part_is_bounded() {
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(100));
        assert!(matches!(
            read_response(long.as_bytes(), small(10)),
            Err(Http1Error::LineTooLong("header"))
        ));
        let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "A: b\r\n".repeat(5));
        assert!(matches!(
            read_response(many.as_bytes(), small(10)),
            Err(Http1Error::TooManyHeaders)
        ));
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
        assert!(matches!(
            read_response(&raw[..], small(10)),
            Err(Http1Error::BodyTooLarge(10))
        ));
        let raw = b"HTTP/1.1 200 OK\r\n\r\nhello world";
        assert!(matches!(
            read_response(&raw[..], small(10)),
            Err(Http1Error::BodyTooLarge(10))
        ));
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n";
        assert!(matches!(
            read_response(&raw[..], small(10)),
            Err(Http1Error::BodyTooLarge(10))
        ));
        // A chunk size near u64::MAX is refused before any allocation.
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n";
        assert!(matches!(
            read_response(&raw[..], small(10)),
            Err(Http1Error::BodyTooLarge(10))
        ));
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
        assert_eq!(
            read_response(&raw[..], small(10)).unwrap().body,
            b"0123456789"
        );
    }

    #[test]
    fn the_request_as_written() {
        let mut out = Vec::new();
        write_request(
            &mut out,
            "127.0.0.1:8080",
            Method::Post,
            "/v1/certificates",
            Some("t0k"),
            Some("{}"),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /v1/certificates HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\nAuthorization: Bearer t0k\r\n\r\n{}"
        );
        let mut out = Vec::new();
        write_request(&mut out, "h", Method::Get, "/v1/health", None, None).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        );
        let mut out = Vec::new();
        assert!(write_request(&mut out, "h", Method::Get, "/a\r\nX: y", None, None).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn an_exchange_over_a_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut req = String::new();
            while r.read_line(&mut req).unwrap() > 2 {}
            s.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            )
            .unwrap();
            req
        });
        let s = TcpStream::connect(addr).unwrap();
        let r = exchange(
            s,
            &addr.to_string(),
            Method::Get,
            "/v1/health",
            None,
            None,
            Duration::from_secs(10),
            Limits::default(),
        )
        .unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "abc"));
        let req = server.join().unwrap();
        assert!(req.starts_with("GET /v1/health HTTP/1.1\r\n"), "{req}");
    }
}
