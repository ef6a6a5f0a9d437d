//! The channels of a compiled graph: one pre-allocated single-producer single-consumer
//! ring per edge, and how a consumer waits on one (spin, then yield, then park).
//! Nothing here allocates per value.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use parking_lot::Mutex;

use crate::Result;

/// How long a waiting consumer stays awake (yielding its CPU) before it parks: a value is
/// usually microseconds away in a running graph, and waking a parked thread costs ~16 µs
/// on this kind of VM (docs/machine-limits.md).
pub(crate) const SPIN: Duration = Duration::from_micros(100);

/// Busy-wait rounds (a few hundred nanoseconds) before the first yield.
const BUSY: u32 = 64;

/// One edge of the graph: `capacity` slots, each holding one execution's value (or the
/// error that replaced it). Slots are mutexes rather than `UnsafeCell`s: the producer
/// and the consumer never touch the same slot at the same time, so each lock is one
/// uncontended atomic, and the ring needs no `unsafe`.
pub(crate) struct Ring<T> {
    slots: Box<[Mutex<Option<Result<T>>>]>,
    /// Values taken so far (the consumer's position).
    read: AtomicU64,
    /// Values written so far (the producer's position).
    write: AtomicU64,
    /// Woken when a value arrives (the consumer registers before parking).
    pub(crate) readable: AtomicWaker,
}

impl<T> Ring<T> {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: (0..capacity.max(1)).map(|_| Mutex::new(None)).collect(),
            read: AtomicU64::new(0),
            write: AtomicU64::new(0),
            readable: AtomicWaker::new(),
        })
    }

    fn slot(&self, position: u64) -> &Mutex<Option<Result<T>>> {
        // The modulo keeps the index below `slots.len()`.
        &self.slots[(position % self.slots.len() as u64) as usize]
    }

    /// Writes the next value; gives it back when the ring is full. Only the single
    /// producer calls this.
    pub(crate) fn try_push(&self, value: Result<T>) -> std::result::Result<(), Result<T>> {
        let w = self.write.load(Ordering::Relaxed);
        if w - self.read.load(Ordering::Acquire) >= self.slots.len() as u64 {
            return Err(value);
        }
        *self.slot(w).lock() = Some(value);
        self.write.store(w + 1, Ordering::Release);
        self.readable.wake();
        Ok(())
    }

    /// Takes the next value if there is one. Only the single consumer calls this.
    pub(crate) fn try_pop(&self) -> Option<Result<T>> {
        let r = self.read.load(Ordering::Relaxed);
        if r == self.write.load(Ordering::Acquire) {
            return None;
        }
        let value = self.slot(r).lock().take();
        self.read.store(r + 1, Ordering::Release);
        value
    }

    /// Values taken so far (any thread may ask: a waiter sees another thread take).
    pub(crate) fn taken(&self) -> u64 {
        self.read.load(Ordering::Acquire)
    }

    /// Whether a value waits (any thread may ask).
    pub(crate) fn has_value(&self) -> bool {
        self.write.load(Ordering::Acquire) > self.read.load(Ordering::Acquire)
    }

    /// Whether the producer would find room.
    fn has_room(&self) -> bool {
        self.write.load(Ordering::Acquire) - self.read.load(Ordering::Acquire)
            < self.slots.len() as u64
    }

    /// Writes the next value, waiting while the ring is full. The in-flight bound keeps
    /// every ring below its capacity, so this waits only if that accounting is wrong.
    pub(crate) fn push(&self, mut value: Result<T>, stop: &AtomicBool) {
        loop {
            match self.try_push(value) {
                Ok(()) => return,
                Err(v) => value = v,
            }
            if !wait_until(|| self.has_room(), None, stop, None) {
                return;
            }
        }
    }

    /// Takes the next value, waiting for it; `None` once `stop` is set and the ring is
    /// empty.
    pub(crate) fn pop(&self, stop: &AtomicBool) -> Option<Result<T>> {
        loop {
            if let Some(v) = self.try_pop() {
                return Some(v);
            }
            let register = || self.readable.register(&thread_waker());
            if !wait_until(|| self.has_value(), Some(&register), stop, None) {
                return self.try_pop();
            }
        }
    }
}

/// Wakes one parked thread.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// The calling thread's waker, made once per thread: waiting allocates nothing.
    static THREAD_WAKER: Waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
}

/// The calling thread's waker.
pub(crate) fn thread_waker() -> Waker {
    THREAD_WAKER.with(Waker::clone)
}

/// Waits on the calling thread until `ready()`: a few busy rounds, then yielding for up
/// to [`SPIN`], then parking (`before_park` arranges to be woken: it registers the
/// thread's waker where the value will arrive; whoever sets `stop` unparks too). Returns
/// `false` when `stop` was set or the deadline passed first.
pub(crate) fn wait_until(
    mut ready: impl FnMut() -> bool,
    before_park: Option<&dyn Fn()>,
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> bool {
    for _ in 0..BUSY {
        if ready() {
            return true;
        }
        std::hint::spin_loop();
    }
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if stop.load(Ordering::Acquire) {
            return false;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return false;
        }
        if now - start < SPIN {
            std::thread::yield_now();
            continue;
        }
        if let Some(register) = before_park {
            register();
            if ready() {
                return true;
            }
        }
        match deadline {
            Some(d) => std::thread::park_timeout(d.saturating_duration_since(now)),
            // Without a waker to register (a full ring), poll now and then: this only
            // happens if the in-flight accounting is wrong.
            None if before_park.is_none() => std::thread::park_timeout(Duration::from_millis(1)),
            None => std::thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_order_and_capacity() {
        let ring = Ring::<u32>::new(2);
        assert!(ring.try_push(Ok(1)).is_ok());
        assert!(ring.try_push(Ok(2)).is_ok());
        assert!(ring.try_push(Ok(3)).is_err());
        assert_eq!(ring.try_pop(), Some(Ok(1)));
        assert!(ring.try_push(Ok(3)).is_ok());
        assert_eq!(ring.try_pop(), Some(Ok(2)));
        assert_eq!(ring.try_pop(), Some(Ok(3)));
        assert_eq!(ring.try_pop(), None);
    }

    #[test]
    fn pop_waits_across_threads_and_stops() {
        let ring = Ring::<u64>::new(4);
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (ring.clone(), stop.clone());
        let consumer = std::thread::spawn(move || {
            let mut sum = 0;
            while let Some(v) = r.pop(&s) {
                sum += v.unwrap();
            }
            sum
        });
        for i in 0..1000 {
            ring.push(Ok(i), &stop);
        }
        while ring.has_value() {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::SeqCst);
        consumer.thread().unpark();
        assert_eq!(consumer.join().unwrap(), (0..1000).sum::<u64>());
    }
}
