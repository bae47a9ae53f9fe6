//! The web explorer in a real headless Chromium, driven over WebDriver:
//! real node processes on loopback with seeded trade (a correction, a
//! confirmation that contradicts it, a re-export chain, a suspension with
//! an allowed zone, trade by the suspended participant, a fork by a
//! member, and a hostile exporter name), then every page loaded and read
//! as a person would: cells of tables, a search followed to a
//! certificate, filters applied through the forms, the provenance tree's
//! boxes counted.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test
//! says so and passes, unless `KPL_REQUIRE_ROOT_TESTS=1` (CI as root),
//! when it fails. `KPL_WRITE_SCREENSHOTS=1` also writes the screenshots
//! of `docs/explorer/`.

use std::path::PathBuf;
use std::time::Duration;

use kpl_api::paths;
use kpl_tests::webdriver::{self, Browser};
use kpl_tests::{certificate, certificate_json, members, sign_event, wait_until, Ghost, TestNet};
use ledger_core::analysis::{format_carats, format_carats_signed};
use ledger_core::governance::Decision;
use ledger_core::{CountryCode, EventBody, Origin};
use serde_json::json;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

const HOSTILE: &str = "<script>document.title='pwned'</script><b id=\"bold\">Bold</b> Exports";

fn code(c: &str) -> CountryCode {
    CountryCode::new(c).expect("country code")
}

/// Waits (bounded) until `f` holds in the browser; panics with `what`.
fn until(what: &str, mut f: impl FnMut() -> bool) {
    wait_until(WITHIN, POLL, what, || f().then_some(())).unwrap_or_else(|e| panic!("{e}"));
}

fn shoot(b: &Browser, name: &str) {
    if std::env::var("KPL_WRITE_SCREENSHOTS").as_deref() != Ok("1") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/explorer");
    std::fs::create_dir_all(&dir).expect("docs/explorer");
    // The whole page: the window as tall as the document (bounded).
    let sizes = b
        .script("return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]")
        .expect("page height");
    let h = sizes[0].as_u64().unwrap_or(900).clamp(500, 2400) as u32;
    let chrome = sizes[1].as_u64().unwrap_or(0).min(400) as u32;
    b.resize(1360, h + chrome).expect("resize");
    let png = b.screenshot().expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    b.resize(1360, 1000).expect("resize");
}

