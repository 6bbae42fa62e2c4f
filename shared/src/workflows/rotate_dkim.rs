//! DKIM key rotation, in an order that never has SES sign with a key whose record is not
//! published:
//!
//! 1. `POST /:id/dkim/rotate` makes a new key under a new selector, seals its private half
//!    under KMS and stores it as the domain's next key; SES still signs with the current
//!    one. Where the service manages the zone, it writes the new record.
//! 2. Each check (verify, or the sweep) asks for the new record too. Once every
//!    authoritative server serves it, SES is switched to the new key, and only then the
//!    table: the new key becomes current, the old one retired (its record safe to remove),
//!    the sealed key deleted.
//!
//! Stopped anywhere, SES signs with a published key: before the switch with the old one,
//! whose record stays; after it with the new one, which was verified just before. A switch
//! whose table write never happened is simply done again by the next check (setting the
//! same key twice is harmless).

use super::zones::{route53_off, still_assigned};
use super::{Conflicts, off_thread, reread};
use crate::App;
use crate::aws::SealContext;
use crate::dns::DkimKeyPair;
use crate::dns::plan::{records_of, zone_journal};
use crate::error::ApiError;
use crate::faults::Step;
use crate::model::{
    CheckReport, Domain, DomainId, NextDkim, OrgId, RecordKind, RecordStatus, RetiredDkim, Status,
    Timestamp, VerificationSetup, ZoneId, ZoneRecord, selector_for,
};
use crate::store::{DomainUpdate, StoreError};

/// Starts a rotation of `id`'s DKIM key; returns the domain with its next key.
pub async fn start(app: &App, org: &OrgId, id: &DomainId) -> Result<Domain, ApiError> {
    let mut current = read(app, org, id).await?;
    refuse_if_rotating(&current)?;
    let cloud = app.cloud();
    if cloud.ses.is_some() && cloud.sealer.is_none() {
        return Err(ApiError::Unavailable(
            "DKIM rotation needs a KMS key to keep the new private key until SES uses it \
             (DKIM_KMS_KEY_ID)"
                .into(),
        ));
    }
    let now = app.now();
    let mut taken = vec![current.setup.dkim_selector.as_str()];
    taken.extend(
        current
            .setup
            .dkim_retired
            .as_ref()
            .map(|r| r.selector.as_str()),
    );
    let selector = selector_for(now, &taken);
    let key = off_thread(move || DkimKeyPair::generate_as(selector)).await?;
    // Where nothing signs (no SES here), there is no private key to keep at all.
    let sealed = match (&cloud.ses, &cloud.sealer) {
        (Some(_), Some(sealer)) => {
            let context = SealContext::Dkim {
                domain_id: &current.id,
                selector: key.selector(),
            };
            Some(sealer.seal(key.private_key_der().as_ref(), context).await?)
        }
        _ => None,
    };
    app.step_done(Step::RotationSealed).await;
    let next = NextDkim {
        selector: key.selector().to_owned(),
        public_key: key.public_key_base64(),
        sealed,
        requested_at: now,
    };
    drop(key);

    // In a managed zone: a retired record old enough leaves it before the table forgets
    // it (one younger stays, listed, for the sweep or a later rotation); the new record is
    // written only while the zone is still assigned to the organization, and only if the
    // zone does not hold it already.
    let mut due = Vec::new();
    let mut written = Vec::new();
    if let Some(zone) = &current.hosted_zone_id {
        let zones = cloud.zones.as_ref().ok_or_else(route53_off)?;
        due = retired_due(app, &current, now);
        if !due.is_empty() {
            zones.delete_records(zone, &due).await?;
        }
        if let Some(zone_id) = ZoneId::parse(zone)
            && still_assigned(app, &current.org_id, &zone_id).await?
        {
            let record = next_record(&current, &next);
            written = zones.absent(zone, &[record]).await?;
        }
    }
    let stored = store_next(app, &mut current, &next, &due, &written, now).await?;
    app.step_done(Step::RotationStored).await;
    if let Some(zone) = &stored.hosted_zone_id
        && !written.is_empty()
    {
        let zones = cloud.zones.as_ref().ok_or_else(route53_off)?;
        match zones.create_records(zone, &written).await {
            Ok(Some(change)) => return Ok(super::zone_change::remember(app, stored, change).await),
            Ok(None) => {}
            Err(error) => {
                abandon(app, &stored, &written).await;
                return Err(error.into());
            }
        }
    }
    Ok(stored)
}

/// The retired DKIM records the service created in `domain`'s zone that have been retired
/// for at least `DKIM_RETIRE_AFTER`: mail signed with them has been delivered by now.
pub fn retired_due(app: &App, domain: &Domain, now: Timestamp) -> Vec<ZoneRecord> {
    zone_journal(domain)
        .into_iter()
        .filter(|record| {
            record
                .retired_at
                .is_some_and(|at| at.plus(app.dkim_retire_after()) <= now)
        })
        .collect()
}

