//! `Cluster`: several real nodes in one process, for tests and examples — each with its
//! own actix System, store, scheduler and QUIC endpoint on 127.0.0.1, joined to a head
//! exactly as separate processes would be.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::ids::NodeId;
use crate::node::Global;
use crate::runtime::start;
use crate::{Error, Result};

/// How to start one node of a [`Cluster`].
///
/// # Examples
/// ```
/// use ray::cluster_utils::NodeConfig;
/// let cfg = NodeConfig::new().num_cpus(2.0).resource("special", 1.0);
/// # let _ = cfg;
/// ```
#[derive(Debug, Clone)]
pub struct NodeConfig {
    config: Config,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeConfig {
    /// One CPU, no other resources; heartbeats every 100 ms and a node declared dead
    /// after 1 s of silence (tests want quick failure detection). The nodes share this
    /// process, so they use loopback (127.0.0.1), whatever routes the host has.
    pub fn new() -> Self {
        Self {
            config: Config::new()
                .without_job()
                .node_ip_address("127.0.0.1")
                .num_cpus(1.0)
                .heartbeat_interval(Duration::from_millis(100))
                .node_timeout(Duration::from_secs(1)),
        }
    }
    /// The address the node hands out (default 127.0.0.1), e.g. `"::1"` for a cluster
    /// over IPv6 loopback.
    ///
    /// # Examples
    /// ```
    /// use ray::cluster_utils::{Cluster, NodeConfig};
    /// let cluster = Cluster::new(NodeConfig::new().node_ip_address("::1")).unwrap();
    /// assert!(cluster.address().contains("@[::1]:"));
    /// ```
    pub fn node_ip_address(mut self, ip: &str) -> Self {
        self.config = self.config.node_ip_address(ip);
        self
    }

    /// Logical CPUs of the node.
    pub fn num_cpus(mut self, n: f64) -> Self {
        self.config = self.config.num_cpus(n);
        self
    }
    /// Logical GPUs of the node.
    pub fn num_gpus(mut self, n: f64) -> Self {
        self.config = self.config.num_gpus(n);
        self
    }
    /// A custom resource of the node.
    pub fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
        self.config = self.config.resource(name, amount);
        self
    }
    /// How long the head waits for heartbeats before declaring a node dead.
    pub fn node_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.node_timeout(timeout);
        self
    }
    /// How many dead nodes the head keeps listing ([`Config::max_dead_nodes`]).
    pub fn max_dead_nodes(mut self, n: usize) -> Self {
        self.config = self.config.max_dead_nodes(n);
        self
    }
    /// How often the node samples its load for the dashboard's plots, and how many
    /// samples it keeps ([`Config::dashboard_history`]).
    pub fn dashboard_history(mut self, every: Duration, samples: usize) -> Self {
        self.config = self.config.dashboard_history(every, samples);
        self
    }
    /// Testing only: a wait before each of the node's pulls
    /// ([`Config::testing_pull_delay`]).
    #[doc(hidden)]
    pub fn testing_pull_delay(mut self, delay: Duration) -> Self {
        self.config = self.config.testing_pull_delay(delay);
        self
    }
}

/// A node of a [`Cluster`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeHandle {
    node_id: NodeId,
}

impl NodeHandle {
    /// The node's id (as `runtime_context().node_id()` reports it on that node).
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }
}

/// Several nodes in this process: a head plus the nodes added with [`Cluster::add_node`].
/// Dropping the cluster stops every node.
///
/// # Examples
/// ```
/// use ray::cluster_utils::{Cluster, NodeConfig};
/// use ray::prelude::*;
///
/// #[ray::remote]
/// fn where_am_i() -> ray::NodeId { ray::runtime_context().node_id() }
///
/// let mut cluster = Cluster::new(NodeConfig::new().num_cpus(1.0)).unwrap();
/// let special = cluster.add_node(NodeConfig::new().resource("special", 1.0)).unwrap();
/// cluster.wait_for_nodes().unwrap();
/// ray::init_with(ray::Config::new().address(cluster.address())).unwrap();
///
/// let r = where_am_i.options().resource("special", 1.0).remote();
/// assert_eq!(ray::get(&r).unwrap(), special.node_id());
/// ray::shutdown();
/// ```
pub struct Cluster {
    head: Option<Global>,
    nodes: BTreeMap<NodeId, Global>,
    address: String,
}

impl Cluster {
    /// Starts the head node.
    ///
    /// # Errors
    /// When the node's threads or its QUIC endpoint cannot start.
    pub fn new(head: NodeConfig) -> Result<Self> {
        let mut config = head.config;
        config.head = true;
        let head = start(config)?;
        let address = head
            .node
            .join_address
            .get()
            .map(ToString::to_string)
            .ok_or_else(|| Error::NotConnected("the head has no QUIC endpoint".into()))?;
        Ok(Self {
            head: Some(head),
            nodes: BTreeMap::new(),
            address,
        })
    }

    /// Starts a node in this process and joins it to the head.
    ///
    /// # Errors
    /// When it cannot start or the head refuses it.
    pub fn add_node(&mut self, node: NodeConfig) -> Result<NodeHandle> {
        let mut config = node.config.address(self.address.clone());
        config.worker = true;
        let started = start(config)?;
        let node_id = started.node.id;
        self.nodes.insert(node_id, started);
        Ok(NodeHandle { node_id })
    }

    /// Kills a node abruptly, as a crash would: its endpoint closes without a goodbye
    /// and its threads stop. The head notices through missing heartbeats.
    pub fn remove_node(&mut self, node: &NodeHandle) {
        if let Some(started) = self.nodes.remove(&node.node_id) {
            started.stop();
        }
    }

    /// Waits until the head lists every added node as alive (up to 10 s).
    ///
    /// # Errors
    /// [`Error::Timeout`] if some node did not show up in time.
    pub fn wait_for_nodes(&self) -> Result<()> {
        let timeout = Duration::from_secs(10);
        let deadline = Instant::now() + timeout;
        let Some(head) = &self.head else {
            return Err(Error::ShutDown);
        };
        loop {
            let alive: Vec<NodeId> = head
                .node
                .view
                .read()
                .iter()
                .filter(|n| n.alive)
                .map(|n| n.node_id)
                .collect();
            if self.nodes.keys().all(|id| alive.contains(id)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout { after: timeout });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The join address (`ray://TOKEN@HOST:PORT#CERT`) for `Config::address` and
    /// `RAY_ADDRESS`.
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// The head's node id.
    pub fn head_node_id(&self) -> Option<NodeId> {
        self.head.as_ref().map(|h| h.node.id)
    }

    /// Where the head serves the cluster's dashboard.
    pub fn dashboard_url(&self) -> Option<String> {
        self.head
            .as_ref()
            .and_then(|h| h.node.dashboard.get().map(|d| format!("http://{}", d.addr)))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, n) in std::mem::take(&mut self.nodes) {
            n.stop();
        }
        if let Some(h) = self.head.take() {
            h.stop();
        }
    }
}
