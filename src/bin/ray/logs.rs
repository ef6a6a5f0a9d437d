//! `ray logs [--node-id ID] [--lines N] [--follow]`: the last lines of a node's log file
//! (the head's by default), as the dashboard's `/api/logs` serves them; `--follow` asks
//! again every [`POLL`] for the lines after the byte offset the last answer ended at,
//! and prints them.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::CliResult;
use super::args::LogsArgs;
use super::list::{get, text};

/// How often `--follow` asks for new lines.
const POLL: Duration = Duration::from_millis(250);

pub(super) fn logs(o: &LogsArgs) -> CliResult {
    let first = read(o, o.lines, None)?;
    if o.output.json() {
        println!("{first}");
        return Ok(());
    }
    eprintln!(
        "--- {} ({}) ---",
        text(&first["file"]),
        text(&first["node_id"])
    );
    print(&lines(&first))?;
    if !o.follow {
        return Ok(());
    }
    let mut end = end_of(&first)?;
    loop {
        std::thread::sleep(POLL);
        let next = read(o, None, Some(end))?;
        print(&lines(&next))?;
        end = end_of(&next)?;
    }
}

/// The node's last `lines` lines (the server's default without), or with `from` those
/// after that byte offset; or why not.
fn read(o: &LogsArgs, lines: Option<u32>, from: Option<u64>) -> CliResult<Value> {
    let l = get(
        &o.cluster,
        "logs",
        &[
            ("node_id", o.node_id.map(|n| n.to_string())),
            ("lines", lines.map(|n| n.to_string())),
            ("from", from.map(|n| n.to_string())),
        ],
    )?;
    match l["error"].as_str() {
        // JSON output shows the error as the node gave it.
        Some(e) if !o.output.json() => Err(format!("node {}: {e}", text(&l["node_id"]))),
        _ => Ok(l),
    }
}

fn lines(l: &Value) -> Vec<String> {
    l["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|line| line.as_str().unwrap_or("").to_string())
        .collect()
}

fn print(lines: &[String]) -> CliResult {
    let mut out = std::io::stdout().lock();
    lines
        .iter()
        .try_for_each(|l| writeln!(out, "{l}"))
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

/// Where an answer's lines end in the log: the next read's `from`.
fn end_of(l: &Value) -> CliResult<u64> {
    l["end"].as_u64().ok_or_else(|| {
        format!(
            "node {} gave no log offset to follow from",
            text(&l["node_id"])
        )
    })
}
