//! QUIC endpoints between nodes. Every connection starts with a `Hello` carrying the
//! cluster token; a peer without the right token (or speaking another wire version) is
//! refused and logged before any other message is read. After that, each request is one
//! bidirectional stream: one frame in, one frame out. A malformed, oversized or
//! truncated frame closes that peer's connection with a logged reason; the endpoint keeps
//! serving everyone else.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use quinn::VarInt;

use super::serve::{Unauthenticated, serve};
use super::stream::{read_frame, read_message, write_message};
use super::tls::{self, Identity};
use super::{Bulk, JoinAddress, Service, TransportError, WIRE_VERSION, WireMessage, encode_frame};
use crate::ids::NodeId;

/// Application close codes.
pub(super) const CLOSE_REFUSED: u32 = 1;
pub(super) const CLOSE_BAD_FRAME: u32 = 2;
const CLOSE_STOPPED: u32 = 3;

/// A node's QUIC endpoint: serves peers and connects to them.
pub struct Endpoint {
    inner: quinn::Endpoint,
    /// The address other hosts reach it at (see [`Endpoint::advertise`]).
    advertised: std::sync::OnceLock<IpAddr>,
    node_id: NodeId,
    token: Arc<str>,
    identity: Identity,
}

impl Endpoint {
    /// Binds `addr` (use port 0 for any free port) and serves `service` to peers that
    /// present `token`. Must be called inside a Tokio runtime (any actix arbiter).
    ///
    /// # Errors
    /// [`TransportError::Io`] if the socket cannot be bound, [`TransportError::Tls`] for
    /// a bad identity.
    pub fn bind(
        addr: SocketAddr,
        node_id: NodeId,
        token: String,
        identity: Identity,
        service: Arc<dyn Service>,
    ) -> Result<Self, TransportError> {
        let io = |e: std::io::Error| TransportError::Io(e.to_string());
        let runtime = quinn::default_runtime()
            .ok_or_else(|| TransportError::Io("no async runtime on this thread".into()))?;
        let inner = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(tls::server_config(&identity)?),
            udp_socket(addr).map_err(io)?,
            runtime,
        )
        .map_err(io)?;
        let token: Arc<str> = token.into();
        let accept = inner.clone();
        let accept_token = token.clone();
        let pending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        actix_rt::spawn(async move {
            while let Some(incoming) = accept.accept().await {
                let Some(ticket) = Unauthenticated::take(&pending) else {
                    tracing::warn!(node_id = %node_id, remote = %incoming.remote_address(), "refused a connection: too many have not shown the token yet");
                    incoming.refuse();
                    continue;
                };
                actix_rt::spawn(serve(
                    incoming,
                    ticket,
                    accept_token.clone(),
                    node_id,
                    service.clone(),
                ));
            }
        });
        Ok(Self {
            inner,
            advertised: std::sync::OnceLock::new(),
            node_id,
            token,
            identity,
        })
    }

    /// Sets the address its join address names: needed when it is bound to all
    /// interfaces (`0.0.0.0` or `[::]`), where the bound address names none. Only the
    /// first call counts.
    pub fn advertise(&self, ip: IpAddr) {
        let _ = self.advertised.set(ip);
    }

    /// The bound address.
    ///
    /// # Errors
    /// [`TransportError::Io`] if the socket is gone.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        self.inner
            .local_addr()
            .map_err(|e| TransportError::Io(e.to_string()))
    }

    /// The address other nodes join with: the bound one, with the advertised IP when
    /// one was set.
    ///
    /// # Errors
    /// As [`Endpoint::local_addr`].
    pub fn join_address(&self) -> Result<JoinAddress, TransportError> {
        let mut addr = self.local_addr()?;
        if let Some(ip) = self.advertised.get() {
            addr.set_ip(*ip);
        }
        Ok(JoinAddress {
            addr,
            token: self.token.to_string(),
            fingerprint: self.identity.fingerprint(),
        })
    }

    /// Connects to a peer and presents our token.
    ///
    /// # Errors
    /// [`TransportError::Refused`] for a wrong token or version, [`TransportError::Tls`]
    /// when the peer's certificate is not the pinned one, [`TransportError::Io`] when it
    /// cannot be reached.
    pub async fn connect(&self, to: &JoinAddress) -> Result<Peer, TransportError> {
        let connecting = self
            .inner
            .connect_with(
                tls::client_config(to.fingerprint)?,
                to.addr,
                tls::SERVER_NAME,
            )
            .map_err(|e| TransportError::Io(e.to_string()))?;
        let conn = connecting.await.map_err(connection_error)?;
        let peer = Peer { conn };
        let hello = WireMessage::Hello {
            version: WIRE_VERSION,
            node_id: self.node_id,
            token: to.token.clone(),
        };
        match peer.request(&hello).await? {
            WireMessage::Welcome { .. } => Ok(peer),
            other => Err(TransportError::Malformed(format!(
                "expected Welcome, got {other:?}"
            ))),
        }
    }

    /// Closes every connection at once, without a goodbye (as a crash would).
    pub fn close(&self) {
        self.inner
            .close(VarInt::from_u32(CLOSE_STOPPED), b"node stopped");
    }
}

