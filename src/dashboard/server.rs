//! The dashboard's HTTP server (actix-web, the `dashboard` feature): the page, the state
//! API under `/api/`, `/metrics`, and the two mutating endpoints (`server/actions.rs`),
//! behind the token and origin checks described in `dashboard.rs`.

mod actions;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Weak};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, guard, web};

use super::{Refused, api, metrics};
use crate::node::Node;
use crate::{Error, Result};

/// How many ports past the first are tried.
const PORTS_TRIED: u16 = 100;

const INDEX: &str = include_str!("index.html");
/// The page's plots (`/plots.js`): inline SVG, no library, so the page works offline.
const PLOTS: &str = include_str!("plots.js");

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

/// The node behind a request, while it runs.
pub(crate) fn node_of(data: &web::Data<Weak<Node>>) -> Option<Arc<Node>> {
    data.upgrade()
}

/// The answer while the node is going away.
pub(crate) fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().body("the node is shutting down")
}

/// Compares without stopping at the first difference (the token is a secret).
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
