//! One WGSL compute kernel over storage buffers: `GpuContext::run_kernel` (async) and
//! `run_kernel_blocking`. Validation happens inside wgpu error scopes on the calling
//! thread; waiting for the GPU happens on the GPU's poller thread (`gpu/poller.rs`),
//! never on an executor.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::Instant;

use wgpu::util::DeviceExt;

use super::{GpuContext, GpuError, ready};

mod sealed {
    /// Implemented only for WGSL's 32-bit scalars.
    pub trait Sealed: bytemuck::Pod + Send + Sync {}
    impl Sealed for f32 {}
    impl Sealed for u32 {}
    impl Sealed for i32 {}
}

/// A number a kernel's buffers hold: `f32`, `u32` or `i32`, WGSL's 32-bit scalars
/// (`array<f32>`, `array<u32>`, `array<i32>` in the shader). Sealed.
///
/// # Examples
/// ```
/// fn zeros<T: ray::gpu::Element + Default>(n: usize) -> Vec<T> { vec![T::default(); n] }
/// assert_eq!(zeros::<f32>(2), [0.0, 0.0]);
/// ```
pub trait Element: sealed::Sealed + Copy + 'static {}
impl<T: sealed::Sealed + Copy + 'static> Element for T {}

/// Compiled pipelines, by WGSL source, entry point and number of inputs.
#[derive(Default)]
pub(super) struct Pipelines(HashMap<(String, String, usize), wgpu::ComputePipeline>);

/// Kernels kept compiled per GPU; past it the cache starts over.
const MAX_PIPELINES: usize = 64;

/// How long a finished submission's map callback may take to arrive when another
/// thread's poll took it (see `Pending::wait`).
const CALLBACK_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// A submitted kernel whose result is not read yet.
pub(super) struct Pending<T> {
    pub(super) id: u32,
    pub(super) device: wgpu::Device,
    pub(super) staging: wgpu::Buffer,
    pub(super) index: wgpu::SubmissionIndex,
    pub(super) mapped: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    pub(super) len: usize,
    pub(super) _element: std::marker::PhantomData<fn() -> T>,
}

