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
mod logs;
mod metrics;
mod objects;
mod state;

pub(crate) use state::local_state;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Weak};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, guard, web};

use crate::runtime::Node;
use crate::{Error, Result};

/// The port Ray's dashboard uses; the next free one is taken when it is busy.
pub(crate) const DEFAULT_PORT: u16 = 8265;
/// How many ports past the first are tried.
const PORTS_TRIED: u16 = 100;

const INDEX: &str = include_str!("dashboard/index.html");

/// A node's dashboard: where it serves, its token (which the mutating endpoints always
/// need, and every request when bound beyond loopback), and the handle that stops it.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    pub(crate) token: String,
    pub(crate) handle: actix_web::dev::ServerHandle,
}

/// Binds the dashboard for `node` on `host` and starts serving it on the node's actix
/// system.
pub(crate) fn start(node: &Arc<Node>, host: &str, first_port: u16) -> Result<Served> {
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    // The cluster's token (a head's join token, else a new one).
    let token = match node.join_address.get() {
        Some(j) => j.token.clone(),
        None => crate::actors::random_token()?,
    };
    let listener = (0..PORTS_TRIED)
        .filter_map(|i| first_port.checked_add(i))
        .find_map(|port| TcpListener::bind((host, port)).ok())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no free port for the dashboard in {first_port}..{}",
                first_port.saturating_add(PORTS_TRIED)
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::InvalidArgument(format!("dashboard address: {e}")))?;
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
            .app_data(web::Data::new(weak.clone()))
            .app_data(web::Data::new(actions.clone()))
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
                    .route("/", web::get().to(index))
                    .route("/api/cluster", web::get().to(state::cluster))
                    .route("/api/tasks", web::get().to(state::tasks))
                    .route("/api/actors", web::get().to(state::actors))
                    .route("/api/objects", web::get().to(objects::objects))
                    .route("/api/logs", web::get().to(logs::logs))
                    .route("/api/timeline", web::get().to(state::timeline))
                    .route(
                        "/api/placement_groups",
                        web::get().to(state::placement_groups),
                    )
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
    Ok(Served {
        addr,
        token,
        handle,
    })
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

/// Compares without stopping at the first difference (the token is a secret).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(INDEX)
}

/// The node behind a request, while it runs.
pub(crate) fn node_of(data: &web::Data<Weak<Node>>) -> Option<Arc<Node>> {
    data.upgrade()
}

/// The answer while the node is going away.
pub(crate) fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().body("the node is shutting down")
}
