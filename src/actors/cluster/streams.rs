//! Streaming generators across nodes, in the agent: the caller opens a channel with
//! `RunGenerator` (`RunGenerator` message below); the node it placed the generator on
//! starts it by name (`serve_generator`) and pumps each item back as `StreamItem`
//! frames (an item larger than [`ITEM_PIECE`] in several), then one `StreamEnd`. The
//! caller's pump stores each item here and hands its ref to the stream, and reports
//! how many items the consumer took (`StreamConsumed`): the generator's window there
//! holds it back at `generator_backpressure_num_objects`. A consumer that drops or
//! cancels the stream finishes the caller's side, and the generator stops at its next
//! item. A generator whose node dies ends its stream with `NodeDied` after the items
//! that arrived (it is never run again, whether or not any item was consumed).

use std::sync::Arc;

use actix::prelude::*;
use futures::channel::oneshot;
use futures::future::{Either, select};

use super::objects::{encode_for, lend, loan};
use super::{ClusterAgent, OpenedChannel};
use crate::actors::{CancelTask, NodeActors};
use crate::ids::{NodeId, ObjectId};
use crate::node::{Node, RawStream, StreamSender, Window, lookup_generator, off_node_thread};
use crate::store::{Handoff, RawRef, StoredValue, stored};
use crate::tasks::{Held, TaskOptions};
use crate::transport::{Bulk, Channel, ChannelRecv, ChannelSend, MAX_PAYLOAD_BYTES, WireMessage};
use crate::{Error, Result, SchedulingStrategy};

/// The largest piece of an item in one frame (frames are at most 16 MiB).
const ITEM_PIECE: usize = 4 << 20;

/// Runs a streaming generator on node `target`; its items go to `sink`, its outcome
/// settles `completion`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RunGenerator {
    pub(crate) target: NodeId,
    pub(crate) function: &'static str,
    /// The encoded arguments, and the resolved ones kept alive while it runs.
    pub(crate) args: Result<(Bulk, Held)>,
    /// This node's refs the encoded arguments carry (lent to `target`).
    pub(crate) carried: Vec<RawRef>,
    pub(crate) resources: Vec<(String, f64)>,
    pub(crate) sink: StreamSender,
    pub(crate) decode_item: fn(&[u8]) -> Result<StoredValue>,
    pub(crate) completion: RawRef,
}

impl Handler<RunGenerator> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: RunGenerator, ctx: &mut Context<Self>) {
        let (args, held) = match msg.args {
            Ok(args) => args,
            Err(e) => {
                msg.completion.complete(Err(e));
                return;
            }
        };
        let (node, link, me) = (self.node.upgrade(), self.link(), ctx.address());
        let target = msg.target;
        let open = WireMessage::RunGenerator {
            function: msg.function.to_string(),
            resources: msg.resources,
            backpressure: msg.sink.window().limit(),
            lent: lend(&me, node.as_ref(), target, msg.carried),
        };
        tracing::debug!(node_id = %self.node_id, target = %target, function = msg.function, "starting a generator on another node");
        let (sink, decode_item, completion) = (msg.sink, msg.decode_item, msg.completion);
        actix::spawn(async move {
            // The resolved arguments stay alive while the generator runs: refs inside
            // them are fetched from this node meanwhile.
            let _held = held;
            let channel = match link.peer(target, None).await {
                Ok(peer) => peer.open_channel(&open, &args).await.map_err(Error::from),
                Err(e) => Err(e),
            };
            let items = Items {
                from: target,
                sink,
                decode_item,
                node,
                me,
            };
            pump(channel, items, completion).await;
        });
    }
}

/// The caller's side of a generator's channel (once opened), until its end: items in,
/// consumption out; the outcome settles `completion`.
async fn pump(channel: Result<Channel>, items: Items, completion: RawRef) {
    let (send, recv) = match channel {
        Ok(c) => c.split(),
        Err(e) => {
            completion.complete(Err(e));
            return;
        }
    };
    let (ended, end) = oneshot::channel();
    let window = items.sink.window().clone();
    actix::spawn(report_consumption(send, window, end, completion.clone()));
    let outcome = items.receive(recv).await;
    let _ = ended.send(());
    completion.complete(outcome);
}

