//! The JSON state API behind the dashboard page (and `ray list`): the cluster at a
//! glance (`/api/cluster`), the tasks running, waiting and recently done (`/api/tasks`)
//! and the actors each node knows (`/api/actors`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rows::{ActorRow, NodeRow, PlacementGroupRow, TaskRow};
use super::{Answer, MAX_LIMIT, bad, gone, json, limit};
use crate::actors::NodeActors;
use crate::actors::{Ask, HeadId, ListActive, ListActors, NodeAddr, QueryNode, heard};
use crate::actors::{CancelTask, nodes_of, sums};
use crate::ids::{NodeId, TaskId};
use crate::node::Node;
use crate::transport::WireMessage;

#[derive(Serialize)]
struct TaskCounts {
    queued: usize,
    waiting_for_deps: usize,
    running: usize,
    finished: u64,
    failed: u64,
}

impl TaskCounts {
    fn of(stats: &crate::actors::NodeStats) -> Self {
        Self {
            queued: stats.queued,
            waiting_for_deps: stats.waiting_for_deps,
            running: stats.running,
            finished: stats.finished,
            failed: stats.failed,
        }
    }
}

#[derive(Serialize)]
struct ObjectStore {
    num_objects: usize,
    bytes_used: usize,
    num_spilled: usize,
    bytes_spilled: usize,
    capacity: usize,
}

#[derive(Serialize)]
struct ClusterJson {
    /// The node serving the dashboard.
    node_id: String,
    /// The cluster's head (the node itself on a lone node).
    head_node_id: String,
    uptime_s: f64,
    nodes: Vec<NodeRow>,
    total: BTreeMap<String, f64>,
    available: BTreeMap<String, f64>,
    /// This node's task counts.
    tasks: TaskCounts,
    object_store: ObjectStore,
    pending_demands: Vec<String>,
}

/// `GET /api/cluster`.
pub(super) async fn cluster(node: &Arc<Node>) -> Answer {
    let stats = node
        .actors()
        .manager
        .send(QueryNode)
        .await
        .map_err(|_| gone())?;
    let nodes = nodes_of(node, &stats);
    let (total, available) = sums(&nodes);
    let store = node.store.summary();
    let head = match node.actors().cluster.get() {
        Some(agent) => agent.send(HeadId).await.ok().flatten(),
        None => None,
    };
    json(ClusterJson {
        node_id: node.id.to_string(),
        head_node_id: head.unwrap_or(node.id).to_string(),
        uptime_s: node.started.elapsed().as_secs_f64(),
        nodes: nodes
            .into_iter()
            .map(|n| NodeRow {
                node_id: n.node_id.to_string(),
                alive: n.alive,
                resources: n.resources,
                available: n.available,
                pending_tasks: n.pending_tasks,
                running_tasks: n.running_tasks,
                object_store_bytes: n.object_store_bytes,
            })
            .collect(),
        total,
        available,
        tasks: TaskCounts::of(&stats),
        object_store: ObjectStore {
            num_objects: store.num_objects,
            bytes_used: store.bytes_used,
            num_spilled: store.num_spilled,
            bytes_spilled: store.bytes_spilled,
            capacity: store.capacity,
        },
        pending_demands: heard(node).await.demands,
    })
}

/// A task running or waiting on its node now.
#[derive(Serialize)]
struct ActiveRow {
    task_id: String,
    name: String,
    /// `RUNNING`, `PENDING_NODE_ASSIGNMENT` or `PENDING_ARGS_AVAIL`.
    state: String,
    node_id: String,
}

#[derive(Serialize)]
struct TasksJson {
    counts: TaskCounts,
    /// The tasks running or waiting now, running ones first.
    active: Vec<ActiveRow>,
    /// The most recent finished tasks (the node keeps the last 10,000), newest first.
    recent: Vec<TaskRow>,
}

/// Filters of `GET /api/tasks` and `GET /api/actors`.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct ListQuery {
    /// Tasks: `FINISHED` or `FAILED`; actors: `ALIVE`, `DEAD`, ...
    state: Option<String>,
    /// Only tasks of this function; only actors of this name or class.
    name: Option<String>,
    /// At most this many (default 100, at most [`MAX_LIMIT`]).
    limit: Option<usize>,
}

