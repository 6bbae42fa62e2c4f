//! DNS: what a domain's owner must publish ([`plan`]).

pub mod plan;

pub use plan::{DkimKeyPair, DnsRecord, RecordKind, records_for};
