//! The write API's refusals on real node processes: an observer
//! refuses writes with 403 even with its own valid token, a write without
//! (or with a wrong) token gets 401, a bad body gets 422 with a JSON error
//! naming the field, and nothing is written in any of those cases.

use std::time::Duration;

use kpl_api::paths;
use kpl_tests::{certificate, certificate_json, confirmation_json, members, TestNet};
use serde_json::{json, Value};

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");

const WITHIN: Duration = Duration::from_secs(30);

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

fn error_field(v: &Value) -> &str {
    v["error"]["field"].as_str().unwrap_or("")
}

/// Nothing stored anywhere: every feed at 0, no API write counted.
fn assert_nothing_written(net: &TestNet, labels: &[&str]) {
    for l in labels {
        let heads = net.heads(l);
        assert_eq!(kpl_tests::total(&heads), 0, "{l} holds events: {heads:?}");
        assert_eq!(net.status(l)["events"], 0, "{l}");
        assert_eq!(net.metric(l, "kpl_api_writes_total"), 0, "{l}");
        assert_eq!(net.metric(l, "kpl_events_appended_total"), 0, "{l}");
    }
}

#[test]
fn observer_refuses_writes_with_403() {
    let mut net = TestNet::create(EXE, "kp-cluster-api-obs", &members(&["BW"], &["wdc"]));
    net.start_all(&["BW", "wdc"], WITHIN);
    let token = net.token("wdc");
    let cert = certificate("BW", "ZA", 1);
    let writes: [(&str, Value); 5] = [
        (paths::CERTIFICATES, certificate_json(&cert)),
        (paths::CONFIRMATIONS, confirmation_json(&cert)),
        (
            paths::VOIDS,
            json!({"certificate": cert.number, "reason": "lost"}),
        ),
        (paths::KEYS_ROTATE, json!({})),
        (paths::CERTIFICATES_BATCH, json!([certificate_json(&cert)])),
    ];
    for (path, body) in &writes {
        let (status, v) = net.post("wdc", path, Some(&token), body);
        assert_eq!(status, 403, "observer POST {path}: {v}");
        assert_eq!(error_code(&v), "read_only", "{path}: {v}");
    }
    // The observer's token does not open the participant's API either.
    let (status, v) = net.post(
        "BW",
        paths::CERTIFICATES,
        Some(&token),
        &certificate_json(&cert),
    );
    assert_eq!(status, 401, "{v}");
    // Give any (wrongly) written event time to travel before looking.
    std::thread::sleep(Duration::from_millis(500));
    assert_nothing_written(&net, &["BW", "wdc"]);
    let s = net.status("wdc");
    assert_eq!(s["read_only"], true, "{s}");
}

#[test]
fn writes_need_the_token_and_a_valid_body() {
    let mut net = TestNet::create(EXE, "kp-cluster-api-bw", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], WITHIN);
    let token = net.token("BW");
    let good = certificate("BW", "ZA", 7);

    // No token, an empty one, a wrong one, a wrong scheme: 401.
    let wrong = "0".repeat(64);
    for t in [None, Some(""), Some(wrong.as_str())] {
        let (status, v) = net.post("BW", paths::CERTIFICATES, t, &certificate_json(&good));
        assert_eq!(status, 401, "token {t:?}: {v}");
        assert_eq!(error_code(&v), "unauthorised", "{v}");
    }
    let (status, _) = kpl_tests::http_json(
        "POST",
        &net.api("BW"),
        paths::KEYS_ROTATE,
        None,
        Some(&json!({})),
    )
    .unwrap();
    assert_eq!(status, 401);

    // Bad bodies: 422 naming the field.
    let mut cases: Vec<(&str, &str, Value)> = Vec::new();
    let mut missing = certificate_json(&good);
    missing.as_object_mut().unwrap().remove("number");
    cases.push((paths::CERTIFICATES, "number", missing));
    cases.push((
        paths::CERTIFICATES,
        "number",
        certificate_json(&certificate("ZA", "BW", 8)),
    ));
    let mut c = good.clone();
    c.expires_on = c.issued_on.add_days(-1);
    cases.push((paths::CERTIFICATES, "expires_on", certificate_json(&c)));
    let mut c = good.clone();
    c.carat_hundredths = 0;
    cases.push((
        paths::CERTIFICATES,
        "carat_hundredths",
        certificate_json(&c),
    ));
    let mut c = good.clone();
    c.exporter.name.clear();
    cases.push((paths::CERTIFICATES, "exporter.name", certificate_json(&c)));
    let mut wrong_type = certificate_json(&good);
    wrong_type["parcels"] = json!("many");
    cases.push((paths::CERTIFICATES, "parcels", wrong_type));
    let mut bad_date = certificate_json(&good);
    bad_date["issued_on"] = json!("2026-02-30");
    cases.push((paths::CERTIFICATES, "issued_on", bad_date));
    // A confirmation naming the wrong exporter, and a self-import.
    let mut conf = confirmation_json(&certificate("ZA", "BW", 9));
    conf["exporter_participant"] = json!("EU");
    cases.push((paths::CONFIRMATIONS, "exporter_participant", conf));
    cases.push((
        paths::CONFIRMATIONS,
        "certificate",
        confirmation_json(&certificate("BW", "ZA", 10)),
    ));
    cases.push((
        paths::VOIDS,
        "reason",
        json!({"certificate": good.number, "reason": "misplaced"}),
    ));
    for (path, field, body) in &cases {
        let (status, v) = net.post("BW", path, Some(&token), body);
        assert_eq!(status, 422, "POST {path} (bad {field}): {v}");
        assert_eq!(error_field(&v), *field, "POST {path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
    }
    // Not JSON at all.
    let (status, body) = kpl_node::cluster::http(
        "POST",
        &net.api("BW"),
        paths::CERTIFICATES,
        Some(&token),
        Some("{not json"),
    )
    .unwrap();
    assert_eq!(status, 422, "{body}");

    std::thread::sleep(Duration::from_millis(500));
    assert_nothing_written(&net, &["BW", "ZA"]);

    // The same node still takes a good write, and it reaches the other.
    let v = net.write("BW", paths::CERTIFICATES, &certificate_json(&good));
    assert_eq!(v["seq"], 1, "{v}");
    assert_eq!(v["durable"], true, "{v}");
    net.wait_heads_equal(&["BW", "ZA"], 1, WITHIN);
}
