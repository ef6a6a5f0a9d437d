//! A job for `scripts/bench-jobs.sh`: submitted with `ray job submit`, it runs one task
//! anywhere, then one task on every node with CPUs (the generic nodes, each of which
//! starts a worker of this job's build first), and prints when each result arrived, as
//! Unix seconds, for the script to subtract the submission's start from.
//!
//! Run by hand on a cluster: `ray job submit --address ADDRESS -- ./job_bench`.

use ray::prelude::*;

#[ray::remote]
fn here() -> String {
    std::env::var("RAY_NODE_IP_ADDRESS").unwrap_or_default()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn main() -> ray::Result<()> {
    ray::init()?;
    let first = ray::get(&here.remote())?;
    println!("first_result_unix_s {:.6} on {first}", now());
    let pinned: Vec<_> = ray::nodes()?
        .into_iter()
        .filter(|n| n.resources.get("CPU").is_some_and(|c| *c > 0.0))
        .map(|n| {
            let strategy = ray::SchedulingStrategy::NodeAffinity {
                node_id: n.node_id,
                soft: false,
            };
            here.options().scheduling_strategy(strategy).remote()
        })
        .collect();
    let hosts = ray::get(&pinned)?;
    println!("all_nodes_unix_s {:.6} on {}", now(), hosts.join(","));
    ray::shutdown();
    Ok(())
}
