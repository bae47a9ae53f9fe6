//! The node service: glue between the store (`ledger_core::Ledger`), the
//! network layer ([`crate::net`]) and the API. Everything from the network
//! is appended through the store's validation; only what the store accepted
//! is forwarded.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ledger_core::error::{EventError, StoreError};
use ledger_core::keys::{KeyFile, KeyOwner};
use ledger_core::precheck::{self, Precheck, Refusal};
use ledger_core::store::{AppendOutcome, Ledger, VerifiedBatch};
use ledger_core::{
    AuthorId, AuthorityKey, Date, EventBody, EventId, ForkProof, ObserverId, SignedEvent,
};
use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::{debug, info, warn};

use crate::checkpoints::{self, Actions, Checkpoints, Me, Verdict};
use crate::metrics::Metrics;
use crate::net::{FeedHeadWire, NetEvent, NetworkHandle, PeerId, SyncSource, Validation};

/// Who this node signs as.
pub enum Identity {
    /// A participant authority: may write.
    Authority {
        author: AuthorId,
        key: Box<Mutex<KeyFile>>,
        key_path: PathBuf,
    },
    /// An observer: read-only (its key only cosigns checkpoints).
    Observer { id: ObserverId, key: AuthorityKey },
}

impl Identity {
    pub fn from_key_file(kf: KeyFile, key_path: PathBuf) -> Result<Identity, String> {
        match kf.owner.clone() {
            KeyOwner::Authority(author) => Ok(Identity::Authority {
                author,
                key: Box::new(Mutex::new(kf)),
                key_path,
            }),
            KeyOwner::Observer(id) => Ok(Identity::Observer { key: kf.key(), id }),
            KeyOwner::Unassigned => Err(format!(
                "{}: the key is not assigned to an authority or observer (make it with `kpl keygen --author CC/name` or `--observer id`)",
                key_path.display()
            )),
        }
    }

    /// Who this node is as a witness.
    pub fn me(&self) -> Me {
        match self {
            Identity::Authority { author, .. } => Me::Authority(author.clone()),
            Identity::Observer { id, .. } => Me::Observer(id.clone()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Identity::Authority { author, .. } => format!("participant authority {author}"),
            Identity::Observer { id, .. } => format!("observer {id}"),
        }
    }
}

/// Analysis answers (audit, statistics, trace) computed at once, each on
/// the blocking pool, never on the async runtime.
pub const ANALYSIS_CONCURRENCY: usize = 2;
/// Analysis requests that may wait for one of those: one more is answered
/// `503` rather than queued.
pub const ANALYSIS_MAX_WAITING: usize = 16;
/// Analysis requests one client address may have computed or waiting at
/// once: one more is answered `429`, so one client cannot take every place
/// in the queue.
pub const ANALYSIS_PER_CLIENT: usize = 4;

/// The node's one analysis view of its replica, kept up to date by
/// applying the events stored since it was last brought up to date (a
/// rebuild only when a governance event or the like needs one), and the
/// bound on analysis work.
pub struct Analysis {
    /// Held by whoever brings the view up to date: one build or update at
    /// a time, and whoever comes meanwhile waits for it and then finds the
    /// view fresh (it never builds a copy of its own).
    updating: std::sync::Mutex<()>,
    view: std::sync::RwLock<Option<ledger_core::analysis::LedgerView>>,
    /// Permits to compute an analysis answer.
    pub permits: Arc<tokio::sync::Semaphore>,
    /// Requests waiting for a permit.
    pub waiting: std::sync::atomic::AtomicUsize,
    /// Requests computed or waiting, per client address.
    per_client: Arc<std::sync::Mutex<HashMap<std::net::IpAddr, usize>>>,
}

/// Why an analysis request was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum NotAdmitted {
    /// [`ANALYSIS_MAX_WAITING`] requests already wait.
    Busy,
    /// This client already has [`ANALYSIS_PER_CLIENT`] requests in.
    ClientLimit,
}

/// A client's place among the analysis requests; freed when dropped.
pub struct ClientSlot {
    map: Arc<std::sync::Mutex<HashMap<std::net::IpAddr, usize>>>,
    ip: std::net::IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Admission to compute one analysis answer: the permit and the client's
/// slot, both released when dropped.
pub struct Admitted {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _slot: ClientSlot,
}

impl Default for Analysis {
    fn default() -> Analysis {
        Analysis {
            updating: std::sync::Mutex::new(()),
            view: std::sync::RwLock::new(None),
            permits: Arc::new(tokio::sync::Semaphore::new(ANALYSIS_CONCURRENCY)),
            waiting: Default::default(),
            per_client: Default::default(),
        }
    }
}

/// Decrements the count of waiting analysis requests when dropped (also
/// when the request is cancelled while it waits).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Analysis {
    /// A permit to compute one analysis answer: at once when fewer than
    /// [`ANALYSIS_CONCURRENCY`] are being computed, else after waiting for
    /// one; `None` (answer `503`) when [`ANALYSIS_MAX_WAITING`] requests
    /// already wait.
    /// Admission for a request of client `ip`: refused at once when that
    /// client already has [`ANALYSIS_PER_CLIENT`] requests in, else as
    /// [`Analysis::admit`].
    pub async fn admit_client(&self, ip: std::net::IpAddr) -> Result<Admitted, NotAdmitted> {
        let slot = {
            let mut m = self.per_client.lock().unwrap_or_else(|p| p.into_inner());
            let n = m.entry(ip).or_insert(0);
            if *n >= ANALYSIS_PER_CLIENT {
                return Err(NotAdmitted::ClientLimit);
            }
            *n += 1;
            ClientSlot {
                map: self.per_client.clone(),
                ip,
            }
        };
        let permit = self.admit().await.ok_or(NotAdmitted::Busy)?;
        Ok(Admitted {
            _permit: permit,
            _slot: slot,
        })
    }

    pub async fn admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering;
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Some(p);
        }
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if before >= ANALYSIS_MAX_WAITING {
            return None;
        }
        self.permits.clone().acquire_owned().await.ok()
    }

    /// The view, brought up to date with the ledger first (blocking: call
    /// it on the blocking pool). The guard holds `None` only if the view
    /// could never be built.
    pub fn fresh(
        &self,
        ledger: &Ledger,
    ) -> Result<std::sync::RwLockReadGuard<'_, Option<ledger_core::analysis::LedgerView>>, StoreError>
    {
        {
            let _one = self.updating.lock().unwrap_or_else(|p| p.into_inner());
            let stale = match &*self.view.read().unwrap_or_else(|p| p.into_inner()) {
                None => true,
                Some(v) => {
                    v.log_end() != ledger.durable_log_end()
                        || v.fork_proofs().len() != ledger.fork_proofs()?.len()
                }
            };
            if stale {
                let mut w = self.view.write().unwrap_or_else(|p| p.into_inner());
                match w.as_mut() {
                    Some(v) => {
                        v.update(ledger)?;
                    }
                    None => {
                        *w = Some(ledger_core::analysis::LedgerView::from_ledger(ledger)?);
                    }
                }
            }
        }
        Ok(self.view.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Why an analysis answer was not computed.
#[derive(Debug)]
pub enum AnalysisError {
    NotAdmitted(NotAdmitted),
    /// The view could not be built or brought up to date, or the thread
    /// computing the answer failed.
    Failed(String),
}

impl Node {
    /// Computes `f` on the node's one analysis view, for client `client`:
    /// admitted under [`ANALYSIS_PER_CLIENT`] and the bound on waiting
    /// requests, after the view is brought up to date, on a thread of its
    /// own at a lower CPU priority ([`crate::background`]); never on the
    /// async runtime. The one way the API and the explorer run analysis.
    pub async fn analyse<T: Send + 'static>(
        self: &Arc<Self>,
        client: std::net::IpAddr,
        f: impl FnOnce(&Node, &ledger_core::analysis::LedgerView) -> T + Send + 'static,
    ) -> Result<T, AnalysisError> {
        let permit = self
            .analysis
            .admit_client(client)
            .await
            .map_err(AnalysisError::NotAdmitted)?;
        let n = self.clone();
        crate::background::run_lowered(move || {
            let _permit = permit;
            let guard = n
                .analysis
                .fresh(&n.ledger)
                .map_err(|e| AnalysisError::Failed(e.to_string()))?;
            let view = guard.as_ref().ok_or_else(|| {
                AnalysisError::Failed("the analysis view could not be built".into())
            })?;
            Ok(f(&n, view))
        })
        .await
        .map_err(|e| AnalysisError::Failed(e.to_string()))?
    }
}

/// The running node's shared state.
pub struct Node {
    pub ledger: Arc<Ledger>,
    pub net: NetworkHandle,
    pub identity: Identity,
    pub metrics: Metrics,
    pub token: String,
    pub started: Instant,
    /// The analysis view of the replica, kept up to date incrementally.
    pub analysis: Analysis,
    /// Checkpoints, witness state and split-view proofs.
    pub checkpoints: Arc<Checkpoints>,
    /// When this node last asked for an anti-entropy round because a
    /// checkpoint was ahead of its replica (ms since the epoch).
    pub checkpoint_sync_ms: std::sync::atomic::AtomicU64,
    /// The membership gate as last pushed to the network layer.
    pub gate: MembershipGate,
    /// Whether this node knows its own feed's true head, so that it may
    /// author without signing a place twice.
    pub own_feed: OwnFeedGate,
}

/// What the network layer was last told about who may connect: the
/// timeline it was computed from and the day it was computed for, so that
/// it is recomputed only when a governance event was stored or the day
/// changed.
#[derive(Default)]
pub struct MembershipGate {
    last: std::sync::Mutex<Option<GateState>>,
}

struct GateState {
    timeline: Arc<ledger_core::governance::Timeline>,
    day: Date,
    peers: HashSet<PeerId>,
    /// Whether this node's authority or observer was a member by that
    /// timeline on that day.
    member: bool,
}

/// Why an own write was not signed.
enum SignRefusal {
    Clock(ledger_core::clock::ClockError),
    Store(StoreError),
}

/// The node's clock, when the ledger finds it plausible for signing an
/// event of `author` ([`ledger_core::clock::check`]).
fn plausible_now(ledger: &Ledger, author: &AuthorId) -> Result<u64, SignRefusal> {
    let now = now_ms();
    ledger_core::clock::check(now, &ledger.clock_reference(author)).map_err(SignRefusal::Clock)?;
    Ok(now)
}

/// The UTC day of the node's clock.
pub fn today() -> Date {
    Date::from_unix_ms(now_ms())
}

/// The peer ids of every node allowed on the network on `day`, by the
/// membership timeline (charter plus adopted decisions): nodes of
/// participants that are not expelled, and of observers. Entries that are
/// not valid peer ids are skipped.
pub fn allowed_peers(timeline: &ledger_core::governance::Timeline, day: Date) -> HashSet<PeerId> {
    timeline
        .at(day)
        .allowed_nodes()
        .keys()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Milliseconds since the Unix epoch, by the system clock (shifted by the
/// test clock when [`TEST_CLOCK_ENV`] is set).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
        .saturating_add_signed(test_clock_offset_ms())
}

/// For tests and drills only: the path of a file holding a number of
/// seconds that this node adds to the system clock for everything it dates
/// (the timestamps of the events it signs, "today" for membership and the
/// gate). Re-read at most once a second, so that a test can take a running
/// network past midnight, when governance decisions take effect. Compiled
/// into debug builds only (the tests' builds): a release build ignores it.
pub const TEST_CLOCK_ENV: &str = "KPL_TEST_CLOCK_OFFSET_FILE";

/// Whether this build honours [`TEST_CLOCK_ENV`].
pub const TEST_CLOCK_COMPILED: bool = cfg!(debug_assertions);

#[cfg(not(debug_assertions))]
fn test_clock_offset_ms() -> i64 {
    0
}

#[cfg(debug_assertions)]
fn test_clock_offset_ms() -> i64 {
    static PATH: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    static LAST: std::sync::Mutex<Option<(Instant, i64)>> = std::sync::Mutex::new(None);
    let Some(path) = PATH.get_or_init(|| std::env::var_os(TEST_CLOCK_ENV).map(PathBuf::from))
    else {
        return 0;
    };
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, ms)) = *last {
        if at.elapsed() < std::time::Duration::from_secs(1) {
            return ms;
        }
    }
    // A number of seconds: at most 32 bytes are read.
    let ms = std::fs::File::open(path)
        .ok()
        .and_then(|f| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::Read::take(f, 32), &mut s).ok()?;
            s.trim().parse::<i64>().ok()
        })
        .unwrap_or(0)
        .saturating_mul(1000);
    *last = Some((Instant::now(), ms));
    ms
}

