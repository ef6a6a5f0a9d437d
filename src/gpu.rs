//! `ray::gpu`: this machine's GPUs through wgpu (Vulkan, or GL where a GPU has no Vulkan
//! driver): detection, one shared device per GPU, and a compute-kernel helper
//! (`gpu/kernel.rs`). Which GPU a task gets is the node manager's business; this module
//! only turns an id into a device.
//!
//! Software adapters (Mesa's lavapipe and llvmpipe, which run on the CPU) are skipped
//! unless allowed with `RAY_GPU_ALLOW_SOFTWARE=1` or [`crate::Config::allow_software_gpus`]:
//! tests and CI use lavapipe that way. The examples on this page need an adapter, so they
//! run where `scripts/test.sh` runs them: it installs lavapipe and sets that variable.

mod buffer;
mod kernel;
mod poller;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

pub use crate::error::GpuError;
pub use crate::machine::allow_software_from_env;
pub(crate) use crate::machine::{Adapter, detect, ready};
pub use buffer::GpuBuffer;
pub use kernel::Element;
/// The wgpu this crate is built with, for work on [`GpuContext::device`] beyond
/// [`GpuContext::run_kernel`] without a second copy of wgpu to keep in step.
pub use wgpu;

/// One GPU's device and queue, created once per process and shared by every task that
/// uses that GPU.
///
/// # Examples
/// ```
/// let ctx = ray::gpu::context_for(0)?;
/// println!("{} ({})", ctx.adapter_info().name, ctx.adapter_info().backend);
/// assert_eq!(ctx.id(), 0);
/// let limits = ctx.device().limits();
/// assert!(limits.max_storage_buffer_binding_size >= 1 << 20);
/// # Ok::<(), ray::Error>(())
/// ```
pub struct GpuContext {
    id: u32,
    info: wgpu::AdapterInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// Compiled kernels, by source, entry point and input count.
    pipelines: Mutex<kernel::Pipelines>,
    /// Copies between the host and `GpuBuffer`s on this GPU, each way.
    transfers: buffer::Transfers,
    /// The thread that waits for this GPU's kernels and read-backs.
    poller: poller::Poller,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("id", &self.id)
            .field("name", &self.info.name)
            .field("backend", &self.info.backend)
            .finish_non_exhaustive()
    }
}

impl GpuContext {
    /// The wgpu device, for work beyond [`GpuContext::run_kernel`].
    ///
    /// # Examples
    /// ```
    /// let ctx = ray::gpu::context_for(0)?;
    /// let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
    ///     label: Some("scratch"),
    ///     size: 1024,
    ///     usage: wgpu::BufferUsages::STORAGE,
    ///     mapped_at_creation: false,
    /// });
    /// assert_eq!(buffer.size(), 1024);
    /// # Ok::<(), ray::Error>(())
    /// ```
    pub fn device(&self) -> &wgpu::Device {
        tracing::trace!(gpu_id = self.id, "device");
        &self.device
    }

    /// The device's queue.
    ///
    /// # Examples
    /// ```
    /// let ctx = ray::gpu::context_for(0)?;
    /// ctx.queue().submit([]);
    /// # Ok::<(), ray::Error>(())
    /// ```
    pub fn queue(&self) -> &wgpu::Queue {
        tracing::trace!(gpu_id = self.id, "queue");
        &self.queue
    }

    /// The adapter: name, backend (Vulkan or GL), device type.
    ///
    /// # Examples
    /// ```
    /// let info = ray::gpu::context_for(0)?.adapter_info().clone();
    /// assert!(matches!(info.backend, wgpu::Backend::Vulkan | wgpu::Backend::Gl));
    /// # Ok::<(), ray::Error>(())
    /// ```
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        tracing::trace!(gpu_id = self.id, "adapter_info");
        &self.info
    }

    /// The GPU's id on this machine (what `ray::runtime_context().gpu_ids()` lists).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ray::gpu::context_for(0)?.id(), 0);
    /// # Ok::<(), ray::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        tracing::trace!(gpu_id = self.id, "id");
        self.id
    }

    fn create(adapter: &Adapter) -> Result<Self, GpuError> {
        let started = Instant::now();
        let failed = |message: String| GpuError::DeviceFailed {
            id: adapter.id,
            message,
        };
        let desc = wgpu::DeviceDescriptor {
            label: Some("ray-gpu"),
            // Everything the adapter offers: large storage buffers matter for compute.
            required_limits: adapter.wgpu.limits(),
            ..Default::default()
        };
        let requested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ready(adapter.wgpu.request_device(&desc))
        }));
        let (device, queue) = match requested {
            Ok(Ok(dq)) => dq,
            Ok(Err(e)) => return Err(failed(e.to_string())),
            Err(panic) => return Err(failed(crate::error::panic_message(&*panic))),
        };
        let id = adapter.id;
        // wgpu's default for an error outside an error scope is to panic; every kernel
        // runs inside scopes, so anything that reaches here is logged instead.
        device.on_uncaptured_error(Arc::new(move |e| {
            tracing::error!(gpu_id = id, error = %e, "uncaptured GPU error");
        }));
        device.set_device_lost_callback(move |reason, message| {
            tracing::error!(gpu_id = id, ?reason, %message, "GPU device lost");
        });
        tracing::info!(
            gpu_id = id,
            name = %adapter.info.name,
            backend = %adapter.info.backend,
            device_type = ?adapter.info.device_type,
            driver = %adapter.info.driver,
            elapsed = ?started.elapsed(),
            "GPU context created"
        );
        Ok(GpuContext {
            id,
            info: adapter.info.clone(),
            device,
            queue,
            pipelines: Mutex::new(kernel::Pipelines::default()),
            transfers: Default::default(),
            poller: Default::default(),
        })
    }
}

