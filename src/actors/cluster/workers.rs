//! Job workers in the agent. A generic node (`ray start` without a program) starts a
//! worker process of a job when asked (`Start`, from a node whose task found no process
//! of its build), leases its resources to its workers task by task (`Lease`, `Return`),
//! and tells the head when one exits (`Exited`), which marks it dead at once. A job
//! worker leases from its generic node before each task it runs for another node.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;

use super::{ClusterAgent, Role};
use crate::actors::job_manager::{JobWorkers, LiveJobs, StartWorker, WorkerSetup};
use crate::actors::{AcquireResources, GpuGrant, NodeActors, ReleaseResources};
use crate::ids::{JobId, NodeId};
use crate::tasks::to_resources;
use crate::transport::{WireMessage, WireNode, WorkerRequest};
use crate::{Error, Result};

/// How long a start asked of a generic node and not answered yet (it answers once the
/// worker joined) keeps this node from asking again.
const START_AGAIN: Duration = Duration::from_secs(30);

/// One lease a generic node granted: the resources, and which of its GPUs.
type Granted = (Vec<(String, f64)>, GpuGrant);

/// The agent's part in job workers.
#[derive(Default)]
pub(super) struct Workers {
    /// A generic node's pool of job workers.
    pool: Option<Addr<JobWorkers>>,
    /// A generic node's leases, by the worker holding them.
    leases: HashMap<NodeId, Vec<Granted>>,
    /// Starts this node asked of generic nodes, and when.
    asked: HashMap<(NodeId, JobId), Instant>,
}

/// Whether this process runs no functions of its own: a generic node, which serves
/// jobs through worker processes of their builds.
pub(super) fn generic() -> bool {
    crate::actors::remote::build_with_functions().is_none()
}

impl ClusterAgent {
    /// A generic worker node: starts its pool of job workers, keeping builds under
    /// `RAY_SESSION_DIR/jobs` (else a private directory in the temporary directory).
    pub(super) fn start_pool(&mut self, ctx: &Context<Self>) {
        let Role::Worker(head) = &self.role else {
            return;
        };
        if !generic() {
            return;
        }
        let setup = WorkerSetup {
            host: self.node_id,
            address: head.to_string(),
            ip: self.me.addr.ip(),
            resources: self.me.resources.clone(),
            agent: ctx.address().downgrade(),
        };
        let root = super::jobs::job_dir(self.node_id);
        match JobWorkers::new(setup, root) {
            Ok(pool) => {
                // Builds are hashed and written off the node's thread.
                let arbiter = actix::Arbiter::new();
                self.workers.pool = Some(JobWorkers::start_in_arbiter(&arbiter.handle(), |_| pool));
            }
            Err(why) => {
                tracing::warn!(node_id = %self.node_id, error = %why, "this node cannot start job workers")
            }
        }
    }

    /// A generic node: the jobs the head lists, for the pool to end the workers of
    /// ended jobs.
    pub(super) fn jobs_heard(&self, jobs: &[crate::transport::WireJob], nodes: &[WireNode]) {
        if let Some(pool) = &self.workers.pool {
            pool.do_send(LiveJobs {
                jobs: jobs.iter().map(|j| (j.job_id, j.alive)).collect(),
                joined: nodes
                    .iter()
                    .filter(|n| n.alive && n.host == Some(self.node_id))
                    .filter_map(|n| n.job)
                    .collect(),
            });
        }
    }

