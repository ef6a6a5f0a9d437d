//! Streaming generators by name: every `#[ray::remote(streaming)]` function registers how
//! to start it from encoded arguments, so a node can run a generator another node of the
//! same build placed on it (the cluster agent's stream pump forwards its items).

use super::stream::RawStream;
use crate::Result;
use crate::tasks::{ByName, Registered, TaskOptions};

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

impl Registered for RemoteGenerator {
    fn name(&self) -> &'static str {
        self.name
    }
    fn signature(&self) -> &'static str {
        self.signature
    }
}

/// The registered generator `name`.
pub(crate) fn lookup(name: &str, node_id: crate::NodeId) -> Result<&'static RemoteGenerator> {
    static GENERATORS: ByName<RemoteGenerator> = ByName::new();
    GENERATORS.get(name, node_id)
}
