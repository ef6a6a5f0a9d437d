//! `ray::util::state`: the cluster's nodes, actors, tasks, objects, placement groups
//! and jobs as typed values, with filters and limits as Ray's state SDK, on one node
//! and across the nodes of a `cluster_utils` cluster.

mod common;

use ray::prelude::*;
use ray::util::state::{
    Filter, ListOptions, get_actor, get_task, list_actors, list_jobs, list_nodes, list_objects,
    list_placement_groups, list_tasks,
};
use ray::{PlacementStrategy, bundle};

pub struct Keeper;

#[ray::remote]
impl Keeper {
    pub fn new() -> Self {
        Keeper
    }

    pub fn node(&self) -> ray::NodeId {
        ray::runtime_context().node_id()
    }
}

#[ray::remote]
fn fine(x: u32) -> ray::NodeId {
    let _ = x;
    ray::runtime_context().node_id()
}

#[ray::remote]
fn broken() -> Result<u32, String> {
    Err("broken on purpose".into())
}

fn all() -> ListOptions {
    ListOptions::new().limit(ray::util::state::MAX_LIMIT)
}

#[test]
fn one_node_lists_what_it_runs_holds_and_remembers() {
    let _ray = common::init(2.0);
    let kept = Keeper::options().name("kept").remote();
    ray::get(&kept.ready()).unwrap();
    let gone = Keeper::remote();
    ray::get(&gone.ready()).unwrap();
    ray::kill(&gone);
    ray::get(&(0..5).map(|x| fine.remote(x)).collect::<Vec<_>>()).unwrap();
    let failed = broken.remote();
    assert!(ray::get(&failed).is_err());
    let held = ray::put(vec![7u8; 1 << 20]);
    let pg = ray::placement_group(vec![bundle([("CPU", 1.0)])], PlacementStrategy::Pack).unwrap();
    pg.wait(std::time::Duration::from_secs(10)).unwrap();

    let nodes = list_nodes(&all()).unwrap();
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].alive && nodes[0].resources["CPU"] == 2.0);

    let alive = list_actors(&all().filter(Filter::eq("state", "alive"))).unwrap();
    assert_eq!(alive.len(), 1, "{alive:?}");
    assert_eq!(alive[0].name.as_deref(), Some("kept"));
    assert_eq!(alive[0].actor_id, kept.id().to_string());
    let dead = list_actors(&all().filter(Filter::ne("state", "ALIVE"))).unwrap();
    assert!(
        dead.iter()
            .any(|a| a.actor_id == gone.id().to_string() && a.state == "DEAD"),
        "{dead:?}"
    );
    assert_eq!(get_actor(kept.id()).unwrap().unwrap().class, "Keeper");
    let unknown: ray::ActorId = "actor-00000000000000ff".parse().unwrap();
    assert!(get_actor(unknown).unwrap().is_none());

    let tasks = list_tasks(&all()).unwrap();
    assert_eq!(
        tasks.iter().filter(|t| t.name.ends_with("fine")).count(),
        5,
        "{tasks:?}"
    );
    let failures = list_tasks(&all().filter(Filter::eq("state", "FAILED"))).unwrap();
    assert!(
        failures.iter().any(|t| t.name.ends_with("broken")
            && t.error.as_deref().is_some_and(|e| e.contains("on purpose"))),
        "{failures:?}"
    );
    let two = list_tasks(&all().limit(2)).unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(
        get_task(two[0].task_id.parse().unwrap()).unwrap().as_ref(),
        Some(&two[0])
    );

    let objects = list_objects(&all()).unwrap();
    let mine = objects
        .iter()
        .find(|o| o.object_id == held.id().to_string())
        .expect("the put object is listed");
    assert!(mine.size >= 1 << 20, "{mine:?}");

    let groups = list_placement_groups(&all()).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].placement_group_id, pg.id().to_string());
    assert_eq!(groups[0].state, "CREATED");

    // The embedded runtime is a driver of its own: no submitted jobs.
    let jobs = list_jobs(&all()).unwrap();
    assert!(jobs.iter().all(|j| j.kind != "SUBMISSION"), "{jobs:?}");

    // Bad requests are errors that say what is wrong.
    let bad_key = list_actors(&all().filter(Filter::eq("colour", "red")));
    assert!(
        matches!(&bad_key, Err(ray::Error::InvalidArgument(m)) if m.contains("colour")),
        "{bad_key:?}"
    );
    let too_many = list_tasks(&ListOptions::new().limit(ray::util::state::MAX_LIMIT + 1));
    assert!(matches!(too_many, Err(ray::Error::InvalidArgument(_))));
}

#[test]
fn across_nodes_every_node_answers_for_what_it_hosts() {
    let (cluster, nodes) = common::two_nodes_with("r");
    let _ray = common::join(&cluster.address());
    let on = |i: usize| ray::SchedulingStrategy::NodeAffinity {
        node_id: nodes[i].node_id(),
        soft: false,
    };
    let k = Keeper::options().scheduling_strategy(on(1)).remote();
    assert_eq!(ray::get(&k.node.remote()).unwrap(), nodes[1].node_id());
    let ran: Vec<ray::NodeId> = (0..2)
        .map(|i| ray::get(&fine.options().scheduling_strategy(on(i)).remote(0)).unwrap())
        .collect();
    assert_eq!(ran, [nodes[0].node_id(), nodes[1].node_id()]);

    let listed = list_nodes(&all().filter(Filter::eq("alive", "true"))).unwrap();
    for n in &nodes {
        assert!(
            listed.iter().any(|l| l.node_id == n.node_id().to_string()),
            "{listed:?}"
        );
    }
    let actor = get_actor(k.id()).unwrap().expect("listed by its node");
    assert_eq!(actor.node_id, nodes[1].node_id().to_string());
    let tasks = list_tasks(&all()).unwrap();
    for n in &nodes {
        assert!(
            tasks
                .iter()
                .any(|t| t.name.ends_with("fine") && t.node_id == n.node_id().to_string()),
            "a task of node {} is listed: {tasks:?}",
            n.node_id()
        );
    }
}
