//! Which hosted zone an organization may have its records written into: only one an
//! operator assigned to it (`domainctl zones assign`).

use crate::App;
use crate::error::ApiError;
use crate::model::{Domain, DomainName, OrgId, ZoneId};

/// The hosted zone `autoConfigureDns` writes `name`'s records into: the zone that serves
/// the name (the nearest of the account's zones), and only if an operator assigned it to
/// `org`. Any other zone, a parent assigned to another organization included, answers
/// exactly as no zone does, so a tenant can neither probe for others' zones nor have
/// records written where they prove nothing about it.
pub async fn assigned_zone(app: &App, org: &OrgId, name: &DomainName) -> Result<ZoneId, ApiError> {
    let zones = app.cloud().zones.as_ref().ok_or_else(|| {
        // A deployment without Route 53 has no zone to write into: the same answer as no
        // zone assigned, so a client handles both one way (publish the records itself).
        ApiError::DnsZoneNotFound(
            "autoConfigureDns: this deployment does not manage Route 53 zones; publish the \
             records at your DNS host"
                .into(),
        )
    })?;
    for zone in zones.nearest_zones(name).await? {
        if app.store().zone_owner(&zone).await?.as_ref() == Some(org) {
            return Ok(zone);
        }
    }
    Err(ApiError::DnsZoneNotFound(format!(
        "autoConfigureDns: no Route 53 hosted zone for {name} or a parent domain is assigned \
         to this organization; publish the records at your DNS host, or ask an operator to \
         assign your zone"
    )))
}

/// Refuses a write into `zone` unless it is assigned to `org` at this moment: an operator
/// may have unassigned it since the domain was registered.
pub async fn ensure_assigned(
    app: &App,
    org: &OrgId,
    zone: &ZoneId,
    name: &DomainName,
) -> Result<(), ApiError> {
    if still_assigned(app, org, zone).await? {
        return Ok(());
    }
    Err(ApiError::DnsZoneNotFound(format!(
        "autoConfigureDns: no Route 53 hosted zone for {name} or a parent domain is assigned \
         to this organization; publish the records at your DNS host, or ask an operator to \
         assign your zone"
    )))
}

/// Whether `zone` is assigned to `org` now.
pub async fn still_assigned(app: &App, org: &OrgId, zone: &ZoneId) -> Result<bool, ApiError> {
    Ok(app.store().zone_owner(zone).await?.as_ref() == Some(org))
}

/// Whether the service still manages `domain`'s zone: it has one, and the zone is assigned
/// to the domain's organization now (one read of the zone's assignment; none without a
/// zone).
pub async fn zone_managed(app: &App, domain: &Domain) -> Result<bool, ApiError> {
    let Some(zone) = &domain.hosted_zone_id else {
        return Ok(false);
    };
    match ZoneId::parse(zone) {
        Some(zone) => still_assigned(app, &domain.org_id, &zone).await,
        None => Ok(false),
    }
}

/// The answer when a domain's records are in Route 53 but this deployment has it off.
pub(crate) fn route53_off() -> ApiError {
    ApiError::Unavailable("Route 53 is not enabled for this deployment".into())
}