impl GpuContext {
    /// Runs one WGSL compute kernel and returns its output. Binding `i` of group 0 is
    /// `inputs[i]` (`var<storage, read>`); binding `inputs.len()` is the output
    /// (`var<storage, read_write>`, `output_len` elements, zeroed before the kernel runs).
    /// `workgroups` is the dispatch size in workgroups (x, y, z). Compiled kernels are
    /// cached per GPU.
    ///
    /// The GPU is waited for on its poller thread, so this is safe to await in async
    /// tasks and actix handlers.
    ///
    /// # Errors
    /// [`GpuError::KernelRejected`] for WGSL that does not compile, a missing entry point,
    /// bindings that do not match the buffers, an empty buffer, a buffer over the GPU's
    /// `max_storage_buffer_binding_size`, or a dispatch size outside its limits;
    /// [`GpuError::DeviceFailed`] when the GPU fails while running it. Never panics.
    ///
    /// # Cancel safety
    /// Dropping the future does not stop the kernel; its result is discarded.
    ///
    /// # Examples
    /// ```
    /// const ADD: &str = "
    ///     @group(0) @binding(0) var<storage, read> a: array<f32>;
    ///     @group(0) @binding(1) var<storage, read> b: array<f32>;
    ///     @group(0) @binding(2) var<storage, read_write> out: array<f32>;
    ///     @compute @workgroup_size(64)
    ///     fn add(@builtin(global_invocation_id) id: vec3<u32>) {
    ///         if id.x < arrayLength(&out) { out[id.x] = a[id.x] + b[id.x]; }
    ///     }";
    /// let ctx = ray::gpu::context_for(0)?;
    /// let (a, b) = (vec![1.0f32; 100], vec![2.0f32; 100]);
    /// let sum = futures::executor::block_on(ctx.run_kernel(ADD, "add", &[&a, &b], 100, (2, 1, 1)))?;
    /// assert_eq!(sum, vec![3.0; 100]);
    /// # Ok::<(), ray::Error>(())
    /// ```
    #[tracing::instrument(level = "debug", name = "gpu.kernel", skip_all,
        fields(gpu_id = self.id, entry = %entry, inputs = inputs.len(), output_len))]
    pub async fn run_kernel<T: Element>(
        &self,
        wgsl: &str,
        entry: &str,
        inputs: &[&[T]],
        output_len: usize,
        workgroups: (u32, u32, u32),
    ) -> crate::Result<Vec<T>> {
        let pending = self.launch(wgsl, entry, inputs, output_len, workgroups)?;
        self.poller.run(self.id, move || pending.wait()).await
    }

    /// [`GpuContext::run_kernel`] for synchronous code (a sync task, a driver): blocks
    /// the calling thread until the result is back. Do not call it on an async executor.
    ///
    /// # Errors
    /// As [`GpuContext::run_kernel`].
    ///
    /// # Examples
    /// ```
    /// const DOUBLE: &str = "
    ///     @group(0) @binding(0) var<storage, read> x: array<u32>;
    ///     @group(0) @binding(1) var<storage, read_write> out: array<u32>;
    ///     @compute @workgroup_size(1)
    ///     fn double(@builtin(global_invocation_id) id: vec3<u32>) { out[id.x] = 2u * x[id.x]; }";
    /// let ctx = ray::gpu::context_for(0)?;
    /// let out = ctx.run_kernel_blocking::<u32>(DOUBLE, "double", &[&[1, 2, 3]], 3, (3, 1, 1))?;
    /// assert_eq!(out, [2, 4, 6]);
    /// // Bad WGSL is an error, not a panic.
    /// assert!(ctx.run_kernel_blocking::<u32>("fn (", "double", &[&[1]], 1, (1, 1, 1)).is_err());
    /// # Ok::<(), ray::Error>(())
    /// ```
    #[tracing::instrument(level = "debug", name = "gpu.kernel", skip_all,
        fields(gpu_id = self.id, entry = %entry, inputs = inputs.len(), output_len))]
    pub fn run_kernel_blocking<T: Element>(
        &self,
        wgsl: &str,
        entry: &str,
        inputs: &[&[T]],
        output_len: usize,
        workgroups: (u32, u32, u32),
    ) -> crate::Result<Vec<T>> {
        let pending = self.launch(wgsl, entry, inputs, output_len, workgroups)?;
        self.poller.run_blocking(self.id, move || pending.wait())
    }

    /// Checks, compiles (or reuses), uploads, dispatches and submits; does not wait.
    fn launch<T: Element>(
        &self,
        wgsl: &str,
        entry: &str,
        inputs: &[&[T]],
        output_len: usize,
        workgroups: (u32, u32, u32),
    ) -> crate::Result<Pending<T>> {
        let rejected = |message: String| -> crate::Error {
            tracing::debug!(gpu_id = self.id, entry, %message, "kernel rejected");
            GpuError::KernelRejected {
                entry: entry.to_string(),
                message,
            }
            .into()
        };
        self.check_sizes(inputs, output_len, workgroups)
            .map_err(rejected)?;
        // wgpu reports misuse through error scopes; a panic left in it must not take the
        // caller's thread (an actor's, an executor's) with it.
        let submitted = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.submit(wgsl, entry, inputs, output_len, workgroups)
        }));
        let (staging, index) = match submitted {
            Ok(r) => r.map_err(rejected)?,
            Err(panic) => {
                let message = crate::error::panic_message(&*panic);
                return Err(rejected(format!("wgpu panicked: {message}")));
            }
        };
        let (tx, mapped) = mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        Ok(Pending {
            id: self.id,
            device: self.device.clone(),
            staging,
            index,
            mapped,
            len: output_len,
            _element: std::marker::PhantomData,
        })
    }

    fn check_sizes<T>(
        &self,
        inputs: &[&[T]],
        output_len: usize,
        (x, y, z): (u32, u32, u32),
    ) -> Result<(), String> {
        let limits = self.device.limits();
        let max_bytes = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let bindings = inputs.len() + 1;
        if bindings > limits.max_storage_buffers_per_shader_stage as usize {
            return Err(format!(
                "{} inputs and the output are {bindings} storage buffers; this GPU binds at most {}",
                inputs.len(),
                limits.max_storage_buffers_per_shader_stage
            ));
        }
        let size = std::mem::size_of::<T>();
        for (i, data) in inputs.iter().enumerate() {
            check_len(&format!("input {i}"), data.len(), size, max_bytes)?;
        }
        check_len("the output", output_len, size, max_bytes)?;
        let max = limits.max_compute_workgroups_per_dimension;
        for (axis, n) in [("x", x), ("y", y), ("z", z)] {
            if n == 0 || n > max {
                return Err(format!("workgroups.{axis} is {n}; it must be in 1..={max}"));
            }
        }
        Ok(())
    }

    /// Everything up to `queue.submit`, inside error scopes: the staging buffer the
    /// output is copied to, and the submission to wait for.
    fn submit<T: Element>(
        &self,
        wgsl: &str,
        entry: &str,
        inputs: &[&[T]],
        output_len: usize,
        (x, y, z): (u32, u32, u32),
    ) -> Result<(wgpu::Buffer, wgpu::SubmissionIndex), String> {
        let pipeline = self.pipeline(wgsl, entry, inputs.len())?;
        let device = &self.device;
        scoped(device, || {
            let mut buffers: Vec<wgpu::Buffer> = inputs
                .iter()
                .map(|data| {
                    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("ray-gpu-input"),
                        contents: bytemuck::cast_slice(data),
                        usage: wgpu::BufferUsages::STORAGE,
                    })
                })
                .collect();
            let bytes = (output_len * std::mem::size_of::<T>()) as u64;
            let output = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("ray-gpu-output"),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("ray-gpu-staging"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            buffers.push(output);
            let refs: Vec<&wgpu::Buffer> = buffers.iter().collect();
            let mut encoder = encode_dispatch(device, &pipeline, &refs, entry, (x, y, z));
            if let Some(output) = buffers.last() {
                encoder.copy_buffer_to_buffer(output, 0, &staging, 0, bytes);
            }
            let index = self.queue.submit([encoder.finish()]);
            (staging, index)
        })
    }

    /// The compiled kernel for this source, entry point and input count.
    pub(super) fn pipeline(
        &self,
        wgsl: &str,
        entry: &str,
        inputs: usize,
    ) -> Result<wgpu::ComputePipeline, String> {
        let key = (wgsl.to_string(), entry.to_string(), inputs);
        if let Some(p) = self.pipelines.lock().0.get(&key) {
            return Ok(p.clone());
        }
        let started = Instant::now();
        let device = &self.device;
        let pipeline = scoped(device, || {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(entry),
                source: wgpu::ShaderSource::Wgsl(wgsl.into()),
            });
            let entries: Vec<wgpu::BindGroupLayoutEntry> = (0..=inputs)
                .map(|i| wgpu::BindGroupLayoutEntry {
                    binding: i as u32,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage {
                            read_only: i < inputs,
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                })
                .collect();
            let group = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("ray-gpu-bindings"),
                entries: &entries,
            });
            let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("ray-gpu-layout"),
                bind_group_layouts: &[Some(&group)],
                immediate_size: 0,
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        })?;
        tracing::debug!(gpu_id = self.id, entry, elapsed = ?started.elapsed(), "kernel compiled");
        let mut cache = self.pipelines.lock();
        if cache.0.len() >= MAX_PIPELINES {
            cache.0.clear();
        }
        cache.0.insert(key, pipeline.clone());
        Ok(pipeline)
    }
}

