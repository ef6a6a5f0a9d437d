//! Compiled-graph parts (`WireMessage::DagPart`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use serde_bytes::ByteBuf;

use super::Input;
use crate::ids::{ActorId, NodeId};
use crate::transport::{
    DagArg, DagOp, DagPartSpec, DagPeer, WireMessage, decode_frame, encode_frame,
};

/// Why this node would refuse to run `spec` (the check a received part goes through
/// before anything is allocated for it); `None` when it would run it.
pub fn dag_part_refusal(spec: &DagPartSpec) -> Option<String> {
    crate::dag::refusal(spec)
}

fn peer(inp: &mut Input<'_>) -> DagPeer {
    if inp.u8() & 1 == 0 {
        return DagPeer::Driver;
    }
    let node_id = NodeId(inp.u64());
    let at = match inp.u8() % 3 {
        0 => None,
        1 => Some(SocketAddr::from((
            Ipv4Addr::from(inp.u32()),
            inp.u32() as u16,
        ))),
        _ => Some(SocketAddr::from((
            Ipv6Addr::from(u128::from(inp.u64()) << 64 | u128::from(inp.u64())),
            inp.u32() as u16,
        ))),
    };
    let at = at.map(|a| {
        let mut pin = [0u8; 32];
        pin[..8].copy_from_slice(&inp.u64().to_le_bytes());
        (a, pin)
    });
    DagPeer::Node { node_id, at }
}

fn op(inp: &mut Input<'_>) -> DagOp {
    match inp.u8() % 3 {
        0 => DagOp::Call {
            actor_id: ActorId(inp.u64()),
            method: inp.string(),
            args: (0..inp.u8() % 6)
                .map(|_| match inp.u8() % 3 {
                    0 => DagArg::Input,
                    1 => DagArg::Const(ByteBuf::from(inp.bytes())),
                    _ => DagArg::Value(inp.u32() % 64),
                })
                .collect(),
            trigger: inp.u8() & 1 == 1,
        },
        1 => DagOp::Send {
            value: inp.u32() % 64,
            edge: inp.u32(),
            to: peer(inp),
        },
        _ => DagOp::Recv {
            edge: inp.u32(),
            from: peer(inp),
            producer: ActorId(inp.u64()),
        },
    }
}

/// A compiled-graph part made from the fuzzer's bytes: its limits near and past the
/// ones a node accepts (no steps, thousands of steps, `max_inflight` 0 or huge).
pub fn dag_part_from(data: &[u8]) -> DagPartSpec {
    dag_part_spec(&mut Input(data))
}

fn dag_part_spec(inp: &mut Input<'_>) -> DagPartSpec {
    let graph = (NodeId(inp.u64()), inp.u64());
    let max_inflight = match inp.u8() % 4 {
        0 => inp.u32(),
        1 => 1,
        2 => 1 << 10,
        _ => inp.u32() % 2050,
    };
    // Thousands of steps in one part of 64 (they cost the most to encode and decode).
    let n = match inp.u8() % 64 {
        0 => 0,
        63 => 4090 + usize::from(inp.u8() % 12),
        k => usize::from(k % 8) * 3,
    };
    // A few steps made from the input, repeated as needed (cheap to make many).
    let made: Vec<DagOp> = (0..n.min(16)).map(|_| op(inp)).collect();
    let ops = (0..n).map(|i| made[i % made.len()].clone()).collect();
    DagPartSpec {
        graph,
        max_inflight,
        ops,
    }
}

/// Decodes a frame; a `DagPart` goes through the node's check, and its encoding again
/// decodes to the same part.
fn part_frame(bytes: &[u8]) {
    let Ok(Some((msg, _))) = decode_frame(bytes) else {
        return;
    };
    let WireMessage::DagPart { part } = &msg else {
        return;
    };
    let _ = dag_part_refusal(part);
    let again = encode_frame(&msg).map(|f| decode_frame(&f));
    assert!(
        matches!(&again, Ok(Ok(Some((m, _)))) if *m == msg),
        "a part does not survive re-encoding: {again:?}"
    );
}

/// The `dag_part` target: compiled-graph parts as a peer sends them, through the frame
/// decoder and, when the frame is a `DagPart`, the node's own check of it.
///
/// The first byte chooses: 0 (mod 4), the rest is a frame; 1, the rest is a frame's
/// body (its length prefix is added, so that the fuzzer reaches the message decoder at
/// once); 2 and 3, a valid part is built from the input ([`dag_part_from`]), encoded,
/// and must decode to itself (a part with no steps or no room in flight must be
/// refused); with 3 the encoded frame is then mutated by the rest of the input and
/// decoded again. A decoded part's own encoding must decode to the same part.
pub fn dag_part(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode & 3 {
        0 => part_frame(rest),
        1 => {
            let mut frame = (rest.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(rest);
            part_frame(&frame);
        }
        _ => {
            let mut inp = Input(rest);
            let part = dag_part_spec(&mut inp);
            let must_refuse = part.ops.is_empty() || part.max_inflight == 0;
            let msg = WireMessage::DagPart { part };
            let mut frame = match encode_frame(&msg) {
                Ok(f) => f,
                Err(e) => panic!("a part does not encode: {e}"),
            };
            match decode_frame(&frame) {
                Ok(Some((back, used))) => {
                    assert_eq!(used, frame.len());
                    assert!(back == msg, "a part decodes to another");
                }
                other => panic!("a part's frame does not decode: {other:?}"),
            }
            if let WireMessage::DagPart { part } = &msg {
                let why = dag_part_refusal(part);
                assert!(!must_refuse || why.is_some(), "an empty part is accepted");
            }
            if mode & 3 == 3 {
                while inp.0.len() >= 3 {
                    let at = usize::from(u16::from_le_bytes([inp.u8(), inp.u8()])) % frame.len();
                    frame[at] ^= inp.u8().max(1);
                }
                part_frame(&frame);
            }
        }
    }
}
