//! `GET /v1/openapi.json`: an OpenAPI 3 document, served without a token,
//! naming exactly the routes the node's router serves.

use std::collections::BTreeSet;
use std::time::Duration;

use kpl_tests::{members, TestNet};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(30);

#[test]
fn the_document_names_every_route_served_and_no_other() {
    let mut net = TestNet::create(EXE, "kp-api-openapi", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], WITHIN);
    // No token: the document is open like every read.
    let (status, doc) = net.get_status("BW", kpl_api::paths::OPENAPI);
    assert_eq!(status, 200, "{doc}");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let parsed: Result<kpl_api::openapi::OpenApi, _> = serde_json::from_value(doc.clone());
    assert!(
        parsed.is_ok(),
        "not an OpenAPI document: {:?}",
        parsed.err()
    );

    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in methods {
            if item.get(m).is_some() {
                documented.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = kpl_node::api::served()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_owned(), kpl_api::openapi::template(p)))
        .collect();
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not served"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not documented"
    );

    // What `served` lists is what the running node routes: a route it does
    // not have answers axum's bare 404, every handler answers with a body.
    for (method, path) in &served {
        if method != "GET" || path.contains('{') {
            continue;
        }
        let (status, body) = net.get_status("BW", path);
        assert!(
            !(status == 404 && body == Value::String(String::new())),
            "GET {path} is not routed"
        );
    }
    let (status, body) = net.get_status("BW", "/v1/no-such-route");
    assert_eq!((status, body), (404, Value::String(String::new())));
}
