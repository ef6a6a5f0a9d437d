//! Prometheus's text exposition format for the user metrics of `ray::util::metrics`
//! (`user_metrics.rs` keeps them): what `/metrics` appends to the node's own families.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::user_metrics::{Family, Kind, Snapshot};

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

/// A label value as the exposition format wants it.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
