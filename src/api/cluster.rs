//! Cluster introspection: the nodes, their resources, what waits for resources, and the
//! jobs (driver programs), as the caller's node last heard from the head (or, on a lone
//! node, from its own manager).

use std::collections::BTreeMap;
use std::time::Duration;

use super::query;
use crate::Result;
use crate::actors::{NodeActors, NodeInfo, heard, nodes_of, sums};
use crate::ids::{JobId, NodeId};
use crate::node::{block_on, current_node};

/// The nodes of the cluster (one for the embedded runtime).
///
/// # Errors
/// [`Error::ShutDown`](crate::Error::ShutDown) if the runtime stops during the call.
///
/// # Examples
/// ```
/// let nodes = ray::nodes().unwrap();
/// assert!(nodes.iter().all(|n| n.alive));
/// assert_eq!(nodes[0].node_id, ray::runtime_context().node_id());
/// # ray::shutdown();
/// ```
pub fn nodes() -> Result<Vec<NodeInfo>> {
    let node = current_node()?;
    let stats = query()?;
    Ok(nodes_of(&node, &stats))
}

/// Total resources of the cluster's live nodes, e.g. `{"CPU": 8.0, "GPU": 0.0}`.
///
/// # Errors
/// As [`nodes`]: no runtime and none can be started, or the head cannot be reached.
///
/// # Examples
/// ```
/// ray::init_with(ray::Config::new().num_cpus(3.0).resource("disk", 2.0)).unwrap();
/// let r = ray::cluster_resources()?;
/// assert_eq!((r["CPU"], r["disk"]), (3.0, 2.0));
/// ray::shutdown();
/// # Ok::<(), ray::Error>(())
/// ```
pub fn cluster_resources() -> Result<BTreeMap<String, f64>> {
    Ok(sums(&nodes()?).0)
}

/// Resources of the cluster not currently held by tasks, actors or placement groups:
/// this node's now, the other live nodes' as their last heartbeat said.
///
/// # Errors
/// As [`nodes`].
///
/// # Examples
/// ```
/// ray::init_with(ray::Config::new().num_cpus(2.0)).unwrap();
/// assert_eq!(ray::available_resources()?["CPU"], 2.0);
/// ray::shutdown();
/// # Ok::<(), ray::Error>(())
/// ```
pub fn available_resources() -> Result<BTreeMap<String, f64>> {
    let node = current_node()?;
    let stats = query()?;
    let mut free = stats.available.to_map();
    for n in node.view.read().iter() {
        if n.alive && n.node_id != node.id {
            for (k, v) in &n.load.available {
                *free.entry(k.clone()).or_insert(0.0) += v;
            }
        }
    }
    Ok(free)
}

/// Resource requests that no live node of the cluster can satisfy: their tasks wait for
/// a node that fits to join (what `ray status` lists as pending demands). On a lone node
/// such tasks fail with [`Error::Infeasible`](crate::Error::Infeasible) instead, so this is empty there.
///
/// # Errors
/// [`Error::NotConnected`](crate::Error::NotConnected) when no runtime can be started.
///
/// # Examples
/// ```
/// assert!(ray::pending_demands()?.is_empty());
/// # ray::shutdown();
/// # Ok::<(), ray::Error>(())
/// ```
pub fn pending_demands() -> Result<Vec<String>> {
    let node = current_node()?;
    Ok(block_on(heard(&node)).demands)
}

/// One job (a driver program) of the cluster, as [`jobs`] reports it.
///
/// ```
/// let job = &ray::jobs()?[0];
/// assert_eq!(job.driver, ray::runtime_context().node_id());
/// # ray::shutdown();
/// # Ok::<(), ray::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobInfo {
    /// The job.
    pub job_id: JobId,
    /// The node its driver runs.
    pub driver: NodeId,
    /// Whether its driver is still heard from.
    pub alive: bool,
    /// How long ago it started.
    pub age: Duration,
}

/// The jobs of the cluster: every driver program the head has heard from (the head's job
/// table), alive while its driver keeps sending heartbeats. On a lone node, the one job
/// running there.
///
/// # Errors
/// [`Error::NotConnected`](crate::Error::NotConnected) when no runtime can be started.
///
/// # Examples
/// ```
/// let jobs = ray::jobs()?;
/// assert_eq!(jobs.len(), 1);
/// assert_eq!(jobs[0].job_id, ray::runtime_context().job_id());
/// assert!(jobs[0].alive);
/// # ray::shutdown();
/// # Ok::<(), ray::Error>(())
/// ```
pub fn jobs() -> Result<Vec<JobInfo>> {
    let node = current_node()?;
    if node.actors().cluster.get().is_none() {
        return Ok(vec![JobInfo {
            job_id: node.job_id,
            driver: node.id,
            alive: true,
            age: node.started.elapsed(),
        }]);
    }
    Ok(block_on(heard(&node))
        .jobs
        .iter()
        .map(|j| JobInfo {
            job_id: j.job_id,
            driver: j.driver,
            alive: j.alive,
            age: Duration::from_secs_f64(j.age_s.max(0.0)),
        })
        .collect())
}
