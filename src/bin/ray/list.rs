//! `ray list`, `ray summary`, `ray memory`, `ray logs` and `ray timeline`: the head's
//! state API (its dashboard's `/api/*`), printed as a table or, with `--format json`, as
//! JSON.

use std::io::{Read, Write};

use serde_json::Value;

use super::{CliResult, state_dir};

/// `GET path` from the dashboard of the cluster `ray start --head` started; the JSON.
fn get(path: &str) -> CliResult<Value> {
    let file = state_dir().join("dashboard");
    let url = std::fs::read_to_string(&file)
        .map_err(|_| "no dashboard found: start a cluster with `ray start --head`".to_string())?;
    let host = url.trim().trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&host)
        .map_err(|e| format!("cannot reach the dashboard at {host}: {e}"))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or("the dashboard sent no HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "the dashboard answered {}",
            head.lines().next().unwrap_or("")
        ));
    }
    serde_json::from_str(body).map_err(|e| format!("the dashboard sent bad JSON: {e}"))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Prints `rows` (JSON objects) as columns `cols`, or as JSON.
fn print(rows: &[Value], cols: &[&str], json: bool) -> CliResult {
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

/// Options of `ray list` and `ray logs`: `--format json` and the filters, as a query.
fn options(args: &[String]) -> CliResult<(bool, Vec<String>)> {
    let mut json = false;
    let mut query = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--format" => json = value("--format")? == "json",
            "--state" => query.push(format!("state={}", value("--state")?)),
            "--name" => query.push(format!("name={}", value("--name")?)),
            "--limit" => query.push(format!("limit={}", value("--limit")?)),
            "--node-id" => query.push(format!("node_id={}", value("--node-id")?)),
            "--lines" => query.push(format!("lines={}", value("--lines")?)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok((json, query))
}

/// `ray list KIND [--format json] [--state S] [--name N] [--limit N]`.
pub(super) fn list(args: &[String]) -> CliResult {
    let kind = args.first().map(String::as_str).unwrap_or("");
    let (json, query) = options(args.get(1..).unwrap_or_default())?;
    match kind {
        "nodes" => {
            let c = get("/api/cluster")?;
            let mut rows: Vec<Value> = c["nodes"].as_array().cloned().unwrap_or_default();
            for r in &mut rows {
                r["state"] = Value::from(if r["alive"] == true { "ALIVE" } else { "DEAD" });
                r["cpu"] = r["resources"]["CPU"].clone();
            }
            print(
                &rows,
                &["node_id", "state", "cpu", "running_tasks", "pending_tasks"],
                json,
            )
        }
        "actors" => {
            let a = get(&format!("/api/actors?{}", query.join("&")))?;
            let rows = a.as_array().cloned().unwrap_or_default();
            print(
                &rows,
                &["actor_id", "class", "name", "node_id", "state", "restarts"],
                json,
            )
        }
        "objects" => {
            let o = get(&format!("/api/objects?{}", query.join("&")))?;
            let rows = o["objects"].as_array().cloned().unwrap_or_default();
            print(
                &rows,
                &[
                    "object_id",
                    "node_id",
                    "state",
                    "size",
                    "ref_count",
                    "owner_node_id",
                ],
                json,
            )
        }
        "placement-groups" => {
            let mut rows = get("/api/placement_groups")?
                .as_array()
                .cloned()
                .unwrap_or_default();
            for r in &mut rows {
                r["bundles"] = Value::from(r["bundles"].as_array().map_or(0, Vec::len));
            }
            print(
                &rows,
                &["placement_group_id", "name", "strategy", "state", "bundles"],
                json,
            )
        }
        "tasks" => {
            let path = format!("/api/tasks?limit=1000&{}", query.join("&"));
            let t = get(&path)?;
            let rows = t["recent"].as_array().cloned().unwrap_or_default();
            print(&rows, &["task_id", "name", "state", "duration_s"], json)
        }
        _ => Err(
            "usage: ray list nodes|actors|tasks|objects|placement-groups \
                  [--format json] [--state S] [--name N] [--limit N]"
                .into(),
        ),
    }
}

/// `ray summary tasks|actors`.
pub(super) fn summary(args: &[String]) -> CliResult {
    match args.first().map(String::as_str) {
        Some("tasks") => summary_tasks(),
        Some("actors") => summary_actors(),
        _ => Err("usage: ray summary tasks|actors".into()),
    }
}

/// Actors by class, with how many are in each state.
fn summary_actors() -> CliResult {
    let actors = get("/api/actors")?;
    let actors = actors.as_array().cloned().unwrap_or_default();
    let mut by_class: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
        Default::default();
    for a in &actors {
        *by_class
            .entry(text(&a["class"]))
            .or_default()
            .entry(text(&a["state"]))
            .or_default() += 1;
    }
    println!("======== Actors summary ========");
    println!("total_actors: {}", actors.len());
    println!("Actors by class (state: count):");
    for (class, states) in by_class {
        let counts: Vec<String> = states.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        println!("  {class}: {}", counts.join(", "));
    }
    Ok(())
}

/// Counts by state, then recent tasks by function.
fn summary_tasks() -> CliResult {
    let t = get("/api/tasks?limit=10000")?;
    println!("======== Tasks summary ========");
    for state in [
        "queued",
        "waiting_for_deps",
        "running",
        "finished",
        "failed",
    ] {
        println!("{state:>16}: {}", text(&t["counts"][state]));
    }
    let mut by_name: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for r in t["recent"].as_array().into_iter().flatten() {
        let e = by_name.entry(text(&r["name"])).or_default();
        if r["state"] == "FAILED" {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    println!("Recent tasks by function (finished / failed):");
    for (name, (ok, failed)) in by_name {
        println!("  {name}: {ok} / {failed}");
    }
    Ok(())
}

/// `ray timeline [-o PATH]`: the cluster's recent tasks as Chrome trace JSON.
pub(super) fn timeline(args: &[String]) -> CliResult {
    let path = match args {
        [] => "timeline.json".to_string(),
        [flag, path] if flag == "-o" || flag == "--output" => path.clone(),
        _ => return Err("usage: ray timeline [-o trace.json]".into()),
    };
    let events = get("/api/timeline")?;
    let n = events.as_array().map_or(0, Vec::len);
    std::fs::write(&path, events.to_string()).map_err(|e| format!("cannot write {path}: {e}"))?;
    println!(
        "Wrote {n} task events to {path}: open it in https://ui.perfetto.dev or chrome://tracing"
    );
    Ok(())
}

/// Bytes as Ray prints them.
fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.2} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `ray memory`: every node's store, then its largest objects with their references.
pub(super) fn memory(args: &[String]) -> CliResult {
    let (json, query) = options(args)?;
    let m = get(&format!("/api/objects?limit=1000&{}", query.join("&")))?;
    if json {
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
        print(
            &rows,
            &[
                "object_id",
                "state",
                "size",
                "ref_count",
                "owner_node_id",
                "locations",
            ],
            false,
        )?;
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

/// `ray logs [--node-id ID] [--lines N]`: the last lines of a node's log file (the
/// head's by default).
pub(super) fn logs(args: &[String]) -> CliResult {
    let (json, query) = options(args)?;
    let l = get(&format!("/api/logs?{}", query.join("&")))?;
    if json {
        println!("{l}");
        return Ok(());
    }
    if let Some(e) = l["error"].as_str() {
        return Err(format!("node {}: {e}", text(&l["node_id"])));
    }
    eprintln!("--- {} ({}) ---", text(&l["file"]), text(&l["node_id"]));
    for line in l["lines"].as_array().into_iter().flatten() {
        println!("{}", line.as_str().unwrap_or(""));
    }
    Ok(())
}
