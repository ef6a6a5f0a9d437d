//! What this host has, read once per process: its memory and its GPU adapters; and what
//! this process uses (CPU time, resident memory), which nodes sample for the dashboard.
//! Ground level: `config` sizes a node from it and `gpu` makes devices from its
//! adapters, and it uses nothing of the crate but errors.

mod gpu_count;
#[cfg(feature = "gpu")]
mod gpus;
mod process;

pub use gpu_count::allow_software_from_env;
pub(crate) use gpu_count::{count_at_start, parse_flag};
#[cfg(feature = "gpu")]
pub(crate) use gpus::{Adapter, detect, ready};
pub(crate) use process::{cpu_seconds, rss_bytes};

/// The machine's memory in bytes (8 GiB when it cannot be read).
pub(crate) fn machine_memory() -> u64 {
    // Read once: every node's start asks (store capacity, `memory` resource).
    static MEMORY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MEMORY.get_or_init(|| process::kib_line("/proc/meminfo", b"MemTotal:").unwrap_or(8 << 30))
}