#[test]
fn every_page_reads_right_in_a_real_browser() {
    let Some((chromium, driver)) = webdriver::chromium() else {
        let msg = "explorer browser test: chromium and chromedriver are not installed \
                   (apt-get install -y chromium chromium-driver)";
        if std::env::var("KPL_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
            panic!("{msg}, and KPL_REQUIRE_ROOT_TESTS=1 requires this test to run");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    };

    // BW chairs. IN's node is not started: its key lets a ghost fork IN's feed.
    let mut net = TestNet::create(EXE, "kp-explorer", &members(&["BW", "ZA", "EU", "IN"], &[]));
    let running = ["BW", "ZA", "EU"];
    net.use_test_clock();
    net.start_all(&running, WITHIN);

    // BW-1 to EU, with a hostile exporter name, confirmed as issued.
    let mut c1 = certificate("BW", "EU", 1);
    c1.exporter.name = HOSTILE.into();
    net.write(
        "BW",
        &format!("{}?force=true", paths::CERTIFICATES),
        &certificate_json(&c1),
    );
    net.confirm("EU", &c1);
    // BW-2 to EU, reweighed by BW after EU confirmed the first figures.
    let c2 = certificate("BW", "EU", 2);
    let issued = net.write(
        "BW",
        &format!("{}?force=true", paths::CERTIFICATES),
        &certificate_json(&c2),
    );
    let corrected_ct = c2.carat_hundredths - 500;
    net.write(
        "BW",
        paths::CORRECTIONS,
        &json!({"certificate": c2.number, "original": issued["id"],
                "correction": {"carat_hundredths": corrected_ct},
                "note": "reweighed <b>at</b> the airport"}),
    );
    net.confirm("EU", &c2);
    // EU re-exports half of BW-1 to ZA, confirmed.
    let mut c3 = certificate("EU", "ZA", 3);
    c3.source_certificates = vec![c1.number.clone()];
    c3.carat_hundredths = c1.carat_hundredths / 2;
    c3.origin = Origin::Single {
        country: code("BW"),
        zone: None,
    };
    net.write(
        "EU",
        &format!("{}?force=true", paths::CERTIFICATES),
        &certificate_json(&c3),
    );
    net.confirm("ZA", &c3);

    // IN signs two events for its seq 1: BW gets both, and a fork proof.
    let a = sign_event(
        &net.key_file("IN").key(),
        net.network_id(),
        &net.author("IN"),
        1,
        None,
        EventBody::CertificateIssued(certificate("IN", "BW", 5)),
    );
    let b = sign_event(
        &net.key_file("IN").key(),
        net.network_id(),
        &net.author("IN"),
        1,
        None,
        EventBody::CertificateIssued(certificate("IN", "BW", 6)),
    );
    let (lo, hi) = if a.id() < b.id() {
        (a.id(), b.id())
    } else {
        (b.id(), a.id())
    };
    {
        let ghost = Ghost::spawn(
            net.p2p_key("IN"),
            &net.charter(),
            net.p2p_addrs("BW"),
            std::slice::from_ref(&a),
        );
        ghost.wait_connected(&[net.peer_id("BW")], WITHIN).unwrap();
        std::thread::sleep(Duration::from_millis(700));
        ghost.publish(a.encode(), WITHIN).unwrap();
        ghost.publish(b.encode(), WITHIN).unwrap();
        wait_until(WITHIN, POLL, "the fork proof on BW", || {
            net.get("BW", paths::FORKS)["fork_proofs"]
                .as_array()
                .is_some_and(|f| f.len() == 1)
                .then_some(())
        })
        .unwrap();
    }

    // BW suspends ZA except its Kimberley zone, from tomorrow.
    let tomorrow = ledger_core::Date::from_unix_ms(net.clock_ms() + 86_400_000).to_string();
    let suspend = Decision::Suspend {
        participant: code("ZA"),
        exporting_zones: vec!["Kimberley".into()],
    };
    let p = net.write_created(
        "BW",
        paths::GOVERNANCE_PROPOSALS,
        &json!({"decision": suspend, "effective_on": tomorrow,
                "reference": "Administrative Decision KP/2026/09 <i>test</i>"}),
    );
    let proposal = p["id"].as_str().expect("proposal id").to_owned();
    for l in ["EU", "ZA"] {
        net.write_created(
            l,
            paths::GOVERNANCE_APPROVALS,
            &json!({"proposal": proposal}),
        );
    }
    wait_until(WITHIN, POLL, "the suspension adopted on BW", || {
        (net.get("BW", &paths::governance_decision(&proposal))["status"] == "adopted").then_some(())
    })
    .unwrap();
    net.advance_clock_days(1);
    // Every node's clock has moved on (ZA's too: its next event is signed
    // on the day of the suspension).
    for l in running {
        wait_until(Duration::from_secs(60), POLL, "ZA suspended today", || {
            let m = net.get(l, paths::MEMBERS);
            m["participants"]
                .as_array()
                .and_then(|ps| {
                    ps.iter()
                        .find(|p| p["code"] == "ZA")
                        .map(|p| p["standing"] == "suspended")
                })
                .unwrap_or(false)
                .then_some(())
        })
        .unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    // Suspended ZA re-exports half of EU-3 anyway, from outside Kimberley.
    let mut c4 = certificate("ZA", "BW", 4);
    c4.source_certificates = vec![c3.number.clone()];
    c4.carat_hundredths = c3.carat_hundredths / 2;
    net.write(
        "ZA",
        &format!("{}?force=true", paths::CERTIFICATES),
        &certificate_json(&c4),
    );
    // 4 + 4 + 3 events of the running nodes, and IN's one.
    net.wait_heads_equal(&running, 12, WITHIN);
    // BW's own checkpoint covers its feed and is cosigned by a witness.
    wait_until(WITHIN, POLL, "BW's checkpoint cosigned", || {
        let (s, v) = net.get_status("BW", &format!("{}?author=BW/mme", paths::CHECKPOINT));
        (s == 200 && v["size"] == 4 && v["cosignatures"].as_array().is_some_and(|c| !c.is_empty()))
            .then_some(())
    })
    .unwrap();

    let api = net.api("BW");
    let br = Browser::start(&chromium, &driver, 1360, 1000).expect("headless chromium");

    // ---- Home: search by participant, follow a result.
    br.goto(&format!("{api}/explorer")).unwrap();
    assert!(
        br.title().unwrap().starts_with("Certificates"),
        "{}",
        br.title().unwrap()
    );
    br.type_into(&br.find("#participant").unwrap(), "BW")
        .unwrap();
    br.click(&br.find("#search").unwrap()).unwrap();
    until("the search results", || {
        br.find_all("#certificates tbody tr")
            .map(|r| !r.is_empty())
            .unwrap_or(false)
    });
    let rows = br.rows("#certificates").unwrap();
    let numbers: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    for n in [&c1.number, &c2.number, &c4.number] {
        assert!(numbers.contains(&n.as_str()), "{n} in {numbers:?}");
    }
    assert!(
        rows.iter().all(|r| r[1] == "BW" || r[2] == "BW"),
        "{rows:?}"
    );
    let r2 = rows
        .iter()
        .find(|r| r[0] == c2.number)
        .expect("BW-2 listed");
    assert_eq!(
        r2[4],
        format_carats(corrected_ct),
        "corrected carats listed: {r2:?}"
    );
    assert_eq!(r2[6], "confirmed", "{r2:?}");
    shoot(&br, "search");
    let link = br
        .find_all("#certificates a.cert")
        .unwrap()
        .into_iter()
        .find(|a| br.text(a).unwrap() == c1.number)
        .expect("a link to BW-1");
    br.click(&link).unwrap();
    until("BW-1's page", || {
        br.title()
            .map(|t| t.starts_with(&format!("Certificate {}", c1.number)))
            .unwrap_or(false)
    });
    assert!(br
        .url()
        .unwrap()
        .ends_with(&format!("/explorer/certificates/{}", c1.number)));

    // ---- A hostile field is shown as text, never run.
    let fields = br.rows("#fields").unwrap();
    let exporter = fields
        .iter()
        .find(|r| r[0] == "Exporter")
        .expect("exporter row");
    assert!(
        exporter[1].starts_with(HOSTILE),
        "shown literally: {exporter:?}"
    );
    assert!(!br.title().unwrap().contains("pwned"));
    assert!(
        br.find_all("main b#bold").unwrap().is_empty(),
        "no element from the name"
    );
    assert!(br.find_all("main script").unwrap().is_empty());

    // ---- A lowercase number is not found; the uppercase one is offered.
    br.goto(&format!(
        "{api}/explorer?number={}",
        c2.number.to_lowercase()
    ))
    .unwrap();
    let suggestion = br.find("#suggestion").unwrap();
    assert_eq!(br.text(&suggestion).unwrap(), c2.number);
    br.click(&suggestion).unwrap();
    until("the suggested search", || {
        br.rows("#certificates")
            .map(|r| r.len() == 1)
            .unwrap_or(false)
    });
    br.click(&br.find("#certificates a.cert").unwrap()).unwrap();
    until("BW-2's page", || {
        br.title()
            .map(|t| t.starts_with(&format!("Certificate {}", c2.number)))
            .unwrap_or(false)
    });

    // ---- The lifecycle says what the correction changed.
    let corr = br.text_of("#lifecycle tr.correction").unwrap();
    assert!(corr.contains("corrected carats"), "{corr}");
    assert!(
        corr.contains(&format!(
            "{} → {}",
            format_carats(c2.carat_hundredths),
            format_carats(corrected_ct)
        )),
        "{corr}"
    );
    assert!(corr.contains("reweighed <b>at</b> the airport"), "{corr}");
    assert_eq!(br.find_all("#lifecycle tr.confirmation").unwrap().len(), 1);
    assert_eq!(br.text_of("#status").unwrap(), "confirmed");
    let findings = br.rows("#findings").unwrap();
    assert!(
        findings.iter().any(|f| f[1] == "confirmation_mismatch"),
        "{findings:?}"
    );

    // ---- Provenance: ZA-4 → EU-3 → BW-1, the suspended trade in red.
    br.goto(&format!("{api}/explorer/certificates/{}", c4.number))
        .unwrap();
    assert_eq!(br.find_all("svg#provenance g.node").unwrap().len(), 3);
    assert_eq!(br.find_all("svg#provenance path.edge").unwrap().len(), 2);
    let red = br.find_all("svg#provenance g.node.finding").unwrap();
    let red: Vec<String> = red
        .iter()
        .map(|g| {
            br.attribute(g, "data-certificate")
                .unwrap()
                .unwrap_or_default()
        })
        .collect();
    assert!(red.contains(&c4.number), "{red:?}");
    let eu = br
        .text_of(&format!(
            "svg#provenance g.node[data-certificate='{}']",
            c3.number
        ))
        .unwrap();
    assert!(eu.contains(&format_carats(c3.carat_hundredths)), "{eu}");
    assert!(eu.contains("EU → ZA"), "{eu}");
    let origins = br.rows("#origins").unwrap();
    assert_eq!(
        origins,
        vec![vec!["BW".to_owned(), format_carats(c4.carat_hundredths)]]
    );
    shoot(&br, "certificate");

    // ---- Audit: filters through the form.
    br.goto(&format!("{api}/explorer/audit")).unwrap();
    let all = br.rows("#findings").unwrap();
    assert!(all.len() >= 4, "{all:?}");
    shoot(&br, "audit");
    br.click(
        &br.find("#kind option[value='confirmation_mismatch']")
            .unwrap(),
    )
    .unwrap();
    br.click(&br.find("#filter").unwrap()).unwrap();
    until("the kind filter", || {
        br.url()
            .map(|u| u.contains("kind=confirmation_mismatch"))
            .unwrap_or(false)
    });
    let mism = br.rows("#findings").unwrap();
    assert_eq!(mism.len(), 1, "{mism:?}");
    assert_eq!(mism[0][2], c2.number);
    assert_eq!(mism[0][0], "MEDIUM");
    br.goto(&format!(
        "{api}/explorer/audit?participant=ZA&severity=high"
    ))
    .unwrap();
    let za = br.rows("#findings").unwrap();
    assert!(
        za.iter()
            .any(|f| f[1] == "suspended_participant_trade" && f[2] == c4.number),
        "{za:?}"
    );
    assert!(
        za.iter().all(|f| f[0] == "HIGH" && f[3].contains("ZA")),
        "{za:?}"
    );

    // ---- Statistics of 2026 Q1 through the form; the mirror's sign.
    br.goto(&format!("{api}/explorer/stats")).unwrap();
    br.type_into(&br.find("#year").unwrap(), "2026").unwrap();
    br.click(&br.find("#quarter option[value='1']").unwrap())
        .unwrap();
    br.click(&br.find("#show").unwrap()).unwrap();
    until("2026 Q1", || {
        br.text_of("#period")
            .map(|t| t.starts_with("2026 Q1"))
            .unwrap_or(false)
    });
    let parts = br.rows("#participants").unwrap();
    let bw = parts.iter().find(|r| r[0] == "BW").expect("BW row");
    assert_eq!(bw[1], "2");
    assert_eq!(bw[2], format_carats(c1.carat_hundredths + corrected_ct));
    let za_row = parts.iter().find(|r| r[0] == "ZA").expect("ZA row");
    assert!(
        za_row[7].starts_with("member: 2026-01-01 to 2026-03-31"),
        "{za_row:?}"
    );
    let mirror = br.rows("#mirror").unwrap();
    let bw_eu = mirror
        .iter()
        .find(|r| r[0] == "BW" && r[1] == "EU")
        .expect("BW→EU");
    assert_eq!(bw_eu[8], format_carats_signed(-500));
    assert_eq!(bw_eu[10], "more confirmed than certified", "{bw_eu:?}");
    let eu_za = mirror
        .iter()
        .find(|r| r[0] == "EU" && r[1] == "ZA")
        .expect("EU→ZA");
    assert_eq!(eu_za[10], "match");
    assert_eq!(
        br.find_all("svg#chart g.bars").unwrap().len(),
        4,
        "BW, EU, IN, ZA traded"
    );
    shoot(&br, "stats");
    // ZA's standing over the quarter of its suspension.
    br.goto(&format!("{api}/explorer/stats?year=2026&quarter=4"))
        .unwrap();
    let q4 = br.rows("#participants").unwrap();
    let za_q4 = q4.iter().find(|r| r[0] == "ZA").expect("ZA row");
    assert!(
        za_q4[7].contains(&format!(
            "suspended (may export from Kimberley): {tomorrow} to 2026-12-31"
        )),
        "{za_q4:?}"
    );

    // ---- Feeds: checkpoints, their witnesses and the verifier keys.
    br.goto(&format!("{api}/explorer/feeds")).unwrap();
    let feeds = br.rows("#feeds").unwrap();
    assert_eq!(feeds.len(), 4, "{feeds:?}");
    let bwf = feeds.iter().find(|r| r[0] == "BW/mme").expect("BW's feed");
    assert_eq!(bwf[1], "4");
    assert_eq!(bwf[3], "4");
    assert!(
        bwf[6].contains("ZA/mme") || bwf[6].contains("EU/mme"),
        "{bwf:?}"
    );
    let keys = net.get("BW", paths::KEYS);
    let vkey = keys["feeds"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["author"] == "BW/mme"))
        .and_then(|f| f["checkpoint_vkey"].as_str())
        .expect("BW's checkpoint key")
        .to_owned();
    let krows = br.rows("#keys").unwrap();
    assert!(
        krows.iter().any(|r| r[0] == "BW/mme" && r[2] == vkey),
        "{krows:?}"
    );
    shoot(&br, "feeds");

    // ---- Membership timeline.
    br.goto(&format!("{api}/explorer/members")).unwrap();
    let tl = br.rows("#timeline").unwrap();
    assert_eq!(tl.len(), 2, "{tl:?}");
    assert_eq!(tl[0][0], "the charter");
    assert_eq!(tl[1][0], tomorrow);
    assert!(
        tl[1][3].contains("ZA") && tl[1][3].contains("Kimberley"),
        "{tl:?}"
    );
    assert!(!tl[1][2].contains("ZA"), "{tl:?}");
    let dec = br.rows("#decisions").unwrap();
    assert_eq!(dec.len(), 1);
    assert_eq!(dec[0][2], "Administrative Decision KP/2026/09 <i>test</i>");
    assert_eq!(dec[0][3], "adopted");
    shoot(&br, "members");

    // ---- Fork proofs: both sides.
    br.goto(&format!("{api}/explorer/proofs")).unwrap();
    let forks = br.rows("#forks").unwrap();
    assert_eq!(forks.len(), 1, "{forks:?}");
    assert_eq!(forks[0][0], "IN/mme");
    assert_eq!(forks[0][1], "1");
    assert!(forks[0][2].starts_with(&lo.to_hex()[..12]), "{forks:?}");
    assert!(forks[0][3].starts_with(&hi.to_hex()[..12]), "{forks:?}");
    assert!(br.find_all("#no-split-views").unwrap().len() == 1);
    shoot(&br, "proofs");

    // ---- A number that the other fields exclude is said to be so.
    let (s, body) = kpl_node::cluster::http(
        "GET",
        &api,
        &format!("/explorer?number={}&participant=ZA", c1.number),
        None,
        None,
    )
    .unwrap();
    assert_eq!(s, 200);
    assert!(body.contains("does not match the other fields"), "{body}");

    // ---- Outside input never breaks a page.
    for path in [
        "/explorer?year=99999",
        "/explorer?number=%ZZ",
        "/explorer/audit?kind=nonsense",
        "/explorer/stats?quarter=9&year=2026",
        "/explorer/members?at=2026-02-30",
    ] {
        let (s, body) = kpl_node::cluster::http("GET", &api, path, None, None).unwrap();
        assert_eq!(s, 422, "{path}: {body}");
        assert!(
            body.contains("<h1>Not a valid request</h1>"),
            "{path}: {body}"
        );
    }
    let long = "X".repeat(65);
    let (s, _) = kpl_node::cluster::http(
        "GET",
        &api,
        &format!("/explorer/certificates/{long}"),
        None,
        None,
    )
    .unwrap();
    assert_eq!(s, 422);
    let (s, body) = kpl_node::cluster::http(
        "GET",
        &api,
        "/explorer/certificates/bw-2026-0000001",
        None,
        None,
    )
    .unwrap();
    assert_eq!(s, 404);
    assert!(
        body.contains("BW-2026-0000001"),
        "the uppercase form offered: {body}"
    );
}

/// `explorer = false` (here `--explorer false`) turns the pages off; the
/// JSON API is unchanged. Needs no browser.
#[test]
fn the_explorer_can_be_turned_off() {
    let mut net = TestNet::create(EXE, "kp-explorer-off", &members(&["BW", "ZA"], &[]));
    net.start("BW");
    net.start_with("ZA", &["--explorer", "false"]);
    for (label, want) in [("BW", 200), ("ZA", 404)] {
        for page in ["/explorer", "/explorer/feeds", "/explorer/style.css"] {
            let (s, body) =
                kpl_node::cluster::http("GET", &net.api(label), page, None, None).unwrap();
            assert_eq!(s, want, "{label} {page}: {body}");
        }
        let (s, _) =
            kpl_node::cluster::http("GET", &net.api(label), paths::FEEDS, None, None).unwrap();
        assert_eq!(s, 200, "{label}: the API is served either way");
    }
    let (_, css) =
        kpl_node::cluster::http("GET", &net.api("BW"), "/explorer/style.css", None, None).unwrap();
    assert!(css.contains("font"), "the compiled-in stylesheet");
}
