//! Governance on real node processes (issue 6): membership decisions,
//! proposed by the Chair and approved by other participants through the
//! HTTP API, change who may connect and who may sign.
//!
//! (a) An expelled participant's node is cut off from the others once the
//!     expulsion is adopted, and an event its authority signs afterwards is
//!     refused by every remaining node (counted as `not_a_member`), whether
//!     it arrives by gossip or by anti-entropy.
//! (b) A participant admitted by a decision (with its node's peer id)
//!     cannot start before its store holds the decision, connects once the
//!     decision is adopted, and its events reach every node.

use std::time::{Duration, Instant};

use kpl_tests::{certificate, members, participant, sign_event, wait_until, Ghost, TestNet};
use ledger_core::governance::Decision;
use ledger_core::{CountryCode, Digest, EventBody};
use serde_json::json;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");

const WITHIN: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Today, UTC, as the nodes see it.
fn today() -> String {
    ledger_core::Date::from_unix_ms(kpl_tests::now_ms()).to_string()
}

/// The Chair (`chair`) proposes `decision`, effective today; every node of
/// `approvers` approves it. Returns the proposal's id.
fn decide(net: &TestNet, chair: &str, approvers: &[&str], decision: &Decision) -> String {
    let body = json!({
        "decision": decision,
        "effective_on": today(),
        "reference": "Administrative Decision KP/2026/07 (test)",
    });
    let v = net.write_created(chair, "/v1/governance/proposals", &body);
    assert_eq!(v["author"], json!(net.author(chair).to_string()), "{v}");
    let id = v["id"].as_str().expect("proposal id").to_owned();
    // The proposal is pending on the Chair's node until the quorum approves.
    let d = net.get(chair, &format!("/v1/governance/{id}"));
    assert_eq!(d["status"], "pending", "{d}");
    for a in approvers {
        let v = net.write_created(
            a,
            "/v1/governance/approvals",
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
            let (s, v) = net.get_status(l, &format!("/v1/governance/{id}"));
            (s == 200 && v["status"] == "adopted").then_some(())
        });
        if let Err(e) = r {
            panic!("{l}: {e}: {}", net.get(l, "/v1/governance"));
        }
    }
}

