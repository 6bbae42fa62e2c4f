//! `POST /:id/dkim/rotate`: starts a DKIM key rotation.

use lambda_http::http::StatusCode;

use super::request::domain_id;
use super::response::json;
use super::views::DomainDetail;
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::OrgId;
use crate::workflows::rotate_dkim;
use crate::workflows::zones::zone_managed;

/// `POST /:id/dkim/rotate`: `202`, with the domain showing its next DKIM record beside the
/// current one; the rotation completes once that record verifies.
pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let id = domain_id(request)?;
    let domain = rotate_dkim::start(app, org, &id).await?;
    // The rotation is stored: nothing after it may answer 5xx (a retry would find it
    // pending and answer 409). Without the zone's assignment the answer only leaves out
    // `dnsManagedBy`.
    let managed = zone_managed(app, &domain).await.unwrap_or_else(|error| {
        tracing::warn!(error = %error, "the zone's assignment could not be read");
        false
    });
    Ok(json(
        StatusCode::ACCEPTED,
        &DomainDetail::new(&domain, managed),
    ))
}
