//! Actor creation options (`A::options()...`), shared by the builder structs that
//! `#[ray::remote]` generates for each actor class.

use std::collections::BTreeMap;

use crate::resources::{Resources, to_units};
use crate::{Result, SchedulingStrategy};

/// Options of one actor creation. Build them through [`ActorOptionsBuilder`] on
/// `A::options()`.
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// pub struct Cache;
/// #[ray::remote]
/// impl Cache { pub fn new() -> Self { Cache } pub fn ok(&self) -> bool { true } }
///
/// let c = Cache::options().num_cpus(1.0).max_concurrency(4).remote();
/// assert!(ray::get(&c.ok.remote()).unwrap());
/// # ray::shutdown();
/// ```
#[must_use = "options do nothing until an actor is created with them"]
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ActorOptions {
    pub(crate) name: Option<String>,
    /// The namespace the name lives in (the creating node's, filled in at creation).
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    pub(crate) detached: bool,
    pub(crate) max_restarts: i32,
    pub(crate) max_task_retries: i32,
    pub(crate) max_concurrency: Option<usize>,
    pub(crate) num_cpus: Option<f64>,
    pub(crate) num_gpus: Option<f64>,
    pub(crate) resources: BTreeMap<String, f64>,
    /// Where the actor may be placed (like a task's).
    #[serde(skip)]
    pub(crate) strategy: SchedulingStrategy,
    /// Set on the node that creates an actor placed there by another node: it is created
    /// here, under the id its creator minted.
    #[serde(skip)]
    pub(crate) placed: Option<crate::ids::ActorId>,
}

impl ActorOptions {
    /// Resources held for the actor's lifetime: none unless asked for (Ray's actors need
    /// 1 CPU to be placed and 0 to run).
    pub(crate) fn request(&self) -> Result<Resources> {
        let mut r = Resources::new();
        if let Some(c) = self.num_cpus {
            r.set_units("CPU", to_units("CPU", c)?);
        }
        if let Some(g) = self.num_gpus {
            r.set_units("GPU", to_units("GPU", g)?);
        }
        for (k, v) in &self.resources {
            r.set_units(k, to_units(k, *v)?);
        }
        Ok(self.strategy.adapt(r))
    }
}

/// Builder methods shared by every `A::options()` value.
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// pub struct Greeter { greeting: String }
///
/// #[ray::remote]
/// impl Greeter {
///     pub fn new(greeting: String) -> Self { Greeter { greeting } }
///     pub fn greet(&self, who: String) -> String { format!("{} {who}", self.greeting) }
/// }
///
/// let g = Greeter::options().name("greeter").max_restarts(1).remote("hello".to_string());
/// let same: ActorHandle<Greeter> = ray::get_actor("greeter").unwrap();
/// assert_eq!(ray::get(&same.greet.remote("ray".to_string())).unwrap(), "hello ray");
/// # drop(g);
/// # ray::shutdown();
/// ```
pub trait ActorOptionsBuilder: Sized {
    /// The options being built.
    fn actor_options(&mut self) -> &mut ActorOptions;

    /// A name unique in the namespace, for [`crate::get_actor`].
    fn name(mut self, name: impl Into<String>) -> Self {
        self.actor_options().name = Some(name.into());
        self
    }
    /// The actor outlives its handles (and its driver) until [`crate::kill`].
    fn detached(mut self) -> Self {
        self.actor_options().detached = true;
        self
    }
    /// How often a crashed actor is re-created from its constructor (`-1`: always).
    fn max_restarts(mut self, n: i32) -> Self {
        self.actor_options().max_restarts = n;
        self
    }
    /// Whether calls queued behind a crash survive it and run on the restarted instance
    /// (non-zero; `-1`: always). With 0 (the default) they fail with `ActorDied`.
    fn max_task_retries(mut self, n: i32) -> Self {
        self.actor_options().max_task_retries = n;
        self
    }
    /// How many calls may overlap: async methods and `&self` methods (default 1, or
    /// 1000 for actors with async methods, as in Ray). With concurrency groups, this is
    /// the default group's limit; each declared group has its own.
    fn max_concurrency(mut self, n: usize) -> Self {
        self.actor_options().max_concurrency = Some(n.max(1));
        self
    }
    /// CPUs held for the actor's lifetime.
    fn num_cpus(mut self, n: f64) -> Self {
        self.actor_options().num_cpus = Some(n);
        self
    }
    /// GPUs held for the actor's lifetime.
    fn num_gpus(mut self, n: f64) -> Self {
        self.actor_options().num_gpus = Some(n);
        self
    }
    /// Which node the actor is placed on (default: this node when it has the resources,
    /// else another node that has them).
    ///
    /// ```
    /// use ray::prelude::*;
    ///
    /// pub struct Here;
    /// #[ray::remote]
    /// impl Here {
    ///     pub fn new() -> Self { Here }
    ///     pub fn node(&self) -> ray::NodeId { ray::runtime_context().node_id() }
    /// }
    ///
    /// let me = ray::runtime_context().node_id();
    /// let pin = ray::SchedulingStrategy::NodeAffinity { node_id: me, soft: false };
    /// let h = Here::options().scheduling_strategy(pin).remote();
    /// assert_eq!(ray::get(&h.node.remote()).unwrap(), me);
    /// # ray::shutdown();
    /// ```
    fn scheduling_strategy(mut self, s: SchedulingStrategy) -> Self {
        self.actor_options().strategy = s;
        self
    }
    /// A custom resource held for the actor's lifetime.
    fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
        self.actor_options().resources.insert(name.into(), amount);
        self
    }
}

/// Options built on their own, for APIs that create an actor for you
/// ([`crate::util::Queue::with_options`]).
impl ActorOptionsBuilder for ActorOptions {
    fn actor_options(&mut self) -> &mut ActorOptions {
        self
    }
}
