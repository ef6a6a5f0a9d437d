//! A job's processes (its driver on the head, its workers on generic nodes): started
//! from the job's verified build in a process group of their own (so a stop reaches
//! whatever they started), with the cluster's address and the job's id in their
//! environment and their output in a log file; a thread waits for each and reports how
//! it ended.

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};

use rustix::process::{Pid, Signal, kill_process_group};

/// Variables of the starting node's own process that describe that node, not the job: a
/// job's process must not inherit them (it would take the node's log file or port).
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

/// What a job's process is started from.
pub(super) struct Launch<'a> {
    pub(super) program: &'a Path,
    pub(super) args: &'a [String],
    /// The job's own variables, then ours (which win).
    pub(super) env: Vec<(String, String)>,
    pub(super) cwd: Option<&'a Path>,
    pub(super) log: &'a Path,
    /// For the waiting thread's name.
    pub(super) what: String,
}

/// How a process ended: its exit code, or the signal that ended it (if known).
pub(super) type Exit = Result<i32, Option<i32>>;

/// A running process's group (its id is the process's pid). Dropped, whatever runs in
/// it is killed: a job's processes never outlive the record that started them.
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

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the process, and a thread that reports its end to `exited`.
pub(super) fn start(
    launch: Launch<'_>,
    exited: impl FnOnce(Exit) + Send + 'static,
) -> Result<Group, String> {
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
    cmd.args(launch.args)
        .envs(launch.env)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0);
    if let Some(dir) = launch.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", launch.program.display()))?;
    let group = Group(Pid::from_child(&child));
    std::thread::Builder::new()
        .name(launch.what)
        .spawn(move || {
            let code = match child.wait() {
                Ok(status) => status.code().ok_or(status.signal()),
                Err(_) => Err(None),
            };
            exited(code);
        })
        // Unwatched, it is killed (`group` drops).
        .map_err(|e| format!("cannot watch the job's process: {e}"))?;
    Ok(group)
}
