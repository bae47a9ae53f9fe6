//! Whether an author's clock is plausible, judged from the ledger's own data
//! (this crate has no clock: the caller passes "now").
//!
//! A feed's timestamps never go back (an event is dated at least as late as
//! its predecessor), so one event signed while the clock was far ahead
//! would date every later event of the feed at least as late, for good. The
//! author's node therefore refuses to sign when its clock is implausible
//! (`docs/FORMAT.md` §6, "Clocks"):
//!
//! - before the network's genesis (the charter's `created_on`);
//! - more than [`MAX_BEHIND_MS`] before the feed's own last event;
//! - more than [`MAX_AHEAD_MS`] after the latest event of every *other*
//!   feed (not checked while no other feed has an event).
//!
//! The audit flags an event already in the ledger that is more than
//! [`MAX_AHEAD_MS`] after every other feed's latest event
//! (`timestamp_future`).

use thiserror::Error;

use crate::model::Date;

/// How far an author's clock may be ahead of the latest event of every other
/// feed: a year (366 days). Far more than any clock error, and more than a
/// network's participants go without an event (feeds are sparse: a
/// participant may confirm its first import of the year months after the
/// others' last events); a jump of years, the one that dates a feed ahead
/// for good, is refused.
pub const MAX_AHEAD_MS: u64 = 366 * 86_400_000;

/// How far an author's clock may be behind its own feed's last event before
/// signing is refused (a smaller step back is absorbed: the event is dated
/// at its predecessor's time).
pub const MAX_BEHIND_MS: u64 = 10 * 60_000;

const DAY_MS: u64 = 86_400_000;

/// What the ledger holds to judge a clock by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockReference {
    /// The first millisecond of the charter's `created_on` day.
    pub genesis_ms: u64,
    /// The timestamp of the author's own last event, if any.
    pub own_last_ms: Option<u64>,
    /// The latest timestamp of any event of any other feed, if any.
    pub others_latest_ms: Option<u64>,
}

impl ClockReference {
    /// The first millisecond of `day` (0 before 1970).
    pub fn day_start_ms(day: Date) -> u64 {
        u64::try_from(day.days()).map_or(0, |d| d * DAY_MS)
    }
}

/// Why a clock is implausible. Each message names the problem and the fix.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClockError {
    #[error("this node's clock says {now}, before the network's genesis on {genesis}: check the system clock (and any test clock offset)")]
    BeforeGenesis { now: String, genesis: String },
    #[error("this node's clock says {now}, {behind_ms} ms before this feed's last event ({last}): check the system clock")]
    BehindOwnFeed {
        now: String,
        last: String,
        behind_ms: u64,
    },
    #[error("this node's clock says {now}, {ahead_days} days after the latest event of any other feed ({latest}); an event signed now would date this feed ahead for good: check the system clock")]
    FarAhead {
        now: String,
        latest: String,
        ahead_days: u64,
    },
}

fn show(ms: u64) -> String {
    let day = Date::from_unix_ms(ms);
    let in_day = ms % DAY_MS;
    format!(
        "{day} {:02}:{:02}:{:02} UTC",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60
    )
}

/// Checks `now_ms` (the author's clock) against what the ledger holds.
pub fn check(now_ms: u64, r: &ClockReference) -> Result<(), ClockError> {
    if now_ms < r.genesis_ms {
        return Err(ClockError::BeforeGenesis {
            now: show(now_ms),
            genesis: Date::from_unix_ms(r.genesis_ms).to_string(),
        });
    }
    if let Some(last) = r.own_last_ms {
        if now_ms.saturating_add(MAX_BEHIND_MS) < last {
            return Err(ClockError::BehindOwnFeed {
                now: show(now_ms),
                last: show(last),
                behind_ms: last - now_ms,
            });
        }
    }
    if let Some(latest) = r.others_latest_ms {
        if now_ms > latest.saturating_add(MAX_AHEAD_MS) {
            return Err(ClockError::FarAhead {
                now: show(now_ms),
                latest: show(latest),
                ahead_days: (now_ms - latest) / DAY_MS,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_780_000_000_000; // 2026-05-28

    fn r(own: Option<u64>, others: Option<u64>) -> ClockReference {
        ClockReference {
            genesis_ms: ClockReference::day_start_ms(Date::from_ymd(2026, 1, 1).unwrap()),
            own_last_ms: own,
            others_latest_ms: others,
        }
    }

    #[test]
    fn a_plausible_clock_passes() {
        check(T, &r(None, None)).unwrap();
        check(T, &r(Some(T - 1000), Some(T - DAY_MS))).unwrap();
        // A small step back is absorbed by the feed rule.
        check(T, &r(Some(T + 60_000), Some(T))).unwrap();
        // A quiet network: up to MAX_AHEAD_MS after the others.
        check(T + MAX_AHEAD_MS, &r(None, Some(T))).unwrap();
    }

    #[test]
    fn a_clock_far_ahead_of_the_other_feeds_is_refused() {
        let ten_years = 10 * 365 * DAY_MS;
        let e = check(T + ten_years, &r(Some(T), Some(T))).unwrap_err();
        assert!(
            matches!(
                e,
                ClockError::FarAhead {
                    ahead_days: 3650,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("check the system clock"), "{e}");
    }

    #[test]
    fn a_clock_before_genesis_or_far_behind_the_feed_is_refused() {
        let e = check(0, &r(None, None)).unwrap_err();
        assert!(matches!(e, ClockError::BeforeGenesis { .. }), "{e}");
        assert!(e.to_string().contains("1970-01-01"), "{e}");
        let e = check(T, &r(Some(T + MAX_BEHIND_MS + 1), None)).unwrap_err();
        assert!(matches!(e, ClockError::BehindOwnFeed { .. }), "{e}");
    }
}
