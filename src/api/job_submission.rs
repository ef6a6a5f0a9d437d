//! Submitting programs to a standing cluster, as `ray job submit` does (Ray's
//! `JobSubmissionClient`). A job is a compiled program: its binary (and working
//! directory) go to the head once, named by their SHA-256, and the head runs it as the
//! job's driver on its machine with `RAY_ADDRESS` set, so its `ray::init()` joins the
//! cluster. These calls need the caller's runtime to be joined to that cluster
//! (`Config::address`); a tool that only submits joins with `Config::without_job`.
//!
//! # Examples
//! ```
//! use ray::job_submission::{JobState, JobSubmission};
//!
//! // A head of our own; any executable for the cluster's machine is a job's driver.
//! ray::init_with(ray::Config::new().head()).unwrap();
//! let job = JobSubmission::new("/bin/echo").arg("hello from a job");
//! let first = ray::job_submission::submit_job(&job).unwrap();
//! let info = ray::job_submission::wait_job(first.job_id).unwrap();
//! assert_eq!(info.state, JobState::Succeeded);
//! let logs = ray::job_submission::get_job_logs(first.job_id, 0).unwrap();
//! assert_eq!(logs.data, b"hello from a job\n");
//! // The same build again: nothing is uploaded.
//! let again = ray::job_submission::submit_job(&job).unwrap();
//! assert_eq!(again.uploaded_bytes, 0);
//! ray::shutdown();
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::actors::{AskJobs, NodeActors, pack_dir};
use crate::ids::JobId;
use crate::node::{block_on, current_node};
use crate::transport::{BlobKind, ContentHash, JobReply, JobRequest, JobSpec, sha256};
use crate::{Error, Result};

pub use crate::transport::{JobRecord, JobState, MAX_WORKING_DIR_BYTES};

/// A program to run as a job: its binary, arguments, environment and working directory.
///
/// # Examples
/// ```
/// let job = ray::job_submission::JobSubmission::new("./target/release/app")
///     .args(["--rounds", "3"])
///     .env("RUST_LOG", "info")
///     .working_dir("./data");
/// assert_eq!(job.program(), std::path::Path::new("./target/release/app"));
/// ```
#[derive(Debug, Clone)]
pub struct JobSubmission {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    working_dir: Option<PathBuf>,
}

impl JobSubmission {
    /// A job that runs `program` (an executable for the cluster's machines).
    ///
    /// # Examples
    /// ```
    /// let job = ray::job_submission::JobSubmission::new("/bin/true");
    /// assert_eq!(job.program(), std::path::Path::new("/bin/true"));
    /// ```
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
        }
    }

    /// The program's path on this machine.
    ///
    /// # Examples
    /// ```
    /// let job = ray::job_submission::JobSubmission::new("app");
    /// assert_eq!(job.program().to_str(), Some("app"));
    /// ```
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Adds one argument.
    ///
    /// # Examples
    /// ```
    /// let job = ray::job_submission::JobSubmission::new("/bin/echo").arg("hi");
    /// ```
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    ///
    /// # Examples
    /// ```
    /// let job = ray::job_submission::JobSubmission::new("/bin/echo").args(["a", "b"]);
    /// ```
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the job's processes.
    ///
    /// # Examples
    /// ```
    /// let job = ray::job_submission::JobSubmission::new("/bin/env").env("GREETING", "hi");
    /// ```
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Uploads `dir` (its regular files, at most [`MAX_WORKING_DIR_BYTES`] in all) as the
    /// job's current directory.
    ///
    /// # Examples
    /// ```
    /// let job = ray::job_submission::JobSubmission::new("/bin/ls").working_dir("./data");
    /// ```
    pub fn working_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }
}

/// An accepted submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// The job's id (its driver runs under it).
    pub job_id: JobId,
    /// Bytes uploaded for it: 0 when the cluster had its build and working directory.
    pub uploaded_bytes: u64,
}

