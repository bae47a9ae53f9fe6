//! A minimal W3C WebDriver client over the harness's HTTP helper, and a
//! headless Chromium driven by `chromedriver` on loopback, for the tests
//! of the web explorer in a real browser.
//!
//! Chromium is started headless, without sandbox, GPU, QUIC, first-run
//! dialogs, background networking, component updates or sync, with a
//! fresh empty profile: nothing it does reaches a non-loopback address.
//! The driver process is killed when the [`Browser`] is dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// The key WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where `name` is on the PATH (or in /usr/bin, /usr/lib/chromium).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/lib/chromium".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The Chromium binary and its driver, when both are installed.
pub fn chromium() -> Option<(PathBuf, PathBuf)> {
    let browser = find_program("chromium").or_else(|| find_program("chromium-browser"))?;
    let driver = find_program("chromedriver")?;
    Some((browser, driver))
}

/// A free loopback port (bound, then released for the driver to take).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Largest WebDriver answer read (a screenshot of a tall page is a few MiB).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// One WebDriver exchange on loopback: the answer's status and JSON.
/// chromedriver keeps the connection open after its answer even when
/// asked to close it, so the body is read by its `Content-Length`.
fn exchange(
    method: &str,
    base: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let hostport = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base}: only http:// is supported"))?;
    let mut s = TcpStream::connect(hostport).map_err(|e| format!("{base}: {e}"))?;
    let timeout = Some(Duration::from_secs(60));
    s.set_read_timeout(timeout).map_err(|e| e.to_string())?;
    s.set_write_timeout(timeout).map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s.take(MAX_ANSWER as u64));
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| e.to_string())?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad HTTP status line `{}`", line.trim()))?;
    let mut length = None;
    for _ in 0..100 {
        let mut h = String::new();
        if r.read_line(&mut h).map_err(|e| e.to_string())? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<usize>().ok();
            }
        }
    }
    let length = length.ok_or("a WebDriver answer without Content-Length")?;
    if length > MAX_ANSWER {
        return Err(format!("a WebDriver answer of {length} bytes"));
    }
    let mut raw = vec![0; length];
    r.read_exact(&mut raw).map_err(|e| e.to_string())?;
    let v = serde_json::from_slice(&raw).map_err(|e| format!("WebDriver answer: {e}"))?;
    Ok((status, v))
}

/// One element of the page.
#[derive(Clone, Debug)]
pub struct Element(String);

