//! The error body every failed request is answered with, and its codes.

use serde::{Deserialize, Serialize};

/// `{"error": {"code", "field", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What was refused: a stable snake_case code (one of [`codes`], or the
/// name of the ledger rule a write broke), the field at fault if one is,
/// and the reason in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, field: Option<String>, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                field,
                message: message.into(),
            },
        }
    }
}

/// The error codes the node answers with besides the ledger's own rule
/// names (which a refused write carries as its code).
pub mod codes {
    /// A field or parameter is malformed or breaks a rule (`422`).
    pub const INVALID: &str = "invalid";
    /// The body is not the JSON the endpoint takes (`422`, `413`).
    pub const INVALID_JSON: &str = "invalid_json";
    pub const NOT_FOUND: &str = "not_found";
    pub const INTERNAL: &str = "internal";
    /// Too many analysis requests are waiting (`503`).
    pub const BUSY: &str = "busy";
    /// No or the wrong bearer token on a write (`401`).
    pub const UNAUTHORISED: &str = "unauthorised";
    /// An observer node refuses every write (`403`).
    pub const READ_ONLY: &str = "read_only";
    pub const MISSING_ROLE: &str = "missing_role";
    pub const NOT_A_MEMBER: &str = "not_a_member";
    /// This node has not confirmed its own feed's head since it started (`503`).
    pub const OWN_FEED_UNCONFIRMED: &str = "own_feed_unconfirmed";
    /// The store's last write failed after an I/O error (`503`).
    pub const STORE_DEGRADED: &str = "store_degraded";
    pub const CLOCK_IMPLAUSIBLE: &str = "clock_implausible";
    /// This client already has its share of analysis requests (`429`).
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// A correction names a certificate never issued here (`422`).
    pub const UNKNOWN_CERTIFICATE: &str = "unknown_certificate";
    /// No checkpoint covers the size a proof needs yet (`409`).
    pub const NOT_CHECKPOINTED: &str = "not_checkpointed";
    /// A record a bundle needs could not be read (`500`).
    pub const UNREADABLE: &str = "unreadable";
    /// A bundle cannot be proven from the checkpoints held yet (`409`).
    pub const NOT_YET_PROVABLE: &str = "not_yet_provable";
}
