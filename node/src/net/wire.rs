//! The anti-entropy protocol `/kp-ledger/sync/1`: messages, limits and the
//! hand-written, size-bounded frame codec.
//!
//! Wire format (one request-response exchange per stream):
//!
//! ```text
//! frame    = length:u32 big-endian || body[length]
//! request  = frame whose body is canonical(SyncRequest),  length <= MAX_REQUEST_BYTES
//! response = frame whose body is canonical(SyncResponse), length <= MAX_RESPONSE_BYTES
//! ```
//!
//! `canonical` is `ledger_core::codec` (bincode 2, little-endian, fixed-width
//! integers, `u64` lengths, `u32` enum tags; see `docs/FORMAT.md`). The length
//! is checked against the bound *before* anything is allocated, and a body
//! must decode to exactly one canonical value; anything else is an
//! `InvalidData` I/O error that closes the stream. Nothing here panics on any
//! input.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ledger_core::codec;
use ledger_core::{AuthorId, EventId};
use libp2p::request_response;
use libp2p::StreamProtocol;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Protocol id of the anti-entropy request-response protocol.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/kp-ledger/sync/1");

/// Largest request frame body, in bytes. A request is a few dozen bytes.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024;

/// Largest response frame body, in bytes: 1 MiB, which is also the
/// allocation ceiling of `ledger_core::codec::decode`.
pub const MAX_RESPONSE_BYTES: usize = codec::MAX_CHARTER_BYTES;

/// Most events in one `Range` response.
pub const MAX_RANGE_EVENTS: usize = 1024;

/// Most bytes of event data in one `Range` response (the sum of the encoded
/// events). Leaves room under [`MAX_RESPONSE_BYTES`] for the per-event length
/// prefixes and the decoder's per-element bookkeeping.
pub const MAX_RANGE_BYTES: usize = MAX_RESPONSE_BYTES - 96 * 1024;

/// Most feed heads in one `Heads` response (an encoded head is at most 82
/// bytes, so 8192 of them fit well under [`MAX_RESPONSE_BYTES`]).
pub const MAX_HEADS: usize = 8192;

/// The head of one feed as sent over the wire: its last sequence number and
/// the id of the event there.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FeedHeadWire {
    pub author: AuthorId,
    pub seq: u64,
    pub id: EventId,
}

/// A request of the sync protocol.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum SyncRequest {
    /// Tag 0: "what is the head of every feed you hold?"
    Heads,
    /// Tag 1: "send me up to `max` events of `author`'s feed, starting at
    /// `from_seq`, in order". The server answers with fewer when it has
    /// fewer, or to stay within [`MAX_RANGE_EVENTS`] / [`MAX_RANGE_BYTES`].
    Range {
        author: AuthorId,
        from_seq: u64,
        max: u32,
    },
}

/// A response of the sync protocol.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum SyncResponse {
    /// Tag 0: answer to `Heads`, at most [`MAX_HEADS`] entries.
    Heads(Vec<FeedHeadWire>),
    /// Tag 1: answer to `Range`: canonical encoded events, consecutive
    /// sequence numbers from `from_seq`; empty when the server has none.
    Events(Vec<Vec<u8>>),
    /// Tag 2: the server is at its limit of concurrent requests; try later.
    Busy,
}

/// The `request_response` codec of [`SYNC_PROTOCOL`]. Clones share one
/// counter of refused frames (libp2p reports a request that fails to decode
/// to no one, so the codec counts them).
#[derive(Clone, Debug, Default)]
pub struct SyncCodec {
    bad_frames: Arc<AtomicU64>,
}