    /// Serves a `Worker` request from node `from`.
    pub(super) fn serve_worker(
        &mut self,
        from: NodeId,
        request: WorkerRequest,
        ctx: &mut Context<Self>,
    ) -> BoxFuture<'static, WireMessage> {
        let done = |m: WireMessage| async move { m }.boxed();
        match request {
            WorkerRequest::Start { job_id } => match &self.workers.pool {
                Some(pool) => {
                    let started = pool.send(StartWorker(job_id));
                    async move {
                        match started.await {
                            Ok(Ok(())) => WireMessage::Ack,
                            Ok(Err(message)) => WireMessage::Error { message },
                            Err(_) => WireMessage::Error {
                                message: "the node is shutting down".into(),
                            },
                        }
                    }
                    .boxed()
                }
                None => done(WireMessage::Error {
                    message: format!(
                        "node {} starts no job workers (it is not a generic node)",
                        self.node_id
                    ),
                }),
            },
            WorkerRequest::Lease { resources } if self.is_my_worker(from) => {
                self.lease(from, resources, ctx)
            }
            WorkerRequest::Return { resources, gpus } if self.is_my_worker(from) => {
                self.give_back(from, &resources, &gpus);
                done(WireMessage::Ack)
            }
            WorkerRequest::End { task_id } => done(self.end_worker(from, task_id)),
            WorkerRequest::Exited { job_id } if matches!(self.role, Role::Head) => {
                self.workers_exited(from, job_id);
                done(WireMessage::Ack)
            }
            other => done(WireMessage::Error {
                message: format!("node {} cannot serve {other:?} from {from}", self.node_id),
            }),
        }
    }

    /// Whether `node` is a job worker this node started.
    fn is_my_worker(&self, node: NodeId) -> bool {
        self.node.upgrade().is_some_and(|n| {
            n.view
                .read()
                .iter()
                .any(|w| w.node_id == node && w.alive && w.host == Some(self.node_id))
        })
    }

    /// Holds `resources` for worker `from` once they are free here.
    fn lease(
        &mut self,
        from: NodeId,
        resources: Vec<(String, f64)>,
        ctx: &mut Context<Self>,
    ) -> BoxFuture<'static, WireMessage> {
        let Some(node) = self.node.upgrade() else {
            return async {
                WireMessage::Error {
                    message: "shutting down".into(),
                }
            }
            .boxed();
        };
        let (reply, granted) = oneshot::channel();
        node.actors().manager.do_send(AcquireResources {
            resources: to_resources(&resources),
            what: format!("a task of job worker {from}"),
            reply,
        });
        let me = ctx.address();
        async move {
            match granted.await {
                Ok(Ok(grant)) => match me
                    .send(Leased {
                        from,
                        resources,
                        grant: grant.clone(),
                    })
                    .await
                {
                    Ok(true) => WireMessage::Leased {
                        gpus: grant.ids().to_vec(),
                    },
                    _ => WireMessage::Error {
                        message: "the worker is gone".into(),
                    },
                },
                Ok(Err(e)) => WireMessage::Error {
                    message: e.to_string(),
                },
                Err(_) => WireMessage::Error {
                    message: "shutting down".into(),
                },
            }
        }
        .boxed()
    }

    fn give_back(&mut self, from: NodeId, resources: &[(String, f64)], gpus: &[u32]) {
        if let Some(held) = self.workers.leases.get_mut(&from)
            && let Some(i) = held
                .iter()
                .position(|(r, g)| r == resources && *g.ids() == *gpus)
        {
            let (resources, grant) = held.swap_remove(i);
            self.release(&resources, grant);
        }
    }

    fn release(&self, resources: &[(String, f64)], grant: GpuGrant) {
        if let Some(node) = self.node.upgrade() {
            node.actors()
                .manager
                .do_send(ReleaseResources(to_resources(resources), grant));
        }
    }

    /// Head: the worker of `job_id` on generic node `host` exited: dead at once.
    fn workers_exited(&mut self, host: NodeId, job_id: JobId) {
        let mut changed = false;
        for (id, (n, _)) in self.table.iter_mut() {
            if n.alive && n.host == Some(host) && n.job == Some(job_id) {
                n.alive = false;
                changed = true;
                tracing::info!(node_id = %self.node_id, dead = %id, job_id = %job_id, "job worker exited");
            }
        }
        if changed {
            self.publish(self.table_view());
        }
    }

    /// Asks generic node `host` to start a worker of `job_id`, unless asked lately.
    pub(super) fn ask_start(&mut self, host: NodeId, job_id: JobId) {
        let now = Instant::now();
        if self
            .workers
            .asked
            .get(&(host, job_id))
            .is_some_and(|at| now.duration_since(*at) < START_AGAIN)
        {
            return;
        }
        self.workers.asked.insert((host, job_id), now);
        let ask = WireMessage::Worker {
            request: WorkerRequest::Start { job_id },
        };
        let sent = self.request(host, None, ask, Vec::new());
        let manager = self.node.upgrade().map(|n| n.actors().manager.clone());
        let me = self.addr.clone();
        actix::spawn(async move {
            let answer = sent.await;
            // Asked again from now on when a task needs it (the worker may die later).
            if let Some(me) = me.upgrade() {
                me.do_send(Answered { host, job_id });
            }
            let why = match answer {
                Ok((WireMessage::Ack, _)) => {
                    // The worker joined: the tasks parked for it go there now.
                    if let Some(manager) = manager {
                        manager.do_send(crate::actors::ViewChanged);
                    }
                    return;
                }
                Ok((WireMessage::Error { message }, _)) => message,
                Ok((other, _)) => format!("unexpected answer {other:?}"),
                Err(e) => e.to_string(),
            };
            tracing::warn!(host = %host, job_id = %job_id, error = %why, "no job worker started");
            if let Some(manager) = manager {
                manager.do_send(crate::actors::WorkerStartFailed { host, why });
            }
        });
    }

    /// A job worker: holds `resources` of its generic node's for one task or actor; the
    /// lease to give back when it ends (dropped: given back).
    pub(super) fn lease_for_task(
        &self,
        resources: &[(String, f64)],
    ) -> Option<BoxFuture<'static, Result<LeaseGuard>>> {
        let host = self.me.host?;
        let ask = WireMessage::Worker {
            request: WorkerRequest::Lease {
                resources: resources.to_vec(),
            },
        };
        let sent = self.request(host, None, ask, Vec::new());
        let link = self.link();
        let resources = resources.to_vec();
        Some(
            async move {
                match sent.await? {
                    (WireMessage::Leased { gpus }, _) => Ok(LeaseGuard {
                        host,
                        resources,
                        gpus: gpus.into(),
                        link,
                    }),
                    (WireMessage::Error { message }, _) => Err(Error::NotConnected(message)),
                    (other, _) => Err(Error::Serialization(format!("unexpected answer {other:?}"))),
                }
            }
            .boxed(),
        )
    }
}

