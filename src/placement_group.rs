//! Placement groups: reserve bundles of resources across nodes at once, then run tasks
//! and actors in them (Ray's `ray.util.placement_group`).
//!
//! The node that creates a group places it: it picks a node for each bundle by the
//! group's strategy, asks each node to reserve its bundles (all or none per node), and
//! returns what it got when any node refuses, trying again while the group waits. A node
//! holding bundles keeps them until the group is removed or its creator's node dies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::actors::Group;
pub use crate::actors::{PlacementGroupState, PlacementStrategy};

use crate::actors::NodeActors;
use crate::ids::PlacementGroupId;
use crate::node::current_node;
use crate::resources::{Resources, to_units};
use crate::store::RawRef;
use crate::{Error, ObjectRef, Result};

/// One bundle: resource name to amount, e.g. `{"CPU": 1.0, "GPU": 0.5}`.
pub type Bundle = BTreeMap<String, f64>;

/// A bundle from `(name, amount)` pairs.
///
/// # Examples
/// ```
/// let b = ray::bundle([("CPU", 2.0), ("GPU", 0.5)]);
/// assert_eq!(b["CPU"], 2.0);
/// ```
pub fn bundle<const N: usize>(items: [(&str, f64); N]) -> Bundle {
    items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A placement group: bundles of resources reserved together. Cheap to clone.
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// #[ray::remote]
/// fn work() -> u32 { 7 }
///
/// ray::init_with(ray::Config::new().num_cpus(4.0)).unwrap();
/// let pg = ray::placement_group(vec![ray::bundle([("CPU", 2.0)]); 2], ray::PlacementStrategy::Pack).unwrap();
/// ray::get(&pg.ready()).unwrap();
/// let in_pg = ray::SchedulingStrategy::PlacementGroup { group: pg.id(), bundle_index: Some(1), capture_child_tasks: false };
/// assert_eq!(ray::get(&work.options().scheduling_strategy(in_pg).remote()).unwrap(), 7);
/// ray::remove_placement_group(&pg);
/// ray::shutdown();
/// ```
#[derive(Clone)]
pub struct PlacementGroup(pub(crate) Arc<Group>);

impl std::fmt::Debug for PlacementGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlacementGroup({}, {:?})", self.0.id, self.state())
    }
}

impl PlacementGroup {
    /// The group's id (what `SchedulingStrategy::PlacementGroup` names).
    pub fn id(&self) -> PlacementGroupId {
        self.0.id
    }

    /// How many bundles it has.
    pub fn bundle_count(&self) -> usize {
        self.0.bundles.len()
    }

    /// Its name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Where it is now.
    pub fn state(&self) -> PlacementGroupState {
        self.0.state()
    }

    /// A ref that settles once the group is created (or fails if it is removed first):
    /// `ray::get(&pg.ready())` or `pg.ready().await`, as Ray's `pg.ready()`.
    pub fn ready(&self) -> ObjectRef<()> {
        let node = match current_node() {
            Ok(n) => n,
            Err(e) => return ObjectRef::from_raw(RawRef::failed(e)),
        };
        let r = RawRef::pending(&node.store, crate::ids::ObjectId::for_put());
        let mut waiting = self.0.ready.lock();
        match self.state() {
            PlacementGroupState::Pending => waiting.push(r.clone()),
            PlacementGroupState::Created(_) => {
                r.complete(Ok(crate::store::stored(())));
            }
            PlacementGroupState::Removed => {
                r.complete(Err(Error::InvalidArgument(format!(
                    "placement group {} was removed",
                    self.0.id
                ))));
            }
        }
        ObjectRef::from_raw(r)
    }

    /// Waits up to `timeout` for the group to be created; whether it was.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the group was removed.
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut state = self.0.state.lock();
        loop {
            match &*state {
                PlacementGroupState::Created(_) => return Ok(true),
                PlacementGroupState::Removed => {
                    return Err(Error::InvalidArgument(format!(
                        "placement group {} was removed",
                        self.0.id
                    )));
                }
                PlacementGroupState::Pending => {}
            }
            if self.0.changed.wait_until(&mut state, deadline).timed_out() {
                return Ok(false);
            }
        }
    }
}

