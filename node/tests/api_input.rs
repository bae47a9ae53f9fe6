//! The node refuses to sign input it can see is wrong, with 422 naming the
//! field, before anything is stored.

use std::time::Duration;

use kpl_api::paths;
use kpl_tests::{members, TestNet};
use serde_json::json;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(30);

#[test]
fn a_node_decision_naming_no_peer_id_is_refused() {
    let mut net = TestNet::create(EXE, "kp-api-input", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], WITHIN);
    let token = net.token("BW");
    let tomorrow = net.clock_today().add_days(1).to_string();
    let before = net.get("BW", paths::STATUS);
    for bad in ["garbage", "12D3KooWtest", "QmNotAHash"] {
        let body = json!({
            "decision": {"add_node": {"member": {"participant": "ZA"}, "peer_id": bad}},
            "effective_on": tomorrow,
            "reference": "test",
        });
        let (status, v) = net.post("BW", paths::GOVERNANCE_PROPOSALS, Some(&token), &body);
        assert_eq!(status, 422, "{bad}: {v}");
        assert_eq!(v["error"]["field"], "peer_id", "{bad}: {v}");
    }
    assert_eq!(
        net.get("BW", paths::STATUS)["events"],
        before["events"],
        "nothing was signed"
    );
    // A real peer id is signed.
    let real = libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id()
        .to_string();
    let body = json!({
        "decision": {"add_node": {"member": {"participant": "ZA"}, "peer_id": real}},
        "effective_on": tomorrow,
        "reference": "test",
    });
    let (status, v) = net.post("BW", paths::GOVERNANCE_PROPOSALS, Some(&token), &body);
    assert_eq!(status, 201, "{v}");
}

#[test]
fn certificate_and_confirmation_bodies_refuse_unknown_fields() {
    let mut net = TestNet::create(EXE, "kp-api-fields", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], WITHIN);
    let token = net.token("BW");
    let cert = kpl_tests::certificate("BW", "ZA", 1);
    let mut body = kpl_tests::certificate_json(&cert);
    body["carats"] = json!(12);
    let (status, v) = net.post("BW", paths::CERTIFICATES, Some(&token), &body);
    assert_eq!(status, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("carats"),
        "{v}"
    );
    let mut body = kpl_tests::certificate_json(&cert);
    body["exporter"]["phone"] = json!("+267");
    let (status, v) = net.post("BW", paths::CERTIFICATES, Some(&token), &body);
    assert_eq!(status, 422, "{v}");
    let mut body = kpl_tests::confirmation_json(&cert);
    body["note"] = json!("received in good order");
    let za = net.token("ZA");
    let (status, v) = net.post("ZA", paths::CONFIRMATIONS, Some(&za), &body);
    assert_eq!(status, 422, "{v}");
    // Exactly the documented fields are signed.
    let (status, v) = net.post(
        "BW",
        paths::CERTIFICATES,
        Some(&token),
        &kpl_tests::certificate_json(&cert),
    );
    assert_eq!(status, 200, "{v}");
}

#[test]
fn statistics_of_a_year_outside_the_calendar_are_refused() {
    let mut net = TestNet::create(EXE, "kp-api-year", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], WITHIN);
    let api = net.api("BW");
    for path in [
        &format!("{}?year=2147483647", paths::STATS),
        &format!("{}?year=0", paths::STATS),
        &format!("{}?year=-5&quarter=2", paths::STATS),
        &format!("{}?year=10000", paths::STATS),
    ] {
        let (status, v) = kpl_tests::http_json("GET", &api, path, None, None).unwrap();
        assert_eq!(status, 422, "{path}: {v}");
        assert_eq!(v["error"]["field"], "year", "{path}: {v}");
    }
    let (status, v) = kpl_tests::http_json(
        "GET",
        &api,
        &format!("{}?year=2026", paths::STATS),
        None,
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
}

#[test]
fn amounts_over_the_limit_are_refused_naming_the_field() {
    let mut net = TestNet::create(EXE, "kp-api-amounts", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], WITHIN);
    let token = net.token("BW");
    let cert = kpl_tests::certificate("BW", "ZA", 1);
    let before = net.get("BW", paths::STATUS);
    for field in ["carat_hundredths", "value_usd_cents"] {
        let mut body = kpl_tests::certificate_json(&cert);
        body[field] = json!(u64::MAX);
        let (status, v) = net.post("BW", paths::CERTIFICATES, Some(&token), &body);
        assert_eq!(status, 422, "{field}: {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
        let (status, v) = net.post(
            "BW",
            paths::CERTIFICATES_BATCH,
            Some(&token),
            &json!([body]),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["results"][0]["error"]["field"], field, "{v}");
    }
    let mut body = kpl_tests::confirmation_json(&cert);
    body["carat_hundredths"] = json!(u64::MAX);
    let za = net.token("ZA");
    let (status, v) = net.post("ZA", paths::CONFIRMATIONS, Some(&za), &body);
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["field"], "carat_hundredths", "{v}");
    assert_eq!(
        net.get("BW", paths::STATUS)["events"],
        before["events"],
        "nothing was signed"
    );
}
