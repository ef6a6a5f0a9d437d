//! `NodeManager`: the node's scheduler. It accounts resources, waits for task
//! dependencies, queues tasks by resource shape, dispatches them to ephemeral
//! `TaskActor`s (sync bodies on worker arbiters, async ones on executors), lends a
//! blocked task's CPU to others, grants actor resources and keeps a bounded task history.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use actix::prelude::*;
use actix_rt::ArbiterHandle;
use futures::channel::oneshot;

use crate::ids::{IdMap, TaskId};

mod admission;
mod blocking;
mod bundles;
mod gpus;
mod routing;
pub(crate) use routing::WorkerStartFailed;
mod stats;

pub(crate) use bundles::{ReserveBundles, ReturnBundles};
pub(crate) use stats::{ListActive, NodeStats, QueryNode};

use super::{CancelRunning, TaskActor};
use crate::node::Node;
use crate::resources::Resources;
use crate::store::{Located, RawRef};
use crate::tasks::{Batch, LeaseDone, SubmitTask, TaskEvent, TaskFinished, TaskSpec};
use crate::{Error, Result};
pub(crate) use gpus::GpuGrant;

/// How many finished tasks the timeline keeps (older ones are dropped).
const HISTORY: usize = 10_000;

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CancelTask {
    pub(crate) task_id: TaskId,
    /// Also end the process it runs in, when that is a job's worker process.
    pub(crate) force: bool,
    /// Also cancel the tasks it submitted (and theirs), as Ray's default.
    pub(crate) recursive: bool,
}

/// Reserves resources for an actor's lifetime; answered when they are free.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct AcquireResources {
    pub(crate) resources: Resources,
    pub(crate) what: String,
    pub(crate) reply: oneshot::Sender<Result<GpuGrant>>,
}

/// Gives back an actor's resources and GPUs.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ReleaseResources(pub(crate) Resources, pub(crate) GpuGrant);

/// A task that was handed to an executor or a worker (running, or next in a batch).
struct Running {
    /// Its function (for the dashboard's list of running tasks).
    name: Arc<str>,
    /// The worker lease it runs under (sync tasks); async tasks hold `resources` alone.
    worker: Option<usize>,
    resources: Resources,
    addr: Option<Addr<TaskActor>>,
    returns: Vec<RawRef>,
    cancelled: Arc<std::sync::atomic::AtomicBool>,
    /// The GPUs an async task holds (a sync task's are its lease's).
    gpus: GpuGrant,
    /// An async task's CPU, lent out while it blocks in `get` (a sync task's lease
    /// lends its own).
    lent: bool,
}

/// A worker arbiter holding one task shape's resources while it drains its batch.
struct Lease {
    arbiter: ArbiterHandle,
    resources: Resources,
    batch: Batch,
    blocked: bool,
    /// The GPUs the lease's tasks run on.
    gpus: GpuGrant,
}

pub(crate) struct NodeManager {
    node: Weak<Node>,
    total: Resources,
    available: Resources,
    /// Tasks whose dependencies are settled, by resource shape, in submission order.
    ready: BTreeMap<Resources, VecDeque<TaskSpec>>,
    /// Tasks waiting for their arguments: the wait, the cancel flag and the function.
    waiting: HashMap<TaskId, (SpawnHandle, Arc<std::sync::atomic::AtomicBool>, Arc<str>)>,
    running: IdMap<TaskId, Running>,
    leases: HashMap<usize, Lease>,
    idle_workers: Vec<(usize, ArbiterHandle)>,
    num_workers: usize,
    max_workers: usize,
    cpu_slots: usize,
    /// Round-robin position for remote and spread placement.
    turn: usize,
    /// The node the last task sent to another node went to, and its first return.
    last_sent: Option<routing::LastSent>,
    /// Tasks no live node fits (cluster only), retried when the node table changes.
    infeasible: Vec<TaskSpec>,
    /// Which GPU ids are held, and how much of each.
    gpus: gpus::GpuSlots,
    /// Placement-group bundles reserved here.
    bundles: bundles::Reserved,
    actor_waiters: VecDeque<(Resources, oneshot::Sender<Result<GpuGrant>>)>,
    history: VecDeque<TaskEvent>,
    finished: u64,
    failed: u64,
    /// Whether the node is a job worker (`in_job_worker`), once known.
    job_worker: std::cell::OnceCell<bool>,
    /// The tasks each running task of this node submitted here, until it finishes.
    children: HashMap<TaskId, Vec<TaskId>>,
}

