//! The head's job manager (Ray's `JobManager` and `JobSupervisor`): keeps the builds and
//! working directories `ray job submit` uploads (`blobs.rs`), runs each submitted job's
//! driver on the head's machine in a process group of its own with its output in a log
//! file (`driver.rs`), and records each job's state for `ray job list|status|logs|stop`.

mod blobs;
mod process;
mod workers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use actix::prelude::*;

pub(crate) use blobs::pack_dir;
pub(crate) use workers::{JobWorkers, LiveJobs, StartWorker, WorkerSetup};

use crate::ids::JobId;
use crate::transport::{JobRecord, JobReply, JobRequest, JobSpec, JobState};

/// Finished jobs kept for `ray job list`; the oldest finished ones are forgotten.
const KEEP_FINISHED: usize = 1000;

/// Largest piece of a job's log one `Logs` reply carries.
const LOG_CHUNK: u64 = 1 << 20;

/// How long a stopped job's driver has between SIGTERM and SIGKILL (Ray's
/// `RAY_JOB_STOP_WAIT_TIME_S` default).
const STOP_GRACE: Duration = Duration::from_secs(3);

pub(crate) struct JobManager {
    /// The cluster's join address, handed to each driver (`RAY_ADDRESS`).
    address: String,
    blobs: blobs::Blobs,
    /// Where each job's output goes (`job-driver-ID.log`).
    logs: PathBuf,
    jobs: BTreeMap<JobId, Job>,
    /// Submission order, for listings.
    order: Vec<JobId>,
    /// Told when a job's driver exits (the head's job table ends the job at once).
    ended: Recipient<crate::actors::JobEnded>,
}

struct Job {
    record: JobRecord,
    /// What was submitted (nodes that start the job's workers ask for it).
    spec: JobSpec,
    log: PathBuf,
    /// Its driver's process group, while it runs.
    group: Option<process::Group>,
    stopping: bool,
}

impl JobManager {
    /// A manager keeping its files under `root` (created 0700 when missing).
    pub(crate) fn new(
        root: PathBuf,
        address: String,
        ended: Recipient<crate::actors::JobEnded>,
    ) -> Result<Self, String> {
        let blobs = blobs::Blobs::new(root.clone())?;
        let logs = root.join("logs");
        if !logs.exists() {
            blobs::private_dir(&logs)?;
        }
        Ok(Self {
            address,
            blobs,
            logs,
            jobs: BTreeMap::new(),
            order: Vec::new(),
            ended,
        })
    }

    fn record(&self, job_id: JobId) -> Result<&Job, String> {
        self.jobs
            .get(&job_id)
            .ok_or_else(|| format!("no job {job_id} was submitted to this cluster"))
    }

    fn submit(&mut self, spec: JobSpec, ctx: &mut Context<Self>) -> Result<JobReply, String> {
        let build = self.blobs.build(&spec.build)?;
        let cwd = match &spec.working_dir {
            Some(hash) => Some(self.blobs.working_dir(hash)?),
            None => None,
        };
        let job_id = JobId::new();
        let log = self.logs.join(format!("job-driver-{job_id}.log"));
        let entrypoint = std::iter::once(spec.program.as_str())
            .chain(spec.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let mut record = JobRecord {
            job_id,
            state: JobState::Pending,
            entrypoint,
            start_time_s: unix_now(),
            end_time_s: None,
            exit_code: None,
            message: None,
            driver_pid: None,
        };
        let launch = process::Launch {
            program: &build,
            args: &spec.args,
            env: job_env(&spec, &self.address, job_id),
            cwd: cwd.as_deref(),
            log: &log,
            what: format!("ray-job-{job_id}"),
        };
        let exited = ctx.address().recipient();
        let report = move |code| exited.do_send(DriverExited { job_id, code });
        let group = match process::start(launch, report) {
            Ok(group) => {
                record.state = JobState::Running;
                record.driver_pid = Some(group.pid());
                tracing::info!(job_id = %job_id, pid = group.pid(), entrypoint = %record.entrypoint, "job started");
                Some(group)
            }
            Err(why) => {
                tracing::warn!(job_id = %job_id, error = %why, "job failed to start");
                record.state = JobState::Failed;
                record.end_time_s = Some(unix_now());
                record.message = Some(why);
                None
            }
        };
        self.jobs.insert(
            job_id,
            Job {
                record,
                spec,
                log,
                group,
                stopping: false,
            },
        );
        self.order.push(job_id);
        self.forget_old();
        Ok(JobReply::Submitted { job_id })
    }

    /// Forgets the oldest finished jobs beyond [`KEEP_FINISHED`] (their logs stay).
    fn forget_old(&mut self) {
        let finished = self
            .order
            .iter()
            .filter(|id| {
                self.jobs
                    .get(id)
                    .is_some_and(|j| j.record.state.is_terminal())
            })
            .count();
        let mut extra = finished.saturating_sub(KEEP_FINISHED);
        let jobs = &mut self.jobs;
        self.order.retain(|id| {
            let drop = extra > 0 && jobs.get(id).is_some_and(|j| j.record.state.is_terminal());
            if drop {
                jobs.remove(id);
                extra -= 1;
            }
            !drop
        });
    }

    fn logs(&self, job_id: JobId, offset: u64) -> Result<JobReply, String> {
        use std::io::{Read, Seek, SeekFrom};
        let job = self.record(job_id)?;
        // Whether it had ended before the read: then everything it wrote is in the file.
        let ended = job.record.state.is_terminal();
        let mut data = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&job.log) {
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.take(LOG_CHUNK).read_to_end(&mut data))
                .map_err(|e| format!("cannot read the job's log: {e}"))?;
        }
        let done = ended && (data.len() as u64) < LOG_CHUNK;
        Ok(JobReply::Logs { data, done })
    }

    fn stop(&mut self, job_id: JobId, ctx: &mut Context<Self>) -> Result<JobReply, String> {
        let job = self
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| format!("no job {job_id} was submitted to this cluster"))?;
        if let Some(group) = &job.group
            && !job.stopping
        {
            tracing::info!(job_id = %job_id, "stopping job");
            job.stopping = true;
            group.terminate();
            ctx.run_later(STOP_GRACE, move |act, _| {
                if let Some(group) = act.jobs.get(&job_id).and_then(|j| j.group.as_ref()) {
                    tracing::warn!(job_id = %job_id, "job did not stop within its grace period: killed");
                    group.kill();
                }
            });
        }
        Ok(JobReply::Jobs {
            jobs: vec![job.record.clone()],
        })
    }
}

