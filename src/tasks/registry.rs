//! The function registry: every `#[ray::remote]` function registers itself under a stable
//! name (`module::path::name`), so a node can run a task that another node of the same
//! build submitted by name. The registry's fingerprint tells builds apart.

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

struct Registry {
    /// No function and no actor class registered (a bare `ray start --head`).
    empty: bool,
    by_name: HashMap<&'static str, &'static RemoteFunction>,
    fingerprint: u64,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut by_name = HashMap::new();
        let mut entries: Vec<(&str, &str)> = Vec::new();
        for f in inventory::iter::<RemoteFunction> {
            by_name.insert(f.name, f);
            entries.push((f.name, f.signature));
        }
        // Actor classes count too: a node of another build may lack one.
        let classes: Vec<(&str, &str)> = inventory::iter::<crate::actors::RemoteClass>
            .into_iter()
            .map(|c| (c.name, c.signature))
            .collect();
        let has_classes = !classes.is_empty();
        entries.extend(classes);
        entries.sort_unstable();
        // FNV-1a over the sorted names and signatures: stable across runs of one build.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (name, sig) in entries {
            for b in name.bytes().chain([0]).chain(sig.bytes()).chain([0]) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        Registry {
            empty: by_name.is_empty() && !has_classes,
            by_name,
            fingerprint: h,
        }
    })
}

/// Whether this build registered any remote function or actor class.
pub(crate) fn has_functions() -> bool {
    !registry().empty
}

/// The registered function `name`.
pub(crate) fn lookup(name: &str, node_id: crate::NodeId) -> Result<&'static RemoteFunction> {
    registry()
        .by_name
        .get(name)
        .copied()
        .ok_or_else(|| Error::FunctionNotRegistered {
            function: name.to_string(),
            node_id,
        })
}

/// Identifies this build's set of remote functions; nodes of different builds differ.
///
/// # Examples
/// ```
/// assert_eq!(ray::build_fingerprint(), ray::build_fingerprint());
/// ```
pub fn build_fingerprint() -> u64 {
    registry().fingerprint
}

/// Encodes a value for the trip to another node.
pub(crate) fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec(v).map_err(|e| Error::Serialization(e.to_string()))
}

/// Decodes a value that came from another node: in serde's form, or a buffer of plain
/// numbers in the one-`bin` form stored values travel in.
pub(crate) fn decode<T: serde::de::DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T> {
    if let Some(v) = crate::store::decode_buffer::<T>(bytes) {
        return v;
    }
    rmp_serde::from_slice(bytes).map_err(|e| Error::Serialization(e.to_string()))
}
