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

mod actions;
mod history;
mod jobs;
mod logs;
mod metrics;
mod objects;
pub(crate) mod rows;
mod state;
pub(crate) mod user_metrics;

pub(crate) use state::answer_state;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Weak};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, guard, web};

use crate::node::Node;
use crate::{Error, Result};

/// The port Ray's dashboard uses; the next free one is taken when it is busy.
pub(crate) const DEFAULT_PORT: u16 = 8265;
/// How many ports past the first are tried.
const PORTS_TRIED: u16 = 100;

const INDEX: &str = include_str!("dashboard/index.html");
/// The page's plots (`/plots.js`): inline SVG, no library, so the page works offline.
const PLOTS: &str = include_str!("dashboard/plots.js");

/// Binds the dashboard for `node` on `host` and starts serving it on the node's actix
/// system.
pub(crate) fn start(node: &Arc<Node>, host: &str, first_port: u16) -> Result<crate::node::Served> {
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    // The cluster's token (a head's join token, else a new one).
    let token = match node.join_address.get() {
        Some(j) => j.token.clone(),
        None => crate::actors::random_token()?,
    };
    let (listener, addr) = bind(node, host, first_port)?;
    let weak: Weak<Node> = Arc::downgrade(node);
    // Beyond loopback, reads need the token too.
    let required = (!loopback).then(|| token.clone());
    let actions = actions::Guard {
        token: token.clone(),
        origin: format!("http://{addr}"),
    };
    let server = HttpServer::new(move || {
        let (pass, refuse) = (required.clone(), required.clone());
        App::new()
            // Every answer says what it is, and browsers must not guess otherwise.
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add_content_type(),
            )
            // DNS rebinding: a page of another site whose name resolves to 127.0.0.1
            // reaches a loopback dashboard with its own name as `Host`; answer only to
            // loopback names there (beyond loopback the token guards every answer).
            .wrap_fn(move |req, srv| {
                use actix_web::dev::Service as _;
                use futures::future::{Either, FutureExt as _};
                if !loopback || loopback_host(req.head()) {
                    Either::Left(srv.call(req).map(|r| r.map(|r| r.map_into_left_body())))
                } else {
                    let refused = HttpResponse::Forbidden()
                        .content_type("text/plain; charset=utf-8")
                        .body("this dashboard answers only to localhost")
                        .map_into_right_body();
                    Either::Right(futures::future::ready(Ok(req.into_response(refused))))
                }
            })
            .app_data(web::Data::new(weak.clone()))
            .app_data(web::Data::new(actions.clone()))
            // The page holds no data: it loads anywhere and asks for the token itself.
            .route("/", web::get().to(index))
            .route("/plots.js", web::get().to(plots))
            .route("/api/actors/{id}/kill", web::post().to(actions::kill_actor))
            .route(
                "/api/tasks/{id}/cancel",
                web::post().to(actions::cancel_task),
            )
            .service(
                web::scope("")
                    .guard(guard::fn_guard(move |ctx| {
                        authorized(ctx.head(), pass.as_deref())
                    }))
                    .route("/api/{what}", web::get().to(serve_api))
                    .route("/metrics", web::get().to(metrics::metrics)),
            )
            .default_service(web::to(move |req: HttpRequest| {
                let allowed = authorized(req.head(), refuse.as_deref());
                async move {
                    if allowed {
                        HttpResponse::NotFound().body("no such page")
                    } else {
                        HttpResponse::Unauthorized().body(
                            "this dashboard needs the cluster token: Authorization: Bearer TOKEN",
                        )
                    }
                }
            }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(|e| Error::InvalidArgument(format!("dashboard: {e}")))?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(node_id = %node.id, url = %format!("http://{addr}"), token_required = !loopback, "dashboard serving");
    Ok(crate::node::Served {
        addr,
        token,
        handle,
    })
}

/// The dashboard's socket: `host` on the first free port from `first_port`, and the
/// address its URL names (bound to every interface: the address other hosts reach this
/// node at).
fn bind(node: &Node, host: &str, first_port: u16) -> Result<(TcpListener, SocketAddr)> {
    let listener = (0..PORTS_TRIED)
        .filter_map(|i| first_port.checked_add(i))
        .find_map(|port| TcpListener::bind((host, port)).ok())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no free port for the dashboard in {first_port}..{}",
                first_port.saturating_add(PORTS_TRIED)
            ))
        })?;
    let mut addr = listener
        .local_addr()
        .map_err(|e| Error::InvalidArgument(format!("dashboard address: {e}")))?;
    if addr.ip().is_unspecified()
        && let Some(join) = node.join_address.get()
    {
        addr.set_ip(join.addr.ip());
    }
    Ok((listener, addr))
}

/// Whether a request may be served: always without a token, else with the token as
/// `Authorization: Bearer TOKEN` or `?token=TOKEN`.
fn authorized(head: &actix_web::dev::RequestHead, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let bearer = head
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let query = head
        .uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
    [bearer, query]
        .into_iter()
        .flatten()
        .any(|given| same(given.as_bytes(), token.as_bytes()))
}

/// Whether a request names this machine's loopback as its `Host` (`localhost`,
/// `127.x.y.z`, `[::1]`, with any port).
fn loopback_host(head: &actix_web::dev::RequestHead) -> bool {
    let Some(host) = head.headers().get("host").and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Compares without stopping at the first difference (the token is a secret).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(INDEX)
}

async fn plots() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(PLOTS)
}

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

/// `GET /api/{what}`.
async fn serve_api(
    data: web::Data<Weak<Node>>,
    what: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let Some(node) = node_of(&data) else {
        return unavailable();
    };
    match api(&node, &what, req.query_string()).await {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(Refused(code, why)) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(code)
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
        )
        .body(why),
    }
}

/// A state query (see [`api`]) from outside the runtime: answered on the caller's node,
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

/// The node behind a request, while it runs.
pub(crate) fn node_of(data: &web::Data<Weak<Node>>) -> Option<Arc<Node>> {
    data.upgrade()
}

/// The answer while the node is going away.
pub(crate) fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().body("the node is shutting down")
}
