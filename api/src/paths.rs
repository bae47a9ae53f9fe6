//! The endpoint paths. Routes are the constants; a path with a parameter
//! is built by its function, which escapes the parameter so that a
//! certificate number or id can never step into another path.

pub const HEALTH: &str = "/v1/health";
pub const CHARTER: &str = "/v1/charter";
pub const STATUS: &str = "/v1/status";
pub const FEEDS: &str = "/v1/feeds";
/// A page of one feed (`?author=&from=&limit=&encoding=`).
pub const FEED: &str = "/v1/feed";
pub const EVENT: &str = "/v1/events/{id}";
/// `GET`: the listing; `POST`: issue one certificate.
pub const CERTIFICATES: &str = "/v1/certificates";
pub const CERTIFICATES_BATCH: &str = "/v1/certificates/batch";
pub const CERTIFICATE: &str = "/v1/certificates/{number}";
pub const CONFIRMATIONS: &str = "/v1/confirmations";
pub const VOIDS: &str = "/v1/voids";
pub const CORRECTIONS: &str = "/v1/corrections";
pub const FORKS: &str = "/v1/forks";
pub const VERIFY: &str = "/v1/verify";
pub const AUDIT: &str = "/v1/audit";
pub const STATS: &str = "/v1/stats";
pub const TRACE: &str = "/v1/trace/{number}";
pub const BUNDLE: &str = "/v1/bundle/{number}";
pub const CHECKPOINT: &str = "/v1/checkpoint";
pub const CHECKPOINTS: &str = "/v1/checkpoints";
pub const KEYS: &str = "/v1/keys";
pub const KEYS_ROTATE: &str = "/v1/keys/rotate";
pub const PROOFS_INCLUSION: &str = "/v1/proofs/inclusion";
pub const PROOFS_CONSISTENCY: &str = "/v1/proofs/consistency";
pub const SPLIT_VIEWS: &str = "/v1/split-views";
pub const GOVERNANCE: &str = "/v1/governance";
pub const GOVERNANCE_DECISION: &str = "/v1/governance/{id}";
pub const GOVERNANCE_PROPOSALS: &str = "/v1/governance/proposals";
pub const GOVERNANCE_APPROVALS: &str = "/v1/governance/approvals";
pub const MEMBERS: &str = "/v1/members";
/// The OpenAPI 3 document of this API.
pub const OPENAPI: &str = "/v1/openapi.json";
pub const METRICS: &str = "/metrics";
/// c2sp.org/tlog-witness: a log's new checkpoint, to cosign (plain text).
pub const WITNESS_ADD_CHECKPOINT: &str = "/witness/add-checkpoint";
/// Tiles of each feed's log (c2sp.org/tlog-tiles).
pub const TILES: &str = "/tiles/{participant}/{authority}/{*path}";

/// `GET /v1/events/{id}`.
pub fn event(id: &str) -> String {
    format!("/v1/events/{}", segment(id))
}

/// `GET /v1/certificates/{number}`.
pub fn certificate(number: &str) -> String {
    format!("/v1/certificates/{}", segment(number))
}

/// `GET /v1/trace/{number}`.
pub fn trace(number: &str) -> String {
    format!("/v1/trace/{}", segment(number))
}

/// `GET /v1/bundle/{number}`.
pub fn bundle(number: &str) -> String {
    format!("/v1/bundle/{}", segment(number))
}

/// `GET /v1/governance/{id}`.
pub fn governance_decision(id: &str) -> String {
    format!("/v1/governance/{}", segment(id))
}

/// One path segment, percent-encoded: everything but RFC 3986's unreserved
/// characters (letters, digits, `-`, `.`, `_`, `~`) is escaped, so `/`, `?`,
/// `#` and `%` in a value stay inside its segment.
pub fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One query-string value, percent-encoded as [`segment`] does.
pub fn query_value(value: &str) -> String {
    segment(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_stay_in_their_segment() {
        assert_eq!(certificate("ZA-2026/001"), "/v1/certificates/ZA-2026%2F001");
        assert_eq!(trace("a?b#c"), "/v1/trace/a%3Fb%23c");
        assert_eq!(bundle("100%"), "/v1/bundle/100%25");
        assert_eq!(event("00ff"), "/v1/events/00ff");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn built_paths_match_their_routes() {
        for (route, built) in [
            (EVENT, event("X")),
            (CERTIFICATE, certificate("X")),
            (TRACE, trace("X")),
            (BUNDLE, bundle("X")),
            (GOVERNANCE_DECISION, governance_decision("X")),
        ] {
            let open = route.find('{').unwrap();
            assert_eq!(&route[..open], &built[..open]);
            assert_eq!(&built[open..], "X");
        }
    }
}
