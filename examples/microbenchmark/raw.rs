//! The machine's own limits, measured in the same run as the figures: a message round
//! trip from a synchronous caller to another thread, through a bare actix actor and
//! through bare tokio channels (the tokio actix-rt runs on); and bulk throughput between
//! two of our QUIC endpoints with nothing of the runtime around them, in this process or
//! across network namespaces.

use super::{median, n, timed};

/// The machine's own limit: a synchronous caller sending an actix message to an actor on
/// another thread and waiting for the reply, the same hop a sync `get` of a task makes.
pub fn raw_actix_roundtrip() -> f64 {
    use actix::prelude::*;

    struct Echo;
    impl Actor for Echo {
        type Context = Context<Self>;
    }
    #[derive(Message)]
    #[rtype(result = "u64")]
    struct Ping(u64);
    impl Handler<Ping> for Echo {
        type Result = u64;
        fn handle(&mut self, p: Ping, _: &mut Context<Self>) -> u64 {
            p.0
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let th = std::thread::spawn(move || {
        let sys = actix_rt::System::new();
        sys.block_on(async {
            let _ = tx.send((Echo.start(), actix_rt::System::current()));
        });
        let _ = sys.run();
    });
    let Ok((addr, sys)) = rx.recv() else {
        return 0.0;
    };
    let rate = median(|| {
        let k = n(20_000);
        timed(k, || {
            for i in 0..k {
                let _ = futures::executor::block_on(addr.send(Ping(i as u64)));
            }
        })
    });
    sys.stop();
    let _ = th.join();
    rate
}

/// The same hop with nothing of actix around it: a synchronous caller sends a number and
/// a oneshot sender down a tokio mpsc channel to a task on a current-thread runtime on
/// another thread, and parks until the task answers through the oneshot.
pub fn raw_tokio_roundtrip() -> f64 {
    use tokio::sync::{mpsc, oneshot};

    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, oneshot::Sender<u64>)>();
    let th = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
            return;
        };
        rt.block_on(async move {
            while let Some((x, reply)) = rx.recv().await {
                let _ = reply.send(x);
            }
        });
    });
    let rate = median(|| {
        let k = n(20_000);
        timed(k, || {
            for i in 0..k {
                let (reply, answer) = oneshot::channel();
                if tx.send((i as u64, reply)).is_err() {
                    return;
                }
                let _ = futures::executor::block_on(answer);
            }
        })
    });
    // Closing the channel ends the task, then the runtime's thread.
    drop(tx);
    let _ = th.join();
    rate
}

/// What the raw QUIC figure's receiving endpoint does with the bulk data: drops it and
/// answers, on the endpoint's thread or (`hop`, `BENCH_RAW_HOP=1` in a server process)
/// through another thread.
struct Discard {
    hop: Option<actix_rt::ArbiterHandle>,
}

impl ray::transport::Service for Discard {
    fn handle(
        &self,
        from: ray::NodeId,
        _msg: ray::transport::WireMessage,
        payload: Vec<u8>,
    ) -> futures::future::BoxFuture<'static, (ray::transport::WireMessage, ray::transport::Bulk)>
    {
        use futures::FutureExt;
        drop(payload);
        let answer = ray::transport::WireMessage::Heartbeat { node_id: from };
        let Some(hop) = &self.hop else {
            return async move { (answer, Default::default()) }.boxed();
        };
        // Answered once another thread has run, as a hosted actor's call is.
        let (tx, rx) = futures::channel::oneshot::channel();
        hop.spawn(async move {
            let _ = tx.send(());
        });
        async move {
            let _ = rx.await;
            (answer, Default::default())
        }
        .boxed()
    }

