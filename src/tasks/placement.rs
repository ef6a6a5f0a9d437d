//! Where a task runs: a pure function of the request, the strategy and the node table.
//! Ray's hybrid default: pack onto the local node while it has the resources free; when
//! it is busy, spill to a live node whose last reported load has them free (round robin);
//! when every node is busy, queue where the task fits (locally first). `SPREAD` rotates
//! over every node that fits; node affinity pins (hard) or prefers (soft) one node.

use crate::SchedulingStrategy;
use crate::ids::{JobId, NodeId};
use crate::resources::Resources;
use crate::transport::WireNode;

/// The decision for one task.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Placement {
    Local,
    Remote(NodeId),
    /// No live node can ever run it.
    Infeasible,
    /// Hard affinity to a node that is not alive.
    NodeGone(NodeId),
    /// No process of the work's build fits, but this generic node can start one (a
    /// worker of the work's job): ask it to, and wait.
    StartWorker(NodeId),
}

/// A resource list as the wire carries it, as a resource set (entries that are not valid
/// amounts are left out).
pub(crate) fn to_resources(list: &[(String, f64)]) -> Resources {
    let mut r = Resources::new();
    for (k, v) in list {
        if let Ok(units) = crate::resources::to_units(k, *v) {
            r.set_units(k, units);
        }
    }
    r
}

pub(crate) fn resources_of(node: &WireNode) -> Resources {
    to_resources(&node.resources)
}

/// Whose work is placed: it runs only in processes of its build, and a submitted job's
/// work also in worker processes that generic nodes start for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Who {
    /// The build's functions fingerprint.
    pub(crate) build: Option<u64>,
    /// The submitted job it belongs to.
    pub(crate) job: Option<JobId>,
}

/// A node that can run `who`'s work, with the resources that work uses there (a job
/// worker's are its generic node's).
struct Candidate<'a> {
    id: NodeId,
    on: &'a WireNode,
}

/// The nodes of `view` (alive, other than `local`) that run `who`'s work, and the
/// generic nodes that could start a worker for it.
fn candidates<'a>(
    view: &'a [WireNode],
    local: NodeId,
    who: &Who,
) -> (Vec<Candidate<'a>>, Vec<&'a WireNode>) {
    let live = || view.iter().filter(move |n| n.alive && n.node_id != local);
    let mut direct = Vec::new();
    for n in live() {
        match (n.job, n.host) {
            (Some(job), Some(host)) if Some(job) == who.job => {
                if let Some(h) = view.iter().find(|h| h.node_id == host && h.alive) {
                    direct.push(Candidate {
                        id: n.node_id,
                        on: h,
                    });
                }
            }
            (Some(_), _) => {}
            (None, _) if n.build.is_some() && n.build == who.build => {
                direct.push(Candidate {
                    id: n.node_id,
                    on: n,
                });
            }
            _ => {}
        }
    }
    let served = |host: NodeId| {
        view.iter()
            .any(|w| w.alive && w.host == Some(host) && w.job.is_some() && w.job == who.job)
    };
    let startable = live()
        .filter(|n| who.job.is_some() && n.build.is_none() && !served(n.node_id))
        .collect();
    (direct, startable)
}

/// Where round robin stands, and what the last task this node sent on tells.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Turn {
    /// Advances on every round-robin decision.
    pub(crate) next: usize,
    /// The node the last task sent on went to, and whether that task is done. A task
    /// spilled while that one is done goes there again, where the node's threads are
    /// still awake (a lone stream of tasks stays on one node, as Ray's hybrid policy
    /// packs); while it is out, the next goes to another node if one is free, so
    /// concurrent tasks spread.
    pub(crate) last: Option<(NodeId, bool)>,
}

/// The candidate `turn` points at; advances it.
fn rotate<T: Copy>(turn: &mut Turn, candidates: &[T]) -> Option<T> {
    let i = turn.next % candidates.len().max(1);
    turn.next = turn.next.wrapping_add(1);
    candidates.get(i).copied()
}