/// Serves anti-entropy from the store.
pub struct StoreSource(pub Arc<Ledger>);

impl SyncSource for StoreSource {
    fn heads(&self) -> Vec<FeedHeadWire> {
        match self.0.heads() {
            Ok(h) => h
                .into_iter()
                .filter_map(|h| {
                    h.id.map(|id| FeedHeadWire {
                        author: h.author,
                        seq: h.seq,
                        id,
                    })
                })
                .collect(),
            Err(e) => {
                warn!(error = %e, "cannot read heads for a peer");
                Vec::new()
            }
        }
    }

    fn range(&self, author: &AuthorId, from_seq: u64, max: usize) -> Vec<Vec<u8>> {
        self.0
            .feed_range_raw(author, from_seq, max)
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot read a range for a peer");
                Vec::new()
            })
    }
}

/// How many events of `heads` (a peer's announced heads: untrusted, any
/// seq up to `u64::MAX`) this node lacks; saturates at `u64::MAX` rather
/// than overflowing.
fn events_behind(mine: &HashMap<AuthorId, u64>, heads: &[FeedHeadWire]) -> u64 {
    heads.iter().fold(0u64, |sum, h| {
        let have = mine.get(&h.author).copied().unwrap_or(0);
        sum.saturating_add(h.seq.saturating_sub(have))
    })
}

/// Fetched ranges in the applier's pipeline: one verified while the one
/// before it is appended.
const FETCH_PIPELINE: usize = 2;

/// A range of one feed fetched from a peer, on its way to the store.
struct FetchedRange {
    from: crate::net::PeerId,
    author: AuthorId,
    from_seq: u64,
    raw: Vec<Vec<u8>>,
}

/// Decodes a fetched range (up to its first undecodable event, whose error
/// is returned) and verifies it for [`Ledger::append_verified`]. CPU work
/// for the blocking pool.
fn decode_and_verify(ledger: &Ledger, raw: Vec<Vec<u8>>) -> (Option<String>, VerifiedBatch) {
    let mut events = Vec::with_capacity(raw.len());
    let mut undecodable = None;
    for b in &raw {
        match SignedEvent::decode(b) {
            Ok(e) => events.push(e),
            Err(e) => {
                undecodable = Some(e.to_string());
                break;
            }
        }
    }
    (undecodable, ledger.verify_received(events))
}

/// How often the membership gate is recomputed even when no governance
/// event arrived (a decision takes effect on its date).
pub const GATE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(20);

/// The gossip verdict on an event the store refused. An author this node
/// does not know yet may have been admitted by a decision that has not
/// reached it, and an author's membership may differ between replicas that
/// do not hold the same governance events yet: neither proves the forwarder
/// dishonest, so both are dropped without penalty (anti-entropy brings the
/// decision, then the event). Everything else is certainly invalid.
pub fn verdict_for_refusal(e: &EventError) -> Validation {
    match e {
        EventError::UnknownAuthor(_) | EventError::NotAMember { .. } => Validation::Ignore,
        _ => Validation::Reject,
    }
}

/// A short, stable name for a refusal reason (metrics label).
pub fn reason(e: &EventError) -> &'static str {
    match e {
        EventError::Decode(_) => "decode",
        EventError::WrongNetwork { .. } => "wrong_network",
        EventError::UnknownAuthor(_) => "unknown_author",
        EventError::MissingRole { .. } => "missing_role",
        EventError::BadSignature { .. } => "bad_signature",
        EventError::SeqZero => "seq_zero",
        EventError::BrokenLink { .. } => "broken_link",
        EventError::Gap { .. } => "gap",
        EventError::Body { .. } => "body",
        EventError::PreRotationMismatch => "pre_rotation",
        EventError::NotAMember { .. } => "not_a_member",
    }
}

impl Node {
    /// Signs and appends events as this node's authority, durably, then
    /// publishes them. Refused on an observer node.
    pub async fn write(
        self: &Arc<Self>,
        bodies: Vec<EventBody>,
    ) -> Result<Vec<(EventId, u64)>, WriteError> {
        let Identity::Authority { author, key, .. } = &self.identity else {
            return Err(WriteError::ReadOnly);
        };
        let kf = key.lock().await;
        // Under the key's lock, so no write of this node slips between the
        // check and the append.
        self.check_writable()?;
        let out = self.append_own_locked(&kf, author, bodies).await?;
        drop(kf);
        Ok(out)
    }

    /// Signs and appends `bodies` with the key file held locked by the
    /// caller, then publishes them.
    async fn append_own_locked(
        self: &Arc<Self>,
        kf: &KeyFile,
        author: &AuthorId,
        bodies: Vec<EventBody>,
    ) -> Result<Vec<(EventId, u64)>, WriteError> {
        let k = kf.key();
        let author = author.clone();
        let ledger = self.ledger.clone();
        let started = Instant::now();
        let n = bodies.len() as u64;
        let out = tokio::task::spawn_blocking(move || {
            let now = plausible_now(&ledger, &author)?;
            ledger
                .append_own(&k, &author, bodies, now)
                .map_err(SignRefusal::Store)
        })
        .await
        .map_err(|e| WriteError::Internal(e.to_string()))?
        .map_err(|e| self.refusal(e))?;
        self.metrics.append_latency(started.elapsed());
        Metrics::inc(&self.metrics.api_writes, n);
        Metrics::inc(&self.metrics.events_appended, n);
        self.publish_ids(&out).await;
        self.refresh_gate(false).await;
        Ok(out)
    }

