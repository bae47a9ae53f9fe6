//! A blocking client of the API over ureq (cargo feature `client`): one
//! exchange at a time, answers bounded in size, typed methods for the
//! answers [`crate::types`] describes. It does I/O only when called; the
//! rest of this crate never does.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ErrorBody;
use crate::paths;
use crate::types::{
    Analysed, CertificateView, CharterResponse, CheckpointView, CheckpointsResponse,
    ConsistencyProof, DecisionView, EventView, FeedsResponse, ForksResponse, GovernanceResponse,
    HealthResponse, InclusionProof, KeysResponse, MembersResponse, SplitViewsResponse,
    StatusResponse, TraceResponse, VerifyResponse, WriteReceipt,
};
use crate::types::{AuditResponse, CertificateList};
use crate::types::{Created, RotateReceipt};

/// Largest answer read as text (a full feed page, a bundle).
pub const MAX_ANSWER: u64 = 256 * 1024 * 1024;

/// Why a typed call did not return its answer.
#[derive(Debug)]
pub enum ClientError {
    /// No answer: the node could not be reached or the exchange broke.
    Unreachable(String),
    /// An answer other than 2xx, with the error body when it is one.
    Status {
        status: u16,
        error: Option<ErrorBody>,
        text: String,
    },
    /// A 2xx answer that is not the type the endpoint answers with.
    Decode(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable(e) => write!(f, "{e}"),
            ClientError::Status {
                status,
                error: Some(e),
                ..
            } => write!(f, "{status} {}: {}", e.error.code, e.error.message),
            ClientError::Status { status, text, .. } => write!(f, "{status}: {text}"),
            ClientError::Decode(e) => write!(f, "unexpected answer: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the node at `base` (`http://host:port`), sending
    /// `token` on every request when given; `timeout` bounds each exchange.
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token,
            agent,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// One exchange: the status and the body read as text (at most
    /// `limit` bytes). `Err` is the transport's error in words.
    pub fn exchange(
        &self,
        method: crate::endpoints::Method,
        path: &str,
        body: Option<&str>,
        limit: u64,
    ) -> Result<(u16, String), String> {
        let mut r = self.send(method, path, body)?;
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, text))
    }

    /// One GET read as bytes (a tile, a checkpoint), at most `limit`; the
    /// body of an answer other than 200 is not read. `Unreachable` when no
    /// answer came, `Decode` when its body could not be read.
    pub fn exchange_bytes(&self, path: &str, limit: u64) -> Result<(u16, Vec<u8>), ClientError> {
        let mut r = self
            .send(crate::endpoints::Method::Get, path, None)
            .map_err(ClientError::Unreachable)?;
        let status = r.status().as_u16();
        if status != 200 {
            return Ok((status, Vec::new()));
        }
        let bytes = r
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((status, bytes))
    }

