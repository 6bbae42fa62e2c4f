//! `GET /:id`: one domain, everything about it.

use lambda_http::http::StatusCode;

use super::request::requested_domain;
use super::response::json;
use super::views::DomainDetail;
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::OrgId;
use crate::workflows::zones::zone_managed;

pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let domain = requested_domain(app, org, request).await?;
    let managed = zone_managed(app, &domain).await?;
    Ok(json(StatusCode::OK, &DomainDetail::new(&domain, managed)))
}
