//! The dashboard: an actix-web server that every head and every embedded runtime serves
//! on 127.0.0.1:8265 (or the next free port), with the page users open in a browser, the
//! JSON state API behind it, and Prometheus `/metrics`.
//!
//! It binds loopback only and has no endpoint that changes anything, runs code or reads
//! files (the class of Ray's CVE-2023-48022); `Config::dashboard(false)` turns it off.

mod metrics;
mod state;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Weak};

use actix_web::{App, HttpResponse, HttpServer, web};

use crate::runtime::Node;
use crate::{Error, Result};

/// The port Ray's dashboard uses; the next free one is taken when it is busy.
pub(crate) const DEFAULT_PORT: u16 = 8265;
/// How many ports past the first are tried.
const PORTS_TRIED: u16 = 100;

const INDEX: &str = include_str!("dashboard/index.html");

/// Binds the dashboard for `node` and starts serving it on the node's actix system;
/// returns the address and the handle that stops it.
pub(crate) fn start(
    node: &Arc<Node>,
    first_port: u16,
) -> Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let listener = (0..PORTS_TRIED)
        .filter_map(|i| first_port.checked_add(i))
        .find_map(|port| TcpListener::bind(("127.0.0.1", port)).ok())
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
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(weak.clone()))
            .route("/", web::get().to(index))
            .route("/api/cluster", web::get().to(state::cluster))
            .route("/api/tasks", web::get().to(state::tasks))
            .route("/api/actors", web::get().to(state::actors))
            .route("/metrics", web::get().to(metrics::metrics))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(|e| Error::InvalidArgument(format!("dashboard: {e}")))?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(node_id = %node.id, url = %format!("http://{addr}"), "dashboard serving");
    Ok((addr, handle))
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