/// The caller's side, towards the generator: how many items the consumer took, and the
/// end of this side when the consumer dropped or cancelled the stream.
async fn report_consumption(
    mut send: ChannelSend,
    window: Arc<Window>,
    mut ended: oneshot::Receiver<()>,
    completion: RawRef,
) {
    let mut seen = window.counts();
    loop {
        let change = std::pin::pin!(window.changed_since(seen));
        let now = match select(change, &mut ended).await {
            Either::Left((now, _)) => now,
            // The generator ended: nothing more to report.
            Either::Right(_) => return,
        };
        if now.closed {
            completion.complete(Err(Error::Cancelled {
                task_id: completion.id().task_id(),
            }));
            send.finish();
            return;
        }
        let report = WireMessage::StreamConsumed {
            consumed: now.consumed,
        };
        if send.send(&report).await.is_err() {
            return;
        }
        seen = now;
    }
}

/// The caller's side, from the generator: items in, stored here, handed to the stream.
struct Items {
    from: NodeId,
    sink: StreamSender,
    decode_item: fn(&[u8]) -> Result<StoredValue>,
    node: Option<Arc<Node>>,
    me: Addr<ClusterAgent>,
}

/// An item arriving in pieces.
struct Assembly {
    index: u64,
    total: u64,
    bytes: Vec<u8>,
    lent: Vec<ObjectId>,
}

impl Items {
    /// Receives until the generator's end; its outcome.
    async fn receive(self, mut recv: ChannelRecv) -> Result<StoredValue> {
        let mut next = 0u64;
        let mut part: Option<Assembly> = None;
        loop {
            let frame = match recv.recv().await {
                Ok(Some(frame)) => frame,
                // The stream ended without `StreamEnd`, or the connection went: the
                // node (or its process) is gone.
                Ok(None) | Err(_) => return Err(Error::NodeDied { node_id: self.from }),
            };
            match frame {
                WireMessage::StreamItem {
                    index,
                    offset,
                    total,
                    data,
                    lent,
                } => {
                    let mut a = match part.take() {
                        None if offset == 0 && index == next => {
                            if total > MAX_PAYLOAD_BYTES as u64 {
                                return Err(bad(format!("an item of {total} bytes")));
                            }
                            Assembly {
                                index,
                                total,
                                bytes: Vec::with_capacity(data.len()),
                                lent,
                            }
                        }
                        Some(a) if a.index == index && a.total == total => a,
                        _ => {
                            return Err(bad(format!(
                                "piece {offset} of item {index} out of order"
                            )));
                        }
                    };
                    if offset != a.bytes.len() as u64 || offset + data.len() as u64 > a.total {
                        return Err(bad(format!("piece {offset} of item {index} out of order")));
                    }
                    a.bytes.extend_from_slice(&data);
                    if (a.bytes.len() as u64) < a.total {
                        part = Some(a);
                        continue;
                    }
                    self.store(a).await?;
                    next += 1;
                    // A fast generator keeps frames ready: let the node's other work
                    // (heartbeats, requests) run between items.
                    tokio::task::yield_now().await;
                }
                WireMessage::StreamEnd { error } => {
                    return match error {
                        None => Ok(stored(())),
                        Some(e) => Err(e.into()),
                    };
                }
                other => return Err(bad(format!("unexpected {other:?}"))),
            }
        }
    }

    /// Decodes one whole item (under the loan it came with) and hands it on.
    async fn store(&self, a: Assembly) -> Result<()> {
        let mut handoff = Handoff::with(loan(&self.me, self.from, a.lent));
        let decode = self.decode_item;
        let bytes = a.bytes;
        let value = off_node_thread(bytes.len(), self.node.clone(), move || {
            handoff.run(|| decode(&bytes))
        })
        .await?;
        let node = self.node.as_ref().ok_or(Error::ShutDown)?;
        self.sink
            .push_raw(RawRef::ready(&node.store, ObjectId::for_put(), value));
        Ok(())
    }
}

fn bad(what: String) -> Error {
    Error::Serialization(format!("a generator's stream sent {what}"))
}

