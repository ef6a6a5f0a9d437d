//! `ray list`, `ray memory` and `ray timeline`: the cluster's state (what the
//! dashboard's `/api/*` serves), asked over the cluster's QUIC links from any machine
//! with its address, printed as a table or, with `--format json`, as JSON. `get` and
//! `print` serve the other state commands too (`summary.rs`, `logs.rs`, `actions.rs`).

use serde_json::Value;

use super::CliResult;
use super::args::{Cluster, Filters, ListArgs, ListKind, MemoryArgs, TimelineArgs};

/// One state query (`what` and the filters `query` as in the dashboard's
/// `/api/WHAT?QUERY`) of the cluster at `address`, or of the one `ray start` started here:
/// this command joins it as a node of its own and asks the other nodes over the
/// cluster's QUIC links.
pub(super) fn get(
    cluster: &Cluster,
    what: &str,
    query: &[(&str, Option<String>)],
) -> CliResult<Value> {
    cluster.connect()?;
    let query: Vec<String> = query
        .iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", encode(v.as_deref()?))))
        .collect();
    ray::__private::cluster_state(what, &query.join("&")).map_err(|e| e.to_string())
}

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A JSON value as a table cell: strings bare, `null` as `-`.
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Prints `rows` (JSON objects) as columns `cols`, or as JSON.
pub(super) fn print(rows: &[Value], cols: &[&str], json: bool) -> CliResult {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(rows).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| text(&r[*c])).collect())
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: Vec<String>| {
        let padded: Vec<String> = vals
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(cols.iter().map(|c| c.to_uppercase()).collect());
    for r in cells {
        line(r);
    }
    Ok(())
}

/// The columns `ray list KIND` shows, and where its rows are in the answer.
fn columns(kind: ListKind) -> (&'static str, &'static [&'static str]) {
    match kind {
        ListKind::Nodes => (
            "cluster",
            &["node_id", "state", "cpu", "running_tasks", "pending_tasks"],
        ),
        ListKind::Actors => (
            "actors",
            &["actor_id", "class", "name", "node_id", "state", "restarts"],
        ),
        ListKind::Tasks => ("tasks", &["task_id", "name", "state", "duration_s"]),
        ListKind::Objects => (
            "objects",
            &[
                "object_id",
                "node_id",
                "state",
                "size",
                "ref_count",
                "owner_node_id",
            ],
        ),
        ListKind::PlacementGroups => (
            "placement_groups",
            &["placement_group_id", "name", "strategy", "state", "bundles"],
        ),
        ListKind::Jobs => (
            "jobs",
            &[
                "job_id",
                "kind",
                "state",
                "entrypoint",
                "exit_code",
                "driver_node_id",
            ],
        ),
    }
}

/// `ray list KIND [--format json] [--state S] [--name N] [--limit N]`.
pub(super) fn list(o: &ListArgs) -> CliResult {
    let (what, cols) = columns(o.kind);
    // Tasks: the newest 1000 unless told (the state API's default is 100).
    let limit = match (o.kind, o.filters.limit) {
        (_, Some(n)) => Some(n.to_string()),
        (ListKind::Tasks, None) => Some("1000".into()),
        _ => None,
    };
    let answer = get(
        &o.cluster,
        what,
        &[
            ("state", o.filters.state.clone()),
            ("name", o.name.clone()),
            ("limit", limit),
        ],
    )?;
    let mut rows = match o.kind {
        ListKind::Nodes => answer["nodes"].as_array().cloned(),
        ListKind::Tasks => answer["recent"].as_array().cloned(),
        ListKind::Objects => answer["objects"].as_array().cloned(),
        _ => answer.as_array().cloned(),
    }
    .unwrap_or_default();
    for r in &mut rows {
        match o.kind {
            ListKind::Nodes => {
                r["state"] = Value::from(if r["alive"] == true { "ALIVE" } else { "DEAD" });
                r["cpu"] = r["resources"]["CPU"].clone();
            }
            ListKind::PlacementGroups => {
                r["bundles"] = Value::from(r["bundles"].as_array().map_or(0, Vec::len));
            }
            _ => {}
        }
    }
    print(&rows, cols, o.output.json())
}

/// `ray timeline [-o PATH]`: the cluster's recent tasks as Chrome trace JSON.
pub(super) fn timeline(o: &TimelineArgs) -> CliResult {
    let path = &o.output;
    let events = get(&o.cluster, "timeline", &[])?;
    let n = events.as_array().map_or(0, Vec::len);
    std::fs::write(path, events.to_string()).map_err(|e| format!("cannot write {path}: {e}"))?;
    println!(
        "Wrote {n} task events to {path}: open it in https://ui.perfetto.dev or chrome://tracing"
    );
    Ok(())
}

/// Bytes as Ray prints them.
pub(super) fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.2} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// The objects of `ray memory` and `ray summary objects` (the largest 1000 unless told).
pub(super) fn objects(cluster: &Cluster, filters: &Filters) -> CliResult<Value> {
    let limit = filters.limit.unwrap_or(1000).to_string();
    get(
        cluster,
        "objects",
        &[("limit", Some(limit)), ("state", filters.state.clone())],
    )
}

/// `ray memory`: every node's store, then its largest objects with their references.
pub(super) fn memory(o: &MemoryArgs) -> CliResult {
    let m = objects(&o.cluster, &o.filters)?;
    if o.output.json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&m).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let objects = m["objects"].as_array().cloned().unwrap_or_default();
    println!("======== Object references status ========");
    for store in m["stores"].as_array().into_iter().flatten() {
        let node = text(&store["node_id"]);
        let num = |k: &str| store[k].as_u64().unwrap_or(0);
        let capacity = store["capacity"]
            .as_u64()
            .map_or("unbounded".to_string(), bytes);
        println!("--- Node {node} ---");
        println!(
            "Store: {} objects, {} in memory of {capacity}, {} objects spilled ({})",
            num("num_objects"),
            bytes(num("bytes_used")),
            num("num_spilled"),
            bytes(num("bytes_spilled")),
        );
        let rows: Vec<Value> = objects
            .iter()
            .filter(|o| o["node_id"] == store["node_id"])
            .map(|o| {
                let mut o = o.clone();
                o["size"] = Value::from(bytes(o["size"].as_u64().unwrap_or(0)));
                o["locations"] = Value::from(
                    o["locations"]
                        .as_array()
                        .map(|l| l.iter().map(text).collect::<Vec<_>>().join(","))
                        .unwrap_or_default(),
                );
                o
            })
            .collect();
        let cols = [
            "object_id",
            "state",
            "size",
            "ref_count",
            "owner_node_id",
            "locations",
        ];
        print(&rows, &cols, false)?;
    }
    let total: u64 = m["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["bytes_used"].as_u64().unwrap_or(0))
        .sum();
    println!("--- Cluster ---");
    println!("{} in object stores", bytes(total));
    Ok(())
}
