//! What a registration does outside the table (the SES identity, the Route 53 records), in
//! an order that leaves nothing behind: no identity or records without a row, no row
//! without its identity, even when the process dies between two steps.
//!
//! A registration first reserves the name with everything it is about to create (its
//! effects). If it fails, it undoes them; if it dies, whoever next finds the reservation
//! run out (the sweep, or a registration or claim of the same name) undoes them before the
//! name is used again.

use time::Duration;

use super::ATTEMPTS;
use super::zones::route53_off;
use crate::App;
use crate::aws::IdentitySpec;
use crate::dns::DkimKeyPair;
use crate::dns::plan::{records_for, records_of};
use crate::error::ApiError;
use crate::faults::Step;
use crate::model::{Domain, DomainName, OrgId, ZoneId};
use crate::store::{DefaultChoice, Effect, NameHolder, Reservation, StoreError};

/// How long a registration may hold a name before anyone may undo it; longer than any
/// function's timeout, so only a registration that died is undone.
pub const RESERVATION: Duration = Duration::seconds(60);

/// The reservation of `domain`'s name, with what registering it creates here; `leftovers`
/// are what a claimed name's previous holder created, removed first.
pub fn reservation_for(app: &App, domain: &Domain, leftovers: Vec<Effect>) -> Reservation {
    Reservation {
        name: domain.name.clone(),
        org: domain.org_id.clone(),
        domain_id: domain.id.clone(),
        until: app.now().plus(RESERVATION),
        leftovers,
        effects: effects_of(app, domain),
    }
}

/// What `domain` creates (or created) outside the table here.
pub fn effects_of(app: &App, domain: &Domain) -> Vec<Effect> {
    let mut effects = Vec::new();
    if app.cloud().ses.is_some() {
        effects.push(Effect::Identity {
            region: domain.region,
            org: domain.org_id.clone(),
        });
    }
    if let Some(zone) = domain.hosted_zone_id.as_deref().and_then(ZoneId::parse) {
        effects.push(Effect::Records {
            zone,
            region: domain.region,
            setup: Box::new(domain.setup.clone()),
        });
    }
    effects
}

/// What stands between `org` and `name`: nothing, a registration that died and must be
/// undone first, or a refusal.
pub(super) fn obstacle(
    app: &App,
    org: &OrgId,
    name: &DomainName,
    holder: Option<NameHolder>,
) -> Result<Option<Reservation>, ApiError> {
    match holder {
        None => Ok(None),
        Some(NameHolder::Reservation(held)) if held.until < app.now() => Ok(Some(held)),
        Some(NameHolder::Reservation(held)) if &held.org == org => {
            Err(ApiError::NameReserved(format!(
                "a registration of '{name}' by this organization is still in progress; if \
                 it failed, retry after {}",
                held.until
            )))
        }
        Some(_) => Err(ApiError::DomainExists(name.to_string())),
    }
}

/// Holds the name for `reservation`, first undoing a dead registration found in the way.
pub async fn reserve(app: &App, reservation: &Reservation) -> Result<(), ApiError> {
    let name = &reservation.name;
    for _ in 0..ATTEMPTS {
        match app.store().reserve_name(reservation).await {
            Ok(()) => return Ok(()),
            Err(StoreError::NameTaken(_)) => {}
            Err(other) => return Err(other.into()),
        }
        // (Released meanwhile: simply try again.)
        let holder = app.store().name_holder(name).await?;
        if let Some(dead) = obstacle(app, &reservation.org, name, holder)? {
            reclaim(app, &dead).await?;
        }
    }
    Err(ApiError::Unavailable(format!(
        "the name '{name}' is being registered concurrently"
    )))
}

/// Undoes a registration that died: takes its reservation over (so one party at a time
/// does this), removes everything it may have created, and frees the name. Idempotent: a
/// reclaim that dies itself is redone once its own time runs out.
pub async fn reclaim(app: &App, held: &Reservation) -> Result<(), ApiError> {
    match app
        .store()
        .retime_reservation(held, app.now().plus(RESERVATION))
        .await
    {
        Ok(()) => {}
        // Someone else took it over (or it finished): nothing left for us to do.
        Err(StoreError::Conflict) => return Ok(()),
        Err(other) => return Err(other.into()),
    }
    tracing::warn!(
        domain = %held.name,
        domain_id = %held.domain_id,
        org = %held.org,
        "undoing a registration that did not finish"
    );
    undo_all(app, held).await?;
    app.store()
        .release_name(&held.name, &held.domain_id)
        .await?;
    Ok(())
}

