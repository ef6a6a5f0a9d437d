//! `ActorHost<A>`: the actix actor that owns one user actor instance on an arbiter (OS
//! thread) of its own. It runs calls in submission order, overlaps `&self`/async calls up
//! to `max_concurrency` (per concurrency group: see `groups`), runs `&mut self` calls
//! exclusively, and turns a panic into a crash: in-flight and queued calls fail, and the
//! instance is re-created from its constructor while `max_restarts` allows.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use actix::prelude::*;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::LocalBoxFuture;

use super::{ActorLifecycle, ActorState};
use super::{GpuGrant, NodeActors};
use crate::error::panic_message;
use crate::ids::{ActorId, TaskId};
use crate::node::{ExecContext, Node, WithContext, set_thread_context, with_context};
use crate::resources::Resources;
use crate::store::RawRef;
use crate::tasks::TaskOutput;
use crate::{Error, Result};

mod call;
mod groups;
mod lend;
mod life;
mod steps;
pub use call::Method;
pub(crate) use call::{ActorCall, CallCancel};
pub(crate) use lend::{LendInstance, Loan, ReturnInstance};
use steps::{Front, Phase, Step, crash_plan, step};

/// How long an idle actor thread waits for the next call before parking.
const LINGER: std::time::Duration = std::time::Duration::from_micros(50);

/// Builds a fresh instance (the constructor with its arguments).
pub(crate) type Ctor<A> = Arc<dyn Fn() -> Result<A> + Send + Sync>;

/// What `ray::exit_actor()` unwinds with: the host that catches it ends the actor.
pub(crate) struct ExitActor;

/// Stops the actor: `force` at once (`ray::kill`), otherwise after the queued calls
/// (the last handle was dropped).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Terminate {
    pub(crate) force: bool,
    pub(crate) reason: String,
    /// Killed as a crash: it restarts while `max_restarts` allows (one is used up).
    pub(crate) restart: bool,
}

enum State<A> {
    Starting,
    Alive(Arc<A>),
    /// An `async fn(&mut self)` call holds the instance.
    Lent,
    /// A compiled graph's loop holds the instance; the flag tells it the actor was killed.
    Compiled(Arc<AtomicBool>),
    Dead(Error),
}

pub(crate) struct ActorHost<A: Send + Sync + 'static> {
    id: ActorId,
    class: &'static str,
    node: Arc<Node>,
    ctor: Ctor<A>,
    ctor_deps: Vec<RawRef>,
    state: State<A>,
    queue: VecDeque<ActorCall<A>>,
    /// Calls running in the background (async, or sync on a thread), with their group.
    in_flight: HashMap<TaskId, (SpawnHandle, call::Returns, usize)>,
    /// Each concurrency group's limit, calls running and calls queued.
    groups: groups::Groups,
    /// Whether sync `&self` calls run on threads (they may overlap) rather than inline
    /// on the actor's thread.
    threaded: bool,
    restarts_left: i32,
    max_task_retries: i32,
    restarted: bool,
    /// Restarts of the instance so far.
    restarts: u32,
    /// Calls submitted so far; calls numbered below `fail_before` were submitted before
    /// the last crash and fail with `crash_reason` (unless `max_task_retries`).
    submitted: Arc<AtomicU64>,
    fail_before: u64,
    crash_reason: String,
    resources: Resources,
    /// What the node granted it for its lifetime, with its GPUs (`num_gpus`): held from
    /// the grant until the actor stops or dies, then given back once.
    held: Option<GpuGrant>,
    /// In a job worker, the same resources leased from its generic node (which owns
    /// them) for the actor's lifetime; given back with `held`.
    lease: Option<crate::actors::LeaseGuard>,
    /// Set when a graceful stop was asked for, with why: the actor stops once its queue
    /// and calls are done.
    stopping: Option<String>,
    /// The calls whose arguments are being waited for (each the next of its group).
    deps_waits: HashSet<TaskId>,
    named: bool,
    io_thread: bool,
    /// A compiled graph waiting for the instance (lent once the queue is empty).
    lend: Option<oneshot::Sender<Result<Loan<A>>>>,
}

