//! How many GPUs this host offers, with or without wgpu (the `gpu` feature), and the
//! switch that lets software adapters count.

/// How many GPUs a node offers at start. Without a GPU device node (`/dev/nvidia*`,
/// `/dev/dri/renderD*`, `/dev/dxg`, `/dev/kfd`) and without `allow_software`, no driver
/// is loaded at all: loading Vulkan costs tens of milliseconds and ~100 MiB of memory
/// (Mesa's software driver links LLVM), which a machine without a GPU should not pay
/// on every `ray::init()`.
pub(crate) fn count_at_start(allow_software: bool) -> usize {
    if !allow_software && !gpu_device_nodes() {
        tracing::debug!("no GPU device nodes: not loading any GPU driver");
        return 0;
    }
    #[cfg(feature = "gpu")]
    let found = super::gpus::detect(allow_software).len();
    // Without wgpu, NVIDIA GPUs are counted by their device nodes, as Ray counts them
    // without asking a driver; others need `Config::num_gpus`.
    #[cfg(not(feature = "gpu"))]
    let found = nvidia_devices();
    found
}

/// `/dev/nvidiaN` nodes: one per NVIDIA GPU this process may use (a container given
/// GPU 2 only has `/dev/nvidia2`).
fn nvidia_devices() -> usize {
    std::fs::read_dir("/dev").map_or(0, |d| {
        d.flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("nvidia"))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .count()
    })
}

fn gpu_device_nodes() -> bool {
    let exists = |p: &str| std::path::Path::new(p).exists();
    let render = std::fs::read_dir("/dev/dri").is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    });
    render || nvidia_devices() > 0 || exists("/dev/dxg") || exists("/dev/kfd")
}

/// Whether `RAY_GPU_ALLOW_SOFTWARE` is `1` (or `true`): software adapters such as Mesa's
/// lavapipe then count as GPUs, so tests and CI can run GPU code without a GPU.
///
/// # Examples
/// ```
/// let allowed = ray::gpu::allow_software_from_env();
/// assert_eq!(
///     allowed,
///     std::env::var("RAY_GPU_ALLOW_SOFTWARE").is_ok_and(|v| v == "1" || v == "true")
/// );
/// ```
pub fn allow_software_from_env() -> bool {
    let allowed = std::env::var("RAY_GPU_ALLOW_SOFTWARE")
        .ok()
        .and_then(|v| parse_flag(&v))
        .unwrap_or(false);
    tracing::trace!(allowed, "RAY_GPU_ALLOW_SOFTWARE");
    allowed
}

/// `1`/`true` and `0`/`false`/empty; anything else is not a flag.
pub(crate) fn parse_flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "" | "0" | "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_strictly() {
        assert_eq!(parse_flag("1"), Some(true));
        assert_eq!(parse_flag(" TRUE "), Some(true));
        assert_eq!(parse_flag(""), Some(false));
        assert_eq!(parse_flag("0"), Some(false));
        assert_eq!(parse_flag("yes please"), None);
    }
}
