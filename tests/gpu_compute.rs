//! GPU compute through `ray::gpu` on a real wgpu adapter: Mesa's lavapipe (software
//! Vulkan) in CI, installed by `scripts/test.sh`. A missing adapter fails the tests with
//! the packages to install; nothing is skipped.
//!
//! Detection is cached per process and reads `RAY_GPU_ALLOW_SOFTWARE` per call, so tests
//! that set it take `ENV` (under nextest each test has its own process anyway).
#![cfg(feature = "gpu")] // needs wgpu (scripts/test.sh builds every feature)

mod common;

use std::sync::{Arc, Mutex, MutexGuard};

use ray::gpu::{self, GpuError};
use ray::prelude::*;
use ray::{Config, Error};

static ENV: Mutex<()> = Mutex::new(());

/// Sets `RAY_GPU_ALLOW_SOFTWARE` for the rest of the test.
fn software(allowed: bool) -> MutexGuard<'static, ()> {
    common::tracing();
    let guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: tests that touch the environment hold `ENV`, and nothing else in this
    // process reads or writes it concurrently.
    unsafe { std::env::set_var("RAY_GPU_ALLOW_SOFTWARE", if allowed { "1" } else { "0" }) };
    guard
}

/// GPU 0, or a failure that says what to install.
fn gpu0() -> Arc<gpu::GpuContext> {
    match gpu::context_for(0) {
        Ok(ctx) => ctx,
        Err(e) => panic!(
            "no GPU adapter ({e}): install Mesa's lavapipe \
             (`apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1`) \
             and run with RAY_GPU_ALLOW_SOFTWARE=1, as scripts/test.sh does"
        ),
    }
}

use common::ADD_WGSL as ADD;

const SAXPY: &str = "
@group(0) @binding(0) var<storage, read> params: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(256)
fn saxpy(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i < arrayLength(&out) { out[i] = params[0] * x[i] + y[i]; }
}";

const NEGATE: &str = "
@group(0) @binding(0) var<storage, read> x: array<i32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@compute @workgroup_size(64)
fn negate(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&out) { out[id.x] = -x[id.x]; }
}";

const N: usize = 1 << 20;

fn inputs() -> (Vec<f32>, Vec<f32>) {
    let a = (0..N).map(|i| i as f32 * 0.5).collect();
    let b = (0..N).map(|i| (N - i) as f32 / 3.0).collect();
    (a, b)
}

#[test]
fn software_adapter_is_detected_when_allowed() {
    let _env = software(true);
    let ctx = gpu0();
    let info = ctx.adapter_info();
    assert!(!info.name.is_empty());
    assert!(
        matches!(info.backend, wgpu::Backend::Vulkan | wgpu::Backend::Gl),
        "{info:?}"
    );
    assert_eq!(ctx.id(), 0);
}

