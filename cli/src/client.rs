//! The node's HTTP API, as the CLI sees it.

use std::time::Duration;

use serde_json::Value;

use crate::fmt::Failure;

pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token,
            agent,
        }
    }

    fn conn_err(&self, e: ureq::Error) -> Failure {
        Failure::usage(format!(
            "cannot reach the node at {}: {e}\n  Is a node running? Start one with `kpl devnet up` or `kpl node run`, or pass --node URL.",
            self.base
        ))
    }

    fn finish(
        &self,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, Failure> {
        let mut resp = resp.map_err(|e| self.conn_err(e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.conn_err(e))?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            return Ok(v);
        }
        let msg = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string());
        let code = v.pointer("/error/code").and_then(Value::as_str);
        let hint = match (status, code) {
            (401, _) => {
                "\n  Pass the node's API token: --token-file DATA_DIR/api.token (or set KPL_TOKEN)."
            }
            (403, Some("missing_role")) => {
                "\n  This node's authority lacks the role this event needs (`kpl gov` needs the governance role); roles are granted in the charter or by a governance decision (add-authority)."
            }
            (403, _) => "\n  This node cannot write: observers are read-only.",
            _ => "",
        };
        Err(Failure::usage(format!(
            "the node answered {status}: {msg}{hint}"
        )))
    }

    pub fn get(&self, path: &str) -> Result<Value, Failure> {
        let r = self.agent.get(format!("{}{path}", self.base)).call();
        self.finish(r)
    }

    /// GET that returns `None` on 404.
    pub fn get_opt(&self, path: &str) -> Result<Option<Value>, Failure> {
        let r = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .map_err(|e| self.conn_err(e))?;
        if r.status().as_u16() == 404 {
            return Ok(None);
        }
        self.finish(Ok(r)).map(Some)
    }

    /// GET of raw bytes (a tile, a checkpoint): `None` on 404, an error
    /// for any other status but 200.
    pub fn get_bytes(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .map_err(|e| format!("cannot reach the node at {}: {e}", self.base))?;
        match r.status().as_u16() {
            404 => Ok(None),
            200 => r
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_vec()
                .map(Some)
                .map_err(|e| format!("{path}: {e}")),
            s => Err(format!("{path}: the node answered {s}")),
        }
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let r = req.send(body.to_string());
        self.finish(r)
    }
}
