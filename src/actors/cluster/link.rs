//! The agent's connections to other nodes: one per peer, opened once however many
//! requests wait for it, dropped when a request fails (the node reads as dead).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::ids::NodeId;
use crate::runtime::Node;
use crate::transport::{Bulk, Endpoint, JoinAddress, Peer, WireMessage};
use crate::{Error, Result};

/// Where a node can be reached: its QUIC endpoint and the SHA-256 of its certificate.
pub(crate) type NodeAddr = (std::net::SocketAddr, [u8; 32]);

/// How long a new connection may take: on loopback or a LAN a handshake takes
/// milliseconds, and a dead node never answers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to a node, being opened or open: shared by every request that needs
/// it meanwhile, so a burst of requests opens one connection.
pub(super) type Connecting = futures::future::Shared<BoxFuture<'static, Result<Peer>>>;

/// The agent's connections, for requests that run outside it.
#[derive(Clone)]
pub(super) struct Link {
    pub(super) node: Weak<Node>,
    pub(super) peers: Arc<parking_lot::Mutex<HashMap<NodeId, Connecting>>>,
    pub(super) endpoint: Arc<Endpoint>,
    pub(super) token: String,
}

impl Link {
    /// The connection to `target`, opened on first use at the address the node table
    /// gives, else at `at` (drivers are not in the table).
    pub(super) fn peer(
        &self,
        target: NodeId,
        at: Option<NodeAddr>,
    ) -> BoxFuture<'static, Result<Peer>> {
        let connecting = {
            let mut peers = self.peers.lock();
            peers
                .entry(target)
                .or_insert_with(|| {
                    // A node the table lists as dead is not tried (a connect to it
                    // would only time out).
                    let listed = self.node.upgrade().and_then(|n| {
                        n.view
                            .read()
                            .iter()
                            .find(|w| w.node_id == target)
                            .map(|w| w.alive.then_some((w.addr, w.fingerprint)))
                    });
                    let entry = listed.unwrap_or(at);
                    let endpoint = self.endpoint.clone();
                    let token = self.token.clone();
                    async move {
                        let (addr, fingerprint) =
                            entry.ok_or(Error::NodeDied { node_id: target })?;
                        let join = JoinAddress {
                            addr,
                            token,
                            fingerprint,
                        };
                        // A node that died does not answer the handshake at all.
                        let connect = endpoint.connect(&join);
                        match actix_rt::time::timeout(CONNECT_TIMEOUT, connect).await {
                            Ok(Ok(peer)) => Ok(peer),
                            _ => Err(Error::NodeDied { node_id: target }),
                        }
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        let peers = self.peers.clone();
        async move {
            let peer = connecting.await;
            if peer.is_err() {
                peers.lock().remove(&target);
            }
            peer
        }
        .boxed()
    }

    /// Opens a request stream to `target` (see [`Peer::open`]).
    pub(super) fn open(
        &self,
        target: NodeId,
        at: Option<NodeAddr>,
    ) -> BoxFuture<'static, Result<crate::transport::Exchange>> {
        let peer = self.peer(target, at);
        let peers = self.peers.clone();
        async move {
            let opened = peer.await?.open().await;
            opened.map_err(|e| {
                tracing::debug!(target = %target, error = %e, "cannot open a request stream");
                peers.lock().remove(&target);
                Error::NodeDied { node_id: target }
            })
        }
        .boxed()
    }

    /// Sends `msg` (with its bulk `payload`) to `target` and waits for the answer. A
    /// transport failure drops the connection and reads as the node having died.
    pub(super) fn request(
        &self,
        target: NodeId,
        at: Option<NodeAddr>,
        msg: WireMessage,
        payload: impl Into<Bulk>,
    ) -> BoxFuture<'static, Result<(WireMessage, Vec<u8>)>> {
        let open = self.open(target, at);
        let (link, payload) = (self.clone(), payload.into());
        async move { link.exchange(open.await?, target, &msg, &payload).await }.boxed()
    }

    /// Sends a request on an opened stream and reads the answer.
    pub(super) async fn exchange(
        &self,
        stream: crate::transport::Exchange,
        target: NodeId,
        msg: &WireMessage,
        payload: &Bulk,
    ) -> Result<(WireMessage, Vec<u8>)> {
        stream.exchange(msg, &payload.pieces()).await.map_err(|e| {
            tracing::debug!(target = %target, error = %e, "request failed");
            self.peers.lock().remove(&target);
            Error::NodeDied { node_id: target }
        })
    }
}
