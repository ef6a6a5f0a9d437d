//! `GpuBuffer<T>`: numbers resident on one GPU. Kernels read and write them in place
//! (`GpuContext::run_kernel_on`), so work passed from task to task, actor to actor or
//! along a compiled graph (`ray::dag`) on the same adapter never goes through the host;
//! a buffer used on another adapter is copied through the host once. Copies to and from
//! the host are counted per GPU (`GpuContext::host_transfers`).

use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use wgpu::util::DeviceExt;

use super::kernel::{Pending, check_len, scoped};
use super::{Element, GpuContext, GpuError};

/// Host ↔ GPU copies of buffers on one GPU.
#[derive(Default)]
pub(super) struct Transfers(AtomicU64);

/// `len` numbers on one GPU, shared by its clones (a clone is a pointer copy; kernels
/// never write their inputs, so a buffer never changes once made).
///
/// Inside a process it travels between tasks, actors and compiled-graph stages as is.
/// It does not leave the process: serializing one (a call to another node, spilling) is
/// an error that says to read it with [`GpuBuffer::to_vec`] first.
///
/// # Examples
/// ```
/// const DOUBLE: &str = "
///     @group(0) @binding(0) var<storage, read> x: array<f32>;
///     @group(0) @binding(1) var<storage, read_write> out: array<f32>;
///     @compute @workgroup_size(64)
///     fn double(@builtin(global_invocation_id) id: vec3<u32>) {
///         if id.x < arrayLength(&out) { out[id.x] = 2.0 * x[id.x]; }
///     }";
/// let ctx = ray::gpu::context_for(0)?;
/// let before = ctx.host_transfers();
/// let x = ctx.upload(&[1.0f32, 2.0, 3.0])?;
/// // Two kernels in a row: the intermediate result stays on the GPU.
/// let once = ctx.run_kernel_on(DOUBLE, "double", &[&x], 3, (1, 1, 1))?;
/// let twice = ctx.run_kernel_on(DOUBLE, "double", &[&once], 3, (1, 1, 1))?;
/// assert_eq!(twice.to_vec()?, [4.0, 8.0, 12.0]);
/// assert_eq!(ctx.host_transfers() - before, 2); // one upload, one read-back
/// # Ok::<(), ray::Error>(())
/// ```
pub struct GpuBuffer<T> {
    ctx: Arc<GpuContext>,
    buffer: Arc<wgpu::Buffer>,
    len: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for GpuBuffer<T> {
    fn clone(&self) -> Self {
        Self {
            ctx: self.ctx.clone(),
            buffer: self.buffer.clone(),
            len: self.len,
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for GpuBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuBuffer(gpu {}, {} elements)", self.ctx.id, self.len)
    }
}

impl<T: Element> GpuBuffer<T> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no elements (never: empty buffers are refused).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The GPU it lives on.
    pub fn gpu_id(&self) -> u32 {
        self.ctx.id
    }

    /// Copies it to the host, waiting for the kernels that write it. Blocks the calling
    /// thread: call it from synchronous code (a task, an actor method, a driver), not on
    /// an async executor.
    ///
    /// # Errors
    /// [`GpuError::DeviceFailed`] when the GPU fails.
    pub fn to_vec(&self) -> crate::Result<Vec<T>> {
        let ctx = &self.ctx;
        let bytes = (self.len * std::mem::size_of::<T>()) as u64;
        let failed = |message: String| -> crate::Error {
            GpuError::DeviceFailed {
                id: ctx.id,
                message,
            }
            .into()
        };
        let submitted = std::panic::catch_unwind(AssertUnwindSafe(|| {
            scoped(&ctx.device, || {
                let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("ray-gpu-readback"),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let mut encoder =
                    ctx.device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("ray-gpu-readback"),
                        });
                encoder.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, bytes);
                let index = ctx.queue.submit([encoder.finish()]);
                (staging, index)
            })
        }));
        let (staging, index) = match submitted {
            Ok(r) => r.map_err(failed)?,
            Err(p) => return Err(failed(crate::error::panic_message(&*p))),
        };
        let (tx, mapped) = mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        ctx.transfers.0.fetch_add(1, Ordering::Relaxed);
        let pending = Pending {
            id: ctx.id,
            device: ctx.device.clone(),
            staging,
            index,
            mapped,
            len: self.len,
            _element: PhantomData,
        };
        ctx.poller.run_blocking(ctx.id, move || pending.wait())
    }
}

