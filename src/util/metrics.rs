//! Metrics that your code records, exported with the runtime's own on `/metrics` (the
//! head's dashboard gathers every node's), as Ray's `ray.util.metrics`: a [`Counter`]
//! as `ray_<name>_total`, a [`Gauge`] and a [`Histogram`] as `ray_<name>`, each sample
//! labelled with its tags and the `NodeId` of the node that recorded it.

use std::collections::BTreeMap;

use crate::dashboard::user_metrics::{Family, Kind, registry};
use crate::{Error, Result};

/// What the three metric types share: a registered name, its tag keys and default tags.
#[derive(Debug, Clone)]
struct Metric {
    name: String,
    tag_keys: Vec<String>,
    defaults: BTreeMap<String, String>,
}

/// Letters, digits and `_`, not starting with a digit (what Prometheus accepts for
/// metric and label names, without `:`).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Metric {
    fn register(
        name: &str,
        help: &str,
        kind: Kind,
        tag_keys: &[&str],
        boundaries: Vec<f64>,
    ) -> Result<Self> {
        if !is_name(name) {
            return Err(Error::InvalidArgument(format!(
                "metric name `{name}`: use letters, digits and `_`, not starting with a digit"
            )));
        }
        if let Some(bad) = tag_keys.iter().find(|k| !is_name(k) || **k == "NodeId") {
            return Err(Error::InvalidArgument(format!(
                "tag key `{bad}` of metric `{name}`: use letters, digits and `_` (`NodeId` is the runtime's)"
            )));
        }
        let tag_keys: Vec<String> = tag_keys.iter().map(|k| k.to_string()).collect();
        let mut families = registry().families.lock();
        match families.get(name) {
            Some(f) if f.kind != kind || f.tag_keys != tag_keys || f.boundaries != boundaries => {
                return Err(Error::InvalidArgument(format!(
                    "metric `{name}` is already registered as a {:?} with tags {:?}",
                    f.kind, f.tag_keys
                )));
            }
            Some(_) => {}
            None => {
                families.insert(
                    name.to_string(),
                    Family {
                        help: help.to_string(),
                        kind,
                        tag_keys: tag_keys.clone(),
                        boundaries,
                        series: BTreeMap::new(),
                    },
                );
            }
        }
        Ok(Self {
            name: name.to_string(),
            tag_keys,
            defaults: BTreeMap::new(),
        })
    }

    fn set_default_tags(&mut self, tags: &[(&str, &str)]) -> Result<()> {
        for (k, v) in tags {
            if !self.tag_keys.iter().any(|t| t == k) {
                return Err(self.unknown_tag(k));
            }
            self.defaults.insert(k.to_string(), v.to_string());
        }
        Ok(())
    }

    fn unknown_tag(&self, key: &str) -> Error {
        Error::InvalidArgument(format!(
            "metric `{}` has no tag `{key}` (its tags: {:?})",
            self.name, self.tag_keys
        ))
    }

    /// The tag values in key order: `tags`, else the defaults; every key needs one.
    fn values(&self, tags: &[(&str, &str)]) -> Result<Vec<String>> {
        if let Some((k, _)) = tags
            .iter()
            .find(|(k, _)| !self.tag_keys.iter().any(|t| t == k))
        {
            return Err(self.unknown_tag(k));
        }
        self.tag_keys
            .iter()
            .map(|key| {
                tags.iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.to_string())
                    .or_else(|| self.defaults.get(key).cloned())
                    .ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "metric `{}` needs a value for tag `{key}`",
                            self.name
                        ))
                    })
            })
            .collect()
    }

    fn record(
        &self,
        tags: &[(&str, &str)],
        update: impl FnOnce(&Family, &mut Vec<f64>),
    ) -> Result<()> {
        let values = self.values(tags)?;
        let mut families = registry().families.lock();
        let family = families
            .get_mut(&self.name)
            .ok_or_else(|| Error::InvalidArgument(format!("metric `{}` is gone", self.name)))?;
        let mut series = family.series.remove(&values).unwrap_or_default();
        update(family, &mut series);
        family.series.insert(values, series);
        Ok(())
    }
}

/// A count that only goes up, exported as `ray_<name>_total`.
///
/// # Examples
/// ```
/// use ray::util::metrics::Counter;
///
/// let requests = Counter::new("requests", "Requests served.", &["route"]).unwrap();
/// requests.inc(1.0, &[("route", "/square")]).unwrap();
/// // Every tag needs a value, and a counter only goes up.
/// assert!(requests.inc(1.0, &[]).is_err());
/// assert!(requests.inc(-1.0, &[("route", "/square")]).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Counter(Metric);

impl Counter {
    /// Registers counter `name` (letters, digits, `_`) with `description` and the tag
    /// keys each sample carries. Registering a name again gives the same metric.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad name or tag key, or a name registered as
    /// another metric.
    ///
    /// # Examples
    /// See [`Counter`].
    pub fn new(name: &str, description: &str, tag_keys: &[&str]) -> Result<Self> {
        Metric::register(name, description, Kind::Counter, tag_keys, Vec::new()).map(Self)
    }

