//! Actors across nodes, in the agent.
//! - Caller side: `CreateRemoteActor`, `CallRemoteActor` and `KillRemoteActor` wait for
//!   their arguments, encode them and send them to the hosting node.
//! - Host side: actors created here for other nodes, and each caller's calls run in the
//!   order it made them (`seq`), whatever order they arrive in (each is its own QUIC
//!   stream). Calls for an actor whose creation has not arrived yet wait for it.
//! - Head: the directory of named actors (`NameRequest` from this node's own code,
//!   `RegisterName`/`LookupName`/`DropName` from the others).

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;

use super::order::{MAX_AHEAD, Order, Parked};
use super::restart::Owned;
use super::tasks::{failure, settle_from_answer};
use super::{ClusterAgent, NodeAddr, Role};
use crate::actors::ActorOptions;
use crate::actors::NodeActors;
use crate::actors::remote::{EncodeArgs, HostedActor, Restart, Routing, Ticket, class};
use crate::ids::{ActorId, NodeId};
use crate::node::{Node, with_context};
use crate::store::{Handoff, RawRef};
use crate::transport::{Bulk, WireActor, WireMessage};
use crate::{Error, Result};

/// Creates an actor on another node (from `A::remote()` when placement chose it).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CreateRemoteActor {
    pub(crate) target: NodeId,
    pub(crate) class: &'static str,
    pub(crate) actor_id: ActorId,
    pub(crate) options: ActorOptions,
    pub(crate) deps: Vec<RawRef>,
    pub(crate) encode: EncodeArgs,
    /// Set when the actor may be re-created elsewhere if its node dies.
    pub(crate) restart: Option<Restart>,
}

/// Calls a method of an actor on another node.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CallRemoteActor {
    /// Where the call goes, as which caller, with which number.
    pub(crate) ticket: Ticket,
    pub(crate) at: Option<NodeAddr>,
    pub(crate) actor_id: ActorId,
    pub(crate) method: &'static str,
    pub(crate) deps: Vec<RawRef>,
    pub(crate) encode: EncodeArgs,
    pub(crate) decode: crate::tasks::DecodeReturns,
    pub(crate) returns: Vec<RawRef>,
    /// How often the call runs again on the restarted actor when its node dies under it
    /// (`max_task_retries`; -1: always).
    pub(crate) retries: i32,
    /// Whether the actor restarts when its node dies.
    pub(crate) restarts: bool,
    /// The handle's routing, which follows the actor to its new node.
    pub(crate) routing: Arc<Routing>,
}

/// Stops an actor on another node (`ray::kill`, or its creator dropped every handle).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct KillRemoteActor {
    pub(crate) target: NodeId,
    pub(crate) at: Option<NodeAddr>,
    pub(crate) actor_id: ActorId,
    pub(crate) force: bool,
    /// With `force`: as a crash, restarting while `max_restarts` allows.
    pub(crate) restart: bool,
}

/// An actor of this node stopped (from its host).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ActorStopped(pub(crate) ActorId);

impl Handler<ActorStopped> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: ActorStopped, _: &mut Context<Self>) {
        self.actor_stopped(msg.0);
    }
}

/// The head's directory of named actors, asked by this node's own code.
#[derive(Message)]
#[rtype(result = "Result<Option<WireActor>>")]
pub(crate) enum NameRequest {
    /// Records a name; `Err(ActorNameTaken)` if another live actor has it.
    Register(WireActor),
    /// Where the named actor lives (`namespace/name`).
    Lookup(String),
    /// Forgets the name of a stopped actor.
    Drop(ActorId),
}

/// The caller's side: for each calling handle, when its latest call has opened its
/// stream. A call opens its stream only after the previous call of its caller did, so
/// streams reach the host in call order and the host never waits for a call that is
/// itself waiting for a stream (the host runs each caller's calls in order).
#[derive(Default)]
pub(super) struct Calling(HashMap<u64, oneshot::Receiver<()>>);

impl Calling {
    /// Forgets callers whose latest call has opened its stream.
    pub(super) fn prune(&mut self) {
        self.0
            .retain(|_, opened| matches!(opened.try_recv(), Ok(None)));
    }
}

