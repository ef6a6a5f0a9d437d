//! `ray kill-actor` and `ray cancel`: the two commands that change something in the
//! cluster, each through a node of this command's own that joins it and asks every other
//! node over the cluster's authenticated QUIC links (what the dashboard's two actions
//! do from the node that serves it).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::CliResult;
use super::args::{CancelArgs, KillActorArgs};
use super::list::{get, text};

/// How long `kill-actor` waits for the actor list to show the kill.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// The actor's row in the cluster's actor list (a live entry first: a restarted actor's
/// old node may still list it dead).
fn actor(a: &KillActorArgs, id: &str) -> CliResult<Option<Value>> {
    let actors = get(&a.cluster, "actors", &[])?;
    let rows: Vec<&Value> = actors
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["actor_id"] == id)
        .collect();
    Ok(rows
        .iter()
        .find(|r| r["state"] != "DEAD")
        .or(rows.first())
        .map(|r| (*r).clone()))
}

/// `ray kill-actor ACTOR_ID [--no-restart]`.
pub(super) fn kill_actor(a: &KillActorArgs) -> CliResult {
    let id = a.actor_id.to_string();
    let before = actor(a, &id)?
        .ok_or_else(|| format!("no actor {id} in the cluster (`ray list actors` lists them)"))?;
    let described = format!(
        "{id} ({}, on {})",
        text(&before["class"]),
        text(&before["node_id"])
    );
    if before["state"] == "DEAD" {
        println!(
            "Actor {described} is already dead: {}.",
            text(&before["death_cause"])
        );
        return Ok(());
    }
    ray::__private::kill_actor(a.actor_id, a.no_restart).map_err(|e| e.to_string())?;
    // The kill shows as a new state, or (restarted already) as one more restart.
    let deadline = Instant::now() + KILL_WAIT;
    let after = loop {
        let now = actor(a, &id)?;
        let changed = now
            .as_ref()
            .is_none_or(|r| r["state"] != before["state"] || r["restarts"] != before["restarts"]);
        if changed || Instant::now() >= deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    match after {
        Some(r) if r["state"] == "DEAD" => println!(
            "Killed actor {described}: DEAD ({}).",
            text(&r["death_cause"])
        ),
        Some(r) if r["restarts"] != before["restarts"] || r["state"] == "RESTARTING" => println!(
            "Killed actor {described}: it restarted (restarts: {}; now {}).",
            text(&r["restarts"]),
            text(&r["state"])
        ),
        Some(r) => println!(
            "Kill sent to actor {described}; it still shows as {} after {} s.",
            text(&r["state"]),
            KILL_WAIT.as_secs()
        ),
        None => println!("Killed actor {described}: no node lists it any more."),
    }
    Ok(())
}

/// `ray cancel OBJECT_OR_TASK_ID [--force] [--recursive]`.
pub(super) fn cancel(c: &CancelArgs) -> CliResult {
    c.cluster.connect()?;
    let nodes =
        ray::__private::cancel_task(c.task, c.force, c.recursive).map_err(|e| e.to_string())?;
    // This command's own node is one of them, and owns no task.
    let others = nodes.saturating_sub(1);
    if others == 0 {
        return Err(format!(
            "no node of the cluster took the cancel of task {}",
            c.task
        ));
    }
    println!(
        "Cancel of task {} sent to the cluster's {others} node(s): the node that submitted it \
         cancels it{} (getting its result gives the Cancelled error), the node running it stops it.",
        c.task,
        if c.recursive {
            " and the tasks it submitted"
        } else {
            ""
        }
    );
    Ok(())
}
