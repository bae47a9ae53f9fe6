//! Retry safety of own-feed appends: a body identical to one of the feed's
//! recent events is the same act asked again (a client that retried after a
//! lost answer, a timeout, a `NotStored` whose outcome it could not see), so
//! the store answers with the original event instead of signing a second.
//!
//! The window is the feed's last [`WINDOW`] events, read back from the store
//! the first time a feed is written after opening, then kept up to date.

use std::collections::{HashMap, VecDeque};

use super::*;

/// How many of an own feed's latest events a retry is recognised against.
pub const WINDOW: usize = 65_536;

/// Digests of the bodies of an own feed's latest events.
#[derive(Default)]
pub(super) struct RecentBodies {
    by_body: HashMap<Digest, (EventId, u64)>,
    order: VecDeque<Digest>,
    /// The feed's head the window covers.
    head: u64,
}

pub(super) fn body_digest(body: &EventBody) -> Digest {
    crate::hash::sha256(&[b"kp-ledger:retry\0", &codec::encode(body)])
}

impl RecentBodies {
    pub(super) fn get(&self, d: &Digest) -> Option<(EventId, u64)> {
        self.by_body.get(d).copied()
    }

    pub(super) fn push(&mut self, d: Digest, id: EventId, seq: u64) {
        if self.by_body.insert(d, (id, seq)).is_none() {
            self.order.push_back(d);
        }
        self.head = self.head.max(seq);
        while self.order.len() > WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.by_body.remove(&old);
            }
        }
    }
}

impl Ledger {
    /// The recent bodies of an own feed, read back from the store if this
    /// feed has not been written since opening (or its head moved on
    /// without this store signing, e.g. a sync brought its own events back).
    pub(super) fn recent_bodies(&self, author: &AuthorId) -> Result<(), StoreError> {
        // The durable head as the last group commit left it (in memory:
        // asking the index would wait for the batches applied behind the
        // answers, and a window loaded once covers every later write).
        let durable = lock(&self.durable_feeds)
            .feeds
            .get(author)
            .map(|f| f.head_seq);
        let head = match durable {
            Some(h) => h,
            None => self.tree_size(author)?,
        };
        {
            let recent = lock(&self.recent);
            if recent.get(author).is_some_and(|r| r.head >= head) {
                return Ok(());
            }
        }
        let from = head.saturating_sub(WINDOW as u64) + 1;
        let mut r = RecentBodies::default();
        let mut seq = from;
        while seq <= head {
            let page = self.feed_range(author, seq, 4096)?;
            if page.is_empty() {
                break;
            }
            for ev in page {
                r.push(body_digest(&ev.content.body), ev.id(), ev.content.seq);
                seq = ev.content.seq + 1;
            }
        }
        r.head = r.head.max(head);
        lock(&self.recent).insert(author.clone(), r);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CountryCode;
    use crate::testkit::{sample_certificate, test_charter, test_key};

    #[test]
    fn a_retried_own_write_returns_the_original_event_even_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let c = test_charter(&["BW", "EU"]);
        let a = AuthorId::new("BW", "mme").unwrap();
        let key = test_key(&a);
        let body = |n| {
            EventBody::CertificateIssued(sample_certificate(
                a.participant,
                CountryCode::new("EU").unwrap(),
                n,
            ))
        };
        let first = {
            let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
            let first = l
                .append_own(&key, &a, vec![body(1), body(2)], 1_767_225_600_000)
                .unwrap();
            // The same call again, later: the same events, nothing signed.
            let again = l
                .append_own(&key, &a, vec![body(1), body(2)], 1_767_225_700_000)
                .unwrap();
            assert_eq!(again, first);
            assert_eq!(l.tree_size(&a).unwrap(), 2);
            first
        };
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        // After a restart, mixed with a new body, and repeated in one call.
        let out = l
            .append_own(&key, &a, vec![body(3), body(2), body(3)], 1_767_225_800_000)
            .unwrap();
        assert_eq!(out[1], first[1]);
        assert_eq!(out[0].1, 3);
        assert_eq!(out[2], out[0]);
        assert_eq!(l.tree_size(&a).unwrap(), 3);
    }
}
