//! `GET /api/history`: the load of every live node over the last minutes, as each node
//! sampled it (`node/samples.rs`: tasks running and queued, object store bytes, its
//! process's CPU and memory; every second, the last 600 by default), and the cluster's
//! task and store figures summed over the nodes. What the page's plots draw; a page
//! opened now shows the past minutes at once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::state::{StateQuery, from_others};
use super::{Answer, json};
use crate::node::Node;

/// One node's samples, oldest first, one array per series (all the same length).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct NodeHistory {
    node_id: String,
    /// Seconds between its samples.
    interval_s: f64,
    /// How many samples it keeps.
    capacity: usize,
    /// When each sample was taken (Unix seconds).
    t: Vec<f64>,
    tasks_running: Vec<u32>,
    tasks_queued: Vec<u32>,
    store_bytes: Vec<u64>,
    /// Its process's CPU use, in percent of one core.
    cpu_percent: Vec<f32>,
    /// Its process's resident memory, in bytes.
    mem_bytes: Vec<u64>,
}

/// The cluster's figures: the nodes' samples summed per interval of the serving node.
#[derive(Debug, Default, Serialize)]
struct ClusterHistory {
    t: Vec<f64>,
    tasks_running: Vec<u64>,
    tasks_queued: Vec<u64>,
    store_bytes: Vec<u64>,
}

#[derive(Serialize)]
struct HistoryJson {
    /// The node serving the answer: its clock, its sampling interval and capacity.
    node_id: String,
    now: f64,
    interval_s: f64,
    capacity: usize,
    /// This node first, then the others by id.
    nodes: Vec<NodeHistory>,
    cluster: ClusterHistory,
}

/// `node`'s own samples.
pub(super) fn history_of(node: &Node) -> NodeHistory {
    let samples = node.samples.snapshot();
    let mut h = NodeHistory {
        node_id: node.id.to_string(),
        interval_s: node.samples.every().as_secs_f64(),
        capacity: node.samples.capacity(),
        ..NodeHistory::default()
    };
    for s in samples {
        // Milliseconds are enough, and keep the answer short.
        h.t.push((s.unix_s * 1000.0).round() / 1000.0);
        h.tasks_running.push(s.tasks_running);
        h.tasks_queued.push(s.tasks_queued);
        h.store_bytes.push(s.store_bytes);
        h.cpu_percent.push((s.cpu_percent * 10.0).round() / 10.0);
        h.mem_bytes.push(s.mem_bytes);
    }
    h
}

/// `GET /api/history`.
pub(super) async fn history(node: &Arc<Node>) -> Answer {
    let mut nodes = vec![history_of(node)];
    let mut others: Vec<NodeHistory> = from_others(node, &StateQuery::History)
        .await
        .into_iter()
        .filter_map(|v| serde_json::from_value::<NodeHistory>(v).ok())
        .collect();
    others.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    others.dedup_by(|a, b| a.node_id == b.node_id);
    nodes.extend(
        others
            .into_iter()
            .filter(|o| o.node_id != node.id.to_string()),
    );
    let interval_s = node.samples.every().as_secs_f64();
    json(HistoryJson {
        node_id: node.id.to_string(),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        interval_s,
        capacity: node.samples.capacity(),
        cluster: summed(&nodes, interval_s),
        nodes,
    })
}

/// The nodes' task counts and store bytes summed per interval of `width` seconds: each
/// node counts with its latest sample up to that interval, while its samples are no
/// older than its own interval (a node that stopped sampling stops counting).
fn summed(nodes: &[NodeHistory], width: f64) -> ClusterHistory {
    let width = if width > 0.0 { width } else { 1.0 };
    let bucket = |t: f64| (t / width).floor() as i64;
    let mut keys: Vec<i64> = nodes
        .iter()
        .flat_map(|n| n.t.iter().map(|t| bucket(*t)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut out = ClusterHistory::default();
    // Per node: how many of its samples are at or before the current interval.
    let mut seen = vec![0usize; nodes.len()];
    for key in keys {
        let (mut running, mut queued, mut bytes) = (0u64, 0u64, 0u64);
        for (n, seen) in nodes.iter().zip(seen.iter_mut()) {
            while n.t.get(*seen).is_some_and(|t| bucket(*t) <= key) {
                *seen += 1;
            }
            let Some(last) = seen.checked_sub(1) else {
                continue;
            };
            let stale = (n.interval_s / width).ceil() as i64 + 1;
            if n.t.get(last).is_none_or(|t| key - bucket(*t) > stale) {
                continue;
            }
            running += u64::from(n.tasks_running.get(last).copied().unwrap_or(0));
            queued += u64::from(n.tasks_queued.get(last).copied().unwrap_or(0));
            bytes += n.store_bytes.get(last).copied().unwrap_or(0);
        }
        out.t.push((key as f64 * width * 1000.0).round() / 1000.0);
        out.tasks_running.push(running);
        out.tasks_queued.push(queued);
        out.store_bytes.push(bytes);
    }
    out
}
