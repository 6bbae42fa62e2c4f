//! `DELETE /:id`: removes the domain, its SES identity and the records the service wrote.

use lambda_http::http::StatusCode;

use super::request::domain_id;
use super::response::json;
use super::views::Deleted;
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::OrgId;
use crate::workflows::delete;

pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let id = domain_id(request)?;
    delete::remove(app, org, &id).await?;
    Ok(json(
        StatusCode::OK,
        &Deleted {
            success: true,
            message: "Domain removed successfully",
            deleted_at: app.now(),
        },
    ))
}