    /// Echoes every frame of a channel back on it.
    fn channel(
        &self,
        _from: ray::NodeId,
        _open: ray::transport::WireMessage,
        _payload: Vec<u8>,
        mut channel: ray::transport::Channel,
    ) {
        actix_rt::spawn(async move {
            while let Ok(Some(msg)) = channel.recv().await {
                if channel.send(&msg).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// One of our QUIC endpoints on `addr`, receiving into [`Discard`] (answering through
/// another thread with `hop`). Must be called inside an actix system.
fn raw_endpoint(
    addr: std::net::SocketAddr,
    node_id: ray::NodeId,
    hop: bool,
) -> Result<ray::transport::Endpoint, ray::transport::TransportError> {
    // The arbiter's thread runs until the process ends.
    let hop = hop.then(|| actix_rt::Arbiter::new().handle());
    ray::transport::Endpoint::bind(
        addr,
        node_id,
        "t".into(),
        ray::transport::Identity::generate()?,
        std::sync::Arc::new(Discard { hop }),
    )
}

/// A `BENCH_RAW_SERVER` process of this binary in network namespace `ns` (`ip netns
/// exec`), answering through another thread with `hop`, and its join address (the
/// first `ray://` line it prints). It ends when the returned child's stdin closes.
fn raw_server(
    ns: &str,
    hop: bool,
) -> anyhow::Result<(std::process::Child, ray::transport::JoinAddress)> {
    use std::io::BufRead;
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(std::env::current_exe()?)
        .env("BENCH_RAW_SERVER", "1")
        .env("BENCH_RAW_HOP", if hop { "1" } else { "0" })
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let line = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("ray://"))
        .ok_or_else(|| anyhow::anyhow!("the raw QUIC server printed no address"))?;
    Ok((child, line.parse()?))
}

/// Connects a client endpoint (in this actix system) to the server at `to`, or to one
/// it starts here on 127.0.0.1 (answering through another thread with `hop`); the
/// server endpoint, when here, lives as long as the returned value.
async fn raw_client(
    node_id: ray::NodeId,
    to: Option<ray::transport::JoinAddress>,
    hop: bool,
) -> anyhow::Result<(ray::transport::Peer, Vec<ray::transport::Endpoint>)> {
    let (client, server, to) = match to {
        Some(to) => (
            raw_endpoint("0.0.0.0:0".parse()?, node_id, false)?,
            None,
            to,
        ),
        None => {
            let loopback = "127.0.0.1:0".parse()?;
            let server = raw_endpoint(loopback, node_id, hop)?;
            let to = server.join_address()?;
            (raw_endpoint(loopback, node_id, false)?, Some(server), to)
        }
    };
    let peer = client.connect(&to).await?;
    Ok((peer, std::iter::once(client).chain(server).collect()))
}

/// Empty requests as in [`RawQuic::requests`], but each sent from another thread than
/// the client endpoint's (which parks until that thread hands it the answer) and
/// answered through another thread than the server endpoint's: the two hand-offs of a
/// synchronous remote actor call, with nothing else of the runtime around them.
pub fn raw_quinn_hopped(server_netns: Option<&str>) -> anyhow::Result<f64> {
    let node_id = raw_node_id()?;
    let server = server_netns.map(|ns| raw_server(ns, true)).transpose()?;
    let to = server.as_ref().map(|(_, to)| to.clone());
    type Answer = std::sync::mpsc::SyncSender<bool>;
    let (ask, mut asked) = tokio::sync::mpsc::unbounded_channel::<Answer>();
    let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
    let endpoint_thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let (peer, _endpoints) = match raw_client(node_id, to, true).await {
                Ok(connected) => connected,
                Err(e) => return ready_tx.send(Err(e)).map_err(|_| ()),
            };
            let _ = ready_tx.send(Ok(()));
            let ping = ray::transport::WireMessage::Heartbeat { node_id };
            while let Some(answer) = asked.recv().await {
                let _ = answer.send(peer.request(&ping).await.is_ok());
            }
            Ok(())
        })
    });
    let measured = ready
        .recv()
        .map_err(anyhow::Error::from)
        .and_then(|r| r)
        .map(|()| {
            let k = super::n(2_000);
            median(|| {
                timed(k, || {
                    for _ in 0..k {
                        let (tx, rx) = std::sync::mpsc::sync_channel(1);
                        let answered = ask.send(tx).is_ok() && rx.recv().unwrap_or(false);
                        assert!(answered, "a raw request failed");
                    }
                })
            })
        });
    drop(ask);
    let _ = endpoint_thread.join();
    if let Some((mut child, _)) = server {
        let _ = child.kill();
        let _ = child.wait();
    }
    measured
}

/// A node id for the raw endpoints, minted by a node started and stopped for it (ids are
/// only minted by the runtime); nothing of the runtime runs while they measure.
fn raw_node_id() -> anyhow::Result<ray::NodeId> {
    ray::init()?;
    let id = ray::runtime_context().node_id();
    ray::shutdown();
    Ok(id)
}

