//! The `ray` binary run as a user runs it, with a state directory of its own per test
//! (`RAY_TMPDIR`) and fast heartbeats; dropping a [`Cli`] runs `ray stop`.

use std::process::Command;

/// Which `ray` processes a test started: the state directory of one `ray start` set.
pub struct Cli {
    pub dir: std::path::PathBuf,
}

impl Cli {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ray-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self { dir }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ray"));
        c.args(args)
            .env("RAY_TMPDIR", &self.dir)
            .env("RAY_HEARTBEAT_MS", "100")
            .env("RAY_NODE_TIMEOUT_MS", "1000")
            .env("RAY_LOG", "info");
        c
    }

    pub fn run(&self, args: &[&str]) -> (bool, String) {
        let out = self.command(args).output().expect("run ray");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    pub fn pids(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("pids"))
            .unwrap_or_default()
            .lines()
            // `PID START_TIME`
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.run(&["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}
