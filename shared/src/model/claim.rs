//! A claim: an organization proving it owns a name another organization holds but never
//! verified, so that a squatter cannot keep a domain from its owner.

use serde::Serialize;
use time::Duration;

use super::{ClaimId, Domain, DomainId, DomainName, OrgId, Region, Status, Timestamp};
use crate::crypto::random_token;

/// How long a claim's challenge may take to be published (SES's own window for a domain).
pub const CLAIM_WINDOW: Duration = Duration::hours(72);

/// Owner of the challenge TXT record, relative to the domain.
pub const CLAIM_HOST: &str = "_amazonses-claim";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: ClaimId,
    /// The claimant.
    pub org_id: OrgId,
    pub name: DomainName,
    /// The region of the domain the claim registers.
    pub region: Region,
    /// The challenge: the value of the TXT record at `_amazonses-claim.<name>`.
    pub token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The domain registered for the claimant, once the claim succeeded.
    pub domain_id: Option<DomainId>,
    pub completed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimStatus {
    Pending,
    Completed,
    Expired,
}

impl Claim {
    /// A claim with a fresh challenge, open for [`CLAIM_WINDOW`] from `now`.
    pub fn new(org_id: OrgId, name: DomainName, region: Region, now: Timestamp) -> Self {
        Self {
            id: ClaimId::generate(),
            org_id,
            name,
            region,
            token: random_token(),
            created_at: now,
            expires_at: now.plus(CLAIM_WINDOW),
            domain_id: None,
            completed_at: None,
        }
    }

    pub fn status(&self, now: Timestamp) -> ClaimStatus {
        if self.domain_id.is_some() {
            ClaimStatus::Completed
        } else if now > self.expires_at {
            ClaimStatus::Expired
        } else {
            ClaimStatus::Pending
        }
    }
}

impl Domain {
    /// Whether another organization may claim this domain's name: it never verified
    /// (pending, or suspended or failed before it ever was active), or it failed.
    pub fn claimable(&self) -> bool {
        self.state.status == Status::Failed || self.state.verified_at.is_none()
    }
}
