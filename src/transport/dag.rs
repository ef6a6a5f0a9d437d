//! What a node's part of a compiled graph is on the wire (`DagPartSpec`), sent over a
//! [`super::Channel`]. What the frames mean to a graph lives in `dag/`.

/// One node's part of a compiled graph, as the driver sends it with
/// [`WireMessage::DagPart`](super::WireMessage::DagPart): the node runs `ops` in this order once per execution.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DagPartSpec {
    /// The graph: its driver and the driver's number for it (names the channels between
    /// parts).
    pub graph: (crate::ids::NodeId, u64),
    /// Executions in flight at most (the capacity of the part's rings).
    pub max_inflight: u32,
    /// The part's steps, in the graph's order.
    pub ops: Vec<DagOp>,
}

/// One step of a node's part of a compiled graph. Values are numbered in the order the
/// ops produce them (each `Call` and each `Recv` produces the next one).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DagOp {
    /// Calls `method` of actor `actor_id` (hosted by the receiving node).
    Call {
        /// The actor.
        actor_id: crate::ids::ActorId,
        /// The method (`Class.method`).
        method: String,
        /// Where each argument comes from, in parameter order.
        args: Vec<DagArg>,
        /// Whether the call reads the input only to run once per execution (its
        /// arguments are all constants).
        trigger: bool,
    },
    /// Sends value `value` to `to` as edge `edge`.
    Send {
        /// The value's number.
        value: u32,
        /// The edge, as the receiver numbers its `Recv`s.
        edge: u32,
        /// Where it goes.
        to: DagPeer,
    },
    /// Receives edge `edge` from `from` (the next value).
    Recv {
        /// The edge.
        edge: u32,
        /// Where it comes from.
        from: DagPeer,
        /// The actor whose result it is (a failed channel fails as its death).
        producer: crate::ids::ActorId,
    },
}

/// Where an argument of a node's step comes from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DagArg {
    /// The execution's input, sent by the driver with [`WireMessage::DagExecute`](super::WireMessage::DagExecute).
    Input,
    /// A constant, encoded.
    Const(serde_bytes::ByteBuf),
    /// A value of this part (see [`DagOp`]).
    Value(u32),
}

/// The other end of an edge between parts of a compiled graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DagPeer {
    /// The driver (over the channel it opened with `DagPart`).
    Driver,
    /// Another node, reached directly (`at`: its endpoint and certificate hash when the
    /// node table may not list it).
    Node {
        /// The node.
        node_id: crate::ids::NodeId,
        /// Where it listens.
        at: Option<(std::net::SocketAddr, [u8; 32])>,
    },
}
