//! Compiled graphs across nodes: an actor on another node takes part through one
//! persistent QUIC channel per graph, opened at compile time. The driver's loop sends
//! each execution's call for that actor (method and encoded arguments) and reads the
//! encoded result; on the actor's node a thread of its own owns the lent instance and
//! serves the channel until the graph is torn down, then gives the instance back.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_bytes::ByteBuf;

use super::DagError;
use super::actor_loop::{Outcome, Step};
use super::executor::{Runner, lend};
use super::node::AnyStep;
use crate::actors::{ActorCell, OpenDagChannel};
use crate::ids::ActorId;
use crate::runtime::{ExecContext, block_on, current_node, set_thread_context};
use crate::transport::{Channel, WireMessage};
use crate::{ActorHandle, Error, RemoteActor, Result};

/// The driver's end of the channel to one actor on another node.
pub(crate) struct RemoteEnd {
    actor_id: ActorId,
    channel: Channel,
    /// Set once the channel failed: the actor is out of reach for good.
    broken: Option<Error>,
}

impl RemoteEnd {
    /// One call: the encoded result, or the error the actor's node sent back.
    pub(crate) fn call(&mut self, method: &str, args: Vec<Vec<u8>>) -> Result<Vec<u8>> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let call = WireMessage::DagCall {
            method: method.to_string(),
            args: args.into_iter().map(ByteBuf::from).collect(),
        };
        let answer = match block_on(self.channel.send(&call)) {
            Ok(()) => block_on(self.channel.recv()),
            Err(e) => Err(e),
        };
        let why = match answer {
            Ok(Some(WireMessage::DagReply { result })) => return result.map(ByteBuf::into_vec),
            Ok(Some(other)) => format!("unexpected answer {other:?}"),
            Ok(None) => "its node ended the channel".into(),
            Err(e) => e.to_string(),
        };
        let err = Error::ActorDied {
            actor_id: self.actor_id,
            reason: format!("the channel to its node failed: {why}"),
        };
        self.broken = Some(err.clone());
        Err(err)
    }
}

/// A remote actor's part of a graph on the driver's side: its channel and steps.
pub(crate) struct RemoteRunner {
    end: RemoteEnd,
    steps: Vec<Box<dyn Step<RemoteEnd>>>,
    dead: Option<Error>,
    /// The driver node's context (arguments holding refs encode in it).
    context: ExecContext,
}

impl RemoteRunner {
    /// Opens the channel and waits for the actor's node to lend the instance.
    pub(crate) fn open<A: RemoteActor>(cell: &Arc<ActorCell<A>>) -> Result<Box<dyn Runner>> {
        let node = current_node()?;
        let site = cell
            .remote
            .as_ref()
            .ok_or(DagError::RemoteActor { actor_id: cell.id })?;
        let open = OpenDagChannel {
            node: site.node(),
            at: site.at,
            actor_id: cell.id,
        };
        let mut channel = block_on(site.agent.send(open)).map_err(|_| Error::ShutDown)??;
        match block_on(channel.recv())? {
            Some(WireMessage::DagReply { result: Ok(_) }) => {}
            Some(WireMessage::DagReply { result: Err(e) }) => return Err(e),
            _ => {
                return Err(Error::ActorDied {
                    actor_id: cell.id,
                    reason: "its node did not answer the compiled graph".into(),
                });
            }
        }
        tracing::info!(actor_id = %cell.id, node_id = %node.id, at = %site.node(), "remote actor joined a compiled graph");
        Ok(Box::new(RemoteRunner {
            end: RemoteEnd {
                actor_id: cell.id,
                channel,
                broken: None,
            },
            steps: Vec::new(),
            dead: None,
            context: node.context(),
        }))
    }
}

impl Runner for RemoteRunner {
    fn actor_id(&self) -> ActorId {
        self.end.actor_id
    }

    fn set_steps(&mut self, steps: Vec<AnyStep>) -> Result<()> {
        self.steps = steps
            .into_iter()
            .map(|s| s.downcast::<Box<dyn Step<RemoteEnd>>>().map(|b| *b))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| DagError::TypeMismatch {
                method: "a remote actor's step".into(),
            })?;
        Ok(())
    }

    fn enter(&self) {
        set_thread_context(Some(self.context.clone()));
    }

    fn run(&mut self, step: usize, stop: &AtomicBool) -> bool {
        let Some(s) = self.steps.get_mut(step) else {
            return false;
        };
        let outcome = s.run(Some(&mut self.end), self.dead.as_ref(), stop);
        if self.dead.is_none() {
            self.dead = self.end.broken.clone();
        }
        !matches!(outcome, Outcome::Stopped)
    }
}

impl Drop for RemoteRunner {
    /// Ends the channel and waits until the actor's node has given the instance back to
    /// its host, so that a classic call made after teardown reaches it.
    fn drop(&mut self) {
        if self.end.broken.is_some() {
            return;
        }
        self.end.channel.finish();
        while let Ok(Some(_)) = block_on(self.end.channel.recv()) {}
    }
}

/// Serves a graph's channel for the actor behind `handle`, on a thread of its own.
pub(crate) fn serve_remote<A: RemoteActor>(handle: ActorHandle<A>, channel: Channel) {
    let actor_id = handle.id();
    let spawned = std::thread::Builder::new()
        .name("ray-dag-remote".into())
        .spawn(move || serve(handle, channel));
    if let Err(e) = spawned {
        tracing::warn!(actor_id = %actor_id, error = %e, "cannot serve a compiled graph");
    }
}

fn serve<A: RemoteActor>(handle: ActorHandle<A>, mut channel: Channel) {
    let mut runner = match lend(&handle) {
        Ok(r) => r,
        Err(e) => {
            let _ = block_on(channel.send(&WireMessage::DagReply { result: Err(e) }));
            channel.finish();
            return;
        }
    };
    runner.enter();
    let span = tracing::info_span!("dag.serve", actor_id = %handle.id(), class = A::CLASS);
    let _entered = span.enter();
    let ack = WireMessage::DagReply {
        result: Ok(ByteBuf::new()),
    };
    if block_on(channel.send(&ack)).is_ok() {
        while let Ok(Some(WireMessage::DagCall { method, args })) = block_on(channel.recv()) {
            let args = args.into_iter().map(ByteBuf::into_vec).collect();
            let result = runner.serve_call(&method, args).map(ByteBuf::from);
            if block_on(channel.send(&WireMessage::DagReply { result })).is_err() {
                break;
            }
        }
    }
    // The instance goes back to its host before the driver hears that the channel ended.
    drop(runner);
    set_thread_context(None);
    channel.finish();
    tracing::debug!("compiled-graph channel ended");
}
