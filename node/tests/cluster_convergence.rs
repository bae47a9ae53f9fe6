//! Multi-process convergence: real `kpl-node` processes on
//! loopback issue and confirm certificates, and every node — the observer
//! included — ends up with the same heads; a node killed with SIGKILL while
//! the others write, and a node started last and empty, catch up.

use std::time::{Duration, Instant};

use kpl_api::paths;
use kpl_tests::{members, TestNet};

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");

const CONVERGE: Duration = Duration::from_secs(30);

/// Four participants and an observer: each participant issues certificates
/// to the next one, each importer confirms what it received; every node
/// then holds identical heads for every feed and verifies its store.
#[test]
fn participants_and_observer_converge() {
    let t0 = Instant::now();
    let codes = ["BW", "ZA", "EU", "AE"];
    let mut net = TestNet::create(EXE, "kp-cluster-converge", &members(&codes, &["wdc"]));
    let all = ["BW", "ZA", "EU", "AE", "wdc"];
    net.start_all(&all, CONVERGE);

    // Each participant issues two certificates to the next one.
    let mut certs = Vec::new();
    for (i, from) in codes.iter().enumerate() {
        let to = codes[(i + 1) % codes.len()];
        for n in 1..=2 {
            certs.push((to, net.issue(from, to, 100 * i as u64 + n)));
        }
    }
    // Each importer confirms once the certificate has reached it.
    for (to, c) in &certs {
        kpl_tests::wait_until(
            CONVERGE,
            Duration::from_millis(100),
            "the certificate at its importer",
            || (net.get_status(to, &paths::certificate(&c.number)).0 == 200).then_some(()),
        )
        .unwrap();
        net.confirm(to, c);
    }

    // Every feed has 2 issues + 2 confirmations; the observer's view equals
    // everyone's.
    let heads = net.wait_heads_equal(&all, 16, CONVERGE);
    for code in codes {
        let (seq, id) = &heads[&format!("{code}/mme")];
        assert_eq!(*seq, 4, "{code}'s feed");
        assert!(id.is_some());
    }
    assert_eq!(kpl_tests::total(&heads), 16);
    for l in all {
        let v = net.assert_verified(l);
        assert_eq!(v["events"], 16, "{l}: {v}");
    }
    // The observer sees each certificate confirmed.
    for (_, c) in &certs {
        let v = net.get("wdc", &paths::certificate(&c.number));
        assert_eq!(v["status"], "confirmed", "{v}");
    }
    // No refusals on honest traffic.
    for l in all {
        let m = net.metric(l, "kpl_events_stored");
        assert_eq!(m, 16, "{l} kpl_events_stored");
    }
    eprintln!("converge: {:?}", t0.elapsed());
}

/// A participant SIGKILLed while the others keep writing catches up when
/// restarted; an observer started last, with an empty store, catches up too.
#[test]
fn killed_node_and_late_node_catch_up() {
    let t0 = Instant::now();
    let mut net = TestNet::create(
        EXE,
        "kp-cluster-catchup",
        &members(&["BW", "ZA", "EU"], &["wdc"]),
    );
    net.start_all(&["BW", "ZA", "EU"], CONVERGE);

    let mut n = 0;
    let mut issue = |net: &TestNet, from: &str, to: &str| {
        n += 1;
        net.issue(from, to, n)
    };
    // Some traffic everyone sees.
    for _ in 0..3 {
        issue(&net, "BW", "EU");
        issue(&net, "EU", "ZA");
    }
    net.wait_heads_equal(&["BW", "ZA", "EU"], 6, CONVERGE);

    // EU dies hard in the middle of a burst of writes.
    issue(&net, "BW", "ZA");
    net.kill("EU");
    for _ in 0..10 {
        issue(&net, "BW", "ZA");
        issue(&net, "ZA", "BW");
    }
    let while_down = net.wait_heads_equal(&["BW", "ZA"], 27, CONVERGE);
    assert_eq!(while_down["EU/mme"].0, 3);

    // EU restarts from its store and catches up with what it missed.
    net.start("EU");
    net.wait_heads_equal(&["BW", "ZA", "EU"], 27, CONVERGE);
    // And is a full member again: its own writes reach the others.
    issue(&net, "EU", "BW");
    let heads = net.wait_heads_equal(&["BW", "ZA", "EU"], 28, CONVERGE);

    // An observer started last, empty, catches up with everything.
    net.start("wdc");
    net.wait_heads(&["BW", "ZA", "EU", "wdc"], &heads, CONVERGE);
    for l in ["BW", "ZA", "EU", "wdc"] {
        net.assert_verified(l);
    }
    assert_eq!(net.get("wdc", paths::STATUS)["events"], 28);
    eprintln!("catch-up: {:?}", t0.elapsed());
}

/// `/v1/verify` on live nodes stays ok while events keep arriving (the
/// check of the index against the log must not race the group commit).
#[test]
fn verify_stays_ok_while_events_arrive() {
    let mut net = TestNet::create(EXE, "kp-cluster-live", &members(&["BW", "ZA"], &["wdc"]));
    let all = ["BW", "ZA", "wdc"];
    net.start_all(&all, CONVERGE);
    let writes = 100;
    let bad = std::thread::scope(|s| {
        let net = &net;
        let writer = s.spawn(move || {
            for i in 1..=writes {
                let (from, to) = if i % 2 == 0 {
                    ("BW", "ZA")
                } else {
                    ("ZA", "BW")
                };
                net.issue(from, to, i);
            }
        });
        let mut bad = Vec::new();
        for _ in 0..200 {
            for l in all {
                let v = net.get(l, paths::VERIFY);
                if v["ok"] != true {
                    bad.push(format!("{l}: {v}"));
                }
            }
            if writer.is_finished() {
                break;
            }
        }
        writer.join().expect("writer");
        bad
    });
    assert!(
        bad.is_empty(),
        "{} failed verifications: {bad:?}",
        bad.len()
    );
    net.wait_heads_equal(&all, writes, CONVERGE);
    for l in all {
        net.assert_verified(l);
    }
}
