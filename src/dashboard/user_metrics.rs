//! The metrics that user code records (`ray::util::metrics`), kept per process, and
//! their part of `/metrics`: each node answers its process's metrics when the head's
//! `/metrics` asks, and the head renders every process's once, under `ray_<name>`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::OnceLock;

use parking_lot::Mutex;

use super::metrics::escape;
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

/// Writes the families of `snapshots` (one per process) in the exposition format: one
/// `# HELP`/`# TYPE` per name, each sample labelled with its tags and the `NodeId` of
/// the node that answered for its process.
pub(crate) fn render(out: &mut String, snapshots: &[Snapshot]) {
    let mut names: BTreeMap<&str, &Family> = BTreeMap::new();
    for s in snapshots {
        for (name, f) in &s.families {
            names.entry(name.as_str()).or_insert(f);
        }
    }
    for (name, first) in names {
        let full = format!("ray_{name}");
        let (kind, sample_name) = match first.kind {
            Kind::Counter => ("counter", format!("{full}_total")),
            Kind::Gauge => ("gauge", full.clone()),
            Kind::Histogram => ("histogram", full.clone()),
        };
        let _ = writeln!(out, "# HELP {sample_name} {}", one_line(&first.help));
        let _ = writeln!(out, "# TYPE {sample_name} {kind}");
        for s in snapshots {
            let Some(f) = s.families.get(name).filter(|f| f.kind == first.kind) else {
                continue;
            };
            for (values, data) in &f.series {
                let mut labels: Vec<(String, String)> = f
                    .tag_keys
                    .iter()
                    .cloned()
                    .zip(values.iter().cloned())
                    .collect();
                labels.push(("NodeId".into(), s.node_id.clone()));
                write_series(out, &sample_name, f, &labels, data);
            }
        }
    }
}

fn write_series(
    out: &mut String,
    name: &str,
    f: &Family,
    labels: &[(String, String)],
    data: &[f64],
) {
    let text = |extra: Option<(&str, String)>| {
        let mut all: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if let Some((k, v)) = extra {
            all.push(format!("{k}=\"{v}\""));
        }
        format!("{{{}}}", all.join(","))
    };
    if f.kind != Kind::Histogram {
        let _ = writeln!(
            out,
            "{name}{} {}",
            text(None),
            data.first().copied().unwrap_or(0.0)
        );
        return;
    }
    // Buckets are kept per bound; the exposition format wants them cumulative.
    let mut seen = 0.0;
    for (i, bound) in f.boundaries.iter().enumerate() {
        seen += data.get(i).copied().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "{name}_bucket{} {seen}",
            text(Some(("le", bound.to_string())))
        );
    }
    seen += data.get(f.boundaries.len()).copied().unwrap_or(0.0);
    let _ = writeln!(
        out,
        "{name}_bucket{} {seen}",
        text(Some(("le", "+Inf".into())))
    );
    let sum = data.get(f.boundaries.len() + 1).copied().unwrap_or(0.0);
    let _ = writeln!(out, "{name}_sum{} {sum}", text(None));
    let _ = writeln!(out, "{name}_count{} {seen}", text(None));
}

fn one_line(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_crosses_as_json_and_renders_the_same() {
        let mut families = BTreeMap::new();
        let mut series = BTreeMap::new();
        series.insert(vec!["/a".to_string()], vec![3.0]);
        families.insert(
            "served".to_string(),
            Family {
                help: "Served.".into(),
                kind: Kind::Counter,
                tag_keys: vec!["route".into()],
                boundaries: Vec::new(),
                series,
            },
        );
        let snap = Snapshot {
            process: u64::MAX,
            node_id: "node-1".into(),
            families,
        };
        let json = serde_json::to_value(&snap).unwrap();
        let back: Snapshot = serde_json::from_value(json).unwrap();
        let (mut a, mut b) = (String::new(), String::new());
        render(&mut a, &[snap]);
        render(&mut b, &[back]);
        assert_eq!(a, b);
        assert!(
            a.contains("ray_served_total{route=\"/a\",NodeId=\"node-1\"} 3"),
            "{a}"
        );
    }
}
