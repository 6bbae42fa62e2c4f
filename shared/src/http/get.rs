use lambda_http::http::StatusCode;

use super::request::domain_id;
use super::response::json;
use super::views::DomainDetail;
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::OrgId;

pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let id = domain_id(request)?;
    let domain = app
        .store()
        .get_domain(org, &id)
        .await?
        .ok_or(ApiError::DomainNotFound)?;
    Ok(json(StatusCode::OK, &DomainDetail::from(&domain)))
}