    fn send(
        &self,
        method: crate::endpoints::Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, String> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let r = match method {
            crate::endpoints::Method::Get => {
                let mut req = self.agent.get(url);
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                req.call()
            }
            crate::endpoints::Method::Post => {
                let mut req = self
                    .agent
                    .post(url)
                    .header("content-type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                req.send(body.unwrap_or(""))
            }
        };
        r.map_err(|e| e.to_string())
    }

    fn typed<T: DeserializeOwned>(
        &self,
        method: crate::endpoints::Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<T, ClientError> {
        let (status, text) = self
            .exchange(method, path, body, MAX_ANSWER)
            .map_err(ClientError::Unreachable)?;
        if !(200..300).contains(&status) {
            return Err(ClientError::Status {
                status,
                error: serde_json::from_str(&text).ok(),
                text,
            });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Decode(e.to_string()))
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.typed(crate::endpoints::Method::Get, path, None)
    }

    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let text = serde_json::to_string(body).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.typed(crate::endpoints::Method::Post, path, Some(&text))
    }

    pub fn health(&self) -> Result<HealthResponse, ClientError> {
        self.get(paths::HEALTH)
    }

    pub fn charter(&self) -> Result<CharterResponse, ClientError> {
        self.get(paths::CHARTER)
    }

    pub fn feeds(&self) -> Result<FeedsResponse, ClientError> {
        self.get(paths::FEEDS)
    }

    pub fn event(&self, id: &str) -> Result<EventView, ClientError> {
        self.get(&paths::event(id))
    }

    pub fn certificate(&self, number: &str) -> Result<CertificateView, ClientError> {
        self.get(&paths::certificate(number))
    }

    pub fn forks(&self) -> Result<ForksResponse, ClientError> {
        self.get(paths::FORKS)
    }

    pub fn verify(&self) -> Result<VerifyResponse, ClientError> {
        self.get(paths::VERIFY)
    }

    /// `POST /v1/certificates` of a certificate in its JSON form.
    pub fn issue<B: Serialize>(&self, certificate: &B) -> Result<WriteReceipt, ClientError> {
        self.post(paths::CERTIFICATES, certificate)
    }

    /// `POST /v1/confirmations` of a confirmation in its JSON form.
    pub fn confirm<B: Serialize>(&self, confirmation: &B) -> Result<WriteReceipt, ClientError> {
        self.post(paths::CONFIRMATIONS, confirmation)
    }

    pub fn status(&self) -> Result<StatusResponse, ClientError> {
        self.get(paths::STATUS)
    }

    /// `GET /v1/trace/{number}`, with the `partial` key of a view missing
    /// unreadable records.
    pub fn trace(&self, number: &str) -> Result<Analysed<TraceResponse>, ClientError> {
        self.get(&paths::trace(number))
    }

    /// `GET /v1/audit?{query}`: `query` is the query string (without `?`)
    /// of the filters and thresholds, as API.md gives them.
    pub fn audit(&self, query: &str) -> Result<Analysed<AuditResponse>, ClientError> {
        self.get(&with_query(paths::AUDIT, query))
    }

    /// `GET /v1/certificates?{query}`: `query` is the query string (without
    /// `?`) of the filters and the limit, as API.md gives them.
    pub fn certificates(&self, query: &str) -> Result<Analysed<CertificateList>, ClientError> {
        self.get(&with_query(paths::CERTIFICATES, query))
    }

    pub fn keys(&self) -> Result<KeysResponse, ClientError> {
        self.get(paths::KEYS)
    }

    /// The latest checkpoint held of `author`'s feed.
    pub fn checkpoint(&self, author: &str) -> Result<CheckpointView, ClientError> {
        self.get(&format!(
            "{}?author={}",
            paths::CHECKPOINT,
            paths::query_value(author)
        ))
    }

    pub fn checkpoints(&self) -> Result<CheckpointsResponse, ClientError> {
        self.get(paths::CHECKPOINTS)
    }

    /// The inclusion proof of event `id` in its feed's tree of `size`
    /// leaves (default: the latest checkpoint's).
    pub fn inclusion_proof(
        &self,
        id: &str,
        size: Option<u64>,
    ) -> Result<InclusionProof, ClientError> {
        let mut path = format!("{}?id={}", paths::PROOFS_INCLUSION, paths::query_value(id));
        if let Some(n) = size {
            path.push_str(&format!("&size={n}"));
        }
        self.get(&path)
    }

    /// The consistency proof of `author`'s feed from `old` leaves to `new`
    /// (default: the latest checkpoint's).
    pub fn consistency_proof(
        &self,
        author: &str,
        old: u64,
        new: Option<u64>,
    ) -> Result<ConsistencyProof, ClientError> {
        let mut path = format!(
            "{}?author={}&old={old}",
            paths::PROOFS_CONSISTENCY,
            paths::query_value(author)
        );
        if let Some(n) = new {
            path.push_str(&format!("&new={n}"));
        }
        self.get(&path)
    }

    pub fn split_views(&self) -> Result<SplitViewsResponse, ClientError> {
        self.get(paths::SPLIT_VIEWS)
    }

    pub fn governance(&self) -> Result<GovernanceResponse, ClientError> {
        self.get(paths::GOVERNANCE)
    }

    /// One decision by its proposal event's id (hex).
    pub fn decision(&self, id: &str) -> Result<DecisionView, ClientError> {
        self.get(&paths::governance_decision(id))
    }

    /// The membership on day `at` (`YYYY-MM-DD`; default: today, UTC).
    pub fn members(&self, at: Option<&str>) -> Result<MembersResponse, ClientError> {
        match at {
            Some(d) => self.get(&format!("{}?at={}", paths::MEMBERS, paths::query_value(d))),
            None => self.get(paths::MEMBERS),
        }
    }

    /// `POST /v1/keys/rotate`.
    pub fn rotate_key(&self) -> Result<RotateReceipt, ClientError> {
        self.post(paths::KEYS_ROTATE, &serde_json::json!({}))
    }

    /// `POST /v1/governance/proposals` of a proposal in its JSON form,
    /// signed despite a refusal of the check before signing when `force`.
    pub fn propose<B: Serialize>(
        &self,
        proposal: &B,
        force: bool,
    ) -> Result<WriteReceipt, ClientError> {
        if force {
            self.post(
                &format!("{}?force=true", paths::GOVERNANCE_PROPOSALS),
                proposal,
            )
        } else {
            self.post(paths::GOVERNANCE_PROPOSALS, proposal)
        }
    }

    /// `POST /v1/governance/approvals` of the proposal event `proposal`
    /// (hex).
    pub fn approve(&self, proposal: &str, note: &str) -> Result<Created, ClientError> {
        self.post(
            paths::GOVERNANCE_APPROVALS,
            &serde_json::json!({"note": note, "proposal": proposal}),
        )
    }
}

/// `path` with the query string `query`, if any.
fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}
