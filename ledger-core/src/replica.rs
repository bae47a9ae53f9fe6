//! The one verifier of a replica's feeds, whatever holds them: a store's
//! log (`store::verify_log`, `kpl verify --data-dir`), a node's replica
//! downloaded page by page (`kpl verify` through [`verify_replica`]), or the
//! replay of a store's own log when it opens.
//!
//! A source feeds events and fork proofs into a [`ReplicaVerifier`] in its
//! own order, each feed's events in sequence order. The verifier holds the
//! charter, each feed's [`FeedState`], the [`GovernanceLog`] of the events
//! seen so far and the [`Timeline`] derived from it (rebuilt lazily, so that
//! an author admitted by a decision earlier in the stream has a feed), and
//! checks for each event:
//!
//! - its chain: network, sequence, link, role and body rules
//!   ([`FeedState::check_next_unsigned`]);
//! - its signature, strictly (RFC 8032), many at a time on every core
//!   ([`verify_strict_many`], batches of [`SIGNATURE_BATCH`]): unless the
//!   verifier was made with [`Signatures::Unchecked`], for a store replaying
//!   its own log, whose every event was verified before it was written;
//!
//! and for each fork proof, that it proves a fork
//! ([`ForkProof::verify_with`] with the genesis entry of an admitted author).
//!
//! **Every failure is recorded**, not only the first (the first
//! [`MAX_REPORTED_FAILURES`] in full, all of them counted), each with the
//! log offset (when there is one), author, seq, id and reason. After a
//! failure in a feed its later events cannot be chain-checked: the feed is
//! reported broken from that seq, its later events are skipped and counted
//! as unverified, and every other feed is verified to its end.
//!
//! A decision admits an author only once the signatures of the governance
//! events verified so far hold: the pending batch is verified before the
//! timeline is rebuilt, and an event whose signature fails is taken out of
//! the governance log again.
//!
//! Nothing here panics on any input.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ed25519_dalek::VerifyingKey;

use crate::bytes::Digest;
use crate::charter::Charter;
use crate::event::{verify_strict_many, EventId, SignedEvent};
use crate::feed::FeedState;
use crate::fork::ForkProof;
use crate::governance::{GovernanceLog, Timeline};
use crate::model::AuthorId;

/// Events whose signatures are verified together.
pub const SIGNATURE_BATCH: usize = 1024;
/// Failures kept in full in a report; the rest are only counted.
pub const MAX_REPORTED_FAILURES: usize = 1000;

/// Whether signatures are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// Every event's signature, strictly, in batches.
    Strict,
    /// None: for a store replaying its own log, whose events were verified
    /// before they were written (the chain is still checked).
    Unchecked,
}

/// One thing a verification found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyFailure {
    /// The log offset of the record, for a store's log; `None` for a
    /// downloaded replica, where the author and seq place it.
    pub offset: Option<u64>,
    pub author: Option<AuthorId>,
    pub seq: Option<u64>,
    pub id: Option<EventId>,
    pub reason: String,
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sep = "";
        if let Some(o) = self.offset {
            write!(f, "log offset {o}")?;
            sep = ", ";
        }
        match (&self.author, self.seq) {
            (Some(a), Some(s)) => write!(f, "{sep}{a} seq {s}")?,
            (Some(a), None) => write!(f, "{sep}{a}")?,
            _ => {
                if sep.is_empty() {
                    write!(f, "unplaced")?;
                }
            }
        }
        if let Some(id) = &self.id {
            write!(f, ", event {id}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A feed whose chain broke: nothing from `from_seq` on could be verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenFeed {
    pub author: AuthorId,
    /// The seq of the first event that failed (or could not be read).
    pub from_seq: u64,
    /// Later events of the feed that were skipped, unverified.
    pub unverified: u64,
}

/// What a verification found: counts, and every failure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events whose every check passed.
    pub events: u64,
    /// Events not checked because their feed broke at an earlier seq.
    pub unverified: u64,
    /// Feeds: every charter author's, and every admitted author's seen.
    pub feeds: u64,
    /// Fork proofs that verified.
    pub fork_proofs: u64,
    /// Bytes of log verified (0 for a downloaded replica).
    pub log_bytes: u64,
    /// The first [`MAX_REPORTED_FAILURES`] failures, in log order (by
    /// offset; a downloaded replica's by author and seq).
    pub failures: Vec<VerifyFailure>,
    /// Every failure, counted (may exceed `failures.len()`).
    pub failure_count: u64,
    /// Feeds broken by a failure, in author order.
    pub broken_feeds: Vec<BrokenFeed>,
}

