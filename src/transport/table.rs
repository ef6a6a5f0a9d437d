//! The cluster's tables as the wire carries them: nodes with their load, jobs (driver
//! programs) and named actors.

use serde::{Deserialize, Serialize};

use crate::ids::{ActorId, JobId, NodeId};

/// One job (a driver program) in the head's job table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireJob {
    /// The job.
    pub job_id: JobId,
    /// The node its driver runs.
    pub driver: NodeId,
    /// Whether the driver was heard from within the node timeout.
    pub alive: bool,
    /// Seconds since the head first heard from it.
    pub age_s: f64,
    /// Where the driver listens, with its certificate's SHA-256.
    #[serde(default)]
    pub at: Option<(std::net::SocketAddr, [u8; 32])>,
}

/// A node's QUIC endpoint and the hash of its certificate.
pub type Endpoint = (std::net::SocketAddr, [u8; 32]);

/// A named actor in the head's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireActor {
    /// The actor.
    pub actor_id: ActorId,
    /// Its name, with its namespace (`namespace/name`).
    pub name: String,
    /// Its class's registered name.
    pub class: String,
    /// The node hosting it.
    pub node_id: NodeId,
    /// That node's endpoint and certificate hash, when it is not in the node table (a
    /// driver).
    pub at: Option<(std::net::SocketAddr, [u8; 32])>,
    /// The node that re-creates it elsewhere when its node dies (`max_restarts`), with
    /// its endpoint when it is not in the node table (a driver): a handle found by name
    /// asks it where the actor went, as the creator's handles do.
    #[serde(default)]
    pub creator: Option<(NodeId, Option<Endpoint>)>,
    /// Its `max_task_retries` (calls lost with its node run again on the new instance).
    #[serde(default)]
    pub task_retries: i32,
}

/// One node as the cluster's node table lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireNode {
    /// The node.
    pub node_id: NodeId,
    /// Its QUIC endpoint.
    pub addr: std::net::SocketAddr,
    /// SHA-256 of its certificate (peers pin it).
    pub fingerprint: [u8; 32],
    /// Its total resources.
    pub resources: Vec<(String, f64)>,
    /// Whether the head hears its heartbeats.
    pub alive: bool,
    /// Its load at its last heartbeat.
    pub load: NodeLoad,
    /// Its build's functions fingerprint; `None` for a generic node (`ray start` without
    /// a program), which runs no functions itself but starts a job's worker processes.
    #[serde(default)]
    pub build: Option<u64>,
    /// Set for a job's worker process: it runs only that job's work.
    #[serde(default)]
    pub job: Option<JobId>,
    /// The generic node that started this job worker, whose resources its work uses.
    #[serde(default)]
    pub host: Option<NodeId>,
}

/// What a node reports with each heartbeat, for `ray status`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeLoad {
    /// Resources not held by tasks or actors.
    pub available: Vec<(String, f64)>,
    /// Tasks waiting for resources or arguments.
    pub pending: u64,
    /// Tasks running.
    pub running: u64,
    /// Resource requests of tasks that no live node can run (they wait).
    pub infeasible: Vec<String>,
    /// Bytes held by the node's object store.
    #[serde(default)]
    pub object_store_bytes: u64,
    /// The node's resources now: they change as placement groups reserve bundles.
    #[serde(default)]
    pub total: Vec<(String, f64)>,
}
