//! `ray logs [--node-id ID] [--lines N] [--follow]`: the last lines of a node's log file
//! (the head's by default), as the dashboard's `/api/logs` serves them; `--follow` asks
//! again every [`POLL`] and prints the lines written since.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::CliResult;
use super::args::LogsArgs;
use super::list::{get, text};

/// How often `--follow` asks for new lines.
const POLL: Duration = Duration::from_millis(250);

/// How many last lines each `--follow` poll reads: more than a node usually writes in
/// [`POLL`]. When the previous read is not in them, the poll reads [`MAX_WINDOW`] lines.
const WINDOW: u32 = 100;

/// The most lines one read gives (the state API's cap).
const MAX_WINDOW: u32 = 10_000;

pub(super) fn logs(o: &LogsArgs) -> CliResult {
    let first = read(o, o.lines)?;
    if o.output.json() {
        println!("{first}");
        return Ok(());
    }
    eprintln!(
        "--- {} ({}) ---",
        text(&first["file"]),
        text(&first["node_id"])
    );
    let mut seen = lines(&first);
    print(&seen)?;
    if !o.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(POLL);
        let mut now = lines(&read(o, Some(WINDOW))?);
        if after(&seen, &now).is_none() {
            now = lines(&read(o, Some(MAX_WINDOW))?);
        }
        print(after(&seen, &now).unwrap_or(&now))?;
        seen = now;
    }
}

/// The node's last `lines` lines (the server's default without), or why not.
fn read(o: &LogsArgs, lines: Option<u32>) -> CliResult<Value> {
    let l = get(
        &o.cluster,
        "logs",
        &[
            ("node_id", o.node_id.map(|n| n.to_string())),
            ("lines", lines.map(|n| n.to_string())),
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

/// The lines of `now` (a log's last lines) written after those of `before` (an earlier
/// read of the same log): what follows the last place in `now` where the lines read
/// before end. `None` when they are not in it (the node wrote more than `now` holds
/// since, or its log was replaced).
fn after<'a>(before: &[String], now: &'a [String]) -> Option<&'a [String]> {
    if before.is_empty() {
        return Some(now);
    }
    (1..=now.len())
        .rev()
        .find(|&end| {
            let k = end.min(before.len());
            now[end - k..end] == before[before.len() - k..]
        })
        .map(|end| &now[end..])
}

#[cfg(test)]
mod tests {
    use super::after;

    fn v(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn only_lines_written_since_are_new() {
        let before = v(&["a", "b", "c"]);
        let new = |now: &[&str]| after(&before, &v(now)).map(<[String]>::to_vec);
        assert_eq!(new(&["a", "b", "c"]), Some(vec![]));
        assert_eq!(new(&["b", "c", "d", "e"]), Some(v(&["d", "e"])));
        // A longer window that starts earlier.
        assert_eq!(new(&["x", "a", "b", "c", "d"]), Some(v(&["d"])));
        // Nothing in common: not found.
        assert_eq!(new(&["p", "q"]), None);
        assert_eq!(
            after(&[], &v(&["p"])).map(<[String]>::to_vec),
            Some(v(&["p"]))
        );
        // A line repeated is told apart by the lines before it.
        let before = v(&["a", "c", "b", "c"]);
        let now = v(&["b", "c", "c"]);
        assert_eq!(after(&before, &now), Some(&now[2..]));
    }
}
