//! The token check and the write gate: a write is refused before its body
//! is read unless it carries the node's bearer token, and refused after
//! unless this node may write now.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::IntoResponse;
use kpl_api::error::codes;

use super::{ApiError, AppState};
use crate::service::Node;

/// Constant-time comparison of the bearer token.
fn authorised(node: &Node, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token_matches(&node.token, given.trim()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORISED,
            "writes need `Authorization: Bearer <token>` with the token from the node's api.token file",
        ))
    }
}

/// Refuses a write without the token before its body is read: a stranger
/// costs the node a header check, not the parsing of up to
/// `MAX_BATCH_BODY` bytes of JSON.
pub(super) async fn token_first(
    State(node): State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    match authorised(&node, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Whether `given` is the token `want` (never when `want` is empty). The
/// time taken does not depend on where the two differ nor on their lengths:
/// both are hashed, and the digests compared in full.
fn token_matches(want: &str, given: &str) -> bool {
    let w = ledger_core::hash::sha256(&[b"kp-ledger api token", want.as_bytes()]);
    let g = ledger_core::hash::sha256(&[b"kp-ledger api token", given.as_bytes()]);
    let diff = w
        .as_bytes()
        .iter()
        .zip(g.as_bytes())
        .fold(0u8, |d, (a, b)| d | (a ^ b));
    diff == 0 && !want.is_empty()
}

/// Checks the token, then that this node may write at all, now: not an
/// observer, and its own feed's head confirmed since the start
/// (`Node::check_writable`; checked again under the key's lock).
pub(super) fn writer(node: &Node, headers: &HeaderMap) -> Result<(), ApiError> {
    authorised(node, headers)?;
    node.check_writable()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn only_the_token_itself_matches() {
        let token = "3f9a1c0b7d2e4f6a8b0c1d2e3f4a5b6c";
        assert!(token_matches(token, token));
        assert!(!token_matches(token, ""));
        assert!(!token_matches(token, &token[..token.len() - 1]));
        let mut flipped = token.to_owned();
        flipped.replace_range(0..1, "4");
        assert!(!token_matches(token, &flipped));
        // A suffix of any length, 256 in particular, is not the token.
        for n in [1usize, 255, 256, 257, 512] {
            let longer = format!("{token}{}", "x".repeat(n));
            assert!(!token_matches(token, &longer), "token + {n} characters");
        }
        // An empty token never matches, not even an empty one.
        assert!(!token_matches("", ""));
    }
}
