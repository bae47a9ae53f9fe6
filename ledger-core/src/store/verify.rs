//! Whole-log verification: every record, chain link, signature and fork proof.

use super::*;

impl Ledger {
    /// Re-checks the whole store from the log, the source of truth: every
    /// record's checksum, every event's encoding, chain link and signature
    /// (in batches), every fork proof; then that the index agrees with the
    /// log. `progress(done_bytes, total_bytes)` is called as it goes.
    pub fn verify(&self, progress: impl FnMut(u64, u64)) -> Result<VerifyReport, StoreError> {
        // Read the durable offset and the index's heads together, with no
        // group commit in progress (a commit indexes before it advances
        // `synced`) and none able to start (that takes the commit lock): so
        // the heads are exactly those of the log up to `synced`, whatever is
        // appended while the log is being checked.
        let (synced, heads) = {
            let mut c = lock(&self.commit);
            for _ in 0..1_000_000 {
                if !c.leader {
                    break;
                }
                c = self.committed.wait(c).unwrap_or_else(|p| p.into_inner());
            }
            (c.synced, self.heads()?)
        };
        let report = verify_log(&self.log_path, &self.charter, synced, progress)?;
        if report.failure.is_some() {
            return Ok(report);
        }
        let mut report = report;
        // The index must agree with the log.
        let total: u64 = heads.iter().map(|h| h.seq).sum();
        if total != report.events {
            report.failure = Some(VerifyFailure {
                offset: 0,
                author: None,
                seq: None,
                id: None,
                reason: format!(
                    "the index counts {total} events but the log holds {}; remove DIR/index to rebuild it",
                    report.events
                ),
            });
        }
        Ok(report)
    }
}

