//! Running a task another node sent (`RunTask`): its arguments read under the loan they
//! came with (a large object taken by reference becomes this node's copy, pulled once
//! and lent to every task here that takes it), the task queued here with those copies
//! as its dependencies, and the answer made from its result, or the result kept here
//! for its owner (`lineage.rs`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use actix::prelude::*;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_bytes::ByteBuf;

use super::ClusterAgent;
use super::lineage::{KeepResult, held_value};
use super::objects::{lend, loan};
use super::tasks::failure;
use crate::actors::NodeActors;
use crate::ids::{NodeId, ObjectId, TaskId};
use crate::node::{Node, off_node_thread};
use crate::resources::{Resources, to_units};
use crate::store::{Handoff, INLINE_MAX, Loan, RawRef, StoredValue, stored};
use crate::tasks::{RemoteBody, RemoteCall, SubmitTask, TaskBody, TaskSpec, lookup};
use crate::transport::{Bulk, WireMessage};
use crate::{Error, Result, SchedulingStrategy};

/// The refs of this node a task's result carried out, once it is encoded.
type Carried = Arc<parking_lot::Mutex<Vec<RawRef>>>;

impl ClusterAgent {
    /// Runs a task another node sent: as a local task with the requested resources.
    pub(super) fn run_task(
        &self,
        from: NodeId,
        run: WireMessage,
        args: Vec<u8>,
        me: Addr<ClusterAgent>,
    ) -> BoxFuture<'static, (WireMessage, Bulk)> {
        let WireMessage::RunTask {
            function,
            resources,
            attempt,
            keep,
            capture,
            lent,
        } = run
        else {
            return async { failure(Error::InvalidArgument("not a task".into())) }.boxed();
        };
        let node = self.node.upgrade();
        // A job worker runs another node's task under a lease on its generic node's
        // resources, held until the answer is made.
        let lease = self.lease_for_task(&resources);
        let loan = loan(&me, from, lent);
        async move {
            let read = match node.as_ref() {
                Some(n) => read_call(&function, args, loan, n.clone()).await,
                None => Err(Error::ShutDown),
            };
            let (call, decode) = match read {
                Ok(read) => read,
                Err(e) => return failure(e),
            };
            let carried = Carried::default();
            let id = TaskId::new();
            let task = Received {
                id,
                function,
                resources,
                attempt,
                capture,
                call,
                carried: carried.clone(),
            };
            let ret = match lease {
                None => task.queue(node.as_ref(), Arc::from([])),
                Some(lease) => {
                    let n = node.clone();
                    super::leases::under_lease(lease, id, &me, move |gpus| {
                        task.queue(n.as_ref(), gpus)
                    })
                    .await
                }
            };
            let result = Answer {
                keep,
                decode,
                carried,
            };
            answer_run(ret, node, from, result, me).await
        }
        .boxed()
    }
}

/// Reads the arguments of a call to `function` under the `loan` they came with (large
/// ones off the node thread); with the function's decoder of its result.
async fn read_call(
    function: &str,
    args: Vec<u8>,
    loan: Option<Loan>,
    node: Arc<Node>,
) -> Result<(RemoteCall, crate::tasks::DecodeReturns)> {
    let f = lookup(function, node.id)?;
    let mut handoff = Handoff::with(loan);
    let call = off_node_thread(args.len(), Some(node), move || {
        // A value's own `Deserialize` may panic: the call fails, the node stays.
        let read = handoff.run(|| std::panic::catch_unwind(AssertUnwindSafe(|| (f.body)(args))));
        read.unwrap_or_else(|p| {
            Err(Error::Serialization(format!(
                "reading the arguments panicked: {}",
                crate::error::panic_message(&*p)
            )))
        })
    })
    .await?;
    Ok((call, f.decode))
}

/// A task another node sent, its arguments read.
struct Received {
    id: TaskId,
    function: String,
    resources: Vec<(String, f64)>,
    attempt: u32,
    capture: Option<crate::ids::PlacementGroupId>,
    call: RemoteCall,
    carried: Carried,
}