impl VerifyReport {
    /// Whether everything verified.
    pub fn is_ok(&self) -> bool {
        self.failure_count == 0
    }

    /// The first failure (in log order), if any.
    pub fn failure(&self) -> Option<&VerifyFailure> {
        self.failures.first()
    }

    /// Records a failure found outside the verifier (e.g. the index
    /// disagreeing with the log), keeping the bound on the list.
    pub fn add_failure(&mut self, f: VerifyFailure) {
        self.failure_count += 1;
        if self.failures.len() < MAX_REPORTED_FAILURES {
            self.failures.push(f);
        }
    }
}

/// What became of one event fed to the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It chains onto its feed, which now ends with it (with
    /// [`Signatures::Strict`], its signature is checked with its batch).
    Chained(EventId),
    /// It failed (recorded); its feed is broken from its seq.
    Failed,
    /// Its feed broke at an earlier seq: not checked, counted unverified.
    Skipped,
}

/// An event waiting for its signature check.
struct Pending {
    offset: Option<u64>,
    id: EventId,
    event: SignedEvent,
    key: VerifyingKey,
}

/// The verifier. See the module documentation.
pub struct ReplicaVerifier {
    charter: Charter,
    network: Digest,
    signatures: Signatures,
    feeds: HashMap<AuthorId, FeedState>,
    broken: BTreeMap<AuthorId, BrokenFeed>,
    gov: GovernanceLog,
    timeline: Timeline,
    timeline_dirty: bool,
    pending: Vec<Pending>,
    report: VerifyReport,
}

impl ReplicaVerifier {
    /// A verifier of a whole replica, from every charter feed's genesis.
    pub fn new(charter: &Charter, signatures: Signatures) -> ReplicaVerifier {
        let feeds = crate::feed::genesis_feeds(charter)
            .into_iter()
            .map(|f| (f.author.clone(), f))
            .collect();
        ReplicaVerifier::resume(charter, signatures, feeds, GovernanceLog::new())
    }

    /// A verifier that goes on from known feed states and governance events
    /// (a store replaying the part of its log that its index does not
    /// cover yet). Charter feeds missing from `feeds` start at genesis.
    pub fn resume(
        charter: &Charter,
        signatures: Signatures,
        mut feeds: HashMap<AuthorId, FeedState>,
        gov: GovernanceLog,
    ) -> ReplicaVerifier {
        for (author, entry) in charter.authors() {
            feeds
                .entry(author.clone())
                .or_insert_with(|| FeedState::genesis(author, entry));
        }
        let report = VerifyReport {
            feeds: feeds.len() as u64,
            ..Default::default()
        };
        ReplicaVerifier {
            network: charter.network_id(),
            charter: charter.clone(),
            signatures,
            feeds,
            broken: BTreeMap::new(),
            timeline_dirty: !gov.is_empty(),
            timeline: Timeline::genesis(charter),
            gov,
            pending: Vec::new(),
            report,
        }
    }

    /// The charter verified against.
    pub fn charter(&self) -> &Charter {
        &self.charter
    }

    /// Checks `event`, found at `offset` (a log offset, or `None`), as the
    /// next event of its author's feed.
    pub fn event(&mut self, offset: Option<u64>, event: &SignedEvent) -> Verdict {
        let author = event.author();
        if let Some(b) = self.broken.get_mut(author) {
            b.unverified += 1;
            self.report.unverified += 1;
            return Verdict::Skipped;
        }
        let id = event.id();
        if !self.feeds.contains_key(author) {
            let entry = self.timeline().genesis_entry(author).cloned();
            match entry {
                Some(entry) => {
                    self.feeds
                        .insert(author.clone(), FeedState::genesis(author.clone(), &entry));
                    self.report.feeds += 1;
                }
                None => {
                    self.fail_event(
                        offset,
                        event,
                        id,
                        "author is neither in the charter nor admitted by a decision earlier in the replica"
                            .into(),
                    );
                    return Verdict::Failed;
                }
            }
        }
        let Some(feed) = self.feeds.get_mut(author) else {
            return Verdict::Failed;
        };
        if let Err(e) = feed.check_next_unsigned(&self.network, event) {
            self.fail_event(offset, event, id, e.to_string());
            return Verdict::Failed;
        }
        match self.signatures {
            Signatures::Strict => match feed.signing_key_for(event) {
                Ok(key) => {
                    feed.advance(event, id);
                    self.pending.push(Pending {
                        offset,
                        id,
                        event: event.clone(),
                        key,
                    });
                }
                Err(e) => {
                    self.fail_event(offset, event, id, e.to_string());
                    return Verdict::Failed;
                }
            },
            Signatures::Unchecked => {
                feed.advance(event, id);
                self.report.events += 1;
            }
        }
        if self.gov.insert(id, event) {
            self.timeline_dirty = true;
        }
        if self.pending.len() >= SIGNATURE_BATCH {
            self.flush();
        }
        Verdict::Chained(id)
    }