impl NodeManager {
    pub(crate) fn new(node: Weak<Node>, total: Resources) -> Self {
        let cpus = total.get("CPU").ceil() as usize;
        let gpus = gpus::GpuSlots::new(total.units("GPU"));
        Self {
            node,
            available: total.clone(),
            total,
            ready: BTreeMap::new(),
            waiting: HashMap::new(),
            running: IdMap::default(),
            leases: HashMap::new(),
            idle_workers: Vec::new(),
            num_workers: 0,
            // Zero-CPU tasks are not bounded by admission; bound their threads instead.
            max_workers: (4 * cpus).max(64),
            cpu_slots: cpus.max(1),
            turn: 0,
            last_sent: None,
            infeasible: Vec::new(),
            gpus,
            bundles: Default::default(),
            actor_waiters: VecDeque::new(),
            history: VecDeque::new(),
            finished: 0,
            failed: 0,
            job_worker: std::cell::OnceCell::new(),
            children: HashMap::new(),
        }
    }

    /// Whether tasks of `shape` wait in the ready queue.
    fn has_queued(&self, shape: &Resources) -> bool {
        self.ready.get(shape).is_some_and(|q| !q.is_empty())
    }

    fn enqueue(&mut self, spec: TaskSpec) {
        self.ready
            .entry(spec.resources.clone())
            .or_default()
            .push_back(spec);
    }

    /// Grants waiting actors first, then starts every queued task that fits, oldest
    /// first within each resource shape.
    fn dispatch(&mut self) {
        while let Some((req, _)) = self.actor_waiters.front() {
            if !self.available.covers(req) {
                break;
            }
            if let Some((req, reply)) = self.actor_waiters.pop_front() {
                self.available.take(&req);
                let gpus = self.gpus.take(bundles::gpu_units(&req));
                if let Err(Ok(gpus)) = reply.send(Ok(gpus)) {
                    // The actor went away while waiting: its grant comes straight back.
                    self.available.give_within(&req, &self.total);
                    self.gpus.give(&gpus);
                }
            }
        }
        let mut workers =
            self.idle_workers.len() + self.max_workers.saturating_sub(self.num_workers);
        for (shape, spec) in admission::admit(&mut self.ready, &mut self.available, &mut workers) {
            if spec.is_sync() {
                self.lease(shape, spec);
            } else {
                self.start_async(shape, spec);
            }
        }
        self.steal();
    }

    /// Work stealing: while resources are free and nothing is queued, a task waiting in
    /// another lease's batch with its arguments ready gets a lease of its own, so that a
    /// long task or a fan-out from one producer does not serialize what could run in
    /// parallel.
    fn steal(&mut self) {
        if self.idle_workers.is_empty() && self.num_workers >= self.max_workers {
            return;
        }
        // Only leases whose shape could get another lease now (usually none: collecting
        // nothing allocates nothing).
        let leases: Vec<(Resources, Batch)> = self
            .leases
            .values()
            .filter(|l| {
                !l.blocked && self.available.covers(&l.resources) && !self.has_queued(&l.resources)
            })
            .map(|l| (l.resources.clone(), l.batch.clone()))
            .collect();
        for (shape, batch) in leases {
            while self.available.covers(&shape)
                && !self.has_queued(&shape)
                && (!self.idle_workers.is_empty() || self.num_workers < self.max_workers)
            {
                let stolen = admission::steal_from(&mut batch.lock());
                let Some(spec) = stolen else { break };
                self.running.remove(&spec.id);
                self.available.take(&shape);
                self.lease(shape.clone(), spec);
            }
        }
    }

    fn worker(&mut self) -> Option<(usize, ArbiterHandle)> {
        if let Some(w) = self.idle_workers.pop() {
            return Some(w);
        }
        match actix_rt::Arbiter::try_new() {
            Ok(a) => {
                self.num_workers += 1;
                Some((self.num_workers, a.handle()))
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start a worker thread");
                None
            }
        }
    }

    fn track(&mut self, spec: &TaskSpec, worker: Option<usize>, addr: Option<Addr<TaskActor>>) {
        self.running.insert(
            spec.id,
            Running {
                name: spec.name.clone(),
                worker,
                resources: spec.resources.clone(),
                addr,
                returns: spec.returns.clone(),
                cancelled: spec.cancelled.clone(),
                gpus: GpuGrant::default(),
                lent: false,
            },
        );
    }

