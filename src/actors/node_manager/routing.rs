//! Where a node manager sends each task: placement over the cluster's node table, the
//! wait for arguments, pipelining onto the lease that produces them, sending to another
//! node, and parking tasks that no live node fits. Part of `NodeManager`.

use std::sync::Weak;

use actix::prelude::*;

use super::NodeManager;
use crate::Error;
use crate::SchedulingStrategy;
use crate::actors::NodeActors;
use crate::actors::RunRemote;
use crate::ids::NodeId;
use crate::resources::Resources;
use crate::store::{Located, RawRef, RefInner};
use crate::tasks::{Placement, TaskSpec, Turn, place, to_resources};
use crate::transport::WireNode;

/// Arguments at least this large keep a task on the node that holds them.
const LOCALITY_BYTES: usize = 1 << 20;

/// The bytes of `deps` here, and the node other than this one that holds the most of
/// them, with its bytes.
fn arg_bytes(deps: &[RawRef]) -> (usize, Option<(NodeId, usize)>) {
    let mut here = 0;
    let mut held: Vec<(NodeId, usize)> = Vec::new();
    for d in deps {
        match d.located() {
            Located::Here(size) => here += size,
            Located::HeldBy(node, size) => match held.iter_mut().find(|(n, _)| *n == node) {
                Some((_, bytes)) => *bytes += size,
                None => held.push((node, size)),
            },
            Located::Pending | Located::Failed => {}
        }
    }
    (here, held.into_iter().max_by_key(|(_, bytes)| *bytes))
}

/// The node the last task sent on went to, and its first return, weakly (it keeps no
/// object alive).
pub(super) struct LastSent(NodeId, Weak<RefInner>);

impl LastSent {
    /// The node, and whether that task is done: its return is settled, or nobody holds
    /// it any more (the cluster agent holds it until the answer settles it).
    fn state(&self) -> (NodeId, bool) {
        let done = self
            .1
            .upgrade()
            .is_none_or(|r| !matches!(RawRef::from_inner(r).located(), Located::Pending));
        (self.0, done)
    }
}

/// Whether node `id` of `view` has `req` free by its last report (a job worker, its
/// generic node's).
fn free_at(view: &[WireNode], id: NodeId, req: &Resources) -> bool {
    let find = |id: NodeId| view.iter().find(|n| n.node_id == id && n.alive);
    find(id)
        .and_then(|n| n.host.map_or(Some(n), find))
        .is_some_and(|n| to_resources(&n.load.available).covers(req))
}

impl NodeManager {
    /// Where `spec` should run, given the cluster's node table (none on a lone node).
    ///
    /// Data locality, as Ray's locality-aware leasing: once a task's arguments are large,
    /// it goes where most of their bytes are. Here, it waits for resources rather than
    /// shipping them. On another node (large results that node made and holds), it goes
    /// there when that node has the resources free, and its node reads them in place;
    /// when that node is busy it is placed as any task (Ray's spillback), rather than
    /// piling every reader of one node's results onto that node. A task spilled to
    /// another node goes where the last one went if that one is done (see [`Turn`]).
    pub(super) fn placement(&mut self, spec: &TaskSpec) -> Placement {
        let Some(node) = self.node.upgrade() else {
            return Placement::Infeasible;
        };
        let view = node.view.read();
        let (here, there) = arg_bytes(&spec.deps);
        let there = there.filter(|(_, bytes)| *bytes >= LOCALITY_BYTES && *bytes > here);
        let prefer = there.filter(|(at, _)| free_at(&view, *at, &spec.resources));
        let strategy = match (&spec.strategy, prefer) {
            (SchedulingStrategy::Default, Some((holder, _))) => SchedulingStrategy::NodeAffinity {
                node_id: holder,
                soft: true,
            },
            (strategy, _) => strategy.clone(),
        };
        let free = if here >= LOCALITY_BYTES && there.is_none() {
            &self.total
        } else {
            &self.available
        };
        let mut turn = Turn {
            next: self.turn,
            last: self.last_sent.as_ref().map(LastSent::state),
        };
        let placement = place(
            node.id,
            &self.total,
            free,
            &spec.resources,
            &strategy,
            &view,
            &node.work,
            &mut turn,
        );
        self.turn = turn.next;
        placement
    }

    /// The error for a task placed at `p`, if it can never run. In a cluster a task that
    /// no live node fits is not refused: a node that fits may join, so it waits (`park`).
    pub(super) fn refusal(&self, p: &Placement, spec: &TaskSpec) -> Option<Error> {
        let node = self.node.upgrade();
        let networked = node
            .as_ref()
            .is_some_and(|n| n.actors().cluster.get().is_some());
        let lost = node.as_ref().and_then(|n| n.cluster_lost(&spec.name));
        match p {
            Placement::Local | Placement::Remote(_) | Placement::StartWorker(_) => None,
            Placement::Infeasible | Placement::NodeGone(_) if lost.is_some() => lost,
            Placement::Infeasible if networked => None,
            Placement::Infeasible => Some(Error::Infeasible {
                function: spec.name.to_string(),
                requested: spec.resources.to_string(),
                total: self.total.to_string(),
            }),
            Placement::NodeGone(node_id) => Some(Error::NodeDied { node_id: *node_id }),
        }
    }

