//! An actor host's life at its two ends: acquiring the actor's resources and building
//! its instance once the constructor's arguments are ready, and what stopping reports
//! and gives back (the resources, the name, the thread).

use actix::prelude::*;
use futures::channel::oneshot;

use super::{ActorHost, State};
use crate::Error;
use crate::actors::{
    AcquireResources, ActorState, ActorStopped, LeaseOnHost, NameRequest, NodeActors,
    ReleaseResources, UnregisterActor,
};
use crate::node::set_thread_context;
use crate::resources::Resources;

impl<A: Send + Sync + 'static> ActorHost<A> {
    /// Gives back what the node granted for the actor's lifetime, once.
    pub(super) fn release(&mut self) {
        self.lease = None;
        if let Some(gpus) = self.held.take() {
            self.node
                .actors()
                .manager
                .do_send(ReleaseResources(self.resources.clone(), gpus));
        }
    }
}

/// Gives back a grant that the generic node's lease did not follow; `e` is why.
fn release_on<T>(
    node: &crate::node::Node,
    resources: Resources,
    grant: crate::actors::GpuGrant,
    e: Error,
) -> Result<T, Error> {
    node.actors()
        .manager
        .do_send(ReleaseResources(resources, grant));
    Err(e)
}

impl<A: Send + Sync + 'static> Actor for ActorHost<A> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        set_thread_context(Some(self.exec_context(None)));
        self.report(ActorState::PendingCreation, None);
        let deps = self.ctor_deps.clone();
        let resources = self.resources.clone();
        let node = self.node.clone();
        let what = format!("actor {}", self.class);
        let prepare = async move {
            for d in &deps {
                let _ = d.settled().await;
            }
            if resources == Resources::new() {
                return Ok(None);
            }
            let (reply, rx) = oneshot::channel();
            node.actors().manager.do_send(AcquireResources {
                resources: resources.clone(),
                what,
                reply,
            });
            let grant = rx.await.unwrap_or(Err(Error::ShutDown))?;
            // A job worker's resources are its generic node's: held there too.
            let lease = match node.actors().cluster.get() {
                Some(agent) => {
                    let wire = crate::actors::wire_resources(&resources);
                    match agent.send(LeaseOnHost(wire)).await {
                        Ok(Ok(lease)) => lease,
                        Ok(Err(e)) => return release_on(&node, resources, grant, e),
                        Err(_) => return release_on(&node, resources, grant, Error::ShutDown),
                    }
                }
                None => None,
            };
            Ok(Some((grant, lease)))
        };
        ctx.wait(prepare.into_actor(self).map(|granted, act, ctx| {
            match granted {
                Ok(grant) => {
                    if let Some((grant, lease)) = grant {
                        act.held = Some(grant);
                        act.lease = lease;
                        // The constructor and every method see their GPUs.
                        set_thread_context(Some(act.exec_context(None)));
                    }
                    act.construct();
                }
                Err(e) => act.state = act.dead(e.to_string()),
            }
            act.pump(ctx);
        }));
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        if !matches!(self.state, State::Dead(_)) {
            let why = self.stopping.take();
            self.report(
                ActorState::Dead,
                Some(why.unwrap_or_else(|| "the actor was stopped".into())),
            );
        }
        self.fail_all("the actor was stopped", ctx);
        self.release();
        let actors = self.node.actors();
        actors.registry.do_send(UnregisterActor { id: self.id });
        if let Some(agent) = actors.cluster.get() {
            agent.do_send(ActorStopped(self.id));
            if self.named {
                agent.do_send(NameRequest::Drop(self.id));
            }
        }
        tracing::info!(actor_id = %self.id, class = self.class, "actor stopped");
        set_thread_context(None);
        self.node
            .recycle_actor_thread(actix_rt::Arbiter::current(), self.io_thread);
    }
}
