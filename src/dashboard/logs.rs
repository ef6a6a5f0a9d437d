//! `/api/logs`: the last lines of a node's log file. Only the file the node was started
//! with (`Config::log_file`) is ever read: the request names a node, never a path.

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
}

/// This node's log tail, as JSON: `{node_id, file, lines}` or `{node_id, error}`.
pub(super) fn logs_of(node: &Arc<Node>, q: &LogQuery) -> Value {
    let lines = q.lines.unwrap_or(DEFAULT_LINES).min(MAX_LINES);
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
    match tail(file, lines) {
        Ok(lines) => serde_json::json!({
            "node_id": node_id, "file": path.display().to_string(), "lines": lines,
        }),
        Err(e) => serde_json::json!({
            "node_id": node_id,
            "error": format!("cannot read {}: {e}", path.display()),
        }),
    }
}

/// The last `n` lines of the file (at most `MAX_BYTES` from its end), read at positions:
/// concurrent requests share the handle, not an offset.
fn tail(f: &std::fs::File, n: usize) -> std::io::Result<Vec<String>> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    let from = len.saturating_sub(MAX_BYTES);
    // At most MAX_BYTES (4 MiB), so it fits in usize.
    let mut bytes = vec![0u8; (len - from) as usize];
    let mut got = 0;
    while got < bytes.len() {
        match f.read_at(&mut bytes[got..], from + got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    bytes.truncate(got);
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    // A read starting mid-file begins mid-line.
    if from > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..].iter().map(|l| l.to_string()).collect())
}

/// `GET /api/logs?node_id=ID&lines=200`.
pub(super) async fn logs(node: &Arc<Node>, query: &str) -> Answer {
    let q = serde_urlencoded::from_str::<LogQuery>(query)
        .map_err(|_| bad("node_id and lines are the filters"))?;
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
    use super::tail;

    #[test]
    fn tail_gives_the_last_lines() {
        let path = std::env::temp_dir().join(format!("ray-tail-{}.log", std::process::id()));
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        assert_eq!(tail(&file, 2).unwrap(), vec!["line 998", "line 999"]);
        assert_eq!(tail(&file, 5000).unwrap().len(), 1000);
        // The open file is read, whatever the path names later.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(tail(&file, 1).unwrap(), vec!["line 999"]);
    }
}