/// A job worker's lease on its generic node's resources, given back when dropped.
pub(crate) struct LeaseGuard {
    host: NodeId,
    resources: Vec<(String, f64)>,
    /// The generic node's GPUs it holds: the work under it runs on these.
    pub(crate) gpus: std::sync::Arc<[u32]>,
    link: super::link::Link,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let give = WireMessage::Worker {
            request: WorkerRequest::Return {
                resources: std::mem::take(&mut self.resources),
                gpus: self.gpus.to_vec(),
            },
        };
        let sent = self.link.request(self.host, None, give, Vec::new());
        actix::spawn(async move {
            let _ = sent.await;
        });
    }
}

/// A generic node granted worker `from` a lease: recorded, unless the worker is gone
/// (then given back at once); whether it was recorded.
#[derive(Message)]
#[rtype(result = "bool")]
struct Leased {
    from: NodeId,
    resources: Vec<(String, f64)>,
    grant: GpuGrant,
}

impl Handler<Leased> for ClusterAgent {
    type Result = bool;

    fn handle(&mut self, msg: Leased, _: &mut Context<Self>) -> bool {
        if !self.is_my_worker(msg.from) {
            self.release(&msg.resources, msg.grant);
            return false;
        }
        self.workers
            .leases
            .entry(msg.from)
            .or_default()
            .push((msg.resources, msg.grant));
        true
    }
}

/// A generic node's worker of job `0` exited: its leases are given back, and the head
/// is told.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct WorkerGone(pub(crate) JobId);