impl ListQuery {
    /// Whether a task of function `name` in `state` passes the filters.
    fn keeps(&self, name: &str, state: &str) -> bool {
        self.state
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case(state))
            // A task run for another node carries its function's full path.
            && self.name.as_deref().is_none_or(|n| {
                name == n || name.strip_suffix(n).is_some_and(|p| p.ends_with("::"))
            })
    }
}

/// This node's tasks running or waiting now, matching `q`.
async fn active_of(node: &Arc<Node>, q: &ListQuery, limit: usize) -> Option<Vec<ActiveRow>> {
    let active = node
        .actors()
        .manager
        .send(ListActive { limit: MAX_LIMIT })
        .await
        .ok()?;
    Some(
        active
            .into_iter()
            .filter(|t| q.keeps(&t.name, t.state))
            .take(limit)
            .map(|t| ActiveRow {
                task_id: t.task_id.to_string(),
                name: t.name.to_string(),
                state: t.state.into(),
                node_id: node.id.to_string(),
            })
            .collect(),
    )
}

/// This node's recent tasks matching `q`.
async fn tasks_of(node: &Arc<Node>, q: &ListQuery) -> Option<TasksJson> {
    let stats = node.actors().manager.send(QueryNode).await.ok()?;
    // Another node asked with a limit its own dashboard checked; clamp all the same.
    let limit = q.limit.unwrap_or(100).min(MAX_LIMIT);
    let active = active_of(node, q, limit).await?;
    let recent = stats
        .history
        .iter()
        .rev()
        .map(|e| TaskRow {
            task_id: e.task_id.to_string(),
            name: e.name.to_string(),
            state: if e.ok { "FINISHED" } else { "FAILED" }.into(),
            node_id: node.id.to_string(),
            attempt: e.attempt,
            error: e.error.as_deref().map(str::to_string),
            start_s: e
                .start
                .saturating_duration_since(node.started)
                .as_secs_f64(),
            duration_s: e.end.saturating_duration_since(e.start).as_secs_f64(),
        })
        .filter(|t| q.keeps(&t.name, &t.state))
        .take(limit)
        .collect();
    Some(TasksJson {
        counts: TaskCounts::of(&stats),
        active,
        recent,
    })
}

/// `GET /api/tasks?state=FAILED&name=f&limit=100`: the tasks of every live node (asked
/// over the cluster's links), counts summed.
pub(super) async fn tasks(node: &Arc<Node>, query: &str) -> Answer {
    let q = serde_urlencoded::from_str::<ListQuery>(query)
        .map_err(|_| bad("state, name and limit are the filters"))?;
    let limit = limit(q.limit)?;
    let mine = tasks_of(node, &q).await.ok_or_else(gone)?;
    let mut all = serde_json::to_value(mine).unwrap_or_default();
    for other in from_others(node, &StateQuery::Tasks(q.clone())).await {
        for key in [
            "queued",
            "waiting_for_deps",
            "running",
            "finished",
            "failed",
        ] {
            let sum = all["counts"][key].as_u64().unwrap_or(0)
                + other["counts"][key].as_u64().unwrap_or(0);
            all["counts"][key] = sum.into();
        }
        for key in ["active", "recent"] {
            if let (Some(list), Some(more)) = (all[key].as_array_mut(), other[key].as_array()) {
                list.extend(more.iter().cloned());
            }
        }
    }
    for key in ["active", "recent"] {
        if let Some(list) = all[key].as_array_mut() {
            list.truncate(limit);
        }
    }
    Ok(all)
}

/// Which list one node asks another for, with its filters: what `GetState` carries
/// (encoded here; the transport sees bytes).
#[derive(Serialize, Deserialize)]
pub(super) enum StateQuery {
    Tasks(ListQuery),
    Actors,
    Objects(super::objects::ObjectQuery),
    Logs(super::logs::LogQuery),
    PlacementGroups,
    /// The user metrics of the node's process (`ray::util::metrics`).
    Metrics,
    /// Not a list but the one action: cancel a task this node owns or runs, as
    /// `ray::cancel_with` on its owner would (`ray cancel`; a node that has nothing of it
    /// ignores it). Answered `{node_id}`.
    Cancel {
        task_id: TaskId,
        force: bool,
        recursive: bool,
    },
    /// The node's samples of its load (`/api/history`).
    History,
}

impl StateQuery {
    /// As `GetState` carries it.
    pub(super) fn message(&self) -> WireMessage {
        WireMessage::GetState {
            query: rmp_serde::to_vec(self).unwrap_or_default().into(),
        }
    }
}

