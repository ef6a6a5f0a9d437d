//! The function registry: every `#[ray::remote]` function registers itself under a stable
//! name (`module::path::name`), so a node can run a task that another node of the same
//! build submitted by name.

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

/// One registered remote function (emitted by `#[ray::remote]`).
#[doc(hidden)]
pub struct RemoteFunction {
    /// Stable name: `module_path!()::name`.
    pub name: &'static str,
    /// The signature as written, for the build fingerprint.
    pub signature: &'static str,
    /// Builds the body from MessagePack-encoded arguments.
    pub body: fn(Vec<u8>) -> RemoteBody,
    /// Decodes the encoded returns into stored values, on the caller's node.
    pub decode: fn(&[u8]) -> Result<Vec<StoredValue>>,
}

inventory::collect!(RemoteFunction);

fn by_name() -> &'static HashMap<&'static str, &'static RemoteFunction> {
    static BY_NAME: OnceLock<HashMap<&'static str, &'static RemoteFunction>> = OnceLock::new();
    BY_NAME.get_or_init(|| {
        inventory::iter::<RemoteFunction>
            .into_iter()
            .map(|f| (f.name, f))
            .collect()
    })
}

/// Every registered function's name and signature (what the build fingerprint covers,
/// with the actor classes: `actors::build_fingerprint`).
pub(crate) fn signatures() -> impl Iterator<Item = (&'static str, &'static str)> {
    inventory::iter::<RemoteFunction>
        .into_iter()
        .map(|f| (f.name, f.signature))
}

/// The registered function `name`.
pub(crate) fn lookup(name: &str, node_id: crate::NodeId) -> Result<&'static RemoteFunction> {
    by_name()
        .get(name)
        .copied()
        .ok_or_else(|| Error::FunctionNotRegistered {
            function: name.to_string(),
            node_id,
        })
}

/// The codec of values between nodes lives with the store's encodings.
pub(crate) use crate::store::{decode, encode};
