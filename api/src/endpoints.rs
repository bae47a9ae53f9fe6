//! Every endpoint the node serves, once: method, path, whether it needs
//! the bearer token, what it answers with. The node builds its router from
//! its handlers for these paths and the OpenAPI document ([`crate::openapi`])
//! is written from this table.

use crate::paths;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What an endpoint answers with on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A JSON body of the named schema (a type of [`crate::types`]).
    Json(&'static str),
    /// JSON without a schema of its own here (its shape is in docs/API.md).
    AnyJson,
    /// Plain text (metrics, witness cosignatures, tiles).
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    /// Needs `Authorization: Bearer <token>` (every write).
    pub token: bool,
    pub summary: &'static str,
    pub answer: Answer,
}

const fn get(path: &'static str, summary: &'static str, answer: Answer) -> Endpoint {
    Endpoint {
        method: Method::Get,
        path,
        token: false,
        summary,
        answer,
    }
}

const fn write(path: &'static str, summary: &'static str, answer: Answer) -> Endpoint {
    Endpoint {
        method: Method::Post,
        path,
        token: true,
        summary,
        answer,
    }
}

use Answer::{AnyJson, Json, Text};

pub const ENDPOINTS: &[Endpoint] = &[
    write(
        paths::CERTIFICATES,
        "Issue one certificate",
        Json("WriteReceipt"),
    ),
    write(
        paths::CERTIFICATES_BATCH,
        "Issue certificates in one batch",
        Json("BatchResponse"),
    ),
    write(
        paths::CONFIRMATIONS,
        "Confirm an import",
        Json("WriteReceipt"),
    ),
    write(paths::VOIDS, "Void a certificate", Json("WriteReceipt")),
    write(
        paths::CORRECTIONS,
        "Correct a certificate",
        Json("WriteReceipt"),
    ),
    write(
        paths::KEYS_ROTATE,
        "Rotate this authority's signing key",
        Json("RotateReceipt"),
    ),
    write(
        paths::GOVERNANCE_PROPOSALS,
        "Propose a governance decision",
        Json("WriteReceipt"),
    ),
    write(
        paths::GOVERNANCE_APPROVALS,
        "Approve a governance proposal",
        Json("Created"),
    ),
    get(
        paths::HEALTH,
        "Whether the node serves and can write",
        Json("HealthResponse"),
    ),
    get(
        paths::CHARTER,
        "The network's charter and id",
        Json("CharterResponse"),
    ),
    get(
        paths::STATUS,
        "The node, its peers and its replica in short",
        Json("StatusResponse"),
    ),
    get(
        paths::FEEDS,
        "The head of every feed, and fork proofs in short",
        Json("FeedsResponse"),
    ),
    get(paths::FEED, "A page of one feed", Json("FeedPage")),
    get(paths::EVENT, "One event by id", Json("EventView")),
    get(
        paths::CERTIFICATES,
        "Certificates, filtered and paged",
        Json("CertificateList"),
    ),
    get(
        paths::CERTIFICATE,
        "Every event naming one certificate",
        Json("CertificateView"),
    ),
    get(
        paths::FORKS,
        "Every fork proof in full",
        Json("ForksResponse"),
    ),
    get(
        paths::VERIFY,
        "The replica verified from its log",
        Json("VerifyResponse"),
    ),
    get(paths::AUDIT, "Audit findings", Json("AuditResponse")),
    get(paths::STATS, "Statistics by year and quarter", AnyJson),
    get(
        paths::TRACE,
        "The provenance of one certificate",
        Json("TraceResponse"),
    ),
    get(
        paths::BUNDLE,
        "One certificate's offline-verifiable bundle",
        AnyJson,
    ),
    get(
        paths::CHECKPOINT,
        "The latest checkpoint of one feed",
        Json("CheckpointView"),
    ),
    get(
        paths::CHECKPOINTS,
        "The latest checkpoint of every feed",
        Json("CheckpointsResponse"),
    ),
    get(
        paths::KEYS,
        "Every author's key epochs and observers",
        Json("KeysResponse"),
    ),
    get(
        paths::PROOFS_INCLUSION,
        "An inclusion proof of one event",
        Json("InclusionProof"),
    ),
    get(
        paths::PROOFS_CONSISTENCY,
        "A consistency proof between two sizes",
        Json("ConsistencyProof"),
    ),
    get(
        paths::SPLIT_VIEWS,
        "Split-view proofs",
        Json("SplitViewsResponse"),
    ),
    get(
        paths::GOVERNANCE,
        "Every governance decision",
        Json("GovernanceResponse"),
    ),
    get(
        paths::GOVERNANCE_DECISION,
        "One governance decision",
        Json("DecisionView"),
    ),
    get(
        paths::MEMBERS,
        "The membership on a day",
        Json("MembersResponse"),
    ),
    get(paths::OPENAPI, "This document", AnyJson),
    get(paths::METRICS, "Prometheus metrics", Text),
    get(paths::TILES, "A tile of one feed's log", Text),
    Endpoint {
        method: Method::Post,
        path: paths::WITNESS_ADD_CHECKPOINT,
        token: false,
        summary: "Cosign a log's checkpoint (c2sp.org/tlog-witness)",
        answer: Text,
    },
];

/// The endpoint at `method` and `path` (a route, as in [`paths`]).
pub fn endpoint(method: Method, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|e| e.method == method && e.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for e in ENDPOINTS {
            assert!(
                seen.insert((e.method, e.path)),
                "{} {}",
                e.method.as_str(),
                e.path
            );
        }
    }
}