/// The bulk size of the raw QUIC figure: 1 GiB, 64 MiB in smoke runs.
fn raw_size() -> usize {
    if super::scale() < 1.0 {
        64 << 20
    } else {
        1 << 30
    }
}

/// The raw QUIC figures of one run (medians of the repeats).
pub struct RawQuic {
    /// [`raw_size`] bytes of bulk data, GB/s.
    pub gbps: f64,
    /// Empty requests one at a time, each on its own stream and answered, per second
    /// (the floor under a synchronous remote call as the runtime sends it).
    pub requests: f64,
    /// The same requests as frames on one long-lived stream, echoed back, per second.
    pub frames: f64,
}

/// The machine's QUIC limits in the same run, over our transport with no runtime or
/// serialization around it (see [`RawQuic`]). Without `server_netns` both
/// endpoints are in this process on 127.0.0.1; with it the receiving endpoint is a
/// `BENCH_RAW_SERVER` process of this binary in that network namespace (`ip netns
/// exec`), and every byte crosses the link between the two.
pub fn raw_quinn(server_netns: Option<&str>) -> anyhow::Result<RawQuic> {
    let node_id = raw_node_id()?;
    let mut server = server_netns.map(|ns| raw_server(ns, false)).transpose()?;
    let to = server.as_ref().map(|(_, to)| to.clone());
    let size = raw_size();
    let data = vec![7u8; size];
    let rate = actix_rt::System::new().block_on(async move {
        let (peer, _endpoints) = raw_client(node_id, to, false).await?;
        let mut rates = Vec::new();
        // Skipped (reported as 0) when `BENCH_ONLY` leaves it out.
        let bulk_repeats = if super::remote::wanted("raw_quinn_1gib_gbps") {
            super::repeats()
        } else {
            0
        };
        for _ in 0..bulk_repeats {
            let t = std::time::Instant::now();
            peer.request_with(&ray::transport::WireMessage::Heartbeat { node_id }, &data)
                .await?;
            rates.push(size as f64 / 1e9 / t.elapsed().as_secs_f64());
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        let gbps = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
        // Awaited on the endpoint's own thread: no hop to another thread on either side.
        let ping = ray::transport::WireMessage::Heartbeat { node_id };
        let k = super::n(2_000);
        let mut rates = Vec::new();
        for _ in 0..super::repeats() {
            let t = std::time::Instant::now();
            for _ in 0..k {
                peer.request(&ping).await?;
            }
            rates.push(k as f64 / t.elapsed().as_secs_f64());
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        let per_stream = rates[rates.len() / 2];
        let open = ray::transport::WireMessage::DagEdges {
            graph: (node_id, 0),
            from: node_id,
        };
        let mut channel = peer.open_channel(&open, &Default::default()).await?;
        let mut rates = Vec::new();
        for _ in 0..super::repeats() {
            let t = std::time::Instant::now();
            for _ in 0..k {
                channel.send(&ping).await?;
                channel.recv().await?;
            }
            rates.push(k as f64 / t.elapsed().as_secs_f64());
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        anyhow::Ok(RawQuic {
            gbps,
            requests: per_stream,
            frames: rates[rates.len() / 2],
        })
    });
    if let Some((child, _)) = server.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    rate
}

/// `BENCH_RAW_SERVER=1`: only the receiving endpoint of the raw QUIC figure, on every
/// interface. Prints its join address (naming `RAY_NODE_IP_ADDRESS`, else the address of
/// the default route) on stdout and serves until killed or until its stdin closes (its
/// parent is gone).
pub fn raw_quinn_server() -> anyhow::Result<()> {
    let node_id = raw_node_id()?;
    let ip = match std::env::var("RAY_NODE_IP_ADDRESS") {
        Ok(ip) => ip.parse()?,
        Err(_) => {
            ray::transport::default_route_ip().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())
        }
    };
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    actix_rt::System::new().block_on(async move {
        let hop = std::env::var("BENCH_RAW_HOP").is_ok_and(|v| v == "1");
        let server = raw_endpoint("0.0.0.0:0".parse()?, node_id, hop)?;
        server.advertise(ip);
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", server.join_address()?)?;
            out.flush()?;
        }
        futures::future::pending::<()>().await;
        anyhow::Ok(())
    })
}