    /// Checks each body against this node's replica before signing (see
    /// [`ledger_core::precheck`]), then signs and appends, durably, those
    /// that pass (all of them with `force`), and publishes them. A body
    /// this authority already signed is answered with the original event,
    /// not signed again, even with `force`. One outcome per body, in order.
    pub async fn write_checked(
        self: &Arc<Self>,
        bodies: Vec<EventBody>,
        force: bool,
    ) -> Result<Vec<Checked>, WriteError> {
        let Identity::Authority { author, key, .. } = &self.identity else {
            return Err(WriteError::ReadOnly);
        };
        // Under the key's lock: no write of this node can slip between the
        // check and the append.
        let kf = key.lock().await;
        self.check_writable()?;
        let ledger = self.ledger.clone();
        let me = author.clone();
        let (bodies, verdicts) = tokio::task::spawn_blocking(move || {
            let timeline = ledger.timeline();
            let day = today();
            let mut verdicts = Vec::with_capacity(bodies.len());
            for b in &bodies {
                // A body that is wrong on its own is refused by the store,
                // naming its field, as before any check against the ledger.
                if ledger_core::validate::validate_body(&me, b).is_err() {
                    verdicts.push(Ok(Precheck::Sign));
                    continue;
                }
                let record = match b.certificate_number() {
                    Some(n) => ledger.certificate(n)?,
                    None => ledger_core::store::CertificateRecord::default(),
                };
                verdicts.push(precheck::check_write(&me, b, &record, &timeline, day));
            }
            Ok::<_, StoreError>((bodies, verdicts))
        })
        .await
        .map_err(|e| WriteError::Internal(e.to_string()))?
        .map_err(WriteError::Store)?;
        // Per body: decided, or to be signed (with the refusal it was
        // signed despite, under `force`).
        enum Pending {
            Done(Checked),
            Sign(Option<Refusal>),
        }
        let mut pending = Vec::with_capacity(bodies.len());
        let mut to_sign = Vec::new();
        for (body, v) in bodies.into_iter().zip(verdicts) {
            pending.push(match v {
                Ok(Precheck::AlreadySigned { id, seq }) => {
                    Pending::Done(Checked::AlreadySigned(id, seq))
                }
                Ok(Precheck::Sign) => {
                    to_sign.push(body);
                    Pending::Sign(None)
                }
                Err(r) if force => {
                    to_sign.push(body);
                    Pending::Sign(Some(r))
                }
                Err(r) => Pending::Done(Checked::Refused(r)),
            });
        }
        let signed = if to_sign.is_empty() {
            Vec::new()
        } else {
            self.append_own_locked(&kf, author, to_sign).await?
        };
        drop(kf);
        let mut signed = signed.into_iter();
        pending
            .into_iter()
            .map(|p| match p {
                Pending::Done(c) => Ok(c),
                Pending::Sign(refusal) => {
                    let (id, seq) = signed.next().ok_or_else(|| {
                        WriteError::Internal("the store answered fewer events than given".into())
                    })?;
                    Ok(match refusal {
                        None => Checked::Signed(id, seq),
                        Some(r) => Checked::SignedAnyway(id, seq, r),
                    })
                }
            })
            .collect()
    }

    fn refusal(&self, r: SignRefusal) -> WriteError {
        match r {
            SignRefusal::Clock(e) => WriteError::Clock(e),
            SignRefusal::Store(e) => self.store_write_error(e),
        }
    }

    async fn publish_ids(&self, out: &[(EventId, u64)]) {
        for (id, _) in out {
            let ledger = self.ledger.clone();
            let id = *id;
            let ev = tokio::task::spawn_blocking(move || ledger.event_by_id(&id)).await;
            if let Ok(Ok(Some(stored))) = ev {
                if let Err(e) = self.net.publish(stored.event.encode()).await {
                    // Anti-entropy carries it when peers (re)connect.
                    debug!(error = %e, "publish deferred to anti-entropy");
                }
            }
        }
    }

    /// Rotates this authority's key to the pre-committed next key: the
    /// rotation event reveals the next key and commits to a fresh one, and is
    /// signed by the revealed key. The key file is replaced only after the
    /// event is durable.
    pub async fn rotate_key(self: &Arc<Self>) -> Result<(EventId, u64, KeyFile), WriteError> {
        let Identity::Authority {
            author,
            key,
            key_path,
        } = &self.identity
        else {
            return Err(WriteError::ReadOnly);
        };
        let mut kf = key.lock().await;
        self.check_writable()?;
        let rotated = kf.rotated().map_err(WriteError::Internal)?;
        let body = EventBody::AuthorityKeyRotated {
            new_key: rotated.public_key,
            next_key_digest: Some(rotated.next_key_digest),
        };
        // Under a pre-rotation commitment the new key signs its own rotation.
        let state = self
            .ledger
            .feed_state(author)
            .map_err(WriteError::Store)?
            // Not (yet) admitted by what this node holds.
            .ok_or_else(|| WriteError::Store(EventError::UnknownAuthor(author.clone()).into()))?;
        let committed = state.epoch_at(state.head_seq + 1).next_key_digest.is_some();
        let signer = if committed { rotated.key() } else { kf.key() };
        let ledger = self.ledger.clone();
        let a = author.clone();
        let out = tokio::task::spawn_blocking(move || {
            let now = plausible_now(&ledger, &a)?;
            ledger
                .append_own(&signer, &a, vec![body], now)
                .map_err(SignRefusal::Store)
        })
        .await
        .map_err(|e| WriteError::Internal(e.to_string()))?
        .map_err(|e| self.refusal(e))?;
        rotated.save(key_path, true).map_err(|e| {
            WriteError::Internal(format!(
                "rotation is durable but the key file was not replaced: {e}"
            ))
        })?;
        *kf = rotated.clone();
        drop(kf);
        self.publish_ids(&out).await;
        let (id, seq) = out[0];
        Ok((id, seq, rotated))
    }

    /// Pushes the membership gate to the network layer when it may have
    /// changed: a governance event was stored since the last push (the
    /// ledger rebuilt its timeline), the UTC day changed (decisions take
    /// effect on a date), or `force`. Peers no longer allowed (an expelled
    /// participant's nodes, removed nodes) are disconnected; newly allowed
    /// ones may connect.
    pub async fn refresh_gate(&self, force: bool) {
        let timeline = self.ledger.timeline();
        let day = today();
        let member = self.is_member(&timeline, day);
        let peers = {
            let last = self.gate.last.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(g) = last.as_ref() {
                if !force && g.day == day && Arc::ptr_eq(&g.timeline, &timeline) {
                    return;
                }
                if member && !g.member {
                    info!(identity = %self.identity.describe(), %day, "this node is now a member of the network by the governance decisions it holds: its writes are accepted");
                }
            }
            let peers = allowed_peers(&timeline, day);
            if !force && last.as_ref().is_some_and(|g| g.peers == peers) {
                drop(last);
                self.remember_gate(timeline, day, peers, member);
                return;
            }
            peers
        };
        match self.net.set_allowed_peers(peers.clone()).await {
            Ok(()) => {
                info!(members = peers.len(), %day, "membership gate updated from the timeline");
                self.remember_gate(timeline, day, peers, member);
            }
            // Retried at the next store or tick.
            Err(e) => warn!(error = %e, "membership gate not updated"),
        }
    }

    fn remember_gate(
        &self,
        timeline: Arc<ledger_core::governance::Timeline>,
        day: Date,
        peers: HashSet<PeerId>,
        member: bool,
    ) {
        *self.gate.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(GateState {
            timeline,
            day,
            peers,
            member,
        });
    }

    /// Whether this node's authority may sign on `day` (or its observer is
    /// an observer then) by `timeline`.
    fn is_member(&self, timeline: &ledger_core::governance::Timeline, day: Date) -> bool {
        match &self.identity {
            Identity::Authority { author, .. } => timeline.check_author(author, day).is_ok(),
            Identity::Observer { id, .. } => timeline.at(day).observers.contains_key(id),
        }
    }

    /// Recomputes the membership gate every [`GATE_INTERVAL`] (and pushes
    /// it when it changed), until the task is stopped.
    pub async fn run_gate(self: Arc<Self>) {
        let mut tick = tokio::time::interval(GATE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.refresh_gate(false).await;
        }
    }

