//! Cancelling a streaming generator (`ObjectRefStream::cancel`): here, where the node's
//! scheduler is reachable, rather than in `node::stream` below it.

use crate::ObjectRefStream;
use crate::actors::{CancelTask, NodeActors};
use crate::node::current_node;

impl<T> ObjectRefStream<T> {
    /// Cancels the generator, wherever it runs (Ray's `ray.cancel` on a generator): it
    /// stops at its next item, one not started yet never starts, the items not taken
    /// yet are dropped, and the stream ends with one ref whose `get` is a cancellation
    /// error (or the generator's result, when it had finished already).
    ///
    /// # Examples
    /// ```
    /// #[ray::remote(streaming)]
    /// fn forever() -> impl Iterator<Item = u64> { 0.. }
    ///
    /// let mut s = forever.remote();
    /// assert_eq!(ray::get(&s.next().unwrap()).unwrap(), 0);
    /// s.cancel();
    /// let last = s.last().expect("the stream ends with the cancellation");
    /// assert!(ray::get(&last).unwrap_err().is_cancelled());
    /// # ray::shutdown();
    /// ```
    pub fn cancel(&mut self) {
        let Some(done) = self.close_and_drain() else {
            return;
        };
        // A streaming actor method's call is cancelled as actor calls are. A generator
        // on another node stops through its closed window (its pump ends it); the
        // message below then finds nothing here.
        if done.cancel_hook() {
            return;
        }
        if let Ok(node) = current_node() {
            node.actors().manager.do_send(CancelTask {
                task_id: done.id().task_id(),
                force: false,
                recursive: true,
            });
        }
    }
}
