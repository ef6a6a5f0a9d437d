//! The actor host's decisions, as pure functions of its state: what it does next with
//! its queue (`ActorHost::pump`), and what a crash does to queued calls and to the
//! restarts left. The host carries them out; the tests below check the decisions alone.

use super::groups::Groups;

/// Where the instance is, as far as the queue is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for its resources and constructor.
    Starting,
    Alive,
    /// An `async fn(&mut self)` call holds the instance.
    Lent,
    /// A compiled graph's loop holds the instance.
    Compiled,
    Dead,
}

/// A queued call, as far as starting it is concerned.
#[derive(Debug, Clone, Copy)]
pub(super) struct Front {
    /// Every argument it depends on has a value.
    pub(super) deps_ready: bool,
    /// It needs the instance alone (`&mut self`).
    pub(super) exclusive: bool,
    /// Its concurrency group (0: the default group).
    pub(super) group: usize,
}

/// What the host does next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The actor is dead: queued calls fail with its death; it stops if it was draining.
    FailDead { stop: bool },
    /// A compiled graph holds the instance: queued calls fail.
    FailCompiled,
    /// Nothing can start until the instance is back (or made).
    Wait,
    /// The queue is empty: lend the instance to a waiting graph; stop if draining and
    /// nothing is in flight.
    Empty { stop: bool },
    /// No queued call can start now. The calls at these queue positions would start but
    /// wait for their arguments; the others wait for calls in flight to finish.
    Blocked(Vec<usize>),
    /// Start the call at this queue position, then decide again.
    Start(usize),
}

/// The next step of `pump`, given the queue in submission order. Each concurrency group
/// starts its calls in order while fewer than its limit run (a full group holds back
/// only its own calls); a `&mut self` call starts only at the front of the queue with
/// nothing in flight, and calls behind it wait for it.
pub(super) fn step(
    phase: Phase,
    queue: impl IntoIterator<Item = Front>,
    groups: &Groups,
    in_flight: usize,
    draining: bool,
) -> Step {
    match phase {
        Phase::Dead => return Step::FailDead { stop: draining },
        Phase::Compiled => return Step::FailCompiled,
        Phase::Starting | Phase::Lent => return Step::Wait,
        Phase::Alive => {}
    }
    // The groups that could start a call; each closes at its first queued call, which
    // starts or waits for its arguments (the group's later calls stay behind it).
    let mut open: smallvec::SmallVec<[bool; 8]> = (0..groups.len())
        .map(|g| groups.has_room(g) && groups.queued(g) > 0)
        .collect();
    let mut left = open.iter().filter(|o| **o).count();
    let mut wait = Vec::new();
    let mut empty = true;
    for (i, call) in queue.into_iter().enumerate() {
        empty = false;
        if call.exclusive {
            if i == 0 && in_flight == 0 {
                return if call.deps_ready {
                    Step::Start(0)
                } else {
                    Step::Blocked(vec![0])
                };
            }
            break;
        }
        if left == 0 {
            break;
        }
        let g = groups.index(call.group);
        if !open[g] {
            continue;
        }
        open[g] = false;
        left -= 1;
        if call.deps_ready {
            return Step::Start(i);
        }
        wait.push(i);
    }
    if empty {
        return Step::Empty {
            stop: draining && in_flight == 0,
        };
    }
    Step::Blocked(wait)
}

/// What a crash of the instance does.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct CrashPlan {
    /// Calls not started yet wait for the restarted instance (Ray's `max_task_retries`);
    /// otherwise they fail with the crash, as do calls still in the mailbox.
    pub(super) keep_queued: bool,
    /// The restarts left after this crash, when it restarts; `None`: it dies.
    pub(super) restart: Option<i32>,
}

