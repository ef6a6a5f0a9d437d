//! One job's driver process: started from its verified build in a process group of its
//! own (so a stop reaches whatever it started), with the cluster's address and its job
//! id in its environment and its output in the job's log; a thread waits for it and
//! tells the manager how it ended.

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};

use actix::Recipient;
use rustix::process::{Pid, Signal, kill_process_group};

use super::DriverExited;
use crate::ids::JobId;
use crate::transport::JobSpec;

/// Variables of the head's own process that describe the head, not the job: a driver
/// must not inherit them (it would take the head's log file or port).
const HEAD_ONLY: [&str; 10] = [
    "RAY_NODE_MODE",
    "RAY_LOG_FILE",
    "RAY_PORT",
    "RAY_NUM_CPUS",
    "RAY_NUM_GPUS",
    "RAY_RESOURCES",
    "RAY_DASHBOARD",
    "RAY_DASHBOARD_HOST",
    "RAY_SESSION_DIR",
    "RAY_OBJECT_SPILLING_DIRECTORY",
];

/// What a driver is started from.
pub(super) struct Launch<'a> {
    pub(super) job_id: JobId,
    pub(super) program: &'a Path,
    pub(super) spec: &'a JobSpec,
    pub(super) cwd: Option<&'a Path>,
    pub(super) log: &'a Path,
    pub(super) address: &'a str,
}

/// A running driver's process group (its id is the driver's pid).
pub(super) struct Group(Pid);

impl Group {
    pub(super) fn pid(&self) -> u32 {
        self.0.as_raw_nonzero().get().unsigned_abs()
    }

    /// Asks every process of the group to end (SIGTERM).
    pub(super) fn terminate(&self) {
        let _ = kill_process_group(self.0, Signal::TERM);
    }

    /// Ends every process of the group now (SIGKILL); a group already gone is fine.
    pub(super) fn kill(&self) {
        let _ = kill_process_group(self.0, Signal::KILL);
    }
}

/// Starts the driver, and a thread that reports its end to `exited`.
pub(super) fn start(launch: Launch<'_>, exited: Recipient<DriverExited>) -> Result<Group, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(launch.log)
        .map_err(|e| format!("cannot create the job's log {}: {e}", launch.log.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(launch.program);
    for var in HEAD_ONLY {
        cmd.env_remove(var);
    }
    cmd.args(&launch.spec.args)
        .envs(launch.spec.env.iter().map(|(k, v)| (k, v)))
        .env("RAY_ADDRESS", launch.address)
        .env("RAY_JOB_ID", launch.job_id.to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0);
    if let Some(dir) = launch.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", launch.spec.program))?;
    let group = Group(Pid::from_child(&child));
    let job_id = launch.job_id;
    std::thread::Builder::new()
        .name(format!("ray-job-{job_id}"))
        .spawn(move || {
            let code = match child.wait() {
                Ok(status) => status.code().ok_or(status.signal()),
                Err(_) => Err(None),
            };
            exited.do_send(DriverExited { job_id, code });
        })
        .map_err(|e| {
            group.kill();
            format!("cannot watch the job's driver: {e}")
        })?;
    Ok(group)
}
