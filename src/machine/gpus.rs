//! Finding the machine's GPUs: wgpu adapters enumerated once per process, filtered,
//! ordered and numbered as the node numbers its GPUs. Devices are made in `gpu.rs`.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::FutureExt;

/// A future wgpu-core resolves at once (enumeration, device creation, error scopes):
/// taken without an executor, so this works inside any executor; one that is not ready
/// is waited for.
pub(crate) fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().now_or_never() {
        Some(v) => v,
        None => futures::executor::block_on(f),
    }
}

/// One detected adapter, numbered as the node numbers its GPUs.
#[derive(Debug, Clone)]
pub(crate) struct Adapter {
    pub(crate) id: u32,
    pub(crate) info: wgpu::AdapterInfo,
    /// The adapter itself, to create the GPU's device from.
    pub(crate) wgpu: wgpu::Adapter,
}

impl Adapter {
    fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }
}

/// Every usable adapter of the process, hardware first: enumerated once, because
/// enumeration loads drivers and costs tens of milliseconds.
static ADAPTERS: OnceLock<Vec<Adapter>> = OnceLock::new();

/// How long enumeration may take before we give up on a driver that hangs.
const DETECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The GPUs of this machine, with ids `0..n` in a stable order (hardware before software
/// adapters, discrete before integrated, then the driver's order). Drivers list one GPU
/// through both Vulkan and GL, so each kind (hardware, software) is taken through Vulkan
/// when any adapter of that kind has it, else through GL. Software adapters are skipped
/// unless `allow_software`.
///
/// Never panics or hangs: without any Vulkan or GL driver the list is empty. Because
/// hardware comes first, the ids of `detect(false)` are a prefix of those of
/// `detect(true)`, so an id means the same GPU whichever way a node counted.
pub(crate) fn detect(allow_software: bool) -> Vec<Adapter> {
    let all = all_adapters();
    let found: Vec<Adapter> = all
        .iter()
        .filter(|a| allow_software || !a.is_software())
        .cloned()
        .collect();
    let skipped = all.len() - found.len();
    if found.is_empty() {
        tracing::debug!(
            skipped_software = skipped,
            "no GPU found (software adapters count only when allowed: RAY_GPU_ALLOW_SOFTWARE=1)"
        );
    } else {
        tracing::debug!(gpus = found.len(), skipped_software = skipped, "GPUs found");
    }
    found
}

fn all_adapters() -> &'static [Adapter] {
    ADAPTERS.get_or_init(enumerate)
}

/// Runs wgpu's enumeration on a thread of its own, so that a driver that panics or hangs
/// costs an empty list rather than the caller.
fn enumerate() -> Vec<Adapter> {
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("ray-gpu-detect".into())
        .spawn(move || {
            let found = std::panic::catch_unwind(|| {
                let desc = wgpu::InstanceDescriptor {
                    backends: wgpu::Backends::VULKAN | wgpu::Backends::GL,
                    ..wgpu::InstanceDescriptor::new_without_display_handle()
                }
                .with_env();
                let backends = desc.backends;
                let instance = wgpu::Instance::new(desc);
                ready(instance.enumerate_adapters(backends))
            });
            let _ = tx.send(found);
        });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "could not start GPU detection");
        return Vec::new();
    }
    let found = match rx.recv_timeout(DETECT_TIMEOUT) {
        Ok(Ok(found)) => found,
        Ok(Err(panic)) => {
            let message = crate::error::panic_message(&*panic);
            tracing::debug!(%message, "GPU detection panicked: no GPUs");
            return Vec::new();
        }
        Err(_) => {
            tracing::warn!(timeout = ?DETECT_TIMEOUT, "GPU detection hung: no GPUs");
            return Vec::new();
        }
    };
    let adapters = number(found);
    for a in &adapters {
        tracing::debug!(
            gpu_id = a.id,
            name = %a.info.name,
            backend = %a.info.backend,
            device_type = ?a.info.device_type,
            "GPU adapter"
        );
    }
    tracing::debug!(elapsed = ?started.elapsed(), adapters = adapters.len(), "GPU detection done");
    adapters
}

/// Orders and numbers enumerated adapters: hardware, then software; within each, Vulkan
/// adapters if there are any (the same GPU also appears through GL), discrete first.
fn number(found: Vec<wgpu::Adapter>) -> Vec<Adapter> {
    let (software, hardware): (Vec<_>, Vec<_>) = found
        .into_iter()
        .map(|a| (a.get_info(), a))
        .filter(|(info, a)| {
            let compute = a
                .get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
            if !compute {
                tracing::debug!(name = %info.name, backend = %info.backend, "adapter without compute shaders skipped");
            }
            compute
        })
        .partition(|(info, _)| info.device_type == wgpu::DeviceType::Cpu);
    let mut out = Vec::new();
    for mut group in [hardware, software] {
        if group
            .iter()
            .any(|(i, _)| i.backend == wgpu::Backend::Vulkan)
        {
            group.retain(|(i, _)| i.backend == wgpu::Backend::Vulkan);
        }
        group.sort_by_key(|(i, _)| type_rank(i.device_type));
        for (info, adapter) in group {
            let id = u32::try_from(out.len()).unwrap_or(u32::MAX);
            out.push(Adapter {
                id,
                info,
                wgpu: adapter,
            });
        }
    }
    out
}

fn type_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_ids_are_a_prefix_of_all_ids() {
        let all = detect(true);
        let hardware = detect(false);
        assert!(hardware.iter().all(|a| !a.is_software()));
        for (i, a) in all.iter().enumerate() {
            assert_eq!(a.id as usize, i);
        }
        for (h, a) in hardware.iter().zip(&all) {
            assert_eq!(h.id, a.id);
            assert_eq!(h.info.name, a.info.name);
        }
    }
}
