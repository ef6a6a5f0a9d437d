//! The QUIC transport's types in a build without the `cluster` feature: they exist so
//! the rest of the crate compiles unchanged, but none can be made. Each holds a
//! [`NoCluster`], which has no values, so every method is statically unreachable, and
//! the two ways in ([`Endpoint::bind`], [`Identity::generate`]) say what is missing.
//! `ray::init` refuses a cluster address before getting here (`runtime/lifecycle.rs`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::{Bulk, JoinAddress, Service, TransportError, WireMessage};
use crate::ids::NodeId;

/// No value: a type holding one cannot be made.
#[derive(Debug, Clone, Copy)]
pub enum NoCluster {}

/// What the two ways in answer.
fn no_cluster() -> TransportError {
    TransportError::Io(crate::transport::NO_CLUSTER.to_string())
}

/// A node's QUIC endpoint (needs the `cluster` feature).
pub struct Endpoint(NoCluster);

impl Endpoint {
    /// Always fails: this build has no QUIC transport.
    ///
    /// # Errors
    /// Always [`TransportError::Io`], naming the `cluster` feature.
    pub fn bind(
        _addr: SocketAddr,
        _node_id: NodeId,
        _token: String,
        _identity: Identity,
        _service: Arc<dyn Service>,
    ) -> Result<Self, TransportError> {
        Err(no_cluster())
    }

    /// Unreachable: no `Endpoint` exists.
    pub fn advertise(&self, _ip: IpAddr) {
        match self.0 {}
    }

    /// Unreachable: no `Endpoint` exists.
    ///
    /// # Errors
    /// None.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Endpoint` exists.
    ///
    /// # Errors
    /// None.
    pub fn join_address(&self) -> Result<JoinAddress, TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Endpoint` exists.
    ///
    /// # Errors
    /// None.
    pub async fn connect(&self, _to: &JoinAddress) -> Result<Peer, TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Endpoint` exists.
    pub fn close(&self) {
        match self.0 {}
    }
}

/// An authenticated connection to a peer (needs the `cluster` feature).
#[derive(Clone)]
pub struct Peer(NoCluster);

impl Peer {
    /// Unreachable: no `Peer` exists.
    pub fn close(&self, _reason: &str) {
        match self.0 {}
    }

    /// Unreachable: no `Peer` exists.
    ///
    /// # Errors
    /// None.
    pub async fn request(&self, _msg: &WireMessage) -> Result<WireMessage, TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Peer` exists.
    ///
    /// # Errors
    /// None.
    pub async fn request_with(
        &self,
        _msg: &WireMessage,
        _payload: &[u8],
    ) -> Result<(WireMessage, Vec<u8>), TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Peer` exists.
    ///
    /// # Errors
    /// None.
    pub async fn open(&self) -> Result<Exchange, TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Peer` exists.
    ///
    /// # Errors
    /// None.
    pub async fn open_channel(
        &self,
        _open: &WireMessage,
        _payload: &Bulk,
    ) -> Result<Channel, TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Peer` exists.
    ///
    /// # Errors
    /// None.
    pub async fn request_raw(&self, _bytes: &[u8]) -> Result<WireMessage, TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Peer` exists.
    pub fn remote_address(&self) -> SocketAddr {
        match self.0 {}
    }
}

/// One opened request stream (needs the `cluster` feature).
pub struct Exchange(NoCluster);

impl Exchange {
    /// Unreachable: no `Exchange` exists.
    ///
    /// # Errors
    /// None.
    pub async fn exchange(
        self,
        _msg: &WireMessage,
        _pieces: &[&[u8]],
    ) -> Result<(WireMessage, Vec<u8>), TransportError> {
        match self.0 {}
    }
}

/// A persistent stream to a peer (needs the `cluster` feature).
#[derive(Debug)]
pub struct Channel(NoCluster);

impl Channel {
    /// Unreachable: no `Channel` exists.
    ///
    /// # Errors
    /// None.
    pub async fn send(&mut self, _msg: &WireMessage) -> Result<(), TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Channel` exists.
    ///
    /// # Errors
    /// None.
    pub async fn recv(&mut self) -> Result<Option<WireMessage>, TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `Channel` exists.
    pub fn finish(&mut self) {
        match self.0 {}
    }

    /// Unreachable: no `Channel` exists.
    pub fn split(self) -> (ChannelSend, ChannelRecv) {
        match self.0 {}
    }
}

/// The sending half of a [`Channel`] (needs the `cluster` feature).
pub struct ChannelSend(NoCluster);

impl ChannelSend {
    /// Unreachable: no `ChannelSend` exists.
    ///
    /// # Errors
    /// None.
    pub async fn send(&mut self, _msg: &WireMessage) -> Result<(), TransportError> {
        match self.0 {}
    }

    /// Unreachable: no `ChannelSend` exists.
    pub fn finish(&mut self) {
        match self.0 {}
    }
}

/// The receiving half of a [`Channel`] (needs the `cluster` feature).
pub struct ChannelRecv(NoCluster);

impl ChannelRecv {
    /// Unreachable: no `ChannelRecv` exists.
    ///
    /// # Errors
    /// None.
    pub async fn recv(&mut self) -> Result<Option<WireMessage>, TransportError> {
        match self.0 {}
    }
}

/// A node's TLS identity (needs the `cluster` feature).
#[derive(Debug, Clone)]
pub struct Identity(NoCluster);

impl Identity {
    /// Always fails: this build has no TLS.
    ///
    /// # Errors
    /// Always [`TransportError::Io`], naming the `cluster` feature.
    pub fn generate() -> Result<Self, TransportError> {
        Err(no_cluster())
    }

    /// Unreachable: no `Identity` exists.
    pub fn fingerprint(&self) -> [u8; 32] {
        match self.0 {}
    }
}
