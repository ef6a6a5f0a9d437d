//! `ray status [--watch]`: the cluster's nodes, resources, jobs and unmet demands, as
//! the head's node table tells them; `--watch` redraws it every `--interval` seconds.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::CliResult;
use super::args::StatusArgs;

/// How often `--watch` redraws when `--interval` does not say.
const INTERVAL_S: f64 = 2.0;

pub(super) fn status(o: &StatusArgs) -> CliResult {
    o.cluster.connect()?;
    let result = if o.watch {
        let every = Duration::from_secs_f64(o.interval.unwrap_or(INTERVAL_S));
        let tty = std::io::stdout().is_terminal();
        loop {
            if tty {
                // Clear the screen and draw from the top, as `watch` does.
                print!("\x1b[2J\x1b[H");
            }
            if let Err(e) = print_status() {
                break Err(e);
            }
            println!("(every {:.1} s; Ctrl-C to stop)", every.as_secs_f64());
            let _ = std::io::stdout().flush();
            std::thread::sleep(every);
        }
    } else {
        print_status()
    };
    ray::shutdown();
    result
}

fn print_status() -> CliResult {
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
                format!(
                    "{}/{} {k}",
                    used(k, *total, n.available.get(k)),
                    amount(k, *total)
                )
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
    let total = ray::cluster_resources().map_err(|e| e.to_string())?;
    for (k, v) in &total {
        // Unknown while any live node that has it has not reported what is free.
        let free: Option<f64> = nodes
            .iter()
            .filter(|n| n.alive && n.resources.contains_key(k))
            .map(|n| n.available.get(k).copied())
            .sum();
        println!(" {}/{} {k}", used(k, *v, free.as_ref()), amount(k, *v));
    }
    let pending: u64 = nodes.iter().map(|n| n.pending_tasks).sum();
    println!("Pending tasks: {pending}");
    let jobs = ray::jobs().map_err(|e| e.to_string())?;
    // Submitted jobs (`ray job submit`) with their states; a cluster without job
    // submission (an embedded head of an old build) lists none.
    let submitted = ray::job_submission::list_jobs().unwrap_or_default();
    let running = jobs.iter().filter(|j| j.alive).count();
    println!("Jobs: {running} running, {} finished", jobs.len() - running);
    for j in &jobs {
        let state = if j.alive { "RUNNING" } else { "FINISHED" };
        let entry = submitted
            .iter()
            .find(|s| s.job_id == j.job_id)
            .map_or_else(String::new, |s| format!("  {}", s.entrypoint));
        println!(
            " {} {state:8} driver {}  started {:.0} s ago{entry}",
            j.job_id,
            j.driver,
            j.age.as_secs_f64()
        );
    }
    for s in submitted
        .iter()
        .filter(|s| jobs.iter().all(|j| j.job_id != s.job_id))
    {
        println!(" {} {:8} {}", s.job_id, s.state.name(), s.entrypoint);
    }
    let demands = ray::pending_demands().map_err(|e| e.to_string())?;
    if !demands.is_empty() {
        println!("Demands no node can meet (their tasks wait for a node that fits):");
        for d in demands {
            println!(" {d}");
        }
    }
    Ok(())
}

/// How much of `total` is used, given what is `free`; `?` when that is not known.
fn used(k: &str, total: f64, free: Option<&f64>) -> String {
    free.map_or_else(|| "?".to_string(), |f| amount(k, total - f))
}

/// A resource amount as Ray prints it: memory in binary units, counts as numbers.
fn amount(k: &str, v: f64) -> String {
    const UNITS: [(&str, f64); 3] = [("GiB", 1073741824.0), ("MiB", 1048576.0), ("KiB", 1024.0)];
    if !k.contains("memory") {
        return format!("{}", (v * 1e4).round() / 1e4);
    }
    match UNITS.iter().find(|(_, size)| v.abs() >= *size) {
        Some((unit, size)) => format!("{:.2}{unit}", v / size),
        None => format!("{v}B"),
    }
}
