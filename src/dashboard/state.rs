//! The JSON state API behind the dashboard page (and, later, `ray list`): the cluster at
//! a glance (`/api/cluster`), the node's recent tasks (`/api/tasks`) and the actors it
//! knows (`/api/actors`).

use std::collections::BTreeMap;
use std::sync::Weak;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{node_of, unavailable};
use crate::actors::{ListActors, QueryNode};
use crate::api::nodes_of;
use crate::runtime::Node;

#[derive(Serialize)]
struct NodeJson {
    node_id: String,
    alive: bool,
    resources: BTreeMap<String, f64>,
    available: BTreeMap<String, f64>,
    pending_tasks: u64,
    running_tasks: u64,
    object_store_bytes: u64,
}

#[derive(Serialize)]
struct TaskCounts {
    queued: usize,
    waiting_for_deps: usize,
    running: usize,
    finished: u64,
    failed: u64,
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
    uptime_s: f64,
    nodes: Vec<NodeJson>,
    total: BTreeMap<String, f64>,
    available: BTreeMap<String, f64>,
    /// This node's task counts.
    tasks: TaskCounts,
    object_store: ObjectStore,
    pending_demands: Vec<String>,
}

/// `GET /api/cluster`.
pub(super) async fn cluster(data: web::Data<Weak<Node>>) -> HttpResponse {
    let Some(node) = node_of(&data) else {
        return unavailable();
    };
    let Ok(stats) = node.manager.send(QueryNode).await else {
        return unavailable();
    };
    let nodes = nodes_of(&node, &stats);
    let (mut total, mut available) = (BTreeMap::new(), BTreeMap::new());
    for n in nodes.iter().filter(|n| n.alive) {
        for (k, v) in &n.resources {
            *total.entry(k.clone()).or_insert(0.0) += v;
        }
        for (k, v) in &n.available {
            *available.entry(k.clone()).or_insert(0.0) += v;
        }
    }
    let store = node.store.summary();
    HttpResponse::Ok().json(ClusterJson {
        node_id: node.id.to_string(),
        uptime_s: node.started.elapsed().as_secs_f64(),
        nodes: nodes
            .into_iter()
            .map(|n| NodeJson {
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
        tasks: TaskCounts {
            queued: stats.queued,
            waiting_for_deps: stats.waiting_for_deps,
            running: stats.running,
            finished: stats.finished,
            failed: stats.failed,
        },
        object_store: ObjectStore {
            num_objects: store.num_objects,
            bytes_used: store.bytes_used,
            num_spilled: store.num_spilled,
            bytes_spilled: store.bytes_spilled,
            capacity: store.capacity,
        },
        pending_demands: node.demands.read().clone(),
    })
}

#[derive(Serialize)]
struct TaskJson {
    task_id: String,
    name: String,
    state: &'static str,
    /// Seconds since the node started.
    start_s: f64,
    duration_s: f64,
}

#[derive(Serialize)]
struct TasksJson {
    counts: TaskCounts,
    /// The most recent finished tasks (the node keeps the last 10,000), newest first.
    recent: Vec<TaskJson>,
}

/// Filters of `GET /api/tasks`.
#[derive(Deserialize)]
pub(super) struct TaskQuery {
    /// `FINISHED` or `FAILED`.
    state: Option<String>,
    /// Only tasks of this function.
    name: Option<String>,
    /// At most this many (default 100).
    limit: Option<usize>,
}

/// `GET /api/tasks?state=FAILED&name=f&limit=100`.
pub(super) async fn tasks(data: web::Data<Weak<Node>>, q: web::Query<TaskQuery>) -> HttpResponse {
    let Some(node) = node_of(&data) else {
        return unavailable();
    };
    let Ok(stats) = node.manager.send(QueryNode).await else {
        return unavailable();
    };
    let limit = q.limit.unwrap_or(100);
    let recent = stats
        .history
        .iter()
        .rev()
        .map(|e| TaskJson {
            task_id: e.task_id.to_string(),
            name: e.name.to_string(),
            state: if e.ok { "FINISHED" } else { "FAILED" },
            start_s: e
                .start
                .saturating_duration_since(node.started)
                .as_secs_f64(),
            duration_s: e.end.saturating_duration_since(e.start).as_secs_f64(),
        })
        .filter(|t| {
            q.state
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case(t.state))
        })
        .filter(|t| q.name.as_deref().is_none_or(|n| n == t.name))
        .take(limit)
        .collect();
    HttpResponse::Ok().json(TasksJson {
        counts: TaskCounts {
            queued: stats.queued,
            waiting_for_deps: stats.waiting_for_deps,
            running: stats.running,
            finished: stats.finished,
            failed: stats.failed,
        },
        recent,
    })
}

#[derive(Serialize)]
struct ActorJson {
    actor_id: String,
    class: &'static str,
    name: Option<String>,
    /// The node hosting it.
    node_id: String,
    state: &'static str,
}

/// `GET /api/actors`: the live actors this node has handles to.
pub(super) async fn actors(data: web::Data<Weak<Node>>) -> HttpResponse {
    let Some(node) = node_of(&data) else {
        return unavailable();
    };
    let Ok(list) = node.registry.send(ListActors).await else {
        return unavailable();
    };
    let out: Vec<ActorJson> = list
        .into_iter()
        .map(|a| ActorJson {
            actor_id: a.actor_id.to_string(),
            // The class path, without the module it lives in.
            class: a.class.rsplit("::").next().unwrap_or(a.class),
            name: a.name,
            node_id: a.remote_node.unwrap_or(node.id).to_string(),
            state: "ALIVE",
        })
        .collect();
    HttpResponse::Ok().json(out)
}
