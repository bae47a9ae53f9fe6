//! Governance on real node processes: membership decisions,
//! proposed by the Chair and approved by other participants through the
//! HTTP API, change who may connect and who may sign. A decision takes
//! effect after the day it is proposed on: the nodes keep a test clock that
//! the tests move past midnight once the decision is adopted.
//!
//! (a) An expelled participant's node is cut off from the others once the
//!     expulsion is adopted, and an event its authority signs afterwards is
//!     refused by every remaining node (counted as `not_a_member`), whether
//!     it arrives by gossip or by anti-entropy.
//! (b) A participant admitted by a decision (with its node's peer id)
//!     joins as a real one would: its node starts with an empty store (a
//!     candidate), is refused by the members until the decision is adopted,
//!     then connects, syncs the decision by anti-entropy, writes through its
//!     own API, and its events reach every node.

use std::time::{Duration, Instant};

use kpl_api::paths;
use kpl_tests::{
    certificate, members, participant, sign_event_at, total, wait_until, Ghost, TestNet,
};
use ledger_core::governance::Decision;
use ledger_core::{CountryCode, Digest, EventBody};
use serde_json::json;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");

const WITHIN: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
/// A node recomputes its gate at least every 20 s (and when the day changes).
const GATE_WITHIN: Duration = Duration::from_secs(60);

/// Today, UTC, as the nodes see it (their test clock).
fn today(net: &TestNet) -> String {
    net.clock_today().to_string()
}

/// Tomorrow by the nodes' clock: the earliest a decision proposed today
/// may take effect.
fn tomorrow(net: &TestNet) -> String {
    ledger_core::Date::from_unix_ms(net.clock_ms() + 86_400_000).to_string()
}

/// The Chair (`chair`) proposes `decision`, effective tomorrow; every node
/// of `approvers` approves it (today, before it takes effect). Returns the
/// proposal's id.
fn decide(net: &TestNet, chair: &str, approvers: &[&str], decision: &Decision) -> String {
    let body = json!({
        "decision": decision,
        "effective_on": tomorrow(net),
        "reference": "Administrative Decision KP/2026/07 (test)",
    });
    let v = net.write_created(chair, paths::GOVERNANCE_PROPOSALS, &body);
    assert_eq!(v["author"], json!(net.author(chair).to_string()), "{v}");
    let id = v["id"].as_str().expect("proposal id").to_owned();
    // The proposal is pending on the Chair's node until the quorum approves.
    let d = net.get(chair, &paths::governance_decision(&id));
    assert_eq!(d["status"], "pending", "{d}");
    for a in approvers {
        let v = net.write_created(
            a,
            paths::GOVERNANCE_APPROVALS,
            &json!({"proposal": id, "note": format!("{a} approves")}),
        );
        assert_eq!(v["author"], json!(net.author(a).to_string()), "{v}");
    }
    id
}

/// Waits until every node of `labels` judges proposal `id` adopted.
fn wait_adopted(net: &TestNet, labels: &[&str], id: &str) {
    for l in labels {
        let r = wait_until(WITHIN, POLL, "the decision adopted", || {
            let (s, v) = net.get_status(l, &paths::governance_decision(id));
            (s == 200 && v["status"] == "adopted").then_some(())
        });
        if let Err(e) = r {
            panic!("{l}: {e}: {}", net.get(l, paths::GOVERNANCE));
        }
    }
}

/// The standing of participant `code` in `GET /v1/members` of a node, on
/// the node's today or on `at`.
fn standing_at(net: &TestNet, label: &str, code: &str, at: Option<&str>) -> Option<String> {
    let path = match at {
        Some(d) => format!("{}?at={d}", paths::MEMBERS),
        None => paths::MEMBERS.to_owned(),
    };
    let m = net.get(label, &path);
    m["participants"].as_array().and_then(|ps| {
        ps.iter()
            .find(|p| p["code"] == code)
            .and_then(|p| p["standing"].as_str().map(str::to_owned))
    })
}

/// The standing of participant `code` today by a node.
fn standing(net: &TestNet, label: &str, code: &str) -> Option<String> {
    standing_at(net, label, code, None)
}

