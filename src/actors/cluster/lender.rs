//! `Lender`: the holder's side of objects across nodes, an actor of its own. It owns which
//! nodes borrow each of this node's objects (copies they pulled, loans in messages sent
//! to them, results kept here for their owner), the refs such results carry (lent with
//! them), and what left this node in messages that lend nothing (kept for the node
//! timeout). The cluster agent, the node's door to other nodes, forwards it whatever
//! concerns this state; the protocol is described in `objects.rs` and
//! `store/handoff.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::Weak;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::holds::Holds;
use super::lineage::KeepResult;
use crate::ids::{NodeId, ObjectId};
use crate::node::{Escaped, Node, PinEscaped};
use crate::store::RawRef;

pub(crate) struct Lender {
    node: Weak<Node>,
    /// Each object lent, pinned, with how many borrows each node has not released.
    borrowers: Holds<ObjectId, RawRef>,
    /// The refs that results kept here for other nodes carry: lent with them.
    carried: HashMap<ObjectId, Vec<RawRef>>,
    /// What left this node in messages that lend nothing, with when (`PinEscaped`).
    escaped: VecDeque<(Instant, Escaped)>,
    /// How long `escaped` keeps each (the node timeout), and how often it is swept.
    grace: Duration,
    sweep: Duration,
}

impl Lender {
    pub(super) fn new(node: Weak<Node>, grace: Duration, sweep: Duration) -> Self {
        Lender {
            node,
            borrowers: Holds::default(),
            carried: HashMap::new(),
            escaped: VecDeque::new(),
            grace,
            sweep,
        }
    }
}

impl Actor for Lender {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.sweep, |act, _| {
            let grace = act.grace;
            let keep = act
                .escaped
                .iter()
                .position(|(t, _)| t.elapsed() < grace)
                .unwrap_or(act.escaped.len());
            act.escaped.drain(..keep);
        });
    }
}

/// Counts node `to` as a borrower of each of `refs` (this node's refs that a message to
/// it carries), before that message goes: the receiver's copies take these borrows over.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Lend {
    pub(super) to: NodeId,
    pub(super) refs: Vec<RawRef>,
}

impl Handler<Lend> for Lender {
    type Result = ();

    fn handle(&mut self, msg: Lend, _: &mut Context<Self>) {
        // A node known dead takes nothing over: its borrows went with it.
        let dead = self.node.upgrade().is_some_and(|n| {
            n.view
                .read()
                .iter()
                .any(|w| w.node_id == msg.to && !w.alive)
        });
        if dead {
            return;
        }
        for r in msg.refs {
            self.borrowers.add(r.id(), msg.to, || r.clone());
        }
    }
}

/// Node `from` asks for object `held` (this node's, when it has it): counted as its
/// borrower unless the ref it decoded was `borrowed` already (lent). Answers the refs a
/// result kept here for it carries.
#[derive(Message)]
#[rtype(result = "Vec<RawRef>")]
pub(super) struct Borrow {
    pub(super) from: NodeId,
    pub(super) object_id: ObjectId,
    pub(super) held: Option<RawRef>,
    pub(super) borrowed: bool,
}

impl Handler<Borrow> for Lender {
    type Result = MessageResult<Borrow>;

    fn handle(&mut self, msg: Borrow, _: &mut Context<Self>) -> Self::Result {
        if let Some(r) = msg.held
            && !msg.borrowed
        {
            self.borrowers.add(msg.object_id, msg.from, || r);
        }
        MessageResult(
            self.carried
                .get(&msg.object_id)
                .cloned()
                .unwrap_or_default(),
        )
    }
}

/// Node `from` releases one borrow of each of `ids`.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Returned {
    pub(super) from: NodeId,
    pub(super) ids: Vec<ObjectId>,
}

impl Handler<Returned> for Lender {
    type Result = ();

    fn handle(&mut self, msg: Returned, _: &mut Context<Self>) {
        for id in msg.ids {
            if !self.borrowers.release(id, msg.from) {
                self.carried.remove(&id);
            }
        }
    }
}

impl Handler<KeepResult> for Lender {
    type Result = ();

    fn handle(&mut self, msg: KeepResult, _: &mut Context<Self>) {
        let result = msg.result;
        self.borrowers
            .add(result.id(), msg.owner, || result.clone());
        if !msg.carried.is_empty() {
            self.carried.insert(result.id(), msg.carried);
        }
    }
}

impl Handler<PinEscaped> for Lender {
    type Result = ();

    fn handle(&mut self, msg: PinEscaped, _: &mut Context<Self>) {
        self.escaped.push_back((Instant::now(), msg.0));
    }
}

/// A node died (or its driver ended): its borrows go with it.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Forget(pub(super) NodeId);

impl Handler<Forget> for Lender {
    type Result = ();

    fn handle(&mut self, msg: Forget, _: &mut Context<Self>) {
        self.borrowers.forget(msg.0);
        let borrowers = &self.borrowers;
        self.carried.retain(|id, _| borrowers.holds(id));
    }
}
