//! moto in server mode (SES v2 and Route 53) on a free loopback port, started through
//! `scripts/moto_server.py` with the Python of `.tools/venv` (installed by
//! `scripts/install-test-tools`; `MOTO_PYTHON` overrides).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

use crate::free_port;
use crate::process::{Server, start_server};

pub struct Moto {
    pub endpoint: String,
    _server: Server,
}

/// The moto server of this test process, started on first use.
pub fn moto() -> &'static Moto {
    static SERVER: OnceLock<Moto> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn start() -> Moto {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".tools/venv/bin/python"));
    assert!(
        python.is_file(),
        "moto is not installed ({} is missing).\nRun `scripts/test` (it installs everything \
         the tests need), or `scripts/install-test-tools` once and then `cargo test`.",
        python.display()
    );
    let script = root.join("scripts/moto_server.py");
    let port = free_port();
    let args = [script.into_os_string(), port.to_string().into()];
    let server = start_server(
        "moto",
        python.as_os_str(),
        args,
        port,
        Duration::from_secs(60),
    );
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _server: server,
    }
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
