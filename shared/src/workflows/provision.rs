//! What a registration does outside the table (the SES identity, the Route 53 records), in
//! an order that leaves nothing behind: no identity or records without a row, no row
//! without its identity, even when the process dies between two steps.
//!
//! A registration first reserves the name with everything it is about to create (its
//! effects): the identity at once, each Route 53 record set just before the change that
//! creates it (and again once it did). If it fails, it undoes them; if it dies, whoever
//! next finds the reservation run out (the sweep, or a registration or claim of the same
//! name) undoes them before the name is used again. Only what the service itself created is
//! ever removed: an identity tagged with the domain's id, record sets its own change made.

use time::Duration;

use super::ATTEMPTS;
use super::zones::{ensure_assigned, route53_off};
use crate::App;
use crate::aws::IdentitySpec;
use crate::dns::DkimKeyPair;
use crate::dns::plan::{records_for, records_of, zone_journal};
use crate::error::ApiError;
use crate::faults::Step;
use crate::model::{Domain, DomainName, OrgId, ZoneId, ZoneRecord};
use crate::store::{DefaultChoice, Effect, NameHolder, Reservation, StoreError};

/// How long a registration may hold a name before anyone may undo it; longer than any
/// function's timeout, so only a registration that died is undone.
pub const RESERVATION: Duration = Duration::seconds(60);

/// The reservation of `domain`'s name, with what registering it creates here (the zone it
/// writes into; its record sets are added just before they are written); `leftovers` are
/// what a claimed name's previous holder created, removed first.
pub fn reservation_for(app: &App, domain: &Domain, leftovers: Vec<Effect>) -> Reservation {
    Reservation {
        name: domain.name.clone(),
        org: domain.org_id.clone(),
        domain_id: domain.id.clone(),
        until: app.now().plus(RESERVATION),
        leftovers,
        effects: effects_with(app, domain, Vec::new(), false),
    }
}

/// What `domain` created outside the table here: its identity, and the record sets its
/// registration and rotations created (never one the zone held before).
pub fn effects_of(app: &App, domain: &Domain) -> Vec<Effect> {
    effects_with(app, domain, zone_journal(domain), true)
}

