//! `GpuError`: what went wrong with a GPU (`ray::gpu`). Defined beside `ray::Error`,
//! which wraps it, so that the error module depends on nothing above it.

/// What went wrong with a GPU.
///
/// # Examples
/// ```
/// use ray::gpu::GpuError;
///
/// // Outside a task with `num_gpus`, there is no GPU to hand out.
/// let err = ray::gpu::context().unwrap_err();
/// assert_eq!(err, ray::Error::Gpu(GpuError::NotAssigned));
/// assert!(err.to_string().contains("num_gpus"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum GpuError {
    /// The caller is not a task or actor with GPUs assigned.
    #[error(
        "this task has no GPU: give it `.num_gpus(..)` (outside tasks, use `ray::gpu::context_for(id)`)"
    )]
    NotAssigned,
    /// No GPU has this id on this machine.
    #[error(
        "no GPU with id {id}: {found} found (software adapters such as lavapipe count only with RAY_GPU_ALLOW_SOFTWARE=1)"
    )]
    NoSuchGpu {
        /// The id asked for.
        id: u32,
        /// How many GPUs there are (ids `0..found`).
        found: u32,
    },
    /// The GPU failed: its device could not be created, was lost, or stopped answering.
    #[error("GPU {id} failed: {message}")]
    DeviceFailed {
        /// The GPU.
        id: u32,
        /// wgpu's description of the failure.
        message: String,
    },
    /// The kernel was rejected before it ran: WGSL that does not compile, bindings that do
    /// not match the buffers, or sizes outside the device's limits.
    #[error("kernel `{entry}` was rejected: {message}")]
    KernelRejected {
        /// The kernel's entry point.
        entry: String,
        /// What was wrong.
        message: String,
    },
}