/// Waits until participant `code` has `want` standing today on every node
/// of `labels`.
fn wait_standing(net: &TestNet, labels: &[&str], code: &str, want: &str) {
    for l in labels {
        wait_until(GATE_WITHIN, POLL, "the standing in force", || {
            (standing(net, l, code).as_deref() == Some(want)).then_some(())
        })
        .unwrap_or_else(|e| panic!("{l}: {code} not {want}: {e}"));
    }
}

#[test]
fn expelled_participant_is_cut_off_and_its_later_events_refused() {
    // ZA chairs (first participant). The observer's node is not started:
    // its libp2p key lets a ghost relay VE's late event as a member would.
    let mut net = TestNet::create(
        EXE,
        "kp-gov-expel",
        &members(&["ZA", "BW", "EU", "VE"], &["wdc"]),
    );
    let all = ["ZA", "BW", "EU", "VE"];
    let remaining = ["ZA", "BW", "EU"];
    net.use_test_clock();
    net.start_all(&all, WITHIN);

    // Before the expulsion VE trades like anyone.
    let early = net.issue("VE", "ZA", 1);
    let heads = net.wait_heads_equal(&all, 1, WITHIN);
    let ve_author = net.author("VE");
    let (ve_seq, ve_head) = heads[&ve_author.to_string()].clone();
    assert_eq!(ve_seq, 1);
    let ve_head = Digest::from_hex(ve_head.as_deref().expect("head id")).expect("hex id");
    let members_today = net.get("ZA", paths::MEMBERS);
    assert_eq!(members_today["at"], json!(today(&net)), "{members_today}");
    assert_eq!(members_today["chair"], "ZA", "{members_today}");
    assert_eq!(standing(&net, "BW", "VE").as_deref(), Some("member"));

    // 4 participants in good standing: 3 approvals needed (the Chair's
    // proposal counts as its approval).
    let expel = Decision::Expel {
        participant: CountryCode::new("VE").unwrap(),
    };
    let id = decide(&net, "ZA", &["BW", "EU"], &expel);
    // VE's own node holds the decision too (it is still connected today).
    wait_adopted(&net, &all, &id);
    let g = net.get("EU", paths::GOVERNANCE);
    assert_eq!(g["quorum"], "2/3", "{g}");
    assert_eq!(g["chair"], "ZA", "{g}");
    let d = &g["decisions"][0];
    assert_eq!(d["needed"], 3, "{g}");
    assert_eq!(d["approved_by"], json!(["BW", "EU", "ZA"]), "{g}");
    let effective = tomorrow(&net);
    assert_eq!(d["effective_on"], json!(effective), "{g}");
    for l in remaining {
        let on = Some(effective.as_str());
        assert_eq!(standing_at(&net, l, "VE", on).as_deref(), Some("expelled"));
        // Adopted, not in force yet.
        assert_eq!(standing(&net, l, "VE").as_deref(), Some("member"), "{l}");
    }

    // Midnight: the expulsion takes effect.
    net.advance_clock_days(1);
    wait_standing(&net, &remaining, "VE", "expelled");

    // VE's node is cut off (by each gate's next recomputation), and stays
    // cut off although it keeps redialling (its bootstrap list) at every
    // sync round.
    let ve_peer = net.peer_id("VE");
    wait_until(GATE_WITHIN, POLL, "VE's node disconnected", || {
        remaining
            .iter()
            .all(|l| !net.peers(l).contains(&ve_peer))
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    wait_until(WITHIN, POLL, "VE's node without peers", || {
        net.peers("VE").is_empty().then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: VE still lists {:?}", net.peers("VE")));
    let until = Instant::now() + Duration::from_secs(5);
    for _ in 0..100 {
        if Instant::now() >= until {
            break;
        }
        for l in remaining {
            assert!(!net.peers(l).contains(&ve_peer), "{l} let VE back in");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // The remaining nodes still talk to each other.
    net.wait_connected(&remaining, WITHIN);

    // An event VE's authority signs after the effective date, relayed by a
    // member's identity (the observer's) by gossip and anti-entropy, is
    // refused by every remaining node, and counted.
    let late = sign_event_at(
        &net.key_file("VE").key(),
        net.network_id(),
        &ve_author,
        2,
        Some(ve_head),
        EventBody::CertificateIssued(certificate("VE", "BW", 2)),
        net.clock_ms(),
    );
    let late_id = late.id().to_hex();
    let addrs: Vec<_> = remaining.iter().flat_map(|l| net.p2p_addrs(l)).collect();
    let relay = Ghost::spawn(
        net.p2p_key("wdc"),
        &net.charter(),
        addrs,
        std::slice::from_ref(&late),
    );
    let peers: Vec<String> = remaining.iter().map(|l| net.peer_id(l)).collect();
    relay
        .wait_connected(&peers, WITHIN)
        .unwrap_or_else(|e| panic!("{e}"));
    relay
        .publish(late.encode(), WITHIN)
        .unwrap_or_else(|e| panic!("{e}"));
    wait_until(
        WITHIN,
        POLL,
        "the late event refused as not_a_member",
        || {
            remaining
                .iter()
                .all(|l| net.failures(l, "not_a_member") >= 1)
                .then_some(())
        },
    )
    .unwrap_or_else(|e| {
        let counts: Vec<_> = remaining
            .iter()
            .map(|l| (l, net.failures(l, "not_a_member")))
            .collect();
        panic!("{e}: {counts:?}")
    });
    // Anti-entropy offers it again every round (the relay serves it); it is
    // refused every time, and the relay, a member, is not cut off for it.
    let until = Instant::now() + Duration::from_secs(5);
    for _ in 0..100 {
        if Instant::now() >= until {
            break;
        }
        for l in remaining {
            let (status, v) = net.get_status(l, &paths::event(&late_id));
            assert_eq!(status, 404, "{l} stored VE's late event: {v}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    relay
        .wait_connected(&peers, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the relay was cut off for relaying: {e}"));
    for l in remaining {
        assert!(
            net.failures(l, "not_a_member") >= 2,
            "{l}: the late event should be refused by gossip and by anti-entropy"
        );
        // VE's feed ends where the expulsion took effect; the early
        // certificate is kept.
        let h = net.heads(l);
        assert_eq!(h[&ve_author.to_string()].0, 1, "{l}");
        let c = net.get(l, &paths::certificate(&early.number));
        assert_eq!(c["status"], "issued", "{l}: {c}");
        net.assert_verified(l);
    }
    // Every remaining node derived the same timeline: the same decisions,
    // approvals and verdicts, whatever order the events reached it in.
    let first = net.get("ZA", paths::GOVERNANCE);
    for l in &remaining[1..] {
        let g = net.get(l, paths::GOVERNANCE);
        assert_eq!(g["decisions"], first["decisions"], "{l}");
        assert_eq!(g["orphan_approvals"], first["orphan_approvals"], "{l}");
    }

    // VE's own node, which received the decision before it was cut off,
    // refuses to sign for it any more.
    let (s, v) = net.post(
        "VE",
        paths::CERTIFICATES,
        Some(&net.token("VE")),
        &kpl_tests::certificate_json(&certificate("VE", "BW", 3)),
    );
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "not_a_member", "{v}");
}

#[test]
fn admitted_participant_connects_and_its_events_reach_every_node() {
    let mut net = TestNet::create(EXE, "kp-gov-admit", &members(&["ZA", "BW", "EU"], &[]));
    let founders = ["ZA", "BW", "EU"];
    net.use_test_clock();
    net.start_all(&founders, WITHIN);
    net.issue("BW", "ZA", 1);
    net.wait_heads_equal(&founders, 1, WITHIN);

    // NA has keys and a node, but is in no charter and no decision yet. Its
    // IT officer runs it as for any node: the charter, its key, the
    // bootstrap peers (every running node) and an empty store. It starts as
    // a candidate, saying so.
    let admit = net
        .cluster
        .add_candidate(&participant("NA"))
        .expect("candidate created");
    let Decision::AdmitParticipant(entry) = &admit else {
        panic!("not a participant admission: {admit:?}");
    };
    assert_eq!(entry.nodes, vec![net.peer_id("NA")]);
    net.start("NA");
    let log = net.log_tail("NA", 40);
    assert!(
        log.contains("not (yet) a member of this network") && log.contains("candidate"),
        "{log}"
    );
    assert_eq!(total(&net.heads("NA")), 0, "NA's store is not empty");

    // Its writes are refused, saying what to do.
    let (s, v) = net.post(
        "NA",
        paths::CERTIFICATES,
        Some(&net.token("NA")),
        &kpl_tests::certificate_json(&certificate("NA", "EU", 1)),
    );
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "not_a_member", "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("NA/mme") && msg.contains("synced") && msg.contains("Chair"),
        "{v}"
    );

    // The members refuse its connections while no decision admits it,
    // although it redials them at every sync round (2 s here); it keeps
    // running and learns nothing.
    let na_peer = net.peer_id("NA");
    let until = Instant::now() + Duration::from_secs(6);
    for _ in 0..60 {
        if Instant::now() >= until {
            break;
        }
        for l in founders {
            assert!(!net.peers(l).contains(&na_peer), "{l} let NA in early");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(total(&net.heads("NA")), 0, "NA synced before its admission");
    assert!(
        kpl_node::cluster::alive(net.pid("NA")),
        "NA's node stopped while refused"
    );

    // 3 participants in good standing: 2 approvals (the Chair's and BW's).
    let id = decide(&net, "ZA", &["BW"], &admit);
    wait_adopted(&net, &founders, &id);
    let effective = tomorrow(&net);
    for l in founders {
        let on = Some(effective.as_str());
        assert_eq!(standing_at(&net, l, "NA", on).as_deref(), Some("member"));
        // Adopted, not in force yet.
        assert_eq!(standing(&net, l, "NA"), None, "{l}");
    }
    let d = net.get("EU", &paths::governance_decision(&id));
    assert_eq!(d["needed"], 2, "{d}");
    assert_eq!(d["decision"]["admit_participant"]["code"], "NA", "{d}");
    assert_eq!(d["effective_on"], json!(effective), "{d}");
    // Until it takes effect, NA is still kept out.
    let until = Instant::now() + Duration::from_secs(3);
    for _ in 0..30 {
        if Instant::now() >= until {
            break;
        }
        for l in founders {
            assert!(!net.peers(l).contains(&na_peer), "{l} let NA in early");
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // Midnight: the admission takes effect. The members' gates (recomputed
    // when the day changes) let NA in: its redial connects, anti-entropy
    // brings the governance events, and its own timeline admits it.
    net.advance_clock_days(1);
    wait_standing(&net, &founders, "NA", "member");
    let all = ["ZA", "BW", "EU", "NA"];
    net.wait_connected(&all, GATE_WITHIN);
    wait_adopted(&net, &["NA"], &id);
    assert_eq!(standing(&net, "NA", "NA").as_deref(), Some("member"));
    let m = net.get("NA", paths::MEMBERS);
    let listed = m["participants"].as_array().is_some_and(|ps| {
        ps.iter().any(|p| {
            p["code"] == "NA"
                && p["nodes"]
                    .as_array()
                    .is_some_and(|n| n.contains(&json!(na_peer)))
        })
    });
    assert!(listed, "NA's /v1/members does not list NA's node: {m}");
    let na_member = m["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["code"] == "NA"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(na_member["admitted_on"], json!(effective), "{m}");
    assert_eq!(today(&net), effective);
    wait_until(WITHIN, POLL, "NA synced every event", || {
        (total(&net.heads("NA")) >= 3).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", net.heads("NA")));

    // Its events reach every node, and the others' reach it.
    let c = net.issue("NA", "EU", 1);
    net.issue("EU", "NA", 1);
    let heads = net.wait_heads_equal(&all, 5, WITHIN);
    let na = net.author("NA").to_string();
    assert_eq!(heads[&na].0, 1, "{heads:?}");
    for l in all {
        let cert = net.get(l, &paths::certificate(&c.number));
        assert_eq!(cert["status"], "issued", "{l}: {cert}");
        let feed = net.get(l, &format!("{}?author={na}", paths::FEED));
        assert_eq!(feed["events"].as_array().map(Vec::len), Some(1), "{l}");
    }
    // The others confirm its exports like anyone's.
    net.confirm("EU", &c);
    net.wait_heads_equal(&all, 6, WITHIN);

    // Its feed is checkpointed and witnessed like the charter's feeds.
    for l in ["ZA", "BW", "EU"] {
        wait_until(WITHIN, POLL, "a checkpoint of NA's feed", || {
            let (s, v) = net.get_status(l, &format!("{}?author={na}", paths::CHECKPOINT));
            (s == 200 && v["size"] == 1).then_some(())
        })
        .unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    for l in all {
        net.assert_verified(l);
    }
}
