//! The scheduler's decisions, as pure functions of its queues: which ready tasks start
//! now (dispatch), how many queued tasks a worker lease takes with it (batching), and
//! which batched task another lease may take over (stealing). `NodeManager` carries
//! them out (threads, actors, resources); the tests below check the decisions alone.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;

use crate::resources::Resources;
use crate::tasks::TaskSpec;

/// Most tasks one lease takes at once: enough to amortize the hand-off (~16 µs per thread
/// wake-up, docs/machine-limits.md), few enough that a long task delays little behind it.
pub(super) const MAX_BATCH: usize = 64;

/// What the decisions need to know of a queued task.
pub(super) trait Queued {
    /// Its body runs on a worker thread (sync) rather than an executor (async).
    fn is_sync(&self) -> bool;
    /// Cancelled while it waited.
    fn is_cancelled(&self) -> bool;
    /// Every argument it depends on has a value.
    fn deps_ready(&self) -> bool;
}

impl Queued for TaskSpec {
    fn is_sync(&self) -> bool {
        TaskSpec::is_sync(self)
    }
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
    fn deps_ready(&self) -> bool {
        self.deps.iter().all(|d| d.peek().is_some())
    }
}

/// Takes every ready task that can start now, shapes in order and oldest first within a
/// shape: while `available` covers the shape and, for a sync body, a worker thread is
/// left (`workers`). What is taken is subtracted from both. A shape's queue stops at its
/// first task that cannot start (order within a shape is kept). Cancelled tasks met on
/// the way are dropped, which settles their returns as cancelled. An emptied queue stays
/// for the shape's next task (a new queue and map entry per task was the largest
/// allocation of a synchronous task), unless it grew large or shapes pile up.
pub(super) fn admit<T: Queued>(
    ready: &mut BTreeMap<Resources, VecDeque<T>>,
    available: &mut Resources,
    workers: &mut usize,
) -> Vec<(Resources, T)> {
    let mut start = Vec::new();
    for (shape, queue) in ready.iter_mut() {
        while available.covers(shape) {
            let Some(front) = queue.front() else { break };
            if front.is_sync() && !front.is_cancelled() && *workers == 0 {
                break;
            }
            let Some(task) = queue.pop_front() else { break };
            if task.is_cancelled() {
                continue;
            }
            if task.is_sync() {
                *workers -= 1;
            }
            available.take(shape);
            start.push((shape.clone(), task));
        }
    }
    let many = ready.len() > 64;
    ready.retain(|_, q| !q.is_empty() || (q.capacity() <= 64 && !many));
    start
}

/// The tasks a new lease takes along from its shape's queue: a fair share of what is
/// queued over `cpu_slots` (at most [`MAX_BATCH`] with the one it starts with), sync
/// bodies only, from the front.
pub(super) fn take_batch<T: Queued>(queue: &mut VecDeque<T>, cpu_slots: usize) -> VecDeque<T> {
    let share = (queue.len() / cpu_slots.max(1)).min(MAX_BATCH - 1);
    let mut batch = VecDeque::with_capacity(share);
    while batch.len() < share && queue.front().is_some_and(Queued::is_sync) {
        batch.extend(queue.pop_front());
    }
    batch
}

