//! Peers without the token cannot cost a node much: a node started by `ray start --head`
//! is flooded with 200 QUIC connections that open streams, announce huge frames and send
//! data, but never a valid `Hello`. Each gets one stream and a few KiB of window before
//! its token is checked, at most 64 wait at once, and all are dropped after 2 s; the
//! node's memory stays within a stated bound and a driver that joined before keeps being
//! served throughout.
#![cfg(feature = "cli")] // needs the `ray` binary (scripts/test.sh builds every feature)

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

/// What the flood may add to the node's resident memory.
const BOUND_BYTES: u64 = 48 << 20;
const CONNECTIONS: usize = 200;

pub struct Nobody;

#[ray::remote]
impl Nobody {
    pub fn new() -> Self {
        Nobody
    }
}

/// One round trip to the head (a name lookup in its directory): answered, not lost.
fn ask_the_head() {
    match ray::get_actor::<Nobody>("nobody") {
        Err(ray::Error::ActorNotFound { .. }) => {}
        other => panic!("the head did not answer: {:?}", other.err()),
    }
}

/// A figure of `/proc/PID/status` (`VmRSS`, `VmSize`), in bytes.
fn memory(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib << 10
}

/// A head started by `ray start --head` on 127.0.0.1 in a state directory of its own,
/// stopped when dropped.
struct Head {
    dir: std::path::PathBuf,
    pid: String,
    address: String,
}