    /// Handles everything the network layer reports, until it closes.
    pub async fn run_network_events(self: Arc<Self>, mut rx: mpsc::Receiver<NetEvent>) {
        let (fetched_tx, fetched_rx) = mpsc::channel::<FetchedRange>(FETCH_PIPELINE);
        let applier = tokio::spawn(self.clone().run_fetch_applier(fetched_rx));
        while let Some(first) = rx.recv().await {
            // Gather what is already queued so one group commit covers it.
            let mut batch = vec![first];
            while batch.len() < 512 {
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            let mut gossip = Vec::new();
            for ev in batch {
                match ev {
                    NetEvent::GossipEvent {
                        bytes,
                        from,
                        msg_id,
                    } => gossip.push((bytes, from, msg_id)),
                    NetEvent::FetchedEvents {
                        from,
                        author,
                        from_seq,
                        events,
                    } => {
                        let range = FetchedRange {
                            from,
                            author,
                            from_seq,
                            raw: events,
                        };
                        if fetched_tx.send(range).await.is_err() {
                            warn!("the fetched-range applier stopped");
                        }
                    }
                    NetEvent::ForkProof {
                        bytes,
                        from,
                        msg_id,
                    } => self.apply_fork_proof(bytes, from, msg_id).await,
                    NetEvent::Checkpoint {
                        bytes,
                        from,
                        msg_id,
                    } => self.apply_checkpoint(bytes, from, msg_id).await,
                    NetEvent::SplitView {
                        bytes,
                        from,
                        msg_id,
                    } => self.apply_split_view(bytes, from, msg_id).await,
                    NetEvent::PeerConnected { peer } => {
                        info!(%peer, "peer connected");
                        self.clone().republish_checkpoint_later();
                    }
                    NetEvent::PeerDisconnected { peer } => info!(%peer, "peer disconnected"),
                }
            }
            if !gossip.is_empty() {
                self.apply_gossip(gossip).await;
            }
        }
        drop(fetched_tx);
        let _ = applier.await;
        info!("network events closed");
    }

    /// Appends fetched ranges in the order they came, verifying each while
    /// the one before it is written: [`Ledger::verify_received`] (both
    /// cores) of range k overlaps [`Ledger::append_verified`] (the log write
    /// and its `fdatasync`) of range k-1. At most [`FETCH_PIPELINE`] ranges
    /// are in the pipeline; each is reported applied (or not) to the network
    /// layer in order, after its append returned.
    async fn run_fetch_applier(self: Arc<Self>, mut rx: mpsc::Receiver<FetchedRange>) {
        let mut inflight: VecDeque<tokio::task::JoinHandle<()>> = VecDeque::new();
        let mut previous_done: Option<oneshot::Receiver<()>> = None;
        while let Some(mut range) = rx.recv().await {
            while inflight.len() >= FETCH_PIPELINE {
                if let Some(h) = inflight.pop_front() {
                    let _ = h.await;
                }
            }
            Metrics::inc(&self.metrics.events_received_sync, range.raw.len() as u64);
            let ledger = self.ledger.clone();
            let raw = std::mem::take(&mut range.raw);
            let verifying = tokio::task::spawn_blocking(move || decode_and_verify(&ledger, raw));
            let (done_tx, done_rx) = oneshot::channel::<()>();
            let after = previous_done.replace(done_rx);
            let node = self.clone();
            inflight.push_back(tokio::spawn(async move {
                let verified = verifying.await;
                if let Some(after) = after {
                    // Ranges are appended in the order they came (a feed's
                    // ranges must be offered in feed order).
                    let _ = after.await;
                }
                node.append_fetched(range, verified).await;
                let _ = done_tx.send(());
            }));
        }
        for h in inflight {
            let _ = h.await;
        }
    }

    async fn append_blocking(
        &self,
        events: Vec<SignedEvent>,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let ledger = self.ledger.clone();
        let started = Instant::now();
        let r = tokio::task::spawn_blocking(move || ledger.append_batch(events))
            .await
            .map_err(|e| StoreError::Poisoned(e.to_string()))?;
        self.metrics.append_latency(started.elapsed());
        r
    }

    /// Accounts for an outcome; returns the gossip verdict and a fork proof to publish.
    fn account(&self, o: &AppendOutcome) -> (Validation, Option<ForkProof>) {
        match o {
            AppendOutcome::Appended { .. } => {
                Metrics::inc(&self.metrics.events_appended, 1);
                (Validation::Accept, None)
            }
            AppendOutcome::Duplicate { .. } => {
                Metrics::inc(&self.metrics.events_duplicate, 1);
                (Validation::Ignore, None)
            }
            AppendOutcome::Held { .. } => {
                Metrics::inc(&self.metrics.events_held, 1);
                (Validation::Ignore, None)
            }
            AppendOutcome::Forked { proof, new } => {
                if *new {
                    Metrics::inc(&self.metrics.forks_found, 1);
                    warn!(author = %proof.author(), seq = proof.seq(), "fork found: two events signed for one place");
                    (Validation::Ignore, Some((**proof).clone()))
                } else {
                    (Validation::Ignore, None)
                }
            }
            AppendOutcome::Rejected(e) => {
                self.metrics.rejected(reason(e));
                debug!(error = %e, "event refused");
                (verdict_for_refusal(e), None)
            }
        }
    }

    async fn apply_gossip(&self, items: Vec<(Vec<u8>, crate::net::PeerId, crate::net::MessageId)>) {
        Metrics::inc(&self.metrics.events_received_gossip, items.len() as u64);
        let mut events = Vec::new();
        let mut slots = Vec::new();
        for (bytes, from, msg_id) in items {
            match SignedEvent::decode(&bytes) {
                Ok(ev) => {
                    slots.push((from, msg_id, true));
                    events.push(ev);
                }
                Err(e) => {
                    self.metrics.rejected("decode");
                    debug!(%from, error = %e, "undecodable gossip");
                    slots.push((from, msg_id, false));
                }
            }
        }
        let outcomes = match self.append_blocking(events).await {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, "store refused a batch");
                for (from, msg_id, _) in slots {
                    let _ = self
                        .net
                        .report_validation(msg_id, from, Validation::Ignore)
                        .await;
                }
                return;
            }
        };
        let mut it = outcomes.into_iter();
        let mut gap = false;
        for (from, msg_id, decoded) in slots {
            let verdict = if decoded {
                let o = it.next();
                let (v, fork) = o
                    .as_ref()
                    .map(|o| self.account(o))
                    .unwrap_or((Validation::Ignore, None));
                gap |= matches!(o, Some(AppendOutcome::Held { .. }));
                if let Some(p) = fork {
                    let _ = self.net.publish_fork_proof(p.encode()).await;
                }
                v
            } else {
                Validation::Reject
            };
            let _ = self.net.report_validation(msg_id, from, verdict).await;
        }
        self.refresh_gate(false).await;
        if gap {
            // Something was missed: fetch it now rather than at the next round.
            let _ = self.net.sync_now().await;
        }
    }

    /// Appends one fetched range verified by [`decode_and_verify`], then
    /// reports to the network layer whether all of it is stored.
    async fn append_fetched(
        &self,
        range: FetchedRange,
        verified: Result<(Option<String>, VerifiedBatch), tokio::task::JoinError>,
    ) {
        let FetchedRange {
            from,
            author,
            from_seq,
            ..
        } = range;
        let started = Instant::now();
        let (undecodable, appended) = match verified {
            Ok((undecodable, batch)) => {
                let ledger = self.ledger.clone();
                let appended = tokio::task::spawn_blocking(move || ledger.append_verified(batch))
                    .await
                    .unwrap_or_else(|e| Err(StoreError::Poisoned(e.to_string())));
                (undecodable, appended)
            }
            Err(e) => (None, Err(StoreError::Poisoned(e.to_string()))),
        };
        self.metrics.append_latency(started.elapsed());
        let complete = match undecodable {
            Some(e) => {
                self.metrics.rejected("decode");
                warn!(%from, error = %e, "undecodable event in a fetched range");
                false
            }
            None => true,
        };
        let applied = match appended {
            Ok(outs) => {
                let mut ok = complete;
                for o in &outs {
                    let (_, fork) = self.account(o);
                    if let Some(p) = fork {
                        let _ = self.net.publish_fork_proof(p.encode()).await;
                    }
                    if !matches!(
                        o,
                        AppendOutcome::Appended { .. }
                            | AppendOutcome::Duplicate { .. }
                            | AppendOutcome::Forked { .. }
                    ) {
                        ok = false;
                    }
                }
                ok
            }
            Err(e) => {
                warn!(error = %e, "store refused a fetched range");
                false
            }
        };
        self.refresh_gate(false).await;
        let _ = self.net.fetch_applied(author, from_seq, applied).await;
    }

    async fn apply_fork_proof(
        &self,
        bytes: Vec<u8>,
        from: crate::net::PeerId,
        msg_id: crate::net::MessageId,
    ) {
        let verdict = match ForkProof::decode(&bytes) {
            Ok(p) => {
                let ledger = self.ledger.clone();
                match tokio::task::spawn_blocking(move || ledger.add_fork_proof(p)).await {
                    Ok(Ok(true)) => {
                        Metrics::inc(&self.metrics.forks_found, 1);
                        warn!("fork proof received and stored");
                        Validation::Accept
                    }
                    Ok(Ok(false)) => Validation::Ignore,
                    Ok(Err(StoreError::Event(_))) => {
                        self.metrics.rejected("bad_fork_proof");
                        Validation::Reject
                    }
                    _ => Validation::Ignore,
                }
            }
            Err(_) => {
                self.metrics.rejected("bad_fork_proof");
                Validation::Reject
            }
        };
        let _ = self.net.report_validation(msg_id, from, verdict).await;
    }

    /// This node's identity key as it is now (the authority's current key,
    /// or the observer key): it signs checkpoints and cosignatures.
    pub async fn identity_key(&self) -> AuthorityKey {
        match &self.identity {
            Identity::Authority { key, .. } => key.lock().await.key(),
            Identity::Observer { key, .. } => AuthorityKey::from_seed(key.seed()),
        }
    }

    /// Publishes what the checkpoint book asks for.
    pub async fn publish_checkpoint_actions(&self, actions: Actions) {
        for note in actions.checkpoints {
            if let Err(e) = self.net.publish_checkpoint(note.into_bytes()).await {
                debug!(error = %e, "checkpoint not published");
            }
        }
        for proof in actions.split_views {
            if let Err(e) = self.net.publish_split_view(proof).await {
                debug!(error = %e, "split-view proof not published");
            }
        }
        if actions.sync {
            // At most one extra round a second.
            let now = now_ms();
            let last = self
                .checkpoint_sync_ms
                .load(std::sync::atomic::Ordering::Relaxed);
            if now.saturating_sub(last) >= 1000 {
                self.checkpoint_sync_ms
                    .store(now, std::sync::atomic::Ordering::Relaxed);
                let _ = self.net.sync_now().await;
            }
        }
    }

    /// Signs this node's checkpoints and checks pending ones every
    /// [`checkpoints::CHECKPOINT_INTERVAL`], until the task is stopped.
    pub async fn run_checkpoints(self: Arc<Self>) {
        let mut tick = tokio::time::interval(checkpoints::CHECKPOINT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let key = self.identity_key().await;
            let book = self.checkpoints.clone();
            let r =
                tokio::task::spawn_blocking(move || book.tick(Some(&key), checkpoints::now_secs()))
                    .await;
            match r {
                Ok(Ok(actions)) => self.publish_checkpoint_actions(actions).await,
                Ok(Err(e)) => warn!(error = %e, "checkpoint tick failed"),
                Err(e) => warn!(error = %e, "checkpoint tick panicked"),
            }
        }
    }

    /// A member connected: once its subscriptions have arrived, publish
    /// this node's latest own checkpoint with the cosignatures gathered
    /// since it was first sent, so a restarted or new node learns it
    /// without waiting for the feed to grow. (Gossip drops a message it has
    /// seen in the last 10 minutes, so this reaches the newcomer only when
    /// the note changed since; the next checkpoint does in any case.)
    fn republish_checkpoint_later(self: Arc<Self>) {
        let Identity::Authority { author, .. } = &self.identity else {
            return;
        };
        let author = author.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            if let Some(s) = self.checkpoints.latest(&author) {
                let _ = self
                    .net
                    .publish_checkpoint(s.note.encode().into_bytes())
                    .await;
            }
        });
    }

    async fn apply_checkpoint(
        &self,
        bytes: Vec<u8>,
        from: crate::net::PeerId,
        msg_id: crate::net::MessageId,
    ) {
        let key = self.identity_key().await;
        let book = self.checkpoints.clone();
        let r = tokio::task::spawn_blocking(move || {
            book.on_gossip_checkpoint(&bytes, Some(&key), checkpoints::now_secs())
        })
        .await;
        let verdict = match r {
            Ok(Ok((v, actions))) => {
                self.publish_checkpoint_actions(actions).await;
                v
            }
            Ok(Err(e)) => {
                warn!(error = %e, "checkpoint not handled");
                Verdict::Ignore
            }
            Err(_) => Verdict::Ignore,
        };
        if verdict == Verdict::Reject {
            self.metrics.rejected("bad_checkpoint");
        }
        let _ = self
            .net
            .report_validation(msg_id, from, validation(verdict))
            .await;
    }

    async fn apply_split_view(
        &self,
        bytes: Vec<u8>,
        from: crate::net::PeerId,
        msg_id: crate::net::MessageId,
    ) {
        let book = self.checkpoints.clone();
        let verdict =
            match tokio::task::spawn_blocking(move || book.on_gossip_split_view(&bytes)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    warn!(error = %e, "split-view proof not handled");
                    Verdict::Ignore
                }
                Err(_) => Verdict::Ignore,
            };
        if verdict == Verdict::Reject {
            self.metrics.rejected("bad_split_view");
        }
        let _ = self
            .net
            .report_validation(msg_id, from, validation(verdict))
            .await;
    }

    /// The heads each connected peer last announced, by peer id.
    pub async fn peer_heads(&self) -> HashMap<String, Vec<FeedHeadWire>> {
        match self.net.status().await {
            Ok(s) => s
                .peer_heads
                .into_iter()
                .map(|(p, h)| (p.to_string(), h))
                .collect(),
            Err(_) => HashMap::new(),
        }
    }

    /// Events each connected peer holds that this node lacks, from the
    /// heads it last announced.
    pub fn sync_lag(&self, peer_heads: &HashMap<String, Vec<FeedHeadWire>>) -> Vec<(String, u64)> {
        let mine: HashMap<AuthorId, u64> = self
            .ledger
            .heads()
            .unwrap_or_default()
            .into_iter()
            .map(|h| (h.author, h.seq))
            .collect();
        let mut out: Vec<(String, u64)> = peer_heads
            .iter()
            .map(|(peer, heads)| (peer.clone(), events_behind(&mine, heads)))
            .collect();
        out.sort();
        out
    }
}

