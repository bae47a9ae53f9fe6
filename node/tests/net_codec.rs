//! The sync codec refuses oversized and garbage frames with an error and
//! never panics, both on bytes and over a real connection.

mod net_common;

use std::io;
use std::time::Duration;

use futures::executor::block_on;
use futures::io::Cursor;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use kpl_node::net::wire::{
    self, SyncCodec, SyncRequest, SyncResponse, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES,
    SYNC_PROTOCOL,
};
use libp2p::request_response::{self, Codec, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, StreamProtocol};
use net_common::*;

fn read_req(bytes: &[u8]) -> io::Result<SyncRequest> {
    block_on(SyncCodec::default().read_request(&SYNC_PROTOCOL, &mut Cursor::new(bytes)))
}

fn read_res(bytes: &[u8]) -> io::Result<SyncResponse> {
    block_on(SyncCodec::default().read_response(&SYNC_PROTOCOL, &mut Cursor::new(bytes)))
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn encode_req(req: &SyncRequest) -> Vec<u8> {
    let mut buf = Vec::new();
    block_on(SyncCodec::default().write_request(
        &SYNC_PROTOCOL,
        &mut Cursor::new(&mut buf),
        req.clone(),
    ))
    .unwrap();
    buf
}

/// A small deterministic generator for garbage.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn codec_refuses_oversized_and_garbage_frames() {
    // Valid frames decode.
    let heads = encode_req(&SyncRequest::Heads);
    assert_eq!(read_req(&heads).unwrap(), SyncRequest::Heads);
    let range = SyncRequest::Range {
        author: author(0),
        from_seq: 1,
        max: 10,
    };
    assert_eq!(read_req(&encode_req(&range)).unwrap(), range);

    // Oversized length prefixes are refused before anything is allocated.
    for len in [MAX_REQUEST_BYTES as u32 + 1, u32::MAX] {
        let mut f = len.to_be_bytes().to_vec();
        f.extend_from_slice(&[0u8; 16]);
        let e = read_req(&f).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }
    let mut f = (MAX_RESPONSE_BYTES as u32 + 1).to_be_bytes().to_vec();
    f.extend_from_slice(&[0u8; 16]);
    assert_eq!(read_res(&f).unwrap_err().kind(), io::ErrorKind::InvalidData);

    // Empty, truncated, trailing and malformed bodies.
    assert!(read_req(&[]).is_err());
    assert!(read_req(&[0, 0]).is_err());
    assert!(read_req(&frame(&[])).is_err());
    assert!(read_req(&heads[..heads.len() - 1]).is_err());
    let mut body = heads[4..].to_vec();
    body.push(0);
    assert!(
        read_req(&frame(&body)).is_err(),
        "trailing byte in the body"
    );
    assert!(read_req(&frame(&[9, 0, 0, 0])).is_err(), "unknown tag");
    // A range of 0 events or from sequence 0 breaks the protocol's rules.
    for bad in [
        SyncRequest::Range {
            author: author(0),
            from_seq: 0,
            max: 1,
        },
        SyncRequest::Range {
            author: author(0),
            from_seq: 1,
            max: 0,
        },
    ] {
        assert!(read_req(&encode_req(&bad)).is_err());
    }
    // A response claiming a huge vector inside a small frame.
    let mut lie = vec![1, 0, 0, 0];
    lie.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(read_res(&frame(&lie)).is_err());
    // Too many events in a response.
    let many = SyncResponse::Events(vec![vec![1u8]; wire::MAX_RANGE_EVENTS + 1]);
    let body = ledger_core::codec::encode(&many);
    assert!(read_res(&frame(&body)).is_err());

    // Random garbage, with and without a plausible length prefix: errors only.
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for i in 0..3_000 {
        let n = (rng.next() % 300) as usize;
        let mut bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        if i % 2 == 0 && n >= 4 {
            bytes[..4].copy_from_slice(&((n - 4) as u32).to_be_bytes());
        }
        let _ = read_req(&bytes);
        let _ = read_res(&bytes);
    }
    // Flipping bytes of valid frames: never a panic.
    let valid = encode_req(&range);
    for i in 0..valid.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = valid.clone();
            b[i] ^= x;
            let _ = read_req(&b);
        }
    }
}

/// A client codec that sends raw bytes and reads whatever comes back
/// (bounded), to put garbage on a real sync stream.
#[derive(Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(io::Error::other("client only"))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut out = Vec::new();
        io.take(MAX_RESPONSE_BYTES as u64 + 4)
            .read_to_end(&mut out)
            .await?;
        Ok(out)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(io::Error::other("client only"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_wire_gets_an_error_and_the_node_survives() {
    let charter = charter(&[0, 1]);
    let network = charter.network_id();
    let a = start(0, &charter, MemSource::with(&feed(network, 0, 3))).await;
    let a_addr = a.addr().await;

    // The raw client has member 1's key, so the gate lets it in.
    let mut client = libp2p::SwarmBuilder::with_existing_identity(node_key(1))
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::<RawCodec>::new(
                [(SYNC_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    client.dial(a_addr).unwrap();

    let mut oversized = (u32::MAX).to_be_bytes().to_vec();
    oversized.extend_from_slice(&[7u8; 64]);
    let mut garbage_len = 40u32.to_be_bytes().to_vec();
    garbage_len.extend_from_slice(&[0xAB; 40]);
    let requests: Vec<(Vec<u8>, bool)> = vec![
        (oversized, false),
        (garbage_len, false),
        (vec![0xFF; 3], false),
        (encode_req(&SyncRequest::Heads), true),
    ];

    let mut pending = None;
    let mut next = 0usize;
    let mut outcomes = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for _ in 0..10_000 {
        if outcomes.len() == requests.len() {
            break;
        }
        let ev = tokio::time::timeout_at(deadline, client.select_next_some())
            .await
            .expect("client finished within 30 s");
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if pending.is_none() => {
                assert_eq!(peer_id, a.peer);
                pending = Some(
                    client
                        .behaviour_mut()
                        .send_request(&a.peer, requests[next].0.clone()),
                );
            }
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }) => {
                outcomes.push(Ok(response));
                next += 1;
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => {
                outcomes.push(Err(error.to_string()));
                next += 1;
            }
            _ => continue,
        }
        if next > 0 && next < requests.len() && outcomes.len() == next {
            pending = Some(
                client
                    .behaviour_mut()
                    .send_request(&a.peer, requests[next].0.clone()),
            );
        }
    }
    assert!(pending.is_some());
    assert_eq!(outcomes.len(), requests.len(), "{outcomes:?}");
    for ((_, valid), outcome) in requests.iter().zip(&outcomes) {
        let decoded = match outcome {
            Ok(bytes) => wire::read_frame::<SyncResponse, _>(
                &mut Cursor::new(bytes.as_slice()),
                MAX_RESPONSE_BYTES,
            )
            .await
            .ok(),
            Err(_) => None,
        };
        if *valid {
            match decoded {
                Some(SyncResponse::Heads(h)) => {
                    assert_eq!(h.len(), 1);
                    assert_eq!(h[0].seq, 3);
                }
                other => panic!("valid request after garbage: {other:?} / {outcome:?}"),
            }
        } else {
            assert!(decoded.is_none(), "garbage got an answer: {decoded:?}");
        }
    }

    // The node is alive and counted the failures.
    let st = a.handle.status().await.unwrap();
    assert!(st.counters.bad_frames >= 2, "{:?}", st.counters);
    a.handle.shutdown().await.unwrap();
}
