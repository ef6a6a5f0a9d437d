//! A generic node's job workers (Ray's worker pool, one process per job and node): the
//! first time a job has work here, the node fetches the job's build and working
//! directory from the head (once per content hash, verified before it runs), starts
//! the build as a worker process of that job, and ends it when the job ends. The worker
//! joins the cluster as a node of its own that runs only that job's work, with this
//! node's resources leased task by task (`cluster/workers.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::blobs::Blobs;
use super::process::{self, Group};
use crate::actors::AskJobs;
use crate::actors::ClusterAgent;
use crate::ids::{JobId, NodeId};
use crate::transport::{BlobKind, ContentHash, JobReply, JobRequest, JobSpec};
use crate::{Error, Result};

/// How long a started worker has to join the cluster before it is ended (its exit then
/// fails who waits for it).
const JOIN_WAIT: Duration = Duration::from_secs(60);

/// How long a worker outlives its job's absence from the head's job table (a job is
/// listed once its driver's first heartbeat reached the head).
const UNLISTED_GRACE: Duration = Duration::from_secs(30);

/// What a generic node starts its job workers with.
pub(crate) struct WorkerSetup {
    /// This node.
    pub(crate) host: NodeId,
    /// The cluster's join address (with its token), handed to each worker.
    pub(crate) address: String,
    /// The address this node hands out, which its workers hand out too.
    pub(crate) ip: std::net::IpAddr,
    /// This node's resources: each worker may use all of them, leased task by task.
    pub(crate) resources: Vec<(String, f64)>,
    /// The agent, which asks the head and hears of exits.
    pub(crate) agent: actix::WeakAddr<ClusterAgent>,
}

pub(crate) struct JobWorkers {
    setup: WorkerSetup,
    blobs: Blobs,
    logs: PathBuf,
    workers: HashMap<JobId, Worker>,
}

struct Worker {
    /// Its process group, once started.
    group: Option<Group>,
    since: Instant,
    /// Who waits for it to start (or fail to).
    waiters: Vec<futures::channel::oneshot::Sender<std::result::Result<(), String>>>,
}

impl JobWorkers {
    /// Keeps builds under `root` (created 0700 when missing).
    pub(crate) fn new(setup: WorkerSetup, root: PathBuf) -> std::result::Result<Self, String> {
        let blobs = Blobs::new(root.clone())?;
        let logs = root.join("logs");
        if !logs.exists() {
            super::blobs::private_dir(&logs)?;
        }
        Ok(Self {
            setup,
            blobs,
            logs,
            workers: HashMap::new(),
        })
    }

