//! Compiled graphs across nodes, on the receiving side: starting the part another node's
//! driver sent (it runs on a thread of its own), and `DagEdges`, which holds the channels
//! between parts until the part they go to asks for them (the two parts set up at the
//! same time, in either order). The cluster agent hands these channels over
//! ([`take_channel`], its upcall); opening them is the agent's (`OpenDagChannel`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::channel::oneshot;

use super::{DagError, PartActor, PartEnv};
use crate::actors::{NodeActors, OpenDagChannel, OpenedChannel};
use crate::ids::NodeId;
use crate::node::{Node, block_on, block_on_deadline};
use crate::transport::{Channel, WireMessage};
use crate::{Error, Result};

/// How long a part waits for the other nodes' parts to connect to it.
const EDGES_WAIT: Duration = Duration::from_secs(30);

/// Takes a channel another node opened to `node`: a driver's `DagPart` starts that part
/// here; another part's `DagEdges` waits for the part it goes to. Runs on the node's
/// thread (the agent's upcall).
pub(crate) fn take_channel(node: Arc<Node>, msg: OpenedChannel) {
    match msg.open {
        WireMessage::DagPart { part } => {
            tracing::info!(node_id = %node.id, driver = %msg.from, graph = part.graph.1, "compiled-graph part opened");
            let cells = node.actors().actor_cells.clone();
            let Some(agent) = node.actors().cluster.get().cloned() else {
                return;
            };
            let edges = DagEdges::from_registry();
            let env = PartEnv {
                node_id: node.id,
                context: node.context(),
                find: Box::new(move |id| {
                    cells
                        .get(id)
                        .and_then(|cell| cell.hosted())
                        .and_then(|h| h.dag_actor().downcast::<PartActor>().ok())
                        .map(|part| *part)
                }),
                open: Box::new(move |node, at, open| {
                    block_on(agent.send(OpenDagChannel { node, at, open }))
                        .map_err(|_| Error::ShutDown)?
                }),
                edges: Box::new(move |graph, from| await_edges(&edges, graph, from)),
            };
            crate::dag::serve_part(part, msg.from, msg.channel, env);
        }
        WireMessage::DagEdges { graph, from } if from == msg.from => {
            DagEdges::from_registry().do_send(EdgeArrived {
                graph,
                from,
                channel: msg.channel,
            });
        }
        other => {
            tracing::warn!(node_id = %node.id, from = %msg.from, frame = ?other, "unexpected channel refused");
        }
    }
}

/// Waits (on a part's own thread) for the channels of `graph`'s parts on `from`.
fn await_edges(
    edges: &Addr<DagEdges>,
    graph: (NodeId, u64),
    from: Vec<NodeId>,
) -> Result<Channels> {
    let (reply, rx) = oneshot::channel();
    edges.do_send(AwaitEdges {
        graph,
        from: from.clone(),
        reply,
    });
    match block_on_deadline(rx, Some(Instant::now() + EDGES_WAIT)) {
        Ok(Ok(channels)) => Ok(channels),
        _ => Err(DagError::Part {
            node_id: crate::node::current_node().map_or(graph.0, |n| n.id),
            reason: format!(
                "the parts on nodes {from:?} did not connect within {}s",
                EDGES_WAIT.as_secs()
            ),
        }
        .into()),
    }
}

/// Channels from other nodes' parts, with the node each came from.
type Channels = Vec<(NodeId, Channel)>;

/// The channels between parts of graphs, by graph, until their part takes them.
#[derive(Default)]
pub(crate) struct DagEdges {
    graphs: HashMap<(NodeId, u64), Waiting>,
}

struct Waiting {
    since: Instant,
    arrived: Channels,
    /// The part's nodes it waits for, and where it waits.
    part: Option<(Vec<NodeId>, oneshot::Sender<Channels>)>,
}

impl Actor for DagEdges {
    type Context = Context<Self>;
}

impl Supervised for DagEdges {}
impl SystemService for DagEdges {}

impl DagEdges {
    fn waiting(&mut self, graph: (NodeId, u64)) -> &mut Waiting {
        // Channels nobody took (their graph failed to compile) go after a while.
        let now = Instant::now();
        self.graphs
            .retain(|_, w| now.duration_since(w.since) < 4 * EDGES_WAIT);
        self.graphs.entry(graph).or_insert_with(|| Waiting {
            since: now,
            arrived: Vec::new(),
            part: None,
        })
    }

    /// Hands the channels over once all the part waits for are here.
    fn settle(&mut self, graph: (NodeId, u64)) {
        let Some(w) = self.graphs.get(&graph) else {
            return;
        };
        let complete = w
            .part
            .as_ref()
            .is_some_and(|(from, _)| from.iter().all(|n| w.arrived.iter().any(|(f, _)| f == n)));
        if !complete {
            return;
        }
        if let Some(Waiting {
            arrived,
            part: Some((_, reply)),
            ..
        }) = self.graphs.remove(&graph)
        {
            let _ = reply.send(arrived);
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct EdgeArrived {
    graph: (NodeId, u64),
    from: NodeId,
    channel: Channel,
}

impl Handler<EdgeArrived> for DagEdges {
    type Result = ();

    fn handle(&mut self, msg: EdgeArrived, _: &mut Context<Self>) {
        self.waiting(msg.graph)
            .arrived
            .push((msg.from, msg.channel));
        self.settle(msg.graph);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct AwaitEdges {
    graph: (NodeId, u64),
    from: Vec<NodeId>,
    reply: oneshot::Sender<Channels>,
}

impl Handler<AwaitEdges> for DagEdges {
    type Result = ();

    fn handle(&mut self, msg: AwaitEdges, _: &mut Context<Self>) {
        self.waiting(msg.graph).part = Some((msg.from, msg.reply));
        self.settle(msg.graph);
    }
}