/// Part of a job's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// The bytes from the offset asked for.
    pub data: Vec<u8>,
    /// Whether the job has ended and `data` reaches the end of its output.
    pub done: bool,
}

fn ask(request: JobRequest, payload: Vec<u8>) -> Result<JobReply> {
    let node = current_node()?;
    let agent = node.actors().cluster.get().cloned().ok_or_else(|| {
        Error::NotConnected(
            "jobs run on a cluster: join one with Config::address (RAY_ADDRESS), or start a head"
                .into(),
        )
    })?;
    block_on(agent.send(AskJobs { request, payload }))
        .map_err(|_| Error::ShutDown)?
        .map(|(reply, _)| reply)
}

fn unexpected(reply: JobReply) -> Error {
    Error::Serialization(format!("unexpected answer from the head: {reply:?}"))
}

/// Uploads `bytes` as `kind` unless the head has them; the bytes sent.
fn upload(hash: ContentHash, kind: BlobKind, bytes: Vec<u8>) -> Result<u64> {
    match ask(JobRequest::Have { hashes: vec![hash] }, Vec::new())? {
        JobReply::Missing { hashes } if hashes.is_empty() => return Ok(0),
        JobReply::Missing { .. } => {}
        other => return Err(unexpected(other)),
    }
    let len = bytes.len() as u64;
    match ask(JobRequest::Upload { hash, kind }, bytes)? {
        JobReply::Stored => Ok(len),
        other => Err(unexpected(other)),
    }
}

