//! Monte Carlo π on the GPU: the samples are split over tasks that each take half a GPU
//! (`num_gpus(0.5)`, so two share one), get their GPU with `ray::gpu::context()` and run
//! a WGSL kernel that counts hits. The same integer sampling then runs on the CPU as
//! ordinary tasks; the counts must match exactly (the example exits with 1 if they do
//! not), and both throughputs are printed with the adapter's name and backend.
//!
//! Run: `cargo run --release --features gpu --example gpu`. Without a GPU, Mesa's
//! lavapipe (software Vulkan) works: `apt-get install mesa-vulkan-drivers libvulkan1`,
//! then run with `RAY_GPU_ALLOW_SOFTWARE=1`. `GPU_SAMPLES` sets the number of samples
//! (default 2^29). Drivers, containers and real hardware: docs/gpu.md.

use std::time::Instant;

use ray::prelude::*;

/// One invocation draws `params[1]` points from its own PCG stream and stores how many
/// fall inside the quarter circle. Coordinates are 15-bit integers, so `x² + y²` is exact
/// in `u32` on both sides: the GPU and the CPU count exactly the same points.
const KERNEL: &str = "
@group(0) @binding(0) var<storage, read> params: array<u32>; // seed, samples per thread
@group(0) @binding(1) var<storage, read_write> hits: array<u32>;

fn pcg(state: u32) -> u32 {
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

@compute @workgroup_size(64)
fn sample(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= arrayLength(&hits) { return; }
    var state = pcg(params[0] ^ pcg(id.x * 747796405u + 2891336453u));
    var inside = 0u;
    for (var i = 0u; i < params[1]; i++) {
        state = state * 747796405u + 2891336453u;
        let r = pcg(state);
        let x = r & 0x7fffu;
        let y = (r >> 15u) & 0x7fffu;
        if x * x + y * y < 0x40000000u { inside++; }
    }
    hits[id.x] = inside;
}";

/// Kernel invocations per task (256 workgroups of 64).
const THREADS: u32 = 16_384;
/// Tasks each path is split into.
const TASKS: u32 = 8;

fn pcg(state: u32) -> u32 {
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

fn step(state: u32) -> u32 {
    state.wrapping_mul(747_796_405).wrapping_add(2_891_336_453)
}

/// The kernel's invocation `thread`, on the CPU.
fn thread_hits(seed: u32, thread: u32, per_thread: u32) -> u32 {
    let mut state = pcg(seed ^ pcg(step(thread)));
    let mut inside = 0;
    for _ in 0..per_thread {
        state = step(state);
        let r = pcg(state);
        let (x, y) = (r & 0x7fff, (r >> 15) & 0x7fff);
        if x * x + y * y < 1 << 30 {
            inside += 1;
        }
    }
    inside
}

/// One chunk on the task's GPU: its hit count and the GPU it ran on.
#[ray::remote]
async fn gpu_chunk(seed: u32, per_thread: u32) -> ray::Result<(u64, String)> {
    let ctx = ray::gpu::context()?;
    let hits: Vec<u32> = ctx
        .run_kernel(
            KERNEL,
            "sample",
            &[&[seed, per_thread]],
            THREADS as usize,
            (THREADS / 64, 1, 1),
        )
        .await?;
    let info = ctx.adapter_info();
    let gpu = format!("GPU {}: {} ({})", ctx.id(), info.name, info.backend);
    Ok((hits.iter().map(|&h| u64::from(h)).sum(), gpu))
}

/// The same chunk on a CPU.
#[ray::remote]
fn cpu_chunk(seed: u32, per_thread: u32) -> u64 {
    (0..THREADS)
        .map(|t| u64::from(thread_hits(seed, t, per_thread)))
        .sum()
}

fn seed(task: u32) -> u32 {
    pcg(task.wrapping_add(0x9E37_79B9))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let wanted: u64 = std::env::var("GPU_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 29);
    let per_thread = u32::try_from(wanted / u64::from(TASKS * THREADS))?.max(1);
    let samples = u64::from(per_thread) * u64::from(TASKS * THREADS);

    // The node counts its GPUs at start (software ones with RAY_GPU_ALLOW_SOFTWARE=1).
    ray::init()?;
    let gpus = ray::cluster_resources()?.get("GPU").copied().unwrap_or(0.0);
    if gpus < 1.0 {
        eprintln!(
            "no GPU found: this example needs one (Vulkan or GL). Without a GPU, install \
             Mesa's lavapipe (apt-get install mesa-vulkan-drivers libvulkan1) and run with \
             RAY_GPU_ALLOW_SOFTWARE=1"
        );
        std::process::exit(2);
    }

    // The first kernel on a GPU creates its device and compiles the kernel: not timed.
    let warm: Vec<_> = (0..gpus as u32)
        .map(|_| gpu_chunk.options().num_gpus(1.0).remote(0, 1))
        .collect();
    let adapters = ray::get(&warm)?;

    let t0 = Instant::now();
    let on_gpu: Vec<_> = (0..TASKS)
        .map(|t| {
            gpu_chunk
                .options()
                .num_gpus(0.5)
                .remote(seed(t), per_thread)
        })
        .collect();
    let on_gpu = ray::get(&on_gpu)?;
    let gpu_time = t0.elapsed();

    let t0 = Instant::now();
    let on_cpu: Vec<_> = (0..TASKS)
        .map(|t| cpu_chunk.remote(seed(t), per_thread))
        .collect();
    let on_cpu = ray::get(&on_cpu)?;
    let cpu_time = t0.elapsed();

    for (_, gpu) in &adapters {
        println!("{gpu}");
    }
    let cpus = ray::cluster_resources()?.get("CPU").copied().unwrap_or(0.0);
    let rate = |secs: f64| samples as f64 / secs / 1e6;
    println!(
        "GPU: {samples} samples in {:.3} s: {:.1} M samples/s ({TASKS} tasks, num_gpus 0.5)",
        gpu_time.as_secs_f64(),
        rate(gpu_time.as_secs_f64())
    );
    println!(
        "CPU: {samples} samples in {:.3} s: {:.1} M samples/s ({TASKS} tasks on {cpus} CPUs)",
        cpu_time.as_secs_f64(),
        rate(cpu_time.as_secs_f64())
    );
    let gpu_hits: Vec<u64> = on_gpu.iter().map(|(h, _)| *h).collect();
    let inside: u64 = gpu_hits.iter().sum();
    println!("π ≈ {:.6}", 4.0 * inside as f64 / samples as f64);
    ray::shutdown();
    if gpu_hits != on_cpu {
        eprintln!("MISMATCH: GPU hits {gpu_hits:?}, CPU hits {on_cpu:?}");
        std::process::exit(1);
    }
    println!("GPU and CPU agree on all {TASKS} chunks");
    Ok(())
}