#[test]
fn software_adapters_are_skipped_unless_allowed() {
    let _env = software(false);
    // Every GPU listed without software adapters is hardware; on a machine with only
    // lavapipe (CI) that means none at all.
    let mut hardware = 0;
    loop {
        match gpu::context_for(hardware) {
            Ok(ctx) => {
                assert_ne!(ctx.adapter_info().device_type, wgpu::DeviceType::Cpu);
                hardware += 1;
            }
            Err(Error::Gpu(GpuError::NoSuchGpu { id, found })) => {
                assert_eq!((id, found), (hardware, hardware));
                break;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    let err = gpu::context_for(hardware).unwrap_err().to_string();
    assert!(err.contains("RAY_GPU_ALLOW_SOFTWARE=1"), "{err}");
    // Allowed, the software adapter comes after every hardware GPU: ids do not move.
    drop(_env);
    let _env = software(true);
    let soft = gpu::context_for(hardware).unwrap_or_else(|e| {
        panic!("no software adapter ({e}): install mesa-vulkan-drivers and libvulkan1")
    });
    assert_eq!(soft.adapter_info().device_type, wgpu::DeviceType::Cpu);
}

#[test]
fn no_vulkan_driver_means_no_gpus_not_a_panic() {
    let _env = software(true);
    // SAFETY: as in `software`.
    unsafe {
        std::env::set_var("WGPU_BACKEND", "vulkan");
        std::env::set_var("VK_ICD_FILENAMES", "/nonexistent/icd.json");
        std::env::set_var("VK_DRIVER_FILES", "/nonexistent/icd.json");
    }
    match gpu::context_for(0) {
        Err(Error::Gpu(GpuError::NoSuchGpu { id: 0, found: 0 })) => {}
        other => panic!("expected no GPUs, got {other:?}"),
    }
}

#[test]
fn vector_add_over_a_million_floats_matches_the_cpu() {
    let _env = software(true);
    let ctx = gpu0();
    let (a, b) = inputs();
    let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let groups = (N / 256) as u32;
    let t0 = std::time::Instant::now();
    let got = futures::executor::block_on(ctx.run_kernel(ADD, "add", &[&a, &b], N, (groups, 1, 1)))
        .expect("add");
    eprintln!(
        "add of 1M f32 on {} ({}): {:?}",
        ctx.adapter_info().name,
        ctx.adapter_info().backend,
        t0.elapsed()
    );
    assert_eq!(got, want);
    let again = ctx
        .run_kernel_blocking(ADD, "add", &[&a, &b], N, (groups, 1, 1))
        .expect("add again (cached pipeline)");
    assert_eq!(again, want);
}

#[test]
fn saxpy_and_integer_kernels_match_the_cpu() {
    let _env = software(true);
    let ctx = gpu0();
    let (x, y) = inputs();
    let alpha = 2.5f32;
    let got = ctx
        .run_kernel_blocking(
            SAXPY,
            "saxpy",
            &[&[alpha], &x, &y],
            N,
            ((N / 256) as u32, 1, 1),
        )
        .expect("saxpy");
    for (i, g) in got.iter().enumerate() {
        // The GPU may fuse the multiply-add: one rounding instead of two.
        let want = alpha * x[i] + y[i];
        assert!((g - want).abs() <= want.abs() * 1e-6, "{i}: {g} vs {want}");
    }
    let ints: Vec<i32> = (-500..500).collect();
    let neg = ctx
        .run_kernel_blocking(NEGATE, "negate", &[&ints], ints.len(), (16, 1, 1))
        .expect("negate");
    assert_eq!(neg, ints.iter().map(|v| -v).collect::<Vec<_>>());
}

fn rejected(r: ray::Result<Vec<f32>>) -> String {
    match r {
        Err(Error::Gpu(GpuError::KernelRejected { message, .. })) => message,
        other => panic!("expected KernelRejected, got {other:?}"),
    }
}

#[test]
fn bad_wgsl_is_an_error_not_a_panic() {
    let _env = software(true);
    let ctx = gpu0();
    let one = [1.0f32];
    let syntax = rejected(ctx.run_kernel_blocking("fn add( {", "add", &[&one], 1, (1, 1, 1)));
    eprintln!("bad WGSL: {syntax}");
    assert!(syntax.contains("expected"), "{syntax}");
    let entry = rejected(ctx.run_kernel_blocking(ADD, "missing", &[&one, &one], 1, (1, 1, 1)));
    assert!(
        entry.contains("missing") || entry.contains("entry"),
        "{entry}"
    );
    let types = "@group(0) @binding(0) var<storage, read> a: array<f32>;
        @group(0) @binding(1) var<storage, read_write> out: array<f32>;
        @compute @workgroup_size(1) fn f() { out[0] = a[0] + 1u; }";
    rejected(ctx.run_kernel_blocking(types, "f", &[&one], 1, (1, 1, 1)));
    // The device is still fine afterwards.
    let ok = ctx.run_kernel_blocking(ADD, "add", &[&one, &one], 1, (1, 1, 1));
    assert_eq!(ok.expect("add after errors"), [2.0]);
}

#[test]
fn wrong_sizes_are_errors() {
    let _env = software(true);
    let ctx = gpu0();
    let one = [1.0f32];
    // Three bindings in the shader, two buffers given: binding 1 would be the output.
    let msg = rejected(ctx.run_kernel_blocking(ADD, "add", &[&one], 1, (1, 1, 1)));
    eprintln!("binding mismatch: {msg}");
    // An empty input, an empty output.
    let empty: [f32; 0] = [];
    let msg = rejected(ctx.run_kernel_blocking(ADD, "add", &[&one, &empty], 1, (1, 1, 1)));
    assert!(msg.contains("input 1 is empty"), "{msg}");
    let msg = rejected(ctx.run_kernel_blocking(ADD, "add", &[&one, &one], 0, (1, 1, 1)));
    assert!(msg.contains("output is empty"), "{msg}");
    // An output over the GPU's storage buffer limit.
    let max = ctx.device().limits().max_storage_buffer_binding_size;
    let msg = rejected(ctx.run_kernel_blocking(
        ADD,
        "add",
        &[&one, &one],
        (max / 4 + 1) as usize,
        (1, 1, 1),
    ));
    assert!(msg.contains("limit"), "{msg}");
    // A fixed-size binding larger than its buffer.
    let fixed = "@group(0) @binding(0) var<storage, read> a: array<f32, 64>;
        @group(0) @binding(1) var<storage, read_write> out: array<f32>;
        @compute @workgroup_size(1) fn f() { out[0] = a[63]; }";
    let msg = rejected(ctx.run_kernel_blocking(fixed, "f", &[&one], 1, (1, 1, 1)));
    eprintln!("small binding: {msg}");
    // Dispatch sizes outside the limits.
    rejected(ctx.run_kernel_blocking(ADD, "add", &[&one, &one], 1, (0, 1, 1)));
    rejected(ctx.run_kernel_blocking(ADD, "add", &[&one, &one], 1, (u32::MAX, 1, 1)));
}

#[test]
fn the_kernel_future_is_send() {
    fn assert_send<F: std::future::Future + Send>(_: F) {}
    let _env = software(true);
    let ctx = gpu0();
    let x = [1i32];
    // Not awaited: only its type is checked (it can go to `tokio::spawn`, an actix
    // handler, any executor).
    assert_send(ctx.run_kernel(NEGATE, "negate", &[&x], 1, (1, 1, 1)));
}

#[test]
fn context_for_returns_one_shared_context() {
    let _env = software(true);
    let a = gpu0();
    let b = gpu0();
    assert!(Arc::ptr_eq(&a, &b));
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| gpu::context_for(0).expect("context")))
        .collect();
    for t in threads {
        assert!(Arc::ptr_eq(&a, &t.join().expect("thread")));
    }
}

#[test]
fn concurrent_kernels_on_one_gpu_each_get_their_own_result() {
    let _env = software(true);
    let ctx = gpu0();
    let threads: Vec<_> = (0..4)
        .map(|k| {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let x: Vec<i32> = (0..10_000).map(|i| i * k).collect();
                let got = ctx
                    .run_kernel_blocking(NEGATE, "negate", &[&x], x.len(), (157, 1, 1))
                    .expect("negate");
                assert_eq!(got, x.iter().map(|v| -v).collect::<Vec<_>>());
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

/// The names of this process's threads (as the kernel shortens them: 15 bytes).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn many_kernels_in_flight_are_waited_for_by_one_poller_thread() {
    let _env = software(true);
    let ctx = gpu0();
    let inputs: Vec<Vec<i32>> = (0..64)
        .map(|k| (0..4_096).map(|i| i ^ k).collect())
        .collect();
    // 64 kernels launched before any is awaited: with a thread per kernel, 64 threads.
    let args: Vec<[&[i32]; 1]> = inputs.iter().map(|x| [x.as_slice()]).collect();
    let kernels: Vec<_> = args
        .iter()
        .map(|a| ctx.run_kernel(NEGATE, "negate", a, a[0].len(), (64, 1, 1)))
        .collect();
    let results = futures::executor::block_on(futures::future::join_all(kernels));
    for (x, got) in inputs.iter().zip(results) {
        assert_eq!(
            got.expect("negate"),
            x.iter().map(|v| -v).collect::<Vec<_>>()
        );
    }
    // A read-back waits on the same thread.
    let buffer = ctx.upload(&inputs[0]).expect("upload");
    assert_eq!(buffer.to_vec().expect("read back"), inputs[0]);
    let names = thread_names();
    let pollers = names
        .iter()
        .filter(|n| n.starts_with("ray-gpu0-poll"))
        .count();
    assert_eq!(pollers, 1, "one poller for GPU 0; threads: {names:?}");
    assert!(
        !names.iter().any(|n| n == "ray-gpu-wait"),
        "no thread per kernel: {names:?}"
    );
}

// --- With the scheduler: tasks given `num_gpus` ---

#[ray::remote]
fn gpu_sum(x: Vec<i32>) -> ray::Result<(u32, i64)> {
    let ctx = gpu::context()?;
    let neg = ctx.run_kernel_blocking(
        NEGATE,
        "negate",
        &[&x],
        x.len(),
        (x.len().div_ceil(64) as u32, 1, 1),
    )?;
    Ok((ctx.id(), neg.iter().map(|&v| i64::from(v)).sum()))
}

#[ray::remote]
async fn gpu_sum_async(x: Vec<i32>) -> ray::Result<i64> {
    let ctx = gpu::context()?;
    let groups = (x.len().div_ceil(64) as u32, 1, 1);
    let neg = ctx
        .run_kernel(NEGATE, "negate", &[&x], x.len(), groups)
        .await?;
    Ok(neg.iter().map(|&v| i64::from(v)).sum())
}

#[ray::remote]
fn assigned() -> Vec<u32> {
    ray::runtime_context().gpu_ids()
}

#[test]
fn a_task_without_gpus_gets_a_clear_error() {
    let _env = software(true);
    let _ray = common::init_with(Config::new().num_cpus(2.0));
    let err = ray::get(&gpu_sum.remote(vec![1, 2, 3])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("num_gpus"), "{msg}");
    // Outside any task too.
    assert_eq!(
        gpu::context().unwrap_err(),
        Error::Gpu(GpuError::NotAssigned)
    );
}

#[test]
fn num_gpus_tasks_get_their_gpu_context() {
    let _env = software(true);
    gpu0();
    // One GPU given explicitly: this test is about the task side, not detection.
    let _ray = common::init_with(Config::new().num_cpus(2.0).num_gpus(1.0));
    let x: Vec<i32> = (1..=1000).collect();
    let (id, sum) = ray::get(&gpu_sum.options().num_gpus(1.0).remote(x.clone())).expect("sync");
    assert_eq!((id, sum), (0, -500_500));
    let sum = ray::get(&gpu_sum_async.options().num_gpus(1.0).remote(x)).expect("async");
    assert_eq!(sum, -500_500);
    // Two half-GPU tasks share GPU 0.
    let halves: Vec<_> = (0..2)
        .map(|_| assigned.options().num_gpus(0.5).remote())
        .collect();
    for r in &halves {
        assert_eq!(ray::get(r).expect("ids"), vec![0]);
    }
}

/// An actor that keeps its GPU for its lifetime.
pub struct Negator {
    ctx: Arc<gpu::GpuContext>,
}

#[ray::remote]
impl Negator {
    pub fn new() -> ray::Result<Self> {
        Ok(Negator {
            ctx: gpu::context()?,
        })
    }

    pub fn negate(&self, x: Vec<i32>) -> ray::Result<Vec<i32>> {
        let groups = (x.len().div_ceil(64) as u32, 1, 1);
        self.ctx
            .run_kernel_blocking(NEGATE, "negate", &[&x], x.len(), groups)
    }
}

#[test]
fn a_num_gpus_actor_keeps_its_gpu_context() {
    let _env = software(true);
    gpu0();
    let _ray = common::init_with(Config::new().num_cpus(2.0).num_gpus(1.0));
    let actor = Negator::options().num_gpus(1.0).remote();
    for k in 1..=3 {
        let got = ray::get(&actor.negate.remote(vec![k; 100])).expect("negate");
        assert_eq!(got, vec![-k; 100]);
    }
}

#[test]
fn the_node_counts_its_gpus_at_start() {
    let _env = software(true);
    gpu0();
    let detected = (0..).take_while(|&i| gpu::context_for(i).is_ok()).count() as f64;
    let _ray = common::init_with(Config::new().num_cpus(2.0).allow_software_gpus(true));
    assert_eq!(
        ray::cluster_resources()
            .unwrap()
            .get("GPU")
            .copied()
            .unwrap_or(0.0),
        detected,
        "the node should count the GPUs it detects"
    );
    let (id, sum) = ray::get(&gpu_sum.options().num_gpus(0.5).remote(vec![7])).expect("sync");
    assert_eq!((id, sum), (0, -7));
}

#[test]
fn software_gpus_are_not_counted_unless_allowed() {
    let _env = software(false);
    let _ray = common::init_with(Config::new().num_cpus(2.0).allow_software_gpus(false));
    let hardware = (0..).take_while(|&i| gpu::context_for(i).is_ok()).count() as f64;
    assert_eq!(
        ray::cluster_resources()
            .unwrap()
            .get("GPU")
            .copied()
            .unwrap_or(0.0),
        hardware
    );
}

#[test]
fn the_gpu_example_matches_the_cpu() {
    let out = std::process::Command::new(common::example("gpu"))
        .env("RAY_GPU_ALLOW_SOFTWARE", "1")
        .env("GPU_SAMPLES", "1048576")
        .output()
        .expect("run the gpu example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("GPU and CPU agree"), "{stdout}");
    assert!(stdout.contains("samples/s"), "{stdout}");
}
