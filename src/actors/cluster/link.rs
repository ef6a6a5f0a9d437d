//! The agent's connections to other nodes: one per peer, opened once however many
//! requests wait for it, dropped when a request fails. A node that cannot be reached
//! yet is tried again until the head declares it dead; only then does it read as dead.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::ids::NodeId;
use crate::node::Node;
use crate::transport::{Bulk, Endpoint, JoinAddress, Peer, WireMessage};
use crate::{Error, Result};

/// Where a node can be reached: its QUIC endpoint and the SHA-256 of its certificate.
pub(crate) type NodeAddr = (std::net::SocketAddr, [u8; 32]);

/// How long a new connection may take: on loopback or a LAN a handshake takes
/// milliseconds, and a dead node never answers.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The first pause before trying an unreachable node again, doubled each time up to
/// [`RETRY_MAX`]: a node missing from this node's table usually appears within one
/// pushed view (milliseconds), at the latest with the next heartbeat.
const RETRY_FIRST: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_millis(200);

/// A connection to a node, being opened or open: shared by every request that needs
/// it meanwhile, so a burst of requests opens one connection.
pub(super) type Connecting = futures::future::Shared<BoxFuture<'static, Result<Peer>>>;

/// A connection already open, as the agent keeps it.
pub(super) fn connected(peer: Peer) -> Connecting {
    futures::future::ready(Ok(peer)).boxed().shared()
}

/// The agent's connections, for requests that run outside it.
#[derive(Clone)]
pub(super) struct Link {
    pub(super) peers: Arc<parking_lot::Mutex<HashMap<NodeId, Connecting>>>,
    pub(super) dial: Dial,
}

/// What opening a connection needs: kept apart from `peers`, so that a pending connect
/// kept in `peers` does not keep `peers` alive.
#[derive(Clone)]
pub(super) struct Dial {
    pub(super) node: Weak<Node>,
    pub(super) endpoint: Arc<Endpoint>,
    pub(super) token: String,
    /// How long a node that cannot be reached is tried before it reads as dead: the
    /// head's node timeout plus two heartbeats, by which time the head has declared a
    /// node that really died dead and this node's table says so.
    pub(super) patience: Duration,
}

impl Dial {
    /// Where this node's copy of the table says `target` is: `Some(None)` when the head
    /// declared it dead, `None` when it is not listed.
    fn listed(&self, target: NodeId) -> Option<Option<NodeAddr>> {
        let node = self.node.upgrade()?;
        let view = node.view.read();
        let w = view.iter().find(|w| w.node_id == target)?;
        Some(w.alive.then_some((w.addr, w.fingerprint)))
    }

    /// Opens the connection to `target`, trying again (see [`Link::peer`]).
    async fn connect(self, target: NodeId, at: Option<NodeAddr>) -> Result<Peer> {
        let deadline = Instant::now() + self.patience;
        let mut pause = RETRY_FIRST;
        let mut last = String::from("it is not in the node table yet");
        loop {
            let addr = match self.listed(target) {
                // The head declared it dead: a connect would only time out.
                Some(None) => return Err(Error::NodeDied { node_id: target }),
                Some(Some(addr)) => Some(addr),
                None => at,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some((addr, fingerprint)) = addr {
                let join = JoinAddress {
                    addr,
                    token: self.token.clone(),
                    fingerprint,
                };
                let connect = self.endpoint.connect(&join);
                match actix_rt::time::timeout(CONNECT_TIMEOUT.min(left), connect).await {
                    Ok(Ok(peer)) => return Ok(peer),
                    Ok(Err(e)) => last = e.to_string(),
                    Err(_) => last = format!("no answer from {addr} within the connect timeout"),
                }
            }
            if Instant::now() >= deadline {
                tracing::warn!(target = %target, reason = %last, "node unreachable past the node timeout");
                return Err(Error::NodeDied { node_id: target });
            }
            tracing::debug!(target = %target, reason = %last, "node not reachable yet: trying again");
            actix_rt::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now())))
                .await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    }
}

impl Link {
    /// The connection to `target`, opened on first use at the address the node table
    /// gives, else at `at` (drivers are not in the table).
    ///
    /// A node this node's copy of the table does not list yet (it joined after the last
    /// view arrived) or that does not answer yet (a handshake under load) is tried again
    /// until it answers or the head declares it dead: only the head's verdict, or its
    /// silence past [`Dial::patience`], reads as [`Error::NodeDied`].
    pub(super) fn peer(
        &self,
        target: NodeId,
        at: Option<NodeAddr>,
    ) -> BoxFuture<'static, Result<Peer>> {
        let connecting = {
            let mut peers = self.peers.lock();
            peers
                .entry(target)
                .or_insert_with(|| self.dial.clone().connect(target, at).boxed().shared())
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

/// The address this node hands out: the one given (checked to be this host's), else
/// the local address of the route to the head, else (a head) the default route's, else
/// loopback, said in the log.
pub(super) fn node_address(
    given: Option<std::net::IpAddr>,
    role: &super::Role,
) -> crate::Result<std::net::IpAddr> {
    use crate::transport::{check_local, default_route_ip, route_source};
    if let Some(ip) = given {
        check_local(ip).map_err(|e| {
            crate::Error::InvalidArgument(format!(
                "{e} (set by Config::node_ip_address, RAY_NODE_IP_ADDRESS or --node-ip-address)"
            ))
        })?;
        return Ok(ip);
    }
    let found = match role {
        super::Role::Head => default_route_ip(),
        super::Role::Worker(j) | super::Role::Driver(j) => route_source(j.addr),
    };
    Ok(found.unwrap_or_else(|| {
        tracing::warn!("no route to other hosts: this node uses 127.0.0.1, so only programs on this host can reach it (set --node-ip-address to change that)");
        std::net::Ipv4Addr::LOCALHOST.into()
    }))
}

pub(crate) fn random_token() -> crate::Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| crate::Error::InvalidArgument("no randomness for the cluster token".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
