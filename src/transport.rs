//! Transport: the framing every byte that leaves a process goes through. One frame is a
//! 4-byte big-endian length followed by a MessagePack-encoded, versioned [`WireMessage`].
//! This module knows nothing about scheduling; the QUIC endpoints that carry frames
//! between nodes (`quic.rs`, with TLS pinning in `tls.rs`) carry exactly these frames,
//! one request or channel per stream (`stream.rs`).

mod addr;
// Only endpoints poll; the rest of the crate asks whether one does.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
mod awake;
mod bulk;
#[cfg(feature = "cluster")]
mod channel;
mod dag;
mod digest;
mod frame;
mod job;
mod join;
#[cfg(not(feature = "cluster"))]
mod offline;
#[cfg(feature = "cluster")]
mod quic;
#[cfg(feature = "cluster")]
mod serve;
mod stream;
mod table;
#[cfg(feature = "cluster")]
mod tls;

pub use addr::{check_local, default_route_ip, resolve, route_source};
pub(crate) use awake::polling;
pub use bulk::{Bulk, Piece};
#[cfg(feature = "cluster")]
pub use channel::{Channel, ChannelRecv, ChannelSend};
pub use dag::{DagArg, DagOp, DagPartSpec, DagPeer};
pub(crate) use digest::{hex, sha256};
pub(crate) use frame::decode_body;
pub use frame::{
    FrameReader, MAX_FRAME_BYTES, WIRE_VERSION, WireError, WireMessage, decode_frame, encode_frame,
};
pub use job::{
    BlobKind, ContentHash, JobRecord, JobReply, JobRequest, JobSpec, JobState,
    MAX_WORKING_DIR_BYTES, WorkerRequest,
};
pub use join::{JoinAddress, Service};
#[cfg(not(feature = "cluster"))]
pub use offline::{Channel, ChannelRecv, ChannelSend, Endpoint, Exchange, Identity, Peer};
#[cfg(feature = "cluster")]
pub use quic::{Endpoint, Exchange, Peer};
pub use stream::MAX_PAYLOAD_BYTES;
pub(crate) use stream::{Chunks, FIRST_CHUNK, read_frame_or_end, read_message};
pub use table::{NodeLoad, WireActor, WireJob, WireNode};
#[cfg(feature = "cluster")]
pub use tls::Identity;

/// What a build without the `cluster` feature answers when asked to start or join a
/// cluster.
pub(crate) const NO_CLUSTER: &str = "this build of ray has no cluster support: starting or joining a cluster needs the `cluster` feature (on by default)";

/// Requests in flight per authenticated connection (each is a stream): many actor calls
/// and tasks wait at once between two nodes; quinn's default of 100 would queue the rest.
pub(crate) const MAX_STREAMS: u32 = 1 << 16;

/// The QUIC client configuration that trusts only the certificate with SHA-256 `pin`,
/// for tests that speak QUIC to a node without our handshake (e.g. an attacker without
/// the token).
///
/// # Errors
/// [`TransportError::Tls`] if the TLS stack cannot be set up.
///
/// # Examples
/// ```
/// assert!(ray::transport::client_config([0; 32]).is_ok());
/// ```
#[doc(hidden)]
#[cfg(feature = "cluster")]
pub fn client_config(pin: [u8; 32]) -> Result<quinn::ClientConfig, TransportError> {
    tls::client_config(pin)
}

/// What can go wrong while encoding, reading or decoding frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum TransportError {
    /// The length prefix announces more than [`MAX_FRAME_BYTES`].
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ended inside a frame.
    #[error("truncated frame: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes the frame needs.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// The payload is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// TLS failed, or the peer's certificate is not the pinned one.
    #[error("TLS: {0}")]
    Tls(String),
    /// The socket could not be bound or the peer reached.
    #[error("network: {0}")]
    Io(String),
    /// The peer refused us (wrong token or version).
    #[error("refused by the peer: {0}: check the cluster token in the join address")]
    Refused(String),
    /// The connection is closed.
    #[error("connection closed: {0}")]
    Closed(String),
    /// A join address that cannot be parsed.
    #[error("bad join address {0}")]
    BadAddress(String),
    /// The peer speaks another protocol version.
    #[error(
        "peer speaks wire version {got}, this node speaks {ours}: run the same build on every node"
    )]
    VersionMismatch {
        /// The peer's version.
        got: u16,
        /// Ours.
        ours: u16,
    },
}