impl Head {
    fn start(tag: &str, cpus: &str) -> Head {
        let dir = std::env::temp_dir().join(format!("ray-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut head = Head {
            dir,
            pid: String::new(),
            address: String::new(),
        };
        head.ray(&[
            "start",
            "--head",
            "--num-cpus",
            cpus,
            "--node-ip-address",
            "127.0.0.1",
        ]);
        let pids = std::fs::read_to_string(head.dir.join("pids")).unwrap();
        let address = std::fs::read_to_string(head.dir.join("address")).unwrap();
        head.pid = pids.split_whitespace().next().unwrap().to_string();
        head.address = address.trim().to_string();
        head
    }

    fn ray(&self, args: &[&str]) {
        let out = Command::new(env!("CARGO_BIN_EXE_ray"))
            .args(args)
            .env("RAY_TMPDIR", &self.dir)
            .output()
            .expect("run ray");
        assert!(out.status.success(), "{out:?}");
    }

    fn join(&self) -> ray::transport::JoinAddress {
        self.address.parse().unwrap()
    }
}

impl Drop for Head {
    fn drop(&mut self) {
        if !self.pid.is_empty() {
            self.ray(&["stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One attacker connection: opens streams (only one is allowed), announces a frame of
/// 16 MiB and sends junk as fast as the node lets it, then lingers.
async fn attack(endpoint: quinn::Endpoint, to: std::net::SocketAddr) -> usize {
    let Ok(connecting) = endpoint.connect(to, "ray") else {
        return 0;
    };
    let Ok(Ok(conn)) = tokio_timeout(connecting).await else {
        return 0;
    };
    let mut sent = 0;
    for _ in 0..4 {
        let Ok(Ok((mut send, _recv))) = tokio_timeout(conn.open_bi()).await else {
            break;
        };
        let mut frame = (16u32 << 20).to_be_bytes().to_vec();
        frame.extend(std::iter::repeat_n(0xAB, 64 << 10));
        if let Ok(Ok(())) = tokio_timeout(send.write_all(&frame)).await {
            sent += frame.len();
        }
    }
    let _ = tokio_timeout(conn.closed()).await;
    sent
}

async fn tokio_timeout<F: std::future::Future>(f: F) -> Result<F::Output, ()> {
    actix_rt::time::timeout(Duration::from_secs(3), f)
        .await
        .map_err(|_| ())
}

#[test]
fn a_flood_of_peers_without_the_token_is_contained() {
    let head = Head::start("flood", "1");
    let (pid, join) = (head.pid.clone(), head.join());

    // A driver with the token, connected before the flood.
    let _ray = common::join(&head.address);
    ask_the_head();
    std::thread::sleep(Duration::from_millis(300));
    let before = memory(&pid, "VmRSS");

    let config = ray::transport::client_config(join.fingerprint).unwrap();
    let t0 = Instant::now();
    let stop_serving = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The driver is served during the flood.
    let served = {
        let stop = stop_serving.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ask_the_head();
                n += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            n
        })
    };
    let (sent, peak) = actix_rt::System::new().block_on(async move {
        let mut endpoint =
            quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("a client endpoint");
        endpoint.set_default_client_config(config);
        let attacks: Vec<_> = (0..CONNECTIONS)
            .map(|_| actix_rt::spawn(attack(endpoint.clone(), join.addr)))
            .collect();
        // Sample the node's memory while the flood lasts.
        let pid2 = pid.clone();
        let sampler = actix_rt::spawn(async move {
            let mut peak = 0;
            for _ in 0..40 {
                peak = peak.max(memory(&pid2, "VmRSS"));
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        });
        let mut sent = 0;
        for a in attacks {
            sent += a.await.unwrap_or(0);
        }
        (sent, sampler.await.unwrap_or(0))
    });
    stop_serving.store(true, std::sync::atomic::Ordering::Relaxed);
    let calls = served.join().expect("the driver's calls during the flood");
    assert!(calls > 0);
    let grew = peak.saturating_sub(before);
    eprintln!(
        "flood: {CONNECTIONS} connections completed {sent} bytes of frames in {:?}; node RSS {before} -> peak {peak} (+{grew}); driver served {calls} calls meanwhile",
        t0.elapsed()
    );
    assert!(
        grew < BOUND_BYTES,
        "the flood grew the node by {grew} bytes (bound {BOUND_BYTES})"
    );
    // And still answers after it.
    ask_the_head();
}

/// A peer with the token declares 8 GiB payloads on four streams and sends a few bytes of
/// each: the node sets aside nothing for what has not arrived (its address space, not
/// only its resident memory, stays put).
#[test]
fn a_declared_8_gib_payload_allocates_nothing_before_it_arrives() {
    let head = Head::start("declared", "0");
    let (pid, join) = (head.pid.clone(), head.join());
    let before = memory(&pid, "VmSize");
    let config = ray::transport::client_config(join.fingerprint).unwrap();
    let me: ray::NodeId = rmp_serde::from_slice(&rmp_serde::to_vec(&0x8_6b_u64).unwrap()).unwrap();
    let during = actix_rt::System::new().block_on(async move {
        use ray::transport::{WIRE_VERSION, WireMessage, encode_frame};
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(config);
        let conn = endpoint.connect(join.addr, "ray").unwrap().await.unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let hello = WireMessage::Hello {
            version: WIRE_VERSION,
            node_id: me,
            token: join.token.clone(),
        };
        send.write_all(&encode_frame(&hello).unwrap())
            .await
            .unwrap();
        let mut welcome = [0u8; 4];
        recv.read_exact(&mut welcome).await.unwrap();
        let mut streams = Vec::new();
        for _ in 0..4 {
            let (mut send, recv) = conn.open_bi().await.unwrap();
            let mut head = encode_frame(&WireMessage::Ack).unwrap();
            head.extend_from_slice(&(8u64 << 30).to_be_bytes());
            head.extend(std::iter::repeat_n(7u8, 4096));
            send.write_all(&head).await.unwrap();
            streams.push((send, recv));
        }
        actix_rt::time::sleep(Duration::from_millis(500)).await;
        let during = memory(&pid, "VmSize");
        drop(streams);
        during
    });
    let grew = during.saturating_sub(before);
    eprintln!("declared 4 x 8 GiB: node address space {before} -> {during} (+{grew})");
    assert!(
        grew < 1 << 30,
        "the node set aside {grew} bytes for declared payloads"
    );
}
