//! Who runs a compiled graph's steps: each actor's instance, lent by its host, wrapped in
//! a runner that owns it exclusively; and the loop threads that run the runners' steps in
//! the graph's order, once per execution. A loop thread may serve several actors: more
//! spinning loops than CPUs only take turns on them, and a chain whose stages share a
//! thread hands values on without waking anyone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use futures::channel::oneshot;

use super::DagError;
use super::actor_loop::{CallOp, Outcome, Reader, Step, Writer};
use super::node::{AnyStep, MethodFn};
use crate::actors::{ActorHost, LendInstance, ReturnInstance};
use crate::ids::{ActorId, NodeId};
use crate::node::{ExecContext, block_on, set_thread_context};
use crate::{ActorHandle, Error, RemoteActor, Result};

/// An actor of a graph, its class erased (its handle: the actor lives while the graph
/// does).
pub(crate) trait DagActor: Send + Sync {
    fn id(&self) -> ActorId;
    /// Where the actor lives when that is another node (its calls then run in that
    /// node's part of the graph); `None` when it is on this one.
    fn site(&self) -> Result<Option<Site>>;
    /// Takes the instance from its host, once the calls queued before it have run.
    fn lend(&self) -> Result<Box<dyn Runner>>;
    /// A step of this node's part of a graph driven from another node: calls `method`
    /// by name on `arity` encoded arguments read from `readers` and writes the encoded
    /// result (a `Box<dyn Step<A>>`).
    fn encoded_step(
        &self,
        method: &str,
        arity: usize,
        readers: Vec<Box<dyn Reader>>,
        trigger: Option<Box<dyn Reader>>,
        out: Writer<Vec<u8>>,
    ) -> AnyStep;
}

/// The node an actor of a graph lives on, and how to reach it.
pub(crate) struct Site {
    pub(crate) node: NodeId,
    pub(crate) at: Option<crate::actors::NodeAddr>,
    pub(crate) agent: actix::Addr<crate::actors::ClusterAgent>,
}

/// An actor a node hosts, as the node's part of a graph driven from another node takes
/// it (what `HostedActor::dag_actor` gives).
#[doc(hidden)]
pub struct PartActor(pub(crate) Arc<dyn DagActor>);

/// One actor's instance on loan and its steps (or a link's channel and steps). Dropping
/// it gives the instance back to the host (or tells the host why it was lost), on
/// whatever path the graph ends.
pub(crate) trait Runner: Send {
    fn actor_id(&self) -> ActorId;
    /// Its steps (each a `Box<dyn Step<A>>`), in the graph's order.
    fn set_steps(&mut self, steps: Vec<AnyStep>) -> Result<()>;
    /// Makes the calling thread run as this actor (`ray::runtime_context()`, nested
    /// calls).
    fn enter(&self);
    /// Runs step `step` for the next execution; `false` once the graph stops.
    fn run(&mut self, step: usize, stop: &AtomicBool) -> bool;
}

impl<A: RemoteActor> DagActor for ActorHandle<A> {
    fn id(&self) -> ActorId {
        self.cell().id
    }

    fn site(&self) -> Result<Option<Site>> {
        let cell = self.cell();
        if !cell.is_remote() {
            return Ok(None);
        }
        let site = cell
            .remote
            .as_ref()
            .ok_or(DagError::RemoteActor { actor_id: cell.id })?;
        Ok(Some(Site {
            node: site.node(),
            at: site.at,
            agent: site.agent.clone(),
        }))
    }

    fn lend(&self) -> Result<Box<dyn Runner>> {
        if self.cell().is_remote() {
            return Err(DagError::RemoteActor {
                actor_id: self.cell().id,
            }
            .into());
        }
        Ok(Box::new(lend(self)?))
    }

    fn encoded_step(
        &self,
        method: &str,
        arity: usize,
        readers: Vec<Box<dyn Reader>>,
        trigger: Option<Box<dyn Reader>>,
        out: Writer<Vec<u8>>,
    ) -> AnyStep {
        let name: Arc<str> = method.into();
        let called = name.clone();
        let f: MethodFn<A, Vec<u8>> = Arc::new(move |a, args| {
            let mut encoded = Vec::with_capacity(arity);
            for _ in 0..arity {
                encoded.push(args.take::<Vec<u8>>()?);
            }
            A::dag_call(a, &called, encoded)
        });
        let step: Box<dyn Step<A>> = Box::new(CallOp {
            method: name,
            f,
            readers,
            trigger,
            out,
        });
        Box::new(step)
    }
}

/// Takes the instance of a local actor from its host, once the calls queued before it
/// have run.
pub(crate) fn lend<A: RemoteActor>(handle: &ActorHandle<A>) -> Result<ActorRunner<A>> {
    let cell = handle.cell();
    let host = cell.addr.clone()?;
    let (reply, rx) = oneshot::channel();
    host.do_send(LendInstance { reply });
    let died = || Error::ActorDied {
        actor_id: cell.id,
        reason: "the actor stopped before the graph compiled".into(),
    };
    let loan = block_on(rx).map_err(|_| died())??;
    Ok(ActorRunner {
        actor_id: loan.actor_id,
        instance: Some(loan.instance),
        context: loan.context,
        killed: loan.killed,
        steps: Vec::new(),
        dead: None,
        lost: None,
        host,
    })
}

