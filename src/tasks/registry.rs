//! The function registry: every `#[ray::remote]` function registers itself under a stable
//! name (`module::path::name`), so a node can run a task that another node of the same
//! build submitted by name. `ByName` and `signatures_of` serve every such registry
//! (generators and actor classes too).

use std::collections::HashMap;
use std::sync::OnceLock;

use futures::future::LocalBoxFuture;

use crate::store::StoredValue;
use crate::{Error, Result};

/// How a registered function runs from encoded arguments.
#[doc(hidden)]
pub enum RemoteBody {
    /// A sync body: arguments in, encoded returns out.
    Sync(Box<dyn FnOnce() -> Result<Vec<u8>> + Send>),
    /// An async body.
    Async(Box<dyn FnOnce() -> LocalBoxFuture<'static, Result<Vec<u8>>> + Send>),
}

/// A call another node sent, its arguments read: the objects it takes by reference
/// (pulled into this node's store; the task waits for them) and its body.
#[doc(hidden)]
pub struct RemoteCall {
    pub(crate) deps: Vec<crate::store::RawRef>,
    pub(crate) body: RemoteBody,
}

impl RemoteCall {
    /// Used by generated code: the arguments' dependencies (`Arg::dep`) and the body.
    pub fn new(deps: Vec<Option<super::args::RawRefHandle>>, body: RemoteBody) -> Self {
        Self {
            deps: deps.into_iter().flatten().map(|d| d.0).collect(),
            body,
        }
    }
}

/// One registered remote function (emitted by `#[ray::remote]`).
#[doc(hidden)]
pub struct RemoteFunction {
    /// Stable name: `module_path!()::name`.
    pub name: &'static str,
    /// The signature as written, for the build fingerprint.
    pub signature: &'static str,
    /// Reads the encoded arguments (`ArgReader::read_arg`) into the call.
    pub body: fn(Vec<u8>) -> Result<RemoteCall>,
    /// Decodes the encoded returns into stored values, on the caller's node.
    pub decode: fn(&[u8]) -> Result<Vec<StoredValue>>,
}

inventory::collect!(RemoteFunction);

/// What `#[ray::remote]` registers under a stable name (`module_path!()::name`), so a
/// node can run what another node of the same build named: functions, streaming
/// generators (`node::RemoteGenerator`), actor classes (`actors::RemoteClass`).
pub(crate) trait Registered: inventory::Collect + Sync {
    fn name(&self) -> &'static str;
    /// The signature as written, for the build fingerprint.
    fn signature(&self) -> &'static str;
}

/// One registry's entries by name, indexed on first use.
pub(crate) struct ByName<T: 'static>(OnceLock<HashMap<&'static str, &'static T>>);

impl<T: Registered> ByName<T> {
    pub(crate) const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// The entry `name`, or `FunctionNotRegistered` naming it and this node.
    pub(crate) fn get(&self, name: &str, node_id: crate::NodeId) -> Result<&'static T> {
        let index = self.0.get_or_init(|| {
            inventory::iter::<T>
                .into_iter()
                .map(|e| (e.name(), e))
                .collect()
        });
        index
            .get(name)
            .copied()
            .ok_or_else(|| Error::FunctionNotRegistered {
                function: name.to_string(),
                node_id,
            })
    }
}

/// Every entry's name and signature (what the build fingerprint covers).
pub(crate) fn signatures_of<T: Registered>() -> impl Iterator<Item = (&'static str, &'static str)> {
    inventory::iter::<T>
        .into_iter()
        .map(|e| (e.name(), e.signature()))
}

impl Registered for RemoteFunction {
    fn name(&self) -> &'static str {
        self.name
    }
    fn signature(&self) -> &'static str {
        self.signature
    }
}

/// The registered function `name`.
pub(crate) fn lookup(name: &str, node_id: crate::NodeId) -> Result<&'static RemoteFunction> {
    static FUNCTIONS: ByName<RemoteFunction> = ByName::new();
    FUNCTIONS.get(name, node_id)
}

/// The codec of values between nodes lives with the store's encodings.
pub(crate) use crate::store::{decode, encode};
