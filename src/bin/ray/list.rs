//! `ray list`, `ray summary`, `ray memory`, `ray logs` and `ray timeline`: the cluster's
//! state (what the dashboard's `/api/*` serves), asked over the cluster's QUIC links from
//! any machine with its address, printed as a table or, with `--format json`, as JSON.

use serde_json::Value;

use super::CliResult;

/// One state query (`what` and `query` as in the dashboard's `/api/WHAT?QUERY`) of the
/// cluster at `address`, or of the one `ray start` started here: this command joins it
/// as a node of its own and asks the other nodes over the cluster's QUIC links.
fn get(address: Option<&str>, what: &str, query: &str) -> CliResult<Value> {
    super::state::connect(address)?;
    ray::__private::cluster_state(what, query).map_err(|e| e.to_string())
}

fn text(v: &Value) -> String {
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

/// Options of the state commands: `--address`, `--format json`, `-o PATH` and the
/// filters, as a query.
#[derive(Default)]
struct Opts {
    address: Option<String>,
    json: bool,
    query: Vec<String>,
    output: Option<String>,
}

impl Opts {
    fn parse(args: &[String]) -> CliResult<Self> {
        let mut o = Opts::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--address" => o.address = Some(value("--address")?),
                "--format" => o.json = value("--format")? == "json",
                "-o" | "--output" => o.output = Some(value("-o")?),
                "--state" => o.query.push(format!("state={}", value("--state")?)),
                "--name" => o.query.push(format!("name={}", value("--name")?)),
                "--limit" => o.query.push(format!("limit={}", value("--limit")?)),
                "--node-id" => o.query.push(format!("node_id={}", value("--node-id")?)),
                "--lines" => o.query.push(format!("lines={}", value("--lines")?)),
                other => return Err(format!("unknown option {other}")),
            }
        }
        if o.address.is_none() {
            o.address = std::env::var("RAY_ADDRESS").ok().filter(|a| !a.is_empty());
        }
        Ok(o)
    }

    /// The state query `what` with these filters (and `extra` ones).
    fn get(&self, what: &str, extra: &[&str]) -> CliResult<Value> {
        let query: Vec<String> = extra
            .iter()
            .map(|s| s.to_string())
            .chain(self.query.iter().cloned())
            .collect();
        get(self.address.as_deref(), what, &query.join("&"))
    }
}

/// `ray list KIND [--format json] [--state S] [--name N] [--limit N]`.
pub(super) fn list(args: &[String]) -> CliResult {
    let kind = args.first().map(String::as_str).unwrap_or("");
    let o = Opts::parse(args.get(1..).unwrap_or_default())?;
    let json = o.json;
    match kind {
        "nodes" => {
            let c = o.get("cluster", &[])?;
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
            let a = o.get("actors", &[])?;
            let rows = a.as_array().cloned().unwrap_or_default();
            print(
                &rows,
                &["actor_id", "class", "name", "node_id", "state", "restarts"],
                json,
            )
        }
        "objects" => {
            let objects = o.get("objects", &[])?;
            let rows = objects["objects"].as_array().cloned().unwrap_or_default();
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
        "jobs" => {
            let jobs = o.get("jobs", &[])?;
            let rows = jobs.as_array().cloned().unwrap_or_default();
            print(
                &rows,
                &[
                    "job_id",
                    "kind",
                    "state",
                    "entrypoint",
                    "exit_code",
                    "driver_node_id",
                ],
                json,
            )
        }
        "placement-groups" => {
            let mut rows = o
                .get("placement_groups", &[])?
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
            let t = o.get("tasks", &["limit=1000"])?;
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
    let o = Opts::parse(args.get(1..).unwrap_or_default())?;
    match args.first().map(String::as_str) {
        Some("tasks") => summary_tasks(&o),
        Some("actors") => summary_actors(&o),
        _ => Err("usage: ray summary tasks|actors [--address ADDRESS]".into()),
    }
}

/// Actors by class, with how many are in each state.
fn summary_actors(o: &Opts) -> CliResult {
    let actors = o.get("actors", &[])?;
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
fn summary_tasks(o: &Opts) -> CliResult {
    let t = o.get("tasks", &["limit=10000"])?;
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
    let o = Opts::parse(args)?;
    if o.json || !o.query.is_empty() {
        return Err("usage: ray timeline [--address ADDRESS] [-o trace.json]".into());
    }
    let path = o.output.clone().unwrap_or_else(|| "timeline.json".into());
    let events = o.get("timeline", &[])?;
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
    let o = Opts::parse(args)?;
    let m = o.get("objects", &["limit=1000"])?;
    if o.json {
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
    let o = Opts::parse(args)?;
    let l = o.get("logs", &[])?;
    if o.json {
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
