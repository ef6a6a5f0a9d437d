//! Length-prefixed MessagePack frames and the versioned wire enum. Decoding never panics
//! and never allocates more than the frame limit, whatever the input bytes are.

use serde::{Deserialize, Serialize};

use super::TransportError;
use super::{NodeLoad, WireActor, WireJob, WireNode};
use crate::ids::{ActorId, JobId, NodeId, ObjectId, PlacementGroupId, TaskId};

/// Version of [`WireMessage`]; bumped on every incompatible change.
pub const WIRE_VERSION: u16 = 13;

/// An error as it crosses the wire: the sending layer's error, MessagePack-encoded, which
/// the receiving layer decodes (`ray::Error` converts both ways). The transport carries
/// it without knowing its type.
///
/// # Examples
/// ```
/// use ray::transport::WireError;
///
/// let sent = WireError::from(ray::Error::ShutDown);
/// assert_eq!(ray::Error::from(sent), ray::Error::ShutDown);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// Largest frame accepted (16 MiB). Larger objects travel in chunks on their own streams.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// Every message one node can send another. Object payloads are `serde_bytes` so that
/// MessagePack copies them as one block instead of element by element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WireMessage {
    /// First frame on a connection: who we are, and the cluster token.
    Hello {
        /// Protocol version of the sender.
        version: u16,
        /// The sender.
        node_id: NodeId,
        /// The cluster token; a peer without the right one is refused.
        token: String,
    },
    /// Asks the peer to run a registered function with encoded arguments.
    SubmitTask {
        /// The task.
        task_id: TaskId,
        /// The registered function name.
        function: String,
        /// MessagePack-encoded argument tuple.
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    /// One chunk of an object's encoded value.
    ObjectChunk {
        /// The object.
        object_id: ObjectId,
        /// Byte offset of this chunk.
        offset: u64,
        /// Total encoded size of the object.
        total: u64,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Answer to a `Hello` with the right token.
    Welcome {
        /// The answering node.
        node_id: NodeId,
    },
    /// Liveness probe.
    Heartbeat {
        /// The sender.
        node_id: NodeId,
    },
    /// A node joins the cluster (sent to the head).
    Join {
        /// The joining node.
        node: WireNode,
        /// The joiner's build fingerprint; the head refuses another build.
        fingerprint: u64,
    },
    /// Asks the head for the node table; from a member, also its heartbeat.
    GetView {
        /// The asking node.
        node_id: NodeId,
        /// Its current load, when it is a member (drivers send none).
        load: Option<NodeLoad>,
        /// The job of a driver (members that only serve send none).
        #[serde(default)]
        job: Option<JobId>,
        /// Where a driver listens, with its certificate's SHA-256 (drivers are not in
        /// the node table, and the head asks them for their state).
        #[serde(default)]
        at: Option<(std::net::SocketAddr, [u8; 32])>,
    },
    /// The node table.
    View {
        /// Every node the head knows, alive or dead.
        nodes: Vec<WireNode>,
        /// Resource requests, cluster-wide, that no live node can satisfy.
        demands: Vec<String>,
        /// The jobs (driver programs) the head has heard from.
        #[serde(default)]
        jobs: Vec<WireJob>,
    },
    /// Runs a registered function on the receiving node; its MessagePack-encoded
    /// argument tuple follows as the request's bulk payload. Answered by `TaskResult`
    /// when the task finished.
    RunTask {
        /// The registered function name.
        function: String,
        /// Resources the task needs on the executing node.
        resources: Vec<(String, f64)>,
        /// Which try this is (0 for the first; the sender retries when a node dies).
        #[serde(default)]
        attempt: u32,
        /// The caller's id for the task's one return: a large result stays in the
        /// executing node's store under it (answered by `TaskResultHeld`), as Ray keeps
        /// task outputs in the executing node's plasma store. `None`: always send it back.
        #[serde(default)]
        keep: Option<ObjectId>,
        /// The placement group the task's own tasks run in (`capture_child_tasks`).
        #[serde(default)]
        capture: Option<PlacementGroupId>,
        /// Objects of the sender's that the payload carries refs to, each counted with
        /// the receiver as a borrower before sending: the receiver's copies take these
        /// borrows over, and it releases the rest (an acknowledged hand-off).
        #[serde(default)]
        lent: Vec<ObjectId>,
    },
    /// The outcome of a `RunTask`: on success the encoded returns follow as the bulk
    /// payload.
    TaskResult {
        /// The error, if the task failed.
        error: Option<WireError>,
        /// Objects of the sender's that the payload carries refs to, each counted with
        /// the receiver as a borrower before sending: the receiver's copies take these
        /// borrows over, and it releases the rest (an acknowledged hand-off).
        #[serde(default)]
        lent: Vec<ObjectId>,
    },
    /// The outcome of a `RunTask` whose result the executing node kept (`keep`): the
    /// caller fetches it from there when it is read, and releases it when its refs go.
    TaskResultHeld {
        /// The encoded result's size in bytes.
        size: u64,
    },
    /// Asks the node holding an object for its encoded value; answered by `ObjectData`.
    FetchObject {
        /// The object, as that node knows it.
        object_id: ObjectId,
        /// The sender counted this borrow already (it lent the ref): do not count it
        /// again.
        #[serde(default)]
        borrowed: bool,
        /// The asker takes `ObjectAt` for an object whose value another node holds for
        /// this one: it fetches the value there, without a copy on this node.
        #[serde(default)]
        redirect: bool,
    },
    /// The answer to a `FetchObject` that takes a redirect: node `holder` holds the value
    /// (a large task result it made); ask it, and this node if it no longer has it.
    ObjectAt {
        /// The node holding the value.
        holder: NodeId,
    },
    /// The answer to `FetchObject`: the encoded value follows as the bulk payload.
    ObjectData {
        /// Why the value cannot be sent, if so.
        error: Option<WireError>,
        /// Objects of the sender's that the payload carries refs to, each counted with
        /// the receiver as a borrower before sending: the receiver's copies take these
        /// borrows over, and it releases the rest (an acknowledged hand-off).
        #[serde(default)]
        lent: Vec<ObjectId>,
    },
    /// A borrower dropped its last reference to objects this node owns.
    ReleaseObjects {
        /// The objects.
        object_ids: Vec<ObjectId>,
    },
    /// Asks a node for its part of the state API. Answered by `State`.
    GetState {
        /// Which list with which filters: the dashboard's own typed query, encoded by it
        /// (opaque here).
        query: serde_bytes::ByteBuf,
    },
    /// The answer to `GetState`: the node's JSON for that list.
    State {
        /// The JSON.
        json: String,
    },
    /// Reserves bundles of a placement group the sender created: all of them or none.
    /// Answered by `Ack`, or `Error` when they do not fit.
    ReserveBundles {
        /// The group.
        pg: PlacementGroupId,
        /// Each bundle's index in the group and its resources.
        bundles: Vec<(u32, Vec<(String, f64)>)>,
    },
    /// Returns a placement group's bundles on the receiving node. Answered by `Ack`.
    ReturnBundles {
        /// The group.
        pg: PlacementGroupId,
    },
    /// Asks the node that created an actor where it lives now (a handle whose call was
    /// lost with the actor's node). Answered by `ActorAt`: `None` when it does not come
    /// back.
    LocateActor {
        /// The actor.
        actor_id: ActorId,
    },
    /// Creates an actor of a registered class on the receiving node, under the caller's
    /// id for it; the encoded constructor arguments follow as the bulk payload.
    /// Answered by `Ack`.
    CreateActor {
        /// The class's registered name (`module::path::Class`).
        class: String,
        /// The actor's id, minted by its creator.
        actor_id: ActorId,
        /// The creation options, MessagePack-encoded.
        #[serde(with = "serde_bytes")]
        options: Vec<u8>,
        /// Set when the creation failed at the creator (a constructor argument failed):
        /// the host records the actor as dead with this error.
        failed: Option<WireError>,
        /// A restart after its node died: the creating handle (`caller`) continues its
        /// calls from this number.
        #[serde(default)]
        resume: Option<(u64, u64)>,
        /// The creator's objects whose refs the constructor's arguments carry, lent to
        /// the receiving node (see `RunTask`).
        #[serde(default)]
        lent: Vec<ObjectId>,
    },
    /// Calls a method of an actor the receiving node hosts; the encoded arguments follow
    /// as the bulk payload. Calls of one caller run in `seq` order whatever order they
    /// arrive in. Answered by `TaskResult`.
    CallActor {
        /// The actor.
        actor_id: ActorId,
        /// The calling handle (its calls are ordered among themselves).
        caller: u64,
        /// The call's number among the caller's calls, from 0.
        seq: u64,
        /// The method's name.
        method: String,
        /// Set when the call failed at the caller (an argument failed): the host only
        /// advances past `seq`.
        failed: bool,
        /// Objects of the sender's that the payload carries refs to, each counted with
        /// the receiver as a borrower before sending: the receiver's copies take these
        /// borrows over, and it releases the rest (an acknowledged hand-off).
        #[serde(default)]
        lent: Vec<ObjectId>,
    },
    /// Stops an actor the receiving node hosts: `force` kills it now; otherwise its
    /// creator dropped its handles and it stops once no handle on its node remains.
    KillActor {
        /// The actor.
        actor_id: ActorId,
        /// Kill now.
        force: bool,
        /// With `force`: as a crash, restarting while `max_restarts` allows.
        #[serde(default)]
        restart: bool,
    },
    /// Head: records a named actor; refused (`Error`) when the name is taken.
    RegisterName {
        /// The actor and its name.
        actor: WireActor,
    },
    /// Head: forgets the name of an actor that stopped.
    DropName {
        /// The actor.
        actor_id: ActorId,
    },
    /// Head: where the named actor lives; answered by `ActorAt`.
    LookupName {
        /// The name (with its namespace).
        name: String,
    },
    /// The answer to `LookupName`.
    ActorAt {
        /// The actor, if the name is known.
        actor: Option<WireActor>,
    },
    /// A request that needs no answer beyond success.
    Ack,
    /// The answer to a job worker's `Lease`: granted, with the ids of the generic node's
    /// GPUs it holds (the work under it uses those).
    Leased {
        /// The GPU ids.
        gpus: Vec<u32>,
    },
    /// The request could not be served.
    Error {
        /// Why.
        message: String,
    },
    /// Opens a persistent channel that carries one node's part of a compiled graph
    /// (`ray::dag`) from its driver: the receiving node lends the actors named in `part`
    /// and answers with a `DagReply`; then each execution brings a `DagExecute` and the
    /// `DagValue`s of the edges from the driver, and the node sends back the
    /// `DagValue`s of the edges to the driver, until the driver finishes the stream.
    DagPart {
        /// What the node runs.
        part: super::DagPartSpec,
    },
    /// Opens a persistent channel from node `from`'s part of compiled graph `graph` to
    /// the receiving node's part: `DagValue`s one way, in the sender's order.
    DagEdges {
        /// The graph (its driver and number).
        graph: (NodeId, u64),
        /// The sending node.
        from: NodeId,
    },
    /// The start of one execution on a `DagPart` channel: the encoded input (empty when
    /// the part does not read it), or why it could not be encoded.
    DagExecute {
        /// The input.
        input: Result<serde_bytes::ByteBuf, WireError>,
    },
    /// One value of an edge between parts of a compiled graph, for the next execution.
    DagValue {
        /// The edge, as the receiving part numbers it.
        edge: u32,
        /// The encoded value, or the error that replaced it.
        result: Result<serde_bytes::ByteBuf, WireError>,
    },
    /// The answer to `DagPart`: the part's actors were lent (an empty value), or why not.
    DagReply {
        /// The encoded value, or what failed.
        result: Result<serde_bytes::ByteBuf, WireError>,
    },
    /// A `ray job` request to the head (an upload's bytes follow as the bulk payload).
    /// Answered by `JobReply`, or `Error`.
    Job {
        /// The request.
        request: super::job::JobRequest,
    },
    /// The head's answer to `Job`.
    JobReply {
        /// The answer.
        reply: super::job::JobReply,
    },
    /// Between generic nodes, the job workers they start, and the head.
    Worker {
        /// The request.
        request: super::job::WorkerRequest,
    },
    /// Starts a registered streaming generator on the receiving node; opens a channel.
    /// The encoded argument tuple follows as the bulk payload. The receiver answers on
    /// the channel with `StreamItem`s and one `StreamEnd`; the sender sends
    /// `StreamConsumed` as its consumer takes items, and finishes its side to cancel.
    RunGenerator {
        /// The registered function name.
        function: String,
        /// Resources the generator needs on the executing node.
        resources: Vec<(String, f64)>,
        /// Items produced but not consumed at most (`None`: no limit).
        backpressure: Option<u64>,
        /// Objects of the sender's that the payload carries refs to (see `RunTask`).
        #[serde(default)]
        lent: Vec<ObjectId>,
    },
    /// One piece of a generated item's encoded value: an item larger than a frame comes
    /// in several, in order.
    StreamItem {
        /// The item's number (0 for the first).
        index: u64,
        /// Byte offset of this piece.
        offset: u64,
        /// The item's total encoded size.
        total: u64,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// Objects of the sender's that the item carries refs to (on its first piece).
        #[serde(default)]
        lent: Vec<ObjectId>,
    },
    /// The consumer of a generator on another node has taken `consumed` items in all.
    StreamConsumed {
        /// Items taken so far.
        consumed: u64,
    },
    /// Pulls the stream of a streaming actor method the sender called on an actor the
    /// receiver hosts (the call's answer was `id`); opens a channel, answered as
    /// `RunGenerator`'s.
    PullStream {
        /// The stream, as the call's answer named it.
        id: u64,
    },
    /// The generator finished: with `error` when it failed.
    StreamEnd {
        /// Why it failed.
        error: Option<WireError>,
    },
}

impl WireMessage {
    /// Whether this request opens a persistent [`super::Channel`] instead of asking for
    /// one answer (the compiled graphs' `DagPart` and `DagEdges`, a generator's
    /// `RunGenerator`).
    pub fn opens_channel(&self) -> bool {
        matches!(
            self,
            Self::DagPart { .. }
                | Self::DagEdges { .. }
                | Self::RunGenerator { .. }
                | Self::PullStream { .. }
        )
    }
}

/// Encodes one message as a frame: length prefix plus MessagePack body.
///
/// # Errors
/// [`TransportError::FrameTooLarge`] when the encoded body exceeds [`MAX_FRAME_BYTES`].
///
/// # Examples
/// ```
/// use ray::transport::{decode_frame, encode_frame, WireMessage};
/// let node_id = ray::runtime_context().node_id();
/// let frame = encode_frame(&WireMessage::Heartbeat { node_id }).unwrap();
/// let (msg, used) = decode_frame(&frame).unwrap().unwrap();
/// assert_eq!(used, frame.len());
/// assert_eq!(msg, WireMessage::Heartbeat { node_id });
/// # ray::shutdown();
/// ```
pub fn encode_frame(msg: &WireMessage) -> Result<Vec<u8>, TransportError> {
    let mut out = vec![0u8; 4];
    rmp_serde::encode::write_named(&mut out, msg)
        .map_err(|e| TransportError::Malformed(e.to_string()))?;
    let len = out.len() - 4;
    if len > MAX_FRAME_BYTES {
        return Err(TransportError::FrameTooLarge {
            len,
            max: MAX_FRAME_BYTES,
        });
    }
    // `len <= MAX_FRAME_BYTES < u32::MAX`, checked just above.
    out[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Decodes the first frame of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole frame, and the message with the
/// number of bytes it used otherwise.
///
/// # Errors
/// [`TransportError::FrameTooLarge`] as soon as the prefix announces an oversized frame,
/// [`TransportError::Malformed`] for bytes that are not a message.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(WireMessage, usize)>, TransportError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(prefix);
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(TransportError::FrameTooLarge {
            len,
            max: MAX_FRAME_BYTES,
        });
    }
    let Some(body) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    Ok(Some((decode_body(body)?, 4 + len)))
}

/// Decodes a frame body (the bytes after the length prefix).
pub(crate) fn decode_body(body: &[u8]) -> Result<WireMessage, TransportError> {
    rmp_serde::from_slice(body).map_err(|e| TransportError::Malformed(e.to_string()))
}

/// Accumulates bytes from a stream and yields whole frames.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the peer.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if one is buffered.
    ///
    /// # Errors
    /// As [`decode_frame`]; after an error the connection should be closed.
    pub fn next_frame(&mut self) -> Result<Option<WireMessage>, TransportError> {
        match decode_frame(&self.buf)? {
            Some((msg, used)) => {
                self.buf.drain(..used);
                Ok(Some(msg))
            }
            None => Ok(None),
        }
    }

    /// Call when the stream ended: leftover bytes mean the peer cut a frame short.
    ///
    /// # Errors
    /// [`TransportError::Truncated`] if a partial frame is buffered.
    pub fn finish(&self) -> Result<(), TransportError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let expected = self
            .buf
            .get(..4)
            .map(|p| 4 + u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize)
            .unwrap_or(4);
        Err(TransportError::Truncated {
            expected,
            got: self.buf.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> WireMessage {
        WireMessage::Hello {
            version: WIRE_VERSION,
            node_id: NodeId::new(),
            token: "t".into(),
        }
    }

    #[test]
    fn frames_round_trip_in_pieces() {
        let a = encode_frame(&hello()).unwrap();
        let b = encode_frame(&WireMessage::ObjectChunk {
            object_id: ObjectId::for_put(),
            offset: 0,
            total: 3,
            data: vec![1, 2, 3],
        })
        .unwrap();
        let mut all = a.clone();
        all.extend_from_slice(&b);
        let mut r = FrameReader::new();
        let mut got = Vec::new();
        for chunk in all.chunks(3) {
            r.extend(chunk);
            while let Some(m) = r.next_frame().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got.len(), 2);
        r.finish().unwrap();
    }

    #[test]
    fn oversized_truncated_and_garbage_frames_are_errors() {
        let big = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes();
        assert!(matches!(
            decode_frame(&big),
            Err(TransportError::FrameTooLarge { .. })
        ));
        let frame = encode_frame(&hello()).unwrap();
        let mut r = FrameReader::new();
        r.extend(&frame[..frame.len() - 1]);
        assert_eq!(r.next_frame().unwrap(), None);
        assert!(matches!(r.finish(), Err(TransportError::Truncated { .. })));
        let mut garbage = 5u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0xc1, 0xff, 0x00, 0x13, 0x37]);
        assert!(matches!(
            decode_frame(&garbage),
            Err(TransportError::Malformed(_))
        ));
    }
}