    /// Tag values used when a recording does not give them.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a key the metric does not have.
    ///
    /// # Examples
    /// ```
    /// let mut c = ray::util::metrics::Counter::new("jobs_done", "Jobs done.", &["kind"]).unwrap();
    /// c.set_default_tags(&[("kind", "batch")]).unwrap();
    /// c.inc(1.0, &[]).unwrap();
    /// ```
    pub fn set_default_tags(&mut self, tags: &[(&str, &str)]) -> Result<()> {
        self.0.set_default_tags(tags)
    }

    /// Adds `value` (> 0).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value that is not positive, a missing tag or an
    /// unknown one.
    ///
    /// # Examples
    /// See [`Counter`].
    pub fn inc(&self, value: f64, tags: &[(&str, &str)]) -> Result<()> {
        if !(value > 0.0 && value.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "counter `{}` goes up only: {value} is not a positive number",
                self.0.name
            )));
        }
        self.0.record(tags, |_, s| match s.first_mut() {
            Some(v) => *v += value,
            None => s.push(value),
        })
    }
}

/// A value that goes up and down, exported as `ray_<name>`.
///
/// # Examples
/// ```
/// use ray::util::metrics::Gauge;
///
/// let depth = Gauge::new("queue_depth", "Items waiting.", &[]).unwrap();
/// depth.set(12.0, &[]).unwrap();
/// depth.set(3.0, &[]).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Gauge(Metric);

impl Gauge {
    /// Registers gauge `name`, as [`Counter::new`].
    ///
    /// # Errors
    /// As [`Counter::new`].
    ///
    /// # Examples
    /// See [`Gauge`].
    pub fn new(name: &str, description: &str, tag_keys: &[&str]) -> Result<Self> {
        Metric::register(name, description, Kind::Gauge, tag_keys, Vec::new()).map(Self)
    }

    /// Tag values used when a recording does not give them.
    ///
    /// # Errors
    /// As [`Counter::set_default_tags`].
    ///
    /// # Examples
    /// ```
    /// let mut g = ray::util::metrics::Gauge::new("temp", "Temperature.", &["room"]).unwrap();
    /// g.set_default_tags(&[("room", "lab")]).unwrap();
    /// g.set(21.5, &[]).unwrap();
    /// ```
    pub fn set_default_tags(&mut self, tags: &[(&str, &str)]) -> Result<()> {
        self.0.set_default_tags(tags)
    }

    /// Sets the value.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a missing or unknown tag.
    ///
    /// # Examples
    /// See [`Gauge`].
    pub fn set(&self, value: f64, tags: &[(&str, &str)]) -> Result<()> {
        self.0.record(tags, |_, s| *s = vec![value])
    }
}

/// A distribution over buckets, exported as `ray_<name>` (`_bucket`, `_sum`, `_count`).
///
/// # Examples
/// ```
/// use ray::util::metrics::Histogram;
///
/// let latency = Histogram::new("latency_ms", "Request latency.", &[1.0, 10.0, 100.0], &[]).unwrap();
/// latency.observe(4.2, &[]).unwrap();
/// // Boundaries are positive and increasing.
/// assert!(Histogram::new("bad", "", &[10.0, 1.0], &[]).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Histogram(Metric);

impl Histogram {
    /// Registers histogram `name` with bucket `boundaries` (positive, increasing), as
    /// [`Counter::new`].
    ///
    /// # Errors
    /// As [`Counter::new`], and [`Error::InvalidArgument`] for bad boundaries.
    ///
    /// # Examples
    /// See [`Histogram`].
    pub fn new(
        name: &str,
        description: &str,
        boundaries: &[f64],
        tag_keys: &[&str],
    ) -> Result<Self> {
        let increasing = boundaries.windows(2).all(|w| w[0] < w[1]);
        if boundaries.is_empty()
            || !increasing
            || boundaries.iter().any(|b| !(*b > 0.0 && b.is_finite()))
        {
            return Err(Error::InvalidArgument(format!(
                "histogram `{name}`: boundaries must be positive and increasing, got {boundaries:?}"
            )));
        }
        Metric::register(
            name,
            description,
            Kind::Histogram,
            tag_keys,
            boundaries.to_vec(),
        )
        .map(Self)
    }

    /// Tag values used when a recording does not give them.
    ///
    /// # Errors
    /// As [`Counter::set_default_tags`].
    ///
    /// # Examples
    /// ```
    /// let mut h = ray::util::metrics::Histogram::new("size_kb", "Sizes.", &[1.0, 8.0], &["kind"]).unwrap();
    /// h.set_default_tags(&[("kind", "image")]).unwrap();
    /// h.observe(3.0, &[]).unwrap();
    /// ```
    pub fn set_default_tags(&mut self, tags: &[(&str, &str)]) -> Result<()> {
        self.0.set_default_tags(tags)
    }

    /// Counts `value` in its bucket (and in the sum).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a missing or unknown tag.
    ///
    /// # Examples
    /// See [`Histogram`].
    pub fn observe(&self, value: f64, tags: &[(&str, &str)]) -> Result<()> {
        self.0.record(tags, |f, s| {
            // Per bound, then the +Inf bucket, then the sum.
            s.resize(f.boundaries.len() + 2, 0.0);
            let bucket = f
                .boundaries
                .iter()
                .position(|b| value <= *b)
                .unwrap_or(f.boundaries.len());
            s[bucket] += 1.0;
            s[f.boundaries.len() + 1] += value;
        })
    }
}
