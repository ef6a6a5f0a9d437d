//! Per-call options of tasks (`f.options()...`), shared by the builder structs that
//! `#[ray::remote]` generates for each function.

use std::collections::BTreeMap;

use crate::Result;
use crate::ids::NodeId;
use crate::resources::{Resources, to_units};

/// Where a task may run.
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// #[ray::remote]
/// fn here() -> ray::NodeId { ray::runtime_context().node_id() }
///
/// let node = ray::runtime_context().node_id();
/// let strategy = ray::SchedulingStrategy::NodeAffinity { node_id: node, soft: false };
/// assert_eq!(ray::get(&here.options().scheduling_strategy(strategy).remote()).unwrap(), node);
/// # ray::shutdown();
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum SchedulingStrategy {
    /// Ray's hybrid policy: pack onto the local node, spread past a utilisation threshold.
    #[default]
    Default,
    /// Spread tasks over nodes, best effort.
    Spread,
    /// Run on one node; with `soft`, fall back to another when it cannot.
    NodeAffinity {
        /// The node.
        node_id: NodeId,
        /// Whether another node may be used instead.
        soft: bool,
    },
    /// Run in a placement group's bundle, on the resources it reserved (Ray's
    /// `PlacementGroupSchedulingStrategy`); see [`crate::placement_group`].
    PlacementGroup {
        /// The group.
        group: crate::PlacementGroupId,
        /// The bundle; `None`: any bundle of the group.
        bundle_index: Option<usize>,
        /// Whether tasks submitted from inside this work run in the group too.
        capture_child_tasks: bool,
    },
}

impl SchedulingStrategy {
    /// The request of work with `strategy`: inside a placement group, the group's own
    /// names for the same resources.
    pub(crate) fn adapt(&self, req: Resources) -> Resources {
        match self {
            SchedulingStrategy::PlacementGroup {
                group,
                bundle_index,
                ..
            } => crate::resources::in_bundle(&req, *group, bundle_index.map(|i| i as u32)),
            _ => req,
        }
    }
}

/// Options of one task submission. Build them through [`TaskOptionsBuilder`] on
/// `f.options()`.
///
/// # Examples
/// ```
/// use ray::TaskOptionsBuilder;
///
/// #[ray::remote]
/// fn id(x: u8) -> u8 { x }
///
/// let r = id.options().num_cpus(0.5).max_retries(0).remote(3);
/// assert_eq!(ray::get(&r).unwrap(), 3);
/// # ray::shutdown();
/// ```
#[must_use = "options do nothing until a task is submitted with them"]
#[derive(Debug, Clone, Default)]
pub struct TaskOptions {
    pub(crate) num_cpus: Option<f64>,
    pub(crate) num_gpus: Option<f64>,
    pub(crate) memory: Option<f64>,
    pub(crate) resources: BTreeMap<String, f64>,
    pub(crate) max_retries: Option<i32>,
    pub(crate) retry_exceptions: bool,
    /// Which application errors are retried (`retry_exceptions_if`); `None`: all.
    pub(crate) retry_if: Option<fn(&crate::Error) -> bool>,
    pub(crate) name: Option<String>,
    pub(crate) strategy: SchedulingStrategy,
    /// A streaming generator's items produced but not consumed at most.
    pub(crate) backpressure: Option<u64>,
}

impl TaskOptions {
    /// The resource request: 1 CPU unless set, as in Ray.
    pub(crate) fn request(&self) -> Result<Resources> {
        if self.num_cpus.is_none()
            && self.num_gpus.is_none()
            && self.memory.is_none()
            && self.resources.is_empty()
            && matches!(self.strategy, SchedulingStrategy::Default)
        {
            // Most tasks: one shared `{CPU: 1}` rather than a new map each.
            static ONE_CPU: std::sync::OnceLock<Resources> = std::sync::OnceLock::new();
            return Ok(ONE_CPU
                .get_or_init(|| {
                    let mut r = Resources::new();
                    r.set_units("CPU", crate::resources::ONE);
                    r
                })
                .clone());
        }
        let mut r = Resources::new();
        r.set_units("CPU", to_units("CPU", self.num_cpus.unwrap_or(1.0))?);
        if let Some(g) = self.num_gpus {
            r.set_units("GPU", to_units("GPU", g)?);
        }
        if let Some(m) = self.memory {
            r.set_units("memory", to_units("memory", m)?);
        }
        for (k, v) in &self.resources {
            r.set_units(k, to_units(k, *v)?);
        }
        Ok(self.strategy.adapt(r))
    }

