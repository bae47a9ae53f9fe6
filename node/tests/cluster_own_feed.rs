//! A participant node never signs a place of its own feed twice, even when
//! its store lost its last events: restored from an old backup of the whole
//! data directory, or with only the log's own tail gone (its authoring
//! record kept). Real node processes on loopback.
//!
//! - A restored backup: alone, the node refuses every write (503
//!   `own_feed_unconfirmed`, `/v1/health` degraded, saying why); once a peer
//!   that holds its later events is reachable, anti-entropy brings them back
//!   and the next write takes the next place. No node ever holds a fork
//!   proof. The negative control restores the backup again and writes with
//!   `--trust-local-head` (what a node without the gate would do): the peer
//!   then proves the fork.
//! - A lost own tail: the store's authoring record says more than its log
//!   holds, so writes are refused even with `--trust-local-head`, until a
//!   peer brings the lost events back.
//! - A fresh node alone writes only with `--trust-local-head`, which it
//!   logs; an observer alone is healthy (it has no own feed).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kpl_api::paths;
use kpl_tests::{certificate, certificate_json, members, wait_until, TestNet};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);
/// How long a node without a reachable peer is watched refusing writes:
/// several sync rounds (2 s in these clusters) and own-feed evaluations.
const REFUSED_FOR: Duration = Duration::from_secs(6);

/// Posts certificate `n` of `label`'s participant to ZA/BW with the node's
/// token, without waiting for anything; returns (status, body).
fn try_issue(net: &TestNet, label: &str, n: u64) -> (u16, Value) {
    let code = net.author(label).participant.to_string();
    let dest = if code == "ZA" { "BW" } else { "ZA" };
    let c = certificate(&code, dest, n);
    net.post(
        label,
        paths::CERTIFICATES,
        Some(&net.token(label)),
        &certificate_json(&c),
    )
}

/// Issues certificate `n` on `label`, expecting success; returns its seq.
fn issue_seq(net: &TestNet, label: &str, n: u64) -> u64 {
    net.wait_healthy(label, WITHIN);
    match try_issue(net, label, n) {
        (200, v) => v["seq"].as_u64().expect("seq"),
        (s, v) => panic!("{label}: write {n}: {s} {v}"),
    }
}

/// The seq `label` holds of `author`'s feed.
fn head(net: &TestNet, label: &str, author: &str) -> u64 {
    net.heads(label).get(author).map_or(0, |h| h.0)
}

