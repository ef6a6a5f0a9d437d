//! One thread per GPU that waits for its work: every kernel's result and every read-back
//! is waited for here, in submission order (one queue finishes its submissions in
//! order), so that no caller's thread polls the device and every map callback runs in
//! this thread's own poll. Started with the GPU's first wait; it ends with the process
//! (contexts live as long as it does).

use std::sync::mpsc;

use parking_lot::Mutex;

use super::GpuError;

/// One wait, run on the poller's thread.
type Job = Box<dyn FnOnce() + Send>;

/// The GPU's poller: its thread's queue, once started.
#[derive(Default)]
pub(super) struct Poller(Mutex<Option<mpsc::Sender<Job>>>);

impl Poller {
    /// Runs `wait` on GPU `id`'s poller thread and returns its result to an async caller
    /// without blocking its thread.
    pub(super) async fn run<R: Send + 'static>(
        &self,
        id: u32,
        wait: impl FnOnce() -> crate::Result<R> + Send + 'static,
    ) -> crate::Result<R> {
        let (tx, rx) = futures::channel::oneshot::channel();
        self.send(
            id,
            Box::new(move || {
                let _ = tx.send(wait());
            }),
        )?;
        rx.await.unwrap_or_else(|_| Err(gone(id)))
    }

    /// [`Poller::run`] for a synchronous caller: blocks its thread until the result is in.
    pub(super) fn run_blocking<R: Send + 'static>(
        &self,
        id: u32,
        wait: impl FnOnce() -> crate::Result<R> + Send + 'static,
    ) -> crate::Result<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(
            id,
            Box::new(move || {
                let _ = tx.send(wait());
            }),
        )?;
        rx.recv().unwrap_or_else(|_| Err(gone(id)))
    }

    fn send(&self, id: u32, job: Job) -> Result<(), GpuError> {
        let mut queue = self.0.lock();
        if let Some(tx) = queue.as_ref() {
            // The thread outlives every sender (it catches a wait's panic), so a send
            // fails only while the process exits.
            return tx.send(job).map_err(|_| GpuError::DeviceFailed {
                id,
                message: "the GPU's poller has stopped".into(),
            });
        }
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("ray-gpu{id}-poll"))
            .spawn(move || {
                for job in rx {
                    // A wait that panics (inside wgpu) answers its caller with an error
                    // (its sender is dropped); the poller goes on with the next.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .map_err(|e| GpuError::DeviceFailed {
                id,
                message: format!("cannot start the thread that waits for the GPU: {e}"),
            })?;
        tracing::debug!(gpu_id = id, "GPU poller started");
        // A new channel's receiver is alive in the thread just started.
        let _ = tx.send(job);
        *queue = Some(tx);
        Ok(())
    }
}

fn gone(id: u32) -> crate::Error {
    GpuError::DeviceFailed {
        id,
        message: "the GPU's poller stopped before answering".into(),
    }
    .into()
}