impl SyncCodec {
    /// Frames refused so far as oversized or malformed (requests and
    /// responses, by this codec and its clones).
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames.load(Ordering::Relaxed)
    }

    fn count<T>(&self, r: io::Result<T>) -> io::Result<T> {
        if matches!(&r, Err(e) if e.kind() == io::ErrorKind::InvalidData) {
            self.bad_frames.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one frame of at most `max` body bytes and decodes its body.
pub async fn read_frame<T, R>(io: &mut R, max: usize) -> io::Result<T>
where
    T: Serialize + DeserializeOwned,
    R: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(invalid(format!("sync frame of {len} bytes exceeds {max}")));
    }
    if len == 0 {
        return Err(invalid("empty sync frame"));
    }
    // Bounded by `max` above.
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    codec::decode(&body, max).map_err(|e| invalid(format!("sync frame: {e}")))
}

/// Encodes `value` and writes it as one frame of at most `max` body bytes.
pub async fn write_frame<T, W>(io: &mut W, value: &T, max: usize) -> io::Result<()>
where
    T: Serialize,
    W: AsyncWrite + Unpin + Send,
{
    let body = codec::try_encode(value).map_err(|e| invalid(e.to_string()))?;
    write_raw_frame(io, &body, max).await
}

/// Writes `body` as one frame (length prefix included), refusing bodies over
/// `max`.
pub async fn write_raw_frame<W>(io: &mut W, body: &[u8], max: usize) -> io::Result<()>
where
    W: AsyncWrite + Unpin + Send,
{
    if body.len() > max {
        return Err(invalid(format!(
            "sync frame of {} bytes exceeds {max}",
            body.len()
        )));
    }
    let len = u32::try_from(body.len()).map_err(|_| invalid("sync frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(body).await?;
    io.flush().await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let r = read_frame(io, MAX_REQUEST_BYTES)
            .await
            .and_then(|req| check_request(&req).map(|()| req));
        self.count(r)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let r = read_frame(io, MAX_RESPONSE_BYTES)
            .await
            .and_then(|res| check_response(&res).map(|()| res));
        self.count(r)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, MAX_REQUEST_BYTES).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, MAX_RESPONSE_BYTES).await
    }
}

/// Checks the protocol's rules on a decoded request.
pub fn check_request(req: &SyncRequest) -> io::Result<()> {
    match req {
        SyncRequest::Heads => Ok(()),
        SyncRequest::Range { from_seq, max, .. } => {
            if *from_seq == 0 {
                return Err(invalid("range from sequence number 0"));
            }
            if *max == 0 {
                return Err(invalid("range of 0 events"));
            }
            Ok(())
        }
    }
}

