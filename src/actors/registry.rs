//! `ActorRegistry`: the node's actor directory. Maps actor ids (for decoding handles) and
//! names (for `get_actor`) to weak references of the live handles' shared cell, so the
//! registry never keeps an actor alive by itself. The id table is shared with the node
//! (`ActorCells`) so that decoding a handle, which may happen on any thread including the
//! registry's own, looks it up without a message.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use actix::prelude::*;
use parking_lot::RwLock;

use crate::ids::ActorId;
use crate::{Error, Result};

/// The shared cell of an actor's handles, of any class.
pub(crate) type AnyCell = Arc<dyn LiveCell>;

/// What the registry needs of a cell without knowing its class.
pub(crate) trait LiveCell: Send + Sync {
    /// The cell, to downcast to its class.
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// A handle through which calls arriving by method name reach the actor, if it
    /// lives on this node.
    fn hosted(self: Arc<Self>) -> Option<Arc<dyn crate::actors::HostedActor>>;
}

/// Where an actor is in its life, with Ray's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActorState {
    /// Waiting for its constructor's arguments or its resources.
    PendingCreation,
    Alive,
    /// Its instance was lost and its constructor runs again.
    Restarting,
    Dead,
}

impl ActorState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ActorState::PendingCreation => "PENDING_CREATION",
            ActorState::Alive => "ALIVE",
            ActorState::Restarting => "RESTARTING",
            ActorState::Dead => "DEAD",
        }
    }
}

/// An actor hosted here changed state (its host tells the registry).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub(crate) struct ActorLifecycle {
    pub(crate) id: ActorId,
    pub(crate) class: &'static str,
    pub(crate) state: ActorState,
    /// Restarts of its instance so far.
    pub(crate) restarts: u32,
    /// Why it died (`Dead` only).
    pub(crate) death_cause: Option<String>,
}

/// One actor this node hosts or hosted, for the state API.
#[derive(Debug, Clone)]
pub(crate) struct ActorRecord {
    pub(crate) actor_id: ActorId,
    pub(crate) class: &'static str,
    pub(crate) name: Option<String>,
    pub(crate) state: ActorState,
    pub(crate) restarts: u32,
    pub(crate) death_cause: Option<String>,
    /// When it was created, and when it died.
    pub(crate) created: SystemTime,
    pub(crate) ended: Option<SystemTime>,
}

/// How many dead actors a node keeps listing (the newest); Ray bounds its list of
/// destroyed actors the same way.
const DEAD_KEPT: usize = 1_000;

/// The actors this node hosts (live and pending ones, then the most recent dead ones).
#[derive(Message)]
#[rtype(result = "Vec<ActorRecord>")]
pub(crate) struct ListActors;

/// Actor id → the shared cell of its live handles on this node (local actors, and
/// remote ones this node holds handles to).
#[derive(Default)]
pub(crate) struct ActorCells(RwLock<HashMap<ActorId, Weak<dyn LiveCell>>>);

impl ActorCells {
    pub(crate) fn get(&self, id: ActorId) -> Option<AnyCell> {
        self.0.read().get(&id).and_then(Weak::upgrade)
    }

    /// Records a cell unless a live one is known for the id; returns the one to use.
    pub(crate) fn get_or_insert(&self, id: ActorId, cell: AnyCell) -> AnyCell {
        let mut t = self.0.write();
        if let Some(live) = t.get(&id).and_then(Weak::upgrade) {
            return live;
        }
        t.retain(|_, w| w.strong_count() > 0);
        t.insert(id, Arc::downgrade(&cell));
        cell
    }

    fn alive(&self, id: &ActorId) -> bool {
        self.0.read().get(id).is_some_and(|w| w.strong_count() > 0)
    }
}

