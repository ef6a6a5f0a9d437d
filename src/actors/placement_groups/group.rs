//! A placement group as its creating node keeps it (`Group`, shared with the user's
//! handles), its strategy and its state.

use parking_lot::{Condvar, Mutex};

use crate::Error;
use crate::ids::{NodeId, PlacementGroupId};
use crate::resources::Resources;
use crate::store::RawRef;

/// How a group's bundles spread over nodes.
///
/// # Examples
/// ```
/// let pg = ray::placement_group(vec![ray::bundle([("CPU", 1.0)])], ray::PlacementStrategy::StrictPack).unwrap();
/// assert!(pg.wait(std::time::Duration::from_secs(5)).unwrap());
/// # ray::shutdown();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlacementStrategy {
    /// As few nodes as possible (best effort).
    #[default]
    Pack,
    /// As many nodes as possible (best effort).
    Spread,
    /// All bundles on one node, or the group waits.
    StrictPack,
    /// Every bundle on a different node, or the group waits.
    StrictSpread,
}

/// Where a group is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementGroupState {
    /// Waiting for nodes that can hold it.
    Pending,
    /// Reserved: the node holding each bundle, by bundle index.
    Created(Vec<NodeId>),
    /// Removed: its bundles were returned.
    Removed,
}

/// What the creating node keeps of one group (shared with its handles).
pub(crate) struct Group {
    pub(crate) id: PlacementGroupId,
    pub(crate) bundles: Vec<Resources>,
    pub(crate) strategy: PlacementStrategy,
    pub(crate) name: Option<String>,
    pub(crate) state: Mutex<PlacementGroupState>,
    pub(crate) changed: Condvar,
    /// Refs from `ready()`, settled when the group is created or removed.
    pub(crate) ready: Mutex<Vec<RawRef>>,
}

impl Group {
    /// A new group, pending.
    pub(crate) fn new(
        bundles: Vec<Resources>,
        strategy: PlacementStrategy,
        name: Option<String>,
    ) -> Self {
        Group {
            id: PlacementGroupId::new(),
            bundles,
            strategy,
            name,
            state: Mutex::new(PlacementGroupState::Pending),
            changed: Condvar::new(),
            ready: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn state(&self) -> PlacementGroupState {
        self.state.lock().clone()
    }

    /// Moves the group to `state`, waking waiters and settling `ready()` refs.
    pub(crate) fn set(&self, state: PlacementGroupState) {
        let outcome = match &state {
            PlacementGroupState::Created(_) => Some(Ok(crate::store::stored(()))),
            PlacementGroupState::Removed => Some(Err(Error::InvalidArgument(format!(
                "placement group {} was removed",
                self.id
            )))),
            PlacementGroupState::Pending => None,
        };
        *self.state.lock() = state;
        self.changed.notify_all();
        if let Some(outcome) = outcome {
            for r in self.ready.lock().drain(..) {
                r.complete(outcome.clone());
            }
        }
    }
}
