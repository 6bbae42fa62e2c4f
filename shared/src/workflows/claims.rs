//! Claims: a name held by another organization's domain that never verified does not
//! block its real owner. The claimant publishes a fresh challenge; once the authoritative
//! servers serve it, the holder's domain (with its SES identity and records) is removed
//! and the name registered for the claimant.

use super::provision::{carry_out, effects_of, reservation_for};
use super::register::register;
use super::{Conflicts, new_keys};
use crate::App;
use crate::error::ApiError;
use crate::model::{Claim, ClaimStatus, Domain, DomainName, Finding, OrgId, Region};
use crate::store::{DefaultChoice, NameHolder, StoreError};

/// What a claim finds at its name.
enum Holder {
    /// Nobody (or a registration that died): register it instead.
    Free,
    /// The caller's own organization.
    Caller,
    /// A registration under way.
    Registering,
    /// Another organization's domain.
    Domain(Box<Domain>),
}

async fn holder_of(app: &App, org: &OrgId, name: &DomainName) -> Result<Holder, ApiError> {
    Ok(match app.store().name_holder(name).await? {
        None => Holder::Free,
        Some(NameHolder::Reservation(r)) if r.until < app.now() => Holder::Free,
        Some(NameHolder::Reservation(r)) if &r.org == org => Holder::Caller,
        Some(NameHolder::Reservation(_)) => Holder::Registering,
        Some(NameHolder::Domain { org: holder, .. }) if &holder == org => Holder::Caller,
        Some(NameHolder::Domain { org: holder, id }) => {
            match app.store().get_domain(&holder, &id).await? {
                Some(domain) => Holder::Domain(Box::new(domain)),
                // Deleted since the name was read.
                None => Holder::Free,
            }
        }
    })
}

fn not_allowed(name: &DomainName, why: &str) -> ApiError {
    ApiError::ClaimNotAllowed(format!("'{name}' cannot be claimed: {why}"))
}

const FREE: &str = "nobody holds it; register it instead";
const OWN: &str = "this organization holds it already";
const VERIFIED: &str = "it is held by a verified domain (a name can be claimed only from a \
                        domain that never verified, or that failed)";

/// Opens a claim of `name` for `org`: allowed where another organization holds the name
/// with a domain that never verified (or failed), or is registering it right now.
pub async fn open(
    app: &App,
    org: &OrgId,
    name: DomainName,
    region: Region,
) -> Result<Claim, ApiError> {
    match holder_of(app, org, &name).await? {
        Holder::Free => return Err(not_allowed(&name, FREE)),
        Holder::Caller => return Err(not_allowed(&name, OWN)),
        Holder::Domain(holder) if !holder.claimable() => {
            return Err(not_allowed(&name, VERIFIED));
        }
        Holder::Registering | Holder::Domain(_) => {}
    }
    app.store().quota(org).await?.room()?;
    let claim = Claim::new(org.clone(), name, region, app.now());
    app.store().put_claim(&claim).await?;
    tracing::info!(domain = %claim.name, claim_id = %claim.id, "claim opened");
    Ok(claim)
}

/// The outcome of checking a claim whose challenge is not (yet) published.
pub struct Unproven(pub Finding);

/// Checks the claim's challenge at the authoritative servers and, when it is published,
/// hands the name to the claimant: `Ok(Err(Unproven))` when it is not.
pub async fn complete(app: &App, claim: &Claim) -> Result<Result<Domain, Unproven>, ApiError> {
    let name = &claim.name;
    match claim.status(app.now()) {
        ClaimStatus::Pending => {}
        ClaimStatus::Completed => {
            return Err(ApiError::ClaimNotAllowed(format!(
                "this claim is completed: '{name}' was registered as {}",
                claim
                    .domain_id
                    .as_ref()
                    .map(|id| id.as_str())
                    .unwrap_or("?")
            )));
        }
        ClaimStatus::Expired => {
            return Err(ApiError::ClaimNotAllowed(format!(
                "this claim expired at {}; open a new claim",
                claim.expires_at
            )));
        }
    }
    let finding = app.dns().check_claim(claim).await;
    if !finding.verified {
        return Ok(Err(Unproven(finding)));
    }
    let org = &claim.org_id;
    app.store().quota(org).await?.room()?;
    let now = app.now();
    let (setup, dkim) = new_keys(now).await?;
    let domain = Domain::new_pending(org.clone(), name.clone(), claim.region, setup, now);
    // Read the holder, hand the name over; a holder that changed meanwhile is read again.
    let mut conflicts = Conflicts::default();
    let stored = loop {
        break match holder_of(app, org, name).await? {
            Holder::Caller => return Err(not_allowed(name, OWN)),
            Holder::Registering => {
                return Err(not_allowed(
                    name,
                    "a registration of it is under way; verify the claim again in a minute",
                ));
            }
            Holder::Domain(holder) if !holder.claimable() => {
                return Err(not_allowed(name, VERIFIED));
            }
            // Proven, and nobody holds it any more: registered for the claimant.
            // (A registration that died there is undone first.)
            Holder::Free => register(app, &domain, &dkim, DefaultChoice::IfNone).await?,
            Holder::Domain(holder) => {
                let reservation = reservation_for(app, &domain, effects_of(app, &holder));
                match app
                    .store()
                    .transfer_name(&holder, &reservation, app.now())
                    .await
                {
                    Ok(()) => {}
                    Err(StoreError::Conflict) => {
                        conflicts.lost().await?;
                        continue;
                    }
                    Err(other) => return Err(other.into()),
                }
                tracing::info!(
                    domain = %name,
                    holder_org = %holder.org_id,
                    holder_domain_id = %holder.id,
                    claim_id = %claim.id,
                    reason = "claimed",
                    "domain deleted: its name was claimed by its owner"
                );
                carry_out(app, &reservation, &domain, &dkim, DefaultChoice::IfNone).await?
            }
        };
    };
    if let Err(error) = app.store().complete_claim(claim, &stored.id, now).await {
        tracing::warn!(claim_id = %claim.id, error = %error, "could not mark the claim completed");
    }
    Ok(Ok(stored))
}