// ------------------------------------------------------------ own feed

/// How often the own-feed gate is re-evaluated while writes are refused.
pub const OWN_FEED_POLL_REFUSED: std::time::Duration = std::time::Duration::from_millis(250);
/// How often it is re-evaluated once writes are open.
pub const OWN_FEED_POLL_OPEN: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a connected member that has not announced its heads yet holds
/// the confirmation back, so that a node connected at once to a member
/// holding less of its feed and to one holding more waits for both.
pub const OWN_FEED_ANSWER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What one member announced of this node's own feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announced {
    pub peer: String,
    /// Its head of this node's feed; `None` when it holds none of it.
    pub head: Option<(u64, EventId)>,
    /// Whether this store holds the same event at that place (true when
    /// the place is beyond this store's head, or `head` is `None`).
    pub agrees: bool,
}

/// What the own-feed gate judges from, read at one moment.
#[derive(Clone, Debug)]
pub struct OwnFeedFacts {
    pub author: AuthorId,
    /// This store's head of the own feed.
    pub local: u64,
    /// The authoring record (the highest place this store acknowledged in
    /// an own-feed append), and whether the store holds that same event.
    pub record: Option<(u64, bool)>,
    /// The latest announcement of every member heard since the start.
    pub announced: Vec<Announced>,
    /// Connected members that have not announced yet (within the grace).
    pub awaiting: usize,
    /// The operator vouched for the store (`--trust-local-head`).
    pub trust_local: bool,
    /// Writes were open before, since this start.
    pub confirmed_before: bool,
}

/// Why writes to the own feed are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnFeedReason {
    /// Not evaluated yet.
    Starting,
    /// The store's head is below its authoring record.
    BehindRecord,
    /// A member holds more of the own feed than the store.
    BehindMember,
    /// The store holds another event than the authoring record or a
    /// member says at some place of the own feed.
    Conflict,
    /// No member has announced its heads since the start.
    NoMemberHeard,
    /// Connected members have not announced their heads yet.
    AwaitingMembers,
}

impl OwnFeedReason {
    /// The reason as its stable snake_case word (as it is serialised).
    pub fn word(self) -> &'static str {
        match self {
            OwnFeedReason::Starting => "starting",
            OwnFeedReason::BehindRecord => "behind_record",
            OwnFeedReason::BehindMember => "behind_member",
            OwnFeedReason::Conflict => "conflict",
            OwnFeedReason::NoMemberHeard => "no_member_heard",
            OwnFeedReason::AwaitingMembers => "awaiting_members",
        }
    }
}

/// The own-feed gate's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnFeedState {
    /// An observer: no own feed, nothing to confirm.
    NoOwnFeed,
    /// Writes open: the head is confirmed by `peers` members heard since
    /// the start (or by the operator, `by_operator`).
    Confirmed {
        seq: u64,
        peers: usize,
        by_operator: bool,
    },
    /// Writes refused: why, and what to do.
    Refused {
        reason: OwnFeedReason,
        message: String,
    },
}

impl OwnFeedState {
    pub fn is_open(&self) -> bool {
        !matches!(self, OwnFeedState::Refused { .. })
    }

    /// The form `GET /v1/health` shows: `None` (`null`) on an observer.
    pub fn view(&self) -> Option<kpl_api::types::OwnFeedView> {
        use kpl_api::types::OwnFeedView;
        match self {
            OwnFeedState::NoOwnFeed => None,
            OwnFeedState::Confirmed {
                seq,
                peers,
                by_operator,
            } => Some(OwnFeedView {
                by_operator: Some(*by_operator),
                confirmed: true,
                message: None,
                peers: Some(*peers as u64),
                reason: None,
                seq: Some(*seq),
            }),
            OwnFeedState::Refused { reason, message } => Some(OwnFeedView {
                by_operator: None,
                confirmed: false,
                message: Some(message.clone()),
                peers: None,
                reason: Some(reason.word().to_owned()),
                seq: None,
            }),
        }
    }

    /// Whether two verdicts differ enough to be logged again.
    fn same_kind(&self, other: &OwnFeedState) -> bool {
        match (self, other) {
            (OwnFeedState::Refused { reason: a, .. }, OwnFeedState::Refused { reason: b, .. }) => {
                a == b
            }
            (OwnFeedState::Confirmed { .. }, OwnFeedState::Confirmed { .. }) => true,
            (OwnFeedState::NoOwnFeed, OwnFeedState::NoOwnFeed) => true,
            _ => false,
        }
    }
}

