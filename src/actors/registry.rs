//! `ActorRegistry`: the node's actor directory. Maps actor ids (for decoding handles) and
//! names (for `get_actor`) to weak references of the live handles' shared cell, so the
//! registry never keeps an actor alive by itself.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use actix::prelude::*;

use crate::ids::ActorId;
use crate::{Error, Result};

pub(crate) type AnyCell = Arc<dyn Any + Send + Sync>;

#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct RegisterActor {
    pub(crate) id: ActorId,
    pub(crate) name: Option<String>,
    pub(crate) cell: Weak<dyn Any + Send + Sync>,
    /// A strong reference for a detached actor: it stays reachable by name (and alive)
    /// after its last handle is dropped, until it is killed.
    pub(crate) pinned: Option<AnyCell>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct UnregisterActor {
    pub(crate) id: ActorId,
}

/// Looks an actor up by id or by name.
#[derive(Message)]
#[rtype(result = "Option<AnyCell>")]
pub(crate) enum LookupActor {
    Id(ActorId),
    Name(String),
}

#[derive(Default)]
pub(crate) struct ActorRegistry {
    by_id: HashMap<ActorId, Weak<dyn Any + Send + Sync>>,
    names: HashMap<String, ActorId>,
    name_of: HashMap<ActorId, String>,
    pinned: HashMap<ActorId, AnyCell>,
}

impl Actor for ActorRegistry {
    type Context = Context<Self>;
}

impl Handler<RegisterActor> for ActorRegistry {
    type Result = Result<()>;

    fn handle(&mut self, msg: RegisterActor, _: &mut Context<Self>) -> Result<()> {
        if let Some(name) = &msg.name {
            if let Some(existing) = self.names.get(name)
                && self
                    .by_id
                    .get(existing)
                    .is_some_and(|w| w.strong_count() > 0)
            {
                return Err(Error::ActorNameTaken { name: name.clone() });
            }
            self.names.insert(name.clone(), msg.id);
            self.name_of.insert(msg.id, name.clone());
        }
        self.by_id.insert(msg.id, msg.cell);
        if let Some(cell) = msg.pinned {
            self.pinned.insert(msg.id, cell);
        }
        tracing::info!(actor_id = %msg.id, name = ?msg.name, "actor registered");
        Ok(())
    }
}

impl Handler<UnregisterActor> for ActorRegistry {
    type Result = ();

    fn handle(&mut self, msg: UnregisterActor, _: &mut Context<Self>) {
        self.by_id.remove(&msg.id);
        self.pinned.remove(&msg.id);
        if let Some(name) = self.name_of.remove(&msg.id)
            && self.names.get(&name) == Some(&msg.id)
        {
            self.names.remove(&name);
        }
    }
}

impl Handler<LookupActor> for ActorRegistry {
    type Result = Option<AnyCell>;

    fn handle(&mut self, msg: LookupActor, _: &mut Context<Self>) -> Option<AnyCell> {
        let id = match msg {
            LookupActor::Id(id) => id,
            LookupActor::Name(name) => *self.names.get(&name)?,
        };
        self.by_id.get(&id).and_then(Weak::upgrade)
    }
}