    /// Decodes and checks an encoded event. `expected`: the feed and seq
    /// the source says these bytes hold (a downloaded page); an event of
    /// another place is a failure of that place.
    pub fn event_bytes(
        &mut self,
        offset: Option<u64>,
        bytes: &[u8],
        expected: Option<(&AuthorId, u64)>,
    ) -> Verdict {
        if let Some((author, _)) = expected {
            if let Some(b) = self.broken.get_mut(author) {
                b.unverified += 1;
                self.report.unverified += 1;
                return Verdict::Skipped;
            }
        }
        let ev = match SignedEvent::decode(bytes) {
            Ok(ev) => ev,
            Err(e) => {
                let (author, seq) =
                    expected.map_or((None, None), |(a, s)| (Some(a.clone()), Some(s)));
                self.damaged(offset, author, seq, format!("event does not decode: {e}"));
                return Verdict::Failed;
            }
        };
        if let Some((author, seq)) = expected {
            if ev.author() != author || ev.seq() != seq {
                self.damaged(
                    offset,
                    Some(author.clone()),
                    Some(seq),
                    format!(
                        "the source served {} seq {} (event {}) in this place",
                        ev.author(),
                        ev.seq(),
                        ev.id()
                    ),
                );
                return Verdict::Failed;
            }
        }
        self.event(offset, &ev)
    }

    /// Checks a fork proof found at `offset`.
    pub fn fork_proof(&mut self, offset: Option<u64>, proof: &ForkProof) -> bool {
        let admitted = self.timeline().genesis_entry(proof.author()).cloned();
        match proof.verify_with(&self.charter, admitted.as_ref()) {
            Ok(()) => {
                self.report.fork_proofs += 1;
                true
            }
            Err(e) => {
                self.push(VerifyFailure {
                    offset,
                    author: Some(proof.author().clone()),
                    seq: Some(proof.seq()),
                    id: None,
                    reason: format!("fork proof does not verify: {e}"),
                });
                false
            }
        }
    }

    /// Decodes and checks an encoded fork proof.
    pub fn fork_proof_bytes(&mut self, offset: Option<u64>, bytes: &[u8]) -> bool {
        match ForkProof::decode(bytes) {
            Ok(p) => self.fork_proof(offset, &p),
            Err(e) => {
                self.push(VerifyFailure {
                    offset,
                    author: None,
                    seq: None,
                    id: None,
                    reason: format!("fork proof does not decode: {e}"),
                });
                false
            }
        }
    }

    /// Records something the source could not read (a damaged record, a
    /// page that is not what it should be). When the author and seq are
    /// known, that feed is broken from `seq`.
    pub fn damaged(
        &mut self,
        offset: Option<u64>,
        author: Option<AuthorId>,
        seq: Option<u64>,
        reason: String,
    ) {
        if let (Some(a), Some(s)) = (&author, seq) {
            self.break_feed(a, s);
        }
        self.push(VerifyFailure {
            offset,
            author,
            seq,
            id: None,
            reason,
        });
    }

    /// Counts `n` events of a broken feed that the source did not feed at
    /// all (it stopped fetching them), as unverified.
    pub fn skipped(&mut self, author: &AuthorId, n: u64) {
        if let Some(b) = self.broken.get_mut(author) {
            b.unverified += n;
        }
        self.report.unverified += n;
    }