impl ClusterAgent {
    /// Starts a generator another node placed here, on the channel it opened, and pumps
    /// its items there.
    pub(super) fn serve_generator(&mut self, msg: OpenedChannel, me: Addr<ClusterAgent>) {
        let WireMessage::RunGenerator {
            function,
            resources,
            backpressure,
            lent,
        } = msg.open
        else {
            return;
        };
        let (from, node) = (msg.from, self.node.upgrade());
        let (mut send, recv) = msg.channel.split();
        let args = msg.payload;
        tracing::debug!(node_id = %self.node_id, from = %from, function = %function, "a generator for another node");
        actix::spawn(async move {
            // The arguments are decoded under the loan they came with; large ones off
            // the node thread.
            let mut handoff = Handoff::with(loan(&me, from, lent));
            let here = node.clone();
            let started = off_node_thread(args.len(), node.clone(), move || {
                let node = here.ok_or(Error::ShutDown)?;
                let generator = lookup_generator(&function, node.id)?;
                let opts = pinned(&resources, backpressure, node.id);
                handoff.run(|| (generator.start)(&args, opts))
            })
            .await;
            let stream = match started {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::debug!(from = %from, error = %e, "the generator did not start");
                    let end = WireMessage::StreamEnd {
                        error: Some(e.into()),
                    };
                    let _ = send.send(&end).await;
                    send.finish();
                    return;
                }
            };
            serve(stream, (send, recv), from, me, node).await;
        });
    }

    /// The caller of a streaming method of an actor hosted here pulls its stream (the
    /// call's answer named it).
    pub(super) fn serve_parked(&mut self, msg: OpenedChannel, me: Addr<ClusterAgent>) {
        let WireMessage::PullStream { id } = msg.open else {
            return;
        };
        let (from, node) = (msg.from, self.node.upgrade());
        let (mut send, recv) = msg.channel.split();
        let parked = parked().lock().remove(&id);
        actix::spawn(async move {
            match parked {
                Some(stream) => serve(stream, (send, recv), from, me, node).await,
                None => {
                    let error = Error::InvalidArgument(format!("no stream {id} waits here"));
                    let end = WireMessage::StreamEnd {
                        error: Some(error.into()),
                    };
                    let _ = send.send(&end).await;
                    send.finish();
                }
            }
        });
    }
}

/// The generator's side of its channel: items out, consumption in.
async fn serve(
    stream: RawStream,
    (send, recv): (ChannelSend, ChannelRecv),
    to: NodeId,
    me: Addr<ClusterAgent>,
    node: Option<Arc<Node>>,
) {
    actix::spawn(watch_consumer(
        recv,
        stream.window().clone(),
        stream.completion().cloned(),
        node.clone(),
    ));
    forward(stream, send, to, me, node).await;
}

/// How long a streaming method's stream waits for its caller to pull it.
const PARKED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

type Parked = parking_lot::Mutex<std::collections::HashMap<u64, RawStream>>;

/// Streams of streaming methods called from other nodes, until their callers pull them.
fn parked() -> &'static Parked {
    static PARKED: std::sync::OnceLock<Parked> = std::sync::OnceLock::new();
    PARKED.get_or_init(Default::default)
}

/// Parks the stream of a streaming method called from another node; the call's answer
/// is the ticket its caller pulls it with. One not pulled within [`PARKED_FOR`] (its
/// caller is gone) is dropped, and its generator stops.
pub(crate) fn park_stream(stream: RawStream) -> RawRef {
    let node = match crate::node::current_node() {
        Ok(n) => n,
        Err(e) => return RawRef::failed(e),
    };
    // Task ids are unique cluster-wide; the table is this process's.
    let id = crate::ids::TaskId::new().as_u64();
    parked().lock().insert(id, stream);
    node.system.arbiter().spawn(async move {
        actix_rt::time::sleep(PARKED_FOR).await;
        if let Some(stream) = parked().lock().remove(&id) {
            stream.window().close();
        }
    });
    RawRef::ready(&node.store, ObjectId::for_put(), stored(id))
}

/// Pulls the stream of a streaming method called on an actor on node `target`, once
/// the call's answer (`ticket`) came.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PullStream {
    pub(crate) target: NodeId,
    pub(crate) at: Option<super::NodeAddr>,
    pub(crate) ticket: RawRef,
    pub(crate) sink: StreamSender,
    pub(crate) decode_item: fn(&[u8]) -> Result<StoredValue>,
    pub(crate) completion: RawRef,
}