/// Options of a new placement group: its bundles, strategy and name.
///
/// # Examples
/// ```
/// use ray::{PlacementGroupOptions, PlacementStrategy, bundle};
/// let pg = ray::placement_group_with(
///     PlacementGroupOptions::new(vec![bundle([("CPU", 1.0)])]).strategy(PlacementStrategy::Spread).name("mine"),
/// ).unwrap();
/// assert_eq!(ray::get_placement_group("mine").unwrap().id(), pg.id());
/// # ray::shutdown();
/// ```
#[must_use = "options do nothing until passed to `ray::placement_group_with`"]
#[derive(Debug, Clone, Default)]
pub struct PlacementGroupOptions {
    bundles: Vec<Bundle>,
    strategy: PlacementStrategy,
    name: Option<String>,
}

impl PlacementGroupOptions {
    /// A group of `bundles`, packed.
    pub fn new(bundles: Vec<Bundle>) -> Self {
        Self {
            bundles,
            ..Self::default()
        }
    }

    /// How the bundles spread over nodes.
    pub fn strategy(mut self, strategy: PlacementStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// A name to find it by (`ray::get_placement_group`), unique among this node's groups.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Creates a placement group of `bundles`, placed by `strategy`. Returns at once: the
/// group waits (`Pending`) until nodes can hold it; `ready()` or `wait()` tell when.
///
/// # Errors
/// [`Error::InvalidArgument`] for no bundles, an empty bundle or a bad amount.
///
/// # Examples
/// ```
/// let pg = ray::placement_group(vec![ray::bundle([("CPU", 1.0)]); 2], ray::PlacementStrategy::Pack).unwrap();
/// assert!(pg.wait(std::time::Duration::from_secs(5)).unwrap());
/// assert_eq!(pg.bundle_count(), 2);
/// # ray::shutdown();
/// ```
pub fn placement_group(
    bundles: Vec<Bundle>,
    strategy: PlacementStrategy,
) -> Result<PlacementGroup> {
    placement_group_with(PlacementGroupOptions::new(bundles).strategy(strategy))
}

/// Creates a placement group from `options` (see [`placement_group`]).
///
/// # Errors
/// As [`placement_group`]; also a name another group of this node has.
pub fn placement_group_with(options: PlacementGroupOptions) -> Result<PlacementGroup> {
    if options.bundles.is_empty() {
        return Err(Error::InvalidArgument(
            "a placement group needs at least one bundle".into(),
        ));
    }
    let mut bundles = Vec::with_capacity(options.bundles.len());
    for (i, b) in options.bundles.iter().enumerate() {
        let mut r = Resources::new();
        for (k, v) in b {
            r.set_units(k, to_units(k, *v)?);
        }
        if r == Resources::new() {
            return Err(Error::InvalidArgument(format!(
                "bundle {i} of the placement group asks for no resources"
            )));
        }
        bundles.push(r);
    }
    let node = current_node()?;
    let group = Arc::new(Group::new(bundles, options.strategy, options.name));
    crate::node::block_on(
        node.actors()
            .placement_groups
            .send(crate::actors::CreateGroup(group.clone())),
    )
    .map_err(|_| Error::ShutDown)??;
    Ok(PlacementGroup(group))
}

/// Removes a group: its bundles are returned on every node. Work still running in it
/// keeps running; new work in it fails as infeasible.
///
/// # Examples
/// ```
/// let pg = ray::placement_group(vec![ray::bundle([("CPU", 1.0)])], ray::PlacementStrategy::Pack).unwrap();
/// ray::remove_placement_group(&pg);
/// assert_eq!(pg.state(), ray::PlacementGroupState::Removed);
/// # ray::shutdown();
/// ```
pub fn remove_placement_group(pg: &PlacementGroup) {
    if let Ok(node) = current_node() {
        let _ = crate::node::block_on(
            node.actors()
                .placement_groups
                .send(crate::actors::RemoveGroup(pg.0.id)),
        );
    }
    pg.0.set(PlacementGroupState::Removed);
}

/// The group this node created under `name`.
///
/// # Errors
/// [`Error::InvalidArgument`] when there is none.
///
/// # Examples
/// ```
/// let pg = ray::placement_group_with(ray::PlacementGroupOptions::new(vec![ray::bundle([("CPU", 1.0)])]).name("g")).unwrap();
/// assert_eq!(ray::get_placement_group("g").unwrap().id(), pg.id());
/// assert!(ray::get_placement_group("nope").is_err());
/// # ray::shutdown();
/// ```
pub fn get_placement_group(name: &str) -> Result<PlacementGroup> {
    let node = current_node()?;
    crate::node::block_on(
        node.actors()
            .placement_groups
            .send(crate::actors::FindGroup(name.to_string())),
    )
    .map_err(|_| Error::ShutDown)?
    .map(PlacementGroup)
    .ok_or_else(|| Error::InvalidArgument(format!("no placement group is named `{name}`")))
}
