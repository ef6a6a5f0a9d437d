//! The execution context: which node, task and actor the current thread (or async task)
//! is running for. Set by workers, actor hosts and async task wrappers; read by every
//! public call so that code inside a task reaches its own node, never a global.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};

use super::Node;
use crate::ids::{ActorId, TaskId};
use crate::tasks::{TaskBlocked, TaskUnblocked};

/// What the current thread is executing.
#[derive(Clone)]
pub(crate) struct ExecContext {
    pub(crate) node: Arc<Node>,
    pub(crate) task_id: Option<TaskId>,
    pub(crate) actor_id: Option<ActorId>,
    pub(crate) cancelled: Option<Arc<AtomicBool>>,
    /// A task (not an actor): its CPU is lent back while it blocks in `get`.
    pub(crate) releases_cpu: bool,
    pub(crate) restarted: bool,
    /// Which try of the task this is (0 for the first).
    pub(crate) attempt: u32,
    /// The GPUs the node assigned to the task or actor (`num_gpus`).
    pub(crate) gpu_ids: Arc<[u32]>,
    /// The placement group that tasks submitted from here run in
    /// (`capture_child_tasks`).
    pub(crate) capture: Option<crate::ids::PlacementGroupId>,
}

thread_local! {
    static CONTEXT: RefCell<Option<ExecContext>> = const { RefCell::new(None) };
}

/// The placement group that tasks submitted from the calling thread run in
/// (`capture_child_tasks`), read without cloning the context (task submission's path).
pub(crate) fn captured_group() -> Option<crate::ids::PlacementGroupId> {
    CONTEXT.with(|c| c.borrow().as_ref().and_then(|c| c.capture))
}

/// The task the calling thread runs, if any (the parent of what it submits).
pub(crate) fn current_task() -> Option<crate::ids::TaskId> {
    CONTEXT.with(|c| c.borrow().as_ref().and_then(|c| c.task_id))
}

/// The context of the calling thread, if it runs inside a node.
pub(crate) fn current_context() -> Option<ExecContext> {
    CONTEXT.with(|c| c.borrow().clone())
}

/// Runs `f` with `ctx` as the thread's context, restoring the previous one after.
pub(crate) fn with_context<R>(ctx: Option<ExecContext>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<ExecContext>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CONTEXT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CONTEXT.with(|c| std::mem::replace(&mut *c.borrow_mut(), ctx));
    let _restore = Restore(prev);
    f()
}

/// A future that runs with a context set during each poll: how async task bodies and
/// async actor methods see their node.
pub(crate) struct WithContext<F> {
    ctx: Option<ExecContext>,
    fut: Pin<Box<F>>,
}

impl<F> WithContext<F> {
    pub(crate) fn new(ctx: ExecContext, fut: F) -> Self {
        Self {
            ctx: Some(ctx),
            fut: Box::pin(fut),
        }
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        with_context(this.ctx.clone(), || this.fut.as_mut().poll(cx))
    }
}

/// While alive, the current synchronous task's CPU is lent back to its node.
pub(crate) struct BlockedGuard(Option<(Arc<Node>, TaskId)>);

impl BlockedGuard {
    pub(crate) fn enter() -> Self {
        let who = CONTEXT.with(|c| {
            c.borrow().as_ref().and_then(|ctx| {
                ctx.releases_cpu
                    .then_some(())
                    .and(ctx.task_id.map(|t| (ctx.node.clone(), t)))
            })
        });
        if let Some((node, task_id)) = &who {
            node.scheduler
                .blocked
                .do_send(TaskBlocked { task_id: *task_id });
        }
        BlockedGuard(who)
    }
}

impl Drop for BlockedGuard {
    fn drop(&mut self) {
        if let Some((node, task_id)) = self.0.take() {
            node.scheduler.unblocked.do_send(TaskUnblocked { task_id });
        }
    }
}

/// Gives the calling thread a context for good: an actor's own arbiter thread runs for
/// that actor only.
pub(crate) fn set_thread_context(ctx: Option<ExecContext>) {
    CONTEXT.with(|c| *c.borrow_mut() = ctx);
}
