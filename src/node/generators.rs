//! Streaming generators by name: every `#[ray::remote(streaming)]` function registers how
//! to start it from encoded arguments, so a node can run a generator another node of the
//! same build placed on it (the cluster agent's stream pump forwards its items).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::stream::RawStream;
use crate::tasks::TaskOptions;
use crate::{Error, Result};

/// One registered streaming function (emitted by `#[ray::remote(streaming)]`).
#[doc(hidden)]
pub struct RemoteGenerator {
    /// Stable name: `module_path!()::name`.
    pub name: &'static str,
    /// The signature as written, for the build fingerprint.
    pub signature: &'static str,
    /// Submits the generator on this node from encoded arguments, with `TaskOptions`
    /// that pin it here.
    pub start: fn(&[u8], TaskOptions) -> Result<RawStream>,
}

inventory::collect!(RemoteGenerator);

fn by_name() -> &'static HashMap<&'static str, &'static RemoteGenerator> {
    static BY_NAME: OnceLock<HashMap<&'static str, &'static RemoteGenerator>> = OnceLock::new();
    BY_NAME.get_or_init(|| {
        inventory::iter::<RemoteGenerator>
            .into_iter()
            .map(|g| (g.name, g))
            .collect()
    })
}

/// Every registered generator's name and signature (for the build fingerprint).
pub(crate) fn signatures() -> impl Iterator<Item = (&'static str, &'static str)> {
    inventory::iter::<RemoteGenerator>
        .into_iter()
        .map(|g| (g.name, g.signature))
}

/// The registered generator `name`.
pub(crate) fn lookup(name: &str, node_id: crate::NodeId) -> Result<&'static RemoteGenerator> {
    by_name()
        .get(name)
        .copied()
        .ok_or_else(|| Error::FunctionNotRegistered {
            function: name.to_string(),
            node_id,
        })
}
