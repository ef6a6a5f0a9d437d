//! The accepting side of a QUIC endpoint: each incoming connection must show the cluster
//! token in a small `Hello` within [`HELLO_TIMEOUT`] while it holds one of a capped number
//! of unauthenticated places; then each of its streams is one request, answered by the
//! endpoint's `Service` (or a channel it keeps).

use std::sync::Arc;
use std::time::Duration;

use quinn::VarInt;

use super::quic::{CLOSE_BAD_FRAME, CLOSE_REFUSED, take_end};
use super::stream::{read_message, write_frame, write_message};
use super::tls;
use super::{Service, TransportError, WIRE_VERSION, WireMessage};
use crate::ids::NodeId;

/// How long a new connection may take to present its token.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest `Hello` frame a peer may announce.
const HELLO_MAX_BYTES: usize = 4 << 10;
/// Connections at once whose peer has not yet shown the token; more are refused.
const MAX_UNAUTHENTICATED: usize = 64;

/// One of the [`MAX_UNAUTHENTICATED`] places for a connection that has not shown the
/// token yet; dropped (given back) once it has, or once it is gone.
pub(super) struct Unauthenticated(Arc<std::sync::atomic::AtomicUsize>);

impl Unauthenticated {
    pub(super) fn take(count: &Arc<std::sync::atomic::AtomicUsize>) -> Option<Self> {
        use std::sync::atomic::Ordering;
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_UNAUTHENTICATED).then_some(n + 1)
            })
            .ok()
            .map(|_| Unauthenticated(count.clone()))
    }
}

impl Drop for Unauthenticated {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Serves one incoming connection: the token first, then requests.
pub(super) async fn serve(
    incoming: quinn::Incoming,
    ticket: Unauthenticated,
    token: Arc<str>,
    node_id: NodeId,
    service: Arc<dyn Service>,
) {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(node_id = %node_id, %remote, error = %e, "QUIC handshake failed");
            return;
        }
    };
    let peer = match actix_rt::time::timeout(HELLO_TIMEOUT, hello(&conn, &token)).await {
        Ok(Ok(peer)) => peer,
        Ok(Err(why)) => {
            tracing::warn!(node_id = %node_id, %remote, reason = %why, "peer refused");
            conn.close(VarInt::from_u32(CLOSE_REFUSED), why.as_bytes());
            return;
        }
        Err(_) => {
            tracing::warn!(node_id = %node_id, %remote, "peer refused: no hello in time");
            conn.close(VarInt::from_u32(CLOSE_REFUSED), b"no hello in time");
            return;
        }
    };
    // It showed the token: the limits of an authenticated peer.
    drop(ticket);
    conn.set_max_concurrent_bi_streams(VarInt::from_u32(super::MAX_STREAMS));
    conn.set_receive_window(VarInt::from_u32(tls::RECEIVE_WINDOW));
    tracing::info!(node_id = %node_id, peer = %peer, %remote, "peer connected");
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let service = service.clone();
        let conn = conn.clone();
        actix_rt::spawn(async move {
            match read_message(&mut recv).await {
                Ok((msg, payload)) if msg.opens_channel() => {
                    service.channel(peer, msg, payload, super::Channel { send, recv });
                }
                Ok((msg, payload)) => {
                    take_end(&mut recv);
                    // A request its peer gave up on (it stopped reading the answer, or
                    // the connection went) is dropped, with whatever waited for it.
                    let answer = service.handle(peer, msg, payload);
                    // The answer, then the caller's next request, are due.
                    super::awake::keep_awake();
                    let stopped = Box::pin(send.stopped());
                    let (reply, bulk) = match futures::future::select(answer, stopped).await {
                        futures::future::Either::Left((answer, _)) => answer,
                        futures::future::Either::Right(_) => {
                            tracing::debug!(peer = %peer, "request abandoned by its peer");
                            return;
                        }
                    };
                    if let Err(e) = write_message(&mut send, &reply, &bulk.pieces()).await {
                        tracing::debug!(peer = %peer, error = %e, "reply not delivered");
                    }
                    // A synchronous caller's next request is a round trip away, however
                    // long this one took.
                    super::awake::keep_awake();
                }
                Err(e) => {
                    tracing::warn!(peer = %peer, %remote, error = %e, "bad frame: closing the connection");
                    conn.close(VarInt::from_u32(CLOSE_BAD_FRAME), e.to_string().as_bytes());
                }
            }
        });
    }
}

/// Compares tokens in time independent of where they differ (and of their length):
/// compares their SHA-256 digests with no early exit.
fn same_token(a: &str, b: &str) -> bool {
    let (x, y) = (super::sha256(a.as_bytes()), super::sha256(b.as_bytes()));
    x.iter().zip(y).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// Reads the first request, which must be a `Hello` with our token and wire version.
async fn hello(conn: &quinn::Connection, token: &str) -> Result<NodeId, String> {
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
    // A small frame, read whole before anything is decoded or allocated for it.
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let announced = u32::from_be_bytes(len);
    let len = announced as usize;
    if len > HELLO_MAX_BYTES {
        return Err(format!(
            "a Hello of {len} bytes (the limit is {HELLO_MAX_BYTES})"
        ));
    }
    let mut frame = announced.to_be_bytes().to_vec();
    frame.resize(4 + len, 0);
    recv.read_exact(&mut frame[4..])
        .await
        .map_err(|e| e.to_string())?;
    let msg = super::decode_frame(&frame)
        .map_err(|e| e.to_string())?
        .ok_or("a truncated Hello")?
        .0;
    let WireMessage::Hello {
        version,
        node_id,
        token: theirs,
    } = msg
    else {
        return Err("the first message must be Hello".into());
    };
    if version != WIRE_VERSION {
        return Err(TransportError::VersionMismatch {
            got: version,
            ours: WIRE_VERSION,
        }
        .to_string());
    }
    if !same_token(&theirs, token) {
        return Err("wrong cluster token".into());
    }
    write_frame(&mut send, &WireMessage::Welcome { node_id })
        .await
        .map_err(|e| e.to_string())?;
    Ok(node_id)
}
