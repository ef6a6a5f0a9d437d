//! The `ray` command: `ray start --head`, `ray start --address`, `ray status`, `ray stop`.
//! Nodes it starts run in the background; their pids and the cluster address are kept in
//! `$RAY_TMPDIR` (default `/tmp/ray`) so that `status` and `stop` find them; each node's
//! log is in `$RAY_TMPDIR/logs/`.

#[path = "ray/list.rs"]
mod list;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage:
  ray start --head [--port P] [--num-cpus N] [--resources name=amount,...]
  ray start --address ADDRESS [--num-cpus N] [--resources name=amount,...] [-- PROGRAM ARGS...]
  ray status [--address ADDRESS]
  ray list nodes|actors|tasks [--format json] [--state STATE] [--name NAME]
  ray summary tasks
  ray timeline [-o trace.json]
  ray stop

A worker node runs your own program (every node must run the same build): `ray start
--address ADDRESS -- ./your-binary` starts it with RAY_NODE_MODE=worker, and its first
ray::init() joins the cluster and serves tasks until stopped.";

type CliResult<T = ()> = Result<T, String>;

fn main() {
    let filter = std::env::var("RAY_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("start") => start(&args[1..]),
        Some("status") => status(&args[1..]),
        Some("list") => list::list(&args[1..]),
        Some("summary") => list::summary(&args[1..]),
        Some("timeline") => list::timeline(&args[1..]),
        Some("stop") => stop(),
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
    num_cpus: Option<f64>,
    resources: Option<String>,
    program: Vec<String>,
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
            "--resources" => o.resources = Some(value("--resources")?),
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

fn state_dir() -> PathBuf {
    PathBuf::from(std::env::var("RAY_TMPDIR").unwrap_or_else(|_| "/tmp/ray".into()))
}

fn remember(pid: u32, address: Option<&str>) -> CliResult {
    let dir = state_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let pids = dir.join("pids");
    let mut list = std::fs::read_to_string(&pids).unwrap_or_default();
    list.push_str(&format!("{pid}\n"));
    std::fs::write(&pids, list).map_err(|e| format!("cannot write {}: {e}", pids.display()))?;
    if let Some(a) = address {
        std::fs::write(dir.join("address"), a)
            .map_err(|e| format!("cannot record the address: {e}"))?;
    }
    Ok(())
}

fn config(o: &Opts) -> ray::Config {
    let mut c = ray::Config::new().port(o.port).without_job();
    if let Some(n) = o.num_cpus {
        c = c.num_cpus(n);
    }
    c
}

fn start(args: &[String]) -> CliResult {
    let o = parse(args)?;
    if o.block {
        // The node itself, in the background process `ray start` spawned (which passed
        // RAY_RESOURCES and, for a worker, RAY_NODE_MODE in its environment).
        let config = if o.head {
            // The head coordinates; it runs work only if given CPUs (and only functions
            // compiled into this binary, which has none of yours).
            config(&o).num_cpus(o.num_cpus.unwrap_or(0.0)).head()
        } else {
            config(&o).address(o.address.clone().ok_or("--address is required")?)
        };
        ray::init_with(config).map_err(|e| e.to_string())?;
        // One line for `ray start` to read; the pipe closes after it, so nothing more is
        // written to stdout (logs go to stderr).
        let ctx = ray::runtime_context();
        if let Some(url) = ctx.dashboard_url() {
            println!("dashboard {url}");
        }
        println!("address {}", ctx.cluster_address().unwrap_or_default());
        loop {
            std::thread::park();
        }
    }
    if !o.head && o.address.is_none() {
        return Err(format!("start needs --head or --address\n{USAGE}"));
    }
    let mut cmd = if o.program.is_empty() {
        let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
        c.arg("start").arg("--block").args(args);
        if !o.head {
            c.env("RAY_NODE_MODE", "worker");
        }
        if let Some(r) = &o.resources {
            c.env("RAY_RESOURCES", r);
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
        if let Some(r) = &o.resources {
            c.env("RAY_RESOURCES", r);
        }
        c
    };
    // The node outlives this command: its logs go to a file, not to our terminal.
    let logs = state_dir().join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let log_path = logs.join(format!(
        "{}-{}.log",
        if o.head { "head" } else { "worker" },
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
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
        let address = address.ok_or("the head exited before printing its address")?;
        remember(pid, Some(&address))?;
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
            let path = state_dir().join("dashboard");
            std::fs::write(&path, url)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        println!("Stop every node:     ray stop");
    } else {
        remember(pid, None)?;
        println!(
            "Worker node started, pid {pid}; logs in {}.",
            log_path.display()
        );
    }
    Ok(())
}

fn status(args: &[String]) -> CliResult {
    let o = parse(args)?;
    let address = match o.address {
        Some(a) => a,
        None => std::fs::read_to_string(state_dir().join("address")).map_err(|_| {
            "no cluster found: pass --address or start one with `ray start --head`".to_string()
        })?,
    };
    ray::init_with(ray::Config::new().address(address.trim()).without_job())
        .map_err(|e| e.to_string())?;
    // Loads arrive with heartbeats: give every node one interval to report.
    let deadline = Instant::now() + Duration::from_millis(700);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let nodes = ray::nodes().map_err(|e| e.to_string())?;
    let alive = nodes.iter().filter(|n| n.alive).count();
    println!("======== Cluster status ========");
    println!("Nodes: {alive} alive, {} dead", nodes.len() - alive);
    for n in &nodes {
        let state = if n.alive { "ALIVE" } else { "DEAD" };
        let res: Vec<String> = n
            .resources
            .iter()
            .map(|(k, total)| {
                let free = n.available.get(k).copied().unwrap_or(*total);
                format!("{}/{} {k}", total - free, total)
            })
            .collect();
        println!(
            " {} {state:5} {}  running {}, pending {}",
            n.node_id,
            res.join(", "),
            n.running_tasks,
            n.pending_tasks
        );
    }
    println!("Resources (used/total):");
    let total = ray::cluster_resources();
    for (k, v) in &total {
        let free: f64 = nodes
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.available.get(k).copied().unwrap_or(0.0))
            .sum();
        println!(" {}/{} {k}", v - free, v);
    }
    let pending: u64 = nodes.iter().map(|n| n.pending_tasks).sum();
    println!("Pending tasks: {pending}");
    let jobs = ray::jobs();
    let running = jobs.iter().filter(|j| j.alive).count();
    println!("Jobs: {running} running, {} finished", jobs.len() - running);
    for j in &jobs {
        let state = if j.alive { "RUNNING" } else { "FINISHED" };
        println!(
            " {} {state:8} driver {}  started {:.0} s ago",
            j.job_id,
            j.driver,
            j.age.as_secs_f64()
        );
    }
    let demands = ray::pending_demands();
    if !demands.is_empty() {
        println!("Demands no node can meet (their tasks wait for a node that fits):");
        for d in demands {
            println!(" {d}");
        }
    }
    ray::shutdown();
    Ok(())
}

fn stop() -> CliResult {
    let dir = state_dir();
    let pids = std::fs::read_to_string(dir.join("pids")).unwrap_or_default();
    let mut stopped = 0;
    for pid in pids.lines().filter(|l| !l.trim().is_empty()) {
        let ok = Command::new("kill")
            .arg(pid.trim())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            stopped += 1;
        }
    }
    let _ = std::fs::remove_file(dir.join("pids"));
    let _ = std::fs::remove_file(dir.join("address"));
    let _ = std::fs::remove_file(dir.join("dashboard"));
    println!("Stopped {stopped} ray node process(es).");
    Ok(())
}
