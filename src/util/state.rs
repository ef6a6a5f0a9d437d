//! The cluster's state as typed values, as Ray's state SDK (`ray.util.state`): what
//! `ray list` and the dashboard show, asked of every live node over the cluster's links
//! (or of this node alone, on the embedded runtime).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ids::{ActorId, TaskId};
use crate::{Error, Result};

pub use crate::dashboard::rows::{
    ActorRow as ActorState, JobRow as JobState, NodeRow as NodeState, ObjectRow as ObjectState,
    PlacementGroupRow as PlacementGroupState, TaskRow as TaskState,
};

/// The most rows one list returns, as in Ray.
pub const MAX_LIMIT: usize = 10_000;

/// One condition on a row's field: `key` equals (or differs from) `value`. Strings
/// compare case-insensitively; other fields compare by their JSON text (`"3"`, `"true"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    key: String,
    equal: bool,
    value: String,
}

impl Filter {
    /// Rows whose `key` is `value` (Ray's `(key, "=", value)`).
    ///
    /// # Examples
    /// ```
    /// use ray::util::state::{Filter, ListOptions, list_actors};
    /// let alive = list_actors(&ListOptions::new().filter(Filter::eq("state", "ALIVE"))).unwrap();
    /// assert!(alive.iter().all(|a| a.state == "ALIVE"));
    /// # ray::shutdown();
    /// ```
    pub fn eq(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            equal: true,
            value: value.into(),
        }
    }

    /// Rows whose `key` is not `value` (Ray's `(key, "!=", value)`).
    ///
    /// # Examples
    /// ```
    /// use ray::util::state::{Filter, ListOptions, list_actors};
    /// let not_dead = list_actors(&ListOptions::new().filter(Filter::ne("state", "DEAD"))).unwrap();
    /// assert!(not_dead.iter().all(|a| a.state != "DEAD"));
    /// # ray::shutdown();
    /// ```
    pub fn ne(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            equal: false,
            ..Self::eq(key, value)
        }
    }

    /// Whether `row` passes. A field the row lacks passes no filter.
    fn passes(&self, row: &Value) -> Result<bool> {
        let Some(field) = row.get(&self.key) else {
            return Err(Error::InvalidArgument(format!(
                "no field `{}` to filter on (fields: {})",
                self.key,
                row.as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            )));
        };
        let same = match field {
            Value::String(s) => s.eq_ignore_ascii_case(&self.value),
            // Numbers and booleans by their JSON text (`3`, `true`).
            other => {
                let text = other.to_string();
                text == self.value
            }
        };
        Ok(same == self.equal)
    }
}

/// What a `list_*` call returns: filters (all must pass) and at most how many rows.
///
/// # Examples
/// ```
/// use ray::util::state::{Filter, ListOptions};
/// let opts = ListOptions::new().filter(Filter::eq("state", "ALIVE")).limit(10);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ListOptions {
    filters: Vec<Filter>,
    limit: usize,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            filters: Vec::new(),
            limit: 100,
        }
    }
}

impl ListOptions {
    /// No filters, at most 100 rows (Ray's defaults).
    ///
    /// # Examples
    /// See [`ListOptions`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Also requires `filter`.
    ///
    /// # Examples
    /// See [`ListOptions`].
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// At most `n` rows (up to [`MAX_LIMIT`]).
    ///
    /// # Examples
    /// See [`ListOptions`].
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// The rows of `rows` that pass, typed, at most `limit`.
    fn select<T: DeserializeOwned>(&self, rows: Vec<Value>) -> Result<Vec<T>> {
        if self.limit > MAX_LIMIT {
            return Err(Error::InvalidArgument(format!(
                "limit {} is over {MAX_LIMIT}",
                self.limit
            )));
        }
        let mut out = Vec::new();
        for row in rows {
            if out.len() == self.limit {
                break;
            }
            let mut passes = true;
            for f in &self.filters {
                passes &= f.passes(&row)?;
            }
            if passes {
                out.push(
                    serde_json::from_value(row).map_err(|e| Error::Serialization(e.to_string()))?,
                );
            }
        }
        Ok(out)
    }
}

