//! The steps a compiled graph's loops run: one per bound method call, once per
//! execution. Each step reads its arguments from the rings of its edges (or constants)
//! and writes its result to the rings of its consumers; an error replaces the value and
//! flows on, so every execution ends with a result or an error at every output. Which
//! thread runs which steps lives in `executor.rs`.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::DagError;
use super::node::MethodFn;
use super::ring::Ring;
use crate::error::panic_message;
use crate::{Error, Result};

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
    method: &'a str,
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
    /// The instance is lost (the method panicked, or the channel to its node failed).
    Panicked(String),
}

/// One bound method call of actor `A`, run once per execution.
pub(crate) trait Step<A>: Send {
    fn run(&mut self, instance: Option<&mut A>, dead: Option<&Error>, stop: &AtomicBool)
    -> Outcome;
}

pub(crate) struct CallOp<A, T> {
    /// The method (`Class.method`), for errors.
    pub(crate) method: Arc<str>,
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
                    method: &self.method,
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
