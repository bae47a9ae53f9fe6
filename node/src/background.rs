//! The threads that compute analysis answers (audits, statistics, traces,
//! listings, explorer pages), below the rest of the node in the CPU
//! scheduler's order.
//!
//! The HTTP API bounds how many analysis answers are computed at once
//! (`service::Analysis`), but on a machine of two cores two audits of a
//! large ledger still keep both cores busy for a quarter of a second each,
//! and the async runtime's threads (gossip, sync, `/v1/health`, writes)
//! would wait for a time slice behind them. The answers are therefore
//! computed on [`ANALYSIS_CONCURRENCY`] threads of their own, started once,
//! whose nice value is raised by [`NICE`]: the scheduler runs the runtime's
//! threads first whenever they have work, and the analysis gets every
//! cycle nothing else wants. The same few threads serve every answer, so
//! their heap arenas are reused ([`crate::os::bound_malloc_arenas`]).

use std::io;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use crate::service::ANALYSIS_CONCURRENCY;

/// How much lower than the node's other threads an analysis thread runs
/// (the nice value added): at 10, a busy analysis thread gets about a
/// tenth of the CPU share of a busy thread at the node's own priority.
pub const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send + 'static>;

fn pool() -> &'static mpsc::Sender<Job> {
    static POOL: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..ANALYSIS_CONCURRENCY {
            let rx = rx.clone();
            let started = std::thread::Builder::new()
                .name(format!("kpl-analysis-{i}"))
                .spawn(move || {
                    // Only slower if it fails (a seccomp policy, say).
                    let _ = crate::os::lower_this_thread(NICE);
                    loop {
                        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        // A panicking answer drops its sender: the caller
                        // gets an error, the thread serves the next one.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "could not start an analysis thread");
            }
        }
        tx
    })
}

/// Runs `f` on one of the analysis threads and awaits its result. An error
/// when `f` panicked or no analysis thread could be started.
pub async fn run_lowered<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    pool()
        .send(job)
        .map_err(|_| io::Error::other("no analysis thread is running"))?;
    rx.await
        .map_err(|_| io::Error::other("the analysis stopped without an answer"))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::os::this_thread_nice;

    #[tokio::test]
    async fn analysis_runs_lowered_and_the_caller_does_not() {
        let before = this_thread_nice().unwrap();
        let inside = run_lowered(|| this_thread_nice().unwrap()).await.unwrap();
        assert_eq!(inside, (before + NICE).min(19));
        assert_eq!(
            this_thread_nice().unwrap(),
            before,
            "only the analysis threads are lowered"
        );
    }

    #[tokio::test]
    async fn a_panic_in_an_answer_is_an_error_and_the_threads_go_on() {
        for _ in 0..2 * ANALYSIS_CONCURRENCY {
            let r = run_lowered(|| -> u32 { panic!("boom") }).await;
            assert!(r.is_err());
        }
        assert_eq!(run_lowered(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn the_same_threads_serve_every_answer() {
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let name = run_lowered(|| std::thread::current().name().map(str::to_owned))
                .await
                .unwrap();
            names.insert(name.unwrap());
        }
        assert!(names.len() <= ANALYSIS_CONCURRENCY, "{names:?}");
    }
}