/// The host's side: actors created here for other nodes, the error of actors that other
/// nodes reached and that are gone (so late calls get it at once), and each caller's
/// ordering state.
#[derive(Default)]
pub(super) struct Hosted {
    /// Created here for another node, until they stop.
    placed: std::collections::HashSet<ActorId>,
    pub(super) gone: HashMap<ActorId, Error>,
    pub(super) orders: HashMap<(ActorId, u64), Order>,
    /// Calls parked in `orders`, and the bytes of their arguments.
    pub(super) parked: (usize, usize),
    /// Actors that handles on other nodes keep alive (besides their creator).
    pub(super) holds: super::holds::Holds<ActorId, Option<Arc<dyn HostedActor>>>,
}

/// An actor creation's or call's arguments for the actor's node, encoded once each exists
/// somewhere: as for a task, one held by another node, or a large one the actor reads
/// in place, goes as its ref, which that node pulls from where it is. With the refs the
/// encoding carried out, to lend to that node.
async fn encoded_args(
    deps: &[RawRef],
    encode: EncodeArgs,
    node: Option<&Arc<Node>>,
) -> (Result<(Bulk, crate::tasks::Held)>, Vec<RawRef>) {
    for d in deps {
        let _ = d.exists().await;
    }
    let mut handoff = Handoff::default();
    let context = node.map(|n| n.context());
    let args = handoff.run(|| with_context(context, encode));
    (args, handoff.escaped())
}

impl Handler<CreateRemoteActor> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: CreateRemoteActor, ctx: &mut Context<Self>) {
        let (link, me) = (self.link(), ctx.address());
        let node = self.node.upgrade();
        let options = crate::tasks::encode(&msg.options);
        let run = async move {
            let (args, carried) = encoded_args(&msg.deps, msg.encode, node.as_ref()).await;
            let (options, payload, failed, held) = match (options, args) {
                (Ok(options), Ok((bytes, held))) => (options, bytes, None, Some(held)),
                (Ok(options), Err(e)) => (options, Default::default(), Some(e), None),
                (Err(e), _) => (Vec::new(), Default::default(), Some(e), None),
            };
            let restartable = failed.is_none();
            let request = WireMessage::CreateActor {
                class: msg.class.to_string(),
                actor_id: msg.actor_id,
                options,
                failed: failed.map(Into::into),
                resume: None,
                lent: super::objects::lend(&me, node.as_ref(), msg.target, carried),
            };
            let args: Bulk = payload;
            let answer = link
                .request(msg.target, None, request.clone(), args.clone())
                .await;
            // An actor that may restart keeps its arguments' refs for the next creation.
            let owned = msg.restart.filter(|_| restartable).map(|restart| Owned {
                node: msg.target,
                request,
                args,
                _held: held,
                restart,
                waiting: false,
            });
            let problem = match answer {
                Ok((WireMessage::Error { message }, _)) => Some(message),
                Err(e) => Some(e.to_string()),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                tracing::warn!(actor_id = %msg.actor_id, target = %msg.target, %problem, "actor creation failed");
            }
            owned.map(|o| (msg.actor_id, o))
        };
        ctx.spawn(run.into_actor(self).map(|owned, act, _| {
            if let Some((id, owned)) = owned {
                act.owned.insert(id, owned);
            }
        }));
    }
}