/// A task another lease may take over from `batch`: its last one, when its arguments are
/// ready (the front runs next on its own lease anyway; one still waiting for an argument
/// would only block a second thread).
pub(super) fn steal_from<T: Queued>(batch: &mut VecDeque<T>) -> Option<T> {
    if batch.back().is_some_and(Queued::deps_ready) {
        batch.pop_back()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Task {
        n: u32,
        sync: bool,
        cancelled: bool,
        ready: bool,
    }

    impl Queued for Task {
        fn is_sync(&self) -> bool {
            self.sync
        }
        fn is_cancelled(&self) -> bool {
            self.cancelled
        }
        fn deps_ready(&self) -> bool {
            self.ready
        }
    }

    fn sync(n: u32) -> Task {
        Task {
            n,
            sync: true,
            cancelled: false,
            ready: true,
        }
    }

    fn cpus(n: f64) -> Resources {
        let mut r = Resources::new();
        r.set_units("CPU", crate::resources::to_units("CPU", n).unwrap());
        r
    }

    fn numbers(started: &[(Resources, Task)]) -> Vec<u32> {
        started.iter().map(|(_, t)| t.n).collect()
    }

    #[test]
    fn dispatch_starts_what_fits_oldest_first_and_keeps_the_rest_in_order() {
        let mut ready = BTreeMap::new();
        ready.insert(cpus(1.0), (1..=5).map(sync).collect::<VecDeque<_>>());
        let mut available = cpus(3.0);
        let mut workers = 10;
        let started = admit(&mut ready, &mut available, &mut workers);
        assert_eq!(numbers(&started), [1, 2, 3]);
        assert_eq!(available.get("CPU"), 0.0);
        assert_eq!(workers, 7);
        let left: Vec<u32> = ready[&cpus(1.0)].iter().map(|t| t.n).collect();
        assert_eq!(left, [4, 5]);
    }

    #[test]
    fn dispatch_stops_a_sync_queue_when_no_worker_thread_is_left_but_starts_async() {
        let mut ready = BTreeMap::new();
        let async_task = Task {
            sync: false,
            ..sync(9)
        };
        ready.insert(cpus(1.0), VecDeque::from([sync(1), sync(2)]));
        ready.insert(cpus(0.5), VecDeque::from([async_task]));
        let mut available = cpus(4.0);
        let mut workers = 1;
        let started = admit(&mut ready, &mut available, &mut workers);
        // Shapes in order: 0.5 CPU before 1 CPU; one worker thread for one sync task.
        assert_eq!(numbers(&started), [9, 1]);
        assert_eq!(workers, 0);
        assert_eq!(available.get("CPU"), 2.5);
        assert_eq!(ready[&cpus(1.0)].len(), 1);
    }

    #[test]
    fn dispatch_drops_cancelled_tasks_without_charging_them() {
        let mut ready = BTreeMap::new();
        let cancelled = Task {
            cancelled: true,
            ..sync(1)
        };
        ready.insert(cpus(1.0), VecDeque::from([cancelled, sync(2)]));
        let mut available = cpus(1.0);
        let mut workers = 0;
        // No worker left: the cancelled front is still dropped, the next task waits.
        assert!(admit(&mut ready, &mut available, &mut workers).is_empty());
        assert_eq!(ready[&cpus(1.0)].len(), 1);
        workers = 1;
        let started = admit(&mut ready, &mut available, &mut workers);
        assert_eq!(numbers(&started), [2]);
        assert!(
            ready[&cpus(1.0)].is_empty(),
            "an emptied queue stays for reuse"
        );
    }

    #[test]
    fn a_lease_takes_a_fair_share_of_its_queue_sync_bodies_only() {
        let mut queue: VecDeque<Task> = (1..=10).map(sync).collect();
        let batch = take_batch(&mut queue, 4);
        assert_eq!(batch.iter().map(|t| t.n).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(queue.len(), 8);

        let mut mixed = VecDeque::from([
            sync(1),
            Task {
                sync: false,
                ..sync(2)
            },
            sync(3),
        ]);
        let batch = take_batch(&mut mixed, 1);
        assert_eq!(batch.len(), 1, "an async body ends the batch");

        let mut long: VecDeque<Task> = (0..1000).map(sync).collect();
        assert_eq!(take_batch(&mut long, 1).len(), MAX_BATCH - 1);
        assert_eq!(take_batch(&mut VecDeque::<Task>::new(), 0).len(), 0);
    }

    #[test]
    fn stealing_takes_the_last_batched_task_only_when_its_arguments_are_ready() {
        let waiting = Task {
            ready: false,
            ..sync(3)
        };
        let mut batch = VecDeque::from([sync(1), sync(2), waiting]);
        assert_eq!(steal_from(&mut batch), None);
        batch.pop_back();
        assert_eq!(steal_from(&mut batch).map(|t| t.n), Some(2));
        assert_eq!(steal_from(&mut batch).map(|t| t.n), Some(1));
        assert_eq!(steal_from(&mut batch), None);
    }
}
