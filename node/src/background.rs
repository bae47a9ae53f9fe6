//! Threads for CPU-bound answers (audits, statistics, traces, listings)
//! that run below the rest of the node in the CPU scheduler's order.
//!
//! The HTTP API bounds how many analysis answers are computed at once
//! (`service::Analysis`), but on a machine of two cores two audits of a
//! large ledger still keep both cores busy for a quarter of a second each,
//! and the async runtime's threads (gossip, sync, `/v1/health`, writes)
//! would wait for a time slice behind them. Each analysis answer is
//! therefore computed on a thread of its own whose nice value is raised by
//! [`NICE`]: Linux keeps a nice value per thread, so only that thread is
//! lowered, and the scheduler runs the runtime's threads first whenever
//! they have work. The analysis still gets every cycle nothing else wants.
//!
//! A thread per answer (rather than a pool) costs tens of microseconds
//! against answers of milliseconds to seconds, and a thread whose priority
//! was lowered can never serve anything else by mistake.

use std::io;

/// How much lower than the node's other threads an analysis thread runs
/// (the nice value added): at 10, a busy analysis thread gets about a
/// tenth of the CPU share of a busy thread at the node's own priority.
pub const NICE: i32 = 10;

/// Runs `f` on a new thread of lowered priority and awaits its result.
/// An error when the thread cannot be started, or when `f` panicked.
pub async fn run_lowered<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("kpl-analysis".into())
        .spawn(move || {
            // Only slower if it fails (a seccomp policy, say): never wrong.
            let _ = lower_this_thread(NICE);
            let _ = tx.send(f());
        })?;
    rx.await
        .map_err(|_| io::Error::other("the analysis thread stopped without an answer"))
}

/// Adds `by` to the nice value of the calling thread only.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn lower_this_thread(by: i32) -> io::Result<()> {
    // SAFETY: gettid and getpriority/setpriority take and return plain
    // integers and touch no memory of this process.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        *libc::__errno_location() = 0;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        if now == -1 && *libc::__errno_location() != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::setpriority(libc::PRIO_PROCESS, tid, (now + by).min(19)) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Elsewhere the thread keeps the node's priority.
#[cfg(not(target_os = "linux"))]
pub fn lower_this_thread(_by: i32) -> io::Result<()> {
    Ok(())
}

/// The nice value of the calling thread (Linux), for tests.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn this_thread_nice() -> io::Result<i32> {
    // SAFETY: as in `lower_this_thread`.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        *libc::__errno_location() = 0;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        if now == -1 && *libc::__errno_location() != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(now)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_analysis_thread_runs_lowered_and_the_caller_does_not() {
        let before = this_thread_nice().unwrap();
        let inside = run_lowered(|| this_thread_nice().unwrap()).await.unwrap();
        assert_eq!(inside, (before + NICE).min(19));
        assert_eq!(
            this_thread_nice().unwrap(),
            before,
            "only the new thread is lowered"
        );
    }

    #[tokio::test]
    async fn a_panic_in_the_analysis_is_an_error_not_a_hang() {
        let r = run_lowered(|| -> u32 { panic!("boom") }).await;
        assert!(r.is_err());
    }
}