/// [`local_state`] as the cluster agent asks it (`Upcalls::local_state`): a query that
/// does not decode gets `null`.
pub(crate) fn answer_state(
    node: Arc<Node>,
    query: Vec<u8>,
) -> futures::future::LocalBoxFuture<'static, String> {
    Box::pin(async move {
        match rmp_serde::from_slice::<StateQuery>(&query) {
            Ok(q) => local_state(&node, q).await,
            Err(_) => Value::Null.to_string(),
        }
    })
}

/// This node's part of a list, as JSON (what another node's `GetState` gets).
async fn local_state(node: &Arc<Node>, query: StateQuery) -> String {
    let value = match query {
        StateQuery::Tasks(q) => serde_json::to_value(tasks_of(node, &q).await),
        StateQuery::Actors => serde_json::to_value(actors_of(node).await),
        StateQuery::Objects(q) => Ok(super::objects::objects_of(node, &q)),
        StateQuery::Logs(q) => Ok(super::logs::logs_of(node, &q)),
        StateQuery::PlacementGroups => serde_json::to_value(placement_groups_of(node).await),
        StateQuery::Metrics => {
            serde_json::to_value(super::user_metrics::snapshot(&node.id.to_string()))
        }
        StateQuery::Cancel {
            task_id,
            force,
            recursive,
        } => {
            // Another node's `ray cancel`: every node gets it, so this one is routine.
            tracing::debug!(node_id = %node.id, %task_id, force, recursive, "task cancel asked by another node");
            node.actors().manager.do_send(CancelTask {
                task_id,
                force,
                recursive,
            });
            Ok(serde_json::json!({ "node_id": node.id.to_string() }))
        }
        StateQuery::History => serde_json::to_value(super::history::history_of(node)),
    };
    value.unwrap_or_default().to_string()
}

/// The other live nodes of the cluster, and the live drivers' nodes (which the node
/// table does not list), with where to reach those.
pub(super) async fn others(node: &Arc<Node>) -> Vec<(NodeId, Option<NodeAddr>)> {
    let mut out: Vec<(NodeId, Option<NodeAddr>)> = node
        .view
        .read()
        .iter()
        .filter(|n| n.alive && n.node_id != node.id)
        .map(|n| (n.node_id, None))
        .collect();
    for job in heard(node).await.jobs {
        if job.alive && job.driver != node.id && out.iter().all(|(id, _)| *id != job.driver) {
            out.push((job.driver, job.at));
        }
    }
    out
}