    /// Queues a task whose arguments are ready here, or sends it to the node chosen for
    /// it. An argument another node holds is fetched first, unless the task goes to
    /// another node as a plain task, which takes it by reference from where it is.
    pub(super) fn route(&mut self, mut spec: TaskSpec, ctx: &mut Context<Self>) {
        // A job worker's task that holds its generic node's lease runs here.
        let placement = if spec.host_leased && self.in_job_worker() {
            Placement::Local
        } else {
            self.placement(&spec)
        };
        // Sent to another node, a task or generator takes large objects by reference.
        let by_ref = spec.remote.is_some();
        let values_here = match placement {
            Placement::Local => true,
            Placement::Remote(_) => !by_ref,
            _ => false,
        };
        if values_here
            && spec
                .deps
                .iter()
                .any(|d| matches!(d.located(), Located::HeldBy(..)))
        {
            self.wait_then_route(spec, true, ctx);
            return;
        }
        match placement {
            Placement::Local => {
                // A generator running here feeds its stream directly: its form for
                // another node (which holds a sender of the stream) goes.
                if spec.remote.as_ref().is_some_and(|f| f.stream.is_some()) {
                    spec.remote = None;
                }
                if let Some(spec) = self.leased_first(spec) {
                    self.enqueue(spec);
                }
            }
            Placement::Remote(target) => self.send_to(target, spec),
            Placement::StartWorker(host) => {
                // Waits for the worker to join: a change of the node table routes it again.
                let node = self.node.upgrade();
                match (
                    node.as_ref()
                        .and_then(|n| n.actors().cluster.get().cloned()),
                    node.as_ref().and_then(|n| n.work.job),
                ) {
                    (Some(agent), Some(job_id)) => {
                        agent.do_send(crate::actors::StartWorkerOn { host, job_id });
                        self.infeasible.push(spec);
                    }
                    _ => spec.fail(Error::NotConnected(
                        "this node is not part of a cluster".into(),
                    )),
                }
            }
            Placement::Infeasible | Placement::NodeGone(_) => {
                match self.refusal(&placement, &spec) {
                    Some(err) => spec.fail(err),
                    None => self.park(spec),
                }
            }
        }
    }

    /// Sends a task placed on node `target` there, through the agent (a streaming
    /// generator over a channel of its own).
    fn send_to(&mut self, target: crate::ids::NodeId, mut spec: TaskSpec) {
        let node = self.node.upgrade();
        let Some(agent) = node
            .as_ref()
            .and_then(|n| n.actors().cluster.get().cloned())
        else {
            spec.fail(Error::NotConnected(
                "this node is not part of a cluster".into(),
            ));
            return;
        };
        let Some(form) = spec.remote.take() else {
            spec.fail(Error::InvalidArgument(format!(
                "`{}` cannot run on another node",
                spec.name
            )));
            return;
        };
        // The returns move to the agent, which settles them with the answer.
        let returns = std::mem::take(&mut spec.returns);
        self.last_sent = returns.first().map(|r| LastSent(target, r.downgrade()));
        // Refs inside the arguments are serialized as this node's, and lent to
        // the node the task goes to.
        let mut handoff = crate::store::Handoff::default();
        let args =
            handoff.run(|| crate::node::with_context(node.map(|n| n.context()), form.encode));
        if let Some(stream) = form.stream {
            // A generator has one return, its completion (nothing waits without it).
            let Some(completion) = returns.into_iter().next() else {
                return;
            };
            let Ok(sink) = stream.sink.downcast::<crate::node::StreamSender>() else {
                let e = Error::InvalidArgument("a generator without its stream".into());
                completion.complete(Err(e));
                return;
            };
            agent.do_send(crate::actors::cluster::RunGenerator {
                target,
                function: form.function,
                args,
                carried: handoff.escaped(),
                resources: spec.resources.to_map().into_iter().collect(),
                sink: *sink,
                decode_item: stream.decode_item,
                completion,
            });
            return;
        }
        agent.do_send(RunRemote {
            target,
            function: form.function,
            args,
            carried: handoff.escaped(),
            resources: spec.resources.to_map().into_iter().collect(),
            decode: form.decode,
            returns,
            retry: crate::actors::Retry {
                left: spec.system_retries,
                strategy: spec.strategy.clone(),
                cancelled: spec.cancelled.clone(),
                attempt: spec.attempt,
                app_left: spec.retries_left,
                app_if: spec.retry_if,
            },
        });
    }

