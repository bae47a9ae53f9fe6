//! How many threads the signing and verification fan-outs use.

use std::sync::OnceLock;

/// The cores this process may use, read once: `available_parallelism`
/// reads cgroup files on every call (six system calls on Linux), which an
/// append of one event would otherwise pay each time.
pub(crate) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
