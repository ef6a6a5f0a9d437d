//! The metrics that user code records (`ray::util::metrics`), kept per process, and
//! their part of `/metrics`: each node answers its process's metrics when the head's
//! `/metrics` asks, and the head renders every process's once, under `ray_<name>`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use parking_lot::Mutex;

use serde::{Deserialize, Serialize};

/// What kind of metric a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric as registered: its help, kind, tag keys and, for a histogram, its
/// bucket boundaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Family {
    pub(crate) help: String,
    pub(crate) kind: Kind,
    pub(crate) tag_keys: Vec<String>,
    pub(crate) boundaries: Vec<f64>,
    /// By tag values (in `tag_keys` order): the value (counters, gauges), or the
    /// bucket counts, then the sum (histograms). Pairs in JSON, whose keys are strings.
    #[serde(with = "pairs")]
    pub(crate) series: BTreeMap<Vec<String>, Vec<f64>>,
}

/// A map as a list of pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    type Series = BTreeMap<Vec<String>, Vec<f64>>;

    pub(super) fn serialize<S: Serializer>(map: &Series, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Series, D::Error> {
        Vec::<(Vec<String>, Vec<f64>)>::deserialize(d).map(|v| v.into_iter().collect())
    }
}

/// This process's metrics, by name, with a random id that tells processes apart (the
/// nodes of one process share them).
pub(crate) struct Registry {
    pub(crate) process: u64,
    pub(crate) families: Mutex<BTreeMap<String, Family>>,
}

/// The process's registry.
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        // Random; without randomness, the pid and the time still tell processes apart.
        process: format!(
            "{}{}{:?}",
            crate::actors::random_token().unwrap_or_default(),
            std::process::id(),
            std::time::SystemTime::now(),
        )
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }),
        families: Mutex::new(BTreeMap::new()),
    })
}

/// One process's metrics as a node answers them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) process: u64,
    pub(crate) node_id: String,
    pub(crate) families: BTreeMap<String, Family>,
}

/// This process's metrics, answered by node `node_id`.
pub(crate) fn snapshot(node_id: &str) -> Snapshot {
    let r = registry();
    Snapshot {
        process: r.process,
        node_id: node_id.to_string(),
        families: r.families.lock().clone(),
    }
}
