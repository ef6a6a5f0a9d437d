//! `Channel`: a persistent bidirectional QUIC stream carrying frames both ways until one
//! side finishes it (compiled graphs' edges between nodes), next to the one-request
//! streams of `quic.rs`.

use quinn::{RecvStream, SendStream};

use super::frame::{decode_body, encode_frame};
use super::{MAX_FRAME_BYTES, TransportError, WireMessage};

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
        let mut len = [0u8; 4];
        match self.recv.read_exact(&mut len).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
            Err(quinn::ReadExactError::FinishedEarly(got)) => {
                return Err(TransportError::Truncated { expected: 4, got });
            }
            Err(quinn::ReadExactError::ReadError(e)) => {
                return Err(TransportError::Closed(e.to_string()));
            }
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_FRAME_BYTES {
            return Err(TransportError::FrameTooLarge {
                len: n,
                max: MAX_FRAME_BYTES,
            });
        }
        let mut body = vec![0u8; n];
        self.recv.read_exact(&mut body).await.map_err(|e| match e {
            quinn::ReadExactError::FinishedEarly(got) => TransportError::Truncated {
                expected: 4 + n,
                got: 4 + got,
            },
            quinn::ReadExactError::ReadError(e) => TransportError::Closed(e.to_string()),
        })?;
        decode_body(&body).map(Some)
    }

    /// Ends our side: the peer's `recv` then returns `None`.
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }
}