    /// Leases a worker for `spec`, whose `shape` the caller has taken from the available
    /// resources, and hands it `spec` plus a fair share of the queued tasks of the shape.
    fn lease(&mut self, shape: Resources, mut spec: TaskSpec) {
        let Some(node) = self.node.upgrade() else {
            self.available.give_within(&shape, &self.total);
            return;
        };
        let Some((worker, arbiter)) = self.worker() else {
            self.available.give_within(&shape, &self.total);
            spec.fail(Error::InvalidArgument(
                "no worker thread could be started".into(),
            ));
            return;
        };
        // A job worker's tasks run on the GPUs of their own leases on the generic node.
        let leased_gpus = bundles::gpu_units(&shape) > 0 && self.in_job_worker();
        let gpus = if leased_gpus {
            GpuGrant::NONE
        } else {
            self.gpus.take(bundles::gpu_units(&shape))
        };
        let mut batch = match self.ready.get_mut(&shape) {
            Some(queue) if !leased_gpus => admission::take_batch(queue, self.cpu_slots),
            _ => VecDeque::new(),
        };
        if !leased_gpus {
            spec.gpu_ids = gpus.ids();
            for s in &mut batch {
                s.gpu_ids = spec.gpu_ids.clone();
            }
        }
        for s in &batch {
            self.track(s, Some(worker), None);
        }
        self.track(&spec, Some(worker), None);
        let batch: Batch = Arc::new(parking_lot::Mutex::new(batch));
        let for_worker = batch.clone();
        TaskActor::start_in_arbiter(&arbiter, move |_| {
            TaskActor::new(spec, node, Some((worker, for_worker)))
        });
        self.leases.insert(
            worker,
            Lease {
                arbiter,
                resources: shape,
                batch,
                blocked: false,
                gpus,
            },
        );
    }

    /// Makes `resources` of a task or lease that ended available again, less the CPU
    /// still lent out while it was blocked in `get` (`lent`).
    fn give_back(&mut self, mut resources: Resources, lent: bool) {
        if lent {
            resources.set_units("CPU", 0);
        }
        self.available.give_within(&resources, &self.total);
    }

    /// Starts an async task on an executor; the caller has taken its `shape`.
    fn start_async(&mut self, shape: Resources, mut spec: TaskSpec) {
        let Some(node) = self.node.upgrade() else {
            self.available.give_within(&shape, &self.total);
            return;
        };
        let gpus = if bundles::gpu_units(&shape) > 0 && self.in_job_worker() {
            GpuGrant::NONE // Its lease on the generic node's GPUs set them.
        } else {
            let gpus = self.gpus.take(bundles::gpu_units(&shape));
            spec.gpu_ids = gpus.ids();
            gpus
        };
        let id = spec.id;
        let name = spec.name.clone();
        let resources = shape;
        let returns = spec.returns.clone();
        let cancelled = spec.cancelled.clone();
        let on = node.clone();
        let addr = node
            .executors
            .start_actor(move || TaskActor::new(spec, on, None));
        self.running.insert(
            id,
            Running {
                name,
                worker: None,
                resources,
                addr: Some(addr),
                returns,
                cancelled,
                gpus,
                lent: false,
            },
        );
    }
}

impl Actor for NodeManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The load over the last minutes, for the dashboard's plots.
        let every = self.node.upgrade().map(|n| n.samples.every());
        if let Some(every) = every {
            ctx.run_interval(every, |act, _| act.sample());
        }
        tracing::info!(resources = %self.total, samples_every = ?every, "node manager started");
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        for (_, w) in self.idle_workers.drain(..) {
            w.stop();
        }
        for lease in self.leases.values() {
            lease.arbiter.stop();
        }
    }
}

impl Handler<SubmitTask> for NodeManager {
    type Result = ();

    fn handle(&mut self, SubmitTask(spec): SubmitTask, ctx: &mut Context<Self>) {
        if let Some(parent) = spec.parent
            && self.running.contains_key(&parent)
        {
            self.children.entry(parent).or_default().push(spec.id);
        }
        // Arguments ready: place it now (one placement decision per task, so round robin
        // over nodes advances once per task).
        // (Somewhere: a task for another node takes a large one by reference.)
        if spec.deps.iter().all(|d| d.located() != Located::Pending) {
            self.route(spec, ctx);
            self.dispatch();
            return;
        }
        // Otherwise fail fast when nothing can ever run it; the node is chosen once the
        // arguments are ready (`route`).
        let placement = self.placement(&spec);
        if let Some(err) = self.refusal(&placement, &spec) {
            spec.fail(err);
            return;
        }
        if let Some(spec) = self.pipeline(spec, &placement) {
            self.wait_then_route(spec, false, ctx);
        }
    }
}

/// The cluster's node table changed: parked tasks may fit somewhere now.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ViewChanged;

