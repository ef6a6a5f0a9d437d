//! `ray summary tasks|actors|objects`: counts over the cluster's state lists, printed as
//! text or, with `--format json`, as one JSON object.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::CliResult;
use super::args::{Filters, SummaryArgs, SummaryKind};
use super::list::{bytes, get, objects, text};

/// The task states `ray summary tasks` counts, in order.
const TASK_STATES: [&str; 5] = [
    "queued",
    "waiting_for_deps",
    "running",
    "finished",
    "failed",
];

pub(super) fn summary(o: &SummaryArgs) -> CliResult {
    let (summary, print): (Value, fn(&Value)) = match o.kind {
        SummaryKind::Tasks => (tasks(o)?, print_tasks),
        SummaryKind::Actors => (actors(o)?, print_actors),
        SummaryKind::Objects => (
            summarize_objects(&objects(&o.cluster, &Filters::default())?),
            print_objects,
        ),
    };
    if o.output.json() {
        let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print(&summary);
    }
    Ok(())
}

/// Counts by state, then recent tasks by function (finished and failed).
fn tasks(o: &SummaryArgs) -> CliResult<Value> {
    let t = get(&o.cluster, "tasks", &[("limit", Some("10000".into()))])?;
    let mut by_name: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in t["recent"].as_array().into_iter().flatten() {
        let e = by_name.entry(text(&r["name"])).or_default();
        if r["state"] == "FAILED" {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    let by_function: BTreeMap<String, Value> = by_name
        .into_iter()
        .map(|(name, (ok, failed))| (name, json!({ "finished": ok, "failed": failed })))
        .collect();
    Ok(json!({ "counts": t["counts"], "by_function": by_function }))
}

fn print_tasks(s: &Value) {
    println!("======== Tasks summary ========");
    for state in TASK_STATES {
        println!("{state:>16}: {}", text(&s["counts"][state]));
    }
    println!("Recent tasks by function (finished / failed):");
    for (name, n) in s["by_function"].as_object().into_iter().flatten() {
        println!("  {name}: {} / {}", n["finished"], n["failed"]);
    }
}

/// Actors by class, with how many are in each state.
fn actors(o: &SummaryArgs) -> CliResult<Value> {
    let actors = get(&o.cluster, "actors", &[])?;
    let actors = actors.as_array().cloned().unwrap_or_default();
    let mut by_class: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for a in &actors {
        *by_class
            .entry(text(&a["class"]))
            .or_default()
            .entry(text(&a["state"]))
            .or_default() += 1;
    }
    Ok(json!({ "total_actors": actors.len(), "by_class": by_class }))
}

fn print_actors(s: &Value) {
    println!("======== Actors summary ========");
    println!("total_actors: {}", s["total_actors"]);
    println!("Actors by class (state: count):");
    for (class, states) in s["by_class"].as_object().into_iter().flatten() {
        let counts: Vec<String> = states
            .as_object()
            .into_iter()
            .flatten()
            .map(|(state, n)| format!("{state}: {n}"))
            .collect();
        println!("  {class}: {}", counts.join(", "));
    }
}

/// Objects (each counted once, however many nodes hold a copy) and their bytes, then the
/// store entries by state and by node.
fn summarize_objects(m: &Value) -> Value {
    let list = m["objects"].as_array().cloned().unwrap_or_default();
    let size = |o: &Value| o["size"].as_u64().unwrap_or(0);
    let mut distinct: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_state: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut by_node: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for o in &list {
        let largest = distinct.entry(text(&o["object_id"])).or_default();
        *largest = (*largest).max(size(o));
        for (key, map) in [("state", &mut by_state), ("node_id", &mut by_node)] {
            let e = map.entry(text(&o[key])).or_default();
            e.0 += 1;
            e.1 += size(o);
        }
    }
    let counted = |map: BTreeMap<String, (u64, u64)>| -> BTreeMap<String, Value> {
        map.into_iter()
            .map(|(k, (n, b))| (k, json!({ "count": n, "bytes": b })))
            .collect()
    };
    json!({
        "total_objects": distinct.len(),
        "total_bytes": distinct.values().sum::<u64>(),
        "by_state": counted(by_state),
        "by_node": counted(by_node),
    })
}

fn print_objects(s: &Value) {
    let num = |v: &Value| v.as_u64().unwrap_or(0);
    println!("======== Objects summary ========");
    println!("total_objects: {}", s["total_objects"]);
    println!("total_size: {}", bytes(num(&s["total_bytes"])));
    for (title, key) in [
        ("Store entries by state", "by_state"),
        ("Store entries by node", "by_node"),
    ] {
        println!("{title} (count, size):");
        for (k, v) in s[key].as_object().into_iter().flatten() {
            println!("  {k}: {}, {}", v["count"], bytes(num(&v["bytes"])));
        }
    }
}