    /// How far a streaming generator may run ahead of its consumer (`None`: no limit).
    #[doc(hidden)]
    pub fn backpressure(&self) -> Option<u64> {
        self.backpressure
    }

    /// How many extra attempts an application error gets (0 unless `retry_exceptions`).
    pub(crate) fn exception_retries(&self) -> i32 {
        if self.retry_exceptions {
            self.max_retries.unwrap_or(3)
        } else {
            0
        }
    }
}

/// Builder methods shared by every `f.options()` value.
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// #[ray::remote]
/// fn heavy(x: u64) -> u64 { x * 2 }
///
/// ray::init_with(ray::Config::new().num_cpus(4.0)).unwrap();
/// let r = heavy.options().num_cpus(2.0).name("heavy-2cpu").remote(21);
/// assert_eq!(ray::get(&r).unwrap(), 42);
/// // More CPUs than the node has: an error, not a hang.
/// assert!(ray::get(&heavy.options().num_cpus(64.0).remote(1)).is_err());
/// ray::shutdown();
/// ```
pub trait TaskOptionsBuilder: Sized {
    /// The options being built.
    fn task_options(&mut self) -> &mut TaskOptions;

    /// Logical CPUs the task needs (default 1).
    fn num_cpus(mut self, n: f64) -> Self {
        self.task_options().num_cpus = Some(n);
        self
    }
    /// Logical GPUs the task needs.
    fn num_gpus(mut self, n: f64) -> Self {
        self.task_options().num_gpus = Some(n);
        self
    }
    /// Memory (bytes) the task reserves, for admission control.
    fn memory(mut self, bytes: f64) -> Self {
        self.task_options().memory = Some(bytes);
        self
    }
    /// A custom resource the task needs.
    fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
        self.task_options().resources.insert(name.into(), amount);
        self
    }
    /// Retries on system failures (default 3; `-1` infinite); with `retry_exceptions`,
    /// also on application errors.
    fn max_retries(mut self, n: i32) -> Self {
        self.task_options().max_retries = Some(n);
        self
    }
    /// Whether application errors (and panics) are retried too.
    fn retry_exceptions(mut self, yes: bool) -> Self {
        self.task_options().retry_exceptions = yes;
        self
    }
    /// Retries only the application errors (and panics) that `which` accepts, as Ray's
    /// `retry_exceptions=[SomeError, ...]`: match on the error's text or kind.
    fn retry_exceptions_if(mut self, which: fn(&crate::Error) -> bool) -> Self {
        let o = self.task_options();
        o.retry_exceptions = true;
        o.retry_if = Some(which);
        self
    }
    /// Where the task may run.
    fn scheduling_strategy(mut self, s: SchedulingStrategy) -> Self {
        self.task_options().strategy = s;
        self
    }
    /// A display name for logs and the timeline.
    fn name(mut self, name: impl Into<String>) -> Self {
        self.task_options().name = Some(name.into());
        self
    }
    /// For a streaming generator: how many items it may produce that its consumer has
    /// not taken yet; it pauses at that many until the consumer takes one (Ray's
    /// `_generator_backpressure_num_objects`; default: no limit, as in Ray).
    ///
    /// # Examples
    /// ```
    /// use ray::TaskOptionsBuilder;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// static MADE: AtomicU32 = AtomicU32::new(0);
    ///
    /// #[ray::remote(streaming)]
    /// fn numbers() -> impl Iterator<Item = u32> {
    ///     (0..100).inspect(|_| { MADE.fetch_add(1, Ordering::SeqCst); })
    /// }
    ///
    /// let mut s = numbers.options().generator_backpressure_num_objects(2).remote();
    /// assert_eq!(ray::get(&s.next().unwrap()).unwrap(), 0);
    /// std::thread::sleep(std::time::Duration::from_millis(200));
    /// // One taken, two more made ahead, then the generator waits (one more may be on its way).
    /// assert!(MADE.load(Ordering::SeqCst) <= 4);
    /// assert_eq!(s.map(|r| ray::get(&r).unwrap()).count(), 99);
    /// # ray::shutdown();
    /// ```
    fn generator_backpressure_num_objects(mut self, n: u64) -> Self {
        self.task_options().backpressure = Some(n);
        self
    }
}
