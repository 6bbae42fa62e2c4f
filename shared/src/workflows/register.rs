//! Registering a domain (`POST /`): the cheap refusals first (quota, a name someone
//! holds), then keys, then [`super::provision`]'s crash-safe steps.

use super::provision::{carry_out, obstacle, reservation_for, reserve};
use super::zones::assigned_zone;
use crate::App;
use crate::dns::DkimKeyPair;
use crate::error::ApiError;
use crate::model::{Domain, DomainName, MailFrom, OrgId, Region};
use crate::store::DefaultChoice;

/// A registration as the caller asked for it, validated.
pub struct Registration {
    pub name: DomainName,
    pub region: Region,
    pub mail_from: MailFrom,
    pub default: DefaultChoice,
    /// Write the records into the organization's assigned Route 53 zone.
    pub auto_configure_dns: bool,
}

/// Registers the domain for `org` and returns it as stored.
pub async fn register_domain(
    app: &App,
    org: &OrgId,
    request: Registration,
) -> Result<Domain, ApiError> {
    let Registration {
        name,
        region,
        mail_from,
        default,
        auto_configure_dns,
    } = request;
    let hosted_zone_id = if auto_configure_dns {
        Some(assigned_zone(app, org, &name).await?.to_string())
    } else {
        None
    };

    // The cheap refusals first: no RSA key is made for an organization at its limit or for
    // a name someone holds (the register transaction decides both atomically in any case).
    tokio::try_join!(
        async { Ok::<_, ApiError>(app.store().quota(org).await?.room()?) },
        refuse_if_held(app, org, &name)
    )?;

    let now = app.now();
    let (mut setup, dkim) = super::new_keys(now).await?;
    setup.mail_from = Some(mail_from);
    let mut domain = Domain::new_pending(org.clone(), name, region, setup, now);
    domain.hosted_zone_id = hosted_zone_id;
    register(app, &domain, &dkim, default).await
}

/// Registers `domain`: reserve the name, create the SES identity, write the Route 53
/// records, write the row.
pub async fn register(
    app: &App,
    domain: &Domain,
    dkim: &DkimKeyPair,
    default: DefaultChoice,
) -> Result<Domain, ApiError> {
    let reservation = reservation_for(app, domain, Vec::new());
    reserve(app, &reservation).await?;
    carry_out(app, &reservation, domain, dkim, default).await
}

/// The cheap early refusal of a name someone holds (before any RSA key is made); the
/// reservation itself decides.
pub async fn refuse_if_held(app: &App, org: &OrgId, name: &DomainName) -> Result<(), ApiError> {
    let holder = app.store().name_holder(name).await?;
    obstacle(app, org, name, holder).map(|_| ())
}
