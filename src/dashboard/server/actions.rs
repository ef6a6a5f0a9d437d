//! The dashboard's only endpoints that change anything: `POST /api/actors/{id}/kill`
//! and `POST /api/tasks/{id}/cancel`. Each needs the dashboard's token in the
//! `Authorization` header (never in the URL, which a link or a form could carry), and a
//! request from another page's origin is refused: a browser sends neither a custom
//! header nor a cross-origin `Origin` match without the server's CORS consent, which this
//! server never gives, so another site cannot make a visitor's browser call them.

use std::sync::{Arc, Weak};

use actix_web::{HttpRequest, HttpResponse, web};

use super::{node_of, same, unavailable};
use crate::actors::CancelTask;
use crate::actors::NodeActors;
use crate::dashboard::actions::kill_anywhere;
use crate::ids::{ActorId, TaskId};
use crate::node::Node;

/// What a mutating request must show.
#[derive(Clone)]
pub(super) struct Guard {
    pub(super) token: String,
    /// The dashboard's own origin (`http://host:port`).
    pub(super) origin: String,
}

impl Guard {
    /// `None` when the request may act, else the refusal.
    fn refuse(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let headers = req.headers();
        let foreign = headers
            .get("origin")
            .is_some_and(|o| o.to_str().map_or(true, |o| o != self.origin));
        if foreign {
            return Some(HttpResponse::Forbidden().body("requests from other origins are refused"));
        }
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match bearer {
            Some(given) if same(given.as_bytes(), self.token.as_bytes()) => None,
            _ => Some(HttpResponse::Unauthorized().body(
                "this endpoint needs the dashboard's token: Authorization: Bearer TOKEN \
                 (runtime_context().dashboard_token(); a head's is its cluster token)",
            )),
        }
    }
}

/// What every mutating request goes through: the guard, the node, and the id in its
/// path read by `parse`; the refusal otherwise.
fn admit<I>(
    data: &web::Data<Weak<Node>>,
    guard: &Guard,
    req: &HttpRequest,
    id: &str,
    parse: fn(&str) -> Option<I>,
) -> Result<(Arc<Node>, I), Box<HttpResponse>> {
    if let Some(no) = guard.refuse(req) {
        return Err(Box::new(no));
    }
    let node = node_of(data).ok_or_else(unavailable)?;
    let id =
        parse(id).ok_or_else(|| HttpResponse::BadRequest().body(format!("`{id}` is not an id")))?;
    Ok((node, id))
}

/// `POST /api/actors/{id}/kill`: kills the actor at once, without restarting it, as
/// `ray::kill` does; wherever in the cluster it lives.
pub(super) async fn kill_actor(
    data: web::Data<Weak<Node>>,
    guard: web::Data<Guard>,
    id: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let (node, actor_id) = match admit(&data, &guard, &req, &id, ActorId::parse) {
        Ok(admitted) => admitted,
        Err(no) => return *no,
    };
    match kill_anywhere(&node, actor_id, false, "the dashboard").await {
        Some(true) => {
            tracing::warn!(node_id = %node.id, %actor_id, "actor killed from the dashboard");
            HttpResponse::Ok().json(serde_json::json!({ "killed": actor_id.to_string() }))
        }
        Some(false) => {
            tracing::warn!(node_id = %node.id, %actor_id, "actor kill sent from the dashboard");
            HttpResponse::Accepted().json(serde_json::json!({ "kill_sent": actor_id.to_string() }))
        }
        None => HttpResponse::NotFound().body(format!("no actor {actor_id} on this node")),
    }
}

/// `POST /api/tasks/{id}/cancel`: cancels a task this node queued or runs, as
/// `ray::cancel` does (a running sync body sees `is_canceled()`, an async one stops).
pub(super) async fn cancel_task(
    data: web::Data<Weak<Node>>,
    guard: web::Data<Guard>,
    id: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let (node, task_id) = match admit(&data, &guard, &req, &id, TaskId::parse) {
        Ok(admitted) => admitted,
        Err(no) => return *no,
    };
    node.actors().manager.do_send(CancelTask {
        task_id,
        force: false,
        recursive: true,
    });
    tracing::warn!(node_id = %node.id, %task_id, "task cancel sent from the dashboard");
    HttpResponse::Accepted().json(serde_json::json!({ "cancel_sent": task_id.to_string() }))
}
