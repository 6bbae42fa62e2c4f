//! The command line: what `domainctl` accepts, parsed by clap. Kept in the library so
//! a test can check that every command the README shows still parses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::{Parser, Subcommand};
use domains::model::{OrgId, ZoneId};
use domains::workflows::sweep::SweepOptions;

#[derive(Parser)]
#[command(
    name = "domainctl",
    version,
    about = "Run the Domains API locally; manage API keys and the table"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve every route on one port. In-memory store unless DOMAINS_TABLE is set.
    Serve {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
        host: IpAddr,
        /// An API key and the organization it belongs to, as KEY=ORG_ID (repeatable).
        /// Without it, a key for `org_local` is made and printed.
        #[arg(long = "api-key", value_name = "KEY=ORG_ID", value_parser = parse_key_spec)]
        api_keys: Vec<(String, OrgId)>,
        /// The resolver(s) verification finds each zone's authoritative servers through
        /// (and asks directly with DNS_MODE=recursive), as ip:port (repeatable). Default:
        /// DNS_NAMESERVERS, else the system's resolver.
        #[arg(long = "dns", value_name = "IP:PORT")]
        dns: Vec<SocketAddr>,
        /// Networks besides the public Internet where name servers may be asked, as
        /// comma-separated CIDRs (e.g. 127.0.0.0/8 for name servers on this machine).
        /// Default: DNS_ALLOW_NETWORKS, else none.
        #[arg(long = "dns-allow-networks", value_name = "CIDRS")]
        dns_allow_networks: Option<String>,
        /// Networks besides the public Internet where webhook endpoints may be (plain http
        /// is allowed into these only), as comma-separated CIDRs (e.g. 127.0.0.0/8 for a
        /// receiver on this machine). Default: WEBHOOK_ALLOW_NETWORKS, else none.
        #[arg(long = "webhook-allow-networks", value_name = "CIDRS")]
        webhook_allow_networks: Option<String>,
        /// Also run the sweep every this many seconds (off by default).
        #[arg(long, value_name = "SECONDS")]
        sweep_every: Option<u64>,
        /// A Route 53 hosted zone and the organization whose registrations may write into
        /// it (`autoConfigureDns`), as ZONE_ID=ORG_ID (repeatable).
        #[arg(long = "assign-zone", value_name = "ZONE_ID=ORG_ID", value_parser = parse_zone_spec)]
        zones: Vec<(ZoneId, OrgId)>,
    },
    /// The whole stack on this machine: DynamoDB Local and moto (SES, Route 53 and every
    /// other AWS service) on free ports, a table, a key, a hosted zone, and the server wired
    /// to all of them. Ctrl-C stops everything it started. Needs what
    /// `scripts/install-test-tools` installs (`scripts/dev` runs both).
    Dev {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
        host: IpAddr,
        /// The resolver(s) verification finds each zone's authoritative servers through, as
        /// ip:port (repeatable). Default: DNS_NAMESERVERS, else the system's resolver.
        #[arg(long = "dns", value_name = "IP:PORT")]
        dns: Vec<SocketAddr>,
    },
    /// Run the sweep once against the DynamoDB table named by DOMAINS_TABLE.
    Sweep {
        /// The resolver(s) to find authoritative servers through, as ip:port (repeatable).
        /// Default: DNS_NAMESERVERS, else
        /// the system's resolver.
        #[arg(long = "dns", value_name = "IP:PORT")]
        dns: Vec<SocketAddr>,
        /// Domains verified at once.
        #[arg(long, default_value_t = SweepOptions::default().concurrency)]
        concurrency: usize,
    },
    /// API keys in the DynamoDB table named by DOMAINS_TABLE.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Which Route 53 hosted zones each organization may have records written into
    /// (`autoConfigureDns`), in the DynamoDB table named by DOMAINS_TABLE.
    Zones {
        #[command(subcommand)]
        command: ZonesCommand,
    },
    /// Organizations' limits, in the DynamoDB table named by DOMAINS_TABLE.
    Orgs {
        #[command(subcommand)]
        command: OrgsCommand,
    },
    /// The DynamoDB table named by DOMAINS_TABLE.
    Table {
        #[command(subcommand)]
        command: TableCommand,
    },
    /// What is waiting in the DynamoDB table named by DOMAINS_TABLE: domains due for a check
    /// and the oldest one's wait, lifecycle events never delivered, registrations that died
    /// part-way. One JSON object; exits 1 when something needs attention (its `attention`).
    /// Reads the whole table for the events: for operators, not for schedules.
    Status,
    /// Lifecycle events of the DynamoDB table named by DOMAINS_TABLE.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Print each lifecycle event as it is written, one JSON line each, read from the
    /// table's stream (as `publish-events` is fed); nothing is delivered or marked. The
    /// in-memory server prints its events itself.
    Tail {
        /// Start with everything the stream still holds (24 hours) instead of now.
        #[arg(long)]
        from_start: bool,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a key for an organization and print it (the only time it is shown).
    Create {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
        /// Store the key read from standard input instead of making one (the sample
        /// events' key, or a key moved from another table); nothing is printed.
        #[arg(long)]
        stdin: bool,
    },
    /// The organization's keys: id, creation and revocation times (never the keys).
    List {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
    },
    /// Revoke a key by its id, or the key read from standard input (never from the command
    /// line, where shell history and process lists would keep it); it stops working
    /// within a minute everywhere.
    Revoke {
        #[arg(long, value_name = "KEY_ID")]
        id: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ZonesCommand {
    /// Let an organization's registrations write into a hosted zone.
    Assign {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
        #[arg(long, value_parser = parse_zone)]
        zone: ZoneId,
    },
    /// Take a hosted zone away from the organization it is assigned to.
    Unassign {
        #[arg(long, value_parser = parse_zone)]
        zone: ZoneId,
    },
    /// The hosted zones assigned to an organization.
    List {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
    },
}

#[derive(Subcommand)]
pub enum OrgsCommand {
    /// Set how many domains an organization may hold (default 1,000).
    SetQuota {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
        max_domains: u64,
    },
    /// How many domains an organization holds, and its limit.
    Show {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
    },
    /// Count an organization's domains one by one and compare with the counters lists
    /// and quotas read. Exits 1 if they differ, unless `--repair` fixed them.
    Counts {
        #[arg(long, value_parser = parse_org, required_unless_present = "all", conflicts_with = "all")]
        org: Option<OrgId>,
        /// Every organization in the table (a scan: for operators, not for schedules).
        #[arg(long)]
        all: bool,
        /// Write the counted values (only if no change lands meanwhile; else count again),
        /// and put domains missing from the status index back in it.
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand)]
pub enum TableCommand {
    /// Create the table with its index (for DynamoDB Local; SAM creates it in AWS).
    Create,
}

pub fn parse_org(text: &str) -> Result<OrgId, String> {
    OrgId::parse(text)
        .ok_or_else(|| "an organization id is 1-64 letters, digits, '_' or '-'".to_owned())
}

pub fn parse_zone(text: &str) -> Result<ZoneId, String> {
    ZoneId::parse(text).ok_or_else(|| {
        "a hosted zone id is Route 53's id of the zone, like Z0123456789ABCDEFGHIJ".to_owned()
    })
}

pub fn parse_zone_spec(text: &str) -> Result<(ZoneId, OrgId), String> {
    let (zone, org) = text.split_once('=').ok_or("expected ZONE_ID=ORG_ID")?;
    Ok((parse_zone(zone)?, parse_org(org)?))
}

pub fn parse_key_spec(text: &str) -> Result<(String, OrgId), String> {
    let (key, org) = text.split_once('=').ok_or("expected KEY=ORG_ID")?;
    if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
        return Err("the key must be non-empty and contain no spaces".into());
    }
    Ok((key.to_owned(), parse_org(org)?))
}