/// Contexts made so far, by GPU id. The lock is held while a device is created (about
/// 10 ms, once per GPU), so two first callers share one device.
static CONTEXTS: Mutex<BTreeMap<u32, Arc<GpuContext>>> = Mutex::new(BTreeMap::new());

/// The GPU context of the calling task or actor: the first GPU the node assigned to it
/// (`ray::runtime_context().gpu_ids()`). Created on first use, then shared.
///
/// # Errors
/// [`GpuError::NotAssigned`] outside a task or actor given `num_gpus`;
/// [`GpuError::DeviceFailed`] when the device cannot be created.
///
/// # Examples
/// ```
/// use ray::TaskOptionsBuilder;
///
/// #[ray::remote]
/// fn gpu_name() -> ray::Result<String> {
///     Ok(ray::gpu::context()?.adapter_info().name.clone())
/// }
///
/// // The node counts its GPUs itself; here it is told it has one.
/// ray::init_with(ray::Config::new().num_gpus(1.0))?;
/// let name = ray::get(&gpu_name.options().num_gpus(1.0).remote())?;
/// assert!(!name.is_empty());
/// // Without `num_gpus`, the task has no GPU.
/// assert!(ray::get(&gpu_name.remote()).is_err());
/// ray::shutdown();
/// # Ok::<(), ray::Error>(())
/// ```
pub fn context() -> crate::Result<Arc<GpuContext>> {
    if crate::node::current_context().is_none() {
        tracing::debug!("gpu::context() called outside a task");
        return Err(GpuError::NotAssigned.into());
    }
    let ids = crate::runtime_context().gpu_ids();
    let Some(&id) = ids.first() else {
        tracing::debug!("gpu::context() in a task without GPUs");
        return Err(GpuError::NotAssigned.into());
    };
    // The node numbered its GPUs with or without software adapters; hardware comes
    // first either way, so the id indexes the full list.
    context_with(id, true)
}

/// The context of GPU `id` on this machine, for code outside tasks (a driver, a test, a
/// benchmark). Inside tasks use [`context()`]: it picks the GPU the scheduler gave the
/// task, so tasks do not crowd onto one GPU. Software adapters count when
/// `RAY_GPU_ALLOW_SOFTWARE=1`.
///
/// # Errors
/// [`GpuError::NoSuchGpu`] when there is no GPU `id`; [`GpuError::DeviceFailed`] when
/// its device cannot be created.
///
/// # Examples
/// ```
/// let a = ray::gpu::context_for(0)?;
/// let b = ray::gpu::context_for(0)?;
/// assert!(std::sync::Arc::ptr_eq(&a, &b)); // one device per GPU and process
/// assert!(ray::gpu::context_for(1_000).is_err());
/// # Ok::<(), ray::Error>(())
/// ```
pub fn context_for(id: u32) -> crate::Result<Arc<GpuContext>> {
    context_with(id, allow_software_from_env())
}

fn context_with(id: u32, allow_software: bool) -> crate::Result<Arc<GpuContext>> {
    let gpus = detect(allow_software);
    let found = u32::try_from(gpus.len()).unwrap_or(u32::MAX);
    let Some(adapter) = gpus.into_iter().find(|a| a.id == id) else {
        tracing::debug!(gpu_id = id, found, "no such GPU");
        return Err(GpuError::NoSuchGpu { id, found }.into());
    };
    let mut contexts = CONTEXTS.lock();
    if let Some(ctx) = contexts.get(&id) {
        tracing::trace!(gpu_id = id, "GPU context reused");
        return Ok(ctx.clone());
    }
    let ctx = Arc::new(GpuContext::create(&adapter)?);
    contexts.insert(id, ctx.clone());
    Ok(ctx)
}
