//! `Channel`: a persistent bidirectional QUIC stream carrying frames both ways until one
//! side finishes it (compiled graphs' edges between nodes), next to the one-request
//! streams of `quic.rs`; and what a node's part of a compiled graph is on the wire
//! (`DagPartSpec`). What the frames mean to a graph lives in `dag/`.

use quinn::{RecvStream, SendStream};

use super::frame::encode_frame;
use super::{TransportError, WireMessage};

/// A persistent stream to a peer: frames in order each way.
pub struct Channel {
    pub(super) send: SendStream,
    pub(super) recv: RecvStream,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channel({})", self.send.id())
    }
}

impl Channel {
    /// Sends one frame.
    ///
    /// # Errors
    /// [`TransportError::Closed`] when the stream or its connection is gone.
    pub async fn send(&mut self, msg: &WireMessage) -> Result<(), TransportError> {
        let frame = encode_frame(msg)?;
        self.send
            .write_all(&frame)
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))
    }

    /// The next frame; `None` once the peer finished the stream.
    ///
    /// # Errors
    /// [`TransportError::Closed`] when the connection is gone, or a frame error.
    pub async fn recv(&mut self) -> Result<Option<WireMessage>, TransportError> {
        super::stream::read_frame_or_end(&mut self.recv).await
    }

    /// Ends our side: the peer's `recv` then returns `None`.
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }

    /// The two directions apart, for a reader and a writer that run independently (a
    /// pending `recv` must not be dropped midway: it may have consumed part of a frame).
    pub fn split(self) -> (ChannelSend, ChannelRecv) {
        (ChannelSend(self.send), ChannelRecv(self.recv))
    }
}

/// The sending half of a [`Channel`].
pub struct ChannelSend(SendStream);

impl ChannelSend {
    /// Sends one frame (as [`Channel::send`]).
    ///
    /// # Errors
    /// [`TransportError::Closed`] when the stream or its connection is gone.
    pub async fn send(&mut self, msg: &WireMessage) -> Result<(), TransportError> {
        let frame = encode_frame(msg)?;
        self.0
            .write_all(&frame)
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))
    }

    /// Ends this direction (as [`Channel::finish`]).
    pub fn finish(&mut self) {
        let _ = self.0.finish();
    }
}

/// The receiving half of a [`Channel`].
pub struct ChannelRecv(RecvStream);

impl ChannelRecv {
    /// The next frame; `None` once the peer finished (as [`Channel::recv`]).
    ///
    /// # Errors
    /// As [`Channel::recv`].
    pub async fn recv(&mut self) -> Result<Option<WireMessage>, TransportError> {
        super::stream::read_frame_or_end(&mut self.0).await
    }
}
