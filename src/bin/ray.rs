//! The `ray` command: `ray start --head`, `ray start --address`, `ray status`, `ray stop`,
//! and the state commands (`ray list`, `ray summary`, `ray memory`, `ray logs`,
//! `ray timeline`).
//! Nodes it starts run in the background; their pids and the cluster address are kept in
//! a private state directory (`state.rs`) so that `status` and `stop` find them; each
//! node's log is in its `logs/`.

#[path = "ray/job.rs"]
mod job;
#[path = "ray/list.rs"]
mod list;
#[path = "ray/progress.rs"]
mod progress;
#[path = "ray/state.rs"]
mod state;
#[path = "ray/status.rs"]
mod status;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage:
  ray start --head [--port P] [--node-ip-address IP] [--dashboard-host HOST] [--num-cpus N]
            [--num-gpus N] [--resources name=amount,...]
  ray start --address ADDRESS [--port P] [--node-ip-address IP] [--num-cpus N] [--num-gpus N]
            [--resources name=amount,...] [-- PROGRAM ARGS...]
  ray status [--address ADDRESS] [--watch [--interval SECONDS]]
  ray list nodes|actors|tasks|objects|placement-groups|jobs [--address ADDRESS] [--format json]
           [--state STATE] [--name NAME] [--limit N]
  ray summary tasks|actors [--address ADDRESS]
  ray memory [--address ADDRESS] [--format json]
  ray logs [--address ADDRESS] [--node-id ID] [--lines N]
  ray timeline [--address ADDRESS] [-o trace.json]
  ray job submit [--address ADDRESS] [--working-dir DIR] [--env K=V ...] [--no-wait]
                 -- PROGRAM ARGS...
  ray job list [--address ADDRESS] [--format json]
  ray job status|stop ID [--address ADDRESS]
  ray job logs ID [--address ADDRESS] [--follow]
  ray stop

--address (or RAY_ADDRESS) is the join address `ray start --head` printed; without it,
the commands use the cluster `ray start` started on this machine.

A worker node runs your own program (every node must run the same build): `ray start
--address ADDRESS -- ./your-binary` starts it with RAY_NODE_MODE=worker, and its first
ray::init() joins the cluster and serves tasks until stopped.";

type CliResult<T = ()> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // RAY_LOG sets what the nodes `ray start` runs log; the other commands join the
    // cluster with a short-lived node of their own, whose routine events would only
    // clutter their output.
    let filter = match args.first().map(String::as_str) {
        Some("start") => std::env::var("RAY_LOG").unwrap_or_else(|_| "warn".into()),
        _ => "warn".into(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    let result = match args.first().map(String::as_str) {
        Some("start") => start(&args[1..]),
        Some("status") => status::status(&args[1..]),
        Some("list") => list::list(&args[1..]),
        Some("summary") => list::summary(&args[1..]),
        Some("memory") => list::memory(&args[1..]),
        Some("logs") => list::logs(&args[1..]),
        Some("timeline") => list::timeline(&args[1..]),
        Some("stop") => stop(),
        Some("job") => match job::job(&args[1..]) {
            // `ray job submit` exits as its job did.
            Ok(code) => std::process::exit(code),
            Err(e) => Err(e),
        },
        _ => Err(USAGE.to_string()),
    };
    if let Err(e) = result {
        eprintln!("ray: {e}");
        std::process::exit(2);
    }
}

/// Options shared by `start` and `status`.
#[derive(Default)]
struct Opts {
    head: bool,
    block: bool,
    address: Option<String>,
    port: u16,
    node_ip_address: Option<String>,
    dashboard_host: Option<String>,
    num_cpus: Option<f64>,
    num_gpus: Option<f64>,
    resources: Option<String>,
    program: Vec<String>,
    /// `status --watch`: redraw every `interval`.
    watch: bool,
    interval: Option<f64>,
}

fn parse(args: &[String]) -> CliResult<Opts> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--head" => o.head = true,
            "--block" => o.block = true,
            "--address" => o.address = Some(value("--address")?),
            "--port" => {
                o.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port needs a number".to_string())?
            }
            "--num-cpus" => {
                o.num_cpus = Some(
                    value("--num-cpus")?
                        .parse()
                        .map_err(|_| "--num-cpus needs a number".to_string())?,
                )
            }
            "--num-gpus" => {
                o.num_gpus = Some(
                    value("--num-gpus")?
                        .parse()
                        .map_err(|_| "--num-gpus needs a number".to_string())?,
                )
            }
            "--resources" => o.resources = Some(value("--resources")?),
            "--node-ip-address" => o.node_ip_address = Some(value("--node-ip-address")?),
            "--dashboard-host" => o.dashboard_host = Some(value("--dashboard-host")?),
            "--watch" => o.watch = true,
            "--interval" => {
                o.interval = Some(
                    value("--interval")?
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s > 0.0)
                        .ok_or("--interval needs a number of seconds")?,
                )
            }
            "--" => {
                o.program = it.by_ref().cloned().collect();
            }
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    if o.address.is_none() {
        o.address = std::env::var("RAY_ADDRESS").ok().filter(|a| !a.is_empty());
    }
    Ok(o)
}