/// The rows of state list `what` (`/api/WHAT`), at `pointer` within its answer.
fn rows(what: &str, query: &str, pointer: &str) -> Result<Vec<Value>> {
    let all = crate::dashboard::state(what, query)?;
    Ok(all
        .pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// The cluster's nodes (live and dead).
///
/// # Errors
/// [`Error::InvalidArgument`] for a filter on a field nodes lack; [`Error::NotConnected`]
/// without a runtime.
///
/// # Examples
/// ```
/// use ray::util::state::{ListOptions, list_nodes};
/// ray::init().unwrap();
/// let nodes = list_nodes(&ListOptions::new()).unwrap();
/// assert_eq!(nodes.len(), 1);
/// assert!(nodes[0].alive);
/// # ray::shutdown();
/// ```
pub fn list_nodes(options: &ListOptions) -> Result<Vec<NodeState>> {
    options.select(rows("cluster", "", "/nodes")?)
}

/// Actors on every live node: live ones, and the last dead ones each remembers.
///
/// # Errors
/// As [`list_nodes`].
///
/// # Examples
/// See [`Filter::eq`].
pub fn list_actors(options: &ListOptions) -> Result<Vec<ActorState>> {
    options.select(rows("actors", "", "")?)
}

/// Finished tasks on every live node (each keeps its last 10,000), newest first.
///
/// # Errors
/// As [`list_nodes`].
///
/// # Examples
/// ```
/// use ray::util::state::{Filter, ListOptions, list_tasks};
///
/// #[ray::remote]
/// fn one() -> u8 { 1 }
///
/// ray::get(&one.remote()).unwrap();
/// let done = list_tasks(&ListOptions::new().filter(Filter::eq("state", "FINISHED"))).unwrap();
/// assert!(done.iter().any(|t| t.name.ends_with("one")));
/// # ray::shutdown();
/// ```
pub fn list_tasks(options: &ListOptions) -> Result<Vec<TaskState>> {
    let limit = format!("limit={MAX_LIMIT}");
    options.select(rows("tasks", &limit, "/recent")?)
}

/// Objects in every live node's store.
///
/// # Errors
/// As [`list_nodes`].
///
/// # Examples
/// ```
/// use ray::util::state::{ListOptions, list_objects};
/// let r = ray::put(vec![0u8; 1 << 20]);
/// let objects = list_objects(&ListOptions::new()).unwrap();
/// assert!(objects.iter().any(|o| o.object_id == r.id().to_string()));
/// # ray::shutdown();
/// ```
pub fn list_objects(options: &ListOptions) -> Result<Vec<ObjectState>> {
    let limit = format!("limit={MAX_LIMIT}");
    options.select(rows("objects", &limit, "/objects")?)
}

/// Placement groups every live node created.
///
/// # Errors
/// As [`list_nodes`].
///
/// # Examples
/// ```
/// use ray::util::state::{ListOptions, list_placement_groups};
/// ray::init().unwrap();
/// assert!(list_placement_groups(&ListOptions::new()).unwrap().is_empty());
/// # ray::shutdown();
/// ```
pub fn list_placement_groups(options: &ListOptions) -> Result<Vec<PlacementGroupState>> {
    options.select(rows("placement_groups", "", "")?)
}

/// The cluster's jobs: submitted ones and drivers that joined.
///
/// # Errors
/// As [`list_nodes`].
///
/// # Examples
/// ```
/// use ray::util::state::{ListOptions, list_jobs};
/// ray::init().unwrap();
/// let jobs = list_jobs(&ListOptions::new()).unwrap();
/// # let _ = jobs;
/// # ray::shutdown();
/// ```
pub fn list_jobs(options: &ListOptions) -> Result<Vec<JobState>> {
    options.select(rows("jobs", "", "")?)
}

/// The actor `id`, wherever it lives; `None` when no live node knows it.
///
/// # Errors
/// As [`list_nodes`].
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// pub struct Probe;
/// #[ray::remote]
/// impl Probe { pub fn new() -> Self { Probe } }
///
/// let p = Probe::remote();
/// ray::get(&p.ready()).unwrap();
/// let found = ray::util::state::get_actor(p.id()).unwrap().unwrap();
/// assert_eq!((found.class.as_str(), found.state.as_str()), ("Probe", "ALIVE"));
/// # ray::shutdown();
/// ```
pub fn get_actor(id: ActorId) -> Result<Option<ActorState>> {
    let by_id = ListOptions::new()
        .filter(Filter::eq("actor_id", id.to_string()))
        .limit(1);
    Ok(by_id.select(rows("actors", "", "")?)?.pop())
}

/// The finished task `id`; `None` when no live node remembers it.
///
/// # Errors
/// As [`list_nodes`].
///
/// # Examples
/// ```
/// use ray::util::state::{ListOptions, get_task, list_tasks};
///
/// #[ray::remote]
/// fn one() -> u8 { 1 }
///
/// ray::get(&one.remote()).unwrap();
/// let any = list_tasks(&ListOptions::new().limit(1)).unwrap().pop().unwrap();
/// let again = get_task(any.task_id.parse().unwrap()).unwrap().unwrap();
/// assert_eq!(again, any);
/// # ray::shutdown();
/// ```
pub fn get_task(id: TaskId) -> Result<Option<TaskState>> {
    let by_id = ListOptions::new()
        .filter(Filter::eq("task_id", id.to_string()))
        .limit(1);
    let limit = format!("limit={MAX_LIMIT}");
    Ok(by_id.select(rows("tasks", &limit, "/recent")?)?.pop())
}