#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct RegisterActor {
    pub(crate) id: ActorId,
    pub(crate) name: Option<String>,
    pub(crate) cell: Weak<dyn LiveCell>,
    /// A strong reference for a detached actor: it stays reachable by name (and alive)
    /// after its last handle is dropped, until it is killed.
    pub(crate) pinned: Option<AnyCell>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct UnregisterActor {
    pub(crate) id: ActorId,
}

/// Looks a named actor up.
#[derive(Message)]
#[rtype(result = "Option<AnyCell>")]
pub(crate) struct LookupActor(pub(crate) String);

pub(crate) struct ActorRegistry {
    cells: Arc<ActorCells>,
    names: HashMap<String, ActorId>,
    name_of: HashMap<ActorId, String>,
    pinned: HashMap<ActorId, AnyCell>,
    /// The actors hosted here that have not died, and the last `DEAD_KEPT` that did.
    hosted: HashMap<ActorId, ActorRecord>,
    dead: VecDeque<ActorRecord>,
}

impl ActorRegistry {
    pub(crate) fn new(cells: Arc<ActorCells>) -> Self {
        Self {
            cells,
            names: HashMap::new(),
            name_of: HashMap::new(),
            pinned: HashMap::new(),
            hosted: HashMap::new(),
            dead: VecDeque::new(),
        }
    }
}

impl Actor for ActorRegistry {
    type Context = Context<Self>;
}

impl Handler<RegisterActor> for ActorRegistry {
    type Result = Result<()>;

    fn handle(&mut self, msg: RegisterActor, _: &mut Context<Self>) -> Result<()> {
        if let Some(name) = &msg.name {
            if let Some(existing) = self.names.get(name)
                && self.cells.alive(existing)
            {
                return Err(Error::ActorNameTaken { name: name.clone() });
            }
            self.names.insert(name.clone(), msg.id);
            self.name_of.insert(msg.id, name.clone());
        }
        self.cells.0.write().insert(msg.id, msg.cell);
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
        self.cells.0.write().remove(&msg.id);
        self.pinned.remove(&msg.id);
        if let Some(name) = self.name_of.remove(&msg.id)
            && self.names.get(&name) == Some(&msg.id)
        {
            self.names.remove(&name);
        }
    }
}

impl Handler<ActorLifecycle> for ActorRegistry {
    type Result = ();

    fn handle(&mut self, msg: ActorLifecycle, _: &mut Context<Self>) {
        let name = self.name_of.get(&msg.id).cloned();
        let record = self.hosted.entry(msg.id).or_insert_with(|| ActorRecord {
            actor_id: msg.id,
            class: msg.class,
            name: None,
            state: msg.state,
            restarts: 0,
            death_cause: None,
            created: SystemTime::now(),
            ended: None,
        });
        record.name = record.name.take().or(name);
        record.state = msg.state;
        record.restarts = msg.restarts;
        if msg.state == ActorState::Dead {
            record.death_cause = msg.death_cause;
            record.ended = Some(SystemTime::now());
            if let Some(record) = self.hosted.remove(&msg.id) {
                if self.dead.len() == DEAD_KEPT {
                    self.dead.pop_front();
                }
                self.dead.push_back(record);
            }
        }
    }
}

impl Handler<ListActors> for ActorRegistry {
    type Result = Vec<ActorRecord>;

    fn handle(&mut self, _: ListActors, _: &mut Context<Self>) -> Vec<ActorRecord> {
        let mut out: Vec<ActorRecord> = self
            .hosted
            .values()
            .map(|r| ActorRecord {
                name: r
                    .name
                    .clone()
                    .or_else(|| self.name_of.get(&r.actor_id).cloned()),
                ..r.clone()
            })
            .collect();
        out.sort_by_key(|a| a.created);
        out.extend(self.dead.iter().rev().cloned());
        out
    }
}

impl Handler<LookupActor> for ActorRegistry {
    type Result = Option<AnyCell>;

    fn handle(&mut self, msg: LookupActor, _: &mut Context<Self>) -> Option<AnyCell> {
        self.cells.get(*self.names.get(&msg.0)?)
    }
}
