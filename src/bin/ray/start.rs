//! `ray start` and `ray stop`: the nodes this machine runs. A node started in the
//! background is this same binary run as `ray start --block` (or the user's own program,
//! for a worker node of its build); its pid and the cluster address are kept in the
//! private state directory (`state.rs`) so that later commands find them, and its log in
//! its `logs/`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::CliResult;
use super::args::StartArgs;
use super::{progress, state};

/// How long `ray start --address` waits for its node to join.
const JOIN_WAIT: Duration = Duration::from_secs(60);

/// How long `ray stop` waits for the nodes to exit before it kills them.
const STOP_GRACE: Duration = Duration::from_secs(10);

fn config(o: &StartArgs) -> CliResult<ray::Config> {
    let mut c = ray::Config::new().port(o.port).without_job();
    if let Some(list) = &o.resources {
        c = c
            .resource_list(list, "--resources")
            .map_err(|e| e.to_string())?;
    }
    if let Some(n) = o.num_gpus {
        c = c.num_gpus(n);
    }
    if let Some(n) = o.num_cpus {
        c = c.num_cpus(n);
    }
    if let Some(ip) = &o.node_ip_address {
        c = c.node_ip_address(ip.clone());
    }
    if let Some(host) = &o.dashboard_host {
        c = c.dashboard_host(host.clone());
    }
    Ok(c)
}

