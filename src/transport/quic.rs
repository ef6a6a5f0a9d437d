//! QUIC endpoints between nodes. Every connection starts with a `Hello` carrying the
//! cluster token; a peer without the right token (or speaking another wire version) is
//! refused and logged before any other message is read. After that, each request is one
//! bidirectional stream: one frame in, one frame out. A malformed, oversized or
//! truncated frame closes that peer's connection with a logged reason; the endpoint keeps
//! serving everyone else.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use futures::future::BoxFuture;
use quinn::VarInt;

use super::serve::{Unauthenticated, serve};
use super::stream::{read_frame, read_message, write_message};
use super::tls::{self, Identity};
use super::{Bulk, TransportError, WIRE_VERSION, WireMessage, encode_frame};
use crate::ids::NodeId;

/// Application close codes.
pub(super) const CLOSE_REFUSED: u32 = 1;
pub(super) const CLOSE_BAD_FRAME: u32 = 2;
const CLOSE_STOPPED: u32 = 3;

/// Where and how to join a cluster: `ray://TOKEN@HOST:PORT#CERT_SHA256`. `HOST` is an
/// IPv4 address, a bracketed IPv6 address or a host name (resolved when parsed).
///
/// # Examples
/// ```
/// use ray::transport::JoinAddress;
///
/// let a: JoinAddress = format!("ray://secret@127.0.0.1:6379#{}", "ab".repeat(32)).parse().unwrap();
/// assert_eq!(a.addr.port(), 6379);
/// assert_eq!(a.to_string().parse::<JoinAddress>().unwrap(), a);
/// assert!("127.0.0.1:6379".parse::<JoinAddress>().is_err());
/// let v6: JoinAddress = format!("ray://secret@[::1]:6379#{}", "ab".repeat(32)).parse().unwrap();
/// assert!(v6.addr.is_ipv6());
/// let named: JoinAddress = format!("ray://secret@localhost:6379#{}", "ab".repeat(32)).parse().unwrap();
/// assert!(named.addr.ip().is_loopback());
/// // An error names the address but never the token.
/// let e = format!("ray://secret@no-such-host.invalid:1#{}", "ab".repeat(32)).parse::<JoinAddress>();
/// let e = e.unwrap_err().to_string();
/// assert!(e.contains("no-such-host.invalid") && !e.contains("secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct JoinAddress {
    /// The head's QUIC endpoint.
    pub addr: SocketAddr,
    /// The cluster token.
    pub token: String,
    /// SHA-256 of the cluster's certificate.
    pub fingerprint: [u8; 32],
}

impl fmt::Display for JoinAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ray://{}@{}#{}",
            self.token,
            self.addr,
            tls::hex(&self.fingerprint)
        )
    }
}

impl fmt::Debug for JoinAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a secret: never in logs.
        write!(
            f,
            "JoinAddress({}#{})",
            self.addr,
            tls::hex(&self.fingerprint)
        )
    }
}

impl FromStr for JoinAddress {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Self, TransportError> {
        // The token is a secret: an error shows the address without it.
        let shown = match s.strip_prefix("ray://").and_then(|r| r.rsplit_once('@')) {
            Some((_, rest)) => format!("ray://…@{rest}"),
            None => s.to_string(),
        };
        let bad = |why: &str| {
            TransportError::BadAddress(format!(
                "`{shown}`: {why} (expected ray://TOKEN@HOST:PORT#CERT_SHA256)"
            ))
        };
        let rest = s
            .strip_prefix("ray://")
            .ok_or_else(|| bad("missing ray://"))?;
        let (token, rest) = rest.rsplit_once('@').ok_or_else(|| bad("missing TOKEN@"))?;
        let (addr, pin) = rest
            .split_once('#')
            .ok_or_else(|| bad("missing #CERT_SHA256"))?;
        let addr = super::resolve(addr).map_err(|e| bad(&e.to_string()))?;
        if pin.len() != 64 || !pin.is_ascii() {
            return Err(bad("the certificate hash must be 64 hex digits"));
        }
        let mut fingerprint = [0u8; 32];
        for (i, b) in fingerprint.iter_mut().enumerate() {
            *b = u8::from_str_radix(&pin[2 * i..2 * i + 2], 16)
                .map_err(|_| bad("the certificate hash is not hex"))?;
        }
        if token.is_empty() {
            return Err(bad("empty token"));
        }
        Ok(Self {
            addr,
            token: token.to_string(),
            fingerprint,
        })
    }
}

/// What a node does with requests from authenticated peers. Transport knows nothing
/// about what the messages mean.
pub trait Service: Send + Sync + 'static {
    /// Answers one request from peer `from`. `payload` is the bulk data that followed
    /// the request's frame on its stream (empty for most requests); the answer may carry
    /// bulk data too.
    fn handle(
        &self,
        from: NodeId,
        msg: WireMessage,
        payload: Vec<u8>,
    ) -> BoxFuture<'static, (WireMessage, super::Bulk)>;

    /// Takes a persistent channel peer `from` opened with `open` (see
    /// [`WireMessage::opens_channel`]) and its bulk `payload`. The default refuses it by
    /// dropping it.
    fn channel(&self, from: NodeId, open: WireMessage, payload: Vec<u8>, channel: super::Channel) {
        let _ = (from, open, payload, channel);
    }
}

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