/// Verifies a store's log offline, reading nothing but the log and the
/// charter. `upto`: verify records before this offset only (`u64::MAX`: all).
pub fn verify_log(
    log_path: &Path,
    charter: &Charter,
    upto: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let network = charter.network_id();
    let (log, found) = LogFile::open(log_path)?;
    if found != network {
        return Err(StoreError::WrongNetwork {
            expected: network,
            found,
        });
    }
    let total = log.end.min(upto);
    let mut feeds: HashMap<AuthorId, FeedState> = crate::feed::genesis_feeds(charter)
        .into_iter()
        .map(|f| (f.author.clone(), f))
        .collect();
    let mut gov = GovernanceLog::new();
    let mut timeline = Timeline::genesis(charter);
    let mut timeline_dirty = false;
    let mut report = VerifyReport {
        feeds: feeds.len() as u64,
        log_bytes: total,
        ..Default::default()
    };
    // Signatures are checked strictly, many at a time on every core; a
    // batch holds (offset, event, key).
    let mut batch: Vec<(u64, SignedEvent, ed25519_dalek::VerifyingKey)> = Vec::new();
    let mut failure: Option<VerifyFailure> = None;
    const BATCH: usize = 1024;

    fn flush_batch(
        batch: &mut Vec<(u64, SignedEvent, ed25519_dalek::VerifyingKey)>,
        failure: &mut Option<VerifyFailure>,
    ) {
        if batch.is_empty() || failure.is_some() {
            batch.clear();
            return;
        }
        let items: Vec<(&SignedEvent, ed25519_dalek::VerifyingKey)> =
            batch.iter().map(|(_, e, k)| (e, *k)).collect();
        let verdicts = verify_strict_many(&items);
        if verdicts.iter().any(|ok| !ok) {
            for ((off, e, _), ok) in batch.iter().zip(verdicts) {
                if !ok {
                    *failure = Some(VerifyFailure {
                        offset: *off,
                        author: Some(e.author().clone()),
                        seq: Some(e.seq()),
                        id: Some(e.id()),
                        reason: "signature does not verify with the author's key".into(),
                    });
                    break;
                }
            }
        }
        batch.clear();
    }

    let mut last_report = 0u64;
    let end = log.scan(HEADER_LEN, |rec| {
        if failure.is_some() || rec.offset >= total {
            return Ok(());
        }
        if rec.offset - last_report > (4 << 20) {
            progress(rec.offset, total);
            last_report = rec.offset;
        }
        match rec.kind {
            KIND_EVENT => {
                let ev = match SignedEvent::decode(&rec.payload) {
                    Ok(ev) => ev,
                    Err(e) => {
                        failure = Some(VerifyFailure {
                            offset: rec.offset,
                            author: None,
                            seq: None,
                            id: None,
                            reason: format!("event does not decode: {e}"),
                        });
                        return Ok(());
                    }
                };
                let id = ev.id();
                let fail = |reason: String| VerifyFailure {
                    offset: rec.offset,
                    author: Some(ev.author().clone()),
                    seq: Some(ev.seq()),
                    id: Some(id),
                    reason,
                };
                if !feeds.contains_key(ev.author()) {
                    if timeline_dirty {
                        timeline = Timeline::build(charter, &gov);
                        timeline_dirty = false;
                    }
                    match timeline.genesis_entry(ev.author()) {
                        Some(entry) => {
                            feeds.insert(
                                ev.author().clone(),
                                FeedState::genesis(ev.author().clone(), entry),
                            );
                            report.feeds += 1;
                        }
                        None => {
                            failure = Some(fail(
                                "author is neither in the charter nor admitted by a decision \
                                 earlier in the log"
                                    .into(),
                            ));
                            return Ok(());
                        }
                    }
                }
                let Some(feed) = feeds.get_mut(ev.author()) else {
                    return Ok(());
                };
                if let Err(e) = feed.check_next_unsigned(&network, &ev) {
                    failure = Some(fail(e.to_string()));
                    return Ok(());
                }
                match feed.signing_key_for(&ev) {
                    Ok(k) => batch.push((rec.offset, ev.clone(), k)),
                    Err(e) => {
                        failure = Some(fail(e.to_string()));
                        return Ok(());
                    }
                }
                feed.advance(&ev, id);
                if gov.insert(id, &ev) {
                    timeline_dirty = true;
                }
                report.events += 1;
                if batch.len() >= BATCH {
                    flush_batch(&mut batch, &mut failure);
                }
            }
            KIND_FORK_PROOF => match ForkProof::decode(&rec.payload) {
                Ok(p) => {
                    if timeline_dirty {
                        timeline = Timeline::build(charter, &gov);
                        timeline_dirty = false;
                    }
                    if let Err(e) = p.verify_with(charter, timeline.genesis_entry(p.author())) {
                        failure = Some(VerifyFailure {
                            offset: rec.offset,
                            author: Some(p.author().clone()),
                            seq: Some(p.seq()),
                            id: None,
                            reason: format!("fork proof does not verify: {e}"),
                        });
                    }
                    report.fork_proofs += 1;
                }
                Err(e) => {
                    failure = Some(VerifyFailure {
                        offset: rec.offset,
                        author: None,
                        seq: None,
                        id: None,
                        reason: format!("fork proof does not decode: {e}"),
                    })
                }
            },
            k => {
                failure = Some(VerifyFailure {
                    offset: rec.offset,
                    author: None,
                    seq: None,
                    id: None,
                    reason: format!("unknown record kind {k}"),
                })
            }
        }
        Ok(())
    })?;
    flush_batch(&mut batch, &mut failure);
    if failure.is_none() {
        if let ScanEnd::TornTail { offset, reason } = end {
            if offset < total {
                // Try to name the event whose bytes were damaged.
                failure = Some(describe_damage(log_path, offset, reason));
            }
        }
    }
    progress(total, total);
    report.failure = failure;
    Ok(report)
}

pub(super) fn describe_damage(log_path: &Path, offset: u64, reason: String) -> VerifyFailure {
    let mut f = VerifyFailure {
        offset,
        author: None,
        seq: None,
        id: None,
        reason: format!("{reason}: the stored bytes were changed"),
    };
    if let Ok(bytes) = std::fs::read(log_path) {
        let start = offset as usize + 9;
        if let Some(len) = bytes
            .get(offset as usize..offset as usize + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        {
            if let Some(payload) =
                bytes.get(start..(start + len.saturating_sub(1)).min(bytes.len()))
            {
                if let Ok(ev) = SignedEvent::decode(payload) {
                    f.author = Some(ev.author().clone());
                    f.seq = Some(ev.seq());
                } else if payload.len() > 60 {
                    // The author and seq sit at fixed places in the encoding
                    // (after version and network id); report them when the
                    // damage is elsewhere.
                    let code = &payload[33..35];
                    if code.iter().all(u8::is_ascii_uppercase) {
                        let n = payload[35] as usize;
                        let name_end = 43 + n;
                        if let (Some(name), Some(seq)) = (
                            payload.get(43..name_end),
                            payload.get(name_end..name_end + 8),
                        ) {
                            if let (Ok(name), Ok(p)) =
                                (std::str::from_utf8(name), std::str::from_utf8(code))
                            {
                                if let Ok(a) = AuthorId::new(p, name) {
                                    f.author = Some(a);
                                    let mut s = [0u8; 8];
                                    s.copy_from_slice(seq);
                                    f.seq = Some(u64::from_le_bytes(s));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    f
}
