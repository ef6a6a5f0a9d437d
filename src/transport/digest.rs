//! SHA-256, for a certificate's fingerprint and an uploaded build's name (ring: already
//! in the tree through rustls, and kept without the `cluster` feature as the one digest).

/// SHA-256 of `bytes` (a certificate's is its fingerprint; an uploaded build's, its name).
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
