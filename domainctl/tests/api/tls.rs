//! HTTPS for the tests' webhook receivers: a certificate authority of the test's own, the
//! certificates it issues, and a listener that serves axum over TLS with one of them.
//!
//! The listener is tokio-rustls behind axum's own `Listener` trait rather than
//! `axum-server`: tokio-rustls is the TLS crate reqwest already builds, and the trait
//! leaves axum's serving loop as it is, so the tests add one small dependency (rcgen,
//! for the certificates) and no second server stack.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A CA that exists for one test: a client trusts it only when told to.
pub(crate) struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, as a server presents them.
pub(crate) struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("a CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("a CA certificate"),
        }
    }

    /// The CA's certificate, for a client to trust.
    pub(crate) fn root(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_der(self.issuer.der()).expect("a DER certificate")
    }

    /// A server certificate for `names` (an IP address becomes an IP SAN, anything else a
    /// DNS name), signed by this CA.
    pub(crate) fn issue(&self, names: &[&str]) -> Identity {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let key = KeyPair::generate().expect("a leaf key");
        let leaf = params.signed_by(&key, &self.issuer).expect("a leaf");
        Identity {
            chain: vec![leaf.der().clone(), self.issuer.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }
}

/// Accepts TCP connections and completes a TLS handshake on each before axum sees it.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    /// Handshakes that did not complete: a client refusing the certificate ends one.
    refused: Arc<AtomicUsize>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, identity: Identity, refused: Arc<AtomicUsize>) -> Self {
        // The process may not have chosen its provider yet (the client installs it when
        // built): the one it would choose, given explicitly.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .expect("a usable certificate and key");
        Self {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            refused,
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, peer) = axum::serve::Listener::accept(&mut self.tcp).await;
            // One at a time: a test's receiver sees a handful of connections, and a failed
            // handshake must leave the listener serving the next one.
            match self.acceptor.accept(tcp).await {
                Ok(tls) => return (tls, peer),
                Err(_) => {
                    self.refused.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