impl<T: Element> Pending<T> {
    /// Blocks until the kernel is done and copies its output out.
    pub(super) fn wait(self) -> crate::Result<Vec<T>> {
        let started = Instant::now();
        let id = self.id;
        let failed = |message: String| -> crate::Error {
            tracing::debug!(gpu_id = id, %message, "kernel failed");
            GpuError::DeviceFailed { id, message }.into()
        };
        // This runs on the GPU's poller, the one thread of ours that polls its device,
        // so the map callback runs inside this wait for the submission. A user polling
        // the device on a thread of their own may have taken the callback into their poll
        // instead, where it runs at once: it gets a moment more.
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(self.index),
                timeout: None,
            })
            .map_err(|e| failed(e.to_string()))?;
        let mapped = match self.mapped.try_recv() {
            Ok(r) => r,
            Err(mpsc::TryRecvError::Disconnected) => {
                return Err(failed("the result's mapping was dropped".into()));
            }
            Err(mpsc::TryRecvError::Empty) => self
                .mapped
                .recv_timeout(CALLBACK_GRACE)
                .map_err(|_| failed("the GPU finished but never mapped the result".into()))?,
        };
        mapped.map_err(|e| failed(format!("reading the result back failed: {e}")))?;
        let view = self
            .staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| failed(e.to_string()))?;
        let mut out = vec![T::zeroed(); self.len];
        let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut out);
        if dst.len() != view.len() {
            return Err(failed(format!(
                "the result is {} bytes, expected {}",
                view.len(),
                dst.len()
            )));
        }
        dst.copy_from_slice(&view);
        drop(view);
        self.staging.unmap();
        tracing::debug!(gpu_id = id, elapsed = ?started.elapsed(), "kernel done");
        Ok(out)
    }
}

