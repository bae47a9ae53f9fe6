//! A node refuses to sign while its clock is implausible: far ahead of
//! every other feed, or before the network's genesis.

use std::time::Duration;

use kpl_api::paths;
use kpl_tests::{members, wait_until, TestNet};

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

fn issue(net: &TestNet, label: &str, n: u64) -> (u16, serde_json::Value) {
    let token = net.token(label);
    let cert = kpl_tests::certificate(label, if label == "BW" { "ZA" } else { "BW" }, n);
    net.post(
        label,
        paths::CERTIFICATES,
        Some(&token),
        &kpl_tests::certificate_json(&cert),
    )
}

/// Waits until the test clock (re-read at most once a second) is in force.
fn settle() {
    std::thread::sleep(Duration::from_millis(1500));
}

#[test]
fn a_clock_jump_is_refused_and_leaves_no_trace_once_fixed() {
    let mut net = TestNet::create(EXE, "kp-clock-jump", &members(&["BW", "ZA"], &[]));
    net.use_test_clock();
    net.start_all(&["BW", "ZA"], WITHIN);
    let (status, v) = issue(&net, "ZA", 1);
    assert_eq!(status, 200, "{v}");
    wait_until(WITHIN, POLL, "BW holds ZA's event", || {
        (net.get("BW", paths::STATUS)["events"].as_u64() >= Some(1)).then_some(())
    })
    .unwrap();

    // Ten years ahead: BW refuses to sign, naming the fix.
    net.advance_clock_days(3650);
    settle();
    let (status, v) = issue(&net, "BW", 1);
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "clock_implausible", "{v}");
    let m = v["error"]["message"].as_str().unwrap_or("");
    assert!(m.contains("check the system clock"), "{v}");

    // The clock fixed: the next event carries today, not ten years ahead.
    net.advance_clock_days(-3650);
    settle();
    let (status, v) = issue(&net, "BW", 2);
    assert_eq!(status, 200, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let ev = net.get("BW", &paths::event(&id));
    let ts = ev["timestamp_ms"]
        .as_u64()
        .or_else(|| ev["content"]["timestamp_ms"].as_u64())
        .unwrap_or_else(|| panic!("no timestamp in {ev}"));
    let now = kpl_tests::now_ms();
    assert!(ts <= now + 60_000, "timestamp {ts} is ahead of now {now}");
}

#[test]
fn a_clock_before_genesis_is_refused() {
    let mut net = TestNet::create(EXE, "kp-clock-1970", &members(&["BW", "ZA"], &[]));
    net.use_test_clock();
    net.start_all(&["BW", "ZA"], WITHIN);
    // Today becomes 1970 (the offset takes the clock below the epoch).
    net.advance_clock_days(-100_000);
    settle();
    let (status, v) = issue(&net, "BW", 1);
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "clock_implausible", "{v}");
    let m = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        m.contains("genesis") && m.contains("check the system clock"),
        "{v}"
    );
    assert_eq!(
        net.get("BW", paths::STATUS)["events"],
        0,
        "nothing was signed"
    );
}
