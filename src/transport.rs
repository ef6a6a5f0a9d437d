//! Transport: the framing every byte that leaves a process goes through. One frame is a
//! 4-byte big-endian length followed by a MessagePack-encoded, versioned [`WireMessage`].
//! This module knows nothing about scheduling; the QUIC endpoints that carry frames
//! between nodes arrive with the cluster work and reuse exactly this codec.

mod frame;

pub use frame::{
    FrameReader, MAX_FRAME_BYTES, WIRE_VERSION, WireMessage, decode_frame, encode_frame,
};

/// What can go wrong while encoding, reading or decoding frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
