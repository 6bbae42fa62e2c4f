//! Deleting a domain (`DELETE /:id`): its SES identity and the records the service wrote
//! go before its row, so a failure leaves the row for a retried delete to finish.

use super::zones::route53_off;
use crate::App;
use crate::dns::plan::zone_journal;
use crate::error::ApiError;
use crate::faults::Step;
use crate::model::{Domain, DomainId, OrgId};
use crate::store::NameHolder;

/// Deletes the domain: marks it (no inbox can be added from then on), removes its SES
/// identity and the record sets the service created, and removes the row last, so a
/// failure leaves the row for a retried delete to finish.
pub async fn remove(app: &App, org: &OrgId, id: &DomainId) -> Result<Domain, ApiError> {
    let current = app
        .store()
        .get_domain(org, id)
        .await?
        .ok_or(ApiError::DomainNotFound)?;
    let cloud = app.cloud();
    if cloud.ses.is_some() || current.hosted_zone_id.is_some() {
        let current = app.store().begin_delete(org, id, app.now()).await?;
        app.step_done(Step::DeleteMarked).await;
        // A delete that lost the race to an earlier one of the same domain finds the name
        // free or held by a newer registration: what is out there now is not this
        // domain's, even where it looks the same (MX, SPF and DMARC values are).
        let holds_name = matches!(
            app.store().name_holder(&current.name).await?,
            Some(NameHolder::Domain { id: holder, .. }) if holder == current.id
        );
        if holds_name {
            if let Some(ses) = &cloud.ses {
                ses.delete(current.region, &current.name, &current.id)
                    .await?;
            }
            if let Some(zone) = &current.hosted_zone_id {
                let zones = cloud.zones.as_ref().ok_or_else(route53_off)?;
                zones.delete_records(zone, &zone_journal(&current)).await?;
            }
        }
    }
    Ok(app.store().delete_domain(org, id, app.now()).await?)
}
