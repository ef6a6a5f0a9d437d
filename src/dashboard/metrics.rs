//! `GET /metrics`: the node's figures in Prometheus's text exposition format, under
//! Ray's metric names where Ray has one (`ray_tasks`, `ray_actors`, `ray_resources`,
//! `ray_object_store_memory`, `ray_node_*`, `ray_cluster_*_nodes`).

use std::fmt::Write;
use std::sync::Weak;

use actix_web::{HttpResponse, web};

use super::exposition::{self, escape};
use super::server::{node_of, unavailable};
use super::state::{StateQuery, from_others};
use super::user_metrics;
use crate::actors::NodeActors;
use crate::actors::{ActorState, QueryNode};
use crate::actors::{nodes_of, sums};
use crate::node::Node;

/// One metric family: its help, type and samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn start<'a>(out: &'a mut String, name: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        let _ = writeln!(self.out, "{name}{labels} {value}");
        self
    }
}

/// The process's resident memory in bytes (0 where /proc cannot be read).
fn rss_bytes() -> f64 {
    crate::machine::rss_bytes().unwrap_or(0) as f64
}

/// The families about this node's store and process, and the cluster's node counts.
fn node_families(out: &mut String, node: &Node, nodes: &[crate::NodeInfo]) {
    let store = node.store.summary();
    Family::start(
        out,
        "ray_object_store_memory",
        "Bytes of this node's objects, in memory and spilled to disk.",
    )
    .sample(
        "ray_object_store_memory",
        &[("Location", "MMAP_SHM")],
        store.bytes_used as f64,
    )
    .sample(
        "ray_object_store_memory",
        &[("Location", "SPILLED")],
        store.bytes_spilled as f64,
    );

    Family::start(
        out,
        "ray_node_mem_used",
        "Resident memory of this node's process, bytes.",
    )
    .sample(
        "ray_node_mem_used",
        &[("NodeId", &node.id.to_string())],
        rss_bytes(),
    );
    Family::start(out, "ray_node_cpu_count", "CPUs this node offers.").sample(
        "ray_node_cpu_count",
        &[("NodeId", &node.id.to_string())],
        node.total.get("CPU"),
    );
    let alive = nodes.iter().filter(|n| n.alive).count();
    Family::start(
        out,
        "ray_cluster_active_nodes",
        "Live nodes of the cluster.",
    )
    .sample("ray_cluster_active_nodes", &[], alive as f64);
    Family::start(
        out,
        "ray_cluster_failed_nodes",
        "Dead nodes of the cluster.",
    )
    .sample(
        "ray_cluster_failed_nodes",
        &[],
        (nodes.len() - alive) as f64,
    );
}

pub(super) async fn metrics(data: web::Data<Weak<Node>>) -> HttpResponse {
    let Some(node) = node_of(&data) else {
        return unavailable();
    };
    let Ok(stats) = node.actors().manager.send(QueryNode).await else {
        return unavailable();
    };
    let nodes = nodes_of(&node, &stats);
    let mut out = String::new();

    let mut f = Family::start(&mut out, "ray_tasks", "Tasks of this node by state.");
    f.sample(
        "ray_tasks",
        &[("State", "PENDING_NODE_ASSIGNMENT")],
        stats.queued as f64,
    )
    .sample(
        "ray_tasks",
        &[("State", "PENDING_ARGS_AVAIL")],
        stats.waiting_for_deps as f64,
    )
    .sample("ray_tasks", &[("State", "RUNNING")], stats.running as f64)
    .sample("ray_tasks", &[("State", "FINISHED")], stats.finished as f64)
    .sample("ray_tasks", &[("State", "FAILED")], stats.failed as f64);

    let actors = node
        .actors()
        .registry
        .send(crate::actors::ListActors)
        .await
        .unwrap_or_default();
    let mut f = Family::start(
        &mut out,
        "ray_actors",
        "Actors this node hosts by state (dead ones: the most recent it keeps).",
    );
    for state in [
        ActorState::PendingCreation,
        ActorState::Alive,
        ActorState::Restarting,
        ActorState::Dead,
    ] {
        let n = actors.iter().filter(|a| a.state == state).count();
        f.sample("ray_actors", &[("State", state.as_str())], n as f64);
    }

    let mut f = Family::start(
        &mut out,
        "ray_resources",
        "Logical resources of the cluster's live nodes, used and available.",
    );
    let (total, available) = sums(&nodes);
    for (name, all) in &total {
        let free = available.get(name).copied().unwrap_or(0.0);
        f.sample(
            "ray_resources",
            &[("Name", name), ("State", "USED")],
            all - free,
        )
        .sample(
            "ray_resources",
            &[("Name", name), ("State", "AVAILABLE")],
            free,
        );
    }

    node_families(&mut out, &node, &nodes);

    // What user code recorded, in every process of the cluster (each once).
    let mut snapshots = vec![user_metrics::snapshot(&node.id.to_string())];
    for other in from_others(&node, &StateQuery::Metrics).await {
        if let Ok(s) = serde_json::from_value::<user_metrics::Snapshot>(other)
            && snapshots.iter().all(|mine| mine.process != s.process)
        {
            snapshots.push(s);
        }
    }
    exposition::render(&mut out, &snapshots);

    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out)
}