impl Received {
    /// Queues it on this node (on the GPUs `gpu_ids` of its lease, if any); its one
    /// return holds the encoded result.
    fn queue(self, node: Option<&Arc<Node>>, gpu_ids: Arc<[u32]>) -> Result<RawRef> {
        let node = node.ok_or(Error::ShutDown)?;
        let mut req = Resources::new();
        for (k, v) in &self.resources {
            req.set_units(k, to_units(k, *v)?);
        }
        let out = self.carried;
        // The result is encoded under a hand-off of its own: the refs it carries out are
        // lent to the caller with the answer.
        let body = match self.call.body {
            RemoteBody::Sync(run) => {
                let mut run = Some(run);
                TaskBody::Sync(Box::new(move |_| match run.take() {
                    Some(run) => {
                        let mut handoff = Handoff::default();
                        let bytes = handoff.run(run);
                        *out.lock() = handoff.escaped();
                        Ok(vec![stored(ByteBuf::from(bytes?))])
                    }
                    None => Err(crate::__private::consumed()),
                }))
            }
            RemoteBody::Async(run) => {
                let mut run = Some((run, out));
                TaskBody::Async(Box::new(move |_| match run.take() {
                    Some((run, out)) => async move {
                        let handoff = Handoff::default();
                        let (bytes, escaped) = handoff.around(async move { run().await }).await;
                        *out.lock() = escaped;
                        Ok(vec![stored(ByteBuf::from(bytes?))])
                    }
                    .boxed_local(),
                    None => async { Err(crate::__private::consumed()) }.boxed_local(),
                }))
            }
        };
        let ret = RawRef::pending(&node.store, ObjectId::for_return(self.id, 0));
        let spec = TaskSpec {
            id: self.id,
            name: self.function.as_str().into(),
            // The objects it takes by reference, being pulled here.
            deps: self.call.deps,
            returns: vec![ret.clone()],
            resources: req,
            body: Some(body),
            cancelled: Default::default(),
            retries_left: 0,
            retry_if: None,
            // The sending node retries it if this node dies.
            system_retries: 0,
            attempt: self.attempt,
            remote: None,
            // It was placed here: it runs here.
            strategy: SchedulingStrategy::NodeAffinity {
                node_id: node.id,
                soft: false,
            },
            gpu_ids,
            capture: self.capture,
            host_leased: true,
            parent: None,
        };
        node.actors().manager.do_send(SubmitTask(spec));
        Ok(ret)
    }
}

/// How the answer to a task is made from its result.
struct Answer {
    /// The id under which the caller asked a large result to stay here.
    keep: Option<ObjectId>,
    /// The function's decoder of its encoded result.
    decode: crate::tasks::DecodeReturns,
    carried: Carried,
}

/// The answer to a task node `from` sent, once its result `ret` is settled: the
/// encoded returns, or (a large result, when the caller asked to `keep` it here) where
/// they are held, or the error. The refs the result `carried` out are lent to the
/// caller, or kept with the result held here.
async fn answer_run(
    ret: Result<RawRef>,
    node: Option<Arc<Node>>,
    from: NodeId,
    answer: Answer,
    me: Addr<ClusterAgent>,
) -> (WireMessage, Bulk) {
    let outcome = match ret {
        Ok(r) => r
            .settled()
            .await
            .and_then(|v| crate::store::object_ref_downcast::<ByteBuf>(r.id(), v)),
        Err(e) => Err(e),
    };
    let bytes = match outcome {
        Ok(bytes) => Arc::try_unwrap(bytes).unwrap_or_else(|b| (*b).clone()),
        Err(e) => return failure(e),
    };
    let carried = std::mem::take(&mut *answer.carried.lock());
    // A large result stays here for the caller, unless this node has its own object
    // under that id (it borrowed it once before).
    if let (Some(id), Some(node)) = (answer.keep, &node)
        && bytes.len() >= INLINE_MAX
        && let Some(result) = RawRef::pending_unless_held(&node.store, id)
    {
        let size = bytes.len() as u64;
        let (value, carried) = typed(bytes, answer.decode, node, carried).await;
        result.complete(Ok(value));
        me.do_send(KeepResult {
            owner: from,
            result,
            carried,
        });
        return (WireMessage::TaskResultHeld { size }, Bulk::default());
    }
    let lent = lend(&me, node.as_ref(), from, carried);
    // The returns travel as the bulk payload, never inside a frame.
    (
        WireMessage::TaskResult { error: None, lent },
        bytes.into_vec().into(),
    )
}

/// A result kept here as the value its function returned, so that a task here that
/// takes it reads it in place (the refs it carries are inside it then); as its encoded
/// bytes, with the refs they carry, if it does not decode.
async fn typed(
    bytes: ByteBuf,
    decode: crate::tasks::DecodeReturns,
    node: &Arc<Node>,
    carried: Vec<RawRef>,
) -> (StoredValue, Vec<RawRef>) {
    let bytes = Arc::new(bytes);
    let encoded = bytes.clone();
    let value = off_node_thread(bytes.len(), Some(node.clone()), move || {
        <[StoredValue; 1]>::try_from(decode(&encoded)?)
            .map(|[v]| v)
            .map_err(|_| Error::Serialization("a kept result of several returns".into()))
    })
    .await;
    match value {
        Ok(v) => (v, Vec::new()),
        Err(e) => {
            tracing::debug!(node_id = %node.id, error = %e, "a kept result stays encoded");
            let bytes = Arc::try_unwrap(bytes).unwrap_or_else(|b| (*b).clone());
            (held_value(bytes), carried)
        }
    }
}