/// Kernel buffer asked for the endpoint's socket (the kernel caps it at its maximum).
const SOCKET_BUFFER_BYTES: usize = 8 << 20;

/// A UDP socket bound to `addr` whose buffers absorb a burst of datagrams: a bulk
/// transfer outpaces the reading thread for a moment, and a dropped datagram costs a
/// retransmission round trip. `[::]` means every interface of both families (IPv4
/// peers arrive as mapped addresses); where IPv6 is off, it falls back to `0.0.0.0`.
fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bind = |addr: SocketAddr| -> std::io::Result<Socket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        // Best effort: a smaller buffer only costs speed.
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
        let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
        if addr.is_ipv6() && addr.ip().is_unspecified() {
            socket.set_only_v6(false)?;
        }
        socket.bind(&addr.into())?;
        Ok(socket)
    };
    let socket = match bind(addr) {
        Err(_) if addr.is_ipv6() && addr.ip().is_unspecified() => bind(SocketAddr::new(
            std::net::Ipv4Addr::UNSPECIFIED.into(),
            addr.port(),
        ))?,
        other => other?,
    };
    Ok(socket.into())
}

/// An authenticated connection to a peer.
#[derive(Clone)]
pub struct Peer {
    conn: quinn::Connection,
}

impl Peer {
    /// Closes the connection: requests waiting on it fail at once (used when the peer is
    /// known dead, rather than waiting for the idle timeout).
    pub fn close(&self, reason: &str) {
        self.conn.close(VarInt::from_u32(0), reason.as_bytes());
    }

    /// Sends one request and waits for its answer.
    ///
    /// # Errors
    /// [`TransportError::Closed`]/[`TransportError::Refused`] when the connection is
    /// gone, or a frame error from the peer's answer.
    pub async fn request(&self, msg: &WireMessage) -> Result<WireMessage, TransportError> {
        self.request_with(msg, &[]).await.map(|(m, _)| m)
    }

    /// Sends one request followed by bulk `payload` on the same stream (large values
    /// travel this way, never inside a frame; QUIC flow control paces them) and returns
    /// the answer with its bulk data.
    ///
    /// # Errors
    /// As [`Peer::request`].
    pub async fn request_with(
        &self,
        msg: &WireMessage,
        payload: &[u8],
    ) -> Result<(WireMessage, Vec<u8>), TransportError> {
        self.open().await?.exchange(msg, &[payload]).await
    }

