//! Finding a named actor (`ray::get_actor`, `ray::get_actor_async`): on this node, or
//! in the cluster's directory of names.

use super::{ActorCell, ActorHandle, RemoteActor, WireHandle, handle_at};
use crate::actors::LookupActor;
use crate::actors::NodeActors;
use crate::actors::cluster::NameRequest;
use crate::actors::remote::{self, Creator};
use crate::node::{block_on, current_node};
use crate::{Error, Result};

/// `ray::get_actor`: the handle of the named actor, on this node or, in a cluster,
/// wherever the head's directory says it lives.
pub(crate) fn get_actor<A: RemoteActor>(name: &str) -> Result<ActorHandle<A>> {
    block_on(get_actor_async(name))
}

/// [`get_actor`] without blocking: for async code (an actix-web or tokio handler).
pub(crate) async fn get_actor_async<A: RemoteActor>(name: &str) -> Result<ActorHandle<A>> {
    let node = current_node()?;
    let query = LookupActor(name.to_string());
    let registry = node.actors().registry.clone();
    if let Some(cell) = registry.send(query).await.map_err(|_| Error::ShutDown)? {
        let cell = cell
            .as_any()
            .downcast::<ActorCell<A>>()
            .map_err(|_| Error::ActorNotFound {
                name: name.to_string(),
                detail: format!(" of class `{}`", A::CLASS),
            })?;
        return Ok(ActorHandle::from_cell(cell));
    }
    let scoped = remote::scoped_name(&node.namespace, name);
    match remote::ask_names_async(&node, NameRequest::Lookup(scoped)).await? {
        Some(found) if found.class == A::PATH => {
            // Where it is, and who re-creates it when its node dies: the handle follows
            // its restarts, as the creator's handles do.
            let w = WireHandle {
                id: found.actor_id,
                class: found.class,
                node: found.node_id,
                at: found.at,
                creator: found.creator.map(|(node, at)| Creator { node, at }),
                restarts: found.creator.is_some(),
                task_retries: found.task_retries,
            };
            handle_at(&node, &w)
        }
        Some(found) => Err(Error::ActorNotFound {
            name: name.to_string(),
            detail: format!(" of class `{}` (it is a `{}`)", A::CLASS, found.class),
        }),
        None => Err(Error::ActorNotFound {
            name: name.to_string(),
            detail: String::new(),
        }),
    }
}