/// Judges whether this node knows its own feed's true head, so that it may
/// author without signing a place twice. Evidence that the store is behind
/// or disagrees (its authoring record, any member's announcement) always
/// refuses; otherwise, before the first confirmation since the start, at
/// least one member must have announced a head of this feed at or below the
/// store's (or the operator vouched for the store), and connected members
/// must have answered (within [`OWN_FEED_ANSWER_GRACE`]).
pub fn judge_own_feed(f: &OwnFeedFacts) -> OwnFeedState {
    let author = &f.author;
    let local = f.local;
    let refused = |reason, message: String| OwnFeedState::Refused { reason, message };
    if let Some((rec, agrees)) = f.record {
        if rec > local {
            return refused(
                OwnFeedReason::BehindRecord,
                format!(
                    "this node's store holds its own feed {author} up to seq {local}, but it acknowledged seq {rec} before (its authoring record): its own last events were lost (a restored backup or a damaged log tail), and signing now would sign seq {} a second time. Writes open by themselves once anti-entropy has brought seq {}..{rec} back from a member that holds them: keep this node connected to its peers (GET /v1/status)",
                    local + 1,
                    local + 1
                ),
            );
        }
        if !agrees {
            return refused(
                OwnFeedReason::Conflict,
                format!(
                    "this node's store holds another event at seq {rec} of its own feed {author} than the one it acknowledged there (its authoring record): the store was replaced or damaged. Writes stay refused: find out which copy of the store holds the true feed before writing again (GET /v1/forks on every node)"
                ),
            );
        }
    }
    if let Some(a) = f.announced.iter().find(|a| !a.agrees) {
        let seq = a.head.map_or(0, |h| h.0);
        return refused(
            OwnFeedReason::Conflict,
            format!(
                "member {} holds another event at seq {seq} of this node's own feed {author} than this store does: the feed is forked (GET /v1/forks). Writes stay refused: find out which store holds the true feed before writing again",
                a.peer
            ),
        );
    }
    if let Some((a, seq)) = f
        .announced
        .iter()
        .filter_map(|a| Some((a, a.head?.0)))
        .filter(|(_, seq)| *seq > local)
        .max_by_key(|(_, seq)| *seq)
    {
        return refused(
            OwnFeedReason::BehindMember,
            format!(
                "member {} holds this node's own feed {author} up to seq {seq}, this store only up to seq {local}: its own last events were lost (a restored backup or a damaged log tail), and signing now would sign seq {} a second time. Writes open by themselves once anti-entropy has brought them back from the members (it fetches them now; GET /v1/status shows the lag)",
                a.peer,
                local + 1
            ),
        );
    }
    if !f.confirmed_before && !f.trust_local {
        if f.announced.is_empty() {
            return refused(
                OwnFeedReason::NoMemberHeard,
                format!(
                    "no member of the network has announced its heads to this node since it started, so it cannot tell whether its store holds the last events of its own feed {author} (seq {local} here): after a restored backup or a lost log tail it would sign a place a second time. Writes open by themselves once a member answers: check that this node reaches its peers (bootstrap in node.toml or --bootstrap, GET /v1/status). An operator who knows this store is current may start the node once with --trust-local-head"
                ),
            );
        }
        if f.awaiting > 0 {
            return refused(
                OwnFeedReason::AwaitingMembers,
                format!(
                    "{} connected member(s) have not announced their heads yet: waiting for them (at most {} s) before writing to this node's own feed {author}",
                    f.awaiting,
                    OWN_FEED_ANSWER_GRACE.as_secs()
                ),
            );
        }
    }
    OwnFeedState::Confirmed {
        seq: local,
        peers: f.announced.len(),
        by_operator: f.trust_local && f.announced.is_empty(),
    }
}

/// The own-feed gate of a participant node: its verdict (read by every
/// write) and what it remembers of the members heard since the start.
pub struct OwnFeedGate {
    trust_local: bool,
    state: std::sync::Mutex<OwnFeedState>,
    memory: std::sync::Mutex<GateMemory>,
}

#[derive(Default)]
struct GateMemory {
    /// Every member heard since the start: its latest announced head of
    /// this node's feed (kept after it disconnects: what it said stays
    /// evidence).
    heard: HashMap<String, Option<(u64, EventId)>>,
    /// Connected members not heard yet, since when.
    unheard_since: HashMap<String, Instant>,
    confirmed_before: bool,
    /// The store's degraded reason last logged.
    degraded: Option<String>,
}

impl OwnFeedGate {
    /// A gate for a node with an own feed (`has_own_feed`: a participant
    /// authority); `trust_local`: the operator vouched for the store.
    pub fn new(has_own_feed: bool, trust_local: bool) -> OwnFeedGate {
        let state = if has_own_feed {
            OwnFeedState::Refused {
                reason: OwnFeedReason::Starting,
                message: "the node is starting and has not checked its own feed's head yet".into(),
            }
        } else {
            OwnFeedState::NoOwnFeed
        };
        OwnFeedGate {
            trust_local,
            state: std::sync::Mutex::new(state),
            memory: Default::default(),
        }
    }

    /// The current verdict.
    pub fn state(&self) -> OwnFeedState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn trust_local(&self) -> bool {
        self.trust_local
    }
}

impl Node {
    /// Whether this node may author now; counts a refusal. Observers are
    /// read-only; an authority that may not sign today is left to the
    /// store's refusal (`not_a_member`), whatever its feed; otherwise the
    /// own-feed gate decides. A degraded store is not refused here: the
    /// store tries every write again (a write that succeeds is what heals
    /// it), and one it could not keep is [`WriteError::StoreDegraded`].
    pub fn check_writable(&self) -> Result<(), WriteError> {
        let Identity::Authority { author, .. } = &self.identity else {
            return Err(WriteError::ReadOnly);
        };
        if self
            .ledger
            .timeline()
            .check_author(author, today())
            .is_err()
        {
            return Ok(());
        }
        match self.own_feed.state() {
            OwnFeedState::Refused { message, .. } => {
                self.metrics.write_refused("own_feed_unconfirmed");
                Err(WriteError::OwnFeedUnconfirmed(message))
            }
            _ => Ok(()),
        }
    }

    /// A store error of an own append: a write the store could not keep
    /// after an I/O error (disk full, EIO) is [`WriteError::StoreDegraded`]
    /// (503, retry later), not an internal error; refusals of the event
    /// stay what they are.
    fn store_write_error(&self, e: StoreError) -> WriteError {
        match e {
            StoreError::Event(_) | StoreError::OwnFeedBehind { .. } => WriteError::Store(e),
            e if matches!(e, StoreError::NotStored(_)) || self.ledger.degraded().is_some() => {
                self.metrics.write_refused("store_degraded");
                WriteError::StoreDegraded(e.to_string())
            }
            e => WriteError::Store(e),
        }
    }

    /// Why this node is not fully healthy (empty when it is): a degraded
    /// store, writes refused by the own-feed gate.
    pub fn health_reasons(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = self.ledger.degraded() {
            out.push(format!(
                "the store's last write failed after an I/O error, and writes fail until one succeeds again (each write tries again; free disk space or fix the device): {r}"
            ));
        }
        if let Some(r) = self.checkpoints.degraded() {
            out.push(format!(
                "checkpoint and witness state cannot be written, so this node cosigns nothing until it can (free disk space or fix the device): {r}"
            ));
        }
        if let OwnFeedState::Refused { message, .. } = self.own_feed.state() {
            out.push(message);
        }
        out
    }

    /// Re-evaluates the own-feed gate (and watches the store's degraded
    /// state) every [`OWN_FEED_POLL_REFUSED`] while writes are refused and
    /// every [`OWN_FEED_POLL_OPEN`] once they are open, until stopped.
    pub async fn run_own_feed(self: Arc<Self>) {
        loop {
            self.check_own_feed().await;
            let every = if self.own_feed.state().is_open() {
                OWN_FEED_POLL_OPEN
            } else {
                OWN_FEED_POLL_REFUSED
            };
            tokio::time::sleep(every).await;
        }
    }

    /// One evaluation of the own-feed gate: reads what the members
    /// announced and the store's own head and authoring record, judges,
    /// and logs a change of verdict (WARN when writes close or stay closed
    /// for another reason, INFO when they open).
    pub async fn check_own_feed(&self) {
        self.watch_degraded();
        let Identity::Authority { author, .. } = &self.identity else {
            return;
        };
        let status = self.net.status().await.ok();
        let now = Instant::now();
        let (heard, awaiting, confirmed_before) = {
            let mut mem = self
                .own_feed
                .memory
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(s) = &status {
                for (peer, heads) in &s.peer_heads {
                    let head = heads
                        .iter()
                        .find(|h| &h.author == author)
                        .map(|h| (h.seq, h.id));
                    mem.heard.insert(peer.to_string(), head);
                }
                let connected: HashSet<String> =
                    s.connected.iter().map(|p| p.to_string()).collect();
                let GateMemory {
                    heard,
                    unheard_since,
                    ..
                } = &mut *mem;
                unheard_since.retain(|p, _| connected.contains(p) && !heard.contains_key(p));
                for p in connected {
                    if !heard.contains_key(&p) {
                        unheard_since.entry(p).or_insert(now);
                    }
                }
            }
            let awaiting = mem
                .unheard_since
                .values()
                .filter(|t| now.duration_since(**t) < OWN_FEED_ANSWER_GRACE)
                .count();
            (mem.heard.clone(), awaiting, mem.confirmed_before)
        };
        let ledger = self.ledger.clone();
        let a = author.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            // The record before the head: an append is indexed before its
            // record is written, so a write finishing in between cannot
            // make the record look ahead of the head.
            let record = ledger.authoring_record(&a);
            let local = ledger.feed_state(&a)?.map_or(0, |f| f.head_seq);
            let holds = |seq: u64, id: &EventId| -> Result<bool, StoreError> {
                Ok(ledger.event_at(&a, seq)?.is_some_and(|e| &e.id == id))
            };
            let record = match record {
                Some(r) if r.seq <= local => Some((r.seq, holds(r.seq, &r.id)?)),
                Some(r) => Some((r.seq, true)),
                None => None,
            };
            let mut announced = Vec::with_capacity(heard.len());
            for (peer, head) in heard {
                let agrees = match head {
                    Some((seq, id)) if seq >= 1 && seq <= local => holds(seq, &id)?,
                    _ => true,
                };
                announced.push(Announced { peer, head, agrees });
            }
            announced.sort_by(|x, y| x.peer.cmp(&y.peer));
            Ok((local, record, announced))
        })
        .await;
        let (local, record, announced) = match read {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                warn!(error = %e, "cannot read this node's own feed to check its head; writes stay as they were");
                return;
            }
            Err(e) => {
                warn!(error = %e, "own-feed check panicked");
                return;
            }
        };
        let facts = OwnFeedFacts {
            author: author.clone(),
            local,
            record,
            announced,
            awaiting,
            trust_local: self.own_feed.trust_local,
            confirmed_before,
        };
        let verdict = judge_own_feed(&facts);
        if let OwnFeedState::Confirmed { .. } = verdict {
            self.own_feed
                .memory
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .confirmed_before = true;
        }
        self.metrics.set_own_feed_confirmed(verdict.is_open());
        let previous = std::mem::replace(
            &mut *self
                .own_feed
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
            verdict.clone(),
        );
        if previous.same_kind(&verdict) {
            return;
        }
        match &verdict {
            OwnFeedState::Confirmed {
                seq,
                peers,
                by_operator,
            } => {
                let since_start_ms = self.started.elapsed().as_millis() as u64;
                if *by_operator {
                    warn!(%author, seq, since_start_ms, "own feed head taken as current on the operator's word (--trust-local-head), no member heard yet: writes open");
                } else {
                    info!(%author, seq, peers, since_start_ms, "own feed head confirmed by the members heard since the start: writes open");
                }
            }
            OwnFeedState::Refused { reason, message } => {
                warn!(%author, reason = ?reason, local, "writes refused: {message}");
            }
            OwnFeedState::NoOwnFeed => {}
        }
    }

    /// Logs the store's degraded state when it changes.
    fn watch_degraded(&self) {
        let now = self.ledger.degraded();
        let mut mem = self
            .own_feed
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if mem.degraded == now {
            return;
        }
        match &now {
            Some(r) => {
                warn!(reason = %r, "the store's last write failed after an I/O error: writes it cannot keep are answered 503 store_degraded until one succeeds again")
            }
            None => info!("the store accepts writes again"),
        }
        mem.degraded = now;
    }
}

