//! Embedding the runtime in an actix-web server: handlers submit tasks and actor calls and
//! `.await` the `ObjectRef`s, which never blocks the server's executor threads.
//!
//! Run: `cargo run --example actix_web` then `curl 127.0.0.1:8080/square/12` (prints
//! `144`) and `curl -X POST 127.0.0.1:8080/hits` (a counter actor). Set `PORT` to choose
//! the port (`0` picks a free one; the bound address is printed).

use actix_web::{App, HttpResponse, HttpServer, get, post, web};
use ray::prelude::*;

#[ray::remote]
fn square(x: i64) -> i64 {
    x * x
}

/// Counts requests; one instance shared by all handlers.
pub struct Hits {
    n: u64,
}

#[ray::remote]
impl Hits {
    pub fn new() -> Self {
        Hits { n: 0 }
    }
    pub fn hit(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

#[get("/square/{x}")]
async fn square_handler(x: web::Path<i64>) -> HttpResponse {
    match square.remote(x.into_inner()).await {
        Ok(v) => HttpResponse::Ok().body(v.to_string()),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

#[post("/hits")]
async fn hits_handler(hits: web::Data<ActorHandle<Hits>>) -> HttpResponse {
    match hits.hit.remote().await {
        Ok(v) => HttpResponse::Ok().body(v.to_string()),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    ray::init()?;
    let hits = web::Data::new(Hits::remote());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(hits.clone())
            .service(square_handler)
            .service(hits_handler)
    })
    .workers(2)
    .bind(("127.0.0.1", port))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await?;
    ray::shutdown();
    Ok(())
}