pub(crate) struct HostConfig {
    pub(crate) max_concurrency: usize,
    /// The limits of the class's declared concurrency groups (`RemoteActor::
    /// CONCURRENCY_GROUPS`), in order: a call's group `i + 1` is declared group `i`.
    pub(crate) group_limits: Vec<usize>,
    pub(crate) max_restarts: i32,
    pub(crate) max_task_retries: i32,
    pub(crate) resources: Resources,
    /// Whether the cluster's directory lists the actor's name.
    pub(crate) named: bool,
    /// Whether its thread's runtime has an I/O driver (`Node::actor_thread`).
    pub(crate) io_thread: bool,
}

impl<A: Send + Sync + 'static> ActorHost<A> {
    pub(crate) fn new(
        id: ActorId,
        class: &'static str,
        node: Arc<Node>,
        ctor: Ctor<A>,
        ctor_deps: Vec<RawRef>,
        cfg: HostConfig,
        submitted: Arc<AtomicU64>,
    ) -> Self {
        Self {
            id,
            class,
            node,
            ctor,
            ctor_deps,
            state: State::Starting,
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
            // Calls of different groups overlap, so a sync call may not hold the thread.
            threaded: cfg.max_concurrency > 1 || !cfg.group_limits.is_empty(),
            groups: groups::Groups::new(cfg.max_concurrency, &cfg.group_limits),
            restarts_left: cfg.max_restarts,
            max_task_retries: cfg.max_task_retries,
            restarted: false,
            restarts: 0,

            submitted,
            fail_before: 0,
            crash_reason: String::new(),
            resources: cfg.resources,
            held: None,
            lease: None,
            stopping: None,
            deps_waits: HashSet::new(),
            named: cfg.named,
            io_thread: cfg.io_thread,
            lend: None,
        }
    }

    fn exec_context(&self, task_id: Option<TaskId>) -> ExecContext {
        ExecContext {
            node: self.node.clone(),
            task_id,
            actor_id: Some(self.id),
            cancelled: None,
            releases_cpu: false,
            restarted: self.restarted,
            attempt: 0,
            // In a job worker, the generic node's GPUs that its lease holds.
            gpu_ids: match &self.lease {
                Some(lease) => lease.gpus.clone(),
                None => self.held.as_ref().unwrap_or(&GpuGrant::NONE).ids(),
            },
            capture: None,
        }
    }

    fn construct(&mut self) {
        let ctor = self.ctor.clone();
        let made = with_context(Some(self.exec_context(None)), || {
            std::panic::catch_unwind(AssertUnwindSafe(|| ctor()))
        });
        self.state = match made {
            Ok(Ok(a)) => {
                tracing::info!(actor_id = %self.id, class = self.class, restarted = self.restarted, "actor started");
                self.report(ActorState::Alive, None);
                State::Alive(Arc::new(a))
            }
            Ok(Err(e)) => self.dead(format!("its constructor failed: {e}")),
            Err(p) => self.dead(format!("its constructor panicked: {}", panic_message(&*p))),
        };
    }

    /// Tells the node's registry (the state API) where the actor is in its life.
    fn report(&self, state: ActorState, death_cause: Option<String>) {
        self.node.actors().registry.do_send(ActorLifecycle {
            id: self.id,
            class: self.class,
            state,
            restarts: self.restarts,
            death_cause,
        });
    }

    fn dead(&self, reason: String) -> State<A> {
        tracing::warn!(actor_id = %self.id, class = self.class, %reason, "actor died");
        self.report(ActorState::Dead, Some(reason.clone()));
        State::Dead(Error::ActorDied {
            actor_id: self.id,
            reason,
        })
    }

    fn phase(&self) -> Phase {
        match self.state {
            State::Starting => Phase::Starting,
            State::Alive(_) => Phase::Alive,
            State::Lent => Phase::Lent,
            State::Compiled(_) => Phase::Compiled,
            State::Dead(_) => Phase::Dead,
        }
    }

    /// Starts every queued call that may start now (`steps::step`).
    fn pump(&mut self, ctx: &mut Context<Self>) {
        loop {
            let queue = self.queue.iter().map(|c| Front {
                deps_ready: c.deps.iter().all(|d| d.peek().is_some()),
                exclusive: c.exclusive(),
                group: c.group,
            });
            let next = step(
                self.phase(),
                queue,
                &self.groups,
                self.in_flight.len(),
                self.stopping.is_some(),
            );
            match next {
                Step::FailDead { stop } => {
                    let State::Dead(err) = &self.state else {
                        return;
                    };
                    let err = err.clone();
                    self.fail_queued(err.clone());
                    if let Some(reply) = self.lend.take() {
                        let _ = reply.send(Err(err));
                    }
                    if stop {
                        ctx.stop();
                    }
                    return;
                }
                Step::FailCompiled => {
                    self.fail_queued(lend::lent_error(self.id));
                    return;
                }
                Step::Wait => return,
                Step::Empty { stop } => {
                    if stop {
                        ctx.stop();
                    }
                    self.try_lend();
                    return;
                }
                Step::Blocked(waits) => {
                    for at in waits {
                        self.wait_for_deps(at, ctx);
                    }
                    return;
                }
                Step::Start(at) => {
                    if let Some(call) = self.queue.remove(at) {
                        self.groups.dequeue(call.group);
                        self.run(call, ctx);
                    }
                }
            }
        }
    }

    /// Fails every queued call with `err`.
    fn fail_queued(&mut self, err: Error) {
        for mut call in self.queue.drain(..) {
            call.fail(err.clone());
        }
        self.groups.clear_queued();
    }

    /// Pumps again once the arguments of the call queued at `at` are settled (one wait
    /// per call).
    fn wait_for_deps(&mut self, at: usize, ctx: &mut Context<Self>) {
        let Some(call) = self.queue.get(at) else {
            return;
        };
        let task_id = call.task_id;
        if !self.deps_waits.insert(task_id) {
            return;
        }
        let deps = call.deps.clone();
        let wait = async move {
            for d in &deps {
                let _ = d.settled().await;
            }
        };
        ctx.spawn(wait.into_actor(self).map(move |_, act, ctx| {
            act.deps_waits.remove(&task_id);
            act.pump(ctx);
        }));
    }

    /// Records a call now running in the background.
    fn track(
        &mut self,
        task_id: TaskId,
        handle: SpawnHandle,
        returns: call::Returns,
        group: usize,
    ) {
        self.groups.start(group);
        self.in_flight.insert(task_id, (handle, returns, group));
    }

    /// Forgets a call that was running in the background; returns what it held.
    fn untrack(&mut self, task_id: &TaskId) -> Option<(SpawnHandle, call::Returns)> {
        let (handle, returns, group) = self.in_flight.remove(task_id)?;
        self.groups.finish(group);
        Some((handle, returns))
    }

    fn run(&mut self, mut call: ActorCall<A>, ctx: &mut Context<Self>) {
        let exec = self.exec_context(Some(call.task_id));
        let State::Alive(instance) = &mut self.state else {
            return;
        };
        let span = tracing::debug_span!("actor.call", actor_id = %self.id, node_id = %self.node.id, task_id = %call.task_id, method = call.name);
        if call.cancel.is_set() {
            call.fail(Error::Cancelled {
                task_id: call.task_id,
            });
            return;
        }
        let Some(method) = call.method.take() else {
            return;
        };
        match method {
            Method::Ref(f) if self.threaded => {
                let a = instance.clone();
                let job = actix_rt::task::spawn_blocking(move || {
                    with_context(Some(exec), || {
                        std::panic::catch_unwind(AssertUnwindSafe(|| f(&a)))
                    })
                });
                let fut = async move {
                    match job.await {
                        Ok(r) => r,
                        Err(e) => Err(Box::new(e.to_string()) as Box<dyn std::any::Any + Send>),
                    }
                };
                self.spawn_call(call, fut.boxed_local(), ctx);
            }
            Method::Ref(f) => {
                let a = instance.clone();
                let out = span.in_scope(|| {
                    with_context(Some(exec), || {
                        std::panic::catch_unwind(AssertUnwindSafe(|| f(&a)))
                    })
                });
                self.done(call, out, ctx);
            }
            Method::Mut(f) => {
                let Some(a) = Arc::get_mut(instance) else {
                    // Exclusive calls start only with nothing in flight, so no other
                    // clone of the instance exists.
                    call.fail(Error::InvalidArgument(
                        "actor instance still borrowed".into(),
                    ));
                    return;
                };
                let out = span.in_scope(|| {
                    with_context(Some(exec), || {
                        std::panic::catch_unwind(AssertUnwindSafe(|| f(a)))
                    })
                });
                self.done(call, out, ctx);
            }
            Method::AsyncRef(f) => {
                let fut =
                    WithContext::new(exec, AssertUnwindSafe(f(instance.clone())).catch_unwind());
                self.spawn_call(
                    call,
                    tracing::Instrument::instrument(fut, span).boxed_local(),
                    ctx,
                );
            }
            Method::AsyncMut(f) => {
                let State::Alive(arc) = std::mem::replace(&mut self.state, State::Lent) else {
                    return;
                };
                let a = match Arc::try_unwrap(arc) {
                    Ok(a) => a,
                    Err(arc) => {
                        self.state = State::Alive(arc);
                        call.fail(Error::InvalidArgument(
                            "actor instance still borrowed".into(),
                        ));
                        return;
                    }
                };
                let fut = WithContext::new(exec, AssertUnwindSafe(f(a)).catch_unwind());
                let fut = tracing::Instrument::instrument(fut, span).map(|r| match r {
                    Ok((a, out)) => (Some(a), Ok(out)),
                    Err(p) => (None, Err(p)),
                });
                let (task_id, group) = (call.task_id, call.group);
                let returns = call.returns.clone();
                let handle = ctx.spawn(fut.into_actor(self).map(move |(a, out), act, ctx| {
                    act.untrack(&task_id);
                    if let Some(a) = a {
                        act.state = State::Alive(Arc::new(a));
                    }
                    act.done(call, out, ctx);
                }));
                self.track(task_id, handle, returns, group);
            }
        }
    }

    fn spawn_call(
        &mut self,
        call: ActorCall<A>,
        fut: LocalBoxFuture<'static, std::thread::Result<TaskOutput>>,
        ctx: &mut Context<Self>,
    ) {
        let (task_id, group) = (call.task_id, call.group);
        let returns = call.returns.clone();
        let handle = ctx.spawn(fut.into_actor(self).map(move |out, act, ctx| {
            act.untrack(&task_id);
            act.done(call, out, ctx);
        }));
        self.track(task_id, handle, returns, group);
    }

    fn done(
        &mut self,
        mut call: ActorCall<A>,
        out: std::thread::Result<TaskOutput>,
        ctx: &mut Context<Self>,
    ) {
        match out {
            Ok(out) => call.settle(out),
            Err(p) if p.is::<ExitActor>() => {
                // `ray::exit_actor()`: this call, those in flight and those queued fail
                // with why, and the actor ends without restarting.
                let reason = "the actor exited with ray::exit_actor()";
                call.fail(self.died(reason));
                self.fail_all(reason, ctx);
                self.state = self.dead(reason.into());
                self.release();
                ctx.stop();
                return;
            }
            Err(p) => {
                let message = panic_message(&*p);
                // Crash first: a caller that sees this call fail and calls again must
                // reach the restarted instance, not be counted among the lost calls.
                self.crash(format!("method `{}` panicked: {message}", call.name), ctx);
                call.fail(Error::TaskPanicked {
                    function: format!("{}.{}", self.class, call.name),
                    message,
                });
            }
        }
        self.pump(ctx);
    }

    /// Fails everything in flight or queued with `ActorDied { reason }`.
    fn fail_all(&mut self, reason: &str, ctx: &mut Context<Self>) {
        self.fail_in_flight(reason, ctx);
        self.fail_queued(self.died(reason));
    }

    fn fail_in_flight(&mut self, reason: &str, ctx: &mut Context<Self>) {
        let err = self.died(reason);
        self.groups.clear_running();
        for (_, (handle, returns, _)) in self.in_flight.drain() {
            ctx.cancel_future(handle);
            for r in returns {
                r.complete(Err(err.clone()));
            }
        }
    }

    fn died(&self, reason: &str) -> Error {
        Error::ActorDied {
            actor_id: self.id,
            reason: reason.to_string(),
        }
    }

    /// The instance is lost: restart it if allowed, else the actor is dead.
    fn crash(&mut self, reason: String, ctx: &mut Context<Self>) {
        let plan = crash_plan(self.restarts_left, self.max_task_retries);
        if plan.keep_queued {
            // Calls that were running are lost with the instance.
            self.fail_in_flight(&reason, ctx);
        } else {
            self.fail_all(&reason, ctx);
            // Calls already submitted but still in the mailbox die with this instance too.
            self.fail_before = self.submitted.load(Ordering::SeqCst);
            self.crash_reason = reason.clone();
        }
        match plan.restart {
            Some(left) => {
                self.restarts_left = left;
                self.restarted = true;
                self.restarts += 1;
                self.report(ActorState::Restarting, None);
                set_thread_context(Some(self.exec_context(None)));
                tracing::warn!(actor_id = %self.id, %reason, "actor crashed, restarting");
                self.construct();
            }
            None => {
                self.state = self.dead(reason);
                self.release();
            }
        }
    }

    /// After the call numbered `seq` ran and nothing else is queued, keeps this thread
    /// awake briefly while the caller is likely to send the next call: waking a parked
    /// thread costs tens of microseconds on a VM, spinning a few costs nothing when the
    /// call comes. Returns as soon as a newer call was submitted (it is in the mailbox or
    /// about to be).
    fn linger(&self, seq: u64) {
        if crate::transport::polling() {
            // The call came from another node and this node's endpoint thread polls
            // for the next one: a second spinning thread would take the CPU that one
            // needs to answer and read it (docs/machine-limits.md, "Busy polling").
            return;
        }
        let until = std::time::Instant::now() + LINGER;
        while self.submitted.load(Ordering::Acquire) <= seq + 1 {
            if std::time::Instant::now() >= until {
                return;
            }
            std::thread::yield_now();
        }
    }
}

