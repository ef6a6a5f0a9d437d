//! The actor host's decisions, as pure functions of its state: what it does next with
//! its queue (`ActorHost::pump`), and what a crash does to queued calls and to the
//! restarts left. The host carries them out; the tests below check the decisions alone.

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

/// The call at the front of the queue.
#[derive(Debug, Clone, Copy)]
pub(super) struct Front {
    /// Every argument it depends on has a value.
    pub(super) deps_ready: bool,
    /// It needs the instance alone (`&mut self`).
    pub(super) exclusive: bool,
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
    /// The front call waits for its arguments.
    WaitDeps,
    /// The front call waits for calls in flight to finish.
    Busy,
    /// Start the front call, then decide again.
    Start,
}

/// The next step of `pump`: calls start in order; a `&mut self` call only with nothing in
/// flight, others while fewer than `max_concurrency` are in flight.
pub(super) fn step(
    phase: Phase,
    front: Option<Front>,
    in_flight: usize,
    max_concurrency: usize,
    draining: bool,
) -> Step {
    match phase {
        Phase::Dead => return Step::FailDead { stop: draining },
        Phase::Compiled => return Step::FailCompiled,
        Phase::Starting | Phase::Lent => return Step::Wait,
        Phase::Alive => {}
    }
    let Some(front) = front else {
        return Step::Empty {
            stop: draining && in_flight == 0,
        };
    };
    if !front.deps_ready {
        return Step::WaitDeps;
    }
    let busy = if front.exclusive {
        in_flight > 0
    } else {
        in_flight >= max_concurrency
    };
    if busy { Step::Busy } else { Step::Start }
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
    };
    const EXCLUSIVE: Front = Front {
        deps_ready: true,
        exclusive: true,
    };

    #[test]
    fn only_an_alive_instance_starts_calls() {
        for phase in [Phase::Starting, Phase::Lent] {
            assert_eq!(step(phase, Some(READY), 0, 1, false), Step::Wait);
        }
        assert_eq!(
            step(Phase::Compiled, Some(READY), 0, 1, false),
            Step::FailCompiled
        );
        assert_eq!(
            step(Phase::Dead, Some(READY), 0, 1, true),
            Step::FailDead { stop: true }
        );
        assert_eq!(step(Phase::Alive, Some(READY), 0, 1, false), Step::Start);
    }

    #[test]
    fn mut_calls_run_alone_and_shared_calls_up_to_the_concurrency() {
        assert_eq!(step(Phase::Alive, Some(EXCLUSIVE), 1, 8, false), Step::Busy);
        assert_eq!(
            step(Phase::Alive, Some(EXCLUSIVE), 0, 8, false),
            Step::Start
        );
        assert_eq!(step(Phase::Alive, Some(READY), 7, 8, false), Step::Start);
        assert_eq!(step(Phase::Alive, Some(READY), 8, 8, false), Step::Busy);
        let waiting = Front {
            deps_ready: false,
            exclusive: false,
        };
        assert_eq!(
            step(Phase::Alive, Some(waiting), 0, 8, false),
            Step::WaitDeps
        );
    }

    #[test]
    fn a_draining_actor_stops_once_its_queue_and_calls_are_done() {
        assert_eq!(
            step(Phase::Alive, None, 1, 1, true),
            Step::Empty { stop: false }
        );
        assert_eq!(
            step(Phase::Alive, None, 0, 1, true),
            Step::Empty { stop: true }
        );
        assert_eq!(
            step(Phase::Alive, None, 0, 1, false),
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
