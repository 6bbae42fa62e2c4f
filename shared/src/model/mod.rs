//! The domain model: validated newtypes and the stored domain.

mod claim;
mod dkim;
mod domain;
mod domain_name;
pub mod event;
mod ids;
mod mail_from;
mod rate;
mod region;
pub mod schedule;
mod status;
mod timestamp;
mod verification;
pub mod webhook;

pub use claim::{CLAIM_HOST, CLAIM_WINDOW, Claim, ClaimStatus};
pub use dkim::{DKIM_RETIRE_AFTER, NextDkim, RetiredDkim, SealedKey, selector_for};
pub use domain::{
    Counter, Counters, DEGRADED_RECHECK, DEGRADED_WINDOW, Domain, DomainState, VerificationSetup,
    WATCH_INTERVAL, ZoneRecord, check_backoff,
};
pub use domain_name::{DomainName, DomainNameError};
pub use event::{EventType, LifecycleEvent, Removal, StreamedEvent};
pub use ids::{ClaimId, DomainId, OrgId, WebhookId, ZoneId};
pub use mail_from::MailFrom;
pub use rate::{DEFAULT_VERIFY_RATE, Rate};
pub use region::{RECEIVING_REGIONS, Region};
pub use schedule::VERIFICATION_WINDOW;
pub use status::{Status, StatusCounts};
pub use timestamp::Timestamp;
pub use verification::{
    Capabilities, CheckReport, Finding, Health, Purpose, RecordKind, RecordStatus, ServerFinding,
    SesView, VerificationStatus,
};
