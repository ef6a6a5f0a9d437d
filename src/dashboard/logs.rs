//! `/api/logs`: the last lines of a node's log file, or (`from`) the lines written after
//! a byte offset an earlier answer gave as its `end`, which is how `ray logs --follow`
//! reads each line exactly once. Only the file the node was started with
//! (`Config::log_file`) is ever read: the request names a node, never a path.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Answer, Refused, bad, gone};
use crate::actors::NodeActors;
use crate::actors::{Ask, HeadId};
use crate::node::Node;
use crate::transport::WireMessage;

/// Lines given when the request does not say.
const DEFAULT_LINES: usize = 200;
/// The most lines one request gets.
const MAX_LINES: usize = 10_000;
/// The most bytes read from the end of the file.
const MAX_BYTES: u64 = 4 << 20;

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct LogQuery {
    /// Whose log (default: the head's).
    node_id: Option<String>,
    lines: Option<usize>,
    /// Lines from this byte offset on (an earlier answer's `end`) instead of the last.
    from: Option<u64>,
}

/// This node's log lines, as JSON: `{node_id, file, lines, end}` or `{node_id, error}`.
pub(super) fn logs_of(node: &Arc<Node>, q: &LogQuery) -> Value {
    let lines = match q.from {
        None => q.lines.unwrap_or(DEFAULT_LINES),
        Some(_) => q.lines.unwrap_or(MAX_LINES),
    }
    .min(MAX_LINES);
    let node_id = node.id.to_string();
    let Some(path) = &node.log_file else {
        return serde_json::json!({
            "node_id": node_id,
            "error": "this node has no log file: it logs wherever its program's tracing \
                      subscriber writes (nodes started with `ray start` log to a file)",
        });
    };
    let Some(file) = &node.log else {
        return serde_json::json!({
            "node_id": node_id,
            "error": format!(
                "{} could not be opened when the node started (create it before ray::init)",
                path.display()
            ),
        });
    };
    match read_lines(file, q.from, lines) {
        Ok((lines, end)) => serde_json::json!({
            "node_id": node_id, "file": path.display().to_string(), "lines": lines, "end": end,
        }),
        Err(e) => serde_json::json!({
            "node_id": node_id,
            "error": format!("cannot read {}: {e}", path.display()),
        }),
    }
}

/// Whole lines of the file, read at positions (concurrent requests share the handle,
/// not an offset), and the offset just past the last one given (the next read's
/// `from`). Without `from`: the last `n` lines among the last `MAX_BYTES`. With it: the
/// first `n` lines written at or after byte `from`, from at most `MAX_BYTES` (the rest
/// comes with the next read); a file now shorter than `from` was replaced or cut, and
/// is read from its start. A last line still being written (no newline yet) waits for
/// the next read, unless it alone fills the `MAX_BYTES` read.
fn read_lines(
    f: &std::fs::File,
    from: Option<u64>,
    n: usize,
) -> std::io::Result<(Vec<String>, u64)> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    let start = match from {
        Some(at) if at <= len => at,
        Some(_) => 0,
        None => len.saturating_sub(MAX_BYTES),
    };
    // At most MAX_BYTES (4 MiB), so it fits in usize.
    let mut bytes = vec![0u8; (len - start).min(MAX_BYTES) as usize];
    let mut got = 0;
    while got < bytes.len() {
        match f.read_at(&mut bytes[got..], start + got as u64)? {
            0 => break,
            k => got += k,
        }
    }
    bytes.truncate(got);
    // A tail starting mid-file begins mid-line.
    let skip = match from {
        None if start > 0 => bytes
            .iter()
            .position(|b| *b == b'\n')
            .map_or(got, |i| i + 1),
        _ => 0,
    };
    let full = got == MAX_BYTES as usize;
    let whole = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) if i >= skip => i + 1,
        _ if full && from.is_some() => got,
        _ => skip,
    };
    let mut lines: Vec<(String, usize)> = bytes[skip..whole]
        .split_inclusive(|b| *b == b'\n')
        .scan(skip, |at, line| {
            *at += line.len();
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            Some((String::from_utf8_lossy(text).into_owned(), *at))
        })
        .collect();
    let end = match from {
        None => {
            lines.drain(..lines.len().saturating_sub(n));
            whole
        }
        Some(_) => {
            lines.truncate(n);
            lines.last().map_or(skip, |(_, at)| *at)
        }
    };
    Ok((
        lines.into_iter().map(|(line, _)| line).collect(),
        start + end as u64,
    ))
}