impl GpuContext {
    /// Copies `data` to this GPU.
    ///
    /// # Errors
    /// [`GpuError::KernelRejected`] (entry `upload`) for empty data or more than the GPU
    /// binds; [`GpuError::DeviceFailed`] when the GPU is out of memory or fails.
    ///
    /// # Examples
    /// ```
    /// let ctx = ray::gpu::context_for(0)?;
    /// let b = ctx.upload(&[1u32, 2, 3])?;
    /// assert_eq!((b.len(), b.gpu_id()), (3, 0));
    /// assert_eq!(b.to_vec()?, [1, 2, 3]);
    /// # Ok::<(), ray::Error>(())
    /// ```
    pub fn upload<T: Element>(self: &Arc<Self>, data: &[T]) -> crate::Result<GpuBuffer<T>> {
        let limits = self.device.limits();
        let max = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        check_len("the data", data.len(), std::mem::size_of::<T>(), max).map_err(|message| {
            GpuError::KernelRejected {
                entry: "upload".into(),
                message,
            }
        })?;
        let made = std::panic::catch_unwind(AssertUnwindSafe(|| {
            scoped(&self.device, || {
                self.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("ray-gpu-buffer"),
                        contents: bytemuck::cast_slice(data),
                        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    })
            })
        }));
        let buffer = match made {
            Ok(Ok(b)) => b,
            Ok(Err(message)) => return Err(self.failed(message)),
            Err(p) => return Err(self.failed(crate::error::panic_message(&*p))),
        };
        self.transfers.0.fetch_add(1, Ordering::Relaxed);
        Ok(self.wrap(buffer, data.len()))
    }

    /// Runs one WGSL compute kernel over buffers and returns its output as a new buffer
    /// on this GPU, without waiting for it (later kernels and `to_vec` on this GPU are
    /// ordered after it). Bindings are as in [`GpuContext::run_kernel`]. Inputs on
    /// another GPU are copied here through the host first.
    ///
    /// # Errors
    /// As [`GpuContext::run_kernel`].
    ///
    /// # Examples
    /// See [`GpuBuffer`].
    pub fn run_kernel_on<T: Element>(
        self: &Arc<Self>,
        wgsl: &str,
        entry: &str,
        inputs: &[&GpuBuffer<T>],
        output_len: usize,
        (x, y, z): (u32, u32, u32),
    ) -> crate::Result<GpuBuffer<T>> {
        let rejected = |message: String| -> crate::Error {
            GpuError::KernelRejected {
                entry: entry.to_string(),
                message,
            }
            .into()
        };
        let here: Vec<GpuBuffer<T>> = inputs
            .iter()
            .map(|b| {
                if Arc::ptr_eq(&b.ctx, self) {
                    Ok((*b).clone())
                } else {
                    self.upload(&b.to_vec()?)
                }
            })
            .collect::<crate::Result<_>>()?;
        let limits = self.device.limits();
        let max = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        check_len("the output", output_len, std::mem::size_of::<T>(), max).map_err(rejected)?;
        let top = limits.max_compute_workgroups_per_dimension;
        if [x, y, z].iter().any(|&n| n == 0 || n > top) {
            return Err(rejected(format!(
                "workgroups ({x}, {y}, {z}) must each be in 1..={top}"
            )));
        }
        let pipeline = self.pipeline(wgsl, entry, here.len()).map_err(rejected)?;
        let device = &self.device;
        let submitted = std::panic::catch_unwind(AssertUnwindSafe(|| {
            scoped(device, || {
                let output = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("ray-gpu-buffer"),
                    size: (output_len * std::mem::size_of::<T>()) as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                let mut bound: Vec<&wgpu::Buffer> = here.iter().map(|b| &*b.buffer).collect();
                bound.push(&output);
                let encoder =
                    super::kernel::encode_dispatch(device, &pipeline, &bound, entry, (x, y, z));
                self.queue.submit([encoder.finish()]);
                output
            })
        }));
        match submitted {
            Ok(Ok(output)) => Ok(self.wrap(output, output_len)),
            Ok(Err(message)) => Err(rejected(message)),
            Err(p) => Err(rejected(format!(
                "wgpu panicked: {}",
                crate::error::panic_message(&*p)
            ))),
        }
    }

    /// Copies between the host and buffers on this GPU so far, both ways (what a chain
    /// of kernels on one GPU avoids).
    pub fn host_transfers(&self) -> u64 {
        self.transfers.0.load(Ordering::Relaxed)
    }

    fn wrap<T>(self: &Arc<Self>, buffer: wgpu::Buffer, len: usize) -> GpuBuffer<T> {
        GpuBuffer {
            ctx: self.clone(),
            buffer: Arc::new(buffer),
            len,
            _t: PhantomData,
        }
    }

    fn failed(&self, message: String) -> crate::Error {
        GpuError::DeviceFailed {
            id: self.id,
            message,
        }
        .into()
    }
}

const LEAVES: &str =
    "a GpuBuffer cannot leave its process: read it with `to_vec()` and send the Vec";

impl<T> Serialize for GpuBuffer<T> {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(LEAVES))
    }
}

impl<'de, T> Deserialize<'de> for GpuBuffer<T> {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(LEAVES))
    }
}
