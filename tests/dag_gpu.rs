//! GPU buffers along a compiled graph (`ray::dag`): stages on the same adapter pass a
//! `GpuBuffer` on without a host round trip (counted by `GpuContext::host_transfers`),
//! with the same results as the classic calls. Runs on a real wgpu adapter: Mesa's
//! lavapipe here and in CI (`scripts/test.sh` installs it); nothing is skipped.
#![cfg(feature = "gpu")] // needs wgpu (scripts/test.sh builds every feature)

mod common;

use ray::Config;
use ray::dag::InputNode;
use ray::gpu::{self, GpuBuffer};
use ray::prelude::*;

const SCALE: &str = "
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn scale(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&out) { out[id.x] = 3.0 * x[id.x]; }
}";

const ADD: &str = "
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn add(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&out) { out[id.x] = a[id.x] + b[id.x]; }
}";

const N: usize = 1000;

fn groups() -> (u32, u32, u32) {
    (N.div_ceil(64) as u32, 1, 1)
}

/// One stage of the pipeline, on the GPU its `num_gpus` assigned.
pub struct GpuStage;

#[ray::remote]
impl GpuStage {
    pub fn new() -> Self {
        GpuStage
    }
    /// Uploads (the one host-to-GPU copy) and scales by 3.
    pub fn load(&self, x: Vec<f32>) -> ray::Result<GpuBuffer<f32>> {
        let ctx = gpu::context()?;
        let b = ctx.upload(&x)?;
        ctx.run_kernel_on(SCALE, "scale", &[&b], N, groups())
    }
    /// Scales by 3 on the GPU.
    pub fn scale(&self, b: GpuBuffer<f32>) -> ray::Result<GpuBuffer<f32>> {
        gpu::context()?.run_kernel_on(SCALE, "scale", &[&b], N, groups())
    }
    /// Adds two buffers on the GPU (fan-in).
    pub fn add(&self, a: GpuBuffer<f32>, b: GpuBuffer<f32>) -> ray::Result<GpuBuffer<f32>> {
        gpu::context()?.run_kernel_on(ADD, "add", &[&a, &b], N, groups())
    }
    /// Reads back (the one GPU-to-host copy) and sums.
    pub fn total(&self, b: GpuBuffer<f32>) -> ray::Result<f64> {
        Ok(b.to_vec()?.iter().map(|&v| v as f64).sum())
    }
}

fn gpu_node() -> common::Ray {
    common::tracing();
    // SAFETY: set before the runtime starts and before any other thread of this test
    // reads the environment (nextest runs each test in its own process).
    unsafe { std::env::set_var("RAY_GPU_ALLOW_SOFTWARE", "1") };
    let ray = common::init_with(
        Config::new()
            .num_cpus(2.0)
            .num_gpus(1.0)
            .allow_software_gpus(true),
    );
    if let Err(e) = gpu::context_for(0) {
        panic!(
            "no GPU adapter ({e}): install Mesa's lavapipe \
             (`apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1`)"
        );
    }
    ray
}

fn input(i: usize) -> Vec<f32> {
    (0..N).map(|k| ((k + i) % 7) as f32).collect()
}

#[test]
fn buffers_stay_on_the_gpu_between_stages() {
    let _ray = gpu_node();
    let stage = || GpuStage::options().num_gpus(0.25).remote();
    let (a, b, c, d) = (stage(), stage(), stage(), stage());
    // total(add(scale(load(x)), load(x))): 81x + ... each value is 9x + 3x = 12x.
    let inp = InputNode::new();
    let loaded = a.load.bind(&inp);
    let dag = d.total.bind(c.add.bind(b.scale.bind(&loaded), &loaded));
    let ctx = gpu::context_for(0).unwrap();

    let before = ctx.host_transfers();
    let classic: Vec<f64> = (0..5)
        .map(|i| {
            let l = a.load.remote(input(i));
            let r = d.total.remote(c.add.remote(b.scale.remote(&l), &l));
            ray::get(&r).unwrap()
        })
        .collect();
    assert_eq!(
        ctx.host_transfers() - before,
        10,
        "one upload and one read-back per run"
    );

    let compiled = dag.compile().unwrap();
    let before = ctx.host_transfers();
    let refs: Vec<_> = (0..5)
        .map(|i| compiled.execute(input(i)).unwrap())
        .collect();
    let got = ray::get(&refs).unwrap();
    assert_eq!(got, classic);
    for (i, total) in got.iter().enumerate() {
        let expected: f64 = input(i).iter().map(|&v| 12.0 * v as f64).sum();
        assert_eq!(*total, expected);
    }
    // Two stages in between, a fan-out and a fan-in: still one upload and one read-back
    // per execution.
    assert_eq!(ctx.host_transfers() - before, 10);
}

#[test]
fn a_gpu_buffer_does_not_leave_its_process() {
    let _ray = gpu_node();
    let ctx = gpu::context_for(0).unwrap();
    let b = ctx.upload(&[1.0f32]).unwrap();
    let err = rmp_serde::to_vec(&b).unwrap_err().to_string();
    assert!(err.contains("to_vec"), "{err}");
    assert_eq!(b.to_vec().unwrap(), [1.0]);
}