fn config(o: &Opts) -> CliResult<ray::Config> {
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

fn start(args: &[String]) -> CliResult {
    let o = parse(args)?;
    if o.block {
        // The node itself: in the background process `ray start` spawned (which passed
        // RAY_NODE_MODE for a worker), or run in the foreground (a systemd unit).
        let config = if o.head {
            // The head coordinates; it runs work only if given CPUs (and only functions
            // compiled into this binary, which has none of yours).
            config(&o)?.num_cpus(o.num_cpus.unwrap_or(0.0)).head()
        } else {
            config(&o)?.address(o.address.clone().ok_or("--address is required")?)
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
        return Ok(());
    }
    if !o.head && o.address.is_none() {
        return Err(format!("start needs --head or --address\n{USAGE}"));
    }
    let mut cmd = if o.program.is_empty() {
        let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
        // The join address carries the token: through the environment, never on the
        // node's command line (which `ps` shows every local user).
        let mut rest = args.iter();
        let mut kept = Vec::new();
        while let Some(a) = rest.next() {
            match a.as_str() {
                "--address" => {
                    rest.next();
                }
                _ => kept.push(a.clone()),
            }
        }
        c.arg("start").arg("--block").args(kept);
        if let Some(address) = &o.address {
            c.env("RAY_ADDRESS", address);
        }
        if !o.head {
            c.env("RAY_NODE_MODE", "worker");
        }
        c
    } else {
        // A worker node running the user's program (the single-binary model).
        let mut c = Command::new(&o.program[0]);
        c.args(&o.program[1..])
            .env("RAY_NODE_MODE", "worker")
            .env("RAY_ADDRESS", o.address.clone().unwrap_or_default());
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
    };
    // The node outlives this command: its logs go to a file, not to our terminal.
    let logs = state::logs()?;
    let log_path = logs.join(format!(
        "{}-{}.log",
        if o.head { "head" } else { "worker" },
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let log = state::create(&log_path)?;
    // The node knows its log file, so that the dashboard and `ray logs` can show it; a
    // head keeps submitted jobs' builds and logs in the private state directory.
    cmd.env("RAY_LOG_FILE", &log_path)
        .env("RAY_SESSION_DIR", state::dir()?);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(if o.head {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start the node: {e}"))?;
    let pid = child.id();
    if o.head {
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
                log_tail(&log_path),
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
    } else {
        // It has joined once it says so in its log; it failed if it exits first.
        let waiting = progress::Progress::new("Joining the cluster", 1);
        let deadline = Instant::now() + JOIN_WAIT;
        loop {
            if std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("joined the cluster")) {
                break;
            }
            let exited = child.try_wait().map_err(|e| e.to_string())?;
            if exited.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the worker node did not join:\n{}\n(its log: {})",
                    log_tail(&log_path),
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
    }
    Ok(())
}

/// How long `ray start --address` waits for its node to join.
const JOIN_WAIT: Duration = Duration::from_secs(60);

/// The last lines of a node's log, for an error that says why it stopped (without a
/// panic's backtrace, which only buries the message).
fn log_tail(path: &std::path::Path) -> String {
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

/// Sends every node `ray start` started SIGTERM, waits (with a progress bar) until each
/// has exited, and SIGKILLs those still running after `STOP_GRACE`.
fn stop() -> CliResult {
    const STOP_GRACE: Duration = Duration::from_secs(10);
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
    let _ = std::fs::remove_file(dir.join("pids"));
    let _ = std::fs::remove_file(dir.join("address"));
    let _ = std::fs::remove_file(dir.join("dashboard"));
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
