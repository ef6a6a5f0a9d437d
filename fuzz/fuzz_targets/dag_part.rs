//! Compiled-graph parts a peer sends: frames (raw, or a body with its prefix added), and
//! valid parts built from the input (structured), encoded, decoded and mutated; every
//! decoded `DagPart` goes through the node's own check (`refusal`). The modes are
//! described at `ray::fuzz::dag_part`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ray::fuzz::dag_part(data));
