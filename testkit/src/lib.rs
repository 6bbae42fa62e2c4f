//! Test harness: real servers on free loopback ports, started on first use by each test
//! binary and stopped when it exits, with fresh state per test.

pub mod api;
pub mod aws;
mod dns_hierarchy;
mod dns_server;
mod dynamodb_local;
mod events;
mod moto;
mod receiver;
mod unbound;

pub use events::DeliveredEvents;
pub use moto::{Moto, moto, sdk_config_for};
pub use receiver::StatusReceiver;

pub(crate) use devservers::free_port;

/// One of `devservers`' servers on a free port: its endpoint, and the server, which stops
/// with this test process. A server that cannot start fails the test saying why.
pub(crate) fn started(
    launch: fn(u16) -> Result<devservers::Server, String>,
) -> (String, devservers::Server) {
    let port = free_port();
    let server = launch(port).unwrap_or_else(|e| panic!("{e}"));
    (format!("http://127.0.0.1:{port}"), server)
}

pub use dns_hierarchy::DnsHierarchy;
pub use dns_server::{Behaviour, Script, Scripted, TestDns};
pub use dynamodb_local::{DynamoLocal, dynamodb_local, fresh_dynamo_store};

use std::sync::Arc;

use domains::store::{MemoryStore, Store};

/// The stores the shared suites run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Dynamo,
}

impl Backend {
    /// An empty store of this kind (for DynamoDB: a new table in the shared DynamoDB Local).
    pub async fn fresh_store(self) -> Arc<dyn Store> {
        match self {
            Backend::Memory => Arc::new(MemoryStore::new()),
            Backend::Dynamo => Arc::new(fresh_dynamo_store().await),
        }
    }
}

/// Runs one shared test body against both stores, as two named tests.
#[macro_export]
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::Backend::Memory).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::Backend::Dynamo).await
                }
            )*
        }
    };
}

use domains::model::{Domain, DomainName, MailFrom, OrgId, Region, Timestamp, VerificationSetup};

pub fn org(id: &str) -> OrgId {
    OrgId::parse(id).expect("valid org id")
}

/// A pending domain as registration would make it, with placeholder key material (the
/// store treats it as opaque text; real keys are tested where they are made).
pub fn pending_domain(org_id: &str, name: &str, now: Timestamp) -> Domain {
    let setup = VerificationSetup {
        ownership_token: format!("token-for-{name}"),
        dkim_selector: "dkim20240110".into(),
        dkim_public_key: "MIIBIjANBgkq".into(),
        mail_from: Some(MailFrom::standard()),
        dkim_next: None,
        dkim_retired: None,
        zone_records: None,
    };
    let name = DomainName::parse(name).expect("valid domain name");
    Domain::new_pending(org(org_id), name, Region::DEFAULT, setup, now)
}

/// A `tracing` writer that keeps every byte logged, for tests that read the log lines.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Publishes exactly the records an API answer lists (`dnsRecords`), as a user would at
/// their DNS host.
pub fn publish(dns: &DnsHierarchy, records: &serde_json::Value) {
    for record in records.as_array().expect("dnsRecords") {
        let name = record["name"].as_str().unwrap();
        let value = record["value"].as_str().unwrap();
        match record["type"].as_str().unwrap() {
            "MX" => {
                let (preference, host) = value.split_once(' ').unwrap();
                dns.add_mx(name, preference.parse().unwrap(), host);
            }
            "TXT" => dns.add_long_txt(name, value),
            other => panic!("unexpected record type {other}"),
        }
    }
}

/// The DKIM record of an API answer's `dnsRecords` published under `selector`.
pub fn dkim_record<'a>(body: &'a serde_json::Value, selector: &str) -> &'a serde_json::Value {
    body["dnsRecords"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == format!("{selector}._domainkey"))
        .unwrap_or_else(|| panic!("no record for {selector}: {body}"))
}