    fn spawn_worker(
        &mut self,
        job_id: JobId,
        spec: &JobSpec,
        ctx: &mut Context<Self>,
    ) -> std::result::Result<Group, String> {
        let build = self.blobs.build(&spec.build)?;
        let cwd = match &spec.working_dir {
            Some(hash) => Some(self.blobs.working_dir(hash)?),
            None => None,
        };
        let mut env = super::job_env(spec, &self.setup.address, job_id);
        let amount = |name: &str| {
            self.setup
                .resources
                .iter()
                .find(|(k, _)| k == name)
                .map_or(0.0, |(_, n)| *n)
        };
        let custom: Vec<String> = (self.setup.resources.iter())
            .filter(|(k, _)| !["CPU", "GPU", "memory"].contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.extend([
            ("RAY_NODE_MODE".into(), "worker".into()),
            ("RAY_JOB_HOST".into(), self.setup.host.to_string()),
            ("RAY_NODE_IP_ADDRESS".into(), self.setup.ip.to_string()),
            ("RAY_NUM_CPUS".into(), amount("CPU").to_string()),
            // The same GPUs: which of them its work uses comes with each lease.
            ("RAY_NUM_GPUS".into(), amount("GPU").to_string()),
            ("RAY_RESOURCES".into(), custom.join(",")),
        ]);
        let log = self
            .logs
            .join(format!("job-worker-{job_id}-{}.log", self.setup.host));
        let launch = process::Launch {
            program: &build,
            args: &spec.args,
            env,
            cwd: cwd.as_deref(),
            log: &log,
            what: format!("ray-worker-{job_id}"),
        };
        let me = ctx.address();
        process::start(launch, move |code| {
            me.do_send(WorkerExited { job_id, code })
        })
    }

    /// Fetches what the head has of `spec` that this node lacks.
    async fn fetch(
        agent: Addr<ClusterAgent>,
        spec: &JobSpec,
        missing: Vec<ContentHash>,
    ) -> Result<Vec<(ContentHash, BlobKind, Vec<u8>)>> {
        let mut got = Vec::new();
        let wanted = std::iter::once((spec.build, BlobKind::Build))
            .chain(spec.working_dir.map(|h| (h, BlobKind::WorkingDir)));
        for (hash, kind) in wanted.filter(|(h, _)| missing.contains(h)) {
            let request = JobRequest::Fetch { hash, kind };
            match agent
                .send(AskJobs {
                    request,
                    payload: Vec::new(),
                })
                .await
            {
                Ok(Ok((JobReply::Blob, bytes))) => got.push((hash, kind, bytes)),
                Ok(Ok((other, _))) => {
                    return Err(Error::Job(format!("unexpected answer {other:?}")));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(Error::ShutDown),
            }
        }
        Ok(got)
    }
}

/// A job's workers end with the node that started them (their `Group`s drop with it).
impl Actor for JobWorkers {
    type Context = Context<Self>;
}

/// Starts job `job_id`'s worker here, unless one runs or is starting; answered once it
/// started, or with why it could not.
#[derive(Message)]
#[rtype(result = "std::result::Result<(), String>")]
pub(crate) struct StartWorker(pub(crate) JobId);

impl Handler<StartWorker> for JobWorkers {
    type Result = ResponseFuture<std::result::Result<(), String>>;

    fn handle(
        &mut self,
        StartWorker(job_id): StartWorker,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        let (tell, told) = futures::channel::oneshot::channel();
        let answer = Box::pin(async move {
            told.await
                .unwrap_or_else(|_| Err("the node is shutting down".into()))
        });
        match self.workers.get_mut(&job_id) {
            Some(w) if w.group.is_some() && w.waiters.is_empty() => {
                return Box::pin(async { Ok(()) });
            }
            Some(w) => {
                w.waiters.push(tell);
                return answer;
            }
            None => {}
        }
        let Some(agent) = self.setup.agent.upgrade() else {
            return Box::pin(async { Err("the node is shutting down".into()) });
        };
        self.workers.insert(
            job_id,
            Worker {
                group: None,
                since: Instant::now(),
                waiters: vec![tell],
            },
        );
        tracing::info!(job_id = %job_id, "starting a worker process for the job");
        let ask = agent.send(AskJobs {
            request: JobRequest::Describe { job_id },
            payload: Vec::new(),
        });
        ctx.spawn(
            async move { ask.await.map_err(|_| Error::ShutDown)? }
                .into_actor(self)
                .then(move |described, act, _| {
                    let result = match described {
                        Ok((JobReply::Spec(spec), _)) => {
                            let wanted: Vec<ContentHash> =
                                std::iter::once(spec.build).chain(spec.working_dir).collect();
                            let missing = act.blobs.missing(&wanted);
                            Ok((spec, missing))
                        }
                        Ok((other, _)) => Err(Error::Job(format!("unexpected answer {other:?}"))),
                        Err(e) => Err(e),
                    };
                    let agent = act.setup.agent.upgrade();
                    async move {
                        let (spec, missing) = result?;
                        let agent = agent.ok_or(Error::ShutDown)?;
                        let blobs = JobWorkers::fetch(agent, &spec, missing).await?;
                        Ok::<_, Error>((spec, blobs))
                    }
                    .into_actor(act)
                })
                .map(move |fetched, act, ctx| {
                    let started = fetched.map_err(|e| e.to_string()).and_then(|(spec, blobs)| {
                        for (hash, kind, bytes) in blobs {
                            act.blobs.store(hash, kind, &bytes)?;
                        }
                        act.spawn_worker(job_id, &spec, ctx)
                    });
                    let Some(w) = act.workers.get_mut(&job_id) else {
                        return;
                    };
                    // Who waits is answered when the worker joins (`LiveJobs`), or fails.
                    match started {
                        Ok(group) => {
                            tracing::info!(job_id = %job_id, pid = group.pid(), "job worker started");
                            w.group = Some(group);
                        }
                        Err(why) => {
                            tracing::warn!(job_id = %job_id, error = %why, "cannot start a worker for the job");
                            for waiter in std::mem::take(&mut w.waiters) {
                                let _ = waiter.send(Err(why.clone()));
                            }
                            act.workers.remove(&job_id);
                        }
                    }
                }),
        );
        answer
    }
}

/// What the head last said: the jobs it lists, with whether each is alive (workers of
/// ended jobs end), and the jobs whose worker here has joined the cluster (who waits
/// for it to start is answered then: work can be sent to it).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LiveJobs {
    pub(crate) jobs: Vec<(JobId, bool)>,
    pub(crate) joined: Vec<JobId>,
}

impl Handler<LiveJobs> for JobWorkers {
    type Result = ();

    fn handle(&mut self, LiveJobs { jobs, joined }: LiveJobs, _: &mut Context<Self>) {
        for (job_id, w) in self.workers.iter_mut() {
            if w.group.is_some() && joined.contains(job_id) {
                for waiter in std::mem::take(&mut w.waiters) {
                    let _ = waiter.send(Ok(()));
                }
            } else if w.group.is_some()
                && !w.waiters.is_empty()
                && w.since.elapsed() > JOIN_WAIT
                && let Some(group) = &w.group
            {
                tracing::warn!(job_id = %job_id, "the job's worker did not join the cluster in time: ended");
                group.kill();
            }
        }
        for (job_id, w) in &self.workers {
            let ended = match jobs.iter().find(|(id, _)| id == job_id) {
                Some((_, alive)) => !alive,
                None => w.since.elapsed() > UNLISTED_GRACE,
            };
            if ended && let Some(group) = &w.group {
                tracing::info!(job_id = %job_id, "the job ended: stopping its worker");
                group.kill();
            }
        }
    }
}

/// A job's worker process exited (sent by the thread that waits for it).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct WorkerExited {
    job_id: JobId,
    code: process::Exit,
}

impl Handler<WorkerExited> for JobWorkers {
    type Result = ();

    fn handle(&mut self, msg: WorkerExited, _: &mut Context<Self>) {
        // Its group drops with the entry: whatever the worker started ends too.
        if let Some(w) = self.workers.remove(&msg.job_id) {
            for waiter in w.waiters {
                let _ = waiter.send(Err(format!(
                    "the worker exited ({:?}) before it joined",
                    msg.code
                )));
            }
        }
        tracing::info!(job_id = %msg.job_id, code = ?msg.code, "job worker exited");
        if let Some(agent) = self.setup.agent.upgrade() {
            agent.do_send(crate::actors::WorkerGone(msg.job_id));
        }
    }
}
