//! Cosignature timestamps come from the node's one clock: the system clock
//! shifted by the test clock, as the timestamps of the node's events are.
//! (A test binary of its own: the test clock's file is read from the
//! environment once per process.)

use std::time::{SystemTime, UNIX_EPOCH};

use kpl_node::checkpoints;
use kpl_node::service::{self, TEST_CLOCK_COMPILED, TEST_CLOCK_ENV};

#[test]
fn checkpoint_time_follows_the_test_clock() {
    if !TEST_CLOCK_COMPILED {
        eprintln!("skipped: a release build ignores the test clock");
        return;
    }
    const AHEAD: u64 = 10 * 365 * 86_400;
    let file = std::env::temp_dir().join(format!("kpl-checkpoint-clock-{}", std::process::id()));
    std::fs::write(&file, format!("{AHEAD}\n")).expect("clock file");
    std::env::set_var(TEST_CLOCK_ENV, &file);
    let system = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let now = checkpoints::now_secs();
    let node = service::now_ms() / 1000;
    let _ = std::fs::remove_file(&file);
    assert!(
        now.abs_diff(system + AHEAD) <= 5,
        "now_secs() = {now}, the test clock says {}",
        system + AHEAD
    );
    assert!(
        now.abs_diff(node) <= 1,
        "now_secs() = {now}, now_ms() = {node} ms / 1000"
    );
}