impl Handler<WorkerGone> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, WorkerGone(job_id): WorkerGone, _: &mut Context<Self>) {
        let gone: Vec<NodeId> = self.node.upgrade().map_or_else(Vec::new, |n| {
            n.view
                .read()
                .iter()
                .filter(|w| w.host == Some(self.node_id) && w.job == Some(job_id))
                .map(|w| w.node_id)
                .collect()
        });
        for w in gone {
            for (resources, grant) in self.workers.leases.remove(&w).unwrap_or_default() {
                self.release(&resources, grant);
            }
        }
        if let Some(head) = self.head_id() {
            let told = WireMessage::Worker {
                request: WorkerRequest::Exited { job_id },
            };
            let sent = self.request(head, None, told, Vec::new());
            actix::spawn(async move {
                let _ = sent.await;
            });
        }
    }
}

/// From the node manager: a task of this node's job found no process of its build, and
/// generic node `host` can start one.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StartWorkerOn {
    pub(crate) host: NodeId,
    pub(crate) job_id: JobId,
}

impl Handler<StartWorkerOn> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: StartWorkerOn, _: &mut Context<Self>) {
        self.ask_start(msg.host, msg.job_id);
    }
}

/// Job `job_id`'s worker on generic node `host`, started there when none runs: answered
/// with its node id once it joined and this node's table lists it (an actor goes there).
#[derive(Message)]
#[rtype(result = "Result<NodeId>")]
pub(crate) struct WorkerOn {
    pub(crate) host: NodeId,
    pub(crate) job_id: JobId,
}

/// How long a worker that its generic node reported joined may take to reach this
/// node's table (it comes with the head's next table update).
const LISTED_WAIT: Duration = Duration::from_secs(10);

impl Handler<WorkerOn> for ClusterAgent {
    type Result = ResponseFuture<Result<NodeId>>;

    fn handle(
        &mut self,
        WorkerOn { host, job_id }: WorkerOn,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let ask = WireMessage::Worker {
            request: WorkerRequest::Start { job_id },
        };
        let sent = self.request(host, None, ask, Vec::new());
        let node = self.node.clone();
        Box::pin(async move {
            match sent.await? {
                (WireMessage::Ack, _) => {}
                (WireMessage::Error { message }, _) => {
                    return Err(Error::Job(format!(
                        "node {host} started no worker of {job_id}: {message}"
                    )));
                }
                (other, _) => {
                    return Err(Error::Serialization(format!("unexpected answer {other:?}")));
                }
            }
            let listed = Instant::now() + LISTED_WAIT;
            loop {
                let node = node.upgrade().ok_or(Error::ShutDown)?;
                let found = node
                    .view
                    .read()
                    .iter()
                    .find(|w| w.alive && w.host == Some(host) && w.job == Some(job_id))
                    .map(|w| w.node_id);
                if let Some(worker) = found {
                    return Ok(worker);
                }
                if Instant::now() > listed {
                    return Err(Error::Job(format!(
                        "the worker of {job_id} on node {host} joined but is not listed after {LISTED_WAIT:?}"
                    )));
                }
                drop(node);
                actix_rt::time::sleep(Duration::from_millis(10)).await;
            }
        })
    }
}

/// An actor of a job worker holds `0` of its generic node's resources for its
/// lifetime: the lease (`None` on any other node, whose resources are its own).
#[derive(Message)]
#[rtype(result = "Result<Option<LeaseGuard>>")]
pub(crate) struct LeaseOnHost(pub(crate) Vec<(String, f64)>);

impl Handler<LeaseOnHost> for ClusterAgent {
    type Result = ResponseFuture<Result<Option<LeaseGuard>>>;

    fn handle(
        &mut self,
        LeaseOnHost(resources): LeaseOnHost,
        _: &mut Context<Self>,
    ) -> Self::Result {
        match self.lease_for_task(&resources) {
            Some(lease) => Box::pin(async move { lease.await.map(Some) }),
            None => Box::pin(async { Ok(None) }),
        }
    }
}

/// A generic node answered this node's request to start a worker.
#[derive(Message)]
#[rtype(result = "()")]
struct Answered {
    host: NodeId,
    job_id: JobId,
}

impl Handler<Answered> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: Answered, _: &mut Context<Self>) {
        self.workers.asked.remove(&(msg.host, msg.job_id));
    }
}