/// The record of `next` as the zone would hold it.
fn next_record(domain: &Domain, next: &NextDkim) -> ZoneRecord {
    let setup = VerificationSetup {
        dkim_next: Some(next.clone()),
        ..domain.setup.clone()
    };
    records_of(&domain.name, domain.region, &setup)
        .into_iter()
        .find(|record| record.kind == RecordKind::DkimNext)
        .expect("a setup with a next key has its record")
        .zone_record()
}

/// `domain`'s list of the record sets the service created, without `removed` and with
/// `added`; `None` where the service manages no zone for it.
fn journal_with(
    domain: &Domain,
    removed: &[ZoneRecord],
    added: &[ZoneRecord],
) -> Option<Vec<ZoneRecord>> {
    domain.hosted_zone_id.as_ref()?;
    let mut records: Vec<ZoneRecord> = zone_journal(domain)
        .into_iter()
        .filter(|record| !removed.iter().any(|gone| gone.same_set(record)))
        .collect();
    records.extend(added.iter().cloned());
    Some(records)
}

/// Removes from a managed zone the retired DKIM records old enough to go (the sweep does
/// this for the domains it checks), then from the domain's list. Failures are logged and
/// left for the next time.
pub async fn remove_retired(app: &App, domain: &Domain) {
    let (Some(zone), Some(zones)) = (&domain.hosted_zone_id, &app.cloud().zones) else {
        return;
    };
    let due = retired_due(app, domain, app.now());
    if due.is_empty() {
        return;
    }
    let removed = async {
        zones.delete_records(zone, &due).await?;
        let update = DomainUpdate {
            state: None,
            setup: Some(VerificationSetup {
                zone_records: journal_with(domain, &due, &[]),
                ..domain.setup.clone()
            }),
            default: None,
            at: app.now(),
        };
        app.store().update_domain(domain, &update).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match removed {
        Ok(()) => {
            tracing::info!(domain = %domain.name, records = due.len(), "retired DKIM records removed")
        }
        Err(error) => {
            tracing::warn!(domain = %domain.name, error = %error, "could not remove retired DKIM records; the next check retries")
        }
    }
}

/// Writes `next` as the domain's next key, conditionally on the version read; a rotation
/// that won a race meanwhile makes this one a `409`.
async fn store_next(
    app: &App,
    current: &mut Domain,
    next: &NextDkim,
    removed: &[ZoneRecord],
    written: &[ZoneRecord],
    now: Timestamp,
) -> Result<Domain, ApiError> {
    let mut conflicts = Conflicts::default();
    loop {
        refuse_if_rotating(current)?;
        // The record about to be written is listed first, so a rotation that stops before
        // writing it leaves nothing of its own unlisted.
        let setup = VerificationSetup {
            dkim_next: Some(next.clone()),
            dkim_retired: None,
            zone_records: journal_with(current, removed, written),
            ..current.setup.clone()
        };
        // An active domain is not otherwise checked: have the sweep look at the new record.
        let state = (current.state.status == Status::Active).then(|| {
            let mut state = current.state.clone();
            state.failed_checks = 0;
            state.next_check_at = Some(now);
            state
        });
        let update = DomainUpdate {
            state,
            setup: Some(setup),
            default: None,
            at: now,
        };
        match app.store().update_domain(current, &update).await {
            Ok(stored) => return Ok(stored),
            Err(StoreError::Conflict) => {
                conflicts.lost().await?;
                *current = reread(app, current).await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
}

/// Undoes a rotation whose record could not be written: the domain has no next key again.
async fn abandon(app: &App, stored: &Domain, unwritten: &[ZoneRecord]) {
    let update = DomainUpdate {
        state: None,
        setup: Some(VerificationSetup {
            dkim_next: None,
            zone_records: journal_with(stored, unwritten, &[]),
            ..stored.setup.clone()
        }),
        default: None,
        at: app.now(),
    };
    if let Err(error) = app.store().update_domain(stored, &update).await {
        tracing::error!(
            domain = %stored.name,
            error = %error,
            "could not withdraw a DKIM rotation whose record was not written"
        );
    }
}

async fn read(app: &App, org: &OrgId, id: &DomainId) -> Result<Domain, ApiError> {
    app.store()
        .get_domain(org, id)
        .await?
        .ok_or(ApiError::DomainNotFound)
}

fn refuse_if_rotating(domain: &Domain) -> Result<(), ApiError> {
    match &domain.setup.dkim_next {
        None => Ok(()),
        Some(next) => Err(ApiError::RotationPending(format!(
            "a DKIM rotation is already under way (selector {}, requested {}); SES switches \
             to its key once its record is published and verified",
            next.selector, next.requested_at
        ))),
    }
}

fn records_of_kind(domain: &Domain, kind: RecordKind) -> Vec<crate::dns::DnsRecord> {
    records_of(&domain.name, domain.region, &domain.setup)
        .into_iter()
        .filter(|record| record.kind == kind)
        .collect()
}

/// After a check of `domain`: switches SES to the next key if `report` found its record
/// published. Returns whether the domain's next key is now the one SES signs with (always,
/// where there is no SES). Failures are logged and leave the switch to the next check.
pub async fn switch_if_published(app: &App, domain: &Domain, report: &CheckReport) -> bool {
    let Some(next) = &domain.setup.dkim_next else {
        return false;
    };
    if !report.passed(RecordKind::DkimNext) {
        return false;
    }
    let cloud = app.cloud();
    let Some(ses) = &cloud.ses else {
        return true;
    };
    let (Some(sealed), Some(sealer)) = (&next.sealed, &cloud.sealer) else {
        tracing::error!(
            domain = %domain.name,
            selector = %next.selector,
            "cannot switch SES to the next DKIM key: no sealed key, or no KMS key configured"
        );
        return false;
    };
    let context = SealContext::Dkim {
        domain_id: &domain.id,
        selector: &next.selector,
    };
    let switched = async {
        let der = sealer.open(sealed, context).await?;
        let key = DkimKeyPair::from_pkcs8(next.selector.clone(), &der)
            .filter(|key| key.public_key_base64() == next.public_key)
            .ok_or_else(|| {
                crate::aws::CloudError::Internal(
                    "the sealed DKIM key is not the published one".into(),
                )
            })?;
        ses.switch_dkim(domain.region, &domain.name, &key).await
    }
    .await;
    match switched {
        Ok(()) => {
            tracing::info!(domain = %domain.name, selector = %next.selector, "SES signs with the new DKIM key");
            app.step_done(Step::DkimSwitched).await;
            true
        }
        Err(error) => {
            tracing::warn!(domain = %domain.name, error = %error, "DKIM switch failed; the next check retries");
            false
        }
    }
}

/// Where the service manages the zone and the check found the next key's record missing (a
/// rotation that stopped before writing it), writes it: only a record the rotation listed
/// as its own to write, and only while the zone is still assigned to the organization.
pub async fn repair_record(app: &App, domain: &Domain, report: &CheckReport) {
    let (Some(zone), Some(zones)) = (&domain.hosted_zone_id, &app.cloud().zones) else {
        return;
    };
    let missing = report
        .finding(RecordKind::DkimNext)
        .is_some_and(|f| f.status == RecordStatus::Missing);
    if !missing {
        return;
    }
    let journal = zone_journal(domain);
    let listed: Vec<ZoneRecord> = records_of_kind(domain, RecordKind::DkimNext)
        .iter()
        .map(|record| record.zone_record())
        .filter(|record| journal.iter().any(|ours| ours.same_set(record)))
        .collect();
    if listed.is_empty() {
        return;
    }
    let assigned = match ZoneId::parse(zone) {
        Some(zone_id) => still_assigned(app, &domain.org_id, &zone_id).await,
        None => Ok(false),
    };
    match assigned {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(domain = %domain.name, "the zone is no longer assigned to the organization; the next DKIM record is not written");
            return;
        }
        Err(error) => {
            tracing::warn!(domain = %domain.name, error = %error, "could not read the zone's assignment");
            return;
        }
    }
    if let Err(error) = zones.create_records(zone, &listed).await {
        tracing::warn!(domain = %domain.name, error = %error, "could not write the next DKIM record");
    }
}

/// The setup once SES signs with the next key: it is current, the old one retired.
pub fn promoted(setup: &VerificationSetup, now: Timestamp) -> Option<VerificationSetup> {
    let next = setup.dkim_next.as_ref()?;
    // The record of the key SES stops signing with starts its time to leave the zone.
    let retiring = format!("v=DKIM1; k=rsa; p={}", setup.dkim_public_key);
    let zone_records = setup.zone_records.clone().map(|records| {
        records
            .into_iter()
            .map(|mut record| {
                if record.record_type == "TXT"
                    && record.value == retiring
                    && record.retired_at.is_none()
                {
                    record.retired_at = Some(now);
                }
                record
            })
            .collect()
    });
    Some(VerificationSetup {
        zone_records,
        dkim_selector: next.selector.clone(),
        dkim_public_key: next.public_key.clone(),
        dkim_next: None,
        dkim_retired: Some(RetiredDkim {
            selector: setup.dkim_selector.clone(),
            public_key: setup.dkim_public_key.clone(),
            retired_at: now,
        }),
        ..setup.clone()
    })
}