fn validation(v: Verdict) -> Validation {
    match v {
        Verdict::Accept => Validation::Accept,
        Verdict::Ignore => Validation::Ignore,
        Verdict::Reject => Validation::Reject,
    }
}

/// What became of one body given to [`Node::write_checked`].
#[derive(Debug)]
pub enum Checked {
    /// Signed and durable: id and seq.
    Signed(EventId, u64),
    /// Already signed by this authority: the original's id and seq.
    AlreadySigned(EventId, u64),
    /// Refused before signing.
    Refused(Refusal),
    /// Refused by the check but signed as asked (`force`).
    SignedAnyway(EventId, u64, Refusal),
}

/// Why a write through the API failed.
#[derive(Debug)]
pub enum WriteError {
    ReadOnly,
    /// This node does not know its own feed's true head yet (see
    /// [`OwnFeedGate`]): the message says why and what to do.
    OwnFeedUnconfirmed(String),
    /// The store could not keep the write after an I/O error (disk full,
    /// EIO); nothing of it was written, retrying is safe: the reason.
    StoreDegraded(String),
    /// This node's clock is implausible for signing (see
    /// [`ledger_core::clock`]): nothing was signed.
    Clock(ledger_core::clock::ClockError),
    Store(StoreError),
    Internal(String),
}

// ------------------------------------------------------ the store, for the API

/// What the HTTP API reads of the store, each method named for what a
/// handler needs, so that handlers never hold the store themselves. Those
/// returning a `Result` read the disk: handlers call them off the async
/// runtime.
impl Node {
    pub fn network_id(&self) -> ledger_core::Digest {
        self.ledger.network_id()
    }

    pub fn charter(&self) -> &ledger_core::Charter {
        self.ledger.charter()
    }

    /// The governance timeline of the events stored so far.
    pub fn timeline(&self) -> Arc<ledger_core::governance::Timeline> {
        self.ledger.timeline()
    }

    /// The authority `author`, if the charter or a decision held admits it.
    pub fn author_entry(&self, author: &AuthorId) -> Option<ledger_core::charter::AuthorityEntry> {
        self.ledger.author_entry(author)
    }

    pub fn feed_heads(&self) -> Result<Vec<ledger_core::store::FeedHead>, StoreError> {
        self.ledger.heads()
    }

    pub fn fork_proofs(&self) -> Result<Vec<ledger_core::ForkProof>, StoreError> {
        self.ledger.fork_proofs()
    }

    /// Up to `max` events of `author`'s feed from `from_seq` on.
    pub fn feed_page(
        &self,
        author: &AuthorId,
        from_seq: u64,
        max: usize,
    ) -> Result<Vec<ledger_core::SignedEvent>, StoreError> {
        self.ledger.feed_range(author, from_seq, max)
    }

    /// [`Node::feed_page`], each event in its canonical encoding.
    pub fn feed_page_raw(
        &self,
        author: &AuthorId,
        from_seq: u64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.ledger.feed_range_raw(author, from_seq, max)
    }

    pub fn event_by_id(
        &self,
        id: &EventId,
    ) -> Result<Option<ledger_core::store::StoredEvent>, StoreError> {
        self.ledger.event_by_id(id)
    }

    /// The event this node's tree of `author`'s feed holds at `seq`.
    pub fn event_at(
        &self,
        author: &AuthorId,
        seq: u64,
    ) -> Result<Option<ledger_core::store::StoredEvent>, StoreError> {
        self.ledger.event_at(author, seq)
    }

    /// Every event naming certificate `number`.
    pub fn certificate_record(
        &self,
        number: &str,
    ) -> Result<ledger_core::store::CertificateRecord, StoreError> {
        self.ledger.certificate(number)
    }

    /// The replica verified from its log.
    pub fn verify_replica(&self) -> Result<ledger_core::replica::VerifyReport, StoreError> {
        self.ledger.verify(|_, _| {})
    }

    /// Every author's feed state (its key epochs), `None` for a feed with
    /// no event yet.
    pub fn feed_states(
        &self,
    ) -> Result<Vec<(AuthorId, Option<ledger_core::feed::FeedState>)>, StoreError> {
        let mut out = Vec::new();
        for a in self.ledger.authors() {
            let state = self.ledger.feed_state(&a)?;
            out.push((a, state));
        }
        Ok(out)
    }

    /// How many events of `author`'s feed this node holds.
    pub fn held_size(&self, author: &AuthorId) -> Result<u64, StoreError> {
        self.ledger.tree_size(author)
    }

    /// The root of `author`'s tree of `size` leaves, and the inclusion
    /// proof of the event at `seq` in it.
    pub fn inclusion(
        &self,
        author: &AuthorId,
        seq: u64,
        size: u64,
    ) -> Result<(ledger_core::Digest, Vec<ledger_core::Digest>), StoreError> {
        Ok((
            self.ledger.tree_root(author, size)?,
            self.ledger.inclusion_proof(author, seq, size)?,
        ))
    }

    /// The roots of `author`'s trees of `old` and `new` leaves, and the
    /// consistency proof between them.
    pub fn consistency(
        &self,
        author: &AuthorId,
        old: u64,
        new: u64,
    ) -> Result<
        (
            ledger_core::Digest,
            ledger_core::Digest,
            Vec<ledger_core::Digest>,
        ),
        StoreError,
    > {
        Ok((
            self.ledger.tree_root(author, old)?,
            self.ledger.tree_root(author, new)?,
            self.ledger.consistency_proof(author, old, new)?,
        ))
    }

