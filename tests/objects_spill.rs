//! Object spilling: a store capped at `object_store_memory` moves large objects to its
//! spill directory and restores them when read; files go with their refs and the
//! directory with the runtime.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ray::{Config, Error, ObjectRef};

const CAP: usize = 64 << 20;
const OBJECT: usize = 4 << 20;

/// The object `i`: `OBJECT` bytes that say which object they are.
fn object(i: usize) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; OBJECT];
    v[..8].copy_from_slice(&(i as u64).to_le_bytes());
    v
}

fn intact(i: usize, v: &[u8]) -> bool {
    v.len() == OBJECT
        && v[..8] == (i as u64).to_le_bytes()
        && v[8..].iter().all(|&b| b == (i % 251) as u8)
}

/// A fresh spill base directory of this test's own.
fn spill_base(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ray-spill-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Files under the node's spill directory (inside `base`).
fn spilled_files(base: &Path) -> usize {
    let Ok(nodes) = std::fs::read_dir(base) else {
        return 0;
    };
    nodes
        .flatten()
        .map(|d| std::fs::read_dir(d.path()).map_or(0, |f| f.count()))
        .sum()
}

/// The process's peak resident memory, from /proc.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

fn capped(base: &Path) -> common::Ray {
    common::init_with(
        Config::new()
            .num_cpus(2.0)
            .object_store_memory(CAP)
            .object_spilling_directory(base),
    )
}

#[test]
fn a_gib_of_objects_goes_through_a_64_mib_store_intact() {
    let base = spill_base("gib");
    let guard = capped(&base);
    let n = (1 << 30) / OBJECT;
    let mut refs: Vec<ObjectRef<Vec<u8>>> = Vec::with_capacity(n);
    let mut most = 0;
    for i in 0..n {
        refs.push(ray::put(object(i)));
        let m = ray::memory_summary();
        most = most.max(m.bytes_used);
        assert!(m.bytes_used <= CAP, "after put {i}: {m:?}");
    }
    let m = ray::memory_summary();
    assert_eq!(m.capacity, CAP);
    assert!(m.num_spilled >= n - CAP / OBJECT, "{m:?}");
    assert_eq!(m.bytes_spilled, m.num_spilled * OBJECT);
    assert_eq!(spilled_files(&base), m.num_spilled);

    // Read back in the order written (every read restores one and spills another), then
    // shared reads of a few.
    for (i, r) in refs.iter().enumerate() {
        let v = ray::get(r).unwrap();
        assert!(intact(i, &v), "object {i} came back wrong");
        drop(v);
        let m = ray::memory_summary();
        most = most.max(m.bytes_used);
        assert!(m.bytes_used <= CAP, "after get {i}: {m:?}");
    }
    for i in [0, n / 2, n - 1] {
        assert!(intact(i, &refs[i].get_arc().unwrap()));
    }
    let peak = peak_rss();
    eprintln!(
        "1 GiB of {} MiB objects through a {} MiB store: store peak {} MiB, process peak RSS {} MiB",
        OBJECT >> 20,
        CAP >> 20,
        most >> 20,
        peak >> 20
    );
    // Without spilling the process would hold the whole GiB.
    assert!(peak < CAP + (96 << 20), "peak RSS {} MiB", peak >> 20);

    // Files go with their refs, the directory with the runtime.
    drop(refs);
    assert_eq!(ray::memory_summary().num_spilled, 0);
    assert_eq!(spilled_files(&base), 0);
    drop(guard);
    assert_eq!(
        std::fs::read_dir(&base).map_or(0, |d| d.count()),
        0,
        "the spill directory outlived the runtime"
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[ray::remote]
fn block(i: u64) -> Vec<u8> {
    object(i as usize)
}

#[ray::remote]
fn check(i: u64, v: Arc<Vec<u8>>) -> bool {
    intact(i as usize, &v)
}

#[test]
fn task_results_spill_and_tasks_read_them_back() {
    let base = spill_base("tasks");
    let _guard = capped(&base);
    // 128 MiB of results through a 64 MiB store.
    let blocks: Vec<_> = (0..32u64).map(|i| block.remote(i)).collect();
    ray::wait(&blocks, blocks.len(), None).unwrap();
    // The last value's room is made right after it is stored: `wait`, which polls, may
    // see the store one object over for that instant.
    assert!(
        common::wait_until(std::time::Duration::from_secs(5), || {
            let m = ray::memory_summary();
            m.num_spilled > 0 && m.bytes_used <= CAP
        }),
        "{:?}",
        ray::memory_summary()
    );
    let checks: Vec<_> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| check.remote(i as u64, b))
        .collect();
    for (i, c) in checks.iter().enumerate() {
        assert!(ray::get(c).unwrap(), "block {i} came back wrong");
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_value_in_use_is_not_spilled_and_small_values_never_are() {
    let base = spill_base("pinned");
    let _guard = capped(&base);
    let small: Vec<_> = (0..1000u32).map(ray::put).collect();
    let held = ray::put(object(0));
    let in_use = held.get_arc().unwrap();
    let others: Vec<_> = (1..40).map(|i| ray::put(object(i))).collect();
    let m = ray::memory_summary();
    // Everything else that is large could go; the one being read stays.
    assert_eq!(
        m.num_spilled,
        others.len() + 1 - m.bytes_used / OBJECT,
        "{m:?}"
    );
    assert!(intact(0, &in_use));
    drop(in_use);
    for (i, r) in small.iter().enumerate() {
        assert_eq!(ray::get(r).unwrap(), i as u32);
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_put_object_whose_spilled_copy_is_gone_is_lost() {
    let base = spill_base("lost");
    let _guard = capped(&base);
    let refs: Vec<_> = (0..20).map(|i| ray::put(object(i))).collect();
    assert!(ray::memory_summary().num_spilled > 0);
    // Someone cleans the disk under the node.
    for node in std::fs::read_dir(&base).unwrap().flatten() {
        for f in std::fs::read_dir(node.path()).unwrap().flatten() {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    let first = ray::get(&refs[0]).unwrap_err();
    match &first {
        Error::ObjectLost { object_id, reason } => {
            assert_eq!(*object_id, refs[0].id());
            assert!(reason.contains("spilled copy"), "{reason}");
        }
        other => panic!("expected ObjectLost, got {other:?}"),
    }
    // Every reader gets the same error; objects still in memory are intact.
    assert_eq!(
        ray::get(&refs[0]).unwrap_err().to_string(),
        first.to_string()
    );
    assert!(intact(19, &ray::get(&refs[19]).unwrap()));
    let _ = std::fs::remove_dir_all(&base);
}
