//! `Channel`: a persistent bidirectional QUIC stream carrying frames both ways until one
//! side finishes it (compiled graphs' edges between nodes), next to the one-request
//! streams of `quic.rs`.

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
        super::quic::read_frame_or_end(&mut self.recv).await
    }

    /// Ends our side: the peer's `recv` then returns `None`.
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }
}
