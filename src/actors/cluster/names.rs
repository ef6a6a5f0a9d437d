//! The head's directory of named actors (`NameDirectory`), an actor of its own: names
//! registered, looked up and dropped by every node's agent, and forgotten with the
//! nodes that die. A name is taken while the actor holding it lives on a live node.

use std::collections::HashMap;

use actix::prelude::*;

use crate::ids::{ActorId, NodeId};
use crate::transport::{WireActor, WireMessage};

/// Named actors, by `namespace/name`.
#[derive(Default)]
pub(crate) struct NameDirectory {
    names: HashMap<String, WireActor>,
}

impl NameDirectory {
    /// Registers `actor` under its name, unless another actor holds the name.
    fn register(&mut self, actor: WireActor) -> Result<(), String> {
        if let Some(held) = self.names.get(&actor.name)
            && held.actor_id != actor.actor_id
        {
            return Err(format!("the actor name `{}` is taken", actor.name));
        }
        tracing::info!(name = %actor.name, actor_id = %actor.actor_id, node = %actor.node_id, "named actor registered");
        self.names.insert(actor.name.clone(), actor);
        Ok(())
    }

    fn drop_actor(&mut self, actor_id: ActorId) {
        self.names.retain(|_, a| a.actor_id != actor_id);
    }

    fn lookup(&self, name: &str) -> Option<WireActor> {
        self.names.get(name).cloned()
    }

    fn forget_node(&mut self, dead: NodeId) {
        self.names.retain(|_, a| a.node_id != dead);
    }
}

impl Actor for NameDirectory {
    type Context = Context<Self>;
}

/// A directory request from a node (`RegisterName`, `DropName`, `LookupName`), answered
/// as the wire answers it.
#[derive(Message)]
#[rtype(result = "WireMessage")]
pub(crate) struct DirectoryRequest(pub(crate) WireMessage);

impl Handler<DirectoryRequest> for NameDirectory {
    type Result = MessageResult<DirectoryRequest>;

    fn handle(
        &mut self,
        DirectoryRequest(request): DirectoryRequest,
        _: &mut Context<Self>,
    ) -> Self::Result {
        MessageResult(match request {
            WireMessage::RegisterName { actor } => match self.register(actor) {
                Ok(()) => WireMessage::Ack,
                Err(message) => WireMessage::Error { message },
            },
            WireMessage::DropName { actor_id } => {
                self.drop_actor(actor_id);
                WireMessage::Ack
            }
            WireMessage::LookupName { name } => WireMessage::ActorAt {
                actor: self.lookup(&name),
            },
            other => WireMessage::Error {
                message: format!("the name directory cannot serve {other:?}"),
            },
        })
    }
}

/// A node died: the names of its actors are free again.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ForgetNames(pub(crate) NodeId);

impl Handler<ForgetNames> for NameDirectory {
    type Result = ();

    fn handle(&mut self, ForgetNames(dead): ForgetNames, _: &mut Context<Self>) {
        self.forget_node(dead);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(name: &str, node_id: NodeId) -> WireActor {
        WireActor {
            actor_id: ActorId::new(),
            name: name.into(),
            class: "Counter".into(),
            node_id,
            at: None,
            creator: None,
            task_retries: 0,
        }
    }

    #[test]
    fn a_name_is_taken_until_its_actor_or_its_node_goes() {
        let (a, b) = (NodeId::new(), NodeId::new());
        let mut dir = NameDirectory::default();
        let first = actor("ns/counter", a);
        dir.register(first.clone()).unwrap();
        // The same actor registering again is fine; another one is refused.
        dir.register(first.clone()).unwrap();
        let err = dir.register(actor("ns/counter", b)).unwrap_err();
        assert!(err.contains("ns/counter"), "{err}");
        assert_eq!(
            dir.lookup("ns/counter").map(|w| w.actor_id),
            Some(first.actor_id)
        );
        // Its node dies: the name is free.
        dir.forget_node(a);
        assert!(dir.lookup("ns/counter").is_none());
        let second = actor("ns/counter", b);
        dir.register(second.clone()).unwrap();
        // Its actor stops: the name is free.
        dir.drop_actor(second.actor_id);
        assert!(dir.lookup("ns/counter").is_none());
        // Other namespaces are other names.
        dir.register(actor("other/counter", b)).unwrap();
        assert!(dir.lookup("ns/counter").is_none());
    }
}
