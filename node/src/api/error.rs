//! The API's error answer: a status and a JSON body naming the field and
//! the rule (`kpl_api::ErrorBody`), and how every refusal of the node, the
//! store and the JSON parser maps onto one.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kpl_api::error::codes;
use kpl_api::ErrorBody;
use ledger_core::error::{BodyError, EventError, StoreError};
use ledger_core::precheck::{Refusal, RefusalKind};

use crate::service::WriteError;

/// An API error: status, and a JSON body naming the field and the rule.
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) field: Option<String>,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            field: None,
            message: message.into(),
        }
    }
    pub(super) fn bad(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: codes::INVALID,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
    pub(super) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }
    pub(super) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, message)
    }
    /// Too many analysis requests are already waiting.
    pub(super) fn busy() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::BUSY,
            format!(
                "{} analysis requests are already waiting for one of the {} computed at once; retry later",
                crate::service::ANALYSIS_MAX_WAITING,
                crate::service::ANALYSIS_CONCURRENCY
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.code, self.field, self.message);
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let text = r.body_text();
        let field = rejection_field(&text);
        ApiError {
            status: if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            code: codes::INVALID_JSON,
            field,
            message: rejection_message(&text),
        }
    }
}

/// A JSON rejection in words for people: axum's and serde's framing
/// ("Failed to deserialize the JSON body into the target type", "at line L
/// column C", "unknown variant", "invalid type") rephrased, the field path
/// kept in front.
fn rejection_message(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("Failed to parse the request body as JSON: ") {
        return format!("the body is not valid JSON: {}", where_in_body(rest));
    }
    if text.starts_with("Expected request with `Content-Type") {
        return "send the body as JSON with the header `content-type: application/json`".into();
    }
    let Some((_, detail)) = text.split_once("target type: ") else {
        return text.to_owned();
    };
    json_error_words(detail.rsplit_once(" at line").map_or(detail, |(d, _)| d))
}

/// A serde_json data error (`PATH: ERROR`, or `ERROR at line L column C`)
/// in words for people: "unknown variant", "invalid type", "expected
/// u32" rephrased, the field path kept in front, the place in the text
/// kept as "(line L, column C)". Shared by the API and `kpl`.
pub fn json_error_words(detail: &str) -> String {
    let (detail, place) = match detail.rsplit_once(" at line ") {
        Some((d, at)) => match at.split_once(" column ") {
            Some((l, c)) => (d, format!(" (line {l}, column {c})")),
            None => (detail, String::new()),
        },
        None => (detail, String::new()),
    };
    let (path, inner) = match detail.split_once(": ") {
        Some((p, rest)) if !p.is_empty() && !p.contains(' ') => (Some(p), rest),
        _ => (None, detail),
    };
    let ticked = |s: &str| s.replace('`', "");
    let said = if let Some(rest) = inner.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let one_of = expected
            .split_once("expected one of ")
            .map(|(_, l)| ticked(l))
            .or_else(|| expected.split_once("expected ").map(|(_, l)| ticked(l)))
            .unwrap_or_default();
        format!("`{value}` is not one of: {one_of}")
    } else if let Some(rest) = inner.strip_prefix("missing field `") {
        format!(
            "the field `{}` is missing",
            rest.split('`').next().unwrap_or(rest)
        )
    } else if let Some(rest) = inner.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let fields = expected
            .split_once("expected one of ")
            .or_else(|| expected.split_once("expected "))
            .map(|(_, l)| format!(" (the fields are: {})", ticked(l)))
            .unwrap_or_default();
        format!("`{name}` is not a field of this body{fields}")
    } else if let Some(rest) = inner.strip_prefix("invalid type: ") {
        match rest.split_once(", expected ") {
            Some((got, want)) => format!("expected {}, got {got}", plain_type(want)),
            None => rest.to_owned(),
        }
    } else if let Some(rest) = inner.strip_prefix("invalid value: ") {
        match rest.split_once(", expected ") {
            Some((got, want)) => format!("expected {}, got {got}", plain_type(want)),
            None => rest.to_owned(),
        }
    } else {
        inner.to_owned()
    };
    match path {
        Some(p) => format!("{p}: {said}{place}"),
        None => format!("{said}{place}"),
    }
}

/// serde's names of Rust types, as people say them.
fn plain_type(want: &str) -> String {
    match want {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number".into(),
        "i8" | "i16" | "i32" | "i64" => "an integer".into(),
        "a string" | "a borrowed string" => "a string".into(),
        w => w.to_owned(),
    }
}

/// "… at line 1 column 10" as "… (line 1, column 10)".
fn where_in_body(rest: &str) -> String {
    match rest.rsplit_once(" at line ") {
        Some((what, at)) => match at.split_once(" column ") {
            Some((l, c)) => format!("{what} (line {l}, column {c})"),
            None => rest.to_owned(),
        },
        None => rest.to_owned(),
    }
}

/// The field a JSON rejection is about. axum words a data error as
/// "Failed to deserialize the JSON body into the target type: PATH: ERROR at
/// line L column C", with `PATH: ` (e.g. `parcels`, `exporter.name`) only
/// when the error lies inside a field; serde names a missing or unknown
/// field in backticks (then the field is PATH.NAME).
fn rejection_field(text: &str) -> Option<String> {
    let detail = text.split_once("target type: ").map_or(text, |(_, d)| d);
    let detail = detail.rsplit_once(" at line").map_or(detail, |(d, _)| d);
    let (path, inner) = match detail.split_once(": ") {
        Some((p, rest)) if !p.is_empty() && !p.contains(' ') => (Some(p), rest),
        _ => (None, detail),
    };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|pre| inner.strip_prefix(pre))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (Some(p), Some(n)) => Some(format!("{p}.{n}")),
        (None, Some(n)) => Some(n.to_owned()),
        (Some(p), None) => Some(p.to_owned()),
        (None, None) => None,
    }
}

