//! Whole-log verification: every record, chain link, signature and fork
//! proof, through the one replica verifier ([`crate::replica`]).

use super::*;
use crate::replica::{ReplicaVerifier, Signatures};

impl Ledger {
    /// Re-checks the whole store from the log, the source of truth, with
    /// [`verify_log`]; then, if every record verified, that the index
    /// agrees with the log. `progress(done_bytes, total_bytes)` is called as it goes.
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
        let mut report = verify_log(&self.log_path, &self.charter, synced, progress)?;
        if !report.is_ok() {
            return Ok(report);
        }
        // The index must agree with the log.
        let total: u64 = heads.iter().map(|h| h.seq).sum();
        if total != report.events {
            report.add_failure(VerifyFailure {
                offset: None,
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
/// charter, and changing nothing. `upto`: verify records before this offset
/// only (`u64::MAX`: all). Every record is fed to a [`ReplicaVerifier`]:
/// every failure is reported (damaged bytes, with the author and seq of the
/// event they held where they can still be read; records that do not
/// decode; broken chains; bad signatures; fork proofs that do not verify),
/// not only the first, and a feed broken at one event does not keep the
/// others from being verified to their end.
pub fn verify_log(
    log_path: &Path,
    charter: &Charter,
    upto: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let network = charter.network_id();
    let log = LogFile::open_read_only(log_path)?;
    let found = log_network(log_path)?;
    if found != network {
        return Err(StoreError::WrongNetwork {
            expected: network,
            found,
        });
    }
    let total = log.end.min(upto);
    let reader = log.reader()?;
    let mut v = ReplicaVerifier::new(charter, Signatures::Strict);
    let mut last_report = 0u64;
    log.scan_all(HEADER_LEN, |item| {
        let rec = match item {
            LogItem::Damage(d) => {
                if d.offset < total {
                    let (author, seq) = recovery::read_place(&reader, d.offset, d.to);
                    v.damaged(
                        Some(d.offset),
                        author,
                        seq,
                        format!(
                            "{} (bytes {}..{}): the stored bytes were changed",
                            d.reason, d.offset, d.to
                        ),
                    );
                }
                return Ok(());
            }
            LogItem::Record(rec) => rec,
        };
        if rec.offset >= total {
            return Ok(());
        }
        if rec.offset - last_report > (4 << 20) {
            progress(rec.offset, total);
            last_report = rec.offset;
        }
        let at = Some(rec.offset);
        match rec.kind {
            KIND_EVENT => match SignedEvent::decode(&rec.payload) {
                Ok(ev) => {
                    v.event(at, &ev);
                }
                Err(e) => {
                    let (author, seq) = recovery::place_at_fixed_offsets(&rec.payload);
                    v.damaged(
                        at,
                        author,
                        seq,
                        format!("the record's checksum holds but the event does not decode: {e}"),
                    );
                }
            },
            KIND_FORK_PROOF => {
                v.fork_proof_bytes(at, &rec.payload);
            }
            KIND_SYNCED => {
                if synced_mark(&rec.payload).is_none_or(|m| m > rec.offset) {
                    v.damaged(
                        at,
                        None,
                        None,
                        "a synced mark names an offset past itself".into(),
                    );
                }
            }
            k => v.damaged(at, None, None, format!("unknown record kind {k}")),
        }
        Ok(())
    })?;
    let mut report = v.finish();
    report.log_bytes = total;
    progress(total, total);
    Ok(report)
}

/// The network id a log's header names (the header already checked by
/// [`LogFile::open_read_only`]), refusing a format version this build
/// does not read.
fn log_network(log_path: &Path) -> Result<Digest, StoreError> {
    use std::io::Read;
    let mut h = [0u8; HEADER_LEN as usize];
    std::fs::File::open(log_path)
        .and_then(|mut f| f.read_exact(&mut h))
        .map_err(|e| io_err(log_path, e))?;
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version != STORE_VERSION && version != 1 {
        return Err(StoreError::UnsupportedStoreVersion {
            found: version,
            supported: STORE_VERSION,
        });
    }
    let mut net = [0u8; 32];
    net.copy_from_slice(&h[12..44]);
    Ok(crate::bytes::FixedBytes(net))
}
