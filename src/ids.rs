//! Identifier newtypes shared by every module: jobs, nodes, tasks, actors and objects.
//! Nothing here allocates or talks to the runtime.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Process-wide counter behind every locally minted id.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Task, actor and object ids are a counter offset by a random per-process base: minting
/// one costs an atomic add, and ids minted by different processes of a cluster do not
/// collide (a handle or ref keeps its id on every node it travels to).
fn next() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // The top bit is left clear so that counting never wraps into another base.
    let base = *BASE.get_or_init(|| random() >> 1);
    base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A random 64-bit id, for ids that must be unique across processes and machines
/// (nodes, jobs). Falls back to time and pid if the OS has no randomness.
fn random() -> u64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut b).is_ok() {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 32) ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A string that is not an id of the kind asked for (from `str::parse`).
///
/// # Examples
/// ```
/// let err = "nonsense".parse::<ray::JobId>().unwrap_err();
/// assert!(err.to_string().contains("not a JobId"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId(String);

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidId {}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        id_type!($(#[$doc])* $name, $prefix, next);
    };
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $mint:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub(crate) u64);

        impl $name {
            /// Mints a fresh id, unique cluster-wide.
            pub(crate) fn new() -> Self {
                Self($mint())
            }

            /// The raw integer behind the id (stable for the lifetime of the process).
            pub fn as_u64(&self) -> u64 {
                self.0
            }

            /// Reads back what `Display` writes.
            // Generated for every id type; not every type is read back (yet).
            #[allow(dead_code)]
            pub(crate) fn parse(s: &str) -> Option<Self> {
                let hex = s.strip_prefix($prefix)?;
                u64::from_str_radix(hex, 16).ok().map(Self)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            /// Reads back what `Display` writes.
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s.trim()).ok_or_else(|| InvalidId(format!(
                    concat!("`{}` is not a ", stringify!($name), " (", $prefix, " and hex digits)"),
                    s
                )))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:08x}"), self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

id_type!(
    /// Identifies one driver program (one `ray::init` .. `ray::shutdown`).
    JobId,
    "job-",
    random
);
id_type!(
    /// Identifies one node: a runtime with its own store, scheduler and workers.
    NodeId,
    "node-",
    random
);
id_type!(
    /// Identifies one task submission (a function call or an actor method call).
    TaskId,
    "task-"
);
id_type!(
    /// Identifies one actor instance across its restarts.
    ActorId,
    "actor-"
);

id_type!(
    /// Identifies one placement group.
    PlacementGroupId,
    "pg-",
    random
);

/// Identifies one object: the `index`-th return of the task `task`, or a `put`.
///
/// As in Ray, the id of a task's return is derived from the task id, so the task that
/// produces an object can be found from the object alone (used by `cancel`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId {
    pub(crate) task: TaskId,
    pub(crate) index: u32,
}

impl ObjectId {
    /// The id of return number `index` of `task`.
    pub(crate) fn for_return(task: TaskId, index: u32) -> Self {
        Self { task, index }
    }

    /// A fresh id for a `ray::put` or a streamed item: its own pseudo-task, with an index
    /// no task return has.
    pub(crate) fn for_put() -> Self {
        Self {
            task: TaskId::new(),
            index: Self::PUT,
        }
    }

    const PUT: u32 = u32::MAX;

    /// Whether the object was `put` (or streamed) rather than returned by a task.
    pub fn is_put(&self) -> bool {
        self.index == Self::PUT
    }

    /// The task whose return this object is.
    pub fn task_id(&self) -> TaskId {
        self.task
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "obj-{:08x}.{}", self.task.0, self.index)
    }
}

impl std::str::FromStr for ObjectId {
    type Err = InvalidId;

    /// Reads back what `Display` writes (`obj-HEX.INDEX`).
    ///
    /// ```
    /// let r = ray::put(1u8);
    /// let id: ray::ObjectId = r.id().to_string().parse().unwrap();
    /// assert_eq!(id, r.id());
    /// assert!(id.is_put());
    /// assert!("obj-12".parse::<ray::ObjectId>().is_err());
    /// # ray::shutdown();
    /// ```
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        let s = s.trim();
        let bad = || InvalidId(format!("`{s}` is not an ObjectId (obj-HEX.INDEX)"));
        let (hex, index) = s
            .strip_prefix("obj-")
            .and_then(|rest| rest.split_once('.'))
            .ok_or_else(bad)?;
        Ok(Self {
            task: TaskId(u64::from_str_radix(hex, 16).map_err(|_| bad())?),
            index: index.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Hasher for maps keyed by ids: ids are unique counters, so one multiply spreads them
/// well, and SipHash's protection against chosen keys buys nothing (ids are not chosen by
/// peers). Several times faster on the store's hot path.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
}

/// `HashMap` keyed by ids.
pub(crate) type IdMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_print_with_their_kind() {
        let a = TaskId::new();
        let b = TaskId::new();
        assert_ne!(a, b);
        assert!(a.to_string().starts_with("task-"));
        let o = ObjectId::for_return(a, 2);
        assert_eq!(o.task_id(), a);
        assert!(o.to_string().ends_with(".2"));
    }
}
