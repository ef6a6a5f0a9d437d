//! What `ray job` asks of a cluster's head and what it answers: uploads of builds and
//! working directories (content-addressed), submissions, the job list, logs and stops.
//! These travel inside [`super::WireMessage::Job`] and [`super::WireMessage::JobReply`].

use serde::{Deserialize, Serialize};

use crate::ids::JobId;

/// Largest working directory a job may upload (the sum of its files' sizes): 100 MiB.
pub const MAX_WORKING_DIR_BYTES: u64 = 100 << 20;

/// A SHA-256 digest: the name of an uploaded build or working directory.
pub type ContentHash = [u8; 32];

/// What an upload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobKind {
    /// An executable for the cluster's platform.
    Build,
    /// A packed working directory.
    WorkingDir,
}

/// A request to the head's job manager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobRequest {
    /// Which of these blobs the head does not store yet. Answered by `Missing`.
    Have {
        /// The blobs, by content hash.
        hashes: Vec<ContentHash>,
    },
    /// Stores the request's bulk payload, whose SHA-256 must be `hash`. Answered by
    /// `Stored`.
    Upload {
        /// The payload's SHA-256.
        hash: ContentHash,
        /// What it is (a build is checked to be an executable for this platform).
        kind: BlobKind,
    },
    /// Starts a job: its driver runs on the head's machine. Answered by `Submitted`.
    Submit(JobSpec),
    /// Every job submitted to this head. Answered by `Jobs`.
    List,
    /// Up to a reply's worth of a job's output from byte `offset`. Answered by `Logs`.
    Logs {
        /// The job.
        job_id: JobId,
        /// Where to read from.
        offset: u64,
    },
    /// Stops a job: its driver gets SIGTERM, then SIGKILL after a grace period.
    /// Answered by `Jobs` with the job's record.
    Stop {
        /// The job.
        job_id: JobId,
    },
    /// A submitted job's spec, for a node that starts the job's workers. Answered by
    /// `Spec`.
    Describe {
        /// The job.
        job_id: JobId,
    },
    /// A stored blob, as the answer's bulk payload. Answered by `Blob`.
    Fetch {
        /// Its content hash.
        hash: ContentHash,
        /// What it is.
        kind: BlobKind,
    },
}

/// A job to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The uploaded build to run.
    pub build: ContentHash,
    /// The build's file name as submitted, for listings.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables set for the job's processes.
    pub env: Vec<(String, String)>,
    /// The uploaded working directory, the job's current directory.
    pub working_dir: Option<ContentHash>,
}

/// Where a job is in its life, as Ray names the states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Accepted, its driver not started yet.
    Pending,
    /// Its driver runs.
    Running,
    /// Its driver exited with status 0.
    Succeeded,
    /// Its driver exited otherwise, or could not start.
    Failed,
    /// Stopped by `ray job stop`.
    Stopped,
}

impl JobState {
    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Stopped)
    }

    /// Ray's name for the state (`RUNNING`, `SUCCEEDED`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Stopped => "STOPPED",
        }
    }
}

/// One submitted job as the head records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job (its driver runs under this id).
    pub job_id: JobId,
    /// Where it is.
    pub state: JobState,
    /// The program and its arguments, as submitted.
    pub entrypoint: String,
    /// When it was submitted, in seconds since the Unix epoch.
    pub start_time_s: f64,
    /// When it ended.
    pub end_time_s: Option<f64>,
    /// The driver's exit status, when it exited (`None` if a signal ended it).
    pub exit_code: Option<i32>,
    /// Why it failed or stopped.
    pub message: Option<String>,
    /// The driver's process id on the head's machine, while it runs.
    pub driver_pid: Option<u32>,
}

/// The head's answer to a [`JobRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobReply {
    /// The blobs asked about that the head does not store.
    Missing {
        /// Their content hashes.
        hashes: Vec<ContentHash>,
    },
    /// The upload was stored (or was there already).
    Stored,
    /// The job was accepted.
    Submitted {
        /// Its id.
        job_id: JobId,
    },
    /// Job records.
    Jobs {
        /// The records, oldest first.
        jobs: Vec<JobRecord>,
    },
    /// A job's spec.
    Spec(JobSpec),
    /// A blob's bytes follow as the bulk payload.
    Blob,
    /// Part of a job's output.
    Logs {
        /// The bytes from the asked offset.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// Whether the job has ended and this reply reaches the end of its output.
        done: bool,
    },
}

/// What a generic node, the job worker processes it starts, and the head say to each
/// other (inside [`super::WireMessage::Worker`]); each is answered by `Ack` or `Error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkerRequest {
    /// To a generic node: start a worker process of job `job_id` there, unless one runs.
    Start {
        /// The job.
        job_id: JobId,
    },
    /// From a job worker to its generic node: holds `resources` of that node's for one
    /// task, answered once they are free (the machine's resources are shared by every
    /// job's workers).
    Lease {
        /// The resources.
        resources: Vec<(String, f64)>,
    },
    /// From a job worker to its generic node: gives a lease back.
    Return {
        /// The resources.
        resources: Vec<(String, f64)>,
        /// The GPU ids the lease was granted.
        gpus: Vec<u32>,
    },
    /// To a job worker, from a node that force-cancelled task `task_id` running there:
    /// the worker process ends (as Ray's `cancel(force=True)` ends the worker).
    End {
        /// The cancelled task, for the worker's log.
        task_id: crate::ids::TaskId,
    },
    /// From a generic node to the head: its worker process of job `job_id` exited.
    Exited {
        /// The job.
        job_id: JobId,
    },
}