impl Handler<CallRemoteActor> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: CallRemoteActor, ctx: &mut Context<Self>) {
        let (link, me) = (self.link(), ctx.address());
        let node = self.node.upgrade();
        // How long a call lost with its node waits for its actor to restart.
        let patience = self.timeout * 4;
        let (opened, now_open) = oneshot::channel::<()>();
        let previous = self.calling.0.insert(msg.ticket.caller, now_open);
        let run = async move {
            let (args, carried) = encoded_args(&msg.deps, msg.encode, node.as_ref()).await;
            let (payload, held, failed) = match args {
                Ok((bytes, held)) => (bytes, Some(held), None),
                Err(e) => (Bulk::default(), None, Some(e)),
            };
            let Ticket {
                target,
                caller,
                seq,
            } = msg.ticket;
            let request = WireMessage::CallActor {
                actor_id: msg.actor_id,
                caller,
                seq,
                method: msg.method.to_string(),
                failed: failed.is_some(),
                lent: super::objects::lend(&me, node.as_ref(), target, carried),
            };
            if let Some(previous) = previous {
                // Resolves when the previous call opened its stream (or gave up).
                let _ = previous.await;
            }
            let stream = link.open(target, msg.at).await;
            drop(opened);
            // A failed call still takes its turn at the host, so later calls run.
            let mut answer = match stream {
                Ok(stream) => link.exchange(stream, target, &request, &payload).await,
                Err(e) => Err(e),
            };
            // The node that answered: the actor's, or the one it restarted on.
            let mut answered = target;
            if msg.restarts && failed.is_none() {
                let lost = super::follow::Lost {
                    link: &link,
                    routing: &msg.routing,
                    actor_id: msg.actor_id,
                    patience,
                };
                (answer, answered) = lost
                    .follow(request, &payload, answer, (msg.retries, target))
                    .await;
            }
            drop(held);
            if let Some(e) = failed {
                for r in &msg.returns {
                    r.complete(Err(e.clone()));
                }
                return;
            }
            let answer = answer.map_err(|e| match e {
                Error::NodeDied { node_id } if msg.restarts => Error::ActorUnavailable {
                    actor_id: msg.actor_id,
                    reason: format!("its node {node_id} died; it restarts on another node"),
                },
                Error::NodeDied { node_id } => Error::ActorDied {
                    actor_id: msg.actor_id,
                    reason: format!("its node {node_id} died or cannot be reached"),
                },
                other => other,
            });
            settle_from_answer(node, answer, msg.decode, &msg.returns, (&me, answered)).await;
        };
        // Its own task: the agent's context polls every item it holds on each wake-up,
        // and thousands of calls may be in flight.
        actix::spawn(run);
    }
}

impl Handler<KillRemoteActor> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: KillRemoteActor, ctx: &mut Context<Self>) {
        let request = WireMessage::KillActor {
            actor_id: msg.actor_id,
            force: msg.force,
            restart: msg.restart,
        };
        let send = self.request(msg.target, msg.at, request, Vec::new());
        ctx.spawn(
            async move {
                // A node that cannot be reached has no actor left to stop.
                let _ = send.await;
            }
            .into_actor(self),
        );
    }
}

impl Handler<NameRequest> for ClusterAgent {
    type Result = ResponseFuture<Result<Option<WireActor>>>;

    fn handle(&mut self, msg: NameRequest, _: &mut Context<Self>) -> Self::Result {
        let (request, taken) = match msg {
            NameRequest::Register(actor) => {
                let name = actor.name.clone();
                (WireMessage::RegisterName { actor }, Some(name))
            }
            NameRequest::Lookup(name) => (WireMessage::LookupName { name }, None),
            NameRequest::Drop(actor_id) => (WireMessage::DropName { actor_id }, None),
        };
        let answer = if matches!(self.role, Role::Head) {
            let local = self.head_request(request);
            async move { Ok((local.await, Vec::new())) }.boxed()
        } else {
            match self.head_id() {
                Some(head) => self.request(head, None, request, Vec::new()),
                None => async { Err(Error::NotConnected("the head is unknown".into())) }.boxed(),
            }
        };
        Box::pin(async move {
            match answer.await? {
                (WireMessage::ActorAt { actor }, _) => Ok(actor),
                (WireMessage::Ack, _) => Ok(None),
                (WireMessage::Error { message }, _) => Err(match taken {
                    Some(name) => Error::ActorNameTaken { name },
                    None => Error::NotConnected(message),
                }),
                (other, _) => Err(Error::Serialization(format!("unexpected answer {other:?}"))),
            }
        })
    }
}

