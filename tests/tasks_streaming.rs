//! Streaming generators: `#[ray::remote(streaming)]` over iterators and streams.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ray::Error;
use ray::prelude::*;

#[ray::remote(streaming)]
fn count_up(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

#[ray::remote(streaming)]
fn split_words(text: String) -> impl Iterator<Item = String> {
    text.split_whitespace()
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter()
}

#[test]
fn a_sync_generator_yields_refs_in_order() {
    let _ray = common::init(2.0);
    let refs: Vec<ObjectRef<u32>> = count_up.remote(100).collect();
    assert_eq!(refs.len(), 100);
    assert_eq!(ray::get(&refs).unwrap(), (0..100).collect::<Vec<_>>());
    let words: Vec<String> = split_words
        .remote("the quick brown fox".to_string())
        .map(|r| ray::get(&r).unwrap())
        .collect();
    assert_eq!(words, ["the", "quick", "brown", "fox"]);
    assert_eq!(count_up.remote(0).count(), 0);
    // Arguments may be refs too.
    let n = ray::put(3u32);
    let items: Vec<u32> = count_up.remote(&n).map(|r| ray::get(&r).unwrap()).collect();
    assert_eq!(items, [0, 1, 2]);
}

static ITEM_GATE: AtomicBool = AtomicBool::new(false);

#[ray::remote(streaming)]
fn first_then_wait() -> impl Iterator<Item = u32> {
    (0..2).inspect(|i| {
        if *i == 1 {
            common::hold(&ITEM_GATE);
        }
    })
}

#[test]
fn items_arrive_before_the_generator_finishes() {
    let _ray = common::init(2.0);
    let mut stream = first_then_wait.remote();
    // Item 0 is delivered while the generator is still blocked before item 1.
    let first = stream.next().unwrap();
    assert_eq!(ray::get(&first).unwrap(), 0);
    assert!(!ITEM_GATE.load(Ordering::SeqCst));
    ITEM_GATE.store(true, Ordering::SeqCst);
    let second = stream.next().unwrap();
    assert_eq!(ray::get(&second).unwrap(), 1);
    assert!(stream.next().is_none());
}

#[ray::remote(streaming)]
fn squares_stream(n: u64) -> impl futures::Stream<Item = u64> {
    use futures::StreamExt;
    futures::stream::iter(0..n).then(|i| async move {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
        i * i
    })
}

#[ray::remote(streaming)]
async fn labelled_stream(prefix: String, n: u32) -> impl futures::Stream<Item = String> {
    use futures::StreamExt;
    actix_rt::time::sleep(Duration::from_millis(1)).await;
    futures::stream::iter(0..n).map(move |i| format!("{prefix}{i}"))
}

#[ray::remote]
async fn sum_of_stream(n: u64) -> u64 {
    use futures::StreamExt;
    let mut stream = squares_stream.remote(n);
    let mut total = 0;
    while let Some(r) = StreamExt::next(&mut stream).await {
        total += r.await.unwrap();
    }
    total
}

#[test]
fn an_async_stream_generator_is_consumed_as_stream_and_as_iterator() {
    let _ray = common::init(2.0);
    // Inside an async task, with StreamExt and `.await`.
    assert_eq!(
        ray::get_timeout(&sum_of_stream.remote(10), common::LONG).unwrap(),
        285
    );
    // From the driver, as a Stream driven by an ordinary executor.
    let items: Vec<u64> = futures::executor::block_on(async {
        use futures::StreamExt;
        let mut out = Vec::new();
        let mut s = squares_stream.remote(5);
        while let Some(r) = StreamExt::next(&mut s).await {
            out.push(r.await.unwrap());
        }
        out
    });
    assert_eq!(items, [0, 1, 4, 9, 16]);
    // From the driver, as a blocking Iterator.
    let refs: Vec<ObjectRef<u64>> = squares_stream.remote(4).collect();
    assert_eq!(ray::get(&refs).unwrap(), [0, 1, 4, 9]);
    // An `async fn` producing a stream.
    let labels: Vec<String> = labelled_stream
        .remote("x".to_string(), 3)
        .map(|r| ray::get(&r).unwrap())
        .collect();
    assert_eq!(labels, ["x0", "x1", "x2"]);
}

#[ray::remote(streaming)]
fn breaks_at(n: u32) -> impl Iterator<Item = u32> {
    (0..).inspect(move |i| {
        if *i == n {
            panic!("generator broke at {i}");
        }
    })
}

#[ray::remote(streaming)]
fn breaks_async(n: u32) -> impl futures::Stream<Item = u32> {
    use futures::StreamExt;
    futures::stream::iter(0..).map(move |i| {
        if i == n {
            panic!("stream broke at {i}");
        }
        i
    })
}

#[test]
fn a_generator_that_panics_yields_its_items_then_an_error() {
    let _ray = common::init(2.0);
    let refs: Vec<ObjectRef<u32>> = breaks_at.remote(3).collect();
    assert_eq!(refs.len(), 4, "three items and the error");
    assert_eq!(ray::get(&refs[..3]).unwrap(), [0, 1, 2]);
    let err = ray::get(&refs[3]).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(err.to_string().contains("generator broke at 3"), "{err}");

    let refs: Vec<ObjectRef<u32>> =
        futures::executor::block_on(futures::StreamExt::collect(breaks_async.remote(2)));
    assert_eq!(refs.len(), 3, "two items and the error");
    assert_eq!(ray::get(&refs[..2]).unwrap(), [0, 1]);
    assert!(matches!(
        ray::get(&refs[2]),
        Err(Error::TaskPanicked { .. })
    ));
}

#[ray::remote]
fn not_positive(x: i32) -> Result<i32, String> {
    if x > 0 {
        Err(format!("{x} is positive"))
    } else {
        Ok(x)
    }
}

#[test]
fn a_generator_whose_argument_failed_yields_only_the_error() {
    let _ray = common::init(2.0);
    #[ray::remote(streaming)]
    fn repeat(x: i32) -> impl Iterator<Item = i32> {
        std::iter::repeat_n(x, 3)
    }
    let refs: Vec<ObjectRef<i32>> = repeat.remote(not_positive.remote(5)).collect();
    assert_eq!(refs.len(), 1);
    assert_eq!(
        ray::get(&refs[0]).unwrap_err(),
        Error::TaskFailed {
            function: "not_positive".into(),
            message: "5 is positive".into(),
            cause: None,
        }
    );
    let refs: Vec<ObjectRef<i32>> = repeat.remote(not_positive.remote(-5)).collect();
    assert_eq!(ray::get(&refs).unwrap(), [-5, -5, -5]);
}