/// The standing of participant `code` in `GET /v1/members` of a node.
fn standing(net: &TestNet, label: &str, code: &str) -> Option<String> {
    let m = net.get(label, "/v1/members");
    m["participants"].as_array().and_then(|ps| {
        ps.iter()
            .find(|p| p["code"] == code)
            .and_then(|p| p["standing"].as_str().map(str::to_owned))
    })
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
    net.start_all(&all, WITHIN);

    // Before the expulsion VE trades like anyone.
    let early = net.issue("VE", "ZA", 1);
    let heads = net.wait_heads_equal(&all, 1, WITHIN);
    let ve_author = net.author("VE");
    let (ve_seq, ve_head) = heads[&ve_author.to_string()].clone();
    assert_eq!(ve_seq, 1);
    let ve_head = Digest::from_hex(ve_head.as_deref().expect("head id")).expect("hex id");
    let members_today = net.get("ZA", "/v1/members");
    assert_eq!(members_today["at"], json!(today()), "{members_today}");
    assert_eq!(members_today["chair"], "ZA", "{members_today}");
    assert_eq!(standing(&net, "BW", "VE").as_deref(), Some("member"));

    // 4 participants in good standing: 3 approvals needed (the Chair's
    // proposal counts as its approval).
    let expel = Decision::Expel {
        participant: CountryCode::new("VE").unwrap(),
    };
    let id = decide(&net, "ZA", &["BW", "EU"], &expel);
    wait_adopted(&net, &remaining, &id);
    let g = net.get("EU", "/v1/governance");
    assert_eq!(g["quorum"], "2/3", "{g}");
    assert_eq!(g["chair"], "ZA", "{g}");
    let d = &g["decisions"][0];
    assert_eq!(d["needed"], 3, "{g}");
    assert_eq!(d["approved_by"], json!(["BW", "EU", "ZA"]), "{g}");
    for l in remaining {
        assert_eq!(standing(&net, l, "VE").as_deref(), Some("expelled"), "{l}");
    }

    // VE's node is cut off, and stays cut off although it keeps redialling
    // (its bootstrap list) at every sync round.
    let ve_peer = net.peer_id("VE");
    wait_until(WITHIN, POLL, "VE's node disconnected", || {
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
    let late = sign_event(
        &net.key_file("VE").key(),
        net.network_id(),
        &ve_author,
        2,
        Some(ve_head),
        EventBody::CertificateIssued(certificate("VE", "BW", 2)),
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
            let (status, v) = net.get_status(l, &format!("/v1/events/{late_id}"));
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
        let c = net.get(l, &format!("/v1/certificates/{}", early.number));
        assert_eq!(c["status"], "issued", "{l}: {c}");
        net.assert_verified(l);
    }

    // VE's own node, if the decision reached it before it was cut off,
    // refuses to sign for it any more.
    let (s, v) = net.post(
        "VE",
        "/v1/certificates",
        Some(&net.token("VE")),
        &kpl_tests::certificate_json(&certificate("VE", "BW", 3)),
    );
    if s != 200 {
        assert_eq!(s, 403, "{v}");
        assert_eq!(v["error"]["code"], "not_a_member", "{v}");
    }
}

#[test]
fn admitted_participant_connects_and_its_events_reach_every_node() {
    let mut net = TestNet::create(EXE, "kp-gov-admit", &members(&["ZA", "BW", "EU"], &[]));
    let founders = ["ZA", "BW", "EU"];
    net.start_all(&founders, WITHIN);
    net.issue("BW", "ZA", 1);
    net.wait_heads_equal(&founders, 1, WITHIN);

    // NA has keys and a node, but is in no charter and no decision yet: its
    // node refuses to start, saying why.
    let admit = net
        .cluster
        .add_candidate(&participant("NA"))
        .expect("candidate created");
    let Decision::AdmitParticipant(entry) = &admit else {
        panic!("not a participant admission: {admit:?}");
    };
    assert_eq!(entry.nodes, vec![net.peer_id("NA")]);
    match net
        .cluster
        .start("NA", &net.launcher, Duration::from_secs(20))
    {
        Ok(mut r) => {
            let _ = r.child.kill();
            let _ = r.child.wait();
            panic!("a node that is not a member started");
        }
        Err(e) => {
            let log = net.log_tail("NA", 20);
            assert!(
                log.contains("NA/mme is not an authority of this network"),
                "{e}\n{log}"
            );
        }
    }

    // 3 participants in good standing: 2 approvals (the Chair's and BW's).
    let id = decide(&net, "ZA", &["BW"], &admit);
    wait_adopted(&net, &founders, &id);
    for l in founders {
        assert_eq!(standing(&net, l, "NA").as_deref(), Some("member"), "{l}");
    }
    let d = net.get("EU", &format!("/v1/governance/{id}"));
    assert_eq!(d["needed"], 2, "{d}");
    assert_eq!(d["decision"]["admit_participant"]["code"], "NA", "{d}");

    // The new participant's node starts with a store that holds the
    // decision, and connects to every member.
    let seeded = net.seed_store("NA", "ZA");
    assert!(seeded >= 3, "{seeded} events seeded");
    net.start("NA");
    let all = ["ZA", "BW", "EU", "NA"];
    net.wait_connected(&all, WITHIN);
    assert_eq!(standing(&net, "NA", "NA").as_deref(), Some("member"));

    // Its events reach every node, and the others' reach it.
    let c = net.issue("NA", "EU", 1);
    net.issue("EU", "NA", 1);
    let heads = net.wait_heads_equal(&all, 5, WITHIN);
    let na = net.author("NA").to_string();
    assert_eq!(heads[&na].0, 1, "{heads:?}");
    for l in all {
        let cert = net.get(l, &format!("/v1/certificates/{}", c.number));
        assert_eq!(cert["status"], "issued", "{l}: {cert}");
        let feed = net.get(l, &format!("/v1/feed?author={na}"));
        assert_eq!(feed["events"].as_array().map(Vec::len), Some(1), "{l}");
    }
    // The others confirm its exports like anyone's.
    net.confirm("EU", &c);
    net.wait_heads_equal(&all, 6, WITHIN);

    // Its feed is checkpointed and witnessed like the charter's feeds.
    for l in ["ZA", "BW", "EU"] {
        wait_until(WITHIN, POLL, "a checkpoint of NA's feed", || {
            let (s, v) = net.get_status(l, &format!("/v1/checkpoint?author={na}"));
            (s == 200 && v["size"] == 1).then_some(())
        })
        .unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    for l in all {
        net.assert_verified(l);
    }
}