impl ClusterAgent {
    /// Head: answers a directory request (its `NameDirectory`).
    pub(super) fn head_request(&self, request: WireMessage) -> BoxFuture<'static, WireMessage> {
        let Some(names) = &self.names else {
            let message = format!(
                "node {} keeps no name directory: ask the head",
                self.node_id
            );
            return async move { WireMessage::Error { message } }.boxed();
        };
        let answer = names.send(super::names::DirectoryRequest(request));
        async move {
            answer.await.unwrap_or_else(|_| WireMessage::Error {
                message: "the head's name directory stopped".into(),
            })
        }
        .boxed()
    }

    /// Host: creates an actor another node placed here.
    pub(super) fn host_actor(
        &mut self,
        creator: NodeId,
        create: WireMessage,
        args: &[u8],
    ) -> WireMessage {
        let WireMessage::CreateActor {
            class: class_name,
            actor_id,
            options,
            failed,
            resume,
            lent,
        } = create
        else {
            return WireMessage::Error {
                message: "not an actor creation".into(),
            };
        };
        let (class_name, options) = (class_name.as_str(), options.as_slice());
        if let Some((caller, next)) = resume {
            // A restart: its creator's calls continue from `next`.
            let order = self.hosted.orders.entry((actor_id, caller)).or_default();
            order.next = order.next.max(next);
        }
        if self.hosted.gone.contains_key(&actor_id) {
            // Released (or killed) by its creator before its creation arrived.
            return WireMessage::Ack;
        }
        // Released once the constructor's arguments are decoded (their copies take the
        // borrows over), or with the creation if it fails first.
        let loan = self
            .addr
            .upgrade()
            .and_then(|me| super::objects::loan(&me, creator, lent));
        let created = match failed {
            Some(e) => Err(e.into()),
            None => {
                Handoff::with(loan).run(|| self.create_hosted(class_name, actor_id, options, args))
            }
        };
        let answer = match &created {
            Ok(_) => WireMessage::Ack,
            Err(e) => WireMessage::Error {
                message: e.to_string(),
            },
        };
        match created {
            // Its creator holds it, like a handle on another node: it lives while some
            // node holds it, and goes with a creator that dies.
            Ok(h) => {
                self.hosted.placed.insert(actor_id);
                self.hosted.holds.add(actor_id, creator, || Some(h));
            }
            Err(e) => {
                tracing::warn!(node_id = %self.node_id, actor_id = %actor_id, class = class_name, error = %e, "cannot create the actor");
                let dead = Error::ActorDied {
                    actor_id,
                    reason: e.to_string(),
                };
                self.hosted.gone.insert(actor_id, dead);
            }
        }
        self.drain_all(actor_id);
        answer
    }

    fn create_hosted(
        &self,
        class_name: &str,
        actor_id: ActorId,
        options: &[u8],
        args: &[u8],
    ) -> Result<Arc<dyn HostedActor>> {
        let node = self.node.upgrade().ok_or(Error::ShutDown)?;
        let class = class(class_name, node.id)?;
        let mut opts: ActorOptions = crate::tasks::decode(options)?;
        opts.placed = Some(actor_id);
        tracing::info!(node_id = %node.id, actor_id = %actor_id, class = class_name, "creating an actor for another node");
        with_context(Some(node.context()), || (class.create)(args, opts))
    }

    /// Host: queues a call and runs every call of its caller that is next in order. A
    /// call for an actor this node does not know waits for its creation to arrive, for
    /// at most the node timeout.
    pub(super) fn call_hosted(
        &mut self,
        ctx: &mut Context<Self>,
        from: NodeId,
        call: WireMessage,
        args: Vec<u8>,
    ) -> BoxFuture<'static, (WireMessage, Bulk)> {
        let WireMessage::CallActor {
            actor_id,
            caller,
            seq,
            method,
            failed,
            lent,
        } = call
        else {
            return async { failure(Error::InvalidArgument("not an actor call".into())) }.boxed();
        };
        // Released when the call is done with, run or refused.
        let loan = super::objects::loan(&ctx.address(), from, lent);
        if self.hosted_actor(actor_id).is_none() {
            ctx.run_later(self.timeout, move |act, _| act.give_up_on(actor_id));
        }
        let (reply, answer) = oneshot::channel();
        let order = self.hosted.orders.entry((actor_id, caller)).or_default();
        tracing::trace!(actor_id = %actor_id, caller, seq, next = order.next, "actor call arrived");
        // A call parked before whose stream closed is replaced (its caller sent it again).
        if order
            .parked
            .get(&seq)
            .is_some_and(|p| p.reply.is_canceled())
            && let Some(old) = order.parked.remove(&seq)
        {
            self.hosted.parked.0 -= 1;
            self.hosted.parked.1 -= old.args.len();
        }
        let refused = if seq < order.next || order.parked.contains_key(&seq) {
            Some(format!(
                "call {seq} of caller {caller:x} to actor {actor_id} arrived twice"
            ))
        } else if seq - order.next >= MAX_AHEAD {
            Some(format!(
                "call {seq} of caller {caller:x} to actor {actor_id} is {} calls ahead of \
                 the next one ({}); at most {MAX_AHEAD} wait for their turn",
                seq - order.next,
                order.next
            ))
        } else {
            self.hosted.room_for(args.len()).err()
        };
        if let Some(why) = refused {
            tracing::warn!(node_id = %self.node_id, from = %from, actor_id = %actor_id, "{why}");
            return async move { failure(Error::InvalidArgument(why)) }.boxed();
        }
        self.hosted.parked.0 += 1;
        self.hosted.parked.1 += args.len();
        let order = self.hosted.orders.entry((actor_id, caller)).or_default();
        order.parked.insert(
            seq,
            Parked {
                from,
                method,
                args,
                loan,
                failed,
                reply,
            },
        );
        self.drain(actor_id, caller);
        async move {
            answer.await.unwrap_or_else(|_| {
                failure(Error::ActorDied {
                    actor_id,
                    reason: "the actor was stopped".into(),
                })
            })
        }
        .boxed()
    }

    /// The actor behind `actor_id` on this node: created here for another node, or
    /// created here by this node's own code. `None` while its creation has not arrived.
    pub(super) fn hosted_actor(&self, actor_id: ActorId) -> Option<Result<Arc<dyn HostedActor>>> {
        if let Some(e) = self.hosted.gone.get(&actor_id) {
            return Some(Err(e.clone()));
        }
        let node = self.node.upgrade()?;
        node.actors().actor_cells.get(actor_id)?.hosted().map(Ok)
    }
}

