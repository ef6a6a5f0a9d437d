//! Task submission: mints ids, creates the return slots and hands the spec to the node
//! manager with one fire-and-forget message (no thread hop on the caller's path).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{captured_group, current_node, current_task};
use crate::Error;
use crate::ids::{ObjectId, TaskId};
use crate::store::RawRef;
use crate::tasks::{
    RawRefHandle, RemoteForm, SchedulingStrategy, SubmitTask, TaskBody, TaskOptions, TaskSpec,
};

/// Submits a task on the caller's node and returns its `num_returns` return references.
/// Never fails: a problem (no runtime, bad options) settles the returns with the error.
pub(crate) fn submit(
    name: &'static str,
    opts: &TaskOptions,
    deps: Vec<Option<RawRefHandle>>,
    num_returns: usize,
    body: TaskBody,
    remote: Option<RemoteForm>,
) -> Vec<RawRef> {
    let fail_all = |e: Error| {
        (0..num_returns)
            .map(|_| RawRef::failed(e.clone()))
            .collect()
    };
    let node = match current_node() {
        Ok(n) => n,
        Err(e) => return fail_all(e),
    };
    // A task submitted from work in a placement group that captures its children runs
    // in that group too (any bundle), unless it says where to run.
    let captured = captured_group();
    let strategy = match (&opts.strategy, captured) {
        (SchedulingStrategy::Default, Some(group)) => SchedulingStrategy::PlacementGroup {
            group,
            bundle_index: None,
            capture_child_tasks: true,
        },
        (s, _) => s.clone(),
    };
    let resources = match opts.request() {
        Ok(r) if captured.is_some() && opts.strategy == SchedulingStrategy::Default => {
            strategy.adapt(r)
        }
        Ok(r) => r,
        Err(e) => return fail_all(e),
    };
    let id = TaskId::new();
    let returns: Vec<RawRef> = (0..num_returns)
        .map(|i| RawRef::pending(&node.store, ObjectId::for_return(id, i as u32)))
        .collect();
    let spec = TaskSpec {
        id,
        name: opts.name.as_deref().unwrap_or(name).into(),
        deps: deps.into_iter().flatten().map(|d| d.0).collect(),
        returns: returns.clone(),
        resources,
        body: Some(body),
        cancelled: Arc::new(AtomicBool::new(false)),
        retries_left: opts.exception_retries(),
        retry_if: opts.retry_if,
        system_retries: opts.max_retries.unwrap_or(3),
        attempt: 0,
        remote,
        capture: strategy.captures(),
        host_leased: false,
        parent: current_task(),
        strategy,
        gpu_ids: std::sync::Arc::from([]),
    };
    tracing::debug!(task_id = %id, node_id = %node.id, function = name, "task.submit");
    node.scheduler.submit.do_send(SubmitTask(spec));
    if node.shut_down.load(Ordering::SeqCst) {
        // Raced with shutdown: the manager may never see the spec.
        for r in &returns {
            r.complete(Err(Error::ShutDown));
        }
    }
    returns
}
