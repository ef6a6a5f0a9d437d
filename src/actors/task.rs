//! `TaskActor`: the ephemeral actix actor that executes a task. Sync bodies run on a
//! worker arbiter of their own (blocking it is fine: it hosts nothing else), and the
//! sync tasks batched behind one under the same lease run in the same actor, one after
//! the other; async bodies are spawned on an executor arbiter and can be aborted by
//! `CancelRunning`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use actix::prelude::*;
use futures::FutureExt;

use crate::Error;
use crate::actors::NodeActors;
use crate::error::panic_message;
use crate::node::{ExecContext, Node, WithContext, with_context};
use crate::tasks::{Batch, LeaseDone, TaskBody, TaskEvent, TaskFinished, TaskOutput, TaskSpec};

pub(crate) struct TaskActor {
    spec: Option<TaskSpec>,
    node: Arc<Node>,
    /// For sync tasks: the worker's lease id and the tasks batched behind this one.
    lease: Option<(usize, Batch)>,
    running: Option<SpawnHandle>,
    started: Instant,
}

/// Aborts a running async task (its future is dropped).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CancelRunning;

impl TaskActor {
    pub(crate) fn new(spec: TaskSpec, node: Arc<Node>, lease: Option<(usize, Batch)>) -> Self {
        Self {
            spec: Some(spec),
            node,
            lease,
            running: None,
            started: Instant::now(),
        }
    }

    fn exec_context(&self, spec: &TaskSpec) -> ExecContext {
        ExecContext {
            node: self.node.clone(),
            task_id: Some(spec.id),
            actor_id: None,
            cancelled: Some(spec.cancelled.clone()),
            releases_cpu: true,
            restarted: false,
            attempt: spec.attempt,
            gpu_ids: spec.gpu_ids.clone(),
            capture: spec.capture,
        }
    }

    fn finish(&mut self, spec: TaskSpec, out: TaskOutput) {
        let ok = out.is_ok();
        let error = out.as_ref().err().map(|e| Arc::from(e.to_string()));
        spec.settle(out);
        tracing::debug!(task_id = %spec.id, node_id = %self.node.id, ok, "task.finish");
        self.node.actors().manager.do_send(TaskFinished(TaskEvent {
            task_id: spec.id,
            name: spec.name.clone(),
            start: self.started,
            end: Instant::now(),
            ok,
            attempt: spec.attempt,
            error,
        }));
    }
}

/// Whether a failed attempt gets another one (`retry_exceptions`): only application
/// errors are retried, never a failed dependency or a cancellation.
fn should_retry(
    out: &TaskOutput,
    retries_left: &mut i32,
    cancelled: &AtomicBool,
    which: Option<fn(&Error) -> bool>,
) -> bool {
    let app_error = match out {
        Err(e @ (Error::TaskFailed { .. } | Error::TaskPanicked { .. })) => {
            which.is_none_or(|accepts| accepts(e))
        }
        _ => false,
    };
    if app_error && *retries_left != 0 && !cancelled.load(Ordering::Relaxed) {
        *retries_left -= 1;
        tracing::warn!(error = ?out.as_ref().err(), "task failed, retrying");
        return true;
    }
    false
}

fn panicked(name: &str, payload: Box<dyn std::any::Any + Send>) -> Error {
    Error::TaskPanicked {
        function: name.to_string(),
        message: panic_message(&*payload),
    }
}