impl ClusterAgent {
    /// An actor of this node stopped: calls that arrive for it later fail at once.
    pub(super) fn actor_stopped(&mut self, actor_id: ActorId) {
        let placed = self.hosted.placed.remove(&actor_id);
        let called = self.hosted.orders.keys().any(|(a, _)| *a == actor_id);
        if !placed && !called {
            // Never reached from another node: nothing to remember.
            return;
        }
        self.hosted.gone.insert(
            actor_id,
            Error::ActorDied {
                actor_id,
                reason: "the actor stopped".into(),
            },
        );
        self.drain_all(actor_id);
    }

    /// Host: stops a hosted actor (`force`), or drops the creator's hold on it.
    pub(super) fn kill_hosted(
        &mut self,
        from: NodeId,
        actor_id: ActorId,
        force: bool,
        restart: bool,
    ) {
        let known = self.hosted_actor(actor_id);
        if force && restart {
            // Killed as a crash: it restarts here (or dies, its restarts used up).
            if let Some(Ok(h)) = known {
                h.terminate("the actor was killed", true);
            }
            return;
        }
        if !force {
            // Its creator let go: the actor lives on while another node holds it (and,
            // like any actor, while a handle on this node does).
            if self.hosted.holds.release(actor_id, from) {
                tracing::info!(node_id = %self.node_id, actor_id = %actor_id, "creator released the actor; handles elsewhere keep it");
                return;
            }
            if known.is_some() {
                tracing::info!(node_id = %self.node_id, actor_id = %actor_id, "hosted actor released by its creator");
                return;
            }
        } else if let Some(Ok(h)) = known {
            h.terminate("the actor was killed", false);
        }
        // Later calls (and a creation still on its way) get this error instead of
        // waiting.
        let reason = if force {
            "the actor was killed"
        } else {
            "its creator dropped every handle"
        };
        self.hosted.gone.insert(
            actor_id,
            Error::ActorDied {
                actor_id,
                reason: reason.into(),
            },
        );
    }
}
