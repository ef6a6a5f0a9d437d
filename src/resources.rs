//! Logical resources (CPU, GPU, memory, custom) in fixed point, as Ray does: requests are
//! admission control only, fractional down to 0.0001, and never drift with float error.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::ids::PlacementGroupId;

/// Fixed-point scale: 1.0 of a resource is 10,000 units (Ray's 0.0001 precision).
const SCALE: f64 = 10_000.0;
/// 1.0 of a resource, in fixed point.
pub(crate) const ONE: i64 = SCALE as i64;

/// A set of named resource quantities, e.g. `{CPU: 1, GPU: 0.5, special: 1}`.
///
/// Shared on clone: a task's request is cloned several times on its way through the node
/// manager (queue, lease, accounting), and a copy of the map for each was 14 of the 46
/// allocations of a trivial task (`examples/profile_tasks.rs`, BENCHMARKS.md). Changing
/// a set copies it only when it is shared.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Resources(Arc<BTreeMap<String, i64>>);

/// Adds `delta` to `name` in `map` (the name is copied only when it is new there).
fn add(map: &mut BTreeMap<String, i64>, name: &str, delta: i64) {
    match map.get_mut(name) {
        Some(v) => *v += delta,
        None => {
            map.insert(name.to_string(), delta);
        }
    }
}

/// Converts a user quantity to fixed point, refusing negatives and non-finite numbers.
pub(crate) fn to_units(name: &str, amount: f64) -> Result<i64, crate::Error> {
    if !amount.is_finite() || amount < 0.0 {
        return Err(crate::Error::InvalidArgument(format!(
            "resource `{name}` must be a finite, non-negative number, got {amount}"
        )));
    }
    Ok((amount * SCALE).round() as i64)
}

impl Resources {
    /// An empty set (requests nothing).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `units` (fixed point); zero removes it.
    pub(crate) fn set_units(&mut self, name: &str, units: i64) {
        let map = Arc::make_mut(&mut self.0);
        if units == 0 {
            map.remove(name);
        } else {
            map.insert(name.to_string(), units);
        }
    }

    /// The quantity of `name` in fixed point.
    pub(crate) fn units(&self, name: &str) -> i64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// The quantity of `name` as a float.
    pub(crate) fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0) as f64 / SCALE
    }

    /// Just the quantity of `name`.
    pub(crate) fn only(&self, name: &str) -> Resources {
        let mut r = Resources::new();
        r.set_units(name, self.0.get(name).copied().unwrap_or(0));
        r
    }

    /// Whether `self` (free) covers `req`.
    pub(crate) fn covers(&self, req: &Resources) -> bool {
        req.0
            .iter()
            .all(|(k, v)| self.0.get(k).copied().unwrap_or(0) >= *v)
    }

    /// Subtracts `req`; quantities may go negative (a blocked worker re-acquiring its CPU
    /// may oversubscribe the node briefly, as in Ray).
    pub(crate) fn take(&mut self, req: &Resources) {
        if req.0.is_empty() {
            return;
        }
        let map = Arc::make_mut(&mut self.0);
        for (k, v) in req.0.iter() {
            add(map, k, -v);
        }
    }

    /// Adds `req` back.
    pub(crate) fn give(&mut self, req: &Resources) {
        if req.0.is_empty() {
            return;
        }
        let map = Arc::make_mut(&mut self.0);
        for (k, v) in req.0.iter() {
            add(map, k, *v);
        }
    }

    /// Adds `req` back, except names `bound` does not have (a placement group's bundle
    /// returned while work in it still ran).
    pub(crate) fn give_within(&mut self, req: &Resources, bound: &Resources) {
        let map = Arc::make_mut(&mut self.0);
        for (k, v) in req.0.iter() {
            if bound.0.contains_key(k) {
                add(map, k, *v);
            }
        }
    }

    /// Drops names `bound` does not have.
    pub(crate) fn forget_unknown(&mut self, bound: &Resources) {
        Arc::make_mut(&mut self.0).retain(|k, _| bound.0.contains_key(k));
    }

    /// Drops names whose quantity is zero.
    pub(crate) fn drop_empty(&mut self) {
        if self.0.values().any(|v| *v == 0) {
            Arc::make_mut(&mut self.0).retain(|_, v| *v != 0);
        }
    }

    /// The names and quantities (fixed point).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Quantities as floats, for reporting.
    /// How much of each resource of this total `free` has, zero included: a resource
    /// missing from such a map is one whose free amount is unknown, never all used.
    pub(crate) fn free_map(&self, free: &Resources) -> BTreeMap<String, f64> {
        self.0.keys().map(|k| (k.clone(), free.get(k))).collect()
    }

    pub(crate) fn to_map(&self) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64 / SCALE))
            .collect()
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{k}: {}", *v as f64 / SCALE)?;
        }
        write!(f, "}}")
    }
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// Placement-group bundles: reserving bundle `i` of group `pg` offers its resources again
// under names only that group's work asks for (`actors/node_manager/bundles.rs`).

/// What work in a group asks of the marker.
const MARKER_ASK: i64 = 10;

/// The name of `resource` in bundle `index` of `pg` (`None`: any bundle of `pg`).
pub(crate) fn renamed(resource: &str, index: Option<u32>, pg: PlacementGroupId) -> String {
    match index {
        Some(i) => format!("{resource}_group_{i}_{:016x}", pg.as_u64()),
        None => format!("{resource}_group_{:016x}", pg.as_u64()),
    }
}

/// A request of work that runs in bundle `index` of `pg` (any bundle when `None`).
pub(crate) fn in_bundle(req: &Resources, pg: PlacementGroupId, index: Option<u32>) -> Resources {
    let mut out = Resources::new();
    for (name, units) in req.iter() {
        out.set_units(&renamed(name, index, pg), units);
    }
    out.set_units(&renamed("bundle", index, pg), MARKER_ASK);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_requests_add_up_exactly() {
        let mut free = Resources::new();
        free.set_units("GPU", to_units("GPU", 1.0).unwrap());
        let mut tenth = Resources::new();
        tenth.set_units("GPU", to_units("GPU", 0.1).unwrap());
        for _ in 0..10 {
            assert!(free.covers(&tenth));
            free.take(&tenth);
        }
        assert!(!free.covers(&tenth));
        assert_eq!(free.get("GPU"), 0.0);
        assert!(to_units("CPU", -1.0).is_err());
        assert!(to_units("CPU", f64::NAN).is_err());
    }
}
