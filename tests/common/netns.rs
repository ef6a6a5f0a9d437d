//! Separate hosts on one machine: each host is a network namespace with its own address
//! on one bridge (10.88.0.N/24, N = 1, 2, ...) and its own loopback, so 127.0.0.1 of one
//! host is not another's. Needs root and iproute2 (`scripts/test.sh` installs it); CI
//! runs as root. Everything is removed when the [`Hosts`] value is dropped, processes
//! running inside first.

use std::process::{Command, Output};

/// Hosts on one bridge; dropped, they and everything running in them are gone.
pub struct Hosts {
    prefix: String,
    count: usize,
}

fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `ip` ({e}): install iproute2 (scripts/test.sh does)")
    });
    assert!(
        out.status.success(),
        "`ip {}` failed (these tests need root): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Hosts {
    /// `count` hosts named after `tag` (unique per test process).
    pub fn new(tag: &str, count: usize) -> Hosts {
        let prefix = format!("r{}{tag}", std::process::id());
        let hosts = Hosts { prefix, count };
        let br = hosts.bridge();
        ip(&["netns", "add", &br]);
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &br, "link", "set", "br0", "up"]);
        for i in 1..=count {
            let h = hosts.name(i);
            let v = format!("v{i}");
            ip(&["netns", "add", &h]);
            ip(&[
                "-n", &br, "link", "add", &v, "type", "veth", "peer", "name", "eth0", "netns", &h,
            ]);
            ip(&["-n", &br, "link", "set", &v, "master", "br0", "up"]);
            ip(&["-n", &h, "link", "set", "lo", "up"]);
            ip(&[
                "-n",
                &h,
                "addr",
                "add",
                &format!("{}/24", hosts.addr(i)),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &h, "link", "set", "eth0", "up"]);
            ip(&["-n", &h, "route", "add", "default", "dev", "eth0"]);
        }
        hosts
    }

    fn bridge(&self) -> String {
        format!("{}br", self.prefix)
    }

    /// The namespace of host `i` (from 1).
    pub fn name(&self, i: usize) -> String {
        format!("{}h{i}", self.prefix)
    }

    /// Host `i`'s address on the bridge.
    pub fn addr(&self, i: usize) -> String {
        format!("10.88.0.{i}")
    }

    /// A command that runs `program` on host `i`.
    pub fn command(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name(i)]).arg(program);
        c
    }

    /// Runs `ip ARGS` inside host `i` (e.g. to add an address).
    pub fn ip(&self, i: usize, args: &[&str]) {
        let mut all = vec!["-n".to_string(), self.name(i)];
        all.extend(args.iter().map(|a| a.to_string()));
        ip(&all.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// The processes running on host `i`.
    pub fn pids(&self, i: usize) -> Vec<String> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.name(i)])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.split_whitespace().map(str::to_string).collect()
    }

    /// Kills every process on host `i` with SIGKILL, as pulling its power would; returns
    /// how many there were.
    pub fn kill_all(&self, i: usize) -> usize {
        let pids = self.pids(i);
        for p in &pids {
            let _ = Command::new("kill").args(["-9", p]).status();
        }
        pids.len()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 1..=self.count {
            self.kill_all(i);
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name(i)])
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.bridge()])
            .status();
    }
}