/// `ray start`: the node itself with `--block`, else a node started in the background.
pub(super) fn start(o: &StartArgs) -> CliResult {
    if o.block {
        return serve(o);
    }
    let address = o.cluster.address();
    if !o.head && address.is_none() {
        super::args::usage_error(
            "start",
            "start needs --head, or --address (or RAY_ADDRESS) to join a cluster",
        );
    }
    let cmd = if o.program.is_empty() {
        this_node(o, address.as_deref())?
    } else {
        program_node(o, address.as_deref())
    };
    // The node outlives this command: its logs go to a file, not to our terminal.
    let log_path = state::logs()?.join(format!(
        "{}-{}.log",
        if o.head { "head" } else { "worker" },
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let child = spawn(cmd, o.head, &log_path)?;
    if o.head {
        head_up(child, &log_path)
    } else {
        worker_joined(child, &log_path)
    }
}

/// `ray start --block`: the node itself, in the background process `ray start` spawned
/// (which passed RAY_NODE_MODE for a worker), or in the foreground (a systemd unit).
fn serve(o: &StartArgs) -> CliResult {
    let config = if o.head {
        // The head coordinates; it runs work only if given CPUs (and only functions
        // compiled into this binary, which has none of yours).
        config(o)?.num_cpus(o.num_cpus.unwrap_or(0.0)).head()
    } else {
        config(o)?.address(o.cluster.address().ok_or("--address is required")?)
    };
    ray::init_with(config).map_err(|e| e.to_string())?;
    // One line for `ray start` to read; the pipe closes after it, so nothing more is
    // written to stdout (logs go to stderr).
    let ctx = ray::runtime_context();
    if let Some(url) = ctx.dashboard_url() {
        println!("dashboard {url}");
    }
    println!("address {}", ctx.cluster_address().unwrap_or_default());
    if !o.head {
        // What `ray start` waits for in the log (a user program says the same).
        eprintln!(
            "ray: node {} joined the cluster; serving until stopped",
            ctx.node_id()
        );
    }
    // `ray stop` sends SIGTERM: shut down cleanly (spill files go with the node).
    ray::__private::wait_for_termination();
    ray::shutdown();
    Ok(())
}

/// This binary as the node (`ray start --block` with the same options).
fn this_node(o: &StartArgs, address: Option<&str>) -> CliResult<Command> {
    let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    c.args(["start", "--block", "--port", &o.port.to_string()]);
    if o.head {
        c.arg("--head");
    }
    let options = [
        ("--node-ip-address", o.node_ip_address.clone()),
        ("--dashboard-host", o.dashboard_host.clone()),
        ("--num-cpus", o.num_cpus.map(|n| n.to_string())),
        ("--num-gpus", o.num_gpus.map(|n| n.to_string())),
        ("--resources", o.resources.clone()),
    ];
    for (flag, value) in options {
        if let Some(v) = value {
            c.arg(flag).arg(v);
        }
    }
    // The join address carries the token: through the environment, never on the node's
    // command line (which `ps` shows every local user).
    if let Some(address) = address {
        c.env("RAY_ADDRESS", address);
    }
    if !o.head {
        c.env("RAY_NODE_MODE", "worker");
    }
    Ok(c)
}

/// A worker node running the user's program (the single-binary model).
fn program_node(o: &StartArgs, address: Option<&str>) -> Command {
    let mut c = Command::new(&o.program[0]);
    c.args(&o.program[1..])
        .env("RAY_NODE_MODE", "worker")
        .env("RAY_ADDRESS", address.unwrap_or_default());
    if let Some(n) = o.num_cpus {
        c.env("RAY_NUM_CPUS", n.to_string());
    }
    if let Some(n) = o.num_gpus {
        c.env("RAY_NUM_GPUS", n.to_string());
    }
    if let Some(r) = &o.resources {
        c.env("RAY_RESOURCES", r);
    }
    if let Some(ip) = &o.node_ip_address {
        c.env("RAY_NODE_IP_ADDRESS", ip);
    }
    if o.port != 0 {
        c.env("RAY_PORT", o.port.to_string());
    }
    c
}

/// Starts the node with its log at `log_path`; a head's stdout is piped (it prints its
/// address there).
fn spawn(mut cmd: Command, head: bool, log_path: &Path) -> CliResult<Child> {
    let log = state::create(log_path)?;
    // The node knows its log file, so that the dashboard and `ray logs` can show it; a
    // head keeps submitted jobs' builds and logs in the private state directory.
    cmd.env("RAY_LOG_FILE", log_path)
        .env("RAY_SESSION_DIR", state::dir()?);
    cmd.stdin(Stdio::null())
        .stdout(if head { Stdio::piped() } else { Stdio::null() })
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start the node: {e}"))
}

/// Waits for the head to print its address, records it, and says how to use it.
fn head_up(mut child: Child, log_path: &Path) -> CliResult {
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout from the head")?;
    let waiting = progress::Progress::new("Starting the head node", 1);
    let (mut address, mut dashboard) = (None, None);
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(url) = line.strip_prefix("dashboard ") {
            dashboard = Some(url.to_string());
        }
        if let Some(a) = line.strip_prefix("address ") {
            address = Some(a.to_string());
            break;
        }
    }
    let address = address.ok_or_else(|| {
        let _ = child.wait();
        format!(
            "the head did not start:\n{}\n(its log: {})",
            log_tail(log_path),
            log_path.display()
        )
    })?;
    waiting.finish("up");
    state::remember(pid, Some(&address))?;
    println!(
        "Ray runtime started: head node, pid {pid}; logs in {}.",
        log_path.display()
    );
    println!();
    println!("Connect a driver:    RAY_ADDRESS='{address}' ./your-program");
    println!("Add a worker node:   ray start --address '{address}' -- ./your-program");
    println!("Cluster status:      ray status");
    if let Some(url) = &dashboard {
        println!("Dashboard:           {url}");
        state::write("dashboard", url)?;
    }
    println!("Stop every node:     ray stop");
    Ok(())
}

/// Waits until the worker node says in its log that it joined; it failed if it exits
/// first (or takes longer than [`JOIN_WAIT`]).
fn worker_joined(mut child: Child, log_path: &Path) -> CliResult {
    let pid = child.id();
    let waiting = progress::Progress::new("Joining the cluster", 1);
    let deadline = Instant::now() + JOIN_WAIT;
    loop {
        if std::fs::read_to_string(log_path).is_ok_and(|l| l.contains("joined the cluster")) {
            break;
        }
        let exited = child.try_wait().map_err(|e| e.to_string())?;
        if exited.is_some() || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the worker node did not join:\n{}\n(its log: {})",
                log_tail(log_path),
                log_path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiting.finish("joined");
    state::remember(pid, None)?;
    println!(
        "Worker node started, pid {pid}; logs in {}.",
        log_path.display()
    );
    Ok(())
}

/// The last lines of a node's log, for an error that says why it stopped (without a
/// panic's backtrace, which only buries the message).
fn log_tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            !l.starts_with(' ') && !l.starts_with("stack backtrace") && !l.starts_with("note: ")
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// `ray stop`: sends every node `ray start` started SIGTERM, waits (with a progress bar)
/// until each has exited, and SIGKILLs those still running after [`STOP_GRACE`].
pub(super) fn stop() -> CliResult {
    let dir = state::dir()?;
    // Only processes it started itself, checked by start time: never one that reused a
    // recorded pid since.
    let pids: Vec<String> = state::our_nodes().iter().map(u32::to_string).collect();
    let signal = |sig: &str, pid: &str| {
        Command::new("kill")
            .args([sig, pid])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let signalled: Vec<&String> = pids.iter().filter(|p| signal("-TERM", p)).collect();
    let mut bar = progress::Progress::new("Stopping ray nodes", signalled.len() as u64);
    let deadline = Instant::now() + STOP_GRACE;
    let mut running = signalled.clone();
    loop {
        running.retain(|p| alive(p));
        bar.set((signalled.len() - running.len()) as u64);
        if running.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = running.iter().filter(|p| signal("-KILL", p)).count();
    bar.finish(&if killed > 0 {
        format!("{killed} did not stop in time and were killed")
    } else {
        "done".to_string()
    });
    for name in ["pids", "address", "dashboard"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    println!("Stopped {} ray node process(es).", signalled.len());
    Ok(())
}

/// Whether process `pid` still runs (an exited one nobody reaped yet counts as gone).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name in parentheses.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
