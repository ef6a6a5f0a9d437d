//! Bulk data: what follows a frame on a request stream, sent as pieces one after another.
//! A large value that several requests carry (an object passed to tasks on eight nodes)
//! is one shared piece of each of them, never copied into them.

use std::sync::Arc;

use smallvec::SmallVec;

/// One piece of bulk data: bytes shared with whatever else holds them (a buffer of
/// their own, or a stored value itself, sent without being copied).
pub type Piece = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// The bulk data of one request: pieces written in order, shared by every attempt of the
/// request (cloning copies no bytes). Up to two pieces, the usual case, are held inline.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use ray::transport::{Bulk, Piece};
///
/// let shared = Arc::new(vec![7u8; 4]);
/// let bulk = Bulk::from_pieces([Arc::new(vec![1u8, 2]) as Piece, shared.clone() as Piece]);
/// assert_eq!(bulk.len(), 6);
/// assert_eq!(bulk.concat(), [1, 2, 7, 7, 7, 7]);
/// assert_eq!(Arc::strong_count(&shared), 2, "the piece is shared, not copied");
/// ```
#[derive(Clone, Default)]
pub struct Bulk(SmallVec<[Piece; 2]>);

impl Bulk {
    /// Bulk data made of `pieces`, in order.
    pub fn from_pieces(pieces: impl IntoIterator<Item = Piece>) -> Self {
        Self(pieces.into_iter().collect())
    }

    /// Appends the pieces of `other`, sharing them.
    pub fn append(&mut self, other: Bulk) {
        self.0.extend(other.0);
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.0.iter().map(|p| (**p).as_ref().len()).sum()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|p| (**p).as_ref().is_empty())
    }

    /// The pieces, in order.
    pub fn pieces(&self) -> SmallVec<[&[u8]; 2]> {
        self.0.iter().map(|p| (**p).as_ref()).collect()
    }

    /// All pieces in one buffer (for a request that stays in this process).
    pub fn concat(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for p in self.pieces() {
            out.extend_from_slice(p);
        }
        out
    }
}

impl From<Vec<u8>> for Bulk {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from(Arc::new(bytes))
    }
}

impl From<Arc<Vec<u8>>> for Bulk {
    fn from(bytes: Arc<Vec<u8>>) -> Self {
        Self(smallvec::smallvec![bytes as Piece])
    }
}
