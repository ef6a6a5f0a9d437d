//! TLS for node-to-node QUIC: a self-signed certificate each node generates when it
//! starts, and a client verifier that accepts exactly the certificate it was given for
//! that node (pinned by its SHA-256, which travels in the join address and the node
//! table). No public CA is involved.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::{MAX_STREAMS, TransportError, hex, sha256};

/// The name in the certificate; peers are authenticated by pin and token, not by name.
pub(crate) const SERVER_NAME: &str = "ray-node";
/// ALPN of our protocol, so a QUIC peer speaking something else fails the handshake.
const ALPN: &[u8] = b"ray/1";

/// A node's TLS identity: its certificate and key, generated when the node starts (every
/// node has its own; the cluster shares only the token).
#[derive(Clone)]
pub struct Identity {
    cert: CertificateDer<'static>,
    key: Arc<Vec<u8>>,
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", hex(&self.fingerprint))
    }
}

impl Identity {
    /// Generates a fresh self-signed certificate and key.
    ///
    /// # Errors
    /// [`TransportError::Tls`] if key generation fails.
    pub fn generate() -> Result<Self, TransportError> {
        let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
            .map_err(|e| TransportError::Tls(e.to_string()))?;
        let cert = certified.cert.der().clone();
        Ok(Self {
            fingerprint: sha256(&cert),
            cert,
            key: Arc::new(certified.signing_key.serialize_der()),
        })
    }

    /// SHA-256 of the certificate: what joiners pin.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Flow-control windows sized for bulk object transfer on a fast link (the defaults
/// are tuned for the internet and cap a stream far below loopback speed).
/// What an authenticated peer may send across all streams of a connection at once.
pub(crate) const RECEIVE_WINDOW: u32 = 256 << 20;
/// Before its token is checked, a peer may open one stream and have this many bytes in
/// flight: enough for a `Hello`, too little to cost the node anything.
pub(crate) const HELLO_WINDOW: u32 = 8 << 10;

fn transport_config() -> Arc<quinn::TransportConfig> {
    Arc::new(transport(RECEIVE_WINDOW, MAX_STREAMS))
}

fn transport(receive_window: u32, streams: u32) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.stream_receive_window(quinn::VarInt::from_u32(64 << 20));
    t.receive_window(quinn::VarInt::from_u32(receive_window));
    t.send_window(256 << 20);
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(streams));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    t.keep_alive_interval(Some(std::time::Duration::from_secs(2)));
    // A peer that vanished (killed, unplugged) is given up after 10 s of silence.
    if let Ok(idle) = quinn::IdleTimeout::try_from(std::time::Duration::from_secs(10)) {
        t.max_idle_timeout(Some(idle));
    }
    t
}

/// The QUIC server configuration for `identity`.
pub(crate) fn server_config(identity: &Identity) -> Result<quinn::ServerConfig, TransportError> {
    let tls = |e: rustls::Error| TransportError::Tls(e.to_string());
    let key = PrivatePkcs8KeyDer::from(identity.key.as_ref().clone());
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.clone()], key.into())
        .map_err(tls)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(config)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
    // Small until the peer's Hello is accepted; `serve` raises them then.
    server.transport_config(Arc::new(transport(HELLO_WINDOW, 1)));
    Ok(server)
}

/// The QUIC client configuration that trusts only the certificate with `pin`.
pub(crate) fn client_config(pin: [u8; 32]) -> Result<quinn::ClientConfig, TransportError> {
    let provider = provider();
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCert { pin, provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(config)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(quic));
    client.transport_config(transport_config());
    Ok(client)
}

/// Accepts the one certificate whose SHA-256 is `pin`, and checks the handshake
/// signatures with it.
#[derive(Debug)]
struct PinnedCert {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if sha256(end_entity) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate {} is not the cluster's pinned certificate {}",
                hex(&sha256(end_entity)),
                hex(&self.pin)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
