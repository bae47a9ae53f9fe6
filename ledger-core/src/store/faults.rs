//! Injected I/O failures at the store's write sites, for the store's own
//! unit tests only (compiled out of every other build): a real full disk is
//! tested on a small tmpfs, but an `EIO` from `fdatasync` or a failing index
//! cannot be produced on demand without a device of one's own.

/// Where a write can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Site {
    /// The log's `fdatasync` of a group commit.
    LogSync,
    /// The index batch of a group commit.
    Index,
    /// The authoring record's write.
    Authoring,
}

#[cfg(test)]
#[allow(clippy::items_after_test_module)]
mod inject {
    use super::Site;
    use std::cell::RefCell;

    thread_local! {
        static FAIL: RefCell<Vec<(Site, i32)>> = const { RefCell::new(Vec::new()) };
    }

    /// Makes the next operation at `site` on this thread fail with `errno`.
    pub(crate) fn fail_next(site: Site, errno: i32) {
        FAIL.with(|f| f.borrow_mut().push((site, errno)));
    }

    pub(crate) fn check(site: Site) -> std::io::Result<()> {
        FAIL.with(|f| {
            let mut f = f.borrow_mut();
            match f.iter().position(|(s, _)| *s == site) {
                Some(i) => Err(std::io::Error::from_raw_os_error(f.remove(i).1)),
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
pub(crate) use inject::{check, fail_next};

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn check(_site: Site) -> std::io::Result<()> {
    Ok(())
}
