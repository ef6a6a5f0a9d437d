//! `ray list nodes|actors|tasks`, `ray summary tasks` and `ray timeline`: the head's
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

/// `ray list KIND [--format json] [--state S] [--name N]`.
pub(super) fn list(args: &[String]) -> CliResult {
    let kind = args.first().map(String::as_str).unwrap_or("");
    let mut json = false;
    let mut query = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--format" => json = value("--format")? == "json",
            "--state" => query.push(format!("state={}", value("--state")?)),
            "--name" => query.push(format!("name={}", value("--name")?)),
            other => return Err(format!("unknown option {other}")),
        }
    }
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
            let a = get("/api/actors")?;
            let rows = a.as_array().cloned().unwrap_or_default();
            print(
                &rows,
                &["actor_id", "class", "name", "node_id", "state"],
                json,
            )
        }
        "tasks" => {
            let path = format!("/api/tasks?limit=1000&{}", query.join("&"));
            let t = get(&path)?;
            let rows = t["recent"].as_array().cloned().unwrap_or_default();
            print(&rows, &["task_id", "name", "state", "duration_s"], json)
        }
        _ => {
            Err("usage: ray list nodes|actors|tasks [--format json] [--state S] [--name N]".into())
        }
    }
}

/// `ray summary tasks`: counts by state, then by function.
pub(super) fn summary(args: &[String]) -> CliResult {
    if args.first().map(String::as_str) != Some("tasks") {
        return Err("usage: ray summary tasks".into());
    }
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