    /// Whether this node is a job worker (it leases its generic node's resources).
    pub(super) fn in_job_worker(&self) -> bool {
        // Asked on every task: looked up once (the node is fixed for its manager's life).
        *self
            .job_worker
            .get_or_init(|| self.node.upgrade().is_some_and(|n| n.leases_from.is_some()))
    }

    /// In a job worker, a task of its own goes to the agent to lease its resources from
    /// the generic node first (it comes back leased); anything else is given back.
    fn leased_first(&self, spec: TaskSpec) -> Option<TaskSpec> {
        if !self.in_job_worker()
            || spec.host_leased
            || spec.resources == crate::resources::Resources::new()
        {
            return Some(spec);
        }
        let node = self.node.upgrade()?;
        match node.actors().cluster.get() {
            Some(agent) => {
                agent.do_send(crate::actors::LeaseThenQueue(spec));
                None
            }
            None => Some(spec),
        }
    }

    /// Keeps a task that fits no live node until the node table changes.
    pub(super) fn park(&mut self, spec: TaskSpec) {
        tracing::warn!(task_id = %spec.id, function = %spec.name, requested = %spec.resources,
            "no live node can run this task: it waits for one (see `ray status`)");
        self.infeasible.push(spec);
    }

    /// Routes `spec` once each of its dependencies exists somewhere (here, or held by
    /// another node), or, with `fetch`, once each is here.
    pub(super) fn wait_then_route(&mut self, spec: TaskSpec, fetch: bool, ctx: &mut Context<Self>) {
        let id = spec.id;
        let cancelled = spec.cancelled.clone();
        let name = spec.name.clone();
        let deps = spec.deps.clone();
        let wait = async move {
            for d in &deps {
                if fetch {
                    let _ = d.settled().await;
                } else {
                    d.exists().await;
                }
            }
        };
        let handle = ctx.spawn(wait.into_actor(self).map(move |_, act, ctx| {
            act.waiting.remove(&id);
            act.route(spec, ctx);
            act.dispatch();
        }));
        self.waiting.insert(id, (handle, cancelled, name));
    }

    /// A sync task whose only pending arguments come from tasks of one running lease of
    /// the same shape joins that lease's batch: the worker runs it right after them, with
    /// no hand-off through this actor (a chain of dependent tasks stays on one thread).
    /// Gives the spec back when that does not apply.
    pub(super) fn pipeline(
        &mut self,
        mut spec: TaskSpec,
        placement: &Placement,
    ) -> Option<TaskSpec> {
        // In a job worker, a task of its own leases first (`route`), and each task runs
        // on the GPUs of its own lease.
        let leases_apart = || {
            self.in_job_worker()
                && (!spec.host_leased || super::bundles::gpu_units(&spec.resources) > 0)
        };
        if !spec.is_sync() || *placement != Placement::Local || leases_apart() {
            return Some(spec);
        }
        let mut target = None;
        for d in &spec.deps {
            match d.located() {
                Located::Pending => {}
                // Fetched before it runs (`route`).
                Located::HeldBy(..) => return Some(spec),
                Located::Here(_) | Located::Failed => continue,
            }
            let worker = self.running.get(&d.id().task_id()).and_then(|r| r.worker);
            match (worker, target) {
                (Some(w), None) => target = Some(w),
                (Some(w), Some(t)) if w == t => {}
                _ => return Some(spec),
            }
        }
        let Some(worker) = target else {
            return Some(spec);
        };
        match self.leases.get(&worker) {
            Some(lease) if !lease.blocked && lease.resources == spec.resources => {
                let batch = lease.batch.clone();
                spec.gpu_ids = lease.gpus.ids();
                self.track(&spec, Some(worker), None);
                batch.lock().push_back(spec);
                None
            }
            _ => Some(spec),
        }
    }

    /// Puts back a spec taken from a worker's batch: queued if its arguments are ready,
    /// otherwise after they are.
    pub(super) fn requeue(&mut self, spec: TaskSpec, ctx: &mut Context<Self>) {
        self.running.remove(&spec.id);
        if spec.deps.iter().all(|d| d.peek().is_some()) {
            self.ready
                .entry(spec.resources.clone())
                .or_default()
                .push_front(spec);
        } else {
            self.wait_then_route(spec, false, ctx);
        }
    }
}

/// A generic node could not start a worker of this node's job: the parked tasks that
/// wait for one there fail with why, instead of waiting forever.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct WorkerStartFailed {
    pub(crate) host: crate::ids::NodeId,
    pub(crate) why: String,
}

impl Handler<WorkerStartFailed> for NodeManager {
    type Result = ();

    fn handle(&mut self, msg: WorkerStartFailed, _: &mut Context<Self>) {
        for spec in std::mem::take(&mut self.infeasible) {
            if self.placement(&spec) == Placement::StartWorker(msg.host) {
                spec.fail(Error::Job(format!(
                    "node {} could not start a worker of this job: {}",
                    msg.host, msg.why
                )));
            } else {
                self.infeasible.push(spec);
            }
        }
    }
}
