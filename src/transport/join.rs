//! Where a cluster is (`JoinAddress`, what `ray start --head` prints) and what a node
//! serves to its peers (`Service`): the parts of the transport that do not depend on
//! QUIC, so that they exist in a build without the `cluster` feature too.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use futures::future::BoxFuture;

use super::{TransportError, WireMessage};
use crate::ids::NodeId;

/// Where and how to join a cluster: `ray://TOKEN@HOST:PORT#CERT_SHA256`. `HOST` is an
/// IPv4 address, a bracketed IPv6 address or a host name (resolved when parsed);
/// `CERT_SHA256` pins the certificate of the node at `HOST:PORT` (the head, in an address
/// that others join with).
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
    /// SHA-256 of the certificate of the node at `addr` (each node generates its own at
    /// start).
    pub fingerprint: [u8; 32],
}

impl fmt::Display for JoinAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ray://{}@{}#{}",
            self.token,
            self.addr,
            super::hex(&self.fingerprint)
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
            super::hex(&self.fingerprint)
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
