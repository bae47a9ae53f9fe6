//! The node's HTTP API, as the CLI sees it: `kpl_api::client` for the
//! exchange, and the CLI's own words for what went wrong.

use std::time::Duration;

use kpl_api::client::ClientError;
use kpl_api::endpoints::Method;
use serde_json::Value;

use crate::fmt::Failure;

pub struct Client {
    inner: kpl_api::client::Client,
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    kpl_api::paths::segment(s)
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            inner: kpl_api::client::Client::new(base, token, Duration::from_secs(120)),
        }
    }

    fn conn_err(&self, e: String) -> Failure {
        Failure::usage(format!(
            "cannot reach the node at {}: {e}\n  Is a node running? Start one with `kpl devnet up` or `kpl node run`, or pass --node URL.",
            self.inner.base()
        ))
    }

    fn finish(&self, resp: Result<(u16, String), String>) -> Result<Value, Failure> {
        let (status, text) = resp.map_err(|e| self.conn_err(e))?;
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
            (403, Some(kpl_api::error::codes::MISSING_ROLE)) => {
                "\n  This node's authority lacks the role this event needs (`kpl gov` needs the governance role); roles are granted in the charter or by a governance decision (add-authority)."
            }
            (403, _) => "\n  This node cannot write: observers are read-only.",
            _ => "",
        };
        Err(Failure::usage(format!(
            "the node answered {status}: {msg}{hint}"
        )))
    }

    fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        self.inner
            .exchange(method, path, body, kpl_api::client::MAX_ANSWER)
    }

    pub fn get(&self, path: &str) -> Result<Value, Failure> {
        let r = self.exchange(Method::Get, path, None);
        self.finish(r)
    }

    /// GET that returns `None` on 404.
    pub fn get_opt(&self, path: &str) -> Result<Option<Value>, Failure> {
        let r = self
            .exchange(Method::Get, path, None)
            .map_err(|e| self.conn_err(e))?;
        if r.0 == 404 {
            return Ok(None);
        }
        self.finish(Ok(r)).map(Some)
    }

    /// GET of raw bytes (a tile, a checkpoint): `None` on 404, an error
    /// for any other status but 200.
    pub fn get_bytes(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        let (status, bytes) =
            self.inner
                .exchange_bytes(path, 64 * 1024 * 1024)
                .map_err(|e| match e {
                    ClientError::Unreachable(e) => {
                        format!("cannot reach the node at {}: {e}", self.inner.base())
                    }
                    ClientError::Decode(e) => format!("{path}: {e}"),
                    other => format!("{path}: {other}"),
                })?;
        match status {
            404 => Ok(None),
            200 => Ok(Some(bytes)),
            s => Err(format!("{path}: the node answered {s}")),
        }
    }

    /// One typed call of `kpl_api::client`, its failure in the CLI's words
    /// (the same as [`Client::get`]'s).
    pub fn call<T>(
        &self,
        f: impl FnOnce(&kpl_api::client::Client) -> Result<T, ClientError>,
    ) -> Result<T, Failure> {
        f(&self.inner).map_err(|e| self.failure(e))
    }

    /// [`Client::call`] that returns `None` on 404.
    pub fn call_opt<T>(
        &self,
        f: impl FnOnce(&kpl_api::client::Client) -> Result<T, ClientError>,
    ) -> Result<Option<T>, Failure> {
        match f(&self.inner) {
            Err(ClientError::Status { status: 404, .. }) => Ok(None),
            r => r.map(Some).map_err(|e| self.failure(e)),
        }
    }

    fn failure(&self, e: ClientError) -> Failure {
        match e {
            ClientError::Unreachable(e) => self.conn_err(e),
            ClientError::Status { status, text, .. } => match self.finish(Ok((status, text))) {
                Err(f) => f,
                Ok(_) => Failure::usage(format!("the node answered {status}")),
            },
            ClientError::Decode(e) => {
                Failure::usage(format!("unexpected answer from the node: {e}"))
            }
        }
    }

    /// POST whose answer is read as the typed `T` of `kpl_api::types`.
    pub fn post_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, Failure> {
        let v = self.post(path, body)?;
        serde_json::from_value(v)
            .map_err(|e| Failure::usage(format!("unexpected answer from the node: {e}")))
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let r = self.exchange(Method::Post, path, Some(&body.to_string()));
        self.finish(r)
    }
}