/// Among remote `options`: where the last task went if it is done, else another than
/// that one if there is one, round robin.
fn follow(turn: &mut Turn, mut options: Vec<NodeId>) -> Option<NodeId> {
    match turn.last {
        Some((last, true)) if options.contains(&last) => return Some(last),
        Some((last, false)) if options.len() > 1 => options.retain(|n| *n != last),
        _ => {}
    }
    rotate(turn, &options)
}

/// Decides where a task with request `req` runs, round robin by `turn` where there is a
/// choice.
#[allow(clippy::too_many_arguments)]
pub(crate) fn place(
    local: NodeId,
    local_total: &Resources,
    local_free: &Resources,
    req: &Resources,
    strategy: &SchedulingStrategy,
    view: &[WireNode],
    who: &Who,
    turn: &mut Turn,
) -> Placement {
    let fits_local = local_total.covers(req);
    let (direct, startable) = candidates(view, local, who);
    let fits = |n: &WireNode| resources_of(n).covers(req);
    let free_now = |n: &WireNode| to_resources(&n.load.available).covers(req);
    let remote: Vec<NodeId> = direct.iter().filter(|c| fits(c.on)).map(|c| c.id).collect();
    let start = |pred: &dyn Fn(&WireNode) -> bool| {
        startable
            .iter()
            .find(|n| fits(n) && pred(n))
            .map(|n| Placement::StartWorker(n.node_id))
    };
    match strategy {
        SchedulingStrategy::NodeAffinity { node_id, soft } => {
            if *node_id == local && fits_local {
                return Placement::Local;
            }
            // A process named (a job worker too), or a generic node named: its worker
            // for this job, or a new one.
            let on = direct
                .iter()
                .find(|c| (c.id == *node_id || c.on.node_id == *node_id) && fits(c.on));
            if let Some(c) = on {
                return Placement::Remote(c.id);
            }
            if let Some(p) = start(&|n| n.node_id == *node_id) {
                return p;
            }
            if !soft {
                return Placement::NodeGone(*node_id);
            }
        }
        SchedulingStrategy::Spread => {
            // Over every process that fits, and every generic node that could start one.
            let mut all: Vec<Placement> = remote.iter().map(|n| Placement::Remote(*n)).collect();
            all.extend(
                startable
                    .iter()
                    .filter(|n| fits(n))
                    .map(|n| Placement::StartWorker(n.node_id)),
            );
            if fits_local {
                all.push(Placement::Local);
            }
            let options: Vec<usize> = (0..all.len()).collect();
            return rotate(turn, &options)
                .and_then(|i| all.get(i).cloned())
                .unwrap_or(Placement::Infeasible);
        }
        // Inside a placement group the request names the group's resources, which only
        // the nodes holding its bundles have.
        SchedulingStrategy::Default | SchedulingStrategy::PlacementGroup { .. } => {}
    }
    if fits_local && local_free.covers(req) {
        return Placement::Local;
    }
    // Busy here (or never fits here): a node with the resources free right now, or a
    // generic node with them free that can start a worker.
    let free: Vec<NodeId> = direct
        .iter()
        .filter(|c| remote.contains(&c.id) && free_now(c.on))
        .map(|c| c.id)
        .collect();
    if let Some(n) = follow(turn, free) {
        return Placement::Remote(n);
    }
    if let Some(p) = start(&free_now) {
        return p;
    }
    if fits_local {
        return Placement::Local;
    }
    match follow(turn, remote) {
        Some(n) => Placement::Remote(n),
        None => start(&|_| true).unwrap_or(Placement::Infeasible),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::to_units;

    const WHO: Who = Who {
        build: Some(1),
        job: None,
    };

    fn node(cpus: f64, special: f64, alive: bool) -> WireNode {
        WireNode {
            node_id: NodeId::new(),
            addr: "127.0.0.1:1".parse().unwrap(),
            fingerprint: [0; 32],
            resources: vec![("CPU".into(), cpus), ("special".into(), special)],
            alive,
            load: Default::default(),
            build: Some(1),
            job: None,
            host: None,
        }
    }

    fn req(name: &str, n: f64) -> Resources {
        let mut r = Resources::new();
        r.set_units(name, to_units(name, n).unwrap());
        r
    }

    #[test]
    fn local_first_then_nodes_that_fit_then_infeasible() {
        let me = NodeId::new();
        let mut local = Resources::new();
        local.set_units("CPU", 10_000);
        let special = node(1.0, 1.0, true);
        let dead = node(1.0, 5.0, false);
        let view = vec![special.clone(), dead.clone()];
        let mut turn = Turn::default();
        let d = SchedulingStrategy::Default;
        assert_eq!(
            place(
                me,
                &local,
                &local,
                &req("CPU", 1.0),
                &d,
                &view,
                &WHO,
                &mut turn
            ),
            Placement::Local
        );
        assert_eq!(
            place(
                me,
                &local,
                &local,
                &req("special", 1.0),
                &d,
                &view,
                &WHO,
                &mut turn
            ),
            Placement::Remote(special.node_id)
        );
        // Only the dead node has 5 "special": nothing live can run it.
        assert_eq!(
            place(
                me,
                &local,
                &local,
                &req("special", 5.0),
                &d,
                &view,
                &WHO,
                &mut turn
            ),
            Placement::Infeasible
        );
        let hard = SchedulingStrategy::NodeAffinity {
            node_id: dead.node_id,
            soft: false,
        };
        assert_eq!(
            place(
                me,
                &local,
                &local,
                &req("CPU", 1.0),
                &hard,
                &view,
                &WHO,
                &mut turn
            ),
            Placement::NodeGone(dead.node_id)
        );
        let soft = SchedulingStrategy::NodeAffinity {
            node_id: dead.node_id,
            soft: true,
        };
        assert_eq!(
            place(
                me,
                &local,
                &local,
                &req("CPU", 1.0),
                &soft,
                &view,
                &WHO,
                &mut turn
            ),
            Placement::Local
        );
    }

    #[test]
    fn a_busy_local_node_spills_to_a_node_with_free_resources() {
        let me = NodeId::new();
        let mut total = Resources::new();
        total.set_units("CPU", 20_000);
        let busy = Resources::new();
        let mut idle = node(2.0, 0.0, true);
        idle.load.available = vec![("CPU".into(), 2.0)];
        let mut full = node(2.0, 0.0, true);
        full.load.available = vec![("CPU".into(), 0.0)];
        let view = vec![full.clone(), idle.clone()];
        let mut turn = Turn::default();
        let d = SchedulingStrategy::Default;
        assert_eq!(
            place(
                me,
                &total,
                &busy,
                &req("CPU", 1.0),
                &d,
                &view,
                &WHO,
                &mut turn
            ),
            Placement::Remote(idle.node_id)
        );
        // Everyone busy: queue here, where it fits.
        assert_eq!(
            place(
                me,
                &total,
                &busy,
                &req("CPU", 1.0),
                &d,
                &[full],
                &WHO,
                &mut turn
            ),
            Placement::Local
        );
    }

    #[test]
    fn spread_rotates_over_every_node_that_fits() {
        let me = NodeId::new();
        let mut local = Resources::new();
        local.set_units("CPU", 10_000);
        let view = vec![node(1.0, 0.0, true), node(1.0, 0.0, true)];
        let mut turn = Turn::default();
        let picks: std::collections::HashSet<_> = (0..6)
            .map(|_| {
                place(
                    me,
                    &local,
                    &local,
                    &req("CPU", 1.0),
                    &SchedulingStrategy::Spread,
                    &view,
                    &WHO,
                    &mut turn,
                )
            })
            .collect();
        assert_eq!(picks.len(), 3);
    }

    #[test]
    fn a_spilled_task_follows_the_last_one_when_it_is_done_and_avoids_it_while_out() {
        let me = NodeId::new();
        let none = Resources::new();
        let mut view = vec![node(2.0, 0.0, true), node(2.0, 0.0, true)];
        for n in &mut view {
            n.load.available = n.resources.clone();
        }
        let (a, b) = (view[0].node_id, view[1].node_id);
        let d = SchedulingStrategy::Default;
        let cpu = req("CPU", 1.0);
        let at = |last, next| {
            let mut turn = Turn { next, last };
            place(me, &none, &none, &cpu, &d, &view, &WHO, &mut turn)
        };
        // Done: the same node, wherever round robin stands.
        for next in 0..4 {
            assert_eq!(at(Some((b, true)), next), Placement::Remote(b));
        }
        // Still out: the other node, wherever round robin stands.
        for next in 0..4 {
            assert_eq!(at(Some((a, false)), next), Placement::Remote(b));
        }
        // Nothing sent yet: round robin.
        assert_ne!(at(None, 0), at(None, 1));
        // A done node that is busy now is not followed.
        view[1].load.available.clear();
        let mut turn = Turn {
            next: 0,
            last: Some((b, true)),
        };
        assert_eq!(
            place(me, &none, &none, &cpu, &d, &view, &WHO, &mut turn),
            Placement::Remote(a)
        );
    }

    #[test]
    fn job_work_goes_to_its_workers_or_starts_one_on_a_generic_node() {
        let me = NodeId::new();
        let none = Resources::new();
        let job = JobId::new();
        let who = Who {
            build: Some(7),
            job: Some(job),
        };
        let mut generic = node(4.0, 0.0, true);
        generic.build = None;
        generic.load.available = generic.resources.clone();
        let mut other_build = node(4.0, 0.0, true);
        other_build.build = Some(8);
        other_build.load.available = other_build.resources.clone();
        let d = SchedulingStrategy::Default;
        let cpu = req("CPU", 1.0);
        let mut turn = Turn::default();
        let view = vec![generic.clone(), other_build.clone()];
        assert_eq!(
            place(me, &none, &none, &cpu, &d, &view, &who, &mut turn),
            Placement::StartWorker(generic.node_id),
            "no process of this build: the generic node starts one"
        );
        // Its worker joined: it runs there, with the generic node's resources.
        let mut worker = node(0.0, 0.0, true);
        (worker.build, worker.job, worker.host) = (Some(7), Some(job), Some(generic.node_id));
        worker.resources.clear();
        let mut other_job = worker.clone();
        (other_job.node_id, other_job.job) = (NodeId::new(), Some(JobId::new()));
        let view = vec![
            generic.clone(),
            other_build,
            other_job.clone(),
            worker.clone(),
        ];
        assert_eq!(
            place(me, &none, &none, &cpu, &d, &view, &who, &mut turn),
            Placement::Remote(worker.node_id)
        );
        // A second worker of the job, on a second generic node, named by its own id (as
        // placement names the node holding a task's large arguments): it, every time.
        let mut generic2 = generic.clone();
        generic2.node_id = NodeId::new();
        let mut worker2 = worker.clone();
        (worker2.node_id, worker2.host) = (NodeId::new(), Some(generic2.node_id));
        let both = [view.clone(), vec![generic2, worker2.clone()]].concat();
        let prefer = SchedulingStrategy::NodeAffinity {
            node_id: worker2.node_id,
            soft: true,
        };
        for _ in 0..2 {
            assert_eq!(
                place(me, &none, &none, &cpu, &prefer, &both, &who, &mut turn),
                Placement::Remote(worker2.node_id)
            );
        }
        // Work that is not a submitted job's never goes to generic nodes.
        let unsubmitted = Who {
            build: Some(7),
            job: None,
        };
        assert_eq!(
            place(me, &none, &none, &cpu, &d, &view, &unsubmitted, &mut turn),
            Placement::Infeasible
        );
    }
}