impl TaskActor {
    /// Runs `spec`, then the tasks batched behind it under this worker's lease, while
    /// they are sync, in this actor: one actor for a run of batched tasks rather than one
    /// each (an actor's mailbox and tokio task were 7 of a trivial task's 26
    /// allocations). Anything else goes on to an actor of its own; when the batch is
    /// empty the lease goes back.
    fn run_sync_batch(&mut self, mut spec: TaskSpec) {
        loop {
            self.started = Instant::now();
            if spec.cancelled.load(Ordering::SeqCst) {
                // Cancelled while queued, batched or being handed over: never runs.
                let id = spec.id;
                self.finish(spec, Err(Error::Cancelled { task_id: id }));
            } else {
                // Read while the body is in the spec: a sync task lends its CPU when it
                // blocks in `get`.
                let exec = self.exec_context(&spec);
                match spec.body.take() {
                    Some(TaskBody::Sync(body)) => {
                        let out = self.run_sync(&mut spec, body, exec);
                        self.finish(spec, out);
                    }
                    other => {
                        spec.body = other;
                        TaskActor::new(spec, self.node.clone(), self.lease.take()).start();
                        return;
                    }
                }
            }
            let Some((worker, batch)) = &self.lease else {
                return;
            };
            let next = batch.lock().pop_front();
            match next {
                Some(next) => spec = next,
                None => {
                    self.node
                        .actors()
                        .manager
                        .do_send(LeaseDone { worker: *worker });
                    self.lease = None;
                    return;
                }
            }
        }
    }

    /// Runs a sync body, again on an application error while `retry_exceptions` allows.
    fn run_sync(
        &self,
        spec: &mut TaskSpec,
        mut body: Box<dyn FnMut(bool) -> TaskOutput + Send>,
        mut exec: ExecContext,
    ) -> TaskOutput {
        let span = tracing::debug_span!("task.execute", task_id = %spec.id, node_id = %self.node.id, name = %spec.name);
        let _enter = span.enter();
        loop {
            let keep = spec.retries_left != 0;
            let out = with_context(Some(exec.clone()), || {
                std::panic::catch_unwind(AssertUnwindSafe(|| body(keep)))
                    .unwrap_or_else(|p| Err(panicked(&spec.name, p)))
            });
            if !should_retry(&out, &mut spec.retries_left, &spec.cancelled, spec.retry_if) {
                return out;
            }
            exec.attempt += 1;
        }
    }
}

impl Actor for TaskActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(mut spec) = self.spec.take() else {
            ctx.stop();
            return;
        };
        if spec.cancelled.load(Ordering::SeqCst) {
            // Finished as cancelled there, and the batch goes on.
            self.run_sync_batch(spec);
            ctx.stop();
            return;
        }
        match spec.body.take() {
            Some(sync @ TaskBody::Sync(_)) => {
                spec.body = Some(sync);
                self.run_sync_batch(spec);
                ctx.stop();
            }
            Some(TaskBody::Async(mut body)) => {
                let span = tracing::debug_span!("task.execute", task_id = %spec.id, node_id = %self.node.id, name = %spec.name);
                let exec = self.exec_context(&spec);
                let name = spec.name.clone();
                let mut retries_left = spec.retries_left;
                let retry_if = spec.retry_if;
                let cancelled = spec.cancelled.clone();
                let mut attempt_exec = exec.clone();
                let fut = async move {
                    loop {
                        let keep = retries_left != 0;
                        let attempt = WithContext::new(attempt_exec.clone(), body(keep));
                        let out = AssertUnwindSafe(attempt)
                            .catch_unwind()
                            .await
                            .unwrap_or_else(|p| Err(panicked(&name, p)));
                        if !should_retry(&out, &mut retries_left, &cancelled, retry_if) {
                            break out;
                        }
                        attempt_exec.attempt += 1;
                    }
                };
                self.spec = Some(spec);
                let fut = WithContext::new(exec, tracing::Instrument::instrument(fut, span));
                let handle = ctx.spawn(fut.into_actor(self).map(|out, act, ctx| {
                    if let Some(spec) = act.spec.take() {
                        act.finish(spec, out);
                    }
                    ctx.stop();
                }));
                self.running = Some(handle);
            }
            None => {
                self.finish(spec, Err(Error::InvalidArgument("task has no body".into())));
                ctx.stop();
            }
        }
    }
}

impl Handler<CancelRunning> for TaskActor {
    type Result = ();

    fn handle(&mut self, _: CancelRunning, ctx: &mut Context<Self>) {
        if let Some(h) = self.running.take() {
            ctx.cancel_future(h);
        }
        if let Some(spec) = self.spec.take() {
            spec.cancelled.store(true, Ordering::SeqCst);
            let id = spec.id;
            self.finish(spec, Err(Error::Cancelled { task_id: id }));
        }
        ctx.stop();
    }
}
