//! What a registration and a deletion do outside the table (the SES identity, the Route 53
//! records), in an order that leaves nothing half-done: no identity or records without a
//! row, no row without its identity.

use time::Duration;

use crate::App;
use crate::dns::{DkimKeyPair, records_for};
use crate::error::ApiError;
use crate::model::{Domain, DomainId, DomainName, OrgId, ZoneId};
use crate::ses::IdentitySpec;
use crate::store::DefaultChoice;

/// How long a registration may hold a name before finishing; longer than any function's
/// timeout, so a registration that died frees its name soon after.
const RESERVATION: Duration = Duration::seconds(60);

/// Registers `domain`: reserve the name, create the SES identity, write the Route 53
/// records, write the row. A failing step undoes the earlier ones, so a retry starts
/// clean; the name's reservation keeps concurrent registrations of it apart.
pub async fn register(
    app: &App,
    domain: &Domain,
    dkim: &DkimKeyPair,
    default: DefaultChoice,
) -> Result<Domain, ApiError> {
    let cloud = app.cloud();
    let zone = domain.hosted_zone_id.as_deref();
    if cloud.ses.is_none() && zone.is_none() {
        return Ok(app.store().insert_domain(domain, default).await?);
    }
    let now = domain.created_at;
    app.store()
        .claim_name(
            &domain.name,
            &domain.org_id,
            &domain.id,
            now,
            now.plus(RESERVATION),
        )
        .await?;
    let mut done = Done::default();
    let result = provision(app, domain, dkim, default, &mut done).await;
    if let Err(error) = &result {
        tracing::warn!(domain = %domain.name, error = %error, "registration failed; undoing");
        undo(app, domain, done).await;
    }
    result
}

#[derive(Default)]
struct Done {
    identity: bool,
    records: bool,
}

async fn provision(
    app: &App,
    domain: &Domain,
    dkim: &DkimKeyPair,
    default: DefaultChoice,
    done: &mut Done,
) -> Result<Domain, ApiError> {
    let cloud = app.cloud();
    if let Some(ses) = &cloud.ses {
        let spec = IdentitySpec {
            region: domain.region,
            domain: &domain.name,
            dkim,
            org: &domain.org_id,
            domain_id: &domain.id,
        };
        ses.create(&spec).await?;
        done.identity = true;
    }
    if let Some(zone) = &domain.hosted_zone_id {
        let zones = cloud.zones.as_ref().ok_or_else(route53_off)?;
        zones.create_records(zone, &records_for(domain)).await?;
        done.records = true;
    }
    Ok(app.store().insert_domain(domain, default).await?)
}

/// Best effort: what cannot be undone now is logged, and is found again by a retry (an
/// identity of this organization is replaced; the reservation runs out).
async fn undo(app: &App, domain: &Domain, done: Done) {
    let cloud = app.cloud();
    if done.records
        && let (Some(zones), Some(zone)) = (&cloud.zones, &domain.hosted_zone_id)
        && let Err(error) = zones.delete_records(zone, &records_for(domain)).await
    {
        tracing::error!(domain = %domain.name, error = %error, "could not remove Route 53 records");
    }
    if done.identity
        && let Some(ses) = &cloud.ses
        && let Err(error) = ses
            .delete(domain.region, &domain.name, &domain.org_id)
            .await
    {
        tracing::error!(domain = %domain.name, error = %error, "could not remove SES identity");
    }
    if let Err(error) = app.store().release_name(&domain.name, &domain.id).await {
        tracing::error!(domain = %domain.name, error = %error, "could not release name");
    }
}

/// Deletes the domain: marks it (no inbox can be added from then on), removes its SES
/// identity and the records the service wrote, and removes the row last, so a failure
/// leaves the row for a retried delete to finish.
pub async fn remove(app: &App, org: &OrgId, id: &DomainId) -> Result<Domain, ApiError> {
    let current = app
        .store()
        .get_domain(org, id)
        .await?
        .ok_or(ApiError::DomainNotFound)?;
    let cloud = app.cloud();
    if cloud.ses.is_some() || current.hosted_zone_id.is_some() {
        let current = app.store().begin_delete(org, id, app.now()).await?;
        if let Some(ses) = &cloud.ses {
            ses.delete(current.region, &current.name, org).await?;
        }
        if let Some(zone) = &current.hosted_zone_id {
            let zones = cloud.zones.as_ref().ok_or_else(route53_off)?;
            zones.delete_records(zone, &records_for(&current)).await?;
        }
    }
    Ok(app.store().delete_domain(org, id).await?)
}

/// The hosted zone `autoConfigureDns` writes `name`'s records into: the zone that serves
/// the name (the nearest of the account's zones), and only if an operator assigned it to
/// `org`. Any other zone, a parent assigned to another organization included, answers
/// exactly as no zone does, so a tenant can neither probe for others' zones nor have
/// records written where they prove nothing about it.
pub async fn assigned_zone(app: &App, org: &OrgId, name: &DomainName) -> Result<ZoneId, ApiError> {
    let zones = app.cloud().zones.as_ref().ok_or_else(|| {
        ApiError::Validation(
            "autoConfigureDns needs Route 53, which is not enabled for this deployment".into(),
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

fn route53_off() -> ApiError {
    ApiError::Unavailable("Route 53 is not enabled for this deployment".into())
}
