//! Which GPUs of a node its tasks and actors hold, by id (`runtime_context().gpu_ids()`,
//! `ray::gpu::context()`): a request of one or more GPUs gets whole ones; a fraction is
//! packed onto the fullest GPU it fits on, so fractional work shares a device, as Ray
//! assigns accelerator ids.

use std::sync::Arc;

/// One GPU in fixed point (`resources.rs`).
const WHOLE: i64 = 10_000;

/// What one grant holds: units taken from each GPU id.
#[derive(Debug, Clone, Default)]
pub(crate) struct GpuGrant(Vec<(u32, i64)>);

impl GpuGrant {
    /// No GPUs.
    pub(crate) const NONE: GpuGrant = GpuGrant(Vec::new());

    /// The ids, for the execution context.
    pub(crate) fn ids(&self) -> Arc<[u32]> {
        if self.0.is_empty() {
            // Nearly every grant: one shared empty list instead of an allocation each.
            static NONE: std::sync::OnceLock<Arc<[u32]>> = std::sync::OnceLock::new();
            return NONE.get_or_init(|| Arc::from([])).clone();
        }
        self.0.iter().map(|(id, _)| *id).collect()
    }
}

/// Free units per GPU id.
pub(super) struct GpuSlots(Vec<i64>);

impl GpuSlots {
    /// `units` of GPU in all (the node's `GPU` resource): whole GPUs, and the remainder
    /// as a last partial one.
    pub(super) fn new(units: i64) -> Self {
        let n = (units + WHOLE - 1) / WHOLE;
        Self(
            (0..n)
                .map(|i| (units - i * WHOLE).clamp(0, WHOLE))
                .collect(),
        )
    }

    /// Takes `units` of GPU. The resource count already admitted the request; should the
    /// free units be split so that no GPU fits, the least used ones are shared anyway
    /// (logged), rather than holding the task back.
    pub(super) fn take(&mut self, units: i64) -> GpuGrant {
        let mut grant = Vec::new();
        let (whole, part) = (units / WHOLE, units % WHOLE);
        for _ in 0..whole {
            let pick = self.pick(WHOLE);
            self.0[pick] -= WHOLE;
            grant.push((pick as u32, WHOLE));
        }
        if part > 0 {
            let pick = self.pick(part);
            self.0[pick] -= part;
            grant.push((pick as u32, part));
        }
        GpuGrant(grant)
    }

    /// The fullest GPU with `units` free (best fit), else the least used one.
    fn pick(&self, units: i64) -> usize {
        let fits = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, free)| **free >= units)
            .min_by_key(|(_, free)| **free)
            .map(|(i, _)| i);
        fits.unwrap_or_else(|| {
            tracing::warn!(
                units,
                "no single GPU has this much free: sharing the least used one"
            );
            self.0
                .iter()
                .enumerate()
                .max_by_key(|(_, free)| **free)
                .map_or(0, |(i, _)| i)
        })
    }

    pub(super) fn give(&mut self, grant: &GpuGrant) {
        for (id, units) in &grant.0 {
            if let Some(free) = self.0.get_mut(*id as usize) {
                *free += units;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_gpus_get_distinct_ids_and_fractions_share_one() {
        let mut g = GpuSlots::new(2 * WHOLE);
        let a = g.take(WHOLE / 2);
        let b = g.take(WHOLE / 2);
        assert_eq!(a.ids(), b.ids(), "two halves share a GPU");
        let c = g.take(WHOLE);
        assert_ne!(c.ids(), a.ids());
        g.give(&a);
        g.give(&b);
        let d = g.take(2 * WHOLE - WHOLE);
        assert_eq!(d.ids().len(), 1);
        g.give(&c);
        g.give(&d);
        assert_eq!(g.take(2 * WHOLE).ids().len(), 2);
    }
}
