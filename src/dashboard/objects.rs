//! `/api/objects`: the objects in every live node's store (largest first), where each
//! one's value is, and each store's usage: what `ray list objects` and `ray memory` read.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rows::ObjectRow;
use super::state::{StateQuery, from_others};
use super::{Answer, MAX_LIMIT, bad, limit};
use crate::node::Node;

/// Filters of `GET /api/objects`.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct ObjectQuery {
    /// At most this many objects (default 100, at most [`MAX_LIMIT`]), the largest.
    limit: Option<usize>,
    /// Only objects in this state (`READY`, `PENDING`, `SPILLED`, ...).
    state: Option<String>,
}

#[derive(Serialize)]
struct StoreJson {
    node_id: String,
    num_objects: usize,
    bytes_used: usize,
    num_spilled: usize,
    bytes_spilled: usize,
    /// `null`: unbounded.
    capacity: Option<usize>,
}

#[derive(Serialize)]
struct ObjectsJson {
    stores: Vec<StoreJson>,
    objects: Vec<ObjectRow>,
}

/// This node's part.
pub(super) fn objects_of(node: &Arc<Node>, q: &ObjectQuery) -> Value {
    // Another node asked with a limit its own dashboard checked; clamp all the same.
    let limit = q.limit.unwrap_or(100).min(MAX_LIMIT);
    let s = node.store.summary();
    let objects = node
        .store
        .list(limit)
        .into_iter()
        .map(|o| ObjectRow {
            object_id: o.id.to_string(),
            node_id: node.id.to_string(),
            owner_node_id: o.owner.to_string(),
            state: o.state.into(),
            size: o.size,
            ref_count: o.refs,
            locations: Vec::new(),
            held_at: o.held_at.map(|n| n.to_string()),
        })
        .collect();
    serde_json::to_value(ObjectsJson {
        stores: vec![StoreJson {
            node_id: node.id.to_string(),
            num_objects: s.num_objects,
            bytes_used: s.bytes_used,
            num_spilled: s.num_spilled,
            bytes_spilled: s.bytes_spilled,
            capacity: (s.capacity != usize::MAX).then_some(s.capacity),
        }],
        objects,
    })
    .unwrap_or_default()
}

/// `GET /api/objects?limit=100&state=READY`.
pub(super) async fn objects(node: &Arc<Node>, query: &str) -> Answer {
    let q = serde_urlencoded::from_str::<ObjectQuery>(query)
        .map_err(|_| bad("limit and state are the filters"))?;
    limit(q.limit)?;
    let mut parts = vec![objects_of(node, &q)];
    parts.extend(from_others(node, &StateQuery::Objects(q.clone())).await);
    Ok(merge(parts, &q))
}

/// One list from every node's part: stores side by side, objects largest first, each
/// object's `locations` the nodes where its value is.
fn merge(parts: Vec<Value>, q: &ObjectQuery) -> Value {
    let mut stores = Vec::new();
    let mut objects = Vec::new();
    for mut p in parts {
        stores.extend(take_list(&mut p["stores"]));
        objects.extend(take_list(&mut p["objects"]));
    }
    let mut locations: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for o in &objects {
        let at = match o["state"].as_str() {
            Some("READY" | "SPILLED") => o["node_id"].clone(),
            Some("REMOTE") => o["held_at"].clone(),
            _ => continue,
        };
        let list = locations
            .entry(o["object_id"].as_str().unwrap_or("").to_string())
            .or_default();
        if !list.contains(&at) {
            list.push(at);
        }
    }
    // Every entry of an object gets the same list.
    for o in &mut objects {
        let list = o["object_id"]
            .as_str()
            .and_then(|id| locations.get(id))
            .cloned()
            .unwrap_or_default();
        o["locations"] = Value::from(list);
    }
    objects.retain(|o| {
        q.state.as_deref().is_none_or(|s| {
            o["state"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(s))
        })
    });
    let size = |o: &Value| o["size"].as_u64().unwrap_or(0);
    objects.sort_by_key(|o| std::cmp::Reverse(size(o)));
    objects.truncate(q.limit.unwrap_or(100));
    serde_json::json!({ "stores": stores, "objects": objects })
}

fn take_list(v: &mut Value) -> Vec<Value> {
    match v.take() {
        Value::Array(list) => list,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_objects_know_every_node_holding_their_value() {
        let part = |node: &str, objects: Value| serde_json::json!({ "stores": [{ "node_id": node }], "objects": objects });
        let a = part(
            "a",
            serde_json::json!([
                { "object_id": "o1", "node_id": "a", "state": "READY", "size": 10 },
                { "object_id": "o2", "node_id": "a", "state": "REMOTE", "held_at": "c", "size": 0 },
            ]),
        );
        let b = part(
            "b",
            serde_json::json!([
                { "object_id": "o1", "node_id": "b", "state": "READY", "size": 10 },
                { "object_id": "o3", "node_id": "b", "state": "PENDING", "size": 0 },
            ]),
        );
        let q = ObjectQuery {
            limit: None,
            state: None,
        };
        let m = merge(vec![a, b], &q);
        assert_eq!(m["stores"].as_array().map(Vec::len), Some(2));
        let objects = m["objects"].as_array().cloned().unwrap_or_default();
        assert_eq!(objects.len(), 4);
        for o in &objects {
            let want = match o["object_id"].as_str() {
                Some("o1") => serde_json::json!(["a", "b"]),
                Some("o2") => serde_json::json!(["c"]),
                _ => serde_json::json!([]),
            };
            assert_eq!(o["locations"], want, "{o}");
        }
        let ready = merge(
            vec![m.clone()],
            &ObjectQuery {
                limit: Some(1),
                state: Some("ready".into()),
            },
        );
        assert_eq!(ready["objects"].as_array().map(Vec::len), Some(1));
    }
}
