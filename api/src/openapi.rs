//! The OpenAPI 3 document of the API, written from [`ENDPOINTS`] and the
//! schemas of [`crate::types`] and [`crate::error`].

use std::collections::BTreeMap;

use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder,
    PathsBuilder,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
pub use utoipa::openapi::OpenApi;
use utoipa::openapi::{
    Content, ContentBuilder, InfoBuilder, ObjectBuilder, Ref, Required, Response, ResponseBuilder,
    Type,
};

use crate::endpoints::{Answer, Endpoint, Method, ENDPOINTS};
use crate::error::{ErrorBody, ErrorDetail};
use crate::types::*;

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    ErrorBody,
    ErrorDetail,
    EventView,
    FeedHead,
    ForkSummary,
    ForkProofView,
    FeedsResponse,
    FeedPage,
    ForksResponse,
    CharterResponse,
    HealthResponse,
    OwnFeedView,
    WriteReceipt,
    BatchResponse,
    BatchResult,
    BatchRefusal,
    RotateReceipt,
    SignedDespite,
    Created,
    VerifyResponse,
    VerifyFailureView,
    BrokenFeedView,
    CertificateView,
    CheckpointView,
    CosignatureView,
    CheckpointsResponse,
    TreeHead,
    SplitViewView,
    SplitViewsResponse,
    StatusResponse,
    PeerView,
    PartialView,
    UnreadableView,
    TraceResponse,
    AuditResponse,
    CertificateList,
    KeysResponse,
    FeedKeys,
    KeyEpoch,
    ObserverKeys,
    InclusionProof,
    ConsistencyProof,
    GovernanceResponse,
    OrphanApproval,
    DecisionView,
    MembersResponse,
)))]
struct Schemas;

/// The name of the bearer-token security scheme writes require.
const TOKEN: &str = "token";

/// The document, as the node serves it at [`crate::paths::OPENAPI`].
pub fn document() -> OpenApi {
    let mut doc = <Schemas as utoipa::OpenApi>::openapi();
    doc.info = InfoBuilder::new()
        .title("KP Ledger HTTP API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Reads are open; writes need the node's bearer token and are refused on observer nodes. See docs/API.md.",
        ))
        .build();
    if let Some(c) = doc.components.as_mut() {
        c.add_security_scheme(
            TOKEN,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
    let mut by_path: BTreeMap<String, Vec<&Endpoint>> = BTreeMap::new();
    for e in ENDPOINTS {
        by_path.entry(template(e.path)).or_default().push(e);
    }
    let mut paths = PathsBuilder::new();
    for (path, endpoints) in by_path {
        let mut item = PathItemBuilder::new();
        for e in endpoints {
            item = item.operation(http_method(e.method), operation(e));
        }
        paths = paths.path(path, item.build());
    }
    doc.paths = paths.build();
    doc
}

/// The document as JSON text.
pub fn document_json() -> String {
    // Serialising plain maps, strings and numbers cannot fail.
    serde_json::to_string(&document()).unwrap_or_default()
}

/// A route in OpenAPI's path template form: `{*rest}` is `{rest}`.
pub fn template(route: &str) -> String {
    route.replace("{*", "{")
}

/// The names of a route's path parameters, in order.
fn parameters(route: &str) -> Vec<String> {
    route
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_start_matches('*').to_owned())
        .collect()
}

fn http_method(m: Method) -> HttpMethod {
    match m {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
    }
}

fn operation(e: &Endpoint) -> Operation {
    let id = format!(
        "{}{}",
        e.method.as_str().to_lowercase(),
        e.path
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|s| !s.is_empty())
            .map(|s| {
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<String>()
    );
    let mut op = OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(e.summary))
        .response("200", answer(e.answer))
        .response(
            "default",
            ResponseBuilder::new()
                .description("An error: `{\"error\": {\"code\", \"field\", \"message\"}}`")
                .content("application/json", json_ref("ErrorBody"))
                .build(),
        );
    for name in parameters(e.path) {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    if e.token {
        op = op.security(SecurityRequirement::new(TOKEN, Vec::<String>::new()));
    }
    op.build()
}

fn json_ref(schema: &str) -> Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
}