fn fork_proofs(net: &TestNet, label: &str) -> Vec<Value> {
    net.get(label, paths::FORKS)["fork_proofs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn assert_no_forks(net: &TestNet, labels: &[&str]) {
    for l in labels {
        let f = fork_proofs(net, l);
        assert!(f.is_empty(), "{l} holds fork proofs: {f:?}");
    }
}

/// Asserts that every write on `label` is refused with 503
/// `own_feed_unconfirmed`, and `/v1/health` degraded with a reason holding
/// `why`, for all of [`REFUSED_FOR`]; returns the last reason.
fn assert_refused_throughout(net: &TestNet, label: &str, why: &str, first_n: u64) -> String {
    let until = Instant::now() + REFUSED_FOR;
    let mut reason = String::new();
    for n in first_n..first_n + 1000 {
        let (s, v) = try_issue(net, label, n);
        assert_eq!(s, 503, "{label} wrote without a confirmed head: {v}");
        assert_eq!(v["error"]["code"], "own_feed_unconfirmed", "{v}");
        let (hs, h) = net.get_status(label, paths::HEALTH);
        assert_eq!(hs, 200, "{h}");
        assert_eq!(h["status"], "degraded", "{h}");
        assert_eq!(h["own_feed"]["confirmed"], false, "{h}");
        reason = h["reasons"][0].as_str().unwrap_or_default().to_owned();
        assert!(
            reason.contains(why),
            "{label}: reason {reason:?} lacks {why:?}"
        );
        assert_eq!(
            v["error"]["message"].as_str(),
            Some(reason.as_str()),
            "the 503 says what /v1/health says"
        );
        if Instant::now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(net.metric(label, "kpl_own_feed_confirmed"), 0);
    assert!(
        net.metric(
            label,
            "kpl_writes_refused_total{reason=\"own_feed_unconfirmed\"}"
        ) >= 2
    );
    reason
}

/// Polls writes on `label` until one is accepted (503s before it are the
/// gate waiting for its events); returns the accepted seq, the number of
/// refusals and the time it took.
fn first_accepted_write(net: &TestNet, label: &str, n: u64) -> (u64, u32, Duration) {
    let t0 = Instant::now();
    let mut refused = 0;
    let seq = wait_until(WITHIN, POLL, "a write accepted", || {
        match try_issue(net, label, n) {
            (200, v) => Some(v["seq"].as_u64().expect("seq")),
            (503, v) => {
                assert_eq!(v["error"]["code"], "own_feed_unconfirmed", "{v}");
                refused += 1;
                None
            }
            (s, v) => panic!("{label}: {s} {v}"),
        }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", net.log_tail(label, 30)));
    (seq, refused, t0.elapsed())
}

fn data_dir(net: &TestNet, label: &str) -> PathBuf {
    net.node(label).data_dir.clone()
}

/// Replaces a stopped node's data directory by `backup`.
fn restore_all(net: &TestNet, label: &str, backup: &Path) {
    let dir = data_dir(net, label);
    std::fs::remove_dir_all(&dir).expect("remove the data directory");
    TestNet::copy_dir(backup, &dir).expect("restore the backup");
}

/// Replaces a stopped node's `store/` by the backup's, but keeps the
/// store's authoring record (`store/authoring/`) as it is now: what a log
/// that lost its last events looks like.
fn restore_log_only(net: &TestNet, label: &str, backup: &Path) {
    let store = data_dir(net, label).join("store");
    let keep = net.dir().join(format!("{label}-authoring-now"));
    let _ = std::fs::remove_dir_all(&keep);
    TestNet::copy_dir(&store.join("authoring"), &keep).expect("keep the authoring record");
    std::fs::remove_dir_all(&store).expect("remove the store");
    TestNet::copy_dir(&backup.join("store"), &store).expect("restore the store");
    std::fs::remove_dir_all(store.join("authoring")).expect("drop the old record");
    TestNet::copy_dir(&keep, &store.join("authoring")).expect("put the record back");
}

/// BW writes `n` events, stops, is backed up whole, restarts and writes
/// `m` more (they reach ZA), and stops. Returns the backup's path.
fn write_back_up_write_more(net: &mut TestNet, n: u64, m: u64) -> PathBuf {
    net.start_all(&["BW", "ZA"], WITHIN);
    for i in 1..=n {
        assert_eq!(issue_seq(net, "BW", i), i);
    }
    assert!(net.stop("BW"), "BW stops cleanly");
    let backup = net.dir().join("BW-backup");
    TestNet::copy_dir(&data_dir(net, "BW"), &backup).expect("backup copied");
    net.start("BW");
    for i in n + 1..=n + m {
        assert_eq!(issue_seq(net, "BW", i), i);
    }
    let bw = net.author("BW").to_string();
    wait_until(WITHIN, POLL, "ZA holds BW's later events", || {
        (head(net, "ZA", &bw) == n + m).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(net.stop("BW"), "BW stops cleanly");
    backup
}

#[test]
fn restored_backup_refuses_writes_until_its_own_events_are_back() {
    let (n, m) = (3, 2);
    let mut net = TestNet::create(EXE, "kp-own-backup", &members(&["BW", "ZA"], &[]));
    let backup = write_back_up_write_more(&mut net, n, m);
    let bw = net.author("BW").to_string();

    // (b) Restored, with no reachable peer: every write is refused, and
    // health says why, for the whole bounded wait.
    assert!(net.stop("ZA"));
    restore_all(&net, "BW", &backup);
    net.start("BW");
    assert_eq!(head(&net, "BW", &bw), n, "the backup's store");
    let reason = assert_refused_throughout(&net, "BW", "no member", 100);
    assert!(reason.contains("--trust-local-head"), "{reason}");
    assert_eq!(head(&net, "BW", &bw), n, "nothing was signed");

    // (a) A peer holding its later events becomes reachable: anti-entropy
    // brings them back (its own feed, pulled like any other), writes open
    // by themselves, and the next write takes the next place.
    let t0 = Instant::now();
    net.start("ZA");
    let (seq, refused, _) = first_accepted_write(&net, "BW", 200);
    let took = t0.elapsed();
    assert_eq!(seq, n + m + 1, "BW wrote at a place it had signed before");
    eprintln!(
        "restored backup: first write accepted {:.2} s after the peer was started ({refused} refused while catching up)",
        took.as_secs_f64()
    );
    let log = std::fs::read_to_string(data_dir(&net, "BW").join("node.log")).unwrap();
    assert!(log.contains("writes refused"), "{log}");
    assert!(log.contains("own feed head confirmed"), "{log}");
    assert_eq!(net.metric("BW", "kpl_own_feed_confirmed"), 1);
    let h = net.get("BW", paths::HEALTH);
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["own_feed"]["confirmed"], true, "{h}");
    wait_until(WITHIN, POLL, "ZA holds BW's new event", || {
        (head(&net, "ZA", &bw) == n + m + 1).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_no_forks(&net, &["BW", "ZA"]);
    net.assert_verified("BW");
    net.assert_verified("ZA");

    // Negative control: the same restore, written from at once (the
    // operator's override, i.e. a node without the gate) while the peer is
    // away, signs places it had signed before: once the peer is back, it
    // proves the fork.
    assert!(net.stop("BW"));
    assert!(net.stop("ZA"));
    restore_all(&net, "BW", &backup);
    net.start_with("BW", &["--trust-local-head"]);
    for i in 0..=m {
        // Up to ZA's head of BW's feed, so the heads differ at one place.
        assert_eq!(issue_seq(&net, "BW", 300 + i), n + 1 + i);
    }
    net.start("ZA");
    let proofs = wait_until(WITHIN, POLL, "ZA proves BW's fork", || {
        let f = fork_proofs(&net, "ZA");
        (!f.is_empty()).then_some(f)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", net.log_tail("ZA", 30)));
    assert_eq!(proofs[0]["author"], bw, "{proofs:?}");
    // And the forked node, hearing the peer, closes its writes.
    wait_until(WITHIN, POLL, "BW refuses writes on its forked feed", || {
        let h = net.get("BW", paths::HEALTH);
        (h["own_feed"]["confirmed"] == false).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn lost_own_tail_refuses_writes_even_with_the_override_until_it_is_back() {
    let (n, m) = (2, 3);
    let mut net = TestNet::create(EXE, "kp-own-tail", &members(&["BW", "ZA"], &[]));
    let backup = write_back_up_write_more(&mut net, n, m);
    let bw = net.author("BW").to_string();

    // The log lost BW's own last events; its authoring record did not.
    restore_log_only(&net, "BW", &backup);

    // Without a reachable peer: refused, by the record, and the override
    // does not change that (the store itself refuses below its record).
    assert!(net.stop("ZA"));
    net.start("BW");
    assert_eq!(head(&net, "BW", &bw), n);
    let reason = assert_refused_throughout(&net, "BW", "authoring record", 100);
    assert!(
        reason.contains(&format!("seq {n}")) && reason.contains(&format!("seq {}", n + m)),
        "{reason}"
    );
    assert!(net.stop("BW"));
    net.start_with("BW", &["--trust-local-head"]);
    let log = std::fs::read_to_string(data_dir(&net, "BW").join("node.log")).unwrap();
    assert!(log.contains("--trust-local-head"), "the override is logged");
    assert_refused_throughout(&net, "BW", "authoring record", 200);
    assert_eq!(head(&net, "BW", &bw), n, "nothing was signed");
    assert!(net.stop("BW"));

    // Started with a reachable peer that holds the lost events: they come
    // back and the next write takes the next place.
    net.start("ZA");
    net.start("BW");
    let (seq, refused, took) = first_accepted_write(&net, "BW", 300);
    assert_eq!(seq, n + m + 1, "BW wrote at a place it had signed before");
    eprintln!(
        "lost own tail: first write accepted {:.2} s after the start ({refused} refused while catching up)",
        took.as_secs_f64()
    );
    wait_until(WITHIN, POLL, "ZA holds BW's new event", || {
        (head(&net, "ZA", &bw) == n + m + 1).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_no_forks(&net, &["BW", "ZA"]);
    net.assert_verified("BW");
    // Without the record and the gate this is the restored backup of the
    // test above, whose negative control shows the fork it makes.
}

#[test]
fn a_node_alone_writes_only_with_the_override_and_an_observer_is_unaffected() {
    let mut net = TestNet::create(EXE, "kp-own-alone", &members(&["BW", "ZA"], &["wdc"]));
    // A fresh node whose peers are down: it cannot know, so it refuses.
    let t0 = Instant::now();
    net.start("BW");
    assert_refused_throughout(&net, "BW", "no member", 1);
    assert!(net.stop("BW"));

    // Its operator knows the store is current (it is new): the override is
    // logged at WARN and writes open at once.
    net.start_with("BW", &["--trust-local-head"]);
    let log = std::fs::read_to_string(data_dir(&net, "BW").join("node.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("--trust-local-head: the operator vouches"))
        .unwrap_or_else(|| panic!("the override is not logged:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    let h = net.get("BW", paths::HEALTH);
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["own_feed"]["by_operator"], true, "{h}");
    assert_eq!(issue_seq(&net, "BW", 1), 1);

    // An observer alone has no own feed: healthy, and read-only as ever.
    net.start("wdc");
    let h = net.get("wdc", paths::HEALTH);
    assert_eq!(h["status"], "ok", "{h}");
    assert!(h["own_feed"].is_null(), "{h}");

    // A network started at once: every participant is confirmed by the
    // first member it hears (it holds no more of its feed).
    let t1 = Instant::now();
    net.start("ZA");
    net.wait_healthy("ZA", WITHIN);
    eprintln!(
        "fresh start: ZA healthy {:.2} s after its start (test began {:.1} s before)",
        t1.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(issue_seq(&net, "ZA", 1), 1);
    assert_no_forks(&net, &["BW", "ZA", "wdc"]);
}
