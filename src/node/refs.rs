//! Where a ref meets its node: a blocking read that lends a synchronous task's CPU back
//! while it waits, and the trip of a ref to another node. Encoding pins the object here
//! (or lends it, inside a hand-off: `store/handoff.rs`); decoding joins the local count,
//! or starts a pull through the node's cluster agent. The ref itself (`store/object_ref.rs`)
//! knows nothing of nodes.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Node, block_on, current_node, running_node};
use crate::ids::{NodeId, ObjectId};
use crate::store::{
    BorrowState, ObjectRef, PullObject, RawRef, ReleaseBorrow, StoredValue, decode_owned_as,
    escaping, lent, object_ref_downcast as downcast,
};
use crate::{Error, Result};

impl<T: Send + Sync + 'static> ObjectRef<T> {
    /// Blocks until the value is available and returns a shared pointer to it: no copy,
    /// however large the value.
    ///
    /// # Errors
    /// The task's error, [`Error::ObjectLost`], or [`Error::ShutDown`].
    pub fn get_arc(&self) -> Result<Arc<T>> {
        let v = block_on(self.raw.settled())?;
        downcast(self.id(), v)
    }
}

/// An object reference on the wire: the object and the node to fetch it from.
#[derive(Serialize, Deserialize)]
struct WireRef {
    id: ObjectId,
    node: NodeId,
    /// Where the holding node can be reached (its QUIC endpoint and certificate), when
    /// it is networked: another node fetches the value from there.
    at: Option<(std::net::SocketAddr, [u8; 32])>,
}

impl<T> Serialize for ObjectRef<T> {
    /// Sends the id and where to fetch the value. Encoded for a message that carries a
    /// loan (`handoff.rs`), the receiver is counted as a borrower before the message
    /// goes; otherwise the object stays pinned here for the node timeout, so that the
    /// receiver's pull finds it even if every reference on this node is dropped meanwhile.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let node = self.raw.store().node_id();
        let here = current_node().ok().filter(|n| n.id == node);
        let at = here
            .as_ref()
            .and_then(|n| n.join_address.get().map(|j| (j.addr, j.fingerprint)));
        if let (Some(n), Some(_)) = (&here, at)
            && !escaping(&self.raw)
        {
            n.pin_escaped(Box::new(self.raw.clone()));
        }
        WireRef {
            id: self.id(),
            node,
            at,
        }
        .serialize(s)
    }
}

impl<'de, T: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static> Deserialize<'de>
    for ObjectRef<T>
{
    /// A ref of this node joins the object's reference count, and so does a ref of an
    /// object already copied here. A ref of another node's object becomes a local copy
    /// under the same id whose value is pulled from that node in the background: decoding
    /// never blocks, and the copy is shared by every ref to it on this node.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let w = WireRef::deserialize(d)?;
        let node = running_node().ok_or_else(|| {
            D::Error::custom("an ObjectRef can only be decoded inside a ray runtime")
        })?;
        if node.id == w.node {
            return node
                .store
                .owner(w.id)
                .map(|inner| ObjectRef::from_raw(RawRef::from_inner(inner)))
                .ok_or_else(|| {
                    D::Error::custom(format!(
                        "object {} is lost: no reference to it remains",
                        w.id
                    ))
                });
        }
        copy(&node, &w, decode_owned_as::<T>)
            .map(ObjectRef::from_raw)
            .map_err(|e| D::Error::custom(e.to_string()))
    }
}

/// This node's copy of a ref held by another node: the copy already here, or a new one
/// whose value is pulled in the background. A new copy takes over the borrow the holder
/// counted for this node's message, if it lent one (`handoff.rs`).
fn copy(
    node: &Arc<Node>,
    w: &WireRef,
    decode: fn(Vec<u8>) -> Result<StoredValue>,
) -> Result<RawRef> {
    let unreachable =
        |why: &str| Error::NotConnected(format!("object {} lives on node {}, {why}", w.id, w.node));
    // A holder without an address has no copy here either: every ref it sends lacks one.
    let (addr, fingerprint) =
        w.at.ok_or_else(|| unreachable("which is not part of a cluster this node can reach"))?;
    let peers = node
        .peers
        .get()
        .ok_or_else(|| unreachable("but this node is not part of a cluster"))?;
    let (holder, object_id) = (w.node, w.id);
    let (r, new) = RawRef::borrowed(&node.store, object_id, holder, || {
        let lent = lent(holder, object_id);
        let state = Arc::new(BorrowState::new(lent));
        let (release, on_drop) = (peers.release.clone(), state.clone());
        let on_drop: Box<dyn FnOnce() + Send + Sync> = Box::new(move || {
            if on_drop.dropped() {
                release.do_send(ReleaseBorrow { holder, object_id });
            }
        });
        (on_drop, (state, lent))
    });
    let Some((state, lent)) = new else {
        return Ok(r);
    };
    peers.pull.do_send(PullObject {
        holder,
        at: (addr, fingerprint),
        object_id,
        decode,
        into: r.downgrade(),
        state,
        lent,
    });
    Ok(r)
}