pub(super) fn check_len(what: &str, len: usize, size: usize, max_bytes: u64) -> Result<(), String> {
    if len == 0 {
        return Err(format!(
            "{what} is empty (a storage buffer needs at least one element)"
        ));
    }
    let bytes = (len as u64).saturating_mul(size as u64);
    if bytes > max_bytes {
        return Err(format!(
            "{what} is {bytes} bytes, over this GPU's limit of {max_bytes} bytes per storage buffer: split the work"
        ));
    }
    Ok(())
}

/// Runs `f` inside validation, out-of-memory and internal error scopes, turning the first
/// error captured into `Err`.
pub(super) fn scoped<R>(device: &wgpu::Device, f: impl FnOnce() -> R) -> Result<R, String> {
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let r = f();
    // Scopes pop in reverse order; all three pop even when the first has an error.
    let errors = [
        ready(internal.pop()),
        ready(memory.pop()),
        ready(validation.pop()),
    ];
    match errors.into_iter().flatten().next() {
        Some(e) => Err(describe(&e)),
        None => Ok(r),
    }
}

/// wgpu's error with its chain of causes (naga's parse errors sit in the sources).
fn describe(e: &wgpu::Error) -> String {
    use std::error::Error as _;
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !message.contains(&more) {
            message.push_str(": ");
            message.push_str(&more);
        }
        source = s.source();
    }
    // wgpu opens with a generic "Validation Error\n\nCaused by:"; the causes say more.
    match message.split_once("Caused by:") {
        Some((_, causes)) => causes.trim().to_string(),
        None => message.trim().to_string(),
    }
}

/// Records one dispatch of `pipeline`'s `entry` over `buffers` (bound 0, 1, ... in
/// order): the command encoder, for the caller to add copies to and submit.
pub(super) fn encode_dispatch(
    device: &wgpu::Device,
    pipeline: &wgpu::ComputePipeline,
    buffers: &[&wgpu::Buffer],
    entry: &str,
    (x, y, z): (u32, u32, u32),
) -> wgpu::CommandEncoder {
    let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("ray-gpu-bindings"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    });
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("ray-gpu-kernel"),
    });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(entry),
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(x, y, z);
    }
    encoder
}