fn answer(a: Answer) -> Response {
    let r = ResponseBuilder::new().description("Success");
    match a {
        Answer::Json(schema) => r.content("application/json", json_ref(schema)),
        Answer::AnyJson => r.content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                .build(),
        ),
        Answer::Text => r.content(
            "text/plain",
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        ),
    }
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_schema_is_in_the_document() {
        let doc = document();
        let schemas = &doc.components.as_ref().expect("components").schemas;
        for e in ENDPOINTS {
            if let Answer::Json(name) = e.answer {
                assert!(schemas.contains_key(name), "{} names {name}", e.path);
            }
        }
    }

    #[test]
    fn every_endpoint_is_a_path_and_operation() {
        let v: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        assert!(v["openapi"].as_str().unwrap().starts_with("3."));
        for e in ENDPOINTS {
            let op = &v["paths"][template(e.path)][e.method.as_str().to_lowercase()];
            assert!(op.is_object(), "{} {}", e.method.as_str(), e.path);
        }
        let tiles = &v["paths"]["/tiles/{participant}/{authority}/{path}"]["get"];
        assert_eq!(tiles["parameters"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn only_core_reports_and_the_document_answer_without_a_schema() {
        let untyped: Vec<(&str, &str)> = ENDPOINTS
            .iter()
            .filter(|e| e.answer == Answer::AnyJson)
            .map(|e| (e.method.as_str(), e.path))
            .collect();
        assert_eq!(
            untyped,
            [
                ("GET", crate::paths::STATS),
                ("GET", crate::paths::BUNDLE),
                ("GET", crate::paths::OPENAPI),
            ]
        );
    }

    #[test]
    fn the_typed_answers_name_their_fields() {
        let v: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        let schemas = &v["components"]["schemas"];
        for (name, fields) in [
            (
                "StatusResponse",
                &[
                    "checkpoints",
                    "events",
                    "feeds",
                    "fork_proofs",
                    "identity",
                    "listen_addrs",
                    "network",
                    "network_counters",
                    "network_id",
                    "peer_id",
                    "peers",
                    "read_only",
                    "split_views",
                    "uptime_secs",
                ][..],
            ),
            ("PeerView", &["events_behind", "member", "peer_id"]),
            (
                "PartialView",
                &["first_offset", "unreadable", "unreadable_records"],
            ),
            (
                "UnreadableView",
                &["author", "offset", "reason", "seq", "to"],
            ),
            ("TraceResponse", &["by_origin", "trace", "tree"]),
            (
                "AuditResponse",
                &["awaiting_confirmation", "findings", "params"],
            ),
            ("CertificateList", &["certificates", "query", "total"]),
            ("KeysResponse", &["feeds", "network_id", "observers"]),
            (
                "FeedKeys",
                &[
                    "author",
                    "checkpoint_vkey",
                    "key",
                    "key_epochs",
                    "origin",
                    "since_seq",
                    "witness_name",
                    "witness_vkey",
                ],
            ),
            (
                "KeyEpoch",
                &[
                    "checkpoint_sizes_below",
                    "checkpoint_sizes_from",
                    "checkpoint_vkey",
                    "from_seq",
                    "key",
                    "witness_vkey",
                ],
            ),
            (
                "ObserverKeys",
                &["key", "observer", "witness_name", "witness_vkey"],
            ),
            (
                "InclusionProof",
                &["author", "leaf_index", "proof", "root", "seq", "size"],
            ),
            (
                "ConsistencyProof",
                &["author", "new", "new_root", "old", "old_root", "proof"],
            ),
            (
                "GovernanceResponse",
                &["chair", "decisions", "orphan_approvals", "quorum"],
            ),
            ("OrphanApproval", &["event", "proposal"]),
            (
                "MembersResponse",
                &["at", "chair", "observers", "participants"],
            ),
        ] {
            let props = schemas[name]["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name} has no properties"));
            let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
            names.sort_unstable();
            assert_eq!(names, fields, "{name}");
        }
        assert!(schemas.get("DecisionView").is_some());
    }
}