    /// The proof bundle of certificate `number`, with the latest
    /// checkpoint held of each feed involved.
    pub fn bundle(
        &self,
        number: &str,
    ) -> Result<ledger_core::bundle::Bundle, ledger_core::bundle::BundleError> {
        ledger_core::bundle::build(&self.ledger, number, &|a| {
            self.checkpoints.latest(a).map(|s| s.note.encode())
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_behind_a_lying_peer_saturates() {
        use super::{events_behind, AuthorId, FeedHeadWire, HashMap};
        let a = AuthorId::new("BW", "mme").unwrap();
        let b = AuthorId::new("ZA", "sadpmr").unwrap();
        let mine: HashMap<AuthorId, u64> = [(a.clone(), 10)].into_iter().collect();
        let head = |author: &AuthorId, seq| FeedHeadWire {
            author: author.clone(),
            seq,
            id: ledger_core::EventId::ZERO,
        };
        assert_eq!(events_behind(&mine, &[head(&a, 15), head(&b, 3)]), 8);
        assert_eq!(events_behind(&mine, &[head(&a, 4)]), 0);
        let lying = [head(&a, u64::MAX), head(&b, u64::MAX)];
        assert_eq!(events_behind(&mine, &lying), u64::MAX);
    }

    #[tokio::test]
    async fn one_client_cannot_take_every_place() {
        use super::{Analysis, NotAdmitted, ANALYSIS_PER_CLIENT};
        let a = std::sync::Arc::new(Analysis::default());
        let greedy: std::net::IpAddr = "10.0.0.7".parse().unwrap();
        let other: std::net::IpAddr = "10.0.0.8".parse().unwrap();
        // Holds the computing permits, so the rest wait.
        let mut held = Vec::new();
        for _ in 0..super::ANALYSIS_CONCURRENCY {
            held.push(a.admit_client(greedy).await.expect("admitted"));
        }
        let mut waiting = Vec::new();
        for _ in super::ANALYSIS_CONCURRENCY..ANALYSIS_PER_CLIENT {
            let a = a.clone();
            waiting.push(tokio::spawn(
                async move { a.admit_client(greedy).await.is_ok() },
            ));
        }
        for _ in 0..10_000 {
            if a.waiting.load(std::sync::atomic::Ordering::SeqCst)
                == ANALYSIS_PER_CLIENT - super::ANALYSIS_CONCURRENCY
            {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            a.admit_client(greedy).await.err(),
            Some(NotAdmitted::ClientLimit)
        );
        // Another client still gets a place in the queue.
        let a2 = a.clone();
        let theirs = tokio::spawn(async move { a2.admit_client(other).await.is_ok() });
        drop(held);
        for w in waiting {
            assert!(w.await.unwrap());
        }
        assert!(theirs.await.unwrap());
        // Every slot is released.
        assert!(a.admit_client(greedy).await.is_ok());
    }

    #[tokio::test]
    async fn analysis_requests_beyond_those_waiting_are_refused() {
        use std::sync::atomic::Ordering;
        let a = std::sync::Arc::new(super::Analysis::default());
        let mut held = Vec::new();
        for _ in 0..super::ANALYSIS_CONCURRENCY {
            held.push(a.admit().await.expect("a free permit"));
        }
        let mut waiters = Vec::new();
        for _ in 0..super::ANALYSIS_MAX_WAITING {
            let a = a.clone();
            waiters.push(tokio::spawn(async move { a.admit().await.is_some() }));
        }
        for _ in 0..10_000 {
            if a.waiting.load(Ordering::SeqCst) == super::ANALYSIS_MAX_WAITING {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            a.waiting.load(Ordering::SeqCst),
            super::ANALYSIS_MAX_WAITING
        );
        assert!(
            a.admit().await.is_none(),
            "one more than may wait is refused"
        );
        assert_eq!(
            a.waiting.load(Ordering::SeqCst),
            super::ANALYSIS_MAX_WAITING
        );
        drop(held);
        for w in waiters {
            assert!(w.await.unwrap(), "every waiting request gets its turn");
        }
        assert_eq!(a.waiting.load(Ordering::SeqCst), 0);
        assert!(a.admit().await.is_some());
    }

    use super::*;
    use ledger_core::governance::{Decision, GovernanceLog, Proposal, Timeline};
    use ledger_core::testkit::{all_roles, governed_charter, test_participant, FeedWriter};
    use ledger_core::{Charter, CountryCode};

    fn peer() -> String {
        crate::net::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
            .to_string()
    }

    fn ms(d: Date) -> u64 {
        d.days() as u64 * 86_400_000 + 3_600_000
    }

    fn day(y: i32, m: u32, d: u32) -> Date {
        Date::from_ymd(y, m, d).unwrap()
    }

    /// ZA (Chair) proposes `decision` on `on`, effective `effective`; BW
    /// approves. With three participants that is the quorum.
    fn adopt(charter: &Charter, decision: Decision, on: Date, effective: Date) -> Timeline {
        let net = charter.network_id();
        let mut za = FeedWriter::new(net, "ZA/mme".parse().unwrap());
        let mut bw = FeedWriter::new(net, "BW/mme".parse().unwrap());
        let p = za.next(
            EventBody::GovernanceProposed(Proposal {
                decision,
                effective_on: effective,
                reference: "test".into(),
            }),
            ms(on),
        );
        let a = bw.next(
            EventBody::GovernanceApproved {
                proposal: p.id(),
                note: String::new(),
            },
            ms(on),
        );
        let mut log = GovernanceLog::new();
        log.insert(p.id(), &p);
        log.insert(a.id(), &a);
        Timeline::build(charter, &log)
    }

    /// A governed charter of ZA (Chair), BW and EU, one node each; returns
    /// the node of each participant by code.
    fn charter_with_nodes() -> (Charter, HashMap<String, String>) {
        let mut c = governed_charter(&["ZA", "BW", "EU"]);
        let mut nodes = HashMap::new();
        for p in c.participants.iter_mut() {
            let n = peer();
            p.nodes = vec![n.clone()];
            nodes.insert(p.code.to_string(), n);
        }
        (c, nodes)
    }

    #[test]
    fn gate_drops_an_expelled_participants_node_from_the_effective_date() {
        let (c, nodes) = charter_with_nodes();
        let eu: PeerId = nodes["EU"].parse().unwrap();
        let t = adopt(
            &c,
            Decision::Expel {
                participant: CountryCode::new("EU").unwrap(),
            },
            day(2026, 5, 1),
            day(2026, 6, 1),
        );
        let before = allowed_peers(&t, day(2026, 5, 31));
        assert_eq!(before.len(), 3);
        assert!(before.contains(&eu));
        let after = allowed_peers(&t, day(2026, 6, 1));
        assert_eq!(after.len(), 2);
        assert!(!after.contains(&eu));
    }

    #[test]
    fn gate_admits_a_new_participants_node_from_the_effective_date() {
        let (c, _) = charter_with_nodes();
        let mut na = test_participant("NA", all_roles());
        let na_node = peer();
        na.nodes = vec![na_node.clone()];
        let t = adopt(
            &c,
            Decision::AdmitParticipant(na),
            day(2026, 5, 1),
            day(2026, 5, 2),
        );
        let na_peer: PeerId = na_node.parse().unwrap();
        assert!(!allowed_peers(&t, day(2026, 5, 1)).contains(&na_peer));
        let after = allowed_peers(&t, day(2026, 5, 2));
        assert_eq!(after.len(), 4);
        assert!(after.contains(&na_peer));
    }

    fn facts(local: u64) -> OwnFeedFacts {
        OwnFeedFacts {
            author: "BW/mme".parse().unwrap(),
            local,
            record: None,
            announced: Vec::new(),
            awaiting: 0,
            trust_local: false,
            confirmed_before: false,
        }
    }

    fn heard(peer: &str, seq: u64, agrees: bool) -> Announced {
        Announced {
            peer: peer.into(),
            head: (seq > 0).then_some((seq, EventId::ZERO)),
            agrees,
        }
    }

    fn reason_of(s: &OwnFeedState) -> Option<OwnFeedReason> {
        match s {
            OwnFeedState::Refused { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    #[test]
    fn own_feed_waits_for_a_member_unless_the_operator_vouches() {
        let f = facts(19);
        assert_eq!(
            reason_of(&judge_own_feed(&f)),
            Some(OwnFeedReason::NoMemberHeard)
        );
        let s = judge_own_feed(&OwnFeedFacts {
            trust_local: true,
            ..f.clone()
        });
        assert_eq!(
            s,
            OwnFeedState::Confirmed {
                seq: 19,
                peers: 0,
                by_operator: true
            }
        );
        // Once confirmed, losing every peer does not close writes.
        let s = judge_own_feed(&OwnFeedFacts {
            confirmed_before: true,
            ..f
        });
        assert!(s.is_open(), "{s:?}");
    }

    #[test]
    fn own_feed_is_confirmed_by_members_at_or_below_its_head() {
        // A new network: the members hold none of this feed.
        let mut f = facts(0);
        f.announced = vec![heard("a", 0, true)];
        assert_eq!(
            judge_own_feed(&f),
            OwnFeedState::Confirmed {
                seq: 0,
                peers: 1,
                by_operator: false
            }
        );
        let mut f = facts(19);
        f.announced = vec![heard("a", 19, true), heard("b", 12, true)];
        assert!(judge_own_feed(&f).is_open());
        // A connected member that has not answered yet holds it back.
        f.awaiting = 1;
        assert_eq!(
            reason_of(&judge_own_feed(&f)),
            Some(OwnFeedReason::AwaitingMembers)
        );
    }

    #[test]
    fn evidence_of_a_lost_tail_refuses_even_with_the_override() {
        for trust_local in [false, true] {
            for confirmed_before in [false, true] {
                let base = OwnFeedFacts {
                    trust_local,
                    confirmed_before,
                    ..facts(18)
                };
                // The store acknowledged seq 19 before.
                let s = judge_own_feed(&OwnFeedFacts {
                    record: Some((19, true)),
                    ..base.clone()
                });
                assert_eq!(reason_of(&s), Some(OwnFeedReason::BehindRecord), "{s:?}");
                let OwnFeedState::Refused { message, .. } = s else {
                    unreachable!()
                };
                assert!(message.contains("seq 18") && message.contains("seq 19"));
                // A member holds seq 19 of this feed.
                let s = judge_own_feed(&OwnFeedFacts {
                    announced: vec![heard("a", 12, true), heard("b", 19, true)],
                    ..base.clone()
                });
                assert_eq!(reason_of(&s), Some(OwnFeedReason::BehindMember));
                // A member holds another event at a place this store holds.
                let s = judge_own_feed(&OwnFeedFacts {
                    announced: vec![heard("a", 17, false)],
                    ..base.clone()
                });
                assert_eq!(reason_of(&s), Some(OwnFeedReason::Conflict));
                // The store holds another event than it acknowledged.
                let s = judge_own_feed(&OwnFeedFacts {
                    record: Some((18, false)),
                    ..base
                });
                assert_eq!(reason_of(&s), Some(OwnFeedReason::Conflict));
            }
        }
        // Caught up: the record and the members agree again.
        let s = judge_own_feed(&OwnFeedFacts {
            record: Some((19, true)),
            announced: vec![heard("b", 19, true)],
            ..facts(19)
        });
        assert!(s.is_open(), "{s:?}");
    }

    #[test]
    fn unknown_or_non_member_authors_do_not_penalise_the_forwarder() {
        let a: AuthorId = "NA/mme".parse().unwrap();
        assert_eq!(
            verdict_for_refusal(&EventError::UnknownAuthor(a.clone())),
            Validation::Ignore
        );
        assert_eq!(
            verdict_for_refusal(&EventError::NotAMember {
                author: a,
                date: "2026-06-01".into(),
                reason: "NA is expelled then".into(),
            }),
            Validation::Ignore
        );
        assert_eq!(
            verdict_for_refusal(&EventError::SeqZero),
            Validation::Reject
        );
        assert_eq!(
            reason(&EventError::NotAMember {
                author: "VE/mme".parse().unwrap(),
                date: String::new(),
                reason: String::new(),
            }),
            "not_a_member"
        );
    }
}