/// Submits a job: uploads what the cluster lacks of it, then starts its driver on the
/// head's machine. It returns once the driver started (or failed to).
///
/// # Errors
/// [`Error::InvalidArgument`] when the program or working directory cannot be read or
/// the directory is over [`MAX_WORKING_DIR_BYTES`]; [`Error::Job`] when the head
/// refuses it (for example a program that is not an executable for its machine);
/// [`Error::NotConnected`] when this runtime is not part of a cluster.
///
/// # Examples
/// ```
/// ray::init_with(ray::Config::new().head()).unwrap();
/// let not_a_program = std::env::temp_dir().join("ray-doc-not-a-program.sh");
/// std::fs::write(&not_a_program, "#!/bin/sh\necho hi\n").unwrap();
/// let job = ray::job_submission::JobSubmission::new(&not_a_program);
/// let err = ray::job_submission::submit_job(&job).unwrap_err();
/// assert!(err.to_string().contains("not an ELF executable"), "{err}");
/// ray::shutdown();
/// ```
pub fn submit_job(job: &JobSubmission) -> Result<Submitted> {
    let bytes = std::fs::read(&job.program).map_err(|e| {
        Error::InvalidArgument(format!("cannot read {}: {e}", job.program.display()))
    })?;
    let build = sha256(&bytes);
    let mut uploaded_bytes = upload(build, BlobKind::Build, bytes)?;
    let working_dir = match &job.working_dir {
        Some(dir) => {
            let packed = pack_dir(dir).map_err(Error::InvalidArgument)?;
            let hash = sha256(&packed);
            uploaded_bytes += upload(hash, BlobKind::WorkingDir, packed)?;
            Some(hash)
        }
        None => None,
    };
    let spec = JobSpec {
        build,
        program: job.program.file_name().map_or_else(
            || job.program.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        args: job.args.clone(),
        env: job.env.clone(),
        working_dir,
    };
    match ask(JobRequest::Submit(spec), Vec::new())? {
        JobReply::Submitted { job_id } => Ok(Submitted {
            job_id,
            uploaded_bytes,
        }),
        other => Err(unexpected(other)),
    }
}

/// Every job submitted to the cluster, oldest first.
///
/// # Errors
/// [`Error::NotConnected`] when this runtime is not part of a cluster.
///
/// # Examples
/// ```
/// ray::init_with(ray::Config::new().head()).unwrap();
/// assert!(ray::job_submission::list_jobs().unwrap().is_empty());
/// ray::shutdown();
/// ```
pub fn list_jobs() -> Result<Vec<JobRecord>> {
    match ask(JobRequest::List, Vec::new())? {
        JobReply::Jobs { jobs } => Ok(jobs),
        other => Err(unexpected(other)),
    }
}

/// One job's record.
///
/// # Errors
/// [`Error::Job`] when no such job was submitted.
///
/// # Examples
/// ```
/// ray::init_with(ray::Config::new().head()).unwrap();
/// let unknown: ray::JobId = "job-00000001".parse().unwrap();
/// assert!(matches!(ray::job_submission::get_job_info(unknown), Err(ray::Error::Job(_))));
/// ray::shutdown();
/// ```
pub fn get_job_info(job_id: JobId) -> Result<JobRecord> {
    list_jobs()?
        .into_iter()
        .find(|j| j.job_id == job_id)
        .ok_or_else(|| Error::Job(format!("no job {job_id} was submitted to this cluster")))
}

/// Waits until the job ends; its final record.
///
/// # Errors
/// As [`get_job_info`].
///
/// # Examples
/// ```
/// ray::init_with(ray::Config::new().head()).unwrap();
/// let job = ray::job_submission::JobSubmission::new("/bin/false");
/// let id = ray::job_submission::submit_job(&job).unwrap().job_id;
/// let info = ray::job_submission::wait_job(id).unwrap();
/// assert_eq!((info.state, info.exit_code), (ray::job_submission::JobState::Failed, Some(1)));
/// ray::shutdown();
/// ```
pub fn wait_job(job_id: JobId) -> Result<JobRecord> {
    loop {
        let info = get_job_info(job_id)?;
        if info.state.is_terminal() {
            return Ok(info);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A job's output (standard output and error, as written) from byte `offset`, up to
/// 1 MiB at a time: follow a job by asking again from `offset + data.len()` until
/// `done`.
///
/// # Errors
/// [`Error::Job`] when no such job was submitted.
///
/// # Examples
/// ```
/// ray::init_with(ray::Config::new().head()).unwrap();
/// let job = ray::job_submission::JobSubmission::new("/bin/echo").arg("abc");
/// let id = ray::job_submission::submit_job(&job).unwrap().job_id;
/// ray::job_submission::wait_job(id).unwrap();
/// let tail = ray::job_submission::get_job_logs(id, 2).unwrap();
/// assert_eq!((tail.data.as_slice(), tail.done), (&b"c\n"[..], true));
/// ray::shutdown();
/// ```
pub fn get_job_logs(job_id: JobId, offset: u64) -> Result<LogChunk> {
    match ask(JobRequest::Logs { job_id, offset }, Vec::new())? {
        JobReply::Logs { data, done } => Ok(LogChunk { data, done }),
        other => Err(unexpected(other)),
    }
}

/// Stops a job: its driver's process group gets SIGTERM, and SIGKILL 3 s later if it
/// has not exited. Its record as it was when the stop was sent.
///
/// # Errors
/// [`Error::Job`] when no such job was submitted.
///
/// # Examples
/// ```
/// ray::init_with(ray::Config::new().head()).unwrap();
/// let job = ray::job_submission::JobSubmission::new("/bin/sleep").arg("60");
/// let id = ray::job_submission::submit_job(&job).unwrap().job_id;
/// ray::job_submission::stop_job(id).unwrap();
/// let info = ray::job_submission::wait_job(id).unwrap();
/// assert_eq!(info.state, ray::job_submission::JobState::Stopped);
/// ray::shutdown();
/// ```
pub fn stop_job(job_id: JobId) -> Result<JobRecord> {
    match ask(JobRequest::Stop { job_id }, Vec::new())? {
        JobReply::Jobs { mut jobs } if !jobs.is_empty() => Ok(jobs.remove(0)),
        other => Err(unexpected(other)),
    }
}