/// The field a body rule is about.
pub(super) fn body_field(e: &BodyError) -> String {
    match e {
        BodyError::CertificateNumberPrefix { .. } | BodyError::CertificateNumberSyntax(_) => {
            "number".into()
        }
        BodyError::ExpiryBeforeIssue { .. } => "expires_on".into(),
        BodyError::Zero { field } | BodyError::Empty { field } => (*field).into(),
        BodyError::AmountTooLarge { field, .. } => (*field).into(),
        BodyError::TooLong { field, .. } | BodyError::TooMany { field, .. } => (*field).into(),
        BodyError::ControlCharacter { field } | BodyError::DateOutOfRange { field, .. } => {
            (*field).into()
        }
        BodyError::HsCodeOutside7102(_) | BodyError::HsCodeNotKp(_) | BodyError::HsCodesList => {
            "hs_codes".into()
        }
        BodyError::MixedOriginList => "origin".into(),
        BodyError::SourceList => "source_certificates".into(),
        BodyError::ConfirmationExporter { .. } => "exporter_participant".into(),
        BodyError::SelfImport(_) => "certificate".into(),
        BodyError::RotationToSameKey => "new_key".into(),
        BodyError::Governance(_) => "decision".into(),
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> ApiError {
        match e {
            WriteError::ReadOnly => ApiError::new(
                StatusCode::FORBIDDEN,
                codes::READ_ONLY,
                "this is an observer node: observers are read-only and cannot write events",
            ),
            WriteError::Store(StoreError::Event(EventError::Body { source, .. })) => {
                ApiError::bad(&body_field(&source), source.to_string())
            }
            WriteError::Store(StoreError::Event(e @ EventError::MissingRole { .. })) => {
                ApiError::new(StatusCode::FORBIDDEN, codes::MISSING_ROLE, e.to_string())
            }
            // Always this node's own authority: what the store refused is
            // judged by the charter and the decisions this node holds.
            WriteError::Store(StoreError::Event(EventError::UnknownAuthor(author))) => {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    codes::NOT_A_MEMBER,
                    format!(
                        "this node's authority {author} is not (yet) a member of the network according to what this node holds (the charter and the governance decisions in its store). If a decision admitting it was adopted, wait until this node has synced it from its peers (GET /v1/governance, /v1/members) and retry; otherwise ask the Chair to propose its admission"
                    ),
                )
            }
            WriteError::Store(StoreError::Event(e @ EventError::NotAMember { .. })) => {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    codes::NOT_A_MEMBER,
                    format!(
                        "{e} (by the governance decisions this node holds; see GET /v1/members)"
                    ),
                )
            }
            WriteError::OwnFeedUnconfirmed(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::OWN_FEED_UNCONFIRMED, m)
            }
            // The store's own check, behind the node's: its head is below
            // the place it acknowledged last.
            WriteError::Store(e @ StoreError::OwnFeedBehind { .. }) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::OWN_FEED_UNCONFIRMED,
                e.to_string(),
            ),
            WriteError::StoreDegraded(m) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::STORE_DEGRADED,
                format!("the store could not keep this write after an I/O error (disk full, EIO): nothing of it was written. Free disk space or fix the device, then retry: {m}"),
            ),
            WriteError::Clock(e) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::CLOCK_IMPLAUSIBLE,
                e.to_string(),
            ),
            WriteError::Store(e) => ApiError::internal(e.to_string()),
            WriteError::Internal(m) => ApiError::internal(m),
        }
    }
}

pub(super) fn refusal_error(r: Refusal) -> ApiError {
    let status = match r.kind {
        RefusalKind::Conflict => StatusCode::CONFLICT,
        RefusalKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, r.rule, r.message)
}

#[cfg(test)]
mod rejection_tests {
    use super::rejection_message;

    #[test]
    fn json_rejections_are_said_in_words() {
        let t = |s: &str| rejection_message(s);
        assert_eq!(
            t("Failed to deserialize the JSON body into the target type: reason: unknown variant `misplaced`, expected one of `cancelled`, `lost`, `stolen`, `seized` at line 1 column 50"),
            "reason: `misplaced` is not one of: cancelled, lost, stolen, seized"
        );
        assert_eq!(
            t("Failed to deserialize the JSON body into the target type: missing field `note` at line 1 column 9"),
            "the field `note` is missing"
        );
        assert_eq!(
            t("Failed to deserialize the JSON body into the target type: parcels: invalid type: string \"many\", expected u32 at line 1 column 20"),
            "parcels: expected a whole number, got string \"many\""
        );
        assert_eq!(
            t("Failed to deserialize the JSON body into the target type: unknown field `colour`, expected one of `certificate`, `note` at line 1 column 9"),
            "`colour` is not a field of this body (the fields are: certificate, note)"
        );
        assert_eq!(
            t("Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 1"),
            "the body is not valid JSON: EOF while parsing an object (line 1, column 1)"
        );
        let m =
            t("Failed to deserialize the JSON body into the target type: x: y at line 1 column 2");
        assert_eq!(m, "x: y");
    }
}
