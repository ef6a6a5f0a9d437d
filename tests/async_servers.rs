//! Every ray call a server handler makes, awaited without blocking its executor: from
//! a single-threaded tokio runtime and from an actix-web server with one worker, while
//! a concurrent tick or request is answered within a stated bound (250 ms, room for a
//! loaded CI machine) during a 1 s task.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ray::prelude::*;

/// Longer than the bound: a handler that blocked on it would miss the bound.
const SLOW_MS: u64 = 1000;
const BOUND: Duration = Duration::from_millis(250);

#[ray::remote]
fn slow(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(SLOW_MS));
    x * 2
}

pub struct Named {
    n: u64,
}

#[ray::remote]
impl Named {
    pub fn new() -> Self {
        Named { n: 0 }
    }

    pub fn bump(&mut self) -> u64 {
        std::thread::sleep(Duration::from_millis(SLOW_MS / 4));
        self.n += 1;
        self.n
    }
}

/// What a handler does: a task, a named actor found and called, a fresh actor waited
/// for, a wait with a timeout, a put read back. Returns a summary to check.
async fn handler_work() -> ray::Result<String> {
    let task = slow.remote(21);
    let named = ray::get_actor_async::<Named>("svc").await?;
    let fresh = Named::remote();
    fresh.ready().await?;
    let (ready, rest) = ray::wait_async(
        std::slice::from_ref(&task),
        1,
        Some(Duration::from_millis(10)),
    )
    .await?;
    let (ready_late, _) = ray::wait_async(std::slice::from_ref(&task), 1, None).await?;
    let doubled = task.await?;
    let bumped = named.bump.remote().await?;
    let stored = ray::put(vec![1u8, 2, 3]).await?;
    // A named actor created without blocking; the name is then taken.
    static CREATED: AtomicU64 = AtomicU64::new(0);
    let name = format!("made-{}", CREATED.fetch_add(1, Ordering::SeqCst));
    let made = Named::options().name(&name).remote_async().await?;
    made.bump.remote().await?;
    match Named::options().name(&name).remote_async().await {
        Err(ray::Error::ActorNameTaken { .. }) => {}
        other => panic!("a second `{name}`: {:?}", other.map(|_| ())),
    }
    Ok(format!(
        "{doubled} {bumped} {} {} {} {}",
        ready.len(),
        rest.len(),
        ready_late.len(),
        stored.len()
    ))
}

#[test]
fn a_single_threaded_tokio_runtime_keeps_ticking_while_it_awaits_ray() {
    let _ray = common::init(4.0);
    let _svc = Named::options().name("svc").remote();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (summary, worst) = rt.block_on(async {
        let worst = Arc::new(AtomicU64::new(0));
        let w = worst.clone();
        let ticker = tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let gap = last.elapsed().as_micros() as u64;
                w.fetch_max(gap, Ordering::Relaxed);
                last = Instant::now();
            }
        });
        let t0 = Instant::now();
        let summary = handler_work().await;
        assert!(t0.elapsed() >= Duration::from_millis(SLOW_MS));
        ticker.abort();
        (
            summary,
            Duration::from_micros(worst.load(Ordering::Relaxed)),
        )
    });
    assert_eq!(summary.unwrap(), "42 1 0 1 1 3");
    assert!(worst < BOUND, "the runtime stalled for {worst:?}");
}

#[test]
fn an_actix_web_server_with_one_worker_answers_while_a_handler_awaits_ray() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let _ray = common::init(4.0);
    let _svc = Named::options().name("svc").remote();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let server = HttpServer::new(|| {
                App::new()
                    .route(
                        "/work",
                        web::get().to(|| async {
                            match handler_work().await {
                                Ok(s) => HttpResponse::Ok().body(s),
                                Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
                            }
                        }),
                    )
                    .route("/ping", web::get().to(|| async { "pong" }))
            })
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        })
    });
    let addr = format!("http://{}", rx.recv().unwrap());
    let work = {
        let addr = addr.clone();
        std::thread::spawn(move || common::http_get(&addr, "/work"))
    };
    // Pings while the handler awaits: each answered within the bound.
    std::thread::sleep(Duration::from_millis(50));
    let mut worst = Duration::ZERO;
    while !work.is_finished() {
        let t0 = Instant::now();
        let (status, body) = common::http_get(&addr, "/ping");
        assert_eq!((status, body.as_str()), (200, "pong"));
        worst = worst.max(t0.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, body) = work.join().unwrap();
    assert_eq!((status, body.as_str()), (200, "42 1 0 1 1 3"));
    assert!(worst < BOUND, "a ping took {worst:?}");
}

/// In a cluster a name is registered with the head: `remote_async` does that off the
/// caller's executor, and a name taken anywhere is its `Err`.
#[test]
fn named_actors_are_created_without_blocking_in_a_cluster() {
    let (cluster, _nodes) = common::two_nodes_with("a");
    let _ray = common::join(&cluster.address());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let a = Named::options()
            .name("shared")
            .remote_async()
            .await
            .unwrap();
        assert_eq!(a.bump.remote().await.unwrap(), 1);
        let again = Named::options().name("shared").remote_async().await;
        assert!(
            matches!(again, Err(ray::Error::ActorNameTaken { .. })),
            "{:?}",
            again.map(|_| ())
        );
        let found = ray::get_actor_async::<Named>("shared").await.unwrap();
        assert_eq!(found.bump.remote().await.unwrap(), 2);
    });
}
