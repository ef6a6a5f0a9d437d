//! What runs on a compiled graph's loop thread: one thread per actor, owning the actor's
//! instance, running the actor's steps (its bound method calls, in the graph's order)
//! once per execution. Each step reads its arguments from the rings of its edges and
//! writes its result to the rings of its consumers; an error replaces the value and
//! flows on, so every execution ends with a result or an error at every output.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use futures::channel::oneshot;

use super::DagError;
use super::node::{AnyStep, MethodFn};
use super::ring::Ring;
use crate::actors::{LendInstance, Loan, ReturnInstance};
use crate::error::panic_message;
use crate::ids::ActorId;
use crate::runtime::{block_on, set_thread_context};
use crate::{ActorHandle, Error, RemoteActor, Result};

/// One argument edge as the consuming step sees it.
pub(crate) trait Reader: Send {
    /// Takes this execution's value into the current slot; `false` when the graph stops.
    fn fetch(&mut self, stop: &AtomicBool) -> bool;
    /// The current slot: an `Option<Result<T>>`.
    fn current(&mut self) -> &mut dyn Any;
    /// The error in the current slot, if the upstream failed.
    fn failed(&self) -> Option<&Error>;
}

/// An edge from another node: a ring.
pub(crate) struct RingReader<T> {
    ring: Arc<Ring<T>>,
    current: Option<Result<T>>,
}

impl<T> RingReader<T> {
    pub(crate) fn new(ring: Arc<Ring<T>>) -> Self {
        Self {
            ring,
            current: None,
        }
    }
}

impl<T: Send + 'static> Reader for RingReader<T> {
    fn fetch(&mut self, stop: &AtomicBool) -> bool {
        self.current = self.ring.pop(stop);
        self.current.is_some()
    }
    fn current(&mut self) -> &mut dyn Any {
        &mut self.current
    }
    fn failed(&self) -> Option<&Error> {
        self.current.as_ref().and_then(|c| c.as_ref().err())
    }
}

/// A constant argument: the same value every execution (cloned).
pub(crate) struct ConstReader<T> {
    value: T,
    current: Option<Result<T>>,
}

impl<T> ConstReader<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            value,
            current: None,
        }
    }
}

impl<T: Clone + Send + 'static> Reader for ConstReader<T> {
    fn fetch(&mut self, _stop: &AtomicBool) -> bool {
        self.current = Some(Ok(self.value.clone()));
        true
    }
    fn current(&mut self) -> &mut dyn Any {
        &mut self.current
    }
    fn failed(&self) -> Option<&Error> {
        None
    }
}

/// The arguments of one execution of a step, read in parameter order by the generated
/// method body.
#[doc(hidden)]
pub struct DagArgs<'a> {
    readers: &'a mut [Box<dyn Reader>],
    next: usize,
    method: &'static str,
}

impl DagArgs<'_> {
    /// The next argument.
    ///
    /// # Errors
    /// [`DagError::TypeMismatch`] when the graph was not built by the generated `bind`.
    pub fn take<T: 'static>(&mut self) -> Result<T> {
        let slot = self
            .readers
            .get_mut(self.next)
            .and_then(|r| r.current().downcast_mut::<Option<Result<T>>>())
            .and_then(Option::take);
        self.next += 1;
        slot.unwrap_or_else(|| {
            Err(DagError::TypeMismatch {
                method: self.method.to_string(),
            }
            .into())
        })
    }
}

/// Writes a step's result to each consumer's ring (cloned for all but the last).
pub(crate) struct Writer<T> {
    rings: Vec<Arc<Ring<T>>>,
}

impl<T: Clone> Writer<T> {
    pub(crate) fn new(rings: Vec<Arc<Ring<T>>>) -> Self {
        Self { rings }
    }

    pub(crate) fn push(&self, value: Result<T>, stop: &AtomicBool) {
        if let Some((last, rest)) = self.rings.split_last() {
            for r in rest {
                r.push(value.clone(), stop);
            }
            last.push(value, stop);
        }
    }
}

/// What a step did.
pub(crate) enum Outcome {
    Done,
    /// The graph is being torn down and this step's inputs ran out.
    Stopped,
    /// The method panicked: the instance is lost.
    Panicked(String),
}

/// One bound method call of actor `A`, run once per execution.
pub(crate) trait Step<A>: Send {
    fn run(&mut self, instance: Option<&mut A>, dead: Option<&Error>, stop: &AtomicBool)
    -> Outcome;
}

pub(crate) struct CallOp<A, T> {
    pub(crate) method: &'static str,
    pub(crate) f: MethodFn<A, T>,
    pub(crate) readers: Vec<Box<dyn Reader>>,
    /// The input, read and dropped, for a call whose arguments are all constants.
    pub(crate) trigger: Option<Box<dyn Reader>>,
    pub(crate) out: Writer<T>,
}

impl<A: Send, T: Clone + Send> Step<A> for CallOp<A, T> {
    fn run(
        &mut self,
        instance: Option<&mut A>,
        dead: Option<&Error>,
        stop: &AtomicBool,
    ) -> Outcome {
        if let Some(t) = &mut self.trigger
            && !t.fetch(stop)
        {
            return Outcome::Stopped;
        }
        for r in &mut self.readers {
            if !r.fetch(stop) {
                return Outcome::Stopped;
            }
        }
        let failed = self.readers.iter().find_map(|r| r.failed()).cloned();
        let (result, outcome) = match (instance, failed, dead) {
            (_, Some(e), _) => (Err(e), Outcome::Done),
            (_, None, Some(dead)) => (Err(dead.clone()), Outcome::Done),
            (None, None, None) => (
                Err(Error::InvalidArgument("the instance is gone".into())),
                Outcome::Done,
            ),
            (Some(a), None, None) => {
                let mut args = DagArgs {
                    readers: &mut self.readers,
                    next: 0,
                    method: self.method,
                };
                let f = &self.f;
                match std::panic::catch_unwind(AssertUnwindSafe(|| f(a, &mut args))) {
                    Ok(r) => (r, Outcome::Done),
                    Err(p) => {
                        let message = panic_message(&*p);
                        let reason = format!("method `{}` panicked: {message}", self.method);
                        let err = Error::TaskPanicked {
                            function: self.method.to_string(),
                            message,
                        };
                        (Err(err), Outcome::Panicked(reason))
                    }
                }
            }
        };
        self.out.push(result, stop);
        outcome
    }
}

