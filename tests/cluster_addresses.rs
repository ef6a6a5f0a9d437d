//! Join addresses as users write them: a cluster over IPv6 (`[::1]:port`), and a join
//! address that names the head by host name.

mod common;

use ray::cluster_utils::{Cluster, NodeConfig};
use ray::prelude::*;

#[ray::remote]
fn where_am_i() -> ray::NodeId {
    ray::runtime_context().node_id()
}

#[test]
fn a_cluster_runs_over_ipv6_and_a_driver_joins_it_by_host_name() {
    common::tracing();
    let mut cluster =
        Cluster::new(NodeConfig::new().num_cpus(0.0).node_ip_address("::1")).expect("a head");
    let node = cluster
        .add_node(NodeConfig::new().node_ip_address("::1").resource("v6", 1.0))
        .expect("a node joined over IPv6");
    cluster.wait_for_nodes().unwrap();
    let address = cluster.address();
    assert!(address.contains("@[::1]:"), "{address}");
    // `localhost` resolves to 127.0.0.1 or ::1: the head listens on both.
    let port = address
        .split("]:")
        .nth(1)
        .unwrap()
        .split('#')
        .next()
        .unwrap();
    let by_name = address.replace(&format!("[::1]:{port}"), &format!("localhost:{port}"));
    let _ray = common::join(&by_name);
    let r = where_am_i.options().resource("v6", 1.0).remote();
    assert_eq!(ray::get(&r).unwrap(), node.node_id());
}
