//! The cross-node figures of the microbenchmark (`BENCH_REMOTE`): a worker-node process
//! of this binary runs the tasks and hosts the actor, over QUIC on 127.0.0.1; and raw QUIC
//! throughput between two of our endpoints, measured next to the 1 GiB transfer.

use std::time::{Duration, Instant};

use ray::ActorOptionsBuilder;

use super::{Sink, all_then_get, median, n, noop, one_by_one, repeats, scale};

/// Sums nothing: returns the length of what it was sent (the cross-node transfer test).
#[ray::remote]
fn payload_len(b: serde_bytes::ByteBuf) -> u64 {
    b.len() as u64
}

/// Cross-node figures: this process is a head with no CPUs, and one worker-node process
/// of this same binary (2 CPUs) runs every task, over QUIC on 127.0.0.1.
pub fn remote_figures(put: &mut impl FnMut(&str, f64)) -> anyhow::Result<()> {
    ray::init_with(ray::Config::new().head().num_cpus(0.0))?;
    let address = ray::runtime_context()
        .cluster_address()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no cluster address"))?;
    let mut worker = std::process::Command::new(std::env::current_exe()?)
        .env("RAY_NODE_MODE", "worker")
        .env("RAY_ADDRESS", &address)
        .env("RAY_NUM_CPUS", "2")
        .spawn()?;
    let result = (|| -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while ray::nodes()?.iter().filter(|n| n.alive).count() < 2 {
            anyhow::ensure!(Instant::now() < deadline, "the worker node did not join");
            std::thread::sleep(Duration::from_millis(10));
        }
        put("remote_tasks_sync", one_by_one(n(2_000), || noop.remote()));
        put(
            "remote_tasks_async_10k",
            all_then_get(n(10_000), || noop.remote()),
        );
        // An actor that needs a CPU cannot live on this CPU-less head: it is placed on
        // the worker node, and every call crosses QUIC.
        let sink = Sink::options().num_cpus(1.0).remote();
        sink.ready()?;
        put(
            "remote_actor_calls_sync",
            one_by_one(n(2_000), || sink.ping.remote()),
        );
        put(
            "remote_actor_calls_async_10k",
            all_then_get(n(10_000), || sink.ping.remote()),
        );
        drop(sink);
        let size = if scale() < 1.0 { 64 << 20 } else { 1 << 30 };
        let big = ray::put(serde_bytes::ByteBuf::from(vec![7u8; size]));
        put(
            "remote_transfer_1gib_gbps",
            median(|| {
                let t = Instant::now();
                assert_eq!(
                    ray::get(&payload_len.remote(&big)).expect("transfer"),
                    size as u64
                );
                (size as f64 / 1e9, t.elapsed())
            }),
        );
        Ok(())
    })();
    let _ = worker.kill();
    let _ = worker.wait();
    ray::shutdown();
    result?;
    put("raw_quinn_1gib_gbps", raw_quinn_throughput()?);
    Ok(())
}

/// The machine's QUIC limit in the same run: 1 GiB of bulk data over our transport
/// between two endpoints on 127.0.0.1, with no serialization around it.
fn raw_quinn_throughput() -> anyhow::Result<f64> {
    use futures::FutureExt;
    use ray::transport::{Endpoint, Identity, Service, WireMessage};

    struct Sink;
    impl Service for Sink {
        fn handle(
            &self,
            from: ray::NodeId,
            _msg: WireMessage,
            payload: Vec<u8>,
        ) -> futures::future::BoxFuture<'static, (WireMessage, ray::transport::Bulk)> {
            let n = payload.len();
            async move {
                drop(payload);
                let _ = n;
                (WireMessage::Heartbeat { node_id: from }, Default::default())
            }
            .boxed()
        }
    }
    ray::init()?;
    let node_id = ray::runtime_context().node_id();
    let size = if scale() < 1.0 { 64 << 20 } else { 1 << 30 };
    let data = vec![7u8; size];
    let rate = actix_rt::System::new().block_on(async move {
        let addr = "127.0.0.1:0".parse().expect("addr");
        let endpoint = || {
            Endpoint::bind(
                addr,
                node_id,
                "t".into(),
                Identity::generate()?,
                std::sync::Arc::new(Sink),
            )
        };
        let server = endpoint()?;
        let client = endpoint()?;
        let peer = client.connect(&server.join_address()?).await?;
        let mut rates = Vec::new();
        for _ in 0..repeats() {
            let t = Instant::now();
            peer.request_with(&WireMessage::Heartbeat { node_id }, &data)
                .await?;
            rates.push(size as f64 / 1e9 / t.elapsed().as_secs_f64());
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        Ok::<f64, ray::transport::TransportError>(rates[rates.len() / 2])
    })?;
    ray::shutdown();
    Ok(rate)
}