    /// Verifies the signatures of every event fed so far.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let items: Vec<(&SignedEvent, VerifyingKey)> =
            pending.iter().map(|p| (&p.event, p.key)).collect();
        let verdicts = verify_strict_many(&items);
        drop(items);
        for (i, p) in pending.into_iter().enumerate() {
            let ok = verdicts.get(i).copied().unwrap_or(false);
            let author = p.event.author();
            if let Some(b) = self.broken.get_mut(author) {
                if p.event.seq() > b.from_seq {
                    // Chained onto an event that failed since.
                    b.unverified += 1;
                    self.report.unverified += 1;
                    self.gov.remove(&p.id);
                    self.timeline_dirty = true;
                    continue;
                }
            }
            if ok {
                self.report.events += 1;
            } else {
                self.gov.remove(&p.id);
                self.timeline_dirty = true;
                self.break_feed(author, p.event.seq());
                self.push(VerifyFailure {
                    offset: p.offset,
                    author: Some(author.clone()),
                    seq: Some(p.event.seq()),
                    id: Some(p.id),
                    reason: "signature does not verify with the author's key".into(),
                });
            }
        }
    }

    /// The membership timeline of the governance events verified so far
    /// (pending signatures are checked first).
    pub fn timeline(&mut self) -> &Timeline {
        if self.timeline_dirty {
            self.flush();
            self.timeline = Timeline::build(&self.charter, &self.gov);
            self.timeline_dirty = false;
        }
        &self.timeline
    }

    /// Every author with a feed: the charter's, and those admitted by the
    /// decisions verified so far, in order.
    pub fn authors(&mut self) -> Vec<AuthorId> {
        let mut out: BTreeSet<AuthorId> = self.feeds.keys().cloned().collect();
        out.extend(self.timeline().authors().map(|(a, _)| a.clone()));
        out.into_iter().collect()
    }

    /// The state of one feed, as far as it chained.
    pub fn feed(&self, author: &AuthorId) -> Option<&FeedState> {
        self.feeds.get(author)
    }

    /// Every feed's state, as far as it chained. With
    /// [`Signatures::Strict`], a feed's state is trustworthy only if it is
    /// not broken once the verifier is flushed.
    pub fn feeds(&self) -> &HashMap<AuthorId, FeedState> {
        &self.feeds
    }

    /// The governance events that chained (and, flushed, whose signatures hold).
    pub fn governance(&self) -> &GovernanceLog {
        &self.gov
    }

    /// The seq a feed broke at, if it did.
    pub fn broken_from(&self, author: &AuthorId) -> Option<u64> {
        self.broken.get(author).map(|b| b.from_seq)
    }

    /// Failures so far (signatures still pending not included).
    pub fn failure_count(&self) -> u64 {
        self.report.failure_count
    }

    /// The last failure recorded (within the bound of the list).
    pub fn last_failure(&self) -> Option<&VerifyFailure> {
        self.report.failures.last()
    }

    /// The feed states, governance log and timeline, for a store that
    /// replayed its log (and did not need the report).
    pub fn into_parts(mut self) -> (HashMap<AuthorId, FeedState>, GovernanceLog, Timeline) {
        self.flush();
        self.timeline();
        (self.feeds, self.gov, self.timeline)
    }

    /// Verifies what is pending and reports.
    pub fn finish(mut self) -> VerifyReport {
        self.flush();
        let mut r = self.report;
        r.failures.sort_by(|a, b| {
            (a.offset, &a.author, a.seq, &a.reason).cmp(&(b.offset, &b.author, b.seq, &b.reason))
        });
        r.broken_feeds = self.broken.into_values().collect();
        r
    }

    fn break_feed(&mut self, author: &AuthorId, seq: u64) {
        let b = self.broken.entry(author.clone()).or_insert(BrokenFeed {
            author: author.clone(),
            from_seq: seq,
            unverified: 0,
        });
        b.from_seq = b.from_seq.min(seq);
    }

    fn fail_event(
        &mut self,
        offset: Option<u64>,
        event: &SignedEvent,
        id: EventId,
        reason: String,
    ) {
        self.break_feed(event.author(), event.seq());
        self.push(VerifyFailure {
            offset,
            author: Some(event.author().clone()),
            seq: Some(event.seq()),
            id: Some(id),
            reason,
        });
    }

    fn push(&mut self, f: VerifyFailure) {
        self.report.add_failure(f);
    }
}

/// A feed's head as a source announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnouncedHead {
    /// As the source spells it (it may not even be an author id).
    pub author: String,
    pub seq: u64,
    /// The head event's id in hex, as announced.
    pub id: Option<String>,
}