    /// Opens the stream for one request. Streams are opened (and numbered) in the
    /// order of these calls, so a caller that needs its requests to reach the peer in
    /// order opens them in that order; waiting for the peer's stream limit happens here.
    ///
    /// # Errors
    /// As [`Peer::request`].
    pub async fn open(&self) -> Result<Exchange, TransportError> {
        let (send, recv) = self.conn.open_bi().await.map_err(connection_error)?;
        Ok(Exchange {
            conn: self.conn.clone(),
            send,
            recv,
        })
    }

    /// Opens a persistent channel with `open` as its first frame (see
    /// [`WireMessage::opens_channel`]); the peer answers on it.
    ///
    /// # Errors
    /// As [`Peer::request`].
    pub async fn open_channel(
        &self,
        open: &WireMessage,
        payload: &Bulk,
    ) -> Result<super::Channel, TransportError> {
        let (mut send, recv) = self.conn.open_bi().await.map_err(connection_error)?;
        let mut head = encode_frame(open)?;
        // The bulk payload's length is always announced: the peer reads the request
        // without waiting for the end of the stream, which stays open.
        head.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        let closed = |e: quinn::WriteError| TransportError::Closed(e.to_string());
        send.write_all(&head).await.map_err(closed)?;
        for piece in payload.pieces() {
            send.write_all(piece).await.map_err(closed)?;
        }
        Ok(super::Channel { send, recv })
    }

    /// Sends raw bytes as a request (for tests of malformed input) and returns whatever
    /// the peer answered, or why it did not.
    #[doc(hidden)]
    pub async fn request_raw(&self, bytes: &[u8]) -> Result<WireMessage, TransportError> {
        let (mut send, mut recv) = self.conn.open_bi().await.map_err(connection_error)?;
        send.write_all(bytes)
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))?;
        let _ = send.finish();
        match read_frame(&mut recv).await {
            Ok(m) => Ok(m),
            Err(e) => Err(match self.conn.closed().await {
                reason @ quinn::ConnectionError::ApplicationClosed(_) => connection_error(reason),
                _ => e,
            }),
        }
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.conn.remote_address()
    }
}

/// One opened request stream: see [`Peer::open`].
pub struct Exchange {
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl Exchange {
    /// Sends the request with its bulk data, `pieces` one after another, and returns the
    /// answer with its bulk data.
    ///
    /// # Errors
    /// As [`Peer::request`].
    pub async fn exchange(
        mut self,
        msg: &WireMessage,
        pieces: &[&[u8]],
    ) -> Result<(WireMessage, Vec<u8>), TransportError> {
        write_message(&mut self.send, msg, pieces).await?;
        // The answer is due.
        super::awake::keep_awake();
        let answer =
            read_message(&mut self.recv)
                .await
                .map_err(|e| match self.conn.close_reason() {
                    Some(reason) => connection_error(reason),
                    None => e,
                })?;
        take_end(&mut self.recv);
        Ok(answer)
    }
}

/// Reads the end of a stream whose last message was read, when it is already here (the
/// peer finishes a request or an answer in the packet that carries it). A stream dropped
/// before its end was read makes quinn tell the peer to stop sending (`STOP_SENDING`),
/// in a packet of its own when nothing else is being sent: one more datagram, and one
/// more wake-up of the peer's node thread, per request.
pub(super) fn take_end(recv: &mut quinn::RecvStream) {
    use futures::FutureExt;
    let _ = recv.read_chunk(usize::MAX, true).now_or_never();
}

fn connection_error(e: quinn::ConnectionError) -> TransportError {
    match e {
        quinn::ConnectionError::ApplicationClosed(c)
            if c.error_code == VarInt::from_u32(CLOSE_REFUSED) =>
        {
            TransportError::Refused(String::from_utf8_lossy(&c.reason).into_owned())
        }
        quinn::ConnectionError::ApplicationClosed(c) => {
            TransportError::Closed(String::from_utf8_lossy(&c.reason).into_owned())
        }
        quinn::ConnectionError::TransportError(t) => TransportError::Tls(t.to_string()),
        other => TransportError::Closed(other.to_string()),
    }
}
