//! The dashboard: an actix-web server that every head and every embedded runtime serves
//! on 127.0.0.1:8265 (or the next free port), with the page users open in a browser, the
//! JSON state API behind it, and Prometheus `/metrics`.
//!
//! It binds loopback unless told otherwise (`Config::dashboard_host`); bound anywhere
//! else, every request must carry the cluster's token. The two endpoints that change
//! something (kill an actor, cancel a task: `actions.rs`) always need the token, in the
//! `Authorization` header only, and refuse other origins, so no other web page can make
//! a browser call them (CSRF). No endpoint runs code, and the only file any reads is the
//! node's own log (the class of Ray's CVE-2023-48022). `Config::dashboard(false)` turns
//! it off.
//!
//! The state API (`api`, `state`, the lists in `state.rs`, `objects.rs`, `logs.rs`,
//! `history.rs`, `jobs.rs`) is plain Rust over the node's actors: `ray::util::state`,
//! the CLI and other nodes' queries use it in any build. Only `server.rs` (and
//! `/metrics`, `metrics.rs`) speak HTTP, with the `dashboard` feature.

mod actions;
#[cfg(feature = "dashboard")]
mod exposition;
mod history;
mod jobs;
mod logs;
#[cfg(feature = "dashboard")]
mod metrics;
mod objects;
pub(crate) mod rows;
#[cfg(feature = "dashboard")]
mod server;
mod state;
pub(crate) mod user_metrics;

#[cfg(feature = "dashboard")]
pub(crate) use server::start;
pub(crate) use state::answer_state;

use std::sync::Arc;

use crate::node::Node;
use crate::{Error, Result};

/// The port Ray's dashboard uses; the next free one is taken when it is busy.
pub(crate) const DEFAULT_PORT: u16 = 8265;

/// Why a state query has no answer: the HTTP status and what to say.
pub(crate) struct Refused(pub(crate) u16, pub(crate) String);

/// A state query's answer: JSON, or why not.
pub(crate) type Answer = std::result::Result<serde_json::Value, Refused>;

fn gone() -> Refused {
    Refused(503, "the node is shutting down".into())
}

fn bad(filters: &str) -> Refused {
    Refused(400, format!("bad query: {filters}"))
}

/// The most entries one list answer carries (Ray's state API caps `limit` at the same
/// 10,000): a bigger `limit` would make a node copy its whole table under a lock.
pub(crate) const MAX_LIMIT: usize = 10_000;

/// A list's `limit` (default 100), refused above [`MAX_LIMIT`].
fn limit(asked: Option<usize>) -> std::result::Result<usize, Refused> {
    match asked.unwrap_or(100) {
        n if n > MAX_LIMIT => Err(Refused(
            400,
            format!("limit {n} is over the most one answer gives ({MAX_LIMIT}): ask for fewer"),
        )),
        n => Ok(n),
    }
}

fn json(v: impl serde::Serialize) -> Answer {
    serde_json::to_value(v).map_err(|e| Refused(500, e.to_string()))
}

/// One state query of the cluster as `node` sees it: `what` is the part of the path
/// after `/api/`, `query` its query string. The dashboard serves these over HTTP; the
/// CLI asks them of a node of its own that joined the cluster ([`state`]).
pub(crate) async fn api(node: &Arc<Node>, what: &str, query: &str) -> Answer {
    match what {
        "cluster" => state::cluster(node).await,
        "tasks" => state::tasks(node, query).await,
        "actors" => state::actors(node, query).await,
        "objects" => objects::objects(node, query).await,
        "logs" => logs::logs(node, query).await,
        "timeline" => state::timeline(node).await,
        "placement_groups" => state::placement_groups(node).await,
        "jobs" => jobs::jobs(node).await,
        "history" => history::history(node).await,
        _ => Err(Refused(404, format!("no state `{what}`"))),
    }
}

/// A state query (see `api`) from outside the runtime: answered on the caller's node,
/// which asks the other nodes over the cluster's links. What `ray list`, `ray memory`,
/// `ray logs` and `ray timeline` use.
///
/// # Errors
/// [`Error::InvalidArgument`] for an unknown query or bad filters,
/// [`Error::ShutDown`] when the runtime stops meanwhile.
pub fn state(what: &str, query: &str) -> Result<serde_json::Value> {
    let (what, query) = (what.to_string(), query.to_string());
    match on_node(move |node| Box::pin(async move { api(&node, &what, &query).await })) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Refused(503, _))) | Err(_) => Err(Error::ShutDown),
        Ok(Err(Refused(_, why))) => Err(Error::InvalidArgument(why)),
    }
}

/// Kills actor `actor_id` wherever in the cluster it lives, from outside the runtime
/// (`ray kill-actor`): as a crash that restarts it while its `max_restarts` allows, or
/// (`no_restart`) for good, as [`crate::kill_with`] does with a handle. Nothing says
/// whether such an actor exists: the caller checks the actor list.
///
/// # Errors
/// [`Error::NotConnected`] when this node is in no cluster and does not host it,
/// [`Error::ShutDown`] when the runtime stops meanwhile.
pub fn kill_actor(actor_id: crate::ActorId, no_restart: bool) -> Result<()> {
    let killed = on_node(move |node| {
        Box::pin(async move {
            actions::kill_anywhere(&node, actor_id, !no_restart, "`ray kill-actor`").await
        })
    })?;
    killed.map(drop).ok_or_else(|| {
        Error::NotConnected(format!(
            "no actor {actor_id} on this node, which is in no cluster"
        ))
    })
}

/// Cancels task `task_id` from outside the runtime (`ray cancel`): every live node and
/// driver is asked, and the one that owns it cancels it as [`crate::cancel_with`] does
/// with its ref (`force`, `recursive` as there). How many nodes took the request.
///
/// # Errors
/// [`Error::ShutDown`] when the runtime stops meanwhile.
pub fn cancel_task(task_id: crate::TaskId, force: bool, recursive: bool) -> Result<usize> {
    on_node(move |node| {
        Box::pin(async move { actions::cancel_anywhere(&node, task_id, force, recursive).await })
    })
}

/// Runs `work` on this process's node, on the node's own thread (it uses the node's
/// actix runtime), and blocks until it is done.
fn on_node<T: Send + 'static>(
    work: impl FnOnce(Arc<Node>) -> futures::future::LocalBoxFuture<'static, T> + Send + 'static,
) -> Result<T> {
    let node = crate::node::current_node()?;
    let (tx, rx) = futures::channel::oneshot::channel();
    // The work's future stays on that thread: started there, it need not be `Send`.
    let here = node.clone();
    node.system.arbiter().spawn_fn(move || {
        actix_rt::spawn(async move {
            let _ = tx.send(work(here).await);
        });
    });
    crate::node::block_on(rx).map_err(|_| Error::ShutDown)
}
