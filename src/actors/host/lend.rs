//! Lending an actor's instance to a compiled graph (`ray::dag`) and taking it back. While
//! lent, the graph's loop thread owns the instance and classic calls fail at once with
//! `ActorUnavailable` (waiting could deadlock a caller that also drives the graph).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix::prelude::*;
use futures::channel::oneshot;

use super::{ActorHost, State};
use crate::Error;
use crate::node::ExecContext;

/// The instance, on loan to a compiled graph.
pub(crate) struct Loan<A> {
    pub(crate) actor_id: crate::ids::ActorId,
    pub(crate) instance: A,
    /// The context its methods run in (node, actor id, GPUs).
    pub(crate) context: ExecContext,
    /// Set when the actor is killed while lent: the loop drops the instance.
    pub(crate) killed: Arc<AtomicBool>,
}

/// Asks the host for its instance once the calls queued before it have run.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LendInstance<A: 'static> {
    pub(crate) reply: oneshot::Sender<crate::Result<Loan<A>>>,
}

/// Gives the instance back at teardown, or says why it was lost (a panic in a method).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ReturnInstance<A: 'static> {
    pub(crate) instance: std::result::Result<A, String>,
}

/// The error of a classic call made while the instance is lent.
pub(super) fn lent_error(actor_id: crate::ids::ActorId) -> Error {
    Error::ActorUnavailable {
        actor_id,
        reason: "it runs a compiled graph; drop the CompiledDag to call it classically again"
            .into(),
    }
}

impl<A: Send + Sync + 'static> ActorHost<A> {
    /// Lends the instance if a lend waits and nothing else runs or is queued.
    pub(super) fn try_lend(&mut self) {
        if !self.queue.is_empty() || !self.in_flight.is_empty() {
            return;
        }
        let Some(reply) = self.lend.take() else {
            return;
        };
        let killed = Arc::new(AtomicBool::new(false));
        let State::Alive(arc) = std::mem::replace(&mut self.state, State::Compiled(killed.clone()))
        else {
            // Only called with the instance alive; put back whatever was there.
            self.lend = Some(reply);
            return;
        };
        match Arc::try_unwrap(arc) {
            Ok(instance) => {
                tracing::info!(actor_id = %self.id, node_id = %self.node.id, "actor lent to a compiled graph");
                let loan = Loan {
                    actor_id: self.id,
                    instance,
                    context: self.exec_context(None),
                    killed,
                };
                if let Err(Ok(loan)) = reply.send(Ok(loan)) {
                    // The compiling caller gave up: keep the instance.
                    self.state = State::Alive(Arc::new(loan.instance));
                }
            }
            Err(arc) => {
                self.state = State::Alive(arc);
                let _ = reply.send(Err(Error::InvalidArgument(
                    "actor instance still borrowed".into(),
                )));
            }
        }
    }
}

impl<A: Send + Sync + 'static> Handler<LendInstance<A>> for ActorHost<A> {
    type Result = ();

    fn handle(&mut self, msg: LendInstance<A>, ctx: &mut Context<Self>) {
        let busy = match &self.state {
            State::Dead(e) => Some(e.clone()),
            State::Compiled(_) => {
                Some(crate::error::DagError::ActorBusy { actor_id: self.id }.into())
            }
            _ if self.lend.is_some() => {
                Some(crate::error::DagError::ActorBusy { actor_id: self.id }.into())
            }
            _ => None,
        };
        if let Some(e) = busy {
            let _ = msg.reply.send(Err(e));
            return;
        }
        self.lend = Some(msg.reply);
        self.pump(ctx);
    }
}

impl<A: Send + Sync + 'static> Handler<ReturnInstance<A>> for ActorHost<A> {
    type Result = ();

    fn handle(&mut self, msg: ReturnInstance<A>, ctx: &mut Context<Self>) {
        let State::Compiled(killed) = &self.state else {
            // Killed while lent: the host is dead already and the instance goes.
            return;
        };
        if killed.load(Ordering::SeqCst) {
            return;
        }
        match msg.instance {
            Ok(a) => {
                tracing::info!(actor_id = %self.id, node_id = %self.node.id, "actor back from a compiled graph");
                self.state = State::Alive(Arc::new(a));
            }
            Err(reason) => {
                // Calls made while lent were refused already; those made since teardown
                // (possibly still in the mailbox) must reach the restarted instance, so
                // the crash does not fail "calls submitted before it" this time.
                let fail_before = self.fail_before;
                self.state = State::Starting;
                self.crash(reason, ctx);
                self.fail_before = fail_before;
            }
        }
        self.pump(ctx);
    }
}