/// The other live nodes' part of a list (nodes that do not answer are left out).
pub(super) async fn from_others(node: &Arc<Node>, query: &StateQuery) -> Vec<Value> {
    let Some(agent) = node.actors().cluster.get() else {
        return Vec::new();
    };
    let asks = others(node).await.into_iter().map(|(target, at)| {
        agent.send(Ask {
            target,
            at,
            msg: query.message(),
        })
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .filter_map(|a| match a {
            Ok(Ok(WireMessage::State { json })) => serde_json::from_str(&json).ok(),
            _ => None,
        })
        .collect()
}

fn unix_s(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The actors this node hosts: live ones, then the most recent dead ones.
async fn actors_of(node: &Arc<Node>) -> Option<Vec<ActorRow>> {
    let list = node.actors().registry.send(ListActors).await.ok()?;
    Some(
        list.into_iter()
            .map(|a| ActorRow {
                actor_id: a.actor_id.to_string(),
                // The class path, without the module it lives in.
                class: a.class.rsplit("::").next().unwrap_or(a.class).to_string(),
                name: a.name,
                node_id: node.id.to_string(),
                state: a.state.as_str().into(),
                restarts: a.restarts,
                death_cause: a.death_cause,
                created_s: unix_s(a.created),
                ended_s: a.ended.map(unix_s),
            })
            .collect(),
    )
}

/// `GET /api/actors?state=ALIVE`: the actors every live node hosts (and the last dead
/// ones each remembers).
pub(super) async fn actors(node: &Arc<Node>, query: &str) -> Answer {
    let q = serde_urlencoded::from_str::<ListQuery>(query)
        .map_err(|_| bad("state and name are the filters"))?;
    let mine = actors_of(node).await.ok_or_else(gone)?;
    let mut all: Vec<Value> = mine
        .into_iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .collect();
    for other in from_others(node, &StateQuery::Actors).await {
        all.extend(other.as_array().into_iter().flatten().cloned());
    }
    all.retain(|a| {
        q.state.as_deref().is_none_or(|s| {
            a["state"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(s))
        }) && q
            .name
            .as_deref()
            .is_none_or(|n| a["name"] == n || a["class"] == n)
    });
    Ok(Value::Array(all))
}

/// The most tasks one timeline draws (ten nodes' worth of [`MAX_LIMIT`]): the answer's
/// size stays bounded however large the cluster.
const MAX_TIMELINE: usize = 10 * MAX_LIMIT;

/// `GET /api/timeline`: recent tasks of every live node as Chrome trace events (what
/// `ray timeline -o trace.json` writes; Perfetto and `chrome://tracing` open it). One
/// process per node, one thread per concurrent slot; times count from each node's start.
pub(super) async fn timeline(node: &Arc<Node>) -> Answer {
    let everything = ListQuery {
        state: None,
        name: None,
        limit: Some(MAX_LIMIT),
    };
    let mine = tasks_of(node, &everything).await.ok_or_else(gone)?;
    let mut tasks: Vec<Value> = match serde_json::to_value(mine) {
        Ok(v) => v["recent"].as_array().cloned().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    for other in from_others(node, &StateQuery::Tasks(everything)).await {
        tasks.extend(other["recent"].as_array().into_iter().flatten().cloned());
    }
    let num = |v: &Value| v.as_f64().unwrap_or(0.0);
    tasks.sort_by(|a, b| num(&a["start_s"]).total_cmp(&num(&b["start_s"])));
    // However many nodes answer, one timeline holds the latest MAX_TIMELINE tasks.
    tasks.drain(..tasks.len().saturating_sub(MAX_TIMELINE));
    // Each node's slots: when each one is free again.
    let mut lanes: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let events: Vec<Value> = tasks
        .iter()
        .map(|t| {
            let (start, dur) = (num(&t["start_s"]), num(&t["duration_s"]));
            let pid = t["node_id"].as_str().unwrap_or("").to_string();
            let slots = lanes.entry(pid.clone()).or_default();
            let tid = match slots.iter().position(|free| *free <= start) {
                Some(i) => i,
                None => {
                    slots.push(0.0);
                    slots.len() - 1
                }
            };
            slots[tid] = start + dur;
            serde_json::json!({
                "name": t["name"], "cat": "task", "ph": "X",
                "ts": start * 1e6, "dur": dur * 1e6, "pid": pid, "tid": tid,
                "args": { "task_id": t["task_id"], "state": t["state"], "attempt": t["attempt"] },
            })
        })
        .collect();
    Ok(Value::Array(events))
}

/// The groups this node created, with where each bundle is.
async fn placement_groups_of(node: &Arc<Node>) -> Option<Vec<PlacementGroupRow>> {
    let groups = node
        .actors()
        .placement_groups
        .send(crate::actors::ListGroups)
        .await
        .ok()?;
    Some(
        groups
            .iter()
            .map(|g| {
                let (state, nodes) = match g.state() {
                    crate::PlacementGroupState::Pending => ("PENDING", Vec::new()),
                    crate::PlacementGroupState::Created(n) => {
                        ("CREATED", n.iter().map(ToString::to_string).collect())
                    }
                    crate::PlacementGroupState::Removed => ("REMOVED", Vec::new()),
                };
                PlacementGroupRow {
                    placement_group_id: g.id.to_string(),
                    name: g.name.clone(),
                    creator_node_id: node.id.to_string(),
                    strategy: format!("{:?}", g.strategy),
                    state: state.into(),
                    bundles: g.bundles.iter().map(|b| b.to_map()).collect(),
                    bundle_nodes: nodes,
                }
            })
            .collect(),
    )
}

/// `GET /api/placement_groups`: the groups every live node created.
pub(super) async fn placement_groups(node: &Arc<Node>) -> Answer {
    let mine = placement_groups_of(node).await.ok_or_else(gone)?;
    let mut all: Vec<Value> = mine
        .into_iter()
        .filter_map(|g| serde_json::to_value(g).ok())
        .collect();
    for other in from_others(node, &StateQuery::PlacementGroups).await {
        all.extend(other.as_array().into_iter().flatten().cloned());
    }
    Ok(Value::Array(all))
}