impl Handler<ViewChanged> for NodeManager {
    type Result = ();

    fn handle(&mut self, _: ViewChanged, ctx: &mut Context<Self>) {
        for spec in std::mem::take(&mut self.infeasible) {
            if spec.cancelled.load(Ordering::Relaxed) {
                continue;
            }
            self.route(spec, ctx);
        }
        self.dispatch();
    }
}

impl Handler<TaskFinished> for NodeManager {
    type Result = ();

    fn handle(&mut self, TaskFinished(msg): TaskFinished, _: &mut Context<Self>) {
        self.children.remove(&msg.task_id);
        if let Some(r) = self.running.remove(&msg.task_id)
            && r.worker.is_none()
        {
            self.give_back(r.resources, r.lent);
            self.gpus.give(&r.gpus);
        }
        if msg.ok {
            self.finished += 1;
        } else {
            self.failed += 1;
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(msg);
        self.dispatch();
    }
}

impl Handler<LeaseDone> for NodeManager {
    type Result = ();

    fn handle(&mut self, msg: LeaseDone, ctx: &mut Context<Self>) {
        if let Some(lease) = self.leases.remove(&msg.worker) {
            // Tasks pipelined into the batch after the worker found it empty.
            let late: Vec<TaskSpec> = lease.batch.lock().drain(..).collect();
            for spec in late.into_iter().rev() {
                self.requeue(spec, ctx);
            }
            self.give_back(lease.resources, lease.blocked);
            self.gpus.give(&lease.gpus);
            self.idle_workers.push((msg.worker, lease.arbiter));
        }
        self.dispatch();
    }
}

impl Handler<CancelTask> for NodeManager {
    type Result = ();

    fn handle(&mut self, msg: CancelTask, ctx: &mut Context<Self>) {
        let mut todo = vec![msg.task_id];
        while let Some(id) = todo.pop() {
            if msg.recursive {
                todo.extend(self.children.remove(&id).unwrap_or_default());
            }
            self.cancel_one(id, msg.force, ctx);
        }
    }
}

impl NodeManager {
    /// Cancels task `id` wherever it is: waiting, queued, running here, or sent on.
    fn cancel_one(&mut self, id: TaskId, force: bool, ctx: &mut Context<Self>) {
        if let Some((handle, flag, _)) = self.waiting.remove(&id) {
            flag.store(true, Ordering::SeqCst);
            // Dropping the waiting future drops the spec, which settles it as cancelled.
            ctx.cancel_future(handle);
            return;
        }
        if let Some(pos) = self.infeasible.iter().position(|s| s.id == id) {
            let spec = self.infeasible.remove(pos);
            spec.cancelled.store(true, Ordering::SeqCst);
            return;
        }
        for queue in self.ready.values_mut() {
            if let Some(pos) = queue.iter().position(|s| s.id == id) {
                if let Some(spec) = queue.remove(pos) {
                    spec.cancelled.store(true, Ordering::SeqCst);
                }
                return;
            }
        }
        let Some(r) = self.running.get(&id) else {
            // Not here: maybe sent to another node.
            if let Some(agent) = self.node.upgrade().and_then(|n| {
                crate::actors::NodeActors::actors(&*n)
                    .cluster
                    .get()
                    .cloned()
            }) {
                agent.do_send(crate::actors::CancelRemote { task_id: id, force });
            }
            return;
        };
        r.cancelled.store(true, Ordering::SeqCst);
        // The caller learns at once. A batched task never starts (the flag is checked
        // first); a running sync body cannot be interrupted and its late result is
        // ignored; an async body is aborted.
        for ret in &r.returns {
            ret.complete(Err(Error::Cancelled { task_id: id }));
        }
        if let Some(addr) = &r.addr {
            addr.do_send(CancelRunning);
        }
    }
}

impl Handler<AcquireResources> for NodeManager {
    type Result = ();

    fn handle(&mut self, msg: AcquireResources, _: &mut Context<Self>) {
        if !self.total.covers(&msg.resources) {
            let _ = msg.reply.send(Err(Error::Infeasible {
                function: msg.what,
                requested: msg.resources.to_string(),
                total: self.total.to_string(),
            }));
            return;
        }
        self.actor_waiters.push_back((msg.resources, msg.reply));
        self.dispatch();
    }
}

impl Handler<ReleaseResources> for NodeManager {
    type Result = ();

    fn handle(&mut self, msg: ReleaseResources, _: &mut Context<Self>) {
        self.available.give_within(&msg.0, &self.total);
        self.gpus.give(&msg.1);
        self.dispatch();
    }
}
