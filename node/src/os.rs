//! What the node asks of the operating system that Rust's standard
//! library does not offer: a lower CPU priority for one thread, and a
//! bounded heap under glibc. The node's only `unsafe` code: calls
//! that take and return plain integers and touch no memory of the process.

use std::io;

/// Adds `by` to the nice value of the calling thread only (Linux keeps a
/// nice value per thread; at most 19).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn lower_this_thread(by: i32) -> io::Result<()> {
    let now = this_thread_nice()?;
    // SAFETY: gettid and setpriority take and return plain integers.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
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

/// The nice value of the calling thread.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn this_thread_nice() -> io::Result<i32> {
    // SAFETY: gettid and getpriority take and return plain integers; errno
    // is the calling thread's own (getpriority may return -1 as a value).
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

/// How many malloc arenas glibc may create. Its default is eight per core,
/// one for each thread that meets contention: memory freed in one arena is
/// never reused by another, so a node whose threads take turns at building
/// large answers keeps the sum of their peaks (measured: 816 MB of heap at
/// 10^6 events under writes and audits with the default, 437 MB with 2).
pub const MALLOC_ARENAS: i32 = 2;

/// Allocations from this size up get pages of their own, given back to
/// the system when freed. glibc's threshold otherwise rises (up to 32 MiB)
/// each time such a block is freed, so the buffers of large answers (an
/// audit's JSON is megabytes) would stay in the heap once the answer is
/// sent. Trimming the heap after each answer instead (`malloc_trim`)
/// locks every arena while it walks them: every allocation of the process
/// waits, and a trace answered in 0.4 ms took 13 ms.
pub const MMAP_THRESHOLD: i32 = 1 << 20;

/// Bounds glibc's malloc arenas to [`MALLOC_ARENAS`] and fixes its mmap
/// threshold at [`MMAP_THRESHOLD`]; call it first in `main`, before any
/// thread starts. Not glibc: nothing to do.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn bound_malloc_arenas() {
    // SAFETY: mallopt takes two integers; called before other threads run.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn bound_malloc_arenas() {}