impl Handler<PullStream> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: PullStream, ctx: &mut Context<Self>) {
        let (node, link, me) = (self.node.upgrade(), self.link(), ctx.address());
        actix::spawn(async move {
            let opened = async {
                let ticket = msg.ticket.settled().await?;
                let id = *crate::store::object_ref_downcast::<u64>(msg.ticket.id(), ticket)?;
                let peer = link.peer(msg.target, msg.at).await?;
                let open = WireMessage::PullStream { id };
                Ok::<_, Error>(peer.open_channel(&open, &Bulk::default()).await?)
            };
            let channel = opened.await;
            let items = Items {
                from: msg.target,
                sink: msg.sink,
                decode_item: msg.decode_item,
                node,
                me,
            };
            pump(channel, items, msg.completion).await;
        });
    }
}

/// Options that run a generator here, with the resources its caller asked for.
fn pinned(resources: &[(String, f64)], backpressure: Option<u64>, here: NodeId) -> TaskOptions {
    let mut o = TaskOptions {
        num_cpus: Some(0.0),
        max_retries: Some(0),
        strategy: SchedulingStrategy::NodeAffinity {
            node_id: here,
            soft: false,
        },
        backpressure,
        ..TaskOptions::default()
    };
    for (k, v) in resources {
        match k.as_str() {
            "CPU" => o.num_cpus = Some(*v),
            "GPU" => o.num_gpus = Some(*v),
            "memory" => o.memory = Some(*v),
            _ => {
                o.resources.insert(k.clone(), *v);
            }
        }
    }
    o
}

/// The generator's side, towards the caller: each item as it is produced, then the end.
async fn forward(
    mut stream: RawStream,
    mut send: ChannelSend,
    to: NodeId,
    me: Addr<ClusterAgent>,
    node: Option<Arc<Node>>,
) {
    let mut index = 0u64;
    while let Some(r) = stream.next_raw().await {
        let sent = async {
            let v = r.settled().await?;
            let (bulk, lent) = encode_for(r.clone(), v, to, me.clone(), node.clone()).await?;
            send_item(&mut send, index, &bulk, lent).await
        };
        if let Err(e) = sent.await {
            // The caller is gone, or an item cannot travel: the generator stops.
            stream.window().close();
            let _ = send
                .send(&WireMessage::StreamEnd {
                    error: Some(e.into()),
                })
                .await;
            send.finish();
            return;
        }
        index += 1;
        // An endless generator keeps items ready: let the node's other work (its
        // consumer's end, heartbeats) run between items.
        tokio::task::yield_now().await;
    }
    let outcome = match stream.completion() {
        Some(done) => done.settled().await.map(|_| ()),
        None => Ok(()),
    };
    let end = WireMessage::StreamEnd {
        error: outcome.err().map(Into::into),
    };
    let _ = send.send(&end).await;
    send.finish();
}

/// Sends one encoded item in pieces of at most [`ITEM_PIECE`] bytes.
async fn send_item(
    send: &mut ChannelSend,
    index: u64,
    bulk: &Bulk,
    mut lent: Vec<ObjectId>,
) -> Result<()> {
    let total = bulk.len() as u64;
    let mut offset = 0u64;
    let pieces = bulk.pieces();
    let mut chunks: Vec<&[u8]> = pieces.iter().flat_map(|p| p.chunks(ITEM_PIECE)).collect();
    if chunks.is_empty() {
        // An empty item is still one frame.
        chunks.push(&[]);
    }
    for chunk in chunks {
        let frame = WireMessage::StreamItem {
            index,
            offset,
            total,
            data: chunk.to_vec(),
            lent: std::mem::take(&mut lent),
        };
        send.send(&frame).await?;
        offset += chunk.len() as u64;
    }
    Ok(())
}

/// The generator's side, from the caller: consumption counts; the caller's end (or a
/// lost connection) stops the generator at its next item, and cancels it if it has not
/// finished.
async fn watch_consumer(
    mut recv: ChannelRecv,
    window: Arc<Window>,
    completion: Option<RawRef>,
    node: Option<Arc<Node>>,
) {
    while let Ok(Some(WireMessage::StreamConsumed { consumed })) = recv.recv().await {
        window.consumed_up_to(consumed);
    }
    window.close();
    if let (Some(done), Some(node)) = (completion, node)
        && done.peek().is_none()
    {
        node.actors().manager.do_send(CancelTask {
            task_id: done.id().task_id(),
            force: false,
            recursive: true,
        });
    }
}
