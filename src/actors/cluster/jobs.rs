//! Jobs in the agent: the head's table of every driver program it has heard from
//! (drivers send their job id with each heartbeat), alive while its heartbeats keep
//! coming; and `ray job` requests, which any node sends to the head's `JobManager`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{ClusterAgent, Role};
use crate::actors::JobManager;
use crate::actors::job_manager::JobCall;
use crate::ids::{JobId, NodeId};
use crate::transport::{JobReply, JobRequest, WireJob, WireMessage};
use crate::{Error, Result};

/// Head: its job manager, keeping its files under [`job_dir`]; `None`, with a warning,
/// when that cannot be made.
pub(super) fn manager(
    node_id: NodeId,
    join: &crate::transport::JoinAddress,
    agent: Recipient<JobEnded>,
) -> Option<Addr<JobManager>> {
    match JobManager::new(job_dir(node_id), join.to_string(), agent) {
        // Uploads are hashed and written off the node's thread: a large build would
        // otherwise hold up the agent's heartbeats.
        Ok(manager) => Some(JobManager::start_in_arbiter(
            &actix::Arbiter::new().handle(),
            |_| manager,
        )),
        Err(why) => {
            tracing::warn!(node_id = %node_id, error = %why, "no job submission on this head");
            None
        }
    }
}

/// Where a node keeps jobs' builds, working directories and logs: `RAY_SESSION_DIR/jobs`
/// (which `ray start` sets to its private state directory), else a new private
/// directory in the temporary directory.
pub(super) fn job_dir(node_id: NodeId) -> std::path::PathBuf {
    match std::env::var_os("RAY_SESSION_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir).join("jobs"),
        None => std::env::temp_dir().join(format!("ray-jobs-{node_id}")),
    }
}

/// A `ray job` request from this node's own code, sent to the head.
#[derive(Message)]
#[rtype(result = "Result<(JobReply, Vec<u8>)>")]
pub(crate) struct AskJobs {
    pub(crate) request: JobRequest,
    /// An upload's bytes.
    pub(crate) payload: Vec<u8>,
}

impl Handler<AskJobs> for ClusterAgent {
    type Result = ResponseFuture<Result<(JobReply, Vec<u8>)>>;

    fn handle(&mut self, msg: AskJobs, _: &mut Context<Self>) -> Self::Result {
        let answer = match (&self.role, self.head_id()) {
            (Role::Head, _) => self.job_request(msg.request, msg.payload),
            (_, Some(head)) => {
                let sent = self.request(
                    head,
                    None,
                    WireMessage::Job {
                        request: msg.request,
                    },
                    msg.payload,
                );
                async move {
                    sent.await.unwrap_or_else(|e| {
                        let message = e.to_string();
                        (WireMessage::Error { message }, Vec::new())
                    })
                }
                .boxed()
            }
            (_, None) => {
                return Box::pin(async { Err(Error::NotConnected("the head is unknown".into())) });
            }
        };
        Box::pin(async move {
            match answer.await {
                (WireMessage::JobReply { reply }, bulk) => Ok((reply, bulk)),
                (WireMessage::Error { message }, _) => Err(Error::Job(message)),
                (other, _) => Err(Error::Serialization(format!("unexpected answer {other:?}"))),
            }
        })
    }
}

impl ClusterAgent {
    /// Head: serves a `ray job` request with its job manager.
    pub(super) fn job_request(
        &self,
        request: JobRequest,
        payload: Vec<u8>,
    ) -> BoxFuture<'static, (WireMessage, Vec<u8>)> {
        let Some(manager) = self.submissions.clone() else {
            let message = "this head takes no job submissions (its job directory could not be made: see its log)".to_string();
            return async move { (WireMessage::Error { message }, Vec::new()) }.boxed();
        };
        async move {
            match manager.send(JobCall { request, payload }).await {
                Ok(Ok((reply, bulk))) => (WireMessage::JobReply { reply }, bulk),
                Ok(Err(message)) => (WireMessage::Error { message }, Vec::new()),
                Err(_) => (
                    WireMessage::Error {
                        message: "the head's job manager stopped".into(),
                    },
                    Vec::new(),
                ),
            }
        }
        .boxed()
    }
}
/// Finished jobs kept for `ray status`; older ones are forgotten.
const KEEP_FINISHED: usize = 100;

#[derive(Default)]
pub(super) struct Jobs(BTreeMap<JobId, Entry>);

struct Entry {
    /// Its driver exited (the head's job manager saw it): it ends now, not a node
    /// timeout later.
    ended: bool,
    driver: NodeId,
    at: Option<super::NodeAddr>,
    started: Instant,
    seen: Instant,
}

impl Jobs {
    /// A driver's heartbeat, with where it listens.
    pub(super) fn heard(&mut self, job_id: JobId, driver: NodeId, at: Option<super::NodeAddr>) {
        let now = Instant::now();
        let e = self.0.entry(job_id).or_insert_with(|| {
            tracing::info!(job_id = %job_id, driver = %driver, "job started");
            Entry {
                ended: false,
                driver,
                at,
                started: now,
                seen: now,
            }
        });
        e.seen = now;
    }

    /// A submitted job's driver exited: the job ends now.
    fn ended(&mut self, job_id: JobId) {
        if let Some(e) = self.0.get_mut(&job_id) {
            e.ended = true;
        }
    }

    /// The table as members see it; a job not heard from within `timeout` has ended.
    pub(super) fn view(&mut self, timeout: Duration) -> Vec<WireJob> {
        let finished: Vec<JobId> = self
            .0
            .iter()
            .filter(|(_, e)| e.ended || e.seen.elapsed() > timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in finished
            .iter()
            .take(finished.len().saturating_sub(KEEP_FINISHED))
        {
            self.0.remove(id);
        }
        self.0
            .iter()
            .map(|(id, e)| WireJob {
                job_id: *id,
                driver: e.driver,
                alive: !e.ended && e.seen.elapsed() <= timeout,
                age_s: e.started.elapsed().as_secs_f64(),
                at: e.at,
            })
            .collect()
    }
}

/// Head: a submitted job's driver exited.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct JobEnded(pub(crate) JobId);

impl Handler<JobEnded> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, JobEnded(job_id): JobEnded, _: &mut Context<Self>) {
        self.jobs.ended(job_id);
    }
}