/// The plan for a crash with `restarts_left` (-1: always) and `max_task_retries`.
pub(super) fn crash_plan(restarts_left: i32, max_task_retries: i32) -> CrashPlan {
    CrashPlan {
        keep_queued: restarts_left != 0 && max_task_retries != 0,
        restart: match restarts_left {
            0 => None,
            n if n < 0 => Some(n),
            n => Some(n - 1),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READY: Front = Front {
        deps_ready: true,
        exclusive: false,
        group: 0,
    };
    const EXCLUSIVE: Front = Front {
        deps_ready: true,
        exclusive: true,
        group: 0,
    };

    fn in_group(group: usize) -> Front {
        Front { group, ..READY }
    }

    /// Counts for `queue` with `running[g]` calls of each group in flight.
    fn groups(
        max_concurrency: usize,
        declared: &[usize],
        running: &[usize],
        queue: &[Front],
    ) -> Groups {
        let mut g = Groups::new(max_concurrency, declared);
        for (i, n) in running.iter().enumerate() {
            (0..*n).for_each(|_| g.start(i));
        }
        queue.iter().for_each(|f| g.enqueue(f.group));
        g
    }

    fn step_of(max: usize, declared: &[usize], running: &[usize], queue: &[Front]) -> Step {
        let g = groups(max, declared, running, queue);
        step(
            Phase::Alive,
            queue.iter().copied(),
            &g,
            running.iter().sum(),
            false,
        )
    }

    #[test]
    fn only_an_alive_instance_starts_calls() {
        let g = groups(1, &[], &[0], &[READY]);
        for phase in [Phase::Starting, Phase::Lent] {
            assert_eq!(step(phase, [READY], &g, 0, false), Step::Wait);
        }
        assert_eq!(
            step(Phase::Compiled, [READY], &g, 0, false),
            Step::FailCompiled
        );
        assert_eq!(
            step(Phase::Dead, [READY], &g, 0, true),
            Step::FailDead { stop: true }
        );
        assert_eq!(step(Phase::Alive, [READY], &g, 0, false), Step::Start(0));
    }

    #[test]
    fn mut_calls_run_alone_and_shared_calls_up_to_the_concurrency() {
        assert_eq!(step_of(8, &[], &[1], &[EXCLUSIVE]), Step::Blocked(vec![]));
        assert_eq!(step_of(8, &[], &[0], &[EXCLUSIVE]), Step::Start(0));
        assert_eq!(step_of(8, &[], &[7], &[READY]), Step::Start(0));
        assert_eq!(step_of(8, &[], &[8], &[READY]), Step::Blocked(vec![]));
        let waiting = Front {
            deps_ready: false,
            ..READY
        };
        assert_eq!(
            step_of(8, &[], &[0], &[waiting, READY]),
            Step::Blocked(vec![0])
        );
    }

    #[test]
    fn a_full_group_holds_back_only_its_own_calls() {
        // Default group 1, "io" 2, "compute" 4; io is full.
        let queue = [in_group(1), in_group(1), in_group(2), READY];
        assert_eq!(step_of(1, &[2, 4], &[0, 2, 0], &queue), Step::Start(2));
        assert_eq!(step_of(1, &[2, 4], &[0, 2, 4], &queue), Step::Start(3));
        assert_eq!(
            step_of(1, &[2, 4], &[1, 2, 4], &queue),
            Step::Blocked(vec![])
        );
        // Room in io again: its first queued call goes first.
        assert_eq!(step_of(1, &[2, 4], &[1, 1, 4], &queue), Step::Start(0));
    }

    #[test]
    fn a_group_keeps_its_order_behind_a_call_waiting_for_arguments() {
        let waiting = Front {
            deps_ready: false,
            ..in_group(1)
        };
        let queue = [waiting, in_group(1), in_group(2)];
        assert_eq!(step_of(1, &[2, 4], &[0, 0, 0], &queue), Step::Start(2));
        assert_eq!(
            step_of(1, &[2, 4], &[0, 0, 4], &queue),
            Step::Blocked(vec![0])
        );
    }

    #[test]
    fn a_mut_call_waits_for_every_group_and_holds_back_later_calls() {
        let queue = [EXCLUSIVE, in_group(2)];
        assert_eq!(
            step_of(1, &[2, 4], &[0, 1, 0], &queue),
            Step::Blocked(vec![])
        );
        assert_eq!(step_of(1, &[2, 4], &[0, 0, 0], &queue), Step::Start(0));
        let queue = [in_group(1), EXCLUSIVE, in_group(2)];
        assert_eq!(
            step_of(1, &[2, 4], &[0, 2, 0], &queue),
            Step::Blocked(vec![])
        );
    }

    #[test]
    fn a_draining_actor_stops_once_its_queue_and_calls_are_done() {
        let g = groups(1, &[], &[0], &[]);
        assert_eq!(
            step(Phase::Alive, [], &g, 1, true),
            Step::Empty { stop: false }
        );
        assert_eq!(
            step(Phase::Alive, [], &g, 0, true),
            Step::Empty { stop: true }
        );
        assert_eq!(
            step(Phase::Alive, [], &g, 0, false),
            Step::Empty { stop: false }
        );
    }

    #[test]
    fn a_crash_restarts_while_restarts_are_left_and_keeps_calls_only_with_retries() {
        assert_eq!(
            crash_plan(0, 3),
            CrashPlan {
                keep_queued: false,
                restart: None
            }
        );
        assert_eq!(
            crash_plan(2, 0),
            CrashPlan {
                keep_queued: false,
                restart: Some(1)
            }
        );
        assert_eq!(
            crash_plan(1, -1),
            CrashPlan {
                keep_queued: true,
                restart: Some(0)
            }
        );
        // -1: restarts forever.
        assert_eq!(crash_plan(-1, 1).restart, Some(-1));
    }
}