/// `domain`'s identity (where SES is on) and, if it has a zone, these record sets in it.
fn effects_with(
    app: &App,
    domain: &Domain,
    records: Vec<ZoneRecord>,
    confirmed: bool,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    if app.cloud().ses.is_some() {
        effects.push(Effect::Identity {
            region: domain.region,
            domain_id: domain.id.clone(),
        });
    }
    if let Some(zone) = domain.hosted_zone_id.as_deref().and_then(ZoneId::parse) {
        effects.push(Effect::Records {
            zone,
            records,
            confirmed,
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
    let taken = Reservation {
        until: app.now().plus(RESERVATION),
        ..held.clone()
    };
    match app.store().retime_reservation(held, taken.until).await {
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
    app.store().release_name(&taken).await?;
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
    // The reservation as this registration last wrote it down.
    let mut held = reservation.clone();
    let result = steps(app, &mut held, domain, dkim, default).await;
    if let Err(error) = &result {
        tracing::warn!(domain = %domain.name, error = %error, "registration failed; undoing");
        match undo_all(app, &held).await {
            Ok(()) => {
                // Only while the reservation is still its own: once taken over, whoever
                // took it undoes it and frees the name when done.
                if let Err(error) = app.store().release_name(&held).await {
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
                if let Err(error) = app.store().retime_reservation(&held, ran_out).await {
                    tracing::error!(domain = %domain.name, error = %error, "could not hand the reservation on");
                }
            }
        }
    }
    result
}

async fn steps(
    app: &App,
    held: &mut Reservation,
    domain: &Domain,
    dkim: &DkimKeyPair,
    default: DefaultChoice,
) -> Result<Domain, ApiError> {
    if !held.leftovers.is_empty() {
        undo(app, &domain.name, &held.leftovers).await?;
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
    let mut domain = domain.clone();
    if let Some(zone) = &domain.hosted_zone_id {
        let zones = cloud.zones.as_ref().ok_or_else(route53_off)?;
        let zone_id = ZoneId::parse(zone).ok_or_else(|| {
            ApiError::Internal(format!("the stored hosted zone id {zone:?} is malformed"))
        })?;
        // Assigned when the request came in; it must still be at the moment of writing.
        ensure_assigned(app, &domain.org_id, &zone_id, &domain.name).await?;
        let ours: Vec<ZoneRecord> = records_for(&domain)
            .iter()
            .map(|record| record.zone_record())
            .collect();
        // What the zone holds already, exactly as we would write it, is published: it
        // stays out of the change and out of what an undo or a delete removes.
        let absent = zones.absent(zone, &ours).await?;
        write_down(app, held, &zone_id, &absent, false).await?;
        let change = match zones.create_records(zone, &absent).await {
            Ok(change) => change,
            Err(error) => {
                // One atomic change: refused, it wrote nothing, so there is nothing to undo.
                if let Err(lost) = write_down(app, held, &zone_id, &[], true).await {
                    tracing::warn!(domain = %domain.name, error = %lost, "could not write down that no record was created");
                }
                return Err(error.into());
            }
        };
        app.step_done(Step::RecordsWritten).await;
        write_down(app, held, &zone_id, &absent, true).await?;
        domain.setup.zone_records = Some(absent);
        // The sweep follows the change and checks the domain the moment it is served.
        domain.state.zone_change = change;
    }
    match app.store().insert_reserved(&domain, default, held).await {
        Err(StoreError::Conflict) => Err(taken_over(&domain.name)),
        other => Ok(other?),
    }
}

/// Rewrites the reservation's record sets before and after the change that creates them,
/// only while the reservation is still this registration's own. The local copy follows
/// even when the write fails, so this registration's own undo removes what it created, no
/// more.
async fn write_down(
    app: &App,
    held: &mut Reservation,
    zone: &ZoneId,
    records: &[ZoneRecord],
    confirmed: bool,
) -> Result<(), ApiError> {
    let effects: Vec<Effect> = held
        .effects
        .iter()
        .map(|effect| match effect {
            Effect::Records { .. } => Effect::Records {
                zone: zone.clone(),
                records: records.to_vec(),
                confirmed,
            },
            other => other.clone(),
        })
        .collect();
    let result = app.store().record_effects(held, &effects).await;
    held.effects = effects;
    match result {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict) => Err(taken_over(&held.name)),
        Err(other) => Err(other.into()),
    }
}

/// The answer when a registration outlived its reservation and someone took it over.
fn taken_over(name: &DomainName) -> ApiError {
    ApiError::Unavailable(format!(
        "the registration of '{name}' took longer than its reservation and was undone; retry"
    ))
}

/// Removes everything `reservation` names.
async fn undo_all(app: &App, reservation: &Reservation) -> Result<(), ApiError> {
    undo(app, &reservation.name, &reservation.leftovers).await?;
    undo(app, &reservation.name, &reservation.effects).await
}

/// Removes `effects` for `name`; what is already gone is fine. Removing record sets the
/// service created is allowed in a zone no longer assigned: it only cleans up.
async fn undo(app: &App, name: &DomainName, effects: &[Effect]) -> Result<(), ApiError> {
    let cloud = app.cloud();
    for effect in effects {
        match (effect, &cloud.ses, &cloud.zones) {
            (Effect::Identity { region, domain_id }, Some(ses), _) => {
                ses.delete(*region, name, domain_id).await?;
            }
            (Effect::Records { zone, records, .. }, _, Some(zones)) => {
                zones.delete_records(zone.as_str(), records).await?;
            }
            (
                Effect::SetupRecords {
                    zone,
                    region,
                    setup,
                },
                _,
                Some(zones),
            ) => {
                // Written when every record set of a registration was its own change's.
                let records: Vec<ZoneRecord> = records_of(name, *region, setup)
                    .iter()
                    .map(|record| record.zone_record())
                    .collect();
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