/// `GET /api/logs?node_id=ID&lines=200` (`&from=END` for the lines after an earlier answer).
pub(super) async fn logs(node: &Arc<Node>, query: &str) -> Answer {
    let q = serde_urlencoded::from_str::<LogQuery>(query)
        .map_err(|_| bad("node_id, lines and from are the filters"))?;
    // Without a node: the head's log (the node itself on a lone node or the head).
    let head = match (&q.node_id, node.actors().cluster.get()) {
        (None, Some(agent)) => agent.send(HeadId).await.ok().flatten(),
        _ => None,
    };
    let named = q.node_id.clone().or(head.map(|h| h.to_string()));
    let target = named.as_deref().filter(|id| *id != node.id.to_string());
    let Some(target) = target else {
        let here = node.clone();
        return tokio::task::spawn_blocking(move || logs_of(&here, &q))
            .await
            .map_err(|_| gone());
    };
    let (target, at) = super::state::others(node)
        .await
        .into_iter()
        .find(|(id, _)| id.to_string() == target)
        .ok_or_else(|| Refused(404, format!("no live node {target}")))?;
    let agent = node
        .actors()
        .cluster
        .get()
        .ok_or_else(|| Refused(404, "this node is not part of a cluster".into()))?;
    let asked = agent
        .send(Ask {
            target,
            at,
            msg: super::state::StateQuery::Logs(q).message(),
        })
        .await;
    match asked {
        Ok(Ok(WireMessage::State { json })) => serde_json::from_str(&json)
            .map_err(|e| Refused(502, format!("node {target} sent bad JSON: {e}"))),
        Ok(Ok(other)) => Err(Refused(502, format!("node {target} answered {other:?}"))),
        Ok(Err(e)) => Err(Refused(502, e.to_string())),
        Err(_) => Err(gone()),
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_BYTES, read_lines};

    fn log(name: &str, text: &str) -> (std::path::PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!("ray-{name}-{}.log", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        (path, file)
    }

    #[test]
    fn the_last_lines_and_where_they_end() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let (path, file) = log("tail", &text);
        let (lines, end) = read_lines(&file, None, 2).unwrap();
        assert_eq!(lines, vec!["line 998", "line 999"]);
        assert_eq!(end, text.len() as u64);
        assert_eq!(read_lines(&file, None, 5000).unwrap().0.len(), 1000);
        // The open file is read, whatever the path names later.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read_lines(&file, None, 1).unwrap().0, vec!["line 999"]);
    }

    #[test]
    fn lines_after_an_offset_come_once_and_whole() {
        use std::io::Write;
        let (path, file) = log("from", "a\nb\n");
        let (_, end) = read_lines(&file, None, 10).unwrap();
        assert_eq!(end, 4);
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        // A line still being written waits for its newline.
        w.write_all(b"c\nd").unwrap();
        let (lines, end) = read_lines(&file, Some(end), 10).unwrap();
        assert_eq!((lines, end), (vec!["c".to_string()], 6));
        assert_eq!(read_lines(&file, Some(end), 10).unwrap(), (vec![], 6));
        w.write_all(b"\r\ne\n").unwrap();
        let (lines, end) = read_lines(&file, Some(end), 10).unwrap();
        assert_eq!((lines, end), (vec!["d".to_string(), "e".to_string()], 11));
        // At most `n` lines a read; the next one goes on from there.
        w.write_all(b"f\ng\nh\n").unwrap();
        let (lines, end) = read_lines(&file, Some(end), 2).unwrap();
        assert_eq!((lines, end), (vec!["f".to_string(), "g".to_string()], 15));
        assert_eq!(read_lines(&file, Some(end), 2).unwrap().0, vec!["h"]);
        // A log cut shorter than the offset is read from its start.
        std::fs::write(&path, "new\n").unwrap();
        assert_eq!(
            read_lines(&file, Some(end), 10).unwrap(),
            (vec!["new".into()], 4)
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn more_than_one_read_holds_comes_over_several() {
        let line = format!("{}\n", "x".repeat(1023));
        let count = (MAX_BYTES as usize / line.len()) * 3 / 2;
        let (path, file) = log("big", &line.repeat(count));
        let (first, end) = read_lines(&file, Some(0), usize::MAX).unwrap();
        let (rest, last) = read_lines(&file, Some(end), usize::MAX).unwrap();
        assert_eq!(first.len() + rest.len(), count);
        assert_eq!(last, (count * line.len()) as u64);
        // One line longer than a read still moves on.
        std::fs::write(&path, "y".repeat(MAX_BYTES as usize + 10)).unwrap();
        let (lines, end) = read_lines(&file, Some(0), 10).unwrap();
        assert_eq!((lines[0].len(), end), (MAX_BYTES as usize, MAX_BYTES));
        std::fs::remove_file(&path).unwrap();
    }
}
