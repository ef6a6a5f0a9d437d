//! `ray` from a tokio program: `#[tokio::test]` on the multi-threaded runtime (what
//! `#[tokio::main]` builds) submits tasks and actor calls and `.await`s refs, also from
//! tasks it `tokio::spawn`s, which needs every future the API returns to be `Send`
//! (asserted at compile time below). A sync task that blocks on a runtime of its own
//! fails with a message saying what works, and both things that work are shown.

mod common;

use std::future::IntoFuture;
use std::time::Duration;

use futures::StreamExt;
use ray::prelude::*;

#[ray::remote]
fn square(x: u64) -> u64 {
    x * x
}

#[ray::remote]
async fn slow_double(x: u64) -> u64 {
    // tokio's timer works inside async tasks: they run on tokio threads.
    tokio::time::sleep(Duration::from_millis(10)).await;
    x * 2
}

#[ray::remote(streaming)]
fn count_to(n: u64) -> impl Iterator<Item = u64> {
    0..n
}

pub struct Counter {
    n: u64,
}

#[ray::remote]
impl Counter {
    pub fn new() -> Self {
        Counter { n: 0 }
    }

    pub fn incr(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }
}

fn assert_send<T: Send>(_: &T) {}

/// Every future (and stream) the API hands out can move between threads.
#[test]
fn every_future_the_api_returns_is_send() {
    let _ray = common::init(2.0);
    let r = square.remote(3);
    assert_send(&(&r).into_future());
    assert_send(&r.clone().into_future());
    let refs = vec![r.clone()];
    assert_send(&ray::wait_async(&refs, 1, None));
    assert_send(&ray::get_actor_async::<Counter>("nobody"));
    let create = Counter::options().remote_async();
    assert_send(&create);
    let mut stream = count_to.remote(2);
    assert_send(&stream);
    assert_send(&StreamExt::next(&mut stream));
    let counter = Counter::remote();
    assert_send(&counter.incr.remote(1).into_future());
    assert_send(&counter);
    drop(create);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokio_program_awaits_tasks_actors_and_streams() {
    let _ray = common::init(2.0);
    // Tasks, awaited in place and from spawned tokio tasks on other threads.
    let refs: Vec<_> = (0..8).map(|i| square.remote(i)).collect();
    let mut handles = Vec::new();
    for r in refs {
        handles.push(tokio::spawn(async move { r.await }));
    }
    let mut got = Vec::new();
    for h in handles {
        got.push(h.await.expect("join").expect("task"));
    }
    assert_eq!(got, (0..8u64).map(|i| i * i).collect::<Vec<_>>());
    assert_eq!(slow_double.remote(21).await.unwrap(), 42);
    // Refs passed on without awaiting them.
    assert_eq!(square.remote(slow_double.remote(3)).await.unwrap(), 36);
    // Actors: created without blocking, called in order, found by name.
    let counter = Counter::options()
        .name("tokio-counter")
        .remote_async()
        .await
        .unwrap();
    for _ in 0..4 {
        let _ = counter.incr.remote(1);
    }
    assert_eq!(counter.incr.remote(1).await.unwrap(), 5);
    let found = ray::get_actor_async::<Counter>("tokio-counter")
        .await
        .unwrap();
    assert_eq!(found.incr.remote(10).await.unwrap(), 15);
    // wait_async and a streaming task.
    let refs: Vec<_> = (0..3).map(|i| slow_double.remote(i)).collect();
    let (ready, _) = ray::wait_async(&refs, 3, Some(common::LONG)).await.unwrap();
    assert_eq!(ready.len(), 3);
    let items: Vec<u64> = StreamExt::then(count_to.remote(4), |r| async move { r.await.unwrap() })
        .collect()
        .await;
    assert_eq!(items, [0, 1, 2, 3]);
}

/// Blocks on a runtime of its own in a sync task: tokio refuses (a panic) on the node's
/// tokio thread.
#[ray::remote]
fn blocks_on_its_own_runtime(x: u64) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move { x + 1 })
}

/// What works in a sync task: the runtime on a thread of its own.
#[ray::remote]
fn runtime_on_its_own_thread(x: u64) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    std::thread::spawn(move || {
        rt.block_on(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            x + 1
        })
    })
    .join()
    .expect("the runtime's thread")
}

/// What works best: an async task doing tokio I/O (a loopback TCP echo here, as
/// `reqwest`'s async client would).
#[ray::remote]
async fn tcp_round_trip(msg: String) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0; 64];
        let n = s.read(&mut buf).await.expect("read");
        s.write_all(&buf[..n]).await.expect("write");
    });
    let mut c = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    c.write_all(msg.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut back = vec![0; msg.len()];
    c.read_exact(&mut back).await.map_err(|e| e.to_string())?;
    server.await.map_err(|e| e.to_string())?;
    String::from_utf8(back).map_err(|e| e.to_string())
}

#[test]
fn a_sync_task_blocking_on_its_own_runtime_fails_with_what_to_do() {
    let _ray = common::init(2.0);
    let err = ray::get(&blocks_on_its_own_runtime.remote(1)).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("async fn") && text.contains("thread of its own"),
        "{text}"
    );
    // The node survives it, and the two ways that work do.
    assert_eq!(ray::get(&runtime_on_its_own_thread.remote(1)).unwrap(), 2);
    assert_eq!(
        ray::get(&tcp_round_trip.remote("ping".to_string())).unwrap(),
        "ping"
    );
}
