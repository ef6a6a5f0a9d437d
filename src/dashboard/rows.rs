//! One row of each list the state API serves (`/api/*`, `ray list`), as typed values:
//! the dashboard serializes these, and `ray::util::state` hands them to Rust callers
//! (under Ray's names: `NodeState`, `TaskState`, ...).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A node of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    /// The node.
    pub node_id: String,
    /// Whether it is alive.
    pub alive: bool,
    /// Its total resources.
    pub resources: BTreeMap<String, f64>,
    /// Its free resources, as of its last heartbeat.
    pub available: BTreeMap<String, f64>,
    /// Tasks waiting there for resources or arguments.
    pub pending_tasks: u64,
    /// Tasks running there.
    pub running_tasks: u64,
    /// Bytes its object store holds.
    pub object_store_bytes: u64,
}

/// A finished task (each node keeps its last 10,000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    /// The task.
    pub task_id: String,
    /// Its function.
    pub name: String,
    /// `FINISHED` or `FAILED`.
    pub state: String,
    /// The node it ran on.
    pub node_id: String,
    /// Which try it was (0: the first).
    pub attempt: u32,
    /// What it failed with.
    pub error: Option<String>,
    /// When it started, in seconds since its node started.
    pub start_s: f64,
    /// How long it ran, in seconds.
    pub duration_s: f64,
}

/// An actor: live, or one of the last dead ones its node remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorRow {
    /// The actor.
    pub actor_id: String,
    /// Its class, without the module path.
    pub class: String,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// The node hosting it.
    pub node_id: String,
    /// `PENDING_CREATION`, `ALIVE`, `RESTARTING` or `DEAD`.
    pub state: String,
    /// How often it restarted.
    pub restarts: u32,
    /// Why it died.
    pub death_cause: Option<String>,
    /// When it was created (Unix seconds).
    pub created_s: f64,
    /// When it died (Unix seconds).
    pub ended_s: Option<f64>,
}

/// An object in a node's store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRow {
    /// The object.
    pub object_id: String,
    /// The node whose store has this entry.
    pub node_id: String,
    /// The node that owns the object (where it was made or put).
    pub owner_node_id: String,
    /// `READY`, `PENDING`, `SPILLED`, `REMOTE`, ...
    pub state: String,
    /// Its size in bytes.
    pub size: usize,
    /// References to it on `node_id`.
    pub ref_count: usize,
    /// Nodes holding the value.
    pub locations: Vec<String>,
    /// For `REMOTE`: the node that holds the value until it is read.
    pub held_at: Option<String>,
}

/// A placement group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementGroupRow {
    /// The group.
    pub placement_group_id: String,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// The node that created it.
    pub creator_node_id: String,
    /// `Pack`, `Spread`, `StrictPack` or `StrictSpread`.
    pub strategy: String,
    /// `PENDING`, `CREATED` or `REMOVED`.
    pub state: String,
    /// Each bundle's resources.
    pub bundles: Vec<BTreeMap<String, f64>>,
    /// The node of each bundle, once created.
    pub bundle_nodes: Vec<String>,
}

/// A job: submitted with `ray job submit` (`SUBMISSION`), or a driver that joined the
/// cluster (`DRIVER`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    /// The job.
    pub job_id: String,
    /// `SUBMISSION` or `DRIVER`.
    pub kind: String,
    /// `PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`, `STOPPED` (submitted), or
    /// `RUNNING`, `FINISHED` (drivers).
    pub state: String,
    /// What a submitted job runs.
    pub entrypoint: Option<String>,
    /// When it started (Unix seconds).
    pub start_time: Option<f64>,
    /// When it ended (Unix seconds).
    pub end_time: Option<f64>,
    /// Its driver's exit status.
    pub exit_code: Option<i32>,
    /// Why it ended as it did.
    pub message: Option<String>,
    /// The node of its driver.
    pub driver_node_id: Option<String>,
}
