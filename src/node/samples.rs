//! The node's recent load, sampled at a fixed interval (every second by default) into a
//! bounded ring: what the dashboard's plots draw (`/api/history`), so that a page opened
//! now shows the last minutes too. The node manager takes each sample on its own thread
//! (it knows its queues); a sample is a few counters, the store's byte count and two
//! reads of `/proc/self` into stack buffers, and allocates nothing: the ring is allocated
//! once, when the node starts.

use std::time::{Duration, Instant, SystemTime};

/// How often a node samples by default.
pub(crate) const DEFAULT_EVERY: Duration = Duration::from_secs(1);
/// How many samples a node keeps by default: ten minutes at one a second.
pub(crate) const DEFAULT_SAMPLES: usize = 600;

/// The node at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sample {
    /// When (Unix seconds).
    pub(crate) unix_s: f64,
    /// Tasks running.
    pub(crate) tasks_running: u32,
    /// Tasks waiting for resources or for their arguments.
    pub(crate) tasks_queued: u32,
    /// Bytes its object store holds in memory.
    pub(crate) store_bytes: u64,
    /// CPU its process used since the previous sample, in percent of one core (over 100
    /// with several threads busy). Nodes sharing a process (`cluster_utils`) show the
    /// same figure.
    pub(crate) cpu_percent: f32,
    /// Resident memory of its process, in bytes.
    pub(crate) mem_bytes: u64,
}

/// What the scheduler tells at a sample.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Load {
    pub(crate) tasks_running: usize,
    pub(crate) tasks_queued: usize,
    pub(crate) store_bytes: usize,
}

/// A ring of the last `capacity` values: allocated once, never grown; a push past the
/// capacity overwrites the oldest.
#[derive(Debug)]
pub(crate) struct Ring<T> {
    buf: Vec<T>,
    capacity: usize,
    /// Where the next push goes (once full, the oldest value).
    next: usize,
}

impl<T: Copy> Ring<T> {
    /// A ring of `capacity` values (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            buf: Vec::with_capacity(capacity),
            capacity,
            next: 0,
        }
    }

    pub(crate) fn push(&mut self, value: T) {
        if self.buf.len() < self.capacity {
            self.buf.push(value);
        } else if let Some(slot) = self.buf.get_mut(self.next) {
            *slot = value;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The values, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        let (newer, older) = self.buf.split_at(self.next.min(self.buf.len()));
        older.iter().chain(newer)
    }
}

/// A node's samples and how often it takes them.
pub(crate) struct Samples {
    every: Duration,
    inner: parking_lot::Mutex<Inner>,
}

struct Inner {
    ring: Ring<Sample>,
    /// The process's CPU seconds at the previous sample, and when it was read.
    cpu: Option<(f64, Instant)>,
}

impl Samples {
    /// Keeps `samples` samples taken every `every`.
    pub(crate) fn new(every: Duration, samples: usize) -> Self {
        Self {
            every,
            inner: parking_lot::Mutex::new(Inner {
                ring: Ring::new(samples),
                cpu: None,
            }),
        }
    }

    /// How often the node samples.
    pub(crate) fn every(&self) -> Duration {
        self.every
    }

    /// How many samples it keeps.
    pub(crate) fn capacity(&self) -> usize {
        self.inner.lock().ring.capacity()
    }

    /// Takes a sample: `load` and this process's CPU and memory now.
    pub(crate) fn record(&self, load: Load) {
        let unix_s = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let cpu = crate::machine::cpu_seconds();
        let mem_bytes = crate::machine::rss_bytes().unwrap_or(0);
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let cpu_percent = match (cpu, inner.cpu) {
            (Some(used), Some((before, then))) => {
                let elapsed = now.saturating_duration_since(then).as_secs_f64();
                if elapsed > 0.0 {
                    (100.0 * (used - before).max(0.0) / elapsed) as f32
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        inner.cpu = cpu.map(|c| (c, now));
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        inner.ring.push(Sample {
            unix_s,
            tasks_running: count(load.tasks_running),
            tasks_queued: count(load.tasks_queued),
            store_bytes: load.store_bytes as u64,
            cpu_percent,
            mem_bytes,
        });
    }

    /// The samples kept, oldest first (a copy: this allocates, the sampling does not).
    pub(crate) fn snapshot(&self) -> Vec<Sample> {
        self.inner.lock().ring.iter().copied().collect()
    }
}

impl Default for Samples {
    fn default() -> Self {
        Self::new(DEFAULT_EVERY, DEFAULT_SAMPLES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_last_values_in_order_and_never_grows() {
        let mut ring = Ring::new(4);
        assert_eq!(ring.iter().count(), 0);
        for i in 0..3 {
            ring.push(i);
        }
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [0, 1, 2]);
        let allocated = ring.buf.capacity();
        for i in 3..1000 {
            ring.push(i);
            assert!(ring.buf.len() <= 4);
            assert_eq!(ring.buf.capacity(), allocated, "the ring grew");
        }
        assert_eq!(ring.buf.len(), 4);
        assert_eq!(
            ring.iter().copied().collect::<Vec<_>>(),
            [996, 997, 998, 999]
        );
        // A zero capacity keeps one value.
        let mut one = Ring::new(0);
        one.push(1);
        one.push(2);
        assert_eq!(one.iter().copied().collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn samples_are_bounded_and_read_this_process() {
        let samples = Samples::new(Duration::from_millis(1), 8);
        for i in 0..20 {
            samples.record(Load {
                tasks_running: i,
                tasks_queued: 2 * i,
                store_bytes: 3 * i,
            });
        }
        let kept = samples.snapshot();
        assert_eq!(kept.len(), 8);
        assert_eq!(samples.capacity(), 8);
        assert_eq!(kept[0].tasks_running, 12);
        assert_eq!(kept[7].tasks_queued, 38);
        assert_eq!(kept[7].store_bytes, 57);
        assert!(kept.windows(2).all(|w| w[0].unix_s <= w[1].unix_s));
        if cfg!(target_os = "linux") {
            assert!(kept[7].mem_bytes > 1 << 20, "{:?}", kept[7]);
            assert!(crate::machine::cpu_seconds().is_some());
        }
    }

    /// What one sample costs (it runs every second on every node): printed, and bounded
    /// loosely so that a slow machine does not fail it.
    #[test]
    fn a_sample_is_cheap() {
        let samples = Samples::new(DEFAULT_EVERY, DEFAULT_SAMPLES);
        let n = 2_000;
        let t0 = Instant::now();
        for i in 0..n {
            samples.record(Load {
                tasks_running: i,
                ..Load::default()
            });
        }
        let each = t0.elapsed() / n as u32;
        println!("one sample: {each:?}");
        assert!(each < Duration::from_millis(1), "{each:?} a sample");
    }
}
