//! Placement-group bundles reserved on this node. As in Ray, reserving bundle `i` of
//! group `pg` takes its resources from the node and offers them again under names only
//! that group's work asks for: `CPU_group_{i}_{pg}` (that bundle) and `CPU_group_{pg}`
//! (any bundle of the group), plus `bundle_group_{i}_{pg}` / `bundle_group_{pg}` so that
//! work asking for nothing can still target a bundle. The scheduler then places such work
//! like any other: by resources.

use std::collections::HashMap;

use actix::prelude::*;

use super::NodeManager;
use crate::ids::{NodeId, PlacementGroupId};
use crate::resources::{Resources, renamed};
use crate::{Error, Result};

/// What a bundle marker offers (Ray: 1000 units; work asks for 0.001 of it).
const MARKER: i64 = 1000 * 10_000;
/// The GPU units a request asks for, directly or inside a bundle.
pub(crate) fn gpu_units(req: &Resources) -> i64 {
    req.iter()
        .filter(|(k, _)| *k == "GPU" || k.starts_with("GPU_group_"))
        .map(|(_, v)| v)
        .sum()
}

/// Reserves bundles of one group on this node: all of them or none.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct ReserveBundles {
    pub(crate) pg: PlacementGroupId,
    /// The node that made the group: its bundles go when it does.
    pub(crate) creator: NodeId,
    pub(crate) bundles: Vec<(u32, Resources)>,
}

/// Returns a group's bundles on this node (removed, or its creator died); with
/// `creator`, every group of that node.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) enum ReturnBundles {
    Group(PlacementGroupId),
    Creator(NodeId),
}

/// The bundles reserved here, by group.
#[derive(Default)]
pub(super) struct Reserved(HashMap<PlacementGroupId, (NodeId, Vec<(u32, Resources)>)>);

/// What bundle `(index, r)` of `pg` offers under its group's names.
fn offered(pg: PlacementGroupId, index: u32, r: &Resources) -> Resources {
    let mut out = Resources::new();
    for (name, units) in r.iter() {
        out.set_units(&renamed(name, Some(index), pg), units);
        out.set_units(&renamed(name, None, pg), units);
    }
    out.set_units(&renamed("bundle", Some(index), pg), MARKER);
    out.set_units(&renamed("bundle", None, pg), MARKER);
    out
}

impl Handler<ReserveBundles> for NodeManager {
    type Result = Result<()>;

    fn handle(&mut self, msg: ReserveBundles, _: &mut Context<Self>) -> Result<()> {
        if self.bundles.0.contains_key(&msg.pg) {
            return Ok(()); // Asked again (a retried request): already held.
        }
        let mut need = Resources::new();
        for (_, r) in &msg.bundles {
            need.give(r);
        }
        if !self.available.covers(&need) {
            return Err(Error::Infeasible {
                function: format!("placement group {}", msg.pg),
                requested: need.to_string(),
                total: self.available.to_string(),
            });
        }
        self.available.take(&need);
        for (i, r) in &msg.bundles {
            // The wildcard names add up over the group's bundles here.
            let offer = offered(msg.pg, *i, r);
            self.total.give(&offer);
            self.available.give(&offer);
        }
        tracing::info!(pg = %msg.pg, bundles = msg.bundles.len(), reserved = %need, "placement group bundles reserved");
        self.bundles.0.insert(msg.pg, (msg.creator, msg.bundles));
        Ok(())
    }
}

impl Handler<ReturnBundles> for NodeManager {
    type Result = ();

    fn handle(&mut self, msg: ReturnBundles, _: &mut Context<Self>) {
        let groups: Vec<PlacementGroupId> = match msg {
            ReturnBundles::Group(pg) => vec![pg],
            ReturnBundles::Creator(node) => self
                .bundles
                .0
                .iter()
                .filter(|(_, (c, _))| *c == node)
                .map(|(pg, _)| *pg)
                .collect(),
        };
        for pg in groups {
            let Some((_, bundles)) = self.bundles.0.remove(&pg) else {
                continue;
            };
            for (i, r) in &bundles {
                let offer = offered(pg, *i, r);
                // Work still running in the bundle gives its share back into names
                // that no longer exist: they are dropped then (`forget_unknown`).
                self.total.take(&offer);
                self.available.take(&offer);
                self.available.give(r);
            }
            self.total.drop_empty();
            self.available.forget_unknown(&self.total);
            tracing::info!(pg = %pg, "placement group bundles returned");
        }
        self.dispatch();
    }
}