/// An actor of a graph, its class erased.
pub(crate) trait DagActor: Send + Sync {
    fn id(&self) -> ActorId;
    /// Takes the instance from its host, once the calls queued before have run.
    fn lend(&self) -> Result<Box<dyn Lent>>;
}

/// An instance on loan, before its loop starts.
pub(crate) trait Lent: Send {
    /// Starts the loop thread running `steps` (each a `Box<dyn Step<A>>`).
    fn start(self: Box<Self>, steps: Vec<AnyStep>, stop: Arc<AtomicBool>)
    -> Result<JoinHandle<()>>;
    /// Gives the instance back unused (the graph did not compile).
    fn give_back(self: Box<Self>);
}

impl<A: RemoteActor> DagActor for ActorHandle<A> {
    fn id(&self) -> ActorId {
        self.cell().id
    }

    fn lend(&self) -> Result<Box<dyn Lent>> {
        let cell = self.cell();
        if cell.is_remote() {
            return Err(DagError::RemoteActor { actor_id: cell.id }.into());
        }
        let addr = cell.addr.clone()?;
        let (reply, rx) = oneshot::channel();
        addr.do_send(LendInstance { reply });
        let died = || Error::ActorDied {
            actor_id: cell.id,
            reason: "the actor stopped before the graph compiled".into(),
        };
        let loan = block_on(rx).map_err(|_| died())??;
        Ok(Box::new(Loaned { loan, addr }))
    }
}

struct Loaned<A: RemoteActor> {
    loan: Loan<A>,
    addr: actix::Addr<crate::actors::ActorHost<A>>,
}

impl<A: RemoteActor> Lent for Loaned<A> {
    fn start(
        self: Box<Self>,
        steps: Vec<AnyStep>,
        stop: Arc<AtomicBool>,
    ) -> Result<JoinHandle<()>> {
        let actor_id = self.loan.actor_id;
        let typed: Vec<Box<dyn Step<A>>> = steps
            .into_iter()
            .map(|s| s.downcast::<Box<dyn Step<A>>>().map(|b| *b))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| DagError::TypeMismatch {
                method: A::CLASS.to_string(),
            })?;
        let Loaned { loan, addr } = *self;
        let thread_error = |e: std::io::Error| DagError::Thread {
            actor_id,
            reason: e.to_string(),
        };
        // The loan moves into the thread; if spawning fails, the closure (and with it
        // the instance) is dropped, and the host learns it was lost.
        let returned = addr.clone();
        std::thread::Builder::new()
            .name(format!("ray-dag-{}", A::CLASS))
            .spawn(move || run_loop(loan, typed, &stop, &addr))
            .map_err(|e| {
                returned.do_send(ReturnInstance {
                    instance: Err(format!("its compiled-graph thread did not start: {e}")),
                });
                thread_error(e).into()
            })
    }

    fn give_back(self: Box<Self>) {
        self.addr.do_send(ReturnInstance {
            instance: Ok(self.loan.instance),
        });
    }
}

/// The loop of one actor: every step once per execution, until the graph stops; then
/// the instance goes back to its host (or the host learns why it was lost).
fn run_loop<A: RemoteActor>(
    loan: Loan<A>,
    mut steps: Vec<Box<dyn Step<A>>>,
    stop: &AtomicBool,
    host: &actix::Addr<crate::actors::ActorHost<A>>,
) {
    let Loan {
        actor_id,
        instance,
        context,
        killed,
    } = loan;
    let span = tracing::info_span!("dag.loop", actor_id = %actor_id, node_id = %context.node.id, class = A::CLASS);
    let _entered = span.enter();
    set_thread_context(Some(context));
    tracing::debug!("compiled-graph loop started");
    let mut instance = Some(instance);
    let mut lost: Option<String> = None;
    let mut dead: Option<Error> = None;
    'executions: loop {
        for step in &mut steps {
            if dead.is_none() && killed.load(Ordering::Relaxed) {
                instance = None;
                let reason = "the actor was killed".to_string();
                dead = Some(Error::ActorDied {
                    actor_id,
                    reason: reason.clone(),
                });
                lost = Some(reason);
            }
            match step.run(instance.as_mut(), dead.as_ref(), stop) {
                Outcome::Done => {}
                Outcome::Stopped => break 'executions,
                Outcome::Panicked(reason) => {
                    tracing::warn!(%reason, "actor died in a compiled graph");
                    instance = None;
                    dead = Some(Error::ActorDied {
                        actor_id,
                        reason: reason.clone(),
                    });
                    lost = Some(reason);
                }
            }
        }
    }
    tracing::debug!("compiled-graph loop stopped");
    set_thread_context(None);
    let instance = match (instance, lost) {
        (Some(a), _) => Ok(a),
        (None, reason) => Err(reason.unwrap_or_else(|| "its instance was lost".into())),
    };
    host.do_send(ReturnInstance { instance });
}
