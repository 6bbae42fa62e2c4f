//! moto in server mode (SES v2, Route 53, KMS, and every other service it mocks) on a free
//! loopback port, started through `scripts/moto_server.py` with the Python of
//! `.tools/venv` (installed by `scripts/install-test-tools`; `MOTO_PYTHON` overrides).

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use devservers::Server;

use crate::started;

pub struct Moto {
    pub endpoint: String,
    /// A KMS key made at start, which seals the tests' DKIM rotations.
    pub kms_key: String,
    _server: Server,
}

/// The moto server of this test process, started on first use.
pub fn moto() -> &'static Moto {
    static SERVER: OnceLock<Moto> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (endpoint, server) = started(devservers::moto);
        // On a thread of its own: the caller may be inside a test's runtime already.
        let config = sdk_config_for(&endpoint);
        let kms_key = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(domains::aws::create_key(&config))
        })
        .join()
        .expect("the KMS key thread")
        .unwrap_or_else(|e| panic!("moto: cannot create a KMS key: {e}"));
        Moto {
            endpoint,
            kms_key,
            _server: server,
        }
    })
}

impl Moto {
    /// An AWS configuration whose every service is this server.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint)
    }
}

/// An AWS configuration pointing every service at `endpoint` (also an address where
/// nothing listens, to make a service unreachable).
pub fn sdk_config_for(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "testkit",
        )))
        .build()
}