/// A headless Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    /// The fresh profile directory, removed with the browser.
    _profile: Option<tempfile::TempDir>,
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and opens a session
    /// of a headless `browser` with a `width` × `height` window.
    pub fn start(
        browser: &Path,
        driver: &Path,
        width: u32,
        height: u32,
    ) -> Result<Browser, String> {
        let mut profile = Some(
            tempfile::Builder::new()
                .prefix("kpl-chromium-")
                .tempdir()
                .map_err(|e| e.to_string())?,
        );
        let profile_dir = profile
            .as_ref()
            .map(|p| p.path().display().to_string())
            .unwrap_or_default();
        let mut last = String::new();
        // The port is free when picked; another process may take it before
        // the driver does: a few tries.
        for _ in 0..5 {
            let port = free_port()?;
            let child = Command::new(driver)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("{}: {e}", driver.display()))?;
            let base = format!("http://127.0.0.1:{port}");
            let mut b = Browser {
                driver: child,
                base,
                session: String::new(),
                _profile: None,
            };
            let ready = crate::wait_until(
                Duration::from_secs(20),
                Duration::from_millis(100),
                "chromedriver",
                || match exchange("GET", &b.base, "/status", None) {
                    Ok((200, v)) if v["value"]["ready"] == json!(true) => Some(()),
                    _ => None,
                },
            );
            if let Err(e) = ready {
                last = e;
                continue;
            }
            let caps = json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": browser.display().to_string(),
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        "--disable-dev-shm-usage", "--hide-scrollbars",
                        format!("--window-size={width},{height}"),
                        format!("--user-data-dir={profile_dir}"),
                    ]
                }
            }}});
            let v = b.call("POST", "/session", Some(&caps))?;
            b.session = v["sessionId"]
                .as_str()
                .ok_or_else(|| format!("no session id in {v}"))?
                .to_owned();
            b._profile = profile.take();
            return Ok(b);
        }
        Err(format!("chromedriver did not start: {last}"))
    }

    /// One WebDriver command; its `value`, or the error it names.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let (status, v) = exchange(method, &self.base, path, body)?;
        if status != 200 {
            return Err(format!(
                "WebDriver {method} {path}: {status} {}",
                v["value"]
            ));
        }
        Ok(v["value"].clone())
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Loads `url` and waits until it is loaded.
    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(&json!({"url": url})),
        )
        .map(|_| ())
    }

    pub fn title(&self) -> Result<String, String> {
        let v = self.call("GET", &self.session_path("/title"), None)?;
        Ok(v.as_str().unwrap_or("").to_owned())
    }

    pub fn url(&self) -> Result<String, String> {
        let v = self.call("GET", &self.session_path("/url"), None)?;
        Ok(v.as_str().unwrap_or("").to_owned())
    }

    /// Every element matching a CSS selector.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element>, String> {
        self.elements(&self.session_path("/elements"), css)
    }

    /// Every element matching a CSS selector inside `e`.
    pub fn find_all_in(&self, e: &Element, css: &str) -> Result<Vec<Element>, String> {
        self.elements(
            &self.session_path(&format!("/element/{}/elements", e.0)),
            css,
        )
    }

    /// The elements a "find elements" command at `path` answers.
    fn elements(&self, path: &str, css: &str) -> Result<Vec<Element>, String> {
        let v = self.call(
            "POST",
            path,
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The rendered text of each cell of each body row of the table
    /// matching `css`.
    pub fn rows(&self, css: &str) -> Result<Vec<Vec<String>>, String> {
        let mut out = Vec::new();
        for tr in self.find_all(&format!("{css} tbody tr"))? {
            let mut cells = Vec::new();
            for td in self.find_all_in(&tr, "td")? {
                cells.push(self.text(&td)?);
            }
            out.push(cells);
        }
        Ok(out)
    }

    /// The one element matching a CSS selector.
    pub fn find(&self, css: &str) -> Result<Element, String> {
        let v = self.call(
            "POST",
            &self.session_path("/element"),
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        v[ELEMENT]
            .as_str()
            .map(|s| Element(s.to_owned()))
            .ok_or_else(|| format!("no element {css}: {v}"))
    }

    /// An element's rendered text.
    pub fn text(&self, e: &Element) -> Result<String, String> {
        let v = self.call(
            "GET",
            &self.session_path(&format!("/element/{}/text", e.0)),
            None,
        )?;
        Ok(v.as_str().unwrap_or("").to_owned())
    }

    /// The rendered text of the element matching `css`.
    pub fn text_of(&self, css: &str) -> Result<String, String> {
        let e = self.find(css)?;
        self.text(&e)
    }

    /// An element's attribute (or property) value.
    pub fn attribute(&self, e: &Element, name: &str) -> Result<Option<String>, String> {
        let v = self.call(
            "GET",
            &self.session_path(&format!("/element/{}/attribute/{name}", e.0)),
            None,
        )?;
        Ok(v.as_str().map(str::to_owned))
    }

    pub fn click(&self, e: &Element) -> Result<(), String> {
        self.call(
            "POST",
            &self.session_path(&format!("/element/{}/click", e.0)),
            Some(&json!({})),
        )
        .map(|_| ())
    }

    /// Clears a text field and types `text` into it.
    pub fn type_into(&self, e: &Element, text: &str) -> Result<(), String> {
        self.call(
            "POST",
            &self.session_path(&format!("/element/{}/clear", e.0)),
            Some(&json!({})),
        )?;
        self.call(
            "POST",
            &self.session_path(&format!("/element/{}/value", e.0)),
            Some(&json!({"text": text})),
        )
        .map(|_| ())
    }

    /// Runs `script` in the page (the tests read counts and computed
    /// values with it); its return value.
    pub fn script(&self, script: &str) -> Result<Value, String> {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(&json!({"script": script, "args": []})),
        )
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Result<Vec<u8>, String> {
        let v = self.call("GET", &self.session_path("/screenshot"), None)?;
        base64_decode(v.as_str().ok_or("no screenshot data")?)
    }

    /// Resizes the window (screenshots are of the viewport).
    pub fn resize(&self, width: u32, height: u32) -> Result<(), String> {
        self.call(
            "POST",
            &self.session_path("/window/rect"),
            Some(&json!({"width": width, "height": height})),
        )
        .map(|_| ())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &self.session_path(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (with padding, whitespace ignored).
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' | b' ' => continue,
            _ => return Err(format!("not base64: byte {c}")),
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(
            super::base64_decode("iVBORw0KGgo=").unwrap(),
            b"\x89PNG\r\n\x1a\n"
        );
        assert!(super::base64_decode("a*b").is_err());
    }
}
