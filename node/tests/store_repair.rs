//! A participant node whose log was damaged while it was stopped, on real
//! node processes: it refuses to start and says where and what to do,
//! `kpl-node check` lists the damage, `kpl-node repair --from-node` keeps
//! every valid record and fetches the damaged events again from a member,
//! and the repaired node runs, verifies, and has forked nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use kpl_api::paths;
use kpl_tests::{members, TestNet};
use ledger_core::store::{LogFile, LogItem, HEADER_LEN, KIND_EVENT};

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(60);

#[test]
fn a_damaged_log_stops_the_node_and_repair_refills_it_from_a_member() {
    let mut net = TestNet::create(EXE, "kp-store-repair", &members(&["BW", "ZA"], &[]));
    net.start_all(&["BW", "ZA"], WITHIN);
    for n in 1..=40 {
        net.issue("BW", "ZA", n);
    }
    let heads = net.wait_heads_equal(&["BW", "ZA"], 40, WITHIN);
    assert!(net.stop("BW"), "BW did not stop cleanly");

    // Flip one byte in the middle of an event record of BW's log.
    let data = net.node("BW").data_dir.clone();
    let log_path = data.join("store").join("events.log");
    let mut events = Vec::new();
    LogFile::open_read_only(&log_path)
        .unwrap()
        .scan_all(HEADER_LEN, |item| {
            if let LogItem::Record(r) = item {
                if r.kind == KIND_EVENT {
                    events.push((r.offset, r.payload.len() as u64));
                }
            }
            Ok(())
        })
        .unwrap();
    let (offset, len) = events[events.len() / 2];
    let mut bytes = std::fs::read(&log_path).unwrap();
    bytes[(offset + 9 + len / 2) as usize] ^= 0x20;
    std::fs::write(&log_path, &bytes).unwrap();

    // The node refuses to start, naming the offset and the repair command.
    let mut child = Command::new(EXE)
        .args(["run", "--data-dir"])
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > WITHIN {
            let _ = child.kill();
            panic!("the node with a damaged log kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("bytes {offset}..")), "{stderr}");
    assert!(stderr.contains("BW/"), "names the author: {stderr}");
    assert!(stderr.contains("kpl-node repair"), "{stderr}");
    assert!(
        std::fs::read(&log_path).unwrap() == bytes,
        "the refused start changed the log"
    );

    // check lists it, exit 1.
    let check = Command::new(EXE)
        .args(["check", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{listed}");
    assert!(listed.contains(&offset.to_string()), "{listed}");

    // repair from ZA's copy.
    let repair = Command::new(EXE)
        .args(["repair", "--data-dir"])
        .arg(&data)
        .args(["--from-node", &net.api("ZA")])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&repair.stdout);
    assert_eq!(
        repair.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&repair.stderr)
    );
    assert!(said.contains("fetched 1 event(s) again"), "{said}");
    let quarantine = data.join("store").join("quarantine");
    assert!(std::fs::read_dir(&quarantine).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("damaged-")));

    // The repaired node runs, holds everything, verifies, forks nothing.
    net.start("BW");
    net.wait_heads(&["BW", "ZA"], &heads, WITHIN);
    net.wait_healthy("BW", WITHIN);
    net.assert_verified("BW");
    net.issue("BW", "ZA", 41);
    net.wait_heads_equal(&["BW", "ZA"], 41, WITHIN);
    for l in ["BW", "ZA"] {
        let forks = net.get(l, paths::FORKS);
        assert_eq!(
            forks["fork_proofs"].as_array().map_or(0, Vec::len),
            0,
            "{l}: {forks}"
        );
    }
}