/// The steps after the reservation. A failing step undoes everything the reservation
/// names, then frees the name; what cannot be undone now is handed on: the reservation is
/// marked run out, for the next registration of the name or the sweep to undo.
pub async fn carry_out(
    app: &App,
    reservation: &Reservation,
    domain: &Domain,
    dkim: &DkimKeyPair,
    default: DefaultChoice,
) -> Result<Domain, ApiError> {
    app.step_done(Step::Reserved).await;
    let result = steps(app, reservation, domain, dkim, default).await;
    if let Err(error) = &result {
        tracing::warn!(domain = %domain.name, error = %error, "registration failed; undoing");
        match undo_all(app, reservation).await {
            Ok(()) => {
                if let Err(error) = app.store().release_name(&domain.name, &domain.id).await {
                    tracing::error!(domain = %domain.name, error = %error, "could not release name");
                }
            }
            Err(error) => {
                tracing::error!(
                    domain = %domain.name,
                    error = %error,
                    "could not undo a failed registration; the next registration of the \
                     name, or the sweep, undoes it"
                );
                // Not dead, failed: let whoever comes next undo it now rather than in a
                // minute (a retry once SES is back, say).
                let ran_out = app.now().plus(Duration::seconds(-1));
                if let Err(error) = app.store().retime_reservation(reservation, ran_out).await {
                    tracing::error!(domain = %domain.name, error = %error, "could not hand the reservation on");
                }
            }
        }
    }
    result
}

async fn steps(
    app: &App,
    reservation: &Reservation,
    domain: &Domain,
    dkim: &DkimKeyPair,
    default: DefaultChoice,
) -> Result<Domain, ApiError> {
    if !reservation.leftovers.is_empty() {
        undo(app, &domain.name, &reservation.leftovers).await?;
        app.step_done(Step::LeftoversRemoved).await;
    }
    let cloud = app.cloud();
    if let Some(ses) = &cloud.ses {
        let spec = IdentitySpec {
            region: domain.region,
            domain: &domain.name,
            dkim,
            org: &domain.org_id,
            domain_id: &domain.id,
            mail_from: domain
                .setup
                .mail_from
                .as_ref()
                .map(|label| domain.name.child(label.as_str())),
        };
        ses.create(&spec).await?;
        app.step_done(Step::IdentityCreated).await;
    }
    if let Some(zone) = &domain.hosted_zone_id {
        let zones = cloud.zones.as_ref().ok_or_else(route53_off)?;
        zones.create_records(zone, &records_for(domain)).await?;
        app.step_done(Step::RecordsWritten).await;
    }
    Ok(app.store().insert_domain(domain, default).await?)
}

/// Removes everything `reservation` names.
async fn undo_all(app: &App, reservation: &Reservation) -> Result<(), ApiError> {
    undo(app, &reservation.name, &reservation.leftovers).await?;
    undo(app, &reservation.name, &reservation.effects).await
}

/// Removes `effects` for `name`; what is already gone is fine.
async fn undo(app: &App, name: &DomainName, effects: &[Effect]) -> Result<(), ApiError> {
    let cloud = app.cloud();
    for effect in effects {
        match (effect, &cloud.ses, &cloud.zones) {
            (Effect::Identity { region, org }, Some(ses), _) => {
                ses.delete(*region, name, org).await?;
            }
            (
                Effect::Records {
                    zone,
                    region,
                    setup,
                },
                _,
                Some(zones),
            ) => {
                let records = records_of(name, *region, setup);
                zones.delete_records(zone.as_str(), &records).await?;
            }
            (effect, _, _) => tracing::error!(
                domain = %name,
                effect = ?effect,
                "cannot undo: the service it is in is not enabled for this deployment"
            ),
        }
    }
    Ok(())
}