/// The environment of a job's processes: what it was submitted with, then the
/// cluster's address and its id (which the runtime reads in `ray::init`).
fn job_env(spec: &JobSpec, address: &str, job_id: JobId) -> Vec<(String, String)> {
    let mut env = spec.env.clone();
    env.push(("RAY_ADDRESS".into(), address.into()));
    env.push(("RAY_JOB_ID".into(), job_id.to_string()));
    env
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The cluster ends its jobs when it ends, as Ray's do: the manager is dropped when the
/// head's node stops, and with it each driver's `Group`.
impl Actor for JobManager {
    type Context = Context<Self>;
}

/// A `ray job` request that reached the head, with its upload's bytes; answered with
/// the reply and its bulk payload (a fetched blob).
#[derive(Message)]
#[rtype(result = "Result<(JobReply, Vec<u8>), String>")]
pub(crate) struct JobCall {
    pub(crate) request: JobRequest,
    pub(crate) payload: Vec<u8>,
}

impl Handler<JobCall> for JobManager {
    type Result = Result<(JobReply, Vec<u8>), String>;

    fn handle(&mut self, msg: JobCall, ctx: &mut Context<Self>) -> Self::Result {
        let reply = match msg.request {
            JobRequest::Have { hashes } => JobReply::Missing {
                hashes: self.blobs.missing(&hashes),
            },
            JobRequest::Upload { hash, kind } => {
                self.blobs.store(hash, kind, &msg.payload)?;
                JobReply::Stored
            }
            JobRequest::Submit(spec) => self.submit(spec, ctx)?,
            JobRequest::List => JobReply::Jobs {
                jobs: self
                    .order
                    .iter()
                    .filter_map(|id| self.jobs.get(id))
                    .map(|j| j.record.clone())
                    .collect(),
            },
            JobRequest::Logs { job_id, offset } => self.logs(job_id, offset)?,
            JobRequest::Stop { job_id } => self.stop(job_id, ctx)?,
            JobRequest::Describe { job_id } => JobReply::Spec(self.record(job_id)?.spec.clone()),
            JobRequest::Fetch { hash, kind } => {
                return Ok((JobReply::Blob, self.blobs.read(&hash, kind)?));
            }
        };
        Ok((reply, Vec::new()))
    }
}

/// A job's driver exited (sent by the thread that waits for it).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct DriverExited {
    job_id: JobId,
    code: process::Exit,
}

impl Handler<DriverExited> for JobManager {
    type Result = ();

    fn handle(&mut self, msg: DriverExited, _: &mut Context<Self>) {
        let Some(job) = self.jobs.get_mut(&msg.job_id) else {
            return;
        };
        // Whatever the driver left running in its group ends with it.
        job.group = None;
        let r = &mut job.record;
        r.end_time_s = Some(unix_now());
        r.driver_pid = None;
        (r.state, r.exit_code, r.message) = match msg.code {
            _ if job.stopping => (
                JobState::Stopped,
                msg.code.ok(),
                Some("stopped by `ray job stop`".into()),
            ),
            Ok(0) => (JobState::Succeeded, Some(0), None),
            Ok(code) => (
                JobState::Failed,
                Some(code),
                Some(format!("the driver exited with status {code}")),
            ),
            Err(signal) => (
                JobState::Failed,
                None,
                Some(match signal {
                    Some(s) => format!("the driver was killed by signal {s}"),
                    None => "the driver ended abnormally".into(),
                }),
            ),
        };
        tracing::info!(job_id = %msg.job_id, state = r.state.name(), exit_code = ?r.exit_code, "job ended");
        self.ended.do_send(crate::actors::JobEnded(msg.job_id));
    }
}
