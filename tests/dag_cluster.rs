//! Compiled graphs across nodes (`ray::dag`): an actor on another node takes part through
//! a persistent QUIC channel opened at compile time. Results equal the classic calls;
//! errors, panics and a dead node reach the executions' refs; teardown gives the remote
//! instance back to its host, so classic calls work again. The nodes are real nodes
//! with their own QUIC endpoints, in this process (`cluster_utils`).

mod common;
mod dag_stage;

use std::time::Duration;

use ray::Error;
use ray::cluster_utils::{Cluster, NodeConfig, NodeHandle};
use ray::dag::{InputNode, MultiOutputNode};
use ray::prelude::*;

use dag_stage::Stage;

fn cluster() -> (Cluster, NodeHandle) {
    common::tracing();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(1.0)).unwrap();
    let a = cluster
        .add_node(NodeConfig::new().num_cpus(2.0).resource("a", 1.0))
        .unwrap();
    cluster.wait_for_nodes().unwrap();
    (cluster, a)
}

#[test]
fn a_chain_through_an_actor_on_another_node_equals_classic_calls() {
    let (cluster, a_node) = cluster();
    let _ray = common::join(&cluster.address());
    let local = Stage::remote(1);
    let far = Stage::options().resource("a", 0.5).remote(2);
    let far2 = Stage::options().resource("a", 0.5).remote(3);
    assert_eq!(ray::get(&far.node.remote()).unwrap(), a_node.node_id());
    assert_ne!(ray::get(&local.node.remote()).unwrap(), a_node.node_id());

    let classic: Vec<i64> = (0..20)
        .map(|x| ray::get(&local.run.remote(far2.run.remote(far.run.remote(x)))).unwrap())
        .collect();
    let inp = InputNode::new();
    let dag = local.run.bind(far2.run.bind(far.run.bind(&inp)));
    let compiled = dag.compile().unwrap();
    let refs: Vec<_> = (0..20).map(|x| compiled.execute(x).unwrap()).collect();
    assert_eq!(ray::get(&refs).unwrap(), classic);

    // Classic calls to the remote actor are refused while it is lent...
    let err = ray::get(&far.calls.remote()).unwrap_err();
    assert!(matches!(err, Error::ActorUnavailable { .. }), "{err:?}");
    drop(compiled);
    // ...and reach the same instance after teardown: 20 classic + 20 compiled calls.
    assert_eq!(ray::get(&far.calls.remote()).unwrap(), 40);
    assert_eq!(ray::get(&far2.calls.remote()).unwrap(), 40);
}

#[test]
fn fan_out_to_another_node_with_constants_async_and_errors() {
    let (cluster, _) = cluster();
    let _ray = common::join(&cluster.address());
    let local = Stage::remote(0);
    let far = Stage::options().resource("a", 0.5).remote(10);
    let inp = InputNode::new();
    let x = local.run.bind(&inp);
    let dag = MultiOutputNode::new([
        far.sum.bind(&x, 1000),
        far.later.bind(&x),
        far.checked.bind(local.sum.bind(&x, -10)),
    ]);
    let compiled = dag.compile().unwrap();
    for i in [0i64, 3, 8] {
        let refs = compiled.execute(i).unwrap();
        assert_eq!(ray::get(&refs[0]).unwrap(), 2 * i + 1000);
        assert_eq!(ray::get(&refs[1]).unwrap(), 2 * i + 100);
        match ray::get(&refs[2]) {
            Ok(v) => assert_eq!(v, 2 * i - 10),
            Err(Error::TaskFailed {
                function, message, ..
            }) => {
                assert!(2 * i - 10 < 0);
                assert_eq!(function, "Stage.checked");
                assert!(message.contains("is negative"), "{message}");
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

#[test]
fn a_panic_on_the_other_node_kills_that_actor_for_the_graph() {
    let (cluster, _) = cluster();
    let _ray = common::join(&cluster.address());
    let local = Stage::remote(0);
    let far = Stage::options().resource("a", 0.5).remote(0);
    let compiled = local
        .run
        .bind(far.explode.bind(InputNode::new()))
        .compile()
        .unwrap();
    assert_eq!(ray::get(&compiled.execute(1).unwrap()).unwrap(), 2);
    let err = ray::get(&compiled.execute(13).unwrap()).unwrap_err();
    assert!(
        err.is_panic() && err.to_string().contains("unlucky 13"),
        "{err:?}"
    );
    let later = ray::get(&compiled.execute(2).unwrap()).unwrap_err();
    assert!(matches!(later, Error::ActorDied { .. }), "{later:?}");
    drop(compiled);
    assert!(matches!(
        ray::get(&far.node.remote()),
        Err(Error::ActorDied { .. })
    ));
    assert_eq!(ray::get(&local.calls.remote()).unwrap(), 1);
}

#[test]
fn a_dead_node_fails_the_executions_through_it() {
    let (mut cluster, a_node) = cluster();
    let _ray = common::join(&cluster.address());
    let local = Stage::remote(0);
    let far = Stage::options().resource("a", 0.5).remote(0);
    let compiled = local
        .run
        .bind(far.run.bind(InputNode::new()))
        .compile()
        .unwrap();
    assert_eq!(ray::get(&compiled.execute(1).unwrap()).unwrap(), 4);
    cluster.remove_node(&a_node);
    let r = compiled.execute(1).unwrap();
    let err = ray::get_timeout(&r, Duration::from_secs(30)).unwrap_err();
    assert!(matches!(err, Error::ActorDied { .. }), "{err:?}");
    // Later executions fail at once; teardown does not hang.
    let err = ray::get(&compiled.execute(2).unwrap()).unwrap_err();
    assert!(matches!(err, Error::ActorDied { .. }), "{err:?}");
    drop(compiled);
    assert_eq!(ray::get(&local.calls.remote()).unwrap(), 1);
}