pub(crate) struct ActorRunner<A: RemoteActor> {
    actor_id: ActorId,
    instance: Option<A>,
    context: ExecContext,
    killed: Arc<AtomicBool>,
    steps: Vec<Box<dyn Step<A>>>,
    /// What every later step of a dead instance reports.
    dead: Option<Error>,
    /// Why the instance was lost, for its host.
    lost: Option<String>,
    host: actix::Addr<ActorHost<A>>,
}

impl<A: RemoteActor> ActorRunner<A> {
    fn lose(&mut self, reason: String) {
        tracing::warn!(actor_id = %self.actor_id, %reason, "actor died in a compiled graph");
        self.instance = None;
        self.dead = Some(Error::ActorDied {
            actor_id: self.actor_id,
            reason: reason.clone(),
        });
        self.lost = Some(reason);
    }
}

impl<A: RemoteActor> Runner for ActorRunner<A> {
    fn actor_id(&self) -> ActorId {
        self.actor_id
    }

    fn set_steps(&mut self, steps: Vec<AnyStep>) -> Result<()> {
        self.steps = steps
            .into_iter()
            .map(|s| s.downcast::<Box<dyn Step<A>>>().map(|b| *b))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| DagError::TypeMismatch {
                method: A::CLASS.to_string(),
            })?;
        Ok(())
    }

    fn enter(&self) {
        set_thread_context(Some(self.context.clone()));
    }

    fn run(&mut self, step: usize, stop: &AtomicBool) -> bool {
        if self.dead.is_none() && self.killed.load(Ordering::Relaxed) {
            self.lose("the actor was killed".into());
        }
        let Some(s) = self.steps.get_mut(step) else {
            return false;
        };
        match s.run(self.instance.as_mut(), self.dead.as_ref(), stop) {
            Outcome::Done => true,
            Outcome::Stopped => false,
            Outcome::Panicked(reason) => {
                self.lose(reason);
                true
            }
        }
    }
}

impl<A: RemoteActor> Drop for ActorRunner<A> {
    fn drop(&mut self) {
        let instance = match self.instance.take() {
            Some(a) => Ok(a),
            None => Err(self
                .lost
                .take()
                .unwrap_or_else(|| "its instance was lost".into())),
        };
        self.host.do_send(ReturnInstance { instance });
    }
}

/// One loop thread's share of a graph: its runners and, in the graph's order, which
/// runner's which step comes next.
pub(crate) struct Group {
    pub(crate) runners: Vec<Box<dyn Runner>>,
    pub(crate) order: Vec<(usize, usize)>,
}

/// Starts the loop thread of `group`. If the thread cannot start, the runners are
/// dropped with it, which gives their instances back.
pub(crate) fn start(
    group: Group,
    stop: Arc<AtomicBool>,
    node_id: NodeId,
) -> Result<JoinHandle<()>> {
    let first = group
        .runners
        .first()
        .map(|r| r.actor_id())
        .unwrap_or_else(ActorId::new);
    std::thread::Builder::new()
        .name("ray-dag-loop".into())
        .spawn(move || run_group(group, &stop, node_id))
        .map_err(|e| {
            DagError::Thread {
                actor_id: first,
                reason: e.to_string(),
            }
            .into()
        })
}

/// The loop: every step once per execution, until the graph stops; the runners then
/// drop here, handing the instances back.
pub(crate) fn run_group(mut group: Group, stop: &AtomicBool, node_id: NodeId) {
    let actors: Vec<String> = group
        .runners
        .iter()
        .map(|r| r.actor_id().to_string())
        .collect();
    let span = tracing::info_span!("dag.loop", node_id = %node_id, actor_ids = %actors.join(","));
    let _entered = span.enter();
    tracing::debug!("compiled-graph loop started");
    let single = group.runners.len() == 1;
    if let Some(r) = group.runners.first().filter(|_| single) {
        r.enter();
    }
    let mut current = usize::MAX;
    'executions: loop {
        for &(r, step) in &group.order {
            let Some(runner) = group.runners.get_mut(r) else {
                break 'executions;
            };
            if !single && current != r {
                runner.enter();
                current = r;
            }
            if !runner.run(step, stop) {
                break 'executions;
            }
        }
    }
    set_thread_context(None);
    tracing::debug!("compiled-graph loop stopped");
}

thread_local! {
    /// The event loop async methods run on (timers, `spawn_local`), made on a loop
    /// thread at its first async step; `None` if it could not be made.
    static ASYNC: std::cell::OnceCell<Option<actix_rt::Runtime>> =
        const { std::cell::OnceCell::new() };
}

/// Runs an async method's future to completion on the calling loop thread. Loop threads
/// are plain threads, never inside another runtime, so blocking here is allowed.
pub(crate) fn block_on_async<F: std::future::Future>(f: F) -> F::Output {
    ASYNC.with(
        |rt| match rt.get_or_init(|| actix_rt::Runtime::new().ok()) {
            Some(rt) => rt.block_on(f),
            None => block_on(f),
        },
    )
}
