//! DNS: what a domain's owner must publish ([`plan`]) and what is published ([`check`]).

pub mod check;
pub mod plan;

pub use check::DnsChecker;
pub use plan::{DkimKeyPair, DnsRecord, records_for};
