//! `POST /claims` and `POST /claims/:id/verify`: a claim of a name another organization
//! holds unverified.

use lambda_http::http::StatusCode;
use serde::Deserialize;

use super::register::created;
use super::request::{claim_id, domain_name, json_body, present, region};
use super::response::json;
use super::views::ClaimView;
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::OrgId;
use crate::workflows::claims::{self, Unproven};
use crate::workflows::limits::admit_verify;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClaimRequest {
    domain: String,
    #[serde(default, deserialize_with = "present")]
    region: Option<String>,
}

/// `POST /claims`
pub async fn open(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let body: ClaimRequest = json_body(request)?;
    let name = domain_name(&body.domain)?;
    let region = region(body.region.as_deref())?;
    let claim = claims::open(app, org, name, region).await?;
    Ok(json(
        StatusCode::CREATED,
        &ClaimView::new(&claim, app.now(), None),
    ))
}

/// `POST /claims/:id/verify`
pub async fn verify(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let id = claim_id(request)?;
    let claim = app
        .store()
        .get_claim(org, &id)
        .await?
        .ok_or(ApiError::ClaimNotFound)?;
    admit_verify(app, org, claim.name.as_str()).await?;
    match claims::complete(app, &claim).await? {
        Ok(domain) => Ok(created(&domain)),
        Err(Unproven(finding)) => {
            let view = ClaimView::new(&claim, app.now(), Some(&finding));
            let details = serde_json::to_value(&view).expect("views serialize");
            Err(ApiError::VerificationFailed(details))
        }
    }
}
