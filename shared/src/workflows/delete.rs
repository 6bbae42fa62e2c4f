//! Deleting a domain (`DELETE /:id`): its SES identity and the records the service wrote
//! go before its row, so a failure leaves the row for a retried delete to finish.

use super::zones::route53_off;
use crate::App;
use crate::dns::plan::records_for;
use crate::error::ApiError;
use crate::model::{Domain, DomainId, OrgId};

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
    Ok(app.store().delete_domain(org, id, app.now()).await?)
}
