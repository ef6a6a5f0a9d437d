//! The node's async executors: threads whose runtimes run async task bodies, many at a
//! time each. A body that blocks its thread in `ray::get` (docs/tokio.md advises
//! `.await`, but the blocking call compiles) stops everything else on that thread, so
//! a task is not pushed to a thread when it is submitted: it waits in one queue, and a
//! thread whose runtime is free takes it. A thread that blocks hands its turn to
//! another, and when every thread is blocked a new one starts (up to [`MAX_THREADS`]),
//! so the task a blocked body waits for always finds a thread to run on. Ray starts a
//! worker for the same reason when its workers block in `ray.get`. What a thread has
//! already started stays there: a body that submits a task, awaits something else, and
//! only then blocks may find that task taken by its own thread in the meantime.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use actix::dev::channel;
use actix::{Actor, Addr, Context};
use actix_rt::System;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::Result;
use crate::ids::NodeId;

use super::spawn_arbiter;

/// At most this many executor threads: past it, a task waits for a blocked body to
/// return.
const MAX_THREADS: usize = 64;

/// What an executor thread runs to start a task there.
type Job = Box<dyn FnOnce() + Send>;

/// The executor threads of one node and the tasks waiting for one.
pub(crate) struct Executors {
    shared: Arc<Shared>,
}

struct Shared {
    node_id: NodeId,
    system: System,
    queue: Mutex<VecDeque<Job>>,
    threads: Mutex<Vec<Arc<Thread>>>,
    /// Where the next task's wake-up goes first, round robin.
    next: AtomicUsize,
}

/// One executor thread, as the others see it.
struct Thread {
    /// Wakes its taker; a wake-up given while it is busy is kept for its next turn.
    wake: Notify,
    /// Its body is blocked in `ray::get`: its taker cannot run.
    blocked: AtomicBool,
}

thread_local! {
    /// Set on an executor thread: its pool and its own entry there.
    static HERE: RefCell<Option<(Weak<Shared>, Arc<Thread>)>> = const { RefCell::new(None) };
}

impl Executors {
    /// `threads` executor threads (at least one) on `system`, for node `node_id`.
    pub(crate) fn start(node_id: NodeId, system: System, threads: usize) -> Result<Self> {
        let shared = Arc::new(Shared {
            node_id,
            system,
            queue: Mutex::new(VecDeque::new()),
            threads: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
        });
        for _ in 0..threads.max(1) {
            shared.add_thread()?;
        }
        Ok(Self { shared })
    }

    /// Starts the actor `make` builds on the first executor thread free to run it; its
    /// address works at once (messages wait in its mailbox until then).
    pub(crate) fn start_actor<A>(&self, make: impl FnOnce() -> A + Send + 'static) -> Addr<A>
    where
        A: Actor<Context = Context<A>>,
    {
        // What `Actor::start_in_arbiter` does, with the thread picked later.
        let (tx, rx) = channel::channel(16);
        self.shared.queue.lock().push_back(Box::new(move || {
            Context::with_receiver(rx).run(make());
        }));
        self.shared.wake_one();
        Addr::new(tx)
    }

    /// Drops the tasks still waiting for a thread: the node is stopping (each settles
    /// as a dropped task does). Their jobs hold the node, which holds this queue.
    pub(crate) fn shut_down(&self) {
        let waiting: Vec<Job> = self.shared.queue.lock().drain(..).collect();
        drop(waiting);
    }
}

impl Shared {
    /// Starts one more executor thread, whose taker runs until the node's system stops.
    fn add_thread(self: &Arc<Self>) -> Result<()> {
        let me = Arc::new(Thread {
            wake: Notify::new(),
            blocked: AtomicBool::new(false),
        });
        let arbiter = spawn_arbiter(&self.system, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })?;
        let (pool, mine) = (Arc::downgrade(self), me.clone());
        arbiter.spawn(async move {
            HERE.with(|h| *h.borrow_mut() = Some((pool.clone(), mine.clone())));
            loop {
                mine.wake.notified().await;
                let Some(shared) = pool.upgrade() else { return };
                // One task a turn, and what it started runs before the next: tasks
                // spread over the threads woken for them instead of piling onto one.
                while let Some(job) = shared.pop() {
                    job();
                    actix_rt::task::yield_now().await;
                }
            }
        });
        self.threads.lock().push(me);
        Ok(())
    }

    fn pop(&self) -> Option<Job> {
        self.queue.lock().pop_front()
    }

    /// Wakes a thread that can take the next queued task: the next one round robin
    /// whose body is not blocked, or a new one when all are blocked.
    fn wake_one(self: &Arc<Self>) {
        let threads = self.threads.lock();
        let n = threads.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let free = (0..n)
            .map(|i| &threads[(start + i) % n])
            .find(|t| !t.blocked.load(Ordering::Acquire));
        if let Some(t) = free {
            t.wake.notify_one();
            return;
        }
        drop(threads);
        if n >= MAX_THREADS {
            tracing::warn!(node_id = %self.node_id, threads = n,
                "every async executor thread is blocked in ray::get: tasks wait for one to return");
            return;
        }
        tracing::info!(node_id = %self.node_id, threads = n + 1,
            "every async executor thread is blocked in ray::get: started another");
        if let Err(e) = self.add_thread() {
            tracing::warn!(node_id = %self.node_id, error = %e, "no executor thread added");
        }
        // The new thread's first turn takes what waits (its wake-up is kept).
        if let Some(t) = self.threads.lock().last() {
            t.wake.notify_one();
        }
    }
}

/// While alive on an executor thread, that thread counts as blocked (its body waits in
/// `ray::get`): tasks waiting for a thread go to the others. Does nothing elsewhere.
pub(crate) struct BlockedExecutor(Option<(Arc<Shared>, Arc<Thread>)>);

impl BlockedExecutor {
    pub(crate) fn enter() -> Self {
        let here = HERE.with(|h| {
            h.borrow()
                .as_ref()
                .and_then(|(pool, me)| Some((pool.upgrade()?, me.clone())))
        });
        if let Some((shared, me)) = &here {
            me.blocked.store(true, Ordering::Release);
            warn_once(shared.node_id);
            // What waits for a thread must not wait for this one.
            if !shared.queue.lock().is_empty() {
                shared.wake_one();
            }
        }
        BlockedExecutor(here)
    }
}

impl Drop for BlockedExecutor {
    fn drop(&mut self) {
        if let Some((shared, me)) = self.0.take() {
            me.blocked.store(false, Ordering::Release);
            if !shared.queue.lock().is_empty() {
                me.wake.notify_one();
            }
        }
    }
}

fn warn_once(node_id: NodeId) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(%node_id,
            "ray::get blocks an async executor thread: `.await` the ref instead (docs/tokio.md)");
    }
}