/// Checks the protocol's count and size rules on a decoded response.
pub fn check_response(res: &SyncResponse) -> io::Result<()> {
    match res {
        SyncResponse::Heads(heads) if heads.len() > MAX_HEADS => {
            Err(invalid(format!("{} heads exceed {MAX_HEADS}", heads.len())))
        }
        SyncResponse::Events(events) => {
            if events.len() > MAX_RANGE_EVENTS {
                return Err(invalid(format!(
                    "{} events exceed {MAX_RANGE_EVENTS}",
                    events.len()
                )));
            }
            let mut total = 0usize;
            for e in events {
                if e.is_empty() || e.len() > codec::MAX_EVENT_BYTES {
                    return Err(invalid(format!("event of {} bytes", e.len())));
                }
                total += e.len();
            }
            if total > MAX_RANGE_BYTES {
                return Err(invalid(format!(
                    "{total} bytes of events exceed {MAX_RANGE_BYTES}"
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Trims `heads` to what one `Heads` response may carry.
pub(crate) fn bound_heads(mut heads: Vec<FeedHeadWire>) -> Vec<FeedHeadWire> {
    heads.truncate(MAX_HEADS);
    heads
}

/// Trims `events` to what one `Range` response may carry: at most `max`
/// (and [`MAX_RANGE_EVENTS`]) events and [`MAX_RANGE_BYTES`] bytes, stopping
/// at the first event that is empty or larger than an event may be.
pub(crate) fn bound_events(events: Vec<Vec<u8>>, max: usize) -> Vec<Vec<u8>> {
    let max = max.min(MAX_RANGE_EVENTS);
    let mut total = 0usize;
    let mut out = Vec::with_capacity(events.len().min(max));
    for e in events.into_iter().take(max) {
        if e.is_empty() || e.len() > codec::MAX_EVENT_BYTES || total + e.len() > MAX_RANGE_BYTES {
            break;
        }
        total += e.len();
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;

    fn author() -> AuthorId {
        AuthorId::new("BW", "mme").unwrap()
    }

    #[test]
    fn request_round_trip() {
        let req = SyncRequest::Range {
            author: author(),
            from_seq: 7,
            max: 100,
        };
        let mut buf = Vec::new();
        block_on(write_frame(
            &mut Cursor::new(&mut buf),
            &req,
            MAX_REQUEST_BYTES,
        ))
        .unwrap();
        let back: SyncRequest =
            block_on(read_frame(&mut Cursor::new(&buf), MAX_REQUEST_BYTES)).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn largest_range_response_decodes() {
        // The byte bound must stay under the codec's allocation ceiling.
        let n = MAX_RANGE_BYTES / codec::MAX_EVENT_BYTES;
        let mut events = vec![vec![1u8; codec::MAX_EVENT_BYTES]; n];
        events.push(vec![2u8; MAX_RANGE_BYTES - n * codec::MAX_EVENT_BYTES]);
        let res = SyncResponse::Events(events);
        check_response(&res).unwrap();
        let mut buf = Vec::new();
        block_on(write_frame(
            &mut Cursor::new(&mut buf),
            &res,
            MAX_RESPONSE_BYTES,
        ))
        .unwrap();
        let back: SyncResponse =
            block_on(read_frame(&mut Cursor::new(&buf), MAX_RESPONSE_BYTES)).unwrap();
        assert_eq!(back, res);

        let many = SyncResponse::Events(vec![vec![3u8; 800]; MAX_RANGE_EVENTS]);
        check_response(&many).unwrap();
        let mut buf = Vec::new();
        block_on(write_frame(
            &mut Cursor::new(&mut buf),
            &many,
            MAX_RESPONSE_BYTES,
        ))
        .unwrap();
        let back: SyncResponse =
            block_on(read_frame(&mut Cursor::new(&buf), MAX_RESPONSE_BYTES)).unwrap();
        assert_eq!(back, many);
    }

    #[test]
    fn largest_heads_response_fits() {
        let name = "a".repeat(ledger_core::model::MAX_NAME_LEN);
        let head = FeedHeadWire {
            author: AuthorId::new("ZA", &name).unwrap(),
            seq: u64::MAX,
            id: ledger_core::Digest::ZERO,
        };
        let res = SyncResponse::Heads(vec![head; MAX_HEADS]);
        let mut buf = Vec::new();
        block_on(write_frame(
            &mut Cursor::new(&mut buf),
            &res,
            MAX_RESPONSE_BYTES,
        ))
        .unwrap();
        let back: SyncResponse =
            block_on(read_frame(&mut Cursor::new(&buf), MAX_RESPONSE_BYTES)).unwrap();
        assert_eq!(back, res);
    }

    #[test]
    fn bound_events_respects_limits() {
        let ev = vec![vec![1u8; 500]; 2000];
        assert_eq!(bound_events(ev.clone(), 5000).len(), MAX_RANGE_EVENTS);
        assert_eq!(bound_events(ev, 10).len(), 10);
        let big = vec![vec![1u8; codec::MAX_EVENT_BYTES]; 100];
        let out = bound_events(big, 100);
        assert_eq!(out.len(), MAX_RANGE_BYTES / codec::MAX_EVENT_BYTES);
        let bad = vec![vec![1u8; 10], vec![], vec![1u8; 10]];
        assert_eq!(bound_events(bad, 10).len(), 1);
    }
}