/// A replica held elsewhere, read page by page (a node's HTTP API). A
/// transport error (`Self::Error`) ends the verification; what the source
/// serves wrongly is a failure of the replica.
pub trait ReplicaSource {
    type Error;
    /// Every feed the source holds, with its head.
    fn heads(&mut self) -> Result<Vec<AnnouncedHead>, Self::Error>;
    /// Encoded events of `author`'s feed from `from_seq` on, in order, as
    /// many as the source serves at once (none past the end). An item that
    /// is not bytes at all (e.g. not hex) is `Err(reason)`.
    fn feed_page(
        &mut self,
        author: &AuthorId,
        from_seq: u64,
    ) -> Result<Vec<Result<Vec<u8>, String>>, Self::Error>;
    /// Every encoded fork proof the source holds.
    fn fork_proofs(&mut self) -> Result<Vec<Result<Vec<u8>, String>>, Self::Error>;
}

/// Verifies a whole replica read from `source`, trusting nothing it says:
/// the charter's feeds first, then every feed that the decisions verified
/// so far admit, each from seq 1 to the head the source announces (which
/// must be the head of what it serves); then its fork proofs. A feed that
/// the source announces but that neither the charter nor a verified
/// decision admits is a failure. `progress(events_read, events_announced)`.
pub fn verify_replica<S: ReplicaSource>(
    charter: &Charter,
    source: &mut S,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, S::Error> {
    let heads = source.heads()?;
    let announced: BTreeMap<&str, &AnnouncedHead> =
        heads.iter().map(|h| (h.author.as_str(), h)).collect();
    let total: u64 = heads.iter().fold(0u64, |t, h| t.saturating_add(h.seq));
    let mut v = ReplicaVerifier::new(charter, Signatures::Strict);
    let mut done: BTreeSet<AuthorId> = BTreeSet::new();
    let mut read = 0u64;
    loop {
        let todo: Vec<AuthorId> = v
            .authors()
            .into_iter()
            .filter(|a| !done.contains(a))
            .collect();
        if todo.is_empty() {
            break;
        }
        for author in todo {
            done.insert(author.clone());
            let name = author.to_string();
            let (head, head_id) = announced
                .get(name.as_str())
                .map_or((0, None), |h| (h.seq, h.id.clone()));
            let mut next = 1u64;
            while next <= head && v.broken_from(&author).is_none() {
                let page = source.feed_page(&author, next)?;
                if page.is_empty() {
                    v.damaged(
                        None,
                        Some(author.clone()),
                        Some(next),
                        format!(
                            "the source announces {head} events but serves only {}",
                            next - 1
                        ),
                    );
                    break;
                }
                for item in page {
                    match item {
                        Ok(bytes) => {
                            v.event_bytes(None, &bytes, Some((&author, next)));
                        }
                        Err(reason) => {
                            v.damaged(None, Some(author.clone()), Some(next), reason);
                        }
                    }
                    next += 1;
                    read += 1;
                }
                progress(read, total);
            }
            if v.broken_from(&author).is_some() {
                if next <= head {
                    // Not fetched: nothing after the break can be verified.
                    v.skipped(&author, head - next + 1);
                }
                continue;
            }
            let ours = v.feed(&author).map(|f| (f.head_seq, f.head_id));
            let (seq, id) = ours.unwrap_or((0, None));
            if seq != head || id.map(|d| d.to_hex()) != head_id {
                v.damaged(
                    None,
                    Some(author.clone()),
                    Some(head),
                    format!(
                        "the head the source announces (seq {head}) is not the head of the feed it serves (seq {seq})"
                    ),
                );
            }
        }
    }
    for h in &heads {
        if h.seq == 0 || done.iter().any(|d| d.to_string() == h.author) {
            continue;
        }
        let author: Option<AuthorId> = h.author.parse().ok();
        v.damaged(
            None,
            author.clone(),
            Some(1),
            format!(
                "the source serves a feed of {} ({} events) that neither the charter nor any verified decision admits",
                h.author, h.seq
            ),
        );
        match &author {
            Some(a) => v.skipped(a, h.seq),
            None => v.report.unverified += h.seq,
        }
    }
    for item in source.fork_proofs()? {
        match item {
            Ok(bytes) => {
                v.fork_proof_bytes(None, &bytes);
            }
            Err(reason) => v.damaged(None, None, None, format!("fork proof: {reason}")),
        }
    }
    progress(read, total);
    Ok(v.finish())
}
