//! Busy polling of an endpoint's thread while an answer is due. A thread parked in
//! `epoll_wait` takes tens of microseconds to run again when a datagram arrives on a VM
//! (its vCPU halts, and the host must wake it); a thread that keeps polling its sockets
//! with a zero timeout sees the datagram as soon as the kernel has it. So after a
//! request goes out (its answer is due) or comes in (the caller's next request is due
//! once it is answered, in a synchronous loop), the endpoint's thread keeps its runtime
//! turning for [`window`] instead of parking. Whatever arrives meanwhile (a datagram, a
//! message from another thread) is handled on the next turn, and the poller never holds
//! up work: each turn goes back to the runtime's ready tasks and yields the CPU to any
//! other thread waiting for it. Measured in docs/machine-limits.md ("Busy polling").
//!
//! While a thread polls, the threads that hand it work or wait on it need not spin
//! themselves ([`polling`]): on a machine with few CPUs, two spinning threads of one
//! process take the CPU the other host's work needs.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long an endpoint's thread keeps polling after a request went out or came in,
/// unless `RAY_BUSY_POLL_US` says otherwise (0 turns polling off). Longer than a round
/// trip between hosts of one network (tens to a few hundred microseconds), so a
/// synchronous loop keeps its thread awake from one request to the next; an idle node
/// stops polling this long after its last request.
const WINDOW: Duration = Duration::from_micros(300);

/// Endpoint threads of this process that are polling now.
static POLLING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Until when this thread keeps polling; `None` while it does not.
    static UNTIL: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The polling window: `RAY_BUSY_POLL_US` microseconds, else [`WINDOW`].
pub(crate) fn window() -> Duration {
    static CHOSEN: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        std::env::var("RAY_BUSY_POLL_US")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map_or(WINDOW, Duration::from_micros)
    })
}

/// Keeps the calling thread's runtime polling for [`window`] from now. Called on an
/// endpoint's own thread, inside its runtime; elsewhere (no runtime, or a multi-threaded
/// one, whose tasks another thread may run) it does nothing.
pub(crate) fn keep_awake() {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let window = window();
    if window.is_zero() {
        return;
    }
    let until = Some(Instant::now() + window);
    // The common case, once per request: this thread's poller runs (it was started on
    // this thread's current-thread runtime), so only its deadline moves.
    let running = UNTIL.with(|u| {
        let running = u.get().is_some();
        if running {
            u.set(until);
        }
        running
    });
    if running {
        return;
    }
    let Ok(runtime) = Handle::try_current() else {
        return;
    };
    if runtime.runtime_flavor() != RuntimeFlavor::CurrentThread {
        return;
    }
    UNTIL.with(|u| u.set(until));
    POLLING.fetch_add(1, Ordering::Relaxed);
    // A current-thread runtime runs it on this thread, the one it keeps awake.
    runtime.spawn(poll_until(Polling));
}

/// Counts a poller out however it ends: done, or dropped with its runtime (polled or
/// not).
struct Polling;

impl Drop for Polling {
    fn drop(&mut self) {
        UNTIL.with(|u| u.set(None));
        POLLING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether an endpoint thread of this process is polling now: a thread that waits on it
/// (or hands it work) then parks at once instead of spinning.
pub(crate) fn polling() -> bool {
    POLLING.load(Ordering::Relaxed) > 0
}

async fn poll_until(_counted: Polling) {
    while UNTIL.with(Cell::get).is_some_and(|u| Instant::now() < u) {
        // Back to the runtime: before it resumes a yielded task it polls its I/O with a
        // zero timeout, so what arrived meanwhile is handled before the next turn.
        actix_rt::task::yield_now().await;
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn this_thread_polls() -> bool {
        UNTIL.with(Cell::get).is_some()
    }

    fn current_thread_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    }

    /// Starts a poller on this thread's runtime and checks that it runs.
    fn starts_polling() {
        keep_awake();
        assert_eq!(this_thread_polls(), !window().is_zero());
    }

    #[test]
    fn polls_for_the_window_and_handles_what_arrives_meanwhile() {
        actix_rt::System::new().block_on(async {
            starts_polling();
            // A timer of the polling runtime fires on time.
            let t = Instant::now();
            actix_rt::time::sleep(Duration::from_millis(2)).await;
            assert!(
                t.elapsed() < Duration::from_millis(100),
                "{:?}",
                t.elapsed()
            );
            // A message from another thread is handled while it polls.
            keep_awake();
            let (tx, rx) = futures::channel::oneshot::channel();
            std::thread::spawn(move || tx.send(Instant::now()));
            let sent = rx.await.expect("sent");
            assert!(sent.elapsed() < Duration::from_millis(100));
            // Then it stops: nothing keeps it awake.
            actix_rt::time::sleep(window() * 3 + Duration::from_millis(20)).await;
            assert!(!this_thread_polls());
        });
    }

    #[test]
    fn polls_only_on_a_current_thread_runtime() {
        // Outside any runtime, and on a multi-threaded one, there is nothing to keep
        // awake: no poller starts, and nothing panics.
        keep_awake();
        assert!(!this_thread_polls());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("runtime");
        runtime.block_on(async { keep_awake() });
        assert!(!this_thread_polls());
        // Inside a plain tokio current-thread runtime (no actix), it polls.
        current_thread_runtime().block_on(async {
            starts_polling();
            tokio::time::sleep(window() * 3 + Duration::from_millis(20)).await;
            assert!(!this_thread_polls());
        });
    }

    #[test]
    fn a_poller_dropped_with_its_runtime_is_counted_out() {
        let runtime = current_thread_runtime();
        // The spawned poller has not run when the runtime goes.
        runtime.block_on(async { keep_awake() });
        drop(runtime);
        assert!(!this_thread_polls());
        // So a later runtime on this thread polls again.
        current_thread_runtime().block_on(async { starts_polling() });
    }
}
