//! DNS: what a domain's owner must publish ([`plan`]) and what is published ([`check`]).

pub mod budget;
pub mod check;
pub mod fuzzing;
pub mod lookup;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod rules;
pub mod zonefile;

pub use check::{DnsChecker, DnsMode};
pub use lookup::Session;
pub use plan::{DkimKeyPair, DnsRecord, records_for};
pub use probe::Probe;