impl<A: Send + Sync + 'static> Handler<ActorCall<A>> for ActorHost<A> {
    type Result = ();

    fn handle(&mut self, mut call: ActorCall<A>, ctx: &mut Context<Self>) {
        if call.seq < self.fail_before {
            call.fail(self.died(&self.crash_reason));
            return;
        }
        let seq = call.seq;
        call.group = self.groups.index(call.group);
        self.groups.enqueue(call.group);
        self.queue.push_back(call);
        self.pump(ctx);
        if self.queue.is_empty() && self.in_flight.is_empty() {
            self.linger(seq);
        }
    }
}

impl<A: Send + Sync + 'static> Handler<Terminate> for ActorHost<A> {
    type Result = ();

    fn handle(&mut self, msg: Terminate, ctx: &mut Context<Self>) {
        if msg.force && msg.restart && self.restarts_left != 0 {
            self.crash(msg.reason, ctx);
            self.pump(ctx);
            return;
        }
        if msg.force {
            if let State::Compiled(killed) = &self.state {
                killed.store(true, Ordering::SeqCst);
            }
            self.fail_all(&msg.reason, ctx);
            self.state = self.dead(msg.reason);
            self.release();
            ctx.stop();
        } else {
            self.stopping = Some(msg.reason);
            self.pump(ctx);
        }
    }
}
