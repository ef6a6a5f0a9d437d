//! Logical resources (CPU, GPU, memory, custom) in fixed point, as Ray does: requests are
//! admission control only, fractional down to 0.0001, and never drift with float error.

use std::collections::BTreeMap;
use std::fmt;

/// Fixed-point scale: 1.0 of a resource is 10,000 units (Ray's 0.0001 precision).
const SCALE: f64 = 10_000.0;

/// A set of named resource quantities, e.g. `{CPU: 1, GPU: 0.5, special: 1}`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Resources(BTreeMap<String, i64>);

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
        if units == 0 {
            self.0.remove(name);
        } else {
            self.0.insert(name.to_string(), units);
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
        for (k, v) in &req.0 {
            *self.0.entry(k.clone()).or_insert(0) -= v;
        }
    }

    /// Adds `req` back.
    pub(crate) fn give(&mut self, req: &Resources) {
        for (k, v) in &req.0 {
            *self.0.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// Quantities as floats, for reporting.
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
