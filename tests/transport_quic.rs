//! QUIC transport on real sockets on 127.0.0.1: the token handshake, certificate
//! pinning, and malformed, oversized and truncated frames closing only the offending
//! connection.

mod common;

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use ray::transport::{
    Endpoint, Identity, JoinAddress, MAX_FRAME_BYTES, Service, TransportError, WireMessage,
    encode_frame,
};

/// Answers every request with a heartbeat naming the asking peer.
struct Echo;

impl Service for Echo {
    fn handle(
        &self,
        from: ray::NodeId,
        _msg: WireMessage,
        payload: Vec<u8>,
    ) -> BoxFuture<'static, (WireMessage, ray::transport::Bulk)> {
        async move { (WireMessage::Heartbeat { node_id: from }, payload.into()) }.boxed()
    }
}

fn node_id() -> ray::NodeId {
    // Any id will do for the transport; borrow one from a runtime context.
    ray::runtime_context().node_id()
}

fn endpoint(token: &str) -> Endpoint {
    Endpoint::bind(
        "127.0.0.1:0".parse().unwrap(),
        node_id(),
        token.to_string(),
        Identity::generate().unwrap(),
        Arc::new(Echo),
    )
    .unwrap()
}

fn run<F: std::future::Future<Output = ()>>(f: F) {
    let _ray = common::init(1.0);
    actix_rt::System::new().block_on(f);
}

#[test]
fn peers_with_the_token_are_served() {
    run(async {
        let server = endpoint("s3cret");
        let client = endpoint("s3cret");
        let join = server.join_address().unwrap();
        let peer = client.connect(&join).await.unwrap();
        let me = node_id();
        for _ in 0..3 {
            assert_eq!(
                peer.request(&WireMessage::Heartbeat { node_id: me })
                    .await
                    .unwrap(),
                WireMessage::Heartbeat { node_id: me }
            );
        }
    });
}

#[test]
fn bulk_payloads_larger_than_a_frame_stream_through() {
    run(async {
        let server = endpoint("t");
        let client = endpoint("t");
        let peer = client
            .connect(&server.join_address().unwrap())
            .await
            .unwrap();
        let me = node_id();
        let big: Vec<u8> = (0..(40usize << 20)).map(|i| (i % 251) as u8).collect();
        assert!(big.len() > MAX_FRAME_BYTES);
        let (answer, echoed) = peer
            .request_with(&WireMessage::Heartbeat { node_id: me }, &big)
            .await
            .unwrap();
        assert_eq!(answer, WireMessage::Heartbeat { node_id: me });
        assert!(echoed == big, "the payload came back changed");
    });
}

#[test]
fn a_wrong_or_missing_token_is_refused() {
    run(async {
        let server = endpoint("right");
        let client = endpoint("whatever");
        let mut join = server.join_address().unwrap();
        join.token = "wrong".into();
        match client.connect(&join).await {
            Err(TransportError::Refused(reason)) => assert!(reason.contains("token"), "{reason}"),
            other => panic!(
                "expected Refused, got {:?}",
                other.map(|p| p.remote_address())
            ),
        }
        // An empty token cannot even be written as a join address.
        assert!(
            format!("ray://@{}#{}", join.addr, "00".repeat(32))
                .parse::<JoinAddress>()
                .is_err()
        );
    });
}

#[test]
fn a_certificate_other_than_the_pinned_one_is_rejected() {
    run(async {
        let server = endpoint("t");
        let client = endpoint("t");
        let mut join = server.join_address().unwrap();
        join.fingerprint = [7u8; 32];
        assert!(matches!(
            client.connect(&join).await,
            Err(TransportError::Tls(_))
        ));
    });
}

#[test]
fn bad_frames_close_only_that_connection() {
    run(async {
        let server = endpoint("t");
        let client = endpoint("t");
        let join = server.join_address().unwrap();
        let me = node_id();
        let oversized = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
        let mut garbage = 6u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0xc1, 0xc1, 0xff, 0x00, 0x13, 0x37]);
        let whole = encode_frame(&WireMessage::Heartbeat { node_id: me }).unwrap();
        let truncated = whole[..whole.len() - 2].to_vec();
        for (bytes, expect) in [
            (oversized, "exceeds"),
            (garbage, "malformed"),
            (truncated, "truncated"),
        ] {
            let bad = client.connect(&join).await.unwrap();
            match bad.request_raw(&bytes).await {
                Err(TransportError::Closed(reason)) => assert!(reason.contains(expect), "{reason}"),
                other => panic!("expected the connection closed ({expect}), got {other:?}"),
            }
            // The closed connection stays closed...
            assert!(
                bad.request(&WireMessage::Heartbeat { node_id: me })
                    .await
                    .is_err()
            );
            // ...and the server keeps serving other peers.
            let good = client.connect(&join).await.unwrap();
            assert!(
                good.request(&WireMessage::Heartbeat { node_id: me })
                    .await
                    .is_ok()
            );
        }
    });
}
